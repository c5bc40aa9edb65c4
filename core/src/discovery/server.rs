//! The Thing Description Directory HTTP API (W3C WoT Discovery §7.3) as an axum [`Router`].
//!
//! | route | methods | what |
//! |---|---|---|
//! | `/`, `/.well-known/wot` | GET, HEAD | the directory's own TD (`@type` `ThingDirectory`) |
//! | `/things` | GET, HEAD | listing (`offset`, `limit`, `format=array\|collection`, `Link: rel="next"`) |
//! | `/things` | POST | anonymous registration (201, `Location`, server-assigned `urn:uuid`) |
//! | `/things/{id}` | GET, HEAD, PUT, PATCH, DELETE | one entry (PUT: 201 created / 204 replaced) |
//! | `/search/jsonpath?query=` | GET, HEAD | RFC 9535 JSONPath over the array of all TDs |
//! | `/search?type=&vendor=&q=` | GET, HEAD | type / vendor / ranked full-text search |
//! | `/events`, `/events/{thing_created\|thing_updated\|thing_deleted}` | GET | SSE, `diff`, `Last-Event-ID` |

// Request helpers return the error response a handler sends as it is; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use super::index::merge_patch;
use super::sqlite::EVENT_HISTORY;
use super::store::{
    ChangeEvent, ChangeKind, DirectoryStore, Entry, PutOutcome, SearchQuery, StoredThing,
};
use super::{DirectoryError, DISCOVERY_CONTEXT, THING_DIRECTORY};
use crate::binding::http::forms::encode_segment;
use crate::binding::http::{PROBLEM_JSON, PROBLEM_TYPE_BASE, TD_JSON};
use crate::binding::ws::messages::Timestamp;
use crate::td::validate::{validate_bytes, validate_value, ValidationReport};
use crate::td::vocab;

/// Media type of a listing.
pub const LD_JSON: &str = "application/ld+json";
/// Media type of a JSON merge patch.
pub const MERGE_PATCH_JSON: &str = "application/merge-patch+json";

/// Limits and timings of a directory.
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// The URL clients reach the directory at (default: `http://` + the request's `Host`).
    pub public_base_url: Option<String>,
    /// Page size of a listing when the request gives no `limit`.
    pub default_page: u64,
    /// Largest page a listing or search returns.
    pub max_page: u64,
    /// Longest time-to-live granted, in seconds (longer requests are shortened).
    pub max_ttl: Option<u64>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How often expired entries are purged (by [`Directory::start`] / [`Directory::spawn_purge`]).
    pub purge_interval: Duration,
    /// JSONPath queries run over an in-memory snapshot of every TD, rebuilt after any change;
    /// a directory with more entries than this keeps no snapshot (memory) and reads the store on
    /// every query.
    pub jsonpath_snapshot_limit: usize,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        DirectorySettings {
            public_base_url: None,
            default_page: 100,
            max_page: 1000,
            max_ttl: None,
            max_body_bytes: 4 * 1024 * 1024,
            purge_interval: Duration::from_secs(1),
            jsonpath_snapshot_limit: 50_000,
        }
    }
}

struct DirectoryState {
    store: Arc<dyn DirectoryStore>,
    settings: DirectorySettings,
    closing: watch::Sender<bool>,
    snapshot: tokio::sync::Mutex<Option<Snapshot>>,
}

/// Every TD as one JSON array, valid while the store's latest event id is the same and nothing
/// expired.
struct Snapshot {
    all: Arc<Value>,
    /// The store's latest event id, read before the array was.
    event_id: u64,
    /// The earliest expiry among the entries.
    stale_at: Option<Timestamp>,
}

/// A Thing Description Directory over a [`DirectoryStore`]: its routes ([`router`](Self::router))
/// or a server of its own ([`start`](Self::start)). Cheap to clone.
#[derive(Clone)]
pub struct Directory {
    state: Arc<DirectoryState>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("settings", &self.state.settings)
            .finish_non_exhaustive()
    }
}

/// A directory listening on a port; [`shutdown`](Self::shutdown) stops it.
#[derive(Debug)]
pub struct RunningDirectory {
    address: SocketAddr,
    base_url: String,
    directory: Directory,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    purge: JoinHandle<()>,
}

impl RunningDirectory {
    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://address/` (or the configured public base URL).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops accepting connections, ends open event streams and the purge task.
    pub async fn shutdown(mut self) {
        self.directory.state.closing.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.purge.abort();
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

impl Drop for RunningDirectory {
    fn drop(&mut self) {
        self.purge.abort();
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl Directory {
    /// A directory over `store` with default settings.
    pub fn new(store: Arc<dyn DirectoryStore>) -> Self {
        Self::with_settings(store, DirectorySettings::default())
    }

    /// A directory over `store`.
    pub fn with_settings(store: Arc<dyn DirectoryStore>, settings: DirectorySettings) -> Self {
        Directory {
            state: Arc::new(DirectoryState {
                store,
                settings,
                closing: watch::Sender::new(false),
                snapshot: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The store behind this directory.
    pub fn store(&self) -> Arc<dyn DirectoryStore> {
        self.state.store.clone()
    }

    /// The directory's routes, to serve or to mount in an existing axum application (expired
    /// entries are invisible either way; call [`spawn_purge`](Self::spawn_purge) to remove them).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(directory_td))
            .route("/.well-known/wot", get(directory_td))
            .route("/things", get(list_things).post(create_anonymous))
            .route(
                "/things/{id}",
                get(retrieve_thing)
                    .put(put_thing)
                    .patch(patch_thing)
                    .delete(delete_thing),
            )
            .route("/search/jsonpath", get(search_jsonpath))
            .route("/search", get(search))
            .route("/events", get(all_events))
            .route("/events/{kind}", get(kind_events))
            .fallback(unknown_route)
            .layer(axum::middleware::map_response(problem_for_bare_errors))
            .layer(DefaultBodyLimit::max(self.state.settings.max_body_bytes))
            .with_state(self.state.clone())
    }

    /// Removes expired entries every `purge_interval` until the task is aborted.
    pub fn spawn_purge(&self) -> JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(state.settings.purge_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = state.store.purge_expired(Timestamp::now()).await {
                    eprintln!("lmos directory: purging expired entries failed: {error}");
                }
            }
        })
    }

    /// Binds `address` (port 0: an ephemeral port), serves the routes and purges expired
    /// entries.
    pub async fn start(&self, address: SocketAddr) -> Result<RunningDirectory, DirectoryError> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| DirectoryError::Config(format!("cannot listen on {address}: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| DirectoryError::Config(e.to_string()))?;
        let base_url = self
            .state
            .settings
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}/"));
        self.state.closing.send_replace(false);
        let (stop, on_stop) = oneshot::channel::<()>();
        let app = self.router();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = on_stop.await;
            });
            if let Err(error) = serve.await {
                eprintln!("lmos directory: server stopped: {error}");
            }
        });
        Ok(RunningDirectory {
            address,
            base_url,
            directory: self.clone(),
            stop: Some(stop),
            server: Some(server),
            purge: self.spawn_purge(),
        })
    }
}

// ----- problems -------------------------------------------------------------------------------

fn problem(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> Response {
    let mut body = json!({
        "type": format!("{PROBLEM_TYPE_BASE}{}", code.replace('_', "-")),
        "title": title,
        "status": status.as_u16(),
    });
    if let (Some(detail), Some(map)) = (detail, body.as_object_mut()) {
        map.insert("detail".into(), Value::String(detail));
    }
    problem_response(status, body)
}

fn problem_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(detail: impl Into<String>) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "directory_bad_request",
        "bad request",
        Some(detail.into()),
    )
}

fn invalid_td(report: &ValidationReport) -> Response {
    let errors: Vec<Value> = report
        .errors()
        .map(|p| {
            json!({
                "field": if p.pointer.is_empty() { "/" } else { p.pointer.as_str() },
                "description": p.message,
                "rule": p.rule.code(),
            })
        })
        .collect();
    let body = json!({
        "type": format!("{PROBLEM_TYPE_BASE}directory-invalid-td"),
        "title": "invalid Thing Description",
        "status": 400,
        "detail": report.errors().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        "validationErrors": errors,
    });
    problem_response(StatusCode::BAD_REQUEST, body)
}

fn not_found(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "directory_not_found",
        "not found",
        Some(format!("no Thing Description with id {id:?}")),
    )
}

fn store_failure(error: DirectoryError) -> Response {
    // Store errors may name files or hosts: the log gets them, the caller a generic problem.
    eprintln!("lmos directory: {error}");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        error.code(),
        "internal error",
        Some("the directory store failed".into()),
    )
}

async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, title) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported media type"),
        s if s.is_server_error() => ("internal_error", "internal error"),
        _ => ("bad_request", "bad request"),
    };
    let body = json!({
        "type": format!("{PROBLEM_TYPE_BASE}{}", code.replace('_', "-")),
        "title": title,
        "status": status.as_u16(),
    })
    .to_string();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

async fn unknown_route() -> Response {
    problem(StatusCode::NOT_FOUND, "not_found", "not found", None)
}

// ----- request helpers ------------------------------------------------------------------------

type Shared = Arc<DirectoryState>;

fn base_url(state: &DirectoryState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.settings.public_base_url {
        return if base.ends_with('/') {
            base.clone()
        } else {
            format!("{base}/")
        };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
        .unwrap_or("localhost");
    format!("http://{host}/")
}

/// The query arguments, in order (keys may repeat).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn number_arg(pairs: &[(String, String)], name: &str) -> Result<Option<u64>, Response> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, value)) => value.parse::<u64>().map(Some).map_err(|_| {
            bad_request(format!(
                "query argument {name} must be a non-negative integer, not {value:?}"
            ))
        }),
    }
}

fn text_arg<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bool_arg(pairs: &[(String, String)], name: &str) -> Result<bool, Response> {
    match text_arg(pairs, name) {
        None | Some("false") => Ok(false),
        Some("" | "true") => Ok(true),
        Some(other) => Err(bad_request(format!(
            "query argument {name} must be true or false, not {other:?}"
        ))),
    }
}

fn check_content_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), Response> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "unsupported media type",
            Some(format!(
                "content type {essence:?} is not accepted here; send one of {}",
                accepted.join(", ")
            )),
        ))
    }
}

const TD_TYPES: &[&str] = &[TD_JSON, "application/json", LD_JSON];

/// Takes `registration` out of a TD and turns it into a time-to-live in seconds.
fn take_ttl(
    state: &DirectoryState,
    td: &mut Value,
    now: Timestamp,
) -> Result<Option<u64>, Response> {
    let registration = td
        .as_object_mut()
        .and_then(|map| map.shift_remove("registration"));
    let ttl = match registration {
        None | Some(Value::Null) => None,
        Some(Value::Object(registration)) => {
            match (registration.get("ttl"), registration.get("expires")) {
                (Some(ttl), _) => {
                    let seconds = ttl
                        .as_f64()
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .ok_or_else(|| {
                            bad_request("registration.ttl must be a non-negative number of seconds")
                        })?;
                    Some(seconds.ceil() as u64)
                }
                (None, Some(Value::String(expires))) => {
                    let at = Timestamp::parse_rfc3339(expires).ok_or_else(|| {
                        bad_request(format!(
                            "registration.expires {expires:?} is not an RFC 3339 date-time"
                        ))
                    })?;
                    if at <= now {
                        return Err(bad_request("registration.expires lies in the past"));
                    }
                    Some((at.millis - now.millis).div_ceil(1000))
                }
                (None, Some(_)) => {
                    return Err(bad_request("registration.expires must be a string"))
                }
                (None, None) => None,
            }
        }
        Some(_) => return Err(bad_request("registration must be an object")),
    };
    Ok(match (ttl, state.settings.max_ttl) {
        (Some(ttl), Some(max)) => Some(ttl.min(max)),
        (None, Some(max)) => Some(max),
        (ttl, None) => ttl,
    })
}

/// Validates a request body as a TD; the parsed object on success.
fn parse_td(body: &[u8]) -> Result<Value, Response> {
    let report = validate_bytes(body);
    if !report.is_valid() {
        return Err(invalid_td(&report));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| bad_request(e.to_string()))?;
    if !value.is_object() {
        return Err(bad_request("a Thing Description is a JSON object"));
    }
    Ok(value)
}

async fn write(state: &DirectoryState, entry: Entry) -> Result<PutOutcome, Response> {
    state
        .store
        .put(entry)
        .await
        .map(|(outcome, _)| outcome)
        .map_err(store_failure)
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

// ----- handlers -------------------------------------------------------------------------------

async fn directory_td(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let base = base_url(&state, &headers);
    (
        [(header::CONTENT_TYPE, TD_JSON)],
        own_description(&base).to_string(),
    )
        .into_response()
}

async fn list_things(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let (offset, limit) = match (number_arg(&pairs, "offset"), number_arg(&pairs, "limit")) {
        (Ok(offset), Ok(limit)) => (offset.unwrap_or(0), limit),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let collection = match text_arg(&pairs, "format") {
        None | Some("array") => false,
        Some("collection") => true,
        Some(other) => {
            return bad_request(format!("format must be array or collection, not {other:?}"))
        }
    };
    let limit = limit
        .unwrap_or(state.settings.default_page)
        .min(state.settings.max_page);
    let now = Timestamp::now();
    let (things, total) = match state.store.list(offset, limit, now).await {
        Ok(page) => page,
        Err(error) => return store_failure(error),
    };
    let shown = offset.saturating_add(things.len() as u64);
    let next =
        (shown < total && limit > 0).then(|| format!("/things?offset={shown}&limit={limit}"));
    let members: Vec<Value> = things.iter().map(|t| t.enriched(now)).collect();
    let body = if collection {
        let mut object = json!({
            "@context": DISCOVERY_CONTEXT,
            "@type": "ThingCollection",
            "@id": format!("/things?offset={offset}&limit={limit}&format=collection"),
            "members": members,
            "total": total,
        });
        if let (Some(next), Some(map)) = (&next, object.as_object_mut()) {
            map.insert(
                "next".into(),
                Value::String(format!("{next}&format=collection")),
            );
        }
        object
    } else {
        Value::Array(members)
    };
    let mut response = ([(header::CONTENT_TYPE, LD_JSON)], body.to_string()).into_response();
    if let Some(next) = next {
        let next = if collection {
            format!("{next}&format=collection")
        } else {
            next
        };
        let base = base_url(&state, &headers);
        let absolute = format!("{}{}", base.trim_end_matches('/'), next);
        if let Ok(value) = HeaderValue::from_str(&format!("<{absolute}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

async fn create_anonymous(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = check_content_type(&headers, TD_TYPES) {
        return response;
    }
    let mut td = match parse_td(&body) {
        Ok(td) => td,
        Err(response) => return response,
    };
    if td.get("id").is_some() {
        return bad_request(
            "POST /things registers an anonymous Thing Description; this one has an id, so PUT it to /things/{id}",
        );
    }
    let now = Timestamp::now();
    let ttl = match take_ttl(&state, &mut td, now) {
        Ok(ttl) => ttl,
        Err(response) => return response,
    };
    let id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    if let Some(map) = td.as_object_mut() {
        map.insert("id".into(), Value::String(id.clone()));
    }
    let entry = Entry {
        id: id.clone(),
        td,
        ttl,
        now,
    };
    match write(&state, entry).await {
        Ok(_) => with_location(
            StatusCode::CREATED.into_response(),
            &format!("/things/{}", encode_segment(&id)),
        ),
        Err(response) => response,
    }
}

async fn retrieve_thing(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let now = Timestamp::now();
    match state.store.get(&id, now).await {
        Ok(Some(thing)) => (
            [(header::CONTENT_TYPE, TD_JSON)],
            thing.enriched(now).to_string(),
        )
            .into_response(),
        Ok(None) => not_found(&id),
        Err(error) => store_failure(error),
    }
}

async fn put_thing(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = check_content_type(&headers, TD_TYPES) {
        return response;
    }
    if id.is_empty() {
        return bad_request("the id in the path is empty");
    }
    let mut td = match parse_td(&body) {
        Ok(td) => td,
        Err(response) => return response,
    };
    match td.get("id") {
        None => {
            if let Some(map) = td.as_object_mut() {
                map.insert("id".into(), Value::String(id.clone()));
            }
        }
        Some(Value::String(own)) if *own == id => {}
        Some(own) => {
            return bad_request(format!(
                "the TD's id {own} differs from the id in the path {id:?}"
            ))
        }
    }
    let now = Timestamp::now();
    let ttl = match take_ttl(&state, &mut td, now) {
        Ok(ttl) => ttl,
        Err(response) => return response,
    };
    let entry = Entry {
        id: id.clone(),
        td,
        ttl,
        now,
    };
    match write(&state, entry).await {
        Ok(PutOutcome::Created) => with_location(
            StatusCode::CREATED.into_response(),
            &format!("/things/{}", encode_segment(&id)),
        ),
        Ok(PutOutcome::Replaced) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

async fn patch_thing(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = check_content_type(&headers, &[MERGE_PATCH_JSON, "application/json"]) {
        return response;
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(patch)) => Value::Object(patch),
        Ok(_) => return bad_request("a merge patch for a Thing Description is a JSON object"),
        Err(e) => return bad_request(format!("the merge patch is not JSON: {e}")),
    };
    if let Some(own) = patch.get("id") {
        if own.as_str() != Some(id.as_str()) {
            return bad_request("a merge patch cannot change or remove the id");
        }
    }
    let now = Timestamp::now();
    let stored = match state.store.get(&id, now).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return not_found(&id),
        Err(error) => return store_failure(error),
    };
    let mut td = stored.td.clone();
    merge_patch(&mut td, &patch);
    let report = validate_value(&td);
    if !report.is_valid() {
        return invalid_td(&report);
    }
    let ttl = if td.get("registration").is_some() {
        match take_ttl(&state, &mut td, now) {
            Ok(ttl) => ttl,
            Err(response) => return response,
        }
    } else {
        stored.registration.ttl
    };
    let entry = Entry { id, td, ttl, now };
    match write(&state, entry).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

async fn delete_thing(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.store.delete(&id, Timestamp::now()).await {
        Ok(Some(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) => not_found(&id),
        Err(error) => store_failure(error),
    }
}

async fn search_jsonpath(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let Some(query) = text_arg(&pairs, "query") else {
        return bad_request("the query argument (a JSONPath expression) is missing");
    };
    let path = match serde_json_path::JsonPath::parse(query) {
        Ok(path) => path,
        Err(e) => return bad_request(format!("invalid JSONPath expression: {e}")),
    };
    let needles = super::jsonpath::required_strings(query);
    let documents = if needles.is_empty() {
        jsonpath_documents(&state).await
    } else {
        jsonpath_candidates(&state, needles).await
    };
    let all = match documents {
        Ok(all) => all,
        Err(error) => return store_failure(error),
    };
    let found: Vec<&Value> = path.query(&all).all();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&found).unwrap_or_else(|_| "[]".into()),
    )
        .into_response()
}

/// A TD as JSONPath sees it: with its `registration`, without `retrieved`.
fn jsonpath_view(thing: &StoredThing, now: Timestamp) -> Value {
    let mut td = thing.enriched(now);
    if let Some(registration) = td.get_mut("registration").and_then(Value::as_object_mut) {
        registration.shift_remove("retrieved");
    }
    td
}

/// For a query whose every selected TD contains `needles` (see
/// [`required_strings`](super::jsonpath::required_strings)): the snapshot when it is fresh, else
/// only the TDs that contain them (the store skips the rest unparsed; the snapshot is left to be
/// rebuilt by a query that needs every TD). Leaving out TDs the query cannot select does not
/// change its answer.
async fn jsonpath_candidates(
    state: &DirectoryState,
    needles: Vec<String>,
) -> Result<Arc<Value>, DirectoryError> {
    let now = Timestamp::now();
    {
        let snapshot = state.snapshot.lock().await;
        if let Some(current) = snapshot.as_ref() {
            let event_id = state.store.latest_event_id().await?;
            if current.event_id == event_id && current.stale_at.is_none_or(|at| now < at) {
                return Ok(current.all.clone());
            }
        }
    }
    let things = state.store.all_containing(needles, now).await?;
    Ok(Arc::new(Value::Array(
        things.iter().map(|t| jsonpath_view(t, now)).collect(),
    )))
}

/// The array JSONPath queries run over: every unexpired TD with its `registration` (without
/// `retrieved`), from the snapshot when it is fresh.
async fn jsonpath_documents(state: &DirectoryState) -> Result<Arc<Value>, DirectoryError> {
    let now = Timestamp::now();
    let mut snapshot = state.snapshot.lock().await;
    // Any write, by this instance or another one sharing the store, records an event.
    let event_id = state.store.latest_event_id().await?;
    if let Some(current) = snapshot.as_ref() {
        if current.event_id == event_id && current.stale_at.is_none_or(|at| now < at) {
            return Ok(current.all.clone());
        }
    }
    *snapshot = None;
    let things = state.store.all(now).await?;
    let stale_at = things.iter().filter_map(|t| t.registration.expires).min();
    let keep = things.len() <= state.settings.jsonpath_snapshot_limit;
    let all = Arc::new(Value::Array(
        things.iter().map(|t| jsonpath_view(t, now)).collect(),
    ));
    if keep {
        *snapshot = Some(Snapshot {
            all: all.clone(),
            event_id,
            stale_at,
        });
    }
    Ok(all)
}

/// `agent` and `tool` name the LMOS types; anything else is taken as written.
fn type_name(value: &str) -> String {
    match value.to_ascii_lowercase().as_str() {
        "agent" => vocab::LMOS_AGENT.to_owned(),
        "tool" => vocab::LMOS_TOOL.to_owned(),
        _ => value.to_owned(),
    }
}

async fn search(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let (offset, limit) = match (number_arg(&pairs, "offset"), number_arg(&pairs, "limit")) {
        (Ok(offset), Ok(limit)) => (offset.unwrap_or(0), limit),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let text = text_arg(&pairs, "q").map(str::to_owned);
    if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return bad_request("the q argument is empty");
    }
    let query = SearchQuery {
        types: pairs
            .iter()
            .filter(|(k, v)| k == "type" && !v.is_empty())
            .map(|(_, v)| type_name(v))
            .collect(),
        vendor: text_arg(&pairs, "vendor").map(str::to_owned),
        text,
        offset,
        limit: limit
            .unwrap_or(state.settings.default_page)
            .min(state.settings.max_page),
    };
    let now = Timestamp::now();
    match state.store.search(query, now).await {
        Ok(things) => (
            [(header::CONTENT_TYPE, "application/json")],
            Value::Array(things.iter().map(|t| t.enriched(now)).collect()).to_string(),
        )
            .into_response(),
        Err(error) => store_failure(error),
    }
}

async fn all_events(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    events(state, None, raw, headers).await
}

async fn kind_events(
    State(state): State<Shared>,
    Path(kind): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    match ChangeKind::parse(&kind) {
        Some(kind) => events(state, Some(kind), raw, headers).await,
        None => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "not found",
            Some(format!(
                "no event {kind:?}; the events are thing_created, thing_updated and thing_deleted"
            )),
        ),
    }
}

fn sse_event(event: &ChangeEvent, diff: bool) -> Event {
    Event::default()
        .event(event.kind.as_str())
        .id(event.id.to_string())
        .data(event.payload(diff).to_string())
}

async fn events(
    state: Shared,
    kind: Option<ChangeKind>,
    raw: Option<String>,
    headers: HeaderMap,
) -> Response {
    let pairs = query_pairs(raw.as_deref());
    let diff = match bool_arg(&pairs, "diff") {
        Ok(diff) => diff,
        Err(response) => return response,
    };
    let last = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) if text.trim().is_empty() => None,
        Some(Ok(text)) => match text.trim().parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return bad_request(format!(
                    "Last-Event-ID {text:?} is not an event id of this directory"
                ))
            }
        },
        Some(Err(_)) => return bad_request("Last-Event-ID is not ASCII"),
    };
    // Subscribe before reading the history, so nothing falls between the two.
    let mut live = state.store.subscribe();
    let replay = match last {
        Some(after) => match state.store.events_after(after, EVENT_HISTORY).await {
            Ok(events) => events,
            Err(error) => return store_failure(error),
        },
        None => Vec::new(),
    };
    let mut closing = state.closing.subscribe();
    let store = state.store.clone();
    let wanted = move |event: &ChangeEvent| kind.is_none_or(|k| k == event.kind);
    let stream = async_stream::stream! {
        let mut last_sent = last.unwrap_or(0);
        for event in replay {
            last_sent = last_sent.max(event.id);
            if wanted(&event) {
                yield Ok::<Event, std::convert::Infallible>(sse_event(&event, diff));
            }
        }
        loop {
            let received = tokio::select! {
                _ = closing.wait_for(|closing| *closing) => break,
                received = live.recv() => received,
            };
            match received {
                Ok(event) => {
                    if event.id <= last_sent && last_sent != 0 {
                        continue;
                    }
                    last_sent = event.id;
                    if wanted(&event) {
                        yield Ok(sse_event(&event, diff));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the live channel: catch up from the stored history.
                    match store.events_after(last_sent, EVENT_HISTORY).await {
                        Ok(events) => {
                            for event in events {
                                last_sent = last_sent.max(event.id);
                                if wanted(&event) {
                                    yield Ok(sse_event(&event, diff));
                                }
                            }
                        }
                        Err(_) => break,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

// ----- the directory's own TD -----------------------------------------------------------------

fn form(href: &str, method: &str, extra: Value) -> Value {
    let mut form = json!({ "href": href, "htv:methodName": method });
    if let (Some(map), Value::Object(extra)) = (form.as_object_mut(), extra) {
        map.extend(extra);
    }
    form
}

fn id_variable() -> Value {
    json!({ "id": { "@type": "ThingID", "title": "Thing Description ID", "type": "string", "format": "iri-reference" } })
}

/// The directory's Thing Description (`@type` `ThingDirectory`) with `base` as its base URL.
pub fn own_description(base: &str) -> Value {
    let problem = |status: u16, description: &str| json!({ "description": description, "contentType": PROBLEM_JSON, "htv:statusCodeValue": status });
    let mut actions = Map::new();
    actions.insert("createThing".into(), json!({
        "description": "Create a Thing Description (201 Created; 204 when it replaced one)",
        "uriVariables": id_variable(),
        "input": { "type": "object" },
        "forms": [form("things/{id}", "PUT", json!({ "contentType": TD_JSON, "op": "invokeaction",
            "additionalResponses": [problem(400, "Invalid serialization or TD")] }))]
    }));
    actions.insert("createAnonymousThing".into(), json!({
        "description": "Create an anonymous Thing Description (201 Created; the Location header names the assigned urn:uuid id)",
        "input": { "type": "object" },
        "forms": [form("things", "POST", json!({ "contentType": TD_JSON, "op": "invokeaction",
            "additionalResponses": [problem(400, "Invalid serialization or TD")] }))]
    }));
    actions.insert("retrieveThing".into(), json!({
        "description": "Retrieve a Thing Description",
        "uriVariables": id_variable(), "safe": true, "idempotent": true,
        "output": { "type": "object" },
        "forms": [form("things/{id}", "GET", json!({ "op": "invokeaction",
            "response": { "description": "Success", "contentType": TD_JSON, "htv:statusCodeValue": 200 },
            "additionalResponses": [problem(404, "TD with the given id not found")] }))]
    }));
    actions.insert("updateThing".into(), json!({
        "description": "Replace a Thing Description (204 No Content)",
        "uriVariables": id_variable(),
        "input": { "type": "object" },
        "forms": [form("things/{id}", "PUT", json!({ "contentType": TD_JSON, "op": "invokeaction",
            "additionalResponses": [problem(400, "Invalid serialization or TD")] }))]
    }));
    actions.insert("partiallyUpdateThing".into(), json!({
        "description": "Apply a JSON merge patch to a Thing Description (204 No Content)",
        "uriVariables": id_variable(),
        "input": { "type": "object" },
        "forms": [form("things/{id}", "PATCH", json!({ "contentType": MERGE_PATCH_JSON, "op": "invokeaction",
            "additionalResponses": [problem(400, "Invalid patch or TD"), problem(404, "TD with the given id not found")] }))]
    }));
    actions.insert(
        "deleteThing".into(),
        json!({
            "description": "Delete a Thing Description (204 No Content)",
            "uriVariables": id_variable(),
            "forms": [form("things/{id}", "DELETE", json!({ "op": "invokeaction",
                "additionalResponses": [problem(404, "TD with the given id not found")] }))]
        }),
    );
    actions.insert("searchJSONPath".into(), json!({
        "description": "JSONPath (RFC 9535) search over the array of all Thing Descriptions",
        "uriVariables": { "query": { "title": "A valid JSONPath expression", "type": "string" } },
        "safe": true, "idempotent": true,
        "output": { "type": "array" },
        "forms": [form("search/jsonpath{?query}", "GET", json!({ "op": "invokeaction",
            "response": { "description": "Success", "contentType": "application/json", "htv:statusCodeValue": 200 },
            "additionalResponses": [problem(400, "JSONPath expression missing or invalid")] }))]
    }));
    actions.insert("search".into(), json!({
        "description": "Find agents and tools by type, vendor and ranked full-text over titles, descriptions and affordances",
        "uriVariables": {
            "type": { "description": "An @type every result has (agent and tool name lmos:Agent and lmos:Tool)", "type": "string" },
            "vendor": { "description": "The vendor name (case-insensitive)", "type": "string" },
            "q": { "description": "Words to search for; results are ranked best first", "type": "string" },
            "offset": { "type": "integer", "minimum": 0 },
            "limit": { "type": "integer", "minimum": 0 }
        },
        "safe": true, "idempotent": true,
        "output": { "type": "array" },
        "forms": [form("search{?type,vendor,q,offset,limit}", "GET", json!({ "op": "invokeaction",
            "response": { "description": "Success", "contentType": "application/json", "htv:statusCodeValue": 200 },
            "additionalResponses": [problem(400, "Invalid query arguments")] }))]
    }));
    let event = |name: &str, description: &str, diff: bool| {
        let href = if diff {
            format!("events/{name}{{?diff}}")
        } else {
            format!("events/{name}")
        };
        let mut event = json!({
            "description": description,
            "data": { "type": "object" },
            "forms": [{ "op": "subscribeevent", "href": href, "subprotocol": "sse",
                "contentType": "text/event-stream",
                "htv:headers": [{ "htv:fieldName": "Last-Event-ID", "description": "ID of the last event for reconnection" }] }]
        });
        if diff {
            if let Some(map) = event.as_object_mut() {
                map.insert(
                    "uriVariables".into(),
                    json!({ "diff": { "type": "boolean" } }),
                );
            }
        }
        event
    };
    json!({
        "@context": [vocab::TD_CONTEXT_V11, DISCOVERY_CONTEXT],
        "@type": THING_DIRECTORY,
        "title": "LMOS Thing Description Directory",
        "description": "A W3C WoT Thing Description Directory for LMOS agents and tools",
        "base": base,
        "securityDefinitions": { "nosec_sc": { "scheme": "nosec" } },
        "security": "nosec_sc",
        "properties": {
            "things": {
                "description": "The registered Thing Descriptions, a page at a time",
                "readOnly": true,
                "type": "array",
                "items": { "type": "object" },
                "uriVariables": {
                    "offset": { "type": "integer", "minimum": 0 },
                    "limit": { "type": "integer", "minimum": 0 },
                    "format": { "type": "string", "enum": ["array", "collection"] }
                },
                "forms": [{ "href": "things{?offset,limit,format}", "htv:methodName": "GET", "op": "readproperty",
                    "contentType": LD_JSON,
                    "response": { "description": "Success", "htv:statusCodeValue": 200, "contentType": LD_JSON,
                        "htv:headers": [{ "htv:fieldName": "Link" }] },
                    "additionalResponses": [problem(400, "Invalid query arguments")] }]
            }
        },
        "actions": actions,
        "events": {
            "thingCreated": event("thing_created", "A Thing Description was registered", true),
            "thingUpdated": event("thing_updated", "A Thing Description was updated", true),
            "thingDeleted": event("thing_deleted", "A Thing Description was deleted or expired", false)
        }
    })
}
