//! The HTTP client that follows TD forms: plain requests, streamed responses and an SSE parser.
//!
//! Every request carries the W3C trace context of the calling task ([`crate::trace::outgoing`]),
//! so calls made from inside a handler continue the caller's trace.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use url::Url;

use super::HttpError;
use crate::thing::BoxStream;
use crate::trace::{self, Span, SpanKind, TRACEPARENT, TRACESTATE};

/// An HTTP request built from a form.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method (`GET`, `PUT`, ...).
    pub method: String,
    /// Target URL.
    pub url: Url,
    /// `Content-Type` of the body.
    pub content_type: Option<String>,
    /// `Accept` header.
    pub accept: Option<String>,
    /// Body bytes.
    pub body: Option<Vec<u8>>,
    /// Credentials for the request (headers, query parameters), as the form's security asks.
    pub(crate) auth: Option<crate::security::RequestAuth>,
    /// More request headers (name, value), e.g. a form's `htv:headers`.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// A request without body.
    pub fn new(method: &str, url: Url) -> Self {
        HttpRequest {
            method: method.to_owned(),
            url,
            content_type: None,
            accept: None,
            body: None,
            auth: None,
            headers: Vec::new(),
        }
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `Preference-Applied`, if any.
    pub preference_applied: Option<String>,
    /// Body bytes.
    pub body: Bytes,
}

/// A response whose body is read as it arrives.
pub struct StreamingResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `Preference-Applied`, if any.
    pub preference_applied: Option<String>,
    /// The body, chunk by chunk.
    pub body: BoxStream<Result<Bytes, HttpError>>,
    /// Largest body [`collect`](Self::collect) accepts.
    limit: usize,
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    /// Reads the rest of the body.
    pub async fn collect(mut self) -> Result<HttpResponse, HttpError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > self.limit {
                return Err(HttpError::ResponseTooLarge { limit: self.limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status: self.status,
            content_type: self.content_type,
            location: self.location,
            preference_applied: self.preference_applied,
            body: Bytes::from(body),
        })
    }
}

/// An HTTP client (cheap to clone; clones share connections).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    timeout: Option<Duration>,
    max_response_bytes: usize,
}

/// The default bound on a response body read whole (16 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl HttpClient {
    /// A client; `timeout` bounds each non-streaming request.
    pub fn new(timeout: Option<Duration>) -> Result<Self, HttpError> {
        Self::with_extra_ca(timeout, None)
    }

    /// A client that trusts `extra_ca_pem` (PEM certificates) besides the platform's roots.
    pub fn with_extra_ca(
        timeout: Option<Duration>,
        extra_ca_pem: Option<&str>,
    ) -> Result<Self, HttpError> {
        // reqwest is built without a TLS crypto provider; use ring unless the application
        // installed another one (then that one stays).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder =
            reqwest::Client::builder().user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = timeout {
            // Streams (SSE, long-poll) have no overall bound, but connecting does.
            builder = builder.connect_timeout(timeout);
        }
        let builder = crate::security::tls::trust_extra_ca(builder, extra_ca_pem)
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let client = builder
            .build()
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        Ok(HttpClient {
            client,
            timeout,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The same client with another bound on response bodies read whole (streams are not
    /// bounded, each of their events is).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The request, and the client span it is sent in (its context is the `traceparent` sent).
    fn build(&self, request: HttpRequest) -> Result<(reqwest::RequestBuilder, Span), HttpError> {
        let method = reqwest::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| HttpError::InvalidRequest(format!("bad method {:?}", request.method)))?;
        if !matches!(request.url.scheme(), "http" | "https") {
            return Err(HttpError::InvalidRequest(format!(
                "{} is not an http(s) URL",
                request.url
            )));
        }
        let mut span = Span::start(
            format!("{} {}", method, request.url.path()),
            SpanKind::Client,
            trace::current().as_ref(),
        )?;
        span.set_attribute("http.request.method", method.as_str());
        span.set_attribute("server.address", request.url.host_str().unwrap_or_default());
        span.set_attribute("url.path", request.url.path());
        let context = span.context().clone();
        let mut url = request.url;
        if let Some(auth) = &request.auth {
            auth.apply_to_url(&mut url);
        }
        let mut builder = self
            .client
            .request(method, url)
            .header(TRACEPARENT, context.traceparent());
        if let Some(state) = context.tracestate() {
            builder = builder.header(TRACESTATE, state);
        }
        if let Some(content_type) = request.content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(accept) = request.accept {
            builder = builder.header(reqwest::header::ACCEPT, accept);
        }
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        if let Some(auth) = &request.auth {
            for (name, value) in auth.all_headers() {
                let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    HttpError::InvalidRequest(format!(
                        "the {name} credential is not a valid header value"
                    ))
                })?;
                value.set_sensitive(true);
                builder = builder.header(name, value);
            }
        }
        Ok((builder, span))
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (mut builder, span) = self.build(request)?;
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        let result = match builder.send().await {
            Ok(response) => self.streaming(response).collect().await,
            Err(error) => Err(transport(&error)),
        };
        end_span(span, &result);
        result
    }

    /// Sends a request and returns as soon as the headers arrive; the body streams.
    pub async fn open(&self, request: HttpRequest) -> Result<StreamingResponse, HttpError> {
        let (builder, span) = self.build(request)?;
        let result = builder
            .send()
            .await
            .map_err(|e| transport(&e))
            .map(|response| self.streaming(response));
        match &result {
            Ok(response) if response.status >= 400 => {
                span.end(Some(format!("HTTP {}", response.status)))
            }
            Ok(_) => span.end(None),
            Err(error) => span.end(Some(error.to_string())),
        }
        result
    }

    fn streaming(&self, response: reqwest::Response) -> StreamingResponse {
        StreamingResponse {
            limit: self.max_response_bytes,
            status: response.status().as_u16(),
            content_type: header(&response, reqwest::header::CONTENT_TYPE),
            location: header(&response, reqwest::header::LOCATION),
            preference_applied: header(
                &response,
                reqwest::header::HeaderName::from_static("preference-applied"),
            ),
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map_err(|e| transport(&e))),
            ),
        }
    }
}

/// Ends a request's span: an error for transport failures and 4xx/5xx answers.
fn end_span(span: Span, result: &Result<HttpResponse, HttpError>) {
    match result {
        Ok(response) if response.status >= 400 => {
            span.end(Some(format!("HTTP {}", response.status)))
        }
        Ok(_) => span.end(None),
        Err(error) => span.end(Some(error.to_string())),
    }
}

/// A transport error, or a timeout when reqwest's own timeout fired.
fn transport(error: &reqwest::Error) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout(describe(error))
    } else {
        HttpError::Transport(describe(error))
    }
}

fn describe(error: &reqwest::Error) -> String {
    // reqwest's Display hides the cause ("error sending request"); add the chain.
    let mut text = error.to_string();
    // The query may carry a credential (an API key or token `in: query`): never show it.
    if let Some(url) = error.url() {
        if url.query().is_some() {
            let mut clean = url.clone();
            clean.set_query(None);
            text = text.replace(url.as_str(), clean.as_str());
        }
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` name (`None` for unnamed events, which mean `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field.
    pub id: Option<String>,
}

/// The largest single SSE event [`sse_events`] accepts.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Parses a `text/event-stream` body into events (comments and `retry:` are skipped).
pub fn sse_events(
    body: BoxStream<Result<Bytes, HttpError>>,
) -> BoxStream<Result<SseEvent, HttpError>> {
    Box::pin(async_stream::stream! {
        let mut body = body;
        let mut buffer: Vec<u8> = Vec::new();
        let mut current = SseEvent::default();
        let mut has_data = false;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            buffer.extend_from_slice(&chunk);
            if buffer.len() + current.data.len() > MAX_EVENT_BYTES {
                yield Err(HttpError::EventStream(format!("an event is larger than {MAX_EVENT_BYTES} bytes")));
                return;
            }
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let Ok(line) = String::from_utf8(line) else {
                    yield Err(HttpError::EventStream("a line is not UTF-8".into()));
                    return;
                };
                if line.is_empty() {
                    if has_data {
                        yield Ok(std::mem::take(&mut current));
                    } else {
                        current = SseEvent::default();
                    }
                    has_data = false;
                    continue;
                }
                if line.starts_with(':') {
                    continue;
                }
                let (field, value) = match line.split_once(':') {
                    Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                    None => (line.as_str(), ""),
                };
                match field {
                    "data" => {
                        if has_data {
                            current.data.push('\n');
                        }
                        current.data.push_str(value);
                        has_data = true;
                    }
                    "event" => current.event = Some(value.to_owned()),
                    "id" => current.id = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_events_split_across_chunks() {
        let chunks: Vec<Result<Bytes, HttpError>> = vec![
            Ok(Bytes::from_static(b": keep-alive\n\nda")),
            Ok(Bytes::from_static(
                b"ta: {\"a\":1}\n\nevent: progress\r\ndata: 1\r\n",
            )),
            Ok(Bytes::from_static(b"data: 2\r\nid: 7\r\n\r\n")),
        ];
        let events: Vec<_> = sse_events(Box::pin(futures::stream::iter(chunks)))
            .collect()
            .await;
        let events: Vec<SseEvent> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            events,
            vec![
                SseEvent {
                    event: None,
                    data: "{\"a\":1}".into(),
                    id: None
                },
                SseEvent {
                    event: Some("progress".into()),
                    data: "1\n2".into(),
                    id: Some("7".into())
                },
            ]
        );
    }
}
