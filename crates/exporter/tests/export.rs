//! Export guarantees: a day exported any number of times holds each of its events once; late
//! events are taken in; an empty day writes nothing and never erases history; parts follow the
//! size limit and a smaller re-export removes the surplus; a day of 1,000,000 events is
//! exported with bounded memory.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::ActivityEvent;
use iat_core::contract::records::RecordSpec;
use iat_core::error::Result;
use iat_core::ports::{
    EventQuery, EventStore, MemoryEventStore, MemoryObjectStore, ObjectStore, PutOutcome,
    Quarantined, StoreStats,
};
use iat_exporter::{ExportOptions, export_day, export_days};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 3).unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    "2026-03-03T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
}

fn events(prefix: &str, n: usize, step: i64) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| RecordSpec::new(&format!("{prefix}{i:06}"), at(i as i64 * step)).event())
        .collect()
}

/// Event ids in every part under the day, in file order.
async fn ids_in_lake(objects: &MemoryObjectStore, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for key in objects.list(prefix).await.unwrap() {
        let bytes = objects.get(&key).await.unwrap().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
        }
    }
    ids
}

#[tokio::test]
async fn exporting_a_day_three_times_leaves_each_event_once_and_late_events_come_in() {
    let store = MemoryEventStore::new();
    let mut all = events("e", 2_500, 30);
    // Neighbours at the day's edges stay out.
    all.push(RecordSpec::new("before", at(-1)).event());
    all.push(RecordSpec::new("after", at(86_400)).event());
    store.put(&all).await.unwrap();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions {
        rows_per_part: 1_000,
        page_size: 700,
        ..ExportOptions::default()
    };
    for _ in 0..3 {
        let r = export_day(&store, &objects, day(), &options, Utc::now())
            .await
            .unwrap();
        assert_eq!((r.events, r.parts), (2_500, 3));
    }
    let ids = ids_in_lake(&objects, "events/dt=2026-03-03/").await;
    assert_eq!(ids.len(), 2_500);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        2_500,
        "no id twice"
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "rows in time order");

    // Late events arrive; the re-export takes them in, still once each.
    store.put(&events("late", 40, 999)).await.unwrap();
    let r = export_day(&store, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert_eq!(r.events, 2_540);
    assert_eq!(
        ids_in_lake(&objects, "events/dt=2026-03-03/").await.len(),
        2_540
    );

    // Bigger parts: fewer of them, and the surplus part is removed.
    let bigger = ExportOptions {
        rows_per_part: 2_000,
        ..options.clone()
    };
    let r = export_day(&store, &objects, day(), &bigger, Utc::now())
        .await
        .unwrap();
    assert_eq!((r.parts, r.removed), (2, 1));
    assert_eq!(
        ids_in_lake(&objects, "events/dt=2026-03-03/").await.len(),
        2_540
    );
    let manifest = objects
        .get(&iat_core::ports::ObjectKey::new("exports/dt=2026-03-03.json").unwrap())
        .await
        .unwrap()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        (m["events"].as_u64(), m["parts"].as_u64()),
        (Some(2_540), Some(2))
    );
}

#[tokio::test]
async fn an_empty_day_writes_nothing_and_never_erases_what_the_lake_holds() {
    let store = MemoryEventStore::new();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions {
        prefix: "lake/v1".into(),
        ..ExportOptions::default()
    };
    let r = export_day(&store, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert_eq!((r.events, r.parts, r.kept_existing), (0, 0, false));
    assert!(objects.list("lake/v1/events/").await.unwrap().is_empty());

    store.put(&events("e", 10, 60)).await.unwrap();
    export_day(&store, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    // The events expire from the store; exporting the day again keeps the lake's copy.
    let expired = MemoryEventStore::new();
    let r = export_day(&expired, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert!(r.kept_existing);
    assert_eq!(
        ids_in_lake(&objects, "lake/v1/events/dt=2026-03-03/")
            .await
            .len(),
        10
    );
    let range = export_days(
        &store,
        &objects,
        day() - Duration::days(1),
        day(),
        &options,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(range.iter().map(|d| d.events).collect::<Vec<_>>(), [0, 10]);
    assert!(
        export_days(
            &store,
            &objects,
            day(),
            day() - Duration::days(1),
            &options,
            Utc::now()
        )
        .await
        .is_err()
    );
}

/// A store that makes up a day of `n` events on the fly, in order, so the test holds only a page.
struct Synthetic {
    n: usize,
}

#[async_trait]
impl EventStore for Synthetic {
    async fn put(&self, _: &[ActivityEvent]) -> Result<PutOutcome> {
        unimplemented!("read-only")
    }
    async fn query(&self, q: &EventQuery) -> Result<Vec<ActivityEvent>> {
        // Event i happens at i * 86_400 / n seconds into the day; ids sort with time.
        let step = 86_400_000_000i64 / self.n as i64;
        let first = match &q.after {
            None => 0,
            Some(c) => c.id.as_str()[1..].parse::<usize>().unwrap() + 1,
        };
        let last = (first + q.limit.unwrap()).min(self.n);
        Ok((first..last)
            .map(|i| {
                RecordSpec::new(
                    &format!("s{i:07}"),
                    at(0) + Duration::microseconds(step * i as i64),
                )
                .user(&format!("u{}", i % 50))
                .event()
            })
            .collect())
    }
    async fn quarantine(&self, _: &[Quarantined]) -> Result<()> {
        Ok(())
    }
    async fn stats(&self) -> Result<StoreStats> {
        unimplemented!("not needed")
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_day_of_a_million_events_is_exported_with_bounded_memory() {
    let objects = MemoryObjectStore::new();
    let options = ExportOptions {
        rows_per_part: 250_000,
        ..ExportOptions::default()
    };
    let r = export_day(
        &Synthetic { n: 1_000_000 },
        &objects,
        day(),
        &options,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!((r.events, r.parts), (1_000_000, 4));
    // The parts themselves sit in the in-memory object store here; the exporter's own working
    // set is one page and one part. In S3 or a directory the parts leave memory once written.
    let parts_mb = r.bytes as f64 / 1e6;
    let peak = peak_rss_mb();
    println!(
        "1,000,000 events: {} parts, {parts_mb:.1} MB of Parquet, peak RSS {peak:.0} MB",
        r.parts
    );
    assert!(
        peak - parts_mb < 400.0,
        "peak {peak:.0} MB beyond the {parts_mb:.0} MB of parts held in memory"
    );
}

#[tokio::test]
async fn a_re_export_never_shrinks_a_day_unless_allowed() {
    // Exported with 300 events; then 120 of them expire from the store (retention).
    let full = events("x", 300, 60);
    let store = MemoryEventStore::new();
    store.put(&full).await.unwrap();
    let objects = MemoryObjectStore::new();
    let options = ExportOptions {
        rows_per_part: 100,
        ..ExportOptions::default()
    };
    let r = export_day(&store, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert_eq!((r.events, r.parts), (300, 3));
    let expired = MemoryEventStore::new();
    expired.put(&full[120..]).await.unwrap();
    let r = export_day(&expired, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert_eq!(r.kept_fuller, Some(300), "{r:?}");
    assert_eq!(
        ids_in_lake(&objects, "events/dt=2026-03-03/").await.len(),
        300,
        "the fuller day is kept"
    );
    assert!(
        objects.list("exports/staging/").await.unwrap().is_empty(),
        "the discarded export leaves nothing behind"
    );
    // Grown (late events): the re-export replaces the day.
    store.put(&events("late", 10, 997)).await.unwrap();
    let r = export_day(&store, &objects, day(), &options, Utc::now())
        .await
        .unwrap();
    assert_eq!((r.events, r.parts, r.kept_fuller), (310, 4, None));
    let ids = ids_in_lake(&objects, "events/dt=2026-03-03/").await;
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 310);
    assert_eq!(ids.len(), 310);
    assert!(objects.list("exports/staging/").await.unwrap().is_empty());
    // Forced: the smaller export replaces it, surplus parts removed.
    let forced = ExportOptions {
        allow_shrink: true,
        ..options.clone()
    };
    let r = export_day(&expired, &objects, day(), &forced, Utc::now())
        .await
        .unwrap();
    assert_eq!((r.events, r.parts, r.removed), (180, 2, 2), "{r:?}");
    assert_eq!(
        ids_in_lake(&objects, "events/dt=2026-03-03/").await.len(),
        180
    );
}
