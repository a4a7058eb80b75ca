//! Identity Center DeleteApplication.

use super::{Finding, Reads, Rule, RuleSettings, identity_center_change};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "sso_application_deleted",
    title: "Identity Center application deleted",
    severity: Severity::Low,
    description: "A successful Identity Center `DeleteApplication`.",
    why: "Deleting an application cuts users off from it and removes its audit trail in Identity Center.",
    check: "Was the deletion planned? Who used the application?",
    tuning: "DISABLED_RULES if applications are removed routinely.",
    references: &[
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/manage-your-applications.html",
    ],
    reads: Reads::Events(&[("sso.amazonaws.com", "DeleteApplication")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    identity_center_change(e, |name| {
        format!("Identity Center application {name} deleted")
    })
}
