//! Interoperability with node-wot 0.9.2 (from npm, in `tests/interop/node-wot`):
//! node-wot's HTTP client drives the weather_agent example, and our `ConsumedThing` calls a
//! node-wot server. Needs `node` and `npm`; installs the pinned packages on first use.

mod http_common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use http_common::example_binary;
use lmos::thing::{ConsumeOptions, ConsumedThing};
use serde_json::{json, Map, Value};

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/node-wot")
}

static INSTALL: Mutex<()> = Mutex::new(());

/// Installs the pinned node-wot packages once (`npm ci`, from package-lock.json).
fn ensure_node_modules() {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = node_dir();
    if dir
        .join("node_modules/@node-wot/core/package.json")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .expect("npm must be installed to run the node-wot interoperability tests");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server process and returns it with the first line it prints (its TD URL).
fn spawn_server(command: &mut Command) -> (Process, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    (Process(child), line.trim().to_owned())
}

#[test]
fn node_wot_client_drives_the_weather_agent() {
    ensure_node_modules();
    let (_agent, td_url) =
        spawn_server(Command::new(example_binary("weather_agent")).args(["--http-port", "0"]));
    assert!(td_url.starts_with("http://127.0.0.1:"), "{td_url:?}");
    let output = Command::new("node")
        .arg("client.mjs")
        .arg(&td_url)
        .current_dir(node_dir())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        output.status.success(),
        "node-wot client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed: Vec<&str> = steps
        .iter()
        .filter(|s| s["ok"] == true)
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        passed,
        [
            "consume",
            "readproperty",
            "writeproperty",
            "observeproperty-longpoll",
            "observeproperty-sse",
            "invokeaction",
            "invokeaction-chat",
            "subscribeevent-longpoll",
            "subscribeevent-sse",
            "invalid-input",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consumed_thing_calls_a_node_wot_server() {
    ensure_node_modules();
    let (_server, td_url) = spawn_server(
        Command::new("node")
            .arg("server.mjs")
            .current_dir(node_dir()),
    );
    assert!(td_url.starts_with("http://127.0.0.1:"), "{td_url:?}");
    let counter = ConsumedThing::from_url(&td_url, ConsumeOptions::default())
        .await
        .unwrap();
    assert_eq!(counter.thing().title, "Node Counter");

    assert_eq!(counter.read_property("count").await.unwrap(), 0);
    counter.write_property("count", json!(5)).await.unwrap();
    assert_eq!(counter.read_property("count").await.unwrap(), 5);
    counter
        .write_property("label", json!("hello"))
        .await
        .unwrap();
    let all = counter.read_all_properties().await.unwrap();
    assert_eq!(Value::Object(all), json!({"count": 5, "label": "hello"}));
    let mut values = Map::new();
    values.insert("label".into(), json!("multi"));
    counter.write_multiple_properties(values).await.unwrap();
    assert_eq!(counter.read_property("label").await.unwrap(), "multi");

    assert_eq!(
        counter
            .invoke_action("increment", json!({"by": 2}))
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        counter
            .invoke_action("increment", json!({"by": 0}))
            .await
            .unwrap_err()
            .code(),
        "invalid_input"
    );

    // CBOR forms of the node-wot server
    let cbor = ConsumedThing::new(
        counter.thing().clone(),
        ConsumeOptions {
            content_types: vec!["application/cbor".into()],
            ..ConsumeOptions::default()
        },
    )
    .unwrap();
    assert_eq!(cbor.read_property("count").await.unwrap(), 7);

    // observe (node-wot offers long-poll) and subscribe; keep changing until a value arrives
    let mut changes = counter.observe_property("count").await.unwrap();
    let mut events = counter.subscribe_event("changed").await.unwrap();
    let poker = counter.clone();
    let poke = tokio::spawn(async move {
        for _ in 0..250 {
            let _ = poker.invoke_action("increment", json!({"by": 1})).await;
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    let observed = changes.next().await.unwrap().unwrap();
    assert!(observed.as_u64().unwrap() > 7, "{observed}");
    let event = events.next().await.unwrap().unwrap();
    assert!(event.as_u64().unwrap() > 7, "{event}");
    poke.abort();
}
