//! Serving: the servient, exposed things and the bridge that runs JavaScript handlers.
//!
//! A handler registered from JavaScript is one function per affordance that takes a batch of
//! requests (JSON text of an array) and answers through [`settle_handler_replies`]. Requests
//! are queued per handler and handed over in batches (see [`JsBridge::send`]); the batch is
//! taken on the JavaScript thread, so one wake-up of the Node.js event loop carries every
//! request that arrived since the last, and the replies of one turn come back in one call.
//! Requests:
//! `{"op": "invoke", "id", "reply", "input"|"value", "context"}` for property handlers and
//! single-result actions, `{"op": "start"|"next", "id", "reply", ...}` to pull a progress stream,
//! and the fire-and-forget `{"op": "abort"|"return", "id"}` (no `reply`) when the caller cancels
//! or goes away. Members that would be `null` or empty are left out. Replies are tagged JSON
//! text: `v` and the value (a result, or one progress update), `d` and the output that ends a
//! stream, or `e` and `{"kind", "message"}` with kind `failed`, `invalid_input` or `cancelled`
//! (no envelope object to build on one side and take apart on the other). The JavaScript layer
//! never lets a handler's throw escape, so a failing handler becomes a [`HandlerError`] and the
//! server keeps serving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use lmos::thing::handler::{
    ActionHandler, ActionStreamHandler, ActionUpdate, BoxFuture, BoxStream, HandlerError,
    InteractionContext, PropertyReadHandler, PropertyWriteHandler,
};
use lmos::thing::{ExposedThing, Servient, ServientOptions, ThingError};
use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Result, Status};
use napi_derive::napi;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::errors::{parse_json, security_error, thing_error, type_error};
use lmos::security::{TlsOptions, TlsServerConfig, Verifier, VerifierOptions};

/// A JavaScript function taking JSON text and returning a Promise of JSON text. Weak: it does
/// not keep the Node.js event loop alive.
pub type JsCallback = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

/// The JavaScript function of a handler, called with a batch of queued requests (taken when it
/// runs). Weak, as [`JsCallback`].
type JsBatchCallback = ThreadsafeFunction<(), (), String, Status, false, true>;

/// Replies awaited from JavaScript handlers, by reply id.
static REPLIES: LazyLock<Mutex<HashMap<u32, oneshot::Sender<String>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static NEXT_REPLY: AtomicU32 = AtomicU32::new(1);

/// Delivers handlers' replies (JSON text, `texts[i]` for the request `ids[i]` named), all
/// collected in one turn of the JavaScript thread; a reply nobody waits for any more (the
/// caller went away) is dropped.
#[napi]
pub fn settle_handler_replies(ids: Vec<u32>, texts: Vec<String>) {
    let ready: Vec<_> = {
        let mut replies = REPLIES.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .zip(texts)
            .filter_map(|(id, text)| replies.remove(id).map(|sender| (sender, text)))
            .collect()
    };
    if ready.is_empty() {
        return;
    }
    // Sent from a Tokio task: the waiting tasks then wake on the worker that runs it. Sent from
    // this thread, each reply would wake the worker on its own, and with the server on one CPU
    // every such wake-up switches threads.
    napi::bindgen_prelude::spawn(async move {
        for (sender, text) in ready {
            let _ = sender.send(text);
        }
    });
}

/// A reply slot in [`REPLIES`]; removed when dropped unanswered (the caller went away).
struct ReplySlot(u32);

impl ReplySlot {
    fn open() -> (ReplySlot, oneshot::Receiver<String>) {
        let (sender, receiver) = oneshot::channel();
        let mut replies = REPLIES.lock().unwrap_or_else(|e| e.into_inner());
        let mut id = NEXT_REPLY.fetch_add(1, Ordering::Relaxed);
        while id == 0 || replies.contains_key(&id) {
            id = NEXT_REPLY.fetch_add(1, Ordering::Relaxed);
        }
        replies.insert(id, sender);
        (ReplySlot(id), receiver)
    }
}

impl Drop for ReplySlot {
    fn drop(&mut self) {
        REPLIES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// Requests (JSON text) queued for one JavaScript handler, with the reply id each awaits.
#[derive(Default)]
struct Queued {
    requests: Vec<(String, Option<u32>)>,
    /// A hand-over to JavaScript is under way (from the first request queued until JavaScript
    /// takes the batch): later requests join that batch instead of waking the thread again.
    handing_over: bool,
}

impl Queued {
    /// Takes every queued request; the next one queued starts a new hand-over.
    fn take(&mut self) -> Vec<(String, Option<u32>)> {
        self.handing_over = false;
        std::mem::take(&mut self.requests)
    }
}

type RequestQueue = Arc<Mutex<Queued>>;

/// The requests queued for one JavaScript handler and the function that takes them.
struct JsBridge {
    queue: RequestQueue,
    callback: JsBatchCallback,
}

impl JsBridge {
    fn new(function: Function<'_, String, ()>) -> Result<Self> {
        let queue: RequestQueue = Arc::default();
        let taken = queue.clone();
        let callback = function
            .build_threadsafe_function::<()>()
            .weak::<true>()
            .build_callback(move |_| {
                // On the JavaScript thread: everything queued until now, as one array.
                let batch = taken.lock().unwrap_or_else(|e| e.into_inner()).take();
                let length = batch.iter().map(|(r, _)| r.len() + 1).sum::<usize>();
                let mut text = String::with_capacity(2 + length);
                text.push('[');
                for (i, (request, _)) in batch.iter().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(request);
                }
                text.push(']');
                Ok(text)
            })?;
        Ok(JsBridge { queue, callback })
    }

    /// Queues a request (awaiting the reply `reply`, if any) for JavaScript. The hand-over
    /// waits until the Tokio worker has run the other tasks that are ready (one `yield_now`), so
    /// that every request those tasks queue goes in the same batch: with the server on one CPU,
    /// waking the Node.js thread per request would switch threads twice per request. Requests
    /// queued after the wake-up but before JavaScript takes the batch join it too.
    fn send(
        self: &Arc<Self>,
        request: String,
        reply: Option<u32>,
    ) -> std::result::Result<(), Status> {
        {
            let mut queued = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queued.requests.push((request, reply));
            if std::mem::replace(&mut queued.handing_over, true) {
                return Ok(());
            }
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let this = self.clone();
                runtime.spawn(async move {
                    tokio::task::yield_now().await;
                    let _ = this.flush();
                });
                Ok(())
            }
            Err(_) => self.flush(),
        }
    }

    /// Wakes the JavaScript thread to take the queue. Fails when the Node.js environment is
    /// going away; then every queued request fails with it.
    fn flush(&self) -> std::result::Result<(), Status> {
        match self
            .callback
            .call((), ThreadsafeFunctionCallMode::NonBlocking)
        {
            Status::Ok => Ok(()),
            status => {
                let stranded = self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
                let mut replies = REPLIES.lock().unwrap_or_else(|e| e.into_inner());
                // Dropping a sender ends that caller's wait.
                for id in stranded.into_iter().filter_map(|(_, reply)| reply) {
                    replies.remove(&id);
                }
                Err(status)
            }
        }
    }
}

/// Servient options (JSON text) with the verifier and TLS configuration they describe, built
/// here so that unusable security settings are `ConfigurationError`s with a `security_*` code
/// (the other members' mistakes stay `TypeError`s). `security` goes through the core's reader,
/// whose errors name members, never values; the errors of the other members lose the value serde
/// quotes (`invalid type: string "…"`), so a secret in the wrong place is not echoed either.
fn servient_options(
    text: &str,
) -> Result<(ServientOptions, Option<Verifier>, Option<TlsServerConfig>)> {
    let mut value = parse_json(text, "servient options")?;
    let mut take = |name: &str| {
        value
            .as_object_mut()
            .and_then(|members| members.remove(name))
            .filter(|member| !member.is_null())
    };
    let security = take("security");
    let tls = take("tls");
    let options = ServientOptions::from_json(&value).map_err(|e| type_error(e.to_string()))?;
    let verifier = security
        .map(|security| VerifierOptions::from_json(&security).and_then(VerifierOptions::build))
        .transpose()
        .map_err(|e| security_error(&e))?;
    let tls = tls
        .map(|tls| TlsOptions::from_json(&tls).and_then(TlsOptions::build))
        .transpose()
        .map_err(|e| security_error(&e))?;
    Ok((options, verifier, tls))
}

/// Hosts exposed things on one HTTP port.
#[napi]
pub struct NativeServient {
    pub(crate) inner: Servient,
}

#[napi]
impl NativeServient {
    /// Configures a servient from options (JSON text); `on_internal_error` receives
    /// `{thing, affordance, code, message}` for errors callers only see as "internal error".
    #[napi(constructor)]
    pub fn new(options: String, on_internal_error: Option<JsCallback>) -> Result<Self> {
        let (options, verifier, tls) = servient_options(&options)?;
        let mut builder = options.builder().map_err(|e| match e {
            // A host that is not an IP address is a wrong argument, as a bad member is.
            ThingError::InvalidConfig(message) => type_error(message),
            other => thing_error(&other),
        })?;
        if let Some(verifier) = verifier {
            builder = builder.verifier(verifier);
        }
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        if let Some(hook) = on_internal_error {
            let hook = Arc::new(hook);
            builder = builder.on_internal_error(Arc::new(move |thing, affordance, error| {
                let report = json!({
                    "thing": thing,
                    "affordance": affordance,
                    "code": error.code(),
                    "message": error.to_string(),
                });
                hook.call(report.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
            }));
        }
        let inner = builder.build().map_err(|e| thing_error(&e))?;
        Ok(NativeServient { inner })
    }

    /// Hosts a thing (TD as JSON text; forms are replaced by the servient's).
    #[napi]
    pub fn expose(&self, td: String) -> Result<NativeExposedThing> {
        let value = parse_json(&td, "the Thing Description")?;
        let thing = lmos::td::Thing::from_value(value)
            .map_err(|e| crate::errors::encoded("invalid_td", &e.to_string(), json!({})))?;
        let inner = self.inner.expose(thing).map_err(|e| thing_error(&e))?;
        Ok(NativeExposedThing { inner })
    }

    /// Stops hosting the thing at `slug`; whether there was one.
    #[napi]
    pub fn destroy(&self, slug: String) -> bool {
        self.inner.destroy(&slug)
    }

    /// The exposed things.
    #[napi]
    pub fn things(&self) -> Vec<NativeExposedThing> {
        self.inner
            .things()
            .into_iter()
            .map(|inner| NativeExposedThing { inner })
            .collect()
    }

    /// Binds the HTTP port and serves; resolves to the bound address (`host:port`).
    #[napi]
    pub async fn start(&self) -> Result<Option<String>> {
        let addresses = self.inner.start().await.map_err(|e| thing_error(&e))?;
        Ok(addresses.http.map(|a| a.to_string()))
    }

    /// The bound HTTP address (`host:port`), if started.
    #[napi]
    pub fn http_address(&self) -> Option<String> {
        self.inner.addresses().http.map(|a| a.to_string())
    }

    /// The WebSocket address (`host:port`) once started: its own port with `wsPort`, else the
    /// HTTP one; `None` when WebSocket is off.
    #[napi]
    pub fn ws_address(&self) -> Option<String> {
        self.inner.addresses().ws.map(|a| a.to_string())
    }

    /// The base URL form hrefs are made from, once known.
    #[napi]
    pub fn base_url(&self) -> Option<String> {
        self.inner.base_url()
    }

    /// Stops serving; open streams are closed.
    #[napi]
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown().await;
        Ok(())
    }
}

/// A thing served by a servient.
#[napi]
pub struct NativeExposedThing {
    pub(crate) inner: ExposedThing,
}

#[napi]
impl NativeExposedThing {
    /// The URL path segment of the thing.
    #[napi(getter)]
    pub fn slug(&self) -> String {
        self.inner.slug().to_owned()
    }

    /// The thing's title.
    #[napi(getter)]
    pub fn title(&self) -> String {
        self.inner.title().to_owned()
    }

    /// The TD as served (JSON text).
    #[napi]
    pub fn td(&self) -> String {
        self.inner.thing_description().to_value().to_string()
    }

    /// The URL of the TD, once the base URL is known.
    #[napi]
    pub fn td_url(&self) -> Option<String> {
        self.inner.td_url()
    }

    /// Names of the properties.
    #[napi]
    pub fn property_names(&self) -> Vec<String> {
        self.inner.property_names()
    }

    /// Stores a property value (JSON text) and notifies observers.
    #[napi]
    pub fn set_property(&self, name: String, value: String) -> Result<()> {
        let value = parse_json(&value, "the property value")?;
        self.inner
            .set_property(&name, value)
            .map_err(|e| thing_error(&e))
    }

    /// The stored value of a property (JSON text).
    #[napi]
    pub fn property_value(&self, name: String) -> Result<String> {
        self.inner
            .property_value(&name)
            .map(|v| v.to_string())
            .map_err(|e| thing_error(&e))
    }

    /// Emits an event (data as JSON text).
    #[napi]
    pub fn emit_event(&self, name: String, data: String) -> Result<()> {
        let data = parse_json(&data, "the event data")?;
        self.inner
            .emit_event(&name, data)
            .map_err(|e| thing_error(&e))
    }

    /// Registers a JavaScript property read handler.
    #[napi]
    pub fn on_property_read(&self, name: String, callback: Function<'_, String, ()>) -> Result<()> {
        self.inner
            .on_property_read(&name, Arc::new(JsHandler::new(callback)?))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a JavaScript property write handler.
    #[napi]
    pub fn on_property_write(
        &self,
        name: String,
        callback: Function<'_, String, ()>,
    ) -> Result<()> {
        self.inner
            .on_property_write(&name, Arc::new(JsHandler::new(callback)?))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a JavaScript action handler returning one output.
    #[napi]
    pub fn on_action(&self, name: String, callback: Function<'_, String, ()>) -> Result<()> {
        self.inner
            .on_action(&name, Arc::new(JsHandler::new(callback)?))
            .map_err(|e| thing_error(&e))
    }

    /// Registers a JavaScript handler for the conversational `chat` action: it gets the
    /// AgentRequest and returns an AgentResult or a string (the text of a successful result).
    #[napi]
    pub fn on_chat(&self, callback: Function<'_, String, ()>) -> Result<()> {
        let handler = lmos::chat::json_chat_handler(Arc::new(JsHandler::new(callback)?));
        self.inner
            .on_action(lmos::chat::CHAT_ACTION, handler)
            .map_err(|e| thing_error(&e))
    }

    /// Registers a JavaScript action handler that reports progress (an async generator).
    #[napi]
    pub fn on_action_stream(&self, name: String, callback: Function<'_, String, ()>) -> Result<()> {
        self.inner
            .on_action_stream(&name, Arc::new(JsHandler::new(callback)?))
            .map_err(|e| thing_error(&e))
    }
}

/// A JavaScript handler behind the core's handler traits.
struct JsHandler {
    bridge: Arc<JsBridge>,
    next_id: AtomicU64,
}

impl JsHandler {
    fn new(function: Function<'_, String, ()>) -> Result<Self> {
        Ok(JsHandler {
            bridge: Arc::new(JsBridge::new(function)?),
            next_id: AtomicU64::new(1),
        })
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// One request to the JavaScript side, written straight to JSON text (no `Value` tree).
#[derive(serde::Serialize)]
struct JsRequest<'a> {
    op: &'static str,
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<JsContext<'a>>,
    /// The slot the reply goes to, when one is awaited.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<u32>,
}

impl<'a> JsRequest<'a> {
    /// A request with nothing but its operation and call id.
    fn bare(op: &'static str, id: u64) -> Self {
        JsRequest {
            op,
            id,
            input: None,
            value: None,
            context: None,
            reply: None,
        }
    }

    /// A request that starts a handler call in `context`.
    fn call(op: &'static str, id: u64, context: &'a InteractionContext) -> Self {
        JsRequest {
            context: Some(JsContext::of(context)),
            ..JsRequest::bare(op, id)
        }
    }
}

/// What JavaScript learns about the interaction (`context`): the trace context the handler runs
/// in (the caller's, or the new root the core made), the action instance id, who the caller proved
/// to be (`principal`, `null` for open things) and the URI variables.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    uri_variables: &'a serde_json::Map<String, Value>,
}

impl<'a> JsContext<'a> {
    fn of(context: &'a InteractionContext) -> Self {
        let trace = lmos::trace::current().or_else(|| context.trace().cloned());
        JsContext {
            traceparent: trace.as_ref().map(|t| t.traceparent()),
            tracestate: trace
                .as_ref()
                .and_then(|t| t.tracestate())
                .map(str::to_owned),
            action_id: context.action_id(),
            principal: context.principal().map(lmos::security::Principal::to_json),
            uri_variables: context.uri_variables(),
        }
    }
}

/// A handler's successful reply: the value, and whether it ends a stream.
struct Reply {
    value: Value,
    done: bool,
}

impl Reply {
    /// Reads a tagged reply (see the module documentation).
    fn parse(text: &str) -> std::result::Result<Reply, HandlerError> {
        let unreadable =
            |e: serde_json::Error| HandlerError::Failed(format!("unreadable handler reply: {e}"));
        let (tag, json) = text.split_at_checked(1).unwrap_or(("", text));
        match tag {
            "v" | "d" => Ok(Reply {
                value: serde_json::from_str(json).map_err(unreadable)?,
                done: tag == "d",
            }),
            "e" => {
                #[derive(serde::Deserialize)]
                struct Failure {
                    kind: Option<String>,
                    message: Option<String>,
                }
                let failure: Failure = serde_json::from_str(json).map_err(unreadable)?;
                let message = failure
                    .message
                    .unwrap_or_else(|| "the handler failed".to_owned());
                Err(match failure.kind.as_deref() {
                    Some("invalid_input") => HandlerError::InvalidInput(message),
                    Some("cancelled") => HandlerError::Cancelled,
                    _ => HandlerError::Failed(message),
                })
            }
            _ => Err(HandlerError::Failed(format!(
                "unreadable handler reply: unknown tag {tag:?}"
            ))),
        }
    }
}

/// Calls the JavaScript side and reads its reply.
async fn call(
    bridge: &Arc<JsBridge>,
    mut request: JsRequest<'_>,
) -> std::result::Result<Reply, HandlerError> {
    let (slot, reply) = ReplySlot::open();
    request.reply = Some(slot.0);
    let text = serde_json::to_string(&request)
        .map_err(|e| HandlerError::Failed(format!("cannot write the handler call: {e}")))?;
    bridge
        .send(text, Some(slot.0))
        .map_err(|e| HandlerError::Failed(format!("cannot call the JavaScript handler: {e}")))?;
    let reply = reply.await.map_err(|_| {
        HandlerError::Failed("the JavaScript handler's environment went away".to_owned())
    })?;
    drop(slot);
    Reply::parse(&reply)
}

/// Tells JavaScript that a call is no longer wanted (`abort`/`return`) when dropped armed.
struct Pending {
    bridge: Arc<JsBridge>,
    id: u64,
    op: &'static str,
    armed: bool,
}

impl Pending {
    fn fire(bridge: &Arc<JsBridge>, op: &'static str, id: u64) {
        let request = serde_json::to_string(&JsRequest::bare(op, id)).unwrap_or_default();
        // Fire and forget: a closing environment means there is nobody left to tell.
        let _ = bridge.send(request, None);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            Pending::fire(&self.bridge, self.op, self.id);
        }
    }
}

/// Awaits a reply, telling JavaScript (`abort`) once when the caller cancels; keeps waiting
/// for the handler to finish after that.
async fn until_done<F>(
    future: F,
    bridge: &Arc<JsBridge>,
    id: u64,
    context: &InteractionContext,
) -> std::result::Result<Reply, HandlerError>
where
    F: std::future::Future<Output = std::result::Result<Reply, HandlerError>>,
{
    tokio::pin!(future);
    let mut aborted = false;
    loop {
        tokio::select! {
            reply = &mut future => return reply,
            () = context.cancelled(), if !aborted => {
                aborted = true;
                Pending::fire(bridge, "abort", id);
            }
        }
    }
}

impl PropertyReadHandler for JsHandler {
    fn read(
        &self,
        context: InteractionContext,
    ) -> BoxFuture<std::result::Result<Value, HandlerError>> {
        let bridge = self.bridge.clone();
        let id = self.id();
        Box::pin(async move {
            Ok(call(&bridge, JsRequest::call("invoke", id, &context))
                .await?
                .value)
        })
    }
}

impl PropertyWriteHandler for JsHandler {
    fn write(
        &self,
        value: Value,
        context: InteractionContext,
    ) -> BoxFuture<std::result::Result<(), HandlerError>> {
        let bridge = self.bridge.clone();
        let id = self.id();
        Box::pin(async move {
            let request = JsRequest {
                value: Some(&value),
                ..JsRequest::call("invoke", id, &context)
            };
            call(&bridge, request).await.map(|_| ())
        })
    }
}

impl ActionHandler for JsHandler {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<std::result::Result<Value, HandlerError>> {
        let bridge = self.bridge.clone();
        let id = self.id();
        Box::pin(async move {
            let mut pending = Pending {
                bridge: bridge.clone(),
                id,
                op: "abort",
                armed: true,
            };
            let request = JsRequest {
                input: Some(&input),
                ..JsRequest::call("invoke", id, &context)
            };
            let reply = until_done(call(&bridge, request), &bridge, id, &context).await;
            pending.armed = false;
            reply.map(|reply| reply.value)
        })
    }
}

impl ActionStreamHandler for JsHandler {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxStream<std::result::Result<ActionUpdate, HandlerError>> {
        let bridge = self.bridge.clone();
        let id = self.id();
        Box::pin(async_stream::stream! {
            // Dropped before the generator finished (caller gone, action cancelled): return() it.
            let mut pending = Pending { bridge: bridge.clone(), id, op: "return", armed: true };
            let start = JsRequest {
                input: Some(&input),
                ..JsRequest::call("start", id, &context)
            };
            if let Err(error) = call(&bridge, start).await {
                pending.armed = false;
                yield Err(error);
                return;
            }
            loop {
                let step = call(&bridge, JsRequest::bare("next", id));
                match until_done(step, &bridge, id, &context).await {
                    Ok(Reply { value, done: true }) => {
                        pending.armed = false;
                        yield Ok(ActionUpdate::Output(value));
                        return;
                    }
                    Ok(Reply { value, done: false }) => {
                        yield Ok(ActionUpdate::Progress(value));
                    }
                    Err(error) => {
                        pending.armed = false;
                        yield Err(error);
                        return;
                    }
                }
            }
        })
    }
}
