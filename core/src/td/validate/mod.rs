//! Validation of Thing Descriptions and Thing Models: the W3C JSON Schemas (compiled into the
//! crate) plus the assertions a JSON Schema cannot express, reported as a list of [`Problem`]s with
//! JSON pointers and sentences a person understands.
//!
//! ```
//! use lmos::td::validate::{validate_bytes, Rule};
//! let report = validate_bytes(br#"{"@context": "https://www.w3.org/2022/wot/td/v1.1",
//!     "title": "T", "security": "basic_sc", "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}}}"#);
//! assert!(!report.is_valid());
//! assert_eq!(report.problems[0].rule, Rule::UndefinedSecurity);
//! assert_eq!(report.problems[0].pointer, "/security");
//! ```

mod rules;
mod schema;

pub use schema::{warm_up, TD_SCHEMA, TM_SCHEMA};

use std::fmt;

use serde_json::{json, Value};

use super::model::Thing;
use super::parse::{parse_document, ParseFailure, ParseOptions, ParsedDocument, PositionIndex};
use super::vocab::TM_THING_MODEL;

/// What a document claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A Thing Description (an instance).
    ThingDescription,
    /// A Thing Model (a template; `@type` contains `tm:ThingModel`).
    ThingModel,
}

impl DocumentKind {
    /// `"ThingDescription"` or `"ThingModel"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ThingDescription => "ThingDescription",
            DocumentKind::ThingModel => "ThingModel",
        }
    }

    /// The kind `value` claims: a Thing Model when its `@type` contains `tm:ThingModel`, otherwise
    /// a Thing Description; `None` when `value` is not a JSON object.
    pub fn of(value: &Value) -> Option<Self> {
        let object = value.as_object()?;
        let is_model = match object.get("@type") {
            Some(Value::String(ty)) => ty == TM_THING_MODEL,
            Some(Value::Array(types)) => types.iter().any(|t| t == TM_THING_MODEL),
            _ => false,
        };
        Some(if is_model {
            DocumentKind::ThingModel
        } else {
            DocumentKind::ThingDescription
        })
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocumentKind::ThingDescription => "Thing Description",
            DocumentKind::ThingModel => "Thing Model",
        })
    }
}

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The document is invalid.
    Error,
    /// The document is valid but probably not what its author meant.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The check a problem comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The input is not JSON (or is empty).
    Parse,
    /// The input is larger than the size limit.
    TooLarge,
    /// The input is not UTF-8.
    Encoding,
    /// Arrays/objects are nested deeper than the limit.
    TooDeep,
    /// The W3C TD (or TM) JSON Schema.
    JsonSchema,
    /// A member name occurs twice in one object.
    DuplicateMember,
    /// `security` (thing, form or combo) names a scheme `securityDefinitions` does not define.
    UndefinedSecurity,
    /// An `op` that does not fit the affordance kind or the property's `readOnly`/`writeOnly`.
    OpMismatch,
    /// A relative `href` (or a relative `base`) with no absolute `base` to resolve it against.
    RelativeHref,
    /// LMOS terms used without the LMOS namespace bound to `lmos` in `@context`.
    LmosContext,
    /// `lmos:Agent` / `lmos:Tool` typing.
    LmosType,
    /// The shape of `lmos:metadata` / `lmos:vendor`.
    LmosMetadata,
    /// The document passes every check but does not fit the SDK's typed model.
    Model,
}

impl Rule {
    /// The stable code of the rule, e.g. `"json-schema"`, `"duplicate-member"`.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Parse => "parse",
            Rule::TooLarge => "too-large",
            Rule::Encoding => "encoding",
            Rule::TooDeep => "too-deep",
            Rule::JsonSchema => "json-schema",
            Rule::DuplicateMember => "duplicate-member",
            Rule::UndefinedSecurity => "undefined-security",
            Rule::OpMismatch => "op-mismatch",
            Rule::RelativeHref => "relative-href",
            Rule::LmosContext => "lmos-context",
            Rule::LmosType => "lmos-type",
            Rule::LmosMetadata => "lmos-metadata",
            Rule::Model => "model",
        }
    }

    /// Every rule, in the order of [`Rule::code`]'s table.
    pub const ALL: [Rule; 13] = [
        Rule::Parse,
        Rule::TooLarge,
        Rule::Encoding,
        Rule::TooDeep,
        Rule::JsonSchema,
        Rule::DuplicateMember,
        Rule::UndefinedSecurity,
        Rule::OpMismatch,
        Rule::RelativeHref,
        Rule::LmosContext,
        Rule::LmosType,
        Rule::LmosMetadata,
        Rule::Model,
    ];
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One thing wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer (RFC 6901) to the offending value; `""` is the whole document.
    pub pointer: String,
    /// A sentence a person understands.
    pub message: String,
    /// The check that found it.
    pub rule: Rule,
    /// Whether it makes the document invalid.
    pub severity: Severity,
    /// 1-based line in the input, when the input text is known.
    pub line: Option<usize>,
    /// Column (in bytes) in the input, when the input text is known.
    pub column: Option<usize>,
}

impl Problem {
    /// An error at `pointer`.
    pub fn error(rule: Rule, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            pointer: pointer.into(),
            message: message.into(),
            rule,
            severity: Severity::Error,
            line: None,
            column: None,
        }
    }

    /// A warning at `pointer`.
    pub fn warning(rule: Rule, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(rule, pointer, message)
        }
    }

    fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// The problem as JSON: `pointer`, `message`, `rule` (its code), `severity`, `line`, `column`.
    pub fn to_json(&self) -> Value {
        json!({
            "pointer": self.pointer,
            "message": self.message,
            "rule": self.rule.code(),
            "severity": self.severity.as_str(),
            "line": self.line,
            "column": self.column,
        })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

/// Everything validation found out about one document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationReport {
    /// What the document claims to be; `None` when it is not a JSON object (or not JSON).
    pub kind: Option<DocumentKind>,
    /// Every problem, in document order.
    pub problems: Vec<Problem>,
}

impl ValidationReport {
    /// Whether no problem is an error (warnings do not count).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The problems that make the document invalid.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The problems that do not make the document invalid.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    /// The report as JSON: `{"valid": bool, "kind": "ThingDescription"|"ThingModel"|null,
    /// "problems": [...]}` (see [`Problem::to_json`]).
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.is_valid(),
            "kind": self.kind.map(DocumentKind::as_str),
            "problems": self.problems.iter().map(Problem::to_json).collect::<Vec<_>>(),
        })
    }

    fn from_problem(problem: Problem) -> Self {
        ValidationReport {
            kind: None,
            problems: vec![problem],
        }
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationReport {}

impl From<ParseFailure> for Problem {
    fn from(failure: ParseFailure) -> Self {
        let message = failure.to_string();
        match failure {
            ParseFailure::TooLarge { .. } => Problem::error(Rule::TooLarge, "", message),
            ParseFailure::NotUtf8 { .. } => Problem::error(Rule::Encoding, "", message),
            ParseFailure::Empty | ParseFailure::Io { .. } => {
                Problem::error(Rule::Parse, "", message)
            }
            ParseFailure::Json {
                line,
                column,
                message,
            } => Problem::error(
                Rule::Parse,
                "",
                format!("not valid JSON: {message} (line {line}, column {column})"),
            )
            .at(line, column),
            ParseFailure::TooDeep { line, column, .. } => {
                Problem::error(Rule::TooDeep, "", message).at(line, column)
            }
        }
    }
}

/// Parses and validates `input` with the default [`ParseOptions`].
pub fn validate_bytes(input: &[u8]) -> ValidationReport {
    validate_bytes_with(input, &ParseOptions::default())
}

/// Parses and validates `input`; parse failures become a one-problem report. Problems carry the
/// line and column of the offending value.
pub fn validate_bytes_with(input: &[u8], options: &ParseOptions) -> ValidationReport {
    check_bytes(input, options).0
}

/// Validates an already-parsed document (no duplicate-member check and no line/column, since the
/// text is gone).
pub fn validate_value(value: &Value) -> ValidationReport {
    check_value(value, &[]).0
}

fn check_bytes(input: &[u8], options: &ParseOptions) -> (ValidationReport, Option<Thing>) {
    let ParsedDocument { value, duplicates } = match parse_document(input, options) {
        Ok(parsed) => parsed,
        Err(failure) => return (ValidationReport::from_problem(failure.into()), None),
    };
    let duplicate_problems: Vec<Problem> = duplicates
        .iter()
        .map(|dup| {
            Problem::error(
                Rule::DuplicateMember,
                dup.pointer.clone(),
                format!(
                    "the member \"{}\" appears more than once in the same object; only the last \
                     one counts, so the earlier ones are silently lost",
                    dup.name
                ),
            )
            .at(dup.line, dup.column)
        })
        .collect();
    let (mut report, thing) = check_value(&value, &duplicate_problems);
    if report.problems.iter().any(|p| p.line.is_none()) {
        // Only reached for documents with problems, so the second pass costs nothing otherwise.
        if let Ok(text) = std::str::from_utf8(input) {
            let wanted: std::collections::HashSet<&str> = report
                .problems
                .iter()
                .filter(|p| p.line.is_none())
                .map(|p| p.pointer.as_str())
                .collect();
            let index = PositionIndex::build_for(
                text.strip_prefix('\u{feff}').unwrap_or(text),
                Some(&wanted),
            );
            for problem in report.problems.iter_mut().filter(|p| p.line.is_none()) {
                if let Some((line, column)) = index.value(&problem.pointer) {
                    problem.line = Some(line);
                    problem.column = Some(column);
                }
            }
        }
    }
    (report, thing)
}

/// Runs every check on `value`; `extra` are problems found earlier (duplicates). Returns the typed
/// Thing when the document is a valid Thing Description.
fn check_value(value: &Value, extra: &[Problem]) -> (ValidationReport, Option<Thing>) {
    let kind = DocumentKind::of(value);
    let mut problems: Vec<Problem> = extra.to_vec();
    let Some(kind) = kind else {
        problems.push(Problem::error(
            Rule::JsonSchema,
            "",
            format!(
                "a Thing Description must be a JSON object, but this document is {}",
                schema::describe_type(value)
            ),
        ));
        return (
            ValidationReport {
                kind: None,
                problems,
            },
            None,
        );
    };

    let mut own = rules::check(value, kind);
    let mut from_schema = schema::check(value, kind);
    // A precise op problem replaces the schema's generic complaint about the same `op`.
    let op_pointers: Vec<String> = own
        .iter()
        .filter(|p| p.rule == Rule::OpMismatch)
        .map(|p| op_member_pointer(&p.pointer))
        .collect();
    from_schema.retain(|p| {
        !op_pointers
            .iter()
            .any(|op| p.pointer == *op || p.pointer.starts_with(&format!("{op}/")))
    });
    problems.append(&mut from_schema);
    problems.append(&mut own);

    let mut thing = None;
    if kind == DocumentKind::ThingDescription && !problems.iter().any(is_error) {
        // Deserializing from a borrowed Value avoids copying the document.
        match <Thing as serde::Deserialize>::deserialize(value) {
            Ok(parsed) => thing = Some(parsed),
            Err(error) => {
                let (pointer, error) = locate_model_error(value).unwrap_or((String::new(), error));
                problems.push(Problem::error(
                    Rule::Model,
                    pointer,
                    format!(
                        "the document passes every check but does not fit the Thing model: {error}"
                    ),
                ))
            }
        }
    }

    sort_and_dedup(value, &mut problems);
    (
        ValidationReport {
            kind: Some(kind),
            problems,
        },
        thing,
    )
}

/// Finds the part of a document that the typed model refuses, by reading each part on its own.
fn locate_model_error(value: &Value) -> Option<(String, serde_json::Error)> {
    use super::model::{
        ActionAffordance, DataSchema, EventAffordance, Form, Link, PropertyAffordance,
        SecurityScheme, VersionInfo,
    };
    use super::parse::escape_pointer_token;
    use serde::Deserialize;

    fn first<'v, T: Deserialize<'v>>(
        value: &'v Value,
        member: &str,
    ) -> Option<(String, serde_json::Error)> {
        let parts: Vec<(String, &Value)> = match value.get(member)? {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (format!("/{member}/{}", escape_pointer_token(k)), v))
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/{member}/{i}"), v))
                .collect(),
            _ => return None,
        };
        parts
            .into_iter()
            .find_map(|(pointer, part)| T::deserialize(part).err().map(|e| (pointer, e)))
    }

    if let Some(version) = value.get("version") {
        if let Err(error) = VersionInfo::deserialize(version) {
            return Some(("/version".to_owned(), error));
        }
    }
    first::<Link>(value, "links")
        .or_else(|| first::<Form>(value, "forms"))
        .or_else(|| first::<SecurityScheme>(value, "securityDefinitions"))
        .or_else(|| first::<DataSchema>(value, "schemaDefinitions"))
        .or_else(|| first::<DataSchema>(value, "uriVariables"))
        .or_else(|| first::<PropertyAffordance>(value, "properties"))
        .or_else(|| first::<ActionAffordance>(value, "actions"))
        .or_else(|| first::<EventAffordance>(value, "events"))
}

fn is_error(problem: &Problem) -> bool {
    problem.severity == Severity::Error
}

/// `/x/forms/0/op/1` → `/x/forms/0/op`.
fn op_member_pointer(pointer: &str) -> String {
    match pointer.rfind("/op") {
        Some(at) => pointer[..at + 3].to_owned(),
        None => pointer.to_owned(),
    }
}

/// Orders problems by where their pointer is in the document (member order as written, array
/// order), then by rule and message, and drops exact repeats.
fn sort_and_dedup(value: &Value, problems: &mut Vec<Problem>) {
    let mut keyed: Vec<(Vec<usize>, Problem)> = problems
        .drain(..)
        .map(|p| (document_position(value, &p.pointer), p))
        .collect();
    keyed.sort_by(|(a, pa), (b, pb)| {
        a.cmp(b)
            .then_with(|| pa.rule.cmp(&pb.rule))
            .then_with(|| pa.message.cmp(&pb.message))
    });
    keyed.dedup_by(|(_, a), (_, b)| {
        a.pointer == b.pointer && a.rule == b.rule && a.message == b.message
    });
    problems.extend(keyed.into_iter().map(|(_, p)| p));
}

/// The position of each step of `pointer` among its siblings; a step that does not exist sorts
/// after the existing ones.
fn document_position(value: &Value, pointer: &str) -> Vec<usize> {
    let mut position = Vec::new();
    let mut current = Some(value);
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        let step = match current {
            Some(Value::Object(map)) => map
                .keys()
                .position(|k| *k == token)
                .map(|i| (i, map.get(&token))),
            Some(Value::Array(items)) => token.parse::<usize>().ok().map(|i| (i, items.get(i))),
            _ => None,
        };
        match step {
            Some((index, next)) => {
                position.push(index);
                current = next;
            }
            None => {
                position.push(usize::MAX);
                current = None;
            }
        }
    }
    position
}

impl Thing {
    /// Parses `input`, validates it as a Thing Description (JSON Schema and every rule of this
    /// module) and reads it into the typed model. The one call bindings use.
    ///
    /// Warnings do not fail; a Thing Model is refused (it is a template, not a Thing).
    pub fn parse_validated(input: &[u8]) -> Result<Thing, ValidationReport> {
        Self::parse_validated_with(input, &ParseOptions::default())
    }

    /// [`Thing::parse_validated`] with explicit parse limits.
    pub fn parse_validated_with(
        input: &[u8],
        options: &ParseOptions,
    ) -> Result<Thing, ValidationReport> {
        let (mut report, thing) = check_bytes(input, options);
        match thing {
            Some(thing) if report.is_valid() => Ok(thing),
            _ => {
                if report.is_valid() && report.kind == Some(DocumentKind::ThingModel) {
                    report.problems.insert(
                        0,
                        Problem::error(
                            Rule::Model,
                            "/@type",
                            "this is a Thing Model (typed tm:ThingModel), a template; only a \
                             Thing Description can be used as a Thing",
                        ),
                    );
                }
                Err(report)
            }
        }
    }

    /// Validates this Thing as it would serialize (useful after building one by hand).
    pub fn validate(&self) -> ValidationReport {
        validate_value(&self.to_value())
    }
}
