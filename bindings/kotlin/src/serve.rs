//! Serving: the servient, exposed things, and the foreign traits Kotlin handlers implement.
//!
//! A Kotlin handler is an implementation of one of the callback traits below (the Kotlin layer
//! wraps a suspend lambda in it). Its suspend function runs as a coroutine; when the core drops
//! the handler's future (the caller cancelled the action, or went away from a stream), UniFFI
//! cancels that coroutine. A handler that throws becomes a [`HandlerError`]: the caller gets the
//! generic "internal error" (or a 400 for [`HandlerFailure::InvalidInput`]) and the servient keeps
//! serving.

use std::sync::Arc;

use lmos::thing::handler::{
    ActionHandler, ActionStreamHandler, ActionUpdate, BoxFuture, BoxStream, HandlerError,
    InteractionContext, PropertyReadHandler, PropertyWriteHandler,
};
use lmos::thing::{ExposedThing, Servient, ServientOptions, ThingError};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::errors::{parse_json, thing_error, type_error, NativeError};
use crate::runtime::run;

/// How a Kotlin handler failed.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum HandlerFailure {
    /// The handler failed; the text stays on the server (callers see "internal error").
    #[error("{text}")]
    Failed {
        /// What went wrong.
        text: String,
    },
    /// The handler refuses the input; the text is sent to the caller (HTTP 400).
    #[error("invalid input: {text}")]
    InvalidInput {
        /// Why the input is refused.
        text: String,
    },
    /// The handler stopped because the action was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HandlerFailure {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HandlerFailure::Failed {
            text: format!("the Kotlin handler failed: {}", error.reason),
        }
    }
}

impl From<HandlerFailure> for HandlerError {
    fn from(failure: HandlerFailure) -> Self {
        match failure {
            HandlerFailure::Failed { text } => HandlerError::Failed(text),
            HandlerFailure::InvalidInput { text } => HandlerError::InvalidInput(text),
            HandlerFailure::Cancelled => HandlerError::Cancelled,
        }
    }
}

/// What a handler learns about the interaction that called it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct HandlerContext {
    /// The W3C `traceparent` the handler runs in (its server span, in the caller's trace).
    pub traceparent: Option<String>,
    /// The W3C `tracestate` that came with it.
    pub tracestate: Option<String>,
    /// The action instance id, for asynchronous actions.
    pub action_id: Option<String>,
    /// The `uriVariables` the caller sent (a JSON object as text), checked against the
    /// affordance's schemas; `{}` when there are none.
    pub uri_variables: String,
    /// Who the caller proved to be (JSON text of `Principal::to_json`), `None` for open things.
    pub principal: Option<String>,
}

fn handler_context(context: &InteractionContext) -> HandlerContext {
    let trace = lmos::trace::current().or_else(|| context.trace().cloned());
    HandlerContext {
        traceparent: trace.as_ref().map(|t| t.traceparent()),
        tracestate: trace
            .as_ref()
            .and_then(|t| t.tracestate().map(str::to_owned)),
        action_id: context.action_id().map(str::to_owned),
        uri_variables: Value::Object(context.uri_variables().clone()).to_string(),
        principal: context.principal().map(|p| p.to_json().to_string()),
    }
}

/// A Kotlin property read handler; returns the value as JSON text.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait PropertyReadCallback: Send + Sync {
    /// Reads the property.
    async fn read(&self, context: HandlerContext) -> Result<String, HandlerFailure>;
}

/// A Kotlin property write handler; takes the value as JSON text.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait PropertyWriteCallback: Send + Sync {
    /// Writes the property.
    async fn write(&self, value: String, context: HandlerContext) -> Result<(), HandlerFailure>;
}

/// A Kotlin action handler; takes the input and returns the output as JSON text.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait ActionCallback: Send + Sync {
    /// Runs the action.
    async fn invoke(
        &self,
        input: String,
        context: HandlerContext,
    ) -> Result<String, HandlerFailure>;
}

/// A Kotlin action handler that reports progress through `sink` and returns the output.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait ActionStreamCallback: Send + Sync {
    /// Runs the action.
    async fn invoke(
        &self,
        input: String,
        context: HandlerContext,
        sink: Arc<ProgressSink>,
    ) -> Result<String, HandlerFailure>;
}

/// Receives the errors callers only see as "internal error" (a failed handler, a bad output).
#[uniffi::export(with_foreign)]
pub trait InternalErrorCallback: Send + Sync {
    /// One error: the thing, the affordance, the error's code and message.
    fn report(&self, thing: String, affordance: String, code: String, message: String);
}

/// Where a streaming Kotlin handler sends its progress updates.
#[derive(uniffi::Object)]
pub struct ProgressSink {
    updates: mpsc::Sender<Value>,
}

#[uniffi::export]
impl ProgressSink {
    /// Sends one progress value (JSON text); waits while the caller is slower than the handler.
    /// Fails with `closed` when nobody listens any more.
    pub async fn progress(&self, value: String) -> Result<(), NativeError> {
        let value = parse_json(&value, "the progress value")?;
        let updates = self.updates.clone();
        run(async move {
            updates
                .send(value)
                .await
                .map_err(|_| NativeError::new("closed", "the action is no longer running"))
        })
        .await
    }
}

/// The core handler traits over one Kotlin callback.
struct Bridge<T: ?Sized>(Arc<T>);

/// Turns a handler's JSON text reply into a value.
fn reply_value(text: &str) -> Result<Value, HandlerError> {
    serde_json::from_str(text).map_err(|e| {
        HandlerError::Failed(format!("the handler returned text that is not JSON: {e}"))
    })
}

/// Awaits `call` unless the caller cancels first; then the call is dropped, which cancels the
/// Kotlin coroutine.
async fn unless_cancelled<T>(
    call: impl std::future::Future<Output = Result<T, HandlerFailure>>,
    context: &InteractionContext,
) -> Result<T, HandlerError> {
    tokio::select! {
        reply = call => reply.map_err(HandlerError::from),
        () = context.cancelled() => Err(HandlerError::Cancelled),
    }
}

impl PropertyReadHandler for Bridge<dyn PropertyReadCallback> {
    fn read(&self, context: InteractionContext) -> BoxFuture<Result<Value, HandlerError>> {
        let callback = self.0.clone();
        Box::pin(async move {
            let reply = callback
                .read(handler_context(&context))
                .await
                .map_err(HandlerError::from)?;
            reply_value(&reply)
        })
    }
}

impl PropertyWriteHandler for Bridge<dyn PropertyWriteCallback> {
    fn write(
        &self,
        value: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<(), HandlerError>> {
        let callback = self.0.clone();
        Box::pin(async move {
            callback
                .write(value.to_string(), handler_context(&context))
                .await
                .map_err(HandlerError::from)
        })
    }
}

impl ActionHandler for Bridge<dyn ActionCallback> {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<Value, HandlerError>> {
        let callback = self.0.clone();
        Box::pin(async move {
            let call = callback.invoke(input.to_string(), handler_context(&context));
            let reply = unless_cancelled(call, &context).await?;
            reply_value(&reply)
        })
    }
}

impl ActionStreamHandler for Bridge<dyn ActionStreamCallback> {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxStream<Result<ActionUpdate, HandlerError>> {
        let callback = self.0.clone();
        Box::pin(async_stream::stream! {
            let (sender, mut updates) = mpsc::channel(16);
            let sink = Arc::new(ProgressSink { updates: sender });
            let call = callback.invoke(input.to_string(), handler_context(&context), sink);
            let call = unless_cancelled(call, &context);
            tokio::pin!(call);
            loop {
                tokio::select! {
                    biased;
                    Some(value) = updates.recv() => yield Ok(ActionUpdate::Progress(value)),
                    reply = &mut call => {
                        // Progress sent before the handler returned comes first.
                        while let Ok(value) = updates.try_recv() {
                            yield Ok(ActionUpdate::Progress(value));
                        }
                        yield reply.and_then(|text| reply_value(&text)).map(ActionUpdate::Output);
                        return;
                    }
                }
            }
        })
    }
}

/// Hosts exposed things on HTTP and WebSocket.
#[derive(uniffi::Object)]
pub struct NativeServient {
    inner: Servient,
}

impl NativeServient {
    /// The core servient.
    pub(crate) fn core(&self) -> &Servient {
        &self.inner
    }
}

#[uniffi::export]
impl NativeServient {
    /// Configures a servient from options (JSON text); `on_internal_error` receives the errors
    /// callers only see as "internal error".
    #[uniffi::constructor]
    pub fn new(
        options: String,
        on_internal_error: Option<Arc<dyn InternalErrorCallback>>,
    ) -> Result<Arc<Self>, NativeError> {
        let options =
            ServientOptions::from_json(&crate::errors::parse_json(&options, "servient options")?)
                .map_err(|e| type_error(e.to_string()))?;
        let mut builder = options.builder().map_err(|e| match e {
            // A host that is not an IP address is a wrong argument, as a bad member is.
            ThingError::InvalidConfig(message) => type_error(message),
            other => thing_error(&other),
        })?;
        if let Some(hook) = on_internal_error {
            builder = builder.on_internal_error(Arc::new(move |thing, affordance, error| {
                hook.report(
                    thing.to_owned(),
                    affordance.to_owned(),
                    error.code().to_owned(),
                    error.to_string(),
                );
            }));
        }
        let inner = builder.build().map_err(|e| thing_error(&e))?;
        Ok(Arc::new(NativeServient { inner }))
    }

    /// Hosts a thing (TD as JSON text; its forms are replaced by the servient's).
    pub fn expose(&self, td: String) -> Result<Arc<NativeExposedThing>, NativeError> {
        let value = parse_json(&td, "the Thing Description")?;
        let thing = lmos::td::Thing::from_value(value)
            .map_err(|e| NativeError::new("invalid_td", e.to_string()))?;
        let inner = self.inner.expose(thing).map_err(|e| thing_error(&e))?;
        Ok(Arc::new(NativeExposedThing { inner }))
    }

    /// Stops hosting the thing at `slug`; whether there was one.
    pub fn destroy(&self, slug: String) -> bool {
        self.inner.destroy(&slug)
    }

    /// The exposed things.
    pub fn things(&self) -> Vec<Arc<NativeExposedThing>> {
        self.inner
            .things()
            .into_iter()
            .map(|inner| Arc::new(NativeExposedThing { inner }))
            .collect()
    }

    /// Binds the ports and serves; returns the bound HTTP address (`host:port`).
    pub async fn start(&self) -> Result<Option<String>, NativeError> {
        let servient = self.inner.clone();
        run(async move {
            let addresses = servient.start().await.map_err(|e| thing_error(&e))?;
            Ok(addresses.http.map(|a| a.to_string()))
        })
        .await
    }

    /// The bound HTTP address (`host:port`), once started.
    pub fn http_address(&self) -> Option<String> {
        self.inner.addresses().http.map(|a| a.to_string())
    }

    /// The WebSocket address (`host:port`) once started: its own port with `wsPort`, else the
    /// HTTP one; `None` when WebSocket is off.
    pub fn ws_address(&self) -> Option<String> {
        self.inner.addresses().ws.map(|a| a.to_string())
    }

    /// The base URL form hrefs are made from, once known.
    pub fn base_url(&self) -> Option<String> {
        self.inner.base_url()
    }

    /// Stops serving; open streams are closed.
    pub async fn shutdown(&self) -> Result<(), NativeError> {
        let servient = self.inner.clone();
        run(async move {
            servient.shutdown().await;
            Ok(())
        })
        .await
    }
}

/// A thing served by a servient.
#[derive(uniffi::Object)]
pub struct NativeExposedThing {
    pub(crate) inner: ExposedThing,
}

#[uniffi::export]
impl NativeExposedThing {
    /// The URL path segment of the thing.
    pub fn slug(&self) -> String {
        self.inner.slug().to_owned()
    }

    /// The thing's title.
    pub fn title(&self) -> String {
        self.inner.title().to_owned()
    }

    /// The TD as served (JSON text).
    pub fn td(&self) -> String {
        self.inner.thing_description().to_value().to_string()
    }

    /// The URL of the TD, once the base URL is known.
    pub fn td_url(&self) -> Option<String> {
        self.inner.td_url()
    }

    /// Names of the properties.
    pub fn property_names(&self) -> Vec<String> {
        self.inner.property_names()
    }

    /// Stores a property value (JSON text) and notifies observers.
    pub fn set_property(&self, name: String, value: String) -> Result<(), NativeError> {
        let value = parse_json(&value, "the property value")?;
        let _runtime = crate::runtime::handle()?.enter();
        self.inner
            .set_property(&name, value)
            .map_err(|e| thing_error(&e))
    }

    /// The stored value of a property (JSON text).
    pub fn property_value(&self, name: String) -> Result<String, NativeError> {
        self.inner
            .property_value(&name)
            .map(|v| v.to_string())
            .map_err(|e| thing_error(&e))
    }

    /// Emits an event (data as JSON text) to every subscriber.
    pub fn emit_event(&self, name: String, data: String) -> Result<(), NativeError> {
        let data = parse_json(&data, "the event data")?;
        let _runtime = crate::runtime::handle()?.enter();
        self.inner
            .emit_event(&name, data)
            .map_err(|e| thing_error(&e))
    }

    /// How many open observations property `name` has (over any binding).
    pub fn observer_count(&self, name: String) -> Result<u32, NativeError> {
        self.inner
            .observer_count(&name)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| thing_error(&e))
    }

    /// How many open subscriptions event `name` has (over any binding).
    pub fn subscriber_count(&self, name: String) -> Result<u32, NativeError> {
        self.inner
            .subscriber_count(&name)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a Kotlin property read handler.
    pub fn on_property_read(
        &self,
        name: String,
        callback: Arc<dyn PropertyReadCallback>,
    ) -> Result<(), NativeError> {
        self.inner
            .on_property_read(&name, Arc::new(Bridge(callback)))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a Kotlin property write handler.
    pub fn on_property_write(
        &self,
        name: String,
        callback: Arc<dyn PropertyWriteCallback>,
    ) -> Result<(), NativeError> {
        self.inner
            .on_property_write(&name, Arc::new(Bridge(callback)))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a Kotlin action handler returning one output.
    pub fn on_action(
        &self,
        name: String,
        callback: Arc<dyn ActionCallback>,
    ) -> Result<(), NativeError> {
        self.inner
            .on_action(&name, Arc::new(Bridge(callback)))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a Kotlin action handler that reports progress.
    pub fn on_action_stream(
        &self,
        name: String,
        callback: Arc<dyn ActionStreamCallback>,
    ) -> Result<(), NativeError> {
        self.inner
            .on_action_stream(&name, Arc::new(Bridge(callback)))
            .map_err(|e| thing_error(&e))
    }

    /// Registers the handler of the conversational `chat` action: it gets the AgentRequest and
    /// returns an AgentResult or a JSON string (the text of a successful result).
    pub fn on_chat(&self, callback: Arc<dyn ActionCallback>) -> Result<(), NativeError> {
        let handler = lmos::chat::json_chat_handler(Arc::new(Bridge(callback)));
        self.inner
            .on_action(lmos::chat::CHAT_ACTION, handler)
            .map_err(|e| thing_error(&e))
    }
}
