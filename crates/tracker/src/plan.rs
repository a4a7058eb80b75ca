//! Which streams to collect: (account, region, event source), from where CloudTrail records them.
//!
//! IAM and global STS are recorded in us-east-1; regional STS in each region; console sign-in in
//! us-east-1 and the regions the global sign-in page uses; Identity Center in its home region.

use iat_core::{AccountId, Region, StreamKey};

/// Regions where console sign-in events of the global endpoint are recorded, besides us-east-1.
pub const SIGN_IN_REGIONS: [&str; 3] = ["us-east-2", "eu-north-1", "ap-southeast-2"];

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Identity Center events, from its home region.
    pub sso_region: Option<Region>,
    /// More event sources to collect in every region (e.g. `ec2.amazonaws.com`).
    pub extra_sources: Vec<String>,
    /// Every management event instead of the identity sources (for the denied-calls report).
    pub all_management_events: bool,
}

/// One stream and the `EventSource` lookup attribute that selects it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamSpec {
    pub key: StreamKey,
    /// `None` for all management events.
    pub event_source: Option<String>,
}

/// The marker `source` of an all-management-events stream.
pub const ALL_SOURCES: &str = "*";

/// The streams of `accounts` over the enabled `regions`.
pub fn streams(
    accounts: &[AccountId],
    regions: &[Region],
    options: &StreamOptions,
) -> Vec<StreamSpec> {
    let mut out = Vec::new();
    let has = |r: &str| regions.iter().any(|x| x.as_str() == r);
    for account in accounts {
        let mut add = |region: &Region, source: Option<&str>| {
            out.push(StreamSpec {
                key: StreamKey {
                    account: account.clone(),
                    region: region.clone(),
                    source: source.unwrap_or(ALL_SOURCES).to_owned(),
                },
                event_source: source.map(str::to_owned),
            });
        };
        if options.all_management_events {
            for r in regions {
                add(r, None);
            }
            continue;
        }
        let east = Region::us_east_1();
        if has("us-east-1") {
            add(&east, Some("iam.amazonaws.com"));
            add(&east, Some("signin.amazonaws.com"));
        }
        for r in SIGN_IN_REGIONS.iter().filter(|r| has(r)) {
            add(
                &Region::new(*r).expect("valid region"),
                Some("signin.amazonaws.com"),
            );
        }
        for r in regions {
            add(r, Some("sts.amazonaws.com"));
            for extra in &options.extra_sources {
                add(r, Some(extra));
            }
        }
        if let Some(sso) = &options.sso_region {
            add(sso, Some("sso.amazonaws.com"));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(list: &[&str]) -> Vec<Region> {
        list.iter().map(|r| Region::new(*r).unwrap()).collect()
    }

    #[test]
    fn identity_streams_where_cloudtrail_records_them() {
        let account = AccountId::new("111122223333").unwrap();
        let s = streams(
            &[account],
            &regions(&["us-east-1", "eu-west-1", "eu-north-1"]),
            &StreamOptions {
                sso_region: Some(Region::new("eu-west-1").unwrap()),
                ..Default::default()
            },
        );
        let names: Vec<String> = s
            .iter()
            .map(|s| format!("{}/{}", s.key.region, s.key.source))
            .collect();
        assert_eq!(
            names,
            [
                "eu-north-1/signin.amazonaws.com",
                "eu-north-1/sts.amazonaws.com",
                "eu-west-1/sso.amazonaws.com",
                "eu-west-1/sts.amazonaws.com",
                "us-east-1/iam.amazonaws.com",
                "us-east-1/signin.amazonaws.com",
                "us-east-1/sts.amazonaws.com",
            ]
        );
        let all = streams(
            &[AccountId::new("111122223333").unwrap()],
            &regions(&["us-east-1", "eu-west-1"]),
            &StreamOptions {
                all_management_events: true,
                ..Default::default()
            },
        );
        assert_eq!(all.len(), 2);
        assert!(
            all.iter()
                .all(|s| s.event_source.is_none() && s.key.source == ALL_SOURCES)
        );
    }
}
