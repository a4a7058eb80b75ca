//! The alerter function: rules over new events, each alert sent once through SNS.
//!
//! Two triggers, one handler:
//! - the events table's **DynamoDB stream** (`INSERT` records; batch size up to 1,000). The
//!   response lists `batchItemFailures`: the first record whose alerts could not be sent, so
//!   Lambda retries from there and one bad record never blocks the shard. Records that cannot
//!   be read at all are logged with their key and skipped (they would fail forever);
//! - optionally **EventBridge** rules for "AWS API Call via CloudTrail" and "AWS Console Sign In
//!   via CloudTrail", whose `detail` is the CloudTrail record, for alerts within seconds. A
//!   failure is returned as an error so EventBridge's retry (and the function's DLQ) applies.
//!
//! The ledger key is (event id, rule id) on both paths, so an event that arrives by both alerts
//! once.
//!
//! Events older than `MAX_EVENT_AGE_HOURS` (24; 0 for no limit) raise no alert of their own:
//! the first 90-day backfill stores months of history, and mailing it alert by alert would bury
//! what is new. Their findings are never dropped either: each batch sends them as one "late"
//! digest (criticals included), once per (event, rule) like any alert.
//!
//! Environment: `ALERT_TOPIC_ARN`, `ALERT_LEDGER_TABLE` (required); `SEEN_TABLE` (the table of
//! the first-seen state, the control table; unset turns the first-seen rules off);
//! `ALERT_LOG_TABLE` (the table every sent alert is logged in for people to read back and
//! acknowledge, the control table; unset logs nothing);
//! `MAX_MESSAGES_PER_SECOND`
//! (5), `DIGEST_THRESHOLD` (20), `ALERT_LEDGER_TTL_DAYS` (30), `MAX_EVENT_AGE_HOURS` (24); and
//! the rule settings of [`iat_core::rules::SETTINGS`].

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use iat_alerter::{Alerter, DeliveryPolicy, RunReport};
use iat_aws::{DynamoAlertLedger, SnsNotifier, event_from_stream_image};
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_core::{ActivityEvent, RecordLimits, normalize};
use serde_json::{Value, json};

use crate::env::{Env, EnvError};

/// The alerter's configuration.
#[derive(Debug, Clone)]
pub struct AlerterSettings {
    pub topic_arn: String,
    pub ledger_table: String,
    /// The table holding the first-seen state (the control table); `None` turns the
    /// first-seen rules off.
    pub seen_table: Option<String>,
    /// The table sent alerts are logged in (the control table); `None` logs nothing.
    pub log_table: Option<String>,
    pub ledger_ttl: Duration,
    /// Older events raise no alert; `None`: no limit.
    pub max_event_age: Option<Duration>,
    pub policy: DeliveryPolicy,
    pub rules: RuleSetConfig,
}

impl AlerterSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, AlerterError> {
        let topic_arn = env.required("ALERT_TOPIC_ARN", "the SNS topic alerts are published to")?;
        if !topic_arn.starts_with("arn:") || topic_arn.split(':').count() != 6 {
            return Err(EnvError {
                name: "ALERT_TOPIC_ARN",
                value: topic_arn,
                expected: "an SNS topic ARN, arn:aws:sns:<region>:<account>:<name>".into(),
            }
            .into());
        }
        let ledger_table = env.required("ALERT_LEDGER_TABLE", "the alert ledger table's name")?;
        let seen_table = env.get("SEEN_TABLE");
        let log_table = env.get("ALERT_LOG_TABLE");
        let rate: f64 = env.parse(
            "MAX_MESSAGES_PER_SECOND",
            5.0,
            "a number of messages per second, e.g. 5",
        )?;
        if !(0.1..=30.0).contains(&rate) {
            return Err(EnvError {
                name: "MAX_MESSAGES_PER_SECOND",
                value: rate.to_string(),
                expected: "between 0.1 and 30 (SNS e-mail delivery allows about 10 per second)"
                    .into(),
            }
            .into());
        }
        let digest_threshold =
            env.parse("DIGEST_THRESHOLD", 20usize, "a number of alerts, e.g. 20")?;
        let ttl_days: i64 = env.parse(
            "ALERT_LEDGER_TTL_DAYS",
            DynamoAlertLedger::DEFAULT_RETENTION.num_days(),
            "a number of days, e.g. 30",
        )?;
        let max_age_hours: i64 = env.parse(
            "MAX_EVENT_AGE_HOURS",
            24,
            "a whole number of hours, 0 for no limit",
        )?;
        if max_age_hours < 0 {
            return Err(EnvError {
                name: "MAX_EVENT_AGE_HOURS",
                value: max_age_hours.to_string(),
                expected: "a whole number of hours, 0 for no limit".into(),
            }
            .into());
        }
        let lookup = |name: &str| env.get(name);
        let rules =
            RuleSetConfig::from_lookup(&lookup).map_err(|e| AlerterError::Rules(e.to_string()))?;
        Ok(Self {
            topic_arn,
            ledger_table,
            seen_table,
            log_table,
            ledger_ttl: Duration::days(ttl_days.max(1)),
            max_event_age: (max_age_hours > 0).then(|| Duration::hours(max_age_hours)),
            policy: DeliveryPolicy {
                max_per_second: rate,
                digest_threshold,
                ..DeliveryPolicy::default()
            },
            rules,
        })
    }
}

/// Why an invocation (or start-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum AlerterError {
    #[error(transparent)]
    Config(#[from] EnvError),
    #[error("rule settings: {0}")]
    Rules(String),
    /// An EventBridge event whose alerts were not all sent; EventBridge retries it.
    #[error("alerts not sent for event {event_id}: {reason}")]
    NotSent { event_id: String, reason: String },
    /// An event this function does not know how to read.
    #[error("unsupported event: {0}")]
    Unsupported(String),
}

impl AlerterError {
    pub fn error_type(&self) -> &'static str {
        match self {
            AlerterError::Config(_) | AlerterError::Rules(_) => "ConfigError",
            AlerterError::NotSent { .. } => "AlertsNotSent",
            AlerterError::Unsupported(_) => "UnsupportedEvent",
        }
    }
}

impl From<AlerterError> for lambda_runtime::Diagnostic {
    fn from(e: AlerterError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The alerter with its AWS ports.
#[derive(Debug)]
pub struct AlerterFunction {
    alerter: Alerter,
    limits: RecordLimits,
    max_event_age: Option<Duration>,
}

impl AlerterFunction {
    pub fn new(
        settings: AlerterSettings,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, AlerterError> {
        let rules = RuleSet::new(settings.rules).map_err(|e| AlerterError::Rules(e.to_string()))?;
        let ledger = DynamoAlertLedger::new(
            aws_sdk_dynamodb::Client::new(sdk),
            settings.ledger_table,
            settings.ledger_ttl,
        );
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(sdk), settings.topic_arn);
        let mut alerter =
            Alerter::new(rules, Arc::new(ledger), Arc::new(notifier), settings.policy);
        if let Some(table) = settings.seen_table {
            alerter = alerter.with_seen(Arc::new(iat_aws::DynamoSeenStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
            )));
        }
        if let Some(table) = settings.log_table {
            alerter = alerter.with_log(Arc::new(iat_aws::DynamoAlertLog::new(
                aws_sdk_dynamodb::Client::new(sdk),
                table,
            )));
        }
        Ok(Self {
            alerter,
            limits: RecordLimits::default(),
            max_event_age: settings.max_event_age,
        })
    }

    /// A function around an already-built alerter (other ports, tests).
    pub fn from_alerter(alerter: Alerter) -> Self {
        Self {
            alerter,
            limits: RecordLimits::default(),
            max_event_age: None,
        }
    }

    /// Events older than `age` (at the invocation's `now`) raise no alert.
    pub fn with_max_event_age(mut self, age: Option<Duration>) -> Self {
        self.max_event_age = age;
        self
    }

    fn too_old(&self, e: &ActivityEvent, now: DateTime<Utc>) -> bool {
        self.max_event_age.is_some_and(|age| e.time < now - age)
    }

    /// Sends the findings of events older than the age limit as one late digest.
    async fn process_late(&self, events: &[ActivityEvent], now: DateTime<Utc>) -> RunReport {
        let hours = self.max_event_age.map_or(0, |a| a.num_hours());
        // Late events teach the first-seen state too; what they raise goes in the digest.
        let (alerts, seen) = self.alerter.evaluate_now(events, now).await;
        let mut report = self.alerter.deliver_late(alerts, hours, now).await;
        report.events = events.len();
        if let Err(e) = seen {
            report
                .failed_events
                .extend(events.iter().map(|e| e.id.clone()));
            report.error.get_or_insert(e);
        }
        report
    }

    /// Handles one invocation: a DynamoDB stream batch or an EventBridge event.
    pub async fn handle(&self, event: Value, now: DateTime<Utc>) -> Result<Value, AlerterError> {
        if event.get("Records").is_some() {
            return Ok(self.stream_batch(&event, now).await);
        }
        if event.get("detail-type").is_some() && event.get("detail").is_some() {
            return self.eventbridge(&event, now).await;
        }
        Err(AlerterError::Unsupported(
            "expected a DynamoDB stream batch (Records) or an EventBridge CloudTrail event (detail-type, detail)".into(),
        ))
    }

    async fn stream_batch(&self, batch: &Value, now: DateTime<Utc>) -> Value {
        let records = batch["Records"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Events in stream order, and each one's sequence number.
        let mut events: Vec<ActivityEvent> = Vec::new();
        let mut sequences: Vec<&str> = Vec::new();
        let mut old: Vec<ActivityEvent> = Vec::new();
        let mut old_sequences: Vec<&str> = Vec::new();
        let mut skipped = 0;
        for r in records {
            let seq = r
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if r["eventName"].as_str() != Some("INSERT") {
                continue;
            }
            let Some(image) = r.pointer("/dynamodb/NewImage") else {
                tracing::warn!(
                    sequence = seq,
                    "stream record without NewImage; is the stream view NEW_IMAGE?"
                );
                skipped += 1;
                continue;
            };
            match event_from_stream_image(image, &self.limits) {
                Ok(Some(e)) if self.too_old(&e, now) => {
                    old.push(e);
                    old_sequences.push(seq);
                }
                Ok(Some(e)) => {
                    events.push(e);
                    sequences.push(seq);
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::error!(sequence = seq, %reason, "unreadable stream record skipped");
                    skipped += 1;
                }
            }
        }
        let report = self.alerter.process(&events, now).await;
        let late = self.process_late(&old, now).await;
        log_report("stream", &report, skipped, &late);
        // Retry from the first record (in stream order) whose alerts were not all sent.
        let first_failed = events
            .iter()
            .zip(&sequences)
            .chain(old.iter().zip(&old_sequences))
            .filter(|(e, _)| {
                report.failed_events.contains(&e.id) || late.failed_events.contains(&e.id)
            })
            .map(|(_, seq)| *seq)
            .min_by_key(|seq| {
                records.iter().position(|r| {
                    r.pointer("/dynamodb/SequenceNumber")
                        .and_then(Value::as_str)
                        == Some(seq)
                })
            });
        let failures: Vec<Value> = first_failed
            .map(|seq| json!({"itemIdentifier": seq}))
            .into_iter()
            .collect();
        json!({"batchItemFailures": failures})
    }

    async fn eventbridge(&self, event: &Value, now: DateTime<Utc>) -> Result<Value, AlerterError> {
        let detail = event["detail"].to_string();
        let e = match normalize(detail, &self.limits) {
            Ok(n) => n.event,
            Err(r) => {
                // Retrying cannot fix a record that does not read; log it and move on.
                tracing::error!(error = %r.error, "unreadable EventBridge detail skipped");
                return Ok(json!({"alerts_sent": 0, "skipped": 1}));
            }
        };
        if self.too_old(&e, now) {
            let late = self.process_late(std::slice::from_ref(&e), now).await;
            log_report("eventbridge", &RunReport::default(), 0, &late);
            if let Some(reason) = late.error {
                return Err(AlerterError::NotSent {
                    event_id: e.id.to_string(),
                    reason,
                });
            }
            return Ok(json!({"alerts_sent": 0, "too_old": 1, "late_sent": late.alerts_sent}));
        }
        let report = self.alerter.process(std::slice::from_ref(&e), now).await;
        log_report("eventbridge", &report, 0, &RunReport::default());
        if !report.is_complete() {
            return Err(AlerterError::NotSent {
                event_id: e.id.to_string(),
                reason: report
                    .error
                    .unwrap_or_else(|| "another sender holds the claim".into()),
            });
        }
        Ok(json!({"alerts_sent": report.alerts_sent, "already_sent": report.already_sent}))
    }
}

/// `late`: the events older than the age limit, whose findings went out as one late digest.
fn log_report(trigger: &str, r: &RunReport, skipped: usize, late: &RunReport) {
    tracing::info!(
        trigger,
        events = r.events,
        hits = r.hits,
        alerts = r.alerts,
        alerts_sent = r.alerts_sent,
        messages = r.messages,
        digests = r.digests,
        already_sent = r.already_sent,
        in_flight = r.in_flight,
        failed_events = r.failed_events.len(),
        skipped,
        too_old = late.events,
        late_alerts_sent = late.alerts_sent,
        late_error = late.error.as_deref().unwrap_or(""),
        error = r.error.as_deref().unwrap_or(""),
        "alert run"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use iat_alerter::DeliveryPolicy;
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{MemoryAlertLedger, MemoryNotifier};
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<AlerterSettings, AlerterError> {
        let vars: HashMap<String, String> = [
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:alerts",
            ),
            ("ALERT_LEDGER_TABLE", "ledger"),
        ]
        .iter()
        .chain(pairs)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let lookup = move |k: &str| vars.get(k).cloned();
        AlerterSettings::from_env(&Env::new(&lookup))
    }

    #[test]
    fn the_event_age_limit_defaults_to_a_day_and_zero_lifts_it() {
        assert_eq!(
            settings(&[]).unwrap().max_event_age,
            Some(Duration::hours(24))
        );
        assert_eq!(
            settings(&[("MAX_EVENT_AGE_HOURS", "0")])
                .unwrap()
                .max_event_age,
            None
        );
        for bad in ["-1", "a day"] {
            let e = settings(&[("MAX_EVENT_AGE_HOURS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("MAX_EVENT_AGE_HOURS"), "{e}");
        }
    }

    fn admin_attached(id: &str, at: DateTime<Utc>) -> Value {
        let spec = RecordSpec::new(id, at)
            .name("iam.amazonaws.com", "AttachRolePolicy")
            .params(json!({"roleName": "ci", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}));
        json!({
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
            "detail": serde_json::from_str::<Value>(&spec.json()).unwrap(),
        })
    }

    #[tokio::test]
    async fn findings_older_than_the_limit_arrive_as_one_late_digest_once() {
        let notifier = Arc::new(MemoryNotifier::new());
        let alerter = Alerter::new(
            RuleSet::default_rules(),
            Arc::new(MemoryAlertLedger::new()),
            notifier.clone(),
            DeliveryPolicy::default(),
        );
        let f =
            AlerterFunction::from_alerter(alerter).with_max_event_age(Some(Duration::hours(24)));
        let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let old = f
            .handle(admin_attached("old-1", now - Duration::days(30)), now)
            .await
            .unwrap();
        assert_eq!(old["too_old"], 1);
        assert!(old["late_sent"].as_u64().unwrap() >= 1, "{old}");
        let sent = notifier.sent();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0].subject.as_str().starts_with("[LATE] ")
                && sent[0]
                    .subject
                    .as_str()
                    .contains("findings older than 24 h"),
            "{}",
            sent[0].subject.as_str()
        );
        assert!(
            sent[0].body.contains("admin_policy_attached"),
            "{}",
            sent[0].body
        );
        // The same event again (a retry, or by the other trigger) sends nothing more.
        let again = f
            .handle(admin_attached("old-1", now - Duration::days(30)), now)
            .await
            .unwrap();
        assert_eq!(again["late_sent"], 0, "{again}");
        assert_eq!(notifier.sent().len(), 1);
        let fresh = f
            .handle(admin_attached("new-1", now - Duration::minutes(10)), now)
            .await
            .unwrap();
        assert_eq!(fresh["alerts_sent"], 1, "{fresh}");
        assert_eq!(notifier.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_late_digest_that_fails_is_retried_from_its_record() {
        let notifier = Arc::new(MemoryNotifier::new());
        notifier.fail_next(1);
        let alerter = Alerter::new(
            RuleSet::default_rules(),
            Arc::new(MemoryAlertLedger::new()),
            notifier.clone(),
            DeliveryPolicy::default(),
        );
        let f =
            AlerterFunction::from_alerter(alerter).with_max_event_age(Some(Duration::hours(24)));
        let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
        let out = f
            .handle(admin_attached("old-2", now - Duration::days(3)), now)
            .await;
        assert!(
            matches!(out, Err(AlerterError::NotSent { ref event_id, .. }) if event_id == "old-2"),
            "{out:?}"
        );
        let out = f
            .handle(admin_attached("old-2", now - Duration::days(3)), now)
            .await
            .unwrap();
        assert!(out["late_sent"].as_u64().unwrap() >= 1, "{out}");
        assert_eq!(notifier.sent().len(), 1);
    }
}
