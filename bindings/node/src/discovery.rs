//! Discovery (`lmos::discovery`): a Thing Description Directory served from Node.js, the
//! `DirectoryClient` (register, read, search, watch) and `ExposedThing.register`. TDs, queries
//! and events cross as JSON text; TTLs are seconds, as in a TD's `registration.ttl`. Also
//! DNS-SD/mDNS (`NativeMdns`) and DID-based introduction (`discover_did`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lmos::discovery::{
    ChangeKind, DidDiscoveryError, Directory, DirectoryClient, DirectoryError, DirectoryEvent,
    DirectoryRegistration, DirectorySettings, DiscoveryError, FoundService, Mdns, MdnsOptions,
    RunningDirectory, SearchQuery, ServiceKind, WatchOptions,
};
use lmos::thing::handler::BoxStream;
use napi::Result;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Mutex};

use crate::errors::{encoded, parse_json, type_error};
use crate::serve::{NativeExposedThing, NativeServient};

/// The encoded form of a directory error, with its fields as details.
pub fn directory_error(error: &DirectoryError) -> napi::Error {
    let details = match error {
        DirectoryError::NotFound { id } => json!({"id": id}),
        DirectoryError::Status { status, detail } => json!({"status": status, "detail": detail}),
        _ => json!({}),
    };
    encoded(error.code(), &error.to_string(), details)
}

/// The encoded form of a discovery error.
pub fn discovery_error(error: &DiscoveryError) -> napi::Error {
    match error {
        DiscoveryError::Directory(error) => directory_error(error),
        other => encoded(other.code(), &other.to_string(), json!({})),
    }
}

fn encode(value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| type_error(e.to_string()))
}

fn ttl_from(seconds: Option<f64>) -> Result<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= 1e12 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(type_error(format!(
            "the time-to-live must be a positive number of seconds, not {s}"
        ))),
    }
}

/// Directory server options as the JavaScript layer sends them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServerOptions {
    db: String,
    port: Option<u16>,
    host: Option<String>,
    public_base_url: Option<String>,
    max_ttl: Option<u64>,
    default_page: Option<u64>,
    max_page: Option<u64>,
    max_body_bytes: Option<usize>,
}

/// Starts a directory over the store named by `options.db`; resolves once it listens.
#[napi]
pub async fn start_directory(options: String) -> Result<NativeDirectoryServer> {
    let options: ServerOptions = serde_json::from_str(&options)
        .map_err(|e| type_error(format!("bad directory options: {e}")))?;
    let host: IpAddr = match &options.host {
        Some(host) => host
            .parse()
            .map_err(|e| type_error(format!("host {host:?} is not an IP address: {e}")))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut settings = DirectorySettings {
        public_base_url: options.public_base_url,
        max_ttl: options.max_ttl,
        ..DirectorySettings::default()
    };
    if let Some(page) = options.default_page {
        settings.default_page = page;
    }
    if let Some(page) = options.max_page {
        settings.max_page = page;
    }
    if let Some(bytes) = options.max_body_bytes {
        settings.max_body_bytes = bytes;
    }
    let store = lmos::discovery::open_store(&options.db)
        .await
        .map_err(|e| directory_error(&e))?;
    let directory = Directory::with_settings(store, settings);
    let running = directory
        .start(SocketAddr::new(host, options.port.unwrap_or(0)))
        .await
        .map_err(|e| directory_error(&e))?;
    Ok(NativeDirectoryServer {
        base_url: running.base_url().to_owned(),
        address: running.address().to_string(),
        running: Mutex::new(Some(running)),
    })
}

/// A directory listening on a port.
#[napi]
pub struct NativeDirectoryServer {
    base_url: String,
    address: String,
    running: Mutex<Option<RunningDirectory>>,
}

#[napi]
impl NativeDirectoryServer {
    /// `http://host:port/` (or the public base URL).
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address (`host:port`).
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Stops listening and ends open event streams; a second call does nothing.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            running.shutdown().await;
        }
        Ok(())
    }
}

/// Search criteria as the JavaScript layer sends them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Query {
    #[serde(rename = "type")]
    types: Option<Vec<String>>,
    vendor: Option<String>,
    text: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

/// Watch options as the JavaScript layer sends them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Watch {
    kind: Option<String>,
    diff: Option<bool>,
    last_event_id: Option<String>,
    retry_ms: Option<u64>,
    max_retries: Option<u32>,
}

fn kind_from(name: &str) -> Option<ChangeKind> {
    ChangeKind::parse(name).or_else(|| ChangeKind::parse(&format!("thing_{name}")))
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Created => "created",
        ChangeKind::Updated => "updated",
        ChangeKind::Deleted => "deleted",
    }
}

fn event_json(event: &DirectoryEvent) -> Value {
    json!({
        "id": event.id,
        "kind": kind_name(event.kind),
        "thingId": event.thing_id,
        "data": event.data,
    })
}

/// A client of one directory.
#[napi]
pub struct NativeDirectoryClient {
    inner: DirectoryClient,
}

async fn list_json(
    future: impl std::future::Future<Output = std::result::Result<Vec<Value>, DirectoryError>>,
) -> Result<String> {
    let list = future.await.map_err(|e| directory_error(&e))?;
    encode(&Value::Array(list))
}

#[napi]
impl NativeDirectoryClient {
    /// A client of the directory at `base_url`.
    #[napi(constructor)]
    pub fn new(base_url: String) -> Result<Self> {
        let inner = DirectoryClient::new(&base_url).map_err(|e| directory_error(&e))?;
        Ok(NativeDirectoryClient { inner })
    }

    /// The directory's base URL.
    #[napi(getter)]
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// The directory's own TD (JSON text).
    #[napi]
    pub async fn describe(&self) -> Result<String> {
        let td = self
            .inner
            .describe()
            .await
            .map_err(|e| directory_error(&e))?;
        encode(&td)
    }

    /// Registers a TD (JSON text) with an optional TTL in seconds; resolves to its id.
    #[napi]
    pub async fn register(&self, td: String, ttl: Option<f64>) -> Result<String> {
        let td = parse_json(&td, "the Thing Description")?;
        let ttl = ttl_from(ttl)?;
        self.inner
            .register(&td, ttl)
            .await
            .map_err(|e| directory_error(&e))
    }

    /// Replaces a registered TD (it must have an `id`).
    #[napi]
    pub async fn update(&self, td: String, ttl: Option<f64>) -> Result<()> {
        let td = parse_json(&td, "the Thing Description")?;
        let ttl = ttl_from(ttl)?;
        self.inner
            .update(&td, ttl)
            .await
            .map_err(|e| directory_error(&e))
    }

    /// Applies a JSON merge patch (JSON text) to the TD `id`.
    #[napi]
    pub async fn patch(&self, id: String, patch: String) -> Result<()> {
        let patch = parse_json(&patch, "the merge patch")?;
        self.inner
            .patch(&id, &patch)
            .await
            .map_err(|e| directory_error(&e))
    }

    /// Deletes the TD `id`.
    #[napi]
    pub async fn delete(&self, id: String) -> Result<()> {
        self.inner
            .delete(&id)
            .await
            .map_err(|e| directory_error(&e))
    }

    /// The TD `id` (JSON text).
    #[napi]
    pub async fn get(&self, id: String) -> Result<String> {
        let td = self.inner.get(&id).await.map_err(|e| directory_error(&e))?;
        encode(&td)
    }

    /// Every registered TD (JSON text of an array).
    #[napi]
    pub async fn list(&self) -> Result<String> {
        list_json(self.inner.list()).await
    }

    /// TDs matching a query `{type, vendor, text, offset, limit}` (JSON text).
    #[napi]
    pub async fn search(&self, query: String) -> Result<String> {
        let query: Query = serde_json::from_str(&query)
            .map_err(|e| type_error(format!("bad search query: {e}")))?;
        let query = SearchQuery {
            types: query.types.unwrap_or_default(),
            vendor: query.vendor,
            text: query.text,
            offset: query.offset.unwrap_or(0),
            limit: query.limit.unwrap_or(0),
        };
        list_json(self.inner.search(&query)).await
    }

    /// TDs with this `@type` (`agent`, `tool` name `lmos:Agent`, `lmos:Tool`).
    #[napi]
    pub async fn find_type(&self, ty: String) -> Result<String> {
        list_json(self.inner.find_type(&ty)).await
    }

    /// TDs of this vendor (case-insensitive).
    #[napi]
    pub async fn find_vendor(&self, vendor: String) -> Result<String> {
        list_json(self.inner.find_vendor(&vendor)).await
    }

    /// TDs matching the words of `text`, best first.
    #[napi]
    pub async fn find_text(&self, text: String) -> Result<String> {
        list_json(self.inner.find_text(&text)).await
    }

    /// The values an RFC 9535 JSONPath expression selects from the array of all TDs.
    #[napi]
    pub async fn search_jsonpath(&self, query: String) -> Result<String> {
        list_json(self.inner.search_jsonpath(&query)).await
    }

    /// Subscribes to change events (options as JSON text); the stream resumes after dropped
    /// connections.
    #[napi]
    pub fn watch(&self, options: String) -> Result<NativeDirectoryWatch> {
        let given: Watch = serde_json::from_str(&options)
            .map_err(|e| type_error(format!("bad watch options: {e}")))?;
        let mut options = WatchOptions::default();
        if let Some(name) = given.kind {
            options.kind = Some(kind_from(&name).ok_or_else(|| {
                type_error(format!(
                    "unknown event kind {name:?} (created, updated or deleted)"
                ))
            })?);
        }
        options.diff = given.diff.unwrap_or(false);
        options.last_event_id = given.last_event_id;
        if let Some(ms) = given.retry_ms {
            options.retry = Duration::from_millis(ms);
        }
        options.max_retries = given.max_retries;
        Ok(NativeDirectoryWatch {
            stream: Arc::new(Mutex::new(Some(self.inner.watch(options)))),
            closed: watch::channel(false).0,
        })
    }
}

type Events = BoxStream<std::result::Result<DirectoryEvent, DirectoryError>>;

/// A directory's change events, pulled by JavaScript (`next`) and ended by `close`.
#[napi]
pub struct NativeDirectoryWatch {
    stream: Arc<Mutex<Option<Events>>>,
    closed: watch::Sender<bool>,
}

#[napi]
impl NativeDirectoryWatch {
    /// The next event as JSON text; `null` once closed or ended. An error ends the stream.
    #[napi]
    pub async fn next(&self) -> Result<Option<String>> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return Ok(None);
        }
        let mut guard = self.stream.lock().await;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        let item = tokio::select! {
            item = stream.next() => item,
            _ = closed.wait_for(|closed| *closed) => None,
        };
        match item {
            Some(Ok(event)) => encode(&event_json(&event)).map(Some),
            Some(Err(error)) => {
                *guard = None;
                Err(directory_error(&error))
            }
            None => {
                *guard = None;
                Ok(None)
            }
        }
    }

    /// Ends the subscription: a pending `next` resolves to `null`, the connection is closed.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.closed.send_replace(true);
        let stream = self.stream.lock().await.take();
        drop(stream);
        Ok(())
    }
}

/// A directory entry kept alive for an exposed thing.
#[napi]
pub struct NativeDirectoryRegistration {
    inner: DirectoryRegistration,
}

#[napi]
impl NativeDirectoryRegistration {
    /// The id the TD is registered under.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The directory's base URL.
    #[napi(getter)]
    pub fn directory_url(&self) -> String {
        self.inner.directory().base_url().to_string()
    }

    /// Whether the entry is still kept alive.
    #[napi(getter)]
    pub fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// Stops refreshing and deletes the entry.
    #[napi]
    pub async fn deregister(&self) -> Result<()> {
        self.inner
            .deregister()
            .await
            .map_err(|e| discovery_error(&e))
    }
}

#[napi]
impl NativeExposedThing {
    /// Registers this thing's TD in the directory at `directory_url` with `ttl` seconds and keeps
    /// it registered until deregistered or the servient shuts down.
    #[napi]
    pub async fn register(
        &self,
        directory_url: String,
        ttl: f64,
    ) -> Result<NativeDirectoryRegistration> {
        let client = DirectoryClient::new(&directory_url).map_err(|e| directory_error(&e))?;
        let ttl = ttl_from(Some(ttl))?.unwrap_or(Duration::from_secs(60));
        let inner = self
            .inner
            .register(&client, ttl)
            .await
            .map_err(|e| discovery_error(&e))?;
        Ok(NativeDirectoryRegistration { inner })
    }
}

// ----- DID-based introduction ------------------------------------------------------------------

/// The encoded form of a DID discovery error: the resolver's or directory's code when they
/// failed, else `discovery_did_*`; `service` (and `url`) name what failed.
fn did_discovery_error(error: &DidDiscoveryError) -> napi::Error {
    let details = match error {
        DidDiscoveryError::Resolution(inner) => return crate::identity::identity_error(inner),
        DidDiscoveryError::NoServices { did } => json!({"did": did}),
        DidDiscoveryError::Endpoint { service, .. } => json!({"service": service}),
        DidDiscoveryError::Fetch { service, url, .. }
        | DidDiscoveryError::NotDirectory { service, url } => {
            json!({"service": service, "url": url})
        }
        DidDiscoveryError::Directory { service, source } => {
            let mut details = match source {
                DirectoryError::NotFound { id } => json!({"id": id}),
                DirectoryError::Status { status, detail } => {
                    json!({"status": status, "detail": detail})
                }
                _ => json!({}),
            };
            details["service"] = json!(service);
            details
        }
    };
    encoded(error.code(), &error.to_string(), details)
}

/// Every thing `did` leads to through its `WotThing` and `WotDirectory` services, as JSON text
/// (`[{td, url, service, directory}]`); `resolver`: resolver options as JSON text.
#[napi]
pub async fn discover_did(did: String, resolver: String) -> Result<String> {
    let resolver = crate::identity::resolver_from(&resolver)?;
    let found = lmos::discovery::discover_did(&resolver, &did)
        .await
        .map_err(|e| did_discovery_error(&e))?;
    let list: Vec<Value> = found
        .into_iter()
        .map(|thing| {
            json!({
                "td": thing.td,
                "url": thing.url,
                "service": thing.service,
                "directory": thing.directory,
            })
        })
        .collect();
    encode(&Value::Array(list))
}

// ----- mDNS -------------------------------------------------------------------------------------

fn service_kind(name: &str) -> Result<ServiceKind> {
    match name {
        "thing" => Ok(ServiceKind::Thing),
        "directory" => Ok(ServiceKind::Directory),
        other => Err(type_error(format!(
            "unknown service kind {other:?} (thing or directory)"
        ))),
    }
}

fn found_json(found: FoundService) -> Value {
    let (td, error) = match found.td {
        Ok(td) => (td, Value::Null),
        Err(error) => (Value::Null, Value::String(error)),
    };
    json!({
        "instance": found.instance,
        "kind": match found.kind {
            ServiceKind::Thing => "thing",
            ServiceKind::Directory => "directory",
        },
        "url": found.url,
        "td": td,
        "error": error,
    })
}

/// A DNS-SD/mDNS responder and browser (its own daemon thread).
#[napi]
pub struct NativeMdns {
    inner: Arc<Mdns>,
}

#[napi]
impl NativeMdns {
    /// Starts the daemon on UDP `port` (5353 is mDNS; another port makes a private group).
    #[napi(constructor)]
    pub fn new(port: u32) -> Result<Self> {
        let port = u16::try_from(port)
            .map_err(|_| type_error(format!("{port} is not a UDP port number")))?;
        let inner = Mdns::new(MdnsOptions { port }).map_err(|e| discovery_error(&e))?;
        Ok(NativeMdns {
            inner: Arc::new(inner),
        })
    }

    /// Advertises `instance` (`kind` `thing` or `directory`) at `host:port` with its TD at
    /// `td_path`; host `0.0.0.0` advertises every interface's address.
    #[napi]
    pub fn advertise(
        &self,
        kind: String,
        instance: String,
        host: String,
        port: u32,
        td_path: String,
    ) -> Result<()> {
        let kind = service_kind(&kind)?;
        let ip: IpAddr = host
            .parse()
            .map_err(|_| type_error(format!("{host:?} is not an IP address")))?;
        let port = u16::try_from(port)
            .map_err(|_| type_error(format!("{port} is not a TCP port number")))?;
        self.inner
            .advertise(kind, &instance, SocketAddr::new(ip, port), &td_path)
            .map_err(|e| discovery_error(&e))
    }

    /// Advertises every thing a started servient hosts; how many.
    #[napi]
    pub fn advertise_servient(&self, servient: &NativeServient) -> Result<u32> {
        self.inner
            .advertise_servient(&servient.inner)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| discovery_error(&e))
    }

    /// What is found within `seconds` (JSON text: `[{instance, kind, url, td, error}]`).
    #[napi]
    pub async fn browse_for(&self, seconds: f64, kind: Option<String>) -> Result<String> {
        let kind = kind.as_deref().map(service_kind).transpose()?;
        let window = Duration::try_from_secs_f64(seconds).map_err(|_| {
            type_error(format!(
                "the browse time must be a non-negative number of seconds, not {seconds}"
            ))
        })?;
        let found = self
            .inner
            .browse_for(kind, window)
            .await
            .map_err(|e| discovery_error(&e))?;
        encode(&Value::Array(found.into_iter().map(found_json).collect()))
    }

    /// The services as they are found, pulled by JavaScript (`next`) until `close`.
    #[napi]
    pub fn browse(&self, kind: Option<String>) -> Result<NativeMdnsBrowser> {
        let kind = kind.as_deref().map(service_kind).transpose()?;
        let stream = self.inner.browse(kind).map_err(|e| discovery_error(&e))?;
        Ok(NativeMdnsBrowser {
            stream: Arc::new(Mutex::new(Some(stream))),
            closed: watch::channel(false).0,
        })
    }

    /// Withdraws every advertisement (goodbye packets) and stops the daemon.
    #[napi]
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await;
        Ok(())
    }
}

/// The services an mDNS browse finds, pulled by JavaScript (`next`) and ended by `close`.
#[napi]
pub struct NativeMdnsBrowser {
    stream: Arc<Mutex<Option<BoxStream<FoundService>>>>,
    closed: watch::Sender<bool>,
}

#[napi]
impl NativeMdnsBrowser {
    /// The next service found as JSON text; `null` once closed.
    #[napi]
    pub async fn next(&self) -> Result<Option<String>> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow() {
            return Ok(None);
        }
        let mut guard = self.stream.lock().await;
        let Some(stream) = guard.as_mut() else {
            return Ok(None);
        };
        let item = tokio::select! {
            item = stream.next() => item,
            _ = closed.wait_for(|closed| *closed) => None,
        };
        match item {
            Some(found) => encode(&found_json(found)).map(Some),
            None => {
                *guard = None;
                Ok(None)
            }
        }
    }

    /// Stops browsing: a pending `next` resolves to `null`.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.closed.send_replace(true);
        let stream = self.stream.lock().await.take();
        drop(stream);
        Ok(())
    }
}
