//! The ingester function: organisation-trail files announced on an SQS queue, stored in the
//! events table (whose stream feeds the alerter, so alerts cover every account).
//!
//! The queue receives S3 event notifications, CloudTrail's per-file SNS notifications, either
//! through SNS, or EventBridge "Object Created" events ([`iat_ingester::notification`]). The
//! response lists `batchItemFailures`: each message whose files were not all read and stored
//! is delivered again, and after the queue's `maxReceiveCount` moves to its dead-letter queue;
//! the reason is logged with the bucket and key. Storing is idempotent, so a redelivered file
//! stores nothing twice.
//!
//! Environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `EVENTS_TABLE` | DynamoDB table of events | required |
//! | `INGEST_SCOPE` | `identity` (what the rules and reports read) or `all` | `identity` |
//! | `TRAIL_BUCKET` | the trail's bucket; objects of another bucket fail their message | any |
//! | `ORGANIZATION_ID` | `o-…`; keys of another organisation fail their message | any |
//! | `FILTERED_ROLES` | role-name globs whose activity is noise | none |
//! | `RETENTION_DAYS` | events expire this long after they happened | never |

use chrono::Duration;
use iat_aws::{DynamoEventStore, S3ObjectSource};
use iat_core::scope::IngestScope;
use iat_ingester::{BatchReport, IngestSettings, Message, handle_messages};
use serde_json::{Value, json};

use crate::env::{Env, EnvError};

/// The ingester's configuration.
#[derive(Debug, Clone)]
pub struct IngesterSettings {
    pub events_table: String,
    pub retention: Option<Duration>,
    pub ingest: IngestSettings,
}

fn invalid(name: &'static str, value: impl Into<String>, expected: &str) -> EnvError {
    EnvError {
        name,
        value: value.into(),
        expected: expected.to_owned(),
    }
}

impl IngesterSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, EnvError> {
        let events_table = env.required("EVENTS_TABLE", "the DynamoDB table of events")?;
        let scope_text = env.get("INGEST_SCOPE").unwrap_or_default();
        let scope: IngestScope = scope_text.parse().map_err(|_| {
            invalid(
                "INGEST_SCOPE",
                scope_text.clone(),
                "`identity` (what the rules and reports read) or `all`",
            )
        })?;
        let filter = crate::env::filtered_roles(env.get("FILTERED_ROLES"))?;
        let expect_bucket = env.get("TRAIL_BUCKET").filter(|b| !b.is_empty());
        let expect_org = env.get("ORGANIZATION_ID").filter(|o| !o.is_empty());
        if let Some(org) = &expect_org {
            let ok = org.len() >= 12
                && org.len() <= 34
                && org.starts_with("o-")
                && org[2..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    "ORGANIZATION_ID",
                    org.clone(),
                    "an organisation id, o- and 10 to 32 lowercase letters or digits",
                ));
            }
        }
        let retention: Option<u32> = env.parse_opt("RETENTION_DAYS", "a whole number of days")?;
        Ok(Self {
            events_table,
            retention: retention.map(|d| Duration::days(d.into())),
            ingest: IngestSettings {
                scope,
                filter,
                expect_bucket,
                expect_org,
                ..IngestSettings::default()
            },
        })
    }
}

/// The ingester with its AWS ports, built once per execution environment.
#[derive(Debug)]
pub struct IngesterFunction {
    settings: IngestSettings,
    source: S3ObjectSource,
    store: DynamoEventStore,
}

impl IngesterFunction {
    /// `path_style` for S3 emulators.
    pub fn new(settings: IngesterSettings, sdk: &aws_config::SdkConfig, path_style: bool) -> Self {
        let s3 = iat_aws::S3ObjectStore::client(sdk, path_style);
        let store =
            DynamoEventStore::new(aws_sdk_dynamodb::Client::new(sdk), &settings.events_table)
                .with_retention(settings.retention);
        Self {
            settings: settings.ingest,
            source: S3ObjectSource::new(s3),
            store,
        }
    }

    /// One SQS batch: `{"batchItemFailures": [{"itemIdentifier": …}]}` names the messages to
    /// deliver again. A payload that is not an SQS batch fails the whole invocation.
    /// Messages not started [`stop_margin`] before the deadline are delivered again.
    pub async fn handle(
        &self,
        event: Value,
        time_left: std::time::Duration,
    ) -> Result<Value, UnsupportedEvent> {
        let messages = sqs_messages(&event)?;
        let stop_at = std::time::Instant::now() + time_left.saturating_sub(stop_margin(time_left));
        let report = handle_messages(
            &messages,
            &self.source,
            &self.store,
            &self.settings,
            Some(stop_at),
        )
        .await;
        log_report(&report, messages.len());
        Ok(batch_response(&report))
    }
}

/// How long before the deadline no new message is started: room for one large file (two
/// minutes), but never more than a third of the invocation, so a short timeout still works.
pub fn stop_margin(time_left: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(120).min(time_left / 3)
}

/// The messages of an SQS batch event.
pub fn sqs_messages(event: &Value) -> Result<Vec<Message>, UnsupportedEvent> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| UnsupportedEvent(describe(event)))?;
    records
        .iter()
        .map(|r| {
            if r.get("eventSource").and_then(Value::as_str) != Some("aws:sqs") {
                return Err(UnsupportedEvent(describe(r)));
            }
            serde_json::from_value::<Message>(r.clone())
                .map_err(|e| UnsupportedEvent(format!("SQS record: {e}")))
        })
        .collect()
}

fn describe(v: &Value) -> String {
    let keys: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(6).collect())
        .unwrap_or_default();
    format!(
        "expected an SQS batch from the trail-files queue; got an object with {}",
        keys.join(", ")
    )
}

/// The partial batch response Lambda reads back.
pub fn batch_response(report: &BatchReport) -> Value {
    let failures: Vec<Value> = report
        .failed
        .iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    json!({ "batchItemFailures": failures })
}

fn log_report(r: &BatchReport, messages: usize) {
    tracing::info!(
        messages,
        failed = r.failed.len(),
        deferred = r.deferred,
        files = r.files,
        skipped_objects = r.skipped_objects,
        records = r.totals.records,
        stored = r.totals.stored,
        duplicates = r.totals.duplicates,
        out_of_scope = r.totals.out_of_scope,
        filtered = r.totals.filtered,
        quarantined = r.totals.quarantined,
        "batch done"
    );
}

/// A payload that is not an SQS batch (the function is wired to the wrong trigger).
#[derive(Debug, thiserror::Error)]
#[error("unsupported event: {0}")]
pub struct UnsupportedEvent(pub String);

impl From<UnsupportedEvent> for lambda_runtime::Diagnostic {
    fn from(e: UnsupportedEvent) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "UnsupportedEvent".to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<IngesterSettings, EnvError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        IngesterSettings::from_env(&Env::new(&lookup))
    }

    #[test]
    fn configuration_is_checked_and_named() {
        let s = settings(&[("EVENTS_TABLE", "events")]).unwrap();
        assert_eq!(s.ingest.scope, IngestScope::Identity);
        assert_eq!(s.ingest.expect_org, None);
        let s = settings(&[
            ("EVENTS_TABLE", "events"),
            ("INGEST_SCOPE", "all"),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
            ("TRAIL_BUCKET", "org-trail-logs"),
        ])
        .unwrap();
        assert_eq!(s.ingest.scope, IngestScope::All);
        assert_eq!(s.ingest.expect_bucket.as_deref(), Some("org-trail-logs"));
        for (vars, name) in [
            (vec![], "EVENTS_TABLE"),
            (
                vec![("EVENTS_TABLE", "e"), ("INGEST_SCOPE", "most")],
                "INGEST_SCOPE",
            ),
            (
                vec![("EVENTS_TABLE", "e"), ("ORGANIZATION_ID", "123456789012")],
                "ORGANIZATION_ID",
            ),
            (
                vec![("EVENTS_TABLE", "e"), ("RETENTION_DAYS", "soon")],
                "RETENTION_DAYS",
            ),
        ] {
            let e = settings(&vars).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn the_stop_margin_leaves_room_for_a_file_and_for_work() {
        use std::time::Duration;
        assert_eq!(
            stop_margin(Duration::from_secs(300)),
            Duration::from_secs(100)
        );
        assert_eq!(
            stop_margin(Duration::from_secs(900)),
            Duration::from_secs(120)
        );
        assert_eq!(
            stop_margin(Duration::from_secs(30)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn only_sqs_batches_are_accepted() {
        let ok = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "{}"}]});
        assert_eq!(sqs_messages(&ok).unwrap()[0].id, "m1");
        let stream = json!({"Records": [{"eventID": "1", "eventSource": "aws:dynamodb"}]});
        assert!(sqs_messages(&stream).is_err());
        let e = sqs_messages(&json!({"detail-type": "x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("SQS") && e.contains("detail-type"), "{e}");
        let r = BatchReport {
            failed: vec!["a".into()],
            ..BatchReport::default()
        };
        assert_eq!(
            batch_response(&r),
            json!({"batchItemFailures": [{"itemIdentifier": "a"}]})
        );
    }
}
