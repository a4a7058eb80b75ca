//! Identity Center CreatePermissionSet.

use super::{Finding, Reads, Rule, RuleSettings, identity_center_change};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "permission_set_created",
    title: "Permission set created",
    severity: Severity::Medium,
    description: "A successful Identity Center `CreatePermissionSet`.",
    why: "A permission set becomes a role in every account it is assigned to; a new one is a new way in.",
    check: "Which policies will it carry, and who will be assigned it? Long session durations and admin policies deserve a second look.",
    tuning: "ALLOWED_ACTORS for the pipeline that manages Identity Center.",
    references: &[
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html",
    ],
    reads: Reads::Events(&[("sso.amazonaws.com", "CreatePermissionSet")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    identity_center_change(e, |name| format!("permission set {name} created"))
}
