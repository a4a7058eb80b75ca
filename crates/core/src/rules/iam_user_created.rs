//! A new IAM user.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "iam_user_created",
    title: "IAM user created",
    severity: Severity::Medium,
    description: "A successful `iam:CreateUser`.",
    why: "IAM users carry long-lived credentials. Organisations that sign in through Identity Center rarely need new ones, and attackers create them to keep access after the first foothold is closed.",
    check: "Is there a ticket for this user? Which policies, groups, keys and console password does it get next? Prefer roles or Identity Center.",
    tuning: "ALLOWED_ACTORS for the pipeline that manages users; DISABLED_RULES if IAM users are routine.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#bp-users-federation-idp",
        "https://attack.mitre.org/techniques/T1136/003/",
    ],
    reads: Reads::Events(&[("iam.amazonaws.com", "CreateUser")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let user = text(&p, "userName").unwrap_or("(name not recorded)");
    let mut f = Finding::new(format!("IAM user {user} created")).detail("User", user);
    if let Some(path) = text(&p, "path") {
        f = f.detail("Path", path);
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn denied_attempts_and_null_parameters() {
        let ok = call(iam_user("alice"), "iam.amazonaws.com", "CreateUser")
            .params(json!({"userName": "bob"}));
        assert_eq!(fire(&RULE, &ok.event()).summary, "IAM user bob created");
        assert!(quiet(
            &RULE,
            &ok.clone().error("AccessDenied", "not authorized").event()
        ));
        let null = call(iam_user("alice"), "iam.amazonaws.com", "CreateUser");
        assert!(fire(&RULE, &null.event()).summary.contains("not recorded"));
    }
}
