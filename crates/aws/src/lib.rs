//! The ports implemented on AWS services.
//!
//! - [`AthenaQueryEngine`]: the `QueryEngine` port on Athena (start, poll, rows, bytes scanned).
//! - [`CloudTrailEventSource`]: the `EventSource` port on CloudTrail `LookupEvents`.
//! - [`DynamoEventStore`]: the `EventStore` port on a DynamoDB table sharded by day, with
//!   indexes by actor and by event name, and records stored compressed.
//! - [`DynamoCheckpointStore`], [`DynamoAlertLedger`]: checkpoints and the alert ledger on
//!   DynamoDB, with conditional writes.
//! - [`create_table`]: the tables' layouts, for `iat create-tables` and tests.
//! - [`regions_to_collect`]: the account's enabled regions (Account Management `ListRegions`),
//!   or the named ones checked against them.
//! - [`SnsNotifier`]: the `Notifier` port on an SNS topic, with message attributes for filters.
//! - [`event_from_stream_image`]: an event from the events table's DynamoDB stream.
//! - [`MemberEventSource`]: Event history of member accounts, through each one's reader role.
//! - [`OrganizationsAccountDirectory`]: the `AccountDirectory` port on Organizations
//!   `ListAccounts` (the organisation's accounts and their names).
//! - [`S3ObjectStore`]: the `ObjectStore` port on an S3 bucket and key prefix (the Parquet lake).
//!
//! Adapters take an already-built SDK client, so retries, timeouts and endpoints come from the
//! SDK's own configuration ([`sdk_config`]), and every SDK error becomes an
//! [`iat_core::Error::Backend`] naming the operation, the resource and the service's error code
//! (one module, `error`, reads SDK errors for all of them).

mod alert_log;
mod athena;
mod cloudtrail;
mod codec;
mod config;
mod dynamo;
mod error;
mod events;
mod members;
#[cfg(feature = "organizations")]
mod organizations;
mod regions;
#[cfg(feature = "s3")]
mod s3;
mod seen;
#[cfg(feature = "sns")]
mod sns;
mod tables;
#[cfg(feature = "testkit")]
pub mod testing;

pub use alert_log::DynamoAlertLog;
pub use athena::{AthenaQueryEngine, AthenaSettings};
pub use cloudtrail::CloudTrailEventSource;
pub use config::{
    AwsSettings, caller_account, check_credentials, sdk_config, with_static_credentials,
};
pub use dynamo::{DynamoAlertLedger, DynamoCheckpointStore};
/// `code: message` of any SDK call's error, the way operators search for it.
pub use error::describe as describe_sdk_error;
pub use events::{
    BY_ACTOR, BY_NAME, DAY_SHARDS, DynamoEventFeed, DynamoEventStore, MAX_STORE_REQUESTS_IN_FLIGHT,
    ReadPath, ReadReport, WriteCost, event_from_stream_image, stream_image,
};
pub use members::{MAX_LOOKUPS_IN_FLIGHT, MemberAccess, MemberEventSource, RETRY_ASSUME_AFTER};
#[cfg(feature = "organizations")]
pub use organizations::OrganizationsAccountDirectory;
pub use regions::{RegionDiscovery, discover_regions, regions_to_collect};
#[cfg(feature = "s3")]
pub use s3::{S3ObjectSource, S3ObjectStore};
pub use seen::{DynamoSeenStore, SEEN_BATCH_GET};
#[cfg(feature = "sns")]
pub use sns::SnsNotifier;
pub use tables::{LookupIndexes, TableKind, create_events_table, create_table};
