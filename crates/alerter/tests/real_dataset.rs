//! The rule set on real CloudTrail (the shared datasets beside the repository), when present:
//! what fires is exactly what a reviewer expects of this data. Skips when the datasets are
//! absent, as in a user's fresh clone. Set `IAT_SHARED_DIR` to point elsewhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use iat_core::RecordLimits;
use iat_core::alert::Alert;
use iat_core::rules::RuleSet;

fn dataset() -> Option<PathBuf> {
    iat_sim::emulators::real_cloudtrail_dir()
}

#[test]
fn rules_on_real_cloudtrail() {
    let Some(dir) = dataset() else { return };
    let loaded = iat_local::logfiles::load_events(&[dir], &RecordLimits::default());
    assert!(loaded.rejected.is_empty());
    let rules = RuleSet::default_rules();
    let hits = rules.evaluate_all(&loaded.events);
    // The events the rules read (what the console selects from a store) raise the same hits.
    let interest = rules.interest().expect("every rule names what it reads");
    let read: Vec<_> = loaded
        .events
        .iter()
        .filter(|e| interest.matches(e))
        .cloned()
        .collect();
    let key = |hits: &[iat_core::rules::Hit<'_>]| -> Vec<(String, String, String)> {
        let mut k: Vec<_> = hits
            .iter()
            .map(|h| {
                (
                    h.rule.id.to_owned(),
                    h.event.id.to_string(),
                    h.finding.summary.clone(),
                )
            })
            .collect();
        k.sort();
        k
    };
    assert_eq!(key(&rules.evaluate_all(&read)), key(&hits));
    println!(
        "the rules read {} of {} events",
        read.len(),
        loaded.events.len()
    );
    let mut by_rule: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for h in &hits {
        *by_rule
            .entry((h.rule.id, h.event.name.as_str()))
            .or_default() += 1;
    }
    for ((rule, name), n) in &by_rule {
        println!("{n:>4}  {rule:<32} {name}");
    }
    // Reviewed by hand: this dataset is a Stratus Red Team run (one attacker user running
    // persistence, privilege escalation, defence evasion and credential access techniques
    // between 11:45 and 12:30 UTC on a Monday). Every line below is one of those techniques;
    // what stays quiet is the attacker's reconnaissance reads, the failed `StopLogging` and
    // `DeleteTrail` on trails that did not exist, and the tooling's own set-up and clean-up
    // (`DetachRolePolicy`, `DeleteUser`, ...).
    let expected: BTreeMap<(&str, &str), usize> = [
        (("access_denied", "AssumeRole"), 13),
        (("access_denied", "DescribeInstanceAttribute"), 15),
        (("access_denied", "GetPasswordData"), 29),
        (("access_denied", "LeaveOrganization"), 1),
        (("access_key_created", "CreateAccessKey"), 2),
        (("admin_policy_attached", "AttachRolePolicy"), 1),
        (("admin_policy_attached", "AttachUserPolicy"), 1),
        (("cloudtrail_tampering", "DeleteTrail"), 2),
        (("cloudtrail_tampering", "PutEventSelectors"), 2),
        (("console_login_without_mfa", "ConsoleLogin"), 1),
        (("iam_user_created", "CreateUser"), 4),
        (("privilege_escalation", "AttachRolePolicy"), 5),
        (("privilege_escalation", "CreateLoginProfile"), 2),
        (("privilege_escalation", "PutRolePolicy"), 5),
        (("privilege_escalation", "UpdateAssumeRolePolicy"), 1),
        // The set-up of three techniques hands roles to services: two EC2 instances with
        // instance profiles, a Lambda function and an IAM Roles Anywhere profile. None of those
        // roles is made admin here, so all stay low.
        (("role_passed_to_service", "CreateFunction20150331"), 2),
        (("role_passed_to_service", "CreateProfile"), 1),
        (("role_passed_to_service", "RunInstances"), 2),
        (
            ("security_group_changed", "AuthorizeSecurityGroupEgress"),
            1,
        ),
        (("security_group_changed", "CreateSecurityGroup"), 1),
        (("security_group_changed", "DeleteSecurityGroup"), 1),
        (("security_group_changed", "RevokeSecurityGroupEgress"), 1),
        (("security_group_changed", "RevokeSecurityGroupIngress"), 1),
        (
            (
                "security_group_open_to_world",
                "AuthorizeSecurityGroupIngress",
            ),
            2,
        ),
        (("trust_policy_external", "UpdateAssumeRolePolicy"), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_rule, expected);
    let summaries: Vec<String> = hits.iter().map(|h| h.finding.summary.clone()).collect();
    for must in [
        "AdministratorAccess attached to user malicious-iam-user",
        "role stratus-red-team-backdoor-r-role now trusts arn:aws:iam::193672423079:root (account 193672423079)",
        "management events turned off on trail stratus-red-team-ctes-trail-qyxyekjbtk",
        "security group sg-04cfb7a4712d75b00 open to the internet: 0.0.0.0/0 on tcp/22",
        "access key created for user malicious-iam-user by someone else",
        "instance profile stratus-red-team-ec2-steal-credentials-instance passed to ec2 in RunInstances",
        "role stratus-red-team-trust-anchor-role passed to rolesanywhere in CreateProfile",
    ] {
        assert!(summaries.iter().any(|s| s == must), "missing {must:?}");
    }
    assert!(
        hits.iter()
            .filter(|h| h.rule.id == "role_passed_to_service")
            .all(|h| h.severity == iat_core::Severity::Low)
    );
    // Bursts are grouped: 58 denials make 4 alerts (one per actor and action).
    let alerts = Alert::from_hits(hits);
    let denied: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule_id == "access_denied")
        .collect();
    assert_eq!(
        denied.len(),
        4,
        "{:?}",
        denied
            .iter()
            .map(|a| (&a.summary, a.events.len()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        alerts.len(),
        35,
        "the five passed roles are one alert for their one actor"
    );
    println!("{} events, {} alerts", loaded.events.len(), alerts.len());
}
