//! Handler traits for exposed things, the context handed to them, and the shapes of action
//! results.
//!
//! Every handler is an object-safe trait with methods that return boxed futures or streams, so a
//! language binding can implement it for its own callable type and register it as
//! `Arc<dyn Trait>`. Rust code usually wraps a closure with [`read_with`], [`write_with`],
//! [`invoke_with`] or [`stream_with`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::ThingError;
use crate::security::Principal;
use crate::trace::TraceContext;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
/// A boxed, sendable stream.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;
/// A stream of values (observed property values, event data) or errors.
pub type ValueStream = BoxStream<Result<Value, ThingError>>;
/// A stream of action updates (progress values, then the output) or errors.
pub type ActionUpdates = BoxStream<Result<ActionUpdate, ThingError>>;

/// What a handler returns when it fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The handler failed. The message stays on the server: the caller gets a generic
    /// "internal error" problem document.
    #[error("{0}")]
    Failed(String),
    /// The handler refuses the input for a reason the schema cannot express; the message is sent
    /// to the caller (HTTP 400).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The handler stopped because the action was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl HandlerError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            HandlerError::Failed(_) => "handler_failed",
            HandlerError::InvalidInput(_) => "invalid_input",
            HandlerError::Cancelled => "cancelled",
        }
    }
}

/// One item of an action's result stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum ActionUpdate {
    /// An intermediate status (progress report).
    Progress(Value),
    /// The action's output; nothing follows it.
    Output(Value),
}

/// What a handler learns about the interaction that called it.
#[derive(Debug, Clone, Default)]
pub struct InteractionContext {
    trace: Option<TraceContext>,
    action_id: Option<String>,
    cancel: Option<watch::Receiver<bool>>,
    uri_variables: Map<String, Value>,
    principal: Option<Arc<Principal>>,
}

impl InteractionContext {
    /// A context with the given incoming trace context. Inside a request a servient admitted,
    /// it carries that request's [`Principal`].
    pub fn new(trace: Option<TraceContext>) -> Self {
        InteractionContext {
            trace,
            action_id: None,
            cancel: None,
            uri_variables: Map::new(),
            principal: crate::security::principal::current(),
        }
    }

    /// The same context with `principal` as the caller (for bindings and tests that build
    /// contexts themselves).
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(Arc::new(principal));
        self
    }

    /// Who called, as the thing's security established it: the scheme that admitted the
    /// request, the user, token subject or DID, the token's scopes and the verified
    /// credentials presented. `None` when the thing is open (or the caller passed `nosec`)
    /// and for calls made in-process.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_deref()
    }

    /// The same context with the interaction's `uriVariables` (already checked against the
    /// affordance's schemas).
    pub fn with_uri_variables(mut self, variables: Map<String, Value>) -> Self {
        self.uri_variables = variables;
        self
    }

    /// The `uriVariables` the caller sent (over HTTP: the query string of the form's
    /// `{?a,b}` template), by name; empty when there are none.
    pub fn uri_variables(&self) -> &Map<String, Value> {
        &self.uri_variables
    }

    pub(crate) fn for_action(
        trace: Option<TraceContext>,
        action_id: Option<String>,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        InteractionContext {
            trace,
            action_id,
            cancel: Some(cancel),
            uri_variables: Map::new(),
            principal: crate::security::principal::current(),
        }
    }

    /// The caller's trace context (`traceparent` / `tracestate`), if it sent one.
    pub fn trace(&self) -> Option<&TraceContext> {
        self.trace.as_ref()
    }

    /// The id of the action instance, for asynchronous actions.
    pub fn action_id(&self) -> Option<&str> {
        self.action_id.as_deref()
    }

    /// Whether the caller cancelled the action.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Completes when the caller cancels the action (never, for interactions that cannot be
    /// cancelled).
    pub async fn cancelled(&self) {
        match &self.cancel {
            Some(rx) => {
                let mut rx = rx.clone();
                if rx.wait_for(|cancelled| *cancelled).await.is_err() {
                    // The action instance is gone; nobody can cancel any more.
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// Produces the value of a property when it is read.
pub trait PropertyReadHandler: Send + Sync + 'static {
    /// Reads the property.
    fn read(&self, context: InteractionContext) -> BoxFuture<Result<Value, HandlerError>>;
}

/// Accepts a new value of a property (already checked against the property's schema).
pub trait PropertyWriteHandler: Send + Sync + 'static {
    /// Writes the property.
    fn write(
        &self,
        value: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<(), HandlerError>>;
}

/// Runs an action and returns its output.
pub trait ActionHandler: Send + Sync + 'static {
    /// Invokes the action with its input (`null` when the caller sent none), already checked
    /// against the action's input schema.
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<Value, HandlerError>>;
}

/// Runs an action that reports progress: a stream of [`ActionUpdate::Progress`] items ending with
/// one [`ActionUpdate::Output`] (a stream that ends without one has output `null`).
pub trait ActionStreamHandler: Send + Sync + 'static {
    /// Invokes the action.
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxStream<Result<ActionUpdate, HandlerError>>;
}

struct ReadFn<F>(F);
struct WriteFn<F>(F);
struct InvokeFn<F>(F);
struct StreamFn<F>(F);

impl<F, Fut> PropertyReadHandler for ReadFn<F>
where
    F: Fn(InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    fn read(&self, context: InteractionContext) -> BoxFuture<Result<Value, HandlerError>> {
        Box::pin((self.0)(context))
    }
}

impl<F, Fut> PropertyWriteHandler for WriteFn<F>
where
    F: Fn(Value, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn write(
        &self,
        value: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<(), HandlerError>> {
        Box::pin((self.0)(value, context))
    }
}

impl<F, Fut> ActionHandler for InvokeFn<F>
where
    F: Fn(Value, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<Value, HandlerError>> {
        Box::pin((self.0)(input, context))
    }
}

impl<F, S> ActionStreamHandler for StreamFn<F>
where
    F: Fn(Value, InteractionContext) -> S + Send + Sync + 'static,
    S: Stream<Item = Result<ActionUpdate, HandlerError>> + Send + 'static,
{
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxStream<Result<ActionUpdate, HandlerError>> {
        Box::pin((self.0)(input, context))
    }
}

/// Wraps an async closure as a property read handler.
pub fn read_with<F, Fut>(f: F) -> Arc<dyn PropertyReadHandler>
where
    F: Fn(InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    Arc::new(ReadFn(f))
}

/// Wraps an async closure as a property write handler.
pub fn write_with<F, Fut>(f: F) -> Arc<dyn PropertyWriteHandler>
where
    F: Fn(Value, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    Arc::new(WriteFn(f))
}

/// Wraps an async closure as an action handler.
pub fn invoke_with<F, Fut>(f: F) -> Arc<dyn ActionHandler>
where
    F: Fn(Value, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send + 'static,
{
    Arc::new(InvokeFn(f))
}

/// Wraps a closure returning a stream as a progress-reporting action handler.
pub fn stream_with<F, S>(f: F) -> Arc<dyn ActionStreamHandler>
where
    F: Fn(Value, InteractionContext) -> S + Send + Sync + 'static,
    S: Stream<Item = Result<ActionUpdate, HandlerError>> + Send + 'static,
{
    Arc::new(StreamFn(f))
}

/// The state of an asynchronous action instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionState {
    /// Accepted, not yet running.
    Pending,
    /// Running.
    Running,
    /// Finished with an output.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled by a caller.
    Cancelled,
}

impl ActionState {
    /// Whether the instance has finished (completed, failed or cancelled).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ActionState::Completed | ActionState::Failed | ActionState::Cancelled
        )
    }
}

/// The action-status resource of an asynchronous action (the body of `queryaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionStatus {
    /// Instance id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Current state.
    pub status: ActionState,
    /// The latest progress value, if the handler reported any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Value>,
    /// The output, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// A problem document, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// URL of this status resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// When the action was invoked (RFC 3339).
    #[serde(
        rename = "timeRequested",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_requested: Option<String>,
    /// When the action finished (RFC 3339).
    #[serde(rename = "timeEnded", default, skip_serializing_if = "Option::is_none")]
    pub time_ended: Option<String>,
}

/// Formats a system time as an RFC 3339 UTC timestamp with millisecond precision.
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() as i64;
    let millis = since.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
    }

    #[test]
    fn action_updates_serialize_tagged() {
        let json = serde_json::to_value(ActionUpdate::Progress(Value::from(1))).unwrap();
        assert_eq!(json, serde_json::json!({"type": "progress", "value": 1}));
    }
}
