//! An administrator managed policy attached to a user, role or group.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "admin_policy_attached",
    title: "Admin policy attached",
    severity: Severity::High,
    description: "A successful `Attach{User,Role,Group}Policy` whose policy ARN is exactly one of the admin policies (default `AdministratorAccess` and `IAMFullAccess`, any partition). `AdministratorAccess-Amplify` is not `AdministratorAccess`.",
    why: "An admin policy gives its holder the whole account, including the power to hide their tracks. Attached to a role, it reaches everyone who can assume that role.",
    check: "Who asked for it and for how long? Who can assume the role or is in the group? Prefer a narrower policy or a time-boxed permission set.",
    tuning: "ADMIN_POLICY_ARNS (comma-separated ARNs, replaces the default list; add your own break-glass policies).",
    references: &[
        "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AdministratorAccess.html",
        "https://attack.mitre.org/techniques/T1098/003/",
    ],
    reads: Reads::Events(&[
        ("iam.amazonaws.com", "AttachUserPolicy"),
        ("iam.amazonaws.com", "AttachRolePolicy"),
        ("iam.amazonaws.com", "AttachGroupPolicy"),
    ]),
    superseded_by: &[],
    eval,
};

/// `(kind, name)` of the identity an IAM call targets.
pub(crate) fn target(p: &serde_json::Value) -> (&'static str, &str) {
    for (key, kind) in [
        ("roleName", "role"),
        ("userName", "user"),
        ("groupName", "group"),
    ] {
        if let Some(name) = text(p, key) {
            return (kind, name);
        }
    }
    ("identity", "(not recorded)")
}

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let arn = text(&p, "policyArn")?;
    if !s.is_admin_policy(arn) {
        return None;
    }
    let (kind, name) = target(&p);
    let policy = arn.rsplit('/').next().unwrap_or(arn);
    Some(
        Finding::new(format!("{policy} attached to {kind} {name}"))
            .detail("Policy", arn)
            .detail("Target", format!("{kind} {name}")),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn users_roles_groups_but_not_lookalikes() {
        for (name, key) in [
            ("AttachUserPolicy", "userName"),
            ("AttachRolePolicy", "roleName"),
            ("AttachGroupPolicy", "groupName"),
        ] {
            let c = call(iam_user("alice"), "iam.amazonaws.com", name).params(
                json!({key: "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            );
            assert!(
                fire(&RULE, &c.event())
                    .summary
                    .starts_with("AdministratorAccess attached to")
            );
        }
        let amplify = call(iam_user("alice"), "iam.amazonaws.com", "AttachRolePolicy")
            .params(json!({"roleName": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess-Amplify"}));
        assert!(quiet(&RULE, &amplify.event()));
    }
}
