//! Span export over OTLP/HTTP (JSON encoding, `POST {endpoint}/v1/traces`), behind the `otlp`
//! feature (on by default).
//!
//! Configured like every OpenTelemetry SDK: from the environment on first use —
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (the base;
//! `/v1/traces` is appended), `OTEL_SERVICE_NAME` (default `lmos`), `OTEL_TRACES_EXPORTER=none`
//! to switch export off — or in code with [`export_otlp`]. Spans are sent in batches by one
//! background thread (at most 512 per request, at least every 200 ms); a full queue (8192 spans)
//! drops new spans rather than slowing the interactions down. [`flush`] waits until what has
//! ended so far is sent (call it before a short-lived process exits).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Once, RwLock};
use std::time::Duration;

use super::span::FinishedSpan;
#[cfg(feature = "otlp")]
use super::TraceError;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static FROM_ENV: Once = Once::new();
static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static DROPPED: AtomicU64 = AtomicU64::new(0);

#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
enum Command {
    Span(Box<FinishedSpan>),
    /// Called once everything queued before it is sent.
    Flush(Box<dyn FnOnce() + Send>),
}

struct Sink {
    queue: std::sync::mpsc::SyncSender<Command>,
}

/// Whether spans are being exported (reads the environment the first time).
pub(crate) fn enabled() -> bool {
    FROM_ENV.call_once(configure_from_env);
    ACTIVE.load(Ordering::Relaxed)
}

pub(crate) fn record(span: FinishedSpan) {
    let guard = SINK.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sink) = guard.as_ref() {
        if sink.queue.try_send(Command::Span(Box::new(span))).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Spans dropped so far because the export queue was full or the exporter had stopped.
pub fn dropped_spans() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Queues a flush; `None` when nothing is exported, `Some(false)` when the exporter is gone.
fn request_flush(done: Box<dyn FnOnce() + Send>) -> Option<bool> {
    let guard = SINK.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let sink = guard.as_ref()?;
    Some(sink.queue.send(Command::Flush(done)).is_ok())
}

/// Blocks up to `timeout` until every span that ended before this call has been sent; `true` when
/// they were (also when nothing is exported). Don't call it on an async runtime's thread (use
/// [`flush_async`]).
pub fn flush(timeout: Duration) -> bool {
    let (done, wait) = std::sync::mpsc::channel();
    match request_flush(Box::new(move || {
        let _ = done.send(());
    })) {
        None => true,
        Some(false) => false,
        Some(true) => wait.recv_timeout(timeout).is_ok(),
    }
}

/// [`flush`] for async code.
pub async fn flush_async(timeout: Duration) -> bool {
    let (done, wait) = tokio::sync::oneshot::channel();
    match request_flush(Box::new(move || {
        let _ = done.send(());
    })) {
        None => true,
        Some(false) => false,
        Some(true) => matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(()))),
    }
}

#[cfg(not(feature = "otlp"))]
fn configure_from_env() {}

#[cfg(feature = "otlp")]
fn configure_from_env() {
    if std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none") {
        return;
    }
    let endpoint = match std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Ok(base) if !base.trim().is_empty() => {
                format!("{}/v1/traces", base.trim().trim_end_matches('/'))
            }
            _ => return,
        },
    };
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "lmos".into());
    // A malformed endpoint in the environment switches export off rather than failing calls.
    let _ = install(endpoint.trim(), &service);
}

/// Exports spans to the OTLP/HTTP endpoint `url` (the full traces URL, e.g.
/// `http://127.0.0.1:4318/v1/traces`) as service `service_name`, replacing any exporter set
/// before (including one from the environment).
#[cfg(feature = "otlp")]
pub fn export_otlp(url: &str, service_name: &str) -> Result<(), TraceError> {
    FROM_ENV.call_once(|| {});
    install(url, service_name)
}

#[cfg(feature = "otlp")]
fn install(url: &str, service_name: &str) -> Result<(), TraceError> {
    let endpoint = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| TraceError::Export(format!("{url:?} is not an http(s) URL")))?;
    let (queue, commands) = std::sync::mpsc::sync_channel(8192);
    let service = service_name.to_owned();
    std::thread::Builder::new()
        .name("lmos-otlp".into())
        .spawn(move || otlp::run(endpoint, service, commands))
        .map_err(|e| TraceError::Export(format!("cannot start the exporter thread: {e}")))?;
    let mut guard = SINK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = Some(Sink { queue });
    ACTIVE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Stops exporting (spans that ended before are still sent).
pub fn stop_export() {
    FROM_ENV.call_once(|| {});
    let mut guard = SINK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = None;
    ACTIVE.store(false, Ordering::Relaxed);
}

#[cfg(feature = "otlp")]
mod otlp {
    use std::sync::mpsc::{Receiver, RecvTimeoutError};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use super::{Command, FinishedSpan, DROPPED};
    use std::sync::atomic::Ordering;

    const BATCH: usize = 512;
    const INTERVAL: Duration = Duration::from_millis(200);

    pub(super) fn run(endpoint: url::Url, service: String, commands: Receiver<Command>) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut batch: Vec<FinishedSpan> = Vec::new();
        let mut flushes = Vec::new();
        let mut due = Instant::now() + INTERVAL;
        loop {
            let wait = due.saturating_duration_since(Instant::now());
            match commands.recv_timeout(wait) {
                Ok(Command::Span(span)) => batch.push(*span),
                Ok(Command::Flush(done)) => flushes.push(done),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    send(&runtime, &client, &endpoint, &service, &mut batch);
                    return;
                }
            }
            if batch.len() >= BATCH || !flushes.is_empty() || Instant::now() >= due {
                send(&runtime, &client, &endpoint, &service, &mut batch);
                for done in flushes.drain(..) {
                    done();
                }
                due = Instant::now() + INTERVAL;
            }
        }
    }

    fn send(
        runtime: &tokio::runtime::Runtime,
        client: &reqwest::Client,
        endpoint: &url::Url,
        service: &str,
        batch: &mut Vec<FinishedSpan>,
    ) {
        while !batch.is_empty() {
            let take = batch.len().min(BATCH);
            let spans: Vec<FinishedSpan> = batch.drain(..take).collect();
            let count = spans.len() as u64;
            let body = encode(service, &spans);
            let sent = runtime.block_on(async {
                client
                    .post(endpoint.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            });
            if !sent {
                DROPPED.fetch_add(count, Ordering::Relaxed);
            }
        }
    }

    fn string_attribute(key: &str, value: &str) -> Value {
        json!({"key": key, "value": {"stringValue": value}})
    }

    /// The OTLP/JSON `ExportTraceServiceRequest` for `spans` (ids in hex, times as strings).
    pub(super) fn encode(service: &str, spans: &[FinishedSpan]) -> String {
        let spans: Vec<Value> = spans
            .iter()
            .map(|span| {
                let mut value = json!({
                    "traceId": span.trace_id,
                    "spanId": span.span_id,
                    "name": span.name,
                    "kind": span.kind.otlp(),
                    "startTimeUnixNano": span.start_unix_nanos.to_string(),
                    "endTimeUnixNano": span.end_unix_nanos.to_string(),
                    "attributes": span.attributes.iter()
                        .map(|(k, v)| string_attribute(k, v))
                        .collect::<Vec<_>>(),
                    "status": match &span.error {
                        None => json!({"code": 1}),
                        Some(message) => json!({"code": 2, "message": message}),
                    },
                });
                if let Some(parent) = &span.parent_span_id {
                    value["parentSpanId"] = Value::String(parent.clone());
                }
                value
            })
            .collect();
        json!({
            "resourceSpans": [{
                "resource": {"attributes": [
                    string_attribute("service.name", service),
                    string_attribute("telemetry.sdk.name", "lmos"),
                    string_attribute("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
                ]},
                "scopeSpans": [{
                    "scope": {"name": "lmos", "version": env!("CARGO_PKG_VERSION")},
                    "spans": spans,
                }],
            }]
        })
        .to_string()
    }
}
