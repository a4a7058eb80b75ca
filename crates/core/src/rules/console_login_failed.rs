//! Failed console sign-ins by IAM users, grouped per user.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, ConsoleLoginOutcome, PrincipalType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "console_login_failed",
    title: "Failed console sign-ins",
    severity: Severity::Medium,
    description: "A failed `ConsoleLogin` by anyone but root (root has `root_console_login`). Failures of one user in one run make one alert with the count.",
    why: "Repeated failures are password guessing or a credential-stuffing list that contains your users' names.",
    check: "Did the user mistype, or was it not them? Look at the source addresses; lock or reset the user if they were not trying to sign in.",
    tuning: "SEVERITY_OVERRIDES (low if single typos are common); DISABLED_RULES.",
    references: &[
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
        "https://attack.mitre.org/techniques/T1110/",
    ],
    reads: Reads::Events(&[("signin.amazonaws.com", "ConsoleLogin")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if e.principal.kind == PrincipalType::Root
        || !matches!(
            e.console_login.as_ref()?.outcome,
            ConsoleLoginOutcome::Failure
        )
    {
        return None;
    }
    let reason = e.error_message.as_deref().unwrap_or("Failure");
    Some(
        Finding::new(format!("failed console sign-in as {}", e.principal.actor))
            .detail("Reason", reason)
            .group(e.principal.actor.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn failures_only_and_not_root() {
        assert!(
            fire(
                &RULE,
                &console_login(iam_user("bob"), "Failure", Some(false))
            )
            .group
            .is_some()
        );
        assert!(quiet(
            &RULE,
            &console_login(iam_user("bob"), "Success", Some(true))
        ));
        assert!(quiet(&RULE, &console_login(root(), "Failure", Some(false))));
    }
}
