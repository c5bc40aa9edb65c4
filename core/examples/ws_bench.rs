//! WebSocket benchmark: invokeAction round trips through the servient and `ConsumedThing`
//! against a raw tokio-tungstenite echo of the same bytes, and memory per idle connection.
//!
//! ```text
//! cargo run --example ws_bench -- roundtrip --seconds 5 --rounds 3
//! cargo run --example ws_bench -- idle --connections 10000
//! ```
//!
//! Results and the machine they came from are in `docs/benchmarks.md`.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures::{SinkExt, StreamExt};
use lmos::binding::ws::messages::{Body, Message, Style};
use lmos::binding::ws::Dialect;
use lmos::td::{ActionAffordance, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as Frame;

#[path = "../benches/support/bench_results.rs"]
mod bench_results;
use bench_results::record;

#[derive(Debug, Parser)]
#[command(about = "lmosprotocol WebSocket benchmark")]
struct Options {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Round trips per second and latency, 1 and 64 requests in flight.
    Roundtrip {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Rounds per in-flight level; each measures both sides, alternating which goes first.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Memory per idle connection of a servient in a child process.
    Idle {
        /// Connections to open.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
    /// Serve the benchmark thing and print the WebSocket URL (used by `idle`).
    Serve,
}

fn bench_thing() -> lmos::td::Thing {
    ThingBuilder::tool("Bench")
        .id("urn:bench")
        .action("echo", ActionAffordance::new())
        .build()
}

async fn start_servient() -> (Servient, String, String) {
    let servient = Servient::builder()
        .http_port(0)
        .ws_max_in_flight(256)
        .build()
        .expect("servient");
    let exposed = servient.expose(bench_thing()).expect("expose");
    exposed
        .on_action("echo", invoke_with(|input, _| async move { Ok(input) }))
        .expect("handler");
    let addresses = servient.start().await.expect("start");
    let ws = format!("ws://{}/ws", addresses.ws.expect("ws address"));
    let td = exposed.td_url().expect("td url");
    (servient, ws, td)
}

struct Stats {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds another round's requests, time and latencies.
    fn absorb(&mut self, other: Stats) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

async fn lmos_roundtrips(td_url: &str, in_flight: usize, seconds: u64) -> Stats {
    let options = ConsumeOptions {
        protocols: vec!["ws".into()],
        dialect: Dialect::Spec,
        ..ConsumeOptions::default()
    };
    let thing = ConsumedThing::from_url(td_url, options)
        .await
        .expect("consume");
    // Warm up the shared connection.
    thing
        .invoke_action("echo", json!({"text": "warm"}))
        .await
        .expect("warm-up");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let thing = thing.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                thing
                    .invoke_action("echo", json!({"text": "hello"}))
                    .await
                    .expect("invoke");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    Stats {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

/// A tokio-tungstenite server that sends every text frame back.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (mut sink, mut stream) = socket.split();
                while let Some(Ok(frame)) = stream.next().await {
                    if let Frame::Text(text) = frame {
                        if sink.send(Frame::Text(text)).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    format!("ws://{address}/")
}

async fn raw_roundtrips(url: &str, in_flight: usize, seconds: u64) -> Stats {
    // The bytes our client sends for one invocation.
    let mut message = Message::new(
        Some("urn:bench".into()),
        Body::InvokeAction {
            action: "echo".into(),
            input: Some(json!({"text": "hello"})),
        },
    );
    message.correlation_id = Some(uuid::Uuid::new_v4().to_string());
    message.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
    let text = message.to_json(Style::of(Dialect::Spec));
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let (mut sink, mut stream) = socket.split();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let (permits_tx, mut permits_rx) = tokio::sync::mpsc::channel::<()>(in_flight);
    for _ in 0..in_flight {
        permits_tx.send(()).await.expect("permit");
    }
    let writer = tokio::spawn(async move {
        while permits_rx.recv().await.is_some() {
            if Instant::now() >= deadline {
                break;
            }
            let _ = sent_tx.send(Instant::now());
            if sink.send(Frame::Text(text.clone().into())).await.is_err() {
                break;
            }
        }
        drop(sent_tx);
        sink
    });
    let mut latencies = Vec::new();
    while let Some(sent) = sent_rx.recv().await {
        match stream.next().await {
            Some(Ok(Frame::Text(reply))) => {
                // The client parses what it gets, as a real one would.
                let _ = serde_json::from_str::<Value>(reply.as_str());
                latencies.push(sent.elapsed());
                let _ = permits_tx.try_send(());
            }
            _ => break,
        }
    }
    drop(permits_tx);
    let _ = writer.await;
    Stats {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn idle(connections: usize) {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().expect("exe");
    let mut child = tokio::process::Command::new(exe)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server process");
    let pid = child.id().expect("pid");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = lines.next_line().await.expect("read").expect("url line");
    // One connection first, so that lazily allocated runtime state is not counted.
    let (first, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(connections);
    let started = Instant::now();
    for i in 0..connections {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => sockets.push(socket),
            Err(error) => {
                eprintln!("connection {i} failed: {error}");
                break;
            }
        }
    }
    let opened = sockets.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "{opened} idle connections opened in {:.1} s; server RSS {before} KiB -> {after} KiB; {:.1} KiB per connection",
        started.elapsed().as_secs_f64(),
        (after.saturating_sub(before)) as f64 / opened.max(1) as f64
    );
    record(json!({
        "name": format!("WebSocket memory per idle connection, {opened} open"),
        "ours": (after.saturating_sub(before)) as f64 / opened.max(1) as f64,
        "unit": "KiB",
        "detail": format!("server RSS {before} KiB -> {after} KiB"),
    }));
    drop(sockets);
    drop(first);
    let _ = child.kill().await;
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    match options.command {
        Command::Serve => {
            let (_servient, ws, _) = start_servient().await;
            println!("{ws}");
            std::future::pending::<()>().await;
        }
        Command::Idle { connections } => idle(connections).await,
        Command::Roundtrip { seconds, rounds } => {
            let (servient, _, td) = start_servient().await;
            let echo = echo_server().await;
            println!("| in flight | round | lmos round trips/s | raw round trips/s | ratio |");
            println!("|---|---|---|---|---|");
            let mut levels = Vec::new();
            for in_flight in [1, 64] {
                let empty = || Stats {
                    requests: 0,
                    elapsed: Duration::ZERO,
                    latencies: Vec::new(),
                };
                let (mut ours, mut raw, mut ratios) = (empty(), empty(), Vec::new());
                for round in 1..=rounds.max(1) {
                    // Alternate which side goes first, so neither always gets the warmer machine.
                    let (one, other) = if round % 2 == 1 {
                        let one = lmos_roundtrips(&td, in_flight, seconds).await;
                        (one, raw_roundtrips(&echo, in_flight, seconds).await)
                    } else {
                        let other = raw_roundtrips(&echo, in_flight, seconds).await;
                        (lmos_roundtrips(&td, in_flight, seconds).await, other)
                    };
                    let ratio = one.rate() / other.rate().max(1.0);
                    println!(
                        "| {in_flight} | {round} | {:.0} | {:.0} | {ratio:.2} |",
                        one.rate(),
                        other.rate()
                    );
                    ratios.push(ratio);
                    ours.absorb(one);
                    raw.absorb(other);
                }
                ratios.sort_by(f64::total_cmp);
                let median = ratios[ratios.len() / 2];
                levels.push((in_flight, ours, raw, median));
            }
            println!();
            println!("| in flight | implementation | round trips/s (all rounds) | p50 | p99 |");
            println!("|---|---|---|---|---|");
            for (in_flight, mut ours, mut raw, median) in levels {
                for (name, stats) in [
                    ("lmos servient + ConsumedThing", &mut ours),
                    ("raw tokio-tungstenite echo", &mut raw),
                ] {
                    let rate = stats.rate();
                    let p50 = stats.percentile(0.50);
                    let p99 = stats.percentile(0.99);
                    println!("| {in_flight} | {name} | {rate:.0} | {p50:.2?} | {p99:.2?} |");
                }
                println!(
                    "| {in_flight} | ratio lmos/raw | {:.2} (median of the rounds' ratios {median:.2}) | | |",
                    ours.rate() / raw.rate().max(1.0)
                );
                record(json!({
                    "name": format!("WebSocket invokeAction round trips, {in_flight} in flight, servient + ConsumedThing vs raw tokio-tungstenite echo"),
                    "ours": ours.rate(),
                    "unit": "round trips/s",
                    "baseline": raw.rate(),
                    "baseline_name": "raw echo",
                    "goal_ratio": 0.7,
                    "detail": format!(
                        "{rounds} rounds of {seconds} s, median ratio per round {median:.2}; p50 {:.2?}, p99 {:.2?}; raw p50 {:.2?}, p99 {:.2?}",
                        ours.percentile(0.50), ours.percentile(0.99),
                        raw.percentile(0.50), raw.percentile(0.99)
                    ),
                }));
            }
            servient.shutdown().await;
        }
    }
}
