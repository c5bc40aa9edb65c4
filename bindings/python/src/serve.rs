//! Serving from Python: `Servient`, `ExposedThing`, and the handler objects that run Python
//! `async def` functions for the core.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde_json::Value;
use tokio::sync::mpsc;

use lmos::thing::ThingError;
use lmos::thing::{
    ActionHandler, ActionStreamHandler, ActionUpdate, BoxFuture, BoxStream, HandlerError,
    InteractionContext as CoreContext, PropertyReadHandler, PropertyWriteHandler,
};
use lmos::trace::TraceContext;

use crate::bridge::{attach_alive, is_cancelled, log_error, log_exception, EventLoop, PyTask};
use crate::convert::{to_json, to_py};
use crate::errors::{thing_error, InvalidInput, InvalidThingDescription};

/// The context variable that holds the [`HandlerContext`] of the handler running in the current
/// asyncio task; outgoing calls made there continue its trace.
static CURRENT_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `lmos._native.current_context_var`, created once.
pub fn context_var(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    CURRENT_CONTEXT.get_or_try_init(py, || {
        py.import("contextvars")?
            .call_method1("ContextVar", ("lmos_interaction_context",))
            .map(Bound::unbind)
    })
}

/// The trace context of the handler running in the caller's asyncio task, if any.
pub fn current_trace(py: Python<'_>) -> Option<TraceContext> {
    let var = context_var(py).ok()?;
    let value = var.call_method1(py, "get", (py.None(),)).ok()?;
    let context = value.bind(py).cast::<HandlerContext>().ok()?;
    context.get().current.clone()
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

/// Marks the failures of Python handlers, whose tracebacks are logged where they happen.
const PYTHON_FAILURE: &str = "Python handler raised";

/// Sends the errors that callers only see as a bare 500 to the `lmos` logger.
fn log_internal_error(slug: &str, affordance: &str, error: &ThingError) {
    if let ThingError::HandlerFailed { message } = error {
        if message.starts_with(PYTHON_FAILURE) {
            return;
        }
    }
    attach_alive(|py| log_error(py, &format!("{slug}/{affordance}: {error}")));
}

/// Hosts exposed things on one HTTP port.
#[pyclass(module = "lmos._native", frozen)]
pub struct Servient {
    inner: lmos::thing::Servient,
    event_loop: EventLoop,
}

#[pymethods]
impl Servient {
    #[new]
    #[pyo3(signature = (*, http_port=8080, host="127.0.0.1", public_base_url=None, max_body_bytes=None, long_poll_timeout=None, action_retention=None, cancel_grace=None, ws_port=None, websocket=true, ws_max_message_bytes=None, ws_queue_capacity=None, ws_max_in_flight=None, ws_ping_interval=None, ws_ping_timeout=None, sign_descriptions=None, security=None, tls=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        http_port: u16,
        host: &str,
        public_base_url: Option<String>,
        max_body_bytes: Option<usize>,
        long_poll_timeout: Option<f64>,
        action_retention: Option<f64>,
        cancel_grace: Option<f64>,
        ws_port: Option<u16>,
        websocket: bool,
        ws_max_message_bytes: Option<usize>,
        ws_queue_capacity: Option<usize>,
        ws_max_in_flight: Option<usize>,
        ws_ping_interval: Option<f64>,
        ws_ping_timeout: Option<f64>,
        sign_descriptions: Option<PyRef<'_, crate::identity::KeyPair>>,
        security: Option<&Bound<'_, PyAny>>,
        tls: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let host: IpAddr = host
            .parse()
            .map_err(|_| PyValueError::new_err(format!("{host:?} is not an IP address")))?;
        let mut builder = lmos::thing::Servient::builder()
            .http_port(http_port)
            .http_host(host);
        if let Some(url) = public_base_url {
            builder = builder.public_base_url(url);
        }
        if let Some(bytes) = max_body_bytes {
            builder = builder.max_body_bytes(bytes);
        }
        if let Some(t) = long_poll_timeout {
            builder = builder.long_poll_timeout(seconds(t, "long_poll_timeout")?);
        }
        if let Some(t) = action_retention {
            builder = builder.action_retention(seconds(t, "action_retention")?);
        }
        if let Some(t) = cancel_grace {
            builder = builder.cancel_grace(seconds(t, "cancel_grace")?);
        }
        if let Some(port) = ws_port {
            builder = builder.ws_port(port);
        }
        builder = builder.websocket(websocket);
        if let Some(bytes) = ws_max_message_bytes {
            builder = builder.ws_max_message_bytes(bytes);
        }
        if let Some(messages) = ws_queue_capacity {
            builder = builder.ws_queue_capacity(messages);
        }
        if let Some(requests) = ws_max_in_flight {
            builder = builder.ws_max_in_flight(requests);
        }
        if ws_ping_interval.is_some() || ws_ping_timeout.is_some() {
            let interval = seconds(ws_ping_interval.unwrap_or(30.0), "ws_ping_interval")?;
            let timeout = seconds(ws_ping_timeout.unwrap_or(30.0), "ws_ping_timeout")?;
            builder = builder.ws_ping(interval, timeout);
        }
        if let Some(key) = sign_descriptions {
            builder = builder.sign_descriptions(key.inner.clone());
        }
        if let Some(security) = security.filter(|s| !s.is_none()) {
            builder = builder.verifier(crate::security::verifier(security)?);
        }
        if let Some(tls) = tls.filter(|t| !t.is_none()) {
            builder = builder.tls(crate::security::tls(tls)?);
        }
        let inner = builder
            .on_internal_error(Arc::new(log_internal_error))
            .build()
            .map_err(|e| thing_error(py, &e))?;
        Ok(Servient {
            inner,
            event_loop: EventLoop::default(),
        })
    }

    /// Hosts a thing (a TD dict without forms; the servient adds them) and returns it.
    fn expose(&self, td: &Bound<'_, PyAny>) -> PyResult<ExposedThing> {
        let py = td.py();
        let value = to_json(td)?;
        let thing = lmos::td::Thing::from_value(value)
            .map_err(|e| InvalidThingDescription::new_err(e.to_string()))?;
        let inner = py
            .detach(|| self.inner.expose(thing))
            .map_err(|e| thing_error(py, &e))?;
        Ok(ExposedThing {
            inner,
            event_loop: self.event_loop.clone(),
        })
    }

    /// Stops hosting the thing at `slug`; whether there was one.
    fn destroy(&self, slug: &str) -> bool {
        self.inner.destroy(slug)
    }

    /// The exposed things.
    fn things(&self) -> Vec<ExposedThing> {
        self.inner
            .things()
            .into_iter()
            .map(|inner| ExposedThing {
                inner,
                event_loop: self.event_loop.clone(),
            })
            .collect()
    }

    /// Binds the port and serves; handlers run on the event loop this is awaited in.
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.event_loop.capture_running(py)?;
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            let bound = inner.start().await.map_err(crate::errors::to_pyerr)?;
            Ok(bound.http.map(|a| (a.ip().to_string(), a.port())))
        })
    }

    /// Stops serving.
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        crate::bridge::future_into_py(py, async move {
            inner.shutdown().await;
            Ok(())
        })
    }

    /// Signs every TD served from now on with `key` (`None` stops signing).
    #[pyo3(signature = (key))]
    fn set_description_signer(&self, key: Option<PyRef<'_, crate::identity::KeyPair>>) {
        self.inner
            .set_description_signer(key.map(|k| k.inner.clone()));
    }

    /// Serves `document` (a DID document dict) at `GET /.well-known/did.json`.
    fn serve_did_document(&self, document: &Bound<'_, PyAny>) -> PyResult<()> {
        let document = crate::identity::did_document_from(document)?;
        self.inner.serve_did_document(document);
        Ok(())
    }

    /// `(host, port)` of the HTTP listener once started.
    #[getter]
    fn http_address(&self) -> Option<(String, u16)> {
        self.inner
            .addresses()
            .http
            .map(|a| (a.ip().to_string(), a.port()))
    }

    /// `(host, port)` of the WebSocket listener once started: its own port with `ws_port`,
    /// else the HTTP listener's when WebSocket is on.
    #[getter]
    fn ws_address(&self) -> Option<(String, u16)> {
        self.inner
            .addresses()
            .ws
            .map(|a| (a.ip().to_string(), a.port()))
    }

    /// The base URL form hrefs are made from, once known.
    #[getter]
    fn base_url(&self) -> Option<String> {
        self.inner.base_url()
    }
}

/// A thing served by a servient.
#[pyclass(module = "lmos._native", frozen)]
pub struct ExposedThing {
    inner: lmos::thing::ExposedThing,
    event_loop: EventLoop,
}

impl ExposedThing {
    fn handler(
        &self,
        py: Python<'_>,
        kind: &str,
        name: &str,
        callable: Py<PyAny>,
    ) -> PyResult<PyHandler> {
        if !callable.bind(py).is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "the {kind} handler of {name:?} must be an async function"
            )));
        }
        self.event_loop.capture_running(py)?;
        Ok(PyHandler(Arc::new(HandlerInner {
            callable,
            event_loop: self.event_loop.clone(),
            label: format!("{kind} handler of {name:?} on {}", self.inner.title()),
        })))
    }
}

#[pymethods]
impl ExposedThing {
    /// The URL path segment of the thing.
    #[getter]
    fn slug(&self) -> &str {
        self.inner.slug()
    }

    /// The thing's title.
    #[getter]
    fn title(&self) -> &str {
        self.inner.title()
    }

    /// The TD as served (absolute hrefs once the servient has started).
    #[getter]
    fn td<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.thing_description().to_value())
    }

    /// The URL of the TD, once the servient has started.
    #[getter]
    fn td_url(&self) -> Option<String> {
        self.inner.td_url()
    }

    /// Registers the TD as served in `directory` with a time-to-live of `ttl` seconds, keeps
    /// the entry alive and deletes it when the servient shuts down (awaitable registration).
    fn register<'py>(
        &self,
        py: Python<'py>,
        directory: PyRef<'py, crate::discovery::DirectoryClient>,
        ttl: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        crate::discovery::register_thing(py, self.inner.clone(), &directory, ttl)
    }

    /// Names of the properties.
    fn property_names(&self) -> Vec<String> {
        self.inner.property_names()
    }

    /// Stores a property value (checked against its schema) and notifies observers.
    fn set_property(&self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = value.py();
        let value = to_json(value)?;
        py.detach(|| self.inner.set_property(name, value))
            .map_err(|e| thing_error(py, &e))
    }

    /// The stored value of a property.
    fn property_value<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let value = self
            .inner
            .property_value(name)
            .map_err(|e| thing_error(py, &e))?;
        to_py(py, &value)
    }

    /// Emits an event (data checked against its schema) to every subscriber.
    fn emit_event(&self, name: &str, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = data.py();
        let data = to_json(data)?;
        py.detach(|| self.inner.emit_event(name, data))
            .map_err(|e| thing_error(py, &e))
    }

    /// Registers `handler(context)` (a coroutine function) to produce a property's value.
    fn on_property_read(&self, py: Python<'_>, name: &str, handler: Py<PyAny>) -> PyResult<()> {
        let handler = self.handler(py, "read", name, handler)?;
        self.inner
            .on_property_read(name, Arc::new(handler))
            .map_err(|e| thing_error(py, &e))
    }

    /// Registers `handler(value, context)` to accept property writes.
    fn on_property_write(&self, py: Python<'_>, name: &str, handler: Py<PyAny>) -> PyResult<()> {
        let handler = self.handler(py, "write", name, handler)?;
        self.inner
            .on_property_write(name, Arc::new(handler))
            .map_err(|e| thing_error(py, &e))
    }

    /// Registers `handler(input, context)` to run an action and return its output.
    fn on_action(&self, py: Python<'_>, name: &str, handler: Py<PyAny>) -> PyResult<()> {
        let handler = self.handler(py, "action", name, handler)?;
        self.inner
            .on_action(name, Arc::new(handler))
            .map_err(|e| thing_error(py, &e))
    }

    /// Registers `handler(request, context)` to answer the `chat` action: it gets the
    /// AgentRequest dict and returns an AgentResult dict or a `str` (the text of a successful
    /// result).
    fn on_chat(&self, py: Python<'_>, handler: Py<PyAny>) -> PyResult<()> {
        let name = lmos::chat::CHAT_ACTION;
        let handler = self.handler(py, "chat", name, handler)?;
        self.inner
            .on_action(name, lmos::chat::json_chat_handler(Arc::new(handler)))
            .map_err(|e| thing_error(py, &e))
    }

    /// Registers `handler(input, context, sink)` to run an action that reports progress through
    /// `sink.progress(value)` and finishes with `sink.output(value)`.
    fn on_action_stream(&self, py: Python<'_>, name: &str, handler: Py<PyAny>) -> PyResult<()> {
        let handler = self.handler(py, "action", name, handler)?;
        self.inner
            .on_action_stream(name, Arc::new(handler))
            .map_err(|e| thing_error(py, &e))
    }
}

/// What a Python handler learns about the interaction: the caller's trace context, the action
/// instance, and whether the caller cancelled.
#[pyclass(module = "lmos._native", frozen, name = "InteractionContext")]
pub struct HandlerContext {
    context: CoreContext,
    current: Option<TraceContext>,
}

#[pymethods]
impl HandlerContext {
    /// The caller's `traceparent` header, if it sent one.
    #[getter]
    fn traceparent(&self) -> Option<String> {
        self.context.trace().map(TraceContext::traceparent)
    }

    /// The caller's `tracestate` header, if it sent one.
    #[getter]
    fn tracestate(&self) -> Option<String> {
        self.context
            .trace()
            .and_then(|t| t.tracestate().map(str::to_owned))
    }

    /// The `uriVariables` the caller sent (a dict, checked against the affordance's schemas;
    /// empty when there are none).
    #[getter]
    fn uri_variables(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let variables = serde_json::Value::Object(self.context.uri_variables().clone());
        Ok(crate::convert::to_py(py, &variables)?.unbind())
    }

    /// Who the caller proved to be (a dict: `scheme`, `subject`, `did`, `scopes`,
    /// `credentials`), or `None` for an open thing or an in-process call.
    #[getter]
    fn principal(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.context.principal() {
            Some(principal) => Ok(Some(
                crate::convert::to_py(py, &principal.to_json())?.unbind(),
            )),
            None => Ok(None),
        }
    }

    /// The id of the trace this handler runs in (the caller's, or a new one).
    #[getter]
    fn trace_id(&self) -> Option<String> {
        self.current.as_ref().map(TraceContext::trace_id)
    }

    /// The id of the asynchronous action instance, if this is one.
    #[getter]
    fn action_id(&self) -> Option<String> {
        self.context.action_id().map(str::to_owned)
    }

    /// Whether the caller has cancelled the action.
    #[getter]
    fn cancelled(&self) -> bool {
        self.context.is_cancelled()
    }

    fn __repr__(&self) -> String {
        let show = |v: Option<String>| v.map_or_else(|| "None".to_owned(), |v| format!("'{v}'"));
        format!(
            "InteractionContext(traceparent={}, action_id={})",
            show(self.traceparent()),
            show(self.action_id())
        )
    }
}

/// Where a progress-reporting Python handler puts its updates.
#[pyclass(module = "lmos._native", frozen)]
pub struct UpdateSink {
    sender: mpsc::UnboundedSender<ActionUpdate>,
}

#[pymethods]
impl UpdateSink {
    /// Reports an intermediate status.
    fn progress(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(value)?;
        self.sender
            .send(ActionUpdate::Progress(value))
            .map_err(|_| crate::errors::Closed::new_err("the caller stopped listening"))
    }

    /// Reports the output.
    fn output(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(value)?;
        self.sender
            .send(ActionUpdate::Output(value))
            .map_err(|_| crate::errors::Closed::new_err("the caller stopped listening"))
    }
}

struct HandlerInner {
    callable: Py<PyAny>,
    event_loop: EventLoop,
    label: String,
}

/// A Python coroutine function registered as a core handler.
#[derive(Clone)]
struct PyHandler(Arc<HandlerInner>);

/// What a handler call's outcome becomes on the Rust side.
type Outcome<O> = Result<O, HandlerError>;

impl PyHandler {
    /// Queues the call of the function with `args` and the context on the handler's event loop;
    /// `settle` turns its return value into the Rust result there. Nothing here waits for the
    /// GIL.
    fn spawn<O, A, S>(
        &self,
        context: &CoreContext,
        args: A,
        extra: Option<UpdateSink>,
        settle: S,
    ) -> Result<PyTask<Outcome<O>>, HandlerError>
    where
        O: Send + 'static,
        A: for<'py> FnOnce(Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> + Send + 'static,
        S: for<'py> FnOnce(&PyHandler, Python<'py>, Bound<'py, PyAny>) -> Outcome<O>
            + Send
            + 'static,
    {
        let context = HandlerContext {
            context: context.clone(),
            current: lmos::trace::current(),
        };
        let callable = self.clone();
        let handler = self.clone();
        PyTask::spawn(
            &self.0.event_loop,
            move |py| {
                let mut args = args(py)?;
                args.push(Bound::new(py, context)?.into_any());
                if let Some(sink) = extra {
                    args.push(Bound::new(py, sink)?.into_any());
                }
                let args = pyo3::types::PyTuple::new(py, args)?;
                callable.0.callable.bind(py).call1(args)
            },
            move |py, outcome| match outcome {
                Ok(value) => settle(&handler, py, value),
                Err(err) => Err(handler.failure(py, err)),
            },
        )
        .map_err(HandlerError::from)
    }

    /// The handler error for a Python exception; unexpected ones are logged with their traceback.
    fn failure(&self, py: Python<'_>, err: PyErr) -> HandlerError {
        if is_cancelled(py, &err) {
            return HandlerError::Cancelled;
        }
        if err.is_instance_of::<InvalidInput>(py) {
            let message = err
                .value(py)
                .str()
                .map(|s| s.to_string())
                .unwrap_or_default();
            return HandlerError::InvalidInput(message);
        }
        log_exception(py, &self.0.label, &err);
        HandlerError::Failed(format!("{PYTHON_FAILURE}: {}: {err}", self.0.label))
    }

    /// Converts a handler's return value to JSON (on the loop's thread).
    fn output(&self, py: Python<'_>, value: Bound<'_, PyAny>) -> Outcome<Value> {
        to_json(&value).map_err(|e| self.failure(py, e))
    }

    async fn run<O>(
        &self,
        task: PyTask<Outcome<O>>,
        context: &CoreContext,
    ) -> Result<O, HandlerError> {
        tokio::select! {
            result = task => result.unwrap_or_else(|e| Err(e.into())),
            () = context.cancelled() => Err(HandlerError::Cancelled),
        }
    }
}

impl PropertyReadHandler for PyHandler {
    fn read(&self, context: CoreContext) -> BoxFuture<Result<Value, HandlerError>> {
        let this = self.clone();
        Box::pin(async move {
            let task = this.spawn(&context, |_| Ok(Vec::new()), None, PyHandler::output)?;
            this.run(task, &context).await
        })
    }
}

impl PropertyWriteHandler for PyHandler {
    fn write(&self, value: Value, context: CoreContext) -> BoxFuture<Result<(), HandlerError>> {
        let this = self.clone();
        Box::pin(async move {
            let task = this.spawn(
                &context,
                move |py| Ok(vec![to_py(py, &value)?]),
                None,
                |_, _, _| Ok(()),
            )?;
            this.run(task, &context).await
        })
    }
}

impl ActionHandler for PyHandler {
    fn invoke(&self, input: Value, context: CoreContext) -> BoxFuture<Result<Value, HandlerError>> {
        let this = self.clone();
        Box::pin(async move {
            let task = this.spawn(
                &context,
                move |py| Ok(vec![to_py(py, &input)?]),
                None,
                PyHandler::output,
            )?;
            this.run(task, &context).await
        })
    }
}

impl ActionStreamHandler for PyHandler {
    fn invoke(
        &self,
        input: Value,
        context: CoreContext,
    ) -> BoxStream<Result<ActionUpdate, HandlerError>> {
        let this = self.clone();
        Box::pin(async_stream::stream! {
            let (sender, mut updates) = mpsc::unbounded_channel();
            let task = this.spawn(
                &context,
                move |py| Ok(vec![to_py(py, &input)?]),
                Some(UpdateSink { sender }),
                |_, _, _| Ok(()),
            );
            let mut task = match task {
                Ok(task) => task,
                Err(error) => {
                    yield Err(error);
                    return;
                }
            };
            loop {
                tokio::select! {
                    biased;
                    update = updates.recv() => match update {
                        Some(update) => {
                            let is_output = matches!(update, ActionUpdate::Output(_));
                            yield Ok(update);
                            if is_output {
                                return;
                            }
                        }
                        None => return,
                    },
                    result = &mut task => {
                        // Everything the handler reported is in the channel by now.
                        while let Ok(update) = updates.try_recv() {
                            let is_output = matches!(update, ActionUpdate::Output(_));
                            yield Ok(update);
                            if is_output {
                                return;
                            }
                        }
                        match result {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => yield Err(error),
                            Err(not_run) => yield Err(not_run.into()),
                        }
                        return;
                    }
                    () = context.cancelled() => {
                        yield Err(HandlerError::Cancelled);
                        return;
                    }
                }
            }
        })
    }
}
