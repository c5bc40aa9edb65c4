//! The one error type that crosses into Kotlin, and its encoding of core errors.
//!
//! `code` is the core error's stable `code()` (or `invalid_td`, `invalid_payload`,
//! `invalid_schema`, `type_error`, `closed`, `runtime`); `details` is a JSON object with the
//! error's fields (`report`, `violations`, `status`, `problem`, ...), in the same shape the Node
//! binding sends.

use lmos::td::payload::{PayloadError, PayloadViolation};
use lmos::td::validate::ValidationReport;
use lmos::thing::ThingError;
use serde_json::{json, Value};

/// A failure of a native call.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum NativeError {
    /// Any lmos error: its code, text and details (JSON object as text).
    #[error("{text}")]
    Lmos {
        /// Stable machine-readable code.
        code: String,
        /// Human-readable description.
        text: String,
        /// The error's fields as a JSON object (text).
        details: String,
    },
}

impl NativeError {
    /// An error without details.
    pub fn new(code: &str, text: impl Into<String>) -> Self {
        NativeError::with_details(code, text, json!({}))
    }

    /// An error with details.
    pub fn with_details(code: &str, text: impl Into<String>, details: Value) -> Self {
        NativeError::Lmos {
            code: code.to_owned(),
            text: text.into(),
            details: details.to_string(),
        }
    }
}

/// A value from Kotlin that is not what the call needs (a bug of the caller).
pub fn type_error(message: impl Into<String>) -> NativeError {
    NativeError::new("type_error", message)
}

fn violations(violations: &[PayloadViolation]) -> Value {
    serde_json::to_value(violations).unwrap_or(Value::Null)
}

/// `invalid_td` with the whole report.
pub fn invalid_td(report: &ValidationReport) -> NativeError {
    NativeError::with_details(
        "invalid_td",
        format!("invalid Thing Description: {report}"),
        json!({"report": report.to_json()}),
    )
}

/// `invalid_payload` (with violations), or `invalid_schema` when the schema cannot be compiled.
pub fn payload_error(error: &PayloadError) -> NativeError {
    match error {
        PayloadError::Invalid(list) => NativeError::with_details(
            "invalid_payload",
            error.to_string(),
            json!({"violations": violations(list)}),
        ),
        PayloadError::Schema(_) => NativeError::new("invalid_schema", error.to_string()),
    }
}

/// The encoded form of a core error, with its fields as details.
pub fn thing_error(error: &ThingError) -> NativeError {
    NativeError::with_details(error.code(), error.to_string(), error.details())
}

/// Parses JSON text handed over by the Kotlin layer.
pub fn parse_json(text: &str, what: &str) -> Result<Value, NativeError> {
    serde_json::from_str(text).map_err(|e| type_error(format!("{what} is not JSON: {e}")))
}

/// Serializes a value for Kotlin.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<String, NativeError> {
    serde_json::to_string(value).map_err(|e| type_error(e.to_string()))
}
