//! An inline policy granting everything, all of IAM or STS, or everything-but.

use super::admin_policy_attached::target;
use super::policy::{dangerous_grants, parse_document};
use super::{Finding, Reads, Rule, RuleSettings, params, succeeded};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "dangerous_inline_policy",
    title: "Dangerous inline policy",
    severity: Severity::High,
    description: "A successful `Put{User,Role,Group}Policy` whose document allows `*`, `*:*`, `iam:*` or `sts:*`, or allows with `NotAction`. Reads single-object and list `Statement`s, string and list `Action`s, and percent-encoded documents.",
    why: "Inline policies are invisible in the managed-policy list and easy to miss in reviews; a wildcard one is an admin grant by another name, and `iam:*` lets the holder grant themselves anything.",
    check: "Read the statements in the alert. Replace the grant with the actions the workload needs, and find out why it was made inline.",
    tuning: "ALLOWED_ACTORS for infrastructure pipelines you review elsewhere.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html",
    ],
    reads: Reads::Events(&[
        ("iam.amazonaws.com", "PutUserPolicy"),
        ("iam.amazonaws.com", "PutRolePolicy"),
        ("iam.amazonaws.com", "PutGroupPolicy"),
    ]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let doc = parse_document(p.get("policyDocument")?)?;
    let grants = dangerous_grants(&doc);
    if grants.is_empty() {
        return None;
    }
    let (kind, name) = target(&p);
    let policy = p
        .get("policyName")
        .and_then(|v| v.as_str())
        .unwrap_or("(unnamed)");
    Some(
        Finding::new(format!(
            "inline policy {policy} on {kind} {name}: {}",
            grants[0]
        ))
        .detail("Target", format!("{kind} {name}"))
        .detail("Policy name", policy)
        .detail("Grants", grants.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn every_identity_kind_and_document_form() {
        let star = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}).to_string();
        for (name, key) in [
            ("PutUserPolicy", "userName"),
            ("PutRolePolicy", "roleName"),
            ("PutGroupPolicy", "groupName"),
        ] {
            let c = call(iam_user("alice"), "iam.amazonaws.com", name)
                .params(json!({key: "x", "policyName": "p", "policyDocument": star}));
            assert!(fire(&RULE, &c.event()).summary.contains("Allow * on *"));
        }
        let narrow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}).to_string();
        let c = call(iam_user("alice"), "iam.amazonaws.com", "PutRolePolicy")
            .params(json!({"roleName": "x", "policyName": "p", "policyDocument": narrow}));
        assert!(quiet(&RULE, &c.event()));
        let broken = call(iam_user("alice"), "iam.amazonaws.com", "PutRolePolicy")
            .params(json!({"roleName": "x", "policyName": "p", "policyDocument": "{not json"}));
        assert!(quiet(&RULE, &broken.event()));
    }
}
