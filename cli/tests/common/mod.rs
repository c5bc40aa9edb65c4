//! Helpers shared by the CLI tests: run the built `lmos` binary, serve documents over HTTP.
#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a finished `lmos` run left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The path of a fixture file.
pub fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

/// The bytes of a fixture file.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture exists")
}

/// Runs `lmos` with `args`, feeding `stdin` (empty when `None`).
pub async fn lmos(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .expect("lmos starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let bytes = stdin.unwrap_or_default().to_vec();
    let writer = tokio::spawn(async move {
        // The command may stop reading early (e.g. when the input is over the size limit).
        let _ = input.write_all(&bytes).await;
    });
    let output = child.wait_with_output().await.expect("lmos runs");
    let _ = writer.await;
    let run = Run {
        code: output.status.code().expect("lmos exits with a code"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "lmos panicked: {}",
        run.stderr
    );
    run
}

/// One request the test server saw: its request line and headers, lower-cased names.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers `GET <path>` from a fixed table and
/// records every request it gets.
pub struct TestServer {
    pub base: String,
    pub seen: Arc<Mutex<Vec<SeenRequest>>>,
}

/// Starts the server. `routes` maps a path to (status, content type, body); other paths get 404.
pub async fn serve(routes: Vec<(&'static str, u16, &'static str, Vec<u8>)>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let routes = Arc::new(routes);
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    // Not HTTP (a TLS ClientHello starts with 0x16): hang up at once.
                    if !head[0].is_ascii_uppercase() {
                        return;
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let mut lines = text.split("\r\n");
                let request_line = lines.next().unwrap_or_default().to_owned();
                let headers = lines
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let path = request_line
                    .split(' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("log").push(SeenRequest {
                    request_line,
                    headers,
                });
                let (status, content_type, body) = routes
                    .iter()
                    .find(|(p, ..)| *p == path)
                    .map(|(_, s, c, b)| (*s, *c, b.clone()))
                    .unwrap_or((404, "text/plain", b"not found".to_vec()));
                let reason = if status == 200 { "OK" } else { "Not Found" };
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    TestServer { base, seen }
}

/// A loopback URL on which nothing listens: a port bound and released again.
pub async fn unreachable_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/td.json")
}

/// Parses JSON text, failing the test with the text when it is not JSON.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
