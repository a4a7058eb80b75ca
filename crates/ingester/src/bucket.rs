//! Reading a trail bucket directly (`iat ingest s3://BUCKET/PREFIX`): which files a selection
//! names, and reading them with several GETs in flight.
//!
//! The decision to know: with a day range, the listing walks the folders (organisation,
//! accounts, regions: one delimited LIST each) and then lists one prefix per account, region and
//! day, so a week of one account reads that week's folders, never the whole bucket. Without a
//! range it lists everything under the prefix given, which is what was asked for.

use chrono::NaiveDate;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use iat_core::error::Result;
use iat_core::model::{AccountId, Region};
use iat_core::ports::{EventStore, ListedObject, ObjectSource};
use iat_core::trail::{TrailKey, day_prefix};

use crate::notification::ObjectRef;
use crate::object::{FileReport, IngestError, IngestSettings, ingest_object};

/// Which trail files to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub bucket: String,
    /// A key prefix: the trail's own prefix (before `AWSLogs/`), or a deeper one
    /// (`AWSLogs/o-…/111122223333/`).
    pub prefix: String,
    /// Days, inclusive (UTC, as CloudTrail's folders are).
    pub days: Option<(NaiveDate, NaiveDate)>,
    /// Only these accounts (all when empty).
    pub accounts: Vec<AccountId>,
    /// Only these regions (all when empty).
    pub regions: Vec<Region>,
}

/// What a listing found.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Event files, sorted by key.
    pub files: Vec<ListedObject>,
    /// LIST requests made.
    pub requests: u64,
    /// Objects listed that are not event files of the selection (digests, Insights, other days).
    pub skipped: u64,
}

/// LIST requests in flight at once.
const LISTS_IN_FLIGHT: usize = 16;

fn folder(base: &str, parts: &[&str]) -> String {
    let mut p = String::new();
    let base = base.trim_matches('/');
    if !base.is_empty() {
        p.push_str(base);
        p.push('/');
    }
    for part in parts {
        p.push_str(part);
        p.push('/');
    }
    p
}

impl Selection {
    fn wants(&self, key: &TrailKey) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&key.account))
            && (self.regions.is_empty() || self.regions.contains(&key.region))
            && self
                .days
                .is_none_or(|(from, to)| (from..=to).contains(&key.day))
    }
}

/// The event files `sel` names (see the module's doc for how it lists).
pub async fn list_files(source: &dyn ObjectSource, sel: &Selection) -> Result<Listing> {
    let bucket = sel.bucket.as_str();
    let mut listing = Listing::default();
    let prefixes = match sel.days {
        Some((from, to)) => day_prefixes(source, sel, from, to, &mut listing).await?,
        None => vec![if sel.prefix.contains("AWSLogs/") {
            sel.prefix.clone()
        } else {
            folder(&sel.prefix, &["AWSLogs"])
        }],
    };
    listing.requests += prefixes.len() as u64;
    let found: Vec<Vec<ListedObject>> = stream::iter(prefixes)
        .map(|p| async move { source.list(bucket, &p).await })
        .buffer_unordered(LISTS_IN_FLIGHT)
        .try_collect()
        .await?;
    for o in found.into_iter().flatten() {
        match TrailKey::parse(&o.key) {
            Some(k) if sel.wants(&k) => listing.files.push(o),
            _ => listing.skipped += 1,
        }
    }
    listing.files.sort();
    listing.files.dedup();
    Ok(listing)
}

/// One prefix per organisation, account, region and day of the range, found by walking the
/// folders from the deepest level the prefix and the selection pin.
async fn day_prefixes(
    source: &dyn ObjectSource,
    sel: &Selection,
    from: NaiveDate,
    to: NaiveDate,
    listing: &mut Listing,
) -> Result<Vec<String>> {
    let bucket = sel.bucket.as_str();
    let (base, rest) = match sel.prefix.find("AWSLogs/") {
        Some(i) => (&sel.prefix[..i], &sel.prefix[i + "AWSLogs/".len()..]),
        None => (sel.prefix.as_str(), ""),
    };
    let pinned: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // The organisation folder, if any, and the account folder the prefix names.
    let (org_pin, account_pin) = match pinned.as_slice() {
        [] => (None, None),
        [o, rest @ ..] if o.starts_with("o-") => (Some(Some((*o).to_owned())), rest.first()),
        [a, ..] => (Some(None), Some(a)),
    };
    let account_pin = account_pin.and_then(|a| AccountId::new(*a).ok());
    let region_pin = pinned
        .iter()
        .position(|s| *s == "CloudTrail")
        .and_then(|i| pinned.get(i + 1))
        .and_then(|r| Region::new(*r).ok());

    // (organisation, account) pairs.
    let mut owners: Vec<(Option<String>, AccountId)> = Vec::new();
    let orgs: Vec<Option<String>> = match org_pin {
        Some(o) => vec![o],
        None => {
            listing.requests += 1;
            let top = source.folders(bucket, &folder(base, &["AWSLogs"])).await?;
            let mut orgs = Vec::new();
            for f in top {
                if f.starts_with("o-") {
                    orgs.push(Some(f));
                } else if let Ok(a) = AccountId::new(&f) {
                    // An account trail's tree has no organisation folder.
                    if account_pin.is_none() {
                        owners.push((None, a));
                    }
                }
            }
            orgs
        }
    };
    for org in orgs {
        let accounts: Vec<AccountId> = match (&account_pin, sel.accounts.is_empty()) {
            (Some(a), _) => vec![a.clone()],
            (None, false) => sel.accounts.clone(),
            (None, true) => {
                listing.requests += 1;
                let under: Vec<&str> = org.iter().map(String::as_str).collect();
                let mut parts = vec!["AWSLogs"];
                parts.extend(under);
                source
                    .folders(bucket, &folder(base, &parts))
                    .await?
                    .into_iter()
                    .filter_map(|f| AccountId::new(&f).ok())
                    .collect()
            }
        };
        owners.extend(accounts.into_iter().map(|a| (org.clone(), a)));
    }
    owners.retain(|(_, a)| sel.accounts.is_empty() || sel.accounts.contains(a));

    // Regions of each account: pinned, chosen, or its CloudTrail folder's.
    let regions: Vec<Vec<Region>> = stream::iter(owners.iter())
        .map(|(org, account)| {
            let region_pin = region_pin.clone();
            async move {
                if let Some(r) = region_pin {
                    return Ok((vec![r], 0));
                }
                if !sel.regions.is_empty() {
                    return Ok((sel.regions.clone(), 0));
                }
                let mut parts = vec!["AWSLogs"];
                if let Some(o) = org {
                    parts.push(o.as_str());
                }
                parts.extend([account.as_str(), "CloudTrail"]);
                let found = source.folders(bucket, &folder(base, &parts)).await?;
                Ok::<_, iat_core::Error>((
                    found
                        .into_iter()
                        .filter_map(|r| Region::new(&r).ok())
                        .collect(),
                    1,
                ))
            }
        })
        .buffered(LISTS_IN_FLIGHT)
        .map_ok(|(regions, requests)| {
            listing.requests += requests;
            regions
        })
        .try_collect()
        .await?;
    let days: Vec<NaiveDate> = iat_core::trail::days(from, to).collect();
    let mut prefixes = Vec::new();
    for ((org, account), regions) in owners.iter().zip(regions) {
        for region in regions {
            for day in &days {
                prefixes.push(day_prefix(base, org.as_deref(), account, &region, *day));
            }
        }
    }
    Ok(prefixes)
}

/// What reading the files did.
#[derive(Debug, Default)]
pub struct BucketReport {
    pub files: u64,
    pub totals: FileReport,
    /// Files that could not be read to their end, with why (their events before the break are
    /// stored; reading them again stores nothing twice).
    pub failed: Vec<(String, IngestError)>,
}

/// Reads `files` of `bucket` into `store`, `in_flight` at a time; `done` is called after each
/// file with its size.
pub async fn ingest_files(
    source: &dyn ObjectSource,
    store: &dyn EventStore,
    bucket: &str,
    files: &[ListedObject],
    settings: &IngestSettings,
    in_flight: usize,
    done: &(dyn Fn(u64) + Sync),
) -> BucketReport {
    let mut report = BucketReport::default();
    let mut results = stream::iter(files)
        .map(|f| async move {
            let obj = ObjectRef {
                bucket: bucket.to_owned(),
                key: f.key.clone(),
            };
            let r = ingest_object(source, store, &obj, settings).await;
            done(f.size);
            (f.key.clone(), r)
        })
        .buffer_unordered(in_flight.max(1));
    while let Some((key, r)) = results.next().await {
        report.files += 1;
        match r {
            Ok(file) => report.totals.add(&file),
            Err(e) => {
                tracing::warn!(%key, error = %e, "trail file not read to its end");
                report.failed.push((key, e));
            }
        }
    }
    report.failed.sort_by(|a, b| a.0.cmp(&b.0));
    report
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use iat_core::ports::MemoryObjectSource;

    use super::*;

    /// A source that remembers every listing asked of it.
    struct Watched {
        inner: MemoryObjectSource,
        lists: Mutex<Vec<String>>,
        folders: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ObjectSource for Watched {
        async fn open(&self, b: &str, k: &str) -> Result<Option<Box<dyn Read + Send>>> {
            self.inner.open(b, k).await
        }
        async fn list(&self, b: &str, p: &str) -> Result<Vec<ListedObject>> {
            self.lists.lock().unwrap().push(p.to_owned());
            self.inner.list(b, p).await
        }
        async fn folders(&self, b: &str, p: &str) -> Result<Vec<String>> {
            self.folders.lock().unwrap().push(p.to_owned());
            self.inner.folders(b, p).await
        }
    }

    const A: &str = "111122223333";
    const B: &str = "444455556666";
    const C: &str = "777788889999";

    fn bucket(prefix: &str) -> Watched {
        let inner = MemoryObjectSource::new();
        for account in [A, B, C] {
            for region in ["us-east-1", "eu-west-1"] {
                for d in 1..=5 {
                    let key = format!(
                        "{prefix}AWSLogs/o-abc123/{account}/CloudTrail/{region}/2026/03/0{d}/{account}_CloudTrail_{region}_2026030{d}T1200Z_x.json.gz"
                    );
                    inner.insert("trail", &key, vec![0; 10]);
                }
            }
            inner.insert(
                "trail",
                &format!("{prefix}AWSLogs/o-abc123/{account}/CloudTrail-Digest/us-east-1/2026/03/02/{account}_CloudTrail-Digest_us-east-1_x.json.gz"),
                vec![0; 3],
            );
        }
        inner.insert("trail", "unrelated/object.txt", vec![1]);
        Watched {
            inner,
            lists: Mutex::new(Vec::new()),
            folders: Mutex::new(Vec::new()),
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
    }

    #[tokio::test]
    async fn a_day_range_lists_only_those_days_folders() {
        let src = bucket("logs/");
        let sel = Selection {
            bucket: "trail".into(),
            prefix: "logs".into(),
            days: Some((day(2), day(3))),
            ..Default::default()
        };
        let l = list_files(&src, &sel).await.unwrap();
        // 3 accounts × 2 regions × 2 days.
        assert_eq!(l.files.len(), 12);
        assert!(
            l.files
                .iter()
                .all(|f| f.key.contains("/2026/03/02/") || f.key.contains("/2026/03/03/"))
        );
        let lists = src.lists.lock().unwrap().clone();
        assert_eq!(lists.len(), 12, "one listing per account, region and day");
        assert!(
            lists.iter().all(|p| p.starts_with("logs/AWSLogs/o-abc123/")
                && (p.ends_with("/2026/03/02/") || p.ends_with("/2026/03/03/"))),
            "{lists:?}"
        );
        // The folders walked: AWSLogs/, the organisation, each account's CloudTrail/.
        assert_eq!(src.folders.lock().unwrap().len(), 1 + 1 + 3);
        assert_eq!(l.requests, 12 + 5);
    }

    #[tokio::test]
    async fn accounts_and_regions_narrow_the_listing() {
        let src = bucket("");
        let sel = Selection {
            bucket: "trail".into(),
            prefix: String::new(),
            days: Some((day(5), day(5))),
            accounts: vec![AccountId::new(B).unwrap()],
            regions: vec![Region::new("eu-west-1").unwrap()],
        };
        let l = list_files(&src, &sel).await.unwrap();
        assert_eq!(l.files.len(), 1);
        assert!(
            l.files[0]
                .key
                .contains(&format!("{B}/CloudTrail/eu-west-1/2026/03/05/"))
        );
        assert_eq!(
            *src.lists.lock().unwrap(),
            [format!(
                "AWSLogs/o-abc123/{B}/CloudTrail/eu-west-1/2026/03/05/"
            )]
        );
        // A prefix that names the account and region pins them the same way.
        let src = bucket("");
        let sel = Selection {
            bucket: "trail".into(),
            prefix: format!("AWSLogs/o-abc123/{C}/CloudTrail/us-east-1/"),
            days: Some((day(1), day(2))),
            ..Default::default()
        };
        let l = list_files(&src, &sel).await.unwrap();
        assert_eq!(l.files.len(), 2);
        assert!(src.folders.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn without_a_range_everything_under_the_prefix_is_read_except_digests() {
        let src = bucket("");
        let sel = Selection {
            bucket: "trail".into(),
            prefix: String::new(),
            accounts: vec![AccountId::new(A).unwrap()],
            ..Default::default()
        };
        let l = list_files(&src, &sel).await.unwrap();
        assert_eq!(l.files.len(), 10, "one account's 2 regions × 5 days");
        assert_eq!(*src.lists.lock().unwrap(), ["AWSLogs/"]);
        // The other accounts' 20 files and the 3 digests were listed and skipped.
        assert_eq!(l.skipped, 23);
    }
}
