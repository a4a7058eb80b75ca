//! "What did this principal do": what one lookup by actor costs on each path, for the large
//! organisation (one generated day of 300,000 events), for its busiest user or role session.
//!
//! - **DynamoDB, day partitions** (the default table, `LOOKUP_INDEXES=none`): each day's eight
//!   partitions read in full, filtered on the item's `ak`.
//! - **DynamoDB, `by_actor` index** (`LOOKUP_INDEXES=actor`): the actor's keys, then its items.
//! - **Lake**: `iat query user_lookup`, and `iat events --history lake` (what `iat events` reads
//!   for days the store no longer keeps), with DataFusion over 7 and 90 days of the large
//!   organisation (2.1 and 27 million events: its exported day and earlier days made from it,
//!   each row moved to its date), measured end to end.
//!
//! DynamoDB paths run on moto against a sample of the day. What they read is counted from the
//! requests (`ScannedCount`, items fetched) and checked against what each path must read; the
//! read units are then DynamoDB's billing rule applied to the measured item size (1 unit per
//! 4 KB strongly consistent, half for the eventually consistent index, each item of a
//! `BatchGetItem` rounded up to 4 KB), because moto reports a constant instead of consumed
//! capacity. Their times are moto's and one day's, not DynamoDB's: reported, not extrapolated.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use chrono::Duration;
use iat_aws::{AwsSettings, DynamoEventStore, LookupIndexes, ReadPath, sdk_config};
use iat_core::ports::{EventQuery, EventStore};
use iat_core::{RecordLimits, TimeWindow};

use crate::lake::{ingest, run_iat};
use crate::{Figure, median};

/// Read units of an item read by key or by query page, per 4 KB (strongly consistent).
const UNIT_BYTES: f64 = 4096.0;
/// A key-only index entry as read: its key, the table's key (about 150 bytes).
const INDEX_ENTRY_BYTES: f64 = 150.0;

pub(crate) fn benchmark(
    dir: &Path,
    endpoint: &str,
    sample: usize,
    runs: usize,
) -> anyhow::Result<Vec<Figure>> {
    let labels = iat_sim::Labels::read(&dir.join("labels.json"))?;
    let day = labels.day;
    let trail = dir.join("AWSLogs");
    let mut loaded =
        iat_local::logfiles::load_events(std::slice::from_ref(&trail), &RecordLimits::default());
    let filter = iat_core::NoiseFilter::default();
    let window = TimeWindow::day(day);
    // The day's stored events (a few of the generated ones fall on the days around it).
    loaded
        .events
        .retain(|e| filter.classify(e).is_none() && window.contains(e.time));
    let events = loaded.events;
    let per_day = events.len();
    ensure!(per_day > 0, "no events under {}", trail.display());

    // The busiest principal a person would look up (a user or role session, not an AWS
    // service), by readable actor as `iat events --actor` names it.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in events
        .iter()
        .filter(|e| e.principal.kind != iat_core::PrincipalType::AwsService)
    {
        *counts.entry(e.principal.actor.as_str()).or_default() += 1;
    }
    let (actor, actor_events) = counts
        .iter()
        .filter(|(a, _)| !a.is_empty() && !a.starts_with("arn:") && !iat_core::glob::is_glob(a))
        .max_by_key(|(a, n)| (**n, std::cmp::Reverse(**a)))
        .map(|(a, n)| ((*a).to_owned(), *n))
        .context("no actor to look up")?;
    let item_bytes = events
        .iter()
        .map(|e| DynamoEventStore::write_cost(e, None, LookupIndexes::None).item_bytes as f64)
        .sum::<f64>()
        / per_day as f64;

    // ---- DynamoDB on moto, a sample of the day (every n-th event keeps the actor's share).
    let stride = per_day.div_ceil(sample.max(1)).max(1);
    let sampled: Vec<_> = events.iter().step_by(stride).cloned().collect();
    let sampled_actor = sampled
        .iter()
        .filter(|e| e.principal.actor == actor)
        .count();
    let runtime = tokio::runtime::Runtime::new()?;
    let query = EventQuery {
        actor: Some(actor.clone()),
        window: Some(window),
        ..Default::default()
    };
    let mut dynamo = Vec::new();
    for indexes in [LookupIndexes::None, LookupIndexes::Actor] {
        let measured = runtime.block_on(async {
            let sdk = sdk_config(&AwsSettings {
                region: Some("us-east-1".into()),
                endpoint_url: Some(endpoint.to_owned()),
                ..Default::default()
            })
            .await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            let table = format!("iat-bench-lookup-{indexes}-{}", std::process::id());
            iat_aws::create_events_table(&client, &table, indexes).await?;
            let store = DynamoEventStore::new(client, &table).with_concurrency(16);
            eprintln!(
                "storing {} of the day's {per_day} events in {table}",
                sampled.len()
            );
            for chunk in sampled.chunks(2_000) {
                store.put(chunk).await?;
            }
            let mut times = Vec::new();
            let mut reads = Vec::new();
            for _ in 0..runs {
                let before = store.read_report();
                let start = Instant::now();
                let found = store.query(&query).await?;
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                let after = store.read_report();
                ensure!(
                    found.len() == sampled_actor,
                    "{indexes}: found {} of the actor's {sampled_actor} events",
                    found.len()
                );
                reads.push((
                    after.items_read - before.items_read,
                    after.requests - before.requests,
                    after.last_path,
                ));
            }
            anyhow::Ok((indexes, median(times), reads))
        })?;
        dynamo.push(measured);
    }

    let mut figures = Vec::new();
    for (indexes, ms, reads) in dynamo {
        let (items_read, requests, path) = reads[0].clone();
        ensure!(
            reads.iter().all(|r| r.0 == items_read),
            "{indexes}: runs read different item counts: {reads:?}"
        );
        let (name, per_day_units, check) = match path {
            Some(ReadPath::DayPartitions { days: 1, .. }) => (
                "dynamodb_days",
                // Every item of the day, consistently: its bytes in 4 KB units.
                per_day as f64 * item_bytes / UNIT_BYTES,
                items_read as usize == sampled.len(),
            ),
            Some(ReadPath::Index { days: 1, .. }) => (
                "dynamodb_index",
                // The actor's index entries (eventually consistent) and one BatchGetItem read
                // of each of its items, each rounded up to 4 KB.
                actor_events as f64 * (0.5 * INDEX_ENTRY_BYTES / UNIT_BYTES + 1.0),
                items_read as usize == 2 * sampled_actor,
            ),
            other => bail!("{indexes}: unexpected read path {other:?}"),
        };
        ensure!(
            check,
            "{indexes}: read {items_read} items for {} stored, {sampled_actor} the actor's",
            sampled.len()
        );
        figures.push(Figure {
            metric: if name == "dynamodb_days" {
                "events.lookup_by_actor_ms.dynamodb_days.1d_moto"
            } else {
                "events.lookup_by_actor_ms.dynamodb_index.1d_moto"
            },
            value: ms,
            unit: "ms",
            goal: "measure",
            note: format!(
                "one day's lookup of the busiest actor on moto (LOOKUP_INDEXES={indexes}), {} of the day's {per_day} events stored, {sampled_actor} of them the actor's; {items_read} items read in {requests} requests; median of {runs}; moto's speed, not DynamoDB's, and days are read one after another",
                sampled.len()
            ),
        });
        for (days, metric) in [
            (
                7.0,
                if name == "dynamodb_days" {
                    "events.lookup_by_actor_read_units.dynamodb_days.7d"
                } else {
                    "events.lookup_by_actor_read_units.dynamodb_index.7d"
                },
            ),
            (
                90.0,
                if name == "dynamodb_days" {
                    "events.lookup_by_actor_read_units.dynamodb_days.90d"
                } else {
                    "events.lookup_by_actor_read_units.dynamodb_index.90d"
                },
            ),
        ] {
            let units = per_day_units * days;
            figures.push(Figure {
                metric,
                value: units,
                unit: "read units",
                goal: "measure",
                note: format!(
                    "{days} days of {per_day} events/day ({item_bytes:.0} B items), the busiest actor ({actor_events} events/day): ${:.4} a lookup at $0.125 per million read units; what the path reads was counted on moto ({items_read} items for {} stored) and priced by DynamoDB's rule (moto does not report consumed capacity)",
                    units / 1e6 * 0.125,
                    sampled.len()
                ),
            });
        }
    }

    // ---- The lake: the day exported, and 89 days before it made from it.
    let work = dir.join("lookup-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let db = format!("sqlite:{}", work.join("iat.db").display());
    let lake = work.join("lake");
    let lake_s = lake.display().to_string();
    let day_s = day.to_string();
    eprintln!("ingesting and exporting the day for the lake lookups");
    ingest(&db, &trail)?;
    run_iat(&[
        "--store", &db, "export", "--since", &day_s, "--format", "json", "--lake", &lake_s,
    ])?;
    let table = lake.join("events");
    let src = table.join(format!("dt={day}"));
    let day_bytes: u64 = std::fs::read_dir(&src)?
        .filter_map(|f| f.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    crate::lake::earlier_days(&table, day, 90)?;
    for (days, metric) in [
        (7i64, "events.lookup_by_actor_ms.lake.7d"),
        (90, "events.lookup_by_actor_ms.lake.90d"),
    ] {
        let since = (day - Duration::days(days - 1)).to_string();
        let param = format!("actor={actor}");
        let args = [
            "query",
            "user_lookup",
            "--since",
            &since,
            "--until",
            &day_s,
            "--param",
            &param,
            "--lake",
            &lake_s,
            "--format",
            "json",
            "--local",
        ];
        run_iat(&args)?; // warm-up: page cache
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let out = run_iat(&args)?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            rows = serde_json::from_str::<Vec<serde_json::Value>>(&out)?.len();
        }
        ensure!(rows > 0, "user_lookup found nothing for {actor}");
        let bytes = day_bytes as f64 * days as f64;
        figures.push(Figure {
            metric,
            value: median(times),
            unit: "ms",
            goal: "measure",
            note: format!(
                "`iat query user_lookup --param actor={actor}` (a new process: start-up, plan, DataFusion) over {days} days x {per_day} events (the exported day and the days before it made from it, each row moved to its date), {rows} rows out (the query's limit is 1,000), warm, median of {runs}; the days' Parquet is {:.0} MB, an upper bound on what Athena would scan (${:.4} at $5 per TB, 10 MB minimum); no read units",
                bytes / 1e6,
                (bytes.max(10.0 * 1024.0 * 1024.0) / 1024f64.powi(4)) * 5.0
            ),
        });
    }
    // The same lookup as `iat events` makes it for days the store no longer keeps: every
    // column of the actor's rows, rebuilt into events, the first 1,000 newest first.
    for (days, metric) in [
        (7i64, "events.lookup_by_actor_ms.lake_via_events.7d"),
        (90, "events.lookup_by_actor_ms.lake_via_events.90d"),
    ] {
        let since = (day - Duration::days(days - 1)).to_string();
        let until = format!("{day}T23:59:59Z");
        let args = [
            "--store",
            &db,
            "events",
            "--actor",
            &actor,
            "--since",
            &since,
            "--until",
            &until,
            "--history",
            "lake",
            "--lake",
            &lake_s,
            "--local",
            "--limit",
            "1000",
            "--format",
            "jsonl",
        ];
        iat_events(&args)?; // warm-up: page cache
        let mut times = Vec::new();
        let (mut rows, mut report) = (0, String::new());
        for _ in 0..runs {
            let start = Instant::now();
            let (out, err) = iat_events(&args)?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            rows = out.lines().count();
            report = err;
        }
        // What `iat events` says it read ("... from the lake ...; N SQL statements").
        let read = report
            .lines()
            .find(|l| l.contains("SQL statement"))
            .with_context(|| format!("iat events did not say what it read: {report}"))?
            .trim()
            .to_owned();
        ensure!(
            rows == 1000,
            "iat events found {rows} of {actor}'s events, not 1,000"
        );
        figures.push(Figure {
            metric,
            value: median(times),
            unit: "ms",
            goal: "measure",
            note: format!(
                "`iat events --actor {actor} --history lake --limit 1000` (a new process) over {days} days x {per_day} events (the exported day and the days before it made from it, each row moved to its date): the newest 1,000 of the actor's events, every column read and rebuilt into events, warm, median of {runs}; the actor pushed down, newest day first, widening only while fewer than the limit were found; it said: {read}"
            ),
        });
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(figures)
}

/// `iat ARGS`: its standard output and standard error.
fn iat_events(args: &[&str]) -> anyhow::Result<(String, String)> {
    let out = std::process::Command::new(crate::sibling("iat")?)
        .args(args)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(out.status.success(), "iat {}: {err}", args.join(" "));
    Ok((String::from_utf8(out.stdout)?, err))
}
