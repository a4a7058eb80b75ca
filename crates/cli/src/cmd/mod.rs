//! One module per subcommand.

#[cfg(feature = "aws")]
pub mod collect;
pub mod demo;
pub mod events;
pub mod ingest;
pub mod status;
#[cfg(feature = "aws")]
pub mod tables;

use std::path::Path;

use anyhow::Context;
use iat_local::SqliteStore;

/// Opens the database, with a message that says which file and what to do.
pub(crate) fn open_store(db: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(db).with_context(|| {
        format!(
            "cannot open the database {} (set --db or IAT_DB)",
            db.display()
        )
    })
}

/// Opens an existing database for reading; a missing file is an error that says how to create one.
pub(crate) fn open_existing(db: &Path) -> anyhow::Result<SqliteStore> {
    if !db.exists() {
        anyhow::bail!(
            "no database at {} — run `iat ingest PATH...` (or `iat demo`) first, or point --db at one",
            db.display()
        );
    }
    open_store(db)
}
