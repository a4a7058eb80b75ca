//! Region discovery: the regions this account can use, from Account Management `ListRegions`.
//!
//! Of the 34 commercial regions, 17 are enabled in every account and 17 are opt-in. Collecting
//! from a region that is not enabled fails (CloudTrail answers with an error), so the tracker
//! asks which ones are, unless it is told. `account:ListRegions` reports each region's opt-in
//! status, and (from the management account) a member account's, which the organisation needs.

use aws_sdk_account::Client;
use aws_sdk_account::types::RegionOptStatus;
use iat_core::{Error, Region};

use crate::error::describe;
/// The account's regions, by opt-in status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionDiscovery {
    /// Enabled: on by default, or opted in.
    pub enabled: Vec<Region>,
    /// Opt-in regions this account has not enabled.
    pub not_enabled: Vec<Region>,
}

impl RegionDiscovery {
    /// Checks that every one of `regions` is enabled; the error names the first that is not and
    /// says why.
    pub fn check(&self, regions: &[Region]) -> Result<(), Error> {
        for r in regions {
            if self.enabled.contains(r) {
                continue;
            }
            let reason = if self.not_enabled.contains(r) {
                "an opt-in region this account has not enabled: enable it in the account's \
                 settings, or leave it out"
                    .to_owned()
            } else {
                format!(
                    "not a region of this account's partition (enabled: {})",
                    self.enabled
                        .iter()
                        .map(Region::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(Error::invalid("region", r.as_str(), reason));
        }
        Ok(())
    }
}

/// The opt-in status that lets a region be collected from. A region being enabled is not yet
/// usable; one being disabled is on its way out, and its Event history with it.
fn usable(status: Option<&RegionOptStatus>) -> bool {
    matches!(
        status,
        Some(RegionOptStatus::Enabled | RegionOptStatus::EnabledByDefault)
    )
}

/// Asks Account Management which regions are enabled for the account of `config`'s
/// credentials, every page.
pub async fn discover_regions(config: &aws_config::SdkConfig) -> Result<RegionDiscovery, Error> {
    discover_with(&Client::new(config)).await
}

async fn discover_with(client: &Client) -> Result<RegionDiscovery, Error> {
    let mut found = RegionDiscovery::default();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_regions()
            .max_results(50)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::Backend {
                backend: "account",
                operation: "ListRegions",
                resource: None,
                message: format!(
                    "cannot list the account's enabled regions ({}); allow account:ListRegions \
                     or name the regions to collect",
                    describe(&e)
                ),
                source: Some(Box::new(e)),
            })?;
        for info in out.regions() {
            let Some(name) = info.region_name() else {
                continue;
            };
            let region = Region::new(name)?;
            if usable(info.region_opt_status()) {
                found.enabled.push(region);
            } else {
                found.not_enabled.push(region);
            }
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    found.enabled.sort();
    found.not_enabled.sort();
    if found.enabled.is_empty() {
        return Err(Error::backend(
            "account",
            "ListRegions",
            "no enabled region listed; name the regions to collect",
        ));
    }
    Ok(found)
}

/// The regions a collection covers: those `named`, checked against the account's list when it
/// can be read (a typo or an opt-in region that is off is one clear error, not a stream failing
/// every run), or every enabled region when none is named. The discovery comes back when it was
/// what chose the regions.
pub async fn regions_to_collect(
    config: &aws_config::SdkConfig,
    named: &[Region],
) -> Result<(Vec<Region>, Option<RegionDiscovery>), Error> {
    if named.is_empty() {
        let found = discover_regions(config).await?;
        tracing::info!(
            enabled = found.enabled.len(),
            not_enabled = found.not_enabled.len(),
            "regions discovered"
        );
        return Ok((found.enabled.clone(), Some(found)));
    }
    match discover_regions(config).await {
        Ok(found) => found.check(named)?,
        Err(e) => tracing::warn!(error = %e, "regions not checked"),
    }
    Ok((named.to_vec(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_region_and_why() {
        let r = |s: &str| Region::new(s).unwrap();
        let found = RegionDiscovery {
            enabled: vec![r("eu-west-1"), r("us-east-1")],
            not_enabled: vec![r("af-south-1")],
        };
        assert!(found.check(&[r("us-east-1")]).is_ok());
        let e = found
            .check(&[r("us-east-1"), r("af-south-1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("af-south-1") && e.contains("opt-in"), "{e}");
        let e = found.check(&[r("eu-west-9")]).unwrap_err().to_string();
        assert!(
            e.contains("eu-west-9") && e.contains("enabled: eu-west-1, us-east-1"),
            "{e}"
        );
    }

    use aws_sdk_account::operation::list_regions::{ListRegionsError, ListRegionsOutput};
    use aws_sdk_account::types::Region as AccountRegion;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn listed(regions: &[(&str, RegionOptStatus)], next: Option<&str>) -> ListRegionsOutput {
        ListRegionsOutput::builder()
            .set_regions(Some(
                regions
                    .iter()
                    .map(|(name, status)| {
                        AccountRegion::builder()
                            .region_name(*name)
                            .region_opt_status(status.clone())
                            .build()
                    })
                    .collect(),
            ))
            .set_next_token(next.map(str::to_owned))
            .build()
    }

    #[tokio::test]
    async fn every_page_is_read_and_only_enabled_regions_are_collected() {
        let first = mock!(Client::list_regions)
            .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(50))
            .then_output(|| {
                listed(
                    &[
                        ("us-east-1", RegionOptStatus::EnabledByDefault),
                        ("af-south-1", RegionOptStatus::Disabled),
                        ("ap-east-1", RegionOptStatus::Enabled),
                    ],
                    Some("page-2"),
                )
            });
        let second = mock!(Client::list_regions)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                listed(
                    &[
                        ("eu-south-2", RegionOptStatus::Enabling),
                        ("me-south-1", RegionOptStatus::Disabling),
                        ("eu-west-1", RegionOptStatus::EnabledByDefault),
                    ],
                    None,
                )
            });
        let client = mock_client!(aws_sdk_account, RuleMode::Sequential, [&first, &second]);
        let found = discover_with(&client).await.unwrap();
        let names = |v: &[Region]| v.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(&found.enabled),
            ["ap-east-1", "eu-west-1", "us-east-1"]
        );
        assert_eq!(
            names(&found.not_enabled),
            ["af-south-1", "eu-south-2", "me-south-1"]
        );
        assert_eq!(first.num_calls() + second.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_refusal_says_which_permission_to_grant() {
        let denied = mock!(Client::list_regions).then_error(|| {
            ListRegionsError::AccessDeniedException(
                aws_sdk_account::types::error::AccessDeniedException::builder()
                    .message("User is not authorized to perform: account:ListRegions")
                    .build()
                    .unwrap(),
            )
        });
        let client = mock_client!(aws_sdk_account, [&denied]);
        let e = discover_with(&client).await.unwrap_err().to_string();
        assert!(
            e.contains("ListRegions") && e.contains("allow account:ListRegions"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_empty_list_is_an_error_not_a_run_over_no_region() {
        let none = mock!(Client::list_regions).then_output(|| listed(&[], None));
        let client = mock_client!(aws_sdk_account, [&none]);
        let e = discover_with(&client).await.unwrap_err().to_string();
        assert!(e.contains("no enabled region"), "{e}");
    }
}
