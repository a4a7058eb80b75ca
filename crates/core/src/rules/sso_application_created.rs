//! Identity Center CreateApplication (a SAML or OAuth application users can sign in to).

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "sso_application_created",
    title: "Identity Center application created",
    severity: Severity::Medium,
    description: "A successful Identity Center `CreateApplication` (a SAML or OAuth application users can sign in to).",
    why: "An application trusts Identity Center's sign-in; a rogue one can harvest sessions or grant outside access.",
    check: "Who owns the application, and which users and groups are assigned to it?",
    tuning: "DISABLED_RULES if applications are created routinely.",
    references: &[
        "https://docs.aws.amazon.com/singlesignon/latest/userguide/manage-your-applications.html",
    ],
    reads: Reads::Events(&[("sso.amazonaws.com", "CreateApplication")]),
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
    let mut f = Finding::new(format!("Identity Center application {name} created"));
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
