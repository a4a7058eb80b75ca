//! The file's schema (events and their records, checkpoints, the alert ledger, marks,
//! quarantine, the first-seen state), and opening a connection with it: pragmas, the glob function, the version check.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use iat_core::glob::Pattern;
use iat_core::{Error, RecordLimits, normalize};
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use super::{BACKEND, Result, SqliteStore, db_err};

/// 2: the events table names each event's principal type and whether a person acted.
pub(super) const SCHEMA_VERSION: i64 = 2;

/// The events table's secondary indexes (a bulk load into an empty table builds them once at
/// the end instead of entry by entry; opening the file creates any that are missing).
pub(super) const EVENT_INDEXES: &str = "
-- Covers time-ordered reads (a day, page by page) without visiting the table.
CREATE INDEX IF NOT EXISTS events_by_time_id ON events(event_time, event_id);
CREATE INDEX IF NOT EXISTS events_by_actor ON events(actor, event_time);
CREATE INDEX IF NOT EXISTS events_by_name  ON events(event_name, event_time);
-- Denied calls alone (a few in ten thousand): the denied searches and the console's denied
-- page read this instead of every event of their window.
CREATE INDEX IF NOT EXISTS events_denied   ON events(event_time, event_id) WHERE denial_layer IS NOT NULL;
-- People's calls alone (workloads make most events): what the rules read besides named
-- actions and denials.
CREATE INDEX IF NOT EXISTS events_people   ON events(event_time, event_id) WHERE person = 1;
-- The root user's events alone (a handful a day among people's hundreds of thousands).
CREATE INDEX IF NOT EXISTS events_root     ON events(event_time, event_id) WHERE principal_type = 'Root';
";

/// Drops what [`EVENT_INDEXES`] creates.
pub(super) const DROP_EVENT_INDEXES: &str = "
DROP INDEX IF EXISTS events_by_time_id;
DROP INDEX IF EXISTS events_by_actor;
DROP INDEX IF EXISTS events_by_name;
DROP INDEX IF EXISTS events_denied;
DROP INDEX IF EXISTS events_people;
DROP INDEX IF EXISTS events_root;
";

pub(super) const SCHEMA: &str = "
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
    denial_layer TEXT,              -- set only for calls denied by a policy
    principal_type TEXT,            -- userIdentity.type (Root, IAMUser, AssumedRole, ...)
    person       INTEGER            -- 1 when a person acted (Principal::is_person), else 0
);
-- The original records, apart so that the indexed table stays narrow: scans and index builds
-- read a few hundred bytes an event instead of the whole record.
CREATE TABLE IF NOT EXISTS records (
    seq    INTEGER PRIMARY KEY,     -- events.seq
    record TEXT NOT NULL
);
DROP INDEX IF EXISTS events_by_time;
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
-- What was sent, as sent (the grouped alert as JSON), and who acknowledged it: for people to
-- read back. Ordered by the alert's last event.
CREATE TABLE IF NOT EXISTS alert_log (
    id       TEXT PRIMARY KEY,      -- rule_id:first event id
    last_us  INTEGER NOT NULL,      -- the last event's time
    body     TEXT NOT NULL          -- the LoggedAlert, acknowledgement included
);
CREATE INDEX IF NOT EXISTS alert_log_by_last ON alert_log(last_us);
-- The first-seen state: when each key was first seen, by which event, and when it is forgotten.
CREATE TABLE IF NOT EXISTS seen (
    scope    TEXT NOT NULL,
    item     TEXT NOT NULL,     -- kind#value
    first_us INTEGER NOT NULL,
    by_event TEXT NOT NULL,
    expires  INTEGER NOT NULL,  -- seconds since the Unix epoch
    PRIMARY KEY (scope, item)
) WITHOUT ROWID;
";

/// WAL pages (16 KiB) between automatic checkpoints: 64 MiB.
pub(super) const WAL_AUTOCHECKPOINT_PAGES: i64 = 4096;

impl SqliteStore {
    pub(super) fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self> {
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
        classify_principals(&conn)?;
        conn.execute_batch(EVENT_INDEXES)
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
}

/// Version 1 files: adds the principal columns and fills them from each stored record, once.
fn classify_principals(conn: &Connection) -> Result<()> {
    let has_person: bool = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'person'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(db_err("upgrade schema"))?
        > 0;
    if has_person {
        return Ok(());
    }
    let tx = conn
        .unchecked_transaction()
        .map_err(db_err("upgrade schema"))?;
    tx.execute_batch(
        "ALTER TABLE events ADD COLUMN principal_type TEXT;
         ALTER TABLE events ADD COLUMN person INTEGER;",
    )
    .map_err(db_err("upgrade schema"))?;
    let limits = RecordLimits {
        max_record_bytes: usize::MAX,
    };
    let (mut after, mut classified) = (0i64, 0u64);
    loop {
        let rows: Vec<(i64, String)> = {
            let mut read = tx
                .prepare_cached(
                    "SELECT seq, record FROM records WHERE seq > ?1 ORDER BY seq LIMIT 10000",
                )
                .map_err(db_err("upgrade schema"))?;
            read.query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err("upgrade schema"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_err("upgrade schema"))?
        };
        let Some(&(last, _)) = rows.last() else { break };
        let mut update = tx
            .prepare_cached("UPDATE events SET principal_type = ?1, person = ?2 WHERE seq = ?3")
            .map_err(db_err("upgrade schema"))?;
        for (seq, record) in rows {
            // A record stored by this program normalises; one that no longer does is read as
            // nobody's, as a query would fail on it anyway.
            let (kind, person) = match normalize(record, &limits) {
                Ok(n) => (
                    n.event.principal.kind.as_str().to_owned(),
                    n.event.principal.is_person(),
                ),
                Err(_) => ("Unknown".to_owned(), false),
            };
            update
                .execute(rusqlite::params![kind, person, seq])
                .map_err(db_err("upgrade schema"))?;
            classified += 1;
        }
        after = last;
    }
    tx.commit().map_err(db_err("upgrade schema"))?;
    tracing::info!(
        events = classified,
        "store upgraded: principal of each event"
    );
    Ok(())
}
