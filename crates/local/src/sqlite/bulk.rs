//! Bulk loading for `iat ingest`: one transaction per many batches, committed every N events.

use iat_core::ActivityEvent;
use iat_core::ports::{PutOutcome, Quarantined};
use rusqlite::Connection;

use super::events::{insert_events_refs, insert_quarantined};
use super::schema::{DROP_EVENT_INDEXES, EVENT_INDEXES};
use super::{Result, SqliteStore, db_err};

/// Page cache (KiB) while the indexes of a bulk load are built.
const INDEX_BUILD_CACHE_KIB: i64 = 32 * 1024;

impl SqliteStore {
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
        // Into an empty table, the secondary indexes are built once at the end (sorted, page
        // by page) rather than entry by entry; the unique id index stays, for deduplication.
        // Should the load stop early, opening the file creates them again (as does opening it
        // while the load runs, between two of its commits: the load then goes on, slower).
        let empty: bool = conn
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM events)", [], |r| r.get(0))
            .map_err(db_err("bulk load"))?;
        if empty {
            conn.execute_batch(DROP_EVENT_INDEXES)
                .map_err(db_err("bulk load"))?;
        }
        Ok(BulkWriter {
            conn,
            pending: 0,
            commit_every: commit_every.max(1),
            active: true,
            rebuild_indexes: empty,
        })
    }
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
    /// The secondary indexes were dropped for the load and are built when it finishes.
    rebuild_indexes: bool,
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
        if std::mem::take(&mut self.rebuild_indexes) {
            // The index sorts spill to temporary files past the page cache; a smaller cache
            // while they run keeps the load's peak memory where the inserts had it.
            let cache: i64 = self
                .conn
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .map_err(db_err("bulk load"))?;
            let built = self
                .conn
                .execute_batch(&format!(
                    "PRAGMA cache_size = -{INDEX_BUILD_CACHE_KIB}; {EVENT_INDEXES}"
                ))
                .map_err(db_err("bulk load: build indexes"));
            self.conn
                .pragma_update(None, "cache_size", cache)
                .map_err(db_err("bulk load"))?;
            built?;
        }
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
