//! Deployment figures: the Lambda binaries' sizes, their cold start (process start to the first
//! request for an event, measured locally against a stub Runtime API), and the monthly cost of a
//! small and a large organisation computed from the per-event figures earlier benchmarks wrote
//! to the results file.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Figure, median};

/// Each function: its metric names and its size goals, half of what a plain release build
/// weighed (binary 24.8, 23.1, 27.2 and 19.8 MB; deflated 9.4, 8.5, 10.3 and 7.7 MB).
struct Function {
    name: &'static str,
    size_metric: &'static str,
    size_goal: &'static str,
    package_metric: &'static str,
    package_goal: &'static str,
    cold_start_metric: &'static str,
}

const FUNCTIONS: [Function; 4] = [
    Function {
        name: "tracker",
        size_metric: "deploy.binary_size_mb.tracker",
        size_goal: "<= 12.4",
        package_metric: "deploy.package_size_mb.tracker",
        package_goal: "<= 4.7",
        cold_start_metric: "deploy.cold_start_ms.tracker",
    },
    Function {
        name: "alerter",
        size_metric: "deploy.binary_size_mb.alerter",
        size_goal: "<= 11.55",
        package_metric: "deploy.package_size_mb.alerter",
        package_goal: "<= 4.25",
        cold_start_metric: "deploy.cold_start_ms.alerter",
    },
    Function {
        name: "exporter",
        size_metric: "deploy.binary_size_mb.exporter",
        size_goal: "<= 13.6",
        package_metric: "deploy.package_size_mb.exporter",
        package_goal: "<= 5.15",
        cold_start_metric: "deploy.cold_start_ms.exporter",
    },
    Function {
        name: "report",
        size_metric: "deploy.binary_size_mb.report",
        size_goal: "<= 9.9",
        package_metric: "deploy.package_size_mb.report",
        package_goal: "<= 3.85",
        cold_start_metric: "deploy.cold_start_ms.report",
    },
];

/// The variables each function needs to start (values only have to be well formed).
fn required_env(function: &str) -> &'static [(&'static str, &'static str)] {
    match function {
        "tracker" => &[("EVENTS_TABLE", "events"), ("CONTROL_TABLE", "control")],
        "alerter" => &[
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:alerts",
            ),
            ("ALERT_LEDGER_TABLE", "ledger"),
        ],
        "exporter" => &[
            ("EVENTS_TABLE", "events"),
            ("CONTROL_TABLE", "control"),
            ("LAKE_BUCKET", "lake"),
        ],
        "report" => &[
            ("ATHENA_DATABASE", "iam_activity"),
            (
                "REPORT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:alerts",
            ),
        ],
        _ => &[],
    }
}

pub(crate) fn benchmark(bins: &Path, runs: usize, results: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for f in &FUNCTIONS {
        let function = f.name;
        let bin = bins.join(function).join("bootstrap");
        let bytes = std::fs::metadata(&bin)
            .with_context(|| format!("{} (build it: make build)", bin.display()))?
            .len();
        let zipped = zipped_size(&bin)?;
        figures.push(Figure {
            metric: f.size_metric,
            value: bytes as f64 / 1e6,
            unit: "MB",
            goal: f.size_goal,
            note: format!(
                "{}: the deploy profile (LTO, one codegen unit, opt-level z, panic abort, stripped), {bytes} bytes",
                bin.display(),
            ),
        });
        figures.push(Figure {
            metric: f.package_metric,
            value: zipped as f64 / 1e6,
            unit: "MB",
            goal: f.package_goal,
            note: format!(
                "{} deflated (what the deployment package's zip holds), {zipped} bytes",
                bin.display(),
            ),
        });
        let mut times = Vec::new();
        for _ in 0..runs.max(5) * 3 {
            times.push(cold_start(&bin, function)?.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        figures.push(Figure {
            metric: f.cold_start_metric,
            value: median(times.clone()),
            unit: "ms",
            goal: "-",
            note: format!(
                "process start to its first request for an event on a local stub Runtime API (configuration read, SDK clients built), median of {} starts, range {:.1}-{:.1} ms; Lambda adds its own sandbox and code download time",
                times.len(),
                times[0],
                times[times.len() - 1]
            ),
        });
    }
    figures.extend(cost::figures(results)?);
    Ok(figures)
}

fn zipped_size(bin: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(bin)?)?;
    Ok(enc.finish()?.len() as u64)
}

/// Starts the binary against a Runtime API that only notes when the first
/// `GET .../invocation/next` arrives, then stops it.
fn cold_start(bin: &Path, function: &str) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut cmd = iat_lambda::testing::function_command(bin, addr, function);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in required_env(function) {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let (stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let ready = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    if !line.contains("/runtime/invocation/next") {
        bail!("{function}: expected a request for the next event, got {line:?}");
    }
    Ok(ready)
}

/// The monthly bill of a deployment, from measured per-event figures and AWS list prices.
pub(crate) mod cost {
    use std::path::Path;

    use anyhow::Context;

    use crate::Figure;

    // us-east-1 list prices (USD). On-demand DynamoDB after the November 2024 price cut.
    const DYNAMO_PER_MILLION_WRITES: f64 = 0.625;
    const DYNAMO_PER_MILLION_READS: f64 = 0.125;
    const DYNAMO_GB_MONTH: f64 = 0.25;
    const DYNAMO_PITR_GB_MONTH: f64 = 0.20;
    const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
    const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
    const S3_STANDARD_GB_MONTH: f64 = 0.023;
    const S3_IA_GB_MONTH: f64 = 0.0125;
    const S3_PER_1000_PUTS: f64 = 0.005;
    const ATHENA_PER_TB: f64 = 5.0;
    const ATHENA_MIN_BYTES: f64 = 10.0 * 1024.0 * 1024.0;
    const ALARM_MONTH: f64 = 0.10;
    const CUSTOM_METRIC_MONTH: f64 = 0.30;
    const LOGS_PER_GB: f64 = 0.50;
    const KMS_KEY_MONTH: f64 = 1.0;
    const GB: f64 = 1e9;
    const DAYS_PER_MONTH: f64 = 30.4;

    /// What the stack deploys (infra/template.yaml; its alarms are counted there): the tracker's
    /// `EventsCollected` and `StalledStreams` (its lateness metrics only with `ALARMS=full`).
    const CUSTOM_METRICS: f64 = 2.0;
    /// A key-only index entry: its key, the table's key, and 100 bytes of overhead.
    const INDEX_ENTRY_BYTES: f64 = 120.0;
    const ITEM_OVERHEAD_BYTES: f64 = 100.0;
    /// Lambda gives a function a full vCPU at 1,769 MB, a share of one below.
    const MB_PER_VCPU: f64 = 1769.0;
    /// LookupEvents' limit per account and region (requests/s).
    const LOOKUP_EVENTS_PER_S: f64 = 2.0;
    /// Estimates for what cannot run here: the weekly report's Lambda seconds (it waits on
    /// Athena), and the exporter's S3 round trips a day (listing, writing parts, the manifest).
    const REPORT_S_ESTIMATE: f64 = 20.0;
    const EXPORTER_S3_S_ESTIMATE: f64 = 2.0;

    /// An organisation, and how it uses the tracker.
    pub(crate) struct Org {
        pub(crate) name: &'static str,
        pub(crate) users: u32,
        pub(crate) events_per_day: f64,
        /// Share of events in the busiest region (IAM, global STS and sign-in are in us-east-1).
        pub(crate) busiest_region_share: f64,
        pub(crate) streams: f64,
        pub(crate) ad_hoc_queries_per_month: f64,
        /// Whether the events come through the tracker (Event history); from an organisation
        /// trail they come through the ingester instead, and the tracker only starts.
        pub(crate) via_event_history: bool,
        /// A measured tracker run's Lambda seconds (all its shards), instead of the one-account
        /// model below.
        pub(crate) tracker_s_per_run: Option<f64>,
    }

    pub(crate) const SMALL: Org = Org {
        name: "small",
        users: 100,
        events_per_day: 10_000.0,
        busiest_region_share: 0.6,
        streams: 36.0,
        ad_hoc_queries_per_month: 20.0,
        via_event_history: true,
        tracker_s_per_run: None,
    };
    pub(crate) const LARGE: Org = Org {
        name: "large",
        users: 1_000,
        events_per_day: 300_000.0,
        busiest_region_share: 0.6,
        streams: 40.0,
        ad_hoc_queries_per_month: 100.0,
        via_event_history: true,
        tracker_s_per_run: None,
    };

    /// The per-event figures measured by earlier benchmarks, newest of each.
    pub(crate) struct Measured {
        /// Every write unit a stored event costs (item and index entries).
        pub(crate) write_units: f64,
        pub(crate) item_bytes: f64,
        pub(crate) parquet_bytes: f64,
        pub(crate) export_events_per_s: f64,
        /// Alarms the template deploys with its default `Alarms=essential`, without a trail.
        pub(crate) alarms: f64,
        /// Lookup index entries per stored event with the template's default `LookupIndexes`.
        pub(crate) index_entries: f64,
        /// Days DynamoDB keeps events with the template's default `RetentionDays` (a year,
        /// the steady state's horizon, when it keeps them all).
        pub(crate) retention_days: f64,
        /// Customer-managed KMS keys the template deploys by default ($1 a month each).
        pub(crate) kms_keys: f64,
        /// Read units of the tracker's duplicate check per fetched event.
        pub(crate) tracker_read_units: f64,
        /// LookupEvents requests a second the tracker sustains in a stream.
        pub(crate) tracker_requests_per_s: f64,
        pub(crate) tracker_cpu_ms_per_1k: f64,
        /// Each function's start (process start to its first request), seconds.
        pub(crate) start_s: Functions,
        /// The alerter's work per 1,000 events: its rules and its first-seen state in DynamoDB.
        pub(crate) alerter_ms_per_1k: f64,
        pub(crate) alerter_read_units: f64,
        pub(crate) alerter_write_units: f64,
        /// Times each event is read again from Event history after its first read: the
        /// overlap each run re-scans, and the daily sweep (the template's defaults).
        pub(crate) rereads: f64,
        /// The alerter's stream batch (the template's `BatchSize`).
        pub(crate) alerter_batch: f64,
        /// Tracker runs a day (the template's `ScheduleExpression`).
        pub(crate) runs_per_day: f64,
        /// Each function's memory (GB) as the template deploys it.
        pub(crate) memory_gb: Functions,
        pub(crate) sources: String,
    }

    /// A value per Lambda function of the stack.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Functions {
        pub(crate) tracker: f64,
        pub(crate) alerter: f64,
        pub(crate) exporter: f64,
        pub(crate) report: f64,
    }

    /// Days of events DynamoDB holds in the steady state with `RetentionDays` = `value`.
    pub(crate) fn retention_days(value: Option<&str>) -> anyhow::Result<f64> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(365.0),
            Some(v) => {
                let days: u32 = v
                    .parse()
                    .with_context(|| format!("RetentionDays default {v:?} is not a number"))?;
                Ok(f64::from(days))
            }
        }
    }

    /// The alarms `infra/template.yaml` deploys by default without an organisation trail: those
    /// with no condition (the `full` set's and the trail's have one).
    pub(crate) fn default_alarms(template: &str) -> usize {
        default_resources(template, "AWS::CloudWatch::Alarm")
    }

    /// The resources of type `ty` the template deploys without a condition.
    pub(crate) fn default_resources(template: &str, ty: &str) -> usize {
        let type_line = format!("Type: {ty}");
        // A resource is a line indented two spaces; its attributes (Type, Condition) are the
        // lines indented four below it.
        let mut resources: Vec<Vec<&str>> = Vec::new();
        for line in template.lines().filter(|l| !l.trim().is_empty()) {
            match line.len() - line.trim_start().len() {
                0..=2 => resources.push(Vec::new()),
                4 => resources
                    .last_mut()
                    .into_iter()
                    .for_each(|r| r.push(line.trim())),
                _ => {}
            }
        }
        resources
            .iter()
            .filter(|r| r.contains(&type_line.as_str()))
            .filter(|r| !r.iter().any(|l| l.starts_with("Condition:")))
            .count()
    }

    /// The default value of template parameter `name` (a `Parameters:` entry's `Default:`).
    pub(crate) fn default_parameter(template: &str, name: &str) -> Option<String> {
        let mut lines = template
            .lines()
            .skip_while(|l| *l != "Parameters:")
            .skip_while(|l| l.trim_end() != format!("  {name}:"))
            .skip(1);
        lines
            .by_ref()
            .take_while(|l| l.starts_with("    ") || l.trim().is_empty())
            .find_map(|l| l.trim().strip_prefix("Default:"))
            .map(|v| v.trim().trim_matches('"').to_owned())
    }

    /// The lines of resource `name`'s definition in the template (below its name).
    fn resource<'a>(template: &'a str, name: &str) -> Vec<&'a str> {
        template
            .lines()
            .skip_while(|l| *l != "Resources:")
            .skip_while(|l| l.trim_end() != format!("  {name}:"))
            .skip(1)
            .take_while(|l| l.starts_with("   ") || l.trim().is_empty())
            .collect()
    }

    /// A number the definition of resource `name` gives for `key` (its first occurrence), a
    /// `!Ref` to a parameter read as that parameter's default.
    pub(crate) fn resource_number(template: &str, name: &str, key: &str) -> anyhow::Result<f64> {
        let prefix = format!("{key}:");
        let value = resource(template, name)
            .into_iter()
            .find_map(|l| l.trim().strip_prefix(prefix.as_str()).map(str::trim))
            .with_context(|| format!("no {key} in {name} (infra/template.yaml)"))?;
        let value = match value.strip_prefix("!Ref ") {
            Some(parameter) => default_parameter(template, parameter.trim())
                .with_context(|| format!("no default for {parameter} ({name}'s {key})"))?,
            None => value.to_owned(),
        };
        value
            .parse()
            .with_context(|| format!("{name}'s {key} {value:?} is not a number"))
    }

    /// Minutes between tracker runs with the template's default `ScheduleExpression`: a
    /// `rate(N minute|minutes|hour|hours|day|days)`; a `cron(...)` has no single interval and
    /// is refused rather than guessed.
    pub(crate) fn run_interval_minutes(template: &str) -> anyhow::Result<f64> {
        let value = default_parameter(template, "ScheduleExpression")
            .context("no default for ScheduleExpression in infra/template.yaml")?;
        let inner = value
            .trim()
            .strip_prefix("rate(")
            .and_then(|v| v.strip_suffix(')'))
            .with_context(|| {
                format!(
                    "ScheduleExpression {value:?}: the cost model reads rate(N unit) schedules only"
                )
            })?;
        let (n, unit) = inner
            .trim()
            .split_once(' ')
            .with_context(|| format!("ScheduleExpression {value:?}: no unit"))?;
        let n: f64 = n
            .parse()
            .ok()
            .filter(|n: &f64| *n >= 1.0)
            .with_context(|| format!("ScheduleExpression {value:?}: not a positive number"))?;
        let minutes = match unit.trim() {
            "minute" | "minutes" => 1.0,
            "hour" | "hours" => 60.0,
            "day" | "days" => 1440.0,
            other => anyhow::bail!("ScheduleExpression {value:?}: unknown unit {other:?}"),
        };
        Ok(n * minutes)
    }

    /// Times the tracker reads each event again with the template's default `OverlapMinutes`
    /// and `SweepAgeHours` (empty: the tracker's own defaults): the overlap re-scanned by each
    /// run that starts before the overlap has passed (overlap / interval on average), and once
    /// more by the sweep unless it is off.
    pub(crate) fn rereads(template: &str) -> anyhow::Result<f64> {
        let defaults = iat_tracker::CollectConfig::default();
        let given = |name: &str| default_parameter(template, name).filter(|v| !v.trim().is_empty());
        let overlap_minutes = match given("OverlapMinutes") {
            None => defaults.overlap.num_minutes() as f64,
            Some(v) => v
                .trim()
                .parse::<f64>()
                .with_context(|| format!("OverlapMinutes default {v:?} is not a number"))?,
        };
        let sweep = match given("SweepAgeHours") {
            None => defaults.sweep_age.is_some(),
            Some(v) => v.trim() != "off",
        };
        Ok(overlap_minutes / run_interval_minutes(template)? + if sweep { 1.0 } else { 0.0 })
    }

    /// The lookup indexes the deployed events table has by default.
    pub(crate) fn default_lookup_indexes(template: &str) -> anyhow::Result<iat_aws::LookupIndexes> {
        let value = default_parameter(template, "LookupIndexes")
            .context("no default for LookupIndexes in infra/template.yaml")?;
        iat_aws::LookupIndexes::parse(&value).map_err(anyhow::Error::msg)
    }

    /// The stack's template.
    pub(crate) fn template() -> anyhow::Result<String> {
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
        std::fs::read_to_string(&template).with_context(|| format!("{}", template.display()))
    }

    /// The newest line of `metric` in a results file's text: value, commit and note.
    fn latest_figure(text: &str, metric: &str) -> Option<(f64, String, String)> {
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["metric"] == metric)
            .map(|v| {
                (
                    v["value"].as_f64().unwrap_or(f64::NAN),
                    v["commit"].as_str().unwrap_or("?").to_owned(),
                    v["note"].as_str().unwrap_or("").to_owned(),
                )
            })
    }

    pub(crate) fn measured(results: &Path) -> anyhow::Result<Measured> {
        let text = std::fs::read_to_string(results)
            .with_context(|| format!("{}: run the other benchmarks first", results.display()))?;
        let latest = |metric: &str| {
            latest_figure(&text, metric)
                .with_context(|| format!("no {metric} in {}: run make bench", results.display()))
        };
        let (wcu, wcu_commit, _) = latest("tracker.wcu_per_event")?;
        let (item_bytes, _, _) = latest("tracker.item_bytes_per_event")?;
        let (parquet, parquet_commit, _) = latest("lake.parquet_snappy_bytes_per_event")?;
        let (export, export_commit, _) = latest("lake.export_events_per_s")?;
        let (tracker_read_units, _, _) = latest("tracker.rcu_per_fetched_event")?;
        let (api_fraction, api_commit, _) = latest("tracker.api_rate_fraction")?;
        let (tracker_cpu_ms_per_1k, _, _) = latest("tracker.cpu_ms_per_1k_events")?;
        let (seen_ms, seen_commit, _) = latest("alerter.seen_state_ms_per_1k_events.dynamodb")?;
        let (seen_reads, _, _) = latest("alerter.seen_state_read_units_per_event")?;
        let (seen_writes, _, _) = latest("alerter.seen_state_write_units_per_event")?;
        let (rules_per_s, rules_commit, _) = latest("alerter.rules_events_per_s")?;
        let start = |f: &str| -> anyhow::Result<f64> {
            Ok(latest(&format!("deploy.cold_start_ms.{f}"))?.0 / 1000.0)
        };
        let start_s = Functions {
            tracker: start("tracker")?,
            alerter: start("alerter")?,
            exporter: start("exporter")?,
            report: start("report")?,
        };
        let template = template()?;
        let alarms = default_alarms(&template) as f64;
        anyhow::ensure!(alarms > 0.0, "no alarm found in infra/template.yaml");
        let indexes = default_lookup_indexes(&template)?;
        let retention = default_parameter(&template, "RetentionDays");
        let retention_days = retention_days(retention.as_deref())?;
        let kms_keys = default_resources(&template, "AWS::KMS::Key") as f64;
        let gb = |f: &str| -> anyhow::Result<f64> {
            Ok(resource_number(&template, f, "MemorySize")? / 1024.0)
        };
        let memory_gb = Functions {
            tracker: gb("TrackerFunction")?,
            alerter: gb("AlerterFunction")?,
            exporter: gb("ExporterFunction")?,
            report: gb("ReportFunction")?,
        };
        let alerter_batch = resource_number(&template, "AlerterFunction", "BatchSize")?;
        let rereads = rereads(&template)?;
        let interval = run_interval_minutes(&template)?;
        let runs_per_day = 1440.0 / interval;
        let alerter_ms_per_1k = seen_ms + 1e6 / rules_per_s;
        Ok(Measured {
            retention_days,
            kms_keys,
            tracker_read_units,
            tracker_requests_per_s: LOOKUP_EVENTS_PER_S * api_fraction,
            tracker_cpu_ms_per_1k,
            start_s,
            alerter_ms_per_1k,
            alerter_read_units: seen_reads,
            alerter_write_units: seen_writes,
            alerter_batch,
            runs_per_day,
            rereads,
            memory_gb,
            write_units: wcu,
            item_bytes,
            parquet_bytes: parquet,
            export_events_per_s: export,
            alarms,
            index_entries: indexes.names().len() as f64,
            sources: format!(
                "{alarms} alarms (infra/template.yaml, ALARMS=essential) and {kms_keys} KMS keys, LOOKUP_INDEXES={indexes} and RETENTION_DAYS={} (the template's defaults), memory {:.0}/{:.0}/{:.0}/{:.0} MB (tracker, alerter, exporter, report) and an alerter batch of {alerter_batch}, a tracker run every {interval:.0} minutes and each event read {rereads:.2} times more from Event history (overlap and sweep; the template's), tracker.wcu_per_event {wcu} ({item_bytes} B items, {wcu_commit}) and tracker.rcu_per_fetched_event {tracker_read_units:.2}, tracker.api_rate_fraction {api_fraction} and tracker.cpu_ms_per_1k_events {tracker_cpu_ms_per_1k} ({api_commit}), alerter.seen_state_* ({seen_ms} ms, {seen_reads:.2} read and {seen_writes:.2} write units per event, {seen_commit}), alerter.rules_events_per_s {rules_per_s:.0} ({rules_commit}), deploy.cold_start_ms.*, lake.parquet_snappy_bytes_per_event {parquet} ({parquet_commit}), lake.export_events_per_s {export} ({export_commit}); estimated, not measured here: the report's {REPORT_S_ESTIMATE} s a week (Athena's wait) and the exporter's {EXPORTER_S3_S_ESTIMATE} s a day of S3 round trips",
                retention
                    .as_deref()
                    .filter(|v| !v.is_empty())
                    .unwrap_or("keep"),
                memory_gb.tracker * 1024.0,
                memory_gb.alerter * 1024.0,
                memory_gb.exporter * 1024.0,
                memory_gb.report * 1024.0,
            ),
        })
    }

    /// Monthly cost lines (service, USD) in the steady state after a year: DynamoDB keeps the
    /// template's default retention, the lake a year, one month of it in Standard and the rest
    /// in Standard-IA.
    pub(crate) fn monthly(org: &Org, m: &Measured) -> Vec<(&'static str, f64)> {
        monthly_keeping(org, m, m.retention_days)
    }

    /// [`monthly`] with DynamoDB keeping `retention_days` of events (`RETENTION_DAYS`).
    pub(crate) fn monthly_keeping(
        org: &Org,
        m: &Measured,
        retention_days: f64,
    ) -> Vec<(&'static str, f64)> {
        let events = org.events_per_day * DAYS_PER_MONTH;
        let runs = m.runs_per_day * DAYS_PER_MONTH;
        // The overlap is read again by the next runs, and every event once more by the sweep.
        let fetched = if org.via_event_history {
            events * (1.0 + m.rereads)
        } else {
            0.0
        };

        let alerter_invocations = (events / m.alerter_batch).max(runs * 4.0);
        let writes = events * (m.write_units + m.alerter_write_units) + org.streams * runs;
        let reads_tracker = fetched * m.tracker_read_units;
        let reads_alerter = events * m.alerter_read_units;
        let reads_export = events * 3.0 * 0.5 * (m.item_bytes / 4096.0); // yesterday + 2 late days
        let table_gb = org.events_per_day
            * retention_days
            * (m.item_bytes + ITEM_OVERHEAD_BYTES + m.index_entries * INDEX_ENTRY_BYTES)
            / GB;
        let dynamo_requests = writes / 1e6 * DYNAMO_PER_MILLION_WRITES
            + (reads_tracker + reads_alerter + reads_export) / 1e6 * DYNAMO_PER_MILLION_READS;
        let dynamo_storage = table_gb * (DYNAMO_GB_MONTH + DYNAMO_PITR_GB_MONTH);

        // The tracker waits on LookupEvents: 50 events a page at the measured request rate in
        // the busiest region, one page a stream at least, plus its start and its own work.
        let pages = fetched / runs * org.busiest_region_share / 50.0 + org.streams / 4.0;
        let tracker_s = runs
            * org.tracker_s_per_run.unwrap_or(
                pages / m.tracker_requests_per_s
                    + m.start_s.tracker
                    + fetched / runs * m.tracker_cpu_ms_per_1k / 1e6,
            );
        // Every invocation counted as a cold one.
        let alerter_s =
            alerter_invocations * m.start_s.alerter + events * m.alerter_ms_per_1k / 1e6;
        let exporter_vcpu = (m.memory_gb.exporter * 1024.0 / MB_PER_VCPU).min(1.0);
        let exporter_s = DAYS_PER_MONTH
            * (m.start_s.exporter
                + EXPORTER_S3_S_ESTIMATE
                + 3.0 * org.events_per_day / (m.export_events_per_s * exporter_vcpu));
        let report_s = 4.3 * (m.start_s.report + REPORT_S_ESTIMATE);
        let lambda = (tracker_s * m.memory_gb.tracker
            + alerter_s * m.memory_gb.alerter
            + exporter_s * m.memory_gb.exporter
            + report_s * m.memory_gb.report)
            * LAMBDA_GB_SECOND_X86
            + (runs + alerter_invocations + DAYS_PER_MONTH + 4.3) / 1e6
                * LAMBDA_PER_MILLION_REQUESTS;

        let month_gb = events * m.parquet_bytes / GB;
        let s3 = month_gb * S3_STANDARD_GB_MONTH
            + 11.0 * month_gb * S3_IA_GB_MONTH
            + DAYS_PER_MONTH * 3.0 * 3.0 / 1000.0 * S3_PER_1000_PUTS;

        // Queries read about a third of the columns' bytes of the days they cover.
        let scan =
            |days: f64| (org.events_per_day * days * m.parquet_bytes / 3.0).max(ATHENA_MIN_BYTES);
        let athena_bytes = 4.3 * 3.0 * scan(7.0) + org.ad_hoc_queries_per_month * scan(30.0);
        let athena = athena_bytes / 1024f64.powi(4) * ATHENA_PER_TB;

        let log_gb = (runs * (org.streams + 4.0) * 400.0 + alerter_invocations * 600.0) / GB;
        let cloudwatch =
            m.alarms * ALARM_MONTH + CUSTOM_METRICS * CUSTOM_METRIC_MONTH + log_gb * LOGS_PER_GB;

        vec![
            ("DynamoDB requests", dynamo_requests),
            ("DynamoDB storage and backups", dynamo_storage),
            ("Lambda", lambda),
            ("S3", s3),
            ("Athena", athena),
            ("CloudWatch alarms, metric, logs", cloudwatch),
            ("KMS keys", m.kms_keys * KMS_KEY_MONTH),
        ]
    }

    // The organisation trail's path (us-east-1 list prices, USD).
    const S3_PER_1000_GETS: f64 = 0.0004;
    const SQS_PER_MILLION: f64 = 0.40;
    const KMS_PER_10000: f64 = 0.03;
    const INGESTER_GB: f64 = 0.25;
    const INGESTER_VCPU: f64 = 256.0 / 1769.0;

    /// An organisation trail's volume.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Trail {
        pub(crate) accounts: f64,
        pub(crate) events_per_day: f64,
        /// One file per account and region about every 5 minutes while there is activity: each
        /// account active in 5 regions around the clock.
        pub(crate) files_per_day: f64,
    }

    pub(crate) const ORG_TRAIL: Trail = Trail {
        accounts: 1_000.0,
        events_per_day: 50e6,
        files_per_day: 1_000.0 * 5.0 * 288.0,
    };

    /// Monthly cost lines of ingesting an organisation trail, keeping `kept` of its events, with
    /// the rest of the stack (events table, alerter, lake, report) sized for the kept events.
    /// `ingest_events_per_s` is the ingester's own rate on one full core.
    pub(crate) fn org_trail_monthly(
        t: &Trail,
        kept: f64,
        ingest_events_per_s: f64,
        m: &Measured,
    ) -> Vec<(&'static str, f64)> {
        let files = t.files_per_day * DAYS_PER_MONTH;
        let events = t.events_per_day * DAYS_PER_MONTH;
        let stored = events * kept;
        let invocations = files / 10.0;
        // Reading at the function's share of a core, one 25-item batch write per 10 ms, and
        // 50 ms of each invocation's own overhead.
        let ingester_s = events / (ingest_events_per_s * INGESTER_VCPU)
            + stored / 25.0 * 0.010
            + invocations * 0.050;
        let mut lines = vec![
            ("S3 GETs of trail files", files / 1000.0 * S3_PER_1000_GETS),
            (
                "KMS decrypts (SSE-KMS trail without S3 Bucket Keys; about 0 with them)",
                files / 10_000.0 * KMS_PER_10000,
            ),
            (
                "SQS (a message per file, batched receives and deletes)",
                (files + 2.0 * invocations) / 1e6 * SQS_PER_MILLION,
            ),
            (
                "Lambda ingester",
                ingester_s * INGESTER_GB * LAMBDA_GB_SECOND_X86
                    + invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
            ),
        ];
        let downstream = Org {
            name: "org trail",
            users: 0,
            events_per_day: t.events_per_day * kept,
            busiest_region_share: 0.6,
            streams: 40.0,
            ad_hoc_queries_per_month: 100.0,
            via_event_history: false,
            tracker_s_per_run: None,
        };
        lines.extend(monthly(&downstream, m));
        lines
    }

    /// EventBridge's price of an event delivered to another account's bus (USD per million).
    const EVENTBRIDGE_CROSS_ACCOUNT_PER_MILLION: f64 = 1.0;

    /// The monthly bill of `accounts` read through Event history, `events_per_account` identity
    /// events a day each, with `streams` streams and a measured hourly pass of `hourly_run_s`
    /// Lambda seconds; real-time forwarding from every member adds EventBridge's cross-account
    /// delivery of the events the pattern matches (about the identity events themselves).
    pub(crate) fn org_accounts_monthly(
        accounts: f64,
        events_per_account: f64,
        streams: f64,
        hourly_run_s: f64,
        m: &Measured,
    ) -> Vec<(&'static str, f64)> {
        let org = Org {
            name: "org accounts",
            users: 0,
            events_per_day: accounts * events_per_account,
            busiest_region_share: 0.6,
            streams,
            ad_hoc_queries_per_month: 100.0,
            via_event_history: true,
            tracker_s_per_run: Some(hourly_run_s),
        };
        let mut lines = monthly(&org, m);
        // Each run reads one checkpoint per account to find those far behind (the backfill
        // fan-out); handing them off costs SQS messages only while accounts are new.
        lines.push((
            "DynamoDB: finding accounts far behind (a checkpoint read an account and run)",
            accounts * m.runs_per_day * DAYS_PER_MONTH / 1e6 * DYNAMO_PER_MILLION_READS,
        ));
        lines.push((
            "EventBridge forwarding from member accounts (REAL_TIME_ALERTS)",
            org.events_per_day * DAYS_PER_MONTH / 1e6 * EVENTBRIDGE_CROSS_ACCOUNT_PER_MILLION,
        ));
        lines
    }

    /// `deploy.monthly_cost_usd.org_accounts`.
    pub(crate) fn org_accounts_figure(
        results: &Path,
        accounts: f64,
        streams: f64,
        hourly_run_s: f64,
        peak_mb: f64,
    ) -> anyhow::Result<Figure> {
        let m = measured(results)?;
        anyhow::ensure!(
            m.runs_per_day == 24.0,
            "org.hourly_run_s is an hourly pass; the template's schedule runs the tracker {} times a day",
            m.runs_per_day
        );
        let retention = m.retention_days;
        let per_account = 300.0;
        // The function sized to the measured peak with a quarter to spare, in 64 MB steps;
        // Lambda bills memory × time, so the pass's seconds count at that size.
        let memory_gb = ((peak_mb * 1.25 / 64.0).ceil() * 64.0).max(256.0) / 1024.0;
        let (total, breakdown) = bill(&org_accounts_monthly(
            accounts,
            per_account,
            streams,
            hourly_run_s * memory_gb / m.memory_gb.tracker,
            &m,
        ));
        Ok(Figure {
            metric: "deploy.monthly_cost_usd.org_accounts",
            value: total,
            unit: "USD/month",
            goal: "report",
            note: format!(
                "{accounts} accounts through Event history, {per_account} identity events a day each, {streams} streams, an hourly pass of {hourly_run_s:.0} Lambda seconds (org.hourly_run_s scaled to these accounts) at {:.2} GB (a peak of {peak_mb:.0} MB, the measured one scaled to these accounts, and a quarter more); steady state after a year (DynamoDB {retention:.0} days, lake 1 year), us-east-1 list prices; LookupEvents, AssumeRole and ListRegions cost nothing; {breakdown}; from {}",
                memory_gb, m.sources
            ),
        })
    }

    /// `deploy.monthly_cost_usd.org_accounts` from the latest `org.hourly_run_s` and
    /// `org.tracker_peak_rss_mb` in the results file, scaled to 1,000 accounts.
    pub(crate) fn org_accounts_figure_from_results(results: &Path) -> anyhow::Result<Figure> {
        let text = std::fs::read_to_string(results)?;
        let latest = |metric: &str| {
            latest_figure(&text, metric).with_context(|| {
                format!(
                    "no {metric} in {}: run --only org-accounts",
                    results.display()
                )
            })
        };
        let (hourly, _, note) = latest("org.hourly_run_s")?;
        let (peak, _, _) = latest("org.tracker_peak_rss_mb")?;
        // "reading 1000 member accounts plus its own" and "(22022 streams)" in the note.
        let number_after = |marker: &str| -> anyhow::Result<f64> {
            note.split(marker)
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
                .with_context(|| format!("org.hourly_run_s's note no longer says {marker:?}"))
        };
        let accounts = number_after("reading ")? + 1.0;
        let streams = note
            .split(" streams)")
            .next()
            .and_then(|s| s.rsplit('(').next())
            .and_then(|n| n.parse::<f64>().ok())
            .context("org.hourly_run_s's note no longer gives its streams")?;
        let scale = 1000.0 / accounts;
        org_accounts_figure(
            results,
            1000.0,
            streams * scale,
            hourly * scale,
            peak * scale,
        )
    }

    /// A bill's total and its lines as text.
    fn bill(lines: &[(&str, f64)]) -> (f64, String) {
        let total = lines.iter().map(|(_, usd)| usd).sum();
        let text: Vec<String> = lines
            .iter()
            .map(|(what, usd)| format!("{what} ${usd:.2}"))
            .collect();
        (total, text.join(", "))
    }

    /// `deploy.monthly_cost_usd.org_trail` (identity scope) and `.org_trail_all`.
    pub(crate) fn org_trail_figures(
        results: &Path,
        kept: f64,
        ingest_events_per_s: f64,
    ) -> anyhow::Result<Vec<Figure>> {
        let m = measured(results)?;
        let retention = m.retention_days;
        let t = ORG_TRAIL;
        Ok([
            ("deploy.monthly_cost_usd.org_trail", kept, "identity"),
            ("deploy.monthly_cost_usd.org_trail_all", 1.0, "all"),
        ]
        .into_iter()
        .map(|(metric, kept, scope)| {
            let (total, breakdown) =
                bill(&org_trail_monthly(&t, kept, ingest_events_per_s, &m));
            Figure {
                metric,
                value: total,
                unit: "USD/month",
                goal: "report",
                note: format!(
                    "{} accounts, {} trail events/day in {} files/day, INGEST_SCOPE={scope} keeping {:.1}% (the generated organisation's mix; 19% of the real dataset's events); steady state after a year (DynamoDB {retention:.0} days, lake 1 year), us-east-1 list prices; {}; ingester at {ingest_events_per_s:.0} events/s a core; from {}",
                    t.accounts,
                    t.events_per_day,
                    t.files_per_day,
                    kept * 100.0,
                    breakdown,
                    m.sources
                ),
            }
        })
        .collect())
    }

    pub(crate) fn figures(results: &Path) -> anyhow::Result<Vec<Figure>> {
        let m = measured(results)?;
        Ok([(SMALL, "deploy.monthly_cost_usd.small"), (LARGE, "deploy.monthly_cost_usd.large")]
            .into_iter()
            .map(|(org, metric)| {
                let (total, breakdown) = bill(&monthly(&org, &m));
                let (long, _) = bill(&monthly_keeping(&org, &m, 90.0));
                let retention = m.retention_days;
                let goal = if org.name == "small" { "Python tool: $0-3" } else { "Python tool: $22-70" };
                Figure {
                    metric,
                    value: total,
                    unit: "USD/month",
                    goal,
                    note: format!(
                        "{} users, {} events/day; steady state after a year (DynamoDB {retention:.0} days, lake 1 year), us-east-1 list prices, real-time alerts off; {}; with RETENTION_DAYS=90 instead ${long:.2}; from {}",
                        org.users,
                        org.events_per_day,
                        breakdown,
                        m.sources
                    ),
                }
            })
            .collect())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_default_alarms_are_counted_from_the_template() {
            let template = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
            )
            .unwrap();
            assert_eq!(default_alarms(&template), 7);
            let sample = "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties: {}\n  B:\n    Type: AWS::CloudWatch::Alarm\n    Condition: FullAlarms\n    Properties: {}\n  C:\n    Type: AWS::SQS::Queue\n";
            assert_eq!(default_alarms(sample), 1);
        }

        fn measured() -> Measured {
            Measured {
                write_units: 3.0,
                item_bytes: 484.0,
                parquet_bytes: 132.0,
                export_events_per_s: 130_000.0,
                alarms: 7.0,
                index_entries: 2.0,
                retention_days: 90.0,
                kms_keys: 1.0,
                tracker_read_units: 1.0,
                tracker_requests_per_s: 1.95,
                tracker_cpu_ms_per_1k: 35.0,
                start_s: Functions {
                    tracker: 0.005,
                    alerter: 0.005,
                    exporter: 0.005,
                    report: 0.005,
                },
                alerter_ms_per_1k: 50.0,
                alerter_read_units: 0.0,
                alerter_write_units: 0.0,
                alerter_batch: 1000.0,
                runs_per_day: 24.0,
                rereads: 1.0 / 3.0,
                memory_gb: Functions {
                    tracker: 0.25,
                    alerter: 0.25,
                    exporter: 1.0,
                    report: 0.25,
                },
                sources: String::new(),
            }
        }

        #[test]
        fn template_defaults_are_read_from_its_parameters() {
            let template = template().unwrap();
            assert_eq!(
                default_lookup_indexes(&template).unwrap(),
                iat_aws::LookupIndexes::None
            );
            assert_eq!(
                default_parameter(&template, "Alarms").as_deref(),
                Some("essential")
            );
            let retention = default_parameter(&template, "RetentionDays");
            assert_eq!(retention_days(retention.as_deref()).unwrap(), 14.0);
            assert_eq!(retention_days(Some("")).unwrap(), 365.0);
            // The topic uses the AWS-managed SNS key: no key of our own to pay for.
            assert_eq!(default_resources(&template, "AWS::KMS::Key"), 0);
            assert!(retention_days(Some("soon")).is_err());
            let sample = "Parameters:\n  A:\n    Type: String\n    Default: \"x\"\n  B:\n    Type: String\nResources:\n  B:\n    Default: no\n";
            assert_eq!(default_parameter(sample, "A").as_deref(), Some("x"));
            assert_eq!(default_parameter(sample, "B"), None);
        }

        #[test]
        fn function_settings_are_read_from_the_template() {
            let template = template().unwrap();
            let mb = |f: &str| resource_number(&template, f, "MemorySize").unwrap();
            // The tracker's is a parameter (TrackerMemorySize), read as its default.
            assert_eq!(mb("TrackerFunction"), 256.0);
            assert_eq!(mb("ExporterFunction"), 1024.0);
            assert_eq!(
                resource_number(&template, "AlerterFunction", "BatchSize").unwrap(),
                1000.0
            );
            assert!(resource_number(&template, "NoSuchFunction", "MemorySize").is_err());
            // The overlap's 20 minutes an hour and the daily sweep.
            assert!((rereads(&template).unwrap() - (1.0 + 1.0 / 3.0)).abs() < 1e-9);
            let off = "Parameters:\n  OverlapMinutes:\n    Default: \"30\"\n  SweepAgeHours:\n    Default: \"off\"\n  ScheduleExpression:\n    Default: rate(1 hour)\n";
            assert_eq!(rereads(off).unwrap(), 0.5);
            // Runs every 15 minutes re-read a 30-minute overlap twice.
            let often = off.replace("rate(1 hour)", "rate(15 minutes)");
            assert_eq!(run_interval_minutes(&often).unwrap(), 15.0);
            assert_eq!(rereads(&often).unwrap(), 2.0);
            assert_eq!(run_interval_minutes(&template).unwrap(), 60.0);
            assert_eq!(
                run_interval_minutes(&off.replace("rate(1 hour)", "rate(2 days)")).unwrap(),
                2880.0
            );
            for bad in [
                "cron(0 * * * ? *)",
                "rate(0 hours)",
                "rate(1 fortnight)",
                "rate(hour)",
            ] {
                assert!(
                    run_interval_minutes(&off.replace("rate(1 hour)", bad)).is_err(),
                    "{bad}"
                );
            }
            let sample = "Parameters:\n  Size:\n    Type: Number\n    Default: 512\nResources:\n  F:\n    Properties:\n      MemorySize: !Ref Size\n  G:\n    Properties:\n      MemorySize: big\n";
            assert_eq!(resource_number(sample, "F", "MemorySize").unwrap(), 512.0);
            assert!(resource_number(sample, "G", "MemorySize").is_err());
        }

        #[test]
        fn the_alerters_state_reads_and_writes_are_billed() {
            let base = measured();
            let busy = Measured {
                alerter_read_units: 4.0,
                alerter_write_units: 0.5,
                ..measured()
            };
            let requests = |m: &Measured| monthly(&LARGE, m)[0].1;
            let events = LARGE.events_per_day * DAYS_PER_MONTH;
            let added = events * (4.0 * 0.125 + 0.5 * 0.625) / 1e6;
            let got = requests(&busy) - requests(&base);
            assert!((got - added).abs() < 0.01, "{got} vs {added}");
        }

        #[test]
        fn the_org_trail_bill_is_its_ingest_lines_plus_the_stack_for_what_it_keeps() {
            let identity = org_trail_monthly(&ORG_TRAIL, 0.2, 100_000.0, &measured());
            let all = org_trail_monthly(&ORG_TRAIL, 1.0, 100_000.0, &measured());
            let total = |l: &[(&str, f64)]| l.iter().map(|(_, v)| v).sum::<f64>();
            assert!(total(&all) > 3.0 * total(&identity), "{identity:?} {all:?}");
            // Every trail file is fetched once: 1.44 million a day at $0.0004 per thousand.
            let gets = identity[0].1;
            assert!(
                (gets - 1.44e6 * 30.4 / 1000.0 * 0.0004).abs() < 0.01,
                "{gets}"
            );
            // The events table's writes are the kept events' (3 units each), nothing for the
            // tracker's reads.
            let writes = identity
                .iter()
                .find(|(w, _)| *w == "DynamoDB requests")
                .unwrap()
                .1;
            let expected = 50e6 * 0.2 * 30.4 * 3.0 / 1e6 * 0.625;
            assert!(
                (writes - expected).abs() / expected < 0.05,
                "{writes} vs {expected}"
            );
        }

        #[test]
        fn the_org_accounts_bill_uses_the_measured_pass_and_adds_forwarding() {
            let lines = org_accounts_monthly(1000.0, 300.0, 21_000.0, 400.0, &measured());
            let lambda = lines.iter().find(|(w, _)| *w == "Lambda").unwrap().1;
            // 720 runs of 400 s at 0.25 GB, the largest part of the Lambda line.
            let tracker = 720.0 * 30.4 / 30.0 * 400.0 * 0.25 * LAMBDA_GB_SECOND_X86;
            assert!(
                lambda > tracker && lambda < tracker * 1.5,
                "{lambda} {tracker}"
            );
            let forwarding = lines.last().unwrap().1;
            assert!(
                (forwarding - 300_000.0 * 30.4 / 1e6).abs() < 0.01,
                "{forwarding}"
            );
            // Each stream's checkpoint is written every run.
            let requests = lines[0].1;
            assert!(requests > 21_000.0 * 720.0 / 1e6 * 0.625, "{requests}");
            // And one account's checkpoint read every run, to find the accounts far behind.
            let far = lines
                .iter()
                .find(|(w, _)| w.contains("far behind"))
                .unwrap()
                .1;
            assert!(
                (far - 1000.0 * 24.0 * 30.4 / 1e6 * 0.125).abs() < 0.001,
                "{far}"
            );
        }

        #[test]
        fn cost_grows_with_events_and_fixed_costs_stay() {
            let small: f64 = monthly(&SMALL, &measured()).iter().map(|(_, v)| v).sum();
            let large: f64 = monthly(&LARGE, &measured()).iter().map(|(_, v)| v).sum();
            assert!(small > 7.0 * ALARM_MONTH + KMS_KEY_MONTH, "{small}");
            assert!(large > 5.0 * small, "{small} {large}");
            // Requests: 3 write units per event at $0.625 per million, and 1.33 read units at
            // $0.125 (plus the export's fraction of a unit).
            let requests = monthly(&LARGE, &measured())[0].1;
            let events = LARGE.events_per_day * DAYS_PER_MONTH;
            let expected = events * 3.0 / 1e6 * 0.625 + events * 1.333 / 1e6 * 0.125;
            assert!(
                (requests - expected).abs() / expected < 0.05,
                "{requests} vs {expected}"
            );
        }
    }
}
