//! The WebSocket binding: the `lmosprotocol` subprotocol of the LMOS protocol.
//!
//! - [`messages`]: every message type, read from both dialects (the spec's text and kotlin-wot's
//!   wire format) and written in the one the peer used.
//! - [`server`]: the upgrade handler a [`Servient`](crate::thing::Servient) mounts at
//!   [`WS_PATH`] on its HTTP port (and on its own port when one is configured); one socket
//!   serves every hosted thing, routed by `thingID`.
//! - [`client`]: one shared connection per endpoint for every
//!   [`ConsumedThing`](crate::thing::ConsumedThing), replies matched by correlation, streams for
//!   observations, subscriptions and action progress, reconnection with backoff.
//!
//! Decisions where the protocol text is silent are in `docs/protocol-notes.md`.

pub mod client;
pub mod messages;
pub mod server;

use std::time::Duration;

use serde_json::Value;

pub use client::{WsClient, WsClientOptions};
pub use messages::{Body, Dialect, Message, Problem, StatusValue, Style, SUBPROTOCOL};

use crate::codec::JSON;
use crate::td::{Form, OneOrMany, Thing};

/// The path the WebSocket endpoint is served at (on the HTTP port and on the WebSocket port).
pub const WS_PATH: &str = "/ws";

/// What can go wrong in the WebSocket client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WsError {
    /// The connection could not be opened, or broke.
    #[error("WebSocket transport error: {0}")]
    Transport(String),
    /// A URL from a form is unusable.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(String),
    /// No reply arrived in time.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The thing answered with an `error` message.
    #[error("the thing answered {}: {}", .0.status, .0.title)]
    Remote(Box<Problem>),
    /// The thing answered with something that is not a reply to the request.
    #[error("unexpected reply: {0}")]
    UnexpectedReply(String),
    /// The client was closed.
    #[error("the connection is closed")]
    Closed,
}

impl WsError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            WsError::Transport(_) => "ws_transport",
            WsError::InvalidUrl(_) => "ws_invalid_url",
            WsError::Timeout(_) => "ws_timeout",
            WsError::Remote(_) => "ws_remote",
            WsError::UnexpectedReply(_) => "ws_unexpected_reply",
            WsError::Closed => "ws_closed",
        }
    }
}

impl From<WsError> for crate::thing::ThingError {
    fn from(error: WsError) -> Self {
        use crate::thing::ThingError;
        match error {
            WsError::Remote(problem) => {
                let status = problem.status_code().unwrap_or(500);
                let title = problem.title.clone();
                let detail = (!problem.detail.is_empty()).then(|| problem.detail.clone());
                let document = serde_json::to_value(&*problem).ok().map(Box::new);
                ThingError::Remote {
                    status,
                    title,
                    detail,
                    problem: document,
                }
            }
            WsError::InvalidUrl(message) => ThingError::InvalidTd(message),
            WsError::Closed => ThingError::Closed,
            WsError::Timeout(_) => ThingError::Timeout(error.to_string()),
            other => ThingError::Transport(other.to_string()),
        }
    }
}

/// Server limits and timings of the WebSocket endpoint.
#[derive(Debug, Clone)]
pub(crate) struct WsSettings {
    /// Largest accepted message (and frame); larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    /// Messages waiting to be written per connection.
    pub queue_capacity: usize,
    /// Requests handled at once per connection.
    pub max_in_flight: usize,
    /// Observations and subscriptions per connection.
    pub max_subscriptions: usize,
    /// How often the server pings an idle peer.
    pub ping_interval: Duration,
    /// How long after a ping without any frame from the peer the connection counts as dead.
    pub pong_timeout: Duration,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings {
            max_message_bytes: 1024 * 1024,
            queue_capacity: 256,
            max_in_flight: 64,
            max_subscriptions: 1024,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
        }
    }
}

fn ws_form(ops: &[&str]) -> Form {
    let mut form = Form::new(&WS_PATH[1..]);
    form.op = Some(OneOrMany::Many(
        ops.iter().map(|op| (*op).to_owned()).collect(),
    ));
    form.content_type = Some(JSON.to_owned());
    form.subprotocol = Some(SUBPROTOCOL.to_owned());
    form
}

/// Whether `form` is a WebSocket form of this protocol.
pub fn is_ws_form(form: &Form) -> bool {
    form.subprotocol.as_deref() == Some(SUBPROTOCOL)
}

/// Adds one WebSocket form to every affordance (and the thing-level forms) of `thing`, with the
/// operations it supports. Hrefs are relative (`ws`); [`ws_url`] makes them absolute.
pub fn add_forms(thing: &mut Thing) {
    for property in thing.properties.values_mut() {
        let mut ops = Vec::new();
        if !property.is_write_only() {
            ops.push("readproperty");
        }
        if !property.is_read_only() {
            ops.push("writeproperty");
        }
        if property.is_observable() {
            ops.extend(["observeproperty", "unobserveproperty"]);
        }
        property.forms.push(ws_form(&ops));
    }
    for action in thing.actions.values_mut() {
        action
            .forms
            .push(ws_form(&["invokeaction", "queryaction", "cancelaction"]));
    }
    for event in thing.events.values_mut() {
        event
            .forms
            .push(ws_form(&["subscribeevent", "unsubscribeevent"]));
    }
    let mut ops = Vec::new();
    if !thing.properties.is_empty() {
        ops.extend([
            "readallproperties",
            "readmultipleproperties",
            "writemultipleproperties",
        ]);
    }
    if !thing.events.is_empty() {
        ops.extend(["subscribeallevents", "unsubscribeallevents"]);
    }
    if !ops.is_empty() {
        thing.forms.get_or_insert_with(Vec::new).push(ws_form(&ops));
    }
}

/// The absolute URL of the WebSocket endpoint for a server whose HTTP root is `http_base`:
/// `ws_base` when the servient listens on a separate WebSocket port, else the HTTP root with
/// `ws`/`wss` for `http`/`https`.
pub(crate) fn ws_url(http_base: &url::Url, ws_base: Option<&url::Url>) -> Option<url::Url> {
    let mut base = match ws_base {
        Some(base) => base.clone(),
        None => {
            let mut base = http_base.clone();
            let scheme = if base.scheme() == "https" {
                "wss"
            } else {
                "ws"
            };
            base.set_scheme(scheme).ok()?;
            base
        }
    };
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(&WS_PATH[1..]).ok()
}

/// The `thingID` a consumer sends for `thing`: its `id`, else the URL its description came
/// from, else its title.
pub fn thing_id_for(thing: &Thing, document_url: Option<&str>) -> String {
    thing
        .id
        .clone()
        .or_else(|| document_url.map(str::to_owned))
        .unwrap_or_else(|| thing.title.clone())
}

/// The problem document of an `error` message as a JSON value.
pub fn problem_value(problem: &Problem) -> Value {
    serde_json::to_value(problem).unwrap_or(Value::Null)
}
