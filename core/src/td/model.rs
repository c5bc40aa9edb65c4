//! The W3C Thing Description 1.1 information model as typed Rust.
//!
//! Every struct keeps the members it does not know in an `extra` map, so extension vocabularies
//! (`lmos:metadata`, `htv:methodName`, `ocf:...`) survive a parse → serialize round trip unchanged.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A value that a TD allows either alone or as an array (`"op": "readproperty"` or `"op": [...]`).
///
/// The shape of the input is kept: a single value serializes as a single value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// An array of values.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a slice, whatever the shape.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(one) => std::slice::from_ref(one),
            OneOrMany::Many(many) => many,
        }
    }

    /// Iterates over the values.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// Whether `item` is one of the values.
    pub fn contains(&self, item: &T) -> bool
    where
        T: PartialEq,
    {
        self.as_slice().contains(item)
    }
}

impl<T> From<T> for OneOrMany<T> {
    fn from(value: T) -> Self {
        OneOrMany::One(value)
    }
}

impl<T> From<Vec<T>> for OneOrMany<T> {
    fn from(values: Vec<T>) -> Self {
        OneOrMany::Many(values)
    }
}

/// Human-readable texts keyed by language tag (`titles`, `descriptions`).
pub type MultiLanguage = IndexMap<String, String>;

/// One entry of `@context`: a URI or a map of prefixes to namespaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContextEntry {
    /// A context URI such as `https://www.w3.org/2022/wot/td/v1.1`.
    Uri(String),
    /// A map of terms, e.g. `{"lmos": "https://eclipse.dev/lmos/protocol/v1"}`.
    Map(Map<String, Value>),
}

/// The `@context` of a TD in any of its shapes.
pub type Context = OneOrMany<ContextEntry>;

/// The `version` member of a Thing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version of this TD instance.
    pub instance: String,
    /// Version of the Thing Model this TD was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Thing Description: the document that says what a thing (an LMOS agent or tool) offers and how
/// to reach it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    /// JSON-LD context; always contains the TD 1.1 context URI for documents this SDK makes.
    #[serde(rename = "@context")]
    pub context: Context,
    /// Semantic types, e.g. `lmos:Agent`.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany<String>>,
    /// Identifier of the thing (a URI, often `urn:uuid:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Human-readable name.
    pub title: String,
    /// `title` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titles: Option<MultiLanguage>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `description` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<MultiLanguage>,
    /// Version information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionInfo>,
    /// When the TD was created (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When the TD was last modified (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// URI of the thing's support contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// Base URI against which every relative `href` is resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Property affordances by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub properties: IndexMap<String, PropertyAffordance>,
    /// Action affordances by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub actions: IndexMap<String, ActionAffordance>,
    /// Event affordances by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub events: IndexMap<String, EventAffordance>,
    /// Web links to related resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
    /// Thing-level forms (`readallproperties`, `subscribeallevents`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forms: Option<Vec<Form>>,
    /// Names of the security definitions that apply to the whole thing.
    pub security: OneOrMany<String>,
    /// Security schemes by name.
    #[serde(rename = "securityDefinitions")]
    pub security_definitions: IndexMap<String, SecurityScheme>,
    /// Profiles the thing follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<OneOrMany<String>>,
    /// Reusable data schemas by name.
    #[serde(
        rename = "schemaDefinitions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_definitions: Option<IndexMap<String, DataSchema>>,
    /// URI template variables that apply to every form.
    #[serde(
        rename = "uriVariables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub uri_variables: Option<IndexMap<String, DataSchema>>,
    /// Members the model does not know (extension vocabularies such as `lmos:metadata`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The kind of an interaction affordance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AffordanceKind {
    /// A property: state that can be read, written or observed.
    Property,
    /// An action: something the thing can be asked to do.
    Action,
    /// An event: a notification the thing emits.
    Event,
}

impl AffordanceKind {
    /// The name of the TD member that holds affordances of this kind.
    pub fn member(self) -> &'static str {
        match self {
            AffordanceKind::Property => "properties",
            AffordanceKind::Action => "actions",
            AffordanceKind::Event => "events",
        }
    }
}

/// A JSON-Schema-like description of data, with every keyword TD 1.1 allows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DataSchema {
    /// Semantic types.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany<String>>,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `title` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titles: Option<MultiLanguage>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `description` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<MultiLanguage>,
    /// JSON type: `object`, `array`, `string`, `number`, `integer`, `boolean` or `null`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    /// The only value allowed.
    #[serde(rename = "const", default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Value>,
    /// The value assumed when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Unit of the value, e.g. `celsius`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The value must match exactly one of these schemas.
    #[serde(rename = "oneOf", default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<DataSchema>>,
    /// The value must be one of these.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<Vec<Value>>,
    /// The value is only ever read.
    #[serde(rename = "readOnly", default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The value is only ever written.
    #[serde(rename = "writeOnly", default, skip_serializing_if = "Option::is_none")]
    pub write_only: Option<bool>,
    /// String format such as `date-time` or `uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Encoding of string content, e.g. `base64`.
    #[serde(
        rename = "contentEncoding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_encoding: Option<String>,
    /// Media type of string content.
    #[serde(
        rename = "contentMediaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_media_type: Option<String>,
    /// Schema of array items (one schema, or one per position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<OneOrMany<DataSchema>>>,
    /// Least number of array items.
    #[serde(rename = "minItems", default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Greatest number of array items.
    #[serde(rename = "maxItems", default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// Inclusive lower bound of a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<serde_json::Number>,
    /// Exclusive lower bound of a number.
    #[serde(
        rename = "exclusiveMinimum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exclusive_minimum: Option<serde_json::Number>,
    /// Inclusive upper bound of a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<serde_json::Number>,
    /// Exclusive upper bound of a number.
    #[serde(
        rename = "exclusiveMaximum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exclusive_maximum: Option<serde_json::Number>,
    /// The number must be a multiple of this.
    #[serde(
        rename = "multipleOf",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub multiple_of: Option<serde_json::Number>,
    /// Least string length.
    #[serde(rename = "minLength", default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Greatest string length.
    #[serde(rename = "maxLength", default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Regular expression a string must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Schemas of object members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<IndexMap<String, DataSchema>>,
    /// Object members that must be present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
    /// Members the model does not know (other JSON Schema keywords, extension vocabularies).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataSchema {
    /// A schema with only `type` set.
    pub fn of_type(data_type: &str) -> Self {
        DataSchema {
            data_type: Some(data_type.to_owned()),
            ..DataSchema::default()
        }
    }

    /// The schema as a JSON value (used to compile a payload validator).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A property affordance: a data schema plus how to reach it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PropertyAffordance {
    /// The property's data schema, including `title`, `description`, `readOnly` and `writeOnly`.
    #[serde(flatten)]
    pub schema: DataSchema,
    /// Whether the property can be observed for changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observable: Option<bool>,
    /// URI template variables.
    #[serde(
        rename = "uriVariables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub uri_variables: Option<IndexMap<String, DataSchema>>,
    /// Where and how to interact with the property.
    #[serde(default)]
    pub forms: Vec<Form>,
}

impl PropertyAffordance {
    /// Whether the property is read-only (TD default: false).
    pub fn is_read_only(&self) -> bool {
        self.schema.read_only.unwrap_or(false)
    }

    /// Whether the property is write-only (TD default: false).
    pub fn is_write_only(&self) -> bool {
        self.schema.write_only.unwrap_or(false)
    }

    /// Whether the property is observable (TD default: false).
    pub fn is_observable(&self) -> bool {
        self.observable.unwrap_or(false)
    }
}

/// An action affordance: something the thing can be asked to do.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActionAffordance {
    /// Semantic types.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany<String>>,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `title` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titles: Option<MultiLanguage>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `description` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<MultiLanguage>,
    /// Schema of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<DataSchema>,
    /// Schema of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<DataSchema>,
    /// The action changes no state (TD default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe: Option<bool>,
    /// Repeating the action gives the same result (TD default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// Whether the result comes in the response (`true`) or through an action-status resource
    /// (`false`); no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous: Option<bool>,
    /// URI template variables.
    #[serde(
        rename = "uriVariables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub uri_variables: Option<IndexMap<String, DataSchema>>,
    /// Where and how to invoke the action.
    #[serde(default)]
    pub forms: Vec<Form>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ActionAffordance {
    /// Whether the action is safe (TD default: false).
    pub fn is_safe(&self) -> bool {
        self.safe.unwrap_or(false)
    }

    /// Whether the action is idempotent (TD default: false).
    pub fn is_idempotent(&self) -> bool {
        self.idempotent.unwrap_or(false)
    }
}

/// An event affordance: a notification the thing emits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventAffordance {
    /// Semantic types.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany<String>>,
    /// Human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `title` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titles: Option<MultiLanguage>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `description` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<MultiLanguage>,
    /// Schema of data sent when subscribing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<DataSchema>,
    /// Schema of the event's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSchema>,
    /// Schema of a reply the consumer sends to an event.
    #[serde(
        rename = "dataResponse",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub data_response: Option<DataSchema>,
    /// Schema of data sent when unsubscribing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<DataSchema>,
    /// URI template variables.
    #[serde(
        rename = "uriVariables",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub uri_variables: Option<IndexMap<String, DataSchema>>,
    /// Where and how to subscribe.
    #[serde(default)]
    pub forms: Vec<Form>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A form: one way of performing operations on an affordance (a URL, a method, a content type).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Form {
    /// Operation types this form performs; when absent the TD default for the affordance kind
    /// applies (see [`crate::td::defaults`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<OneOrMany<String>>,
    /// Target URL, absolute or relative to the TD's `base`.
    pub href: String,
    /// Media type of the payload (TD default `application/json`).
    #[serde(
        rename = "contentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    /// Content coding such as `gzip`.
    #[serde(
        rename = "contentCoding",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_coding: Option<String>,
    /// Subprotocol such as `sse`, `longpoll` or `lmosprotocol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// Security definition names that override the thing's for this form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<OneOrMany<String>>,
    /// OAuth2 scopes this form needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<OneOrMany<String>>,
    /// The expected response when it differs from the request's content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ExpectedResponse>,
    /// Other possible responses.
    #[serde(
        rename = "additionalResponses",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_responses: Option<Vec<AdditionalResponse>>,
    /// Members the model does not know (protocol vocabularies such as `htv:methodName`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Form {
    /// A form with only `href` set.
    pub fn new(href: impl Into<String>) -> Self {
        Form {
            href: href.into(),
            ..Form::default()
        }
    }

    /// Sets `op`.
    pub fn op(mut self, ops: &[&str]) -> Self {
        self.op = Some(match ops {
            [one] => OneOrMany::One((*one).to_owned()),
            many => OneOrMany::Many(many.iter().map(|s| (*s).to_owned()).collect()),
        });
        self
    }

    /// Sets `contentType`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The HTTP method this form names through `htv:methodName`, if any.
    pub fn http_method(&self) -> Option<&str> {
        self.extra.get("htv:methodName").and_then(Value::as_str)
    }
}

/// The response a form leads to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExpectedResponse {
    /// Media type of the response.
    #[serde(
        rename = "contentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A response other than the primary one (errors, alternative formats).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdditionalResponse {
    /// Whether this response means success (TD default: false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Media type of this response.
    #[serde(
        rename = "contentType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
    /// Name of a schema in `schemaDefinitions` describing the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A web link to a related resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Link {
    /// Target URL.
    pub href: String,
    /// Media type of the target.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Relation type, e.g. `service-doc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    /// Overrides the link context (by default the thing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Icon sizes (for `rel: icon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<String>,
    /// Language(s) of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hreflang: Option<OneOrMany<String>>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The kind of a security scheme (`scheme` member).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemeKind {
    /// No security.
    NoSec,
    /// Let the client negotiate.
    Auto,
    /// A combination of other schemes (`allOf` / `oneOf`).
    Combo,
    /// HTTP Basic authentication.
    Basic,
    /// HTTP Digest authentication.
    Digest,
    /// An API key in a header, query parameter, cookie or URI.
    ApiKey,
    /// A bearer token (JWT or opaque).
    Bearer,
    /// Pre-shared key (TLS-PSK).
    Psk,
    /// OAuth 2.0.
    OAuth2,
    /// A scheme from an extension vocabulary.
    Other(String),
}

impl SchemeKind {
    /// The value of the `scheme` member.
    pub fn as_str(&self) -> &str {
        match self {
            SchemeKind::NoSec => "nosec",
            SchemeKind::Auto => "auto",
            SchemeKind::Combo => "combo",
            SchemeKind::Basic => "basic",
            SchemeKind::Digest => "digest",
            SchemeKind::ApiKey => "apikey",
            SchemeKind::Bearer => "bearer",
            SchemeKind::Psk => "psk",
            SchemeKind::OAuth2 => "oauth2",
            SchemeKind::Other(other) => other,
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "nosec" => SchemeKind::NoSec,
            "auto" => SchemeKind::Auto,
            "combo" => SchemeKind::Combo,
            "basic" => SchemeKind::Basic,
            "digest" => SchemeKind::Digest,
            "apikey" => SchemeKind::ApiKey,
            "bearer" => SchemeKind::Bearer,
            "psk" => SchemeKind::Psk,
            "oauth2" => SchemeKind::OAuth2,
            other => SchemeKind::Other(other.to_owned()),
        }
    }
}

impl Serialize for SchemeKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SchemeKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Ok(SchemeKind::parse(&value))
    }
}

/// A security scheme definition, with the members of every scheme TD 1.1 defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityScheme {
    /// Which scheme this is.
    pub scheme: SchemeKind,
    /// Semantic types.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub types: Option<OneOrMany<String>>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `description` in other languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<MultiLanguage>,
    /// URI of a proxy server this scheme applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Where the credential goes: `header`, `query`, `body`, `cookie`, `uri` or `auto`
    /// (basic, digest, apikey, bearer).
    #[serde(rename = "in", default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Name of the header, query parameter or cookie that carries the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Quality of protection (digest: `auth` or `auth-int`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qop: Option<String>,
    /// URI of the authorization server (bearer, oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// Signing algorithm (bearer), e.g. `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Token format (bearer), e.g. `jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Identity hint (psk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Token endpoint (oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Refresh endpoint (oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// Scopes (oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<OneOrMany<String>>,
    /// Grant flow (oauth2), e.g. `client` or `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// All of these named schemes apply (combo).
    #[serde(rename = "allOf", default, skip_serializing_if = "Option::is_none")]
    pub all_of: Option<Vec<String>>,
    /// Exactly one of these named schemes applies (combo).
    #[serde(rename = "oneOf", default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<String>>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SecurityScheme {
    /// A scheme of the given kind with no other member set.
    pub fn new(scheme: SchemeKind) -> Self {
        SecurityScheme {
            scheme,
            types: None,
            description: None,
            descriptions: None,
            proxy: None,
            location: None,
            name: None,
            qop: None,
            authorization: None,
            alg: None,
            format: None,
            identity: None,
            token: None,
            refresh: None,
            scopes: None,
            flow: None,
            all_of: None,
            one_of: None,
            extra: Map::new(),
        }
    }

    /// `{"scheme": "nosec"}`.
    pub fn nosec() -> Self {
        SecurityScheme::new(SchemeKind::NoSec)
    }
}
