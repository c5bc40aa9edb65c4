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
//!
//! Discovery ([`DiscoveryError`], [`DirectoryError`]); every class derives from `DirectoryError`:
//!
//! | Python class | code |
//! |---|---|
//! | `DirectoryNotFound` (`id`) | `directory_not_found` |
//! | `DirectoryInvalidTd` | `directory_invalid_td` |
//! | `DirectoryBadRequest` | `directory_bad_request` |
//! | `DirectoryStoreError` | `directory_store` |
//! | `DirectoryUnreachable` | `directory_transport` |
//! | `DirectoryStatusError` (`status`, `detail`) | `directory_status` |
//! | `DirectoryConfigError` | `directory_config` |
//! | `NotRegistrable` | `discovery_not_registrable` |
//! | `DirectoryError` itself | `discovery_mdns` |
//!
//! Identity ([`IdentityError`]); every class derives from `IdentityError` and is named after its
//! code (`identity_invalid_key` → `InvalidKey`, `identity_signature_invalid` →
//! `SignatureInvalid`, ...; `identity_random` is `IdentityError` itself).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyType;

use lmos::discovery::{DirectoryError as CoreDirectoryError, DiscoveryError};
use lmos::identity::IdentityError as CoreIdentityError;
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

create_exception!(
    lmos,
    DirectoryError,
    LmosError,
    "A Thing Description Directory operation failed (base of the directory errors)."
);
create_exception!(
    lmos,
    DirectoryNotFound,
    DirectoryError,
    "The directory has no (unexpired) Thing Description with that id; `id` names it."
);
create_exception!(
    lmos,
    DirectoryInvalidTd,
    DirectoryError,
    "The directory refused the Thing Description as invalid; nothing was stored."
);
create_exception!(
    lmos,
    DirectoryBadRequest,
    DirectoryError,
    "A malformed directory request (a bad query, a TD without id to update, ...)."
);
create_exception!(
    lmos,
    DirectoryStoreError,
    DirectoryError,
    "The directory's storage (SQLite file, PostgreSQL database) failed."
);
create_exception!(
    lmos,
    DirectoryUnreachable,
    DirectoryError,
    "The directory could not be reached, or answered something that is not the directory API."
);
create_exception!(
    lmos,
    DirectoryStatusError,
    DirectoryError,
    "The directory answered with an error status; `status` and `detail` tell more."
);
create_exception!(
    lmos,
    DirectoryConfigError,
    DirectoryError,
    "Unusable directory configuration: a bad URL, an address that cannot be bound."
);
create_exception!(
    lmos,
    NotRegistrable,
    DirectoryError,
    "The thing cannot be registered yet (its servient has not started) or the ttl is too short."
);
create_exception!(
    lmos,
    IdentityError,
    LmosError,
    "A key, DID, proof, token or credential problem (base of the identity errors)."
);
create_exception!(
    lmos,
    InvalidKey,
    IdentityError,
    "A key (JWK, multibase, bytes) is malformed or not an Ed25519 key."
);
create_exception!(
    lmos,
    KeyFileError,
    IdentityError,
    "A key file could not be read or written."
);
create_exception!(
    lmos,
    InvalidDid,
    IdentityError,
    "A DID or DID URL is malformed."
);
create_exception!(
    lmos,
    UnsupportedDidMethod,
    IdentityError,
    "The DID method is not one lmos resolves (did:key, did:web)."
);
create_exception!(
    lmos,
    DidResolutionError,
    IdentityError,
    "Resolving a DID failed (network, HTTP status, size, TLS)."
);
create_exception!(
    lmos,
    InvalidDidDocument,
    IdentityError,
    "A DID document is malformed or belongs to another DID."
);
create_exception!(
    lmos,
    VerificationMethodError,
    IdentityError,
    "The DID document does not authorize the verification method for this purpose."
);
create_exception!(
    lmos,
    ProofMissing,
    IdentityError,
    "The document carries no proof."
);
create_exception!(
    lmos,
    InvalidProof,
    IdentityError,
    "A proof is malformed or of an unsupported kind."
);
create_exception!(
    lmos,
    SignatureInvalid,
    IdentityError,
    "A signature does not match the document (tampered with, or another key)."
);
create_exception!(
    lmos,
    InvalidToken,
    IdentityError,
    "A DID-auth token is malformed."
);
create_exception!(
    lmos,
    TokenExpired,
    IdentityError,
    "The DID-auth token has expired."
);
create_exception!(
    lmos,
    TokenNotValid,
    IdentityError,
    "The DID-auth token is not valid now (issued in the future, too long-lived)."
);
create_exception!(
    lmos,
    WrongAudience,
    IdentityError,
    "The DID-auth token is meant for another thing; `expected` is this one."
);
create_exception!(
    lmos,
    TokenReplayed,
    IdentityError,
    "The DID-auth token was already used."
);
create_exception!(
    lmos,
    InvalidCredential,
    IdentityError,
    "A verifiable credential is malformed or does not verify."
);
create_exception!(
    lmos,
    CredentialNotValid,
    IdentityError,
    "The credential is outside its validity period."
);
create_exception!(
    lmos,
    CredentialRequired,
    IdentityError,
    "A credential is required; `credential_type` and `issuer` name it."
);

/// Registers the exception classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let classes: Vec<(&str, Bound<'_, PyType>)> = vec![
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
        ("DirectoryError", py.get_type::<DirectoryError>()),
        ("DirectoryNotFound", py.get_type::<DirectoryNotFound>()),
        ("DirectoryInvalidTd", py.get_type::<DirectoryInvalidTd>()),
        ("DirectoryBadRequest", py.get_type::<DirectoryBadRequest>()),
        ("DirectoryStoreError", py.get_type::<DirectoryStoreError>()),
        (
            "DirectoryUnreachable",
            py.get_type::<DirectoryUnreachable>(),
        ),
        (
            "DirectoryStatusError",
            py.get_type::<DirectoryStatusError>(),
        ),
        (
            "DirectoryConfigError",
            py.get_type::<DirectoryConfigError>(),
        ),
        ("NotRegistrable", py.get_type::<NotRegistrable>()),
        ("IdentityError", py.get_type::<IdentityError>()),
        ("InvalidKey", py.get_type::<InvalidKey>()),
        ("KeyFileError", py.get_type::<KeyFileError>()),
        ("InvalidDid", py.get_type::<InvalidDid>()),
        (
            "UnsupportedDidMethod",
            py.get_type::<UnsupportedDidMethod>(),
        ),
        ("DidResolutionError", py.get_type::<DidResolutionError>()),
        ("InvalidDidDocument", py.get_type::<InvalidDidDocument>()),
        (
            "VerificationMethodError",
            py.get_type::<VerificationMethodError>(),
        ),
        ("ProofMissing", py.get_type::<ProofMissing>()),
        ("InvalidProof", py.get_type::<InvalidProof>()),
        ("SignatureInvalid", py.get_type::<SignatureInvalid>()),
        ("InvalidToken", py.get_type::<InvalidToken>()),
        ("TokenExpired", py.get_type::<TokenExpired>()),
        ("TokenNotValid", py.get_type::<TokenNotValid>()),
        ("WrongAudience", py.get_type::<WrongAudience>()),
        ("TokenReplayed", py.get_type::<TokenReplayed>()),
        ("InvalidCredential", py.get_type::<InvalidCredential>()),
        ("CredentialNotValid", py.get_type::<CredentialNotValid>()),
        ("CredentialRequired", py.get_type::<CredentialRequired>()),
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

/// The Python exception for a directory error: its `DirectoryError` subclass, with `code`.
pub fn directory_error(py: Python<'_>, error: &CoreDirectoryError) -> PyErr {
    let message = error.to_string();
    let err = match error {
        CoreDirectoryError::NotFound { id } => {
            let err = DirectoryNotFound::new_err(message);
            with_attr(py, &err, "id", id.as_str());
            err
        }
        CoreDirectoryError::Invalid(_) => DirectoryInvalidTd::new_err(message),
        CoreDirectoryError::BadRequest(_) => DirectoryBadRequest::new_err(message),
        CoreDirectoryError::Store(_) => DirectoryStoreError::new_err(message),
        CoreDirectoryError::Transport(_) => DirectoryUnreachable::new_err(message),
        CoreDirectoryError::Status { status, detail } => {
            let err = DirectoryStatusError::new_err(message);
            with_attr(py, &err, "status", *status);
            with_attr(py, &err, "detail", detail.as_str());
            err
        }
        CoreDirectoryError::Config(_) => DirectoryConfigError::new_err(message),
    };
    with_attr(py, &err, "code", error.code());
    err
}

/// The Python exception for a discovery error (a directory error, or registration refused).
pub fn discovery_error(py: Python<'_>, error: &DiscoveryError) -> PyErr {
    let err = match error {
        DiscoveryError::Directory(inner) => return directory_error(py, inner),
        DiscoveryError::NotRegistrable(_) => NotRegistrable::new_err(error.to_string()),
        DiscoveryError::Mdns(_) => DirectoryError::new_err(error.to_string()),
    };
    with_attr(py, &err, "code", error.code());
    err
}

/// The Python exception for an identity error: its `IdentityError` subclass, with `code`. The
/// core's messages carry no secret (no key, token or signature text).
pub fn identity_error(py: Python<'_>, error: &CoreIdentityError) -> PyErr {
    let message = error.to_string();
    let err = match error {
        CoreIdentityError::InvalidKey(_) => InvalidKey::new_err(message),
        CoreIdentityError::KeyFile { path, .. } => {
            let err = KeyFileError::new_err(message);
            with_attr(py, &err, "path", path.as_str());
            err
        }
        CoreIdentityError::InvalidDid { did, .. } => {
            let err = InvalidDid::new_err(message);
            with_attr(py, &err, "did", did.as_str());
            err
        }
        CoreIdentityError::UnsupportedMethod(_) => UnsupportedDidMethod::new_err(message),
        CoreIdentityError::Resolution { did, .. } => {
            let err = DidResolutionError::new_err(message);
            with_attr(py, &err, "did", did.as_str());
            err
        }
        CoreIdentityError::InvalidDidDocument { did, .. } => {
            let err = InvalidDidDocument::new_err(message);
            with_attr(py, &err, "did", did.as_str());
            err
        }
        CoreIdentityError::VerificationMethod {
            method,
            relationship,
        } => {
            let err = VerificationMethodError::new_err(message);
            with_attr(py, &err, "method", method.as_str());
            with_attr(py, &err, "relationship", relationship.as_str());
            err
        }
        CoreIdentityError::ProofMissing => ProofMissing::new_err(message),
        CoreIdentityError::InvalidProof(_) => InvalidProof::new_err(message),
        CoreIdentityError::SignatureInvalid(_) => SignatureInvalid::new_err(message),
        CoreIdentityError::InvalidToken(_) => InvalidToken::new_err(message),
        CoreIdentityError::TokenExpired => TokenExpired::new_err(message),
        CoreIdentityError::TokenNotValid(_) => TokenNotValid::new_err(message),
        CoreIdentityError::WrongAudience { expected } => {
            let err = WrongAudience::new_err(message);
            with_attr(py, &err, "expected", expected.as_str());
            err
        }
        CoreIdentityError::TokenReplayed => TokenReplayed::new_err(message),
        CoreIdentityError::InvalidCredential(_) => InvalidCredential::new_err(message),
        CoreIdentityError::CredentialNotValid(_) => CredentialNotValid::new_err(message),
        CoreIdentityError::CredentialRequired {
            credential_type,
            issuer,
        } => {
            let err = CredentialRequired::new_err(message);
            with_attr(py, &err, "credential_type", credential_type.as_str());
            with_attr(py, &err, "issuer", issuer.as_str());
            err
        }
        CoreIdentityError::Random(_) => IdentityError::new_err(message),
        CoreIdentityError::InvalidOptions(_) => ConfigurationError::new_err(message),
    };
    with_attr(py, &err, "code", error.code());
    err
}

/// Runs `f` attached to the interpreter to make an exception inside a future.
pub fn in_future(make: impl for<'py> FnOnce(Python<'py>) -> PyErr, message: String) -> PyErr {
    crate::bridge::attach_alive(make).unwrap_or_else(|| Closed::new_err(message))
}
