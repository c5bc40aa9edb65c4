//! The W3C TD and TM JSON Schemas, compiled once, and the translation of their errors into
//! [`Problem`]s with precise pointers and readable sentences.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::{DocumentKind, Problem, Rule};

/// The TD 1.1 JSON Schema (W3C, 2025-03-12), copied into the crate.
pub const TD_SCHEMA: &str = include_str!("../../../schemas/td-json-schema-validation.json");
/// The TM JSON Schema (W3C, 2025-03-12), copied into the crate.
pub const TM_SCHEMA: &str = include_str!("../../../schemas/tm-json-schema-validation.json");

static TD_VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| compile(TD_SCHEMA));
static TM_VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| compile(TM_SCHEMA));

fn compile(text: &str) -> Result<Validator, String> {
    let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
}

/// Compiles both schemas now instead of on first validation (they are compiled once per process);
/// fails with the compiler's message when a schema does not compile.
pub fn warm_up() -> Result<(), String> {
    TD_VALIDATOR.as_ref().map_err(Clone::clone)?;
    TM_VALIDATOR.as_ref().map_err(Clone::clone)?;
    Ok(())
}

/// Checks `value` against the schema for `kind`.
pub(super) fn check(value: &Value, kind: DocumentKind) -> Vec<Problem> {
    let validator = match kind {
        DocumentKind::ThingDescription => &*TD_VALIDATOR,
        DocumentKind::ThingModel => &*TM_VALIDATOR,
    };
    let validator = match validator {
        Ok(validator) => validator,
        Err(error) => {
            return vec![Problem::error(
                Rule::JsonSchema,
                "",
                format!("the built-in {kind} JSON Schema does not compile: {error}"),
            )]
        }
    };
    if validator.is_valid(value) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for error in validator.iter_errors(value) {
        explain(&error, &mut problems);
    }
    problems
}

/// A short name for the JSON type of `value`, with an article.
pub(super) fn describe_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn last_token(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap_or("")
}

/// The TD 1.1 security schemes, for the message about an unknown `scheme`.
const KNOWN_SCHEMES: &str = "nosec, auto, combo, basic, digest, apikey, bearer, psk, oauth2";

/// Turns one schema error into problems, looking inside `oneOf`/`anyOf` for the alternative the
/// author most likely meant.
fn explain(error: &ValidationError<'_>, out: &mut Vec<Problem>) {
    let pointer = error.instance_path().as_str().to_owned();
    let instance: &Value = error.instance();
    let message = match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            explain_alternatives(&pointer, instance, context, out);
            return;
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => format!(
            "{} fits more than one of the shapes allowed here, but must fit exactly one",
            short(instance)
        ),
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            format!("the member \"{name}\" is required here")
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<String> = match kind {
                TypeKind::Single(ty) => vec![ty.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            format!(
                "expected {}, found {}",
                expected
                    .iter()
                    .map(|t| with_article(t))
                    .collect::<Vec<_>>()
                    .join(" or "),
                describe_type(instance)
            )
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = match options.as_ref() {
                Value::Array(items) => items.iter().map(short).collect(),
                other => vec![short(other)],
            };
            if allowed.len() == 1 {
                format!(
                    "{} is not allowed here; the value must be {}",
                    short(instance),
                    allowed[0]
                )
            } else {
                format!(
                    "{} is not allowed here; the value must be one of {}",
                    short(instance),
                    allowed.join(", ")
                )
            }
        }
        ValidationErrorKind::Constant { expected_value } => format!(
            "{} is not allowed here; the value must be {}",
            short(instance),
            short(expected_value)
        ),
        ValidationErrorKind::Format { format } => {
            format!("{} is not a valid {format}", short(instance))
        }
        ValidationErrorKind::Pattern { pattern } => {
            if last_token(&pointer) == "scheme" {
                format!(
                    "{} is not a security scheme of TD 1.1 ({KNOWN_SCHEMES}) nor a prefixed \
                     extension scheme such as \"ace:ACESecurityScheme\"",
                    short(instance)
                )
            } else {
                format!("{} does not match the pattern {pattern}", short(instance))
            }
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("the array needs at least {limit} item{}", plural(*limit))
        }
        ValidationErrorKind::MaxItems { limit } => {
            format!("the array may have at most {limit} item{}", plural(*limit))
        }
        ValidationErrorKind::MinProperties { limit } => {
            format!("the object needs at least {limit} member{}", plural(*limit))
        }
        ValidationErrorKind::MinLength { limit } => {
            format!(
                "the string needs at least {limit} character{}",
                plural(*limit)
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => format!(
            "member{} not allowed here: {}",
            plural(unexpected.len() as u64),
            unexpected.join(", ")
        ),
        ValidationErrorKind::Not { schema } => {
            let why = schema
                .get("description")
                .and_then(Value::as_str)
                .map(|d| format!(" ({})", d.trim_end_matches('.')))
                .unwrap_or_default();
            format!(
                "{} has a shape that is not allowed here{why}",
                short(instance)
            )
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("{} is less than the minimum {limit}", short(instance))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("{} is greater than the maximum {limit}", short(instance))
        }
        _ => error.to_string(),
    };
    out.push(Problem::error(Rule::JsonSchema, pointer, message));
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn with_article(ty: &str) -> String {
    match ty {
        "null" => "null".to_owned(),
        "array" | "object" | "integer" => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

/// How far an alternative is from fitting, lower is closer: (the value has the wrong type
/// altogether, a discriminating member such as `scheme` has the wrong value, members are missing,
/// number of errors). Nested `oneOf`/`anyOf` count with their closest alternative.
fn distance(at: &str, errors: &[ValidationError<'static>]) -> (usize, usize, usize, usize) {
    let mut total = (0, 0, 0, 0);
    for error in errors {
        let path = error.instance_path().as_str();
        match error.kind() {
            ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::AnyOf { context } => {
                let nearest = context
                    .iter()
                    .map(|alt| distance(at, alt))
                    .min()
                    .unwrap_or((0, 0, 0, 1));
                total.0 += nearest.0;
                total.1 += nearest.1;
                total.2 += nearest.2;
                total.3 += nearest.3;
                continue;
            }
            ValidationErrorKind::Type { .. } if path == at => total.0 += 1,
            ValidationErrorKind::Enum { .. }
            | ValidationErrorKind::Constant { .. }
            | ValidationErrorKind::Pattern { .. }
                if path.strip_prefix(at) == Some("/scheme") =>
            {
                total.1 += 1
            }
            ValidationErrorKind::Required { .. } if path == at => total.2 += 1,
            _ => {}
        }
        total.3 += 1;
    }
    total
}

/// Whether every way an alternative fails includes a wrong value at `pointer`.
fn fails_at(pointer: &str, errors: &[ValidationError<'static>]) -> bool {
    errors.iter().any(|e| match e.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            !context.is_empty() && context.iter().all(|alt| fails_at(pointer, alt))
        }
        _ => e.instance_path().as_str() == pointer,
    })
}

fn explain_alternatives(
    pointer: &str,
    instance: &Value,
    context: &[Vec<ValidationError<'static>>],
    out: &mut Vec<Problem>,
) {
    if pointer == "/@context" {
        out.push(Problem::error(
            Rule::JsonSchema,
            pointer,
            "@context must be the TD 1.1 context URI \"https://www.w3.org/2022/wot/td/v1.1\", or \
             an array that starts with it (or with the TD 1.0 URI followed by it) and goes on \
             with further URIs or objects mapping prefixes to namespace URIs",
        ));
        return;
    }
    // An unknown security scheme fails every alternative on `scheme` itself: say so once.
    let scheme_pointer = format!("{pointer}/scheme");
    if instance.get("scheme").is_some()
        && !context.is_empty()
        && context.iter().all(|alt| fails_at(&scheme_pointer, alt))
    {
        out.push(Problem::error(
            Rule::JsonSchema,
            scheme_pointer,
            format!(
                "{} is not a security scheme of TD 1.1 ({KNOWN_SCHEMES}) nor a prefixed \
                 extension scheme such as \"ace:ACESecurityScheme\"",
                instance.get("scheme").map(short).unwrap_or_default()
            ),
        ));
        return;
    }
    let best = context
        .iter()
        .filter(|alt| !alt.is_empty())
        .min_by_key(|alt| distance(pointer, alt));
    match best {
        Some(alt) if distance(pointer, alt).0 == 0 || context.len() == 1 => {
            for error in alt {
                explain(error, out);
            }
        }
        _ => {
            // The value has a type none of the alternatives accepts.
            let mut types: Vec<String> = Vec::new();
            for alt in context {
                for error in alt {
                    if let ValidationErrorKind::Type { kind } = error.kind() {
                        if error.instance_path().as_str() == pointer {
                            match kind {
                                TypeKind::Single(ty) => types.push(with_article(&ty.to_string())),
                                TypeKind::Multiple(set) => {
                                    types.extend(set.iter().map(|t| with_article(&t.to_string())))
                                }
                            }
                        }
                    }
                }
            }
            types.dedup();
            let message = if types.is_empty() {
                format!(
                    "{} does not fit any of the shapes allowed here",
                    short(instance)
                )
            } else {
                format!(
                    "expected {}, found {}",
                    types.join(" or "),
                    describe_type(instance)
                )
            };
            out.push(Problem::error(Rule::JsonSchema, pointer, message));
        }
    }
}
