//! The forms a servient writes into the TD of an exposed thing: one per operation, method and
//! content type, with hrefs relative to the server root (made absolute when the TD is served).

use serde_json::Value;

use crate::codec::{CBOR, JSON};
use crate::td::vocab::HTV_METHOD_NAME;
use crate::td::{Form, OneOrMany, Thing};

/// Subprotocol name of Server-Sent Events forms.
pub const SSE: &str = "sse";
/// Subprotocol name of long-poll forms.
pub const LONG_POLL: &str = "longpoll";

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
fn stream_forms(href: &str, ops: &[&str]) -> Vec<Form> {
    let mut sse = form(&format!("{href}/{SSE}"), ops, None, JSON);
    sse.subprotocol = Some(SSE.to_owned());
    let mut long_poll = form(&format!("{href}/{LONG_POLL}"), ops, None, JSON);
    long_poll.subprotocol = Some(LONG_POLL.to_owned());
    vec![sse, long_poll]
}

/// Replaces every form of `thing` with the HTTP forms of the URL layout under `/{slug}`, and
/// removes `base` (served TDs carry absolute hrefs).
pub fn fill_forms(thing: &mut Thing, slug: &str) {
    let root = encode_segment(slug);
    thing.base = None;
    for (name, property) in thing.properties.iter_mut() {
        let href = format!("{root}/properties/{}", encode_segment(name));
        let mut forms = Vec::new();
        for content_type in [JSON, CBOR] {
            if !property.is_write_only() {
                forms.push(form(&href, &["readproperty"], Some("GET"), content_type));
            }
            if !property.is_read_only() {
                forms.push(form(&href, &["writeproperty"], Some("PUT"), content_type));
            }
        }
        if property.is_observable() {
            forms.extend(stream_forms(
                &href,
                &["observeproperty", "unobserveproperty"],
            ));
        }
        property.forms = forms;
    }
    for (name, action) in thing.actions.iter_mut() {
        let href = format!("{root}/actions/{}", encode_segment(name));
        action.forms = [JSON, CBOR]
            .into_iter()
            .map(|ct| form(&href, &["invokeaction"], Some("POST"), ct))
            .collect();
    }
    for (name, event) in thing.events.iter_mut() {
        let href = format!("{root}/events/{}", encode_segment(name));
        event.forms = stream_forms(&href, &["subscribeevent", "unsubscribeevent"]);
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
