//! `ConsumedThing` against a real servient: form selection, CBOR, validation, actions (sync,
//! async, streamed, cancelled), observation and events over SSE and long-poll, trace propagation.

mod http_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use http_common::start_lamp;
use lmos::td::{ActionAffordance, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{
    ActionState, ActionUpdate, ConsumeOptions, ConsumedThing, HandlerError, Servient, Subprotocol,
    ThingError,
};
use lmos::trace::TraceContext;
use serde_json::{json, Map, Value};

async fn consume(url: &str) -> ConsumedThing {
    ConsumedThing::from_url(url, ConsumeOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn reads_and_writes_properties() {
    let lamp = start_lamp().await;
    let lamp_thing = consume(&lamp.td_url).await;
    assert_eq!(lamp_thing.thing().title, "Test Lamp");
    assert_eq!(lamp_thing.read_property("brightness").await.unwrap(), 50);
    lamp_thing
        .write_property("brightness", json!(80))
        .await
        .unwrap();
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 80);
    assert_eq!(lamp_thing.read_property("status").await.unwrap(), "on");
    let all = lamp_thing.read_all_properties().await.unwrap();
    assert_eq!(
        Value::Object(all),
        json!({"brightness": 80, "status": "on"})
    );
    let mut values = Map::new();
    values.insert("brightness".into(), json!(5));
    values.insert("secret".into(), json!("x"));
    lamp_thing.write_multiple_properties(values).await.unwrap();
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 5);
    assert_eq!(lamp.exposed.property_value("secret").unwrap(), "x");
}

#[tokio::test]
async fn local_errors_have_codes() {
    let lamp = start_lamp().await;
    let lamp_thing = consume(&lamp.td_url).await;
    let error = lamp_thing
        .write_property("brightness", json!(1000))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");
    assert_eq!(lamp.exposed.property_value("brightness").unwrap(), 50);
    let error = lamp_thing.read_property("nope").await.unwrap_err();
    assert_eq!(error.code(), "not_found");
    // the TD offers no writeproperty form for a read-only property
    let error = lamp_thing
        .write_property("status", json!("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ThingError::NoForm { ref operation, .. } if operation == "writeproperty")
    );
    let error = lamp_thing.read_property("secret").await.unwrap_err();
    assert_eq!(error.code(), "no_form");
    let error = lamp_thing
        .invoke_action("echo", json!({"text": 1}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");
}

#[tokio::test]
async fn remote_errors_carry_the_problem() {
    let lamp = start_lamp().await;
    let options = ConsumeOptions {
        validate_inputs: false,
        ..ConsumeOptions::default()
    };
    let lamp_thing = ConsumedThing::from_url(&lamp.td_url, options)
        .await
        .unwrap();
    match lamp_thing
        .invoke_action("fail", Value::Null)
        .await
        .unwrap_err()
    {
        ThingError::Remote {
            status,
            title,
            problem,
            ..
        } => {
            assert_eq!(status, 500);
            assert_eq!(title, "internal error");
            assert!(!problem.unwrap().to_string().contains("hunter2"));
        }
        other => panic!("{other:?}"),
    }
    // with local checks off, the server's 400 comes back with its violations
    match lamp_thing
        .write_property("brightness", json!("x"))
        .await
        .unwrap_err()
    {
        error @ ThingError::RemoteBadRequest { .. } => {
            assert_eq!(error.code(), "remote_bad_request");
            assert_eq!(error.remote_status(), Some(400));
            assert_eq!(error.remote_problem().unwrap()["errors"][0]["rule"], "type");
            let ThingError::RemoteBadRequest { violations, .. } = error else {
                unreachable!()
            };
            assert_eq!(violations[0].rule, "type");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn outputs_are_validated_unless_turned_off() {
    let lamp = start_lamp().await;
    // A TD that claims brightness is a string: the integer the server sends breaks it.
    let mut td = lamp.exposed.thing_description();
    td.properties
        .get_mut("brightness")
        .unwrap()
        .schema
        .data_type = Some("string".into());
    let strict = ConsumedThing::new(td.clone(), ConsumeOptions::default()).unwrap();
    let error = strict.read_property("brightness").await.unwrap_err();
    assert_eq!(error.code(), "invalid_output");
    let lenient = ConsumedThing::new(
        td,
        ConsumeOptions {
            validate_outputs: false,
            ..ConsumeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(lenient.read_property("brightness").await.unwrap(), 50);
}

#[tokio::test]
async fn content_type_preference_picks_cbor_forms() {
    let lamp = start_lamp().await;
    // Serve the same servient through a router that records request content types.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = seen.clone();
    let app = lamp.servient.router().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let entry = (header("content-type"), header("accept"));
            record.lock().unwrap().push(entry);
            next.run(request)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut td = lamp.exposed.thing_description();
    // point every form at the recording server
    let retarget =
        |href: &mut String| *href = href.replace(&lamp.base, &format!("http://{address}/"));
    for p in td.properties.values_mut() {
        p.forms.iter_mut().for_each(|f| retarget(&mut f.href));
    }
    for a in td.actions.values_mut() {
        a.forms.iter_mut().for_each(|f| retarget(&mut f.href));
    }
    let options = ConsumeOptions {
        content_types: vec!["application/cbor".into()],
        ..ConsumeOptions::default()
    };
    let lamp_thing = ConsumedThing::new(td, options).unwrap();
    lamp_thing
        .write_property("brightness", json!(42))
        .await
        .unwrap();
    assert_eq!(lamp_thing.read_property("brightness").await.unwrap(), 42);
    assert_eq!(
        lamp_thing
            .invoke_action("echo", json!({"text": "über"}))
            .await
            .unwrap(),
        json!({"text": "über"})
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("application/cbor".into(), "application/cbor".into()),
            ("".into(), "application/cbor".into()),
            ("application/cbor".into(), "application/cbor".into()),
        ]
    );
}

#[tokio::test]
async fn invokes_synchronous_and_asynchronous_actions() {
    let lamp = start_lamp().await;
    let lamp_thing = consume(&lamp.td_url).await;
    assert_eq!(
        lamp_thing
            .invoke_action("echo", json!({"text": "hi"}))
            .await
            .unwrap(),
        json!({"text": "hi"})
    );
    // asynchronous: 201 + Location, then polling until completed
    assert_eq!(
        lamp_thing.invoke_action("count", json!(3)).await.unwrap(),
        3
    );
    let handle = lamp_thing.start_action("count", json!(2)).await.unwrap();
    assert!(handle.is_async());
    assert!(handle
        .status_url()
        .unwrap()
        .starts_with(&lamp.url("test-lamp/actions/count/")));
    assert_eq!(handle.clone().output().await.unwrap(), 2);
    let status = handle.query().await.unwrap();
    assert_eq!(status.status, ActionState::Completed);
    assert_eq!(handle.cancel().await.unwrap_err().code(), "action_finished");
    // a synchronous handle is complete at once
    let handle = lamp_thing
        .start_action("echo", json!({"text": "x"}))
        .await
        .unwrap();
    assert!(!handle.is_async());
    assert_eq!(handle.query().await.unwrap().status, ActionState::Completed);
}

#[tokio::test]
async fn streams_action_updates() {
    let lamp = start_lamp().await;
    let lamp_thing = consume(&lamp.td_url).await;
    let updates: Vec<ActionUpdate> = lamp_thing
        .invoke_action_stream("progress", Value::Null)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(
        updates,
        [
            ActionUpdate::Progress(json!("a")),
            ActionUpdate::Progress(json!("b")),
            ActionUpdate::Output(json!("done")),
        ]
    );
    let updates: Vec<ActionUpdate> = lamp_thing
        .invoke_action_stream("count", json!(5))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(updates.last(), Some(&ActionUpdate::Output(json!(5))));
    assert!(updates[..updates.len() - 1]
        .iter()
        .all(|u| matches!(u, ActionUpdate::Progress(_))));
    // a plain action streams just its output
    let updates: Vec<ActionUpdate> = lamp_thing
        .invoke_action_stream("echo", json!({"text": "x"}))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(updates, [ActionUpdate::Output(json!({"text": "x"}))]);
    // a failing action ends the stream with the remote error
    let mut failing = lamp_thing
        .invoke_action_stream("fail", Value::Null)
        .await
        .unwrap();
    let error = failing.next().await.unwrap().unwrap_err();
    assert!(
        matches!(error.code(), "action_failed" | "remote_error"),
        "{error:?}"
    );
}

#[tokio::test]
async fn cancels_asynchronous_actions() {
    let mut lamp = start_lamp().await;
    let lamp_thing = consume(&lamp.td_url).await;
    let handle = lamp_thing.start_action("slow", Value::Null).await.unwrap();
    let mut updates = handle.clone().updates();
    // wait for some progress, then cancel
    let first = updates.next().await.unwrap().unwrap();
    assert!(matches!(first, ActionUpdate::Progress(_)));
    assert_eq!(handle.query().await.unwrap().status, ActionState::Running);
    handle.cancel().await.unwrap();
    let id = tokio::time::timeout(Duration::from_secs(10), lamp.cancellations.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(handle.status_url().unwrap().ends_with(&id));
    assert_eq!(handle.query().await.unwrap().status, ActionState::Cancelled);
    assert_eq!(
        handle.clone().output().await.unwrap_err().code(),
        "action_cancelled"
    );
    // the update stream ends with the cancellation
    let mut last = None;
    while let Some(update) = updates.next().await {
        last = Some(update);
    }
    assert_eq!(last.unwrap().unwrap_err().code(), "action_cancelled");
}

async fn observe_with(subprotocol: Subprotocol) {
    let lamp = start_lamp().await;
    let options = ConsumeOptions {
        subprotocols: vec![subprotocol],
        ..ConsumeOptions::default()
    };
    let lamp_thing = ConsumedThing::from_url(&lamp.td_url, options)
        .await
        .unwrap();
    let mut values = lamp_thing.observe_property("brightness").await.unwrap();
    let mut events = lamp_thing.subscribe_event("alarm").await.unwrap();
    // Long-poll has no handshake: keep changing until the observer has seen a value.
    let exposed = lamp.exposed.clone();
    let writer = tokio::spawn(async move {
        for i in 0..500 {
            exposed.set_property("brightness", json!(i % 100)).unwrap();
            exposed.emit_event("alarm", json!({"level": i})).unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let first = values.next().await.unwrap().unwrap();
    let second = values.next().await.unwrap().unwrap();
    assert!(first.is_u64() && second.is_u64());
    assert_ne!(first, second);
    let event = events.next().await.unwrap().unwrap();
    assert!(event["level"].is_u64());
    writer.abort();
    // observing a property that is not observable has no form
    assert_eq!(
        lamp_thing
            .observe_property("status")
            .await
            .map(|_| ())
            .unwrap_err()
            .code(),
        "no_form"
    );
}

#[tokio::test]
async fn observes_and_subscribes_over_sse() {
    observe_with(Subprotocol::Sse).await;
}

#[tokio::test]
async fn observes_and_subscribes_over_long_poll() {
    observe_with(Subprotocol::LongPoll).await;
}

#[tokio::test]
async fn observed_values_are_validated() {
    let lamp = start_lamp().await;
    let mut td = lamp.exposed.thing_description();
    td.events
        .get_mut("alarm")
        .unwrap()
        .data
        .as_mut()
        .unwrap()
        .required = Some(vec!["level".into(), "room".into()]);
    let lamp_thing = ConsumedThing::new(td, ConsumeOptions::default()).unwrap();
    let mut events = lamp_thing.subscribe_event("alarm").await.unwrap();
    lamp.exposed
        .emit_event("alarm", json!({"level": 1}))
        .unwrap();
    let error = events.next().await.unwrap().unwrap_err();
    assert_eq!(error.code(), "invalid_output");
}

#[tokio::test]
async fn calls_from_a_handler_continue_the_trace() {
    // Thing B reports the trace context it was called with.
    let lamp = start_lamp().await;
    // Thing A calls B from inside its handler.
    let servient = Servient::builder().http_port(0).build().unwrap();
    let relay = servient
        .expose(
            ThingBuilder::agent("Relay")
                .action("relay", ActionAffordance::new())
                .build(),
        )
        .unwrap();
    let target = consume(&lamp.td_url).await;
    relay
        .on_action(
            "relay",
            invoke_with(move |_input, ctx| {
                let target = target.clone();
                async move {
                    let downstream = target
                        .invoke_action("trace", Value::Null)
                        .await
                        .map_err(|e| HandlerError::Failed(e.to_string()))?;
                    Ok(json!({
                        "received": ctx.trace().map(|t| t.traceparent()),
                        "downstream": downstream,
                    }))
                }
            }),
        )
        .unwrap();
    servient.start().await.unwrap();
    let relay_thing = consume(&relay.td_url().unwrap()).await;
    let root = TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        Some("vendor=abc"),
    )
    .unwrap();
    let result = lmos::trace::scope(
        root.clone(),
        relay_thing.invoke_action("relay", Value::Null),
    )
    .await
    .unwrap();
    let received = TraceContext::parse(result["received"].as_str().unwrap(), None).unwrap();
    let downstream =
        TraceContext::parse(result["downstream"]["incoming"].as_str().unwrap(), None).unwrap();
    assert_eq!(received.trace_id(), root.trace_id());
    assert_ne!(received.parent_id(), root.parent_id());
    assert_eq!(downstream.trace_id(), root.trace_id());
    assert_ne!(downstream.parent_id(), received.parent_id());
    assert_eq!(result["downstream"]["tracestate"], "vendor=abc");
}

#[tokio::test]
async fn from_url_reports_unusable_urls() {
    let lamp = start_lamp().await;
    let error = ConsumedThing::from_url(&lamp.url("nothing"), ConsumeOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ThingError::RemoteNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(error.code(), "remote_not_found");
    assert_eq!(error.remote_status(), Some(404));
    let error = ConsumedThing::from_url(
        &lamp.url("test-lamp/properties/brightness"),
        ConsumeOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "invalid_td");
    // a response over the bound is refused, not read into memory
    let error = ConsumedThing::from_url(
        &lamp.td_url,
        ConsumeOptions {
            max_response_bytes: 100,
            ..ConsumeOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), "transport");
    assert!(
        error.to_string().contains("larger than 100 bytes"),
        "{error}"
    );
    let error = ConsumedThing::from_url("not a url", ConsumeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_td");
    // a port nobody listens on
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let error = ConsumedThing::from_url(&format!("http://{closed}/x"), ConsumeOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "transport");
}

/// The first value after `observe_property`/`subscribe_event` returns is never lost, over
/// long-poll too: the servient's long-poll forms ask for `Prefer: lmos-subscribed`, and the
/// call returns once the server has answered with the headers of the first poll.
#[tokio::test]
async fn long_poll_streams_listen_before_they_are_returned() {
    let lamp = start_lamp().await;
    let options = ConsumeOptions {
        subprotocols: vec![Subprotocol::LongPoll],
        ..ConsumeOptions::default()
    };
    let lamp_thing = ConsumedThing::from_url(&lamp.td_url, options)
        .await
        .unwrap();
    // A hang guard only: without the fix the value is dropped and `next` never returns.
    let guard = Duration::from_secs(30);
    for round in 0..3 {
        let mut values = lamp_thing.observe_property("brightness").await.unwrap();
        lamp.exposed
            .set_property("brightness", json!(round))
            .unwrap();
        let value = tokio::time::timeout(guard, values.next())
            .await
            .expect("the first value after observe_property was lost");
        assert_eq!(value.unwrap().unwrap(), json!(round));
        drop(values);

        let mut events = lamp_thing.subscribe_event("alarm").await.unwrap();
        lamp.exposed
            .emit_event("alarm", json!({"level": round}))
            .unwrap();
        let event = tokio::time::timeout(guard, events.next())
            .await
            .expect("the first event after subscribe_event was lost");
        assert_eq!(event.unwrap().unwrap(), json!({"level": round}));
    }
}

/// A late subscriber to a running asynchronous action gets the progress already reported,
/// then the rest.
#[tokio::test]
async fn late_action_update_subscribers_get_the_current_progress_first() {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::tool("Job")
                .action("run", ActionAffordance::new().synchronous(false))
                .build(),
        )
        .unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    exposed
        .on_action_stream(
            "run",
            lmos::thing::handler::stream_with(move |_input: Value, _ctx| {
                let gate = gate.clone();
                async_stream::stream! {
                    yield Ok(ActionUpdate::Progress(json!(1)));
                    gate.notified().await;
                    yield Ok(ActionUpdate::Progress(json!(2)));
                    yield Ok(ActionUpdate::Output(json!("done")));
                }
            }),
        )
        .unwrap();
    servient.start().await.unwrap();
    let job = consume(&exposed.td_url().unwrap()).await;
    let handle = job.start_action("run", Value::Null).await.unwrap();
    // Wait until the first progress value is reported (a condition, not a duration).
    while handle.query().await.unwrap().progress != Some(json!(1)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut updates = handle.clone().updates();
    // A hang guard only: without the replay the first update would wait for the handler, which
    // waits for `release`.
    let first = tokio::time::timeout(Duration::from_secs(30), updates.next())
        .await
        .expect("the progress already reported was not replayed");
    assert_eq!(first.unwrap().unwrap(), ActionUpdate::Progress(json!(1)));
    release.notify_one();
    assert_eq!(
        updates.next().await.unwrap().unwrap(),
        ActionUpdate::Progress(json!(2))
    );
    assert_eq!(
        updates.next().await.unwrap().unwrap(),
        ActionUpdate::Output(json!("done"))
    );
    // Server side, the same rule: a finished instance yields its result at once.
    let id = handle
        .status_url()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let mut late = exposed.action_updates("run", &id).unwrap();
    assert_eq!(
        late.next().await.unwrap().unwrap(),
        ActionUpdate::Output(json!("done"))
    );
    servient.shutdown().await;
}

/// `protocols` ranks forms; with `only_protocols` it also restricts them.
#[tokio::test]
async fn only_protocols_restricts_the_forms_used() {
    let lamp = start_lamp().await;
    let options = |only_protocols, protocols: &[&str]| ConsumeOptions {
        protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
        only_protocols,
        ..ConsumeOptions::default()
    };
    let ranked = ConsumedThing::from_url(&lamp.td_url, options(false, &["coap"]))
        .await
        .unwrap();
    assert_eq!(ranked.read_property("brightness").await.unwrap(), json!(50));
    let restricted = ConsumedThing::from_url(&lamp.td_url, options(true, &["coap"]))
        .await
        .unwrap();
    let error = restricted.read_property("brightness").await.unwrap_err();
    assert!(matches!(error, ThingError::NoForm { .. }), "{error:?}");
    let error = restricted
        .invoke_action("echo", json!({"text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "no_form");
    let http = ConsumedThing::from_url(&lamp.td_url, options(true, &["coap", "http"]))
        .await
        .unwrap();
    assert_eq!(http.read_property("brightness").await.unwrap(), json!(50));
}

/// A request that gets no answer in time is a `Timeout`, not a transport error.
#[tokio::test]
async fn unanswered_requests_time_out() {
    // A server that accepts the connection and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let error = ConsumedThing::from_url(
        &format!("http://{address}/thing"),
        ConsumeOptions {
            timeout: Some(Duration::from_millis(200)),
            ..ConsumeOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ThingError::Timeout(_)), "{error:?}");
    assert_eq!(error.code(), "timeout");
    held.abort();
}
