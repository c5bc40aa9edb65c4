//! Serving a DID document: an axum [`Router`](axum::Router) with `GET /.well-known/did.json`
//! (and, for a `did:web` DID with a path, `GET /{path}/did.json`), to merge into an app or to
//! hand to [`Servient::serve_did_document`](crate::thing::Servient::serve_did_document).

use std::sync::{Arc, RwLock};

use axum::http::header;
use axum::response::IntoResponse;

use super::did::DidDocument;
use super::did_web;

/// The media type of a DID document.
pub const DID_JSON: &str = "application/did+json";
/// Where a host's DID document is.
pub const WELL_KNOWN_DID: &str = "/.well-known/did.json";

/// A DID document that can be replaced while it is served.
pub type SharedDidDocument = Arc<RwLock<Option<DidDocument>>>;

/// The routes serving the document in `document` (404 while it is `None`).
pub fn did_document_router(document: SharedDidDocument, did: Option<&str>) -> axum::Router {
    let handler = move || {
        let document = document.clone();
        async move { did_document_response(&document) }
    };
    let mut router = axum::Router::new().route(WELL_KNOWN_DID, axum::routing::get(handler.clone()));
    if let Some(path) = did.and_then(|d| did_web::document_path(d).ok()) {
        if path != WELL_KNOWN_DID {
            router = router.route(&path, axum::routing::get(handler));
        }
    }
    router
}

/// The answer to `GET /.well-known/did.json`: the document, or 404 while there is none.
pub(crate) fn did_document_response(document: &SharedDidDocument) -> axum::response::Response {
    let current = document.read().unwrap_or_else(|e| e.into_inner()).clone();
    match current {
        Some(doc) => (
            [(header::CONTENT_TYPE, DID_JSON)],
            doc.to_value().to_string(),
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// `response` signed when it is a TD and `signer` holds a key: the step behind
/// [`sign_thing_descriptions`], also called directly for a servient's own port (served without
/// an axum `Router`). Costs one header look-up for every other response.
pub(crate) async fn sign_if_description(
    response: axum::response::Response,
    signer: &SharedSigner,
) -> axum::response::Response {
    let is_td = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(crate::binding::http::TD_JSON));
    if !is_td {
        return response;
    }
    let key = signer.read().unwrap_or_else(|e| e.into_inner()).clone();
    match key {
        Some(key) => sign_response(response, &key).await,
        None => response,
    }
}

/// Largest TD the signing layer reads back (16 MiB).
const MAX_SIGNED_TD_BYTES: usize = 16 * 1024 * 1024;

/// The key a servient signs its TDs with, if any; replaceable while serving.
pub type SharedSigner = Arc<RwLock<Option<Arc<super::keys::Ed25519KeyPair>>>>;

/// Signs every Thing Description `router` answers with (`Content-Type: application/td+json`,
/// status 2xx) with an `eddsa-jcs-2022` proof by the key in `signer` (none: TDs pass unsigned),
/// as the TD is served (its hrefs carry the address it is served at). A TD that cannot be
/// signed is answered with 500, never unsigned.
pub fn sign_thing_descriptions(router: axum::Router, signer: SharedSigner) -> axum::Router {
    router.layer(axum::middleware::map_response(
        move |response: axum::response::Response| {
            let signer = signer.clone();
            async move { sign_if_description(response, &signer).await }
        },
    ))
}

/// Signs a response already known to carry a TD (a 2xx one; others pass as they are).
async fn sign_response(
    response: axum::response::Response,
    key: &super::keys::Ed25519KeyPair,
) -> axum::response::Response {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let signed = match axum::body::to_bytes(body, MAX_SIGNED_TD_BYTES).await {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|td| {
                super::data_integrity::sign_document(
                    &td,
                    key,
                    &super::data_integrity::ProofOptions::default(),
                )
                .ok()
            }),
        Err(_) => None,
    };
    match signed {
        Some(td) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            axum::response::Response::from_parts(parts, axum::body::Body::from(td.to_string()))
        }
        None => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
