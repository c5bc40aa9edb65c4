//! Things you serve and things you call.
//!
//! - [`Servient`] hosts any number of [`ExposedThing`]s on one HTTP port (or hands out its routes
//!   as an axum `Router`).
//! - [`ExposedThing`] holds the handlers and stored values of one served thing.
//! - [`ConsumedThing`] calls a thing described by a TD, following its forms.
//!
//! Handlers are trait objects ([`PropertyReadHandler`], [`PropertyWriteHandler`],
//! [`ActionHandler`], [`ActionStreamHandler`]) so that language bindings can register their own;
//! the functions in [`handler`] wrap Rust closures.

pub mod consumed;
pub mod exposed;
pub mod handler;
pub mod servient;
mod settings;

pub use consumed::{ActionHandle, ConsumeOptions, ConsumedThing, InteractionOptions, Subprotocol};
pub use exposed::{ExposedThing, InternalErrorHook};
pub use handler::{
    ActionHandler, ActionState, ActionStatus, ActionStreamHandler, ActionUpdate, ActionUpdates,
    BoxFuture, BoxStream, HandlerError, InteractionContext, PropertyReadHandler,
    PropertyWriteHandler, ValueStream,
};
pub use servient::{BoundAddresses, Servient, ServientBuilder, ServientOptions};
pub use settings::ConsumeSettings;

use serde_json::{json, Value};

use crate::codec::CodecError;
use crate::td::payload::PayloadViolation;
use crate::trace::TraceError;

/// Everything that can go wrong when serving or consuming a thing.
///
/// Each variant has a stable [`code`](ThingError::code) that language bindings map to their own
/// exception types.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ThingError {
    /// The servient's configuration is unusable (e.g. a public base URL that is not a URL).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A server socket could not be bound.
    #[error("cannot listen on {address}: {message}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why binding failed.
        message: String,
    },
    /// Another exposed thing already uses this URL path segment.
    #[error("a thing is already exposed at /{0}")]
    DuplicateThing(String),
    /// No thing, affordance or action instance with this name.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// `thing`, `property`, `action`, `event` or `action instance`.
        kind: String,
        /// The name asked for.
        name: String,
    },
    /// The affordance does not allow this operation (e.g. writing a read-only property).
    #[error("{operation} is not allowed on {name:?}")]
    NotAllowed {
        /// The affordance name.
        name: String,
        /// The operation (`writeproperty`, `readproperty`, ...).
        operation: String,
    },
    /// A data schema in the TD cannot be compiled.
    #[error("the schema of {affordance} is not usable: {message}")]
    InvalidSchema {
        /// Which affordance (`properties/x`, `actions/y/input`, ...).
        affordance: String,
        /// The compiler's complaint.
        message: String,
    },
    /// A request body that cannot be read (bad JSON or CBOR, wrong content type).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The input (property value, action input, event data) breaks its schema.
    #[error("invalid {what}: {}", join(.violations))]
    InvalidInput {
        /// What was checked (`input of action rate`, ...).
        what: String,
        /// Every violation.
        violations: Vec<PayloadViolation>,
    },
    /// A value the other side returned breaks its schema.
    #[error("invalid {what}: {}", join(.violations))]
    InvalidOutput {
        /// What was checked.
        what: String,
        /// Every violation.
        violations: Vec<PayloadViolation>,
    },
    /// A handler failed; `message` is for the local log only and is never sent to a peer.
    #[error("handler failed: {message}")]
    HandlerFailed {
        /// The handler's message.
        message: String,
    },
    /// The TD has no form for this operation that the options allow.
    #[error("no usable form for {operation} on {name:?}")]
    NoForm {
        /// The operation.
        operation: String,
        /// The affordance name (empty for thing-level operations).
        name: String,
    },
    /// A fetched or given Thing Description is unusable.
    #[error("invalid Thing Description: {0}")]
    InvalidTd(String),
    /// The peer answered with an error status.
    #[error("the thing answered {status}: {title}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Remote {
        /// HTTP status code.
        status: u16,
        /// Title of the problem document (or the status text).
        title: String,
        /// Detail of the problem document, if any.
        detail: Option<String>,
        /// The whole problem document, if the peer sent one.
        problem: Option<Box<Value>>,
    },
    /// The peer answered 404: it has no such thing, affordance or action instance.
    #[error("the thing answered 404: {title}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    RemoteNotFound {
        /// Title of the problem document (or the status text).
        title: String,
        /// Detail of the problem document, if any.
        detail: Option<String>,
        /// The whole problem document, if the peer sent one.
        problem: Option<Box<Value>>,
    },
    /// The peer answered 400: it refused the request or its input (the violations it listed
    /// in the problem document's `errors`, if any).
    #[error("the thing answered 400: {title}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    RemoteBadRequest {
        /// Title of the problem document (or the status text).
        title: String,
        /// Detail of the problem document, if any.
        detail: Option<String>,
        /// The violations of the problem document's `errors` member.
        violations: Vec<PayloadViolation>,
        /// The whole problem document, if the peer sent one.
        problem: Option<Box<Value>>,
    },
    /// No answer arrived within the configured time (`ConsumeOptions::timeout`).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The peer could not be reached, or the connection broke.
    #[error("transport error: {0}")]
    Transport(String),
    /// A payload could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// An asynchronous action ended in failure.
    #[error("the action failed: {title}")]
    ActionFailed {
        /// Title of the problem.
        title: String,
        /// The problem document, if any.
        problem: Option<Box<Value>>,
    },
    /// An action was cancelled.
    #[error("the action was cancelled")]
    ActionCancelled,
    /// An action instance had already finished when it was cancelled.
    #[error("the action has already finished")]
    ActionFinished,
    /// A trace context could not be made or read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The servient or the stream was shut down.
    #[error("closed")]
    Closed,
}

fn join(violations: &[PayloadViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ThingError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            ThingError::InvalidConfig(_) => "invalid_config",
            ThingError::Bind { .. } => "bind_failed",
            ThingError::DuplicateThing(_) => "duplicate_thing",
            ThingError::NotFound { .. } => "not_found",
            ThingError::NotAllowed { .. } => "not_allowed",
            ThingError::InvalidSchema { .. } => "invalid_schema",
            ThingError::BadRequest(_) => "bad_request",
            ThingError::InvalidInput { .. } => "invalid_input",
            ThingError::InvalidOutput { .. } => "invalid_output",
            ThingError::HandlerFailed { .. } => "handler_failed",
            ThingError::NoForm { .. } => "no_form",
            ThingError::InvalidTd(_) => "invalid_td",
            ThingError::Remote { .. } => "remote_error",
            ThingError::RemoteNotFound { .. } => "remote_not_found",
            ThingError::RemoteBadRequest { .. } => "remote_bad_request",
            ThingError::Timeout(_) => "timeout",
            ThingError::Transport(_) => "transport",
            ThingError::Codec(_) => "codec",
            ThingError::ActionFailed { .. } => "action_failed",
            ThingError::ActionCancelled => "action_cancelled",
            ThingError::ActionFinished => "action_finished",
            ThingError::Trace(_) => "trace",
            ThingError::Closed => "closed",
        }
    }

    /// The error's fields as a JSON object, for language bindings to hand over with
    /// [`code`](ThingError::code): `address` (bind), `kind`/`target` (not found),
    /// `affordance`/`operation`, `what`/`violations` (invalid input or output), `status`,
    /// `title`, `detail`, `problem` (remote answers, action failures); `{}` for the rest.
    pub fn details(&self) -> Value {
        let violations =
            |list: &[PayloadViolation]| serde_json::to_value(list).unwrap_or(Value::Null);
        match self {
            ThingError::Bind { address, .. } => json!({"address": address}),
            ThingError::NotFound { kind, name } => json!({"kind": kind, "target": name}),
            ThingError::NotAllowed { name, operation } => {
                json!({"affordance": name, "operation": operation})
            }
            ThingError::InvalidSchema { affordance, .. } => json!({"affordance": affordance}),
            ThingError::InvalidInput {
                what,
                violations: list,
            }
            | ThingError::InvalidOutput {
                what,
                violations: list,
            } => json!({"what": what, "violations": violations(list)}),
            ThingError::NoForm { operation, name } => {
                json!({"operation": operation, "affordance": name})
            }
            ThingError::Remote {
                status,
                title,
                detail,
                problem,
            } => json!({"status": status, "title": title, "detail": detail, "problem": problem}),
            ThingError::RemoteNotFound {
                title,
                detail,
                problem,
            }
            | ThingError::RemoteBadRequest {
                title,
                detail,
                problem,
                ..
            } => json!({
                "status": self.remote_status(),
                "title": title,
                "detail": detail,
                "problem": problem,
            }),
            ThingError::ActionFailed { title, problem } => {
                json!({"title": title, "problem": problem})
            }
            _ => json!({}),
        }
    }

    /// The HTTP status of an error answer from the peer (`Remote`, `RemoteNotFound`,
    /// `RemoteBadRequest`).
    pub fn remote_status(&self) -> Option<u16> {
        match self {
            ThingError::Remote { status, .. } => Some(*status),
            ThingError::RemoteNotFound { .. } => Some(404),
            ThingError::RemoteBadRequest { .. } => Some(400),
            _ => None,
        }
    }

    /// The problem document of an error answer from the peer, if it sent one.
    pub fn remote_problem(&self) -> Option<&Value> {
        match self {
            ThingError::Remote { problem, .. }
            | ThingError::RemoteNotFound { problem, .. }
            | ThingError::RemoteBadRequest { problem, .. } => problem.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn not_found(kind: &str, name: &str) -> Self {
        ThingError::NotFound {
            kind: kind.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// A lock that survives a panicking holder (the data is plain values, never half-updated).
pub(crate) fn read_lock<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// See [`read_lock`].
pub(crate) fn write_lock<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// See [`read_lock`].
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod details_tests {
    use super::*;

    #[test]
    fn details_carry_the_fields_bindings_hand_over() {
        let missing = ThingError::RemoteNotFound {
            title: "not found".into(),
            detail: Some("no thing named \"x\"".into()),
            problem: None,
        };
        assert_eq!(missing.details()["status"], 404);
        assert_eq!(missing.details()["detail"], "no thing named \"x\"");
        let invalid = ThingError::InvalidInput {
            what: "input of action add".into(),
            violations: vec![PayloadViolation {
                path: "/by".into(),
                rule: "type".into(),
                message: "\"x\" is not of type \"integer\"".into(),
            }],
        };
        assert_eq!(invalid.details()["violations"][0]["path"], "/by");
        assert_eq!(ThingError::ActionCancelled.details(), json!({}));
    }
}
