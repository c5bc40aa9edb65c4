//! The shared store: PostgreSQL, for several directory instances behind a load balancer. Writes
//! are serialized with a transaction-scoped advisory lock (so event ids increase in commit order)
//! and announced with `NOTIFY`; every instance `LISTEN`s and hands each event to its own SSE
//! subscribers. Full-text search uses a weighted `tsvector` (English stemming) with `ts_rank`.
//! The GIN indexes are built without a pending list (`fastupdate = off`): every write updates
//! them directly, so a search never scans entries autovacuum has not merged yet, and its
//! latency does not depend on when vacuum last ran.
//!
//! Connections are plain TCP (`NoTls`): run the database on loopback or a private network.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{broadcast, Mutex};
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Row};

use super::index::{merge_diff, query_words, IndexFields};
use super::sqlite::EVENT_HISTORY;
use super::store::{
    ChangeEvent, ChangeKind, DirectoryStore, Entry, PutOutcome, RegistrationInfo, SearchQuery,
    StoreFuture, StoredThing,
};
use super::DirectoryError;
use crate::binding::ws::messages::Timestamp;

/// The `NOTIFY` channel of directory change events.
pub const CHANNEL: &str = "lmos_directory_events";
/// The advisory lock key that serializes writes (and schema creation).
const WRITE_LOCK: i64 = 0x006c_6d6f_7364_6972; // "lmosdir"

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS lmos_things (
    id TEXT PRIMARY KEY,
    td TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    expires BIGINT,
    ttl BIGINT,
    vendor TEXT,
    types TEXT[] NOT NULL DEFAULT '{}',
    search TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS lmos_things_types ON lmos_things USING GIN (types)
    WITH (fastupdate = off);
CREATE INDEX IF NOT EXISTS lmos_things_search ON lmos_things USING GIN (search)
    WITH (fastupdate = off);
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'lmos_things_search'
               AND NOT coalesce(reloptions, '{}') @> '{fastupdate=off}') THEN
        ALTER INDEX lmos_things_types SET (fastupdate = off);
        ALTER INDEX lmos_things_search SET (fastupdate = off);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS lmos_things_vendor ON lmos_things (vendor);
CREATE INDEX IF NOT EXISTS lmos_things_expires ON lmos_things (expires);
CREATE TABLE IF NOT EXISTS lmos_events (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    thing_id TEXT NOT NULL,
    data TEXT,
    at BIGINT NOT NULL
);
";

const SEARCH_VECTOR: &str = "setweight(to_tsvector('english', $7), 'A') || \
     setweight(to_tsvector('english', $8), 'B') || setweight(to_tsvector('english', $9), 'C')";

fn store_error(error: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Store(error.to_string())
}

fn db_error(error: tokio_postgres::Error) -> DirectoryError {
    // The database error's own message (not the connection string).
    match error.as_db_error() {
        Some(db) => DirectoryError::Store(format!("PostgreSQL: {}", db.message())),
        None => DirectoryError::Store(format!("PostgreSQL: {error}")),
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn stamp(millis: i64) -> Timestamp {
    Timestamp {
        millis: u64::try_from(millis).unwrap_or(0),
    }
}

const COLUMNS: &str = "id, td, created, modified, expires, ttl";

fn to_stored(row: &Row) -> Result<StoredThing, DirectoryError> {
    let td: String = row.try_get(1).map_err(db_error)?;
    let expires: Option<i64> = row.try_get(4).map_err(db_error)?;
    let ttl: Option<i64> = row.try_get(5).map_err(db_error)?;
    Ok(StoredThing {
        id: row.try_get(0).map_err(db_error)?,
        td: serde_json::from_str(&td).map_err(store_error)?,
        registration: RegistrationInfo {
            created: stamp(row.try_get(2).map_err(db_error)?),
            modified: stamp(row.try_get(3).map_err(db_error)?),
            expires: expires.map(stamp),
            ttl: ttl.and_then(|t| u64::try_from(t).ok()),
        },
    })
}

fn to_event(row: &Row) -> Result<ChangeEvent, DirectoryError> {
    let id: i64 = row.try_get(0).map_err(db_error)?;
    let kind: String = row.try_get(1).map_err(db_error)?;
    let data: Option<String> = row.try_get(3).map_err(db_error)?;
    Ok(ChangeEvent {
        id: u64::try_from(id).unwrap_or(0),
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| DirectoryError::Store(format!("unknown event kind {kind:?}")))?,
        thing_id: row.try_get(2).map_err(db_error)?,
        data: data
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(store_error)?,
    })
}

struct Inner {
    client: Mutex<Client>,
    events: broadcast::Sender<ChangeEvent>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// A [`DirectoryStore`] in a PostgreSQL database, shared by any number of directory instances.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

async fn open_client(config: &Config) -> Result<Client, DirectoryError> {
    let (client, connection) = config.connect(NoTls).await.map_err(db_error)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("lmos directory: PostgreSQL connection closed: {error}");
        }
    });
    Ok(client)
}

async fn events_after(
    client: &Client,
    after: u64,
    limit: u64,
) -> Result<Vec<ChangeEvent>, DirectoryError> {
    let rows = client
        .query(
            "SELECT id, kind, thing_id, data FROM lmos_events WHERE id > $1 ORDER BY id LIMIT $2",
            &[&to_i64(after), &to_i64(limit)],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(to_event).collect()
}

/// Listens for `NOTIFY` and broadcasts each new event once, in id order; reconnects (and
/// catches up from the table) when the connection drops.
async fn listen(config: Config, events: broadcast::Sender<ChangeEvent>, mut last: u64) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel::<()>();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                if wake.send(()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => return,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {CHANNEL}"))
                    .await
                    .is_ok()
                {
                    // Catch up on what happened before LISTEN took effect, then on every wake-up.
                    loop {
                        match events_after(&client, last, EVENT_HISTORY).await {
                            Ok(new) => {
                                for event in new {
                                    last = last.max(event.id);
                                    let _ = events.send(event);
                                }
                            }
                            Err(_) => break,
                        }
                        if woken.recv().await.is_none() {
                            break;
                        }
                        while woken.try_recv().is_ok() {}
                    }
                }
                driver.abort();
            }
            Err(error) => {
                eprintln!("lmos directory: PostgreSQL LISTEN connection failed: {error}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`), creates the tables if
    /// needed and starts listening for other instances' changes.
    pub async fn connect(url: &str) -> Result<Self, DirectoryError> {
        let config: Config = url
            .parse()
            .map_err(|_| DirectoryError::Config("the PostgreSQL URL is not valid".into()))?;
        let mut client = open_client(&config).await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .await
            .map_err(db_error)?;
        tx.batch_execute(SCHEMA).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        let last: i64 = client
            .query_one("SELECT coalesce(max(id), 0) FROM lmos_events", &[])
            .await
            .map_err(db_error)?
            .try_get(0)
            .map_err(db_error)?;
        let events = broadcast::channel(1024).0;
        let listener = tokio::spawn(listen(
            config,
            events.clone(),
            u64::try_from(last).unwrap_or(0),
        ));
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                client: Mutex::new(client),
                events,
                listener,
            }),
        })
    }

    /// Deletes every entry and event (for tests and benchmarks that share a database).
    pub async fn clear(&self) -> Result<(), DirectoryError> {
        self.inner
            .client
            .lock()
            .await
            .batch_execute("TRUNCATE lmos_things; DELETE FROM lmos_events;")
            .await
            .map_err(db_error)
    }
}

async fn record_event(
    tx: &tokio_postgres::Transaction<'_>,
    kind: ChangeKind,
    thing_id: &str,
    data: Option<&Value>,
    now: Timestamp,
) -> Result<ChangeEvent, DirectoryError> {
    let text = data.map(Value::to_string);
    let row = tx
        .query_one(
            "INSERT INTO lmos_events (kind, thing_id, data, at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&kind.as_str(), &thing_id, &text, &to_i64(now.millis)],
        )
        .await
        .map_err(db_error)?;
    let id: i64 = row.try_get(0).map_err(db_error)?;
    tx.execute(&format!("NOTIFY {CHANNEL}"), &[])
        .await
        .map_err(db_error)?;
    Ok(ChangeEvent {
        id: u64::try_from(id).unwrap_or(0),
        kind,
        thing_id: thing_id.to_owned(),
        data: data.cloned(),
    })
}

impl DirectoryStore for PostgresStore {
    fn put(&self, entry: Entry) -> StoreFuture<'_, (PutOutcome, ChangeEvent)> {
        Box::pin(async move {
            let now = to_i64(entry.now.millis);
            let fields = IndexFields::of(&entry.td);
            let text = entry.td.to_string();
            let expires = entry.expires().map(|t| to_i64(t.millis));
            let ttl = entry.ttl.map(to_i64);
            let mut client = self.inner.client.lock().await;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await
                .map_err(db_error)?;
            let existing = tx
                .query_opt(
                    "SELECT td FROM lmos_things WHERE id = $1 AND (expires IS NULL OR expires > $2)",
                    &[&entry.id, &now],
                )
                .await
                .map_err(db_error)?;
            let outcome = if let Some(row) = existing {
                let old: String = row.try_get(0).map_err(db_error)?;
                tx.execute(
                    &format!(
                        "UPDATE lmos_things SET td = $2, modified = $3, expires = $4, ttl = $5,
                         vendor = $6, search = {SEARCH_VECTOR}, types = $10 WHERE id = $1"
                    ),
                    &[
                        &entry.id,
                        &text,
                        &now,
                        &expires,
                        &ttl,
                        &fields.vendor,
                        &fields.title,
                        &fields.description,
                        &fields.affordances,
                        &fields.types,
                    ],
                )
                .await
                .map_err(db_error)?;
                let old: Value = serde_json::from_str(&old).map_err(store_error)?;
                let diff = merge_diff(&old, &entry.td);
                let event =
                    record_event(&tx, ChangeKind::Updated, &entry.id, Some(&diff), entry.now)
                        .await?;
                (PutOutcome::Replaced, event)
            } else {
                // An expired entry not purged yet is replaced by the new registration.
                tx.execute(
                    &format!(
                        "INSERT INTO lmos_things (id, td, created, modified, expires, ttl, vendor,
                         search, types) VALUES ($1, $2, $3, $3, $4, $5, $6, {SEARCH_VECTOR}, $10)
                         ON CONFLICT (id) DO UPDATE SET td = EXCLUDED.td,
                         created = EXCLUDED.created, modified = EXCLUDED.modified,
                         expires = EXCLUDED.expires, ttl = EXCLUDED.ttl, vendor = EXCLUDED.vendor,
                         search = EXCLUDED.search, types = EXCLUDED.types"
                    ),
                    &[
                        &entry.id,
                        &text,
                        &now,
                        &expires,
                        &ttl,
                        &fields.vendor,
                        &fields.title,
                        &fields.description,
                        &fields.affordances,
                        &fields.types,
                    ],
                )
                .await
                .map_err(db_error)?;
                let event = record_event(
                    &tx,
                    ChangeKind::Created,
                    &entry.id,
                    Some(&entry.td),
                    entry.now,
                )
                .await?;
                (PutOutcome::Created, event)
            };
            tx.commit().await.map_err(db_error)?;
            Ok(outcome)
        })
    }

    fn get(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<StoredThing>> {
        let id = id.to_owned();
        Box::pin(async move {
            let client = self.inner.client.lock().await;
            let row = client
                .query_opt(
                    &format!(
                        "SELECT {COLUMNS} FROM lmos_things WHERE id = $1
                         AND (expires IS NULL OR expires > $2)"
                    ),
                    &[&id, &to_i64(now.millis)],
                )
                .await
                .map_err(db_error)?;
            row.as_ref().map(to_stored).transpose()
        })
    }

    fn delete(&self, id: &str, now: Timestamp) -> StoreFuture<'_, Option<ChangeEvent>> {
        let id = id.to_owned();
        Box::pin(async move {
            let mut client = self.inner.client.lock().await;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await
                .map_err(db_error)?;
            let deleted = tx
                .execute(
                    "DELETE FROM lmos_things WHERE id = $1 AND (expires IS NULL OR expires > $2)",
                    &[&id, &to_i64(now.millis)],
                )
                .await
                .map_err(db_error)?;
            if deleted == 0 {
                return Ok(None);
            }
            let event = record_event(&tx, ChangeKind::Deleted, &id, None, now).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(Some(event))
        })
    }

    fn list(
        &self,
        offset: u64,
        limit: u64,
        now: Timestamp,
    ) -> StoreFuture<'_, (Vec<StoredThing>, u64)> {
        Box::pin(async move {
            let now = to_i64(now.millis);
            let client = self.inner.client.lock().await;
            let total: i64 = client
                .query_one(
                    "SELECT count(*) FROM lmos_things WHERE expires IS NULL OR expires > $1",
                    &[&now],
                )
                .await
                .map_err(db_error)?
                .try_get(0)
                .map_err(db_error)?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM lmos_things WHERE expires IS NULL OR expires > $1
                         ORDER BY id LIMIT $2 OFFSET $3"
                    ),
                    &[&now, &to_i64(limit), &to_i64(offset)],
                )
                .await
                .map_err(db_error)?;
            let things = rows.iter().map(to_stored).collect::<Result<Vec<_>, _>>()?;
            Ok((things, u64::try_from(total).unwrap_or(0)))
        })
    }

    fn search(&self, query: SearchQuery, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>> {
        Box::pin(async move {
            let now = to_i64(now.millis);
            let words = query.text.as_deref().map(query_words).unwrap_or_default();
            let ranked = query.text.is_some();
            if ranked && words.is_empty() {
                return Ok(Vec::new());
            }
            let expression = words.join(" | ");
            let vendor = query.vendor.as_deref().map(str::to_lowercase);
            let limit = to_i64(query.limit);
            let offset = to_i64(query.offset);
            // The matches are ranked and paged by id (and rank) alone; only the page's rows are
            // read in full afterwards, so no TD travels through the sort (with common words,
            // nearly every TD matches a text query).
            let mut args: Vec<&(dyn ToSql + Sync)> = vec![&now];
            let mut sql = if ranked {
                args.push(&expression);
                "WITH page AS (SELECT id, ts_rank(search, q) AS rank
                     FROM lmos_things, to_tsquery('english', $2) q
                     WHERE search @@ q AND (expires IS NULL OR expires > $1)"
                    .to_string()
            } else {
                "WITH page AS (SELECT id FROM lmos_things WHERE (expires IS NULL OR expires > $1)"
                    .to_string()
            };
            if !query.types.is_empty() {
                args.push(&query.types);
                sql.push_str(&format!(" AND types @> ${}", args.len()));
            }
            if let Some(vendor) = &vendor {
                args.push(vendor);
                sql.push_str(&format!(" AND vendor = ${}", args.len()));
            }
            let order = if ranked { "rank DESC, id" } else { "id" };
            sql.push_str(&format!(" ORDER BY {order}"));
            args.push(&limit);
            sql.push_str(&format!(" LIMIT ${}", args.len()));
            args.push(&offset);
            sql.push_str(&format!(" OFFSET ${})", args.len()));
            let order = if ranked { "page.rank DESC, id" } else { "id" };
            sql.push_str(&format!(
                " SELECT {COLUMNS} FROM page JOIN lmos_things USING (id) ORDER BY {order}"
            ));
            let client = self.inner.client.lock().await;
            let rows = client.query(&sql, &args).await.map_err(db_error)?;
            rows.iter().map(to_stored).collect()
        })
    }

    fn all(&self, now: Timestamp) -> StoreFuture<'_, Vec<StoredThing>> {
        Box::pin(async move {
            let client = self.inner.client.lock().await;
            let rows = client
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM lmos_things WHERE expires IS NULL OR expires > $1
                         ORDER BY id"
                    ),
                    &[&to_i64(now.millis)],
                )
                .await
                .map_err(db_error)?;
            rows.iter().map(to_stored).collect()
        })
    }

    fn all_containing(
        &self,
        needles: Vec<String>,
        now: Timestamp,
    ) -> StoreFuture<'_, Vec<StoredThing>> {
        Box::pin(async move {
            // strpos: an exact substring test in the server, so only candidates travel.
            let mut sql = format!(
                "SELECT {COLUMNS} FROM lmos_things WHERE (expires IS NULL OR expires > $1)"
            );
            for i in 0..needles.len() {
                sql.push_str(&format!(" AND strpos(td, ${}) > 0", i + 2));
            }
            sql.push_str(" ORDER BY id");
            let now = to_i64(now.millis);
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&now];
            for needle in &needles {
                params.push(needle);
            }
            let client = self.inner.client.lock().await;
            let rows = client.query(&sql, &params).await.map_err(db_error)?;
            rows.iter().map(to_stored).collect()
        })
    }

    fn purge_expired(&self, now: Timestamp) -> StoreFuture<'_, Vec<ChangeEvent>> {
        Box::pin(async move {
            let mut client = self.inner.client.lock().await;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .await
                .map_err(db_error)?;
            let rows = tx
                .query(
                    "DELETE FROM lmos_things WHERE expires IS NOT NULL AND expires <= $1
                     RETURNING id",
                    &[&to_i64(now.millis)],
                )
                .await
                .map_err(db_error)?;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let id: String = row.try_get(0).map_err(db_error)?;
                events.push(record_event(&tx, ChangeKind::Deleted, &id, None, now).await?);
            }
            tx.execute(
                "DELETE FROM lmos_events WHERE id <= (SELECT max(id) FROM lmos_events) - $1",
                &[&to_i64(EVENT_HISTORY)],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok(events)
        })
    }

    fn events_after(&self, after: u64, limit: u64) -> StoreFuture<'_, Vec<ChangeEvent>> {
        Box::pin(async move {
            let client = self.inner.client.lock().await;
            events_after(&client, after, limit).await
        })
    }

    fn latest_event_id(&self) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let client = self.inner.client.lock().await;
            let id: i64 = client
                .query_one("SELECT coalesce(max(id), 0) FROM lmos_events", &[])
                .await
                .map_err(db_error)?
                .try_get(0)
                .map_err(db_error)?;
            Ok(u64::try_from(id).unwrap_or(0))
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.events.subscribe()
    }
}
