//! Consuming from Python: `ConsumedThing`, `ActionHandle` and the async iterators over
//! observations, event subscriptions and action updates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use lmos::thing::{
    ActionUpdate, ActionUpdates, BoxStream, ConsumeOptions, ThingError, ValueStream,
};

use crate::bridge::{attach_alive, stop_iteration};
use crate::convert::{to_json, to_py};
use crate::errors::{thing_error, to_pyerr};
use crate::serve::current_trace;
use crate::td::thing_from;

/// Runs `future` on the Tokio runtime as a Python awaitable, inside the trace of the handler that
/// awaits it (if any), converting its value for Python.
fn awaitable<'py, F, T>(
    py: Python<'py>,
    future: F,
    convert: impl for<'a> FnOnce(Python<'a>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, ThingError>> + Send + 'static,
    T: Send + 'static,
{
    let trace = current_trace(py);
    crate::bridge::future_into_py(py, async move {
        let result = match trace {
            Some(trace) => lmos::trace::scope(trace, future).await,
            None => future.await,
        };
        let value = result.map_err(to_pyerr)?;
        attach_alive(|py| convert(py, value)).unwrap_or_else(|| Err(exiting()))
    })
}

/// The error for a result that arrives while the interpreter shuts down (nobody will see it).
fn exiting() -> PyErr {
    crate::errors::Closed::new_err("the Python interpreter is shutting down")
}

fn json_out(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(to_py(py, &value)?.unbind())
}

fn none_out(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn input_value(input: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    match input {
        None => Ok(Value::Null),
        Some(input) => to_json(input),
    }
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds"
        ))
    })
}

/// Consume options from keyword arguments, read by the core as [`lmos::thing::ConsumeSettings`]
/// JSON (so every binding checks them alike); a `DidResolver` object replaces the default one.
#[allow(clippy::too_many_arguments)]
fn options(
    protocols: Option<Vec<String>>,
    content_types: Option<Vec<String>>,
    subprotocols: Option<Vec<String>>,
    dialect: Option<String>,
    validate_outputs: bool,
    validate_inputs: bool,
    timeout: Option<f64>,
    poll_interval: f64,
    signature_policy: &str,
    did_resolver: Option<PyRef<'_, crate::identity::DidResolver>>,
    credentials: Option<&Bound<'_, PyAny>>,
    extra_ca_pem: Option<String>,
    only_protocols: bool,
) -> PyResult<ConsumeOptions> {
    let policy = match crate::identity::signature_policy(signature_policy)? {
        lmos::identity::SignaturePolicy::Require => "require",
        lmos::identity::SignaturePolicy::Ignore => "ignore",
        _ => "verifyIfPresent",
    };
    // `None` is no bound, which the settings spell 0 ms; a bound rounds up to at least 1 ms.
    let timeout_ms = match timeout {
        None => 0,
        Some(t) => millis(seconds(t, "timeout")?),
    };
    let mut settings = json!({
        "validateOutputs": validate_outputs,
        "validateInputs": validate_inputs,
        "timeoutMs": timeout_ms,
        "pollIntervalMs": u64::try_from(seconds(poll_interval, "poll_interval")?.as_millis())
            .unwrap_or(u64::MAX),
        "signaturePolicy": policy,
        "onlyProtocols": only_protocols,
    });
    let members = [
        ("protocols", protocols.map(Value::from)),
        ("contentTypes", content_types.map(Value::from)),
        ("subprotocols", subprotocols.map(Value::from)),
        ("dialect", dialect.map(Value::from)),
        ("extraCaPem", extra_ca_pem.map(Value::from)),
    ];
    for (name, value) in members {
        if let Some(value) = value {
            settings[name] = value;
        }
    }
    if let Some(credentials) = credentials.filter(|c| !c.is_none()) {
        settings["credentials"] = crate::security::credentials_json(credentials)?;
    }
    build(settings, did_resolver.map(|r| r.inner.clone()))
}

fn build(
    settings: Value,
    did_resolver: Option<lmos::identity::DidResolver>,
) -> PyResult<ConsumeOptions> {
    let mut options = ConsumeOptions::from_json(&settings).map_err(to_pyerr)?;
    if let Some(resolver) = did_resolver {
        options.did_resolver = resolver;
    }
    Ok(options)
}

/// A duration in whole milliseconds, at least 1 for a non-zero duration.
fn millis(duration: Duration) -> u64 {
    if duration.is_zero() {
        return 0;
    }
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Per-call options from the `uri_variables` keyword (a dict, or `None`).
fn interaction_options(
    uri_variables: Option<&Bound<'_, PyAny>>,
) -> PyResult<lmos::thing::InteractionOptions> {
    let Some(given) = uri_variables.filter(|v| !v.is_none()) else {
        return Ok(lmos::thing::InteractionOptions::default());
    };
    match to_json(given)? {
        Value::Object(map) => Ok(lmos::thing::InteractionOptions::uri_variables(map)),
        _ => Err(pyo3::exceptions::PyTypeError::new_err(
            "uri_variables must be a dict",
        )),
    }
}

/// A thing this process calls, following the forms of its TD.
#[pyclass(module = "lmos._native", frozen)]
pub struct ConsumedThing {
    pub(crate) inner: lmos::thing::ConsumedThing,
}

#[pymethods]
impl ConsumedThing {
    /// A consumed thing from a TD (dict, JSON str or bytes), validated first.
    #[new]
    #[pyo3(signature = (td, *, protocols=None, content_types=None, subprotocols=None, dialect=None, validate_outputs=true, validate_inputs=true, timeout=Some(30.0), poll_interval=0.2, signature_policy="verify_if_present", did_resolver=None, credentials=None, extra_ca_pem=None, only_protocols=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        td: &Bound<'_, PyAny>,
        protocols: Option<Vec<String>>,
        content_types: Option<Vec<String>>,
        subprotocols: Option<Vec<String>>,
        dialect: Option<String>,
        validate_outputs: bool,
        validate_inputs: bool,
        timeout: Option<f64>,
        poll_interval: f64,
        signature_policy: &str,
        did_resolver: Option<PyRef<'_, crate::identity::DidResolver>>,
        credentials: Option<&Bound<'_, PyAny>>,
        extra_ca_pem: Option<String>,
        only_protocols: bool,
    ) -> PyResult<Self> {
        let py = td.py();
        let options = options(
            protocols,
            content_types,
            subprotocols,
            dialect,
            validate_outputs,
            validate_inputs,
            timeout,
            poll_interval,
            signature_policy,
            did_resolver,
            credentials,
            extra_ca_pem,
            only_protocols,
        )?;
        let thing = thing_from(td)?;
        let inner =
            lmos::thing::ConsumedThing::new(thing, options).map_err(|e| thing_error(py, &e))?;
        Ok(ConsumedThing { inner })
    }

    /// Fetches the TD at `url`, validates it and returns the consumed thing (awaitable).
    #[staticmethod]
    #[pyo3(signature = (url, *, protocols=None, content_types=None, subprotocols=None, dialect=None, validate_outputs=true, validate_inputs=true, timeout=Some(30.0), poll_interval=0.2, signature_policy="verify_if_present", did_resolver=None, credentials=None, extra_ca_pem=None, only_protocols=false))]
    #[allow(clippy::too_many_arguments)]
    fn from_url<'py>(
        py: Python<'py>,
        url: String,
        protocols: Option<Vec<String>>,
        content_types: Option<Vec<String>>,
        subprotocols: Option<Vec<String>>,
        dialect: Option<String>,
        validate_outputs: bool,
        validate_inputs: bool,
        timeout: Option<f64>,
        poll_interval: f64,
        signature_policy: &str,
        did_resolver: Option<PyRef<'_, crate::identity::DidResolver>>,
        credentials: Option<&Bound<'_, PyAny>>,
        extra_ca_pem: Option<String>,
        only_protocols: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options(
            protocols,
            content_types,
            subprotocols,
            dialect,
            validate_outputs,
            validate_inputs,
            timeout,
            poll_interval,
            signature_policy,
            did_resolver,
            credentials,
            extra_ca_pem,
            only_protocols,
        )?;
        awaitable(
            py,
            async move { lmos::thing::ConsumedThing::from_url(&url, options).await },
            |py, inner| Ok(Py::new(py, ConsumedThing { inner })?.into_any()),
        )
    }

    /// A consumed thing from a TD, its signature verified first, resolving `did:web` signers
    /// over the network (awaitable).
    #[staticmethod]
    #[pyo3(signature = (td, *, protocols=None, content_types=None, subprotocols=None, dialect=None, validate_outputs=true, validate_inputs=true, timeout=Some(30.0), poll_interval=0.2, signature_policy="verify_if_present", did_resolver=None, credentials=None, extra_ca_pem=None, only_protocols=false))]
    #[allow(clippy::too_many_arguments)]
    fn new_verified<'py>(
        td: &Bound<'py, PyAny>,
        protocols: Option<Vec<String>>,
        content_types: Option<Vec<String>>,
        subprotocols: Option<Vec<String>>,
        dialect: Option<String>,
        validate_outputs: bool,
        validate_inputs: bool,
        timeout: Option<f64>,
        poll_interval: f64,
        signature_policy: &str,
        did_resolver: Option<PyRef<'_, crate::identity::DidResolver>>,
        credentials: Option<&Bound<'_, PyAny>>,
        extra_ca_pem: Option<String>,
        only_protocols: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = td.py();
        let options = options(
            protocols,
            content_types,
            subprotocols,
            dialect,
            validate_outputs,
            validate_inputs,
            timeout,
            poll_interval,
            signature_policy,
            did_resolver,
            credentials,
            extra_ca_pem,
            only_protocols,
        )?;
        let thing = thing_from(td)?;
        awaitable(
            py,
            async move { lmos::thing::ConsumedThing::new_verified(thing, options).await },
            |py, inner| Ok(Py::new(py, ConsumedThing { inner })?.into_any()),
        )
    }

    /// The proofs on the TD that verified (empty when it had none or the policy ignores them).
    #[getter]
    fn verified_proofs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list: Vec<Value> = self
            .inner
            .verified_proofs()
            .iter()
            .map(crate::identity::proof_value)
            .collect();
        to_py(py, &Value::Array(list))
    }

    /// The TD as a dict.
    #[getter]
    fn td<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.thing().to_value())
    }

    /// `readproperty` (awaitable).
    #[pyo3(signature = (name, *, uri_variables=None))]
    fn read_property<'py>(
        &self,
        py: Python<'py>,
        name: String,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.read_property_with(&name, &options).await },
            json_out,
        )
    }

    /// `writeproperty` (awaitable).
    #[pyo3(signature = (name, value, *, uri_variables=None))]
    fn write_property<'py>(
        &self,
        name: String,
        value: &Bound<'py, PyAny>,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = value.py();
        let value = to_json(value)?;
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.write_property_with(&name, value, &options).await },
            none_out,
        )
    }

    /// `readallproperties` (awaitable dict).
    fn read_all_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.read_all_properties().await },
            |py, map| json_out(py, Value::Object(map)),
        )
    }

    /// `writemultipleproperties` (awaitable).
    fn write_multiple_properties<'py>(
        &self,
        values: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = values.py();
        let Value::Object(map) = to_json(values.as_any())? else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "values must be a dict",
            ));
        };
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.write_multiple_properties(map).await },
            none_out,
        )
    }

    /// `invokeaction`, waiting for the output (awaitable).
    #[pyo3(signature = (name, input=None, *, uri_variables=None))]
    fn invoke_action<'py>(
        &self,
        py: Python<'py>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = input_value(input)?;
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.invoke_action_with(&name, input, &options).await },
            json_out,
        )
    }

    /// `invokeaction`, returning a handle to the running action (awaitable).
    #[pyo3(signature = (name, input=None, *, uri_variables=None))]
    fn start_action<'py>(
        &self,
        py: Python<'py>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = input_value(input)?;
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.start_action_with(&name, input, &options).await },
            |py, inner| Ok(Py::new(py, ActionHandle { inner })?.into_any()),
        )
    }

    /// `invokeaction` as an iterator of `(kind, value)` updates (awaitable).
    #[pyo3(signature = (name, input=None, *, uri_variables=None))]
    fn invoke_action_stream<'py>(
        &self,
        py: Python<'py>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let input = input_value(input)?;
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move {
                inner
                    .invoke_action_stream_with(&name, input, &options)
                    .await
            },
            |py, updates| Ok(Py::new(py, UpdateIterator::new(updates))?.into_any()),
        )
    }

    /// `observeproperty`: an iterator of values, once the observation is open (awaitable).
    #[pyo3(signature = (name, *, uri_variables=None))]
    fn observe_property<'py>(
        &self,
        py: Python<'py>,
        name: String,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.observe_property_with(&name, &options).await },
            |py, values| Ok(Py::new(py, ValueIterator::new(values))?.into_any()),
        )
    }

    /// `subscribeevent`: an iterator of event data, once subscribed (awaitable).
    #[pyo3(signature = (name, *, uri_variables=None))]
    fn subscribe_event<'py>(
        &self,
        py: Python<'py>,
        name: String,
        uri_variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = interaction_options(uri_variables)?;
        let inner = self.inner.clone();
        awaitable(
            py,
            async move { inner.subscribe_event_with(&name, &options).await },
            |py, values| Ok(Py::new(py, ValueIterator::new(values))?.into_any()),
        )
    }
}

/// A started action: its output, status resource, cancellation and updates.
#[pyclass(module = "lmos._native", frozen)]
pub struct ActionHandle {
    inner: lmos::thing::ActionHandle,
}

#[pymethods]
impl ActionHandle {
    /// The action's name.
    #[getter]
    fn action(&self) -> &str {
        self.inner.action()
    }

    /// Whether the action runs asynchronously (it has a status resource).
    #[getter]
    fn is_async(&self) -> bool {
        self.inner.is_async()
    }

    /// The URL of the action-status resource, for asynchronous actions.
    #[getter]
    fn status_url(&self) -> Option<&str> {
        self.inner.status_url()
    }

    /// `queryaction`: the status as a dict (awaitable).
    fn query<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.query().await }, |py, status| {
            let value = serde_json::to_value(status)
                .map_err(|e| crate::errors::CodecError::new_err(e.to_string()))?;
            json_out(py, value)
        })
    }

    /// `cancelaction` (awaitable).
    fn cancel<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.cancel().await }, none_out)
    }

    /// Waits for the output (awaitable).
    fn output<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        awaitable(py, async move { inner.output().await }, json_out)
    }

    /// The updates from now on, as an iterator of `(kind, value)` pairs.
    fn updates(&self) -> UpdateIterator {
        UpdateIterator::new(self.inner.clone().updates())
    }
}

/// The next item of a shared core stream, for an `__anext__`: `StopAsyncIteration` once the
/// stream ended, failed or gave its `is_last` item (the stream is then dropped, which stops it).
async fn next_item<T>(
    stream: &Mutex<Option<BoxStream<Result<T, ThingError>>>>,
    is_last: impl Fn(&T) -> bool,
) -> PyResult<T> {
    let mut guard = stream.lock().await;
    let Some(items) = guard.as_mut() else {
        return Err(stop_iteration());
    };
    match items.next().await {
        Some(Ok(item)) => {
            if is_last(&item) {
                *guard = None;
            }
            Ok(item)
        }
        Some(Err(error)) => {
            *guard = None;
            Err(to_pyerr(error))
        }
        None => {
            *guard = None;
            Err(stop_iteration())
        }
    }
}

/// An async iterator over a core value stream (observed values, event data).
#[pyclass(module = "lmos._native", frozen)]
pub struct ValueIterator {
    stream: Arc<Mutex<Option<ValueStream>>>,
}

impl ValueIterator {
    fn new(stream: ValueStream) -> Self {
        ValueIterator {
            stream: Arc::new(Mutex::new(Some(stream))),
        }
    }
}

#[pymethods]
impl ValueIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            let value = next_item(&stream, |_| false).await?;
            attach_alive(|py| json_out(py, value)).unwrap_or_else(|| Err(exiting()))
        })
    }

    /// Stops the stream (unobserves / unsubscribes); the iterator then ends.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            stream.lock().await.take();
            Ok(())
        })
    }
}

/// An async iterator over action updates, yielding `("progress", value)` and finally
/// `("output", value)`.
#[pyclass(module = "lmos._native", frozen)]
pub struct UpdateIterator {
    stream: Arc<Mutex<Option<ActionUpdates>>>,
}

impl UpdateIterator {
    fn new(stream: ActionUpdates) -> Self {
        UpdateIterator {
            stream: Arc::new(Mutex::new(Some(stream))),
        }
    }
}

#[pymethods]
impl UpdateIterator {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            let update = next_item(&stream, |u| matches!(u, ActionUpdate::Output(_))).await?;
            let (kind, value) = match update {
                ActionUpdate::Progress(value) => ("progress", value),
                ActionUpdate::Output(value) => ("output", value),
            };
            attach_alive(|py| {
                let value = to_py(py, &value)?;
                Ok((kind, value).into_pyobject(py)?.into_any().unbind())
            })
            .unwrap_or_else(|| Err(exiting()))
        })
    }

    /// Stops listening; the iterator then ends.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream.clone();
        crate::bridge::future_into_py(py, async move {
            stream.lock().await.take();
            Ok(())
        })
    }
}
