//! DID-based introduction (WoT Discovery §6.5): a DID document's `WotThing` services point at
//! Thing Descriptions, its `WotDirectory` services at the TD of a Thing Description Directory.
//! [`introduce`] resolves the DID (with a [`DidResolver`], so `did:web` over HTTPS, `did:key`
//! and pinned documents) and fetches what the services point at; [`discover_did`] also lists the
//! things of every directory found.
//!
//! Semantics and decisions are in `docs/discovery.md` ("DID-based introduction").

use std::time::Duration;

use futures::future::try_join_all;
use serde_json::Value;
use url::Url;

use super::{DirectoryClient, DirectoryError, THING_DIRECTORY};
use crate::identity::did::{DidDocument, Service, WOT_THING_SERVICE};
use crate::identity::{DidResolver, IdentityError};

/// The service type that points at the TD of a Thing Description Directory.
pub const WOT_DIRECTORY_SERVICE: &str = "WotDirectory";

/// Largest Thing Description fetched from a service endpoint (4 MiB, as the directory accepts).
pub const MAX_TD_BYTES: usize = 4 * 1024 * 1024;

/// What can go wrong when following a DID to its things.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DidDiscoveryError {
    /// The DID could not be resolved to a document.
    #[error(transparent)]
    Resolution(#[from] IdentityError),
    /// The DID document has no `WotThing` or `WotDirectory` service.
    #[error("the DID document of {did} has no WotThing or WotDirectory service")]
    NoServices {
        /// The DID.
        did: String,
    },
    /// A service's `serviceEndpoint` is not an `http`/`https` URL (or a list of them).
    #[error("service {service}: {message}")]
    Endpoint {
        /// The service id.
        service: String,
        /// What is wrong with the endpoint.
        message: String,
    },
    /// The document a service endpoint points at could not be fetched or is not a JSON object.
    #[error("service {service}: {url}: {message}")]
    Fetch {
        /// The service id.
        service: String,
        /// The URL fetched.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// A `WotDirectory` endpoint answered a TD that does not describe a directory.
    #[error("service {service}: {url} is not a Thing Description Directory (its @type lacks ThingDirectory)")]
    NotDirectory {
        /// The service id.
        service: String,
        /// The URL fetched.
        url: String,
    },
    /// Listing the things of a directory the DID introduced failed.
    #[error("service {service}: {source}")]
    Directory {
        /// The service id.
        service: String,
        /// The directory's error.
        source: DirectoryError,
    },
}

impl DidDiscoveryError {
    /// The id of the DID service that failed, when one did.
    pub fn service(&self) -> Option<&str> {
        match self {
            DidDiscoveryError::Endpoint { service, .. }
            | DidDiscoveryError::Fetch { service, .. }
            | DidDiscoveryError::NotDirectory { service, .. }
            | DidDiscoveryError::Directory { service, .. } => Some(service),
            DidDiscoveryError::Resolution(_) | DidDiscoveryError::NoServices { .. } => None,
        }
    }

    /// A stable machine-readable code: the resolver's (`identity_*`) or the directory's
    /// (`directory_*`) code when they failed, else `discovery_did_*`.
    pub fn code(&self) -> &'static str {
        match self {
            DidDiscoveryError::Resolution(e) => e.code(),
            DidDiscoveryError::NoServices { .. } => "discovery_did_no_service",
            DidDiscoveryError::Endpoint { .. } => "discovery_did_endpoint",
            DidDiscoveryError::Fetch { .. } => "discovery_did_fetch",
            DidDiscoveryError::NotDirectory { .. } => "discovery_did_not_directory",
            DidDiscoveryError::Directory { source, .. } => source.code(),
        }
    }
}

/// A thing a DID led to.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredThing {
    /// Its Thing Description (from a directory: with the `registration` member).
    pub td: Value,
    /// Where the TD was read: the `WotThing` endpoint, or the directory's `things/{id}`.
    pub url: String,
    /// The id of the DID service that led here.
    pub service: String,
    /// The base URL of the directory that listed it (`None` for a `WotThing` service).
    pub directory: Option<String>,
}

/// A directory a DID introduced (a `WotDirectory` service).
#[derive(Debug, Clone)]
pub struct IntroducedDirectory {
    /// The id of the DID service.
    pub service: String,
    /// The endpoint the directory's TD was fetched from.
    pub url: String,
    /// The directory's own TD.
    pub td: Value,
    /// A client of the directory (its base: the TD's `base`, else the endpoint without
    /// `.well-known/wot`).
    pub client: DirectoryClient,
}

/// What a DID document introduces: its `WotThing` TDs and its `WotDirectory` directories.
#[derive(Debug, Clone)]
pub struct DidIntroduction {
    /// The resolved DID document.
    pub document: DidDocument,
    /// The things of the `WotThing` services, in document order.
    pub things: Vec<DiscoveredThing>,
    /// The directories of the `WotDirectory` services, in document order.
    pub directories: Vec<IntroducedDirectory>,
}

impl DidIntroduction {
    /// The things of the `WotThing` services followed by every thing each directory lists (in
    /// document order); a TD whose `id` was already found is left out.
    pub async fn all_things(&self) -> Result<Vec<DiscoveredThing>, DidDiscoveryError> {
        let listings = try_join_all(self.directories.iter().map(|directory| async move {
            directory
                .client
                .list()
                .await
                .map(|tds| (directory, tds))
                .map_err(|source| DidDiscoveryError::Directory {
                    service: directory.service.clone(),
                    source,
                })
        }))
        .await?;
        let mut found = self.things.clone();
        for (directory, tds) in listings {
            let base = directory.client.base_url();
            for td in tds {
                let url = td
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| {
                        base.join(&format!(
                            "things/{}",
                            crate::binding::http::forms::encode_segment(id)
                        ))
                        .ok()
                    })
                    .map(String::from)
                    .unwrap_or_else(|| base.to_string());
                found.push(DiscoveredThing {
                    td,
                    url,
                    service: directory.service.clone(),
                    directory: Some(base.to_string()),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|thing| match thing.td.get("id").and_then(Value::as_str) {
            Some(id) => seen.insert(id.to_owned()),
            None => true,
        });
        Ok(found)
    }
}

/// Resolves `did` and fetches what its `WotThing` and `WotDirectory` services point at. Fails
/// when the DID cannot be resolved, has neither kind of service, or any endpoint fails (the error
/// names the service). Endpoints are fetched with the resolver's timeout.
pub async fn introduce(
    resolver: &DidResolver,
    did: &str,
) -> Result<DidIntroduction, DidDiscoveryError> {
    let document = resolver.resolve(did).await?;
    let things: Vec<&Service> = document
        .service
        .iter()
        .filter(|s| s.has_type(WOT_THING_SERVICE))
        .collect();
    let directories: Vec<&Service> = document
        .service
        .iter()
        .filter(|s| s.has_type(WOT_DIRECTORY_SERVICE))
        .collect();
    if things.is_empty() && directories.is_empty() {
        return Err(DidDiscoveryError::NoServices {
            did: document.id.clone(),
        });
    }
    let http =
        http_client(resolver.options().timeout).map_err(|message| DidDiscoveryError::Fetch {
            service: document.id.clone(),
            url: String::new(),
            message,
        })?;

    let mut thing_fetches = Vec::new();
    for service in &things {
        let id = absolute_id(&document, &service.id);
        for url in endpoints(&id, service)? {
            let http = http.clone();
            let id = id.clone();
            thing_fetches.push(async move {
                let td = fetch_object(&http, &id, &url).await?;
                Ok::<_, DidDiscoveryError>(DiscoveredThing {
                    td,
                    url: url.to_string(),
                    service: id,
                    directory: None,
                })
            });
        }
    }
    let mut directory_fetches = Vec::new();
    for service in &directories {
        let id = absolute_id(&document, &service.id);
        for url in endpoints(&id, service)? {
            let http = http.clone();
            let id = id.clone();
            directory_fetches.push(async move {
                let td = fetch_object(&http, &id, &url).await?;
                if !has_type(&td, THING_DIRECTORY) {
                    return Err(DidDiscoveryError::NotDirectory {
                        service: id,
                        url: url.to_string(),
                    });
                }
                let base = directory_base(&td, &url);
                let client = DirectoryClient::new(base.as_str()).map_err(|source| {
                    DidDiscoveryError::Directory {
                        service: id.clone(),
                        source,
                    }
                })?;
                Ok(IntroducedDirectory {
                    service: id,
                    url: url.to_string(),
                    td,
                    client,
                })
            });
        }
    }
    let (things, directories) =
        futures::future::try_join(try_join_all(thing_fetches), try_join_all(directory_fetches))
            .await?;
    Ok(DidIntroduction {
        document,
        things,
        directories,
    })
}

/// Every thing `did` leads to: the TDs of its `WotThing` services and every thing listed by the
/// directories of its `WotDirectory` services (see [`introduce`] and
/// [`DidIntroduction::all_things`]).
pub async fn discover_did(
    resolver: &DidResolver,
    did: &str,
) -> Result<Vec<DiscoveredThing>, DidDiscoveryError> {
    introduce(resolver, did).await?.all_things().await
}

fn absolute_id(document: &DidDocument, id: &str) -> String {
    if id.starts_with('#') {
        format!("{}{id}", document.id)
    } else {
        id.to_owned()
    }
}

/// The URLs of a service's `serviceEndpoint`: one URL or a list of them, `http` or `https`.
fn endpoints(service_id: &str, service: &Service) -> Result<Vec<Url>, DidDiscoveryError> {
    let bad = |message: String| DidDiscoveryError::Endpoint {
        service: service_id.to_owned(),
        message,
    };
    let texts: Vec<&Value> = match &service.service_endpoint {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Array(_) => return Err(bad("serviceEndpoint is an empty list".into())),
        other => vec![other],
    };
    texts
        .into_iter()
        .map(|value| {
            let text = value.as_str().ok_or_else(|| {
                bad("serviceEndpoint is not a URL (or a list of URLs)".to_owned())
            })?;
            let url = Url::parse(text).map_err(|e| {
                bad(format!(
                    "serviceEndpoint {:?} is not a URL: {e}",
                    short(text)
                ))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(bad(format!(
                    "serviceEndpoint {:?} is not an http or https URL",
                    short(text)
                )));
            }
            Ok(url)
        })
        .collect()
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

fn has_type(td: &Value, wanted: &str) -> bool {
    match td.get("@type") {
        Some(Value::String(ty)) => ty == wanted,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(wanted)),
        _ => false,
    }
}

/// Where a directory's API is: its TD's `base` (the URL its forms are relative to) when that is
/// an http(s) URL, else the endpoint without a trailing `.well-known/wot`.
fn directory_base(td: &Value, endpoint: &Url) -> Url {
    if let Some(base) = td
        .get("base")
        .and_then(Value::as_str)
        .and_then(|b| endpoint.join(b).ok())
        .filter(|b| matches!(b.scheme(), "http" | "https"))
    {
        return base;
    }
    let mut base = endpoint.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().to_owned();
    if let Some(prefix) = path.strip_suffix(".well-known/wot") {
        base.set_path(prefix);
    }
    base
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS crypto provider; use ring unless the application
    // installed another one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("no HTTP client could be built: {e}"))
}

/// GETs `url` and reads it as a JSON object (at most [`MAX_TD_BYTES`]).
async fn fetch_object(
    http: &reqwest::Client,
    service: &str,
    url: &Url,
) -> Result<Value, DidDiscoveryError> {
    let fail = |message: String| DidDiscoveryError::Fetch {
        service: service.to_owned(),
        url: url.to_string(),
        message,
    };
    let mut response = http
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/td+json, application/json;q=0.9",
        )
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("answered {}", status.as_u16())));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_TD_BYTES as u64)
    {
        return Err(fail(format!("the TD is larger than {MAX_TD_BYTES} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(describe(&e)))? {
        if body.len() + chunk.len() > MAX_TD_BYTES {
            return Err(fail(format!("the TD is larger than {MAX_TD_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(fail("the answer is not a JSON object".to_owned())),
        Err(e) => Err(fail(format!("the answer is not JSON: {e}"))),
    }
}

/// The error chain of a reqwest error (its `Display` hides the cause).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(endpoint: Value) -> Service {
        Service {
            id: "did:example:x#td".into(),
            kind: Value::String(WOT_THING_SERVICE.into()),
            service_endpoint: endpoint,
            extra: Default::default(),
        }
    }

    #[test]
    fn endpoints_are_one_url_or_a_list_of_http_urls() {
        let one = endpoints("s", &service(Value::String("https://a.example/td".into()))).unwrap();
        assert_eq!(one.len(), 1);
        let two = endpoints(
            "s",
            &service(serde_json::json!([
                "http://a.example/1",
                "https://b.example/2"
            ])),
        )
        .unwrap();
        assert_eq!(two.len(), 2);
        for bad in [
            serde_json::json!("ftp://a.example/td"),
            serde_json::json!("not a url"),
            serde_json::json!({"uri": "https://a.example"}),
            serde_json::json!([]),
            serde_json::json!(["https://a.example", 3]),
        ] {
            let error = endpoints("s", &service(bad.clone())).unwrap_err();
            assert_eq!(error.code(), "discovery_did_endpoint", "{bad}");
        }
    }

    #[test]
    fn a_directory_base_comes_from_its_td_or_its_endpoint() {
        let endpoint = Url::parse("http://127.0.0.1:9/.well-known/wot").unwrap();
        assert_eq!(
            directory_base(&serde_json::json!({}), &endpoint).as_str(),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            directory_base(
                &serde_json::json!({"base": "http://127.0.0.1:9/tdd/"}),
                &endpoint
            )
            .as_str(),
            "http://127.0.0.1:9/tdd/"
        );
        assert_eq!(
            directory_base(&serde_json::json!({"base": "urn:x"}), &endpoint).as_str(),
            "http://127.0.0.1:9/"
        );
    }
}
