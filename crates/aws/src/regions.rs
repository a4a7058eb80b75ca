//! Region discovery: the regions this account can use, from EC2 `DescribeRegions`.
//!
//! Of the 34 commercial regions, 17 are enabled in every account and 17 are opt-in. Collecting
//! from a region that is not enabled fails (CloudTrail answers with an error), so the tracker
//! asks which ones are, unless it is told.

use aws_sdk_ec2::Client;
use iat_core::{Error, Region};

use crate::describe;

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

/// Asks EC2 which regions are enabled for the account of `config`'s credentials.
pub async fn discover_regions(config: &aws_config::SdkConfig) -> Result<RegionDiscovery, Error> {
    let out = Client::new(config)
        .describe_regions()
        .all_regions(true)
        .send()
        .await
        .map_err(|e| {
            Error::backend(
                "ec2",
                "DescribeRegions",
                format!(
                    "cannot list the account's enabled regions ({}); allow ec2:DescribeRegions \
                     or name the regions to collect",
                    describe(&e)
                ),
            )
        })?;
    let mut found = RegionDiscovery::default();
    for info in out.regions() {
        let Some(name) = info.region_name() else {
            continue;
        };
        let region = Region::new(name)?;
        match info.opt_in_status() {
            Some("not-opted-in") => found.not_enabled.push(region),
            _ => found.enabled.push(region),
        }
    }
    found.enabled.sort();
    found.not_enabled.sort();
    if found.enabled.is_empty() {
        return Err(Error::backend(
            "ec2",
            "DescribeRegions",
            "no enabled region listed; name the regions to collect",
        ));
    }
    Ok(found)
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
}
