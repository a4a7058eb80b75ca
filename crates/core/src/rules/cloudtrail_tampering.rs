//! Logging stopped, trails deleted or changed, event selection narrowed.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "cloudtrail_tampering",
    title: "CloudTrail tampering",
    severity: Severity::High,
    description: "A successful call that stops or weakens CloudTrail: `StopLogging`, `DeleteTrail`, `DeleteEventDataStore`, `StopEventDataStoreIngestion` (critical); `UpdateTrail`, `PutEventSelectors`, `PutInsightSelectors`, `UpdateEventDataStore` (high).",
    why: "Turning off the audit trail is what an intruder does before the part they do not want seen. Event history (what this tool reads) keeps 90 days of management events regardless, so this alert still arrives.",
    check: "Is logging back on (`aws cloudtrail get-trail-status`)? Who made the change, and what did they do in the minutes after?",
    tuning: "SEVERITY_OVERRIDES; ALLOWED_ACTORS for the pipeline that manages trails.",
    references: &[
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html",
        "https://attack.mitre.org/techniques/T1562/008/",
    ],
    reads: Reads::Events(&[
        ("cloudtrail.amazonaws.com", "StopLogging"),
        ("cloudtrail.amazonaws.com", "DeleteTrail"),
        ("cloudtrail.amazonaws.com", "DeleteEventDataStore"),
        ("cloudtrail.amazonaws.com", "StopEventDataStoreIngestion"),
        ("cloudtrail.amazonaws.com", "UpdateTrail"),
        ("cloudtrail.amazonaws.com", "PutEventSelectors"),
        ("cloudtrail.amazonaws.com", "PutInsightSelectors"),
        ("cloudtrail.amazonaws.com", "UpdateEventDataStore"),
    ]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let target = text(&p, "name")
        .or_else(|| text(&p, "trailName"))
        .or_else(|| text(&p, "eventDataStore"))
        .unwrap_or("(not recorded)");
    let short = target.rsplit('/').next().unwrap_or(target);
    let (summary, severity) = match e.name.as_str() {
        "StopLogging" => (
            format!("logging stopped on trail {short}"),
            Severity::Critical,
        ),
        "DeleteTrail" => (format!("trail {short} deleted"), Severity::Critical),
        "DeleteEventDataStore" => (
            format!("event data store {short} deleted"),
            Severity::Critical,
        ),
        "StopEventDataStoreIngestion" => (
            format!("ingestion stopped on event data store {short}"),
            Severity::Critical,
        ),
        "PutEventSelectors" => {
            let drops_management = p
                .get("eventSelectors")
                .and_then(|v| v.as_array())
                .is_some_and(|sel| {
                    sel.iter().any(|s| {
                        s.get("includeManagementEvents").and_then(|v| v.as_bool()) == Some(false)
                    })
                });
            if drops_management {
                (
                    format!("management events turned off on trail {short}"),
                    Severity::Critical,
                )
            } else {
                (
                    format!("event selectors changed on trail {short}"),
                    Severity::High,
                )
            }
        }
        name => (format!("{name} on {short}"), Severity::High),
    };
    Some(
        Finding::new(summary)
            .detail("Trail", target)
            .severity(severity),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn failed_attempts_are_not_reported_as_done() {
        let probe = call(iam_user("alice"), "cloudtrail.amazonaws.com", "StopLogging")
            .params(json!({"name": "nope"}))
            .error("TrailNotFoundException", "Unknown trail");
        assert!(quiet(&RULE, &probe.event()));
        let stop = call(iam_user("alice"), "cloudtrail.amazonaws.com", "StopLogging")
            .params(json!({"name": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org"}));
        let f = fire(&RULE, &stop.event());
        assert_eq!(
            (f.summary.as_str(), f.severity),
            ("logging stopped on trail org", Some(Severity::Critical))
        );
    }
}
