//! The `lmos.LmosError` exception hierarchy and the mapping of core errors onto it.
//!
//! Every exception lmos raises derives from `LmosError` and carries `code`, the stable code of the
//! core error it stands for ([`ThingError::code`]). One subclass per kind of failure:
//!
//! | Python class | core |
//! |---|---|
//! | `InvalidThingDescription` | TD validation report, `ThingError::InvalidTd` |
//! | `InvalidPayload` | a value against a data schema (`check_payload`) |
//! | `InvalidInput` (an `InvalidPayload`) | `ThingError::InvalidInput`; raised by a handler: `HandlerError::InvalidInput` |
//! | `InvalidOutput` (an `InvalidPayload`) | `ThingError::InvalidOutput` |
//! | `ConfigurationError` | `InvalidConfig`, `DuplicateThing`, `InvalidSchema` |
//! | `BindError` | `Bind` |
//! | `NotFound` | `NotFound` |
//! | `NotAllowed` | `NotAllowed` |
//! | `BadRequest` | `BadRequest` |
//! | `HandlerFailed` | `HandlerFailed` |
//! | `NoForm` | `NoForm` |
//! | `RemoteError` | `Remote`, `RemoteNotFound` (404), `RemoteBadRequest` (400) (`status`, `title`, `detail`, `problem`; `code` tells them apart) |
//! | `TransportError` | `Transport` (unreachable peer, broken connection), `Timeout` |
//! | `CodecError` | `Codec` |
//! | `ActionFailed` | `ActionFailed` (`problem`) |
//! | `ActionCancelled` | `ActionCancelled` |
//! | `ActionFinished` | `ActionFinished` |
//! | `TraceError` | `Trace` |
//! | `Closed` | `Closed` |

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

use lmos::td::payload::{PayloadError, PayloadViolation};
use lmos::td::validate::ValidationReport;
use lmos::thing::ThingError;

use crate::convert::to_py;

create_exception!(
    lmos,
    LmosError,
    PyException,
    "Base class of every error lmos raises."
);
create_exception!(
    lmos,
    InvalidThingDescription,
    LmosError,
    "A Thing Description is not valid; `report` holds every problem."
);
create_exception!(
    lmos,
    InvalidPayload,
    LmosError,
    "A value does not match its data schema; `violations` lists every broken rule."
);
create_exception!(
    lmos,
    InvalidInput,
    InvalidPayload,
    "An input (property value, action input, event data) breaks its schema. Raise it from a \
     handler to refuse an input with a message the caller sees (HTTP 400)."
);
create_exception!(
    lmos,
    InvalidOutput,
    InvalidPayload,
    "A value a thing returned breaks the schema its TD promises."
);
create_exception!(
    lmos,
    ConfigurationError,
    LmosError,
    "Unusable configuration: a bad public base URL, a duplicate thing, an uncompilable schema."
);
create_exception!(
    lmos,
    BindError,
    LmosError,
    "A server port could not be bound."
);
create_exception!(
    lmos,
    NotFound,
    LmosError,
    "No thing, property, action, event or action instance with that name."
);
create_exception!(
    lmos,
    NotAllowed,
    LmosError,
    "The affordance does not allow the operation (e.g. writing a read-only property)."
);
create_exception!(
    lmos,
    BadRequest,
    LmosError,
    "A request that cannot be read, or an input a handler refused."
);
create_exception!(lmos, HandlerFailed, LmosError, "A handler failed.");
create_exception!(
    lmos,
    NoForm,
    LmosError,
    "The TD has no form for the operation that the consume options allow."
);
create_exception!(
    lmos,
    RemoteError,
    LmosError,
    "The thing answered with an error status; `status`, `title`, `detail` and `problem` tell more."
);
create_exception!(
    lmos,
    TransportError,
    LmosError,
    "The thing could not be reached, the connection broke or the request timed out."
);
create_exception!(
    lmos,
    CodecError,
    LmosError,
    "A payload could not be encoded or decoded."
);
create_exception!(
    lmos,
    ActionFailed,
    LmosError,
    "An asynchronous action ended in failure; `problem` holds the problem document."
);
create_exception!(
    lmos,
    ActionCancelled,
    LmosError,
    "The action was cancelled."
);
create_exception!(
    lmos,
    ActionFinished,
    LmosError,
    "The action had already finished when it was cancelled."
);
create_exception!(
    lmos,
    TraceError,
    LmosError,
    "A W3C trace context could not be read or made."
);
create_exception!(
    lmos,
    Closed,
    LmosError,
    "The servient or the stream was shut down."
);

/// Registers the exception classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: [(&str, Bound<'_, PyType>); 20] = [
        ("LmosError", py.get_type::<LmosError>()),
        (
            "InvalidThingDescription",
            py.get_type::<InvalidThingDescription>(),
        ),
        ("InvalidPayload", py.get_type::<InvalidPayload>()),
        ("InvalidInput", py.get_type::<InvalidInput>()),
        ("InvalidOutput", py.get_type::<InvalidOutput>()),
        ("ConfigurationError", py.get_type::<ConfigurationError>()),
        ("BindError", py.get_type::<BindError>()),
        ("NotFound", py.get_type::<NotFound>()),
        ("NotAllowed", py.get_type::<NotAllowed>()),
        ("BadRequest", py.get_type::<BadRequest>()),
        ("HandlerFailed", py.get_type::<HandlerFailed>()),
        ("NoForm", py.get_type::<NoForm>()),
        ("RemoteError", py.get_type::<RemoteError>()),
        ("TransportError", py.get_type::<TransportError>()),
        ("CodecError", py.get_type::<CodecError>()),
        ("ActionFailed", py.get_type::<ActionFailed>()),
        ("ActionCancelled", py.get_type::<ActionCancelled>()),
        ("ActionFinished", py.get_type::<ActionFinished>()),
        ("TraceError", py.get_type::<TraceError>()),
        ("Closed", py.get_type::<Closed>()),
    ];
    for (name, class) in classes {
        m.add(name, class)?;
    }
    Ok(())
}

/// Sets `name` on the exception value; a failure only loses the extra attribute.
fn with_attr<'py, T: IntoPyObject<'py>>(py: Python<'py>, err: &PyErr, name: &str, value: T) {
    let _ = err.value(py).setattr(name, value);
}

fn violations_list<'py>(
    py: Python<'py>,
    violations: &[PayloadViolation],
) -> Option<Bound<'py, PyAny>> {
    let list: Vec<serde_json::Value> = violations
        .iter()
        .map(|v| serde_json::json!({"path": v.path, "rule": v.rule, "message": v.message}))
        .collect();
    to_py(py, &serde_json::Value::Array(list)).ok()
}

/// `InvalidThingDescription` carrying the report as a dict in its `report` attribute.
pub fn invalid_td(py: Python<'_>, report: &ValidationReport) -> PyErr {
    let err = InvalidThingDescription::new_err(report.to_string());
    if let Ok(report) = to_py(py, &report.to_json()) {
        with_attr(py, &err, "report", report);
    }
    with_attr(py, &err, "code", "invalid_td");
    err
}

/// `InvalidPayload` (with `violations`) or, for an unusable schema, `ConfigurationError`.
pub fn payload_error(py: Python<'_>, error: &PayloadError) -> PyErr {
    match error {
        PayloadError::Invalid(violations) => {
            let err = InvalidPayload::new_err(error.to_string());
            if let Some(list) = violations_list(py, violations) {
                with_attr(py, &err, "violations", list);
            }
            with_attr(py, &err, "code", "invalid_payload");
            err
        }
        PayloadError::Schema(_) => {
            let err = ConfigurationError::new_err(error.to_string());
            with_attr(py, &err, "code", "invalid_schema");
            err
        }
    }
}

/// The Python exception for a core error: the subclass for its kind, with `code` and the error's
/// details as attributes.
pub fn thing_error(py: Python<'_>, error: &ThingError) -> PyErr {
    let message = error.to_string();
    let err = match error {
        ThingError::InvalidConfig(_)
        | ThingError::DuplicateThing(_)
        | ThingError::InvalidSchema { .. } => ConfigurationError::new_err(message),
        ThingError::Bind { .. } => BindError::new_err(message),
        ThingError::NotFound { kind, name } => {
            let err = NotFound::new_err(message);
            with_attr(py, &err, "kind", kind.as_str());
            with_attr(py, &err, "name", name.as_str());
            err
        }
        ThingError::NotAllowed { name, operation } => {
            let err = NotAllowed::new_err(message);
            with_attr(py, &err, "name", name.as_str());
            with_attr(py, &err, "operation", operation.as_str());
            err
        }
        ThingError::BadRequest(_) => BadRequest::new_err(message),
        ThingError::InvalidInput { violations, .. }
        | ThingError::InvalidOutput { violations, .. } => {
            let err = if matches!(error, ThingError::InvalidInput { .. }) {
                InvalidInput::new_err(message)
            } else {
                InvalidOutput::new_err(message)
            };
            if let Some(list) = violations_list(py, violations) {
                with_attr(py, &err, "violations", list);
            }
            err
        }
        ThingError::HandlerFailed { .. } => HandlerFailed::new_err(message),
        ThingError::NoForm { .. } => NoForm::new_err(message),
        ThingError::InvalidTd(_) => InvalidThingDescription::new_err(message),
        ThingError::Remote {
            status,
            title,
            detail,
            problem,
        } => {
            let err = RemoteError::new_err(message);
            with_attr(py, &err, "status", *status);
            with_attr(py, &err, "title", title.as_str());
            with_attr(py, &err, "detail", detail.as_deref());
            let problem = problem.as_ref().and_then(|p| to_py(py, p).ok());
            with_attr(py, &err, "problem", problem);
            err
        }
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
        } => {
            let err = RemoteError::new_err(message);
            with_attr(py, &err, "status", error.remote_status().unwrap_or(0));
            with_attr(py, &err, "title", title.as_str());
            with_attr(py, &err, "detail", detail.as_deref());
            let problem = problem.as_ref().and_then(|p| to_py(py, p).ok());
            with_attr(py, &err, "problem", problem);
            err
        }
        ThingError::Transport(_) | ThingError::Timeout(_) => TransportError::new_err(message),
        ThingError::Codec(_) => CodecError::new_err(message),
        ThingError::ActionFailed { title, problem } => {
            let err = ActionFailed::new_err(message);
            with_attr(py, &err, "title", title.as_str());
            let problem = problem.as_ref().and_then(|p| to_py(py, p).ok());
            with_attr(py, &err, "problem", problem);
            err
        }
        ThingError::ActionCancelled => ActionCancelled::new_err(message),
        ThingError::ActionFinished => ActionFinished::new_err(message),
        ThingError::Trace(_) => TraceError::new_err(message),
        ThingError::Closed => Closed::new_err(message),
    };
    with_attr(py, &err, "code", error.code());
    err
}

/// [`thing_error`] for use where no GIL token is at hand (inside futures).
pub fn to_pyerr(error: ThingError) -> PyErr {
    crate::bridge::attach_alive(|py| thing_error(py, &error))
        .unwrap_or_else(|| Closed::new_err(error.to_string()))
}
