//! `lmos directory serve` and `lmos discover`, run as processes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::lmos;
use lmos::discovery::DirectoryClient;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmos-cli-directory-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `lmos directory serve` with `args`; returns the child and the base URL it printed.
async fn serve(args: &[&str], data_home: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(["directory", "serve", "--port", "0"])
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("lmos starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the base URL is printed")
        .unwrap()
        .expect("a first line");
    assert!(first.starts_with("http://"), "{first}");
    (child, first)
}

fn agent(id: &str, title: &str, description: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": "lmos:Agent",
        "id": id,
        "title": title,
        "description": description,
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc"
    })
}

fn tool(id: &str, title: &str, description: &str) -> Value {
    let mut td = agent(id, title, description);
    td["@type"] = json!("lmos:Tool");
    td
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    install_crypto();
    let dir = temp_dir();
    let db = dir.join("store.db");
    let spec = format!("sqlite:{}", db.display());
    let (mut child, base) = serve(&["--db", &spec], &dir).await;
    let client = DirectoryClient::new(&base).unwrap();
    for i in 0..25 {
        client
            .register(
                &agent(
                    &format!("urn:example:a{i:02}"),
                    &format!("Agent {i}"),
                    "Durable",
                ),
                None,
            )
            .await
            .unwrap();
    }
    client.delete("urn:example:a07").await.unwrap();
    // SIGKILL: no shutdown code runs.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    let (mut child, base) = serve(&["--db", &spec], &dir).await;
    let client = DirectoryClient::new(&base).unwrap();
    let all = client.list().await.unwrap();
    assert_eq!(all.len(), 24);
    assert!(all.iter().all(|td| td["id"] != "urn:example:a07"));
    assert_eq!(
        client.get("urn:example:a24").await.unwrap()["title"],
        "Agent 24"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn without_db_the_store_is_in_the_user_data_directory() {
    install_crypto();
    let dir = temp_dir();
    let (mut child, base) = serve(&[], &dir).await;
    let client = DirectoryClient::new(&base).unwrap();
    client
        .register(&agent("urn:example:x", "X", "x"), None)
        .await
        .unwrap();
    assert!(dir.join("lmos").join("directory.db").is_file());
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn a_bad_store_is_reported() {
    let dir = temp_dir();
    std::fs::write(dir.join("not-a-dir"), b"x").unwrap();
    let spec = format!("sqlite:{}/not-a-dir/store.db", dir.display());
    let run = lmos(&["directory", "serve", "--port", "0", "--db", &spec], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("lmos directory serve:"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn discover_prints_one_thing_a_line_or_json() {
    install_crypto();
    let dir = temp_dir();
    let (mut child, base) = serve(
        &["--db", &format!("sqlite:{}", dir.join("d.db").display())],
        &dir,
    )
    .await;
    let client = DirectoryClient::new(&base).unwrap();
    client
        .register(
            &agent(
                "urn:example:weather",
                "Weather",
                "Tells the weather\nfor a city",
            ),
            None,
        )
        .await
        .unwrap();
    client
        .register(
            &agent("urn:example:news", "News", "Reads the headlines"),
            None,
        )
        .await
        .unwrap();
    client
        .register(
            &tool("urn:example:geo", "Geocoder", "Addresses to coordinates"),
            None,
        )
        .await
        .unwrap();

    let run = lmos(&["discover", "--directory", &base, "--type", "agent"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "urn:example:news\tlmos:Agent\tNews\tReads the headlines",
            "urn:example:weather\tlmos:Agent\tWeather\tTells the weather for a city",
        ]
    );

    let run = lmos(
        &[
            "discover",
            "--directory",
            &base,
            "--query",
            "who can tell the weather?",
            "--format",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let found: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(found[0]["id"], "urn:example:weather");
    assert_eq!(found.as_array().unwrap().len(), 1);

    let run = lmos(
        &[
            "discover",
            "--directory",
            &base,
            "--type",
            "tool",
            "--format",
            "json",
        ],
        None,
    )
    .await;
    let found: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert!(found[0]["registration"]["created"].is_string());

    let run = lmos(
        &["discover", "--directory", &base, "--jsonpath", "$[*].title"],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "\"Geocoder\"\n\"News\"\n\"Weather\"\n");
    let run = lmos(
        &["discover", "--directory", &base, "--jsonpath", "$[?"],
        None,
    )
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("JSONPath"), "{}", run.stderr);

    let run = lmos(&["discover"], None).await;
    assert_eq!(run.code, 2);
    child.start_kill().unwrap();
    let _ = child.wait().await;

    // The directory is gone now.
    let run = lmos(&["discover", "--directory", &base, "--type", "agent"], None).await;
    assert_eq!(run.code, 3, "{run:?}");
}

/// The local address multicast leaves from (the interface of the route to 224.0.0.251).
fn multicast_address() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("224.0.0.251:5353")
        .expect("this host has a route for multicast (needed for the mDNS test)");
    let ip = socket.local_addr().unwrap().ip();
    assert!(
        !ip.is_unspecified() && !ip.is_loopback(),
        "no multicast-capable interface: {ip}"
    );
    ip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_mdns_finds_advertised_things_and_searches_advertised_directories() {
    install_crypto();
    let ip = multicast_address().to_string();
    let mdns_port = std::net::UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let dir = temp_dir();
    let db = format!("sqlite:{}", dir.join("m.db").display());
    let (mut child, base) = serve(
        &[
            "--host",
            &ip,
            "--mdns",
            "--mdns-port",
            &mdns_port,
            "--db",
            &db,
        ],
        &dir,
    )
    .await;
    let client = DirectoryClient::new(&base).unwrap();
    client
        .register(
            &agent(
                "urn:example:registered",
                "Registered",
                "Found through the directory",
            ),
            None,
        )
        .await
        .unwrap();
    client
        .register(
            &tool(
                "urn:example:registered-tool",
                "Registered Tool",
                "Not an agent",
            ),
            None,
        )
        .await
        .unwrap();

    // A thing advertised by its servient, not registered anywhere.
    let servient = lmos::thing::Servient::builder()
        .http_host(ip.parse().unwrap())
        .http_port(0)
        .build()
        .unwrap();
    servient
        .expose(
            lmos::td::ThingBuilder::agent("Local Agent")
                .id("urn:example:local")
                .build(),
        )
        .unwrap();
    servient.start().await.unwrap();
    let advertiser = lmos::discovery::Mdns::new(lmos::discovery::MdnsOptions {
        port: mdns_port.parse().unwrap(),
    })
    .unwrap();
    advertiser.advertise_servient(&servient).unwrap();

    let run = lmos(
        &[
            "discover",
            "--mdns",
            "--mdns-port",
            &mdns_port,
            "--mdns-wait",
            "5",
            "--type",
            "agent",
            "--format",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let found: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["urn:example:local", "urn:example:registered"]);

    advertiser.shutdown().await;
    servient.shutdown().await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
