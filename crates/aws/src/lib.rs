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
//! - [`S3ObjectStore`]: the `ObjectStore` port on an S3 bucket and key prefix (the Parquet lake).
//!
//! Adapters take an already-built SDK client, so retries, timeouts and endpoints come from the
//! SDK's own configuration ([`sdk_config`]), and every SDK error becomes an
//! [`iat_core::Error::Backend`] naming the operation, the resource and the service's error code.

mod athena;
mod cloudtrail;
mod codec;
mod config;
mod dynamo;
mod events;
mod regions;
mod s3;
mod sns;
mod tables;
#[cfg(feature = "testkit")]
pub mod testing;

pub use athena::{AthenaQueryEngine, AthenaSettings};
pub use cloudtrail::CloudTrailEventSource;
pub use config::{
    AwsSettings, caller_account, check_credentials, sdk_config, with_static_credentials,
};
pub use dynamo::{DynamoAlertLedger, DynamoCheckpointStore};
pub use events::{
    BY_ACTOR, BY_NAME, DAY_SHARDS, DynamoEventStore, WriteCost, event_from_stream_image,
    stream_image,
};
pub use regions::{RegionDiscovery, discover_regions, regions_to_collect};
pub use s3::S3ObjectStore;
pub use sns::SnsNotifier;
pub use tables::{TableKind, create_table};

/// `code: message` of an SDK error, the way operators search for it.
pub(crate) fn describe<E>(err: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => e.to_string(),
            }
        }
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(c) => format!("cannot reach the endpoint: {}", chain(c)),
            None => "cannot reach the endpoint".to_owned(),
        },
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        other => {
            let mut s = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// An error and its sources, as one line.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// True for failures worth retrying later: the network or a timeout, a broken response, or a
/// 5xx from the service. Not credentials or configuration, which retrying cannot fix.
pub(crate) fn is_transient<E>(err: &aws_sdk_s3::error::SdkError<E>) -> bool {
    use aws_sdk_s3::error::SdkError;
    match err {
        // A dropped connection is `other` tagged transient; a credential failure is `other` untagged.
        SdkError::DispatchFailure(e) => {
            e.is_io()
                || e.is_timeout()
                || e.as_other() == Some(aws_config::retry::ErrorKind::TransientError)
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    }
}
