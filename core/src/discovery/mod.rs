//! Discovery: the Thing Description Directory (W3C WoT Discovery) with its stores
//! ([`DirectoryStore`], [`SqliteStore`], [`PostgresStore`]), the HTTP routes that serve it
//! ([`Directory`]), the client that registers and searches ([`DirectoryClient`]) and the
//! registration that keeps an exposed thing's entry alive ([`DirectoryRegistration`]), and
//! DNS-SD/mDNS advertising and browsing ([`Mdns`]), and DID-based introduction ([`discover_did`]).
//!
//! The routes, search and event semantics are documented in `docs/discovery.md`.

pub mod client;
pub mod did;
pub mod index;
pub mod jsonpath;
pub mod mdns;
pub mod postgres;
pub mod registration;
pub mod server;
pub mod sqlite;
pub mod store;

pub use client::{DirectoryClient, DirectoryEvent, WatchOptions};
pub use did::{
    discover_did, introduce, DidDiscoveryError, DidIntroduction, DiscoveredThing,
    IntroducedDirectory, WOT_DIRECTORY_SERVICE,
};
pub use mdns::{FoundService, Mdns, MdnsOptions, ServiceKind};
pub use postgres::PostgresStore;
pub use registration::DirectoryRegistration;
pub use server::{Directory, DirectorySettings, RunningDirectory};
pub use sqlite::SqliteStore;
pub use store::{
    open_store, ChangeEvent, ChangeKind, DirectoryStore, Entry, PutOutcome, RegistrationInfo,
    SearchQuery, StoredThing,
};

/// The `@type` a directory gives its own Thing Description.
pub const THING_DIRECTORY: &str = "ThingDirectory";
/// The WoT Discovery JSON-LD context.
pub const DISCOVERY_CONTEXT: &str = "https://www.w3.org/2022/wot/discovery";

/// What can go wrong in a directory: its store, a request, a response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// No (unexpired) Thing Description has this id.
    #[error("no Thing Description with id {id:?}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The submitted document is not a valid Thing Description; nothing was stored.
    #[error("invalid Thing Description: {0}")]
    Invalid(String),
    /// A request was malformed (a bad query argument, id mismatch, ...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The storage backend failed.
    #[error("directory store error: {0}")]
    Store(String),
    /// The directory could not be reached or answered garbage.
    #[error("directory transport error: {0}")]
    Transport(String),
    /// The directory answered with an error status.
    #[error("directory answered {status}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The problem document's detail (or title), or the body.
        detail: String,
    },
    /// The directory or client configuration is unusable.
    #[error("invalid directory configuration: {0}")]
    Config(String),
}

impl DirectoryError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            DirectoryError::NotFound { .. } => "directory_not_found",
            DirectoryError::Invalid(_) => "directory_invalid_td",
            DirectoryError::BadRequest(_) => "directory_bad_request",
            DirectoryError::Store(_) => "directory_store",
            DirectoryError::Transport(_) => "directory_transport",
            DirectoryError::Status { .. } => "directory_status",
            DirectoryError::Config(_) => "directory_config",
        }
    }
}

/// What can go wrong when discovering or registering things (directory, mDNS, registration).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// A directory operation failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The exposed thing cannot be registered yet (e.g. its servient has not started, so its
    /// forms have no absolute URLs).
    #[error("cannot register: {0}")]
    NotRegistrable(String),
    /// Multicast DNS advertising or browsing failed.
    #[error("mDNS: {0}")]
    Mdns(String),
}

impl DiscoveryError {
    /// A stable machine-readable code for this kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            DiscoveryError::Directory(e) => e.code(),
            DiscoveryError::NotRegistrable(_) => "discovery_not_registrable",
            DiscoveryError::Mdns(_) => "discovery_mdns",
        }
    }
}
