//! `lmos demo` and `lmos demo serve`, run as processes.

mod common;

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use lmos::discovery::store::ChangeKind;
use lmos::discovery::{DirectoryClient, Mdns, MdnsOptions, ServiceKind, WatchOptions};
use lmos::identity::data_integrity::verify_document;
use lmos::identity::{DidResolver, SignaturePolicy};
use lmos::td::Thing;
use lmos::thing::{ConsumeOptions, ConsumedThing};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use common::lmos;

/// Bound on anything that waits for the demo (a hang fails instead of blocking the suite).
const PATIENCE: Duration = Duration::from_secs(120);

/// The titles `lmos demo` prints, in order.
const STEPS: &[&str] = &[
    "Create a temporary folder",
    "Start the directory (SQLite store)",
    "Make a did:key identity per service",
    "Start the weather agent (lmos:Agent)",
    "Start the geocoding tool (lmos:Tool)",
    "Register both in the directory (signed TDs)",
    "Find them through the directory",
    "Find them through mDNS",
    "Verify their signed descriptions",
    "HTTP: Geocoder geocode (plain call)",
    "HTTP: WeatherAgent getWeather (plain call)",
    "HTTP: WeatherAgent forecast (streamed action)",
    "HTTP: WeatherAgent userFeedbackReceived (event, triggered by rate)",
    "WebSocket: Geocoder geocode (plain call)",
    "WebSocket: WeatherAgent getWeather (plain call)",
    "WebSocket: WeatherAgent forecast (streamed action)",
    "WebSocket: WeatherAgent userFeedbackReceived (event, triggered by rate)",
    "Shut down (deregister, stop)",
];

/// The mDNS step: found on a host with a multicast route (as the mDNS tests of the core need),
/// not available with `--loopback`.
const MDNS_STEP: &str = "Find them through mDNS";

/// The titles of the numbered step lines of a text transcript.
fn step_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| line.starts_with(|c: char| c == ' ' || c.is_ascii_digit()))
        .filter(|line| {
            line.trim_start()
                .split_once(". ")
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .collect()
}

/// Runs `lmos ARGS` (bounded by [`PATIENCE`]) and checks that it exited 0.
async fn demo_exits_0(args: &[&str]) -> common::Run {
    let run = tokio::time::timeout(PATIENCE, lmos(args, None))
        .await
        .expect("the demo finishes");
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Checks that `stdout` contains every one of `expected`.
fn assert_mentions(stdout: &str, expected: &[&str]) {
    for expected in expected {
        assert!(stdout.contains(expected), "no {expected:?} in\n{stdout}");
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::test]
async fn demo_runs_every_step_and_exits_0() {
    let run = demo_exits_0(&["demo"]).await;
    let lines = step_lines(&run.stdout);
    assert_eq!(lines.len(), STEPS.len(), "{}", run.stdout);
    for (n, (line, title)) in lines.iter().zip(STEPS).enumerate() {
        let number = format!("{}. ", n + 1);
        assert!(line.trim_start().starts_with(&number), "{line}");
        assert!(
            line.ends_with(title),
            "step {} is {line:?}, not {title:?}",
            n + 1
        );
        assert!(line.contains(&format!("✓ {title}")), "{line}");
    }
    assert!(!run.stdout.contains('✗'), "{}", run.stdout);
    // The services listen on the multicast interface's address, not on loopback, and mDNS
    // found both at the URLs their TDs are served from.
    assert!(!run.stdout.contains("ws://127.0.0.1:"), "{}", run.stdout);
    for service in ["WeatherAgent", "Geocoder"] {
        assert!(
            run.stdout
                .lines()
                .any(|line| line.trim_start().starts_with(service)
                    && line.contains("_wot._tcp instance")
                    && line.contains("→ http://")),
            "{service} not found by mDNS:\n{}",
            run.stdout
        );
    }
    // What happened, in short: the transports, the signer, the answers.
    assert_mentions(
        &run.stdout,
        &[
            "did:key:z6Mk",
            "→ WeatherAgent",
            "→ Geocoder",
            "lat 50.7374, lon 7.0982",
            "ws://",
            "http://",
            "private mDNS group on UDP port",
            "the directory is empty again",
            "All 18 steps worked.",
        ],
    );
}

#[tokio::test]
async fn demo_json_prints_one_object_per_step_and_cleans_up() {
    let run = demo_exits_0(&["demo", "--format", "json"]).await;
    let steps: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    assert_eq!(steps.len(), STEPS.len(), "{}", run.stdout);
    for (n, (step, title)) in steps.iter().zip(STEPS).enumerate() {
        assert_eq!(step["step"], n + 1);
        assert_eq!(step["title"], *title);
        assert_eq!(step["ok"], true, "{step}");
        assert_eq!(step["status"], "ok", "{step}");
        assert!(!step["detail"].as_str().unwrap().is_empty(), "{step}");
    }
    // The SQLite file lived in the folder of step 1; the demo removed it.
    let folder = steps[0]["detail"].as_str().unwrap();
    assert!(steps[1]["detail"]
        .as_str()
        .unwrap()
        .contains(&format!("{folder}/directory.db")));
    assert!(!std::path::Path::new(folder).exists(), "{folder} is left");
}

#[tokio::test]
async fn demo_on_loopback_reports_mdns_not_available_and_still_exits_0() {
    let run = demo_exits_0(&["demo", "--loopback"]).await;
    let lines = step_lines(&run.stdout);
    assert_eq!(lines.len(), STEPS.len(), "{}", run.stdout);
    for (line, title) in lines.iter().zip(STEPS) {
        let mark = if *title == MDNS_STEP { "–" } else { "✓" };
        assert!(line.contains(&format!("{mark} {title}")), "{line}");
    }
    assert_mentions(
        &run.stdout,
        &[
            "not available: the services listen on 127.0.0.1",
            "ws://127.0.0.1:",
            "http://127.0.0.1:",
            "All 17 steps worked; 1 (–) not available here.",
        ],
    );
}

#[tokio::test]
async fn a_failing_step_says_why_and_exits_1() {
    // A temporary directory that does not exist: the demo cannot make its folder.
    let missing = std::env::temp_dir().join(format!("lmos-demo-missing-{}", uuid::Uuid::new_v4()));
    let output = tokio::time::timeout(
        PATIENCE,
        Command::new(env!("CARGO_BIN_EXE_lmos"))
            .arg("demo")
            .env("TMPDIR", &missing)
            .output(),
    )
    .await
    .expect("the demo finishes")
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(" 1. ✗ Create a temporary folder"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("cannot create the folder {}", missing.display())),
        "{stdout}"
    );
    assert!(stdout.contains("A step failed"), "{stdout}");
    assert!(
        !stdout.contains(" 2. "),
        "no step runs after a failure: {stdout}"
    );
    assert!(!missing.exists());
}

#[tokio::test]
async fn demo_serve_prints_verifiable_tds_serves_calls_and_stops_on_sigterm() {
    install_crypto();
    // A private mDNS group, so that the test neither disturbs nor hears other responders.
    let mdns_port = free_udp_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(["demo", "serve", "--mdns-port", &mdns_port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("lmos starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut services = Vec::new();
    for _ in 0..3 {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("a line per service")
            .unwrap()
            .expect("a line");
        let service: Value = serde_json::from_str(&line).expect("a JSON line");
        assert!(service["td"].is_object(), "{service}");
        services.push(service);
    }
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["directory", "WeatherAgent", "Geocoder"]);
    let directory_url = services[0]["url"].as_str().unwrap();
    assert_eq!(services[0]["td"]["@type"], "ThingDirectory");
    assert_eq!(services[0]["td"]["base"], directory_url);

    // Each service's TD is fetchable at its URL and verifies, as printed and as served.
    let resolver = DidResolver::default();
    for service in &services[1..] {
        let url = service["url"].as_str().unwrap();
        let printed = verify_document(&service["td"], &resolver)
            .await
            .expect("the printed TD verifies");
        let run = lmos(&["verify", url], None).await;
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .starts_with(&format!("ok     {}", printed[0].verification_method)),
            "{}",
            run.stdout
        );
    }

    // Both are advertised by mDNS, at the URLs printed.
    let browser = Mdns::new(MdnsOptions { port: mdns_port }).unwrap();
    let mut browsed = browser.browse(Some(ServiceKind::Thing)).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 {
        let found = tokio::time::timeout(PATIENCE, browsed.next())
            .await
            .expect("both services are found by mDNS")
            .unwrap();
        let td = found
            .td
            .expect("the TD is fetched from the advertised address");
        seen.insert(found.url, td["id"].as_str().unwrap().to_owned());
    }
    drop(browsed);
    browser.shutdown().await;
    let printed: std::collections::BTreeMap<String, String> = services[1..]
        .iter()
        .map(|s| {
            (
                s["url"].as_str().unwrap().to_owned(),
                s["td"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(seen, printed);

    // Both are registered in the directory.
    let directory = DirectoryClient::new(directory_url).unwrap();
    let listed = directory.list().await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|td| td["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected: Vec<&str> = services[1..]
        .iter()
        .map(|s| s["td"]["id"].as_str().unwrap())
        .collect();
    expected.sort();
    assert_eq!(ids, expected);

    // Calls through the printed TDs, requiring their signatures, over both transports.
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.to_owned()],
            signature_policy: SignaturePolicy::Require,
            ..ConsumeOptions::default()
        };
        let geocoder = ConsumedThing::new(
            Thing::from_value(services[2]["td"].clone()).unwrap(),
            options.clone(),
        )
        .unwrap();
        let place = geocoder
            .invoke_action("geocode", json!({"city": "paris"}))
            .await
            .unwrap();
        assert_eq!(
            place,
            json!({"city": "Paris", "lat": 48.8566, "lon": 2.3522})
        );
        let refused = geocoder
            .invoke_action("geocode", json!({"city": "Atlantis"}))
            .await
            .unwrap_err();
        assert!(
            format!("{refused:?}").contains("unknown city"),
            "{refused:?}"
        );
        let weather = ConsumedThing::new(
            Thing::from_value(services[1]["td"].clone()).unwrap(),
            options,
        )
        .unwrap();
        let answer = weather
            .invoke_action(
                "getWeather",
                json!({"question": "Sun in Paris?", "interactionMode": "voice"}),
            )
            .await
            .unwrap();
        assert!(
            answer.as_str().unwrap().contains("Sun in Paris?"),
            "{answer}"
        );
    }

    // Watch the directory, knowing the subscription is live once it reports a marker entry.
    let mut events = directory.watch(WatchOptions {
        max_retries: Some(0),
        ..WatchOptions::default()
    });
    let marker = json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "id": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        "title": "marker",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc"
    });
    let marker_id = marker["id"].as_str().unwrap().to_owned();
    let watching = async {
        let (register, first) = tokio::join!(directory.register(&marker, None), events.next());
        register.unwrap();
        let first = first.unwrap().unwrap();
        assert_eq!(
            (first.kind, first.thing_id.as_str()),
            (ChangeKind::Created, marker_id.as_str())
        );
    };
    tokio::time::timeout(PATIENCE, watching)
        .await
        .expect("the marker is seen");
    directory.delete(&marker_id).await.unwrap();

    // SIGTERM: both services deregister, then everything stops and the exit status is 0.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut deleted = Vec::new();
    while let Ok(Some(Ok(event))) = tokio::time::timeout(PATIENCE, events.next()).await {
        if event.kind == ChangeKind::Deleted {
            deleted.push(event.thing_id);
        }
    }
    deleted.retain(|id| *id != marker_id);
    deleted.sort();
    assert_eq!(deleted, expected, "both services deregistered");
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("lmos stops")
        .unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        reqwest::get(services[1]["url"].as_str().unwrap())
            .await
            .is_err(),
        "the agent stopped"
    );
}
