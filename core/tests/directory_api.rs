//! The directory HTTP API over a real socket and a real SQLite file.

mod directory_common;

use std::time::Duration;

use directory_common::*;
use futures::StreamExt;
use lmos::binding::http::client::sse_events;
use lmos::binding::http::HttpError;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn put(base: &str, id: &str, td: &Value) -> reqwest::Response {
    client()
        .put(format!("{base}things/{}", urlencode(id)))
        .header("content-type", "application/td+json")
        .body(td.to_string())
        .send()
        .await
        .unwrap()
}

fn urlencode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

async fn get_json(url: &str) -> (StatusCode, Value) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn create_replace_read_patch_delete() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    let id = "urn:example:weather";

    let response = put(&base, id, &weather(id)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = put(&base, id, &weather(id)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = client()
        .get(format!("{base}things/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/td+json");
    let td: Value = response.json().await.unwrap();
    assert_eq!(td["title"], "Weather");
    let registration = &td["registration"];
    assert!(registration["created"].as_str().unwrap().ends_with('Z'));
    assert!(registration["modified"].is_string());
    assert!(registration["retrieved"].is_string());
    assert!(registration.get("expires").is_none());

    // HEAD on a GET route: headers, no body.
    let head = client()
        .head(format!("{base}things/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());

    // PATCH: merge patch, validated.
    let response = client()
        .patch(format!("{base}things/{id}"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"description": "Weather everywhere", "lmos:metadata": null}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, td) = get_json(&format!("{base}things/{id}")).await;
    assert_eq!(td["description"], "Weather everywhere");
    assert!(td.get("lmos:metadata").is_none());

    // A patch that breaks the TD is refused and changes nothing.
    let response = client()
        .patch(format!("{base}things/{id}"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"security": "basic_sc"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["validationErrors"][0]["field"], "/security");
    let (_, td) = get_json(&format!("{base}things/{id}")).await;
    assert_eq!(td["security"], "nosec_sc");

    let response = client()
        .patch(format!("{base}things/urn:example:none"))
        .header("content-type", "application/merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = client()
        .delete(format!("{base}things/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = client()
        .delete(format!("{base}things/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, _) = get_json(&format!("{base}things/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    dir.shutdown().await;
}

#[tokio::test]
async fn invalid_writes_are_refused_and_store_nothing() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();

    // Undefined security scheme: invalid TD.
    let mut bad = weather("urn:example:bad");
    bad["security"] = json!("basic_sc");
    let response = put(&base, "urn:example:bad", &bad).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    let errors = problem["validationErrors"].as_array().unwrap();
    assert!(!errors.is_empty());
    assert!(errors[0]["description"]
        .as_str()
        .unwrap()
        .contains("basic_sc"));

    // Not JSON at all.
    let response = client()
        .put(format!("{base}things/urn:example:bad"))
        .header("content-type", "application/td+json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["validationErrors"][0]["rule"], "parse");

    // Duplicate member names.
    let text = weather("urn:example:bad")
        .to_string()
        .replacen("{", "{\"title\":\"x\",", 1);
    let response = client()
        .put(format!("{base}things/urn:example:bad"))
        .header("content-type", "application/td+json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Body id differs from the path id.
    let response = put(&base, "urn:example:other", &weather("urn:example:bad")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // POST with an id.
    let response = client()
        .post(format!("{base}things"))
        .header("content-type", "application/td+json")
        .body(weather("urn:example:bad").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Wrong media type.
    let response = client()
        .put(format!("{base}things/urn:example:bad"))
        .header("content-type", "text/plain")
        .body(weather("urn:example:bad").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Negative ttl.
    let mut td = weather("urn:example:bad");
    td["registration"] = json!({"ttl": -5});
    assert_eq!(
        put(&base, "urn:example:bad", &td).await.status(),
        StatusCode::BAD_REQUEST
    );

    let (status, list) = get_json(&format!("{base}things")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));
    dir.shutdown().await;
}

#[tokio::test]
async fn anonymous_registration_gets_a_urn_uuid() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    let mut td = geocoder("x");
    td.as_object_mut().unwrap().remove("id");
    let response = client()
        .post(format!("{base}things"))
        .header("content-type", "application/td+json")
        .body(td.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/things/urn%3Auuid%3A"), "{location}");
    let (status, stored) = get_json(&format!("{}{}", base.trim_end_matches('/'), location)).await;
    assert_eq!(status, StatusCode::OK);
    let id = stored["id"].as_str().unwrap();
    assert!(id.starts_with("urn:uuid:"));
    assert_eq!(
        uuid::Uuid::parse_str(&id[9..]).unwrap().get_version_num(),
        4
    );
    dir.shutdown().await;
}

#[tokio::test]
async fn listing_pages_with_link_next_and_collection_format() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    for i in 0..5 {
        let id = format!("urn:example:t{i}");
        assert_eq!(
            put(&base, &id, &geocoder(&id)).await.status(),
            StatusCode::CREATED
        );
    }
    let response = client()
        .get(format!("{base}things?limit=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/ld+json");
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!("<{base}things?offset=2&limit=2>; rel=\"next\"")
    );
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["id"], "urn:example:t0");

    let response = client()
        .get(format!("{base}things?offset=4&limit=2"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("link").is_none());
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["id"], "urn:example:t4");

    let (_, collection) = get_json(&format!("{base}things?limit=3&format=collection")).await;
    assert_eq!(collection["@type"], "ThingCollection");
    assert_eq!(collection["total"], 5);
    assert_eq!(collection["members"].as_array().unwrap().len(), 3);
    assert_eq!(
        collection["next"],
        "/things?offset=3&limit=3&format=collection"
    );

    for bad in ["limit=-1", "offset=x", "format=xml"] {
        let response = client()
            .get(format!("{base}things?{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    dir.shutdown().await;
}

#[tokio::test]
async fn expired_entries_are_invisible_and_purged() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    let mut td = weather("urn:example:short");
    td["registration"] = json!({"ttl": 1});
    assert_eq!(
        put(&base, "urn:example:short", &td).await.status(),
        StatusCode::CREATED
    );
    let mut long = geocoder("urn:example:long");
    long["registration"] = json!({"ttl": 3600});
    assert_eq!(
        put(&base, "urn:example:long", &long).await.status(),
        StatusCode::CREATED
    );
    let (_, stored) = get_json(&format!("{base}things/urn:example:long")).await;
    assert_eq!(stored["registration"]["ttl"], 3600);
    assert!(stored["registration"]["expires"].is_string());

    // Subscribe before it expires: the purge reports the deletion.
    let events = client()
        .get(format!("{base}events/thing_deleted"))
        .send()
        .await
        .unwrap();
    let mut events = sse_events(Box::pin(
        events
            .bytes_stream()
            .map(|c| c.map_err(|e| HttpError::Transport(e.to_string()))),
    ));

    eventually("the short-lived entry disappears", || {
        let url = format!("{base}things/urn:example:short");
        async move { get_json(&url).await.0 == StatusCode::NOT_FOUND }
    })
    .await;
    let (_, list) = get_json(&format!("{base}things")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let event = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(event.event.as_deref(), Some("thing_deleted"));
    assert_eq!(
        serde_json::from_str::<Value>(&event.data).unwrap()["id"],
        "urn:example:short"
    );
    dir.shutdown().await;
}

#[tokio::test]
async fn events_carry_ids_diffs_and_replay_after_restart() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    let response = client()
        .get(format!("{base}events?diff=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut events = sse_events(Box::pin(
        response
            .bytes_stream()
            .map(|c| c.map_err(|e| HttpError::Transport(e.to_string()))),
    ));
    let id = "urn:example:weather";
    put(&base, id, &weather(id)).await;
    let mut changed = weather(id);
    changed["title"] = json!("Weather 2");
    put(&base, id, &changed).await;
    client()
        .delete(format!("{base}things/{id}"))
        .send()
        .await
        .unwrap();

    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(event);
    }
    assert_eq!(seen[0].event.as_deref(), Some("thing_created"));
    let created: Value = serde_json::from_str(&seen[0].data).unwrap();
    assert_eq!(created["title"], "Weather");
    assert_eq!(seen[1].event.as_deref(), Some("thing_updated"));
    let diff: Value = serde_json::from_str(&seen[1].data).unwrap();
    assert_eq!(diff, json!({"title": "Weather 2", "id": id}));
    assert_eq!(seen[2].event.as_deref(), Some("thing_deleted"));
    let ids: Vec<u64> = seen
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);
    drop(events);
    dir.shutdown().await;

    // Same file, new process state: replay after the first event.
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    let response = client()
        .get(format!("{base}events"))
        .header("Last-Event-ID", ids[0].to_string())
        .send()
        .await
        .unwrap();
    let mut events = sse_events(Box::pin(
        response
            .bytes_stream()
            .map(|c| c.map_err(|e| HttpError::Transport(e.to_string()))),
    ));
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.id.as_deref(), Some(ids[1].to_string().as_str()));
    assert_eq!(
        serde_json::from_str::<Value>(&first.data).unwrap(),
        json!({"id": id})
    );
    let second = events.next().await.unwrap().unwrap();
    assert_eq!(second.event.as_deref(), Some("thing_deleted"));
    // A kind-filtered stream replays only that kind.
    let response = client()
        .get(format!("{base}events/thing_updated"))
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    let mut updated = sse_events(Box::pin(
        response
            .bytes_stream()
            .map(|c| c.map_err(|e| HttpError::Transport(e.to_string()))),
    ));
    assert_eq!(
        updated.next().await.unwrap().unwrap().id.as_deref(),
        Some(ids[1].to_string().as_str())
    );

    let response = client()
        .get(format!("{base}events"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client()
        .get(format!("{base}events/thing_exploded"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    dir.shutdown().await;
}

#[tokio::test]
async fn search_by_type_vendor_text_and_jsonpath() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    put(
        &base,
        "urn:example:weather",
        &weather("urn:example:weather"),
    )
    .await;
    put(&base, "urn:example:geo", &geocoder("urn:example:geo")).await;
    put(&base, "urn:example:travel", &travel("urn:example:travel")).await;

    let ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, agents) = get_json(&format!("{base}search?type=agent")).await;
    assert_eq!(ids(&agents), ["urn:example:travel", "urn:example:weather"]);
    let (_, tools) = get_json(&format!("{base}search?type=lmos:Tool")).await;
    assert_eq!(ids(&tools), ["urn:example:geo"]);
    let (_, acme) = get_json(&format!("{base}search?vendor=acme")).await;
    assert_eq!(ids(&acme), ["urn:example:travel", "urn:example:weather"]);
    let (_, acme_tools) = get_json(&format!("{base}search?vendor=ACME&type=tool")).await;
    assert_eq!(ids(&acme_tools), Vec::<String>::new());

    let (status, found) = get_json(&format!(
        "{base}search?q={}",
        urlencode("find an agent that can tell the weather")
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&found)[0], "urn:example:weather");
    assert!(ids(&found).contains(&"urn:example:travel".to_owned()));
    assert!(!ids(&found).contains(&"urn:example:geo".to_owned()));
    // Full pages come from the ranked-inside-FTS path; the order is the same.
    let (_, first) = get_json(&format!("{base}search?q=weather&limit=1")).await;
    assert_eq!(ids(&first), ["urn:example:weather"]);
    let (_, second) = get_json(&format!("{base}search?q=weather&limit=1&offset=1")).await;
    assert_eq!(ids(&second), ["urn:example:travel"]);
    // Affordance descriptions count, and stemming finds "coordinates" for "coordinate".
    let (_, found) = get_json(&format!("{base}search?q=coordinate")).await;
    assert_eq!(ids(&found), ["urn:example:geo"]);
    let (_, found) = get_json(&format!("{base}search?q=forecast&type=tool")).await;
    assert_eq!(ids(&found), Vec::<String>::new());

    let (status, titles) = get_json(&format!(
        "{base}search/jsonpath?query={}",
        urlencode("$[?@['@type']=='lmos:Agent'].title")
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles, json!(["Travel Planner", "Weather"]));
    // The snapshot JSONPath runs over follows every write.
    let jsonpath_titles = || async {
        get_json(&format!(
            "{base}search/jsonpath?query={}",
            urlencode("$[?@['@type']=='lmos:Agent'].title")
        ))
        .await
        .1
    };
    let mut news = td(
        "agent",
        "urn:example:news",
        "News",
        "Headlines",
        "X",
        ("read", "Reads news"),
    );
    news["registration"] = json!({"ttl": 1});
    assert_eq!(
        put(&base, "urn:example:news", &news).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        jsonpath_titles().await,
        json!(["News", "Travel Planner", "Weather"])
    );
    eventually("the expired entry leaves the JSONPath results", || async {
        jsonpath_titles().await == json!(["Travel Planner", "Weather"])
    })
    .await;
    client()
        .delete(format!("{base}things/urn:example:travel"))
        .send()
        .await
        .unwrap();
    assert_eq!(jsonpath_titles().await, json!(["Weather"]));
    put(&base, "urn:example:travel", &travel("urn:example:travel")).await;
    let (status, problem) =
        get_json(&format!("{base}search/jsonpath?query={}", urlencode("$[?"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(problem["detail"].as_str().unwrap().contains("JSONPath"));
    let (status, _) = get_json(&format!("{base}search/jsonpath")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    dir.shutdown().await;
}

#[tokio::test]
async fn the_directory_describes_itself_with_a_valid_td() {
    let db = temp_db();
    let dir = start(&db, 0).await;
    let base = dir.base_url().to_owned();
    for path in ["", ".well-known/wot"] {
        let response = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/td+json");
        let body = response.bytes().await.unwrap();
        let report = lmos::td::validate_bytes(&body);
        assert!(report.is_valid(), "{report}");
        let td: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(td["@type"], "ThingDirectory");
        assert_eq!(td["base"], base);
        assert!(td["actions"]["searchJSONPath"].is_object());
        assert!(td["events"]["thingCreated"]["forms"][0]["subprotocol"] == "sse");
    }
    let head = client()
        .head(format!("{base}.well-known/wot"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let response = client()
        .get(format!("{base}nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    dir.shutdown().await;
}
