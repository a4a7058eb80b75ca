//! A permission set's policies, boundary or settings changed.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "permission_set_updated",
    title: "Permission set updated",
    severity: Severity::Medium,
    description: "A successful change to an Identity Center permission set: `UpdatePermissionSet`, managed, customer-managed and inline policy changes, permissions boundary changes. Quiet where `permission_set_admin_policy` fired.",
    why: "Changing a permission set changes the power of everyone assigned to it, in every account it is provisioned to, at once.",
    check: "Which policy changed, and who is assigned the permission set? Was it reprovisioned afterwards?",
    tuning: "ALLOWED_ACTORS for the pipeline that manages Identity Center.",
    references: &[
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html",
    ],
    reads: Reads::Events(&[
        ("sso.amazonaws.com", "UpdatePermissionSet"),
        ("sso.amazonaws.com", "AttachManagedPolicyToPermissionSet"),
        ("sso.amazonaws.com", "DetachManagedPolicyFromPermissionSet"),
        (
            "sso.amazonaws.com",
            "AttachCustomerManagedPolicyReferenceToPermissionSet",
        ),
        (
            "sso.amazonaws.com",
            "DetachCustomerManagedPolicyReferenceFromPermissionSet",
        ),
        ("sso.amazonaws.com", "PutInlinePolicyToPermissionSet"),
        ("sso.amazonaws.com", "DeleteInlinePolicyFromPermissionSet"),
        ("sso.amazonaws.com", "PutPermissionsBoundaryToPermissionSet"),
        (
            "sso.amazonaws.com",
            "DeletePermissionsBoundaryFromPermissionSet",
        ),
    ]),
    superseded_by: &["permission_set_admin_policy"],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let ps = text(&p, "permissionSetArn").unwrap_or("(not recorded)");
    let short = ps.rsplit('/').next().unwrap_or(ps);
    let mut f =
        Finding::new(format!("permission set {short}: {}", e.name)).detail("Permission set", ps);
    if let Some(policy) = text(&p, "managedPolicyArn") {
        f = f.detail("Policy", policy);
    }
    if let Some(duration) = text(&p, "sessionDuration") {
        f = f.detail("Session duration", duration);
    }
    Some(f)
}
