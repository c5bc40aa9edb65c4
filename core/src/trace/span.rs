//! Spans: one per interaction on each side (a client request, a handler run), with the ids the
//! W3C trace context carries, handed to the installed exporter ([`super::export`]) when they end.
//! Without an exporter a span costs its id and a clock read; nothing is recorded.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{export, TraceContext, TraceError};

/// What a span stands for, as OpenTelemetry's `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// The handling of a request (an exposed thing's side).
    Server,
    /// A request to another thing (a consumer's side).
    Client,
}

impl SpanKind {
    /// The OTLP enum value (`SPAN_KIND_SERVER` = 2, `SPAN_KIND_CLIENT` = 3).
    pub fn otlp(self) -> u8 {
        match self {
            SpanKind::Server => 2,
            SpanKind::Client => 3,
        }
    }
}

/// A span that has ended: what an exporter receives.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    /// The trace id (32 hex digits).
    pub trace_id: String,
    /// This span's id (16 hex digits).
    pub span_id: String,
    /// The id of the span that caused this one, when it has a parent.
    pub parent_span_id: Option<String>,
    /// What happened, e.g. `invokeaction getWeather` or `POST /weather/actions/getWeather`.
    pub name: String,
    /// Client or server.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Attributes (`lmos.thing`, `lmos.affordance`, `http.request.method`, …).
    pub attributes: Vec<(String, String)>,
    /// `Some(message)` when the interaction failed.
    pub error: Option<String>,
}

/// A span in progress. Its [`context`](Span::context) is what calls made inside it propagate;
/// [`end`](Span::end) (or dropping it) records it.
#[derive(Debug)]
pub struct Span {
    context: TraceContext,
    parent_span_id: Option<String>,
    name: String,
    kind: SpanKind,
    start_unix_nanos: u64,
    attributes: Vec<(String, String)>,
    ended: bool,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Span {
    /// Starts a span as a child of `parent` (the caller's context), or as the root of a new trace.
    pub fn start(
        name: impl Into<String>,
        kind: SpanKind,
        parent: Option<&TraceContext>,
    ) -> Result<Self, TraceError> {
        let (context, parent_span_id) = match parent {
            Some(parent) => (parent.child()?, Some(parent.parent_id())),
            None => (TraceContext::new_root()?, None),
        };
        Ok(Span {
            context,
            parent_span_id,
            name: name.into(),
            kind,
            start_unix_nanos: now_nanos(),
            attributes: Vec::new(),
            ended: false,
        })
    }

    /// The context this span propagates: its trace id, and its own id as the parent id.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }

    /// Adds an attribute.
    pub fn set_attribute(&mut self, key: &str, value: impl Into<String>) {
        self.attributes.push((key.to_owned(), value.into()));
    }

    /// Ends the span, successfully or with an error message, and hands it to the exporter.
    pub fn end(mut self, error: Option<String>) {
        self.finish(error);
    }

    fn finish(&mut self, error: Option<String>) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.context.is_sampled() || !export::enabled() {
            return;
        }
        export::record(FinishedSpan {
            trace_id: self.context.trace_id(),
            span_id: self.context.parent_id(),
            parent_span_id: self.parent_span_id.take(),
            name: std::mem::take(&mut self.name),
            kind: self.kind,
            start_unix_nanos: self.start_unix_nanos,
            end_unix_nanos: now_nanos(),
            attributes: std::mem::take(&mut self.attributes),
            error,
        });
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        // A span dropped without `end` (its future was cancelled) still shows, marked so.
        if !self.ended {
            self.finish(Some("cancelled".into()));
        }
    }
}
