//! An admin policy (managed or inline) put on an Identity Center permission set.

use super::policy::{dangerous_grants, parse_document};
use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "permission_set_admin_policy",
    title: "Admin policy on a permission set",
    severity: Severity::High,
    description: "A successful `AttachManagedPolicyToPermissionSet` with an admin policy ARN (ADMIN_POLICY_ARNS), or `PutInlinePolicyToPermissionSet` whose document allows `*`, `iam:*`, `sts:*` or uses `NotAction`.",
    why: "Everyone assigned the permission set becomes administrator in every account it is provisioned to.",
    check: "Who is assigned the permission set, in which accounts? Is this a break-glass set with short sessions and alerts on use?",
    tuning: "ADMIN_POLICY_ARNS; ALLOWED_ACTORS for the Identity Center pipeline.",
    references: &[
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html",
        "https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_AttachManagedPolicyToPermissionSet.html",
    ],
    reads: Reads::Events(&[
        ("sso.amazonaws.com", "AttachManagedPolicyToPermissionSet"),
        ("sso.amazonaws.com", "PutInlinePolicyToPermissionSet"),
    ]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let ps = text(&p, "permissionSetArn").unwrap_or("(not recorded)");
    let short = ps.rsplit('/').next().unwrap_or(ps);
    if let Some(arn) = text(&p, "managedPolicyArn") {
        return s.is_admin_policy(arn).then(|| {
            Finding::new(format!(
                "{} attached to permission set {short}",
                arn.rsplit('/').next().unwrap_or(arn)
            ))
            .detail("Permission set", ps)
            .detail("Policy", arn)
        });
    }
    let doc = parse_document(p.get("inlinePolicy")?)?;
    let grants = dangerous_grants(&doc);
    (!grants.is_empty()).then(|| {
        Finding::new(format!(
            "inline policy on permission set {short}: {}",
            grants[0]
        ))
        .detail("Permission set", ps)
        .detail("Grants", grants.join("; "))
    })
}
