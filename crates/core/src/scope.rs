//! Which events an ingester keeps from a trail that records everything.
//!
//! An organisation trail carries every management event of every account, most of them calls
//! nobody here reads (`Describe*`, `Get*` of every service). [`IngestScope::Identity`] keeps what
//! the rules and reports read: the identity services (IAM, STS, console sign-in, Identity
//! Center, Organizations, CloudTrail itself), every denied call, every call by a root user, and
//! every `(eventSource, eventName)` a rule in [`crate::rules::ALL`] names — so a new rule's
//! events are in scope without editing a second list. Rules that read any event (off-hours
//! activity) see only what the scope kept; [`IngestScope::All`] keeps everything.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::{ActivityEvent, PrincipalType};
use crate::rules::{self, Reads};

/// Event sources kept whole in the identity scope.
pub const IDENTITY_SOURCES: &[&str] = &[
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "signin.amazonaws.com",
    "sso.amazonaws.com",
    "identitystore.amazonaws.com",
    "sso-directory.amazonaws.com",
    "organizations.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "access-analyzer.amazonaws.com",
];

/// Which events of a trail are stored (`INGEST_SCOPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IngestScope {
    /// What the rules and reports read (the default).
    #[default]
    Identity,
    /// Every event.
    All,
}

impl IngestScope {
    /// Whether an event is stored.
    pub fn keeps(&self, e: &ActivityEvent) -> bool {
        match self {
            IngestScope::All => true,
            IngestScope::Identity => {
                IDENTITY_SOURCES.contains(&e.source.as_str())
                    || e.denial.is_some()
                    || e.principal.kind == PrincipalType::Root
                    || read_by_a_rule(&e.source, &e.name)
            }
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            IngestScope::Identity => "identity",
            IngestScope::All => "all",
        }
    }
}

/// Whether a rule names this `(eventSource, eventName)` pair.
fn read_by_a_rule(source: &str, name: &str) -> bool {
    rules::ALL.iter().any(|r| match r.reads {
        Reads::Events(pairs) => pairs.iter().any(|(s, n)| *s == source && *n == name),
        Reads::Denied | Reads::People | Reads::PeopleOffHours | Reads::Root | Reads::Any(_) => {
            false
        }
    })
}

impl FromStr for IngestScope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(IngestScope::Identity),
            "all" => Ok(IngestScope::All),
            _ => Err(Error::invalid(
                "INGEST_SCOPE",
                s,
                "must be `identity` (what the rules and reports read) or `all`",
            )),
        }
    }
}

impl fmt::Display for IngestScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::*;

    fn kept(b: Spec) -> bool {
        IngestScope::Identity.keeps(&b.event())
    }

    #[test]
    fn identity_keeps_what_the_rules_and_reports_read() {
        assert!(kept(call(
            iam_user("alice"),
            "iam.amazonaws.com",
            "ListUsers"
        )));
        assert!(kept(call(
            iam_user("alice"),
            "sts.amazonaws.com",
            "AssumeRole"
        )));
        assert!(kept(call(
            iam_user("alice"),
            "organizations.amazonaws.com",
            "LeaveOrganization"
        )));
        assert!(kept(call(
            iam_user("alice"),
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress"
        )));
        // Denied calls of any service, and anything the root user does.
        assert!(kept(
            call(iam_user("alice"), "s3.amazonaws.com", "CreateBucket").error(
                "AccessDenied",
                "with an explicit deny in a service control policy"
            )
        ));
        assert!(kept(call(root(), "s3.amazonaws.com", "ListBuckets")));
    }

    #[test]
    fn identity_drops_other_services_routine_calls() {
        assert!(!kept(call(
            iam_user("alice"),
            "ec2.amazonaws.com",
            "DescribeInstances"
        )));
        assert!(!kept(call(
            iam_user("alice"),
            "s3.amazonaws.com",
            "ListBuckets"
        )));
        // A failure that is not a denial is not kept for its error alone.
        assert!(!kept(
            call(iam_user("alice"), "ec2.amazonaws.com", "StartInstances")
                .error("InsufficientInstanceCapacity", "no capacity")
        ));
        assert!(
            IngestScope::All
                .keeps(&call(iam_user("alice"), "ec2.amazonaws.com", "DescribeInstances").event())
        );
    }

    #[test]
    fn every_event_a_rule_names_is_in_scope() {
        for rule in rules::ALL {
            if let Reads::Events(pairs) = rule.reads {
                for (source, name) in pairs {
                    assert!(
                        kept(call(iam_user("alice"), source, name)),
                        "{}: {source} {name} dropped",
                        rule.id
                    );
                }
            }
        }
    }

    #[test]
    fn parses_and_names_bad_values() {
        assert_eq!(
            "identity".parse::<IngestScope>().unwrap(),
            IngestScope::Identity
        );
        assert_eq!(" ALL ".parse::<IngestScope>().unwrap(), IngestScope::All);
        assert_eq!("".parse::<IngestScope>().unwrap(), IngestScope::Identity);
        let e = "everything".parse::<IngestScope>().unwrap_err().to_string();
        assert!(
            e.contains("INGEST_SCOPE") && e.contains("everything"),
            "{e}"
        );
    }
}
