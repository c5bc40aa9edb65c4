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
        async move {
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
    };
    let mut router = axum::Router::new().route(WELL_KNOWN_DID, axum::routing::get(handler.clone()));
    if let Some(path) = did.and_then(|d| did_web::document_path(d).ok()) {
        if path != WELL_KNOWN_DID {
            router = router.route(&path, axum::routing::get(handler));
        }
    }
    router
}
