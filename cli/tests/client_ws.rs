//! `lmos read|write|call|observe|subscribe --protocol ws` against the servient (both dialects)
//! and against a server that behaves as kotlin-wot does (no subprotocol in the handshake,
//! `property`/`data`, lower-case `subscribeevent`, acknowledgements, epoch-second timestamps,
//! change notifications without a correlation, and a closed socket for anything else).

// tungstenite's handshake callback returns its (large) error response by value.
#![allow(clippy::result_large_err)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use lmos::td::{
    ActionAffordance, DataSchema, EventAffordance, Form, PropertyAffordance, ThingBuilder,
};
use lmos::thing::handler::invoke_with;
use lmos::thing::Servient;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Frame;

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_over_websocket_in_both_dialects() {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::tool("Counter")
                .property(
                    "level",
                    PropertyAffordance::new(DataSchema::of_type("integer")).observable(),
                )
                .action(
                    "echo",
                    ActionAffordance::new().input(DataSchema::of_type("string")),
                )
                .event(
                    "tick",
                    EventAffordance::new().data(DataSchema::of_type("integer")),
                )
                .build(),
        )
        .unwrap();
    exposed.set_property("level", json!(50)).unwrap();
    exposed
        .on_action("echo", invoke_with(|input, _| async move { Ok(input) }))
        .unwrap();
    servient.start().await.unwrap();
    let td = exposed.td_url().unwrap();
    for dialect in ["spec", "kotlin-wot"] {
        exposed.set_property("level", json!(50)).unwrap();
        let ws = ["--protocol", "ws", "--dialect", dialect];
        let run = common::lmos(&[&["read", &td, "level"][..], &ws].concat(), None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(lines(&run.stdout), [json!(50)]);
        let run = common::lmos(&[&["write", &td, "level", "7"][..], &ws].concat(), None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(exposed.property_value("level").unwrap(), 7);
        let run = common::lmos(&[&["call", &td, "echo", "\"hi\""][..], &ws].concat(), None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(lines(&run.stdout), [json!({"output": "hi"})]);

        // observe/subscribe: changes and events are produced until the command has its count.
        let feeder = exposed.clone();
        let feed = tokio::spawn(async move {
            for i in 0..200 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = feeder.set_property("level", json!(i));
                let _ = feeder.emit_event("tick", json!(i));
            }
        });
        let args = [&["observe", &td, "level", "--count", "2"][..], &ws].concat();
        let run = common::lmos(&args, None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(lines(&run.stdout).len(), 2);
        let args = [&["subscribe", &td, "tick", "--count", "1"][..], &ws].concat();
        let run = common::lmos(&args, None).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(lines(&run.stdout)[0].is_u64(), "{run:?}");
        feed.abort();
    }
    // A dialect name the command does not know is a usage error.
    let run = common::lmos(&["read", &td, "level", "--dialect", "klingon"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    servient.shutdown().await;
}

/// What the kotlin-wot-like server saw.
#[derive(Default)]
struct Seen {
    handshake_protocols: Vec<Option<String>>,
    messages: Vec<Value>,
}

/// A WebSocket server on 127.0.0.1 that answers as kotlin-wot's `WebSocketProtocolServer` does.
async fn kotlin_wot_server(seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let log = seen.clone();
                let callback =
                    move |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          response| {
                        let offered = request
                            .headers()
                            .get("Sec-WebSocket-Protocol")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        log.lock().unwrap().handshake_protocols.push(offered);
                        // ktor's server, as kotlin-wot configures it, selects no subprotocol.
                        Ok(response)
                    };
                let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                let (mut sink, mut incoming) = socket.split();
                let mut level = json!(50);
                while let Some(Ok(frame)) = incoming.next().await {
                    let Frame::Text(text) = frame else { continue };
                    let message: Value = match serde_json::from_str(text.as_str()) {
                        Ok(message) => message,
                        Err(_) => break,
                    };
                    seen.lock().unwrap().messages.push(message.clone());
                    let replies = match kotlin_reply(&message, &mut level) {
                        Some(replies) => replies,
                        None => {
                            // kotlin-wot closes the socket when a message does not deserialize.
                            let _ = sink.send(Frame::Close(None)).await;
                            break;
                        }
                    };
                    for reply in replies {
                        if sink
                            .send(Frame::Text(reply.to_string().into()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("ws://{address}/ws")
}

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// kotlin-wot's answers; `None` where its Jackson mapping would fail.
fn kotlin_reply(message: &Value, level: &mut Value) -> Option<Vec<Value>> {
    let thing = message.get("thingId")?.as_str()?;
    let id = message.get("messageId")?.as_str()?;
    let reply = |mut body: Value| {
        body["thingId"] = json!(thing);
        body["messageId"] = json!(uuid::Uuid::new_v4().to_string());
        body
    };
    let text = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
    match message.get("messageType")?.as_str()? {
        "readProperty" => Some(vec![reply(json!({"messageType": "propertyReading",
            "correlationId": id, "property": text("property")?, "data": level.clone(),
            "timestamp": now_epoch()}))]),
        "writeProperty" => {
            *level = message.get("data")?.clone();
            Some(vec![reply(
                json!({"messageType": "propertyReading", "correlationId": id,
                "property": text("property")?, "data": level.clone(), "timestamp": now_epoch()}),
            )])
        }
        "observeProperty" => {
            let property = text("property")?;
            // The current value answers the request; changes carry no correlation.
            Some(vec![
                reply(
                    json!({"messageType": "propertyReading", "correlationId": id,
                    "property": property, "data": level.clone(), "timestamp": now_epoch()}),
                ),
                reply(
                    json!({"messageType": "propertyReading", "property": property,
                    "data": 51, "timestamp": now_epoch()}),
                ),
                reply(
                    json!({"messageType": "propertyReading", "property": property,
                    "data": 52, "timestamp": now_epoch()}),
                ),
            ])
        }
        "unobserveProperty" | "unsubscribeEvent" => Some(vec![reply(json!({
            "messageType": "acknowledgement", "correlationId": id,
            "message": message["messageType"].clone()}))]),
        "invokeAction" => Some(vec![reply(json!({"messageType": "actionStatus",
            "correlationId": id, "action": text("action")?, "status": "completed",
            "output": message.get("input").cloned().unwrap_or(Value::Null)}))]),
        "subscribeevent" => {
            let event = text("event")?;
            Some(vec![
                reply(
                    json!({"messageType": "acknowledgement", "correlationId": id,
                    "message": "subscribeevent"}),
                ),
                reply(
                    json!({"messageType": "event", "correlationId": id, "event": event,
                    "data": 9, "timestamp": now_epoch()}),
                ),
            ])
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn speaks_to_a_kotlin_wot_server_with_the_kotlin_wot_dialect() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ws = kotlin_wot_server(seen.clone()).await;
    let form = |ops: &[&str]| {
        let mut form = Form::new(ws.clone())
            .op(ops)
            .content_type("application/json");
        form.subprotocol = Some("lmosprotocol".into());
        form
    };
    let td = ThingBuilder::tool("Kotlin Counter")
        .id("urn:example:kotlin-counter")
        .property(
            "level",
            PropertyAffordance::new(DataSchema::of_type("integer"))
                .observable()
                .form(form(&[
                    "readproperty",
                    "writeproperty",
                    "observeproperty",
                    "unobserveproperty",
                ])),
        )
        .action(
            "echo",
            ActionAffordance::new().form(form(&["invokeaction"])),
        )
        .event(
            "tick",
            EventAffordance::new()
                .data(DataSchema::of_type("integer"))
                .form(form(&["subscribeevent", "unsubscribeevent"])),
        )
        .build();
    let body = serde_json::to_vec(&td).unwrap();
    let http = common::serve(vec![("/counter", 200, "application/td+json", body)]).await;
    let url = format!("{}/counter", http.base);
    let ws_args = ["--dialect", "kotlin-wot"];

    let run = common::lmos(&[&["read", &url, "level"][..], &ws_args].concat(), None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout), [json!(50)]);
    let run = common::lmos(
        &[&["write", &url, "level", "8"][..], &ws_args].concat(),
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = common::lmos(
        &[&["call", &url, "echo", "{\"a\":1}"][..], &ws_args].concat(),
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout), [json!({"output": {"a": 1}})]);
    let args = [&["observe", &url, "level", "--count", "2"][..], &ws_args].concat();
    let run = common::lmos(&args, None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout), [json!(51), json!(52)]);
    let args = [&["subscribe", &url, "tick", "--count", "1"][..], &ws_args].concat();
    let run = common::lmos(&args, None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout), [json!(9)]);
    {
        let seen = seen.lock().unwrap();
        assert!(seen.handshake_protocols.iter().all(Option::is_none));
        let types: Vec<&str> = seen
            .messages
            .iter()
            .filter_map(|m| m["messageType"].as_str())
            .collect();
        assert!(types.contains(&"subscribeevent"), "{types:?}");
        assert!(seen.messages.iter().all(|m| m.get("thingId").is_some()
            && m.get("thingID").is_none()
            && m.get("name").is_none()));
    }

    // The spec dialect offers `lmosprotocol`, which this server does not select: the handshake
    // fails and the command says the thing is unreachable.
    let run = common::lmos(&["read", &url, "level", "--dialect", "spec"], None).await;
    assert_eq!(run.code, 3, "{run:?}");
}
