//! Consuming: `ConsumedThing`, action handles and the streams Kotlin turns into `Flow`s.
//!
//! Every call takes the trace context of the Kotlin coroutine that makes it (JSON text
//! `{"traceparent", "tracestate"}` from the `LmosTrace` coroutine context element, set inside
//! handlers) and runs inside it, so calls made from a handler continue its trace.

use std::future::Future;
use std::sync::{Arc, Mutex as SyncMutex};

use futures::StreamExt;
use lmos::thing::handler::BoxStream;
use lmos::thing::{ActionHandle, ConsumeOptions, ConsumedThing, InteractionOptions, ThingError};
use lmos::trace::TraceContext;
use serde_json::{Map, Value};
use tokio::sync::{watch, Mutex};

use crate::errors::{encode, parse_json, thing_error, type_error, NativeError};
use crate::runtime::run;
use crate::td::thing_from;

/// Reads consume options (JSON text, the core's [`lmos::thing::ConsumeSettings`]).
pub fn consume_options(text: &str) -> Result<ConsumeOptions, NativeError> {
    let value = parse_json(text, "the consume options")?;
    ConsumeOptions::from_json(&value).map_err(|e| type_error(format!("bad consume options: {e}")))
}

/// Reads the trace context handed over by Kotlin (`None`: none).
pub fn trace_from(text: Option<String>) -> Result<Option<TraceContext>, NativeError> {
    let Some(text) = text else { return Ok(None) };
    let value = parse_json(&text, "the trace context")?;
    let Some(parent) = value.get("traceparent").and_then(Value::as_str) else {
        return Ok(None);
    };
    let state = value.get("tracestate").and_then(Value::as_str);
    TraceContext::parse(parent, state)
        .map(Some)
        .map_err(|e| thing_error(&ThingError::Trace(e)))
}

/// Per-call options from the `uriVariables` Kotlin sends (a JSON object as text; `None`: none).
fn interaction(uri_variables: Option<String>) -> Result<InteractionOptions, NativeError> {
    let Some(text) = uri_variables else {
        return Ok(InteractionOptions::default());
    };
    let variables: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| type_error(format!("uriVariables must be a JSON object: {e}")))?;
    Ok(InteractionOptions::uri_variables(variables))
}

/// Runs `future` inside the trace context, if any.
pub async fn traced<F: Future>(trace: Option<TraceContext>, future: F) -> F::Output {
    match trace {
        Some(context) => lmos::trace::scope(context, future).await,
        None => future.await,
    }
}

/// Makes a consumed thing from a URL (the TD is fetched and validated).
#[uniffi::export]
pub async fn consume_url(
    url: String,
    options: String,
    trace: Option<String>,
) -> Result<Arc<NativeConsumedThing>, NativeError> {
    let options = consume_options(&options)?;
    let trace = trace_from(trace)?;
    run(async move {
        let inner = traced(trace, ConsumedThing::from_url(&url, options))
            .await
            .map_err(|e| thing_error(&e))?;
        Ok(Arc::new(NativeConsumedThing { inner }))
    })
    .await
}

/// Makes a consumed thing from a TD (JSON text; validated).
#[uniffi::export]
pub fn consume_td(td: String, options: String) -> Result<Arc<NativeConsumedThing>, NativeError> {
    let options = consume_options(&options)?;
    let thing = thing_from(&td)?;
    let inner = ConsumedThing::new(thing, options).map_err(|e| thing_error(&e))?;
    Ok(Arc::new(NativeConsumedThing { inner }))
}

/// Makes a consumed thing from a TD (JSON text; validated), resolving the DID of its signer
/// over the network when the signature policy needs it (`did:web`).
#[uniffi::export]
pub async fn consume_td_verified(
    td: String,
    options: String,
) -> Result<Arc<NativeConsumedThing>, NativeError> {
    let options = consume_options(&options)?;
    let thing = thing_from(&td)?;
    run(async move {
        let inner = ConsumedThing::new_verified(thing, options)
            .await
            .map_err(|e| thing_error(&e))?;
        Ok(Arc::new(NativeConsumedThing { inner }))
    })
    .await
}

/// A thing this process calls.
#[derive(uniffi::Object)]
pub struct NativeConsumedThing {
    pub(crate) inner: ConsumedThing,
}

#[uniffi::export]
impl NativeConsumedThing {
    /// The TD's Data Integrity proofs that verified (JSON text of an array).
    pub fn verified_proofs(&self) -> Result<String, NativeError> {
        let proofs: Vec<Value> = self
            .inner
            .verified_proofs()
            .iter()
            .map(crate::identity::proof_json)
            .collect();
        encode(&proofs)
    }

    /// The TD (JSON text).
    pub fn td(&self) -> String {
        self.inner.thing().to_value().to_string()
    }

    /// `readproperty`; the value as JSON text.
    pub async fn read_property(
        &self,
        name: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<String, NativeError> {
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let value = traced(trace, thing.read_property_with(&name, &options))
                .await
                .map_err(|e| thing_error(&e))?;
            encode(&value)
        })
        .await
    }

    /// `writeproperty` (value as JSON text).
    pub async fn write_property(
        &self,
        name: String,
        value: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<(), NativeError> {
        let value = parse_json(&value, "the property value")?;
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            traced(trace, thing.write_property_with(&name, value, &options))
                .await
                .map_err(|e| thing_error(&e))
        })
        .await
    }

    /// `readallproperties`; an object as JSON text.
    pub async fn read_all_properties(&self, trace: Option<String>) -> Result<String, NativeError> {
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let values = traced(trace, thing.read_all_properties())
                .await
                .map_err(|e| thing_error(&e))?;
            encode(&values)
        })
        .await
    }

    /// `writemultipleproperties` (an object as JSON text).
    pub async fn write_multiple_properties(
        &self,
        values: String,
        trace: Option<String>,
    ) -> Result<(), NativeError> {
        let values: Map<String, Value> = serde_json::from_str(&values)
            .map_err(|e| type_error(format!("property values must be an object: {e}")))?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            traced(trace, thing.write_multiple_properties(values))
                .await
                .map_err(|e| thing_error(&e))
        })
        .await
    }

    /// `invokeaction`, waiting for the output (JSON text).
    pub async fn invoke_action(
        &self,
        name: String,
        input: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<String, NativeError> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let output = traced(trace, thing.invoke_action_with(&name, input, &options))
                .await
                .map_err(|e| thing_error(&e))?;
            encode(&output)
        })
        .await
    }

    /// `invokeaction` as a stream of updates (`{"type": "progress"|"output", "value"}`).
    pub async fn invoke_action_stream(
        &self,
        name: String,
        input: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<Arc<NativeStream>, NativeError> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let updates = traced(
                trace.clone(),
                thing.invoke_action_stream_with(&name, input, &options),
            )
            .await
            .map_err(|e| thing_error(&e))?;
            Ok(NativeStream::updates(updates, trace))
        })
        .await
    }

    /// Invokes an action and returns its handle (the status resource of an asynchronous action).
    pub async fn start_action(
        &self,
        name: String,
        input: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<Arc<NativeActionHandle>, NativeError> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let handle = traced(trace, thing.start_action_with(&name, input, &options))
                .await
                .map_err(|e| thing_error(&e))?;
            Ok(Arc::new(NativeActionHandle { inner: handle }))
        })
        .await
    }

    /// `observeproperty`: the values as they change.
    pub async fn observe_property(
        &self,
        name: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<Arc<NativeStream>, NativeError> {
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let values = traced(trace.clone(), thing.observe_property_with(&name, &options))
                .await
                .map_err(|e| thing_error(&e))?;
            Ok(NativeStream::new(values, trace))
        })
        .await
    }

    /// `subscribeevent`: the data of each event from now on.
    pub async fn subscribe_event(
        &self,
        name: String,
        uri_variables: Option<String>,
        trace: Option<String>,
    ) -> Result<Arc<NativeStream>, NativeError> {
        let options = interaction(uri_variables)?;
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let values = traced(trace.clone(), thing.subscribe_event_with(&name, &options))
                .await
                .map_err(|e| thing_error(&e))?;
            Ok(NativeStream::new(values, trace))
        })
        .await
    }
}

/// The handle of an invoked action.
#[derive(uniffi::Object)]
pub struct NativeActionHandle {
    inner: ActionHandle,
}

#[uniffi::export]
impl NativeActionHandle {
    /// The action's name.
    pub fn action(&self) -> String {
        self.inner.action().to_owned()
    }

    /// Whether the action runs asynchronously (it has a status resource).
    pub fn is_async(&self) -> bool {
        self.inner.is_async()
    }

    /// The URL of the status resource, for asynchronous actions.
    pub fn status_url(&self) -> Option<String> {
        self.inner.status_url().map(str::to_owned)
    }

    /// `queryaction`: the status as JSON text.
    pub async fn query(&self, trace: Option<String>) -> Result<String, NativeError> {
        let (handle, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let status = traced(trace, handle.query())
                .await
                .map_err(|e| thing_error(&e))?;
            encode(&status)
        })
        .await
    }

    /// `cancelaction`.
    pub async fn cancel(&self, trace: Option<String>) -> Result<(), NativeError> {
        let (handle, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            traced(trace, handle.cancel())
                .await
                .map_err(|e| thing_error(&e))
        })
        .await
    }

    /// Waits for the output (JSON text).
    pub async fn output(&self, trace: Option<String>) -> Result<String, NativeError> {
        let (handle, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let output = traced(trace, handle.output())
                .await
                .map_err(|e| thing_error(&e))?;
            encode(&output)
        })
        .await
    }

    /// The updates from now on.
    pub fn updates(&self, trace: Option<String>) -> Result<Arc<NativeStream>, NativeError> {
        Ok(NativeStream::updates(
            self.inner.clone().updates(),
            trace_from(trace)?,
        ))
    }
}

type Values = BoxStream<Result<Value, ThingError>>;

/// A stream of JSON values pulled by Kotlin (`next`) and ended by `close`.
#[derive(uniffi::Object)]
pub struct NativeStream {
    stream: Arc<Mutex<Option<Values>>>,
    closed: watch::Sender<bool>,
    trace: SyncMutex<Option<TraceContext>>,
}

impl NativeStream {
    fn new(values: Values, trace: Option<TraceContext>) -> Arc<Self> {
        Arc::new(NativeStream {
            stream: Arc::new(Mutex::new(Some(values))),
            closed: watch::channel(false).0,
            trace: SyncMutex::new(trace),
        })
    }

    fn updates(updates: lmos::thing::ActionUpdates, trace: Option<TraceContext>) -> Arc<Self> {
        let values = updates.map(|update| {
            update.and_then(|update| {
                serde_json::to_value(update)
                    .map_err(|e| ThingError::Codec(lmos::codec::CodecError::Json(e.to_string())))
            })
        });
        NativeStream::new(Box::pin(values), trace)
    }
}

#[uniffi::export]
impl NativeStream {
    /// The next value as JSON text; `None` when the stream has ended or was closed. An error
    /// ends the stream.
    pub async fn next(&self) -> Result<Option<String>, NativeError> {
        let stream = self.stream.clone();
        let mut closed = self.closed.subscribe();
        let trace = self.trace.lock().unwrap_or_else(|e| e.into_inner()).clone();
        run(async move {
            if *closed.borrow() {
                return Ok(None);
            }
            let mut guard = stream.lock().await;
            let Some(values) = guard.as_mut() else {
                return Ok(None);
            };
            let item = tokio::select! {
                item = traced(trace, values.next()) => item,
                _ = closed.wait_for(|closed| *closed) => None,
            };
            match item {
                Some(Ok(value)) => encode(&value).map(Some),
                Some(Err(error)) => {
                    *guard = None;
                    Err(thing_error(&error))
                }
                None => {
                    *guard = None;
                    Ok(None)
                }
            }
        })
        .await
    }

    /// Ends the stream: a pending `next` returns `None` and the subscription or connection
    /// behind it is closed.
    pub fn end(&self) {
        self.closed.send_replace(true);
        let stream = self.stream.clone();
        // Drop the stream where a Tokio context exists (closing may talk to the peer).
        if let Ok(handle) = crate::runtime::handle() {
            handle.spawn(async move {
                let values = stream.lock().await.take();
                drop(values);
            });
        }
    }
}
