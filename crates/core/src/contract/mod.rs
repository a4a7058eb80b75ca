//! Contract test suites for the ports (feature `testkit`).
//!
//! A backend is done when its suite passes. Each suite takes a factory that returns a fresh,
//! empty backend, runs every case on its own instance, and panics with the case's name on the
//! first broken promise. The in-memory implementations run these suites in this crate's tests;
//! adapter crates run them against SQLite, directories, DynamoDB, S3 and so on.

mod alert_log;
mod checkpoint;
mod event_feed;
mod event_source;
mod event_store;
pub mod fuzz;
mod ledger;
mod notifier;
mod object_source;
mod object_store;
mod query_engine;
pub mod records;
mod seen;

pub use alert_log::alert_log_suite;
pub use checkpoint::checkpoint_store_suite;
pub use event_feed::event_feed_suite;
pub use event_source::event_source_suite;
pub use event_store::{event_history_suite, event_store_suite, history_view};
pub use ledger::alert_ledger_suite;
pub use notifier::notifier_suite;
pub use object_source::object_source_suite;
pub use object_store::object_store_suite;
pub use query_engine::{QueryCase, query_engine_cases, query_engine_suite, query_engine_table};
pub use seen::seen_store_suite;
