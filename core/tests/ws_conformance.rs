//! Drives the WebSocket endpoint with raw frames: every message type of the protocol in both
//! dialects (the spec's examples from `tests/fixtures/messages` are the requests and the shape
//! of the replies), and every bad input the server must survive.

mod ws_common;

use std::collections::BTreeSet;
use std::time::Duration;

use lmos::thing::Servient;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::Message as Frame;
use ws_common::*;

use futures::SinkExt;

fn keys(message: &Value) -> BTreeSet<String> {
    message.as_object().unwrap().keys().cloned().collect()
}

/// A fixture as the LMOS Kotlin SDK (kotlin-wot) would send it.
fn kotlin(mut message: Value) -> Value {
    let object = message.as_object_mut().unwrap();
    let mut out = Map::new();
    for (key, value) in std::mem::take(object) {
        let key = match key.as_str() {
            "thingID" => "thingId".to_owned(),
            "messageID" => "messageId".to_owned(),
            // kotlin-wot never sends a correlation; replies correlate to the messageId.
            "correlationID" | "correlationId" => continue,
            "name" => "property".to_owned(),
            _ => key,
        };
        let value = match (key.as_str(), value) {
            ("messageType", Value::String(t)) if t == "subscribeEvent" => json!("subscribeevent"),
            (_, value) => value,
        };
        out.insert(key, value);
    }
    Value::Object(out)
}

fn message_type(message: &Value) -> &str {
    message["messageType"].as_str().unwrap_or_default()
}

/// Receives `count` messages and returns them ordered by correlation.
async fn recv_many(raw: &mut Raw, count: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(raw.recv().await);
    }
    out.sort_by(|a, b| correlation(a).cmp(&correlation(b)));
    out
}

/// A read round trip: proves the connection works and that nothing else was queued before it.
async fn assert_quiet(raw: &mut Raw) {
    let request = read_request(AGENT_ID, "status", "quiet-check");
    let reply = raw.call(&request).await;
    assert_eq!(message_type(&reply), "propertyReading", "{reply}");
    assert_eq!(correlation(&reply), Some("quiet-check"), "{reply}");
}

#[tokio::test]
async fn spec_dialect_every_message_type() {
    let mut things = start().await;
    let mut raw = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    assert_eq!(raw.protocol.as_deref(), Some("lmosprotocol"));

    // readProperty -> propertyReading, shaped like the spec's propertyReading example.
    let reply = raw.call(&fixture("readProperty")).await;
    assert_eq!(keys(&reply), keys(&fixture("propertyReading")), "{reply}");
    assert_eq!(message_type(&reply), "propertyReading");
    assert_eq!(reply["thingID"], AGENT_ID);
    assert_eq!(
        reply["correlationID"],
        "5afb752f-8be0-4a3c-8108-1327a6009cbd"
    );
    assert_eq!(reply["name"], "modelConfiguration");
    assert_eq!(reply["value"]["modelName"], "gpt-4");
    assert!(reply["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_ne!(reply["messageID"], fixture("readProperty")["messageID"]);

    // writeProperty -> propertyReading with the written value; the example spells `thingId`, so
    // does the reply.
    let reply = raw.call(&fixture("writeProperty")).await;
    assert_eq!(message_type(&reply), "propertyReading", "{reply}");
    assert_eq!(reply["thingId"], AGENT_ID);
    assert_eq!(
        reply["correlationId"],
        fixture("writeProperty")["messageId"],
        "without a correlationID the reply correlates to the messageID"
    );
    assert_eq!(reply["value"], fixture("writeProperty")["data"]);
    assert_eq!(
        things.agent.property_value("modelConfiguration").unwrap()["modelName"],
        "gpt-4o"
    );

    // writeMultipleProperties -> propertyReadings.
    let reply = raw.call(&fixture("writeMultipleProperties")).await;
    let mut expected = keys(&fixture("propertyReadings"));
    expected.insert("correlationId".into());
    assert_eq!(keys(&reply), expected, "{reply}");
    assert_eq!(message_type(&reply), "propertyReadings");
    assert_eq!(reply["data"], fixture("writeMultipleProperties")["data"]);
    assert_eq!(things.agent.property_value("otherProperty").unwrap(), 60);

    // readAllProperties and readMultipleProperties (sent by the reference implementation).
    let reply = raw
        .call(
            &json!({"thingID": AGENT_ID, "messageID": "all-1", "messageType": "readAllProperties"}),
        )
        .await;
    assert_eq!(message_type(&reply), "propertyReadings", "{reply}");
    assert_eq!(reply["correlationID"], "all-1");
    assert_eq!(reply["data"]["otherProperty"], 60);
    assert_eq!(reply["data"]["status"], "ready");
    let reply = raw
        .call(&json!({"thingID": AGENT_ID, "messageID": "multi-1",
            "messageType": "readMultipleProperties", "properties": ["status", "otherProperty"]}))
        .await;
    assert_eq!(message_type(&reply), "propertyReadings", "{reply}");
    assert_eq!(
        reply["data"],
        json!({"status": "ready", "otherProperty": 60})
    );

    // observeProperty: no reply in the spec dialect, then a propertyReading per change carrying
    // the observation's correlation.
    raw.send(&fixture("observeProperty")).await;
    let observation = fixture("observeProperty")["messageId"].clone();
    // The write reply and the change notification, in either order.
    raw.send(&fixture("writeProperty")).await;
    let replies = recv_many(&mut raw, 2).await;
    let notification = replies
        .iter()
        .find(|m| correlation(m) == observation.as_str())
        .unwrap_or_else(|| panic!("no change notification in {replies:?}"));
    assert_eq!(message_type(notification), "propertyReading");
    assert_eq!(notification["name"], "modelConfiguration");
    assert_eq!(notification["value"]["modelName"], "gpt-4o");

    // unobserveProperty: no reply; changes are no longer reported.
    raw.send(&fixture("unobserveProperty")).await;
    assert_quiet(&mut raw).await;
    things
        .agent
        .set_property("modelConfiguration", json!({"modelName": "quiet"}))
        .unwrap();
    assert_quiet(&mut raw).await;

    // subscribeEvent -> event, shaped like the spec's event example (its correlationId is the
    // subscription's).
    raw.send(&fixture("subscribeEvent")).await;
    assert_quiet(&mut raw).await;
    things
        .agent
        .emit_event("userFeedbackReceived", fixture("event")["data"].clone())
        .unwrap();
    let event = raw.recv().await;
    assert_eq!(keys(&event), keys(&fixture("event")), "{event}");
    assert_eq!(event["correlationId"], fixture("event")["correlationId"]);
    assert_eq!(event["data"], fixture("event")["data"]);
    assert_eq!(event["event"], "userFeedbackReceived");

    raw.send(&fixture("unsubscribeEvent")).await;
    assert_quiet(&mut raw).await;
    things
        .agent
        .emit_event("userFeedbackReceived", json!({"rating": 1}))
        .unwrap();
    assert_quiet(&mut raw).await;

    // subscribeAllEvents / unsubscribeAllEvents.
    raw.send(&fixture("subscribeAllEvents")).await;
    assert_quiet(&mut raw).await;
    things.agent.emit_event("alert", json!("fire")).unwrap();
    let event = raw.recv().await;
    assert_eq!(event["event"], "alert", "{event}");
    assert_eq!(event["data"], "fire");
    assert_eq!(
        event["correlationId"],
        fixture("subscribeAllEvents")["messageId"]
    );
    raw.send(&fixture("unsubscribeAllEvents")).await;
    assert_quiet(&mut raw).await;
    things.agent.emit_event("alert", json!("again")).unwrap();
    assert_quiet(&mut raw).await;

    // invokeAction -> actionStatus, exactly the members of the spec's actionStatus example.
    let reply = raw.call(&fixture("invokeAction")).await;
    assert_eq!(keys(&reply), keys(&fixture("actionStatus")), "{reply}");
    assert_eq!(
        reply["correlationId"],
        fixture("actionStatus")["correlationId"]
    );
    assert_eq!(reply["status"], "completed");
    assert_eq!(reply["output"], fixture("actionStatus")["output"]);

    // queryAction: the latest invocation of the action on this connection.
    let reply = raw.call(&fixture("queryAction")).await;
    assert_eq!(message_type(&reply), "actionStatus", "{reply}");
    assert_eq!(reply["status"], "completed");
    assert_eq!(reply["correlationId"], fixture("queryAction")["messageId"]);
    // cancelAction of a finished action: the reply says it completed (was not cancelled).
    let reply = raw.call(&fixture("cancelAction")).await;
    assert_eq!(message_type(&reply), "actionStatus", "{reply}");
    assert_eq!(reply["status"], "completed");

    // A streaming handler: pending ... completed.
    raw.send(
        &json!({"thingID": WEATHER_ID, "messageID": "d-1", "messageType": "invokeAction",
        "action": "draft"}),
    )
    .await;
    let statuses: Vec<Value> = [raw.recv().await, raw.recv().await, raw.recv().await].into();
    let summary: Vec<(String, Value)> = statuses
        .iter()
        .map(|m| {
            (
                m["status"].as_str().unwrap().to_owned(),
                m["output"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("pending".into(), json!("a")),
            ("pending".into(), json!("b")),
            ("completed".into(), json!("ab")),
        ]
    );
    assert!(statuses.iter().all(|m| m["correlationID"] == "d-1"));

    // Cancelling a running action cancels its handler.
    raw.send(
        &json!({"thingID": WEATHER_ID, "messageID": "s-1", "correlationID": "slow-1",
        "messageType": "invokeAction", "action": "slow"}),
    )
    .await;
    let reply = raw
        .call(
            &json!({"thingID": WEATHER_ID, "messageID": "s-2", "correlationID": "slow-1",
            "messageType": "cancelAction", "action": "slow", "reason": "test"}),
        )
        .await;
    assert_eq!(message_type(&reply), "actionStatus", "{reply}");
    assert_eq!(reply["status"], "cancelled");
    assert_eq!(reply["correlationID"], "slow-1");
    tokio::time::timeout(Duration::from_secs(10), things.cancellations.recv())
        .await
        .expect("the handler saw no cancellation")
        .unwrap();
    let reply = raw
        .call(
            &json!({"thingID": WEATHER_ID, "messageID": "s-3", "messageType": "queryAction",
            "action": "slow"}),
        )
        .await;
    assert_eq!(reply["status"], "cancelled", "{reply}");
    assert_quiet(&mut raw).await;

    // A failing handler: actionStatus failed, a problem without internals.
    let reply = raw
        .call(
            &json!({"thingID": WEATHER_ID, "messageID": "f-1", "messageType": "invokeAction",
            "action": "fail"}),
        )
        .await;
    assert_eq!(reply["status"], "failed", "{reply}");
    assert!(reply["error"]["type"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert!(!reply.to_string().contains("secret internals"));

    // An `error` from the peer is never answered.
    raw.send(&fixture("error")).await;
    assert_quiet(&mut raw).await;

    // Trace context reaches the handler and comes back on the reply.
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut request = read_request(AGENT_ID, "traced", "t-1");
    request["traceparent"] = json!(parent);
    request["tracestate"] = json!("congo=t61rcWkgMzE");
    let reply = raw.call(&request).await;
    assert_eq!(reply["value"], parent, "{reply}");
    assert_eq!(reply["traceparent"], parent);
    assert_eq!(reply["tracestate"], "congo=t61rcWkgMzE");
    assert_eq!(things.seen_trace.lock().unwrap().as_deref(), Some(parent));

    things.servient.shutdown().await;
}

#[tokio::test]
async fn kotlin_wot_dialect_every_message_type() {
    let mut things = start().await;
    // kotlin-wot offers no subprotocol.
    let mut raw = Raw::connect(&things.ws_url, &[]).await.unwrap();
    assert_eq!(raw.protocol, None);

    let request = kotlin(fixture("readProperty"));
    let reply = raw.call(&request).await;
    assert_eq!(message_type(&reply), "propertyReading", "{reply}");
    assert_eq!(
        keys(&reply),
        [
            "thingId",
            "messageId",
            "messageType",
            "correlationId",
            "property",
            "data",
            "timestamp"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    assert_eq!(reply["correlationId"], request["messageId"]);
    assert_eq!(reply["property"], "modelConfiguration");
    assert!(reply["timestamp"].is_number(), "epoch seconds: {reply}");

    let request = kotlin(fixture("writeProperty"));
    let reply = raw.call(&request).await;
    assert_eq!(message_type(&reply), "propertyReading", "{reply}");
    assert_eq!(reply["data"], request["data"]);
    assert_eq!(reply["correlationId"], request["messageId"]);

    // observeProperty: kotlin-wot answers with the current value, then reports changes.
    let observe = json!({"thingId": AGENT_ID, "messageId": "obs-1", "messageType": "observeProperty",
        "property": "otherProperty", "lastPropertyReading": 1_700_000_000.5});
    let reply = raw.call(&observe).await;
    assert_eq!(message_type(&reply), "propertyReading", "{reply}");
    assert_eq!(reply["correlationId"], "obs-1");
    assert_eq!(reply["data"], 1);
    things
        .agent
        .set_property("otherProperty", json!(7))
        .unwrap();
    let change = raw.recv().await;
    assert_eq!(change["property"], "otherProperty", "{change}");
    assert_eq!(change["data"], 7);
    let reply = raw
        .call(&json!({"thingId": AGENT_ID, "messageId": "unobs-1",
            "messageType": "unobserveProperty", "property": "otherProperty"}))
        .await;
    assert_eq!(message_type(&reply), "acknowledgement", "{reply}");
    assert_eq!(reply["correlationId"], "unobs-1");

    // subscribeevent (lower case) -> acknowledgement, then events.
    let request = kotlin(fixture("subscribeEvent"));
    assert_eq!(request["messageType"], "subscribeevent");
    let reply = raw.call(&request).await;
    assert_eq!(message_type(&reply), "acknowledgement", "{reply}");
    assert_eq!(reply["correlationId"], request["messageId"]);
    things
        .agent
        .emit_event("userFeedbackReceived", json!({"rating": 5}))
        .unwrap();
    let event = raw.recv().await;
    assert_eq!(message_type(&event), "event", "{event}");
    assert_eq!(event["data"], json!({"rating": 5}));
    assert!(event["timestamp"].is_number());
    assert_eq!(event["correlationId"], request["messageId"]);
    let reply = raw.call(&kotlin(fixture("unsubscribeEvent"))).await;
    assert_eq!(message_type(&reply), "acknowledgement", "{reply}");

    // invokeAction -> actionStatus.
    let request = kotlin(fixture("invokeAction"));
    let reply = raw.call(&request).await;
    assert_eq!(message_type(&reply), "actionStatus", "{reply}");
    assert_eq!(reply["status"], "completed");
    assert_eq!(reply["correlationId"], request["messageId"]);
    assert_eq!(reply["output"], fixture("actionStatus")["output"]);

    // kotlin-wot's status enumeration has no `cancelled`: a cancelled action is `failed`.
    raw.send(
        &json!({"thingId": WEATHER_ID, "messageId": "k-slow", "messageType": "invokeAction",
        "action": "slow"}),
    )
    .await;
    let reply = raw
        .call(
            &json!({"thingId": WEATHER_ID, "messageId": "k-cancel", "messageType": "cancelAction",
            "action": "slow"}),
        )
        .await;
    let replies = [reply, raw.recv().await];
    assert!(
        replies.iter().all(|r| r["status"] == "failed"),
        "{replies:?}"
    );
    things.cancellations.recv().await.unwrap();

    // A propertyReadings reply to readAllProperties, with epoch seconds.
    let reply = raw
        .call(&json!({"thingId": AGENT_ID, "messageId": "ra", "messageType": "readAllProperties"}))
        .await;
    assert_eq!(message_type(&reply), "propertyReadings", "{reply}");
    assert!(reply["timestamp"].is_number());

    // Evidence of the spec dialect in a message switches the reply vocabulary.
    let reply = raw.call(&fixture("readProperty")).await;
    assert_eq!(reply["name"], "modelConfiguration", "{reply}");
    assert!(reply["timestamp"].is_string());

    things.servient.shutdown().await;
}

fn assert_error(
    reply: &Value,
    status: &str,
    type_suffix: &str,
    correlation_expected: Option<&str>,
) {
    assert_eq!(message_type(reply), "error", "{reply}");
    for member in ["type", "title", "status", "detail", "instance"] {
        assert!(reply[member].is_string(), "{member} missing in {reply}");
    }
    assert_eq!(reply["status"], status, "{reply}");
    let error_type = reply["type"].as_str().unwrap();
    assert!(
        error_type.starts_with("https://eclipse.dev/lmos/protocol/v1/errors#")
            && error_type.ends_with(type_suffix),
        "{reply}"
    );
    assert_eq!(correlation(reply), correlation_expected, "{reply}");
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_socket_stays_usable() {
    let things = start().await;
    let mut raw = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    let cases: Vec<(String, &str, &str, Option<&str>)> = vec![
        ("{not json".into(), "400", "invalid-json", None),
        ("[1, 2]".into(), "400", "invalid-message", None),
        ("\"readProperty\"".into(), "400", "invalid-message", None),
        (
            json!({"thingID": AGENT_ID, "messageID": "m1", "messageType": "launchRocket"}).to_string(),
            "400", "unknown-message-type", Some("m1"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m2", "messageType": "readProperty"}).to_string(),
            "400", "missing-member", Some("m2"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m3", "messageType": "readProperty", "name": 5}).to_string(),
            "400", "invalid-member", Some("m3"),
        ),
        (
            json!({"thingID": AGENT_ID, "correlationID": "c4", "messageType": "readProperty", "name": "status"}).to_string(),
            "400", "missing-member", Some("c4"),
        ),
        (
            json!({"messageID": "m5", "messageType": "readProperty", "name": "status"}).to_string(),
            "400", "missing-member", Some("m5"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": 6, "messageType": "readProperty", "name": "status"}).to_string(),
            "400", "invalid-member", None,
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m7", "messageType": 7}).to_string(),
            "400", "invalid-member", Some("m7"),
        ),
        (
            json!({"thingID": "urn:nobody", "messageID": "m8", "messageType": "readProperty", "name": "x"}).to_string(),
            "404", "not-found", Some("m8"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m9", "messageType": "readProperty", "name": "nope"}).to_string(),
            "404", "not-found", Some("m9"),
        ),
        (
            json!({"thingID": WEATHER_ID, "messageID": "m10", "messageType": "invokeAction", "action": "nope"}).to_string(),
            "404", "not-found", Some("m10"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m11", "messageType": "subscribeEvent", "event": "nope"}).to_string(),
            "404", "not-found", Some("m11"),
        ),
        (
            json!({"thingID": WEATHER_ID, "messageID": "m12", "messageType": "invokeAction",
                "action": "getWeather", "input": {"interactionMode": "text"}}).to_string(),
            "400", "invalid-input", Some("m12"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m13", "messageType": "writeProperty",
                "name": "status", "data": "hacked"}).to_string(),
            "405", "not-allowed", Some("m13"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m14", "messageType": "writeProperty",
                "name": "otherProperty", "data": "sixty"}).to_string(),
            "400", "invalid-input", Some("m14"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m15", "messageType": "observeProperty", "name": "status"}).to_string(),
            "405", "not-allowed", Some("m15"),
        ),
        (
            json!({"thingID": WEATHER_ID, "messageID": "m16", "messageType": "queryAction", "action": "getWeather"}).to_string(),
            "404", "not-found", Some("m16"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m17", "messageType": "writeProperty", "name": "otherProperty"}).to_string(),
            "400", "missing-member", Some("m17"),
        ),
        (
            json!({"thingId": AGENT_ID, "messageId": "m18", "messageType": "observeProperty",
                "property": "otherProperty", "lastPropertyReading": "yesterday"}).to_string(),
            "400", "invalid-member", Some("m18"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "m19", "messageType": "writeMultipleProperties", "data": [1]}).to_string(),
            "400", "invalid-member", Some("m19"),
        ),
        (
            fixture("propertyReading").to_string(),
            "400", "not-a-request", Some("5afb752f-8be0-4a3c-8108-1327a6009cbd"),
        ),
        (
            json!({"thingID": AGENT_ID, "messageID": "", "messageType": "readProperty", "name": "status"}).to_string(),
            "400", "invalid-member", None,
        ),
    ];
    for (frame, status, type_suffix, correlation_expected) in cases {
        raw.send_text(&frame).await;
        let reply = raw.recv().await;
        assert_error(&reply, status, type_suffix, correlation_expected);
        assert_quiet(&mut raw).await;
    }
    // A binary frame that is not text.
    raw.socket
        .send(Frame::Binary(vec![0xff, 0xfe, 0x00].into()))
        .await
        .unwrap();
    let reply = raw.recv().await;
    assert_error(&reply, "400", "invalid-json", None);
    // A binary frame with a JSON message is served like a text frame.
    raw.socket
        .send(Frame::Binary(
            read_request(AGENT_ID, "status", "bin-1")
                .to_string()
                .into_bytes()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(correlation(&raw.recv().await), Some("bin-1"));
    // Deeply nested JSON is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    raw.send_text(&deep).await;
    assert_error(&raw.recv().await, "400", "invalid-json", None);
    // Invoking twice with a correlation whose invocation still runs.
    let slow = json!({"thingID": WEATHER_ID, "messageID": "x1", "correlationID": "dup",
        "messageType": "invokeAction", "action": "slow"});
    raw.send(&slow).await;
    let reply = raw.call(&slow).await;
    assert_error(&reply, "409", "correlation-in-use", Some("dup"));
    assert_quiet(&mut raw).await;
    things.servient.shutdown().await;
}

#[tokio::test]
async fn frames_over_the_limit_close_with_1009() {
    let things = start_with(Servient::builder().http_port(0).ws_max_message_bytes(1024)).await;
    let mut raw = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    assert_quiet(&mut raw).await;
    let mut request = read_request(AGENT_ID, "status", "big");
    request["padding"] = json!("x".repeat(4096));
    raw.send(&request).await;
    assert_eq!(raw.closed().await, Some(1009));
    // The server is fine: a new connection works.
    let mut raw = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    assert_quiet(&mut raw).await;
    things.servient.shutdown().await;
}

#[tokio::test]
async fn handshake_negotiates_the_subprotocol() {
    let things = start().await;
    let raw = Raw::connect(&things.ws_url, &["graphql-ws", "lmosprotocol"])
        .await
        .unwrap();
    assert_eq!(raw.protocol.as_deref(), Some("lmosprotocol"));
    let refused = Raw::connect(&things.ws_url, &["graphql-ws"]).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
        }
        Err(other) => panic!("refused the wrong way: {other}"),
        Ok(_) => panic!("a handshake offering only other subprotocols was accepted"),
    }
    things.servient.shutdown().await;
}

#[tokio::test]
async fn one_socket_serves_every_thing_and_forms_point_at_it() {
    let things = start_with(Servient::builder().http_port(0).ws_port(0)).await;
    let addresses = things.servient.addresses();
    assert_ne!(addresses.ws, addresses.http);
    let td = things.agent.thing_description();
    let ws_href = format!("ws://{}/ws", addresses.ws.unwrap());
    for (name, property) in &td.properties {
        let form = property
            .forms
            .iter()
            .find(|f| f.subprotocol.as_deref() == Some("lmosprotocol"))
            .unwrap_or_else(|| panic!("property {name} has no WebSocket form"));
        assert_eq!(form.href, ws_href);
        let ops: Vec<&String> = form.op.as_ref().unwrap().iter().collect();
        assert!(ops.iter().any(|o| *o == "readproperty"));
    }
    for event in td.events.values() {
        assert!(event.forms.iter().any(|f| f.href == ws_href));
    }
    let weather = things.weather.thing_description();
    for action in weather.actions.values() {
        let form = action.forms.iter().find(|f| f.href == ws_href).unwrap();
        let ops: Vec<&String> = form.op.as_ref().unwrap().iter().collect();
        assert!(ops.iter().any(|o| *o == "invokeaction"));
    }
    // The TD passes validation with the extra forms.
    let text = serde_json::to_string(&td).unwrap();
    lmos::td::Thing::parse_validated(text.as_bytes()).unwrap();

    let mut raw = Raw::connect(&ws_href, &["lmosprotocol"]).await.unwrap();
    let reply = raw.call(&read_request(AGENT_ID, "status", "a")).await;
    assert_eq!(reply["value"], "ready");
    let reply = raw.call(&fixture("invokeAction")).await;
    assert_eq!(reply["status"], "completed");
    // A thing without an `id` is found by the URL of its description; one with an `id` only by
    // its id.
    let anonymous = things
        .servient
        .expose(
            lmos::td::ThingBuilder::tool("No Id")
                .property(
                    "level",
                    lmos::td::PropertyAffordance::new(lmos::td::DataSchema::of_type("integer")),
                )
                .build(),
        )
        .unwrap();
    anonymous.set_property("level", json!(3)).unwrap();
    let mut by_url = read_request("", "level", "b");
    by_url["thingID"] = json!(anonymous.td_url().unwrap());
    let reply = raw.call(&by_url).await;
    assert_eq!(reply["value"], 3, "{reply}");
    let mut by_url = read_request("", "status", "c");
    by_url["thingID"] = json!(things.agent.td_url().unwrap());
    assert_error(&raw.call(&by_url).await, "404", "not-found", Some("c"));
    // And the endpoint is on the HTTP port too.
    let http = format!("ws://{}/ws", addresses.http.unwrap());
    let mut raw = Raw::connect(&http, &["lmosprotocol"]).await.unwrap();
    assert_quiet(&mut raw).await;
    things.servient.shutdown().await;
}

#[tokio::test]
async fn silent_peers_are_dropped_and_shutdown_says_going_away() {
    let things = start_with(
        Servient::builder()
            .http_port(0)
            .ws_ping(Duration::from_millis(50), Duration::from_millis(100)),
    )
    .await;
    let mut silent = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    // Not reading means not answering pings; the server gives up on the peer.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut pings = 0;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match futures::StreamExt::next(&mut silent.socket).await {
                Some(Ok(Frame::Ping(_))) => pings += 1,
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the silent peer was not dropped");
    assert!(pings >= 1, "the server never pinged");

    let mut raw = Raw::connect(&things.ws_url, &["lmosprotocol"])
        .await
        .unwrap();
    assert_quiet(&mut raw).await;
    things.servient.shutdown().await;
    assert_eq!(raw.closed().await, Some(1001));
}
