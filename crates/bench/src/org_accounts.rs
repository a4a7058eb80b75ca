//! `org.hourly_run_s`, `org.tracker_peak_rss_mb` and `deploy.monthly_cost_usd.org_accounts`:
//! the tracker binary reading many member accounts' Event history through their reader roles.
//!
//! The simulator plays CloudTrail at its limits (2 requests a second per account and region),
//! STS (each member's role) and Account Management (17 enabled regions per account); moto holds
//! the tables. The hourly pass: a first invocation backfills two days; new events then appear
//! in every account, and the second invocation, the one measured, must store exactly those,
//! from every account, with nothing failing. The peak memory: a fresh tracker process's 90-day
//! backfill of the goal's 200 accounts, events in every account-region, pages taking 0.2 to 4 s
//! as in the backfill's own benchmark; every event must be stored.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use iat_core::contract::records::RecordSpec;
use iat_lambda::testing::{Outcome, function_command, peak_rss_kib, runtime_api_queue, stop};
use iat_sim::lookup::{SimConfig, Simulator};
use serde_json::{Value, json};

use crate::Figure;

/// The collector's own account (the management account).
const HOME: &str = "123456789012";
/// Events each account has before the first run, and gets before the measured one.
const BACKFILL_EVENTS: i64 = 6;
const NEW_EVENTS: i64 = 2;
/// The 90-day backfill's page times, as `org_backfill`'s (CloudTrail's range).
const BACKFILL_PAGE_LATENCY: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_millis(4000));

pub(crate) fn benchmark(
    endpoint: &str,
    tracker: &Path,
    results: &Path,
    accounts: usize,
) -> anyhow::Result<Vec<Figure>> {
    need(tracker)?;
    let run = runtime()?.block_on(run(endpoint, tracker, accounts))?;
    let mb = run.peak_rss_kib as f64 / 1024.0;
    let mut figures = vec![Figure {
        metric: "org.hourly_run_s",
        value: run.hourly_s,
        unit: "s",
        goal: "<= 600",
        note: format!(
            "the tracker binary (release) reading {accounts} member accounts plus its own through their reader roles (one AssumeRole each) on the LookupEvents simulator at 2 requests/s per account and region, pages 0.2-1.5 s, 17 enabled regions each ({} streams), checkpoints on moto; one invocation (TRACKER_SHARDS=1) after a 2-day backfill had caught every stream up, storing the {} events added since (all of them, none failed); {} requests, {} throttled; the backfill took {:.0} s; the process's peak resident memory over both invocations {:.0} MB ({:.0} KB per account)",
            run.streams,
            run.inserted,
            run.requests,
            run.throttled,
            run.backfill_s,
            mb,
            run.peak_rss_kib as f64 / (accounts + 1) as f64,
        ),
    }];
    figures.push(crate::deploy::cost::org_accounts_figure(
        results,
        1000.0,
        run.streams as f64 / (accounts + 1) as f64 * 1000.0,
        run.hourly_s * 1000.0 / (accounts + 1) as f64,
        mb * 1000.0 / (accounts + 1) as f64,
    )?);
    Ok(figures)
}

/// `org.tracker_peak_rss_mb`: a fresh tracker process's 90-day backfill of `accounts` accounts
/// (its own among them), `per_region` events in each of their 17 regions.
pub(crate) fn memory(
    endpoint: &str,
    tracker: &Path,
    accounts: usize,
    per_region: usize,
) -> anyhow::Result<Vec<Figure>> {
    need(tracker)?;
    if accounts == 0 || per_region == 0 {
        bail!("the backfill's memory needs at least one account and one event per region");
    }
    let (run, peak_kib) =
        runtime()?.block_on(backfill_memory(endpoint, tracker, accounts, per_region))?;
    eprintln!(
        "org backfill memory: {accounts} accounts, {} events in {:.0} s over {} invocations, peak {peak_kib} KiB",
        run.inserted, run.seconds, run.invocations
    );
    Ok(vec![Figure {
        metric: "org.tracker_peak_rss_mb",
        value: peak_kib as f64 / 1024.0,
        unit: "MB",
        goal: "<= 256",
        note: format!(
            "peak resident memory (VmHWM) of a fresh tracker process (release) over a 90-day backfill (BACKFILL_DAYS=90) of {accounts} accounts x 17 regions through their reader roles, {:.0} KB per account: {} streams, {per_region} STS events per account-region spread over 89 days ({} in all, every one stored, none failed), {} requests ({} throttled) at most {} in flight, at most {} pages fetched or being stored at once and {} table requests in flight, pages 0.2-4 s at 2 requests/s per account and region, events and checkpoints on moto; {:.0} s in {} invocation(s) of up to 15 minutes",
            peak_kib as f64 / accounts as f64,
            run.streams,
            run.inserted,
            run.requests,
            run.throttled,
            iat_aws::MAX_LOOKUPS_IN_FLIGHT,
            iat_tracker::CollectConfig::default().pages_at_once,
            iat_aws::MAX_STORE_REQUESTS_IN_FLIGHT,
            run.seconds,
            run.invocations,
        ),
    }])
}

fn need(tracker: &Path) -> anyhow::Result<()> {
    if !tracker.exists() {
        bail!(
            "{} is missing: cargo build --release -p iat-lambda",
            tracker.display()
        );
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

struct Run {
    hourly_s: f64,
    backfill_s: f64,
    streams: u64,
    inserted: u64,
    requests: u64,
    throttled: u64,
    peak_rss_kib: u64,
}

async fn run(endpoint: &str, bin: &Path, accounts: usize) -> anyhow::Result<Run> {
    let members = member_ids(accounts, 410_000_000_000, 7);
    let all: Vec<&str> = std::iter::once(HOME)
        .chain(members.iter().map(String::as_str))
        .collect();
    let sim = simulator((Duration::from_millis(200), Duration::from_millis(1500)));
    let now = Utc::now();
    let add =
        |account: &str, tag: &str, n: i64, from: chrono::DateTime<Utc>| -> anyhow::Result<()> {
            for i in 0..n {
                let (region, source, name) = if i % 2 == 0 {
                    ("us-east-1", "iam.amazonaws.com", "CreateRole")
                } else {
                    ("eu-west-1", "sts.amazonaws.com", "AssumeRole")
                };
                let raw = RecordSpec::new(
                    &format!("{tag}-{account}-{i}"),
                    from + chrono::Duration::minutes(i),
                )
                .name(source, name)
                .place(account, region)
                .json();
                sim.add(&raw, chrono::Duration::minutes(1))
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }
            Ok(())
        };
    for a in &all {
        add(a, "old", BACKFILL_EVENTS, now - chrono::Duration::hours(20))?;
    }
    let Launched {
        child,
        invoke,
        mut outcomes,
    } = launch(endpoint, bin, &sim, &all, 2).await?;
    let pid = child.id();
    let result = async {
        let backfill_s = backfill(&invoke, &mut outcomes).await?.seconds;
        // Older than the safety lag when the next run starts, visible by then, and in the
        // hour since the backfill (or its overlap).
        let from = Utc::now() - chrono::Duration::minutes(12);
        for a in &all {
            add(a, "new", NEW_EVENTS, from)?;
        }
        let (second, hourly_s) = invocation(&invoke, &mut outcomes, "hourly").await?;
        let expected = all.len() as u64 * NEW_EVENTS as u64;
        let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
        if n(&second, "inserted") != expected
            || n(&second, "failed") != 0
            || second["caught_up"] != second["streams"]
            || n(&second, "accounts") != all.len() as u64
        {
            bail!("the hourly pass stored {second} (expected {expected} new events from every account)");
        }
        Ok(Run {
            hourly_s,
            backfill_s,
            streams: n(&second, "streams"),
            inserted: n(&second, "inserted"),
            requests: n(&second, "requests"),
            throttled: n(&second, "throttled"),
            peak_rss_kib: peak_rss_kib(pid).unwrap_or(0),
        })
    }
    .await;
    with_log(result, child)
}

/// `count` member account ids from `first`, `step` apart.
fn member_ids(count: usize, first: u64, step: u64) -> Vec<String> {
    (0..count as u64)
        .map(|i| format!("{:012}", first + i * step))
        .collect()
}

/// The LookupEvents, STS and Account simulator, its pages taking a time in `latency`.
fn simulator(latency: (Duration, Duration)) -> Simulator {
    Simulator::new(SimConfig {
        default_account: HOME.to_owned(),
        page_latency: latency,
        ..Default::default()
    })
}

/// A tracker binary started on a runtime API of its own, with fresh moto tables.
struct Launched {
    child: std::process::Child,
    invoke: tokio::sync::mpsc::UnboundedSender<Value>,
    outcomes: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
}

/// Starts the tracker binary reading `accounts` on the simulator at `sim`, as the deployed
/// function's defaults have it, with its first run reaching `backfill_days` back.
async fn launch(
    endpoint: &str,
    bin: &Path,
    sim: &Simulator,
    accounts: &[&str],
    backfill_days: u32,
) -> anyhow::Result<Launched> {
    // The server runs for as long as the benchmark's runtime does.
    let (sim, _server) = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let config = iat_aws::sdk_config(&iat_aws::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let suffix = format!("{}-{}", std::process::id(), Utc::now().timestamp_millis());
    let (events, control) = (
        format!("oa-events-{suffix}"),
        format!("oa-control-{suffix}"),
    );
    iat_aws::create_table(&ddb, iat_aws::TableKind::Events, &events).await?;
    iat_aws::create_table(&ddb, iat_aws::TableKind::Control, &control).await?;

    let (api, invoke, outcomes) = runtime_api_queue(Duration::from_secs(900)).await;
    let sim_url = format!("http://{sim}");
    let mut cmd = function_command(bin, api, "tracker");
    cmd.env("AWS_ACCESS_KEY_ID", HOME)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &sim_url)
        .env("AWS_ENDPOINT_URL_STS", &sim_url)
        .env("AWS_ENDPOINT_URL_ACCOUNT", &sim_url)
        .env("EVENTS_TABLE", &events)
        .env("CONTROL_TABLE", &control)
        .env("BACKFILL_DAYS", backfill_days.to_string())
        .env("REQUESTS_PER_SECOND", "2")
        .env("CHAINS_PER_REGION", "8")
        .env("STOP_MARGIN_SECONDS", "30")
        .env("LOG_LEVEL", "warn")
        // The deployed stack names `organization`; a list gives the simulator's accounts.
        .env("ACCOUNTS", accounts.join(","));
    let child = cmd.spawn().context("start the tracker binary")?;
    Ok(Launched {
        child,
        invoke,
        outcomes,
    })
}

/// The tracker's log tail on a failure, as the error's context.
fn with_log<T>(result: anyhow::Result<T>, child: std::process::Child) -> anyhow::Result<T> {
    let logs = stop(child);
    result.map_err(|e| {
        let tail: String = logs.lines().rev().take(20).collect::<Vec<_>>().join("\n");
        e.context(format!("tracker log (last lines):\n{tail}"))
    })
}

/// The backfill's invocations, their time and their summaries' counts added up.
struct Backfill {
    seconds: f64,
    invocations: usize,
    streams: u64,
    inserted: u64,
    requests: u64,
    throttled: u64,
}

/// Invocations until every stream is caught up, as deployed: a backfill that outlasts one
/// 15-minute invocation resumes in the next. Fails on a failed stream, or after four.
async fn backfill(
    invoke: &tokio::sync::mpsc::UnboundedSender<Value>,
    outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<Outcome>,
) -> anyhow::Result<Backfill> {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let mut run = Backfill {
        seconds: 0.0,
        invocations: 0,
        streams: 0,
        inserted: 0,
        requests: 0,
        throttled: 0,
    };
    loop {
        let (summary, s) = invocation(invoke, outcomes, "backfill").await?;
        run.invocations += 1;
        run.seconds += s;
        run.streams = n(&summary, "streams");
        run.inserted += n(&summary, "inserted");
        run.requests += n(&summary, "requests");
        run.throttled += n(&summary, "throttled");
        if n(&summary, "failed") != 0 {
            bail!("the backfill failed streams: {summary}");
        }
        if summary["caught_up"] == summary["streams"] {
            return Ok(run);
        }
        if run.invocations == 4 {
            bail!("four backfill invocations did not catch every stream up: {summary}");
        }
    }
}

async fn backfill_memory(
    endpoint: &str,
    bin: &Path,
    accounts: usize,
    per_region: usize,
) -> anyhow::Result<(Backfill, u64)> {
    // The collector's own account is one of the `accounts`.
    let members = member_ids(accounts - 1, 430_000_000_000, 13);
    let all: Vec<&str> = std::iter::once(HOME)
        .chain(members.iter().map(String::as_str))
        .collect();
    let sim = simulator(BACKFILL_PAGE_LATENCY);
    // Evenly over 89 days, the newest an hour old (older than the safety lag).
    let newest = Utc::now() - chrono::Duration::hours(1);
    let step = chrono::Duration::days(89).num_milliseconds() / per_region as i64;
    let mut expected = 0u64;
    for account in &all {
        for region in iat_core::DEFAULT_REGIONS {
            for i in 0..per_region {
                let raw = RecordSpec::new(
                    &format!("{account}-{region}-{i}"),
                    newest - chrono::Duration::milliseconds(step * i as i64),
                )
                .name("sts.amazonaws.com", "AssumeRole")
                .place(account, region)
                .json();
                sim.add(&raw, chrono::Duration::minutes(1))
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                expected += 1;
            }
        }
    }
    let Launched {
        child,
        invoke,
        mut outcomes,
    } = launch(endpoint, bin, &sim, &all, 90).await?;
    let pid = child.id();
    let result = async {
        let run = backfill(&invoke, &mut outcomes).await?;
        if run.inserted != expected {
            bail!(
                "the backfill stored {} events of the {expected} in Event history",
                run.inserted
            );
        }
        let peak_rss_kib = peak_rss_kib(pid).context("the tracker's peak memory")?;
        Ok((run, peak_rss_kib))
    }
    .await;
    with_log(result, child)
}

/// Hands the tracker one scheduled invocation; its summary and how long it took.
async fn invocation(
    invoke: &tokio::sync::mpsc::UnboundedSender<Value>,
    outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    label: &str,
) -> anyhow::Result<(Value, f64)> {
    invoke
        .send(json!({}))
        .map_err(|_| anyhow::anyhow!("the runtime API stopped"))?;
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(960), outcomes.recv())
        .await
        .with_context(|| format!("the {label} invocation did not finish"))?;
    match outcome {
        Some(Outcome::Response(v)) => Ok((v, started.elapsed().as_secs_f64())),
        other => bail!("the {label} invocation failed: {other:?}"),
    }
}
