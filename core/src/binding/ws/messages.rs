//! The messages of the `lmosprotocol` subprotocol, read from and written in both dialects.
//!
//! [`Message::parse`] accepts the spec's text (`thingID`/`messageID`/`correlationID`, `name`,
//! `value`, RFC 3339 timestamps) and the wire format of kotlin-wot (`thingId`/`messageId`/
//! `correlationId`, `property`, `data`, `subscribeevent`, epoch-second timestamps,
//! `acknowledgement`) into one [`Message`], and reports which [`Style`] the peer used so that
//! [`Message::to_json`] can answer in it. The choices are explained in `docs/protocol-notes.md`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The WebSocket subprotocol name of the LMOS protocol.
pub const SUBPROTOCOL: &str = "lmosprotocol";

/// Prefix of the `type` URI of every `error` message this crate sends.
pub const ERROR_TYPE_BASE: &str = "https://eclipse.dev/lmos/protocol/v1/errors#";

/// The `type` of the problem a kotlin-wot-dialect `actionStatus` carries for a cancelled action
/// (its status enumeration has no `cancelled`).
pub static CANCELLED_TYPE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{ERROR_TYPE_BASE}action-cancelled"));

fn cancelled_problem() -> Value {
    serde_json::json!({"type": CANCELLED_TYPE.as_str(), "title": "the action was cancelled"})
}

/// Longest accepted id (`thingID`, `messageID`, `correlationID`), in bytes.
pub const MAX_ID_LEN: usize = 2048;

/// Which vocabulary a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// The text of the LMOS protocol pages (`name`, `value`, RFC 3339 timestamps).
    #[default]
    Spec,
    /// The wire format of kotlin-wot, which the LMOS Kotlin SDK uses (`property`, `data`,
    /// `subscribeevent`, `acknowledgement`, epoch-second timestamps).
    KotlinWot,
}

impl Dialect {
    /// The name used on the command line and in options: `spec` or `kotlin-wot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Spec => "spec",
            Dialect::KotlinWot => "kotlin-wot",
        }
    }

    /// Reads `spec` or `kotlin-wot` (also `kotlin`, `kotlinwot`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "spec" => Some(Dialect::Spec),
            "kotlin-wot" | "kotlinwot" | "kotlin" => Some(Dialect::KotlinWot),
            _ => None,
        }
    }
}

/// How the id members are spelt: `thingID` (the spec's tables) or `thingId` (kotlin-wot, and
/// most of the spec's own examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdSpelling {
    /// `thingID`, `messageID`, `correlationID`.
    Upper,
    /// `thingId`, `messageId`, `correlationId`.
    Lower,
}

/// The wire style of a message: vocabulary and id spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Style {
    /// Vocabulary.
    pub dialect: Dialect,
    /// Id spelling.
    pub ids: IdSpelling,
}

impl Style {
    /// The usual style of a dialect: the spec with `thingID`, kotlin-wot with `thingId`.
    pub fn of(dialect: Dialect) -> Self {
        Style {
            dialect,
            ids: match dialect {
                Dialect::Spec => IdSpelling::Upper,
                Dialect::KotlinWot => IdSpelling::Lower,
            },
        }
    }

    fn thing_key(self) -> &'static str {
        match self.ids {
            IdSpelling::Upper => "thingID",
            IdSpelling::Lower => "thingId",
        }
    }

    fn message_key(self) -> &'static str {
        match self.ids {
            IdSpelling::Upper => "messageID",
            IdSpelling::Lower => "messageId",
        }
    }

    fn correlation_key(self) -> &'static str {
        match self.ids {
            IdSpelling::Upper => "correlationID",
            IdSpelling::Lower => "correlationId",
        }
    }
}

/// A point in time, read from an RFC 3339 string or from epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z (never negative).
    pub millis: u64,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64)
            .unwrap_or(0);
        Timestamp { millis }
    }

    /// RFC 3339 text in UTC with millisecond precision.
    pub fn to_rfc3339(self) -> String {
        crate::thing::handler::rfc3339(UNIX_EPOCH + Duration::from_millis(self.millis))
    }

    /// Seconds since the epoch, as kotlin-wot (Jackson) writes an `Instant`.
    pub fn epoch_seconds(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    /// Reads an RFC 3339 `date-time` (`2024-01-13T23:20:50.52Z`, offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = text.get(range)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
            return None;
        }
        if second > 60 {
            return None;
        }
        let mut rest = &text[19..];
        let mut millis = 0i64;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let mut scaled = 0i64;
            for (i, c) in fraction.bytes().take(digits).enumerate() {
                if i < 3 {
                    scaled = scaled * 10 + i64::from(c - b'0');
                }
            }
            for _ in digits..3 {
                scaled *= 10;
            }
            millis = scaled;
            rest = &fraction[digits..];
        }
        let offset_minutes = match rest {
            "Z" | "z" => 0,
            _ => {
                let rb = rest.as_bytes();
                if rb.len() != 6 || rb[3] != b':' || !matches!(rb[0], b'+' | b'-') {
                    return None;
                }
                let h: i64 = rest.get(1..3)?.parse().ok()?;
                let m: i64 = rest.get(4..6)?.parse().ok()?;
                if h > 23 || m > 59 {
                    return None;
                }
                let sign = if rb[0] == b'-' { -1 } else { 1 };
                sign * (h * 60 + m)
            }
        };
        // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        let total = seconds.checked_mul(1000)?.checked_add(millis)?;
        Some(Timestamp {
            millis: u64::try_from(total).unwrap_or(0),
        })
    }

    /// Reads epoch seconds (integer or fraction).
    pub fn from_epoch_seconds(seconds: f64) -> Option<Self> {
        if !seconds.is_finite() || !(0.0..=1.0e13).contains(&seconds) {
            return None;
        }
        Some(Timestamp {
            millis: (seconds * 1000.0).round() as u64,
        })
    }
}

/// The state an `actionStatus` message reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusValue {
    /// Accepted or running; `output` may carry a progress value.
    Pending,
    /// Finished with an output.
    Completed,
    /// Finished with an error (`error` carries a problem document).
    Failed,
    /// Cancelled by a `cancelAction` (written as `failed` in the kotlin-wot dialect, whose
    /// status enumeration has no such value).
    Cancelled,
}

impl StatusValue {
    /// The wire name in the spec dialect.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusValue::Pending => "pending",
            StatusValue::Completed => "completed",
            StatusValue::Failed => "failed",
            StatusValue::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "pending" | "running" | "inprogress" | "in progress" | "in-progress" => {
                Some(StatusValue::Pending)
            }
            "completed" => Some(StatusValue::Completed),
            "failed" => Some(StatusValue::Failed),
            "cancelled" | "canceled" => Some(StatusValue::Cancelled),
            _ => None,
        }
    }

    /// Whether no further status follows.
    pub fn is_final(self) -> bool {
        !matches!(self, StatusValue::Pending)
    }
}

/// The problem-details members of an `error` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// URI reference to the type of error.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: String,
    /// Status code, as a string (`"404"`).
    pub status: String,
    /// Explanation of this occurrence.
    pub detail: String,
    /// URI reference to this occurrence.
    pub instance: String,
}

impl Problem {
    /// A problem with `type` under [`ERROR_TYPE_BASE`] and a fresh `urn:uuid:` instance.
    pub fn new(code: &str, status: u16, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("{ERROR_TYPE_BASE}{}", code.replace('_', "-")),
            title: title.to_owned(),
            status: status.to_string(),
            detail: detail.into(),
            instance: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        }
    }

    /// The status as a number, when it is one.
    pub fn status_code(&self) -> Option<u16> {
        self.status.trim().parse().ok()
    }
}

/// What a message says, without its envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `readProperty`.
    ReadProperty {
        /// Property name.
        name: String,
    },
    /// `writeProperty`.
    WriteProperty {
        /// Property name.
        name: String,
        /// New value (`data` in both dialects; `value` also accepted).
        value: Value,
    },
    /// `readAllProperties` (sent by the reference implementation).
    ReadAllProperties,
    /// `readMultipleProperties` (sent by the reference implementation).
    ReadMultipleProperties {
        /// Property names.
        names: Vec<String>,
    },
    /// `writeMultipleProperties` (also kotlin-wot's `writeAllProperties`).
    WriteMultipleProperties {
        /// Values by property name.
        values: Map<String, Value>,
    },
    /// `observeProperty`.
    ObserveProperty {
        /// Property name.
        name: String,
    },
    /// `unobserveProperty`.
    UnobserveProperty {
        /// Property name.
        name: String,
    },
    /// `propertyReading`.
    PropertyReading {
        /// Property name.
        name: String,
        /// The value.
        value: Value,
        /// When it was read.
        timestamp: Option<Timestamp>,
    },
    /// `propertyReadings`.
    PropertyReadings {
        /// Values by property name.
        values: Map<String, Value>,
        /// When they were read.
        timestamp: Option<Timestamp>,
    },
    /// `invokeAction`.
    InvokeAction {
        /// Action name.
        action: String,
        /// Input, if any.
        input: Option<Value>,
    },
    /// `queryAction`.
    QueryAction {
        /// Action name.
        action: String,
    },
    /// `cancelAction`.
    CancelAction {
        /// Action name.
        action: String,
        /// Why the consumer cancels.
        reason: Option<String>,
    },
    /// `actionStatus`.
    ActionStatus {
        /// Action name.
        action: String,
        /// State.
        status: StatusValue,
        /// Output (final) or progress value (pending).
        output: Option<Value>,
        /// Problem document of a failed action.
        error: Option<Value>,
    },
    /// `subscribeEvent` (kotlin-wot: `subscribeevent`).
    SubscribeEvent {
        /// Event name.
        event: String,
    },
    /// `unsubscribeEvent`.
    UnsubscribeEvent {
        /// Event name.
        event: String,
    },
    /// `subscribeAllEvents`.
    SubscribeAllEvents,
    /// `unsubscribeAllEvents`.
    UnsubscribeAllEvents,
    /// `event`.
    Event {
        /// Event name.
        event: String,
        /// Event data.
        data: Value,
        /// When it occurred.
        timestamp: Option<Timestamp>,
    },
    /// `acknowledgement` (kotlin-wot's reply to subscribe, unsubscribe and unobserve).
    Acknowledgement {
        /// What is acknowledged (kotlin-wot puts the request's message type here).
        message: Option<String>,
    },
    /// `error`.
    Error(Problem),
}

impl Body {
    /// The `messageType` in the spec dialect.
    pub fn message_type(&self) -> &'static str {
        match self {
            Body::ReadProperty { .. } => "readProperty",
            Body::WriteProperty { .. } => "writeProperty",
            Body::ReadAllProperties => "readAllProperties",
            Body::ReadMultipleProperties { .. } => "readMultipleProperties",
            Body::WriteMultipleProperties { .. } => "writeMultipleProperties",
            Body::ObserveProperty { .. } => "observeProperty",
            Body::UnobserveProperty { .. } => "unobserveProperty",
            Body::PropertyReading { .. } => "propertyReading",
            Body::PropertyReadings { .. } => "propertyReadings",
            Body::InvokeAction { .. } => "invokeAction",
            Body::QueryAction { .. } => "queryAction",
            Body::CancelAction { .. } => "cancelAction",
            Body::ActionStatus { .. } => "actionStatus",
            Body::SubscribeEvent { .. } => "subscribeEvent",
            Body::UnsubscribeEvent { .. } => "unsubscribeEvent",
            Body::SubscribeAllEvents => "subscribeAllEvents",
            Body::UnsubscribeAllEvents => "unsubscribeAllEvents",
            Body::Event { .. } => "event",
            Body::Acknowledgement { .. } => "acknowledgement",
            Body::Error(_) => "error",
        }
    }

    /// Whether a consumer sends this message (a request) rather than a thing.
    pub fn is_request(&self) -> bool {
        !matches!(
            self,
            Body::PropertyReading { .. }
                | Body::PropertyReadings { .. }
                | Body::ActionStatus { .. }
                | Body::Event { .. }
                | Body::Acknowledgement { .. }
                | Body::Error(_)
        )
    }
}

/// One message: the common members and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `thingID`: the thing the message is about (absent only on errors about unreadable
    /// input).
    pub thing_id: Option<String>,
    /// `messageID`.
    pub message_id: String,
    /// `correlationID`.
    pub correlation_id: Option<String>,
    /// W3C `traceparent`.
    pub traceparent: Option<String>,
    /// W3C `tracestate`.
    pub tracestate: Option<String>,
    /// What the message says.
    pub body: Body,
}

/// Why a frame is not a usable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The frame is not JSON.
    #[error("the message is not valid JSON: {0}")]
    InvalidJson(String),
    /// The JSON is not an object.
    #[error("a message must be a JSON object")]
    NotAnObject,
    /// A mandatory member is absent.
    #[error("the member {0:?} is missing")]
    MissingMember(String),
    /// A member has the wrong JSON type.
    #[error("the member {member:?} must be {expected}")]
    WrongType {
        /// The member.
        member: String,
        /// What it must be.
        expected: String,
    },
    /// A member's value is not one of those allowed.
    #[error("the member {member:?} has an unusable value: {detail}")]
    InvalidValue {
        /// The member.
        member: String,
        /// Why.
        detail: String,
    },
    /// The `messageType` is not one of the protocol's.
    #[error("unknown messageType {0:?}")]
    UnknownMessageType(String),
}

impl MessageError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            MessageError::InvalidJson(_) => "invalid_json",
            MessageError::NotAnObject => "invalid_message",
            MessageError::MissingMember(_) => "missing_member",
            MessageError::WrongType { .. } => "invalid_member",
            MessageError::InvalidValue { .. } => "invalid_member",
            MessageError::UnknownMessageType(_) => "unknown_message_type",
        }
    }
}

/// A frame that could not be read, with what could be read of its envelope (so the `error`
/// reply can carry the request's correlation).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// What is wrong.
    pub error: MessageError,
    /// The `thingID`, if it could be read.
    pub thing_id: Option<String>,
    /// The correlation of the request (its `correlationID`, else its `messageID`), if readable.
    pub correlation: Option<String>,
    /// The style of the frame, as far as it shows one.
    pub style: Option<Style>,
    /// `traceparent`, if readable.
    pub traceparent: Option<String>,
    /// `tracestate`, if readable.
    pub tracestate: Option<String>,
}

impl Rejected {
    /// A rejection of a frame whose envelope (ids, style, trace context) could not be read.
    pub fn envelope(error: MessageError) -> Box<Self> {
        Box::new(Rejected {
            error,
            thing_id: None,
            correlation: None,
            style: None,
            traceparent: None,
            tracestate: None,
        })
    }
}

/// A message read from a frame, with the style it was written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The message.
    pub message: Message,
    /// Id spelling of the frame.
    pub ids: IdSpelling,
    /// The dialect the frame's vocabulary shows, if it shows one (`property` instead of `name`,
    /// lower-case `subscribeevent`, numeric timestamps: kotlin-wot; `name`, `value`, `thingID`:
    /// the spec).
    pub evidence: Option<Dialect>,
}

impl Parsed {
    /// The style to answer in: the frame's id spelling and its dialect, or `fallback` when the
    /// frame shows none.
    pub fn reply_style(&self, fallback: Dialect) -> Style {
        Style {
            dialect: self.evidence.unwrap_or(fallback),
            ids: self.ids,
        }
    }
}

/// The top-level members of a message, looked up by name.
trait Members {
    fn get(&self, key: &str) -> Option<&Value>;

    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl Members for Map<String, Value> {
    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }
}

/// The members of a message read straight from its text, in order. A message has a handful of
/// members, so a list searched from the end (the last of duplicate names wins, as in a JSON
/// object) is cheaper than a map; their values are parsed as [`Value`]s.
struct TopLevel<'a>(Vec<(std::borrow::Cow<'a, str>, Value)>);

impl Members for TopLevel<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A member name, borrowed from the frame's text unless it holds escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(key.to_owned())))
            }

            fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A frame's JSON: an object's members, or something else (which is not a message).
enum Frame<'a> {
    Object(TopLevel<'a>),
    Other,
}

impl<'de> Deserialize<'de> for Frame<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FrameVisitor;
        impl<'de> serde::de::Visitor<'de> for FrameVisitor {
            type Value = Frame<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Frame<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Key(key), value)) = map.next_entry::<Key<'de>, Value>()? {
                    members.push((key, value));
                }
                Ok(Frame::Object(TopLevel(members)))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Frame<'de>, A::Error> {
                // Read as values, so that nesting beyond serde_json's limit is invalid JSON.
                while seq.next_element::<Value>()?.is_some() {}
                Ok(Frame::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }

            fn visit_str<E>(self, _: &str) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }

            fn visit_unit<E>(self) -> Result<Frame<'de>, E> {
                Ok(Frame::Other)
            }
        }
        deserializer.deserialize_any(FrameVisitor)
    }
}

struct Reader<'a> {
    object: &'a dyn Members,
    evidence: Option<Dialect>,
}

impl<'a> Reader<'a> {
    fn note(&mut self, dialect: Dialect) {
        if self.evidence.is_none() {
            self.evidence = Some(dialect);
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, MessageError> {
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(MessageError::WrongType {
                member: key.to_owned(),
                expected: "a string".into(),
            }),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, MessageError> {
        self.string(key)?
            .map(str::to_owned)
            .ok_or_else(|| MessageError::MissingMember(key.to_owned()))
    }

    /// The property name: `name` (spec) or `property` (kotlin-wot).
    fn property_name(&mut self) -> Result<String, MessageError> {
        if let Some(name) = self.string("name")? {
            self.note(Dialect::Spec);
            return Ok(name.to_owned());
        }
        if let Some(name) = self.string("property")? {
            self.note(Dialect::KotlinWot);
            return Ok(name.to_owned());
        }
        Err(MessageError::MissingMember("name".into()))
    }

    fn object_member(&self, key: &str) -> Result<Map<String, Value>, MessageError> {
        match self.object.get(key) {
            None => Err(MessageError::MissingMember(key.to_owned())),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(_) => Err(MessageError::WrongType {
                member: key.to_owned(),
                expected: "an object".into(),
            }),
        }
    }

    fn timestamp(&mut self, key: &str) -> Result<Option<Timestamp>, MessageError> {
        let invalid = |detail: &str| MessageError::InvalidValue {
            member: key.to_owned(),
            detail: detail.to_owned(),
        };
        match self.object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => {
                self.note(Dialect::Spec);
                Timestamp::parse_rfc3339(text)
                    .map(Some)
                    .ok_or_else(|| invalid("not an RFC 3339 date-time"))
            }
            Some(Value::Number(n)) => {
                self.note(Dialect::KotlinWot);
                n.as_f64()
                    .and_then(Timestamp::from_epoch_seconds)
                    .map(Some)
                    .ok_or_else(|| invalid("not a time in epoch seconds"))
            }
            Some(_) => Err(MessageError::WrongType {
                member: key.to_owned(),
                expected: "a date-time string or epoch seconds".into(),
            }),
        }
    }
}

fn id_member<'a>(
    object: &'a dyn Members,
    upper: &str,
    lower: &str,
) -> Result<(Option<&'a str>, Option<IdSpelling>), MessageError> {
    for (key, spelling) in [(upper, IdSpelling::Upper), (lower, IdSpelling::Lower)] {
        match object.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.is_empty() => {
                return Err(MessageError::InvalidValue {
                    member: key.to_owned(),
                    detail: "must not be empty".into(),
                })
            }
            Some(Value::String(s)) if s.len() > MAX_ID_LEN => {
                return Err(MessageError::InvalidValue {
                    member: key.to_owned(),
                    detail: format!("longer than {MAX_ID_LEN} bytes"),
                })
            }
            Some(Value::String(s)) => return Ok((Some(s), Some(spelling))),
            Some(_) => {
                return Err(MessageError::WrongType {
                    member: key.to_owned(),
                    expected: "a string".into(),
                })
            }
        }
    }
    Ok((None, None))
}

impl Message {
    /// A new message with a fresh UUIDv4 `messageID`.
    pub fn new(thing_id: Option<String>, body: Body) -> Self {
        Message {
            thing_id,
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: None,
            traceparent: None,
            tracestate: None,
            body,
        }
    }

    /// The same message with a `correlationID`.
    pub fn correlated(mut self, correlation: Option<String>) -> Self {
        self.correlation_id = correlation;
        self
    }

    /// The correlation of a request: its `correlationID`, else its `messageID` (what kotlin-wot
    /// matches replies on).
    pub fn correlation(&self) -> &str {
        self.correlation_id.as_deref().unwrap_or(&self.message_id)
    }

    /// Reads one text frame.
    pub fn parse(text: &str) -> Result<Parsed, Box<Rejected>> {
        match serde_json::from_str::<Frame<'_>>(text) {
            Ok(Frame::Object(members)) => Self::from_members(&members),
            Ok(Frame::Other) => Err(Rejected::envelope(MessageError::NotAnObject)),
            Err(e) => Err(Rejected::envelope(MessageError::InvalidJson(e.to_string()))),
        }
    }

    /// Reads one message from parsed JSON.
    pub fn from_value(value: &Value) -> Result<Parsed, Box<Rejected>> {
        match value {
            Value::Object(object) => Self::from_members(object),
            _ => Err(Rejected::envelope(MessageError::NotAnObject)),
        }
    }

    fn from_members(object: &dyn Members) -> Result<Parsed, Box<Rejected>> {
        let reject = Rejected::envelope;
        // The envelope first, so that later errors can carry the correlation.
        let (thing_id, thing_spelling) = id_member(object, "thingID", "thingId").map_err(reject)?;
        let (message_id, message_spelling) =
            id_member(object, "messageID", "messageId").map_err(reject)?;
        let (correlation_id, correlation_spelling) =
            id_member(object, "correlationID", "correlationId").map_err(|e| {
                let mut rejected = reject(e);
                rejected.thing_id = thing_id.map(str::to_owned);
                rejected.correlation = message_id.map(str::to_owned);
                rejected
            })?;
        let ids = thing_spelling
            .or(message_spelling)
            .or(correlation_spelling)
            .unwrap_or(IdSpelling::Upper);
        let text_member = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
        let traceparent = text_member("traceparent");
        let tracestate = text_member("tracestate");
        let correlation = correlation_id.or(message_id).map(str::to_owned);
        let mut reader = Reader {
            object,
            evidence: if ids == IdSpelling::Upper && thing_spelling.is_some() {
                Some(Dialect::Spec)
            } else {
                None
            },
        };
        let body = Self::body(&mut reader);
        let fail = |error: MessageError, evidence: Option<Dialect>| {
            Box::new(Rejected {
                error,
                thing_id: thing_id.map(str::to_owned),
                correlation: correlation.clone(),
                style: Some(Style {
                    dialect: evidence.unwrap_or(Dialect::Spec),
                    ids,
                }),
                traceparent: traceparent.clone(),
                tracestate: tracestate.clone(),
            })
        };
        let body = body.map_err(|e| fail(e, reader.evidence))?;
        let Some(message_id) = message_id else {
            let key = match ids {
                IdSpelling::Upper => "messageID",
                IdSpelling::Lower => "messageId",
            };
            return Err(fail(
                MessageError::MissingMember(key.into()),
                reader.evidence,
            ));
        };
        if thing_id.is_none() && body.is_request() {
            let key = match ids {
                IdSpelling::Upper => "thingID",
                IdSpelling::Lower => "thingId",
            };
            return Err(fail(
                MessageError::MissingMember(key.into()),
                reader.evidence,
            ));
        }
        Ok(Parsed {
            message: Message {
                thing_id: thing_id.map(str::to_owned),
                message_id: message_id.to_owned(),
                correlation_id: correlation_id.map(str::to_owned),
                traceparent,
                tracestate,
                body,
            },
            ids,
            evidence: reader.evidence,
        })
    }

    fn body(r: &mut Reader<'_>) -> Result<Body, MessageError> {
        let message_type = r.required_string("messageType")?;
        let body = match message_type.as_str() {
            "readProperty" => Body::ReadProperty {
                name: r.property_name()?,
            },
            "writeProperty" => {
                let name = r.property_name()?;
                let value = match (r.object.get("data"), r.object.get("value")) {
                    (Some(v), _) | (None, Some(v)) => v.clone(),
                    (None, None) => return Err(MessageError::MissingMember("data".into())),
                };
                Body::WriteProperty { name, value }
            }
            "readAllProperties" => Body::ReadAllProperties,
            "readMultipleProperties" => {
                let key = if r.object.contains_key("properties") {
                    "properties"
                } else {
                    "names"
                };
                let list = r
                    .object
                    .get(key)
                    .ok_or_else(|| MessageError::MissingMember("properties".into()))?;
                let wrong = || MessageError::WrongType {
                    member: key.to_owned(),
                    expected: "an array of strings".into(),
                };
                let names = list
                    .as_array()
                    .ok_or_else(wrong)?
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
                    .collect::<Result<Vec<_>, _>>()?;
                Body::ReadMultipleProperties { names }
            }
            "writeMultipleProperties" => Body::WriteMultipleProperties {
                values: r.object_member("data")?,
            },
            "writeAllProperties" => {
                r.note(Dialect::KotlinWot);
                Body::WriteMultipleProperties {
                    values: r.object_member("data")?,
                }
            }
            "observeProperty" => {
                let name = r.property_name()?;
                r.timestamp("lastPropertyReading")?;
                Body::ObserveProperty { name }
            }
            "unobserveProperty" => Body::UnobserveProperty {
                name: r.property_name()?,
            },
            "propertyReading" => {
                let name = r.property_name()?;
                let value = if let Some(v) = r.object.get("value") {
                    r.note(Dialect::Spec);
                    v.clone()
                } else if let Some(v) = r.object.get("data") {
                    r.note(Dialect::KotlinWot);
                    v.clone()
                } else {
                    return Err(MessageError::MissingMember("value".into()));
                };
                Body::PropertyReading {
                    name,
                    value,
                    timestamp: r.timestamp("timestamp")?,
                }
            }
            "propertyReadings" => Body::PropertyReadings {
                values: r.object_member("data")?,
                timestamp: r.timestamp("timestamp")?,
            },
            "invokeAction" => Body::InvokeAction {
                action: r.required_string("action")?,
                input: r.object.get("input").cloned(),
            },
            "queryAction" => Body::QueryAction {
                action: r.required_string("action")?,
            },
            "cancelAction" => Body::CancelAction {
                action: r.required_string("action")?,
                reason: r.string("reason")?.map(str::to_owned),
            },
            "actionStatus" => {
                let action = r.required_string("action")?;
                let text = r.required_string("status")?;
                let status =
                    StatusValue::parse(&text).ok_or_else(|| MessageError::InvalidValue {
                        member: "status".into(),
                        detail: format!("{text:?} is not pending, completed, failed or cancelled"),
                    })?;
                let error = r.object.get("error").cloned().filter(|v| !v.is_null());
                // kotlin-wot has no `cancelled`: a cancelled action is `failed` with this type.
                let cancelled = error
                    .as_ref()
                    .and_then(|e| e.get("type"))
                    .and_then(Value::as_str)
                    .is_some_and(|t| t == CANCELLED_TYPE.as_str());
                Body::ActionStatus {
                    action,
                    status: if status == StatusValue::Failed && cancelled {
                        StatusValue::Cancelled
                    } else {
                        status
                    },
                    output: r.object.get("output").cloned().filter(|v| !v.is_null()),
                    error: if cancelled { None } else { error },
                }
            }
            "subscribeEvent" | "subscribeevent" => {
                r.note(if message_type == "subscribeevent" {
                    Dialect::KotlinWot
                } else {
                    Dialect::Spec
                });
                let event = r.required_string("event")?;
                r.timestamp("lastEvent")?;
                Body::SubscribeEvent { event }
            }
            "unsubscribeEvent" | "unsubscribeevent" => Body::UnsubscribeEvent {
                event: r.required_string("event")?,
            },
            "subscribeAllEvents" => Body::SubscribeAllEvents,
            "unsubscribeAllEvents" => Body::UnsubscribeAllEvents,
            "event" => Body::Event {
                event: r.required_string("event")?,
                data: r.object.get("data").cloned().unwrap_or(Value::Null),
                timestamp: r.timestamp("timestamp")?,
            },
            "acknowledgement" => {
                r.note(Dialect::KotlinWot);
                Body::Acknowledgement {
                    message: r.string("message")?.map(str::to_owned),
                }
            }
            "error" => {
                let text = |key: &str| -> String {
                    match r.object.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => String::new(),
                    }
                };
                Body::Error(Problem {
                    problem_type: text("type"),
                    title: text("title"),
                    status: text("status"),
                    detail: text("detail"),
                    instance: text("instance"),
                })
            }
            other => return Err(MessageError::UnknownMessageType(other.to_owned())),
        };
        Ok(body)
    }

    /// The message as JSON in `style`.
    pub fn to_value(&self, style: Style) -> Value {
        serde_json::to_value(Styled {
            message: self,
            style,
        })
        .unwrap_or(Value::Null)
    }

    /// The message as JSON text in `style`.
    pub fn to_json(&self, style: Style) -> String {
        // Most messages fit; growing from empty would reallocate several times.
        let mut out = Vec::with_capacity(256);
        let styled = Styled {
            message: self,
            style,
        };
        if serde_json::to_writer(&mut out, &styled).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// A message and the style to write it in; serialised member by member, borrowing every value.
struct Styled<'a> {
    message: &'a Message,
    style: Style,
}

impl Serialize for Styled<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Styled { message, style } = self;
        let kotlin = style.dialect == Dialect::KotlinWot;
        let mut out = serializer.serialize_map(None)?;
        if let Some(thing) = &message.thing_id {
            out.serialize_entry(style.thing_key(), thing)?;
        }
        out.serialize_entry(style.message_key(), &message.message_id)?;
        let message_type = match (&message.body, kotlin) {
            (Body::SubscribeEvent { .. }, true) => "subscribeevent",
            (body, _) => body.message_type(),
        };
        out.serialize_entry("messageType", message_type)?;
        if let Some(correlation) = &message.correlation_id {
            out.serialize_entry(style.correlation_key(), correlation)?;
        }
        let name_key = if kotlin { "property" } else { "name" };
        let stamp = |out: &mut S::SerializeMap, t: &Option<Timestamp>| {
            let t = t.unwrap_or_else(Timestamp::now);
            match style.dialect {
                Dialect::Spec => out.serialize_entry("timestamp", &t.to_rfc3339()),
                Dialect::KotlinWot => out.serialize_entry("timestamp", &t.epoch_seconds()),
            }
        };
        match &message.body {
            Body::ReadProperty { name }
            | Body::ObserveProperty { name }
            | Body::UnobserveProperty { name } => out.serialize_entry(name_key, name)?,
            Body::WriteProperty { name, value } => {
                out.serialize_entry(name_key, name)?;
                out.serialize_entry("data", value)?;
            }
            Body::ReadAllProperties | Body::SubscribeAllEvents | Body::UnsubscribeAllEvents => {}
            Body::ReadMultipleProperties { names } => out.serialize_entry("properties", names)?,
            Body::WriteMultipleProperties { values } => out.serialize_entry("data", values)?,
            Body::PropertyReading {
                name,
                value,
                timestamp,
            } => {
                out.serialize_entry(name_key, name)?;
                out.serialize_entry(if kotlin { "data" } else { "value" }, value)?;
                stamp(&mut out, timestamp)?;
            }
            Body::PropertyReadings { values, timestamp } => {
                out.serialize_entry("data", values)?;
                stamp(&mut out, timestamp)?;
            }
            Body::InvokeAction { action, input } => {
                out.serialize_entry("action", action)?;
                if let Some(input) = input {
                    out.serialize_entry("input", input)?;
                }
            }
            Body::QueryAction { action } => out.serialize_entry("action", action)?,
            Body::CancelAction { action, reason } => {
                out.serialize_entry("action", action)?;
                if let Some(reason) = reason {
                    out.serialize_entry("reason", reason)?;
                }
            }
            Body::ActionStatus {
                action,
                status,
                output,
                error,
            } => {
                out.serialize_entry("action", action)?;
                // kotlin-wot's status enumeration has no `cancelled`: a failure with a problem.
                let kotlin_cancelled = kotlin && *status == StatusValue::Cancelled;
                let status = if kotlin_cancelled {
                    StatusValue::Failed
                } else {
                    *status
                };
                out.serialize_entry("status", status.as_str())?;
                // kotlin-wot's ActionStatusMessage declares `output` without a default.
                match output {
                    Some(output) => out.serialize_entry("output", output)?,
                    None if kotlin => out.serialize_entry("output", &Value::Null)?,
                    None => {}
                }
                match error {
                    Some(error) => out.serialize_entry("error", error)?,
                    None if kotlin_cancelled => {
                        out.serialize_entry("error", &cancelled_problem())?
                    }
                    None => {}
                }
            }
            Body::SubscribeEvent { event } | Body::UnsubscribeEvent { event } => {
                out.serialize_entry("event", event)?;
            }
            Body::Event {
                event,
                data,
                timestamp,
            } => {
                out.serialize_entry("event", event)?;
                out.serialize_entry("data", data)?;
                stamp(&mut out, timestamp)?;
            }
            Body::Acknowledgement { message } => {
                // kotlin-wot declares `message` without a default.
                out.serialize_entry("message", message.as_deref().unwrap_or_default())?;
            }
            Body::Error(problem) => {
                out.serialize_entry("type", &problem.problem_type)?;
                out.serialize_entry("title", &problem.title)?;
                out.serialize_entry("status", &problem.status)?;
                out.serialize_entry("detail", &problem.detail)?;
                out.serialize_entry("instance", &problem.instance)?;
            }
        }
        if let Some(traceparent) = &message.traceparent {
            out.serialize_entry("traceparent", traceparent)?;
        }
        if let Some(tracestate) = &message.tracestate {
            out.serialize_entry("tracestate", tracestate)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse_rfc3339("2024-01-13T23:20:50.52Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-13T23:20:50.520Z");
        let shifted = Timestamp::parse_rfc3339("2024-01-14T01:20:50.52+02:00").unwrap();
        assert_eq!(shifted, t);
        assert_eq!(Timestamp::from_epoch_seconds(t.epoch_seconds()), Some(t));
        assert!(Timestamp::parse_rfc3339("2024-13-01T00:00:00Z").is_none());
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
        assert!(Timestamp::parse_rfc3339("2024-01-01T00:00:00.Z").is_none());
    }

    #[test]
    fn reads_both_spellings_of_a_read() {
        let spec = Message::parse(
            r#"{"thingID":"urn:x","messageID":"m1","messageType":"readProperty","name":"p","correlationID":"c1"}"#,
        )
        .unwrap();
        assert_eq!(spec.ids, IdSpelling::Upper);
        assert_eq!(spec.evidence, Some(Dialect::Spec));
        assert_eq!(spec.message.correlation(), "c1");
        let kotlin = Message::parse(
            r#"{"thingId":"urn:x","messageId":"m1","messageType":"readProperty","property":"p"}"#,
        )
        .unwrap();
        assert_eq!(kotlin.evidence, Some(Dialect::KotlinWot));
        assert_eq!(kotlin.message.correlation(), "m1");
        assert_eq!(spec.message.body, kotlin.message.body);
    }

    #[test]
    fn reads_a_frame_as_a_json_object_would_be_read() {
        // An escaped member name is the same name; of duplicate members the last one counts.
        let parsed = Message::parse(
            r#"{"thingID":"urn:x","messageID":"m1","message\u0054ype":"readProperty","name":"a","name":"b"}"#,
        )
        .unwrap();
        assert_eq!(parsed.message.body, Body::ReadProperty { name: "b".into() });
        // Whatever is not an object is not a message; broken or too deeply nested JSON is
        // invalid JSON.
        for text in ["[1, {}]", "\"text\"", "42", "null", "true"] {
            assert_eq!(
                Message::parse(text).unwrap_err().error,
                MessageError::NotAnObject
            );
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        for text in ["{\"messageID\":", "{} x", deep.as_str()] {
            assert!(matches!(
                Message::parse(text).unwrap_err().error,
                MessageError::InvalidJson(_)
            ));
        }
    }

    #[test]
    fn writes_replies_in_the_peer_style() {
        let reply = Message {
            thing_id: Some("urn:x".into()),
            message_id: "r".into(),
            correlation_id: Some("m1".into()),
            traceparent: None,
            tracestate: None,
            body: Body::PropertyReading {
                name: "p".into(),
                value: json!(1),
                timestamp: Some(Timestamp { millis: 1500 }),
            },
        };
        assert_eq!(
            reply.to_value(Style::of(Dialect::KotlinWot)),
            json!({"thingId":"urn:x","messageId":"r","messageType":"propertyReading",
                   "correlationId":"m1","property":"p","data":1,"timestamp":1.5})
        );
        assert_eq!(
            reply.to_value(Style::of(Dialect::Spec)),
            json!({"thingID":"urn:x","messageID":"r","messageType":"propertyReading",
                   "correlationID":"m1","name":"p","value":1,"timestamp":"1970-01-01T00:00:01.500Z"})
        );
    }

    #[test]
    fn rejections_keep_the_correlation() {
        let rejected =
            Message::parse(r#"{"thingId":"t","messageId":"m9","messageType":"readProperty"}"#)
                .unwrap_err();
        assert_eq!(rejected.correlation.as_deref(), Some("m9"));
        assert_eq!(rejected.error, MessageError::MissingMember("name".into()));
        let rejected =
            Message::parse(r#"{"thingID":"t","messageID":"m9","messageType":"launchRocket"}"#)
                .unwrap_err();
        assert_eq!(
            rejected.error,
            MessageError::UnknownMessageType("launchRocket".into())
        );
        assert!(matches!(
            Message::parse("[1]").unwrap_err().error,
            MessageError::NotAnObject
        ));
    }
}
