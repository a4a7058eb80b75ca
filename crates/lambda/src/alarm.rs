//! The alarm function: every CloudWatch alarm of the stack, told to people through the alert
//! topic in words.
//!
//! The alarms name this function as their action (CloudWatch's Lambda alarm action), and it
//! publishes one message per state change to the alert topic. That lets the topic be encrypted
//! with the account's AWS-managed SNS key, which costs nothing but which CloudWatch itself
//! cannot publish through (its key policy cannot be changed to admit CloudWatch); a key of our
//! own would cost $1 a month, a third of a small organisation's bill.
//!
//! Nothing is dropped: a payload that is not an alarm's is forwarded as it came. A publish that
//! fails is returned as an error, so Lambda retries the asynchronous invocation, and once the
//! retries are spent Lambda's on-failure destination, the same topic, carries the invocation
//! record (which holds the alarm) to people.
//!
//! Environment: `ALERT_TOPIC_ARN` (required).

use iat_aws::SnsNotifier;
use iat_core::Severity;
use iat_core::ports::{Notification, Notifier};
use serde_json::Value;

use crate::env::{Env, EnvError};

/// The alarm function's configuration.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    pub topic_arn: String,
}

impl AlarmSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, AlarmError> {
        let topic_arn = env.required("ALERT_TOPIC_ARN", "the SNS topic alarms are told through")?;
        Ok(Self { topic_arn })
    }
}

/// Why an invocation (or start-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error(transparent)]
    Config(#[from] EnvError),
    #[error("alarm {alarm} not published: {reason}")]
    NotPublished { alarm: String, reason: String },
}

impl AlarmError {
    /// A stable name for logs and Lambda's error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            AlarmError::Config(_) => "Config",
            AlarmError::NotPublished { .. } => "NotPublished",
        }
    }
}

impl From<AlarmError> for lambda_runtime::Diagnostic {
    fn from(e: AlarmError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The message for a CloudWatch alarm action's payload: `ALARM: <name>` with the alarm's
/// description (what broke and what to do), why it changed state, and where to look. A payload
/// that is not an alarm's is forwarded whole.
pub fn message(payload: &Value) -> Notification {
    let Some(name) = text(payload, &["alarmData", "alarmName"]) else {
        let body = serde_json::to_string_pretty(payload).unwrap_or_else(|_| payload.to_string());
        return Notification::new(
            "IAM Activity Tracker: an alarm action not understood",
            format!(
                "The alarm function was invoked with a payload it does not know; it is forwarded as it came:\n\n{body}"
            ),
            Severity::High,
        )
        .expect("a non-empty body")
        .with_attribute("rule_id", "alarm");
    };
    let state = text(payload, &["alarmData", "state", "value"]).unwrap_or("UNKNOWN");
    let previous = text(payload, &["alarmData", "previousState", "value"]);
    let since = text(payload, &["alarmData", "state", "timestamp"])
        .or_else(|| text(payload, &["time"]))
        .unwrap_or("an unknown time");
    let mut body = match previous {
        Some(p) => format!("{name} is {state} (was {p}) since {since}.\n"),
        None => format!("{name} is {state} since {since}.\n"),
    };
    if let Some(d) = text(payload, &["alarmData", "configuration", "description"]) {
        body.push_str(&format!("\n{d}\n"));
    }
    if let Some(r) = text(payload, &["alarmData", "state", "reason"]) {
        body.push_str(&format!("\nWhy: {r}\n"));
    }
    let region = text(payload, &["region"]);
    if let Some(arn) = text(payload, &["alarmArn"]) {
        body.push_str(&format!("\nAlarm: {arn}\n"));
    }
    if let (Some(region), Some(account)) = (region, text(payload, &["accountId"])) {
        body.push_str(&format!("Account {account}, region {region}.\n"));
    }
    if let Some(region) = region {
        let link: String = url_component(name);
        body.push_str(&format!(
            "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{link}\n"
        ));
    }
    let severity = if state == "OK" {
        Severity::Low
    } else {
        Severity::High
    };
    Notification::new(&format!("{state}: {name}"), body, severity)
        .expect("a non-empty body")
        .with_attribute("rule_id", "alarm")
}

/// `s` with every byte but unreserved ones percent-encoded.
fn url_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The function: one notifier, built once.
#[derive(Debug)]
pub struct AlarmFunction<N: Notifier = SnsNotifier> {
    notifier: N,
}

impl AlarmFunction<SnsNotifier> {
    pub fn new(settings: AlarmSettings, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(sdk), settings.topic_arn),
        }
    }
}

impl<N: Notifier> AlarmFunction<N> {
    pub fn with_notifier(notifier: N) -> Self {
        Self { notifier }
    }

    /// Publishes the alarm's message; an error makes Lambda retry.
    pub async fn handle(&self, payload: Value) -> Result<Value, AlarmError> {
        let note = message(&payload);
        let alarm = note.subject.as_str().to_owned();
        self.notifier
            .notify(&note)
            .await
            .map_err(|e| AlarmError::NotPublished {
                alarm: alarm.clone(),
                reason: e.to_string(),
            })?;
        tracing::info!(%alarm, "alarm published");
        Ok(serde_json::json!({ "published": alarm }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iat_core::ports::MemoryNotifier;

    /// The payload CloudWatch sends a Lambda alarm action (the documented example's shape).
    fn payload() -> Value {
        serde_json::from_str(include_str!(
            "../tests/fixtures/cloudwatch-alarm-action.json"
        ))
        .unwrap()
    }

    #[test]
    fn an_alarm_reads_as_what_broke_why_and_where() {
        let m = message(&payload());
        assert_eq!(
            m.subject.as_str(),
            "ALARM: iam-activity-tracker-alerter-dead-letters"
        );
        for part in [
            "iam-activity-tracker-alerter-dead-letters is ALARM (was OK) since 2026-11-30T04:12:00.000+0000.",
            "Alerts could not be sent after every retry",
            "Why: Threshold Crossed: 1 datapoint [3.0 (30/11/26 04:07:00)] was greater than or equal to the threshold (1.0).",
            "Alarm: arn:aws:cloudwatch:eu-west-1:111122223333:alarm:iam-activity-tracker-alerter-dead-letters",
            "Account 111122223333, region eu-west-1.",
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/iam-activity-tracker-alerter-dead-letters",
        ] {
            assert!(m.body.contains(part), "{part} missing from:\n{}", m.body);
        }
        assert_eq!(m.severity, Severity::High);
        assert_eq!(
            m.attributes.get("rule_id").map(String::as_str),
            Some("alarm")
        );
        let mut ok = payload();
        ok["alarmData"]["state"]["value"] = "OK".into();
        assert_eq!(message(&ok).severity, Severity::Low);
    }

    #[test]
    fn a_payload_that_is_not_an_alarm_is_forwarded_whole() {
        let odd = serde_json::json!({"hello": "world", "n": 3});
        let m = message(&odd);
        assert!(m.subject.as_str().contains("not understood"));
        assert!(m.body.contains("\"hello\": \"world\""), "{}", m.body);
    }

    #[tokio::test]
    async fn a_failed_publish_is_an_error_so_lambda_retries() {
        let notifier = MemoryNotifier::new();
        notifier.fail_next(1);
        let f = AlarmFunction::with_notifier(notifier);
        let err = f.handle(payload()).await.unwrap_err();
        assert_eq!(err.error_type(), "NotPublished");
        f.handle(payload()).await.unwrap();
        assert_eq!(f.notifier.sent().len(), 1);
    }
}
