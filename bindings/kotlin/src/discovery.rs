//! Discovery (`lmos::discovery`): a Thing Description Directory served from the JVM, the
//! `DirectoryClient` (register, read, search, watch), `ExposedThing.register` and DNS-SD over
//! mDNS. TDs, queries and events cross as JSON text; TTLs are whole seconds, as in a TD's
//! `registration.ttl`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lmos::discovery::{
    ChangeKind, Directory, DirectoryClient, DirectoryError, DirectoryEvent, DirectoryRegistration,
    DirectorySettings, DiscoveryError, FoundService, Mdns, MdnsOptions, PutOutcome,
    RunningDirectory, SearchQuery, ServiceKind, WatchOptions,
};
use lmos::thing::handler::BoxStream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{watch, Mutex};

use crate::errors::{encode, parse_json, type_error, NativeError};
use crate::runtime::run;
use crate::serve::{NativeExposedThing, NativeServient};

/// The encoded form of a directory error, with its fields as details.
pub fn directory_error(error: &DirectoryError) -> NativeError {
    let details = match error {
        DirectoryError::NotFound { id } => json!({"id": id}),
        DirectoryError::Status { status, detail } => json!({"status": status, "detail": detail}),
        _ => json!({}),
    };
    NativeError::with_details(error.code(), error.to_string(), details)
}

/// The encoded form of a discovery error.
pub fn discovery_error(error: &DiscoveryError) -> NativeError {
    match error {
        DiscoveryError::Directory(error) => directory_error(error),
        other => NativeError::new(other.code(), other.to_string()),
    }
}

/// A time-to-live in whole seconds, at least one (`None`: the entry does not expire).
fn ttl_from(seconds: Option<u64>) -> Result<Option<Duration>, NativeError> {
    match seconds {
        None => Ok(None),
        Some(0) => Err(type_error("the time-to-live must be at least one second")),
        Some(s) => Ok(Some(Duration::from_secs(s))),
    }
}

fn options<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, NativeError> {
    serde_json::from_str(text).map_err(|e| type_error(format!("bad {what}: {e}")))
}

/// Directory server options as the Kotlin layer sends them.
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
    purge_interval_ms: Option<u64>,
}

/// Opens the store named by `options.db` (`sqlite:PATH`, a path, or `postgres://…`) and serves
/// the directory API; returns once it listens.
#[uniffi::export]
pub async fn start_directory(options: String) -> Result<Arc<NativeDirectoryServer>, NativeError> {
    let options: ServerOptions = self::options(&options, "directory options")?;
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
    if let Some(ms) = options.purge_interval_ms {
        if ms == 0 {
            return Err(type_error("the purge interval must be above zero"));
        }
        settings.purge_interval = Duration::from_millis(ms);
    }
    let (db, port) = (options.db, options.port.unwrap_or(0));
    run(async move {
        let store = lmos::discovery::open_store(&db)
            .await
            .map_err(|e| directory_error(&e))?;
        let running = Directory::with_settings(store, settings)
            .start(SocketAddr::new(host, port))
            .await
            .map_err(|e| directory_error(&e))?;
        Ok(Arc::new(NativeDirectoryServer {
            base_url: running.base_url().to_owned(),
            address: running.address().to_string(),
            running: Arc::new(Mutex::new(Some(running))),
        }))
    })
    .await
}

/// A directory listening on a port.
#[derive(uniffi::Object)]
pub struct NativeDirectoryServer {
    base_url: String,
    address: String,
    running: Arc<Mutex<Option<RunningDirectory>>>,
}

#[uniffi::export]
impl NativeDirectoryServer {
    /// `http://host:port/` (or the public base URL).
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The bound address (`host:port`).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Stops listening and ends open event streams; a second call does nothing.
    pub async fn stop(&self) -> Result<(), NativeError> {
        let running = self.running.clone();
        run(async move {
            let running = running.lock().await.take();
            if let Some(running) = running {
                running.shutdown().await;
            }
            Ok(())
        })
        .await
    }
}

/// Search criteria as the Kotlin layer sends them.
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

/// Watch options as the Kotlin layer sends them.
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

async fn list_json(
    future: impl std::future::Future<Output = Result<Vec<Value>, DirectoryError>>,
) -> Result<String, NativeError> {
    let list = future.await.map_err(|e| directory_error(&e))?;
    encode(&Value::Array(list))
}

/// A client of one directory.
#[derive(uniffi::Object)]
pub struct NativeDirectoryClient {
    inner: DirectoryClient,
}

#[uniffi::export]
impl NativeDirectoryClient {
    /// A client of the directory at `base_url`.
    #[uniffi::constructor]
    pub fn new(base_url: String) -> Result<Arc<Self>, NativeError> {
        let inner = DirectoryClient::new(&base_url).map_err(|e| directory_error(&e))?;
        Ok(Arc::new(NativeDirectoryClient { inner }))
    }

    /// The directory's base URL.
    pub fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// The directory's own TD (JSON text).
    pub async fn describe(&self) -> Result<String, NativeError> {
        let client = self.inner.clone();
        run(async move {
            let td = client.describe().await.map_err(|e| directory_error(&e))?;
            encode(&td)
        })
        .await
    }

    /// Registers a TD (JSON text) with an optional TTL in seconds; returns its id (the
    /// directory's for an anonymous TD).
    pub async fn register(&self, td: String, ttl: Option<u64>) -> Result<String, NativeError> {
        let td = parse_json(&td, "the Thing Description")?;
        let (client, ttl) = (self.inner.clone(), ttl_from(ttl)?);
        run(async move {
            client
                .register(&td, ttl)
                .await
                .map_err(|e| directory_error(&e))
        })
        .await
    }

    /// Creates or replaces the TD at `id` (JSON text); whether it was created.
    pub async fn put(&self, id: String, td: String, ttl: Option<u64>) -> Result<bool, NativeError> {
        let td = parse_json(&td, "the Thing Description")?;
        let (client, ttl) = (self.inner.clone(), ttl_from(ttl)?);
        run(async move {
            let outcome = client
                .put(&id, &td, ttl)
                .await
                .map_err(|e| directory_error(&e))?;
            Ok(matches!(outcome, PutOutcome::Created))
        })
        .await
    }

    /// Replaces a registered TD (it must have an `id`).
    pub async fn update(&self, td: String, ttl: Option<u64>) -> Result<(), NativeError> {
        let td = parse_json(&td, "the Thing Description")?;
        let (client, ttl) = (self.inner.clone(), ttl_from(ttl)?);
        run(async move {
            client
                .update(&td, ttl)
                .await
                .map_err(|e| directory_error(&e))
        })
        .await
    }

    /// Applies a JSON merge patch (JSON text) to the TD `id`.
    pub async fn patch(&self, id: String, patch: String) -> Result<(), NativeError> {
        let patch = parse_json(&patch, "the merge patch")?;
        let client = self.inner.clone();
        run(async move {
            client
                .patch(&id, &patch)
                .await
                .map_err(|e| directory_error(&e))
        })
        .await
    }

    /// Deletes the TD `id`.
    pub async fn delete(&self, id: String) -> Result<(), NativeError> {
        let client = self.inner.clone();
        run(async move { client.delete(&id).await.map_err(|e| directory_error(&e)) }).await
    }

    /// The TD `id` with its `registration` member (JSON text).
    pub async fn get(&self, id: String) -> Result<String, NativeError> {
        let client = self.inner.clone();
        run(async move {
            let td = client.get(&id).await.map_err(|e| directory_error(&e))?;
            encode(&td)
        })
        .await
    }

    /// Every registered TD (JSON text of an array; follows every page).
    pub async fn list(&self) -> Result<String, NativeError> {
        let client = self.inner.clone();
        run(async move { list_json(client.list()).await }).await
    }

    /// TDs matching a query `{type, vendor, text, offset, limit}` (JSON text).
    pub async fn search(&self, query: String) -> Result<String, NativeError> {
        let query: Query = options(&query, "search query")?;
        let query = SearchQuery {
            types: query.types.unwrap_or_default(),
            vendor: query.vendor,
            text: query.text,
            offset: query.offset.unwrap_or(0),
            limit: query.limit.unwrap_or(0),
        };
        let client = self.inner.clone();
        run(async move { list_json(client.search(&query)).await }).await
    }

    /// The values an RFC 9535 JSONPath expression selects from the array of all TDs.
    pub async fn search_jsonpath(&self, query: String) -> Result<String, NativeError> {
        let client = self.inner.clone();
        run(async move { list_json(client.search_jsonpath(&query)).await }).await
    }

    /// Subscribes to change events (options as JSON text); the stream resumes after dropped
    /// connections. It connects when first pulled.
    pub fn watch(&self, options: String) -> Result<Arc<NativeDirectoryWatch>, NativeError> {
        let given: Watch = self::options(&options, "watch options")?;
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
        Ok(Arc::new(NativeDirectoryWatch {
            stream: Arc::new(Mutex::new(Some(self.inner.watch(options)))),
            closed: watch::channel(false).0,
        }))
    }
}

type Events = BoxStream<Result<DirectoryEvent, DirectoryError>>;

/// A directory's change events, pulled by Kotlin (`next`) and ended by `end`.
#[derive(uniffi::Object)]
pub struct NativeDirectoryWatch {
    stream: Arc<Mutex<Option<Events>>>,
    closed: watch::Sender<bool>,
}

#[uniffi::export]
impl NativeDirectoryWatch {
    /// The next event as JSON text; `None` once ended. An error ends the stream.
    pub async fn next(&self) -> Result<Option<String>, NativeError> {
        let stream = self.stream.clone();
        let mut closed = self.closed.subscribe();
        run(async move {
            if *closed.borrow() {
                return Ok(None);
            }
            let mut guard = stream.lock().await;
            let Some(events) = guard.as_mut() else {
                return Ok(None);
            };
            let item = tokio::select! {
                item = events.next() => item,
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
        })
        .await
    }

    /// Ends the subscription: a pending `next` returns `None`, the connection is closed.
    pub fn end(&self) {
        self.closed.send_replace(true);
        let stream = self.stream.clone();
        if let Ok(handle) = crate::runtime::handle() {
            handle.spawn(async move {
                drop(stream.lock().await.take());
            });
        }
    }
}

/// A directory entry kept alive for an exposed thing.
#[derive(uniffi::Object)]
pub struct NativeDirectoryRegistration {
    inner: DirectoryRegistration,
}

#[uniffi::export]
impl NativeDirectoryRegistration {
    /// The id the TD is registered under.
    pub fn id(&self) -> String {
        self.inner.id().to_owned()
    }

    /// The directory's base URL.
    pub fn directory_url(&self) -> String {
        self.inner.directory().base_url().to_string()
    }

    /// Whether the entry is still kept alive.
    pub fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// Stops refreshing and deletes the entry.
    pub async fn deregister(&self) -> Result<(), NativeError> {
        let registration = self.inner.clone();
        run(async move {
            registration
                .deregister()
                .await
                .map_err(|e| discovery_error(&e))
        })
        .await
    }
}

#[uniffi::export]
impl NativeExposedThing {
    /// Registers this thing's TD (as served) in the directory at `directory_url` with `ttl`
    /// seconds and refreshes it every `ttl / 2` until deregistered or the servient shuts down.
    pub async fn register(
        &self,
        directory_url: String,
        ttl: u64,
    ) -> Result<Arc<NativeDirectoryRegistration>, NativeError> {
        let client = DirectoryClient::new(&directory_url).map_err(|e| directory_error(&e))?;
        let ttl = ttl_from(Some(ttl))?.unwrap_or(Duration::from_secs(60));
        let thing = self.inner.clone();
        run(async move {
            let inner = thing
                .register(&client, ttl)
                .await
                .map_err(|e| discovery_error(&e))?;
            Ok(Arc::new(NativeDirectoryRegistration { inner }))
        })
        .await
    }
}

// ----- DNS-SD over mDNS -------------------------------------------------------------------------

fn service_kind(name: &str) -> Result<ServiceKind, NativeError> {
    match name {
        "thing" | "Thing" => Ok(ServiceKind::Thing),
        "directory" | "Directory" => Ok(ServiceKind::Directory),
        other => Err(type_error(format!(
            "unknown service kind {other:?} (thing or directory)"
        ))),
    }
}

fn found_json(found: &FoundService) -> Value {
    let (td, error) = match &found.td {
        Ok(td) => (td.clone(), Value::Null),
        Err(reason) => (Value::Null, Value::String(reason.clone())),
    };
    json!({
        "instance": found.instance,
        "kind": match found.kind { ServiceKind::Thing => "thing", ServiceKind::Directory => "directory" },
        "url": found.url,
        "td": td,
        "error": error,
    })
}

fn socket_address(text: &str) -> Result<SocketAddr, NativeError> {
    text.parse()
        .map_err(|e| type_error(format!("{text:?} is not a host:port address: {e}")))
}

/// An mDNS responder and browser (its own daemon thread). Advertisements end with `shutdown`.
#[derive(uniffi::Object)]
pub struct NativeMdns {
    inner: Arc<Mdns>,
}

#[uniffi::export]
impl NativeMdns {
    /// Starts the daemon on UDP `port` (5353 is mDNS; another port makes a private group).
    #[uniffi::constructor]
    pub fn new(port: u16) -> Result<Arc<Self>, NativeError> {
        let _runtime = crate::runtime::handle()?.enter();
        let inner = Mdns::new(MdnsOptions { port }).map_err(|e| discovery_error(&e))?;
        Ok(Arc::new(NativeMdns {
            inner: Arc::new(inner),
        }))
    }

    /// Advertises one service (`kind` is `thing` or `directory`) at `address` (`host:port`)
    /// with its TD at `td_path`.
    pub fn advertise(
        &self,
        kind: String,
        instance: String,
        address: String,
        td_path: String,
    ) -> Result<(), NativeError> {
        let kind = service_kind(&kind)?;
        let address = socket_address(&address)?;
        self.inner
            .advertise(kind, &instance, address, &td_path)
            .map_err(|e| discovery_error(&e))
    }

    /// Advertises every thing a started servient hosts; returns how many.
    pub fn advertise_servient(&self, servient: Arc<NativeServient>) -> Result<u32, NativeError> {
        let count = self
            .inner
            .advertise_servient(servient.core())
            .map_err(|e| discovery_error(&e))?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Advertises a running directory (its TD is at `/`) as `instance`.
    pub fn advertise_directory(
        &self,
        instance: String,
        directory: Arc<NativeDirectoryServer>,
    ) -> Result<(), NativeError> {
        let address = socket_address(&directory.address)?;
        self.inner
            .advertise(ServiceKind::Directory, &instance, address, "/")
            .map_err(|e| discovery_error(&e))
    }

    /// Services of `kind` (`None`: things and directories) as they are resolved, each with its
    /// TD fetched (`{instance, kind, url, td, error}`). The stream does not end by itself.
    pub fn browse(&self, kind: Option<String>) -> Result<Arc<NativeServiceStream>, NativeError> {
        let kind = kind.as_deref().map(service_kind).transpose()?;
        let _runtime = crate::runtime::handle()?.enter();
        let stream = self.inner.browse(kind).map_err(|e| discovery_error(&e))?;
        Ok(Arc::new(NativeServiceStream {
            stream: Arc::new(Mutex::new(Some(stream))),
            closed: watch::channel(false).0,
        }))
    }

    /// Withdraws every advertisement (goodbye packets) and stops the daemon.
    pub async fn shutdown(&self) -> Result<(), NativeError> {
        let mdns = self.inner.clone();
        run(async move {
            mdns.shutdown().await;
            Ok(())
        })
        .await
    }
}

/// Services found by mDNS, pulled by Kotlin (`next`) and ended by `end`.
#[derive(uniffi::Object)]
pub struct NativeServiceStream {
    stream: Arc<Mutex<Option<BoxStream<FoundService>>>>,
    closed: watch::Sender<bool>,
}

#[uniffi::export]
impl NativeServiceStream {
    /// The next service found (JSON text); `None` once ended.
    pub async fn next(&self) -> Result<Option<String>, NativeError> {
        let stream = self.stream.clone();
        let mut closed = self.closed.subscribe();
        run(async move {
            if *closed.borrow() {
                return Ok(None);
            }
            let mut guard = stream.lock().await;
            let Some(found) = guard.as_mut() else {
                return Ok(None);
            };
            let item = tokio::select! {
                item = found.next() => item,
                _ = closed.wait_for(|closed| *closed) => None,
            };
            match item {
                Some(found) => encode(&found_json(&found)).map(Some),
                None => {
                    *guard = None;
                    Ok(None)
                }
            }
        })
        .await
    }

    /// Stops browsing: a pending `next` returns `None`.
    pub fn end(&self) {
        self.closed.send_replace(true);
        let stream = self.stream.clone();
        if let Ok(handle) = crate::runtime::handle() {
            handle.spawn(async move {
                drop(stream.lock().await.take());
            });
        }
    }
}

// ----- DID-based introduction ------------------------------------------------------------------

fn did_discovery_error(error: &lmos::discovery::DidDiscoveryError) -> NativeError {
    NativeError::with_details(
        error.code(),
        error.to_string(),
        json!({"service": error.service()}),
    )
}

/// Every thing `did` leads to through its `WotThing` and `WotDirectory` services: JSON text of
/// `[{"td", "url", "service", "directory"}]` (resolver options as JSON text).
#[uniffi::export]
pub async fn discover_did(did: String, resolver: String) -> Result<String, NativeError> {
    let resolver = crate::identity::resolver_from(&resolver)?;
    run(async move {
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
        encode(&list)
    })
    .await
}
