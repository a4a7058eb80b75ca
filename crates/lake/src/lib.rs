//! The lake: what an exported event looks like in Parquet, where it goes, and the SQL over it.
//!
//! - [`schema`]: the one Arrow schema of the `events` table (UTC timestamps, booleans,
//!   dictionary-encoded repetitive strings, JSON documents as strings) and the rows of a batch;
//! - [`writer`]: Parquet encoding (snappy or zstd, dictionaries and statistics on, rows in time
//!   order, row groups sized for Athena);
//! - [`layout`]: object keys, `<prefix>/events/dt=YYYY-MM-DD/part-NNNNN.parquet`;
//! - [`catalogue`]: the queries of `queries/*.sql`, their headers and parameters;
//! - [`history`]: the table read back as events ([`LakeEventStore`]), for what the store no
//!   longer keeps;
//! - [`report`]: the weekly denied-calls report made from five queries' rows;
//! - [`trail`]: Athena over the organisation trail's raw files, and the catalogue run on it.
//!
//! The decision to know: `dt` is a partition, not a column in the files. Every query filters on
//! it, so Athena and DataFusion read only the days asked for.

pub mod catalogue;
pub mod history;
pub mod layout;
pub mod report;
pub mod schema;
pub mod trail;
pub mod writer;

pub use catalogue::{Query, QueryCatalogue};
pub use history::LakeEventStore;
pub use layout::{day_prefix, part_key};
pub use report::WeeklyReport;
pub use schema::{events_schema, to_batch};
pub use writer::{Compression, PartWriter};
