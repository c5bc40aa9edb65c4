//! The storage behind a directory: the [`DirectoryStore`] trait and the values it trades in.

use std::future::Future;
use std::pin::Pin;

use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::DirectoryError;
use crate::binding::ws::messages::Timestamp;

/// A boxed, sendable future returned by [`DirectoryStore`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DirectoryError>> + Send + 'a>>;

/// The `registration` information a directory keeps for each entry (WoT Discovery §7.3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// When the entry was first stored.
    pub created: Timestamp,
    /// When the entry was last written.
    pub modified: Timestamp,
    /// When the entry expires (`None`: never).
    pub expires: Option<Timestamp>,
    /// The time-to-live the registrant asked for, in seconds.
    pub ttl: Option<u64>,
}

impl RegistrationInfo {
    /// Whether the entry has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }
}

/// One directory entry: the TD as registered (without `registration`) and its registration data.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredThing {
    /// The TD's `id`.
    pub id: String,
    /// The TD as registered, `registration` removed.
    pub td: Value,
    /// Registration data.
    pub registration: RegistrationInfo,
}

impl StoredThing {
    /// The TD as a directory serves it: with the `registration` member (`created`, `modified`,
    /// `expires`, `ttl`, `retrieved`).
    pub fn enriched(&self, now: Timestamp) -> Value {
        let mut td = self.td.clone();
        if let Some(map) = td.as_object_mut() {
            let mut registration = json!({
                "created": self.registration.created.to_rfc3339(),
                "modified": self.registration.modified.to_rfc3339(),
                "retrieved": now.to_rfc3339(),
            });
            if let Some(object) = registration.as_object_mut() {
                if let Some(expires) = self.registration.expires {
                    object.insert("expires".into(), Value::String(expires.to_rfc3339()));
                }
                if let Some(ttl) = self.registration.ttl {
                    object.insert("ttl".into(), Value::from(ttl));
                }
            }
            map.insert("registration".into(), registration);
        }
        td
    }
}

/// A write to store: the TD (with `id` set, `registration` removed) and its lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The TD's `id`.
    pub id: String,
    /// The TD.
    pub td: Value,
    /// Time-to-live in seconds (`None`: the entry does not expire).
    pub ttl: Option<u64>,
    /// The time of the write.
    pub now: Timestamp,
}

impl Entry {
    /// When the entry expires.
    pub fn expires(&self) -> Option<Timestamp> {
        self.ttl.map(|ttl| Timestamp {
            millis: self.now.millis.saturating_add(ttl.saturating_mul(1000)),
        })
    }
}

/// Whether a `put` created an entry or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// There was no (unexpired) entry with this id.
    Created,
    /// An entry was replaced.
    Replaced,
}

/// The kind of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A TD was registered.
    Created,
    /// A TD was replaced or patched.
    Updated,
    /// A TD was deleted or expired.
    Deleted,
}

impl ChangeKind {
    /// The SSE event name: `thing_created`, `thing_updated`, `thing_deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "thing_created",
            ChangeKind::Updated => "thing_updated",
            ChangeKind::Deleted => "thing_deleted",
        }
    }

    /// The kind named by an SSE event name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "thing_created" => Some(ChangeKind::Created),
            "thing_updated" => Some(ChangeKind::Updated),
            "thing_deleted" => Some(ChangeKind::Deleted),
            _ => None,
        }
    }
}

/// A change to the directory, persisted so that subscribers can resume after `Last-Event-ID`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    /// Sequence number (increasing, never reused within a store).
    pub id: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// The TD's id.
    pub thing_id: String,
    /// For `Created`: the TD; for `Updated`: the JSON merge patch from the old TD to the new one;
    /// for `Deleted`: `None`.
    pub data: Option<Value>,
}

impl ChangeEvent {
    /// The SSE `data` of this event: `{"id": ...}`, or with `diff` the full TD (created) or the
    /// merge patch with `id` (updated).
    pub fn payload(&self, diff: bool) -> Value {
        match (&self.data, diff) {
            (Some(data), true) => {
                let mut data = data.clone();
                if let Some(map) = data.as_object_mut() {
                    map.insert("id".into(), Value::String(self.thing_id.clone()));
                }
                data
            }
            _ => json!({ "id": self.thing_id }),
        }
    }
}

/// Search criteria; every given criterion must match. With `text`, results are ranked best
/// first; otherwise they are ordered by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Every one of these `@type` values must be present (e.g. `lmos:Agent`).
    pub types: Vec<String>,
    /// The `lmos:metadata` / `lmos:vendor` / `lmos:name`, compared without regard to case.
    pub vendor: Option<String>,
    /// Free text matched against titles, descriptions and affordance names, titles and
    /// descriptions.
    pub text: Option<String>,
    /// Results to skip.
    pub offset: u64,
    /// Most results to return.
    pub limit: u64,
}

/// The storage behind a [`Directory`](super::Directory). Every method sees only unexpired
/// entries at the `now` it is given; every write is durable when its future completes and
/// records a [`ChangeEvent`] in the same transaction.
pub trait DirectoryStore: Send + Sync + 'static {
    /// Creates or replaces the entry `entry.id`.
    fn put(&self, entry: Entry) -> StoreFuture<'_, (PutOutcome, ChangeEvent)>;

    /// The entry `id`, if present and unexpired.
    fn get(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<StoredThing>>;

    /// Deletes the entry `id`; `None` when there was none.
    fn delete(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<ChangeEvent>>;

    /// A page of entries ordered by id, and the total number of entries.
    fn list(
        &self,
        offset: u64,
        limit: u64,
        now: Timestamp,
    ) -> StoreFuture<'_, (Vec<StoredThing>, u64)>;

    /// Entries matching `query`.
    fn search(&self, query: SearchQuery, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>>;

    /// Every entry (for queries evaluated outside the store, such as JSONPath).
    fn all(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>>;

    /// The entries whose TD, as `serde_json` text (`registration` removed), contains every one
    /// of `needles`, in id order: a prefilter for queries evaluated outside the store (see
    /// [`jsonpath::required_strings`](super::jsonpath::required_strings)). A store overrides it
    /// to skip the other TDs without parsing them; this default reads them all.
    fn all_containing(
        &self,
        needles: Vec<String>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<StoredThing>> {
        Box::pin(async move {
            let mut all = self.all(now).await?;
            all.retain(|thing| {
                let text = thing.td.to_string();
                needles.iter().all(|needle| text.contains(needle.as_str()))
            });
            Ok(all)
        })
    }

    /// Removes the entries expired at `now`, recording a `Deleted` event for each, and drops
    /// events beyond the retained history.
    fn purge_expired(&self, now: Timestamp) -> StoreFuture<'_, Vec<ChangeEvent>>;

    /// Recorded events with an id greater than `after`, oldest first, at most `limit`.
    fn events_after(&self, after: u64, limit: u64) -> StoreFuture<'_, Vec<ChangeEvent>>;

    /// The id of the latest recorded event (0 when there is none): changes whenever the store
    /// does, whichever instance wrote.
    fn latest_event_id(&self) -> StoreFuture<'_, u64>;

    /// Events as they are recorded, by this process or (for shared stores) any other instance.
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent>;
}

/// Opens the store a connection string names, as `lmos directory serve --db` and the language
/// bindings take it: `postgres://…` or `postgresql://…` for [`PostgresStore`](super::PostgresStore),
/// else `sqlite:PATH`, `sqlite://PATH` or a plain file path for
/// [`SqliteStore`](super::SqliteStore) (created when missing).
pub async fn open_store(spec: &str) -> Result<std::sync::Arc<dyn DirectoryStore>, DirectoryError> {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(
            super::PostgresStore::connect(spec).await?,
        ));
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    if path.is_empty() {
        return Err(DirectoryError::Config(
            "a directory store needs a file path (sqlite:PATH) or a postgres:// URL".into(),
        ));
    }
    Ok(std::sync::Arc::new(super::SqliteStore::open(path).await?))
}

#[cfg(test)]
mod open_store_tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_string_picks_the_store() {
        let dir = std::env::temp_dir().join(format!("lmos-open-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for spec in [
            format!("sqlite:{}", dir.join("a.db").display()),
            format!("sqlite://{}", dir.join("b.db").display()),
            dir.join("c.db").display().to_string(),
        ] {
            let store = open_store(&spec).await.unwrap();
            assert!(
                store
                    .get("urn:x", Timestamp::now())
                    .await
                    .unwrap()
                    .is_none(),
                "{spec}"
            );
        }
        assert!(dir.join("a.db").exists() && dir.join("b.db").exists());
        let empty = open_store("sqlite:").await.err().unwrap();
        assert_eq!(empty.code(), "directory_config");
        // A postgres URL goes to the PostgreSQL store: nothing listens on port 1.
        let refused = open_store("postgres://lmos@127.0.0.1:1/lmos")
            .await
            .err()
            .unwrap();
        assert_ne!(refused.code(), "directory_config", "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
