//! People acting outside working hours.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, EventType, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "off_hours_activity",
    title: "Activity outside working hours",
    severity: Severity::Medium,
    description: "A call by a person (root, IAM user, Identity Center user or `AWSReservedSSO_` role session, SAML or web-identity user) outside WORKING_HOURS on WORKING_DAYS in TIME_ZONE (default 07:00-19:00 mon-fri UTC). Automation roles and AWS services never fire. One alert per person per run.",
    why: "Most intrusions with stolen human credentials happen while the owner sleeps; activity at 3 a.m. from a daytime user is worth a question.",
    check: "Was the person on call or travelling? If not, treat the credentials as compromised: what did the session read or change?",
    tuning: "WORKING_HOURS (`08:00-18:00`, an end before the start spans midnight), WORKING_DAYS (`mon-fri`), TIME_ZONE (`Europe/Berlin`, `+02:00`); ALLOWED_ACTORS for on-call staff.",
    references: &[
        "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-iam.html",
        "https://attack.mitre.org/techniques/T1078/004/",
    ],
    reads: Reads::PeopleOffHours,
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    if !e.principal.is_person()
        || e.event_type == EventType::AwsServiceEvent
        || e.principal.invoked_by.is_some()
        || s.working_hours.contains(e.time)
    {
        return None;
    }
    let (day, time) = s.working_hours.zone.local(e.time);
    let service = e.source.trim_end_matches(".amazonaws.com");
    Some(
        Finding::new(format!(
            "{service}:{} at {} {day} {}",
            e.name,
            time.format("%H:%M"),
            s.working_hours.zone
        ))
        .detail("Working hours", s.working_hours.describe())
        .group(e.principal.actor.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::rules::WorkingHours;

    #[test]
    fn people_only_in_their_time_zone() {
        let night = "2026-03-03T01:35:00Z".parse().unwrap();
        let user = call(
            iam_user("alice"),
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
        )
        .at(night);
        assert!(fire(&RULE, &user.event()).summary.contains("01:35 Tue UTC"));
        let mut s = RuleSettings::default();
        s.working_hours = WorkingHours::parse("00:00-10:00", "mon-fri", "Asia/Tokyo").unwrap();
        assert!(
            (RULE.eval)(&user.event(), &s).is_some(),
            "10:35 in Tokyo is after a day ending 10:00"
        );
        s.working_hours = WorkingHours::parse("08:00-18:00", "mon-fri", "Asia/Tokyo").unwrap();
        assert!((RULE.eval)(&user.event(), &s).is_none(), "10:35 in Tokyo");
        let robot = call(
            assumed_role("deployer", "GitHubActions-1"),
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
        )
        .at(night);
        assert!(quiet(&RULE, &robot.event()));
        let sso = call(
            assumed_role("AWSReservedSSO_Admin_0123456789abcdef", "alice@example.com"),
            "s3.amazonaws.com",
            "ListBuckets",
        )
        .at(night);
        assert!(!quiet(&RULE, &sso.event()));
    }
}
