//! What stores index from a TD (types, vendor, searchable text), JSON merge patch (RFC 7396) and
//! the words of a free-text query.

use serde_json::{Map, Value};

use crate::td::vocab;

/// The parts of a TD a store indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexFields {
    /// `@type` values.
    pub types: Vec<String>,
    /// The vendor name in lower case.
    pub vendor: Option<String>,
    /// `title` and every `titles` value.
    pub title: String,
    /// `description` and every `descriptions` value.
    pub description: String,
    /// Names, titles and descriptions of properties, actions and events.
    pub affordances: String,
}

fn push_text(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(text);
}

fn push_member(out: &mut String, object: &Map<String, Value>, one: &str, many: &str) {
    if let Some(Value::String(text)) = object.get(one) {
        push_text(out, text);
    }
    if let Some(Value::Object(map)) = object.get(many) {
        for text in map.values().filter_map(Value::as_str) {
            push_text(out, text);
        }
    }
}

impl IndexFields {
    /// The index fields of `td`.
    pub fn of(td: &Value) -> Self {
        let mut fields = IndexFields::default();
        let Some(object) = td.as_object() else {
            return fields;
        };
        match object.get("@type") {
            Some(Value::String(ty)) => fields.types.push(ty.clone()),
            Some(Value::Array(types)) => fields
                .types
                .extend(types.iter().filter_map(Value::as_str).map(str::to_owned)),
            _ => {}
        }
        fields.types.sort();
        fields.types.dedup();
        fields.vendor = object
            .get(vocab::LMOS_METADATA)
            .and_then(|m| m.get(vocab::LMOS_VENDOR))
            .and_then(|v| v.get(vocab::LMOS_VENDOR_NAME))
            .and_then(Value::as_str)
            .map(str::to_lowercase);
        push_member(&mut fields.title, object, "title", "titles");
        push_member(
            &mut fields.description,
            object,
            "description",
            "descriptions",
        );
        for kind in ["properties", "actions", "events"] {
            if let Some(Value::Object(affordances)) = object.get(kind) {
                for (name, affordance) in affordances {
                    push_text(&mut fields.affordances, &split_identifier(name));
                    if let Some(affordance) = affordance.as_object() {
                        push_member(&mut fields.affordances, affordance, "title", "titles");
                        push_member(
                            &mut fields.affordances,
                            affordance,
                            "description",
                            "descriptions",
                        );
                    }
                }
            }
        }
        fields
    }
}

/// `getWeatherForecast` / `get_weather` → `get Weather Forecast` / `get weather`, so that the
/// words of an affordance name are found by a text search.
fn split_identifier(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c == '_' || c == '-' {
            out.push(' ');
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            out.push(' ');
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// Words that carry no meaning in a search phrase ("find an agent that can tell the weather").
/// `agent` and `tool` are among them: nearly every LMOS description says one or the other, so
/// they would rank nothing; ask for the type with the `type` criterion instead.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "agent",
    "agents",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "can",
    "could",
    "do",
    "does",
    "find",
    "for",
    "from",
    "give",
    "how",
    "i",
    "in",
    "is",
    "it",
    "me",
    "my",
    "need",
    "of",
    "on",
    "or",
    "please",
    "show",
    "some",
    "something",
    "tell",
    "that",
    "the",
    "this",
    "to",
    "tool",
    "tools",
    "want",
    "what",
    "which",
    "who",
    "will",
    "with",
    "would",
    "you",
];

/// The search words of a free-text query: lower-cased runs of letters and digits, stop words
/// removed (unless nothing else is left).
pub fn query_words(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let meaningful: Vec<String> = words
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    let mut chosen = if meaningful.is_empty() {
        words
    } else {
        meaningful
    };
    chosen.dedup();
    chosen
}

/// Applies a JSON merge patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.shift_remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The JSON merge patch that turns `old` into `new` (members set to `null` are removed).
pub fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut diff = Map::new();
            for (key, old_value) in old {
                match new.get(key) {
                    None => {
                        diff.insert(key.clone(), Value::Null);
                    }
                    Some(new_value) if new_value != old_value => {
                        let inner = if old_value.is_object() && new_value.is_object() {
                            merge_diff(old_value, new_value)
                        } else {
                            new_value.clone()
                        };
                        diff.insert(key.clone(), inner);
                    }
                    Some(_) => {}
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    diff.insert(key.clone(), new_value.clone());
                }
            }
            Value::Object(diff)
        }
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_then_patch_gives_the_new_document() {
        let old = json!({"title": "A", "properties": {"x": {"type": "string"}, "y": {}}, "n": [1]});
        let new =
            json!({"title": "B", "properties": {"x": {"type": "number"}}, "n": [1, 2], "z": true});
        let diff = merge_diff(&old, &new);
        assert_eq!(diff["properties"]["y"], Value::Null);
        let mut patched = old.clone();
        merge_patch(&mut patched, &diff);
        assert_eq!(patched, new);
    }

    #[test]
    fn indexes_types_vendor_and_affordance_words() {
        let fields = IndexFields::of(&json!({
            "@type": ["lmos:Agent", "Thing"],
            "title": "Weather",
            "lmos:metadata": {"lmos:vendor": {"lmos:name": "ACME"}},
            "actions": {"getForecast": {"description": "Forecast for a city"}}
        }));
        assert_eq!(fields.types, vec!["Thing", "lmos:Agent"]);
        assert_eq!(fields.vendor.as_deref(), Some("acme"));
        assert_eq!(fields.affordances, "get Forecast Forecast for a city");
        assert_eq!(
            query_words("find an agent that can tell the weather"),
            vec!["weather"]
        );
    }
}
