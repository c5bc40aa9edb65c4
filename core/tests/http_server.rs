//! The HTTP server on a real socket, driven with plain HTTP requests: every route, every error
//! status, CBOR, async actions, SSE and long-poll, trace context.

mod http_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_common::{sse_data, start_lamp, start_lamp_with};
use lmos::codec::Codec;
use lmos::td::ThingBuilder;
use lmos::thing::Servient;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

fn client() -> Client {
    // reqwest is built without a crypto provider (see the workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("https://eclipse.dev/lmos/protocol/v1/errors#"));
    body
}

#[tokio::test]
async fn serves_the_td_with_absolute_forms_for_every_operation() {
    let lamp = start_lamp().await;
    assert_eq!(lamp.td_url, lamp.url("test-lamp"));
    let response = client().get(&lamp.td_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/td+json");
    let td: Value = response.json().await.unwrap();
    let mut ops = Vec::new();
    let mut collect = |forms: &Value| {
        for form in forms.as_array().unwrap() {
            let href = form["href"].as_str().unwrap();
            if form["subprotocol"] == "lmosprotocol" {
                // The WebSocket forms (tests/ws_conformance.rs checks them).
                assert!(href.starts_with("ws://"), "{href}");
                continue;
            }
            assert!(href.starts_with(&lamp.base), "{href} is not absolute");
            let op = match &form["op"] {
                Value::String(op) => vec![op.clone()],
                Value::Array(all) => all.iter().map(|o| o.as_str().unwrap().to_owned()).collect(),
                other => panic!("op {other}"),
            };
            for op in op {
                ops.push((
                    op,
                    form["contentType"].as_str().unwrap().to_owned(),
                    form["subprotocol"].as_str().map(str::to_owned),
                    form["htv:methodName"].as_str().map(str::to_owned),
                ));
            }
        }
    };
    collect(&td["properties"]["brightness"]["forms"]);
    collect(&td["actions"]["count"]["forms"]);
    collect(&td["events"]["alarm"]["forms"]);
    collect(&td["forms"]);
    let has = |op: &str, ct: &str, sub: Option<&str>, method: &str| {
        ops.iter().any(|(o, c, s, m)| {
            o == op && c == ct && s.as_deref() == sub && m.as_deref() == Some(method)
        })
    };
    for ct in ["application/json", "application/cbor"] {
        assert!(has("readproperty", ct, None, "GET"));
        assert!(has("writeproperty", ct, None, "PUT"));
        assert!(has("invokeaction", ct, None, "POST"));
        assert!(has("readallproperties", ct, None, "GET"));
        assert!(has("writemultipleproperties", ct, None, "PUT"));
    }
    for sub in ["sse", "longpoll"] {
        // no htv:methodName: node-wot would use it for its long-poll HEAD handshake
        let stream_form = |op: &str| {
            ops.iter().any(|(o, c, s, m)| {
                o == op && c == "application/json" && s.as_deref() == Some(sub) && m.is_none()
            })
        };
        assert!(stream_form("observeproperty"));
        assert!(stream_form("subscribeevent"));
    }
    // read-only and write-only properties only get the forms they allow
    let status_forms = td["properties"]["status"]["forms"].to_string();
    assert!(!status_forms.contains("writeproperty"));
    let secret_forms = td["properties"]["secret"]["forms"].to_string();
    assert!(!secret_forms.contains("readproperty"));
    // the forms are followable: the readproperty href answers
    let href = td["properties"]["brightness"]["forms"][0]["href"]
        .as_str()
        .unwrap();
    assert_eq!(
        client()
            .get(href)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        50
    );
    lamp.servient.shutdown().await;
}

#[tokio::test]
async fn well_known_lists_things() {
    let lamp = start_lamp().await;
    let one: Value = client()
        .get(lamp.url(".well-known/wot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["title"], "Test Lamp");
    lamp.servient
        .expose(ThingBuilder::agent("Second Thing").build())
        .unwrap();
    let list: Value = client()
        .get(lamp.url(".well-known/wot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hrefs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["href"].as_str().unwrap())
        .collect();
    assert_eq!(hrefs, [lamp.url("test-lamp"), lamp.url("second-thing")]);
    // a duplicate slug is refused
    let error = lamp
        .servient
        .expose(ThingBuilder::agent("second thing!").build())
        .unwrap_err();
    assert_eq!(error.code(), "duplicate_thing");
}

#[tokio::test]
async fn reads_and_writes_properties_with_validation() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/properties/brightness");
    let value: Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value, 50);
    let response = client().put(&url).json(&json!(70)).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 70);
    let value: Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value, 70);

    let body = problem(
        client().put(&url).json(&json!(101)).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["errors"][0]["rule"], "maximum");
    assert_eq!(body["errors"][0]["path"], "");
    let body = problem(
        client()
            .put(&url)
            .json(&json!("bright"))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["errors"][0]["rule"], "type");
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 70);

    // read handler
    let status: Value = client()
        .get(lamp.url("test-lamp/properties/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, "on");
    // read-only / write-only
    let response = client()
        .put(lamp.url("test-lamp/properties/status"))
        .json(&json!("off"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    let response = client()
        .get(lamp.url("test-lamp/properties/secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "PUT");
    problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    let response = client()
        .put(lamp.url("test-lamp/properties/secret"))
        .json(&json!("s3cr3t"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn reads_all_and_writes_multiple_properties() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/properties");
    let all: Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!({"brightness": 50, "status": "on"}));
    let response = client()
        .put(&url)
        .json(&json!({"brightness": 10, "secret": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 10);
    let body = problem(
        client()
            .put(&url)
            .json(&json!({"brightness": 500, "secret": 3}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/brightness", "/secret"]);
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 10);
    problem(
        client()
            .put(&url)
            .json(&json!({"status": "off"}))
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    problem(
        client()
            .put(&url)
            .json(&json!({"nope": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        client().put(&url).json(&json!([1])).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn unknown_things_and_affordances_are_404() {
    let lamp = start_lamp().await;
    for (method, path) in [
        ("GET", "nothing"),
        ("GET", "nothing/properties/brightness"),
        ("GET", "test-lamp/properties/nope"),
        ("PUT", "test-lamp/properties/nope"),
        ("POST", "test-lamp/actions/nope"),
        ("GET", "test-lamp/actions/count/not-an-id"),
        ("DELETE", "test-lamp/actions/count/not-an-id"),
        ("GET", "test-lamp/events/nope/sse"),
        ("GET", "test-lamp/events/nope/longpoll"),
        ("HEAD", "test-lamp/events/nope/longpoll"),
        ("GET", "test-lamp/properties/status/sse"),
        ("GET", "a/b/c/d/e/f"),
    ] {
        let request = client().request(method.parse().unwrap(), lamp.url(path));
        let request = if method == "PUT" || method == "POST" {
            request.json(&json!(1))
        } else {
            request
        };
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        if method != "HEAD" {
            problem(response, StatusCode::NOT_FOUND).await;
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let lamp = start_lamp().await;
    for (method, path, allowed) in [
        (
            "DELETE",
            "test-lamp/properties/brightness",
            vec!["GET", "PUT"],
        ),
        ("POST", "test-lamp", vec!["GET"]),
        ("GET", "test-lamp/actions/echo", vec!["POST"]),
        ("POST", "test-lamp/properties", vec!["GET", "PUT"]),
    ] {
        let response = client()
            .request(method.parse().unwrap(), lamp.url(path))
            .send()
            .await
            .unwrap();
        let allow = response.headers()["allow"].to_str().unwrap().to_owned();
        for method in allowed {
            assert!(allow.contains(method), "{path}: Allow {allow}");
        }
        problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let lamp = start_lamp_with(Servient::builder().http_port(0).max_body_bytes(1024)).await;
    let big = json!({"text": "x".repeat(2000)});
    let response = client()
        .post(lamp.url("test-lamp/actions/echo"))
        .json(&big)
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let small = json!({"text": "x".repeat(500)});
    let response = client()
        .post(lamp.url("test-lamp/actions/echo"))
        .json(&small)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn failing_handlers_are_500_without_internals() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let lamp = start_lamp_with(Servient::builder().http_port(0).on_internal_error(Arc::new(
        move |thing: &str, affordance: &str, error: &lmos::thing::ThingError| {
            record
                .lock()
                .unwrap()
                .push(format!("{thing}/{affordance}: {error}"));
        },
    )))
    .await;
    for action in ["fail", "badOutput"] {
        let response = client()
            .post(lamp.url(&format!("test-lamp/actions/{action}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["title"], "internal error");
        for secret in ["hunter2", "db.rs", "not an integer", "password"] {
            assert!(!text.contains(secret), "{action} leaks {secret}: {text}");
        }
    }
    // the operator still learns what happened
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("test-lamp/actions/fail: ") && seen[0].contains("hunter2"));
    assert!(
        seen[1].starts_with("test-lamp/actions/badOutput: ") && seen[1].contains("not an integer")
    );
}

#[tokio::test]
async fn malformed_bodies_and_unknown_media_types() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/properties/brightness");
    let body = problem(
        client()
            .put(&url)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("JSON"));
    problem(
        client()
            .put(&url)
            .header("content-type", "application/cbor")
            .body(vec![0xff, 0x00])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        client()
            .put(&url)
            .header("content-type", "image/png")
            .body(vec![1, 2, 3])
            .send()
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
}

#[tokio::test]
async fn cbor_requests_and_responses() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/properties/brightness");
    let response = client()
        .put(&url)
        .header("content-type", "application/cbor")
        .body(Codec::Cbor.encode(&json!(33)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = client()
        .get(&url)
        .header("accept", "application/cbor")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/cbor");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(Codec::Cbor.decode(&bytes).unwrap(), 33);
    // a CBOR request gets a CBOR answer without Accept
    let response = client()
        .post(lamp.url("test-lamp/actions/echo"))
        .header("content-type", "application/cbor")
        .body(Codec::Cbor.encode(&json!({"text": "hi"})).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/cbor");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(Codec::Cbor.decode(&bytes).unwrap(), json!({"text": "hi"}));
    // invalid CBOR input is validated like JSON input
    let body = problem(
        client()
            .post(lamp.url("test-lamp/actions/echo"))
            .header("content-type", "application/cbor")
            .body(Codec::Cbor.encode(&json!({"text": 5})).unwrap())
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["errors"][0]["path"], "/text");
}

#[tokio::test]
async fn synchronous_actions() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/actions/echo");
    let response = client()
        .post(&url)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"text": "hello"})
    );
    let body = problem(
        client()
            .post(&url)
            .json(&json!({"txt": "hello"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(body["errors"][0]["rule"], "required");
    // no body at all is a null input, which the schema refuses
    problem(
        client().post(&url).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn synchronous_action_progress_over_sse() {
    let lamp = start_lamp().await;
    let response = client()
        .post(lamp.url("test-lamp/actions/progress"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_data(response, 3).await;
    assert_eq!(
        events,
        [
            (Some("progress".into()), "\"a\"".into()),
            (Some("progress".into()), "\"b\"".into()),
            (Some("output".into()), "\"done\"".into()),
        ]
    );
    // without asking for a stream, the same action answers with its output only
    let response = client()
        .post(lamp.url("test-lamp/actions/progress"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), "done");
}

#[tokio::test]
async fn asynchronous_actions_have_a_status_resource() {
    let lamp = start_lamp().await;
    let response = client()
        .post(lamp.url("test-lamp/actions/count"))
        .json(&json!(3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&lamp.url("test-lamp/actions/count/")));
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["status"], "running");
    assert_eq!(status["href"], location.as_str());
    assert!(status["timeRequested"].as_str().unwrap().ends_with('Z'));
    let last = loop {
        let status: Value = client()
            .get(&location)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] != "running" {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(last["status"], "completed");
    assert_eq!(last["output"], 3);
    assert_eq!(last["progress"], 3);
    assert!(last["timeEnded"].is_string());
    // cancelling a finished action is a conflict
    problem(
        client().delete(&location).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    // invalid input never starts an instance
    problem(
        client()
            .post(lamp.url("test-lamp/actions/count"))
            .json(&json!(11))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn asynchronous_action_updates_over_sse() {
    let lamp = start_lamp().await;
    let response = client()
        .post(lamp.url("test-lamp/actions/count"))
        .json(&json!(4))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let response = client()
        .get(&location)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    for (event, data) in sse_data(response, 5).await {
        let last = event.as_deref() == Some("output");
        events.push((event, data));
        if last {
            break;
        }
    }
    let (event, data) = events.last().unwrap();
    assert_eq!(event.as_deref(), Some("output"));
    assert_eq!(data, "4");
    let progress: Vec<u64> = events[..events.len() - 1]
        .iter()
        .map(|(e, d)| {
            assert_eq!(e.as_deref(), Some("progress"));
            d.parse().unwrap()
        })
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
    if let Some(last) = progress.last() {
        assert_eq!(*last, 4);
    }
}

#[tokio::test]
async fn cancelling_reaches_the_handler() {
    let mut lamp = start_lamp().await;
    let response = client()
        .post(lamp.url("test-lamp/actions/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    let response = client().delete(&location).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let seen = tokio::time::timeout(Duration::from_secs(10), lamp.cancellations.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, id);
    let status: Value = client()
        .get(&location)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "cancelled");
    problem(
        client().delete(&location).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn observe_property_over_sse() {
    let lamp = start_lamp().await;
    let response = client()
        .get(lamp.url("test-lamp/properties/brightness/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    lamp.exposed.set_property("brightness", json!(1)).unwrap();
    client()
        .put(lamp.url("test-lamp/properties/brightness"))
        .json(&json!(2))
        .send()
        .await
        .unwrap();
    let events = sse_data(response, 2).await;
    // unnamed events, as node-wot's SSE client expects
    assert_eq!(events, [(None, "1".into()), (None, "2".into())]);
    // invalid values are refused before anybody is notified
    assert_eq!(
        lamp.exposed
            .set_property("brightness", json!(-1))
            .unwrap_err()
            .code(),
        "invalid_input"
    );
}

#[tokio::test]
async fn observe_property_over_long_poll() {
    let lamp = start_lamp().await;
    let url = lamp.url("test-lamp/properties/brightness/longpoll");
    let head = client().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let waiting = tokio::spawn({
        let url = url.clone();
        async move { client().get(&url).send().await.unwrap() }
    });
    // keep changing the value until the waiting request has been answered with one
    let mut next = 60;
    while !waiting.is_finished() {
        lamp.exposed
            .set_property("brightness", json!(next))
            .unwrap();
        next += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = waiting.await.unwrap();
    assert_eq!(response.status(), 200);
    let value: u64 = response.json().await.unwrap();
    assert!((60..next).contains(&value));
}

#[tokio::test]
async fn long_poll_without_news_answers_204() {
    let lamp = start_lamp_with(
        Servient::builder()
            .http_port(0)
            .long_poll_timeout(Duration::from_millis(100)),
    )
    .await;
    let response = client()
        .get(lamp.url("test-lamp/events/alarm/longpoll"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn subscribe_event_over_sse_and_long_poll() {
    let lamp = start_lamp().await;
    let response = client()
        .get(lamp.url("test-lamp/events/alarm/sse"))
        .send()
        .await
        .unwrap();
    lamp.exposed
        .emit_event("alarm", json!({"level": 3}))
        .unwrap();
    let events = sse_data(response, 1).await;
    assert_eq!(events, [(None, r#"{"level":3}"#.into())]);
    assert_eq!(
        lamp.exposed
            .emit_event("alarm", json!({"lvl": 3}))
            .unwrap_err()
            .code(),
        "invalid_input"
    );
    assert_eq!(
        lamp.exposed
            .emit_event("nope", json!(1))
            .unwrap_err()
            .code(),
        "not_found"
    );

    let url = lamp.url("test-lamp/events/alarm/longpoll");
    let waiting = tokio::spawn(async move { client().get(&url).send().await.unwrap() });
    while !waiting.is_finished() {
        lamp.exposed
            .emit_event("alarm", json!({"level": 9}))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let value: Value = waiting.await.unwrap().json().await.unwrap();
    assert_eq!(value, json!({"level": 9}));
}

#[tokio::test]
async fn trace_context_reaches_the_handler() {
    let lamp = start_lamp().await;
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let seen: Value = client()
        .post(lamp.url("test-lamp/actions/trace"))
        .header("traceparent", parent)
        .header("tracestate", "congo=t61rcWkgMzE")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["incoming"], parent);
    assert_eq!(seen["tracestate"], "congo=t61rcWkgMzE");
    // The handler runs in the server span: the same trace, the span's own id as parent id.
    let current = seen["current"].as_str().unwrap();
    assert!(
        current.starts_with("00-0af7651916cd43dd8448eb211c80319c-"),
        "{current}"
    );
    assert_ne!(current, parent);
    // without one, the handler runs in a fresh trace
    let seen: Value = client()
        .post(lamp.url("test-lamp/actions/trace"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(seen["incoming"].is_null());
    assert!(seen["current"].as_str().unwrap().starts_with("00-"));
    // a malformed traceparent is ignored, not an error
    let seen: Value = client()
        .post(lamp.url("test-lamp/actions/trace"))
        .header("traceparent", "garbage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(seen["incoming"].is_null());
}

#[tokio::test]
async fn mounted_router_uses_the_public_base_url() {
    let servient = Servient::builder()
        .public_base_url("https://agents.example.com/lamp")
        .build()
        .unwrap();
    let exposed = servient.expose(http_common::lamp_thing()).unwrap();
    exposed.set_property("brightness", json!(5)).unwrap();
    assert_eq!(
        exposed.td_url().as_deref(),
        Some("https://agents.example.com/lamp/test-lamp")
    );
    let app = axum::Router::new().nest("/lamp", servient.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let td: Value = client()
        .get(format!("http://{address}/lamp/test-lamp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        td["properties"]["brightness"]["forms"][0]["href"],
        "https://agents.example.com/lamp/test-lamp/properties/brightness"
    );
    let value: Value = client()
        .get(format!(
            "http://{address}/lamp/test-lamp/properties/brightness"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value, 5);
    assert!(Servient::builder()
        .public_base_url("not a url")
        .build()
        .is_err());
}

/// `Servient::shutdown` ends open SSE and long-poll responses, so their connections do not outlive
/// the server (a process observing its own servient can then exit).
#[tokio::test]
async fn shutdown_ends_open_streams() {
    let lamp = start_lamp().await;
    let client = client();
    let mut sse = client
        .get(lamp.url("test-lamp/properties/brightness/sse"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let long_poll = tokio::spawn(
        client
            .get(lamp.url("test-lamp/events/alarm/longpoll"))
            .send(),
    );
    // Let the long-poll request reach the server before shutting down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    lamp.servient.shutdown().await;

    // The SSE body ends (keep-alive comments may come first); 10 s only bounds a hang.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = sse.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the SSE stream stayed open after shutdown");
    let answered = tokio::time::timeout(Duration::from_secs(10), long_poll)
        .await
        .expect("the long-poll request stayed open after shutdown")
        .unwrap();
    // Either the 503 "closed" answer or a dropped connection; never a value.
    if let Ok(response) = answered {
        assert_eq!(response.status(), 503);
    }
}

/// `ExposedThing::invoke_action_stream` runs the handler as it is polled; dropping the stream
/// early cancels the handler, which still runs (in a task of its own) until it has seen that.
#[tokio::test]
async fn dropping_an_action_stream_cancels_its_handler() {
    use futures::StreamExt;
    let mut lamp = start_lamp().await;
    let mut updates = lamp
        .exposed
        .invoke_action_stream("slow", Value::Null, None)
        .unwrap();
    // Two progress values arrive while the stream is polled.
    for step in 1..=2 {
        match updates.next().await {
            Some(Ok(lmos::thing::ActionUpdate::Progress(value))) => assert_eq!(value, json!(step)),
            other => panic!("expected progress {step}, got {other:?}"),
        }
    }
    drop(updates);
    let seen = tokio::time::timeout(Duration::from_secs(5), lamp.cancellations.recv()).await;
    assert!(
        matches!(seen, Ok(Some(_))),
        "the handler never saw the cancellation"
    );
    // A finished stream cancels nothing: the output, then the end.
    let mut updates = lamp
        .exposed
        .invoke_action_stream("echo", json!({"text": "hi"}), None)
        .unwrap();
    match updates.next().await {
        Some(Ok(lmos::thing::ActionUpdate::Output(value))) => {
            assert_eq!(value, json!({"text": "hi"}))
        }
        other => panic!("expected the output, got {other:?}"),
    }
    assert!(updates.next().await.is_none());
    drop(updates);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), lamp.cancellations.recv())
            .await
            .is_err(),
        "a finished invocation was cancelled"
    );
}
