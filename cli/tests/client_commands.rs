//! `lmos read|write|call|observe|subscribe` as a process against a servient on 127.0.0.1:0.

use std::process::{Output, Stdio};
use std::time::Duration;

use lmos::td::{ActionAffordance, DataSchema, EventAffordance, PropertyAffordance, ThingBuilder};
use lmos::thing::handler::{invoke_with, stream_with};
use lmos::thing::{ActionUpdate, ExposedThing, HandlerError, Servient};
use serde_json::{json, Value};
use tokio::process::Command;

struct Fixture {
    servient: Servient,
    exposed: ExposedThing,
    td_url: String,
}

async fn serve() -> Fixture {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient
        .expose(
            ThingBuilder::tool("Counter")
                .property(
                    "level",
                    PropertyAffordance::new(DataSchema::of_type("integer").range(0, 100))
                        .observable(),
                )
                .action(
                    "echo",
                    ActionAffordance::new().input(DataSchema::object(
                        [("text", DataSchema::of_type("string"))],
                        &["text"],
                    )),
                )
                .action(
                    "count",
                    ActionAffordance::new()
                        .synchronous(false)
                        .input(DataSchema::of_type("integer")),
                )
                .action("fail", ActionAffordance::new())
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
    exposed
        .on_action(
            "fail",
            invoke_with(|_, _| async move { Err(HandlerError::Failed("secret detail".into())) }),
        )
        .unwrap();
    exposed
        .on_action_stream(
            "count",
            stream_with(|input: Value, _| {
                let n = input.as_u64().unwrap_or(1);
                async_stream_like(n)
            }),
        )
        .unwrap();
    servient.start().await.unwrap();
    let td_url = exposed.td_url().unwrap();
    Fixture {
        servient,
        exposed,
        td_url,
    }
}

fn async_stream_like(
    n: u64,
) -> impl futures::Stream<Item = Result<ActionUpdate, HandlerError>> + Send {
    futures::stream::unfold(0u64, move |i| async move {
        if i > n {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let item = if i == n {
            ActionUpdate::Output(json!(n))
        } else {
            ActionUpdate::Progress(json!(i + 1))
        };
        Some((Ok(item), i + 1))
    })
}

async fn lmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_and_write_properties() {
    let fx = serve().await;
    let output = lmos(&["read", &fx.td_url, "level"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_lines(&output), [json!(50)]);

    let output = lmos(&["write", &fx.td_url, "level", "70"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(output.stdout.is_empty());
    assert_eq!(fx.exposed.property_value("level").unwrap(), 70);

    let output = lmos(&[
        "read",
        &fx.td_url,
        "level",
        "--content-type",
        "application/cbor",
    ])
    .await;
    assert_eq!(stdout_lines(&output), [json!(70)]);

    let output = lmos(&["read", &fx.td_url, "level", "--output", "human"]).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "70\n");
    let output = lmos(&["write", &fx.td_url, "level", "71", "--output", "human"]).await;
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ok\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_say_what_went_wrong() {
    let fx = serve().await;
    // input that breaks the schema, checked locally: 2
    let output = lmos(&["write", &fx.td_url, "level", "\"high\""]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_input"));
    // not JSON at all: 2
    let output = lmos(&["write", &fx.td_url, "level", "high"]).await;
    assert_eq!(output.status.code(), Some(2));
    // unknown property: 2
    let output = lmos(&["read", &fx.td_url, "nope"]).await;
    assert_eq!(output.status.code(), Some(2));
    // the server refuses (local checks off): 1, with the violations on stderr
    let output = lmos(&["write", &fx.td_url, "level", "\"high\"", "--no-validate"]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("\"rule\":\"type\""),
        "{stderr}"
    );
    // a failing handler: 1, without its internals
    let output = lmos(&["call", &fx.td_url, "fail"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("secret detail"));
    // nobody listening: 3
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let output = lmos(&["read", &format!("http://{closed}/counter"), "level"]).await;
    assert_eq!(output.status.code(), Some(3));
    // unknown subprotocol name: 2
    let output = lmos(&[
        "observe",
        &fx.td_url,
        "level",
        "--subprotocol",
        "carrier-pigeon",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
    fx.servient.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn call_prints_progress_then_output() {
    let fx = serve().await;
    let output = lmos(&["call", &fx.td_url, "echo", r#"{"text":"hi"}"#]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_lines(&output), [json!({"output": {"text": "hi"}})]);

    let output = lmos(&["call", &fx.td_url, "count", "3"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.last(), Some(&json!({"output": 3})));
    for line in &lines[..lines.len() - 1] {
        assert!(line["progress"].is_u64(), "{line}");
    }

    let output = lmos(&["call", &fx.td_url, "count", "2", "--output", "human"]).await;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(text.ends_with("2\n"), "{text}");
}

async fn stream_until_done(args: &[&str], emit: impl Fn(u64)) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let waiting = tokio::spawn(child.wait_with_output());
    let mut i = 0;
    // Change things until the command has printed what it waits for and exited.
    while !waiting.is_finished() && i < 3000 {
        emit(i);
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    waiting.await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_and_subscribe_print_json_lines() {
    let fx = serve().await;
    for subprotocol in ["sse", "longpoll"] {
        let exposed = fx.exposed.clone();
        let output = stream_until_done(
            &[
                "observe",
                &fx.td_url,
                "level",
                "--count",
                "2",
                "--subprotocol",
                subprotocol,
            ],
            move |i| exposed.set_property("level", json!(i % 100)).unwrap(),
        )
        .await;
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let lines = stdout_lines(&output);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(Value::is_u64));

        let exposed = fx.exposed.clone();
        let output = stream_until_done(
            &[
                "subscribe",
                &fx.td_url,
                "tick",
                "--count",
                "1",
                "--subprotocol",
                subprotocol,
            ],
            move |i| exposed.emit_event("tick", json!(i)).unwrap(),
        )
        .await;
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert!(stdout_lines(&output)[0].is_u64());
    }
}
