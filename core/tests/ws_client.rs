//! ConsumedThing over WebSocket forms against the servient: every interaction pattern of the
//! protocol (request-reply, one request-multiple responses, event notifications,
//! publish-subscribe) in both dialects, shared connections, and reconnection after the server
//! restarts on the same port.

mod ws_common;

use std::time::Duration;

use futures::StreamExt;
use lmos::binding::ws::{Dialect, WsClient, WsClientOptions};
use lmos::thing::{ActionUpdate, ConsumeOptions, ConsumedThing, Servient, ThingError};
use serde_json::{json, Map, Value};
use ws_common::*;

fn ws_options(dialect: Dialect) -> ConsumeOptions {
    ConsumeOptions {
        protocols: vec!["ws".into()],
        dialect,
        timeout: Some(Duration::from_secs(10)),
        ..ConsumeOptions::default()
    }
}

async fn consume(things: &Things, dialect: Dialect) -> (ConsumedThing, ConsumedThing) {
    let agent = ConsumedThing::from_url(&things.agent.td_url().unwrap(), ws_options(dialect))
        .await
        .unwrap();
    let weather = ConsumedThing::from_url(&things.weather.td_url().unwrap(), ws_options(dialect))
        .await
        .unwrap();
    (agent, weather)
}

async fn next_value(stream: &mut lmos::thing::ValueStream) -> Value {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no value within 10 s")
        .expect("the stream ended")
        .expect("the stream failed")
}

async fn request_reply(dialect: Dialect) {
    let things = start().await;
    let (agent, weather) = consume(&things, dialect).await;
    assert_eq!(agent.read_property("status").await.unwrap(), "ready");
    agent
        .write_property("otherProperty", json!(42))
        .await
        .unwrap();
    assert_eq!(things.agent.property_value("otherProperty").unwrap(), 42);
    let all = agent.read_all_properties().await.unwrap();
    assert_eq!(all["otherProperty"], 42);
    assert_eq!(all["status"], "ready");
    let mut values = Map::new();
    values.insert("otherProperty".into(), json!(43));
    values.insert(
        "modelConfiguration".into(),
        json!({"modelName": "m", "temperature": 0.5}),
    );
    agent.write_multiple_properties(values).await.unwrap();
    assert_eq!(things.agent.property_value("otherProperty").unwrap(), 43);
    let output = weather
        .invoke_action("getWeather", json!({"question": "New York?"}))
        .await
        .unwrap();
    assert!(output.as_str().unwrap().contains("sunny"));

    // A failing action and a refused input come back as errors, and the connection goes on.
    match weather.invoke_action("fail", Value::Null).await {
        Err(ThingError::ActionFailed { problem, .. }) => {
            assert!(!problem.unwrap().to_string().contains("secret"));
        }
        other => panic!("expected a failed action, got {other:?}"),
    }
    let lenient = ConsumedThing::new(
        agent.thing().clone(),
        ConsumeOptions {
            validate_inputs: false,
            ..ws_options(dialect)
        },
    )
    .unwrap();
    match lenient
        .write_property("otherProperty", json!("sixty"))
        .await
    {
        Err(ThingError::Remote { status, .. }) => assert_eq!(status, 400),
        other => panic!("expected a remote 400, got {other:?}"),
    }
    assert_eq!(agent.read_property("otherProperty").await.unwrap(), 43);
    things.servient.shutdown().await;
}

#[tokio::test]
async fn request_reply_spec() {
    request_reply(Dialect::Spec).await;
}

#[tokio::test]
async fn request_reply_kotlin_wot() {
    request_reply(Dialect::KotlinWot).await;
}

async fn multiple_responses(dialect: Dialect) {
    let mut things = start().await;
    let (_, weather) = consume(&things, dialect).await;
    let updates: Vec<ActionUpdate> = weather
        .invoke_action_stream("draft", Value::Null)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(
        updates,
        vec![
            ActionUpdate::Progress(json!("a")),
            ActionUpdate::Progress(json!("b")),
            ActionUpdate::Output(json!("ab")),
        ]
    );
    // Cancellation of a running action reaches its handler.
    let handle = weather.start_action("slow", Value::Null).await.unwrap();
    assert!(handle.is_async());
    handle.cancel().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), things.cancellations.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        handle.output().await,
        Err(ThingError::ActionCancelled)
    ));
    // Cancelling while another task reads the action's updates.
    let handle = weather.start_action("slow", Value::Null).await.unwrap();
    let reader = tokio::spawn(handle.clone().updates().collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.cancel().await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(seen.last(), Some(Err(ThingError::ActionCancelled))),
        "{seen:?}"
    );
    things.cancellations.recv().await.unwrap();
    // A finished action cannot be cancelled.
    let handle = weather
        .start_action("getWeather", json!({"question": "?"}))
        .await
        .unwrap();
    let done = handle.clone().output().await.unwrap();
    assert!(done.is_string());
    assert!(matches!(
        handle.cancel().await,
        Err(ThingError::ActionFinished)
    ));
    things.servient.shutdown().await;
}

#[tokio::test]
async fn one_request_multiple_responses_spec() {
    multiple_responses(Dialect::Spec).await;
}

#[tokio::test]
async fn one_request_multiple_responses_kotlin_wot() {
    multiple_responses(Dialect::KotlinWot).await;
}

async fn notifications(dialect: Dialect) {
    let things = start().await;
    let (agent, _) = consume(&things, dialect).await;
    let (second, _) = consume(&things, dialect).await;
    // Observation: one value per change (not the current value).
    let mut observed = agent.observe_property("otherProperty").await.unwrap();
    things
        .agent
        .set_property("otherProperty", json!(5))
        .unwrap();
    assert_eq!(next_value(&mut observed).await, 5);
    // Publish-subscribe: two subscribers of one event on the shared connection.
    let mut first = agent.subscribe_event("alert").await.unwrap();
    let mut other = second.subscribe_event("alert").await.unwrap();
    things.agent.emit_event("alert", json!("one")).unwrap();
    assert_eq!(next_value(&mut first).await, "one");
    assert_eq!(next_value(&mut other).await, "one");
    // Dropping one subscription leaves the other.
    drop(first);
    // A round trip after the unsubscription, so that it has been handled.
    agent.read_property("status").await.unwrap();
    things.agent.emit_event("alert", json!("two")).unwrap();
    assert_eq!(next_value(&mut other).await, "two");
    // An event whose data breaks its schema on the wire is refused by the consumer.
    drop(observed);
    things.servient.shutdown().await;
}

#[tokio::test]
async fn event_notifications_and_publish_subscribe_spec() {
    notifications(Dialect::Spec).await;
}

#[tokio::test]
async fn event_notifications_and_publish_subscribe_kotlin_wot() {
    notifications(Dialect::KotlinWot).await;
}

#[tokio::test]
async fn consumed_things_share_one_connection_per_endpoint() {
    let things = start().await;
    let options = WsClientOptions::default();
    let a = WsClient::connect(&things.ws_url, options.clone())
        .await
        .unwrap();
    let b = WsClient::connect(&things.ws_url, options).await.unwrap();
    assert!(a.same_connection(&b));
    let kotlin = WsClient::connect(
        &things.ws_url,
        WsClientOptions {
            dialect: Dialect::KotlinWot,
            ..WsClientOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(!a.same_connection(&kotlin));
    // Nothing listening: a clear transport error, not a hang.
    let refused = WsClient::connect("ws://127.0.0.1:1/ws", WsClientOptions::default()).await;
    assert_eq!(refused.unwrap_err().code(), "ws_transport");
    let bad = WsClient::connect("http://127.0.0.1:1/ws", WsClientOptions::default()).await;
    assert_eq!(bad.unwrap_err().code(), "ws_invalid_url");
    things.servient.shutdown().await;
}

async fn reconnection(dialect: Dialect) {
    let things = start().await;
    let port = things.servient.addresses().http.unwrap().port();
    let (agent, _) = consume(&things, dialect).await;
    let mut events = agent.subscribe_event("alert").await.unwrap();
    let mut observed = agent.observe_property("otherProperty").await.unwrap();
    things.agent.emit_event("alert", json!("before")).unwrap();
    assert_eq!(next_value(&mut events).await, "before");

    // The server goes away and comes back on the same port with the same things.
    things.servient.shutdown().await;
    drop(things);
    let servient = Servient::builder().http_port(port).build().unwrap();
    let exposed_agent = servient.expose(agent_thing()).unwrap();
    let exposed_weather = servient.expose(weather_thing()).unwrap();
    let restarted = expose_handlers(&exposed_agent, &exposed_weather)
        .finish(servient)
        .await;

    // The client reconnects with backoff and subscribes again; emit until the event arrives.
    let received = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            restarted.agent.emit_event("alert", json!("after")).unwrap();
            if let Ok(Some(value)) =
                tokio::time::timeout(Duration::from_millis(200), events.next()).await
            {
                return value;
            }
        }
    })
    .await
    .expect("the subscription did not come back");
    assert_eq!(received.unwrap(), "after");
    restarted
        .agent
        .set_property("otherProperty", json!(99))
        .unwrap();
    assert_eq!(next_value(&mut observed).await, 99);
    assert_eq!(agent.read_property("status").await.unwrap(), "ready");
    restarted.servient.shutdown().await;
}

#[tokio::test]
async fn reconnects_after_the_server_restarts_spec() {
    reconnection(Dialect::Spec).await;
}

#[tokio::test]
async fn reconnects_after_the_server_restarts_kotlin_wot() {
    reconnection(Dialect::KotlinWot).await;
}

#[tokio::test]
async fn http_stays_the_default_and_ws_is_chosen_when_preferred() {
    let things = start().await;
    // Only WebSocket forms usable: an HTTP-only preference still falls back to them? No: the
    // default prefers HTTP, and `protocols: ["ws"]` picks WebSocket. Both read the same value.
    let http = ConsumedThing::from_url(&things.agent.td_url().unwrap(), ConsumeOptions::default())
        .await
        .unwrap();
    let ws = ConsumedThing::from_url(&things.agent.td_url().unwrap(), ws_options(Dialect::Spec))
        .await
        .unwrap();
    assert_eq!(
        http.read_property("status").await.unwrap(),
        ws.read_property("status").await.unwrap()
    );
    // A description that only has WebSocket forms is consumed over WebSocket by default.
    let mut td = things.agent.thing_description();
    for property in td.properties.values_mut() {
        property
            .forms
            .retain(|f| f.subprotocol.as_deref() == Some("lmosprotocol"));
    }
    let only_ws = ConsumedThing::new(td, ConsumeOptions::default()).unwrap();
    assert_eq!(only_ws.read_property("status").await.unwrap(), "ready");
    things.servient.shutdown().await;
}

// tungstenite's handshake callback returns its (large) error response by value.
#[allow(clippy::result_large_err)]
#[tokio::test]
async fn a_server_that_stops_answering_is_replaced() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // A server that completes the handshake and then never reads again (so never answers pings).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut silent = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(socket) = tokio_tungstenite::accept_hdr_async(
                stream,
                |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
                 mut response: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    response.headers_mut().insert(
                        "Sec-WebSocket-Protocol",
                        "lmosprotocol".parse().unwrap(),
                    );
                    Ok(response)
                },
            )
            .await
            {
                count.fetch_add(1, Ordering::SeqCst);
                silent.push(socket);
            }
        }
    });
    let client = WsClient::connect(
        &url,
        WsClientOptions {
            ping_interval: Duration::from_millis(50),
            ..WsClientOptions::default()
        },
    )
    .await
    .unwrap();
    let replaced = tokio::time::timeout(Duration::from_secs(10), async {
        while accepted.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(replaced.is_ok(), "the dead connection was never replaced");
    drop(client);
}

/// A TD without `id`, consumed from the document itself (no URL to name it by): the client names
/// the thing by its title, and the server finds it by that title.
#[tokio::test]
async fn things_without_id_are_found_by_title() {
    use lmos::td::{DataSchema, PropertyAffordance, ThingBuilder};
    let servient = Servient::builder().http_port(0).build().unwrap();
    let counter = servient
        .expose(
            ThingBuilder::thing("Counter Thing")
                .property(
                    "count",
                    PropertyAffordance::new(DataSchema::of_type("integer")),
                )
                .build(),
        )
        .unwrap();
    counter.set_property("count", json!(7)).unwrap();
    servient.start().await.unwrap();
    let td = counter.thing_description();
    assert!(td.id.is_none());
    for dialect in [Dialect::Spec, Dialect::KotlinWot] {
        let consumed = ConsumedThing::new(td.clone(), ws_options(dialect)).unwrap();
        assert_eq!(consumed.read_property("count").await.unwrap(), 7);
    }
    servient.shutdown().await;
}
