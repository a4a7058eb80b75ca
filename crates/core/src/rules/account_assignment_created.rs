//! Identity Center CreateAccountAssignment: a user or group given a permission set in an account.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "account_assignment_created",
    title: "Account assignment created",
    severity: Severity::Medium,
    description: "A successful Identity Center `CreateAccountAssignment`: a user or group given a permission set in an account.",
    why: "An assignment is access: the principal can now sign in to the target account with the permission set's power.",
    check: "Is the principal expected in that account? Does the permission set match their job?",
    tuning: "ALLOWED_ACTORS for the pipeline that manages assignments.",
    references: &["https://docs.aws.amazon.com/singlesignon/latest/userguide/useraccess.html"],
    reads: Reads::Events(&[("sso.amazonaws.com", "CreateAccountAssignment")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let target = text(&p, "targetId").unwrap_or("(not recorded)");
    let principal_type = text(&p, "principalType").unwrap_or("principal");
    let principal = text(&p, "principalId").unwrap_or("(not recorded)");
    let ps = text(&p, "permissionSetArn").unwrap_or("(not recorded)");
    Some(
        Finding::new(format!(
            "{} {principal} assigned permission set {} in account {target}",
            principal_type.to_lowercase(),
            ps.rsplit('/').next().unwrap_or(ps)
        ))
        .detail("Account", target)
        .detail("Principal", format!("{principal_type} {principal}"))
        .detail("Permission set", ps),
    )
}
