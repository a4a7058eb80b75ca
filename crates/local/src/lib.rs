//! The embedded backend: everything the tracker needs to run on one machine with no AWS.
//!
//! - [`SqliteStore`]: the `EventStore`, `CheckpointStore` and `AlertLedger` ports on one SQLite
//!   file (default `./iat-data/iat.db`).
//! - [`DirObjectStore`]: the `ObjectStore` port on a directory.
//! - [`logfiles`]: CloudTrail log files as an event source (trail files, `lookup-events` output,
//!   JSON Lines; plain or gzip), streamed (the `iat-logfiles` crate, which the Lambda ingester
//!   shares).
//! - [`ingest`]: files → normalise → filter → store, in parallel, with a summary.
//! - [`sql`] (feature `sql`): DataFusion over the local Parquet lake, for the query catalogue.
//! - [`notify`]: the `Notifier` port on a terminal, a JSON Lines file or a webhook.
//!
//! The decision to know: SQLite keeps each record's original text and a few indexed columns;
//! reading an event back re-normalises the text, so the stored form can never drift from the
//! model.

pub mod ingest;
pub mod notify;
mod objects;
#[cfg(feature = "sql")]
pub mod sql;
mod sqlite;

pub use iat_logfiles as logfiles;
pub use objects::DirObjectStore;
pub use sqlite::{BulkWriter, SqliteStore};

/// Default location of the local database.
pub const DEFAULT_DB_PATH: &str = "./iat-data/iat.db";
