//! Security settings from Python: the `security=` and `tls=` arguments of `Servient` and the
//! `credentials=` argument of the consume calls, handed to the core as the JSON it reads
//! ([`VerifierOptions`], [`TlsOptions`], [`lmos::security::CredentialOptions`]).
//!
//! Python spells members in snake_case (`hmac_secret`, `api_keys`, `cert_file`, `api_key`,
//! `client_secret`); the core's camelCase names are accepted too. Only member names are
//! converted, never the keys that are data: user names under `basic`, thing ids and origins at
//! the top of `credentials`, the members of JWK objects under `keys`.

use pyo3::prelude::*;
use serde_json::{Map, Value};

use lmos::security::{TlsOptions, TlsServerConfig, Verifier, VerifierOptions};

use crate::convert::to_json;
use crate::errors::security_error;

/// `snake_case` → `camelCase` (a name without `_` is returned as it is).
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the members of an object to camelCase; `nested` says what to do with the value of a
/// (renamed) member.
fn camel_members(value: Value, nested: impl Fn(&str, Value) -> Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(name, value)| {
                    let name = camel(&name);
                    let value = nested(&name, value);
                    (name, value)
                })
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// Member names only: the values are left alone.
fn flat(value: Value) -> Value {
    camel_members(value, |_, value| value)
}

/// A token validator's settings (`bearer`, `oauth2`): `introspection` is an object of settings;
/// `keys` are JWKs and stay as they are.
fn token_options(value: Value) -> Value {
    camel_members(value, |name, value| match name {
        "introspection" => flat(value),
        _ => value,
    })
}

/// The `security=` dict in the core's spelling.
fn verifier_json(value: Value) -> Value {
    camel_members(value, |name, value| match name {
        "bearer" | "oauth2" => token_options(value),
        // User name → password: data.
        _ => value,
    })
}

/// The `credentials=` dict in the core's spelling: thing id or origin → credentials.
pub fn credentials_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    Ok(match to_json(obj)? {
        Value::Object(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, entry)| {
                    let entry = camel_members(entry, |name, value| match name {
                        "basic" | "oauth2" => flat(value),
                        _ => value,
                    });
                    (key, entry)
                })
                .collect(),
        ),
        // Not a dict: the core names what it expected.
        other => other,
    })
}

/// The verifier a `security=` dict describes; a bad dict is a `ConfigurationError` that names
/// the member, never a value.
pub fn verifier(obj: &Bound<'_, PyAny>) -> PyResult<Verifier> {
    let py = obj.py();
    let value = verifier_json(to_json(obj)?);
    VerifierOptions::from_json(&value)
        .and_then(VerifierOptions::build)
        .map_err(|e| security_error(py, &e))
}

/// The TLS configuration a `tls=` dict describes (`cert_file` and `key_file`, or `cert_pem` and
/// `key_pem`).
pub fn tls(obj: &Bound<'_, PyAny>) -> PyResult<TlsServerConfig> {
    let py = obj.py();
    let value = flat(to_json(obj)?);
    TlsOptions::from_json(&value)
        .and_then(TlsOptions::build)
        .map_err(|e| security_error(py, &e))
}
