//! Any API call made as the root user, other than the console sign-in itself.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, EventType, PrincipalType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "root_activity",
    title: "Root user activity",
    severity: Severity::High,
    description: "Any call made with root credentials (console session or root access key), failed or not, including console actions (`invokedBy: signin.amazonaws.com`) and calls a service made on root's behalf (`invokedBy: cloudformation.amazonaws.com`, ...); only sign-in events (`root_console_login` reads those) and AWS service events are exempt. Calls in one run are grouped into one alert per account, so a console action and the service calls it caused arrive together.",
    why: "Root credentials bypass every IAM policy and permissions boundary. Any use outside a documented break-glass procedure means they are shared, leaked or used by mistake; a failed call still proves someone holds them.",
    check: "Who holds the root credentials? Does the account have a root access key (it should not)? List the calls in the alert and confirm each was intended.",
    tuning: "SEVERITY_OVERRIDES; nothing else by design.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-tasks.html",
        "https://docs.aws.amazon.com/securityhub/latest/userguide/iam-controls.html",
    ],
    reads: Reads::Root,
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if e.principal.kind != PrincipalType::Root
        || e.event_type == EventType::AwsServiceEvent
        || e.event_type == EventType::AwsConsoleSignIn
        || e.source == "signin.amazonaws.com"
    {
        return None;
    }
    let service = e.source.trim_end_matches(".amazonaws.com");
    let mut summary = format!("the root user called {service}:{}", e.name);
    let by = e.principal.invoked_by.as_deref();
    match by {
        Some("signin.amazonaws.com") => summary.push_str(" in the console"),
        Some(other) => summary.push_str(&format!(
            " through {} on its behalf",
            other.trim_end_matches(".amazonaws.com")
        )),
        None => {}
    }
    if let Some(code) = &e.error_code {
        summary.push_str(&format!(" (failed: {code})"));
    }
    let key = e.principal.access_key_id.as_deref().unwrap_or("none");
    let mut f = Finding::new(summary).detail("Access key", key);
    if let Some(by) = by {
        f = f.detail("Invoked by", by);
    }
    Some(
        f.group(
            e.account
                .as_ref()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn failed_root_calls_still_count_but_not_the_sign_in() {
        let denied =
            call(root(), "s3.amazonaws.com", "ListBuckets").error("AccessDenied", "denied");
        assert!(
            fire(&RULE, &denied.event())
                .summary
                .contains("failed: AccessDenied")
        );
        assert!(quiet(&RULE, &console_login(root(), "Success", Some(true))));
        let mut console = root();
        console["invokedBy"] = "signin.amazonaws.com".into();
        let console = call(console, "iam.amazonaws.com", "CreateAccessKey").event();
        let f = fire(&RULE, &console);
        assert_eq!(
            f.summary,
            "the root user called iam:CreateAccessKey in the console"
        );
        let mut stack = root();
        stack["invokedBy"] = "cloudformation.amazonaws.com".into();
        let stack = call(stack, "iam.amazonaws.com", "CreateRole").event();
        let g = fire(&RULE, &stack);
        assert_eq!(
            g.summary,
            "the root user called iam:CreateRole through cloudformation on its behalf"
        );
        assert_eq!(f.group, g.group, "one alert per account and run");
        assert!(quiet(
            &RULE,
            &call(iam_user("alice"), "s3.amazonaws.com", "ListBuckets").event()
        ));
    }
}
