//! The collection service on in-memory ports: nothing lost, nothing twice, whatever happens.
//! Each test pins one of the Python tool's failure modes or one of DESIGN invariant 1's cases.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{
    CheckpointStore, EventPage, EventQuery, EventSource, EventStore, LookupQuery,
    MemoryCheckpointStore, MemoryEventSource, MemoryEventStore, PageToken,
};
use iat_core::{AccountId, Error, Region};
use iat_tracker::testing::Countdown;
use iat_tracker::{
    CollectConfig, Deadline, NoDeadline, Ports, RunReport, StreamOptions, StreamSpec, collect,
    streams,
};

const ACCOUNT: &str = "111122223333";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap()
}

fn fast() -> CollectConfig {
    CollectConfig {
        requests_per_second: 100_000.0,
        chains_per_region: 4,
        window: Duration::hours(1),
        backfill: Duration::days(3),
        throttle_pause: StdDuration::from_millis(1),
        checkpoint_every: StdDuration::ZERO,
        stop_margin: StdDuration::from_millis(1),
        ..Default::default()
    }
}

fn iam_stream() -> Vec<StreamSpec> {
    streams(
        &[AccountId::new(ACCOUNT).unwrap()],
        &[Region::us_east_1()],
        &StreamOptions::default(),
    )
    .into_iter()
    .filter(|s| s.key.source == "iam.amazonaws.com")
    .collect()
}

struct Rig {
    history: Arc<MemoryEventSource>,
    store: Arc<MemoryEventStore>,
    checkpoints: Arc<MemoryCheckpointStore>,
}

impl Rig {
    fn new() -> Self {
        Self {
            history: Arc::new(MemoryEventSource::new()),
            store: Arc::new(MemoryEventStore::new()),
            checkpoints: Arc::new(MemoryCheckpointStore::new()),
        }
    }

    fn ports(&self, source: Arc<dyn EventSource>) -> Ports {
        Ports {
            source,
            store: self.store.clone(),
            checkpoints: self.checkpoints.clone(),
        }
    }

    async fn run(
        &self,
        source: Arc<dyn EventSource>,
        streams: &[StreamSpec],
        now: DateTime<Utc>,
        deadline: Arc<dyn Deadline>,
    ) -> RunReport {
        self.history.set_now(now);
        collect(&self.ports(source), streams, &fast(), now, deadline)
            .await
            .unwrap()
    }

    async fn stored_ids(&self) -> BTreeSet<String> {
        self.store
            .query(&EventQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id.to_string())
            .collect()
    }
}

/// `n` IAM events, one every `every`, ending at `end`; returns their ids.
fn iam_events(
    history: &MemoryEventSource,
    prefix: &str,
    n: usize,
    end: DateTime<Utc>,
    every: Duration,
) -> BTreeSet<String> {
    timed_events(history, prefix, n, end, every)
        .into_keys()
        .collect()
}

fn timed_events(
    history: &MemoryEventSource,
    prefix: &str,
    n: usize,
    end: DateTime<Utc>,
    every: Duration,
) -> BTreeMap<String, DateTime<Utc>> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i:06}");
            let time = end - every * i as i32;
            history
                .add(
                    &RecordSpec::new(&id, time)
                        .place(ACCOUNT, "us-east-1")
                        .json(),
                )
                .unwrap();
            (id, time)
        })
        .collect()
}

#[tokio::test]
async fn more_than_a_thousand_events_in_one_run_are_all_stored() {
    // The Python tool stopped at 1,000 events a stream and jumped its checkpoint to the newest.
    let rig = Rig::new();
    let expected = iam_events(
        &rig.history,
        "bulk",
        5_000,
        t0() - Duration::minutes(10),
        Duration::seconds(2),
    );
    let report = rig
        .run(
            rig.history.clone(),
            &iam_stream(),
            t0(),
            Arc::new(NoDeadline),
        )
        .await;
    assert_eq!(rig.stored_ids().await, expected);
    assert!(report.complete(), "{report:?}");
    let s = &report.streams[0];
    assert_eq!(s.inserted, 5_000);
    assert!(
        s.requests >= 100,
        "5,000 events take at least 100 pages of 50"
    );
    let cp = rig
        .checkpoints
        .load(&iam_stream()[0].key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cp.complete_up_to,
        Some(t0() - fast().safety_lag),
        "complete up to the target, not the newest event"
    );
    assert_eq!(cp.stats.events_stored, 5_000);
}

#[tokio::test]
async fn an_event_delivered_after_a_newer_one_is_still_collected() {
    // The Python tool's checkpoint was the newest event seen, so this event was never collected.
    let rig = Rig::new();
    let newer = RecordSpec::new("newer", t0() - Duration::minutes(12))
        .place(ACCOUNT, "us-east-1")
        .json();
    let older = RecordSpec::new("older", t0() - Duration::minutes(13))
        .place(ACCOUNT, "us-east-1")
        .json();
    rig.history
        .add_delivered(&newer, Some(t0() - Duration::minutes(7)))
        .unwrap();
    rig.history
        .add_delivered(&older, Some(t0() + Duration::minutes(3)))
        .unwrap(); // 10 minutes later
    rig.run(
        rig.history.clone(),
        &iam_stream(),
        t0(),
        Arc::new(NoDeadline),
    )
    .await;
    assert_eq!(rig.stored_ids().await, BTreeSet::from(["newer".to_owned()]));
    let report = rig
        .run(
            rig.history.clone(),
            &iam_stream(),
            t0() + Duration::hours(1),
            Arc::new(NoDeadline),
        )
        .await;
    assert_eq!(
        rig.stored_ids().await,
        BTreeSet::from(["newer".to_owned(), "older".to_owned()])
    );
    assert_eq!(
        report.streams[0].inserted, 1,
        "the re-scan of the overlap stores only what is new"
    );
}

#[tokio::test]
async fn a_backfill_cut_at_any_point_resumes_and_stores_each_event_once() {
    let rig = Rig::new();
    // Two days of events, unevenly spread: a quiet day and a busy afternoon.
    let mut times = timed_events(
        &rig.history,
        "quiet",
        300,
        t0() - Duration::days(1),
        Duration::minutes(4),
    );
    times.extend(timed_events(
        &rig.history,
        "busy",
        2_500,
        t0() - Duration::minutes(30),
        Duration::seconds(3),
    ));
    let expected: BTreeSet<String> = times.keys().cloned().collect();
    let mut runs = 0;
    let mut now = t0();
    loop {
        runs += 1;
        let report = rig
            .run(
                rig.history.clone(),
                &iam_stream(),
                now,
                Arc::new(Countdown::new(9)),
            )
            .await;
        // The checkpoint never claims what is not stored.
        let cp = rig
            .checkpoints
            .load(&iam_stream()[0].key)
            .await
            .unwrap()
            .unwrap();
        let stored = rig.stored_ids().await;
        let claimed = |t: &DateTime<Utc>| {
            cp.complete_up_to.is_some_and(|p| *t <= p) || cp.islands.iter().any(|w| w.contains(*t))
        };
        for (id, t) in &times {
            assert!(
                !claimed(t) || stored.contains(id),
                "run {runs}: {id} at {t} is claimed complete but not stored"
            );
        }
        if report.complete() {
            break;
        }
        assert!(runs < 300, "the backfill makes progress");
        now += Duration::seconds(10);
    }
    assert!(
        runs > 3,
        "the deadline cut the backfill into several runs: {runs}"
    );
    assert_eq!(
        rig.stored_ids().await,
        expected,
        "every event once, after {runs} runs"
    );
    assert_eq!(
        rig.store.stats().await.unwrap().events as usize,
        expected.len()
    );
}

/// Event history with injected faults around a memory source.
struct Faulty {
    inner: Arc<MemoryEventSource>,
    calls: AtomicUsize,
    throttle_every: usize,
    denied_region: Option<&'static str>,
}

#[async_trait]
impl EventSource for Faulty {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.denied_region == Some(query.region.as_str()) {
            return Err(Error::backend(
                "cloudtrail",
                "LookupEvents",
                "AccessDeniedException: not authorized in this region",
            ));
        }
        if self.throttle_every > 0 && n.is_multiple_of(self.throttle_every) {
            return Err(Error::Throttled {
                service: "cloudtrail",
                operation: "LookupEvents",
                region: query.region.to_string(),
            });
        }
        self.inner.lookup(query, token).await
    }
}

#[tokio::test]
async fn throttling_is_waited_out_and_counted() {
    let rig = Rig::new();
    let expected = iam_events(
        &rig.history,
        "thr",
        800,
        t0() - Duration::minutes(10),
        Duration::seconds(20),
    );
    let source = Arc::new(Faulty {
        inner: rig.history.clone(),
        calls: AtomicUsize::new(0),
        throttle_every: 3,
        denied_region: None,
    });
    let report = rig
        .run(source, &iam_stream(), t0(), Arc::new(NoDeadline))
        .await;
    assert_eq!(rig.stored_ids().await, expected);
    assert!(report.complete());
    assert!(report.streams[0].throttled > 5, "{:?}", report.streams[0]);
}

#[tokio::test]
async fn one_failing_stream_never_stops_the_others() {
    let rig = Rig::new();
    let regions = [Region::us_east_1(), Region::new("ap-east-1").unwrap()];
    let all = streams(
        &[AccountId::new(ACCOUNT).unwrap()],
        &regions,
        &StreamOptions::default(),
    );
    let expected = iam_events(
        &rig.history,
        "ok",
        200,
        t0() - Duration::minutes(10),
        Duration::seconds(30),
    );
    let source = Arc::new(Faulty {
        inner: rig.history.clone(),
        calls: AtomicUsize::new(0),
        throttle_every: 0,
        denied_region: Some("ap-east-1"),
    });
    let report = rig.run(source, &all, t0(), Arc::new(NoDeadline)).await;
    assert_eq!(rig.stored_ids().await, expected);
    let failed: Vec<_> = report
        .streams
        .iter()
        .filter(|s| s.error.is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{report:?}");
    assert!(
        failed[0].stream.contains("ap-east-1")
            && failed[0].error.as_deref().unwrap().contains("AccessDenied")
    );
    assert!(
        report
            .streams
            .iter()
            .filter(|s| !s.stream.contains("ap-east-1"))
            .all(|s| s.caught_up && s.error.is_none())
    );
    let key = all
        .iter()
        .find(|s| s.key.region.as_str() == "ap-east-1")
        .unwrap()
        .key
        .clone();
    let cp = rig.checkpoints.load(&key).await.unwrap().unwrap();
    assert!(cp.last_error.as_deref().unwrap().contains("AccessDenied"));
    assert!(
        cp.complete_up_to.unwrap() < t0() - Duration::days(2),
        "a failed stream does not advance"
    );
}

#[tokio::test]
async fn duplicate_deliveries_are_stored_once() {
    let rig = Rig::new();
    let raw = RecordSpec::new("twice", t0() - Duration::minutes(30))
        .place(ACCOUNT, "us-east-1")
        .json();
    rig.history.add(&raw).unwrap();
    rig.history.add(&raw).unwrap();
    let report = rig
        .run(
            rig.history.clone(),
            &iam_stream(),
            t0(),
            Arc::new(NoDeadline),
        )
        .await;
    assert_eq!(report.streams[0].inserted, 1);
    assert_eq!(report.streams[0].duplicates, 1);
    assert_eq!(rig.stored_ids().await.len(), 1);
}

#[tokio::test]
async fn bad_configuration_is_refused() {
    let rig = Rig::new();
    let bad = CollectConfig {
        page_size: 51,
        ..fast()
    };
    let err = collect(
        &rig.ports(rig.history.clone()),
        &iam_stream(),
        &bad,
        t0(),
        Arc::new(NoDeadline),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("page size"), "{err}");
}

/// Event history that answers after a short wait, so a run can be killed mid-flight.
struct Slow(Arc<MemoryEventSource>);

#[async_trait]
impl EventSource for Slow {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        self.0.lookup(query, token).await
    }
}

#[tokio::test]
async fn a_run_killed_at_any_moment_loses_nothing_and_the_next_resumes() {
    let rig = Rig::new();
    let times = timed_events(
        &rig.history,
        "crash",
        3_000,
        t0() - Duration::minutes(30),
        Duration::seconds(5),
    );
    let expected: BTreeSet<String> = times.keys().cloned().collect();
    let source: Arc<dyn EventSource> = Arc::new(Slow(rig.history.clone()));
    rig.history.set_now(t0());
    // Kill runs after 5, 10, 15, ... ms: the future is dropped wherever it is, as in a crash.
    let mut killed = 0;
    for (i, kill_after) in (1..=12u64).map(|k| k * 5).enumerate() {
        let ports = rig.ports(source.clone());
        let streams = iam_stream();
        let config = fast();
        let run = collect(
            &ports,
            &streams,
            &config,
            t0() + Duration::seconds(i as i64),
            Arc::new(NoDeadline),
        );
        killed += usize::from(
            tokio::time::timeout(StdDuration::from_millis(kill_after), run)
                .await
                .is_err(),
        );
        let cp = rig.checkpoints.load(&iam_stream()[0].key).await.unwrap();
        let stored = rig.stored_ids().await;
        if let Some(cp) = cp {
            for (id, t) in &times {
                let claimed = cp.complete_up_to.is_some_and(|p| *t <= p)
                    || cp.islands.iter().any(|w| w.contains(*t));
                assert!(
                    !claimed || stored.contains(id),
                    "killed after {kill_after} ms: {id} claimed but not stored"
                );
            }
        }
    }
    assert!(killed > 0, "runs were killed before they finished");
    let report = rig
        .run(
            source,
            &iam_stream(),
            t0() + Duration::minutes(1),
            Arc::new(NoDeadline),
        )
        .await;
    assert!(report.complete());
    assert_eq!(
        rig.stored_ids().await,
        expected,
        "after the crashes, one full run stores the rest, each once"
    );
}

/// Event history that notes every window it is asked for.
struct Recording(
    Arc<MemoryEventSource>,
    std::sync::Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>,
);

#[async_trait]
impl EventSource for Recording {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        self.1
            .lock()
            .unwrap()
            .push((query.window.start(), query.window.end()));
        tokio::time::sleep(StdDuration::from_millis(1)).await;
        self.0.lookup(query, token).await
    }
}

#[tokio::test]
async fn windows_end_on_whole_microseconds_however_they_are_split() {
    // Window ends travel as decimal seconds and come back at microsecond precision: ends finer
    // than that once rounded past each other ("StartTime is after EndTime").
    let rig = Rig::new();
    let now = t0() + Duration::nanoseconds(123_456_789);
    let expected = iam_events(
        &rig.history,
        "split",
        3_000,
        t0() - Duration::minutes(10),
        Duration::seconds(7),
    );
    let source = Arc::new(Recording(rig.history.clone(), Default::default()));
    let report = rig
        .run(source.clone(), &iam_stream(), now, Arc::new(NoDeadline))
        .await;
    assert!(report.complete(), "{report:?}");
    assert_eq!(rig.stored_ids().await, expected);
    let windows = source.1.lock().unwrap().clone();
    assert!(windows.len() >= 60, "{} requests", windows.len());
    for (start, end) in &windows {
        assert!(start <= end);
        for t in [start, end] {
            assert_eq!(t.timestamp_subsec_nanos() % 1_000, 0, "{t} in {windows:?}");
        }
    }
}

/// Event history where the second page of the window ending at `owner_end` is slow (so an idle
/// chain splits it) and every request for a window ending before it (the stolen half) fails.
struct StolenHalfFails {
    inner: Arc<MemoryEventSource>,
    owner_end: DateTime<Utc>,
}

#[async_trait]
impl EventSource for StolenHalfFails {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        if query.window.end() < self.owner_end {
            return Err(Error::backend(
                "cloudtrail",
                "LookupEvents",
                "InternalFailure: the stolen half never answers",
            ));
        }
        if token.is_some() {
            tokio::time::sleep(StdDuration::from_millis(300)).await;
        }
        self.inner.lookup(query, token).await
    }
}

#[tokio::test]
async fn a_split_window_claims_only_what_its_own_chain_stored() {
    // One hour: 60 events in its last 6 minutes above 20 over the 40 minutes before. The owner's
    // first page shows the burst, an idle chain takes the older half, and that half fails.
    let rig = Rig::new();
    let start = t0() - Duration::hours(2);
    let end = start + Duration::hours(1) - Duration::microseconds(1);
    let mut expected = iam_events(
        &rig.history,
        "dense",
        60,
        end - Duration::seconds(1),
        Duration::seconds(6),
    );
    let sparse = timed_events(
        &rig.history,
        "sparse",
        20,
        end - Duration::minutes(7),
        Duration::minutes(2),
    );
    expected.extend(sparse.keys().cloned());
    // Complete up to the hour's start, so this run collects the one window.
    let key = iam_stream()[0].key.clone();
    let now = end + Duration::microseconds(1) + Duration::minutes(5);
    let mut cp = iat_core::ports::Checkpoint::new(key.clone(), now);
    cp.complete_up_to = Some(start - Duration::microseconds(1));
    cp.collected_at = Some(now);
    rig.checkpoints.save(&cp).await.unwrap();
    let config = CollectConfig {
        initial_windows: 1,
        overlap: Duration::zero(),
        sweep_age: None,
        ..fast()
    };
    let source = Arc::new(StolenHalfFails {
        inner: rig.history.clone(),
        owner_end: end,
    });
    rig.history.set_now(now);
    let report = collect(
        &rig.ports(source),
        &iam_stream(),
        &config,
        now,
        Arc::new(NoDeadline),
    )
    .await
    .unwrap();
    assert!(report.streams[0].error.is_some(), "{report:?}");
    let stored = rig.stored_ids().await;
    let cp = rig.checkpoints.load(&key).await.unwrap().unwrap();
    for (id, t) in &sparse {
        let claimed =
            cp.complete_up_to.is_some_and(|p| *t <= p) || cp.islands.iter().any(|w| w.contains(*t));
        assert!(
            !claimed || stored.contains(id),
            "{id} at {t} is claimed complete ({cp:?}) but was never stored"
        );
    }
    assert!(
        sparse.keys().any(|id| !stored.contains(id)),
        "the stolen half really failed: {report:?} {cp:?}"
    );
    // The next run, without faults, asks for the unclaimed half and stores it.
    let report = collect(
        &rig.ports(rig.history.clone()),
        &iam_stream(),
        &config,
        now + Duration::minutes(1),
        Arc::new(NoDeadline),
    )
    .await
    .unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(rig.stored_ids().await, expected);
}

/// Event history where every request for a window ending at or before `fail_before` fails.
struct FailingBefore {
    inner: Arc<MemoryEventSource>,
    fail_before: std::sync::Mutex<Option<DateTime<Utc>>>,
}

#[async_trait]
impl EventSource for FailingBefore {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        // Every window of the run is under way before the first answer.
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        if let Some(before) = *self.fail_before.lock().unwrap()
            && query.window.end() <= before
        {
            return Err(Error::backend(
                "cloudtrail",
                "LookupEvents",
                "InternalFailure: the re-scan fails",
            ));
        }
        self.inner.lookup(query, token).await
    }
}

#[tokio::test]
async fn an_unfinished_rescan_is_resumed_by_the_next_run() {
    // Run 1 collects; 30 events 12-16 minutes old at that time arrive after it (inside the
    // overlap). Run 2's re-scan fails while its new window completes; run 3 must still re-scan
    // run 1's overlap, not only run 2's.
    let rig = Rig::new();
    let now1 = t0();
    let config = CollectConfig {
        initial_windows: 1,
        ..fast()
    };
    let mut expected = iam_events(
        &rig.history,
        "early",
        50,
        now1 - Duration::minutes(30),
        Duration::minutes(3),
    );
    for i in 0..30 {
        let id = format!("late-{i:02}");
        let time = now1 - Duration::minutes(16) + Duration::seconds(8 * i);
        rig.history
            .add_delivered(
                &RecordSpec::new(&id, time)
                    .place(ACCOUNT, "us-east-1")
                    .json(),
                Some(now1 + Duration::minutes(2)),
            )
            .unwrap();
        expected.insert(id);
    }
    let source = Arc::new(FailingBefore {
        inner: rig.history.clone(),
        fail_before: Default::default(),
    });
    let ports = rig.ports(source.clone());
    let streams = iam_stream();
    let run = |now: DateTime<Utc>| {
        rig.history.set_now(now);
        collect(&ports, &streams, &config, now, Arc::new(NoDeadline))
    };
    let first = run(now1).await.unwrap();
    assert!(first.complete(), "{first:?}");
    let key = iam_stream()[0].key.clone();
    let p1 = rig
        .checkpoints
        .load(&key)
        .await
        .unwrap()
        .unwrap()
        .complete_up_to
        .unwrap();
    *source.fail_before.lock().unwrap() = Some(p1);
    let now2 = now1 + Duration::minutes(60);
    let second = run(now2).await.unwrap();
    let s = &second.streams[0];
    assert!(s.error.is_some(), "the re-scan failed: {s:?}");
    assert!(
        !s.caught_up,
        "a run whose re-scan failed is not caught up: {s:?}"
    );
    let cp = rig.checkpoints.load(&key).await.unwrap().unwrap();
    assert!(
        cp.complete_up_to.unwrap() >= now2 - Duration::minutes(5),
        "the new window completed: {cp:?}"
    );
    assert!(
        cp.settled_up_to.unwrap() < now1 - Duration::minutes(16),
        "the failed re-scan is not settled: {cp:?}"
    );
    *source.fail_before.lock().unwrap() = None;
    let third = run(now2 + Duration::minutes(60)).await.unwrap();
    assert!(third.complete(), "{third:?}");
    assert_eq!(
        rig.stored_ids().await,
        expected,
        "the late events of run 1's overlap are collected"
    );
}

/// Checkpoints whose every save conflicts, as if another collector always wrote first.
struct AlwaysConflicting(MemoryCheckpointStore);

#[async_trait]
impl CheckpointStore for AlwaysConflicting {
    async fn load(
        &self,
        stream: &iat_core::StreamKey,
    ) -> Result<Option<iat_core::ports::Checkpoint>, Error> {
        self.0.load(stream).await
    }

    async fn save(&self, cp: &iat_core::ports::Checkpoint) -> Result<u64, Error> {
        Err(Error::CheckpointConflict {
            stream: cp.stream.to_string(),
            expected: cp.version,
            found: cp.version + 1,
        })
    }

    async fn list(&self) -> Result<Vec<iat_core::ports::Checkpoint>, Error> {
        self.0.list().await
    }
}

#[tokio::test]
async fn a_checkpoint_that_cannot_be_saved_is_the_streams_error() {
    let rig = Rig::new();
    iam_events(
        &rig.history,
        "cas",
        20,
        t0() - Duration::minutes(10),
        Duration::minutes(1),
    );
    rig.history.set_now(t0());
    let ports = Ports {
        source: rig.history.clone(),
        store: rig.store.clone(),
        checkpoints: Arc::new(AlwaysConflicting(MemoryCheckpointStore::new())),
    };
    let report = collect(&ports, &iam_stream(), &fast(), t0(), Arc::new(NoDeadline))
        .await
        .unwrap();
    let s = &report.streams[0];
    assert!(!report.complete(), "{report:?}");
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("checkpoint not saved")),
        "{s:?}"
    );
}

#[tokio::test]
async fn stored_counts_are_kept_as_pages_are_stored_not_only_at_a_runs_end() {
    let rig = Rig::new();
    iam_events(
        &rig.history,
        "count",
        2_000,
        t0() - Duration::minutes(10),
        Duration::seconds(10),
    );
    let source: Arc<dyn EventSource> = Arc::new(Slow(rig.history.clone()));
    rig.history.set_now(t0());
    let config = CollectConfig {
        chains_per_region: 1,
        backfill: Duration::hours(6),
        ..fast()
    };
    let ports = rig.ports(source);
    let streams = iam_stream();
    let run = collect(&ports, &streams, &config, t0(), Arc::new(NoDeadline));
    // Killed midway, as a Lambda timeout or a crash would.
    assert!(
        tokio::time::timeout(StdDuration::from_millis(120), run)
            .await
            .is_err()
    );
    let stored = rig.stored_ids().await.len() as u64;
    let cp = rig
        .checkpoints
        .load(&iam_stream()[0].key)
        .await
        .unwrap()
        .unwrap();
    assert!(stored > 0 && stored < 2_000, "{stored}");
    assert!(
        cp.stats.events_stored > 0 && cp.stats.events_stored <= stored,
        "{:?} for {stored} stored",
        cp.stats
    );
}

#[tokio::test]
async fn a_stream_that_cannot_advance_says_so_after_three_runs() {
    // 3,000 events in one second: 60 pages that no split can share (they are one instant), and
    // runs cut after 20 requests re-read the same pages without ever finishing the window.
    let rig = Rig::new();
    let second = t0() - Duration::minutes(30);
    for i in 0..3_000 {
        rig.history
            .add(
                &RecordSpec::new(&format!("burst-{i:05}"), second)
                    .place(ACCOUNT, "us-east-1")
                    .json(),
            )
            .unwrap();
    }
    // Complete up to just before the burst, so each run pages that one window.
    let key = iam_stream()[0].key.clone();
    let mut cp = iat_core::ports::Checkpoint::new(key.clone(), t0());
    cp.complete_up_to = Some(second - Duration::seconds(1));
    cp.settled_up_to = cp.complete_up_to;
    rig.checkpoints.save(&cp).await.unwrap();
    let mut reports = Vec::new();
    for run in 0..4 {
        let report = rig
            .run(
                rig.history.clone(),
                &iam_stream(),
                t0() + Duration::minutes(run),
                Arc::new(Countdown::new(20)),
            )
            .await;
        reports.push(report.streams[0].clone());
    }
    assert_eq!(
        reports.iter().map(|r| r.stalled_runs).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(reports[1].error.is_none(), "{:?}", reports[1]);
    let error = reports[2].error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("no progress in 3 runs")
            && error.contains("more events share one instant"),
        "{error}"
    );
    let cp = rig.checkpoints.load(&key).await.unwrap().unwrap();
    assert_eq!(cp.stats.stalled_runs, 4);
    assert!(cp.last_error.unwrap().starts_with("no progress in 4 runs"));
    // Given the time it needs, the stream completes and the count starts again.
    let report = rig
        .run(
            rig.history.clone(),
            &iam_stream(),
            t0() + Duration::minutes(10),
            Arc::new(NoDeadline),
        )
        .await;
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.streams[0].stalled_runs, 0);
    assert_eq!(rig.stored_ids().await.len(), 3_000);
}

/// 300 events over three hours from `t0()`: every tenth arrives 40 minutes late (beyond the
/// 20-minute overlap), two in ten 16-19 minutes late (inside it), the rest within a minute.
fn late_history(rig: &Rig) -> BTreeSet<String> {
    let mut expected = BTreeSet::new();
    for i in 0..300i64 {
        let time = t0() + Duration::seconds(36 * i);
        let delay = match i % 10 {
            0 => Duration::minutes(40),
            1 | 2 => Duration::minutes(16) + Duration::seconds(i % 180),
            _ => Duration::seconds(30),
        };
        let id = format!("late-{i:04}");
        rig.history
            .add_delivered(
                &RecordSpec::new(&id, time)
                    .place(ACCOUNT, "us-east-1")
                    .json(),
                Some(time + delay),
            )
            .unwrap();
        expected.insert(id);
    }
    expected
}

/// Hourly runs for 28 hours; the sum of the late events the overlap and the sweep found, and
/// each run's overlap.
async fn hourly(rig: &Rig, config: &CollectConfig) -> (u64, u64, Vec<i64>) {
    let streams = iam_stream();
    let ports = rig.ports(rig.history.clone());
    let (mut rescan, mut sweep, mut overlaps) = (0, 0, Vec::new());
    for hour in 0..28 {
        let now = t0() + Duration::hours(hour) + Duration::minutes(7);
        rig.history.set_now(now);
        let report = collect(&ports, &streams, config, now, Arc::new(NoDeadline))
            .await
            .unwrap();
        assert!(report.complete(), "{report:?}");
        rescan += report.streams[0].late_found;
        sweep += report.streams[0].late_beyond_overlap;
        overlaps.push(report.streams[0].overlap_minutes);
    }
    (rescan, sweep, overlaps)
}

#[tokio::test]
async fn deliveries_later_than_the_overlap_are_found_by_the_sweep_and_counted() {
    let fixed = CollectConfig {
        max_overlap: Duration::minutes(20),
        ..fast()
    };
    // Without the sweep, deliveries later than the overlap are lost...
    let control = Rig::new();
    let expected = late_history(&control);
    hourly(
        &control,
        &CollectConfig {
            sweep_age: None,
            ..fixed.clone()
        },
    )
    .await;
    let lost = expected.len() - control.stored_ids().await.len();
    assert!(lost > 0, "the control loses the latest deliveries");
    // ...with it, the same schedule stores every event, and counts those the overlap missed.
    let rig = Rig::new();
    late_history(&rig);
    let (rescan, sweep, overlaps) = hourly(&rig, &fixed).await;
    assert_eq!(rig.stored_ids().await, expected, "every event, once");
    assert_eq!(
        sweep, lost as u64,
        "the sweep finds exactly what the overlap missed"
    );
    assert!(rescan > 0);
    assert!(overlaps.iter().all(|&m| m == 20));
    let cp = rig
        .checkpoints
        .load(&iam_stream()[0].key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cp.stats.late_beyond_overlap, sweep);
    assert_eq!(cp.stats.late_found, rescan);
    assert_eq!(cp.stats.lateness.iter().sum::<u64>(), 300);
}

#[tokio::test]
async fn lateness_near_the_overlap_widens_it_and_a_cap_below_it_is_refused() {
    let rig = Rig::new();
    let expected = late_history(&rig);
    let (_, _, overlaps) = hourly(&rig, &fast()).await;
    assert_eq!(rig.stored_ids().await, expected);
    assert_eq!(overlaps[0], 20);
    assert!(
        overlaps.iter().any(|&m| m > 20) && overlaps.iter().all(|&m| m <= 240),
        "the overlap widened, within its cap: {overlaps:?}"
    );
    // A cap below what was observed is refused, naming the stream and the figure.
    let capped = CollectConfig {
        overlap: Duration::minutes(5),
        max_overlap: Duration::minutes(5),
        ..fast()
    };
    let err = collect(
        &rig.ports(rig.history.clone()),
        &iam_stream(),
        &capped,
        t0() + Duration::hours(29),
        Arc::new(NoDeadline),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("p99.9 lateness") && err.contains("iam.amazonaws.com"),
        "{err}"
    );
}

/// Records which account-regions have a request in flight, and the order they are first read.
struct Watched {
    inner: Arc<MemoryEventSource>,
    open: std::sync::Mutex<BTreeMap<(String, String), usize>>,
    most_open: AtomicUsize,
    first_reads: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl EventSource for Watched {
    async fn lookup(&self, q: &LookupQuery, t: Option<&PageToken>) -> Result<EventPage, Error> {
        let key = (q.account.to_string(), q.region.to_string());
        {
            let mut open = self.open.lock().unwrap();
            *open.entry(key.clone()).or_default() += 1;
            self.most_open.fetch_max(open.len(), Ordering::SeqCst);
            let mut first = self.first_reads.lock().unwrap();
            if !first.contains(&key) {
                first.push(key.clone());
            }
        }
        // Long enough for every chain that may run to have started.
        tokio::time::sleep(StdDuration::from_millis(2)).await;
        let page = self.inner.lookup(q, t).await;
        let mut open = self.open.lock().unwrap();
        let n = open.get_mut(&key).unwrap();
        *n -= 1;
        if *n == 0 {
            open.remove(&key);
        }
        page
    }
}

#[tokio::test]
async fn many_accounts_are_read_a_few_regions_at_a_time_most_behind_first() {
    // A thousand accounts are 17,000 account-regions: a run reads only so many at once (memory,
    // connections), the others wait their turn, and a run cut short leaves its unread ones
    // first for the next.
    let rig = Rig::new();
    let (all, expected) = sts_in_two_regions(&rig, 500_000_000_000, "e", 30, Duration::hours(30));
    let watched = Arc::new(Watched {
        inner: rig.history.clone(),
        open: Default::default(),
        most_open: AtomicUsize::new(0),
        first_reads: Default::default(),
    });
    let config = CollectConfig {
        regions_at_once: 3,
        ..fast()
    };
    rig.history.set_now(t0());
    let ports = rig.ports(watched.clone());
    // Cut after a few requests: only the first account-regions are read.
    let first = collect(&ports, &all, &config, t0(), Arc::new(Countdown::new(40)))
        .await
        .unwrap();
    assert!(!first.complete(), "the countdown cuts the run");
    let read_first: BTreeSet<(String, String)> = watched
        .first_reads
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    assert!(
        read_first.len() < all.len() / 2,
        "a cut run reads only some account-regions: {read_first:?}"
    );
    watched.first_reads.lock().unwrap().clear();
    let second = collect(&ports, &all, &config, t0(), Arc::new(NoDeadline))
        .await
        .unwrap();
    assert!(second.complete(), "{second:?}");
    let order = watched.first_reads.lock().unwrap().clone();
    assert!(
        !read_first.contains(&order[0]),
        "the next run starts with an account-region the cut one did not read: {order:?} after {read_first:?}"
    );
    assert_eq!(rig.stored_ids().await, expected);
    let most = watched.most_open.load(Ordering::SeqCst);
    assert!(
        (1..=3).contains(&most),
        "at most 3 account-regions in flight at once, saw {most}"
    );
}

/// Streams of 12 accounts (ids from `first`) in us-east-1 and eu-west-1, with `n` STS events
/// in each account-region a minute apart from `ago` before [`t0`]; returns them and the ids.
fn sts_in_two_regions(
    rig: &Rig,
    first: u64,
    prefix: &str,
    n: i64,
    ago: Duration,
) -> (Vec<StreamSpec>, BTreeSet<String>) {
    let accounts: Vec<AccountId> = (0..12)
        .map(|i| AccountId::new(format!("{:012}", first + i)).unwrap())
        .collect();
    let regions = [Region::us_east_1(), Region::new("eu-west-1").unwrap()];
    let all: Vec<StreamSpec> = streams(&accounts, &regions, &StreamOptions::default());
    let mut expected = BTreeSet::new();
    for (i, account) in accounts.iter().enumerate() {
        for (j, region) in ["us-east-1", "eu-west-1"].into_iter().enumerate() {
            for k in 0..n {
                let id = format!("{prefix}-{i}-{j}-{k}");
                let raw = RecordSpec::new(&id, t0() - ago + Duration::minutes(k))
                    .name("sts.amazonaws.com", "AssumeRole")
                    .place(account.as_str(), region)
                    .json();
                rig.history.add(&raw).unwrap();
                expected.insert(id);
            }
        }
    }
    (all, expected)
}

/// Checkpoints that count their saves per stream.
struct CountedSaves {
    inner: MemoryCheckpointStore,
    saves: std::sync::Mutex<BTreeMap<String, usize>>,
}

#[async_trait]
impl CheckpointStore for CountedSaves {
    async fn load(
        &self,
        stream: &iat_core::StreamKey,
    ) -> Result<Option<iat_core::ports::Checkpoint>, Error> {
        self.inner.load(stream).await
    }

    async fn save(&self, checkpoint: &iat_core::ports::Checkpoint) -> Result<u64, Error> {
        *self
            .saves
            .lock()
            .unwrap()
            .entry(checkpoint.stream.to_string())
            .or_default() += 1;
        self.inner.save(checkpoint).await
    }

    async fn list(&self) -> Result<Vec<iat_core::ports::Checkpoint>, Error> {
        self.inner.list().await
    }
}

/// Event history that takes `.1` to answer each page.
struct Paced(Arc<MemoryEventSource>, StdDuration);

#[async_trait]
impl EventSource for Paced {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        tokio::time::sleep(self.1).await;
        self.0.lookup(query, token).await
    }
}

#[tokio::test]
async fn an_hourly_pass_longer_than_the_save_interval_saves_each_stream_once() {
    // An organisation's hourly pass lasts minutes, each stream's part of it a second or two: a
    // stream is saved once, when its last window is done, not also when its first one is
    // (which would double the checkpoint writes, the biggest part of the DynamoDB bill).
    let rig = Rig::new();
    let regions: Vec<Region> = iat_core::DEFAULT_REGIONS
        .iter()
        .map(|r| Region::new(*r).unwrap())
        .collect();
    let all = streams(
        &[AccountId::new(ACCOUNT).unwrap()],
        &regions,
        &StreamOptions::default(),
    );
    let counted = Arc::new(CountedSaves {
        inner: MemoryCheckpointStore::new(),
        saves: Default::default(),
    });
    let ports = Ports {
        source: Arc::new(Paced(rig.history.clone(), StdDuration::from_millis(25))),
        store: rig.store.clone(),
        checkpoints: counted.clone(),
    };
    let config = CollectConfig {
        regions_at_once: 1,
        backfill: Duration::hours(3),
        checkpoint_every: StdDuration::from_millis(500),
        ..fast()
    };
    rig.history.set_now(t0());
    let backfill = collect(&ports, &all, &config, t0(), Arc::new(NoDeadline))
        .await
        .unwrap();
    assert!(backfill.complete(), "{backfill:?}");
    counted.saves.lock().unwrap().clear();

    let next = t0() + Duration::hours(1);
    iam_events(
        &rig.history,
        "hourly",
        30,
        next - Duration::minutes(20),
        Duration::seconds(20),
    );
    rig.history.set_now(next);
    let started = std::time::Instant::now();
    let hourly = collect(&ports, &all, &config, next, Arc::new(NoDeadline))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(hourly.complete(), "{hourly:?}");
    assert!(
        took > config.checkpoint_every * 2,
        "the pass outlasts the save interval: {took:?}"
    );
    let saves = counted.saves.lock().unwrap().clone();
    assert_eq!(saves.len(), all.len(), "every stream saved: {saves:?}");
    assert!(
        saves.values().all(|&n| n == 1),
        "one save per stream in a pass of {took:?}: {saves:?}"
    );
    assert!(
        rig.stored_ids()
            .await
            .iter()
            .filter(|id| id.starts_with("hourly"))
            .count()
            == 30
    );
}

/// A store that takes `.1` to store each page and remembers how many pages it held at once.
struct SlowStore {
    inner: Arc<MemoryEventStore>,
    delay: StdDuration,
    open: AtomicUsize,
    most_open: AtomicUsize,
}

#[async_trait]
impl EventStore for SlowStore {
    async fn put(
        &self,
        events: &[iat_core::ActivityEvent],
    ) -> Result<iat_core::ports::PutOutcome, Error> {
        let now_open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_open.fetch_max(now_open, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let out = self.inner.put(events).await;
        self.open.fetch_sub(1, Ordering::SeqCst);
        out
    }

    async fn quarantine(&self, records: &[iat_core::ports::Quarantined]) -> Result<(), Error> {
        self.inner.quarantine(records).await
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<iat_core::ActivityEvent>, Error> {
        self.inner.query(query).await
    }

    async fn stats(&self) -> Result<iat_core::ports::StoreStats, Error> {
        self.inner.stats().await
    }
}

/// The most pages a backfill of 24 account-regions (4 chains each, every one with pages to
/// store) held in the store at once, with a store taking 20 ms a page; every event stored.
async fn most_pages_stored_at_once(pages_at_once: usize) -> usize {
    let rig = Rig::new();
    let (all, expected) = sts_in_two_regions(&rig, 600_000_000_000, "p", 60, Duration::hours(40));
    let store = Arc::new(SlowStore {
        inner: rig.store.clone(),
        delay: StdDuration::from_millis(20),
        open: AtomicUsize::new(0),
        most_open: AtomicUsize::new(0),
    });
    let ports = Ports {
        source: rig.history.clone(),
        store: store.clone(),
        checkpoints: rig.checkpoints.clone(),
    };
    rig.history.set_now(t0());
    let config = CollectConfig {
        page_size: 5,
        backfill: Duration::days(2),
        window: Duration::days(2),
        pages_at_once,
        ..fast()
    };
    let report = collect(&ports, &all, &config, t0(), Arc::new(NoDeadline))
        .await
        .unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(rig.stored_ids().await, expected);
    store.most_open.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_slow_store_does_not_make_chains_pile_pages_up() {
    // Without a bound, every chain holds a page waiting on the store.
    let unbounded = most_pages_stored_at_once(10_000).await;
    assert!(unbounded > 10, "without a bound, {unbounded} pages at once");
    let bounded = most_pages_stored_at_once(3).await;
    assert!(
        (1..=3).contains(&bounded),
        "at most 3 pages in hand at once, saw {bounded} being stored"
    );
}
