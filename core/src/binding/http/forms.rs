//! The forms a servient writes into the TD of an exposed thing: one per operation, method and
//! content type, with hrefs relative to the server root (made absolute when the TD is served).

use indexmap::IndexMap;
use serde_json::Value;

use super::uri_template::query_template;
use crate::codec::{CBOR, JSON};
use crate::td::vocab::HTV_METHOD_NAME;
use crate::td::{DataSchema, Form, OneOrMany, Thing};

/// Subprotocol name of Server-Sent Events forms.
pub const SSE: &str = "sse";
/// Subprotocol name of long-poll forms.
pub const LONG_POLL: &str = "longpoll";
/// The `Prefer` token of a long-poll request that wants the response headers as soon as the
/// server listens for the next value (the server answers `Preference-Applied` with it, also to a
/// `HEAD` that asks whether it would). See `docs/http-binding.md`.
pub const SUBSCRIBED_PREFERENCE: &str = "lmos-subscribed";

/// Percent-encodes a name for use as one URL path segment (RFC 3986 unreserved characters stay).
pub fn encode_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn form(href: &str, ops: &[&str], method: Option<&str>, content_type: &str) -> Form {
    let mut form = Form::new(href);
    form.op = Some(if ops.len() == 1 {
        OneOrMany::One(ops[0].to_owned())
    } else {
        OneOrMany::Many(ops.iter().map(|s| (*s).to_owned()).collect())
    });
    form.content_type = Some(content_type.to_owned());
    if let Some(method) = method {
        form.extra
            .insert(HTV_METHOD_NAME.to_owned(), Value::String(method.to_owned()));
    }
    form
}

/// Observe and subscribe forms carry no `htv:methodName`: GET is the default for these operations,
/// and node-wot sends a form's method instead of the `HEAD` of its long-poll handshake, turning
/// the handshake into a `GET` that waits for a value.
fn stream_forms(href: &str, template: &str, ops: &[&str]) -> Vec<Form> {
    let mut sse = form(&format!("{href}/{SSE}{template}"), ops, None, JSON);
    sse.subprotocol = Some(SSE.to_owned());
    let mut long_poll = form(&format!("{href}/{LONG_POLL}{template}"), ops, None, JSON);
    long_poll.subprotocol = Some(LONG_POLL.to_owned());
    vec![sse, long_poll]
}

/// The `{?a,b}` template of an affordance's `uriVariables` (the thing's, then its own).
fn template(
    thing_level: Option<&IndexMap<String, DataSchema>>,
    own: Option<&IndexMap<String, DataSchema>>,
) -> String {
    let mut names: Vec<&String> = thing_level.into_iter().flat_map(IndexMap::keys).collect();
    for name in own.into_iter().flat_map(IndexMap::keys) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    query_template(names)
}

/// Replaces every form of `thing` with the HTTP forms of the URL layout under `/{slug}`, and
/// removes `base` (served TDs carry absolute hrefs). The hrefs of an affordance with
/// `uriVariables` end with a `{?a,b}` template for them.
pub fn fill_forms(thing: &mut Thing, slug: &str) {
    let root = encode_segment(slug);
    thing.base = None;
    let thing_level = thing.uri_variables.clone();
    for (name, property) in thing.properties.iter_mut() {
        let href = format!("{root}/properties/{}", encode_segment(name));
        let template = template(thing_level.as_ref(), property.uri_variables.as_ref());
        let with_template = format!("{href}{template}");
        let mut forms = Vec::new();
        for content_type in [JSON, CBOR] {
            if !property.is_write_only() {
                forms.push(form(
                    &with_template,
                    &["readproperty"],
                    Some("GET"),
                    content_type,
                ));
            }
            if !property.is_read_only() {
                forms.push(form(
                    &with_template,
                    &["writeproperty"],
                    Some("PUT"),
                    content_type,
                ));
            }
        }
        if property.is_observable() {
            forms.extend(stream_forms(
                &href,
                &template,
                &["observeproperty", "unobserveproperty"],
            ));
        }
        property.forms = forms;
    }
    for (name, action) in thing.actions.iter_mut() {
        let template = template(thing_level.as_ref(), action.uri_variables.as_ref());
        let href = format!("{root}/actions/{}{template}", encode_segment(name));
        action.forms = [JSON, CBOR]
            .into_iter()
            .map(|ct| form(&href, &["invokeaction"], Some("POST"), ct))
            .collect();
    }
    for (name, event) in thing.events.iter_mut() {
        let href = format!("{root}/events/{}", encode_segment(name));
        let template = template(thing_level.as_ref(), event.uri_variables.as_ref());
        event.forms = stream_forms(&href, &template, &["subscribeevent", "unsubscribeevent"]);
    }
    let mut thing_forms = Vec::new();
    if !thing.properties.is_empty() {
        let href = format!("{root}/properties");
        for content_type in [JSON, CBOR] {
            thing_forms.push(form(
                &href,
                &["readallproperties"],
                Some("GET"),
                content_type,
            ));
            thing_forms.push(form(
                &href,
                &["writemultipleproperties"],
                Some("PUT"),
                content_type,
            ));
        }
    }
    thing.forms = if thing_forms.is_empty() {
        None
    } else {
        Some(thing_forms)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("getWeather"), "getWeather");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("ä"), "%C3%A4");
    }
}
