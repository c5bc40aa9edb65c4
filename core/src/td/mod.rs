//! Thing Description handling: the TD 1.1 model, LMOS vocabulary and builders, TD defaults and
//! `href` resolution.

pub mod builder;
pub mod defaults;
pub mod model;
pub mod parse;
pub mod payload;
pub mod validate;
pub mod vocab;

pub use builder::ThingBuilder;
pub use model::*;
pub use parse::{parse_document, DuplicateMember, ParseFailure, ParseOptions, ParsedDocument};
pub use validate::{
    validate_bytes, validate_bytes_with, validate_value, DocumentKind, Problem, Rule, Severity,
    ValidationReport,
};

use serde_json::Value;

/// What can go wrong when reading, resolving or checking a Thing Description.
#[derive(Debug, thiserror::Error)]
pub enum TdError {
    /// The input is not JSON.
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The JSON is not shaped like a Thing Description.
    #[error("not a Thing Description: {0}")]
    Model(String),
    /// A relative `href` with no `base` to resolve it against.
    #[error("relative href {href:?} cannot be resolved: the Thing Description has no base")]
    RelativeHref {
        /// The href.
        href: String,
    },
    /// A string that should be a URI is not one.
    #[error("{uri:?} is not a valid URI: {reason}")]
    InvalidUri {
        /// The offending value.
        uri: String,
        /// Why it was rejected.
        reason: String,
    },
}

impl Thing {
    /// Reads a Thing from a JSON value (no validation beyond the model's shape).
    pub fn from_value(value: Value) -> Result<Self, TdError> {
        serde_json::from_value(value).map_err(|e| TdError::Model(e.to_string()))
    }

    /// Reads a Thing from JSON text (no validation beyond the model's shape).
    pub fn from_json(text: &str) -> Result<Self, TdError> {
        let value: Value = serde_json::from_str(text).map_err(|e| TdError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// The Thing as a JSON value.
    pub fn to_value(&self) -> Value {
        // Serializing the model cannot fail: every map key is a string and no member is a
        // non-finite number (serde_json::Number cannot hold one).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The Thing as pretty-printed JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).unwrap_or_default()
    }

    /// The semantic types of the thing, as strings.
    pub fn type_names(&self) -> Vec<&str> {
        self.types
            .as_ref()
            .map(|t| t.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the thing is typed `lmos:Agent`.
    pub fn is_agent(&self) -> bool {
        self.type_names().contains(&vocab::LMOS_AGENT)
    }

    /// Whether the thing is typed `lmos:Tool`.
    pub fn is_tool(&self) -> bool {
        self.type_names().contains(&vocab::LMOS_TOOL)
    }

    /// The vendor name from `lmos:metadata` / `lmos:vendor`, if any.
    pub fn vendor_name(&self) -> Option<&str> {
        self.extra
            .get(vocab::LMOS_METADATA)?
            .get(vocab::LMOS_VENDOR)?
            .get(vocab::LMOS_VENDOR_NAME)?
            .as_str()
    }
}
