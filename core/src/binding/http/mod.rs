//! The HTTP binding: server routes for exposed things ([`server`]), the forms that describe them
//! ([`forms`]) and the client that follows TD forms ([`client`]).
//!
//! The URL layout, status codes and stream framings are documented in `docs/http-binding.md`.

pub mod client;
pub mod forms;
pub mod server;
pub mod uri_template;

use std::time::Duration;

pub use client::HttpClient;

/// Media type of an SSE stream.
pub const EVENT_STREAM: &str = "text/event-stream";
/// Media type of an error document (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Media type of a Thing Description.
pub const TD_JSON: &str = "application/td+json";
/// Prefix of the `type` URI of every problem document this server sends.
pub const PROBLEM_TYPE_BASE: &str = "https://eclipse.dev/lmos/protocol/v1/errors#";

/// What can go wrong in the HTTP client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// The request could not be sent or the response not received.
    #[error("HTTP transport error: {0}")]
    Transport(String),
    /// No response (or no complete body) arrived within the client's timeout.
    #[error("HTTP request timed out: {0}")]
    Timeout(String),
    /// A URL or method from a form is unusable.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A response body was larger than the client accepts.
    #[error("the response body is larger than {limit} bytes")]
    ResponseTooLarge {
        /// The bound.
        limit: usize,
    },
    /// A `text/event-stream` response broke the SSE format.
    #[error("malformed event stream: {0}")]
    EventStream(String),
    /// The trace context for the request could not be made.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
}

impl HttpError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            HttpError::Transport(_) => "http_transport",
            HttpError::Timeout(_) => "http_timeout",
            HttpError::InvalidRequest(_) => "http_invalid_request",
            HttpError::ResponseTooLarge { .. } => "http_response_too_large",
            HttpError::EventStream(_) => "http_event_stream",
            HttpError::Trace(_) => "trace",
        }
    }
}

impl From<HttpError> for crate::thing::ThingError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Trace(e) => crate::thing::ThingError::Trace(e),
            HttpError::InvalidRequest(m) => crate::thing::ThingError::InvalidTd(m),
            HttpError::Timeout(m) => crate::thing::ThingError::Timeout(m),
            other => crate::thing::ThingError::Transport(other.to_string()),
        }
    }
}

/// Server limits and timings.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a long-poll request waits before answering 204.
    pub long_poll_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 1024 * 1024,
            long_poll_timeout: Duration::from_secs(30 * 60),
        }
    }
}
