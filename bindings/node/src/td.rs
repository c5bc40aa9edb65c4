//! Thing Description functions: validation, parsing, payload checks and the builders.

use lmos::td::payload::PayloadValidator;
use lmos::td::validate::{validate_bytes, validate_value};
use lmos::td::{
    ActionAffordance, EventAffordance, Form, Link, PropertyAffordance, SecurityScheme, Thing,
    ThingBuilder,
};
use napi::Result;
use napi_derive::napi;
use serde::de::DeserializeOwned;

use crate::errors::{invalid_td, parse_json, payload_error, type_error};

/// Validates a TD; `document` is JSON text. `from_text` tells whether the text is the user's own
/// (problems then carry line and column) or a serialized object (no positions).
#[napi]
pub fn validate(document: String, from_text: bool) -> Result<String> {
    let report = if from_text {
        validate_bytes(document.as_bytes())
    } else {
        validate_value(&parse_json(&document, "the document")?)
    };
    Ok(report.to_json().to_string())
}

/// Parses and validates a TD; returns it as JSON text or fails with `invalid_td`.
#[napi]
pub fn parse_td(document: String) -> Result<String> {
    Thing::parse_validated(document.as_bytes())
        .map(|thing| thing.to_value().to_string())
        .map_err(|report| invalid_td(&report))
}

/// A validated Thing from TD JSON text.
pub fn thing_from(document: &str) -> Result<Thing> {
    Thing::parse_validated(document.as_bytes()).map_err(|report| invalid_td(&report))
}

/// Checks a value (JSON text) against a data schema (JSON text).
#[napi]
pub fn check_payload(schema: String, value: String) -> Result<()> {
    let schema = parse_json(&schema, "the schema")?;
    let value = parse_json(&value, "the value")?;
    let validator = PayloadValidator::from_value(&schema).map_err(|e| payload_error(&e))?;
    validator.validate(&value).map_err(|e| payload_error(&e))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| type_error(format!("not {what}: {e}")))
}

/// The core [`ThingBuilder`]; each method takes TD members as JSON text.
#[napi]
pub struct NativeThingBuilder {
    inner: Option<ThingBuilder>,
}

impl NativeThingBuilder {
    fn update(&mut self, f: impl FnOnce(ThingBuilder) -> ThingBuilder) -> Result<()> {
        let builder = self
            .inner
            .take()
            .ok_or_else(|| type_error("this builder was already used by build()"))?;
        self.inner = Some(f(builder));
        Ok(())
    }
}

#[napi]
impl NativeThingBuilder {
    /// Starts a description: `kind` is `agent`, `tool` or `thing`.
    #[napi(constructor)]
    pub fn new(kind: String, title: String) -> Result<Self> {
        let builder = match kind.as_str() {
            "agent" => ThingBuilder::agent(title),
            "tool" => ThingBuilder::tool(title),
            "thing" => ThingBuilder::thing(title),
            other => return Err(type_error(format!("unknown kind of thing {other:?}"))),
        };
        Ok(NativeThingBuilder {
            inner: Some(builder),
        })
    }

    /// Sets `id`.
    #[napi]
    pub fn id(&mut self, id: String) -> Result<()> {
        self.update(|b| b.id(id))
    }

    /// Sets `description`.
    #[napi]
    pub fn description(&mut self, text: String) -> Result<()> {
        self.update(|b| b.description(text))
    }

    /// Sets `base`.
    #[napi]
    pub fn base(&mut self, base: String) -> Result<()> {
        self.update(|b| b.base(base))
    }

    /// Sets `version.instance`.
    #[napi]
    pub fn version(&mut self, instance: String) -> Result<()> {
        self.update(|b| b.version(instance))
    }

    /// Sets the vendor metadata.
    #[napi]
    pub fn vendor(&mut self, name: String, url: Option<String>) -> Result<()> {
        self.update(|b| b.vendor(name, url.as_deref()))
    }

    /// Adds a semantic type.
    #[napi]
    pub fn add_type(&mut self, ty: String) -> Result<()> {
        self.update(|b| b.add_type(ty))
    }

    /// Adds a top-level member (value as JSON text).
    #[napi]
    pub fn member(&mut self, name: String, value: String) -> Result<()> {
        let value = parse_json(&value, "the member value")?;
        self.update(|b| b.member(name, value))
    }

    /// Adds a property (a TD property affordance as JSON text).
    #[napi]
    pub fn property(&mut self, name: String, affordance: String) -> Result<()> {
        let property: PropertyAffordance = from_json(&affordance, "a property affordance")?;
        self.update(|b| b.property(name, property))
    }

    /// Adds an action (a TD action affordance as JSON text).
    #[napi]
    pub fn action(&mut self, name: String, affordance: String) -> Result<()> {
        let action: ActionAffordance = from_json(&affordance, "an action affordance")?;
        self.update(|b| b.action(name, action))
    }

    /// Adds an event (a TD event affordance as JSON text).
    #[napi]
    pub fn event(&mut self, name: String, affordance: String) -> Result<()> {
        let event: EventAffordance = from_json(&affordance, "an event affordance")?;
        self.update(|b| b.event(name, event))
    }

    /// Adds a thing-level form.
    #[napi]
    pub fn form(&mut self, form: String) -> Result<()> {
        let form: Form = from_json(&form, "a form")?;
        self.update(|b| b.form(form))
    }

    /// Adds a link.
    #[napi]
    pub fn link(&mut self, link: String) -> Result<()> {
        let link: Link = from_json(&link, "a link")?;
        self.update(|b| b.link(link))
    }

    /// Adds a security definition that applies to the thing.
    #[napi]
    pub fn security(&mut self, name: String, scheme: String) -> Result<()> {
        let scheme: SecurityScheme = from_json(&scheme, "a security scheme")?;
        self.update(|b| b.security(name, scheme))
    }

    /// The finished TD as JSON text; the builder cannot be used again.
    #[napi]
    pub fn build(&mut self) -> Result<String> {
        let builder = self
            .inner
            .take()
            .ok_or_else(|| type_error("this builder was already used by build()"))?;
        Ok(builder.build().to_value().to_string())
    }
}
