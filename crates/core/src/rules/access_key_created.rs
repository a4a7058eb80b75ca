//! A new access key, for a user or (worst) for root.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, PrincipalType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "access_key_created",
    title: "Access key created",
    severity: Severity::Medium,
    description: "A successful `iam:CreateAccessKey`. Sent as critical when the key is the root user's; says when someone created a key for another user.",
    why: "Access keys are long-lived credentials that work from anywhere. A key made for someone else's user is a classic way to keep access; a root access key should never exist.",
    check: "Who will use the key, and where is it stored? Was it created by the user it belongs to? Rotate or delete keys nobody claims.",
    tuning: "ALLOWED_ACTORS for a key-rotation pipeline; SEVERITY_OVERRIDES.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
        "https://attack.mitre.org/techniques/T1098/001/",
    ],
    reads: Reads::Events(&[("iam.amazonaws.com", "CreateAccessKey")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let key_id = e.response_elements_value().and_then(|r| {
        r.pointer("/accessKey/accessKeyId")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    let f = match text(&p, "userName") {
        Some(user)
            if Some(user)
                != e.principal
                    .arn
                    .as_deref()
                    .and_then(|a| a.rsplit('/').next()) =>
        {
            Finding::new(format!(
                "access key created for user {user} by someone else"
            ))
            .detail("User", user)
        }
        Some(user) => Finding::new(format!("user {user} created an access key for themselves"))
            .detail("User", user),
        None if e.principal.kind == PrincipalType::Root => {
            Finding::new("an access key was created for the root user").severity(Severity::Critical)
        }
        None => Finding::new("an access key was created for the caller"),
    };
    Some(match key_id {
        Some(id) => f.detail("Access key", id),
        None => f,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn root_keys_null_parameters_and_other_users() {
        let root_key = call(root(), "iam.amazonaws.com", "CreateAccessKey");
        assert_eq!(
            fire(&RULE, &root_key.event()).severity,
            Some(Severity::Critical)
        );
        let other = call(iam_user("alice"), "iam.amazonaws.com", "CreateAccessKey")
            .params(json!({"userName": "svc"}));
        assert!(
            fire(&RULE, &other.event())
                .summary
                .contains("by someone else")
        );
        let own = call(iam_user("alice"), "iam.amazonaws.com", "CreateAccessKey")
            .params(json!({"userName": "alice"}));
        assert!(fire(&RULE, &own.event()).summary.contains("for themselves"));
        assert!(quiet(
            &RULE,
            &other.error("LimitExceeded", "Cannot exceed quota").event()
        ));
    }
}
