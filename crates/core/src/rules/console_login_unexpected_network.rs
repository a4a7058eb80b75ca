//! A successful console sign-in from outside the expected networks.

use std::net::IpAddr;

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, ConsoleLoginOutcome, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "console_login_unexpected_network",
    title: "Console sign-in from an unexpected network",
    severity: Severity::High,
    description: "A successful `ConsoleLogin` whose source address (IPv4 or IPv6; IPv4-mapped IPv6 read as IPv4) is in none of EXPECTED_NETWORKS. Off until EXPECTED_NETWORKS is set. `AWS Internal` and service host names are not client networks and never fire.",
    why: "People sign in from known offices and VPNs; a sign-in from elsewhere is the first visible step of a stolen password or session.",
    check: "Does the address belong to a VPN, a home connection, a travel location the person confirms? If not, end the user's sessions and reset their password and MFA.",
    tuning: "EXPECTED_NETWORKS (comma-separated CIDRs, IPv4 and IPv6).",
    references: &[
        "https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-ip.html",
    ],
    reads: Reads::Events(&[("signin.amazonaws.com", "ConsoleLogin")]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    let nets = s.expected_networks();
    if nets.is_empty()
        || !matches!(
            e.console_login.as_ref()?.outcome,
            ConsoleLoginOutcome::Success
        )
    {
        return None;
    }
    let addr = match e.source_ip.addr? {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if nets.iter().any(|n| n.contains(&addr)) {
        return None;
    }
    Some(
        Finding::new(format!(
            "console sign-in from {addr}, outside the expected networks"
        ))
        .detail("Address", addr.to_string())
        .detail(
            "Expected",
            nets.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn settings() -> RuleSettings {
        let mut s = RuleSettings::default();
        s.set_expected_networks("203.0.113.0/24,2001:db8:1000::/48")
            .unwrap();
        s
    }

    fn login_from(ip: &str) -> ActivityEvent {
        console_login_spec(iam_user("alice"), "Success", Some(true))
            .ip(ip)
            .event()
    }

    #[test]
    fn ipv4_ipv6_mapped_and_non_addresses() {
        let s = settings();
        let eval = |ip: &str| (RULE.eval)(&login_from(ip), &s);
        assert!(eval("198.51.100.7").is_some());
        assert!(eval("203.0.113.9").is_none());
        assert!(eval("2001:db8:1000::5").is_none());
        assert!(eval("2001:db8:2000::5").is_some());
        assert!(eval("::ffff:203.0.113.9").is_none(), "IPv4-mapped");
        assert!(eval("AWS Internal").is_none());
        assert!(eval("signin.amazonaws.com").is_none());
        assert!(
            (RULE.eval)(&login_from("198.51.100.7"), &RuleSettings::default()).is_none(),
            "off without networks"
        );
        let failed = console_login_spec(iam_user("alice"), "Failure", Some(false))
            .ip("198.51.100.7")
            .event();
        assert!((RULE.eval)(&failed, &s).is_none());
    }
}
