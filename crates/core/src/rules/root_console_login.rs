//! A console sign-in as the root user, successful or failed.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, ConsoleLoginOutcome, PrincipalType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "root_console_login",
    title: "Root user console sign-in",
    severity: Severity::Critical,
    description: "A console sign-in as the root user. Success and failure are told apart by `responseElements.ConsoleLogin`; a failure is sent as high. Says whether MFA was used.",
    why: "The root user can do anything in the account, including closing it, and no IAM policy limits it. Day-to-day work never needs it; a failed attempt means someone is trying its password.",
    check: "Was this a planned break-glass use? Ask the account owner. If not: reset the root password, confirm the root MFA device, and review what the session did next (`iat events --actor root`).",
    tuning: "SEVERITY_OVERRIDES only; root use is never noise.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user.html",
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
    ],
    reads: Reads::Events(&[("signin.amazonaws.com", "ConsoleLogin")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if e.principal.kind != PrincipalType::Root {
        return None;
    }
    let login = e.console_login.as_ref()?;
    let mfa = match login.mfa_used {
        Some(true) => "with MFA",
        Some(false) => "without MFA",
        None => "(MFA not recorded)",
    };
    Some(match &login.outcome {
        ConsoleLoginOutcome::Success => {
            Finding::new(format!("the root user signed in to the console {mfa}"))
        }
        ConsoleLoginOutcome::Failure => Finding::new("a console sign-in as the root user failed")
            .severity(Severity::High)
            .detail(
                "Error",
                e.error_message.clone().unwrap_or_else(|| "Failure".into()),
            ),
        ConsoleLoginOutcome::Other(o) => {
            Finding::new(format!("console sign-in as the root user: {o}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn success_and_failure_are_told_apart() {
        let ok = fire(&RULE, &console_login(root(), "Success", Some(false)));
        assert_eq!(
            ok.summary,
            "the root user signed in to the console without MFA"
        );
        assert_eq!(ok.severity, None);
        let failed = fire(&RULE, &console_login(root(), "Failure", Some(false)));
        assert_eq!(failed.severity, Some(Severity::High));
        assert!(quiet(
            &RULE,
            &console_login(iam_user("alice"), "Success", Some(true))
        ));
    }
}
