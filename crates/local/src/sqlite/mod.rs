//! The ports on one SQLite file.
//!
//! Events are kept as the columns that queries filter on (table `events`, indexed for time
//! ranges, actor and event name) and their original text (table `records`, same `seq`).
//! Storing is `INSERT .. ON CONFLICT DO NOTHING` on the event id, so ingesting the same files
//! again stores nothing twice. Checkpoints and the alert ledger live in the same file so that
//! one file is the whole local state.
//!
//! The async port methods run the SQL inline under a mutex: SQLite is fast enough for a CLI that
//! this is simpler and faster than a thread hop. Bulk callers use the `*_blocking` methods.
//!
//! - `schema`: the tables and opening a connection;
//! - `events`: the `EventStore` port, queries and the counts `iat status` shows;
//! - `bulk`: the bulk loader `iat ingest` uses;
//! - `state`: checkpoints, the alert ledger and named marks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use iat_core::Error;
use rusqlite::Connection;

mod bulk;
mod events;
mod schema;
mod state;

pub use bulk::BulkWriter;

type Result<T, E = Error> = std::result::Result<T, E>;

const BACKEND: &str = "sqlite";

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
}
