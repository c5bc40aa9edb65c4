//! Turning validation reports into the lines and JSON that `lmos` prints.

use std::fmt::Write as _;

use lmos::td::parse::{parse_document, ParseOptions};
use lmos::td::validate::{validate_bytes_with, Problem, Rule, ValidationReport};
use lmos::td::Thing;
use serde_json::{json, Map, Value};

/// The size limit used when `--max-bytes` is not given: the library's default.
pub fn default_max_bytes() -> usize {
    ParseOptions::default().max_bytes
}

/// Validates a document with the given size limit (and the library's default depth limit).
pub fn validate(bytes: &[u8], max_bytes: usize) -> ValidationReport {
    validate_bytes_with(bytes, &options(max_bytes))
}

/// Parse options with the given size limit and the library's default depth limit.
pub fn options(max_bytes: usize) -> ParseOptions {
    ParseOptions {
        max_bytes,
        ..ParseOptions::default()
    }
}

/// Reads the typed model from a document's bytes for `describe`, without validating it, with a
/// sentence on failure.
///
/// Missing `security` and `securityDefinitions` are taken as empty, so that a Thing Model (which
/// need not have them) or a description that forgot them can still be looked at.
pub fn thing_for_description(bytes: &[u8], max_bytes: usize) -> Result<Thing, String> {
    let mut value = parse_document(bytes, &options(max_bytes))
        .map_err(|e| e.to_string())?
        .value;
    if let Value::Object(members) = &mut value {
        members
            .entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
        members
            .entry("securityDefinitions")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Thing::from_value(value).map_err(|e| e.to_string())
}

/// `"1 problem"`, `"3 problems"`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The `@type` values of a document that is at least JSON, as strings.
fn type_names(bytes: &[u8]) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    match value.get("@type") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Where a problem is: its JSON pointer (`/` for the whole document), with line and column when
/// the report has them and the message does not already say them.
fn location(problem: &Problem) -> String {
    let pointer = if problem.pointer.is_empty() {
        "/"
    } else {
        problem.pointer.as_str()
    };
    let positioned_message = matches!(problem.rule, Rule::Parse | Rule::TooDeep);
    match (problem.line, problem.column) {
        (Some(line), Some(column)) if !positioned_message => {
            format!("{pointer} (line {line}, column {column})")
        }
        _ => pointer.to_owned(),
    }
}

/// The summary line and one indented line per problem, as `lmos validate` prints them.
pub fn report_text(source: &str, report: &ValidationReport, bytes: &[u8]) -> String {
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    let mut out = String::new();
    if errors == 0 {
        let mut what: Vec<String> = Vec::new();
        if let Some(kind) = &report.kind {
            what.push(kind.to_string());
        }
        what.extend(type_names(bytes));
        let _ = write!(out, "{source}: valid");
        if !what.is_empty() {
            let _ = write!(out, " ({})", what.join(", "));
        }
    } else {
        let _ = write!(out, "{source}: invalid, {}", count(errors, "problem"));
    }
    if warnings > 0 {
        let _ = write!(out, ", {}", count(warnings, "warning"));
    }
    out.push('\n');
    for problem in report.errors() {
        let _ = writeln!(
            out,
            "  {}: {} [{}]",
            location(problem),
            problem.message,
            problem.rule.code()
        );
    }
    for problem in report.warnings() {
        let _ = writeln!(
            out,
            "  {}: warning: {} [{}]",
            location(problem),
            problem.message,
            problem.rule.code()
        );
    }
    out
}

/// One document's entry in the `--format json` output: the library's report
/// (`valid`, `kind`, `problems`) with `source` first and the document's `@type` values added.
pub fn report_json(source: &str, report: &ValidationReport, bytes: &[u8]) -> Value {
    let mut entry = Map::new();
    entry.insert("source".to_owned(), Value::String(source.to_owned()));
    if let Value::Object(fields) = report.to_json() {
        entry.extend(fields);
    }
    entry.insert("types".to_owned(), json!(type_names(bytes)));
    Value::Object(entry)
}

/// The `--format json` entry of a document that could not be read.
pub fn read_error_json(source: &str, reason: &str) -> Value {
    json!({
        "source": source,
        "valid": false,
        "kind": null,
        "problems": [],
        "types": [],
        "error": reason,
    })
}
