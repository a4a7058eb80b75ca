//! A deterministic model check of [`collect`]: generated schedules of runs, faults and
//! deliveries, with the no-loss invariant checked after every checkpoint save.
//!
//! One schedule is one seed. From it come an event timeline (bursts, equal timestamps, late and
//! duplicate deliveries), a configuration (chains, page sizes, windows), and per run its faults:
//! throttling, unavailable pages, failing requests and writes, slow pages that make idle chains
//! split busy windows, deadline cuts, crashes right after a write or a checkpoint save, and two
//! runs racing on one stream. Time is tokio's paused clock, so a seed replays the same schedule.
//!
//! Checked after every checkpoint save: *what the checkpoint claims is stored* — every event
//! visible when the run started whose time is at or before `complete_up_to` or inside an island,
//! every event delivered within the overlap whose time is at or before `settled_up_to`, and
//! every event delivered within the sweep age whose time is at or before `swept_up_to`.
//! Checked at the end, after two undisturbed runs: *stored = delivered*, deliveries later than
//! the overlap included (the sweep's; it reaches a time once that time is settled, so the
//! second run sweeps what the first settled).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{
    Checkpoint, CheckpointStore, EventPage, EventQuery, EventSource, EventStore, LookupQuery,
    MemoryCheckpointStore, MemoryEventSource, MemoryEventStore, PageToken, PutOutcome, Quarantined,
    StoreStats,
};
use iat_core::{AccountId, ActivityEvent, Error, Region};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{CollectConfig, Deadline, Ports, StreamOptions, StreamSpec, collect, streams};

const ACCOUNT: &str = "111122223333";
const OVERLAP_MINUTES: i64 = 20;
/// The sweep re-reads time this old (a day in production; shorter here to fit the timeline).
const SWEEP_HOURS: i64 = 2;

/// What the schedules exercised, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelStats {
    pub schedules: u64,
    pub runs: u64,
    pub events: u64,
    pub requests: u64,
    pub checks: u64,
    pub windows_cut: u64,
    pub crashes: u64,
    pub failed_requests: u64,
    pub throttled: u64,
    pub late_deliveries: u64,
    /// Deliveries later than the overlap, and how many of them the sweep found.
    pub beyond_overlap: u64,
    pub found_by_sweep: u64,
    pub duplicate_deliveries: u64,
    pub concurrent_runs: u64,
}

/// A broken invariant, with the seed that replays it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {}: {}", self.seed, self.what)
    }
}

/// Checks `count` schedules from `first_seed`; returns the totals and every violation.
pub fn check_schedules(first_seed: u64, count: u64) -> (ModelStats, Vec<Violation>) {
    let mut total = ModelStats::default();
    let mut violations = Vec::new();
    for seed in first_seed..first_seed + count {
        match check_schedule(seed) {
            Ok(stats) => add(&mut total, &stats),
            Err(v) => violations.push(v),
        }
        total.schedules += 1;
    }
    (total, violations)
}

/// Runs one schedule on its own single-threaded runtime with tokio's clock paused.
pub fn check_schedule(seed: u64) -> Result<ModelStats, Violation> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(Schedule::new(seed).play())
}

fn add(into: &mut ModelStats, s: &ModelStats) {
    into.runs += s.runs;
    into.events += s.events;
    into.requests += s.requests;
    into.checks += s.checks;
    into.windows_cut += s.windows_cut;
    into.crashes += s.crashes;
    into.failed_requests += s.failed_requests;
    into.throttled += s.throttled;
    into.late_deliveries += s.late_deliveries;
    into.beyond_overlap += s.beyond_overlap;
    into.found_by_sweep += s.found_by_sweep;
    into.duplicate_deliveries += s.duplicate_deliveries;
    into.concurrent_runs += s.concurrent_runs;
}

/// One generated event.
#[derive(Debug, Clone)]
struct Planned {
    id: String,
    stream: usize,
    time: DateTime<Utc>,
    delivered: DateTime<Utc>,
}

/// Fault rates of one run, each in 0..1.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    throttle: f64,
    unavailable: f64,
    fail: f64,
    slow: f64,
    write_fail: f64,
    crash_after_write: f64,
    crash_after_save: f64,
}

/// What every wrapper shares: the seeded dice, the fault rates, the crash signal, the counters.
struct World {
    rng: Mutex<ChaCha8Rng>,
    faults: Mutex<Faults>,
    crash: tokio::sync::Notify,
    crashed: AtomicBool,
    requests: AtomicU64,
    failed_requests: AtomicU64,
    throttled: AtomicU64,
    checks: AtomicU64,
    /// The oldest `now` of the runs under way: claims cover what was visible then.
    visible_at: Mutex<Option<DateTime<Utc>>>,
    /// The ids the store has accepted, kept here so a check need not read the store.
    stored: Mutex<std::collections::HashSet<String>>,
    violation: Mutex<Option<String>>,
}

impl World {
    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap().random_bool(p.min(1.0))
    }

    fn millis(&self, max: u64) -> u64 {
        self.rng.lock().unwrap().random_range(0..=max)
    }

    fn crash_now(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        self.crash.notify_waiters();
    }

    fn fail(&self, what: String) {
        self.violation.lock().unwrap().get_or_insert(what);
    }
}

struct Source {
    world: Arc<World>,
    inner: Arc<MemoryEventSource>,
}

#[async_trait]
impl EventSource for Source {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        let w = &self.world;
        w.requests.fetch_add(1, Ordering::Relaxed);
        let f = *w.faults.lock().unwrap();
        // Pages take time, some much longer: that is what lets idle chains split busy windows.
        let wait = if w.roll(f.slow) {
            200 + w.millis(800)
        } else {
            w.millis(20)
        };
        tokio::time::sleep(StdDuration::from_millis(wait)).await;
        if w.roll(f.throttle) {
            w.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Throttled {
                service: "cloudtrail",
                operation: "LookupEvents",
                region: query.region.to_string(),
            });
        }
        if w.roll(f.unavailable) {
            w.failed_requests.fetch_add(1, Ordering::Relaxed);
            return Err(Error::unavailable(
                "cloudtrail",
                "LookupEvents",
                "connection reset",
            ));
        }
        if w.roll(f.fail) {
            w.failed_requests.fetch_add(1, Ordering::Relaxed);
            return Err(Error::backend(
                "cloudtrail",
                "LookupEvents",
                "InternalFailure",
            ));
        }
        self.inner.lookup(query, token).await
    }
}

struct Store {
    world: Arc<World>,
    inner: Arc<MemoryEventStore>,
}

#[async_trait]
impl EventStore for Store {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome, Error> {
        let w = &self.world;
        tokio::time::sleep(StdDuration::from_millis(w.millis(3))).await;
        let f = *w.faults.lock().unwrap();
        if !events.is_empty() && w.roll(f.write_fail) {
            return Err(Error::backend("store", "put", "write failed"));
        }
        let out = self.inner.put(events).await?;
        w.stored
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.id.to_string()));
        if w.roll(f.crash_after_write) {
            // Stored, and the process dies before any checkpoint says so.
            w.crash_now();
            std::future::pending::<()>().await;
        }
        Ok(out)
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>, Error> {
        self.inner.query(query).await
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<(), Error> {
        self.inner.quarantine(records).await
    }

    async fn stats(&self) -> Result<StoreStats, Error> {
        self.inner.stats().await
    }
}

/// Checkpoints that check, on every save, that what they claim is stored.
struct Checked {
    world: Arc<World>,
    inner: MemoryCheckpointStore,
    events: Arc<Vec<Planned>>,
    specs: Vec<StreamSpec>,
    /// When each event was first claimed complete (the `now` of the run that claimed it).
    first_claimed: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

#[async_trait]
impl CheckpointStore for Checked {
    async fn load(&self, stream: &iat_core::StreamKey) -> Result<Option<Checkpoint>, Error> {
        self.inner.load(stream).await
    }

    async fn save(&self, cp: &Checkpoint) -> Result<u64, Error> {
        let w = &self.world;
        tokio::time::sleep(StdDuration::from_millis(w.millis(2))).await;
        let version = self.inner.save(cp).await?;
        self.check(cp);
        if w.roll(w.faults.lock().unwrap().crash_after_save) {
            w.crash_now();
            std::future::pending::<()>().await;
        }
        Ok(version)
    }

    async fn list(&self) -> Result<Vec<Checkpoint>, Error> {
        self.inner.list().await
    }
}

impl Checked {
    /// An event claimed by a checkpoint must be stored if it was visible when first claimed
    /// (later deliveries are the overlap's to find), and, when its delay is within the overlap,
    /// once it is settled.
    fn check(&self, cp: &Checkpoint) {
        let w = &self.world;
        w.checks.fetch_add(1, Ordering::Relaxed);
        let Some(stream) = self.specs.iter().position(|s| s.key == cp.stream) else {
            return;
        };
        let Some(visible_at) = *w.visible_at.lock().unwrap() else {
            return;
        };
        let stored = w.stored.lock().unwrap();
        let overlap = Duration::minutes(OVERLAP_MINUTES);
        let mut first_claimed = self.first_claimed.lock().unwrap();
        for e in self.events.iter().filter(|e| e.stream == stream) {
            let claimed = cp.complete_up_to.is_some_and(|p| e.time <= p)
                || cp.islands.iter().any(|i| i.contains(e.time));
            let claimed_at = if claimed {
                Some(*first_claimed.entry(e.id.clone()).or_insert(visible_at))
            } else {
                first_claimed.get(&e.id).copied()
            };
            if stored.contains(&e.id) {
                continue;
            }
            if claimed && claimed_at.is_some_and(|c| e.delivered <= c) {
                w.fail(format!(
                    "{} ({}, delivered {}) is claimed by {} up to {:?}, islands {:?}, but not stored",
                    e.id, e.time, e.delivered, cp.stream, cp.complete_up_to, cp.islands
                ));
            }
            let settled = cp.settled_up_to.is_some_and(|s| e.time <= s);
            if settled && e.delivered - e.time <= overlap {
                w.fail(format!(
                    "{} ({}, delivered {}) is settled by {} up to {:?}, but not stored",
                    e.id, e.time, e.delivered, cp.stream, cp.settled_up_to
                ));
            }
            let swept = cp.swept_up_to.is_some_and(|s| e.time <= s);
            if swept && e.delivered - e.time <= Duration::hours(SWEEP_HOURS) {
                w.fail(format!(
                    "{} ({}, delivered {}) is swept by {} up to {:?}, but not stored",
                    e.id, e.time, e.delivered, cp.stream, cp.swept_up_to
                ));
            }
        }
    }
}

async fn stored_ids(store: &MemoryEventStore) -> BTreeSet<String> {
    store
        .query(&EventQuery::default())
        .await
        .expect("the memory store answers")
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

/// A deadline on tokio's (paused) clock.
struct PausedDeadline(tokio::time::Instant);

impl Deadline for PausedDeadline {
    fn remaining(&self) -> StdDuration {
        self.0
            .saturating_duration_since(tokio::time::Instant::now())
    }
}

struct Schedule {
    seed: u64,
    rng: ChaCha8Rng,
    specs: Vec<StreamSpec>,
    events: Vec<Planned>,
    duplicates: u64,
    config: CollectConfig,
    start: DateTime<Utc>,
}

impl Schedule {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let specs: Vec<StreamSpec> = streams(
            &[AccountId::new(ACCOUNT).expect("valid account")],
            &[Region::us_east_1()],
            &StreamOptions::default(),
        )
        .into_iter()
        .filter(|s| {
            matches!(
                s.key.source.as_str(),
                "iam.amazonaws.com" | "sts.amazonaws.com"
            )
        })
        .take(rng.random_range(1..=2))
        .collect();
        let start = Utc
            .with_ymd_and_hms(2026, 3, 10, 0, 0, 0)
            .single()
            .expect("a time");
        let mut events = Vec::new();
        let mut duplicates = 0;
        // Over 8 hours: sparse background, bursts, and bursts inside one second.
        let n_plain = rng.random_range(0..120);
        let n_bursts = rng.random_range(0..4);
        let mut times = Vec::new();
        // CloudTrail's event times are whole seconds: many events share one.
        for _ in 0..n_plain {
            times.push(start + Duration::seconds(rng.random_range(0..8 * 3600)));
        }
        for _ in 0..n_bursts {
            let at = start + Duration::seconds(rng.random_range(0..8 * 3600));
            let spread = [1, 2, 60, 600][rng.random_range(0..4)];
            for _ in 0..rng.random_range(10..150) {
                times.push(at + Duration::seconds(rng.random_range(0..spread)));
            }
        }
        for (i, time) in times.into_iter().enumerate() {
            // Most within minutes, some late up to the overlap, a few later (the sweep's).
            let delay = match rng.random_range(0..40) {
                0..=3 => Duration::seconds(rng.random_range(300..OVERLAP_MINUTES * 60)),
                4 => Duration::seconds(rng.random_range(OVERLAP_MINUTES * 60..90 * 60)),
                _ => Duration::seconds(rng.random_range(0..300)),
            };
            let e = Planned {
                id: format!("ev-{seed}-{i:05}"),
                stream: rng.random_range(0..specs.len()),
                time,
                delivered: time + delay,
            };
            if rng.random_bool(0.03) {
                duplicates += 1;
                events.push(Planned {
                    delivered: e.delivered + Duration::seconds(rng.random_range(0..600)),
                    ..e.clone()
                });
            }
            events.push(e);
        }
        let config = CollectConfig {
            overlap: Duration::minutes(OVERLAP_MINUTES),
            sweep_age: Some(Duration::hours(SWEEP_HOURS)),
            safety_lag: Duration::minutes(5),
            backfill: Duration::days(1),
            initial_windows: rng.random_range(1..=4),
            window: Duration::minutes(rng.random_range(10..=180)),
            chains_per_region: rng.random_range(1..=4),
            // One account-region at a time, or all of them.
            regions_at_once: rng.random_range(1..=8),
            // One page in hand at a time, or more than the chains can hold.
            pages_at_once: rng.random_range(1..=40),
            // No waiting on the real clock: the schedule is paced by the paused one.
            requests_per_second: 1e9,
            page_size: [1, 2, 3, 5, 10, 50][rng.random_range(0..6)],
            stop_margin: StdDuration::from_millis(50),
            throttle_pause: StdDuration::from_millis(100),
            transient_retries: rng.random_range(0..=3),
            checkpoint_every: StdDuration::from_millis(rng.random_range(0..=1) * 500),
            ..Default::default()
        };
        Self {
            seed,
            rng,
            specs,
            events,
            duplicates,
            config,
            start,
        }
    }

    fn faults(&mut self) -> Faults {
        let r = &mut self.rng;
        if r.random_bool(0.3) {
            return Faults::default();
        }
        let mut p = |max: f64| {
            if r.random_bool(0.5) {
                r.random_range(0.0..max)
            } else {
                0.0
            }
        };
        Faults {
            throttle: p(0.3),
            unavailable: p(0.2),
            fail: p(0.05),
            slow: p(0.5),
            write_fail: p(0.05),
            crash_after_write: p(0.05),
            crash_after_save: p(0.1),
        }
    }

    async fn play(mut self) -> Result<ModelStats, Violation> {
        let history = Arc::new(MemoryEventSource::new());
        for e in &self.events {
            let spec = &self.specs[e.stream];
            let raw = RecordSpec::new(&e.id, e.time)
                .name(&spec.key.source, "GetCallerIdentity")
                .place(ACCOUNT, "us-east-1")
                .json();
            history
                .add_delivered(&raw, Some(e.delivered))
                .expect("a generated record normalises");
        }
        let world = Arc::new(World {
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(self.seed ^ 0x5eed)),
            faults: Mutex::new(Faults::default()),
            crash: tokio::sync::Notify::new(),
            crashed: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            failed_requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            checks: AtomicU64::new(0),
            visible_at: Mutex::new(None),
            stored: Mutex::new(std::collections::HashSet::new()),
            violation: Mutex::new(None),
        });
        let store = Arc::new(MemoryEventStore::new());
        let events = Arc::new(self.events.clone());
        let checkpoints = Arc::new(Checked {
            world: Arc::clone(&world),
            inner: MemoryCheckpointStore::new(),
            events: Arc::clone(&events),
            specs: self.specs.clone(),
            first_claimed: Mutex::new(BTreeMap::new()),
        });
        let ports = Ports {
            source: Arc::new(Source {
                world: Arc::clone(&world),
                inner: Arc::clone(&history),
            }),
            store: Arc::new(Store {
                world: Arc::clone(&world),
                inner: Arc::clone(&store),
            }),
            checkpoints: checkpoints.clone(),
        };
        let mut stats = ModelStats {
            schedules: 0,
            events: self.events.len() as u64,
            duplicate_deliveries: self.duplicates,
            late_deliveries: self
                .events
                .iter()
                .filter(|e| e.delivered - e.time > Duration::minutes(5))
                .count() as u64,
            beyond_overlap: self
                .events
                .iter()
                .filter(|e| e.delivered - e.time > Duration::minutes(OVERLAP_MINUTES))
                .count() as u64,
            ..Default::default()
        };
        // Runs every 10 to 90 minutes over the timeline, then one undisturbed run.
        let mut now = self.start + Duration::minutes(self.rng.random_range(0..60));
        let end = self.start + Duration::hours(9);
        while now < end {
            *world.faults.lock().unwrap() = self.faults();
            let concurrent = self.rng.random_bool(0.1);
            let budget = match self.rng.random_range(0..4) {
                0 => None,
                _ => Some(StdDuration::from_millis(self.rng.random_range(0..5_000))),
            };
            *world.visible_at.lock().unwrap() = Some(now);
            history.set_now(now);
            world.crashed.store(false, Ordering::SeqCst);
            let deadline = |b: Option<StdDuration>| -> Arc<dyn Deadline> {
                Arc::new(PausedDeadline(
                    tokio::time::Instant::now() + b.unwrap_or(StdDuration::from_secs(86_400)),
                ))
            };
            let first = collect(&ports, &self.specs, &self.config, now, deadline(budget));
            let crashed = world.crash.notified();
            let report = if concurrent {
                stats.concurrent_runs += 1;
                let second = collect(
                    &ports,
                    &self.specs,
                    &self.config,
                    now + Duration::seconds(1),
                    deadline(budget),
                );
                tokio::select! {
                    (a, _) = async { tokio::join!(first, second) } => Some(a),
                    () = crashed => None,
                }
            } else {
                tokio::select! {
                    a = first => Some(a),
                    () = crashed => None,
                }
            };
            stats.runs += 1;
            match report {
                None => stats.crashes += 1,
                Some(Ok(r)) => {
                    stats.windows_cut += r.total(|s| s.windows_cut);
                    stats.found_by_sweep += r.total(|s| s.late_beyond_overlap);
                }
                Some(Err(e)) => return Err(self.violation(format!("run at {now} refused: {e}"))),
            }
            if let Some(v) = world.violation.lock().unwrap().take() {
                return Err(self.violation(v));
            }
            now += Duration::minutes(self.rng.random_range(10..=90));
        }
        // Everything delivered by now; two runs without faults store the rest.
        *world.faults.lock().unwrap() = Faults::default();
        for now in [end + Duration::hours(2), end + Duration::hours(3)] {
            *world.visible_at.lock().unwrap() = Some(now);
            history.set_now(now);
            let report = collect(
                &ports,
                &self.specs,
                &self.config,
                now,
                Arc::new(crate::NoDeadline),
            )
            .await
            .map_err(|e| self.violation(format!("final run refused: {e}")))?;
            stats.found_by_sweep += report.total(|s| s.late_beyond_overlap);
            if let Some(v) = world.violation.lock().unwrap().take() {
                return Err(self.violation(v));
            }
            if !report.complete() {
                return Err(
                    self.violation(format!("an undisturbed run did not complete: {report:?}"))
                );
            }
        }
        let stored = stored_ids(&store).await;
        let delivered: BTreeMap<&str, &Planned> =
            self.events.iter().map(|e| (e.id.as_str(), e)).collect();
        let missing: Vec<_> = delivered
            .iter()
            .filter(|(id, _)| !stored.contains(**id))
            .map(|(_, e)| format!("{} at {} delivered {}", e.id, e.time, e.delivered))
            .collect();
        if !missing.is_empty() {
            return Err(self.violation(format!(
                "{} of {} events never stored: {}",
                missing.len(),
                delivered.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        if stored.len() != delivered.len() {
            return Err(self.violation(format!(
                "{} stored for {} delivered",
                stored.len(),
                delivered.len()
            )));
        }
        stats.requests = world.requests.load(Ordering::Relaxed);
        stats.failed_requests = world.failed_requests.load(Ordering::Relaxed);
        stats.throttled = world.throttled.load(Ordering::Relaxed);
        stats.checks = world.checks.load(Ordering::Relaxed);
        Ok(stats)
    }

    fn violation(&self, what: String) -> Violation {
        Violation {
            seed: self.seed,
            what,
        }
    }
}
