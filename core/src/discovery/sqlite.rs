//! The embedded store: one SQLite file (WAL journal, `synchronous=FULL`, so an acknowledged write
//! survives `kill -9` and power loss), FTS5 for ranked full-text search. Blocking calls run on
//! tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::broadcast;

use super::index::{merge_diff, query_words, IndexFields};
use super::store::{
    ChangeEvent, ChangeKind, DirectoryStore, Entry, PutOutcome, RegistrationInfo, SearchQuery,
    StoreFuture, StoredThing,
};
use super::DirectoryError;
use crate::binding::ws::messages::Timestamp;

/// How many change events a store keeps for `Last-Event-ID` replay.
pub const EVENT_HISTORY: u64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS things (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    td TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    expires INTEGER,
    ttl INTEGER,
    vendor TEXT
);
CREATE INDEX IF NOT EXISTS things_expires ON things(expires) WHERE expires IS NOT NULL;
CREATE INDEX IF NOT EXISTS things_vendor ON things(vendor) WHERE vendor IS NOT NULL;
CREATE TABLE IF NOT EXISTS thing_types (
    type TEXT NOT NULL,
    thing INTEGER NOT NULL,
    PRIMARY KEY (type, thing)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thing_types_thing ON thing_types(thing);
CREATE VIRTUAL TABLE IF NOT EXISTS things_fts USING fts5(
    title, description, affordances, tokenize = 'porter unicode61'
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    thing_id TEXT NOT NULL,
    data TEXT,
    at INTEGER NOT NULL
);
";

fn store_error(error: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Store(error.to_string())
}

struct Inner {
    path: PathBuf,
    connection: Mutex<Connection>,
    events: broadcast::Sender<ChangeEvent>,
}

/// A [`DirectoryStore`] in one SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn millis(value: Option<i64>) -> Option<Timestamp> {
    value.map(|m| Timestamp {
        millis: u64::try_from(m).unwrap_or(0),
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

type Row = (String, String, i64, i64, Option<i64>, Option<i64>);

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn to_stored(row: Row) -> Result<StoredThing, DirectoryError> {
    let (id, td, created, modified, expires, ttl) = row;
    let td: Value = serde_json::from_str(&td).map_err(store_error)?;
    Ok(StoredThing {
        id,
        td,
        registration: RegistrationInfo {
            created: millis(Some(created)).unwrap_or(Timestamp { millis: 0 }),
            modified: millis(Some(modified)).unwrap_or(Timestamp { millis: 0 }),
            expires: millis(expires),
            ttl: ttl.and_then(|t| u64::try_from(t).ok()),
        },
    })
}

const COLUMNS: &str = "t.id, t.td, t.created, t.modified, t.expires, t.ttl";

fn record_event(
    tx: &rusqlite::Transaction<'_>,
    kind: ChangeKind,
    thing_id: &str,
    data: Option<&Value>,
    now: Timestamp,
) -> Result<ChangeEvent, DirectoryError> {
    tx.execute(
        "INSERT INTO events (kind, thing_id, data, at) VALUES (?1, ?2, ?3, ?4)",
        params![
            kind.as_str(),
            thing_id,
            data.map(Value::to_string),
            to_i64(now.millis)
        ],
    )
    .map_err(store_error)?;
    Ok(ChangeEvent {
        id: u64::try_from(tx.last_insert_rowid()).unwrap_or(0),
        kind,
        thing_id: thing_id.to_owned(),
        data: data.cloned(),
    })
}

fn remove_row(tx: &rusqlite::Transaction<'_>, rowid: i64) -> Result<(), DirectoryError> {
    tx.execute("DELETE FROM things WHERE rowid = ?1", [rowid])
        .map_err(store_error)?;
    tx.execute("DELETE FROM thing_types WHERE thing = ?1", [rowid])
        .map_err(store_error)?;
    tx.execute("DELETE FROM things_fts WHERE rowid = ?1", [rowid])
        .map_err(store_error)?;
    Ok(())
}

fn index_row(
    tx: &rusqlite::Transaction<'_>,
    rowid: i64,
    fields: &IndexFields,
) -> Result<(), DirectoryError> {
    tx.execute("DELETE FROM thing_types WHERE thing = ?1", [rowid])
        .map_err(store_error)?;
    tx.execute("DELETE FROM things_fts WHERE rowid = ?1", [rowid])
        .map_err(store_error)?;
    for ty in &fields.types {
        tx.execute(
            "INSERT OR IGNORE INTO thing_types (type, thing) VALUES (?1, ?2)",
            params![ty, rowid],
        )
        .map_err(store_error)?;
    }
    tx.execute(
        "INSERT INTO things_fts (rowid, title, description, affordances) VALUES (?1, ?2, ?3, ?4)",
        params![rowid, fields.title, fields.description, fields.affordances],
    )
    .map_err(store_error)?;
    Ok(())
}

fn put_blocking(
    connection: &mut Connection,
    entry: &Entry,
) -> Result<(PutOutcome, ChangeEvent), DirectoryError> {
    let now = to_i64(entry.now.millis);
    let text = entry.td.to_string();
    let fields = IndexFields::of(&entry.td);
    let tx = connection.transaction().map_err(store_error)?;
    let existing: Option<(i64, String, Option<i64>)> = tx
        .query_row(
            "SELECT rowid, td, expires FROM things WHERE id = ?1",
            [&entry.id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(store_error)?;
    let expires = entry.expires().map(|t| to_i64(t.millis));
    let ttl = entry.ttl.map(to_i64);
    let (outcome, event) = match existing {
        Some((rowid, old, old_expires)) if old_expires.is_none_or(|e| e > now) => {
            tx.execute(
                "UPDATE things SET td = ?1, modified = ?2, expires = ?3, ttl = ?4, vendor = ?5
                 WHERE rowid = ?6",
                params![text, now, expires, ttl, fields.vendor, rowid],
            )
            .map_err(store_error)?;
            index_row(&tx, rowid, &fields)?;
            let old: Value = serde_json::from_str(&old).map_err(store_error)?;
            let diff = merge_diff(&old, &entry.td);
            let event = record_event(&tx, ChangeKind::Updated, &entry.id, Some(&diff), entry.now)?;
            (PutOutcome::Replaced, event)
        }
        existing => {
            if let Some((rowid, ..)) = existing {
                // An expired entry that was not purged yet: a new registration replaces it.
                remove_row(&tx, rowid)?;
            }
            tx.execute(
                "INSERT INTO things (id, td, created, modified, expires, ttl, vendor)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                params![entry.id, text, now, expires, ttl, fields.vendor],
            )
            .map_err(store_error)?;
            let rowid = tx.last_insert_rowid();
            index_row(&tx, rowid, &fields)?;
            let event = record_event(
                &tx,
                ChangeKind::Created,
                &entry.id,
                Some(&entry.td),
                entry.now,
            )?;
            (PutOutcome::Created, event)
        }
    };
    tx.commit().map_err(store_error)?;
    Ok((outcome, event))
}

fn search_blocking(
    connection: &Connection,
    query: &SearchQuery,
    now: i64,
) -> Result<Vec<StoredThing>, DirectoryError> {
    let mut sql = String::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let words = query.text.as_deref().map(query_words).unwrap_or_default();
    let ranked = query.text.is_some();
    if ranked {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let expression = words
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" OR ");
        if query.types.is_empty() && query.vendor.is_none() {
            // Text alone: rank inside FTS5 and join only the best few rows. Expired rows not yet
            // purged can make this page short; then the full query below answers.
            let window = query.offset.saturating_add(query.limit).saturating_add(64);
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM (SELECT rowid AS r, rank AS score FROM things_fts
                     WHERE things_fts MATCH ?1 ORDER BY rank LIMIT ?2) m
                     JOIN things t ON t.rowid = m.r WHERE (t.expires IS NULL OR t.expires > ?3)
                     ORDER BY m.score, t.id LIMIT ?4 OFFSET ?5"
                ))
                .map_err(store_error)?;
            let rows = statement
                .query_map(
                    params![
                        expression,
                        to_i64(window),
                        now,
                        to_i64(query.limit),
                        to_i64(query.offset)
                    ],
                    read_row,
                )
                .map_err(store_error)?;
            let found = rows
                .map(|row| to_stored(row.map_err(store_error)?))
                .collect::<Result<Vec<_>, _>>()?;
            if found.len() as u64 >= query.limit {
                return Ok(found);
            }
        }
        sql.push_str(&format!(
            "SELECT {COLUMNS} FROM things_fts JOIN things t ON t.rowid = things_fts.rowid
             WHERE things_fts MATCH ?"
        ));
        args.push(expression.into());
    } else {
        sql.push_str(&format!("SELECT {COLUMNS} FROM things t WHERE 1"));
    }
    sql.push_str(" AND (t.expires IS NULL OR t.expires > ?)");
    args.push(now.into());
    for ty in &query.types {
        // Correlated, so that a page ordered by id stops early (a primary-key probe per row).
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM thing_types y WHERE y.type = ? AND y.thing = t.rowid)",
        );
        args.push(ty.clone().into());
    }
    if let Some(vendor) = &query.vendor {
        sql.push_str(" AND t.vendor = ?");
        args.push(vendor.to_lowercase().into());
    }
    if ranked {
        sql.push_str(" ORDER BY bm25(things_fts, 10.0, 4.0, 1.0), t.id");
    } else {
        sql.push_str(" ORDER BY t.id");
    }
    sql.push_str(" LIMIT ? OFFSET ?");
    args.push(to_i64(query.limit).into());
    args.push(to_i64(query.offset).into());
    let mut statement = connection.prepare_cached(&sql).map_err(store_error)?;
    let rows = statement
        .query_map(rusqlite::params_from_iter(args), read_row)
        .map_err(store_error)?;
    rows.map(|row| to_stored(row.map_err(store_error)?))
        .collect()
}

fn read_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, Option<String>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_event(row: (i64, String, String, Option<String>)) -> Result<ChangeEvent, DirectoryError> {
    let (id, kind, thing_id, data) = row;
    let kind = ChangeKind::parse(&kind)
        .ok_or_else(|| DirectoryError::Store(format!("unknown event kind {kind:?}")))?;
    let data = match data {
        Some(text) => Some(serde_json::from_str(&text).map_err(store_error)?),
        None => None,
    };
    Ok(ChangeEvent {
        id: u64::try_from(id).unwrap_or(0),
        kind,
        thing_id,
        data,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`; parent directories are created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, DirectoryError> {
        let path = path.as_ref().to_path_buf();
        let opened = path.clone();
        let connection = tokio::task::spawn_blocking(move || -> Result<_, DirectoryError> {
            if let Some(parent) = opened.parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        DirectoryError::Store(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
            }
            let connection = Connection::open(&opened).map_err(|e| {
                DirectoryError::Store(format!("cannot open {}: {e}", opened.display()))
            })?;
            connection
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(store_error)?;
            connection
                .pragma_update(None, "synchronous", "FULL")
                .map_err(store_error)?;
            connection
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(store_error)?;
            connection.execute_batch(SCHEMA).map_err(store_error)?;
            // Rank by bm25 with title 10, description 4, affordances 1 (also for `rank`).
            connection
                .execute(
                    "INSERT INTO things_fts (things_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)')",
                    [],
                )
                .map_err(store_error)?;
            Ok(connection)
        })
        .await
        .map_err(store_error)??;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                connection: Mutex::new(connection),
                events: broadcast::channel(1024).0,
            }),
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn run<T, F>(&self, work: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, DirectoryError> + Send + 'static,
    {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection = inner
                    .connection
                    .lock()
                    .map_err(|_| DirectoryError::Store("the connection lock is poisoned".into()))?;
                work(&mut connection)
            })
            .await
            .map_err(store_error)?
        })
    }

    fn announce(&self, event: &ChangeEvent) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event.clone());
    }
}

impl DirectoryStore for SqliteStore {
    fn put(&self, entry: Entry) -> StoreFuture<'_, (PutOutcome, ChangeEvent)> {
        Box::pin(async move {
            let result = self
                .run(move |connection| put_blocking(connection, &entry))
                .await?;
            self.announce(&result.1);
            Ok(result)
        })
    }

    fn get(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<StoredThing>> {
        let id = id.to_owned();
        self.run(move |connection| {
            let row = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM things t WHERE t.id = ?1
                     AND (t.expires IS NULL OR t.expires > ?2)"
                ))
                .map_err(store_error)?
                .query_row(params![id, to_i64(now.millis)], read_row)
                .optional()
                .map_err(store_error)?;
            row.map(to_stored).transpose()
        })
    }

    fn delete(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<ChangeEvent>> {
        let id = id.to_owned();
        Box::pin(async move {
            let event = self
                .run(move |connection| {
                    let tx = connection.transaction().map_err(store_error)?;
                    let rowid: Option<i64> = tx
                        .query_row(
                            "SELECT rowid FROM things WHERE id = ?1
                             AND (expires IS NULL OR expires > ?2)",
                            params![id, to_i64(now.millis)],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(store_error)?;
                    let Some(rowid) = rowid else {
                        return Ok(None);
                    };
                    remove_row(&tx, rowid)?;
                    let event = record_event(&tx, ChangeKind::Deleted, &id, None, now)?;
                    tx.commit().map_err(store_error)?;
                    Ok(Some(event))
                })
                .await?;
            if let Some(event) = &event {
                self.announce(event);
            }
            Ok(event)
        })
    }

    fn list(
        &self,
        offset: u64,
        limit: u64,
        now: Timestamp,
    ) -> StoreFuture<'_, (Vec<StoredThing>, u64)> {
        self.run(move |connection| {
            let now = to_i64(now.millis);
            let total: i64 = connection
                .prepare_cached("SELECT count(*) FROM things WHERE expires IS NULL OR expires > ?1")
                .map_err(store_error)?
                .query_row([now], |row| row.get(0))
                .map_err(store_error)?;
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM things t WHERE t.expires IS NULL OR t.expires > ?1
                     ORDER BY t.id LIMIT ?2 OFFSET ?3"
                ))
                .map_err(store_error)?;
            let rows = statement
                .query_map(params![now, to_i64(limit), to_i64(offset)], read_row)
                .map_err(store_error)?;
            let things = rows
                .map(|row| to_stored(row.map_err(store_error)?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((things, u64::try_from(total).unwrap_or(0)))
        })
    }

    fn search(&self, query: SearchQuery, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>> {
        self.run(move |connection| search_blocking(connection, &query, to_i64(now.millis)))
    }

    fn all(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>> {
        self.run(move |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM things t WHERE t.expires IS NULL OR t.expires > ?1
                     ORDER BY t.id"
                ))
                .map_err(store_error)?;
            let rows = statement
                .query_map([to_i64(now.millis)], read_row)
                .map_err(store_error)?;
            rows.map(|row| to_stored(row.map_err(store_error)?))
                .collect()
        })
    }

    fn all_containing(
        &self,
        needles: Vec<String>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<StoredThing>> {
        self.run(move |connection| {
            let mut statement = connection
                // In table order (a sequential scan, not one index probe per row); the few
                // candidates are sorted by id below, as `all` orders them (BINARY collation:
                // byte order, which is `str` order).
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM things t WHERE t.expires IS NULL OR t.expires > ?1"
                ))
                .map_err(store_error)?;
            let mut rows = statement.query([to_i64(now.millis)]).map_err(store_error)?;
            let finders: Vec<memchr::memmem::Finder<'_>> = needles
                .iter()
                .map(|needle| memchr::memmem::Finder::new(needle.as_bytes()))
                .collect();
            let mut found = Vec::new();
            // The TD text is looked at in place; only the rows that contain every needle are
            // copied and parsed.
            while let Some(row) = rows.next().map_err(store_error)? {
                let text = match row.get_ref(1).map_err(store_error)? {
                    rusqlite::types::ValueRef::Text(text)
                    | rusqlite::types::ValueRef::Blob(text) => text,
                    _ => continue,
                };
                if finders.iter().all(|finder| finder.find(text).is_some()) {
                    found.push(to_stored(read_row(row).map_err(store_error)?)?);
                }
            }
            found.sort_by(|a: &StoredThing, b: &StoredThing| a.id.cmp(&b.id));
            Ok(found)
        })
    }

    fn purge_expired(&self, now: Timestamp) -> StoreFuture<'_, Vec<ChangeEvent>> {
        Box::pin(async move {
            let events = self
                .run(move |connection| {
                    let tx = connection.transaction().map_err(store_error)?;
                    let expired: Vec<(i64, String)> = {
                        let mut statement = tx
                            .prepare_cached(
                                "SELECT rowid, id FROM things WHERE expires IS NOT NULL
                                 AND expires <= ?1",
                            )
                            .map_err(store_error)?;
                        let rows = statement
                            .query_map([to_i64(now.millis)], |row| Ok((row.get(0)?, row.get(1)?)))
                            .map_err(store_error)?;
                        rows.collect::<Result<_, _>>().map_err(store_error)?
                    };
                    let mut events = Vec::with_capacity(expired.len());
                    for (rowid, id) in expired {
                        remove_row(&tx, rowid)?;
                        events.push(record_event(&tx, ChangeKind::Deleted, &id, None, now)?);
                    }
                    tx.execute(
                        "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1",
                        [to_i64(EVENT_HISTORY)],
                    )
                    .map_err(store_error)?;
                    tx.commit().map_err(store_error)?;
                    Ok(events)
                })
                .await?;
            for event in &events {
                self.announce(event);
            }
            Ok(events)
        })
    }

    fn events_after(&self, after: u64, limit: u64) -> StoreFuture<'_, Vec<ChangeEvent>> {
        self.run(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT id, kind, thing_id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(store_error)?;
            let rows = statement
                .query_map(params![to_i64(after), to_i64(limit)], read_event)
                .map_err(store_error)?;
            rows.map(|row| to_event(row.map_err(store_error)?))
                .collect()
        })
    }

    fn latest_event_id(&self) -> StoreFuture<'_, u64> {
        self.run(|connection| {
            let id: i64 = connection
                .prepare_cached("SELECT coalesce(max(id), 0) FROM events")
                .map_err(store_error)?
                .query_row([], |row| row.get(0))
                .map_err(store_error)?;
            Ok(u64::try_from(id).unwrap_or(0))
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.events.subscribe()
    }
}
