//! Identity Center DeleteApplication.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
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
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let name = text(&p, "name")
        .or_else(|| text(&p, "applicationArn"))
        .or_else(|| text(&p, "permissionSetArn"))
        .unwrap_or("(not recorded)");
    let mut f = Finding::new(format!("Identity Center application {name} deleted"));
    if let Some(instance) = text(&p, "instanceArn") {
        f = f.detail("Instance", instance);
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn fixtures() {
        check_fixtures(&super::RULE);
    }
}
