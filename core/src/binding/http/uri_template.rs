//! URI templates in form hrefs (RFC 6570, the subset TDs use): simple string expansion
//! `{name}` (level 1), form-style query expansion `{?a,b}` and its continuation `{&a,b}`
//! (level 3), and the reverse on the server: reading the query string of a request into the
//! affordance's `uriVariables`.
//!
//! Values are JSON values: strings as they are, numbers and booleans in their JSON spelling,
//! arrays as comma-separated lists and objects as `key,value` pairs (RFC 6570 without explode).
//! A `null` variable is undefined: form-style expansion leaves it out. A simple expansion whose
//! variable is undefined is an error here (RFC 6570 would expand it to nothing and send the
//! request to another resource).

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::td::DataSchema;

/// Whether an href contains a template expression.
pub fn is_template(href: &str) -> bool {
    href.contains('{')
}

/// The part of an href before its first template expression (the URI reference to resolve).
pub fn literal_prefix(href: &str) -> &str {
    href.split_once('{').map_or(href, |(prefix, _)| prefix)
}

/// The query template `{?a,b}` a server appends to the hrefs of an affordance with these
/// variables (empty for none).
pub fn query_template<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("{{?{}}}", names.join(","))
    }
}

/// The names of every variable the template mentions, in order.
pub fn variable_names(href: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = href;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let expression = &rest[start + 1..start + end];
        let list = expression.trim_start_matches(['?', '&', '+', '#', '.', '/', ';']);
        names.extend(list.split(',').map(|n| n.trim_end_matches('*')));
        rest = &rest[start + end + 1..];
    }
    names
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn push_encoded(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if is_unreserved(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The text of one value in an expansion (`None` for an undefined one).
fn value_text(value: &Value) -> Option<String> {
    fn scalar(value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Object(members) if members.is_empty() => None,
        Value::Array(items) => Some(
            items
                .iter()
                .map(|item| encoded(&scalar(item)))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(members) => Some(
            members
                .iter()
                .map(|(key, item)| format!("{},{}", encoded(key), encoded(&scalar(item))))
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(encoded(&scalar(other))),
    }
}

fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_encoded(&mut out, text);
    out
}

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// An expression is not closed or uses an operator this client does not support.
    #[error("unsupported URI template {0:?}")]
    Unsupported(String),
    /// A `{name}` path variable has no value.
    #[error("the URI variable {0:?} is needed to build the URL")]
    Missing(String),
}

/// Expands every expression of `href` with `variables`.
pub fn expand(href: &str, variables: &Map<String, Value>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(href.len());
    let mut rest = href;
    // Whether the expansion so far has a query (a `{?..}` then continues with `&`).
    let mut in_query = literal_prefix(href).contains('?');
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| TemplateError::Unsupported(href.to_owned()))?;
        let expression = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        let (operator, list) = match expression.as_bytes().first() {
            Some(b'?') => (Some('?'), &expression[1..]),
            Some(b'&') => (Some('&'), &expression[1..]),
            Some(byte) if byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'%' => {
                (None, expression)
            }
            _ => return Err(TemplateError::Unsupported(href.to_owned())),
        };
        let names = list.split(',');
        match operator {
            None => {
                let mut first = true;
                for name in names {
                    let text = variables
                        .get(name)
                        .and_then(value_text)
                        .ok_or_else(|| TemplateError::Missing(name.to_owned()))?;
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&text);
                }
            }
            Some(_) => {
                for name in names {
                    let Some(text) = variables.get(name).and_then(value_text) else {
                        continue;
                    };
                    out.push(if in_query { '&' } else { '?' });
                    in_query = true;
                    push_encoded(&mut out, name);
                    out.push('=');
                    out.push_str(&text);
                }
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads a query string into the declared variables: each value is read by its schema's `type`
/// (`integer`/`number` as numbers, `boolean` as `true`/`false`, `array` as a comma-separated
/// list, `object` as JSON, else a string); a text that does not read as its type stays a string,
/// so that schema validation reports it. Parameters that are not declared are ignored.
pub fn parse_query(
    query: Option<&str>,
    declared: &IndexMap<String, DataSchema>,
) -> Map<String, Value> {
    let mut values = Map::new();
    let Some(query) = query else {
        return values;
    };
    for (name, text) in url::form_urlencoded::parse(query.as_bytes()) {
        if let Some(schema) = declared.get(name.as_ref()) {
            values.insert(name.into_owned(), typed(&text, schema));
        }
    }
    values
}

fn typed(text: &str, schema: &DataSchema) -> Value {
    let scalar = |text: &str, data_type: Option<&str>| -> Value {
        let parsed = match data_type {
            Some("integer") | Some("number") => serde_json::from_str::<serde_json::Number>(text)
                .ok()
                .map(Value::Number),
            Some("boolean") => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Some("null") if text.is_empty() || text == "null" => Some(Value::Null),
            Some("object") => serde_json::from_str::<Value>(text)
                .ok()
                .filter(Value::is_object),
            _ => None,
        };
        parsed.unwrap_or_else(|| Value::String(text.to_owned()))
    };
    match schema.data_type.as_deref() {
        Some("array") => {
            let item_type = match schema.items.as_deref() {
                Some(crate::td::OneOrMany::One(items)) => items.data_type.as_deref(),
                _ => None,
            };
            if text.is_empty() {
                return Value::Array(Vec::new());
            }
            Value::Array(text.split(',').map(|t| scalar(t, item_type)).collect())
        }
        other => scalar(text, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn expands_query_and_path_expressions() {
        let v = vars(json!({"city": "Köln am Rhein", "days": 3, "x": null, "id": "a/b"}));
        assert_eq!(
            expand("http://h/w{?city,days,x}", &v).unwrap(),
            "http://h/w?city=K%C3%B6ln%20am%20Rhein&days=3"
        );
        assert_eq!(
            expand("http://h/w?fixed=1{&days}", &v).unwrap(),
            "http://h/w?fixed=1&days=3"
        );
        assert_eq!(
            expand("http://h/items/{id}/x", &v).unwrap(),
            "http://h/items/a%2Fb/x"
        );
        assert_eq!(expand("http://h/w{?x}", &v).unwrap(), "http://h/w");
        assert_eq!(
            expand("http://h/w{?l}", &vars(json!({"l": [1, "a b"]}))).unwrap(),
            "http://h/w?l=1,a%20b"
        );
        assert_eq!(
            expand("http://h/{missing}", &v),
            Err(TemplateError::Missing("missing".into()))
        );
        assert!(matches!(
            expand("http://h/{#frag}", &v),
            Err(TemplateError::Unsupported(_))
        ));
        assert!(matches!(
            expand("http://h/{open", &v),
            Err(TemplateError::Unsupported(_))
        ));
    }

    #[test]
    fn reads_queries_by_schema_type() {
        let mut declared = IndexMap::new();
        declared.insert("days".to_owned(), DataSchema::of_type("integer"));
        declared.insert("metric".to_owned(), DataSchema::of_type("boolean"));
        declared.insert("city".to_owned(), DataSchema::of_type("string"));
        let values = parse_query(
            Some("days=3&metric=true&city=K%C3%B6ln+x&other=1&city2=x"),
            &declared,
        );
        assert_eq!(
            Value::Object(values),
            json!({"days": 3, "metric": true, "city": "Köln x"})
        );
        let values = parse_query(Some("days=three"), &declared);
        assert_eq!(Value::Object(values), json!({"days": "three"}));
        assert!(parse_query(None, &declared).is_empty());
    }

    #[test]
    fn names_and_prefixes() {
        assert_eq!(variable_names("a/{id}/b{?x,y}"), ["id", "x", "y"]);
        assert_eq!(literal_prefix("a/b{?x}"), "a/b");
        assert_eq!(query_template(&["a".to_owned(), "b".to_owned()]), "{?a,b}");
    }
}
