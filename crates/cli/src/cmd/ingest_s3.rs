//! `iat ingest s3://BUCKET/PREFIX`: a trail bucket read in place, with the deployed ingester's
//! own code (streamed GETs, normalise, filter, scope, store once each).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use iat_aws::{AwsSettings, S3ObjectSource, S3ObjectStore, sdk_config};
use iat_core::model::{AccountId, Region};
use iat_ingester::IngestSettings;
use iat_ingester::bucket::{Selection, ingest_files, list_files};
use iat_local::ingest::{IngestSummary, Problem};
use indicatif::{ProgressBar, ProgressStyle};

use super::ingest::IngestArgs;
use crate::output::{SummaryFormat, bytes, count};
use crate::store::{OpenOptions, StoreArgs};

/// `s3://bucket/prefix` as (bucket, prefix).
pub(crate) fn parse_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .with_context(|| format!("{url:?}: expected s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid {
        anyhow::bail!("{url:?}: {bucket:?} is not an S3 bucket name");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

pub(crate) fn run(
    stores: &StoreArgs,
    args: &IngestArgs,
    url: &str,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (bucket, prefix) = parse_url(url)?;
    let days = match (args.since, args.until) {
        (None, None) => None,
        (Some(s), None) => Some((s, chrono::Utc::now().date_naive())),
        (None, Some(_)) => anyhow::bail!("--until needs --since (the first day to read)"),
        (Some(s), Some(u)) if s > u => anyhow::bail!("--since {s} is after --until {u}"),
        (Some(s), Some(u)) => Some((s, u)),
    };
    let accounts = args
        .accounts
        .iter()
        .map(|a| AccountId::new(a).map_err(|e| anyhow::anyhow!("--account {a:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let regions = args
        .regions
        .iter()
        .map(|r| Region::new(r).map_err(|e| anyhow::anyhow!("--region {r:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.parallel == 0 {
        anyhow::bail!("--parallel must be at least 1");
    }
    let options = args.options()?;
    let settings = IngestSettings {
        scope: options.scope,
        filter: options.filter.clone(),
        expect_bucket: Some(bucket.clone()),
        ..IngestSettings::default()
    };
    let opened = stores.open(OpenOptions {
        create: true,
        ..Default::default()
    })?;
    let store = opened.sqlite("iat ingest")?;
    let db = store
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ":memory:".into());
    let selection = Selection {
        bucket: bucket.clone(),
        prefix,
        days,
        accounts,
        regions,
    };
    let show = !args.no_progress && args.format == SummaryFormat::Text;
    let started = Instant::now();
    let runtime = crate::runtime()?;
    let (listing, report) = runtime.block_on(async {
        let config = sdk_config(&AwsSettings {
            region: Some(
                args.s3_region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .unwrap_or_else(|| "us-east-1".into()),
            ),
            profile: stores.profile(),
            endpoint_url: args.s3_endpoint.clone(),
            ..Default::default()
        })
        .await;
        let source =
            S3ObjectSource::new(S3ObjectStore::client(&config, args.s3_endpoint.is_some()));
        let listing = list_files(&source, &selection)
            .await
            .with_context(|| format!("cannot list {url}"))?;
        let total: u64 = listing.files.iter().map(|f| f.size).sum();
        let bar = if show && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} reading [{bar:30}] {bytes}/{total_bytes} {msg} ({eta} left)",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("{} files", count(listing.files.len() as u64)));
            Some(bar)
        } else {
            None
        };
        let done = |size: u64| {
            if let Some(b) = &bar {
                b.inc(size);
            }
        };
        let report = ingest_files(
            &source,
            store.as_ref(),
            &bucket,
            &listing.files,
            &settings,
            args.parallel,
            &done,
        )
        .await;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        anyhow::Ok((listing, report))
    })?;
    let t = &report.totals;
    let mut summary = IngestSummary {
        files: report.files,
        files_failed: report.failed.len() as u64,
        bytes: t.bytes,
        records: t.records,
        stored: t.stored,
        duplicates: t.duplicates,
        out_of_scope: t.out_of_scope,
        malformed: t.quarantined,
        problems: report
            .failed
            .iter()
            .map(|(key, e)| Problem {
                path: format!("s3://{bucket}/{key}").into(),
                error: e.to_string(),
            })
            .collect(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
        ..IngestSummary::default()
    };
    if t.filtered > 0 {
        summary.filtered.insert("noise_filters", t.filtered);
    }
    match args.format {
        SummaryFormat::Json => {
            let mut v = serde_json::to_value(&summary)?;
            v["source"] = url.into();
            v["list_requests"] = listing.requests.into();
            v["objects_skipped"] = listing.skipped.into();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        SummaryFormat::Text => {
            writeln!(
                out,
                "Listed {} trail files ({}) in {url} with {} LIST requests ({} other objects skipped)",
                count(listing.files.len() as u64),
                bytes(listing.files.iter().map(|f| f.size).sum()),
                count(listing.requests),
                count(listing.skipped)
            )?;
            super::ingest::print_summary(out, &summary, std::path::Path::new(&db))?;
        }
    }
    Ok(if listing.files.is_empty() {
        eprintln!(
            "error: no CloudTrail log files under {url}{}",
            if days.is_some() {
                " for those days (CloudTrail's folders are UTC days)"
            } else {
                ""
            }
        );
        ExitCode::from(1)
    } else if !report.failed.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_url("s3://org-trail/logs/AWSLogs/").unwrap(),
            ("org-trail".into(), "logs/AWSLogs/".into())
        );
        assert_eq!(
            parse_url("s3://org-trail").unwrap(),
            ("org-trail".into(), String::new())
        );
        assert!(parse_url("org-trail/logs").is_err());
        assert!(parse_url("s3://Org_Trail/x").is_err());
    }
}
