//! Content types: turns payload values into bytes and back, by the `contentType` of a form.
//!
//! Supported: `application/json` (and `+json` types such as `application/td+json`),
//! `application/cbor`, and `text/plain` (a string value travels as its text; any other value as
//! its JSON text, and incoming text is always a string).

use serde_json::Value;

/// The JSON media type.
pub const JSON: &str = "application/json";
/// The CBOR media type.
pub const CBOR: &str = "application/cbor";
/// The plain text media type.
pub const TEXT: &str = "text/plain";

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// No codec for this media type.
    #[error("unsupported content type {0:?}")]
    UnsupportedContentType(String),
    /// The bytes are not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The bytes are not valid CBOR, or CBOR that has no JSON equivalent.
    #[error("invalid CBOR: {0}")]
    Cbor(String),
    /// `text/plain` bytes that are not UTF-8.
    #[error("text payload is not UTF-8")]
    Text,
}

impl CodecError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::UnsupportedContentType(_) => "unsupported_content_type",
            CodecError::Json(_) => "invalid_json",
            CodecError::Cbor(_) => "invalid_cbor",
            CodecError::Text => "invalid_text",
        }
    }
}

/// A payload encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// `application/json`.
    Json,
    /// `application/cbor`.
    Cbor,
    /// `text/plain`.
    Text,
}

/// The media type without parameters, trimmed and lower-cased.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.as_bytes()[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

impl Codec {
    /// The codec for a media type (parameters such as `charset` are ignored).
    pub fn for_content_type(content_type: &str) -> Result<Codec, CodecError> {
        // Compared without lower-casing into a new string: this runs on every request.
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let is = |media: &str| essence.eq_ignore_ascii_case(media);
        if is(JSON) {
            Ok(Codec::Json)
        } else if is(CBOR) {
            Ok(Codec::Cbor)
        } else if is(TEXT) {
            Ok(Codec::Text)
        } else if starts_with_ignore_case(essence, "application/")
            && ends_with_ignore_case(essence, "+json")
        {
            Ok(Codec::Json)
        } else {
            Err(CodecError::UnsupportedContentType(content_type.to_owned()))
        }
    }

    /// Whether a media type has a codec.
    pub fn supports(content_type: &str) -> bool {
        Self::for_content_type(content_type).is_ok()
    }

    /// The media type this codec writes.
    pub fn media_type(self) -> &'static str {
        match self {
            Codec::Json => JSON,
            Codec::Cbor => CBOR,
            Codec::Text => "text/plain; charset=utf-8",
        }
    }

    /// Encodes a value.
    pub fn encode(self, value: &Value) -> Result<Vec<u8>, CodecError> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(|e| CodecError::Json(e.to_string())),
            Codec::Cbor => {
                let mut out = Vec::new();
                ciborium::into_writer(value, &mut out)
                    .map_err(|e| CodecError::Cbor(e.to_string()))?;
                Ok(out)
            }
            Codec::Text => match value {
                Value::String(text) => Ok(text.as_bytes().to_vec()),
                other => serde_json::to_vec(other).map_err(|e| CodecError::Json(e.to_string())),
            },
        }
    }

    /// Decodes bytes; an empty body decodes to `null` for every codec but text (empty string).
    pub fn decode(self, bytes: &[u8]) -> Result<Value, CodecError> {
        match self {
            Codec::Json if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
            Codec::Json => {
                serde_json::from_slice(bytes).map_err(|e| CodecError::Json(e.to_string()))
            }
            Codec::Cbor if bytes.is_empty() => Ok(Value::Null),
            Codec::Cbor => {
                let value: ciborium::Value =
                    ciborium::from_reader(bytes).map_err(|e| CodecError::Cbor(e.to_string()))?;
                cbor_to_json(value)
            }
            Codec::Text => std::str::from_utf8(bytes)
                .map(|text| Value::String(text.to_owned()))
                .map_err(|_| CodecError::Text),
        }
    }
}

fn cbor_to_json(value: ciborium::Value) -> Result<Value, CodecError> {
    use ciborium::Value as C;
    Ok(match value {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Text(t) => Value::String(t),
        C::Integer(i) => {
            let wide: i128 = i.into();
            if let Ok(small) = i64::try_from(wide) {
                Value::from(small)
            } else if let Ok(unsigned) = u64::try_from(wide) {
                Value::from(unsigned)
            } else {
                return Err(CodecError::Cbor(format!("integer {wide} out of range")));
            }
        }
        C::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| CodecError::Cbor(format!("{f} has no JSON equivalent")))?,
        C::Array(items) => Value::Array(
            items
                .into_iter()
                .map(cbor_to_json)
                .collect::<Result<_, _>>()?,
        ),
        C::Map(entries) => {
            let mut map = serde_json::Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match key {
                    C::Text(text) => text,
                    _ => return Err(CodecError::Cbor("map key is not a text string".into())),
                };
                map.insert(key, cbor_to_json(value)?);
            }
            Value::Object(map)
        }
        C::Tag(_, inner) => cbor_to_json(*inner)?,
        C::Bytes(_) => {
            return Err(CodecError::Cbor(
                "byte strings have no JSON equivalent".into(),
            ))
        }
        _ => return Err(CodecError::Cbor("unsupported CBOR item".into())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips() {
        let value =
            json!({"a": [1, -2, 3.5, true, null, "x"], "b": {"c": 18446744073709551615u64}});
        for codec in [Codec::Json, Codec::Cbor] {
            let bytes = codec.encode(&value).unwrap();
            assert_eq!(codec.decode(&bytes).unwrap(), value, "{codec:?}");
        }
        let text = Codec::Text.encode(&json!("hello")).unwrap();
        assert_eq!(text, b"hello");
        assert_eq!(Codec::Text.decode(b"hello").unwrap(), json!("hello"));
    }

    #[test]
    fn picks_codecs_by_media_type() {
        assert_eq!(
            Codec::for_content_type("application/json; charset=utf-8").unwrap(),
            Codec::Json
        );
        assert_eq!(
            Codec::for_content_type("application/td+json").unwrap(),
            Codec::Json
        );
        assert_eq!(
            Codec::for_content_type("Application/CBOR").unwrap(),
            Codec::Cbor
        );
        assert_eq!(
            Codec::for_content_type(" APPLICATION/LD+JSON ; profile=x").unwrap(),
            Codec::Json
        );
        for unsupported in ["+json", "text/json", "application/", ""] {
            assert!(
                Codec::for_content_type(unsupported).is_err(),
                "{unsupported:?} accepted"
            );
        }
        assert!(matches!(
            Codec::for_content_type("image/png"),
            Err(CodecError::UnsupportedContentType(_))
        ));
    }

    #[test]
    fn reports_bad_bytes() {
        assert!(matches!(Codec::Json.decode(b"{"), Err(CodecError::Json(_))));
        assert!(matches!(
            Codec::Cbor.decode(&[0xff, 0x00]),
            Err(CodecError::Cbor(_))
        ));
        assert!(matches!(Codec::Text.decode(&[0xff]), Err(CodecError::Text)));
    }
}
