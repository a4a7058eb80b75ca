//! First-seen state figures: what the state lookups add per 1,000 events (SQLite and DynamoDB
//! on moto), and how many items the generated organisation's days leave in the state.
//!
//! Days of the generated organisation are made one at a time, each evaluated in batches of
//! 1,000 events (the alerter's stream batch) with `now` at the end of that day, so the state
//! learns, then fires on what is new, as the deployed alerter would. The generator plants its
//! scenarios in working hours and makes weekdays only, so weekends pass without events.

use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use iat_core::RecordLimits;
use iat_core::ports::SeenStore;
use iat_core::rules::RuleSet;
use iat_sim::{OrgConfig, generate};

use crate::{Figure, median};

const BATCH: usize = 1_000;

fn is_weekend(day: NaiveDate) -> bool {
    use chrono::Datelike;
    matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

fn day_events(day: NaiveDate, events: u64) -> anyhow::Result<Vec<iat_core::ActivityEvent>> {
    let dir = tempfile::tempdir()?;
    generate(
        &OrgConfig {
            day,
            background_events: events,
            ..OrgConfig::default()
        },
        dir.path(),
    )?;
    let loaded =
        iat_local::logfiles::load_events(&[dir.path().join("AWSLogs")], &RecordLimits::default());
    anyhow::ensure!(loaded.rejected.is_empty(), "generated records normalise");
    let mut events = loaded.events;
    events.sort_by_key(|e| e.time);
    Ok(events)
}

/// Milliseconds of state work per 1,000 events for each batch of a day, and the first-seen hits.
async fn run_day(
    store: &dyn SeenStore,
    rules: &RuleSet,
    events: &[iat_core::ActivityEvent],
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<(Vec<f64>, usize, usize, usize)> {
    let (mut ms, mut hits, mut reads, mut writes) = (Vec::new(), 0, 0, 0);
    for chunk in events.chunks(BATCH) {
        let start = Instant::now();
        let run = iat_core::seen::evaluate(store, rules, chunk, now).await?;
        ms.push(start.elapsed().as_secs_f64() * 1000.0 * BATCH as f64 / chunk.len() as f64);
        hits += run.hits.len();
        reads += run.keys_read;
        writes += run.writes;
    }
    Ok((ms, hits, reads, writes))
}

pub(crate) fn benchmark(days: usize, events_per_day: u64) -> anyhow::Result<Vec<Figure>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rules = RuleSet::default_rules();
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let end_of = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_opt(23, 59, 59).unwrap()) + Duration::minutes(30)
    };

    let dir = tempfile::tempdir()?;
    let sqlite = iat_local::SqliteStore::open(&dir.path().join("seen.db"))?;
    let (mut steady, mut hits_after_learning, mut total_events) = (Vec::new(), Vec::new(), 0);
    let (mut reads, mut writes) = (0usize, 0usize);
    let mut weekdays = 0;
    for i in 0..days {
        let day = first + Duration::days(i as i64);
        if is_weekend(day) {
            continue;
        }
        weekdays += 1;
        let events = day_events(day, events_per_day)?;
        total_events += events.len();
        let (ms, hits, r, w) = rt.block_on(run_day(&sqlite, &rules, &events, end_of(day)))?;
        reads += r;
        writes += w;
        if i >= days.saturating_sub(30) {
            steady.extend(ms);
            hits_after_learning.push(hits);
            eprintln!("seen: day {i}: {hits} first-seen alerts");
        }
    }
    let items = rt.block_on(sqlite.count())?;
    let mut figures = vec![
        Figure {
            metric: "alerter.seen_state_ms_per_1k_events",
            value: median(steady.clone()),
            unit: "ms",
            goal: "measure",
            note: format!(
                "SQLite: first-seen evaluation (one bulk read of the batch's keys, writes of new keys) per 1,000-event batch, median over the last {} days' batches of {days} days ({weekdays} generated weekdays, {} events each); max {:.1} ms; {} keys read and {} written over all days; first-seen alerts a day after learning: {:?}",
                days.min(30),
                total_events / weekdays.max(1),
                steady.iter().cloned().fold(0.0, f64::max),
                reads,
                writes,
                hits_after_learning
            ),
        },
        Figure {
            metric: "alerter.seen_state_items",
            value: items as f64,
            unit: "items",
            goal: "measure",
            note: format!(
                "first-seen items after {days} days ({weekdays} generated weekdays, {total_events} events, 4 accounts) of the generated organisation: principals, services, write actions, regions, denied actions, networks"
            ),
        },
    ];
    figures.extend(rt.block_on(learned_score(events_per_day))?);
    match iat_sim::emulators::moto_endpoint_if_running() {
        Some(endpoint) => {
            figures.extend(rt.block_on(moto_figure(&endpoint, &rules, events_per_day))?)
        }
        None => eprintln!("skipped the DynamoDB seen-state figure: needs moto (run `make bench`)"),
    }
    Ok(figures)
}

/// DynamoDB on moto: two days to warm the state, the third measured.
async fn moto_figure(
    endpoint: &str,
    rules: &RuleSet,
    events_per_day: u64,
) -> anyhow::Result<Vec<Figure>> {
    let config = iat_aws::testing::emulator_config(endpoint, "us-east-1").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!("iat-bench-seen-{}", std::process::id());
    iat_aws::create_table(&client, iat_aws::TableKind::Control, &table).await?;
    let store = iat_aws::DynamoSeenStore::new(client, &table);
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let mut measured = Vec::new();
    let (mut reads, mut writes, mut n) = (0, 0, 0);
    let days: Vec<NaiveDate> = (0..)
        .map(|i| first + Duration::days(i))
        .filter(|d| !is_weekend(*d))
        .take(3)
        .collect();
    for (i, day) in days.into_iter().enumerate() {
        let events = day_events(day, events_per_day)?;
        let now = Utc.from_utc_datetime(&day.and_hms_opt(23, 59, 59).unwrap());
        let (ms, _, r, w) = run_day(&store, rules, &events, now).await?;
        if i == 2 {
            measured = ms;
            (reads, writes, n) = (r, w, events.len());
        }
    }
    anyhow::ensure!(n > 0, "no events on the measured day");
    let what = format!(
        "DynamoDB's first-seen state on the third generated day ({n} events) after two days of learning"
    );
    Ok(vec![
        Figure {
            metric: "alerter.seen_state_ms_per_1k_events.dynamodb",
            value: median(measured.clone()),
            unit: "ms",
            goal: "measure",
            note: format!(
                "DynamoDB on moto (local HTTP, one request at a time): the third generated day ({n} events, {} batches of 1,000) after two days of learning; {reads} keys read in BatchGetItem requests of 100 ({} requests), {writes} conditional PutItems; max {:.1} ms",
                measured.len(),
                reads.div_ceil(100),
                measured.iter().cloned().fold(0.0, f64::max)
            ),
        },
        // DynamoDB bills each key of an eventually consistent BatchGetItem half a read unit (the
        // state's items are far under 4 KB, and a key not found costs the same), and each
        // conditional PutItem a write unit whether it succeeds or not.
        Figure {
            metric: "alerter.seen_state_read_units_per_event",
            value: reads as f64 * 0.5 / n as f64,
            unit: "read units/event",
            goal: "measure",
            note: format!(
                "{what}: {reads} keys read (eventually consistent BatchGetItem, half a unit each) for {n} events; the cost model's input for the alerter's reads"
            ),
        },
        Figure {
            metric: "alerter.seen_state_write_units_per_event",
            value: writes as f64 / n as f64,
            unit: "write units/event",
            goal: "measure",
            note: format!(
                "{what}: {writes} conditional PutItems (a unit each, items under 1 KB) for {n} events; the cost model's input for the alerter's writes"
            ),
        },
    ])
}

/// Precision and recall of every rule, first-seen ones included, on a generated day after its
/// own history: the state learns three weeks earlier's replay of the day, then the day is
/// evaluated as the alerter would (batches of 1,000 against the state, the per-event rules).
async fn learned_score(events_per_day: u64) -> anyhow::Result<Vec<Figure>> {
    let config = OrgConfig {
        day: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
        background_events: events_per_day,
        ..OrgConfig::default()
    };
    let dir = tempfile::tempdir()?;
    let labels = iat_sim::generate_learned(&config, dir.path())?;
    let rules = &RuleSet::new(labels.rule_config()?)?;
    let loaded =
        iat_local::logfiles::load_events(&[dir.path().join("AWSLogs")], &RecordLimits::default());
    anyhow::ensure!(loaded.rejected.is_empty(), "generated records normalise");
    let mut events = loaded.events;
    events.sort_by_key(|e| e.time);
    let day_start = Utc.from_utc_datetime(&config.day.and_hms_opt(0, 0, 0).unwrap());
    let today = events.partition_point(|e| e.time < day_start);
    let now = day_start + Duration::hours(24) + Duration::minutes(30);

    let state = tempfile::tempdir()?;
    let store = iat_local::SqliteStore::open(&state.path().join("seen.db"))?;
    let mut raised = std::collections::BTreeSet::new();
    let mut first_seen = 0;
    for chunk in events.chunks(BATCH) {
        let run = iat_core::seen::evaluate(&store, rules, chunk, now).await?;
        first_seen += run.hits.len();
        raised.extend(run.hits.iter().map(expected));
    }
    raised.extend(rules.evaluate_all(&events[today..]).iter().map(expected));
    let score = labels.score_alerts(&raised);
    let what = format!(
        "{} (event, rule) pairs raised on the {} events of a generated day ({} scenarios, {} of them first uses after learning) after {} replayed events of its history {} days earlier; {first_seen} first-seen alerts",
        score.raised,
        events.len() - today,
        labels.scenarios.len(),
        labels
            .scenarios
            .iter()
            .filter(|s| iat_core::rules::FIRST_SEEN.iter().any(|r| r.id == s.kind))
            .count(),
        labels.history_events,
        iat_sim::HISTORY_OFFSET_DAYS,
    );
    Ok(vec![
        Figure {
            metric: "alerter.scenario_precision.first_seen",
            value: score.precision,
            unit: "ratio",
            goal: "1.0",
            note: format!("{what}; unexpected: {:?}", score.unexpected),
        },
        Figure {
            metric: "alerter.scenario_recall.first_seen",
            value: score.recall,
            unit: "ratio",
            goal: "1.0",
            note: format!(
                "{what}; {} of {} expected raised; missed: {:?}",
                score.true_positives, score.expected, score.missed
            ),
        },
    ])
}

fn expected(h: &iat_core::rules::Hit<'_>) -> iat_sim::ExpectedAlert {
    iat_sim::ExpectedAlert {
        event_id: h.event.id.to_string(),
        rule_id: h.rule.id.to_owned(),
    }
}
