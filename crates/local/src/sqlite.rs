//! The ports on one SQLite file.
//!
//! Events are kept as the columns that queries filter on (table `events`, indexed for time
//! ranges, actor and event name) and their original text (table `records`, same `seq`). Storing is `INSERT .. ON CONFLICT DO NOTHING` on the
//! event id, so ingesting the same files again stores nothing twice. Checkpoints and the alert
//! ledger live in the same file so that one file is the whole local state.
//!
//! The async port methods run the SQL inline under a mutex: SQLite is fast enough for a CLI that
//! this is simpler and faster than a thread hop. Bulk callers use the `*_blocking` methods.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use iat_core::glob::{Pattern, is_glob};
use iat_core::ports::{
    AlertKey, AlertLedger, Checkpoint, CheckpointStore, ClaimOutcome, EventQuery, EventStore,
    IpFilter, Order, PutOutcome, Quarantined, StoreStats,
};
use iat_core::{ActivityEvent, Error, RecordLimits, StreamKey, normalize};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

type Result<T, E = Error> = std::result::Result<T, E>;

const BACKEND: &str = "sqlite";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq          INTEGER PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    event_time   INTEGER NOT NULL,  -- microseconds since the Unix epoch, UTC
    event_source TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    account      TEXT,
    region       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    principal_arn TEXT,
    source_ip    TEXT NOT NULL,
    error_code   TEXT,
    denial_layer TEXT               -- set only for calls denied by a policy
);
-- The original records, apart so that the indexed table stays narrow: scans and index builds
-- read a few hundred bytes an event instead of the whole record.
CREATE TABLE IF NOT EXISTS records (
    seq    INTEGER PRIMARY KEY,     -- events.seq
    record TEXT NOT NULL
);
-- Covers time-ordered reads (a day, page by page) without visiting the table.
CREATE INDEX IF NOT EXISTS events_by_time_id ON events(event_time, event_id);
DROP INDEX IF EXISTS events_by_time;
CREATE INDEX IF NOT EXISTS events_by_actor ON events(actor, event_time);
CREATE INDEX IF NOT EXISTS events_by_name  ON events(event_name, event_time);
CREATE TABLE IF NOT EXISTS quarantine (
    seq      INTEGER PRIMARY KEY,
    origin   TEXT NOT NULL,
    event_id TEXT,
    reason   TEXT NOT NULL,
    raw      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    stream  TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
);
-- Small named values: how far `iat alerts` has read the events table (`alerts.after_seq`).
CREATE TABLE IF NOT EXISTS marks (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_ledger (
    event_id   TEXT NOT NULL,
    rule_id    TEXT NOT NULL,
    sent       INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (event_id, rule_id)
) WITHOUT ROWID;
";

/// WAL pages (16 KiB) between automatic checkpoints: 64 MiB.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 4096;

/// Longest quarantined text kept.
const MAX_QUARANTINE_BYTES: usize = 4 * 1024 * 1024;

/// A column that [`SqliteStore::breakdown`] can group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    EventSource,
    EventName,
    Account,
    Region,
    Actor,
    DenialLayer,
}

impl Breakdown {
    fn column(self) -> &'static str {
        match self {
            Breakdown::EventSource => "event_source",
            Breakdown::EventName => "event_name",
            Breakdown::Account => "coalesce(account, '-')",
            Breakdown::Region => "region",
            Breakdown::Actor => "actor",
            Breakdown::DenialLayer => "denial_layer",
        }
    }
}

/// Events, checkpoints and the alert ledger in one SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

fn db_err(operation: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::backend(BACKEND, operation, e)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and its parent directory.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::backend(
                    BACKEND,
                    "open",
                    format!("cannot create {}: {e}", parent.display()),
                )
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| Error::backend(BACKEND, "open", format!("{}: {e}", path.display())))?;
        Self::init(conn, Some(path.to_owned()))
    }

    /// A database in memory, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(db_err("open"))?, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err("open"))?;
        // page_size takes effect only for a new file; larger pages halve the I/O of bulk ingest.
        conn.execute_batch(
            "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
             PRAGMA cache_size = -98304;",
        )
        .map_err(db_err("open"))?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(db_err("open"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err("open"))?;
        if version > SCHEMA_VERSION {
            return Err(Error::backend(
                BACKEND,
                "open",
                format!(
                    "database schema version {version} is newer than this program ({SCHEMA_VERSION}); upgrade iat"
                ),
            ));
        }
        conn.execute_batch(SCHEMA)
            .map_err(db_err("create schema"))?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db_err("create schema"))?;
        conn.create_scalar_function(
            "ip_in_net",
            2,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                let ip: String = ctx.get(0)?;
                let net: String = ctx.get(1)?;
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                Ok(
                    match (ip.parse::<std::net::IpAddr>(), net.parse::<ipnet::IpNet>()) {
                        (Ok(ip), Ok(net)) => net.contains(&ip),
                        _ => false,
                    },
                )
            },
        )
        .map_err(db_err("open"))?;
        conn.create_scalar_function(
            "iat_glob",
            2,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                // The pattern is compiled once per statement, not once per row.
                let matcher = ctx.get_or_create_aux(0, |v| {
                    let pattern = v.as_str().map_err(|e| e.to_string())?;
                    Pattern::new("filter", pattern).map_err(|e| e.to_string())
                })?;
                Ok(match ctx.get_raw(1) {
                    rusqlite::types::ValueRef::Text(t) => {
                        std::str::from_utf8(t).is_ok_and(|t| matcher.is_match(t))
                    }
                    _ => false,
                })
            },
        )
        .map_err(db_err("open"))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Sets SQLite's page cache (96 MiB by default, sized for bulk ingest). Steady writers
    /// such as the collector need far less.
    pub fn set_cache_mib(&self, mib: u32) -> Result<()> {
        self.conn
            .lock()
            .unwrap()
            .pragma_update(None, "cache_size", -(i64::from(mib) * 1024))
            .map_err(db_err("set cache size"))
    }

    /// The database file, if not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Stores events not yet stored, in one transaction.
    pub fn put_blocking(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("put"))?;
        let out = insert_events(&tx, events)?;
        tx.commit().map_err(db_err("put"))?;
        Ok(out)
    }

    /// A writer for bulk loads that keeps one transaction open across many puts, committing
    /// every `commit_every` events and when finished. Holds the database for its lifetime.
    pub fn bulk_writer(&self, commit_every: usize) -> Result<BulkWriter<'_>> {
        let conn = self.conn.lock().unwrap();
        // Checkpoint rarely while loading: each checkpoint copies every page changed since the
        // last one, and a bulk load changes the same index pages again and again.
        // A rollback journal writes appended pages once; WAL writes them twice (log, then
        // checkpoint). Switching needs the only connection: with readers open, stay in WAL.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = TRUNCATE", [], |r| r.get(0))
            .map_err(db_err("bulk load"))?;
        tracing::debug!(%mode, "bulk load journal mode");
        // A reader holding the file makes a commit wait; a bulk load waits longer than a query.
        conn.busy_timeout(std::time::Duration::from_secs(120))
            .map_err(db_err("bulk load"))?;
        Ok(BulkWriter {
            conn,
            pending: 0,
            commit_every: commit_every.max(1),
            active: true,
        })
    }

    /// Events matching `query`.
    pub fn query_blocking(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        query_events(&self.conn, query)
    }

    /// Up to `limit` events stored after insertion number `after`, oldest insertion first,
    /// each with its number (for readers that remember how far they got, like `iat alerts`).
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, ActivityEvent)>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached("SELECT e.seq, r.record FROM events e JOIN records r ON r.seq = e.seq WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2")
            .map_err(db_err("read new events"))?;
        let rows = stmt
            .query_map(rusqlite::params![after, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err("read new events"))?;
        let limits = RecordLimits {
            max_record_bytes: usize::MAX,
        };
        let mut out = Vec::new();
        for row in rows {
            let (seq, raw) = row.map_err(db_err("read new events"))?;
            let event = normalize(raw, &limits).map_err(|r| {
                Error::backend(
                    BACKEND,
                    "read new events",
                    format!("a stored record no longer normalises: {}", r.error),
                )
            })?;
            out.push((seq, event.event));
        }
        Ok(out)
    }

    /// A named mark (0 when never set).
    pub fn mark(&self, name: &str) -> Result<i64> {
        let conn = self.conn.lock().unwrap();
        conn.query_row("SELECT value FROM marks WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map(|v| v.unwrap_or(0))
        .map_err(db_err("read mark"))
    }

    /// Sets a named mark.
    pub fn set_mark(&self, name: &str, value: i64) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "INSERT INTO marks (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            rusqlite::params![name, value],
        )
        .map(|_| ())
        .map_err(db_err("write mark"))
    }

    /// Keeps rejected records.
    pub fn quarantine_blocking(&self, records: &[Quarantined]) -> Result<()> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("quarantine"))?;
        insert_quarantined(&tx, records)?;
        tx.commit().map_err(db_err("quarantine"))
    }

    /// Counts and time range.
    pub fn stats_blocking(&self) -> Result<StoreStats> {
        let conn = self.conn.lock().unwrap();
        let (events, first, last): (i64, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT count(*), min(event_time), max(event_time) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db_err("stats"))?;
        let quarantined: i64 = conn
            .query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))
            .map_err(db_err("stats"))?;
        Ok(StoreStats {
            events: events as u64,
            first: first.and_then(from_micros),
            last: last.and_then(from_micros),
            quarantined: quarantined as u64,
        })
    }

    /// Event counts grouped by one column, largest first (`denial_layer` counts denied calls).
    pub fn breakdown(&self, by: Breakdown, limit: usize) -> Result<Vec<(String, u64)>> {
        let col = by.column();
        let filter = if by == Breakdown::DenialLayer {
            "WHERE denial_layer IS NOT NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {col} AS k, count(*) AS n FROM events {filter} GROUP BY k ORDER BY n DESC, k LIMIT ?1"
        );
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn.prepare(&sql).map_err(db_err("breakdown"))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db_err("breakdown"))?;
        rows.collect::<Result<_, _>>().map_err(db_err("breakdown"))
    }

    /// The most recent quarantined records: (origin, event id, reason).
    pub fn recent_quarantine(&self, limit: usize) -> Result<Vec<(String, Option<String>, String)>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT origin, event_id, reason FROM quarantine ORDER BY seq DESC LIMIT ?1")
            .map_err(db_err("quarantine"))?;
        let rows = stmt
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db_err("quarantine"))?;
        rows.collect::<Result<_, _>>().map_err(db_err("quarantine"))
    }
}

fn insert_events(conn: &Connection, events: &[ActivityEvent]) -> Result<PutOutcome> {
    let refs: Vec<&ActivityEvent> = events.iter().collect();
    insert_events_refs(conn, &refs)
}

fn insert_events_refs(conn: &Connection, events: &[&ActivityEvent]) -> Result<PutOutcome> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO events (event_id, event_time, event_source, event_name, account, region,
                actor, principal_arn, source_ip, error_code, denial_layer)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(event_id) DO NOTHING",
        )
        .map_err(db_err("put"))?;
    let mut record = conn
        .prepare_cached("INSERT INTO records (seq, record) VALUES (?1, ?2)")
        .map_err(db_err("put"))?;
    let mut out = PutOutcome::default();
    for e in events {
        let n = stmt
            .execute(params![
                e.id.as_str(),
                micros(e.time),
                e.source,
                e.name,
                e.account.as_ref().map(|a| a.as_str()),
                e.region.as_str(),
                e.principal.actor,
                e.principal.arn,
                e.source_ip.raw,
                e.error_code,
                e.denial.map(|d| d.layer.as_str()),
            ])
            .map_err(db_err("put"))?;
        if n == 1 {
            record
                .execute(params![conn.last_insert_rowid(), e.raw])
                .map_err(db_err("put"))?;
            out.inserted += 1;
            out.inserted_times.push(e.time);
        } else {
            out.duplicates += 1;
        }
    }
    Ok(out)
}

fn insert_quarantined(conn: &Connection, records: &[Quarantined]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO quarantine (origin, event_id, reason, raw) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db_err("quarantine"))?;
    for q in records {
        let mut cut = q.raw.len().min(MAX_QUARANTINE_BYTES);
        while !q.raw.is_char_boundary(cut) {
            cut -= 1;
        }
        stmt.execute(params![q.origin, q.event_id, q.reason, &q.raw[..cut]])
            .map_err(db_err("quarantine"))?;
    }
    Ok(())
}

/// Bulk loading in long transactions; see [`SqliteStore::bulk_writer`].
///
/// While it lives the database uses a rollback journal (when no other connection is open), so
/// appended pages are written once. Committed work is durable; work since the last commit is
/// rolled back on a crash, which a bulk load of idempotent inserts can simply redo. Call [`BulkWriter::finish`]; dropping the writer
/// does the same, logging instead of returning errors.
#[derive(Debug)]
pub struct BulkWriter<'a> {
    conn: std::sync::MutexGuard<'a, Connection>,
    pending: usize,
    commit_every: usize,
    /// Not yet finished: the journal mode is still the bulk one.
    active: bool,
}

impl BulkWriter<'_> {
    fn begin(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN").map_err(db_err("put"))?;
        }
        Ok(())
    }

    /// Stores events not yet stored.
    pub fn put(&mut self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        self.begin()?;
        // In id order, consecutive inserts into the unique index land on nearby pages.
        let mut sorted: Vec<&ActivityEvent> = events.iter().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let out = insert_events_refs(&self.conn, &sorted)?;
        self.pending += events.len();
        if self.pending >= self.commit_every {
            self.commit()?;
        }
        Ok(out)
    }

    /// Keeps rejected records.
    pub fn quarantine(&mut self, records: &[Quarantined]) -> Result<()> {
        self.begin()?;
        insert_quarantined(&self.conn, records)
    }

    /// Commits what was written so far.
    pub fn commit(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn
                .execute_batch("COMMIT")
                .map_err(db_err("commit"))?;
        }
        self.pending = 0;
        Ok(())
    }

    /// Commits and returns the database to WAL mode.
    pub fn finish(mut self) -> Result<()> {
        self.complete()
    }

    fn complete(&mut self) -> Result<()> {
        self.commit()?;
        if std::mem::take(&mut self.active) {
            self.conn
                .busy_timeout(std::time::Duration::from_secs(10))
                .map_err(db_err("bulk load"))?;
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(db_err("bulk load"))?;
            tracing::debug!(%mode, "journal mode after bulk load");
        }
        Ok(())
    }
}

impl Drop for BulkWriter<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.complete() {
            tracing::error!(error = %e, "bulk load: final commit failed");
        }
    }
}

/// A filter value in SQL: the core's glob (`iat_glob`, never SQLite's own `GLOB`, whose syntax
/// differs: no braces, no escapes, bytes not characters) or an exact match.
fn text_match(column: &str, value: &str, args: &mut Vec<Value>) -> String {
    args.push(Value::Text(value.to_owned()));
    if is_glob(value) {
        format!("iat_glob(?{}, {column})", args.len())
    } else {
        format!("{column} = ?{}", args.len())
    }
}

/// Events matching `query`: the narrow table picks and orders them, then their records are
/// read and normalised.
fn query_events(conn: &Mutex<Connection>, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
    query.matcher()?; // rejects malformed globs with the same message as every backend
    let (sql, args) = build_query(query);
    let conn = conn.lock().unwrap();
    // One read transaction: one snapshot, and one lock instead of one per statement.
    let tx = conn.unchecked_transaction().map_err(db_err("query"))?;
    let mut stmt = tx.prepare_cached(&sql).map_err(db_err("query"))?;
    let mut keys: Vec<(usize, i64)> = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, i64>(0))
        .map_err(db_err("query"))?
        .enumerate()
        .map(|(i, seq)| seq.map(|seq| (i, seq)))
        .collect::<rusqlite::Result<_>>()
        .map_err(db_err("query"))?;
    // Records in storage order: each page of the records table is read once, not once per
    // record as the query's (time) order would, which matters when a day outgrows the cache.
    keys.sort_unstable_by_key(|&(_, seq)| seq);
    let mut fetch = tx
        .prepare_cached("SELECT record FROM records WHERE seq = ?1")
        .map_err(db_err("query"))?;
    let mut rows: Vec<Option<String>> = vec![None; keys.len()];
    for (i, seq) in keys {
        rows[i] = Some(
            fetch
                .query_row([seq], |r| r.get::<_, String>(0))
                .map_err(db_err("query"))?,
        );
    }
    drop(fetch);
    drop(stmt);
    tx.finish().map_err(db_err("query"))?;
    drop(conn);
    let limits = RecordLimits {
        max_record_bytes: usize::MAX,
    };
    let mut out = Vec::with_capacity(rows.len());
    for raw in rows.into_iter().flatten() {
        let event = normalize(raw, &limits).map_err(|r| {
            Error::backend(
                BACKEND,
                "query",
                format!("a stored record no longer normalises: {}", r.error),
            )
        })?;
        out.push(event.event);
    }
    Ok(out)
}

fn build_query(q: &EventQuery) -> (String, Vec<Value>) {
    let mut wh: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(w) = &q.window {
        args.push(Value::Integer(micros(w.start())));
        args.push(Value::Integer(micros(w.end())));
        wh.push(format!(
            "event_time BETWEEN ?{} AND ?{}",
            args.len() - 1,
            args.len()
        ));
    }
    if let Some(actor) = &q.actor {
        let a = text_match("actor", actor, &mut args);
        let n = args.len();
        let arn = if is_glob(actor) {
            format!("iat_glob(?{n}, principal_arn)")
        } else {
            format!("principal_arn = ?{n}")
        };
        wh.push(format!("({a} OR {arn})"));
    }
    if !q.event_names.is_empty() {
        let alts: Vec<String> = q
            .event_names
            .iter()
            .map(|n| text_match("event_name", n, &mut args))
            .collect();
        wh.push(format!("({})", alts.join(" OR ")));
    }
    if let Some(source) = &q.event_source {
        wh.push(text_match("event_source", source, &mut args));
    }
    if let Some(account) = &q.account {
        args.push(Value::Text(account.to_string()));
        wh.push(format!("account = ?{}", args.len()));
    }
    if let Some(region) = &q.region {
        args.push(Value::Text(region.to_string()));
        wh.push(format!("region = ?{}", args.len()));
    }
    match &q.source_ip {
        Some(IpFilter::Exact(ip)) => {
            args.push(Value::Text(ip.clone()));
            wh.push(format!("source_ip = ?{}", args.len()));
        }
        Some(IpFilter::Network(net)) => {
            args.push(Value::Text(net.to_string()));
            wh.push(format!("ip_in_net(source_ip, ?{})", args.len()));
        }
        None => {}
    }
    if q.denied_only {
        wh.push("denial_layer IS NOT NULL".to_owned());
    }
    if let Some(layer) = q.denial_layer {
        args.push(Value::Text(layer.as_str().to_owned()));
        wh.push(format!("denial_layer = ?{}", args.len()));
    }
    let (cmp, dir) = match q.order {
        Order::Ascending => (">", "ASC"),
        Order::Descending => ("<", "DESC"),
    };
    if let Some(c) = &q.after {
        args.push(Value::Integer(micros(c.time)));
        args.push(Value::Text(c.id.to_string()));
        wh.push(format!(
            "(event_time, event_id) {cmp} (?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    let mut sql = String::from("SELECT seq, event_time, event_id FROM events");
    if !wh.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&wh.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY event_time {dir}, event_id {dir}"));
    if let Some(limit) = q.limit {
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
    }
    // Filter and order on the narrow table; the caller then fetches the records of the rows
    // chosen.
    (sql, args)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        self.put_blocking(events)
    }

    /// On a blocking thread, so a caller can do other work meanwhile (the exporter encodes one
    /// page while the next is read).
    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        let (conn, query) = (self.conn.clone(), query.clone());
        tokio::task::spawn_blocking(move || query_events(&conn, &query))
            .await
            .map_err(|e| Error::backend(BACKEND, "query", e))?
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<()> {
        self.quarantine_blocking(records)
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.stats_blocking()
    }
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn load(&self, stream: &StreamKey) -> Result<Option<Checkpoint>> {
        let conn = self.conn.lock().unwrap();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT version, body FROM checkpoints WHERE stream = ?1",
                [stream.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("load checkpoint"))?;
        row.map(|(version, body)| {
            let mut cp: Checkpoint = serde_json::from_str(&body).map_err(|e| {
                Error::backend(BACKEND, "load checkpoint", format!("{stream}: {e}"))
            })?;
            cp.version = version as u64;
            Ok(cp)
        })
        .transpose()
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<u64> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("save checkpoint"))?;
        let key = checkpoint.stream.to_string();
        let found: u64 = tx
            .query_row(
                "SELECT version FROM checkpoints WHERE stream = ?1",
                [&key],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(db_err("save checkpoint"))?
            .map_or(0, |v| v as u64);
        if found != checkpoint.version {
            return Err(Error::CheckpointConflict {
                stream: key,
                expected: checkpoint.version,
                found,
            });
        }
        let next = found + 1;
        let mut stored = checkpoint.clone();
        stored.version = next;
        let body = serde_json::to_string(&stored)
            .map_err(|e| Error::backend(BACKEND, "save checkpoint", e))?;
        tx.execute(
            "INSERT INTO checkpoints (stream, version, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(stream) DO UPDATE SET version = excluded.version, body = excluded.body",
            params![key, next as i64, body],
        )
        .map_err(db_err("save checkpoint"))?;
        tx.commit().map_err(db_err("save checkpoint"))?;
        Ok(next)
    }

    async fn list(&self) -> Result<Vec<Checkpoint>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT version, body FROM checkpoints")
            .map_err(db_err("list checkpoints"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err("list checkpoints"))?;
        let mut out = Vec::new();
        for row in rows {
            let (version, body) = row.map_err(db_err("list checkpoints"))?;
            let mut cp: Checkpoint = serde_json::from_str(&body)
                .map_err(|e| Error::backend(BACKEND, "list checkpoints", e))?;
            cp.version = version as u64;
            out.push(cp);
        }
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }
}

#[async_trait]
impl AlertLedger for SqliteStore {
    async fn claim(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("claim alert"))?;
        let row: Option<(bool, i64)> = tx
            .query_row(
                "SELECT sent, claimed_at FROM alert_ledger WHERE event_id = ?1 AND rule_id = ?2",
                [key.event_id.as_str(), key.rule_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("claim alert"))?;
        match row {
            Some((true, _)) => return Ok(ClaimOutcome::AlreadySent),
            Some((false, at)) => {
                let since = from_micros(at).unwrap_or(now);
                if since + lease > now {
                    return Ok(ClaimOutcome::InFlight { since });
                }
            }
            None => {}
        }
        tx.execute(
            "INSERT INTO alert_ledger (event_id, rule_id, sent, claimed_at) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT(event_id, rule_id) DO UPDATE SET claimed_at = excluded.claimed_at",
            params![key.event_id.as_str(), key.rule_id.as_str(), micros(now)],
        )
        .map_err(db_err("claim alert"))?;
        tx.commit().map_err(db_err("claim alert"))?;
        Ok(ClaimOutcome::Claimed)
    }

    async fn confirm(&self, key: &AlertKey, now: DateTime<Utc>) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "INSERT INTO alert_ledger (event_id, rule_id, sent, claimed_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT(event_id, rule_id) DO UPDATE SET sent = 1",
            params![key.event_id.as_str(), key.rule_id.as_str(), micros(now)],
        )
        .map_err(db_err("confirm alert"))?;
        Ok(())
    }

    async fn release(&self, key: &AlertKey) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "DELETE FROM alert_ledger WHERE event_id = ?1 AND rule_id = ?2 AND sent = 0",
            [key.event_id.as_str(), key.rule_id.as_str()],
        )
        .map_err(db_err("release alert"))?;
        Ok(())
    }
}
