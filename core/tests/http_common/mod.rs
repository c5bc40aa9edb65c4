//! A test thing served on 127.0.0.1:0, shared by the HTTP tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use lmos::td::{ActionAffordance, DataSchema, EventAffordance, PropertyAffordance, ThingBuilder};
use lmos::thing::handler::{invoke_with, read_with, stream_with};
use lmos::thing::{ActionUpdate, ExposedThing, HandlerError, Servient};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// A started servient hosting the "Test Lamp" thing.
pub struct Lamp {
    pub servient: Servient,
    pub exposed: ExposedThing,
    /// Root URL, e.g. `http://127.0.0.1:1234/`.
    pub base: String,
    /// TD URL.
    pub td_url: String,
    /// Receives the action id each time a `slow` handler sees its cancellation.
    pub cancellations: mpsc::UnboundedReceiver<String>,
}

impl Lamp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

pub fn lamp_thing() -> lmos::td::Thing {
    ThingBuilder::tool("Test Lamp")
        .property(
            "brightness",
            PropertyAffordance::new(DataSchema::of_type("integer").range(0, 100)).observable(),
        )
        .property(
            "status",
            PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
        )
        .property(
            "secret",
            PropertyAffordance::new(DataSchema::of_type("string")).write_only(),
        )
        .action(
            "echo",
            ActionAffordance::new()
                .input(DataSchema::object(
                    [("text", DataSchema::of_type("string"))],
                    &["text"],
                ))
                .output(DataSchema::object(
                    [("text", DataSchema::of_type("string"))],
                    &["text"],
                )),
        )
        .action("fail", ActionAffordance::new())
        .action(
            "badOutput",
            ActionAffordance::new().output(DataSchema::of_type("integer")),
        )
        .action(
            "count",
            ActionAffordance::new()
                .synchronous(false)
                .input(DataSchema::of_type("integer").range(1, 10))
                .output(DataSchema::of_type("integer")),
        )
        .action("slow", ActionAffordance::new().synchronous(false))
        .action(
            "progress",
            ActionAffordance::new().output(DataSchema::of_type("string")),
        )
        .action("trace", ActionAffordance::new())
        .event(
            "alarm",
            EventAffordance::new().data(DataSchema::object(
                [("level", DataSchema::of_type("integer"))],
                &["level"],
            )),
        )
        .build()
}

pub async fn start_lamp() -> Lamp {
    start_lamp_with(Servient::builder().http_port(0)).await
}

pub async fn start_lamp_with(builder: lmos::thing::ServientBuilder) -> Lamp {
    let servient = builder.build().unwrap();
    let exposed = servient.expose(lamp_thing()).unwrap();
    let (cancel_tx, cancellations) = mpsc::unbounded_channel();
    exposed.set_property("brightness", json!(50)).unwrap();
    exposed
        .on_property_read(
            "status",
            read_with(|_ctx| async { Ok(Value::String("on".into())) }),
        )
        .unwrap();
    exposed
        .on_action("echo", invoke_with(|input, _ctx| async move { Ok(input) }))
        .unwrap();
    exposed
        .on_action(
            "fail",
            invoke_with(|_input, _ctx| async move {
                Err(HandlerError::Failed(
                    "database password hunter2 rejected at /srv/db.rs:42".into(),
                ))
            }),
        )
        .unwrap();
    exposed
        .on_action(
            "badOutput",
            invoke_with(|_input, _ctx| async move { Ok(json!("not an integer")) }),
        )
        .unwrap();
    exposed
        .on_action_stream(
            "count",
            stream_with(|input: Value, _ctx| {
                let n = input.as_u64().unwrap_or(1);
                async_stream::stream! {
                    for i in 1..=n {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        yield Ok(ActionUpdate::Progress(json!(i)));
                    }
                    yield Ok(ActionUpdate::Output(json!(n)));
                }
            }),
        )
        .unwrap();
    exposed
        .on_action_stream(
            "slow",
            stream_with(move |_input: Value, ctx| {
                let cancel_tx = cancel_tx.clone();
                async_stream::stream! {
                    let mut step = 0;
                    loop {
                        tokio::select! {
                            _ = ctx.cancelled() => {
                                let _ = cancel_tx.send(ctx.action_id().unwrap_or_default().to_owned());
                                yield Err(HandlerError::Cancelled);
                                return;
                            }
                            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                                step += 1;
                                yield Ok(ActionUpdate::Progress(json!(step)));
                            }
                        }
                    }
                }
            }),
        )
        .unwrap();
    exposed
        .on_action_stream(
            "progress",
            stream_with(|_input: Value, _ctx| {
                futures::stream::iter([
                    Ok(ActionUpdate::Progress(json!("a"))),
                    Ok(ActionUpdate::Progress(json!("b"))),
                    Ok(ActionUpdate::Output(json!("done"))),
                ])
                .then(|item| async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    item
                })
            }),
        )
        .unwrap();
    exposed
        .on_action(
            "trace",
            invoke_with(|_input, ctx| async move {
                Ok(json!({
                    "incoming": ctx.trace().map(|t| t.traceparent()),
                    "tracestate": ctx.trace().and_then(|t| t.tracestate().map(str::to_owned)),
                    "current": lmos::trace::current().map(|t| t.traceparent()),
                }))
            }),
        )
        .unwrap();
    let addresses = servient.start().await.unwrap();
    let address = addresses.http.unwrap();
    let base = format!("http://{address}/");
    let td_url = exposed.td_url().unwrap();
    Lamp {
        servient,
        exposed,
        base,
        td_url,
        cancellations,
    }
}

/// Reads SSE `data:` payloads from a raw response until `count` have arrived.
pub async fn sse_data(response: reqwest::Response, count: usize) -> Vec<(Option<String>, String)> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut out = Vec::new();
    while out.len() < count {
        let Some(chunk) = body.next().await else {
            break;
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    event = Some(rest.trim().to_owned());
                }
                if let Some(rest) = line.strip_prefix("data:") {
                    data = Some(rest.trim().to_owned());
                }
            }
            if let Some(data) = data {
                out.push((event, data));
            }
        }
    }
    out
}

/// The example binary: built by `cargo test` next to the test binaries, or built here.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/http_example-hash -> target/debug/examples/NAME
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir layout");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "lmos", "--example", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building example {name} failed");
    }
    binary
}

/// The `weather_agent` example running as a process; killed when dropped.
pub struct WeatherAgent {
    child: std::process::Child,
    /// The TD URL the example printed as its first stdout line.
    pub td_url: String,
}

impl Drop for WeatherAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `weather_agent` example with `--http-port 0`, `--forecast-step-ms 30` and `extra`
/// arguments, and waits for its first stdout line, which must be the TD URL.
pub fn start_weather_agent(extra: &[&str]) -> WeatherAgent {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(example_binary("weather_agent"))
        .args(["--http-port", "0", "--forecast-step-ms", "30"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("weather_agent starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let td_url = line.trim().to_owned();
    assert!(
        td_url.starts_with("http://127.0.0.1:") && td_url.ends_with("/weatheragent"),
        "first line is not the TD URL: {td_url:?}"
    );
    WeatherAgent { child, td_url }
}
