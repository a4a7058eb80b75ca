//! `iat-bench`: measures the foundation's throughput and memory and appends one JSON line per
//! figure to a results file.
//!
//! Figures are medians of several runs measured in the same process, because the machines are
//! shared and noisy. Generated data is cached under `target/bench-data` between runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::Parser;
use iat_core::{RecordLimits, normalize};
use iat_local::logfiles::{self, Item};
use iat_sim::OrgConfig;

mod alerter;
mod console;
mod deploy;
mod lake;
mod lookup;
mod org;
mod org_accounts;
mod org_backfill;
mod org_latency;
mod reliability;
mod seen;
mod streams;
mod tracker;
mod tracker_faults;
mod wcu;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks: parse, ingest throughput and peak memory")]
struct Args {
    /// Results file to append to (JSON Lines).
    #[arg(long, default_value = "bench/results.jsonl")]
    results: PathBuf,
    /// Events for the ingest benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    ingest_events: u64,
    /// Events of the large organisation's day stored in moto for the DynamoDB lookups.
    #[arg(long, default_value_t = 30_000)]
    lookup_sample: usize,
    /// Events for the parse benchmark.
    #[arg(long, default_value_t = 200_000)]
    parse_events: u64,
    /// Generated events for the console's store (about 1,000,000 kept).
    #[arg(long, default_value_t = 1_150_000)]
    console_events: u64,
    /// Requests per console page (the 95th percentile is reported: of 100, the sixth slowest,
    /// so a few stalls of a shared machine do not make the figure).
    #[arg(long, default_value_t = 100)]
    console_requests: usize,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Where generated data is cached.
    #[arg(long, default_value = "target/bench-data")]
    data: PathBuf,
    /// Print the figures without appending them.
    #[arg(long)]
    dry_run: bool,
    /// Which benchmarks: foundation, tracker, wcu, alerter, seen (part of alerter), lake,
    /// lookup, console, deploy, cost (deploy's monthly bills alone, from the results file), reliability, org,
    /// org-latency, org-accounts, org-memory, org-backfill, org-cost and org-ingest (parts of
    /// org), or all.
    #[arg(long, default_value = "all")]
    only: String,
    /// Also size DynamoDB items for the real CloudTrail files under this directory.
    #[arg(long, value_name = "DIR")]
    real_cloudtrail: Option<PathBuf>,
    /// The alerter Lambda binary, for its peak memory on a 1,000-record batch (needs moto:
    /// `make bench` starts it).
    #[arg(long, default_value = "target/release/alerter")]
    alerter_bin: PathBuf,
    /// The ingester Lambda binary, for the organisation's file-to-alert latency (needs moto).
    #[arg(long, default_value = "target/release/ingester")]
    ingester_bin: PathBuf,
    /// The tracker Lambda binary, for the organisation's hourly pass (needs moto).
    #[arg(long, default_value = "target/release/tracker")]
    tracker_bin: PathBuf,
    /// Member accounts for the organisation's hourly pass.
    #[arg(long, default_value_t = 1_000)]
    member_accounts: usize,
    /// Accounts (the collector's own among them) for the tracker's peak memory over a 90-day
    /// backfill, each with 17 regions.
    #[arg(long, default_value_t = 200)]
    memory_accounts: usize,
    /// Events per account-region for the tracker's peak memory over a 90-day backfill.
    #[arg(long, default_value_t = 100)]
    memory_events_per_region: usize,
    /// Sizes of the organisation's 90-day backfill against its floor, as ACCOUNTSxEVENTS
    /// (accounts, each with 17 regions, and events per account-region), comma-separated: shards
    /// busy in every region, and the goal's 200 accounts.
    #[arg(long, value_delimiter = ',', default_value = "3x24000")]
    backfill_sizes: Vec<org_backfill::Size>,
    /// The goal's 90-day backfill through the tracker's fan-out, as ACCOUNTSxEVENTS: the
    /// accounts in the groups a scheduled run hands off, each group read by a collector of its
    /// own; `none` for one invocation's figure from --backfill-sizes instead.
    #[arg(long, default_value = "200x24000")]
    backfill_fanout: String,
    /// Handed-off groups read at once on this machine (Lambda runs them all at once, each on
    /// its own CPU): three keep two cores below saturation; six measured 1.20 of the floor
    /// where three measured 1.10 and a group alone 1.06.
    #[arg(long, default_value_t = 3)]
    backfill_at_once: usize,
    /// Generated days for the first-seen state figures (the state's size after them).
    #[arg(long, default_value_t = 90)]
    seen_days: usize,
    /// Background events a generated day has for the first-seen state figures.
    #[arg(long, default_value_t = 20_000)]
    seen_events_per_day: u64,
    /// Trail files for the file-to-alert latency, each carrying one alert.
    #[arg(long, default_value_t = 1_000)]
    latency_files: usize,
    /// Files a second for the file-to-alert latency (alerts go out at most 5 a second by default).
    #[arg(long, default_value_t = 3.0)]
    latency_rate: f64,
    /// The Lambda functions as `make build` lays them out (`<function>/bootstrap`), for their
    /// sizes and cold starts.
    #[arg(long, default_value = "target/lambda")]
    lambda_bins: PathBuf,
    /// Events per region for the tracker benchmark (17 regions).
    #[arg(long, default_value_t = 5_000)]
    tracker_events_per_region: usize,
    /// Events for the collector's benchmark with every fault on.
    #[arg(long, default_value_t = 20_000)]
    fault_events: usize,
    /// Schedules of the collector's model check.
    #[arg(long, default_value_t = 10_000)]
    model_schedules: u64,
    /// Fuzzing executions per target.
    #[arg(long, default_value_t = 200_000)]
    fuzz_execs: u64,
}

pub(crate) struct Figure {
    pub(crate) metric: &'static str,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) goal: &'static str,
    pub(crate) note: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut figures = Vec::new();
    if ![
        "all",
        "foundation",
        "tracker",
        "wcu",
        "alerter",
        "seen",
        "lake",
        "lookup",
        "console",
        "deploy",
        "cost",
        "reliability",
        "org",
        "org-latency",
        "org-accounts",
        "org-memory",
        "org-backfill",
        "org-cost",
        "org-ingest",
    ]
    .contains(&args.only.as_str())
    {
        bail!(
            "--only takes foundation, tracker, wcu, alerter, seen, lake, lookup, console, deploy, cost, reliability, \
             org, org-latency, org-accounts, org-memory, org-backfill, org-cost, org-ingest or all"
        );
    }
    if ["all", "org", "org-latency"].contains(&args.only.as_str()) {
        let endpoint = iat_sim::emulators::moto_endpoint_if_running()
            .context("the file-to-alert latency needs moto: run `make bench`")?;
        figures.extend(org_latency::benchmark(
            &endpoint,
            &args.ingester_bin,
            &args.alerter_bin,
            args.latency_files,
            args.latency_rate,
        )?);
    }
    if ["all", "org", "org-accounts"].contains(&args.only.as_str()) {
        let endpoint = iat_sim::emulators::moto_endpoint_if_running()
            .context("the organisation's hourly pass needs moto: run `make bench`")?;
        figures.extend(org_accounts::benchmark(
            &endpoint,
            &args.tracker_bin,
            &args.results,
            args.member_accounts,
        )?);
    }
    if ["all", "org", "org-memory"].contains(&args.only.as_str()) {
        let endpoint = iat_sim::emulators::moto_endpoint_if_running()
            .context("the tracker's backfill memory needs moto: run `make bench`")?;
        figures.extend(org_accounts::memory(
            &endpoint,
            &args.tracker_bin,
            args.memory_accounts,
            args.memory_events_per_region,
        )?);
    }
    if ["all", "org", "org-backfill"].contains(&args.only.as_str()) {
        let fanout = match args.backfill_fanout.trim() {
            "none" | "" => None,
            size => Some((
                size.parse::<org_backfill::Size>()
                    .map_err(|e| anyhow::anyhow!("--backfill-fanout: {e}"))?,
                args.backfill_at_once,
            )),
        };
        figures.extend(org_backfill::benchmark(&args.backfill_sizes, fanout)?);
    }
    if args.only == "cost" {
        // The monthly bills alone, from the per-event figures already in the results file and
        // the template (`deploy` also measures the binaries, which need `make build`).
        figures.extend(deploy::cost::figures(&args.results)?);
        figures.push(deploy::cost::org_accounts_figure_from_results(
            &args.results,
        )?);
    }
    if args.only == "org-cost" {
        figures.push(deploy::cost::org_accounts_figure_from_results(
            &args.results,
        )?);
    }
    if ["all", "org", "org-ingest"].contains(&args.only.as_str()) {
        let generated = dataset(&args.data, args.parse_events)?;
        figures.extend(org::benchmark(
            &args.data,
            &generated,
            args.runs.min(3),
            &args.results,
        )?);
    }
    if ["all", "reliability"].contains(&args.only.as_str()) {
        figures.extend(reliability::benchmark(
            args.model_schedules,
            args.fuzz_execs,
        )?);
    }
    if ["all", "lake"].contains(&args.only.as_str()) {
        let generated = dataset(&args.data, args.ingest_events)?;
        figures.extend(lake::benchmark(&generated, args.ingest_events, args.runs)?);
    }
    if ["all", "lookup"].contains(&args.only.as_str()) {
        let endpoint = iat_sim::emulators::moto_endpoint_if_running()
            .context("the DynamoDB lookups need moto: run `make bench`")?;
        // The large organisation's day.
        let generated = dataset(&args.data, 300_000)?;
        figures.extend(lookup::benchmark(
            &generated,
            &endpoint,
            args.lookup_sample,
            args.runs.min(3),
        )?);
    }
    if ["all", "console"].contains(&args.only.as_str()) {
        // A store of a million events: the organisation's day, of which about nine in ten are
        // kept (the rest is filtered noise).
        let generated = dataset(&args.data, args.console_events)?;
        figures.extend(console::benchmark(
            &generated,
            args.console_events,
            args.console_requests,
        )?);
    }
    if ["all", "alerter"].contains(&args.only.as_str()) {
        let generated = dataset(&args.data, args.parse_events)?;
        figures.extend(alerter::benchmark(
            &generated,
            args.runs,
            &args.alerter_bin,
        )?);
    }
    if ["all", "alerter", "seen"].contains(&args.only.as_str()) {
        figures.extend(seen::benchmark(args.seen_days, args.seen_events_per_day)?);
    }
    if ["all", "tracker", "wcu"].contains(&args.only.as_str()) {
        let generated = dataset(&args.data, args.parse_events)?;
        figures.extend(wcu::figures(&generated, "generated organisation", false)?);
        if let Some(real) = &args.real_cloudtrail {
            figures.extend(wcu::figures(real, "real CloudTrail files", true)?);
        }
    }
    if ["all", "foundation"].contains(&args.only.as_str()) {
        let parse_dir = dataset(&args.data, args.parse_events)?;
        figures.push(parse_benchmark(&parse_dir, args.runs)?);
        let ingest_dir = dataset(&args.data, args.ingest_events)?;
        let iat = sibling("iat")?;
        let ingest = ingest_benchmark(&iat, &ingest_dir, args.ingest_events, args.runs)?;
        let many_files = ingest.first().map(|f| f.value);
        figures.extend(ingest);
        figures.push(streams::ingest_one_file(
            &iat, &parse_dir, 100_000, args.runs, many_files,
        )?);
        figures.push(streams::rules_test(
            &iat,
            &ingest_dir,
            args.ingest_events,
            args.runs.min(3),
        )?);
    }
    if ["all", "tracker", "reliability"].contains(&args.only.as_str()) {
        figures.extend(tracker_faults::benchmark(args.fault_events)?);
    }
    if ["all", "tracker"].contains(&args.only.as_str()) {
        figures.extend(tracker::benchmark(
            &args.data,
            args.tracker_events_per_region,
            args.runs.min(3),
        )?);
    }

    if ["all", "deploy"].contains(&args.only.as_str()) {
        // Costs use the per-event figures already in the results file.
        figures.extend(deploy::benchmark(
            &args.lambda_bins,
            args.runs,
            &args.results,
        )?);
    }

    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // The results file itself is not the code measured: runs one after another append to it.
    let exclude = format!(":(exclude){}", args.results.display());
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        &exclude,
    ])
    .is_some_and(|s| !s.is_empty());
    let commit = if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let machine = machine();
    let mut lines = String::new();
    for f in &figures {
        let line = serde_json::json!({
            "metric": f.metric, "value": (f.value * 100.0).round() / 100.0, "unit": f.unit, "goal": f.goal,
            "commit": commit, "date": date, "machine": machine, "note": f.note,
        });
        println!("{line}");
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    if !args.dry_run {
        if let Some(parent) = args.results.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&args.results)?;
        file.write_all(lines.as_bytes())?;
        eprintln!(
            "appended {} figures to {}",
            figures.len(),
            args.results.display()
        );
    }
    Ok(())
}

/// A generated organisation day of about `events` events, cached by size.
/// The version of generated data a cached dataset must have.
const DATA_VERSION: &str = "2";

fn dataset(root: &Path, events: u64) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!("org-{events}"));
    let done = dir.join(".complete");
    // Regenerated when the generator's output changes (version 2: labels carry expected alerts).
    if std::fs::read_to_string(&done).is_ok_and(|v| v.trim() == DATA_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    eprintln!("generating {events} events into {}", dir.display());
    let config = OrgConfig {
        seed: 1,
        day: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
        accounts: 8,
        background_events: events,
        utc_offset_hours: 1,
    };
    iat_sim::generate(&config, &dir)?;
    std::fs::write(done, DATA_VERSION)?;
    Ok(dir)
}

/// The nearest-rank `q` quantile (0 < q ≤ 1) of sorted values.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Decompressed trail files in memory → records → normalised events, on one thread.
fn parse_benchmark(dir: &Path, runs: usize) -> anyhow::Result<Figure> {
    let mut bodies = Vec::new();
    let mut raw_bytes = 0usize;
    for entry in walkdir::WalkDir::new(dir.join("AWSLogs")) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let mut text = Vec::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(entry.path())?)
                .read_to_end(&mut text)?;
            raw_bytes += text.len();
            bodies.push(text);
        }
    }
    let limits = RecordLimits::default();
    let mut rates = Vec::new();
    let mut events = 0u64;
    for _ in 0..runs {
        let copies = bodies.clone();
        let start = Instant::now();
        let mut n = 0u64;
        for body in copies {
            logfiles::read_bytes(body, &mut |item| {
                if let Item::Record { text, .. } = item
                    && normalize(text, &limits).is_ok()
                {
                    n += 1;
                }
            })
            .map_err(anyhow::Error::msg)?;
        }
        let secs = start.elapsed().as_secs_f64();
        events = n;
        rates.push(n as f64 / secs);
    }
    let rate = median(rates.clone());
    Ok(Figure {
        metric: "foundation.parse_events_per_s",
        value: rate,
        unit: "events/s",
        goal: ">= 300000",
        note: format!(
            "median of {runs} runs, one thread: {events} generated records in {} decompressed trail files ({} bytes/record) split and normalised; runs {:?}",
            bodies.len(),
            raw_bytes / events.max(1) as usize,
            rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
        ),
    })
}

/// `name` (`iat`, `iat-sim`) beside this benchmark binary, built with the same profile.
pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name(name);
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (make bench, or cargo build --profile cli -p iat-cli \
             -p iat-sim -p iat-bench)",
            bin.display()
        );
    }
    Ok(bin)
}

/// One `iat ingest` run, as a child process.
pub(crate) struct IngestRun {
    pub(crate) rate: f64,
    pub(crate) peak_kb: u64,
    pub(crate) records: u64,
    pub(crate) files: u64,
}

/// `iat ingest INPUT` into a fresh SQLite file at `db` (removed afterwards), page cache flushed
/// first; records per second over the wall clock from start to exit.
pub(crate) fn ingest_once(iat: &Path, input: &Path, db: &Path) -> anyhow::Result<IngestRun> {
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    };
    remove();
    // Let the previous run's writeback finish, so it does not slow this one.
    let _ = Command::new("sync").status();
    let run = run_sampled(
        Command::new(iat)
            .arg("--store")
            .arg(format!("sqlite:{}", db.display()))
            .args(["ingest", "--format", "json", "--no-progress"])
            .arg(input),
        "iat ingest",
    );
    remove();
    let run = run?;
    let (secs, peak_kb, out) = (run.secs, run.peak_kb, run.stdout);
    let summary: serde_json::Value = serde_json::from_str(&out)?;
    let records = summary["records"].as_u64().unwrap_or(0);
    Ok(IngestRun {
        rate: records as f64 / secs,
        peak_kb,
        records,
        files: summary["files"].as_u64().unwrap_or(0),
    })
}

/// `iat ingest` of a generated tree into a fresh SQLite file, as a child process.
fn ingest_benchmark(
    iat: &Path,
    dir: &Path,
    events: u64,
    runs: usize,
) -> anyhow::Result<Vec<Figure>> {
    let trail = dir.join("AWSLogs");
    let mut rates = Vec::new();
    let mut rss = Vec::new();
    let mut records = 0;
    let mut files = 0;
    for run in 0..runs {
        let r = ingest_once(iat, &trail, &dir.join(format!("bench-{run}.db")))?;
        (records, files) = (r.records, r.files);
        if records < events {
            bail!("ingest read {records} records, expected at least {events}");
        }
        rates.push(r.rate);
        rss.push(r.peak_kb as f64 / 1024.0);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(vec![
        Figure {
            metric: "foundation.ingest_events_per_s",
            value: median(rates.clone()),
            unit: "events/s",
            goal: ">= 100000",
            note: format!(
                "median of {runs} runs of `iat ingest` (profile cli, the build make uses) over {records} records in {files} gzip trail files into a fresh SQLite file on disk, wall clock from start to exit, page cache flushed before each run, {cores} cores; runs {:?}",
                rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
            ),
        },
        Figure {
            metric: "foundation.ingest_peak_rss_mb",
            value: median(rss.clone()),
            unit: "MB",
            goal: "<= 200",
            note: format!(
                "peak resident set (VmHWM sampled every 10 ms) of `iat ingest` over {records} records, median of {runs} runs; runs {:?}",
                rss.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
            ),
        },
    ])
}

/// A successful child process's run: its peak resident set (KiB), its wall time from spawn to
/// exit (seconds) and what it printed.
pub(crate) struct Sampled {
    pub(crate) peak_kb: u64,
    pub(crate) secs: f64,
    pub(crate) stdout: String,
}

/// Runs `cmd` with its standard output captured, sampling its peak memory.
pub(crate) fn run_sampled(cmd: &mut Command, what: &str) -> anyhow::Result<Sampled> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("start {what}"))?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let (status, peak_kb) = wait_sampling_peak_rss(&mut child)?;
    let secs = start.elapsed().as_secs_f64();
    let stdout = reader
        .join()
        .map_err(|_| anyhow::anyhow!("{what}: stdout reader panicked"))??;
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(Sampled {
        peak_kb,
        secs,
        stdout,
    })
}

/// Waits for a child, sampling its peak resident set (`VmHWM`, KiB) every 10 ms.
///
/// `getrusage`/`wait4` would over-report: Linux carries the spawning process's peak into the
/// child's `ru_maxrss` across exec, so a child of this (large) process would look as large.
pub(crate) fn wait_sampling_peak_rss(
    child: &mut std::process::Child,
) -> anyhow::Result<(std::process::ExitStatus, u64)> {
    let mut peak = 0;
    loop {
        if let Some(kb) = iat_lambda::testing::peak_rss_kib(child.id()) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status, peak));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "{cores} cores, {} GiB RAM",
        (mem_kb as f64 / 1024.0 / 1024.0).round()
    )
}
