//! An access key turned on or off.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "access_key_status_changed",
    title: "Access key status changed",
    severity: Severity::Low,
    description: "A successful `iam:UpdateAccessKey`. Re-activating a key is sent as medium.",
    why: "Deactivating a key is usually incident response or rotation; re-activating one brings back a credential someone decided to stop.",
    check: "Which key, whose, and why? A re-activated key should have a ticket.",
    tuning: "DISABLED_RULES or SEVERITY_OVERRIDES if rotation tooling makes this routine.",
    references: &["https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccessKey.html"],
    reads: Reads::Events(&[("iam.amazonaws.com", "UpdateAccessKey")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let status = text(&p, "status").unwrap_or("changed");
    let key = text(&p, "accessKeyId").unwrap_or("(key not recorded)");
    let owner = text(&p, "userName").unwrap_or("the caller");
    let f = Finding::new(format!("access key {key} of {owner} set {status}"))
        .detail("Access key", key)
        .detail("Status", status);
    Some(if status.eq_ignore_ascii_case("active") {
        f.severity(Severity::Medium)
    } else {
        f
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn reactivation_ranks_higher() {
        let on = call(iam_user("alice"), "iam.amazonaws.com", "UpdateAccessKey")
            .params(json!({"userName": "svc", "accessKeyId": "AKIAEXAMPLE", "status": "Active"}));
        assert_eq!(fire(&RULE, &on.event()).severity, Some(Severity::Medium));
    }
}
