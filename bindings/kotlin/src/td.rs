//! Thing Description functions: validation, parsing, payload checks and the builder.

use std::sync::{Arc, Mutex};

use lmos::td::payload::PayloadValidator;
use lmos::td::validate::{validate_bytes, validate_value};
use lmos::td::{
    ActionAffordance, EventAffordance, Form, Link, PropertyAffordance, SecurityScheme, Thing,
    ThingBuilder,
};
use serde::de::DeserializeOwned;

use crate::errors::{invalid_td, parse_json, payload_error, type_error, NativeError};

/// Validates a TD (JSON text) and returns the report as JSON text. `from_text` tells whether the
/// text is the user's own (problems then carry line and column) or a serialized value.
#[uniffi::export]
pub fn validate(document: String, from_text: bool) -> Result<String, NativeError> {
    let report = if from_text {
        validate_bytes(document.as_bytes())
    } else {
        validate_value(&parse_json(&document, "the document")?)
    };
    Ok(report.to_json().to_string())
}

/// Parses and validates a TD; returns it as JSON text or fails with `invalid_td`.
#[uniffi::export]
pub fn parse_td(document: String) -> Result<String, NativeError> {
    thing_from(&document).map(|thing| thing.to_value().to_string())
}

/// A validated Thing from TD JSON text.
pub fn thing_from(document: &str) -> Result<Thing, NativeError> {
    Thing::parse_validated(document.as_bytes()).map_err(|report| invalid_td(&report))
}

/// Checks a value (JSON text) against a data schema (JSON text).
#[uniffi::export]
pub fn check_payload(schema: String, value: String) -> Result<(), NativeError> {
    let schema = parse_json(&schema, "the schema")?;
    let value = parse_json(&value, "the value")?;
    let validator = PayloadValidator::from_value(&schema).map_err(|e| payload_error(&e))?;
    validator.validate(&value).map_err(|e| payload_error(&e))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, NativeError> {
    serde_json::from_str(text).map_err(|e| type_error(format!("not {what}: {e}")))
}

/// The core [`ThingBuilder`]; each method takes TD members as JSON text.
#[derive(uniffi::Object)]
pub struct NativeThingBuilder {
    inner: Mutex<Option<ThingBuilder>>,
}

impl NativeThingBuilder {
    fn update(&self, f: impl FnOnce(ThingBuilder) -> ThingBuilder) -> Result<(), NativeError> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let builder = guard
            .take()
            .ok_or_else(|| type_error("this builder was already used by build()"))?;
        *guard = Some(f(builder));
        Ok(())
    }
}

#[uniffi::export]
impl NativeThingBuilder {
    /// Starts a description: `kind` is `agent`, `tool` or `thing`.
    #[uniffi::constructor]
    pub fn new(kind: String, title: String) -> Result<Arc<Self>, NativeError> {
        let builder = match kind.as_str() {
            "agent" => ThingBuilder::agent(title),
            "tool" => ThingBuilder::tool(title),
            "thing" => ThingBuilder::thing(title),
            other => return Err(type_error(format!("unknown kind of thing {other:?}"))),
        };
        Ok(Arc::new(NativeThingBuilder {
            inner: Mutex::new(Some(builder)),
        }))
    }

    /// Sets `id`.
    pub fn id(&self, id: String) -> Result<(), NativeError> {
        self.update(|b| b.id(id))
    }

    /// Sets `description`.
    pub fn description(&self, text: String) -> Result<(), NativeError> {
        self.update(|b| b.description(text))
    }

    /// Sets `base`.
    pub fn base(&self, base: String) -> Result<(), NativeError> {
        self.update(|b| b.base(base))
    }

    /// Sets `version.instance`.
    pub fn version(&self, instance: String) -> Result<(), NativeError> {
        self.update(|b| b.version(instance))
    }

    /// Sets the vendor metadata.
    pub fn vendor(&self, name: String, url: Option<String>) -> Result<(), NativeError> {
        self.update(|b| b.vendor(name, url.as_deref()))
    }

    /// Adds a semantic type.
    pub fn add_type(&self, ty: String) -> Result<(), NativeError> {
        self.update(|b| b.add_type(ty))
    }

    /// Adds a top-level member (value as JSON text).
    pub fn member(&self, name: String, value: String) -> Result<(), NativeError> {
        let value = parse_json(&value, "the member value")?;
        self.update(|b| b.member(name, value))
    }

    /// Adds a property (a TD property affordance as JSON text).
    pub fn property(&self, name: String, affordance: String) -> Result<(), NativeError> {
        let property: PropertyAffordance = from_json(&affordance, "a property affordance")?;
        self.update(|b| b.property(name, property))
    }

    /// Adds an action (a TD action affordance as JSON text).
    pub fn action(&self, name: String, affordance: String) -> Result<(), NativeError> {
        let action: ActionAffordance = from_json(&affordance, "an action affordance")?;
        self.update(|b| b.action(name, action))
    }

    /// Adds the conversational `chat` action (AgentRequest in, AgentResult out).
    pub fn chat_action(&self) -> Result<(), NativeError> {
        self.update(|b| b.chat_action())
    }

    /// Adds an event (a TD event affordance as JSON text).
    pub fn event(&self, name: String, affordance: String) -> Result<(), NativeError> {
        let event: EventAffordance = from_json(&affordance, "an event affordance")?;
        self.update(|b| b.event(name, event))
    }

    /// Adds a thing-level form (JSON text).
    pub fn form(&self, form: String) -> Result<(), NativeError> {
        let form: Form = from_json(&form, "a form")?;
        self.update(|b| b.form(form))
    }

    /// Adds a link (JSON text).
    pub fn link(&self, link: String) -> Result<(), NativeError> {
        let link: Link = from_json(&link, "a link")?;
        self.update(|b| b.link(link))
    }

    /// Adds a security definition that applies to the thing (scheme as JSON text).
    pub fn security(&self, name: String, scheme: String) -> Result<(), NativeError> {
        let scheme: SecurityScheme = from_json(&scheme, "a security scheme")?;
        self.update(|b| b.security(name, scheme))
    }

    /// The finished TD as JSON text; the builder cannot be used again.
    pub fn build(&self) -> Result<String, NativeError> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let builder = guard
            .take()
            .ok_or_else(|| type_error("this builder was already used by build()"))?;
        Ok(builder.build().to_value().to_string())
    }
}
