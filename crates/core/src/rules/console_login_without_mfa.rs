//! An IAM user signed in to the console without MFA.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, ConsoleLoginOutcome, PrincipalType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "console_login_without_mfa",
    title: "Console sign-in without MFA",
    severity: Severity::Medium,
    description: "A successful `ConsoleLogin` by an IAM user with `additionalEventData.MFAUsed` = `No`. Root is covered by `root_console_login`; federated and Identity Center sign-ins are not IAM-MFA sign-ins and never fire.",
    why: "A password alone is one phishing page away from an attacker; every console user should have MFA.",
    check: "Enrol an MFA device for the user, or require it with a policy that denies everything without `aws:MultiFactorAuthPresent`.",
    tuning: "ALLOWED_ACTORS for users that cannot have MFA (there should be none).",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html",
        "https://docs.aws.amazon.com/securityhub/latest/userguide/iam-controls.html#iam-5",
    ],
    reads: Reads::Events(&[("signin.amazonaws.com", "ConsoleLogin")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    let login = e.console_login.as_ref()?;
    if e.principal.kind != PrincipalType::IamUser
        || !matches!(login.outcome, ConsoleLoginOutcome::Success)
        || login.mfa_used != Some(false)
    {
        return None;
    }
    Some(Finding::new(format!(
        "IAM user {} signed in to the console without MFA",
        e.principal.actor
    )))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn only_successful_iam_user_sign_ins_without_mfa() {
        assert!(
            fire(
                &RULE,
                &console_login(iam_user("bob"), "Success", Some(false))
            )
            .summary
            .contains("bob")
        );
        assert!(quiet(
            &RULE,
            &console_login(iam_user("bob"), "Success", Some(true))
        ));
        assert!(quiet(
            &RULE,
            &console_login(iam_user("bob"), "Failure", Some(false))
        ));
        assert!(quiet(&RULE, &console_login(root(), "Success", Some(false))));
        assert!(quiet(
            &RULE,
            &console_login(iam_user("bob"), "Success", None)
        ));
    }
}
