//! The ports: what the services need from the outside world, named by role.
//!
//! Each port is a trait with no backend type in its signature, and an in-memory implementation
//! beside it for tests and for composing services without any backend. Adapters live in other
//! crates (`iat-local` for SQLite, directories and DataFusion; the AWS crate for DynamoDB, S3,
//! SNS, CloudTrail and Athena) and prove themselves against the suites in [`crate::contract`].

pub mod account_directory;
pub mod alert_ledger;
pub mod alert_log;
pub mod checkpoint;
pub mod event_feed;
pub mod event_source;
pub mod event_store;
pub mod notifier;
pub mod object_source;
pub mod object_store;
pub mod query_engine;
pub mod seen_store;
pub mod spanning;

pub use account_directory::{AccountDirectory, MemoryAccountDirectory, OrgAccount};
pub use alert_ledger::{AlertKey, AlertLedger, ClaimOutcome, MemoryAlertLedger};
pub use alert_log::{
    Acknowledgement, AlertLog, AlertLogQuery, LoggedAlert, LoggedEvent, MemoryAlertLog,
};
pub use checkpoint::{Checkpoint, CheckpointStore, MemoryCheckpointStore, StreamStats};
pub use event_feed::{EventFeed, FeedPosition};
pub use event_source::{EventPage, EventSource, LookupQuery, MemoryEventSource, PageToken};
pub use event_store::{
    ActionCount, ActionCounts, Breakdown, EventCursor, EventQuery, EventStore, Interest, IpFilter,
    MemoryEventStore, Order, PeopleRead, PutOutcome, QuarantineEntry, Quarantined, QueryMatcher,
    StoreStats, StoreSummary, count_actions_by_reading, read_at_most,
};
pub use notifier::{MemoryNotifier, Notification, Notifier, Subject};
pub use object_source::{ListedObject, MemoryObjectSource, ObjectSource};
pub use object_store::{MemoryObjectStore, ObjectKey, ObjectStore};
pub use query_engine::{
    MemoryQueryEngine, QueryEngine, QueryRun, ResultRows, athena_billed_bytes, athena_cost_usd,
    human_bytes,
};
pub use seen_store::{MemorySeenStore, SeenKey, SeenKind, SeenRecord, SeenStore};
pub use spanning::SpanningEventStore;
