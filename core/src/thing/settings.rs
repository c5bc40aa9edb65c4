//! [`ConsumeSettings`]: consume options as data, the JSON object the language bindings hand over.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{ConsumeOptions, Subprotocol, ThingError};
use crate::binding::ws::Dialect;
use crate::identity::{ResolverSettings, SignaturePolicy};
use crate::security::options::from_value;
use crate::security::{CredentialOptions, CredentialStore};

/// Consume options as a JSON object whose members are all optional and camelCase:
/// `protocols`, `onlyProtocols`, `dialect` (`spec`, `kotlin-wot`), `contentTypes`,
/// `subprotocols` (`sse`, `longpoll`), `validateOutputs`, `validateInputs`, `timeoutMs`
/// (`0` = no bound), `pollIntervalMs`, `maxResponseBytes`, `signaturePolicy` (`require`,
/// `verifyIfPresent`, `ignore`), `didResolver` ([`ResolverSettings`]), `credentials` (thing id or
/// origin → [`CredentialOptions`]) and `extraCaPem`. Unknown members are refused.
#[derive(Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsumeSettings {
    /// See [`ConsumeOptions::protocols`].
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    /// See [`ConsumeOptions::only_protocols`].
    #[serde(default)]
    pub only_protocols: Option<bool>,
    /// See [`ConsumeOptions::dialect`].
    #[serde(default)]
    pub dialect: Option<String>,
    /// See [`ConsumeOptions::content_types`].
    #[serde(default)]
    pub content_types: Option<Vec<String>>,
    /// See [`ConsumeOptions::subprotocols`].
    #[serde(default)]
    pub subprotocols: Option<Vec<String>>,
    /// See [`ConsumeOptions::validate_outputs`].
    #[serde(default)]
    pub validate_outputs: Option<bool>,
    /// See [`ConsumeOptions::validate_inputs`].
    #[serde(default)]
    pub validate_inputs: Option<bool>,
    /// See [`ConsumeOptions::timeout`], in milliseconds; `0` means no bound.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// See [`ConsumeOptions::poll_interval`], in milliseconds.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// See [`ConsumeOptions::max_response_bytes`].
    #[serde(default)]
    pub max_response_bytes: Option<usize>,
    /// See [`ConsumeOptions::signature_policy`].
    #[serde(default)]
    pub signature_policy: Option<String>,
    /// See [`ConsumeOptions::did_resolver`].
    #[serde(default)]
    pub did_resolver: Option<ResolverSettings>,
    /// See [`ConsumeOptions::credentials`].
    #[serde(default)]
    pub credentials: Option<BTreeMap<String, CredentialOptions>>,
    /// See [`ConsumeOptions::extra_ca_pem`].
    #[serde(default)]
    pub extra_ca_pem: Option<String>,
}

impl std::fmt::Debug for ConsumeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumeSettings")
            .field("protocols", &self.protocols)
            .field("dialect", &self.dialect)
            .field("credentials", &self.credentials.as_ref().map(BTreeMap::len))
            .finish_non_exhaustive()
    }
}

impl ConsumeSettings {
    /// Reads the settings from JSON (`null` is the defaults).
    pub fn from_json(value: &Value) -> Result<Self, ThingError> {
        if value.is_null() {
            return Ok(ConsumeSettings::default());
        }
        // Member names and types only: a credential's value is never quoted back.
        from_value(value).map_err(|e| ThingError::InvalidConfig(format!("consume options: {e}")))
    }

    /// The consume options these settings describe (defaults where a member is absent).
    pub fn into_options(self) -> Result<ConsumeOptions, ThingError> {
        let mut options = ConsumeOptions::default();
        if let Some(protocols) = self.protocols {
            options.protocols = protocols;
        }
        if let Some(flag) = self.only_protocols {
            options.only_protocols = flag;
        }
        if let Some(name) = self.dialect {
            options.dialect = Dialect::parse(&name).ok_or_else(|| {
                ThingError::InvalidConfig(format!("unknown dialect {name:?} (spec or kotlin-wot)"))
            })?;
        }
        if let Some(types) = self.content_types {
            options.content_types = types;
        }
        if let Some(names) = self.subprotocols {
            options.subprotocols = names
                .iter()
                .map(|name| {
                    Subprotocol::parse(name).ok_or_else(|| {
                        ThingError::InvalidConfig(format!(
                            "unknown subprotocol {name:?} (sse or longpoll)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(flag) = self.validate_outputs {
            options.validate_outputs = flag;
        }
        if let Some(flag) = self.validate_inputs {
            options.validate_inputs = flag;
        }
        if let Some(ms) = self.timeout_ms {
            options.timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(ms) = self.poll_interval_ms {
            options.poll_interval = Duration::from_millis(ms);
        }
        if let Some(bytes) = self.max_response_bytes {
            options.max_response_bytes = bytes;
        }
        if let Some(name) = self.signature_policy {
            options.signature_policy = SignaturePolicy::parse(&name).ok_or_else(|| {
                ThingError::InvalidConfig(format!(
                    "unknown signature policy {name:?} (require, verifyIfPresent or ignore)"
                ))
            })?;
        }
        if let Some(resolver) = self.did_resolver {
            options.did_resolver = resolver
                .build()
                .map_err(|e| ThingError::InvalidConfig(e.to_string()))?;
        }
        if let Some(entries) = self.credentials {
            let store = CredentialStore::new();
            for (key, credentials) in entries {
                store.insert(key, credentials.build()?);
            }
            options.credentials = Some(store);
        }
        if let Some(pem) = self.extra_ca_pem {
            options.extra_ca_pem = Some(pem);
        }
        Ok(options)
    }
}

impl ConsumeOptions {
    /// Consume options from their JSON form ([`ConsumeSettings`]).
    pub fn from_json(value: &Value) -> Result<Self, ThingError> {
        ConsumeSettings::from_json(value)?.into_options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_member_reaches_the_options() {
        let options = ConsumeOptions::from_json(&json!({
            "protocols": ["ws"], "onlyProtocols": true, "dialect": "kotlin-wot",
            "contentTypes": ["application/cbor"], "subprotocols": ["longpoll"],
            "validateOutputs": false, "validateInputs": false, "timeoutMs": 0,
            "pollIntervalMs": 50, "maxResponseBytes": 1024, "signaturePolicy": "require",
            "didResolver": {"allowHttpLoopback": true},
            "credentials": {"urn:dev:x": {"bearer": "tok"}},
            "extraCaPem": "-----BEGIN CERTIFICATE-----"
        }))
        .unwrap();
        assert_eq!(options.protocols, vec!["ws"]);
        assert!(options.only_protocols);
        assert_eq!(options.dialect, Dialect::KotlinWot);
        assert_eq!(options.subprotocols, vec![Subprotocol::LongPoll]);
        assert!(!options.validate_outputs && !options.validate_inputs);
        assert_eq!(options.timeout, None);
        assert_eq!(options.poll_interval, Duration::from_millis(50));
        assert_eq!(options.max_response_bytes, 1024);
        assert_eq!(options.signature_policy, SignaturePolicy::Require);
        assert!(options.did_resolver.options().allow_http_loopback);
        assert!(options.credentials.is_some());
        assert!(options.extra_ca_pem.is_some());
    }

    #[test]
    fn null_is_the_defaults_and_bad_members_are_named() {
        let defaults = ConsumeOptions::from_json(&Value::Null).unwrap();
        assert_eq!(defaults.timeout, Some(Duration::from_secs(30)));
        let error = ConsumeOptions::from_json(&json!({"timeout": 5})).unwrap_err();
        assert!(error.to_string().contains("timeout"), "{error}");
        let error = ConsumeOptions::from_json(&json!({"dialect": "soap"})).unwrap_err();
        assert!(error.to_string().contains("soap"), "{error}");
        let error = ConsumeOptions::from_json(&json!({"credentials": {"x": {"bearer": 12345}}}))
            .unwrap_err();
        assert!(error.to_string().contains("credentials"), "{error}");
        let secret = ConsumeOptions::from_json(
            &json!({"credentials": {"x": {"basic": "alice:very-secret"}}}),
        )
        .unwrap_err()
        .to_string();
        assert!(!secret.contains("very-secret"), "{secret}");
    }
}
