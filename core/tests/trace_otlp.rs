//! Spans on both sides of every interaction, exported over OTLP/HTTP to a receiver on a loopback
//! port: a client calls a relay agent over WebSocket, whose handler calls a weather agent over
//! HTTP; the four spans form one trace (client → relay server → relay's client → weather server).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use lmos::td::{ActionAffordance, DataSchema, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};
use serde_json::{json, Value};

type Received = Arc<Mutex<Vec<Value>>>;

/// The receiving side of OTLP/HTTP with the JSON encoding, as a collector runs it.
async fn otlp_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    async fn accept(State(received): State<Received>, body: String) -> &'static str {
        let request: Value = serde_json::from_str(&body).expect("OTLP JSON");
        for resource in request["resourceSpans"].as_array().unwrap() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone())
                .unwrap();
            for scope in resource["scopeSpans"].as_array().unwrap() {
                for span in scope["spans"].as_array().unwrap() {
                    let mut span = span.clone();
                    span["service"] = service.clone();
                    received.lock().unwrap().push(span);
                }
            }
        }
        "{}"
    }
    let app = Router::new()
        .route("/v1/traces", post(accept))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/v1/traces"), received)
}

fn action_thing(title: &str, id: &str, action: &str) -> lmos::td::Thing {
    ThingBuilder::agent(title)
        .id(id)
        .action(
            action,
            ActionAffordance::new()
                .input(DataSchema::of_type("string"))
                .output(DataSchema::of_type("string")),
        )
        .build()
}

#[tokio::test]
async fn one_trace_across_a_chain_of_agents() {
    let (endpoint, received) = otlp_receiver().await;
    lmos::trace::export_otlp(&endpoint, "trace-test").unwrap();

    let servient = Servient::builder().http_port(0).build().unwrap();
    let weather = servient
        .expose(action_thing("Weather", "urn:test:weather", "getWeather"))
        .unwrap();
    weather
        .on_action(
            "getWeather",
            invoke_with(|input: Value, _ctx| async move {
                match input.as_str() {
                    Some("Atlantis") => Err(lmos::thing::HandlerError::Failed(
                        "no weather for Atlantis".into(),
                    )),
                    place => Ok(json!(format!("sunny in {}", place.unwrap_or("?")))),
                }
            }),
        )
        .unwrap();
    let relay = servient
        .expose(action_thing("Relay", "urn:test:relay", "ask"))
        .unwrap();
    servient.start().await.unwrap();
    let weather_url = weather.td_url().unwrap();
    relay
        .on_action(
            "ask",
            invoke_with(move |input: Value, _ctx| {
                let weather_url = weather_url.clone();
                async move {
                    let options = ConsumeOptions {
                        protocols: vec!["http".into()],
                        ..ConsumeOptions::default()
                    };
                    let weather = ConsumedThing::from_url(&weather_url, options)
                        .await
                        .map_err(|e| lmos::thing::HandlerError::Failed(e.to_string()))?;
                    weather
                        .invoke_action("getWeather", input)
                        .await
                        .map_err(|e| lmos::thing::HandlerError::Failed(e.to_string()))
                }
            }),
        )
        .unwrap();

    let options = ConsumeOptions {
        protocols: vec!["ws".into()],
        only_protocols: true,
        ..ConsumeOptions::default()
    };
    let client = ConsumedThing::from_url(&relay.td_url().unwrap(), options)
        .await
        .unwrap();
    let answer = client.invoke_action("ask", json!("Bonn")).await.unwrap();
    assert_eq!(answer, json!("sunny in Bonn"));
    assert!(lmos::trace::flush_async(Duration::from_secs(10)).await);

    let spans = received.lock().unwrap().clone();
    let find = |kind: u64, name: &str| -> Value {
        spans
            .iter()
            .rev()
            .find(|s| s["kind"] == kind && s["name"].as_str().unwrap().starts_with(name))
            .cloned()
            .unwrap_or_else(|| panic!("no span kind {kind} named {name}: {spans:#?}"))
    };
    let client_ws = find(3, "invokeAction urn:test:relay");
    let relay_server = find(2, "invokeaction ask");
    let relay_client = find(3, "POST /weather/actions/getWeather");
    let weather_server = find(2, "invokeaction getWeather");
    let trace_id = client_ws["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    for span in [&relay_server, &relay_client, &weather_server] {
        assert_eq!(span["traceId"], trace_id, "{span:#}");
        assert_eq!(span["service"], "trace-test");
        assert_eq!(span["status"]["code"], 1, "{span:#}");
    }
    assert!(
        client_ws.get("parentSpanId").is_none(),
        "the client started the trace"
    );
    assert_eq!(relay_server["parentSpanId"], client_ws["spanId"]);
    assert_eq!(relay_client["parentSpanId"], relay_server["spanId"]);
    assert_eq!(weather_server["parentSpanId"], relay_client["spanId"]);
    let start: u64 = relay_server["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u64 = relay_server["endTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(end >= start);
    assert!(relay_server["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["key"] == "lmos.thing" && a["value"]["stringValue"] == "urn:test:relay"));

    // A failing handler down the chain: error spans on both sides of both hops.
    let refused = client.invoke_action("ask", json!("Atlantis")).await;
    assert!(refused.is_err());
    assert!(lmos::trace::flush_async(Duration::from_secs(10)).await);
    let spans = received.lock().unwrap().clone();
    for (kind, name) in [
        (3, "invokeAction urn:test:relay"),
        (2, "invokeaction ask"),
        (3, "POST /weather/actions/getWeather"),
        (2, "invokeaction getWeather"),
    ] {
        assert!(
            spans.iter().any(|s| s["kind"] == kind
                && s["name"].as_str().unwrap().starts_with(name)
                && s["status"]["code"] == 2),
            "no failed span {name}: {spans:#?}"
        );
    }
    lmos::trace::stop_export();
    servient.shutdown().await;
}
