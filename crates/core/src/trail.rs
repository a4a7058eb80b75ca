//! Where an organisation trail puts its files, as keys: reading one, and the date prefixes that
//! bound a listing.
//!
//! CloudTrail writes `[PREFIX/]AWSLogs/[ORG_ID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE`
//! (the organisation id only for an organisation trail). Digest and Insights files share the
//! tree under `CloudTrail-Digest` and `CloudTrail-Insight`; they are not event files. A listing
//! with a day range is one prefix per account, region and day, never the whole bucket.

use chrono::{Datelike, NaiveDate};

use crate::model::{AccountId, Region};

/// What a trail file's key says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailKey {
    /// `o-…`, for an organisation trail.
    pub org: Option<String>,
    pub account: AccountId,
    pub region: Region,
    pub day: NaiveDate,
}

impl TrailKey {
    /// Reads a key; `None` when it is not a CloudTrail event file (a digest, an Insights
    /// file, or another object in the bucket).
    pub fn parse(key: &str) -> Option<Self> {
        let segs: Vec<&str> = key.split('/').collect();
        let at = segs.iter().position(|s| *s == "AWSLogs")?;
        let mut rest = &segs[at + 1..];
        let org = match rest.first() {
            Some(s) if s.starts_with("o-") => {
                let org = (*s).to_owned();
                rest = &rest[1..];
                Some(org)
            }
            _ => None,
        };
        let [account, kind, region, y, m, d, file] = rest else {
            return None;
        };
        if *kind != "CloudTrail" || !(file.ends_with(".json.gz") || file.ends_with(".json")) {
            return None;
        }
        let day = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Some(Self {
            org,
            account: AccountId::new(*account).ok()?,
            region: Region::new(*region).ok()?,
            day,
        })
    }
}

/// The key prefix of one account's and region's files on one day, under `base` (the trail's
/// own prefix, `""` for none; a trailing `/` is optional).
pub fn day_prefix(
    base: &str,
    org: Option<&str>,
    account: &AccountId,
    region: &Region,
    day: NaiveDate,
) -> String {
    let mut p = String::new();
    let base = base.trim_matches('/');
    if !base.is_empty() {
        p.push_str(base);
        p.push('/');
    }
    p.push_str("AWSLogs/");
    if let Some(org) = org {
        p.push_str(org);
        p.push('/');
    }
    p.push_str(&format!(
        "{}/CloudTrail/{}/{:04}/{:02}/{:02}/",
        account.as_str(),
        region.as_str(),
        day.year(),
        day.month(),
        day.day()
    ));
    p
}

/// Every day from `since` to `until`, both included.
pub fn days(since: NaiveDate, until: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    since.iter_days().take_while(move |d| *d <= until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(s: &str) -> AccountId {
        AccountId::new(s).unwrap()
    }

    #[test]
    fn reads_organisation_and_account_trail_keys() {
        let k = TrailKey::parse("logs/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2026/11/30/111122223333_CloudTrail_eu-west-1_20261130T2355Z_AbCdEf0123456789.json.gz").unwrap();
        assert_eq!(k.org.as_deref(), Some("o-abc123def4"));
        assert_eq!(k.account, acct("111122223333"));
        assert_eq!(k.region.as_str(), "eu-west-1");
        assert_eq!(k.day, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        let k = TrailKey::parse("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/02/x.json.gz")
            .unwrap();
        assert_eq!(k.org, None);
    }

    #[test]
    fn refuses_what_is_not_an_event_file() {
        for key in [
            "AWSLogs/o-abc123def4/111122223333/CloudTrail-Digest/us-east-1/2026/11/30/x.json.gz",
            "AWSLogs/o-abc123def4/111122223333/CloudTrail-Insight/us-east-1/2026/11/30/x.json.gz",
            "AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/11/30/",
            "AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/13/30/x.json.gz",
            "AWSLogs/o-abc123def4/1111/CloudTrail/us-east-1/2026/11/30/x.json.gz",
            "AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-1/2026/11/30/x.txt",
            "other/thing.json.gz",
        ] {
            assert_eq!(TrailKey::parse(key), None, "{key}");
        }
    }

    #[test]
    fn prefixes_round_trip_through_the_key_reader() {
        let (a, r) = (acct("111122223333"), Region::new("ap-southeast-2").unwrap());
        let day = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let p = day_prefix("/trail/", Some("o-abc123def4"), &a, &r, day);
        assert_eq!(
            p,
            "trail/AWSLogs/o-abc123def4/111122223333/CloudTrail/ap-southeast-2/2026/03/04/"
        );
        let k = TrailKey::parse(&format!("{p}f.json.gz")).unwrap();
        assert_eq!((k.account, k.region, k.day), (a.clone(), r.clone(), day));
        assert_eq!(
            day_prefix("", None, &a, &r, day),
            "AWSLogs/111122223333/CloudTrail/ap-southeast-2/2026/03/04/"
        );
        let d: Vec<_> = days(day, NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()).collect();
        assert_eq!(d.len(), 3);
        assert_eq!(days(day, day.pred_opt().unwrap()).count(), 0);
    }
}
