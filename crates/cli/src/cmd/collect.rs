//! `iat collect`

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;

use anyhow::Context;
use chrono::Duration;
use chrono::{DateTime, Utc};
use iat_aws::{
    AwsSettings, CloudTrailEventSource, caller_account, check_credentials, regions_to_collect,
    sdk_config, with_static_credentials,
};
use iat_core::{AccountId, NoiseFilter, Region};
use iat_tracker::{
    CollectConfig, Deadline, DeadlineAt, NoDeadline, Ports, StreamOptions, StreamReport,
    StreamSpec, collect_with_progress, streams,
};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::{SummaryFormat, count, table};
use crate::store::{OpenOptions, StoreArgs};
use crate::timearg;

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// Regions to collect, repeatable or comma-separated (default: the regions enabled in the
    /// account, from Account Management ListRegions, which the simulator answers too).
    #[arg(long = "region", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// The account to collect (default: the account of your credentials, from STS).
    #[arg(long)]
    pub account: Option<String>,
    /// Read from a LookupEvents simulator (`iat-sim serve`) at this URL instead of AWS; needs
    /// --account, which signs the requests (the simulator tells accounts by access key id).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Collect Identity Center events from this region (its home region).
    #[arg(long, env = "SSO_REGION")]
    pub sso_region: Option<String>,
    /// With --sso-region: whether to collect Identity Center events.
    #[arg(long, env = "PROCESS_SSO_EVENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub process_sso_events: bool,
    /// More event sources to collect in every region, e.g. `ec2.amazonaws.com`.
    #[arg(long = "source", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Collect every management event instead of the identity sources.
    #[arg(long)]
    pub all_management_events: bool,
    /// Re-scanned before each checkpoint for late deliveries (at least: a stream whose observed
    /// lateness approaches it re-scans more, up to --max-overlap).
    #[arg(long, default_value_t = timearg::human(CollectConfig::default().overlap))]
    pub overlap: String,
    /// The most a stream's overlap is widened to; a value below a stream's observed p99.9
    /// lateness is refused.
    #[arg(long, default_value_t = timearg::human(CollectConfig::default().max_overlap))]
    pub max_overlap: String,
    /// Every time is read again once this old, for deliveries later than the overlap (the
    /// daily sweep, spread over the day's runs); "off" for none.
    #[arg(long, default_value_t = CollectConfig::default().sweep_age.map_or("off".into(), timearg::human))]
    pub sweep_age: String,
    /// How far back a new stream starts (Event history keeps 90 days).
    #[arg(long, default_value_t = timearg::human(CollectConfig::default().backfill))]
    pub backfill: String,
    /// Requests per second per account and region, at most (CloudTrail allows 2, shared by every
    /// caller there): the pace falls by a fifth when throttled and climbs back as pages are
    /// answered.
    #[arg(long, default_value_t = CollectConfig::default().requests_per_second)]
    pub rate: f64,
    /// Concurrent page chains per account and region.
    #[arg(long, default_value_t = CollectConfig::default().chains_per_region)]
    pub chains: usize,
    /// Retries of a page when the service is unavailable (5xx, network), waiting 1 s, 2 s, 4 s…
    #[arg(long, default_value_t = CollectConfig::default().transient_retries)]
    pub retries: u32,
    /// Stop starting new requests after this long (e.g. 10m); the next run resumes.
    #[arg(long)]
    pub max_runtime: Option<String>,
    /// Role-name globs whose activity is noise, comma-separated.
    #[arg(long, env = "FILTERED_ROLES", default_value = "")]
    pub filtered_roles: String,
    /// With --store dynamodb:...: events expire this many days after they happened (DynamoDB
    /// TTL).
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// Pretend it is this time (RFC 3339), to replay a simulated history.
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

pub fn run(stores: &StoreArgs, args: CollectArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let given_regions: Vec<Region> = args
        .regions
        .iter()
        .map(|r| Region::new(r.trim()))
        .collect::<Result<_, _>>()
        .context("--region")?;
    let sso_region = match (&args.sso_region, args.process_sso_events) {
        (Some(r), true) => Some(Region::new(r.trim()).context("--sso-region / SSO_REGION")?),
        _ => None,
    };
    if args.endpoint.is_some() && args.account.is_none() {
        anyhow::bail!("--endpoint needs --account: the account cannot be asked of a simulator");
    }
    let config = CollectConfig {
        overlap: timearg::duration(&args.overlap).context("--overlap")?,
        max_overlap: timearg::duration(&args.max_overlap).context("--max-overlap")?,
        sweep_age: match args.sweep_age.as_str() {
            "off" | "none" => None,
            age => Some(timearg::duration(age).context("--sweep-age")?),
        },
        backfill: timearg::duration(&args.backfill).context("--backfill")?,
        requests_per_second: args.rate,
        chains_per_region: args.chains,
        transient_retries: args.retries,
        filter: NoiseFilter::from_list(&args.filtered_roles)
            .context("--filtered-roles / FILTERED_ROLES")?,
        ..Default::default()
    };
    config.validate(args.endpoint.is_some())?;
    let deadline: Arc<dyn Deadline> = match &args.max_runtime {
        Some(d) => {
            let max = timearg::duration(d).context("--max-runtime")?.to_std()?;
            if max <= config.stop_margin {
                anyhow::bail!(
                    "--max-runtime {d} leaves no time to collect: requests stop {} s before it \
                     (the margin for storing the last pages); give more than that",
                    config.stop_margin.as_secs()
                );
            }
            Arc::new(DeadlineAt(std::time::Instant::now() + max))
        }
        None => Arc::new(NoDeadline),
    };
    let spec = stores.spec()?;
    if args.retention_days.is_some() && spec.sqlite_path().is_some() {
        anyhow::bail!("--retention-days applies to DynamoDB tables (--store dynamodb:...)");
    }
    let opened = stores.open(OpenOptions {
        create: true,
        // The collector writes at most ~100 events/s per region: a small cache keeps a SQLite
        // file's memory flat whatever its size.
        cache_mib: Some(16),
        retention: args.retention_days.map(|d| Duration::days(d.into())),
    })?;
    let runtime = crate::runtime()?;
    let report = runtime.block_on(async {
        let sdk = sdk_config(&AwsSettings {
            region: Some("us-east-1".into()),
            profile: stores.profile(),
            endpoint_url: args.endpoint.clone(),
            max_attempts: Some(3),
            ..Default::default()
        })
        .await;
        let account = match &args.account {
            Some(a) => AccountId::new(a.trim()).context("--account")?,
            None => caller_account(&sdk)
                .await
                .context("cannot tell which account to collect (or use --account)")?,
        };
        let sdk = if args.endpoint.is_some() {
            // The simulator only needs requests signed, and reads the account from the key id.
            with_static_credentials(sdk, account.as_str())
        } else {
            check_credentials(&sdk).await?;
            sdk
        };
        let (regions, found) = regions_to_collect(&sdk, &given_regions).await?;
        if let Some(found) = found {
            eprintln!(
                "{} regions enabled in the account ({} opt-in regions not enabled)",
                found.enabled.len(),
                found.not_enabled.len()
            );
        }
        let plan = streams(
            std::slice::from_ref(&account),
            &regions,
            &StreamOptions {
                sso_region,
                extra_sources: args.sources.clone(),
                all_management_events: args.all_management_events,
            },
        );
        eprintln!(
            "collecting {} streams of account {account} in {} regions",
            plan.len(),
            regions.len()
        );
        let ports = Ports {
            source: Arc::new(CloudTrailEventSource::new(&sdk, account)),
            store: opened.events.clone(),
            checkpoints: opened.checkpoints.clone(),
        };
        let now = args.now.unwrap_or_else(Utc::now);
        let bars = RegionBars::new(
            &plan,
            args.format == SummaryFormat::Text && std::io::stderr().is_terminal(),
        );
        let report =
            collect_with_progress(&ports, &plan, &config, now, deadline, &|s| bars.update(s)).await;
        bars.finish();
        anyhow::Ok(report?)
    })?;

    if args.format == SummaryFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        let mut t = table();
        t.set_header([
            "stream",
            "requests",
            "throttled",
            "stored",
            "duplicates",
            "filtered",
            "complete up to",
            "status",
        ]);
        for s in &report.streams {
            t.add_row([
                s.stream.clone(),
                count(s.requests),
                count(s.throttled),
                count(s.inserted),
                count(s.duplicates),
                count(s.filtered),
                s.complete_up_to.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }),
                match (&s.error, s.caught_up) {
                    (Some(e), _) => format!("FAILED: {e}"),
                    (None, true) => "caught up".to_owned(),
                    (None, false) => "stopped early; run again to continue".to_owned(),
                },
            ]);
        }
        writeln!(out, "{t}")?;
        writeln!(
            out,
            "{} events stored, {} already stored, {} requests, {} throttled",
            count(report.total(|s| s.inserted)),
            count(report.total(|s| s.duplicates)),
            count(report.total(|s| s.requests)),
            count(report.total(|s| s.throttled)),
        )?;
    }
    Ok(if report.streams.iter().any(|s| s.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One spinner per region, with the region's running totals.
struct RegionBars {
    bars: BTreeMap<String, ProgressBar>,
    /// Per region, the latest totals of each of its streams.
    totals: Mutex<BTreeMap<String, BTreeMap<String, StreamReport>>>,
    _multi: MultiProgress,
}

impl RegionBars {
    fn new(plan: &[StreamSpec], show: bool) -> Self {
        let multi = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{spinner} {prefix:<15} {msg}").expect("valid template");
        let mut bars = BTreeMap::new();
        for s in plan {
            bars.entry(s.key.region.to_string()).or_insert_with(|| {
                let bar = if show {
                    multi.add(ProgressBar::new_spinner())
                } else {
                    ProgressBar::hidden()
                };
                bar.set_style(style.clone());
                bar.set_prefix(s.key.region.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(200));
                bar
            });
        }
        Self {
            bars,
            totals: Mutex::new(BTreeMap::new()),
            _multi: multi,
        }
    }

    fn update(&self, s: &StreamReport) {
        let region = s.stream.split('/').nth(1).unwrap_or("").to_owned();
        let mut totals = self.totals.lock().unwrap();
        let streams = totals.entry(region.clone()).or_default();
        streams.insert(s.stream.clone(), s.clone());
        let sum = |f: fn(&StreamReport) -> u64| streams.values().map(f).sum::<u64>();
        let oldest = streams.values().filter_map(|r| r.complete_up_to).min();
        if let Some(bar) = self.bars.get(&region) {
            bar.set_message(format!(
                "{} events stored, {} requests, {} throttled, complete up to {}",
                count(sum(|r| r.inserted)),
                count(sum(|r| r.requests)),
                count(sum(|r| r.throttled)),
                oldest.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
            ));
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
    }
}
