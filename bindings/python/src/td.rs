//! Thing Description functions: validation, parsing and the agent/tool builders.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde_json::Value;

use lmos::td::payload::PayloadValidator;
use lmos::td::validate::{validate_bytes, validate_value, ValidationReport};
use lmos::td::{
    ActionAffordance, DataSchema, EventAffordance, Link, PropertyAffordance, SecurityScheme, Thing,
    ThingBuilder as CoreBuilder,
};

use crate::convert::{to_json, to_py};
use crate::errors::{invalid_td, payload_error, LmosError};

/// Runs validation on a dict, a JSON `str` or UTF-8 `bytes`.
fn report_for(document: &Bound<'_, PyAny>) -> PyResult<ValidationReport> {
    let py = document.py();
    if let Ok(bytes) = document.cast::<PyBytes>() {
        let bytes = bytes.as_bytes().to_vec();
        return Ok(py.detach(move || validate_bytes(&bytes)));
    }
    if let Ok(text) = document.cast::<PyString>() {
        let text = text.to_str()?.to_owned();
        return Ok(py.detach(move || validate_bytes(text.as_bytes())));
    }
    let value = to_json(document)?;
    Ok(py.detach(move || validate_value(&value)))
}

/// Validates a Thing Description (dict, JSON str or bytes); returns the report as a dict.
#[pyfunction]
pub fn validate<'py>(document: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let report = report_for(document)?;
    to_py(document.py(), &report.to_json())
}

/// Parses and validates a Thing Description; returns it as a dict in the SDK's member order, or
/// raises `InvalidThingDescription`.
#[pyfunction]
pub fn parse_td<'py>(document: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = document.py();
    let thing = thing_from(document)?;
    to_py(py, &thing.to_value())
}

/// A validated typed Thing from a Python TD (dict, str or bytes).
pub fn thing_from(document: &Bound<'_, PyAny>) -> PyResult<Thing> {
    let py = document.py();
    let bytes: Vec<u8> = if let Ok(bytes) = document.cast::<PyBytes>() {
        bytes.as_bytes().to_vec()
    } else if let Ok(text) = document.cast::<PyString>() {
        text.to_str()?.as_bytes().to_vec()
    } else {
        let value = to_json(document)?;
        serde_json::to_vec(&value).map_err(|e| LmosError::new_err(e.to_string()))?
    };
    py.detach(move || Thing::parse_validated(&bytes))
        .map_err(|report| invalid_td(py, &report))
}

/// Checks `value` against a data schema (dict); raises `InvalidPayload` listing every violation.
#[pyfunction]
pub fn check_payload(schema: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = schema.py();
    let schema = to_json(schema)?;
    let value = to_json(value)?;
    let validator = PayloadValidator::from_value(&schema).map_err(|e| payload_error(py, &e))?;
    validator
        .validate(&value)
        .map_err(|e| payload_error(py, &e))
}

fn schema_from(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DataSchema>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => serde_json::from_value(to_json(v)?)
            .map(Some)
            .map_err(|e| PyTypeError::new_err(format!("not a data schema: {e}"))),
    }
}

/// Builds an agent or tool description step by step (`lmos.agent("Weather")`).
#[pyclass(module = "lmos._native")]
pub struct ThingBuilder {
    inner: Option<CoreBuilder>,
}

impl ThingBuilder {
    fn take(&mut self) -> PyResult<CoreBuilder> {
        self.inner
            .take()
            .ok_or_else(|| LmosError::new_err("this builder was already used by build()"))
    }

    fn update(
        slf: &Bound<'_, Self>,
        f: impl FnOnce(CoreBuilder) -> PyResult<CoreBuilder>,
    ) -> PyResult<()> {
        let mut this = slf.borrow_mut();
        let builder = this.take()?;
        this.inner = Some(f(builder)?);
        Ok(())
    }
}

#[pymethods]
impl ThingBuilder {
    /// Sets the thing's id (a URI).
    fn id<'py>(slf: Bound<'py, Self>, id: String) -> PyResult<Bound<'py, Self>> {
        Self::update(&slf, |b| Ok(b.id(id)))?;
        Ok(slf)
    }

    /// Sets the description.
    fn description<'py>(slf: Bound<'py, Self>, text: String) -> PyResult<Bound<'py, Self>> {
        Self::update(&slf, |b| Ok(b.description(text)))?;
        Ok(slf)
    }

    /// Sets the vendor (`lmos:metadata` / `lmos:vendor`).
    #[pyo3(signature = (name, url=None))]
    fn vendor<'py>(
        slf: Bound<'py, Self>,
        name: String,
        url: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::update(&slf, |b| Ok(b.vendor(name, url.as_deref())))?;
        Ok(slf)
    }

    /// Adds a property with a JSON-Schema data schema.
    #[pyo3(signature = (name, schema, *, observable=false, read_only=false, write_only=false, description=None))]
    #[allow(clippy::too_many_arguments)]
    fn property<'py>(
        slf: Bound<'py, Self>,
        name: String,
        schema: &Bound<'py, PyAny>,
        observable: bool,
        read_only: bool,
        write_only: bool,
        description: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        let schema = schema_from(Some(schema))?.unwrap_or_default();
        let mut property = PropertyAffordance::new(schema);
        if observable {
            property = property.observable();
        }
        if read_only {
            property = property.read_only();
        }
        if write_only {
            property = property.write_only();
        }
        if let Some(d) = description {
            property = property.description(d);
        }
        Self::update(&slf, |b| Ok(b.property(name, property)))?;
        Ok(slf)
    }

    /// Adds an action with optional input and output schemas.
    #[pyo3(signature = (name, *, input=None, output=None, description=None, synchronous=None, safe=None, idempotent=None))]
    #[allow(clippy::too_many_arguments)]
    fn action<'py>(
        slf: Bound<'py, Self>,
        name: String,
        input: Option<&Bound<'py, PyAny>>,
        output: Option<&Bound<'py, PyAny>>,
        description: Option<String>,
        synchronous: Option<bool>,
        safe: Option<bool>,
        idempotent: Option<bool>,
    ) -> PyResult<Bound<'py, Self>> {
        let action = ActionAffordance {
            input: schema_from(input)?,
            output: schema_from(output)?,
            description,
            synchronous,
            safe,
            idempotent,
            ..ActionAffordance::new()
        };
        Self::update(&slf, |b| Ok(b.action(name, action)))?;
        Ok(slf)
    }

    /// Adds the conversational `chat` action (AgentRequest in, AgentResult out).
    #[pyo3(signature = (*, description=None))]
    fn chat_action<'py>(
        slf: Bound<'py, Self>,
        description: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        let mut action = lmos::chat::chat_affordance();
        if let Some(d) = description {
            action = action.description(d);
        }
        Self::update(&slf, |b| Ok(b.action(lmos::chat::CHAT_ACTION, action)))?;
        Ok(slf)
    }

    /// Adds an event with an optional data schema.
    #[pyo3(signature = (name, *, data=None, description=None))]
    fn event<'py>(
        slf: Bound<'py, Self>,
        name: String,
        data: Option<&Bound<'py, PyAny>>,
        description: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        let event = EventAffordance {
            data: schema_from(data)?,
            description,
            ..EventAffordance::new()
        };
        Self::update(&slf, |b| Ok(b.event(name, event)))?;
        Ok(slf)
    }

    /// Adds a web link (`href`, optional `rel`, media `type` and `hreflang`).
    #[pyo3(signature = (href, *, rel=None, media_type=None, hreflang=None))]
    fn link<'py>(
        slf: Bound<'py, Self>,
        href: String,
        rel: Option<String>,
        media_type: Option<String>,
        hreflang: Option<String>,
    ) -> PyResult<Bound<'py, Self>> {
        let link = Link {
            href,
            rel,
            media_type,
            hreflang: hreflang.map(Into::into),
            ..Link::default()
        };
        Self::update(&slf, |b| Ok(b.link(link)))?;
        Ok(slf)
    }

    /// Adds a security definition (a dict such as `{"scheme": "bearer"}`) that applies to the thing.
    fn security<'py>(
        slf: Bound<'py, Self>,
        name: String,
        scheme: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let scheme: SecurityScheme = serde_json::from_value(to_json(scheme)?)
            .map_err(|e| PyTypeError::new_err(format!("not a security scheme: {e}")))?;
        Self::update(&slf, |b| Ok(b.security(name, scheme)))?;
        Ok(slf)
    }

    /// Adds a top-level member from an extension vocabulary.
    fn member<'py>(
        slf: Bound<'py, Self>,
        name: String,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let value: Value = to_json(value)?;
        Self::update(&slf, |b| Ok(b.member(name, value)))?;
        Ok(slf)
    }

    /// The finished Thing Description as a dict.
    fn build<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let thing = self.take()?.build();
        to_py(py, &thing.to_value())
    }
}

/// Starts an `lmos:Agent` description.
#[pyfunction]
pub fn agent(title: String) -> ThingBuilder {
    ThingBuilder {
        inner: Some(CoreBuilder::agent(title)),
    }
}

/// Starts an `lmos:Tool` description.
#[pyfunction]
pub fn tool(title: String) -> ThingBuilder {
    ThingBuilder {
        inner: Some(CoreBuilder::tool(title)),
    }
}

/// Starts a plain Thing description.
#[pyfunction]
pub fn thing(title: String) -> ThingBuilder {
    ThingBuilder {
        inner: Some(CoreBuilder::thing(title)),
    }
}

/// Registers the TD functions on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(parse_td, m)?)?;
    m.add_function(wrap_pyfunction!(check_payload, m)?)?;
    m.add_function(wrap_pyfunction!(agent, m)?)?;
    m.add_function(wrap_pyfunction!(tool, m)?)?;
    m.add_function(wrap_pyfunction!(thing, m)?)?;
    m.add_class::<ThingBuilder>()?;
    Ok(())
}
