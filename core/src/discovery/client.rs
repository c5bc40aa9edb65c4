//! [`DirectoryClient`]: registers, reads, searches and watches a Thing Description Directory.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use url::Url;

use super::store::{ChangeKind, PutOutcome, SearchQuery};
use super::DirectoryError;
use crate::binding::http::client::{sse_events, SseEvent};
use crate::binding::http::forms::encode_segment;
use crate::binding::http::{HttpError, TD_JSON};
use crate::thing::BoxStream;

/// A change seen by [`DirectoryClient::watch`].
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEvent {
    /// The event id (resume point).
    pub id: Option<String>,
    /// What happened.
    pub kind: ChangeKind,
    /// The TD's id.
    pub thing_id: String,
    /// The event data: `{"id"}`, or with `diff` the TD (created) or merge patch (updated).
    pub data: Value,
}

/// How [`DirectoryClient::watch`] subscribes.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Only this kind of event (`None`: all).
    pub kind: Option<ChangeKind>,
    /// Ask for the full TD / the merge patch in the event data.
    pub diff: bool,
    /// Start after this event id (replaying what was missed).
    pub last_event_id: Option<String>,
    /// Wait before reconnecting after a dropped connection.
    pub retry: Duration,
    /// Give up after this many failed reconnections in a row (`None`: never).
    pub max_retries: Option<u32>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            kind: None,
            diff: false,
            last_event_id: None,
            retry: Duration::from_millis(500),
            max_retries: None,
        }
    }
}

/// A client of one directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DirectoryClient {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
}

fn transport(error: reqwest::Error) -> DirectoryError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    DirectoryError::Transport(text)
}

fn with_ttl(td: &Value, ttl: Option<Duration>) -> Value {
    let mut td = td.clone();
    if let (Some(ttl), Some(map)) = (ttl, td.as_object_mut()) {
        map.insert(
            "registration".into(),
            json!({ "ttl": ttl.as_secs().max(1) }),
        );
    }
    td
}

async fn failure(response: reqwest::Response, id: Option<&str>) -> DirectoryError {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let detail = problem
        .get("detail")
        .or_else(|| problem.get("title"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(500).collect());
    match status {
        404 if id.is_some() => DirectoryError::NotFound {
            id: id.unwrap_or_default().to_owned(),
        },
        400 if problem.get("validationErrors").is_some() => DirectoryError::Invalid(detail),
        _ => DirectoryError::Status { status, detail },
    }
}

impl DirectoryClient {
    /// A client of the directory at `base_url` (e.g. `http://127.0.0.1:8081/`).
    pub fn new(base_url: &str) -> Result<Self, DirectoryError> {
        let mut base = Url::parse(base_url)
            .map_err(|e| DirectoryError::Config(format!("directory URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(DirectoryError::Config(format!(
                "directory URL {base_url:?} is not an http(s) URL"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = Duration::from_secs(30);
        let http = reqwest::Client::builder()
            .user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .build()
            .map_err(transport)?;
        Ok(DirectoryClient {
            base,
            http,
            timeout,
        })
    }

    /// The directory's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, DirectoryError> {
        self.base
            .join(path)
            .map_err(|e| DirectoryError::Config(e.to_string()))
    }

    fn thing_url(&self, id: &str) -> Result<Url, DirectoryError> {
        self.url(&format!("things/{}", encode_segment(id)))
    }

    async fn json(&self, url: Url, id: Option<&str>) -> Result<Value, DirectoryError> {
        let response = self
            .http
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(failure(response, id).await);
        }
        let body = response.bytes().await.map_err(transport)?;
        serde_json::from_slice(&body)
            .map_err(|e| DirectoryError::Transport(format!("the directory sent invalid JSON: {e}")))
    }

    /// The directory's own Thing Description.
    pub async fn describe(&self) -> Result<Value, DirectoryError> {
        self.json(self.url(".well-known/wot")?, None).await
    }

    /// Registers `td` (PUT to its `id`, or POST when it has none) with an optional time-to-live;
    /// returns the id it is registered under.
    pub async fn register(
        &self,
        td: &Value,
        ttl: Option<Duration>,
    ) -> Result<String, DirectoryError> {
        match td.get("id").and_then(Value::as_str) {
            Some(id) => {
                self.put(id, td, ttl).await?;
                Ok(id.to_owned())
            }
            None => {
                let response = self
                    .http
                    .post(self.url("things")?)
                    .timeout(self.timeout)
                    .header(reqwest::header::CONTENT_TYPE, TD_JSON)
                    .body(with_ttl(td, ttl).to_string())
                    .send()
                    .await
                    .map_err(transport)?;
                if response.status().as_u16() != 201 {
                    return Err(failure(response, None).await);
                }
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        DirectoryError::Transport("201 without a Location header".into())
                    })?;
                let url = self.url(location)?;
                let segment = url
                    .path_segments()
                    .and_then(|mut s| s.next_back())
                    .unwrap_or_default();
                let id = percent_decode(segment);
                if id.is_empty() {
                    return Err(DirectoryError::Transport(format!(
                        "the Location {location:?} names no thing"
                    )));
                }
                Ok(id)
            }
        }
    }

    /// Creates or replaces the TD under `id`.
    pub async fn put(
        &self,
        id: &str,
        td: &Value,
        ttl: Option<Duration>,
    ) -> Result<PutOutcome, DirectoryError> {
        let response = self
            .http
            .put(self.thing_url(id)?)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, TD_JSON)
            .body(with_ttl(td, ttl).to_string())
            .send()
            .await
            .map_err(transport)?;
        match response.status().as_u16() {
            201 => Ok(PutOutcome::Created),
            204 | 200 => Ok(PutOutcome::Replaced),
            _ => Err(failure(response, None).await),
        }
    }

    /// Replaces a registered TD (it must have an `id`).
    pub async fn update(&self, td: &Value, ttl: Option<Duration>) -> Result<(), DirectoryError> {
        let id = td
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| DirectoryError::BadRequest("the TD has no id to update".into()))?;
        self.put(id, td, ttl).await.map(|_| ())
    }

    /// Applies a JSON merge patch to the TD `id`.
    pub async fn patch(&self, id: &str, patch: &Value) -> Result<(), DirectoryError> {
        let response = self
            .http
            .patch(self.thing_url(id)?)
            .timeout(self.timeout)
            .header(
                reqwest::header::CONTENT_TYPE,
                super::server::MERGE_PATCH_JSON,
            )
            .body(patch.to_string())
            .send()
            .await
            .map_err(transport)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure(response, Some(id)).await)
        }
    }

    /// Deletes the TD `id`.
    pub async fn delete(&self, id: &str) -> Result<(), DirectoryError> {
        let response = self
            .http
            .delete(self.thing_url(id)?)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure(response, Some(id)).await)
        }
    }

    /// The TD `id` (with its `registration` information).
    pub async fn get(&self, id: &str) -> Result<Value, DirectoryError> {
        self.json(self.thing_url(id)?, Some(id)).await
    }

    /// Every registered TD (following the listing's pages).
    pub async fn list(&self) -> Result<Vec<Value>, DirectoryError> {
        let mut all = Vec::new();
        let mut next = Some(self.url("things")?);
        while let Some(url) = next.take() {
            let response = self
                .http
                .get(url.clone())
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport)?;
            if !response.status().is_success() {
                return Err(failure(response, None).await);
            }
            let link = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = response.bytes().await.map_err(transport)?;
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(page)) => all.extend(page),
                _ => {
                    return Err(DirectoryError::Transport(
                        "the listing is not a JSON array".into(),
                    ))
                }
            }
            if let Some(link) = link {
                let following = url
                    .join(&link)
                    .map_err(|e| DirectoryError::Transport(e.to_string()))?;
                if following != url {
                    next = Some(following);
                }
            }
        }
        Ok(all)
    }

    /// TDs matching `query` (type, vendor, ranked text; offset and limit; limit 0 means the
    /// directory's default page).
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<Value>, DirectoryError> {
        let mut url = self.url("search")?;
        {
            let mut pairs = url.query_pairs_mut();
            for ty in &query.types {
                pairs.append_pair("type", ty);
            }
            if let Some(vendor) = &query.vendor {
                pairs.append_pair("vendor", vendor);
            }
            if let Some(text) = &query.text {
                pairs.append_pair("q", text);
            }
            if query.offset > 0 {
                pairs.append_pair("offset", &query.offset.to_string());
            }
            if query.limit > 0 {
                pairs.append_pair("limit", &query.limit.to_string());
            }
        }
        as_array(self.json(url, None).await?)
    }

    /// TDs with the `@type` `ty` (`agent` and `tool` name `lmos:Agent` and `lmos:Tool`).
    pub async fn find_type(&self, ty: &str) -> Result<Vec<Value>, DirectoryError> {
        self.search(&SearchQuery {
            types: vec![ty.to_owned()],
            ..SearchQuery::default()
        })
        .await
    }

    /// TDs whose vendor is `vendor` (case-insensitive).
    pub async fn find_vendor(&self, vendor: &str) -> Result<Vec<Value>, DirectoryError> {
        self.search(&SearchQuery {
            vendor: Some(vendor.to_owned()),
            ..SearchQuery::default()
        })
        .await
    }

    /// TDs matching the words of `text`, best first ("an agent that can tell the weather").
    pub async fn find_text(&self, text: &str) -> Result<Vec<Value>, DirectoryError> {
        self.search(&SearchQuery {
            text: Some(text.to_owned()),
            ..SearchQuery::default()
        })
        .await
    }

    /// The values an RFC 9535 JSONPath expression selects from the array of all TDs.
    pub async fn search_jsonpath(&self, query: &str) -> Result<Vec<Value>, DirectoryError> {
        let mut url = self.url("search/jsonpath")?;
        url.query_pairs_mut().append_pair("query", query);
        as_array(self.json(url, None).await?)
    }

    /// The directory's change events as a stream that reconnects after a dropped connection and
    /// resumes after the last event it saw (`Last-Event-ID`), so no event is lost or repeated
    /// while the directory keeps its history. Ends with an error when the directory refuses the
    /// subscription or after `max_retries` failed reconnections.
    pub fn watch(
        &self,
        options: WatchOptions,
    ) -> BoxStream<Result<DirectoryEvent, DirectoryError>> {
        let client = self.clone();
        Box::pin(async_stream::stream! {
            let mut last = options.last_event_id.clone();
            let mut failures: u32 = 0;
            let path = match options.kind {
                Some(kind) => format!("events/{}", kind.as_str()),
                None => "events".to_owned(),
            };
            let mut url = match client.url(&path) {
                Ok(url) => url,
                Err(error) => { yield Err(error); return; }
            };
            if options.diff {
                url.query_pairs_mut().append_pair("diff", "true");
            }
            loop {
                let mut request = client
                    .http
                    .get(url.clone())
                    .header(reqwest::header::ACCEPT, "text/event-stream");
                if let Some(last) = &last {
                    request = request.header("Last-Event-ID", last.as_str());
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        failures = 0;
                        let body: BoxStream<Result<bytes::Bytes, HttpError>> = Box::pin(
                            response
                                .bytes_stream()
                                .map(|chunk| chunk.map_err(|e| HttpError::Transport(e.to_string()))),
                        );
                        let mut events = sse_events(body);
                        while let Some(event) = events.next().await {
                            let Ok(event) = event else { break };
                            match to_event(event) {
                                Some(event) => {
                                    if event.id.is_some() {
                                        last = event.id.clone();
                                    }
                                    yield Ok(event);
                                }
                                None => continue,
                            }
                        }
                    }
                    Ok(response) if response.status().is_client_error() => {
                        yield Err(failure(response, None).await);
                        return;
                    }
                    Ok(_) | Err(_) => {
                        failures += 1;
                    }
                }
                if options.max_retries.is_some_and(|max| failures > max) {
                    yield Err(DirectoryError::Transport(format!(
                        "the event stream of {} could not be reopened", client.base
                    )));
                    return;
                }
                tokio::time::sleep(options.retry).await;
            }
        })
    }
}

fn to_event(event: SseEvent) -> Option<DirectoryEvent> {
    let kind = ChangeKind::parse(event.event.as_deref()?)?;
    let data: Value = serde_json::from_str(&event.data).ok()?;
    let thing_id = data.get("id")?.as_str()?.to_owned();
    Some(DirectoryEvent {
        id: event.id,
        kind,
        thing_id,
        data,
    })
}

fn as_array(value: Value) -> Result<Vec<Value>, DirectoryError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(DirectoryError::Transport(
            "the directory's answer is not a JSON array".into(),
        )),
    }
}

/// The target of `rel="next"` in a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
