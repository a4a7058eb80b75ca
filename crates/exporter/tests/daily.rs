//! The daily export follows the collector's checkpoints: a day exported while the collector was
//! behind is exported again once the checkpoints say it is complete, even after it has left the
//! late days; in a steady state nothing beyond the late days is exported; a run that fails half
//! way resumes where it stopped; a stream added later holds days back until it covers them.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::contract::records::RecordSpec;
use iat_core::error::{Error, Result};
use iat_core::model::{AccountId, Region, StreamKey};
use iat_core::ports::{
    Checkpoint, CheckpointStore, EventStore, MemoryCheckpointStore, MemoryEventStore,
    MemoryObjectStore, ObjectKey, ObjectStore,
};
use iat_exporter::{ExportOptions, export_daily};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn stream(region: &str) -> StreamKey {
    StreamKey {
        account: AccountId::new("111122223333").unwrap(),
        region: Region::new(region).unwrap(),
        source: "iam.amazonaws.com".into(),
    }
}

/// Saves `region`'s checkpoint as settled (and complete) up to `settled`, swept up to `swept`.
async fn checkpoint(
    store: &MemoryCheckpointStore,
    region: &str,
    settled: &str,
    swept: Option<&str>,
) {
    let key = stream(region);
    let mut cp = store
        .load(&key)
        .await
        .unwrap()
        .unwrap_or_else(|| Checkpoint::new(key, t(settled)));
    cp.complete_up_to = Some(t(settled));
    cp.settled_up_to = Some(t(settled));
    cp.swept_up_to = swept.map(t);
    cp.stats.overlap_minutes = 20;
    cp.version = store.save(&cp).await.unwrap();
}

/// `n` events spread over `day`, ids prefixed.
async fn collect(store: &MemoryEventStore, day: &str, prefix: &str, n: i64) {
    let start = t(&format!("{day}T00:00:00Z"));
    let events: Vec<_> = (0..n)
        .map(|i| {
            RecordSpec::new(
                &format!("{prefix}-{day}-{i:04}"),
                start + Duration::seconds(i * 86_399 / n.max(1)),
            )
            .event()
        })
        .collect();
    store.put(&events).await.unwrap();
}

async fn manifest_events(objects: &dyn ObjectStore, day: &str) -> Option<u64> {
    let key = ObjectKey::new(format!("exports/dt={day}.json")).unwrap();
    let body = objects.get(&key).await.unwrap()?;
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    m["events"].as_u64()
}

#[tokio::test]
async fn a_day_exported_while_the_collector_was_behind_is_exported_again_once_complete() {
    let events = MemoryEventStore::new();
    let checkpoints = MemoryCheckpointStore::new();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions::default();
    // 2026-03-02 and 03-03 are collected in part (a backfill running newest first), 03-04 whole.
    collect(&events, "2026-03-02", "first", 40).await;
    collect(&events, "2026-03-03", "first", 50).await;
    collect(&events, "2026-03-04", "first", 60).await;
    checkpoint(&checkpoints, "us-east-1", "2026-03-04T23:40:00Z", None).await;
    checkpoint(&checkpoints, "eu-west-1", "2026-03-01T00:00:00Z", None).await;
    let run = export_daily(
        &events,
        &objects,
        &checkpoints,
        d("2026-03-05"),
        2,
        &options,
        t("2026-03-05T01:00:00Z"),
    )
    .await
    .unwrap();
    let late: Vec<_> = run.days.iter().rev().take(3).map(|x| x.events).collect();
    assert_eq!(late, [60, 50, 40]);
    // A first run looks at every day of Event history the checkpoints cover: up to 02-28
    // (eu-west-1 is behind). The store has nothing for them, so nothing is written.
    assert_eq!(run.completed.last(), Some(&d("2026-02-28")));
    assert_eq!(run.completed.len(), 86); // 2025-12-05 (90 days back) to 2026-02-28
    assert!(
        run.completed
            .iter()
            .all(|d| !run.days.iter().any(|x| x.day == *d && x.parts > 0))
    );
    assert_eq!(objects.list("exports/dt=2026-02").await.unwrap(), []);

    // Six days later eu-west-1's backfill finishes: its events for 03-02 and 03-03 are stored.
    collect(&events, "2026-03-02", "late", 25).await;
    collect(&events, "2026-03-03", "late", 35).await;
    for day in [
        "2026-03-05",
        "2026-03-06",
        "2026-03-07",
        "2026-03-08",
        "2026-03-09",
        "2026-03-10",
    ] {
        collect(&events, day, "first", 10).await;
    }
    checkpoint(&checkpoints, "us-east-1", "2026-03-10T23:40:00Z", None).await;
    checkpoint(&checkpoints, "eu-west-1", "2026-03-10T23:40:00Z", None).await;
    let run = export_daily(
        &events,
        &objects,
        &checkpoints,
        d("2026-03-11"),
        2,
        &options,
        t("2026-03-11T01:00:00Z"),
    )
    .await
    .unwrap();
    // The late days are 03-08..03-10; the checkpoints completed every day up to 03-09 since
    // the last run, so 03-01..03-07 are exported too (03-01 and 03-05..07 for the first time;
    // 03-01 has no events and writes nothing).
    assert_eq!(
        run.completed,
        (1..=7)
            .map(|n| d(&format!("2026-03-{n:02}")))
            .collect::<Vec<_>>()
    );
    assert_eq!(manifest_events(&objects, "2026-03-01").await, None);
    assert_eq!(manifest_events(&objects, "2026-03-02").await, Some(65));
    assert_eq!(manifest_events(&objects, "2026-03-03").await, Some(85));
    assert_eq!(manifest_events(&objects, "2026-03-04").await, Some(60));
    assert_eq!(manifest_events(&objects, "2026-03-07").await, Some(10));
}

#[tokio::test]
async fn in_a_steady_state_only_the_late_days_are_exported() {
    let events = MemoryEventStore::new();
    let checkpoints = MemoryCheckpointStore::new();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions::default();
    for n in 1..=20 {
        let today = d("2026-03-01") + Duration::days(n);
        collect(&events, &(today - Duration::days(1)).to_string(), "e", 5).await;
        // Hourly collection: settled 20 minutes back, swept a day back.
        let now = today.and_hms_opt(1, 0, 0).unwrap().and_utc();
        let settled = (now - Duration::minutes(25)).to_rfc3339();
        let swept = (now - Duration::hours(25)).to_rfc3339();
        checkpoint(&checkpoints, "us-east-1", &settled, Some(&swept)).await;
        let run = export_daily(&events, &objects, &checkpoints, today, 2, &options, now)
            .await
            .unwrap();
        // The first run looks back over Event history; later ones export the late days only.
        if n > 1 {
            assert!(run.completed.is_empty(), "day {n}: {:?}", run.completed);
            assert_eq!(run.days.len(), 3);
        }
    }
}

/// An object store whose puts of parts fail after a number of them.
struct FailingParts {
    inner: MemoryObjectStore,
    parts_left: AtomicUsize,
}

#[async_trait]
impl ObjectStore for FailingParts {
    async fn put(&self, key: &ObjectKey, body: Vec<u8>) -> Result<()> {
        if key.as_str().ends_with(".parquet")
            && self
                .parts_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Err(Error::backend("lake", "put", "injected failure"));
        }
        self.inner.put(key, body).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.inner.delete(key).await
    }
}

#[tokio::test]
async fn a_run_that_fails_half_way_is_resumed_by_the_next() {
    let events = MemoryEventStore::new();
    let checkpoints = MemoryCheckpointStore::new();
    let objects = FailingParts {
        inner: MemoryObjectStore::new(),
        parts_left: AtomicUsize::new(usize::MAX),
    };
    let options = ExportOptions::default();
    checkpoint(&checkpoints, "us-east-1", "2026-03-01T00:00:00Z", None).await;
    export_daily(
        &events,
        &objects,
        &checkpoints,
        d("2026-03-02"),
        0,
        &options,
        t("2026-03-02T01:00:00Z"),
    )
    .await
    .unwrap();
    // A backfill completes ten days at once; the run fails after four of its days.
    for n in 1..=10 {
        collect(&events, &format!("2026-03-{n:02}"), "e", 7).await;
    }
    checkpoint(&checkpoints, "us-east-1", "2026-03-11T00:30:00Z", None).await;
    objects.parts_left.store(4, Ordering::SeqCst);
    let failed = export_daily(
        &events,
        &objects,
        &checkpoints,
        d("2026-03-20"),
        0,
        &options,
        t("2026-03-20T01:00:00Z"),
    )
    .await;
    assert!(failed.is_err());
    for n in 1..=4 {
        assert_eq!(
            manifest_events(&objects, &format!("2026-03-{n:02}")).await,
            Some(7)
        );
    }
    assert_eq!(manifest_events(&objects, "2026-03-05").await, None);
    objects.parts_left.store(usize::MAX, Ordering::SeqCst);
    let run = export_daily(
        &events,
        &objects,
        &checkpoints,
        d("2026-03-20"),
        0,
        &options,
        t("2026-03-20T02:00:00Z"),
    )
    .await
    .unwrap();
    // Resumed at the day it failed on, not from the start.
    assert_eq!(
        run.completed,
        (5..=10)
            .map(|n| d(&format!("2026-03-{n:02}")))
            .collect::<Vec<_>>()
    );
    for n in 1..=10 {
        assert_eq!(
            manifest_events(&objects, &format!("2026-03-{n:02}")).await,
            Some(7),
            "2026-03-{n:02}"
        );
    }
}

#[tokio::test]
async fn a_new_stream_holds_days_back_until_it_too_has_covered_them() {
    let events = MemoryEventStore::new();
    let checkpoints = MemoryCheckpointStore::new();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions::default();
    collect(&events, "2026-03-03", "old", 10).await;
    checkpoint(&checkpoints, "us-east-1", "2026-03-09T23:00:00Z", None).await;
    let run = |today: &'static str| {
        let (events, objects, checkpoints, options) = (&events, &objects, &checkpoints, &options);
        async move {
            export_daily(
                events,
                objects,
                checkpoints,
                d(today),
                1,
                options,
                t(&format!("{today}T01:00:00Z")),
            )
            .await
            .unwrap()
        }
    };
    run("2026-03-10").await;
    // A region is enabled: its stream starts a 90-day backfill, and is not settled yet.
    let key = stream("ap-southeast-2");
    checkpoints
        .save(&Checkpoint::new(key, t("2026-03-10T02:00:00Z")))
        .await
        .unwrap();
    assert!(run("2026-03-11").await.completed.is_empty());
    // Its backfill stores events of 03-03 and completes.
    collect(&events, "2026-03-03", "new", 4).await;
    checkpoint(&checkpoints, "us-east-1", "2026-03-11T23:00:00Z", None).await;
    checkpoint(&checkpoints, "ap-southeast-2", "2026-03-11T23:00:00Z", None).await;
    let done = run("2026-03-12").await;
    assert!(
        done.completed.contains(&d("2026-03-03")),
        "{:?}",
        done.completed
    );
    assert_eq!(manifest_events(&objects, "2026-03-03").await, Some(14));
}
