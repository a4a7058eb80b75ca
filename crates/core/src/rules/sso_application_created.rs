//! Identity Center CreateApplication (a SAML or OAuth application users can sign in to).

use super::{Finding, Reads, Rule, RuleSettings, identity_center_change};
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
    identity_center_change(e, |name| {
        format!("Identity Center application {name} created")
    })
}
