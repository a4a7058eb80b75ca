//! The organisation-trail ingester: the files CloudTrail delivers to a bucket, announced on a
//! queue, read as streams and stored as events, so the stream → alerter path sees every
//! account of the organisation.
//!
//! The one decision a newcomer must know: a message succeeds only when every object it
//! announces was read to its end and every in-scope event of it was stored. Anything less
//! (a store failure, a truncated or corrupt file, an object that cannot be read) fails that
//! message alone — the queue delivers it again and, after its retries, moves it to the
//! dead-letter queue — while the batch's other messages succeed. Storing is idempotent on the
//! event id, so a file delivered twice, or retried after a partial store, stores each event once.

pub mod bucket;
pub mod notification;
mod object;

pub use notification::{ObjectRef, announced};
pub use object::{FileReport, IngestError, IngestSettings, ingest_object};

use iat_core::ports::{EventStore, ObjectSource};

/// One queue message: its id and body.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Message {
    #[serde(rename = "messageId")]
    pub id: String,
    #[serde(default)]
    pub body: String,
}

/// What a batch of messages came to.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct BatchReport {
    /// Ids of the messages to deliver again.
    pub failed: Vec<String>,
    pub files: u64,
    /// Objects announced that are not trail event files (digests, Insights, other objects).
    pub skipped_objects: u64,
    /// The files ingested whole, added up.
    pub totals: FileReport,
    /// Messages not started because the invocation's time was nearly up (delivered again).
    pub deferred: u64,
}

/// Why an object does not belong to the configured trail, if it does not.
fn misplaced(
    obj: &ObjectRef,
    key: &iat_core::trail::TrailKey,
    settings: &IngestSettings,
) -> Option<String> {
    if let Some(bucket) = &settings.expect_bucket
        && *bucket != obj.bucket
    {
        return Some(format!(
            "announced in bucket {}, but TRAIL_BUCKET is {bucket}: point the notification at this deployment's trail bucket, or set TRAIL_BUCKET",
            obj.bucket
        ));
    }
    if let Some(org) = &settings.expect_org
        && key.org.as_deref() != Some(org.as_str())
    {
        return Some(format!(
            "the key's organisation is {}, but ORGANIZATION_ID is {org}: set ORGANIZATION_ID to the trail's organisation",
            key.org.as_deref().unwrap_or("absent (an account trail)")
        ));
    }
    None
}

/// Ingests the objects every message announces; a message whose body or objects fail is
/// reported in [`BatchReport::failed`] and the rest go on. With `stop_at`, messages not yet
/// started when it has passed are reported failed too (deferred: the queue delivers them
/// again), so a batch of large files never runs into the function's timeout, which would
/// deliver the whole batch again, again and again.
pub async fn handle_messages(
    messages: &[Message],
    source: &dyn ObjectSource,
    store: &dyn EventStore,
    settings: &IngestSettings,
    stop_at: Option<std::time::Instant>,
) -> BatchReport {
    let mut report = BatchReport::default();
    for m in messages {
        if stop_at.is_some_and(|t| std::time::Instant::now() >= t) {
            tracing::warn!(message_id = %m.id, "deferred: the invocation's time is nearly up");
            report.deferred += 1;
            report.failed.push(m.id.clone());
            continue;
        }
        let objects = match announced(&m.body) {
            Ok(o) => o,
            Err(reason) => {
                tracing::error!(message_id = %m.id, %reason, "message not understood");
                report.failed.push(m.id.clone());
                continue;
            }
        };
        for obj in objects {
            let Some(trail_key) = iat_core::trail::TrailKey::parse(&obj.key) else {
                tracing::info!(bucket = %obj.bucket, key = %obj.key, "not a trail event file; skipped");
                report.skipped_objects += 1;
                continue;
            };
            let result = match misplaced(&obj, &trail_key, settings) {
                Some(reason) => Err(IngestError::Misconfigured {
                    bucket: obj.bucket.clone(),
                    key: obj.key.clone(),
                    reason,
                }),
                None => ingest_object(source, store, &obj, settings).await,
            };
            match result {
                Ok(f) => {
                    report.files += 1;
                    report.totals.add(&f);
                }
                Err(e) => {
                    tracing::error!(message_id = %m.id, bucket = %obj.bucket, key = %obj.key, error = %e, "file not ingested; the message will be delivered again");
                    // The message's other objects are still read: what they store now is
                    // not stored twice when the message comes back.
                    if report.failed.last() != Some(&m.id) {
                        report.failed.push(m.id.clone());
                    }
                }
            }
        }
    }
    report
}
