//! The assertions a JSON Schema cannot express: security names, `op` per affordance kind,
//! relative hrefs, and the LMOS rules. They work on the raw JSON so that they also report on
//! documents that do not fit the typed model.

use serde_json::{Map, Value};
use url::Url;

use super::{DocumentKind, Problem, Rule};
use crate::td::defaults::{ops_for_kind, THING_LEVEL_OPS};
use crate::td::model::AffordanceKind;
use crate::td::parse::escape_pointer_token;
use crate::td::vocab::{
    is_lmos_namespace, LMOS_AGENT, LMOS_METADATA, LMOS_NAMESPACE, LMOS_PREFIX, LMOS_TOOL,
    LMOS_VENDOR, LMOS_VENDOR_NAME, LMOS_VENDOR_URL,
};

const KINDS: [AffordanceKind; 3] = [
    AffordanceKind::Property,
    AffordanceKind::Action,
    AffordanceKind::Event,
];

/// Runs every rule that applies to `kind`.
pub(super) fn check(value: &Value, kind: DocumentKind) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(thing) = value.as_object() else {
        return problems;
    };
    if kind == DocumentKind::ThingDescription {
        // A Thing Model may leave security and base to the TDs made from it.
        security(thing, &mut problems);
        hrefs(thing, &mut problems);
    }
    ops(thing, &mut problems);
    lmos(value, thing, &mut problems);
    problems
}

fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape_pointer_token(token))
}

/// A form found in the document: its pointer, the form, and the affordance it belongs to (`None`
/// for thing-level forms).
type FoundForm<'a> = (
    String,
    &'a Map<String, Value>,
    Option<(AffordanceKind, &'a Map<String, Value>)>,
);

/// Every form of the thing.
fn forms(thing: &Map<String, Value>) -> Vec<FoundForm<'_>> {
    let mut all = Vec::new();
    if let Some(Value::Array(list)) = thing.get("forms") {
        for (i, form) in list.iter().enumerate() {
            if let Value::Object(form) = form {
                all.push((format!("/forms/{i}"), form, None));
            }
        }
    }
    for kind in KINDS {
        let Some(Value::Object(affordances)) = thing.get(kind.member()) else {
            continue;
        };
        for (name, affordance) in affordances {
            let Value::Object(affordance) = affordance else {
                continue;
            };
            let Some(Value::Array(list)) = affordance.get("forms") else {
                continue;
            };
            let base = child(&format!("/{}", kind.member()), name);
            for (i, form) in list.iter().enumerate() {
                if let Value::Object(form) = form {
                    all.push((format!("{base}/forms/{i}"), form, Some((kind, affordance))));
                }
            }
        }
    }
    all
}

/// The names a `security`-like member lists, with their pointers.
fn names<'a>(value: &'a Value, pointer: &str) -> Vec<(String, &'a str)> {
    match value {
        Value::String(name) => vec![(pointer.to_owned(), name.as_str())],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| item.as_str().map(|name| (format!("{pointer}/{i}"), name)))
            .collect(),
        _ => Vec::new(),
    }
}

fn security(thing: &Map<String, Value>, out: &mut Vec<Problem>) {
    let Some(Value::Object(definitions)) = thing.get("securityDefinitions") else {
        return;
    };
    let defined: Vec<&str> = definitions.keys().map(String::as_str).collect();
    let mut check = |pointer: String, name: &str, context: &str| {
        if !definitions.contains_key(name) {
            out.push(Problem::error(
                Rule::UndefinedSecurity,
                pointer,
                format!(
                    "{context} names the security scheme \"{name}\", which securityDefinitions \
                     does not define (defined: {})",
                    defined.join(", ")
                ),
            ));
        }
    };
    if let Some(value) = thing.get("security") {
        for (pointer, name) in names(value, "/security") {
            check(pointer, name, "the thing's security");
        }
    }
    for (scheme_name, scheme) in definitions {
        if scheme.get("scheme").and_then(Value::as_str) != Some("combo") {
            continue;
        }
        for member in ["allOf", "oneOf"] {
            if let Some(value) = scheme.get(member) {
                let pointer = child(&child("/securityDefinitions", scheme_name), member);
                for (pointer, name) in names(value, &pointer) {
                    check(
                        pointer,
                        name,
                        &format!("the combo scheme \"{scheme_name}\" ({member})"),
                    );
                }
            }
        }
    }
    for (pointer, form, _) in forms(thing) {
        if let Some(value) = form.get("security") {
            for (pointer, name) in names(value, &format!("{pointer}/security")) {
                check(pointer, name, "this form's security");
            }
        }
    }
}

fn kind_of_op(op: &str) -> Option<&'static str> {
    if THING_LEVEL_OPS.contains(&op) {
        return Some("a thing-level operation (for the top-level forms)");
    }
    KINDS
        .into_iter()
        .find(|kind| ops_for_kind(*kind).contains(&op))
        .map(|kind| match kind {
            AffordanceKind::Property => "a property operation",
            AffordanceKind::Action => "an action operation",
            AffordanceKind::Event => "an event operation",
        })
}

fn ops(thing: &Map<String, Value>, out: &mut Vec<Problem>) {
    for (pointer, form, owner) in forms(thing) {
        let Some(op) = form.get("op") else {
            continue;
        };
        let (allowed, what): (&[&str], &str) = match owner {
            None => (THING_LEVEL_OPS, "a thing-level form"),
            Some((kind, _)) => (
                ops_for_kind(kind),
                match kind {
                    AffordanceKind::Property => "a property form",
                    AffordanceKind::Action => "an action form",
                    AffordanceKind::Event => "an event form",
                },
            ),
        };
        for (op_pointer, name) in names(op, &format!("{pointer}/op")) {
            if !allowed.contains(&name) {
                let known = match kind_of_op(name) {
                    Some(kind) => format!("\"{name}\" is {kind}"),
                    None => format!("\"{name}\" is not a TD operation"),
                };
                out.push(Problem::error(
                    Rule::OpMismatch,
                    op_pointer,
                    format!("{known}; {what} may only use {}", allowed.join(", ")),
                ));
                continue;
            }
            let Some((AffordanceKind::Property, property)) = owner else {
                continue;
            };
            let flag = |member: &str| property.get(member) == Some(&Value::Bool(true));
            if flag("readOnly") && name == "writeproperty" {
                out.push(Problem::error(
                    Rule::OpMismatch,
                    op_pointer,
                    "the property is readOnly, so none of its forms may offer writeproperty",
                ));
            } else if flag("writeOnly") && matches!(name, "readproperty" | "observeproperty") {
                out.push(Problem::error(
                    Rule::OpMismatch,
                    op_pointer,
                    format!("the property is writeOnly, so none of its forms may offer {name}"),
                ));
            }
        }
    }
}

fn hrefs(thing: &Map<String, Value>, out: &mut Vec<Problem>) {
    let base_ok = match thing.get("base") {
        Some(Value::String(base)) => match Url::parse(base) {
            Ok(_) => true,
            Err(error) => {
                out.push(Problem::error(
                    Rule::RelativeHref,
                    "/base",
                    format!("base must be an absolute URI, and \"{base}\" is not one ({error})"),
                ));
                false
            }
        },
        _ => false,
    };
    if base_ok {
        return;
    }
    let mut check = |pointer: String, href: &str, what: &str| {
        if let Err(url::ParseError::RelativeUrlWithoutBase) = Url::parse(href) {
            out.push(Problem::error(
                Rule::RelativeHref,
                pointer,
                format!(
                    "the {what} href \"{href}\" is relative, but the Thing Description has no \
                     (absolute) base to resolve it against"
                ),
            ));
        }
    };
    for (pointer, form, _) in forms(thing) {
        if let Some(Value::String(href)) = form.get("href") {
            check(format!("{pointer}/href"), href, "form");
        }
    }
    if let Some(Value::Array(links)) = thing.get("links") {
        for (i, link) in links.iter().enumerate() {
            if let Some(Value::String(href)) = link.get("href") {
                check(format!("/links/{i}/href"), href, "link");
            }
        }
    }
}

/// One step of a path while walking the document.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn pointer_of(path: &[Step<'_>]) -> String {
    let mut pointer = String::new();
    for step in path {
        match step {
            Step::Key(key) => pointer = child(&pointer, key),
            Step::Index(index) => pointer = format!("{pointer}/{index}"),
        }
    }
    pointer
}

/// Where the document uses LMOS terms: `lmos:`-prefixed member names and `@type` values. Pointers
/// are only built for the uses, so a document without LMOS terms costs one walk and no allocation
/// per member.
fn lmos_uses(value: &Value) -> Vec<String> {
    let prefix = format!("{LMOS_PREFIX}:");
    let mut uses = Vec::new();
    let mut path: Vec<Step<'_>> = Vec::new();
    // (depth of the value, the step leading to it, the value)
    let mut stack: Vec<(usize, Option<Step<'_>>, &Value)> = vec![(0, None, value)];
    while let Some((depth, step, value)) = stack.pop() {
        path.truncate(depth.saturating_sub(1));
        if let Some(step) = step {
            path.push(step);
        }
        match value {
            Value::Object(map) => {
                for (name, member) in map.iter().rev() {
                    if name.starts_with(&prefix) {
                        let mut at = pointer_of(&path);
                        at = child(&at, name);
                        uses.push(at);
                    }
                    if name == "@type" {
                        let at = child(&pointer_of(&path), name);
                        for (type_pointer, ty) in names(member, &at) {
                            if ty.starts_with(&prefix) {
                                uses.push(type_pointer);
                            }
                        }
                    }
                    if member.is_object() || member.is_array() {
                        stack.push((depth + 1, Some(Step::Key(name)), member));
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    if item.is_object() || item.is_array() {
                        stack.push((depth + 1, Some(Step::Index(i)), item));
                    }
                }
            }
            _ => {}
        }
    }
    uses.sort();
    uses.dedup();
    uses
}

/// Whether `@context` makes the LMOS terms resolvable, and any wrong binding of the prefix.
fn lmos_context(thing: &Map<String, Value>, out: &mut Vec<Problem>) -> bool {
    let mut entries: Vec<(String, &Value)> = Vec::new();
    match thing.get("@context") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                entries.push((format!("/@context/{i}"), item));
            }
        }
        Some(other) => entries.push(("/@context".to_owned(), other)),
        None => {}
    }
    let mut bound = false;
    for (pointer, entry) in entries {
        match entry {
            Value::String(uri) if is_lmos_namespace(uri) => bound = true,
            Value::Object(map) => {
                let Some(binding) = map.get(LMOS_PREFIX) else {
                    continue;
                };
                let uri = match binding {
                    Value::String(uri) => Some(uri.as_str()),
                    Value::Object(definition) => definition.get("@id").and_then(Value::as_str),
                    _ => None,
                };
                match uri {
                    Some(uri) if is_lmos_namespace(uri) => bound = true,
                    _ => out.push(Problem::error(
                        Rule::LmosContext,
                        child(&pointer, LMOS_PREFIX),
                        format!(
                            "the prefix \"{LMOS_PREFIX}\" must be bound to the LMOS namespace \
                             {LMOS_NAMESPACE}, not to {binding}"
                        ),
                    )),
                }
            }
            _ => {}
        }
    }
    bound
}

fn lmos(value: &Value, thing: &Map<String, Value>, out: &mut Vec<Problem>) {
    let bound = lmos_context(thing, out);
    let uses = lmos_uses(value);
    if !uses.is_empty() && !bound {
        let shown: Vec<&str> = uses.iter().take(3).map(String::as_str).collect();
        let more = if uses.len() > 3 {
            format!(" and {} more", uses.len() - 3)
        } else {
            String::new()
        };
        out.push(Problem::error(
            Rule::LmosContext,
            "/@context",
            format!(
                "the document uses LMOS terms (at {}{more}) but its @context does not bind the \
                 prefix \"{LMOS_PREFIX}\" to {LMOS_NAMESPACE}; add {{\"{LMOS_PREFIX}\": \
                 \"{LMOS_NAMESPACE}\"}} to @context",
                shown.join(", ")
            ),
        ));
    }

    let types: Vec<&str> = thing
        .get("@type")
        .map(|t| names(t, "/@type").into_iter().map(|(_, n)| n).collect())
        .unwrap_or_default();
    let agent = types.contains(&LMOS_AGENT);
    let tool = types.contains(&LMOS_TOOL);
    if agent && tool {
        out.push(Problem::error(
            Rule::LmosType,
            "/@type",
            format!("a thing is either an {LMOS_AGENT} or an {LMOS_TOOL}, not both"),
        ));
    }

    let Some(metadata) = thing.get(LMOS_METADATA) else {
        return;
    };
    let pointer = child("", LMOS_METADATA);
    let Value::Object(metadata) = metadata else {
        out.push(Problem::error(
            Rule::LmosMetadata,
            pointer,
            format!(
                "{LMOS_METADATA} must be an object, not {}",
                super::schema::describe_type(metadata)
            ),
        ));
        return;
    };
    if !agent && !tool {
        out.push(Problem::warning(
            Rule::LmosType,
            pointer.clone(),
            format!(
                "the thing carries {LMOS_METADATA} but is typed neither {LMOS_AGENT} nor \
                 {LMOS_TOOL}; add one of them to @type"
            ),
        ));
    }
    let Some(vendor) = metadata.get(LMOS_VENDOR) else {
        return;
    };
    let vendor_pointer = child(&pointer, LMOS_VENDOR);
    let Value::Object(vendor) = vendor else {
        out.push(Problem::error(
            Rule::LmosMetadata,
            vendor_pointer,
            format!(
                "{LMOS_VENDOR} must be an object with a {LMOS_VENDOR_NAME} string, not {}",
                super::schema::describe_type(vendor)
            ),
        ));
        return;
    };
    match vendor.get(LMOS_VENDOR_NAME) {
        Some(Value::String(_)) => {}
        Some(other) => out.push(Problem::error(
            Rule::LmosMetadata,
            child(&vendor_pointer, LMOS_VENDOR_NAME),
            format!(
                "the vendor's {LMOS_VENDOR_NAME} must be a string, not {}",
                super::schema::describe_type(other)
            ),
        )),
        None => out.push(Problem::error(
            Rule::LmosMetadata,
            vendor_pointer.clone(),
            format!("{LMOS_VENDOR} needs a {LMOS_VENDOR_NAME} string naming the vendor"),
        )),
    }
    if let Some(url) = vendor.get(LMOS_VENDOR_URL) {
        if !url.is_string() {
            out.push(Problem::error(
                Rule::LmosMetadata,
                child(&vendor_pointer, LMOS_VENDOR_URL),
                format!(
                    "the vendor's {LMOS_VENDOR_URL} must be a string (a URL), not {}",
                    super::schema::describe_type(url)
                ),
            ));
        }
    }
}
