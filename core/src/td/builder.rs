//! Builders for LMOS agent and tool descriptions.

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use super::model::{
    ActionAffordance, Context, ContextEntry, DataSchema, EventAffordance, Form, Link, OneOrMany,
    PropertyAffordance, SecurityScheme, Thing,
};
use super::vocab::{
    LMOS_AGENT, LMOS_METADATA, LMOS_NAMESPACE, LMOS_PREFIX, LMOS_TOOL, LMOS_VENDOR,
    LMOS_VENDOR_NAME, LMOS_VENDOR_URL, TD_CONTEXT_V11,
};

/// Builds a [`Thing`] step by step; [`ThingBuilder::agent`] and [`ThingBuilder::tool`] start one
/// with the LMOS context and type already set.
///
/// Every affordance of a valid TD has at least one form. A `Servient` adds its
/// own forms when it exposes the thing; a description of a thing served elsewhere names them with
/// `form(...)`:
///
/// ```
/// use lmos::td::{ThingBuilder, ActionAffordance, DataSchema, Form};
/// let td = ThingBuilder::agent("Weather")
///     .description("Tells the weather")
///     .vendor("Example Corp", Some("https://example.com"))
///     .action("getWeather", ActionAffordance::new()
///         .input(DataSchema::of_type("string"))
///         .output(DataSchema::of_type("string"))
///         .form(Form::new("https://weather.example.com/actions/getWeather")))
///     .build();
/// assert_eq!(td.title, "Weather");
/// assert!(td.validate().is_valid());
/// ```
#[derive(Debug, Clone)]
pub struct ThingBuilder {
    thing: Thing,
    security_set: bool,
}

impl ThingBuilder {
    /// A plain thing with the TD 1.1 context and the given title.
    pub fn thing(title: impl Into<String>) -> Self {
        ThingBuilder {
            thing: Thing {
                context: Context::One(ContextEntry::Uri(TD_CONTEXT_V11.to_owned())),
                types: None,
                id: None,
                title: title.into(),
                titles: None,
                description: None,
                descriptions: None,
                version: None,
                created: None,
                modified: None,
                support: None,
                base: None,
                properties: IndexMap::new(),
                actions: IndexMap::new(),
                events: IndexMap::new(),
                links: None,
                forms: None,
                security: OneOrMany::One("nosec_sc".to_owned()),
                security_definitions: IndexMap::from([(
                    "nosec_sc".to_owned(),
                    SecurityScheme::nosec(),
                )]),
                profile: None,
                schema_definitions: None,
                uri_variables: None,
                extra: Map::new(),
            },
            security_set: false,
        }
    }

    /// An `lmos:Agent` with the LMOS namespace in its context.
    pub fn agent(title: impl Into<String>) -> Self {
        Self::thing(title).lmos_type(LMOS_AGENT)
    }

    /// An `lmos:Tool` with the LMOS namespace in its context.
    pub fn tool(title: impl Into<String>) -> Self {
        Self::thing(title).lmos_type(LMOS_TOOL)
    }

    fn lmos_type(mut self, ty: &str) -> Self {
        self.thing.context = Context::Many(vec![
            ContextEntry::Uri(TD_CONTEXT_V11.to_owned()),
            ContextEntry::Map(Map::from_iter([(
                LMOS_PREFIX.to_owned(),
                Value::String(LMOS_NAMESPACE.to_owned()),
            )])),
        ]);
        self.thing.types = Some(OneOrMany::One(ty.to_owned()));
        self
    }

    /// Sets the thing's id (a URI such as `urn:uuid:...`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.thing.id = Some(id.into());
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.thing.description = Some(description.into());
        self
    }

    /// Sets the `base` URI.
    pub fn base(mut self, base: impl Into<String>) -> Self {
        self.thing.base = Some(base.into());
        self
    }

    /// Sets the version of this TD instance.
    pub fn version(mut self, instance: impl Into<String>) -> Self {
        self.thing.version = Some(super::model::VersionInfo {
            instance: instance.into(),
            ..Default::default()
        });
        self
    }

    /// Sets `lmos:metadata` / `lmos:vendor` with the vendor's name and, optionally, URL.
    pub fn vendor(mut self, name: impl Into<String>, url: Option<&str>) -> Self {
        let mut vendor = Map::new();
        vendor.insert(LMOS_VENDOR_NAME.to_owned(), Value::String(name.into()));
        if let Some(url) = url {
            vendor.insert(LMOS_VENDOR_URL.to_owned(), Value::String(url.to_owned()));
        }
        let metadata = self
            .thing
            .extra
            .entry(LMOS_METADATA.to_owned())
            .or_insert_with(|| json!({}));
        if !metadata.is_object() {
            *metadata = json!({});
        }
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert(LMOS_VENDOR.to_owned(), Value::Object(vendor));
        }
        self
    }

    /// Adds an extra member (an extension vocabulary term) at the top level.
    pub fn member(mut self, name: impl Into<String>, value: Value) -> Self {
        self.thing.extra.insert(name.into(), value);
        self
    }

    /// Adds a semantic type beside the ones already set.
    pub fn add_type(mut self, ty: impl Into<String>) -> Self {
        let ty = ty.into();
        self.thing.types = Some(match self.thing.types.take() {
            None => OneOrMany::One(ty),
            Some(OneOrMany::One(first)) => OneOrMany::Many(vec![first, ty]),
            Some(OneOrMany::Many(mut all)) => {
                all.push(ty);
                OneOrMany::Many(all)
            }
        });
        self
    }

    /// Adds a property.
    pub fn property(mut self, name: impl Into<String>, property: PropertyAffordance) -> Self {
        self.thing.properties.insert(name.into(), property);
        self
    }

    /// Adds an action.
    pub fn action(mut self, name: impl Into<String>, action: ActionAffordance) -> Self {
        self.thing.actions.insert(name.into(), action);
        self
    }

    /// Adds an event.
    pub fn event(mut self, name: impl Into<String>, event: EventAffordance) -> Self {
        self.thing.events.insert(name.into(), event);
        self
    }

    /// Adds a thing-level form (`readallproperties`, `subscribeallevents`, ...).
    pub fn form(mut self, form: Form) -> Self {
        self.thing.forms.get_or_insert_with(Vec::new).push(form);
        self
    }

    /// Adds a link.
    pub fn link(mut self, link: Link) -> Self {
        self.thing.links.get_or_insert_with(Vec::new).push(link);
        self
    }

    /// Adds a security definition and makes it apply to the thing (the first call replaces the
    /// default `nosec`; later calls add further required schemes).
    pub fn security(mut self, name: impl Into<String>, scheme: SecurityScheme) -> Self {
        let name = name.into();
        if !self.security_set {
            self.thing.security_definitions.clear();
            self.thing.security = OneOrMany::One(name.clone());
            self.security_set = true;
        } else {
            let mut names: Vec<String> = self.thing.security.iter().cloned().collect();
            names.push(name.clone());
            self.thing.security = OneOrMany::Many(names);
        }
        self.thing.security_definitions.insert(name, scheme);
        self
    }

    /// The finished description.
    pub fn build(self) -> Thing {
        self.thing
    }
}

impl PropertyAffordance {
    /// A property with the given data schema and no forms yet.
    pub fn new(schema: DataSchema) -> Self {
        PropertyAffordance {
            schema,
            ..Default::default()
        }
    }

    /// Adds a form (where and how to reach the property). A servient adds its own forms when it
    /// exposes the thing; a description of a thing served elsewhere names them here.
    pub fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }

    /// Marks the property observable.
    pub fn observable(mut self) -> Self {
        self.observable = Some(true);
        self
    }

    /// Marks the property read-only.
    pub fn read_only(mut self) -> Self {
        self.schema.read_only = Some(true);
        self
    }

    /// Marks the property write-only.
    pub fn write_only(mut self) -> Self {
        self.schema.write_only = Some(true);
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.schema.description = Some(description.into());
        self
    }
}

impl ActionAffordance {
    /// An action with no input, output or forms yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a form (where and how to invoke the action).
    pub fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }

    /// Sets the input schema.
    pub fn input(mut self, schema: DataSchema) -> Self {
        self.input = Some(schema);
        self
    }

    /// Sets the output schema.
    pub fn output(mut self, schema: DataSchema) -> Self {
        self.output = Some(schema);
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `synchronous` (`false` makes the action answer with an action-status resource).
    pub fn synchronous(mut self, synchronous: bool) -> Self {
        self.synchronous = Some(synchronous);
        self
    }

    /// Sets `safe`.
    pub fn safe(mut self, safe: bool) -> Self {
        self.safe = Some(safe);
        self
    }

    /// Sets `idempotent`.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }
}

impl EventAffordance {
    /// An event with no data schema or forms yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a form (where and how to subscribe).
    pub fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }

    /// Sets the schema of the event's data.
    pub fn data(mut self, schema: DataSchema) -> Self {
        self.data = Some(schema);
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

impl DataSchema {
    /// An object schema with the given member schemas and required member names.
    pub fn object<I, S>(properties: I, required: &[&str]) -> Self
    where
        I: IntoIterator<Item = (S, DataSchema)>,
        S: Into<String>,
    {
        DataSchema {
            data_type: Some("object".to_owned()),
            properties: Some(
                properties
                    .into_iter()
                    .map(|(name, schema)| (name.into(), schema))
                    .collect(),
            ),
            required: if required.is_empty() {
                None
            } else {
                Some(required.iter().map(|s| (*s).to_owned()).collect())
            },
            ..Default::default()
        }
    }

    /// An array schema whose items follow `items`.
    pub fn array(items: DataSchema) -> Self {
        DataSchema {
            data_type: Some("array".to_owned()),
            items: Some(Box::new(OneOrMany::One(items))),
            ..Default::default()
        }
    }

    /// Sets the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets inclusive numeric bounds.
    pub fn range(
        mut self,
        minimum: impl Into<serde_json::Number>,
        maximum: impl Into<serde_json::Number>,
    ) -> Self {
        self.minimum = Some(minimum.into());
        self.maximum = Some(maximum.into());
        self
    }

    /// Restricts the value to one of `values`.
    pub fn one_of_values<I: IntoIterator<Item = Value>>(mut self, values: I) -> Self {
        self.enumeration = Some(values.into_iter().collect());
        self
    }
}
