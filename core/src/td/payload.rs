//! Validation of payloads (property values, action input and output, event data) against an
//! affordance's [`DataSchema`].

use serde_json::Value;

use super::model::DataSchema;

/// One way a payload breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadViolation {
    /// JSON pointer to the offending part of the payload (`""` for the whole value).
    pub path: String,
    /// The schema keyword that was broken (`type`, `required`, `maximum`, ...).
    pub rule: String,
    /// A sentence a person understands.
    pub message: String,
}

impl std::fmt::Display for PayloadViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.rule)
    }
}

/// Why a payload could not be checked or was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayloadError {
    /// The data schema itself cannot be compiled (for instance an invalid `pattern`).
    #[error("the data schema is not usable: {0}")]
    Schema(String),
    /// The payload breaks the schema; every violation is listed.
    #[error("the payload does not match its schema: {}", join(.0))]
    Invalid(Vec<PayloadViolation>),
}

fn join(violations: &[PayloadViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A compiled [`DataSchema`], ready to check many payloads.
///
/// ```
/// use lmos::td::{DataSchema, payload::PayloadValidator};
/// let v = PayloadValidator::new(&DataSchema::of_type("string").describe("a question")).unwrap();
/// assert!(v.validate(&serde_json::json!("hi")).is_ok());
/// assert!(v.validate(&serde_json::json!(3)).is_err());
/// ```
pub struct PayloadValidator {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for PayloadValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadValidator").finish_non_exhaustive()
    }
}

impl PayloadValidator {
    /// Compiles `schema`. TD-only keywords (`readOnly`, `unit`, `@type`, ...) are ignored.
    pub fn new(schema: &DataSchema) -> Result<Self, PayloadError> {
        Self::from_value(&schema.to_value())
    }

    /// Compiles a data schema given as JSON.
    pub fn from_value(schema: &Value) -> Result<Self, PayloadError> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| PayloadError::Schema(e.to_string()))?;
        Ok(PayloadValidator { validator })
    }

    /// Checks `value`; on failure lists every violation.
    pub fn validate(&self, value: &Value) -> Result<(), PayloadError> {
        let violations: Vec<PayloadViolation> = self
            .validator
            .iter_errors(value)
            .map(|error| PayloadViolation {
                path: error.instance_path().to_string(),
                rule: error.kind().keyword().to_owned(),
                message: error.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PayloadError::Invalid(violations))
        }
    }

    /// Whether `value` matches the schema.
    pub fn is_valid(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }
}

/// Checks `value` against `schema` once (compile and validate).
pub fn validate_payload(schema: &DataSchema, value: &Value) -> Result<(), PayloadError> {
    PayloadValidator::new(schema)?.validate(value)
}
