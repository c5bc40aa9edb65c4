//! Encoding of core errors for the JavaScript layer.
//!
//! Every error is a napi `Error` whose message is `{"lmos": code, "message": text, "details":
//! {...}}`. `code` is [`ThingError::code`] (or `invalid_td`, `invalid_payload`, `type_error`);
//! `details` carries the error's fields (`report`, `violations`, `status`, `problem`, ...); a
//! field the core calls `name` is sent as `target` or `affordance`, since `name` is taken on a
//! JavaScript `Error`.

use lmos::td::payload::{PayloadError, PayloadViolation};
use lmos::td::validate::ValidationReport;
use lmos::thing::ThingError;
use napi::Status;
use serde_json::{json, Value};

/// An error with a code, a message and details, as the JavaScript layer reads it.
pub fn encoded(code: &str, message: &str, details: Value) -> napi::Error {
    let text = json!({"lmos": code, "message": message, "details": details}).to_string();
    napi::Error::new(Status::GenericFailure, text)
}

/// A value from JavaScript that is not what the call needs (becomes a `TypeError`).
pub fn type_error(message: impl Into<String>) -> napi::Error {
    encoded("type_error", &message.into(), json!({}))
}

fn violations(violations: &[PayloadViolation]) -> Value {
    serde_json::to_value(violations).unwrap_or(Value::Null)
}

/// `InvalidThingDescription` with the whole report.
pub fn invalid_td(report: &ValidationReport) -> napi::Error {
    let message = format!("invalid Thing Description: {report}");
    encoded("invalid_td", &message, json!({"report": report.to_json()}))
}

/// `InvalidPayload` (with violations), or `invalid_schema` when the schema cannot be compiled.
pub fn payload_error(error: &PayloadError) -> napi::Error {
    match error {
        PayloadError::Invalid(list) => encoded(
            "invalid_payload",
            &error.to_string(),
            json!({"violations": violations(list)}),
        ),
        PayloadError::Schema(_) => encoded("invalid_schema", &error.to_string(), json!({})),
    }
}

/// The encoded form of a core error, with its fields as details.
pub fn thing_error(error: &ThingError) -> napi::Error {
    encoded(error.code(), &error.to_string(), error.details())
}

/// Parses JSON text handed over by the JavaScript layer.
pub fn parse_json(text: &str, what: &str) -> napi::Result<Value> {
    serde_json::from_str(text).map_err(|e| type_error(format!("{what} is not JSON: {e}")))
}

/// `ConfigurationError` for unusable security settings, with the security code
/// (`security_invalid_options`, `security_tls`, ...); messages name members, never secrets.
pub fn security_error(error: &lmos::security::SecurityError) -> napi::Error {
    encoded(error.code(), &error.to_string(), json!({}))
}
