//! IAM changes that let an identity give itself or others more power.

use super::admin_policy_attached::target;
use super::policy::{dangerous_grants, parse_document};
use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "privilege_escalation",
    title: "Privilege-escalating IAM change",
    severity: Severity::Medium,
    description: "A successful IAM call on the known escalation paths: login profiles, group membership, inline and attached policies, new default policy versions (`CreatePolicyVersion` with `setAsDefault`, `SetDefaultPolicyVersion`), trust policy updates. High when the caller changes its own user or role, or the new default version is dangerous. Stays quiet where a more specific rule (admin policy, dangerous inline policy, external trust) already fired.",
    why: "Each of these calls can turn modest permissions into administrator access: a password for a key-only user, a place in the admins group, a policy version that allows everything.",
    check: "Was the change made by the usual deployment pipeline, or by a person? Does the caller gain anything from it? Compare the policy or group before and after.",
    tuning: "ALLOWED_ACTORS for the roles that deploy IAM (CloudFormation, Terraform); SEVERITY_OVERRIDES.",
    references: &[
        "https://rhinosecuritylabs.com/aws/aws-privilege-escalation-methods-mitigation/",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html",
    ],
    reads: Reads::Events(&[
        ("iam.amazonaws.com", "CreateLoginProfile"),
        ("iam.amazonaws.com", "UpdateLoginProfile"),
        ("iam.amazonaws.com", "AddUserToGroup"),
        ("iam.amazonaws.com", "PutUserPolicy"),
        ("iam.amazonaws.com", "PutRolePolicy"),
        ("iam.amazonaws.com", "PutGroupPolicy"),
        ("iam.amazonaws.com", "AttachUserPolicy"),
        ("iam.amazonaws.com", "AttachRolePolicy"),
        ("iam.amazonaws.com", "AttachGroupPolicy"),
        ("iam.amazonaws.com", "CreatePolicyVersion"),
        ("iam.amazonaws.com", "SetDefaultPolicyVersion"),
        ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
        ("iam.amazonaws.com", "PutUserPermissionsBoundary"),
        ("iam.amazonaws.com", "DeleteUserPermissionsBoundary"),
        ("iam.amazonaws.com", "DeleteRolePermissionsBoundary"),
    ]),
    superseded_by: &[
        "admin_policy_attached",
        "dangerous_inline_policy",
        "trust_policy_external",
    ],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    if e.name == "CreatePolicyVersion"
        && p.get("setAsDefault").and_then(|v| v.as_bool()) != Some(true)
    {
        return None;
    }
    let mut f = match e.name.as_str() {
        "CreatePolicyVersion" | "SetDefaultPolicyVersion" => {
            let arn = text(&p, "policyArn").unwrap_or("(not recorded)");
            let version = text(&p, "versionId")
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            Finding::new(format!(
                "new default version{version} of policy {}",
                arn.rsplit('/').next().unwrap_or(arn)
            ))
            .detail("Policy", arn)
        }
        "AddUserToGroup" => {
            let user = text(&p, "userName").unwrap_or("(not recorded)");
            let group = text(&p, "groupName").unwrap_or("(not recorded)");
            Finding::new(format!("user {user} added to group {group}")).detail("Group", group)
        }
        "CreateLoginProfile" | "UpdateLoginProfile" => {
            let user = text(&p, "userName").unwrap_or("the caller");
            let what = if e.name == "CreateLoginProfile" {
                "given a console password"
            } else {
                "console password changed"
            };
            Finding::new(format!("user {user} {what}"))
        }
        name => {
            let (kind, target_name) = target(&p);
            let policy = text(&p, "policyArn")
                .or_else(|| text(&p, "policyName"))
                .or_else(|| text(&p, "permissionsBoundary"));
            let mut f = Finding::new(format!("{name} on {kind} {target_name}"));
            if let Some(policy) = policy {
                f = f.detail("Policy", policy);
            }
            f
        }
    };
    let (kind, name) = target(&p);
    f = f.detail("Target", format!("{kind} {name}"));
    let own_user = e
        .principal
        .arn
        .as_deref()
        .filter(|a| a.contains(":user/"))
        .and_then(|a| a.rsplit('/').next());
    let own_role = e.principal.role_name.as_deref();
    let is_self =
        (kind == "user" && Some(name) == own_user) || (kind == "role" && Some(name) == own_role);
    if is_self {
        f.summary.push_str(" (by itself)");
        f = f.severity(Severity::High);
    }
    if let Some(doc) = p.get("policyDocument").and_then(parse_document) {
        let grants = dangerous_grants(&doc);
        if !grants.is_empty() {
            f = f
                .detail("Grants", grants.join("; "))
                .severity(Severity::High);
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::rules::RuleSet;
    use serde_json::json;

    #[test]
    fn policy_versions_need_set_as_default_and_self_changes_rank_higher() {
        let draft = call(iam_user("alice"), "iam.amazonaws.com", "CreatePolicyVersion")
            .params(json!({"policyArn": "arn:aws:iam::111122223333:policy/p", "policyDocument": "{}", "setAsDefault": false}));
        assert!(quiet(&RULE, &draft.event()));
        let own = call(iam_user("alice"), "iam.amazonaws.com", "AddUserToGroup")
            .params(json!({"userName": "alice", "groupName": "admins"}));
        let f = fire(&RULE, &own.event());
        assert_eq!(f.severity, Some(Severity::High));
        assert!(f.summary.ends_with("(by itself)"), "{}", f.summary);
    }

    #[test]
    fn a_specific_rule_supersedes_it() {
        let admin = call(iam_user("alice"), "iam.amazonaws.com", "AttachRolePolicy")
            .params(json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
            .event();
        let hits = RuleSet::default_rules().evaluate_all(std::slice::from_ref(&admin));
        let ids: Vec<&str> = hits.iter().map(|h| h.rule.id).collect();
        assert_eq!(ids, ["admin_policy_attached"]);
        let plain = call(iam_user("alice"), "iam.amazonaws.com", "AttachRolePolicy")
            .params(json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}))
            .event();
        let hits = RuleSet::default_rules().evaluate_all(std::slice::from_ref(&plain));
        assert_eq!(
            hits.iter().map(|h| h.rule.id).collect::<Vec<_>>(),
            ["privilege_escalation"]
        );
    }
}
