//! An MFA device deactivated or deleted.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "mfa_device_removed",
    title: "MFA device deactivated or deleted",
    severity: Severity::High,
    description: "A successful `iam:DeactivateMFADevice` or `iam:DeleteVirtualMFADevice`.",
    why: "Removing MFA leaves a password as the only factor; attackers do it to keep console access, and it often precedes a password change.",
    check: "Did the user lose their device (ticket)? Was a new device enrolled right after? If not, reset the user's credentials.",
    tuning: "ALLOWED_ACTORS for the help-desk role that resets devices.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_disable.html",
        "https://attack.mitre.org/techniques/T1556/006/",
    ],
    reads: Reads::Events(&[
        ("iam.amazonaws.com", "DeactivateMFADevice"),
        ("iam.amazonaws.com", "DeleteVirtualMFADevice"),
    ]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let serial = text(&p, "serialNumber").unwrap_or("(serial not recorded)");
    let user = text(&p, "userName")
        .map(str::to_owned)
        .or_else(|| serial.rsplit_once(":mfa/").map(|(_, u)| u.to_owned()))
        .unwrap_or_else(|| "a user".into());
    let verb = if e.name == "DeactivateMFADevice" {
        "deactivated"
    } else {
        "deleted"
    };
    Some(
        Finding::new(format!("MFA device of {user} {verb}"))
            .detail("User", user)
            .detail("Device", serial),
    )
}
