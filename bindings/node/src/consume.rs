//! Consuming: `ConsumedThing`, action handles and the streams handed to JavaScript.
//!
//! Every call takes the trace context of the JavaScript code that makes it (JSON text
//! `{"traceparent", "tracestate"}`, from the handler context the JavaScript layer keeps in an
//! `AsyncLocalStorage`) and runs inside it, so calls made from a handler continue its trace.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use lmos::thing::handler::BoxStream;
use lmos::thing::{ActionHandle, ConsumeOptions, ConsumedThing, InteractionOptions, ThingError};
use lmos::trace::TraceContext;
use napi::Result;
use napi_derive::napi;
use serde_json::{Map, Value};
use tokio::sync::{watch, Mutex};

use crate::errors::{parse_json, thing_error, type_error};
use crate::td::thing_from;

/// Consume options (JSON text, the core's [`lmos::thing::ConsumeSettings`]).
pub(crate) fn consume_options(text: &str) -> Result<ConsumeOptions> {
    let value = parse_json(text, "consume options")?;
    ConsumeOptions::from_json(&value).map_err(|e| type_error(e.to_string()))
}

/// Per-call options: the `uriVariables` object (JSON text; `null` or absent: none).
fn interaction_options(uri_variables: Option<String>) -> Result<InteractionOptions> {
    let Some(text) = uri_variables else {
        return Ok(InteractionOptions::default());
    };
    match parse_json(&text, "uriVariables")? {
        Value::Null => Ok(InteractionOptions::default()),
        Value::Object(map) => Ok(InteractionOptions::uri_variables(map)),
        _ => Err(type_error("uriVariables must be an object")),
    }
}

/// Reads the trace context handed over by JavaScript (`null` or absent: none).
pub(crate) fn trace_from(text: Option<String>) -> Result<Option<TraceContext>> {
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

pub(crate) async fn traced<F: Future>(trace: Option<TraceContext>, future: F) -> F::Output {
    match trace {
        Some(context) => lmos::trace::scope(context, future).await,
        None => future.await,
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| type_error(e.to_string()))
}

/// Makes a consumed thing from a URL (the TD is fetched and validated).
#[napi]
pub async fn consume_url(
    url: String,
    options: String,
    trace: Option<String>,
) -> Result<NativeConsumedThing> {
    let options = consume_options(&options)?;
    let trace = trace_from(trace)?;
    let inner = traced(trace, ConsumedThing::from_url(&url, options))
        .await
        .map_err(|e| thing_error(&e))?;
    Ok(NativeConsumedThing { inner })
}

/// Makes a consumed thing from a TD (JSON text; validated).
#[napi]
pub fn consume_td(td: String, options: String) -> Result<NativeConsumedThing> {
    let options = consume_options(&options)?;
    let thing = thing_from(&td)?;
    let inner = ConsumedThing::new(thing, options).map_err(|e| thing_error(&e))?;
    Ok(NativeConsumedThing { inner })
}

/// Makes a consumed thing from a TD (JSON text; validated), resolving the DID of its signer
/// over the network when the signature policy needs it (`did:web`).
#[napi]
pub async fn consume_td_verified(td: String, options: String) -> Result<NativeConsumedThing> {
    let options = consume_options(&options)?;
    let thing = thing_from(&td)?;
    let inner = ConsumedThing::new_verified(thing, options)
        .await
        .map_err(|e| thing_error(&e))?;
    Ok(NativeConsumedThing { inner })
}

/// A thing this process calls.
#[napi]
pub struct NativeConsumedThing {
    pub(crate) inner: ConsumedThing,
}

#[napi]
impl NativeConsumedThing {
    /// The TD's Data Integrity proofs that verified (JSON text of an array).
    #[napi]
    pub fn verified_proofs(&self) -> Result<String> {
        let proofs: Vec<Value> = self
            .inner
            .verified_proofs()
            .iter()
            .map(crate::identity::proof_json)
            .collect();
        encode(&proofs)
    }

    /// The TD (JSON text).
    #[napi]
    pub fn td(&self) -> String {
        self.inner.thing().to_value().to_string()
    }

    /// `readproperty`; the value as JSON text.
    #[napi]
    pub async fn read_property(
        &self,
        name: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<String> {
        let options = interaction_options(uri_variables)?;
        let value = traced(
            trace_from(trace)?,
            self.inner.read_property_with(&name, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        encode(&value)
    }

    /// `writeproperty` (value as JSON text).
    #[napi]
    pub async fn write_property(
        &self,
        name: String,
        value: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<()> {
        let value = parse_json(&value, "the property value")?;
        let options = interaction_options(uri_variables)?;
        traced(
            trace_from(trace)?,
            self.inner.write_property_with(&name, value, &options),
        )
        .await
        .map_err(|e| thing_error(&e))
    }

    /// `readallproperties`; an object as JSON text.
    #[napi]
    pub async fn read_all_properties(&self, trace: Option<String>) -> Result<String> {
        let values = traced(trace_from(trace)?, self.inner.read_all_properties())
            .await
            .map_err(|e| thing_error(&e))?;
        encode(&values)
    }

    /// `writemultipleproperties` (an object as JSON text).
    #[napi]
    pub async fn write_multiple_properties(
        &self,
        values: String,
        trace: Option<String>,
    ) -> Result<()> {
        let values: Map<String, Value> = serde_json::from_str(&values)
            .map_err(|e| type_error(format!("property values must be an object: {e}")))?;
        traced(
            trace_from(trace)?,
            self.inner.write_multiple_properties(values),
        )
        .await
        .map_err(|e| thing_error(&e))
    }

    /// `invokeaction`, waiting for the output (JSON text).
    #[napi]
    pub async fn invoke_action(
        &self,
        name: String,
        input: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<String> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction_options(uri_variables)?;
        let output = traced(
            trace_from(trace)?,
            self.inner.invoke_action_with(&name, input, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        encode(&output)
    }

    /// `invokeaction` as a stream of updates (`{"type": "progress"|"output", "value"}`).
    #[napi]
    pub async fn invoke_action_stream(
        &self,
        name: String,
        input: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<NativeStream> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction_options(uri_variables)?;
        let trace = trace_from(trace)?;
        let updates = traced(
            trace.clone(),
            self.inner.invoke_action_stream_with(&name, input, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        Ok(NativeStream::updates(updates, trace))
    }

    /// Invokes an action and returns its handle (status resource of an asynchronous action).
    #[napi]
    pub async fn start_action(
        &self,
        name: String,
        input: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<NativeActionHandle> {
        let input = parse_json(&input, "the action input")?;
        let options = interaction_options(uri_variables)?;
        let handle = traced(
            trace_from(trace)?,
            self.inner.start_action_with(&name, input, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        Ok(NativeActionHandle { inner: handle })
    }

    /// `observeproperty`: the values as they change.
    #[napi]
    pub async fn observe_property(
        &self,
        name: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<NativeStream> {
        let options = interaction_options(uri_variables)?;
        let trace = trace_from(trace)?;
        let values = traced(
            trace.clone(),
            self.inner.observe_property_with(&name, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        Ok(NativeStream::new(values, trace))
    }

    /// `subscribeevent`: the data of each event from now on.
    #[napi]
    pub async fn subscribe_event(
        &self,
        name: String,
        trace: Option<String>,
        uri_variables: Option<String>,
    ) -> Result<NativeStream> {
        let options = interaction_options(uri_variables)?;
        let trace = trace_from(trace)?;
        let values = traced(
            trace.clone(),
            self.inner.subscribe_event_with(&name, &options),
        )
        .await
        .map_err(|e| thing_error(&e))?;
        Ok(NativeStream::new(values, trace))
    }
}

/// The handle of an invoked action.
#[napi]
pub struct NativeActionHandle {
    inner: ActionHandle,
}

#[napi]
impl NativeActionHandle {
    /// The action's name.
    #[napi(getter)]
    pub fn action(&self) -> String {
        self.inner.action().to_owned()
    }

    /// Whether the action runs asynchronously (it has a status resource).
    #[napi(getter)]
    pub fn is_async(&self) -> bool {
        self.inner.is_async()
    }

    /// The URL of the status resource, for asynchronous actions.
    #[napi(getter)]
    pub fn status_url(&self) -> Option<String> {
        self.inner.status_url().map(str::to_owned)
    }

    /// `queryaction`: the status as JSON text.
    #[napi]
    pub async fn query(&self, trace: Option<String>) -> Result<String> {
        let status = traced(trace_from(trace)?, self.inner.query())
            .await
            .map_err(|e| thing_error(&e))?;
        encode(&status)
    }

    /// `cancelaction`.
    #[napi]
    pub async fn cancel(&self, trace: Option<String>) -> Result<()> {
        traced(trace_from(trace)?, self.inner.cancel())
            .await
            .map_err(|e| thing_error(&e))
    }

    /// Waits for the output (JSON text).
    #[napi]
    pub async fn output(&self, trace: Option<String>) -> Result<String> {
        let output = traced(trace_from(trace)?, self.inner.clone().output())
            .await
            .map_err(|e| thing_error(&e))?;
        encode(&output)
    }

    /// The updates from now on.
    #[napi]
    pub fn updates(&self, trace: Option<String>) -> Result<NativeStream> {
        Ok(NativeStream::updates(
            self.inner.clone().updates(),
            trace_from(trace)?,
        ))
    }
}

type Values = BoxStream<std::result::Result<Value, ThingError>>;

/// A stream of JSON values pulled by JavaScript (`next`) and cancelled by `close`.
#[napi]
pub struct NativeStream {
    stream: Arc<Mutex<Option<Values>>>,
    closed: watch::Sender<bool>,
    trace: Option<TraceContext>,
}

impl NativeStream {
    fn new(values: Values, trace: Option<TraceContext>) -> Self {
        NativeStream {
            stream: Arc::new(Mutex::new(Some(values))),
            closed: watch::channel(false).0,
            trace,
        }
    }

    fn updates(updates: lmos::thing::ActionUpdates, trace: Option<TraceContext>) -> Self {
        let values = updates.map(|update| {
            update.and_then(|update| {
                serde_json::to_value(update)
                    .map_err(|e| ThingError::Codec(lmos::codec::CodecError::Json(e.to_string())))
            })
        });
        NativeStream::new(Box::pin(values), trace)
    }
}

#[napi]
impl NativeStream {
    /// The next value as JSON text; `null` when the stream has ended or was closed. An error
    /// ends the stream.
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
            item = traced(self.trace.clone(), stream.next()) => item,
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
    }

    /// Ends the stream: a pending `next` resolves to `null` and the connection is closed.
    #[napi]
    pub async fn close(&self) -> Result<()> {
        self.closed.send_replace(true);
        let stream = self.stream.lock().await.take();
        drop(stream);
        Ok(())
    }
}
