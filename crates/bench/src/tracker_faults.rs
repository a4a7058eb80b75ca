//! The collector through every fault at once, end to end: the CloudTrail simulator over HTTP
//! (throttling, 5xx, dropped connections, deliveries up to 15 minutes late, duplicate
//! deliveries, and 1% of events up to an hour late, beyond the overlap), the real CloudTrail
//! adapter, hourly runs for two days of which some are cut by deadlines and some crash, then the
//! store exported to Parquet. Lost and duplicate events are counted in the exported lake's rows
//! (DataFusion over the Parquet files, which have no unique key) against the ids the simulator
//! delivered, and in the store's own reports of new events (what feeds alerts and the
//! `EventsCollected` metric): every event the store says it inserted, over every run, crashed
//! ones included, against the distinct events it holds. Some hours run two collections at once
//! (a retried invocation beside the one still running). With moto running (`make bench`) the
//! store is the DynamoDB adapter, whose duplicate check is its own read-then-write, not a key
//! held in memory.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use iat_aws::{AwsSettings, CloudTrailEventSource, sdk_config};
use iat_core::ActivityEvent;
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{
    EventQuery, EventStore, MemoryCheckpointStore, MemoryEventStore, PutOutcome, Quarantined,
    StoreStats,
};
use iat_core::{AccountId, Region};
use iat_local::DirObjectStore;
use iat_local::sql::LocalLake;
use iat_sim::lookup::{SimConfig, Simulator};
use iat_tracker::testing::Countdown;
use iat_tracker::{CollectConfig, Deadline, NoDeadline, Ports, StreamOptions, collect, streams};

use crate::Figure;

const ACCOUNT: &str = "444455556666";

/// An event store that counts every event it reports as newly inserted.
struct Reported {
    inner: Arc<dyn EventStore>,
    inserted: AtomicU64,
}

#[async_trait::async_trait]
impl EventStore for Reported {
    async fn put(&self, events: &[ActivityEvent]) -> iat_core::error::Result<PutOutcome> {
        let outcome = self.inner.put(events).await?;
        self.inserted
            .fetch_add(outcome.inserted as u64, Ordering::SeqCst);
        Ok(outcome)
    }
    async fn query(&self, query: &EventQuery) -> iat_core::error::Result<Vec<ActivityEvent>> {
        self.inner.query(query).await
    }
    async fn quarantine(&self, records: &[Quarantined]) -> iat_core::error::Result<()> {
        self.inner.quarantine(records).await
    }
    async fn stats(&self) -> iat_core::error::Result<StoreStats> {
        self.inner.stats().await
    }
}

/// The DynamoDB events table on moto when it runs, else the in-memory store.
async fn event_store(tag: &str) -> anyhow::Result<(Arc<dyn EventStore>, &'static str)> {
    let Some(endpoint) = iat_sim::emulators::moto_endpoint_if_running() else {
        return Ok((Arc::new(MemoryEventStore::new()), "the in-memory store"));
    };
    let sdk = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..Default::default()
    })
    .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("iat-bench-faults-{tag}-{}", std::process::id());
    iat_aws::create_table(&client, iat_aws::TableKind::Events, &table).await?;
    Ok((
        Arc::new(iat_aws::DynamoEventStore::new(client, &table)),
        "the DynamoDB adapter on moto",
    ))
}

pub(crate) fn benchmark(events: usize) -> anyhow::Result<Vec<Figure>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let control = runtime.block_on(scenario(events, None, "control"))?;
    let o = runtime.block_on(scenario(
        events,
        CollectConfig::default().sweep_age,
        "sweep",
    ))?;
    let note = format!(
        "{}; the same schedule without the sweep lost {} ({} of them delivered beyond the overlap)",
        o.note, control.lost, control.lost_beyond
    );
    Ok(vec![
        Figure {
            metric: "tracker.lost_events",
            value: o.lost as f64,
            unit: "events",
            goal: "0",
            note: note.clone(),
        },
        Figure {
            metric: "tracker.duplicate_events",
            value: o.duplicates as f64,
            unit: "events",
            goal: "0",
            note: note.clone(),
        },
        Figure {
            metric: "tracker.late_beyond_overlap_found",
            value: o.found_by_sweep as f64,
            unit: "events",
            goal: "",
            note: format!(
                "found by the sweep, of {} delivered 21-60 min late (the rest were caught by a widened overlap or the next re-scan); {note}",
                o.beyond_overlap
            ),
        },
        Figure {
            metric: "tracker.late_beyond_overlap_lost",
            value: o.lost_beyond as f64,
            unit: "events",
            goal: "0",
            note,
        },
    ])
}

struct Outcome {
    lost: u64,
    /// Extra rows in the lake plus new-event reports beyond the distinct events stored.
    duplicates: u64,
    found_by_sweep: u64,
    lost_beyond: u64,
    beyond_overlap: u64,
    note: String,
}

async fn scenario(
    events: usize,
    sweep_age: Option<Duration>,
    tag: &str,
) -> anyhow::Result<Outcome> {
    let sim = Simulator::new(SimConfig {
        rate_per_second: 150.0,
        burst: 5.0,
        server_error_rate: 0.02,
        drop_rate: 0.01,
        page_latency: (StdDuration::ZERO, StdDuration::from_millis(3)),
        default_account: ACCOUNT.to_owned(),
        seed: 11,
        ..Default::default()
    });
    let (addr, _server): (SocketAddr, _) = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let t0 = Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap();
    // Over 20 hours in two regions: 83% within 5 minutes, 15% 5-15 minutes late, 1% 21-60
    // minutes late (beyond the 20-minute overlap), and 1% delivered a second time.
    let mut delivered = BTreeSet::new();
    let mut beyond_overlap = 0;
    let mut duplicate_deliveries = 0;
    let span = Duration::hours(20).num_milliseconds() / events as i64;
    for i in 0..events {
        let time = t0 + Duration::milliseconds(span * i as i64);
        let (region, source, name) = match i % 3 {
            0 => ("us-east-1", "iam.amazonaws.com", "ListRoles"),
            1 => ("us-east-1", "sts.amazonaws.com", "AssumeRole"),
            _ => ("eu-west-1", "sts.amazonaws.com", "AssumeRole"),
        };
        let id = format!("fault-{i:06}");
        let raw = RecordSpec::new(&id, time)
            .name(source, name)
            .place(ACCOUNT, region)
            .json();
        let delay = match i % 100 {
            0 => {
                beyond_overlap += 1;
                Duration::minutes(21 + (i as i64 / 100) % 40)
            }
            1..=15 => Duration::minutes(5 + (i as i64 % 11)),
            _ => Duration::seconds((i as i64 * 7) % 300),
        };
        sim.add(&raw, delay).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if i % 100 == 50 {
            duplicate_deliveries += 1;
            sim.add(&raw, delay + Duration::minutes(3))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        delivered.insert(id);
    }
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        max_attempts: Some(4),
        initial_backoff: Some(StdDuration::from_millis(5)),
        ..Default::default()
    })
    .await
    .into_builder()
    .credentials_provider(
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(ACCOUNT, "secret", None, None, "bench"),
        ),
    )
    .build();
    let (inner, store_name) = event_store(tag).await?;
    let store = Arc::new(Reported {
        inner,
        inserted: AtomicU64::new(0),
    });
    let ports = Ports {
        source: Arc::new(CloudTrailEventSource::new(
            &config,
            AccountId::new(ACCOUNT).expect("an account id"),
        )),
        store: store.clone(),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
    };
    let plan = streams(
        &[AccountId::new(ACCOUNT).expect("an account id")],
        &[Region::us_east_1(), Region::new("eu-west-1")?],
        &StreamOptions::default(),
    );
    let collect_config = CollectConfig {
        requests_per_second: 300.0,
        chains_per_region: 6,
        window: Duration::hours(2),
        backfill: Duration::days(3),
        throttle_pause: StdDuration::from_millis(20),
        stop_margin: StdDuration::from_millis(1),
        sweep_age,
        ..Default::default()
    };
    // Hourly runs over 46 hours: every fifth cut by a deadline, every seventh crashed after a
    // few milliseconds, every sixth with a second run racing it, the last ones undisturbed.
    let (mut cut, mut crashed, mut raced, mut found_by_sweep) = (0, 0, 0, 0);
    for hour in 0..46i64 {
        let now = t0 + Duration::hours(hour) + Duration::minutes(3);
        sim.set_now(now);
        let late_phase = hour >= 40;
        let deadline: Arc<dyn Deadline> = if !late_phase && hour % 5 == 2 {
            cut += 1;
            Arc::new(Countdown::new(40))
        } else {
            Arc::new(NoDeadline)
        };
        let run = collect(&ports, &plan, &collect_config, now, deadline);
        if !late_phase && hour % 7 == 3 {
            if tokio::time::timeout(StdDuration::from_millis(30), run)
                .await
                .is_err()
            {
                crashed += 1;
            }
            continue;
        }
        if !late_phase && hour % 6 == 4 {
            raced += 1;
            let second = collect(&ports, &plan, &collect_config, now, Arc::new(NoDeadline));
            let (a, b) = futures_util::future::join(run, second).await;
            found_by_sweep += a?.total(|s| s.late_beyond_overlap);
            found_by_sweep += b?.total(|s| s.late_beyond_overlap);
            continue;
        }
        let report = run.await?;
        found_by_sweep += report.total(|s| s.late_beyond_overlap);
    }

    // Export every day to Parquet and count rows per id with SQL: the lake has no unique key.
    let dir = tempfile::tempdir()?;
    let objects = DirObjectStore::new(dir.path())?;
    let first = t0.date_naive() - Duration::days(1);
    let last = t0.date_naive() + Duration::days(1);
    iat_exporter::export_days(
        store.as_ref(),
        &objects,
        first,
        last,
        &iat_exporter::ExportOptions::default(),
        Utc::now(),
    )
    .await?;
    let lake = LocalLake::new(dir.path(), "");
    let rows = lake
        .rows("SELECT event_id, count(*) AS n FROM events GROUP BY event_id")
        .await?;
    let mut in_lake = BTreeSet::new();
    let mut duplicates = 0u64;
    for row in &rows.rows.rows {
        let id = row[0].clone().unwrap_or_default();
        let n: u64 = row[1].as_deref().unwrap_or("0").parse()?;
        duplicates += n.saturating_sub(1);
        in_lake.insert(id);
    }
    let reported = store.inserted.load(Ordering::SeqCst);
    let feed_duplicates = reported.saturating_sub(in_lake.len() as u64);
    let lost = delivered.difference(&in_lake).count() as u64;
    let lost_beyond = delivered
        .iter()
        .enumerate()
        .filter(|(i, id)| i % 100 == 0 && !in_lake.contains(*id))
        .count() as u64;
    let stats = sim.stats();
    let note = format!(
        "{} events ({duplicate_deliveries} delivered twice, {beyond_overlap} up to 60 min late) from the simulator over HTTP (2% 5xx, 1% dropped connections, {} throttled, {} server errors, {} dropped), 46 hourly runs ({cut} cut by deadlines, {crashed} crashed, {raced} raced by a second run) into {store_name}; counted in the exported Parquet rows ({} rows, {} duplicate) and in the store's new-event reports ({reported} for {} distinct events, {feed_duplicates} too many)",
        delivered.len(),
        stats.throttled,
        stats.server_errors,
        stats.dropped,
        in_lake.len() as u64 + duplicates,
        duplicates,
        in_lake.len(),
    );
    Ok(Outcome {
        lost,
        duplicates: duplicates + feed_duplicates,
        found_by_sweep,
        lost_beyond,
        beyond_overlap,
        note,
    })
}
