//! `lmos describe`: a summary of a Thing Description for a person.

use std::fmt::Write as _;

use lmos::td::defaults::{content_type, form_ops, DEFAULT_CONTENT_TYPE};
use lmos::td::{
    AffordanceKind, DataSchema, Form, OneOrMany, PropertyAffordance, SecurityScheme, Thing,
};
use serde_json::Value;

use lmos::td::validate::DocumentKind;

use crate::input::{self, Source};
use crate::summary;
use crate::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos describe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file, an http(s) URL, or `-` for standard input.
    document: String,
    /// Largest document accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = summary::default_max_bytes())]
    max_bytes: usize,
}

/// Prints the summary.
pub async fn run(args: Args) -> u8 {
    let source = Source::from_arg(&args.document);
    let bytes = match input::read(&source, args.max_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            errln!("lmos describe: {e}");
            return EXIT_ERROR;
        }
    };
    let report = summary::validate(&bytes, args.max_bytes);
    let thing = match summary::thing_for_description(&bytes, args.max_bytes) {
        Ok(thing) => thing,
        Err(reason) => {
            errln!("lmos describe: {source} cannot be described: {reason}");
            if !report.is_valid() {
                crate::write_stderr(&summary::report_text(&source.to_string(), &report, &bytes));
            }
            return EXIT_INVALID;
        }
    };
    if !report.is_valid() {
        let kind = report.kind.unwrap_or(DocumentKind::ThingDescription);
        errln!(
            "lmos describe: warning: {source} is not a valid {kind} ({}); `lmos validate {source}` lists the problems",
            summary::count(report.errors().count(), "problem")
        );
    }
    if crate::write_stdout(&describe(&thing)) {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

/// The whole summary as text.
pub fn describe(thing: &Thing) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", thing.title);
    let types = thing.type_names();
    if !types.is_empty() {
        field(&mut out, "type", &types.join(", "));
    }
    if let Some(id) = &thing.id {
        field(&mut out, "id", id);
    }
    if let Some(vendor) = thing.vendor_name() {
        let url = thing
            .extra
            .get("lmos:metadata")
            .and_then(|m| m.get("lmos:vendor"))
            .and_then(|v| v.get("lmos:url"))
            .and_then(Value::as_str);
        match url {
            Some(url) => field(&mut out, "vendor", &format!("{vendor} <{url}>")),
            None => field(&mut out, "vendor", vendor),
        }
    }
    if let Some(version) = &thing.version {
        field(&mut out, "version", &version.instance);
    }
    if let Some(description) = &thing.description {
        field(&mut out, "description", description);
    }
    if let Some(base) = &thing.base {
        field(&mut out, "base", base);
    }
    field(&mut out, "security", &security_line(thing));

    if !thing.properties.is_empty() {
        let _ = writeln!(out, "\nProperties");
        for (name, property) in &thing.properties {
            let mut flags = Vec::new();
            if property.is_read_only() {
                flags.push("read-only");
            }
            if property.is_write_only() {
                flags.push("write-only");
            }
            if property.is_observable() {
                flags.push("observable");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("  ({})", flags.join(", "))
            };
            let _ = writeln!(
                out,
                "  {name}: {}{flags}",
                short_schema(&property.schema, 0)
            );
            affordance_details(
                &mut out,
                thing,
                property.schema.description.as_deref(),
                &property.forms,
                AffordanceKind::Property,
                Some(property),
            );
        }
    }
    if !thing.actions.is_empty() {
        let _ = writeln!(out, "\nActions");
        for (name, action) in &thing.actions {
            let params = match &action.input {
                None => String::new(),
                Some(input) => parameters(input),
            };
            let result = match &action.output {
                None => String::new(),
                Some(output) => format!(" -> {}", short_schema(output, 0)),
            };
            let mut flags = Vec::new();
            if action.is_safe() {
                flags.push("safe");
            }
            if action.is_idempotent() {
                flags.push("idempotent");
            }
            if action.synchronous == Some(false) {
                flags.push("asynchronous");
            }
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("  ({})", flags.join(", "))
            };
            let _ = writeln!(out, "  {name}({params}){result}{flags}");
            affordance_details(
                &mut out,
                thing,
                action.description.as_deref(),
                &action.forms,
                AffordanceKind::Action,
                None,
            );
        }
    }
    if !thing.events.is_empty() {
        let _ = writeln!(out, "\nEvents");
        for (name, event) in &thing.events {
            match &event.data {
                Some(data) => {
                    let _ = writeln!(out, "  {name} -> {}", short_schema(data, 0));
                }
                None => {
                    let _ = writeln!(out, "  {name}");
                }
            }
            affordance_details(
                &mut out,
                thing,
                event.description.as_deref(),
                &event.forms,
                AffordanceKind::Event,
                None,
            );
        }
    }
    if let Some(forms) = thing.forms.as_ref().filter(|f| !f.is_empty()) {
        let _ = writeln!(out, "\nThing-level forms");
        for form in forms {
            let ops: Vec<&str> = form
                .op
                .as_ref()
                .map(|ops| ops.iter().map(String::as_str).collect())
                .unwrap_or_default();
            form_lines(&mut out, "  ", thing, form, &ops);
        }
    }
    if !thing.security_definitions.is_empty() {
        let _ = writeln!(out, "\nSecurity definitions");
        for (name, scheme) in &thing.security_definitions {
            let _ = writeln!(out, "  {name}: {}", scheme_text(scheme));
        }
    }
    if let Some(links) = thing.links.as_ref().filter(|l| !l.is_empty()) {
        let _ = writeln!(out, "\nLinks");
        for link in links {
            let mut line = format!("  {}", link.href);
            if let Some(rel) = &link.rel {
                line = format!("  {rel}: {}", link.href);
            }
            if let Some(media) = &link.media_type {
                let _ = write!(line, " ({media})");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

fn field(out: &mut String, name: &str, value: &str) {
    let label = format!("{name}:");
    let _ = writeln!(out, "  {label:<13}{value}");
}

fn security_line(thing: &Thing) -> String {
    let names: Vec<String> = thing
        .security
        .iter()
        .map(|name| match thing.security_definitions.get(name) {
            Some(scheme) => format!("{name} ({})", scheme.scheme.as_str()),
            None => format!("{name} (not defined)"),
        })
        .collect();
    if names.is_empty() {
        "none named".to_owned()
    } else {
        names.join(" and ")
    }
}

fn scheme_text(scheme: &SecurityScheme) -> String {
    let mut text = scheme.scheme.as_str().to_owned();
    let mut details = Vec::new();
    if let Some(location) = &scheme.location {
        match &scheme.name {
            Some(name) => details.push(format!("in {location} {name:?}")),
            None => details.push(format!("in {location}")),
        }
    } else if let Some(name) = &scheme.name {
        details.push(format!("name {name:?}"));
    }
    if let Some(flow) = &scheme.flow {
        details.push(format!("flow {flow}"));
    }
    if let Some(authorization) = &scheme.authorization {
        details.push(format!("authorization {authorization}"));
    }
    if let Some(token) = &scheme.token {
        details.push(format!("token {token}"));
    }
    if let Some(format) = &scheme.format {
        details.push(format!("format {format}"));
    }
    if let Some(alg) = &scheme.alg {
        details.push(format!("alg {alg}"));
    }
    if let Some(scopes) = &scheme.scopes {
        details.push(format!("scopes {}", join(scopes, " ")));
    }
    if let Some(all) = &scheme.all_of {
        details.push(format!("all of {}", all.join(", ")));
    }
    if let Some(one) = &scheme.one_of {
        details.push(format!("one of {}", one.join(", ")));
    }
    if let Some(description) = &scheme.description {
        details.push(description.clone());
    }
    if !details.is_empty() {
        let _ = write!(text, ", {}", details.join(", "));
    }
    text
}

fn join(values: &OneOrMany<String>, separator: &str) -> String {
    values
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(separator)
}

fn affordance_details(
    out: &mut String,
    thing: &Thing,
    description: Option<&str>,
    forms: &[Form],
    kind: AffordanceKind,
    property: Option<&PropertyAffordance>,
) {
    if let Some(description) = description {
        let _ = writeln!(out, "    {description}");
    }
    for form in forms {
        let ops = form_ops(form, kind, property);
        form_lines(out, "    ", thing, form, &ops);
    }
}

/// One line per operation of a form: `POST https://host/actions/x (invokeaction)`.
fn form_lines(out: &mut String, indent: &str, thing: &Thing, form: &Form, ops: &[&str]) {
    let target = resolved_href(thing, form);
    let is_http = target.starts_with("http://") || target.starts_with("https://");
    let mut notes = Vec::new();
    if content_type(form) != DEFAULT_CONTENT_TYPE {
        notes.push(content_type(form).to_owned());
    }
    if let Some(subprotocol) = &form.subprotocol {
        notes.push(format!("subprotocol {subprotocol}"));
    }
    if let Some(security) = &form.security {
        notes.push(format!("security {}", join(security, ", ")));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(", {}", notes.join(", "))
    };
    let explicit = form.http_method();
    // Operations that share a method (or, off HTTP, all of them) go on one line.
    let mut lines: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
    for op in ops {
        let method = if is_http {
            explicit.or_else(|| default_http_method(op))
        } else {
            None
        };
        match lines.iter_mut().find(|(m, _)| *m == method) {
            Some((_, same)) => same.push(op),
            None => lines.push((method, vec![op])),
        }
    }
    if lines.is_empty() {
        lines.push((explicit.filter(|_| is_http), vec!["no op"]));
    }
    for (method, ops) in lines {
        let ops = ops.join(", ");
        match method {
            Some(method) => {
                let _ = writeln!(out, "{indent}{method} {target} ({ops}{notes})");
            }
            None => {
                let _ = writeln!(out, "{indent}{target} ({ops}{notes})");
            }
        }
    }
}

/// The form's target resolved against `base`. A URI template (`actions/x{?lang}`) keeps its
/// template part as written; an href that cannot be resolved is shown as it is.
fn resolved_href(thing: &Thing, form: &Form) -> String {
    let (plain, template) = match form.href.find('{') {
        Some(at) => form.href.split_at(at),
        None => (form.href.as_str(), ""),
    };
    match lmos::td::defaults::resolve_href(thing.base.as_deref(), plain) {
        Ok(url) => format!("{url}{template}"),
        Err(_) => form.href.clone(),
    }
}

/// The method the TD 1.1 HTTP binding assumes for an operation when a form names none.
fn default_http_method(op: &str) -> Option<&'static str> {
    match op {
        "readproperty"
        | "readallproperties"
        | "readmultipleproperties"
        | "observeproperty"
        | "observeallproperties"
        | "subscribeevent"
        | "subscribeallevents"
        | "queryaction"
        | "queryallactions" => Some("GET"),
        "writeproperty" | "writeallproperties" | "writemultipleproperties" => Some("PUT"),
        "invokeaction" => Some("POST"),
        "cancelaction" => Some("DELETE"),
        _ => None,
    }
}

/// How deep object and array schemas are spelled out before they become `{...}` / `[...]`.
const MAX_DEPTH: usize = 3;

/// An action input as a parameter list: an object's members become named parameters.
fn parameters(input: &DataSchema) -> String {
    match (&input.data_type, &input.properties) {
        (Some(t), Some(members)) if t == "object" && !members.is_empty() => {
            members_text(input, members, 1)
        }
        _ => short_schema(input, 0),
    }
}

fn members_text(
    schema: &DataSchema,
    members: &indexmap::IndexMap<String, DataSchema>,
    depth: usize,
) -> String {
    let required = schema.required.as_deref().unwrap_or_default();
    members
        .iter()
        .map(|(name, member)| {
            let optional = if required.iter().any(|r| r == name) {
                ""
            } else {
                "?"
            };
            format!("{name}{optional}: {}", short_schema(member, depth))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A data schema in one short line: `string`, `"text"|"voice"`, `{a: integer, b?: string}`,
/// `string[]`, `integer 1..5`.
pub fn short_schema(schema: &DataSchema, depth: usize) -> String {
    if let Some(constant) = &schema.constant {
        return compact(constant);
    }
    if let Some(values) = &schema.enumeration {
        return values.iter().map(compact).collect::<Vec<_>>().join("|");
    }
    if let Some(alternatives) = &schema.one_of {
        return alternatives
            .iter()
            .map(|s| short_schema(s, depth + 1))
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let data_type = schema.data_type.as_deref();
    let base = match data_type {
        Some("object") => match &schema.properties {
            Some(members) if !members.is_empty() => {
                if depth >= MAX_DEPTH {
                    "{...}".to_owned()
                } else {
                    format!("{{{}}}", members_text(schema, members, depth + 1))
                }
            }
            _ => "object".to_owned(),
        },
        Some("array") => match schema.items.as_deref() {
            Some(OneOrMany::One(items)) => {
                if depth >= MAX_DEPTH {
                    "[...]".to_owned()
                } else {
                    let inner = short_schema(items, depth + 1);
                    if inner.contains('|') {
                        format!("({inner})[]")
                    } else {
                        format!("{inner}[]")
                    }
                }
            }
            Some(OneOrMany::Many(items)) => {
                if depth >= MAX_DEPTH {
                    "[...]".to_owned()
                } else {
                    format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|s| short_schema(s, depth + 1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
            None => "array".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => "any".to_owned(),
    };
    let mut text = base;
    if let Some(format) = &schema.format {
        let _ = write!(text, "<{format}>");
    }
    let low = schema
        .minimum
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| schema.exclusive_minimum.as_ref().map(|n| format!("({n}")));
    let high = schema
        .maximum
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| schema.exclusive_maximum.as_ref().map(|n| format!("{n})")));
    if low.is_some() || high.is_some() {
        let _ = write!(
            text,
            " {}..{}",
            low.unwrap_or_default(),
            high.unwrap_or_default()
        );
    }
    if let Some(unit) = &schema.unit {
        let _ = write!(text, " [{unit}]");
    }
    text
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
