//! Where the guards meet the bindings: the check in front of every HTTP route, and the checks
//! of the WebSocket handshake and messages.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::guard::{DidAuthSession, Presented, Refusal, Target, Transport};
use super::Principal;
use crate::binding::http::{PROBLEM_JSON, PROBLEM_TYPE_BASE};
use crate::thing::servient::Registry;

/// The HTTP response for a refusal: 401/403 with `WWW-Authenticate`, a problem document.
pub(crate) fn refusal_response(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = json!({
        "type": format!("{PROBLEM_TYPE_BASE}{}", refusal.code()),
        "title": refusal.title(),
        "status": refusal.status,
        "detail": refusal.reason,
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        body.to_string(),
    )
        .into_response();
    for challenge in &refusal.challenges {
        if let Ok(value) = HeaderValue::from_str(challenge) {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Which operation a request to the HTTP layout is (`None`: not an interaction, such as the TD).
fn operation(method: &str, path: &str) -> Option<(String, Target, String, &'static str)> {
    let mut segments = path.trim_start_matches('/').split('/');
    let slug = decode(segments.next()?);
    let rest: Vec<&str> = segments.collect();
    let (target, name, op) = match (method, rest.as_slice()) {
        ("GET", ["properties"]) => (Target::Thing, String::new(), "readallproperties"),
        ("PUT", ["properties"]) => (Target::Thing, String::new(), "writemultipleproperties"),
        ("GET", ["properties", name]) => (Target::Property, decode(name), "readproperty"),
        ("PUT", ["properties", name]) => (Target::Property, decode(name), "writeproperty"),
        ("GET" | "HEAD", ["properties", name, _]) => {
            (Target::Property, decode(name), "observeproperty")
        }
        ("POST", ["actions", name]) => (Target::Action, decode(name), "invokeaction"),
        ("GET", ["actions", name, _]) => (Target::Action, decode(name), "queryaction"),
        ("DELETE", ["actions", name, _]) => (Target::Action, decode(name), "cancelaction"),
        ("GET" | "HEAD", ["events", name, _]) => (Target::Event, decode(name), "subscribeevent"),
        // Other methods and shapes: the router answers 404/405; guard them by the thing's
        // security anyway, so nothing about a protected thing leaks.
        (_, []) => return None,
        _ => (Target::Thing, String::new(), "unknown"),
    };
    Some((slug, target, name, op))
}

/// Checks a request to the HTTP layout: who it is (`None`: the thing is open, or the request
/// is no interaction), or the refusal as its response. Called first by the servient's
/// dispatcher, on its own port and where its router is mounted.
pub(crate) async fn admit_request(
    registry: &Registry,
    method: &str,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Result<Option<Principal>, Response> {
    let Some((slug, target, name, op)) = operation(method, uri.path()) else {
        return Ok(None);
    };
    let Some(guard) = registry.guard(&slug) else {
        return Ok(None);
    };
    // Each HTTP request spends its own DID-auth token.
    let session = DidAuthSession::default();
    let presented = Presented {
        headers,
        query: uri.query(),
        session: &session,
    };
    guard
        .check(Transport::Http, target, &name, op, &presented)
        .await
        .map(Some)
        .map_err(|refusal| refusal_response(&refusal))
}

/// The credentials a WebSocket connection presented in its handshake.
#[derive(Default)]
pub(crate) struct Handshake {
    headers: axum::http::HeaderMap,
    query: Option<String>,
    /// The DID-auth tokens verified for this connection.
    session: DidAuthSession,
}

impl Handshake {
    /// Keeps what the upgrade request carried.
    pub(crate) fn new(headers: &axum::http::HeaderMap, query: Option<&str>) -> Self {
        Handshake {
            headers: headers.clone(),
            query: query.map(str::to_owned),
            session: DidAuthSession::default(),
        }
    }

    fn presented(&self) -> Presented<'_> {
        Presented {
            headers: &self.headers,
            query: self.query.as_deref(),
            session: &self.session,
        }
    }
}

/// Whether the upgrade may proceed: always when some exposed thing is open; otherwise when the
/// handshake's credentials pass some thing's requirements (a socket no thing would answer is
/// refused with the first thing's challenge).
pub(crate) async fn admit_handshake(
    registry: &Registry,
    handshake: &Handshake,
) -> Result<(), Response> {
    if !registry.any_guarded() {
        return Ok(());
    }
    let things = registry.things();
    let mut first = None;
    for thing in &things {
        let Some(guard) = registry.guard(thing.slug()) else {
            return Ok(());
        };
        match guard.admits_any(&handshake.presented()).await {
            Ok(()) => return Ok(()),
            Err(refusal) => {
                first.get_or_insert(refusal);
            }
        }
    }
    match first {
        Some(refusal) => Err(refusal_response(&refusal)),
        None => Ok(()),
    }
}

/// Checks one WebSocket request for the thing at `slug` with the handshake's credentials:
/// who sent it (`None`: the thing is open), or the refusal.
pub(crate) async fn check_message(
    registry: &Registry,
    handshake: &Handshake,
    slug: &str,
    body: &crate::binding::ws::Body,
) -> Result<Option<Principal>, Refusal> {
    use crate::binding::ws::Body;
    if !registry.any_guarded() {
        return Ok(None);
    }
    let Some(guard) = registry.guard(slug) else {
        return Ok(None);
    };
    let (target, name, op) = match body {
        Body::ReadProperty { name } => (Target::Property, name.as_str(), "readproperty"),
        Body::WriteProperty { name, .. } => (Target::Property, name.as_str(), "writeproperty"),
        Body::ObserveProperty { name } => (Target::Property, name.as_str(), "observeproperty"),
        Body::UnobserveProperty { name } => (Target::Property, name.as_str(), "unobserveproperty"),
        Body::InvokeAction { action, .. } => (Target::Action, action.as_str(), "invokeaction"),
        Body::QueryAction { action, .. } => (Target::Action, action.as_str(), "queryaction"),
        Body::CancelAction { action, .. } => (Target::Action, action.as_str(), "cancelaction"),
        Body::SubscribeEvent { event } => (Target::Event, event.as_str(), "subscribeevent"),
        Body::UnsubscribeEvent { event } => (Target::Event, event.as_str(), "unsubscribeevent"),
        Body::ReadAllProperties => (Target::Thing, "", "readallproperties"),
        Body::ReadMultipleProperties { .. } => (Target::Thing, "", "readmultipleproperties"),
        Body::WriteMultipleProperties { .. } => (Target::Thing, "", "writemultipleproperties"),
        Body::SubscribeAllEvents => (Target::Thing, "", "subscribeallevents"),
        Body::UnsubscribeAllEvents => (Target::Thing, "", "unsubscribeallevents"),
        _ => (Target::Thing, "", "unknown"),
    };
    guard
        .check(Transport::Ws, target, name, op, &handshake.presented())
        .await
        .map(Some)
}
