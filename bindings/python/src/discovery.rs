//! Discovery from Python: a directory server (`DirectoryServer`), its client (`DirectoryClient`,
//! with `watch` as an async iterator of change events) and the registration an exposed thing
//! keeps alive (`DirectoryRegistration`), DNS-SD/mDNS advertising and browsing (`Mdns`) and
//! DID-based introduction (`discover_did`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use lmos::discovery::{
    ChangeKind, DidDiscoveryError, Directory, DirectoryError, DirectoryEvent, DirectorySettings,
    DiscoveryError, FoundService, MdnsOptions, SearchQuery, ServiceKind, WatchOptions,
};
use lmos::thing::BoxStream;

use crate::bridge::{attach_alive, stop_iteration};
use crate::convert::{to_json, to_py};
use crate::errors::{directory_error, discovery_error, identity_error, in_future};

/// A directory error, raised from inside a future.
fn raise(error: DirectoryError) -> PyErr {
    let message = error.to_string();
    in_future(|py| directory_error(py, &error), message)
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

/// A time-to-live in whole seconds (the directory API's unit), at least one.
fn ttl(value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 1.0 => Ok(Some(Duration::from_secs(t as u64))),
        Some(_) => Err(PyValueError::new_err(
            "ttl must be a number of seconds, at least 1",
        )),
    }
}

/// Runs `future` as an awaitable, converting its value for Python.
fn awaitable<'py, F, T>(
    py: Python<'py>,
    future: F,
    convert: impl for<'a> FnOnce(Python<'a>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: std::future::Future<Output = Result<T, DirectoryError>> + Send + 'static,
    T: Send + 'static,
{
    crate::bridge::future_into_py(py, async move {
        let value = future.await.map_err(raise)?;
        attach_alive(|py| convert(py, value)).unwrap_or_else(|| Err(exiting()))
    })
}

fn exiting() -> PyErr {
    crate::errors::Closed::new_err("the Python interpreter is shutting down")
}

fn json_out(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(to_py(py, &value)?.unbind())
}

fn list_out(py: Python<'_>, values: Vec<Value>) -> PyResult<Py<PyAny>> {
    json_out(py, Value::Array(values))
}

fn none_out(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn kind_from(name: &str) -> PyResult<ChangeKind> {
    let full = if name.starts_with("thing_") {
        name.to_owned()
    } else {
        format!("thing_{name}")
    };
    ChangeKind::parse(&full).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown event kind {name:?}: use \"created\", \"updated\" or \"deleted\""
        ))
    })
}

fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Created => "created",
        ChangeKind::Updated => "updated",
        ChangeKind::Deleted => "deleted",
    }
}

/// A Thing Description Directory served by this process.
#[pyclass(module = "lmos._native", frozen)]
pub struct DirectoryServer {
    running: Arc<Mutex<Option<lmos::discovery::RunningDirectory>>>,
    base_url: String,
    address: (String, u16),
}

#[pymethods]
impl DirectoryServer {
    /// Opens the store `db` and serves the directory API on `host:port` (awaitable).
    #[staticmethod]
    #[pyo3(signature = (db, *, host="127.0.0.1", port=8081, public_url=None, max_ttl=None, default_page=None, max_page=None, purge_interval=None))]
    #[allow(clippy::too_many_arguments)]
    fn start<'py>(
        py: Python<'py>,
        db: String,
        host: &str,
        port: u16,
        public_url: Option<String>,
        max_ttl: Option<u64>,
        default_page: Option<u64>,
        max_page: Option<u64>,
        purge_interval: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let host: IpAddr = host
            .parse()
            .map_err(|_| PyValueError::new_err(format!("{host:?} is not an IP address")))?;
        let mut settings = DirectorySettings {
            public_base_url: public_url,
            max_ttl,
            ..DirectorySettings::default()
        };
        if let Some(page) = default_page {
            settings.default_page = page;
        }
        if let Some(page) = max_page {
            settings.max_page = page;
        }
        if let Some(interval) = purge_interval {
            settings.purge_interval = seconds(interval, "purge_interval")?;
            if settings.purge_interval.is_zero() {
                return Err(PyValueError::new_err("purge_interval must be above zero"));
            }
        }
        awaitable(
            py,
            async move {
                let store = lmos::discovery::open_store(&db).await?;
                let directory = Directory::with_settings(store, settings);
                directory.start(SocketAddr::new(host, port)).await
            },
            |py, running| {
                let address = running.address();
                let server = DirectoryServer {
                    base_url: running.base_url().to_owned(),
                    address: (address.ip().to_string(), address.port()),
                    running: Arc::new(Mutex::new(Some(running))),
                };
                Ok(Py::new(py, server)?.into_any())
            },
        )
    }

    /// The URL clients reach the directory at (`http://host:port/`).
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `(host, port)` the directory listens on.
    #[getter]
    fn address(&self) -> (String, u16) {
        self.address.clone()
    }

    /// Stops serving: no new connections, open event streams end (awaitable).
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        crate::bridge::future_into_py(py, async move {
            let running = running.lock().await.take();
            if let Some(running) = running {
                running.shutdown().await;
            }
            Ok(())
        })
    }
}

/// A client of one directory.
#[pyclass(module = "lmos._native", frozen)]
pub struct DirectoryClient {
    pub(crate) inner: lmos::discovery::DirectoryClient,
}

#[pymethods]
impl DirectoryClient {
    /// A client of the directory at `base_url`.
    #[new]
    fn new(py: Python<'_>, base_url: &str) -> PyResult<Self> {
        let inner =
            lmos::discovery::DirectoryClient::new(base_url).map_err(|e| directory_error(py, &e))?;
        Ok(DirectoryClient { inner })
    }

    /// The directory's base URL.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url().to_string()
    }

    /// The directory's own Thing Description (awaitable dict).
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.describe().await }, json_out)
    }

    /// Registers a TD (PUT to its `id`, POST when it has none); the id it is stored under.
    #[pyo3(signature = (td, ttl=None))]
    fn register<'py>(
        &self,
        td: &Bound<'py, PyAny>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = td.py();
        let td = to_json(td)?;
        let ttl = self::ttl(ttl)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.register(&td, ttl).await },
            |py, id| Ok(id.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// Creates or replaces the TD under `id`; whether it was created (awaitable bool).
    #[pyo3(signature = (id, td, ttl=None))]
    fn put<'py>(
        &self,
        id: String,
        td: &Bound<'py, PyAny>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = td.py();
        let td = to_json(td)?;
        let ttl = self::ttl(ttl)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.put(&id, &td, ttl).await },
            |py, outcome| {
                let created = outcome == lmos::discovery::PutOutcome::Created;
                Ok(pyo3::types::PyBool::new(py, created)
                    .to_owned()
                    .into_any()
                    .unbind())
            },
        )
    }

    /// Replaces a registered TD (it must have an `id`).
    #[pyo3(signature = (td, ttl=None))]
    fn update<'py>(&self, td: &Bound<'py, PyAny>, ttl: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let py = td.py();
        let td = to_json(td)?;
        let ttl = self::ttl(ttl)?;
        let inner = self.inner.clone();
        awaitable(py, async move { inner.update(&td, ttl).await }, none_out)
    }

    /// Applies a JSON merge patch (RFC 7396) to the TD `id`.
    fn patch<'py>(&self, id: String, patch: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = patch.py();
        let patch = to_json(patch)?;
        let inner = self.inner.clone();
        awaitable(py, async move { inner.patch(&id, &patch).await }, none_out)
    }

    /// Deletes the TD `id`.
    fn delete<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.delete(&id).await }, none_out)
    }

    /// The TD `id` with its `registration` member.
    fn get<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.get(&id).await }, json_out)
    }

    /// Every registered TD (following every page).
    fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.list().await }, list_out)
    }

    /// TDs matching every given criterion: `types` (`agent`, `tool` or any `@type`), `vendor`,
    /// `text` (ranked best first), with `offset` and `limit`.
    #[pyo3(signature = (*, types=None, vendor=None, text=None, offset=0, limit=0))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        types: Option<Vec<String>>,
        vendor: Option<String>,
        text: Option<String>,
        offset: u64,
        limit: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = SearchQuery {
            types: types.unwrap_or_default(),
            vendor,
            text,
            offset,
            limit,
        };
        let inner = self.inner.clone();
        awaitable(py, async move { inner.search(&query).await }, list_out)
    }

    /// The values an RFC 9535 JSONPath expression selects from the array of all TDs.
    fn search_jsonpath<'py>(&self, py: Python<'py>, query: String) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.search_jsonpath(&query).await },
            list_out,
        )
    }

    /// The change events as an async iterator that reconnects and resumes after the last event
    /// it saw. `kind`: `"created"`, `"updated"` or `"deleted"` (default: all).
    #[pyo3(signature = (*, kind=None, diff=false, last_event_id=None, retry=0.5, max_retries=None))]
    fn watch(
        &self,
        kind: Option<String>,
        diff: bool,
        last_event_id: Option<String>,
        retry: f64,
        max_retries: Option<u32>,
    ) -> PyResult<DirectoryEventIterator> {
        let options = WatchOptions {
            kind: kind.as_deref().map(kind_from).transpose()?,
            diff,
            last_event_id,
            retry: seconds(retry, "retry")?,
            max_retries,
        };
        Ok(DirectoryEventIterator {
            stream: Arc::new(Mutex::new(Some(self.inner.watch(options)))),
        })
    }
}

type EventStream = BoxStream<Result<DirectoryEvent, DirectoryError>>;

/// An async iterator over a directory's change events, each a dict
/// `{"event_id", "kind", "thing_id", "data"}`.
#[pyclass(module = "lmos._native", frozen)]
pub struct DirectoryEventIterator {
    stream: Arc<Mutex<Option<EventStream>>>,
}

#[pymethods]
impl DirectoryEventIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            let mut guard = stream.lock().await;
            let Some(events) = guard.as_mut() else {
                return Err(stop_iteration());
            };
            let event = match events.next().await {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    *guard = None;
                    return Err(raise(error));
                }
                None => {
                    *guard = None;
                    return Err(stop_iteration());
                }
            };
            drop(guard);
            let value = json!({
                "event_id": event.id,
                "kind": kind_name(event.kind),
                "thing_id": event.thing_id,
                "data": event.data,
            });
            attach_alive(|py| json_out(py, value)).unwrap_or_else(|| Err(exiting()))
        })
    }

    /// Stops watching (closes the connection); the iterator then ends.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            stream.lock().await.take();
            Ok(())
        })
    }
}

/// A directory entry an exposed thing keeps alive.
#[pyclass(module = "lmos._native", frozen)]
pub struct DirectoryRegistration {
    inner: lmos::discovery::DirectoryRegistration,
}

#[pymethods]
impl DirectoryRegistration {
    /// The id the TD is registered under.
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }

    /// The directory's base URL.
    #[getter]
    fn directory_url(&self) -> String {
        self.inner.directory().base_url().to_string()
    }

    /// Whether the entry is still kept alive.
    #[getter]
    fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// Stops refreshing and deletes the entry (awaitable).
    fn deregister<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            inner.deregister().await.map_err(|error| {
                let message = error.to_string();
                in_future(|py| discovery_error(py, &error), message)
            })
        })
    }
}

/// `ExposedThing.register`: registers `thing` in `directory` with `ttl` seconds and keeps it
/// registered until deregistered or the servient shuts down (awaitable registration).
pub fn register_thing<'py>(
    py: Python<'py>,
    thing: lmos::thing::ExposedThing,
    directory: &DirectoryClient,
    ttl_seconds: f64,
) -> PyResult<Bound<'py, PyAny>> {
    if !ttl_seconds.is_finite() || ttl_seconds < 1.0 {
        return Err(PyValueError::new_err(
            "ttl must be a number of seconds, at least 1",
        ));
    }
    let ttl = Duration::from_secs(ttl_seconds as u64);
    let client = directory.inner.clone();
    crate::bridge::future_into_py(py, async move {
        let inner = thing.register(&client, ttl).await.map_err(|error| {
            let message = error.to_string();
            in_future(|py| discovery_error(py, &error), message)
        })?;
        attach_alive(|py| Ok(Py::new(py, DirectoryRegistration { inner })?.into_any()))
            .unwrap_or_else(|| Err(exiting()))
    })
}

// ----- DID-based introduction ------------------------------------------------------------------

/// The Python exception for a DID discovery error: the resolver's `IdentityError` subclass, the
/// directory's `DirectoryError` subclass, else `DirectoryError` itself; always with `code`.
fn did_discovery_error(py: Python<'_>, error: &DidDiscoveryError) -> PyErr {
    let err = match error {
        DidDiscoveryError::Resolution(inner) => return identity_error(py, inner),
        DidDiscoveryError::Directory { source, .. } => {
            let err = directory_error(py, source);
            // The message names the service that led to the directory.
            let _ = err.value(py).setattr("service", service_of(error));
            return err;
        }
        _ => crate::errors::DirectoryError::new_err(error.to_string()),
    };
    let _ = err.value(py).setattr("code", error.code());
    let _ = err.value(py).setattr("service", service_of(error));
    err
}

fn service_of(error: &DidDiscoveryError) -> Option<String> {
    error.service().map(str::to_owned)
}

/// Every thing `did` leads to through its `WotThing` and `WotDirectory` services (awaitable list
/// of `{"td", "url", "service", "directory"}`).
#[pyfunction]
#[pyo3(signature = (did, resolver=None))]
fn discover_did<'py>(
    py: Python<'py>,
    did: String,
    resolver: Option<PyRef<'py, crate::identity::DidResolver>>,
) -> PyResult<Bound<'py, PyAny>> {
    let resolver = resolver.map(|r| r.inner.clone()).unwrap_or_default();
    crate::bridge::future_into_py(py, async move {
        let found = lmos::discovery::discover_did(&resolver, &did)
            .await
            .map_err(|error| {
                let message = error.to_string();
                in_future(|py| did_discovery_error(py, &error), message)
            })?;
        let value = Value::Array(
            found
                .into_iter()
                .map(|thing| {
                    json!({
                        "td": thing.td,
                        "url": thing.url,
                        "service": thing.service,
                        "directory": thing.directory,
                    })
                })
                .collect(),
        );
        attach_alive(|py| json_out(py, value)).unwrap_or_else(|| Err(exiting()))
    })
}

// ----- mDNS -------------------------------------------------------------------------------------

fn mdns_raise(error: DiscoveryError) -> PyErr {
    let message = error.to_string();
    in_future(|py| discovery_error(py, &error), message)
}

fn service_kind(name: &str) -> PyResult<ServiceKind> {
    match name {
        "thing" | "Thing" => Ok(ServiceKind::Thing),
        "directory" | "Directory" => Ok(ServiceKind::Directory),
        other => Err(PyValueError::new_err(format!(
            "unknown service kind {other:?}: use \"thing\" or \"directory\""
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
#[pyclass(module = "lmos._native", frozen)]
pub struct Mdns {
    inner: Arc<lmos::discovery::Mdns>,
}

#[pymethods]
impl Mdns {
    /// Starts the daemon on UDP `port` (5353 is mDNS; another port makes a private group).
    #[new]
    #[pyo3(signature = (*, port=5353))]
    fn new(py: Python<'_>, port: u16) -> PyResult<Self> {
        let inner = lmos::discovery::Mdns::new(MdnsOptions { port })
            .map_err(|e| discovery_error(py, &e))?;
        Ok(Mdns {
            inner: Arc::new(inner),
        })
    }

    /// Advertises `instance` (`kind` `"thing"` or `"directory"`) at `host:port` with its TD at
    /// `td_path`; host `0.0.0.0` advertises every interface's address.
    fn advertise(
        &self,
        py: Python<'_>,
        kind: &str,
        instance: &str,
        host: &str,
        port: u16,
        td_path: &str,
    ) -> PyResult<()> {
        let kind = service_kind(kind)?;
        let ip: IpAddr = host
            .parse()
            .map_err(|_| PyValueError::new_err(format!("{host:?} is not an IP address")))?;
        self.inner
            .advertise(kind, instance, SocketAddr::new(ip, port), td_path)
            .map_err(|e| discovery_error(py, &e))
    }

    /// What is found within `timeout` seconds (awaitable list of `{"instance", "kind", "url",
    /// "td", "error"}`).
    #[pyo3(signature = (timeout, kind=None))]
    fn browse_for<'py>(
        &self,
        py: Python<'py>,
        timeout: f64,
        kind: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kind = kind.map(service_kind).transpose()?;
        let window = seconds(timeout, "timeout")?;
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            let found = inner.browse_for(kind, window).await.map_err(mdns_raise)?;
            let value = Value::Array(found.into_iter().map(found_json).collect());
            attach_alive(|py| json_out(py, value)).unwrap_or_else(|| Err(exiting()))
        })
    }

    /// The services found, as an async iterator that does not end by itself.
    #[pyo3(signature = (kind=None))]
    fn browse(&self, py: Python<'_>, kind: Option<&str>) -> PyResult<MdnsBrowser> {
        let kind = kind.map(service_kind).transpose()?;
        let stream = self
            .inner
            .browse(kind)
            .map_err(|e| discovery_error(py, &e))?;
        Ok(MdnsBrowser {
            stream: Arc::new(Mutex::new(Some(stream))),
        })
    }

    /// Withdraws every advertisement (goodbye packets) and stops the daemon (awaitable).
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            inner.shutdown().await;
            Ok(())
        })
    }
}

/// An async iterator over the services an [`Mdns`] browse finds.
#[pyclass(module = "lmos._native", frozen)]
pub struct MdnsBrowser {
    stream: Arc<Mutex<Option<BoxStream<FoundService>>>>,
}

#[pymethods]
impl MdnsBrowser {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            let mut guard = stream.lock().await;
            let Some(found) = guard.as_mut() else {
                return Err(stop_iteration());
            };
            let Some(found) = found.next().await else {
                *guard = None;
                return Err(stop_iteration());
            };
            drop(guard);
            let value = found_json(found);
            attach_alive(|py| json_out(py, value)).unwrap_or_else(|| Err(exiting()))
        })
    }

    /// Stops browsing; the iterator then ends.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            stream.lock().await.take();
            Ok(())
        })
    }
}

/// Registers the discovery classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(discover_did, m)?)?;
    m.add_class::<Mdns>()?;
    m.add_class::<MdnsBrowser>()?;
    m.add_class::<DirectoryServer>()?;
    m.add_class::<DirectoryClient>()?;
    m.add_class::<DirectoryEventIterator>()?;
    m.add_class::<DirectoryRegistration>()?;
    Ok(())
}
