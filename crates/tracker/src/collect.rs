//! One collection run: every stream brought up to `now − safety lag`, losing nothing.
//!
//! Per stream, the run collects its gaps (the 90-day horizon on the first run, oldest first) and
//! re-scans the overlap window before its checkpoint for late arrivals. Ranges are cut into
//! windows; per account and region, several page chains work on disjoint windows at once (one
//! chain cannot reach the API's 2 requests/s with pages taking up to 4 s), all through one pace
//! that slows when the service pushes back ([`crate::pace`]). A window's query is frozen for its whole page chain, as `NextToken` requires.
//!
//! The checkpoint only ever claims what is stored: a window counts when its last page is stored;
//! a chain cut short (deadline) completes the newer end of its window down to the oldest event
//! it stored. Throttling waits and retries; any other error fails the stream's remaining windows
//! and is recorded, while other streams go on.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Utc};
use futures_util::{StreamExt, stream};
use iat_core::ports::{
    Checkpoint, CheckpointStore, EventSource, EventStore, LookupQuery, PageToken,
};
use iat_core::{
    AccountId, Error, NoiseFilter, RecordLimits, Region, StreamKey, TimeWindow, Triage, triage,
};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::coverage::Coverage;
use crate::pace::Pace;
use crate::plan::StreamSpec;

/// How a run collects.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// Re-scanned before the checkpoint on every run, for events delivered late (at least:
    /// a stream whose observed lateness approaches it re-scans more, up to `max_overlap`).
    pub overlap: Duration,
    /// The most a stream's overlap is widened to. A stream whose observed p99.9 lateness is
    /// above it is refused: events that late would be found only by the sweep.
    pub max_overlap: Duration,
    /// Every time is read again once this long after it happened (the daily sweep, spread over
    /// the day's runs), for deliveries later than the overlap; `None` for no sweep.
    pub sweep_age: Option<Duration>,
    /// Collect up to `now − safety_lag`.
    pub safety_lag: Duration,
    /// How far back a new stream starts (Event history keeps 90 days).
    pub backfill: Duration,
    /// An account and region's ranges to collect start as about this many windows in all,
    /// shared by its streams (each range at least one window; each window one frozen page
    /// chain, at least an hour long, so a quiet stream's hourly run costs one request a
    /// range)...
    pub initial_windows: usize,
    /// ...of at most this length. Busy windows are then split while they are paged.
    pub window: Duration,
    /// Page chains at once per account and region.
    pub chains_per_region: usize,
    /// Account-regions read at once; the others wait their turn, most behind first. Bounds a
    /// run's memory and connections however many accounts it reads.
    pub regions_at_once: usize,
    /// Pages being fetched or stored at once, across every chain. A page held by a chain
    /// waiting for the store holds its records and, while stored, the store's connections: when
    /// the store is slower than Event history (a throttled table, a busy emulator), chains
    /// would otherwise pile pages up, one each, however many thousand chains a large
    /// organisation's backfill runs.
    pub pages_at_once: usize,
    /// Requests per second per account and region at most (the API allows 2, shared with every
    /// other caller there): the pace falls when throttled and climbs back to this.
    pub requests_per_second: f64,
    /// Records a page, 1–50.
    pub page_size: u8,
    /// Stop starting requests when less than this remains before the deadline.
    pub stop_margin: StdDuration,
    /// Wait after a throttled request before retrying it.
    pub throttle_pause: StdDuration,
    /// Retries of a page whose service was unavailable (5xx, connection lost), with doubling
    /// waits from `throttle_pause`, before the stream is failed for this run.
    pub transient_retries: u32,
    /// Save advancing checkpoints at most this often during a run (and always at its end).
    pub checkpoint_every: StdDuration,
    pub limits: RecordLimits,
    pub filter: NoiseFilter,
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            overlap: Duration::minutes(20),
            max_overlap: Duration::hours(4),
            sweep_age: Some(Duration::hours(24)),
            safety_lag: Duration::minutes(5),
            backfill: Duration::days(EVENT_HISTORY_DAYS),
            initial_windows: 6,
            window: Duration::days(EVENT_HISTORY_DAYS),
            chains_per_region: 8,
            regions_at_once: 512,
            pages_at_once: 256,
            requests_per_second: MAX_REQUESTS_PER_SECOND,
            page_size: 50,
            stop_margin: StdDuration::from_secs(30),
            throttle_pause: StdDuration::from_secs(1),
            transient_retries: 5,
            checkpoint_every: StdDuration::from_secs(10),
            limits: RecordLimits::default(),
            filter: NoiseFilter::default(),
        }
    }
}

/// The settings a user gives the collector, by the names each front end uses for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Overlap,
    MaxOverlap,
    SweepAge,
    Backfill,
    RequestsPerSecond,
    ChainsPerRegion,
}

impl Setting {
    /// The Lambda function's environment variable.
    pub fn env(self) -> &'static str {
        match self {
            Setting::Overlap => "OVERLAP_MINUTES",
            Setting::MaxOverlap => "MAX_OVERLAP_MINUTES",
            Setting::SweepAge => "SWEEP_AGE_HOURS",
            Setting::Backfill => "BACKFILL_DAYS",
            Setting::RequestsPerSecond => "REQUESTS_PER_SECOND",
            Setting::ChainsPerRegion => "CHAINS_PER_REGION",
        }
    }

    /// `iat collect`'s flag.
    pub fn flag(self) -> &'static str {
        match self {
            Setting::Overlap => "--overlap",
            Setting::MaxOverlap => "--max-overlap",
            Setting::SweepAge => "--sweep-age",
            Setting::Backfill => "--backfill",
            Setting::RequestsPerSecond => "--rate",
            Setting::ChainsPerRegion => "--chains",
        }
    }
}

/// A setting out of its bounds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {value}: expected {expected}", setting.flag())]
pub struct InvalidSetting {
    pub setting: Setting,
    pub value: String,
    pub expected: String,
}

/// CloudTrail's LookupEvents limit per account and region, shared by every caller.
pub const MAX_REQUESTS_PER_SECOND: f64 = 2.0;
/// Page chains per account and region.
pub const CHAINS_PER_REGION: std::ops::RangeInclusive<usize> = 1..=32;
pub use iat_core::time::EVENT_HISTORY_DAYS;

impl CollectConfig {
    /// Checks the settings against one set of bounds, whichever front end built them.
    /// `simulator` lifts the request-rate cap (a local LookupEvents simulator has no limit).
    pub fn validate(&self, simulator: bool) -> Result<(), InvalidSetting> {
        let bad = |setting, value: String, expected: String| {
            Err(InvalidSetting {
                setting,
                value,
                expected,
            })
        };
        let minutes = |d: Duration| format!("{} minutes", d.num_minutes());
        if self.overlap < Duration::minutes(1) {
            return bad(
                Setting::Overlap,
                minutes(self.overlap),
                "at least 1 minute (events arrive minutes late; the overlap finds them)".into(),
            );
        }
        if self.max_overlap < self.overlap {
            return bad(
                Setting::MaxOverlap,
                minutes(self.max_overlap),
                format!("at least the overlap ({})", minutes(self.overlap)),
            );
        }
        if let Some(age) = self.sweep_age.filter(|a| *a <= self.max_overlap) {
            return bad(
                Setting::SweepAge,
                minutes(age),
                format!(
                    "longer than the most the overlap widens to ({}), or off",
                    minutes(self.max_overlap)
                ),
            );
        }
        if self.backfill <= Duration::zero() || self.backfill > Duration::days(EVENT_HISTORY_DAYS) {
            return bad(
                Setting::Backfill,
                minutes(self.backfill),
                format!(
                    "more than 0 and at most {EVENT_HISTORY_DAYS} days (Event history's horizon)"
                ),
            );
        }
        let rate = self.requests_per_second;
        if !(rate > 0.0 && (simulator || rate <= MAX_REQUESTS_PER_SECOND)) {
            return bad(
                Setting::RequestsPerSecond,
                rate.to_string(),
                format!(
                    "above 0 and at most {MAX_REQUESTS_PER_SECOND} (CloudTrail's limit per account and region)"
                ),
            );
        }
        if !CHAINS_PER_REGION.contains(&self.chains_per_region) {
            return bad(
                Setting::ChainsPerRegion,
                self.chains_per_region.to_string(),
                format!(
                    "{} to {}",
                    CHAINS_PER_REGION.start(),
                    CHAINS_PER_REGION.end()
                ),
            );
        }
        Ok(())
    }
}

/// Time left before the run must stop (a Lambda's remaining time, say).
pub trait Deadline: Send + Sync {
    fn remaining(&self) -> StdDuration;
}

/// No deadline.
#[derive(Debug, Clone, Copy)]
pub struct NoDeadline;

impl Deadline for NoDeadline {
    fn remaining(&self) -> StdDuration {
        StdDuration::MAX
    }
}

/// A deadline at an instant of the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineAt(pub std::time::Instant);

impl Deadline for DeadlineAt {
    fn remaining(&self) -> StdDuration {
        self.0.saturating_duration_since(std::time::Instant::now())
    }
}

/// The ports a run uses.
#[derive(Clone)]
pub struct Ports {
    pub source: Arc<dyn EventSource>,
    pub store: Arc<dyn EventStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports { .. }")
    }
}

/// What a run did for one stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamReport {
    pub stream: String,
    pub windows: u64,
    pub windows_cut: u64,
    pub requests: u64,
    pub throttled: u64,
    /// Pages retried after the service was unavailable or throttled: by the collector, or by
    /// the client before it answered (the SDK's own retries).
    pub retried: u64,
    pub records: u64,
    pub inserted: u64,
    pub duplicates: u64,
    pub filtered: u64,
    pub malformed: u64,
    /// New events found by the overlap re-scan (delivered late, within the overlap).
    pub late_found: u64,
    /// New events found by the sweep: later than the overlap, which missed them.
    pub late_beyond_overlap: u64,
    /// The overlap this run re-scanned, in minutes (widened from the configured one when
    /// observed lateness approached it).
    pub overlap_minutes: i64,
    /// The lateness 99.9% of the stream's events were within, over its history (minutes;
    /// `None` before any event).
    pub lateness_p999_minutes: Option<i64>,
    pub complete_up_to: Option<DateTime<Utc>>,
    /// When the stream's first and last requests were sent (wall clock).
    pub first_request: Option<DateTime<Utc>>,
    pub last_request: Option<DateTime<Utc>>,
    /// The stream reached the run's target time and finished its re-scan.
    pub caught_up: bool,
    /// Runs in a row, this one included, that neither caught up nor advanced the checkpoint
    /// (an error from [`STALL_RUNS`] on).
    pub stalled_runs: u64,
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub target: Option<DateTime<Utc>>,
    pub streams: Vec<StreamReport>,
}

impl RunReport {
    /// Every stream caught up, none failed.
    pub fn complete(&self) -> bool {
        self.streams
            .iter()
            .all(|s| s.caught_up && s.error.is_none())
    }

    pub fn total(&self, f: impl Fn(&StreamReport) -> u64) -> u64 {
        self.streams.iter().map(f).sum()
    }
}

/// What a window is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Time not yet complete.
    Gap,
    /// Complete time re-read within the overlap, for late deliveries.
    Rescan,
    /// Settled time re-read a day later, for deliveries later than the overlap; last in line.
    Sweep,
}

struct Work {
    stream: usize,
    window: TimeWindow,
    kind: Kind,
}

enum Outcome {
    /// Every event from this time to the end of the window is stored (the window's start, or
    /// where a thief took over the older part).
    Complete(DateTime<Utc>),
    /// Cut short; everything newer than this time in the window is stored.
    Cut(Option<DateTime<Utc>>),
    Failed(Error),
}

struct Done {
    stream: usize,
    window: TimeWindow,
    kind: Kind,
    outcome: Outcome,
    counts: StreamReport,
    /// The times of the new events a re-scan or sweep stored.
    late_times: Vec<DateTime<Utc>>,
}

struct StreamState {
    spec: StreamSpec,
    checkpoint: Checkpoint,
    coverage: Coverage,
    /// What was read at least the overlap after it happened (this run reads at or after
    /// `run_started`, so everything it reads up to `run_started − overlap` is settled).
    settled: Coverage,
    /// What was read at least the sweep age after it happened.
    swept: Coverage,
    /// This stream's overlap for this run, and what it settles and keeps as islands.
    overlap: Duration,
    settle_limit: DateTime<Utc>,
    island_limit: DateTime<Utc>,
    /// When this stream was last read before this run (late events were not there then).
    last_read: Option<DateTime<Utc>>,
    report: StreamReport,
    /// The counts already added to the checkpoint's totals.
    saved_counts: StreamReport,
    last_saved_prefix: Option<DateTime<Utc>>,
    last_saved_settled: Option<DateTime<Utc>>,
    /// The lateness counts as loaded (a save that meets a concurrent change adds only this
    /// run's counts to the other run's).
    lateness_at_load: Vec<u64>,
    /// Complete and settled as loaded, to tell whether the run advanced them.
    checkpoint_at_start: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    last_saved: std::time::Instant,
    /// Windows of this stream reported done this run. When they are all the windows it has
    /// (queued, and split off by thieves), the stream is finished at once with its one save,
    /// rather than saved now and again at the run's end.
    windows_done: usize,
    /// When this stream's first window of the run finished: mid-run saves are timed from here,
    /// so a stream whose turn comes late in a long run is not saved on its first window.
    working_since: Option<std::time::Instant>,
    /// The run's `now`: all data this run reads is read at or after it.
    run_started: DateTime<Utc>,
}

/// Runs one collection over `streams` at `now`.
pub async fn collect(
    ports: &Ports,
    streams: &[StreamSpec],
    config: &CollectConfig,
    now: DateTime<Utc>,
    deadline: Arc<dyn Deadline>,
) -> Result<RunReport, Error> {
    collect_with_progress(ports, streams, config, now, deadline, &|_| {}).await
}

/// [`collect`], calling `progress` with a stream's running totals each time one of its windows
/// is done.
///
/// The run in its steps: the time bounds from `now`; per stream, a plan (its checkpoint loaded,
/// the re-scan, gaps and sweep cut into windows); the page chains started per account and
/// region; each finished window recorded in its stream's coverage and saved now and then; each
/// stream finished (stall check, last save, report).
pub async fn collect_with_progress(
    ports: &Ports,
    streams: &[StreamSpec],
    config: &CollectConfig,
    now: DateTime<Utc>,
    deadline: Arc<dyn Deadline>,
    progress: &(dyn Fn(&StreamReport) + Sync),
) -> Result<RunReport, Error> {
    let bounds = RunBounds::new(config, now)?;
    let mut states = Vec::with_capacity(streams.len());
    let mut queues: BTreeMap<(AccountId, Region), VecDeque<Work>> = BTreeMap::new();
    // An account and region's streams share its initial windows (and its rate): three
    // streams of us-east-1 start as two windows each, not as four, most of them empty.
    let mut sharing: BTreeMap<(&AccountId, &Region), usize> = BTreeMap::new();
    for spec in streams {
        *sharing
            .entry((&spec.key.account, &spec.key.region))
            .or_default() += 1;
    }
    // Checkpoints are loaded (and saved) several at a time: a thousand accounts are 22,000
    // streams, and one call at a time would spend minutes on the store alone.
    let planned: Vec<_> = stream::iter(streams.iter().enumerate())
        .map(|(i, spec)| {
            let wanted = config
                .initial_windows
                .div_ceil(sharing[&(&spec.key.account, &spec.key.region)]);
            plan_stream(ports.checkpoints.as_ref(), i, spec, wanted, config, &bounds)
        })
        .buffered(CHECKPOINT_CALLS_AT_ONCE)
        .collect()
        .await;
    for (planned, spec) in planned.into_iter().zip(streams) {
        match planned? {
            Ok((state, work)) => {
                queues
                    .entry((spec.key.account.clone(), spec.key.region.clone()))
                    .or_default()
                    .extend(work);
                states.push(Ok(state));
            }
            Err(not_loaded) => states.push(Err(not_loaded)),
        }
    }
    for q in queues.values_mut() {
        // Sweeps last: a run short of requests spends them on new and late events first.
        q.make_contiguous()
            .sort_by_key(|w| (w.kind == Kind::Sweep, w.window.start(), w.stream));
    }

    // Most behind first (oldest complete prefix, then most left to read): a run cut by its
    // deadline leaves the streams it has served ahead, so the next run starts with the others.
    let behind: Vec<_> = states
        .iter()
        .map(|state| {
            state.as_ref().ok().map(|s| {
                let left: Duration = s
                    .coverage
                    .gaps(bounds.horizon, bounds.target)
                    .into_iter()
                    .map(|(start, end)| end - start)
                    .sum();
                (s.coverage.prefix(), std::cmp::Reverse(left))
            })
        })
        .collect();
    let mut queues: Vec<VecDeque<Work>> = queues.into_values().collect();
    queues.sort_by_cached_key(|q| q.iter().filter_map(|w| behind[w.stream]).min());
    // Windows per stream: those queued now, and (counted by the thieves) those split off later.
    let mut windows: Vec<AtomicUsize> = (0..streams.len()).map(|_| AtomicUsize::new(0)).collect();
    for w in queues.iter().flatten() {
        *windows[w.stream].get_mut() += 1;
    }
    let windows: Arc<[AtomicUsize]> = windows.into();
    let (mut workers, mut finished) = start_chains(
        queues,
        ports,
        streams,
        config,
        deadline,
        Arc::clone(&windows),
    );
    let mut batch = Vec::with_capacity(DONE_BATCH);
    let checkpoints = ports.checkpoints.as_ref();
    while finished.recv_many(&mut batch, DONE_BATCH).await > 0 {
        let mut due = HashSet::new();
        let mut over = Vec::new();
        for done in batch.drain(..) {
            let i = done.stream;
            let Ok(state) = states[i].as_mut() else {
                continue;
            };
            state.windows_done += 1;
            // Every window a thief split off was counted before its owner left the board, so
            // before the owner's or the thief's window could be reported done.
            let outstanding = windows[i]
                .load(Ordering::SeqCst)
                .saturating_sub(state.windows_done);
            let since = *state
                .working_since
                .get_or_insert_with(std::time::Instant::now);
            state.record(done, bounds.sweep_limit);
            progress(&state.report);
            if outstanding == 0 {
                over.push(i);
            } else if state.advanced_since_save()
                && state.last_saved.max(since).elapsed() >= config.checkpoint_every
            {
                due.insert(i);
            }
        }
        // Streams with nothing left are finished now: one save, and their memory given back.
        let finishing = over.into_iter().filter_map(|i| {
            let state = std::mem::replace(&mut states[i], Err(StreamReport::default())).ok()?;
            Some(async move { (i, finish_stream(checkpoints, state, bounds.target).await) })
        });
        let reports: Vec<(usize, StreamReport)> = stream::iter(finishing)
            .buffer_unordered(CHECKPOINT_CALLS_AT_ONCE)
            .collect()
            .await;
        for (i, report) in reports {
            states[i] = Err(report);
        }
        if !due.is_empty() {
            let saves = states
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| due.contains(i))
                .filter_map(|(_, s)| s.as_mut().ok())
                .map(|state| save(ports.checkpoints.as_ref(), state, false));
            stream::iter(saves)
                .buffer_unordered(CHECKPOINT_CALLS_AT_ONCE)
                .collect::<()>()
                .await;
        }
    }
    while let Some(joined) = workers.join_next().await {
        log_panic(joined);
    }

    let streams = stream::iter(states.into_iter().map(|state| async move {
        match state {
            Ok(state) => finish_stream(checkpoints, state, bounds.target).await,
            Err(not_loaded) => not_loaded,
        }
    }))
    .buffered(CHECKPOINT_CALLS_AT_ONCE)
    .collect()
    .await;
    Ok(RunReport {
        target: Some(bounds.target),
        streams,
    })
}

/// Checkpoint loads and saves in flight at once.
const CHECKPOINT_CALLS_AT_ONCE: usize = 32;

/// Finished windows recorded together (their due checkpoints then saved together).
const DONE_BATCH: usize = 64;

/// A run's times, all from its `now`.
#[derive(Debug, Clone, Copy)]
struct RunBounds {
    now: DateTime<Utc>,
    /// Collect up to here (`now − safety lag`).
    target: DateTime<Utc>,
    /// Nothing older is read (`now − backfill`).
    horizon: DateTime<Utc>,
    /// Read at least the sweep age ago, when sweeps are on.
    sweep_limit: Option<DateTime<Utc>>,
}

impl RunBounds {
    /// Refuses a configuration the run cannot work with (the user-facing bounds are
    /// [`CollectConfig::validate`]'s; these are what the algorithm itself needs).
    fn new(config: &CollectConfig, now: DateTime<Utc>) -> Result<Self, Error> {
        if !(1..=50).contains(&config.page_size) {
            return Err(Error::invalid(
                "page size",
                config.page_size.to_string(),
                "must be 1 to 50",
            ));
        }
        if config.requests_per_second <= 0.0 || config.chains_per_region == 0 {
            return Err(Error::invalid(
                "rate",
                config.requests_per_second.to_string(),
                "rate and chains must be positive",
            ));
        }
        if config.max_overlap < config.overlap {
            return Err(Error::invalid(
                "max overlap",
                format!("{} min", config.max_overlap.num_minutes()),
                format!(
                    "must be at least the overlap ({} min)",
                    config.overlap.num_minutes()
                ),
            ));
        }
        // Window boundaries are whole microseconds: a window's ends travel as decimal seconds
        // and come back at microsecond precision, and ends finer than that can round past each
        // other.
        let now = now.duration_trunc(Duration::microseconds(1)).unwrap_or(now);
        Ok(Self {
            now,
            target: now - config.safety_lag,
            horizon: now - config.backfill,
            sweep_limit: config.sweep_age.map(|age| now - age),
        })
    }
}

/// One stream's plan: its state for the run and its windows (re-scan of what is complete but
/// not yet settled, the gaps, the sweep), oldest first. `Ok(Err(report))` when its checkpoint
/// cannot be loaded: that stream is skipped and says why, the others go on.
async fn plan_stream(
    checkpoints: &dyn CheckpointStore,
    i: usize,
    spec: &StreamSpec,
    wanted: usize,
    config: &CollectConfig,
    bounds: &RunBounds,
) -> Result<Result<(StreamState, Vec<Work>), StreamReport>, Error> {
    let RunBounds {
        now,
        target,
        horizon,
        sweep_limit,
    } = *bounds;
    let mut report = StreamReport {
        stream: spec.key.to_string(),
        ..Default::default()
    };
    let checkpoint = match checkpoints.load(&spec.key).await {
        Ok(cp) => cp.unwrap_or_else(|| Checkpoint::new(spec.key.clone(), now)),
        Err(e) => {
            tracing::warn!(stream = %spec.key, error = %e, "checkpoint not loaded; stream skipped");
            report.error = Some(format!("checkpoint not loaded: {e}"));
            return Ok(Err(report));
        }
    };
    let p999 = checkpoint.stats.lateness_p999();
    if p999.is_some_and(|l| l > config.max_overlap) {
        return Err(Error::invalid(
            "max overlap",
            format!("{} min", config.max_overlap.num_minutes()),
            format!(
                "is below the p99.9 lateness observed on {} (over {} min): events that late \
                 would be found only by the sweep; raise it",
                spec.key,
                p999.map_or(0, |l| l.num_minutes())
            ),
        ));
    }
    let overlap = widened_overlap(&checkpoint.stats, config.overlap, config.max_overlap);
    if overlap > config.overlap {
        tracing::info!(stream = %spec.key, overlap_minutes = overlap.num_minutes(), "overlap widened to observed lateness");
    }
    report.overlap_minutes = overlap.num_minutes();
    let stored_prefix = checkpoint.complete_up_to;
    let mut coverage = Coverage::new(stored_prefix, &checkpoint.islands);
    coverage.floor(horizon);
    // Saved islands were clipped to what their run had settled, so they are settled too.
    let stored_settled = checkpoint.settled(overlap);
    let mut settled = Coverage::new(stored_settled, &checkpoint.islands);
    settled.floor(horizon);
    let mut ranges = Vec::new();
    if let (Some(p), Some(s)) = (coverage.prefix(), settled.prefix()) {
        // Re-scan what could still receive late events: everything complete but not yet
        // settled, however many runs ago a re-scan was cut or failed.
        let rescan_start = (s + Duration::microseconds(1)).max(horizon);
        if rescan_start <= p.min(target) {
            ranges.push((rescan_start, p.min(target), Kind::Rescan));
        }
    }
    ranges.extend(
        coverage
            .gaps(horizon, target)
            .into_iter()
            .map(|(s, e)| (s, e, Kind::Gap)),
    );
    // Swept: read at least the sweep age after it happened. A stream from before sweeps
    // existed starts with the last two sweep ages to do.
    let stored_swept = match (checkpoint.swept_up_to, stored_prefix, config.sweep_age) {
        (Some(s), _, _) => Some(s),
        (None, Some(_), Some(age)) => Some(now - age - age),
        _ => None,
    };
    let mut swept = Coverage::new(stored_swept.min(settled.prefix()), &[]);
    swept.floor(horizon);
    if let (Some(sw), Some(s), Some(limit)) = (swept.prefix(), settled.prefix(), sweep_limit) {
        let start = (sw + Duration::microseconds(1)).max(horizon);
        let end = s.min(limit).min(target);
        if start <= end {
            ranges.push((start, end, Kind::Sweep));
        }
    }
    let work = cut_windows(i, &ranges, wanted, config)?;
    report.complete_up_to = coverage.prefix();
    let at_start = (coverage.prefix(), settled.prefix().min(coverage.prefix()));
    let last_read = checkpoint.last_run_at.or(checkpoint.collected_at);
    let lateness_at_load = checkpoint.stats.lateness.clone();
    let state = StreamState {
        spec: spec.clone(),
        checkpoint,
        coverage,
        settled,
        swept,
        overlap,
        settle_limit: now - overlap,
        island_limit: target - overlap,
        last_read,
        lateness_at_load,
        report,
        saved_counts: StreamReport::default(),
        last_saved_prefix: stored_prefix,
        last_saved_settled: stored_settled,
        checkpoint_at_start: at_start,
        last_saved: std::time::Instant::now(),
        windows_done: 0,
        working_since: None,
        run_started: now,
    };
    Ok(Ok((state, work)))
}

/// Cuts stream `i`'s ranges into `wanted` windows each, of equal length, so chains start at
/// once (idle chains then split busy windows by what their first pages show); fewer when that
/// would make them shorter than [`MIN_INITIAL_WINDOW`], more when longer than the configured
/// window. Ends in whole microseconds as every boundary (see `steal`). Every window costs a
/// request even when empty, so no window is left over from rounding: an hour and a few seconds
/// is one window, not an hour's and a few seconds'.
fn cut_windows(
    i: usize,
    ranges: &[(DateTime<Utc>, DateTime<Utc>, Kind)],
    wanted: usize,
    config: &CollectConfig,
) -> Result<Vec<Work>, Error> {
    let micros = |d: Duration| i128::from(d.num_microseconds().unwrap_or(i64::MAX).max(1));
    let mut work = Vec::new();
    for &(start, end, kind) in ranges {
        // Microseconds in [start, end], both ends included.
        let length = micros(end - start) + 1;
        let window = micros(config.window);
        let at_most_window = (length + window - 1) / window;
        let at_least_min = (length / micros(MIN_INITIAL_WINDOW)).max(1);
        let k = (wanted.max(1) as i128)
            .min(at_least_min)
            .max(at_most_window);
        let mut s = start;
        for j in 1..=k {
            let e = if j == k {
                end
            } else {
                // Less than `length`, itself at most i64::MAX + 1 µs: the offset fits an i64.
                start + Duration::microseconds((length * j / k) as i64 - 1)
            };
            work.push(Work {
                stream: i,
                window: TimeWindow::new(s, e)?,
                kind,
            });
            s = e + Duration::microseconds(1);
        }
    }
    Ok(work)
}

/// The shortest window a range is first cut into. Every window costs at least one request even
/// when it holds no event, and an hourly run's ranges are about an hour (the re-scan, the new
/// hour, the sweep's share): shorter windows would multiply the requests of a thousand quiet
/// accounts, while a busy window is split by idle chains anyway.
const MIN_INITIAL_WINDOW: Duration = Duration::hours(1);

/// Starts `chains_per_region` page chains per account and region, sharing that region's queue
/// and one pace, for [`CollectConfig::regions_at_once`] account-regions at a time in
/// the order given; each finished window comes back on the returned channel, which closes
/// when every chain has stopped.
fn start_chains(
    queues: Vec<VecDeque<Work>>,
    ports: &Ports,
    streams: &[StreamSpec],
    config: &CollectConfig,
    deadline: Arc<dyn Deadline>,
    windows: Arc<[AtomicUsize]>,
) -> (tokio::task::JoinSet<()>, mpsc::Receiver<Done>) {
    let failed: Arc<Mutex<HashSet<usize>>> = Arc::new(Mutex::new(HashSet::new()));
    let (tx, rx) = mpsc::channel::<Done>(64);
    let mut workers = tokio::task::JoinSet::new();
    let specs: Arc<[StreamSpec]> = streams.into();
    let shared_config = Arc::new(config.clone());
    let ports = ports.clone();
    let at_once = Arc::new(tokio::sync::Semaphore::new(config.regions_at_once.max(1)));
    let pages = Arc::new(tokio::sync::Semaphore::new(config.pages_at_once.max(1)));
    // One task hands out the account-regions: each one's chains start when a place is free,
    // and the place is given back when its last chain stops.
    workers.spawn(async move {
        let mut chains = tokio::task::JoinSet::new();
        for queue in queues {
            let place = Arc::clone(&at_once)
                .acquire_owned()
                .await
                .expect("never closed");
            // Chains that stopped meanwhile are joined, so their memory is given back.
            while let Some(joined) = chains.try_join_next() {
                log_panic(joined);
            }
            let place = Arc::new(place);
            let pace = Arc::new(Pace::new(shared_config.requests_per_second));
            let queue = Arc::new(Mutex::new(queue));
            let board: Board = Arc::new(Mutex::new(Vec::new()));
            for _ in 0..shared_config.chains_per_region {
                let ctx = Chain {
                    queue: Arc::clone(&queue),
                    board: Arc::clone(&board),
                    pace: Arc::clone(&pace),
                    pages: Arc::clone(&pages),
                    failed: Arc::clone(&failed),
                    tx: tx.clone(),
                    ports: ports.clone(),
                    specs: Arc::clone(&specs),
                    config: Arc::clone(&shared_config),
                    deadline: Arc::clone(&deadline),
                    windows: Arc::clone(&windows),
                };
                let place = Arc::clone(&place);
                chains.spawn(async move {
                    ctx.run().await;
                    drop(place);
                });
            }
        }
        drop(tx);
        while let Some(joined) = chains.join_next().await {
            log_panic(joined);
        }
    });
    (workers, rx)
}

fn log_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        tracing::error!(error = %e, "page chain panicked");
    }
}

/// The end of a stream's run: the stall check, the last save, the report.
async fn finish_stream(
    checkpoints: &dyn CheckpointStore,
    mut state: StreamState,
    target: DateTime<Utc>,
) -> StreamReport {
    // Caught up: complete to the target, and the re-scan for late events finished.
    let caught_up = |state: &StreamState| {
        state.coverage.prefix().is_some_and(|p| p >= target)
            && state
                .settled_prefix()
                .is_some_and(|s| s >= state.settle_limit.min(target))
    };
    // A stream that neither catches up nor advances, run after run, says why.
    let advanced = state.coverage.prefix() != state.checkpoint_at_start.0
        || state.settled_prefix() != state.checkpoint_at_start.1;
    state.report.stalled_runs = if caught_up(&state) || advanced {
        0
    } else {
        state.checkpoint.stats.stalled_runs + 1
    };
    if state.report.stalled_runs >= STALL_RUNS && state.report.error.is_none() {
        let reason = stall_reason(&state.report);
        tracing::error!(stream = %state.spec.key, runs = state.report.stalled_runs, %reason, "stream makes no progress");
        state.report.error = Some(format!(
            "no progress in {} runs: {reason}",
            state.report.stalled_runs
        ));
    }
    save(checkpoints, &mut state, true).await;
    state.report.complete_up_to = state.coverage.prefix();
    state.report.caught_up = caught_up(&state);
    state.report
}

/// Runs in a row without progress after which a stream is an error.
pub const STALL_RUNS: u64 = 3;

/// Why a run made no progress, from what it did.
fn stall_reason(r: &StreamReport) -> String {
    if r.windows_cut > 0 {
        format!(
            "every run is cut by its deadline before it completes a window ({} requests and {} \
             records this run): more events share one instant than a run can page through; give \
             runs more time (--max-runtime, the function's timeout)",
            r.requests, r.records
        )
    } else if r.throttled > 0 && r.windows == 0 {
        format!(
            "throttled ({} times this run) before any window completed: another caller is using \
             the account's LookupEvents rate",
            r.throttled
        )
    } else {
        format!(
            "{} windows completed, none advanced the checkpoint ({} requests this run)",
            r.windows, r.requests
        )
    }
}

impl StreamState {
    /// Records a finished window: its counts, and the part of it now stored (`[from, end]`,
    /// read at or after this run's start) in the coverages it adds to.
    fn record(&mut self, done: Done, sweep_limit: Option<DateTime<Utc>>) {
        add_counts(&mut self.report, &done.counts);
        let read = match done.outcome {
            Outcome::Complete(from) => {
                self.report.windows += 1;
                Some(from)
            }
            Outcome::Cut(oldest) => {
                self.report.windows_cut += 1;
                oldest.map(|t| t + Duration::microseconds(1))
            }
            Outcome::Failed(e) => {
                tracing::warn!(stream = %self.spec.key, error = %e, "stream failed");
                if self.report.error.is_none() {
                    self.report.error = Some(e.to_string());
                }
                None
            }
        };
        if let Some(from) = read {
            let end = done.window.end();
            if done.kind == Kind::Gap {
                self.coverage.add(from, end);
            }
            self.settled.add(from, end.min(self.settle_limit));
            if let Some(limit) = sweep_limit {
                self.swept.add(from, end.min(limit));
            }
        }
        self.note_lateness(done.kind, done.counts.inserted, &done.late_times);
        self.report.complete_up_to = self.coverage.prefix();
    }

    /// Whether the complete or settled prefix moved since the last save.
    fn advanced_since_save(&self) -> bool {
        self.coverage.prefix() != self.last_saved_prefix
            || self.settled_prefix() != self.last_saved_settled
    }

    /// Settled up to here (never past complete).
    fn settled_prefix(&self) -> Option<DateTime<Utc>> {
        self.settled.prefix().min(self.coverage.prefix())
    }

    /// Swept up to here (never past settled).
    fn swept_prefix(&self) -> Option<DateTime<Utc>> {
        self.swept.prefix().min(self.settled_prefix())
    }

    /// Counts how late this window's new events were: on time for a first read; for a
    /// re-scan, since the stream was last read, at most the overlap (the time was read before,
    /// but maybe not by the last run); for a sweep, beyond the overlap.
    fn note_lateness(&mut self, kind: Kind, inserted: u64, late_times: &[DateTime<Utc>]) {
        let h = &mut self.checkpoint.stats;
        match kind {
            Kind::Gap => h.add_lateness(Duration::zero(), inserted),
            Kind::Rescan => {
                self.report.late_found += late_times.len() as u64;
                for t in late_times {
                    let late = self.last_read.map_or(Duration::zero(), |r| r - *t);
                    h.add_lateness(late.clamp(Duration::zero(), self.overlap), 1);
                }
            }
            Kind::Sweep => {
                self.report.late_beyond_overlap += late_times.len() as u64;
                for t in late_times {
                    tracing::warn!(stream = %self.spec.key, event_time = %t, overlap_minutes = self.overlap.num_minutes(), "event delivered later than the overlap, found by the sweep");
                    h.add_lateness(self.overlap, 1);
                }
            }
        }
    }
}

/// The overlap for a stream: the configured one, widened to half again the observed p99.9
/// lateness once that reaches three quarters of it, and at most `max`.
pub fn widened_overlap(
    stats: &iat_core::ports::StreamStats,
    configured: Duration,
    max: Duration,
) -> Duration {
    match stats.lateness_p999() {
        Some(l) if l * 4 >= configured * 3 => configured.max(l + l / 2).min(max),
        _ => configured,
    }
}

fn add_counts(into: &mut StreamReport, from: &StreamReport) {
    into.first_request = match (into.first_request, from.first_request) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.last_request = into.last_request.max(from.last_request);
    into.requests += from.requests;
    into.throttled += from.throttled;
    into.retried += from.retried;
    into.records += from.records;
    into.inserted += from.inserted;
    into.duplicates += from.duplicates;
    into.filtered += from.filtered;
    into.malformed += from.malformed;
}

/// How many times a save is retried after a concurrent change before the stream reports it.
const SAVE_ATTEMPTS: usize = 3;

/// Saves a stream's checkpoint; on a concurrent change, merges with what is stored and retries.
/// Islands newer than `island_limit` are not kept: late events may still arrive there. A save
/// that cannot be made is the stream's error for this run, never dropped quietly.
async fn save(checkpoints: &dyn CheckpointStore, state: &mut StreamState, end_of_run: bool) {
    for attempt in 1..=SAVE_ATTEMPTS {
        let mut coverage = state.coverage.clone();
        coverage.clip_islands(state.island_limit);
        let mut cp = state.checkpoint.clone();
        if cp.complete_up_to != coverage.prefix() || cp.collected_at.is_none() {
            cp.collected_at = Some(state.run_started);
        }
        cp.complete_up_to = coverage.prefix();
        cp.settled_up_to = state.settled_prefix();
        cp.swept_up_to = state.swept_prefix();
        cp.last_run_at = Some(state.run_started);
        cp.islands = coverage.islands();
        cp.updated_at = chrono::Utc::now();
        // Totals grow as pages are stored, so a run killed midway still counts what it stored.
        let r = &state.report;
        let done = &state.saved_counts;
        cp.stats.events_stored += r.inserted - done.inserted;
        cp.stats.duplicates += r.duplicates - done.duplicates;
        cp.stats.filtered += r.filtered - done.filtered;
        cp.stats.late_found += r.late_found - done.late_found;
        cp.stats.late_beyond_overlap += r.late_beyond_overlap - done.late_beyond_overlap;
        cp.stats.overlap_minutes = state.overlap.num_minutes();
        if end_of_run {
            state.report.lateness_p999_minutes = cp.stats.lateness_p999().map(|l| l.num_minutes());
            cp.stats.runs += 1;
            cp.stats.stalled_runs = state.report.stalled_runs;
            cp.stats.errors += u64::from(state.report.error.is_some());
            cp.last_error = state.report.error.clone();
        }
        match checkpoints.save(&cp).await {
            Ok(version) => {
                cp.version = version;
                state.checkpoint = cp;
                state.saved_counts.inserted = state.report.inserted;
                state.saved_counts.duplicates = state.report.duplicates;
                state.saved_counts.filtered = state.report.filtered;
                state.saved_counts.late_found = state.report.late_found;
                state.saved_counts.late_beyond_overlap = state.report.late_beyond_overlap;
                state.last_saved_prefix = coverage.prefix();
                state.last_saved_settled = state.settled_prefix();
                state.last_saved = std::time::Instant::now();
                return;
            }
            Err(Error::CheckpointConflict { .. }) if attempt < SAVE_ATTEMPTS => {
                match checkpoints.load(&state.spec.key).await {
                    Ok(Some(stored)) => {
                        // Another run advanced this stream too: keep the union of both.
                        for island in &stored.islands {
                            state.coverage.add(island.start(), island.end());
                            state.settled.add(island.start(), island.end());
                        }
                        if let Some(p) = stored.complete_up_to {
                            state.coverage.floor(p + Duration::microseconds(1));
                        }
                        if let Some(s) = stored.settled_up_to {
                            state.settled.floor(s + Duration::microseconds(1));
                        }
                        if let Some(s) = stored.swept_up_to {
                            state.swept.floor(s + Duration::microseconds(1));
                        }
                        // This run's lateness counts go on top of what the other run saved.
                        let mine = std::mem::take(&mut state.checkpoint.stats.lateness);
                        let mut merged = stored.stats.lateness.clone();
                        merged.resize(mine.len().max(merged.len()), 0);
                        let theirs_before = state.lateness_at_load.clone();
                        for (i, m) in merged.iter_mut().enumerate() {
                            let added = mine.get(i).copied().unwrap_or(0)
                                - theirs_before.get(i).copied().unwrap_or(0);
                            *m += added;
                        }
                        state.lateness_at_load = stored.stats.lateness.clone();
                        state.checkpoint = stored;
                        state.checkpoint.stats.lateness = merged;
                    }
                    Ok(None) => state.checkpoint.version = 0,
                    Err(e) => {
                        tracing::error!(stream = %state.spec.key, error = %e, "checkpoint reload failed");
                        state.report.error.get_or_insert_with(|| {
                            format!(
                                "checkpoint not saved: reloading it after a conflict failed: {e}"
                            )
                        });
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::error!(stream = %state.spec.key, error = %e, attempt, "checkpoint save failed");
                state
                    .report
                    .error
                    .get_or_insert_with(|| format!("checkpoint not saved: {e}"));
                return;
            }
        }
    }
}

/// A window being paged, shared so that an idle chain can take over its older part.
struct Active {
    stream: usize,
    kind: Kind,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Oldest event stored so far, and how many were seen: the density that says whether the
    /// rest is worth splitting.
    oldest: Option<DateTime<Utc>>,
    seen: u64,
    /// A thief took `[.., stop_at]`: stop once past it.
    stop_at: Option<DateTime<Utc>>,
}

/// The windows being paged in one account and region.
type Board = Arc<Mutex<Vec<Arc<Mutex<Active>>>>>;

/// Split only when the older part is estimated to hold at least this many pages.
const MIN_STEAL_PAGES: f64 = 1.5;

/// One page chain worker of an account and region.
struct Chain {
    queue: Arc<Mutex<VecDeque<Work>>>,
    board: Board,
    /// The account and region's request pace, shared by its chains.
    pace: Arc<Pace>,
    /// [`CollectConfig::pages_at_once`]: held from a page's request until it is stored.
    pages: Arc<tokio::sync::Semaphore>,
    failed: Arc<Mutex<HashSet<usize>>>,
    tx: mpsc::Sender<Done>,
    ports: Ports,
    specs: Arc<[StreamSpec]>,
    config: Arc<CollectConfig>,
    deadline: Arc<dyn Deadline>,
    /// Windows per stream, which a thief's split adds to.
    windows: Arc<[AtomicUsize]>,
}

impl Chain {
    async fn run(self) {
        loop {
            // The deadline is checked before each request, in `window`.
            let next = self
                .queue
                .lock()
                .unwrap()
                .pop_front()
                .or_else(|| self.steal());
            let Some(work) = next else {
                if self.board.lock().unwrap().is_empty() {
                    return;
                }
                // Others are still paging; one of them may become worth splitting.
                tokio::time::sleep(StdDuration::from_millis(50)).await;
                continue;
            };
            if self.failed.lock().unwrap().contains(&work.stream) {
                continue;
            }
            let active = Arc::new(Mutex::new(Active {
                stream: work.stream,
                kind: work.kind,
                start: work.window.start(),
                end: work.window.end(),
                oldest: None,
                seen: 0,
                stop_at: None,
            }));
            self.board.lock().unwrap().push(Arc::clone(&active));
            let mut counts = StreamReport::default();
            let mut late_times = Vec::new();
            let outcome = self
                .window(&work, &active, &mut counts, &mut late_times)
                .await;
            self.board
                .lock()
                .unwrap()
                .retain(|a| !Arc::ptr_eq(a, &active));
            if matches!(outcome, Outcome::Failed(_)) {
                self.failed.lock().unwrap().insert(work.stream);
            }
            let cut = matches!(outcome, Outcome::Cut(_));
            let done = Done {
                stream: work.stream,
                window: work.window,
                kind: work.kind,
                outcome,
                counts,
                late_times,
            };
            if self.tx.send(done).await.is_err() || cut {
                // Out of time: leave the rest of the queue for the next run.
                return;
            }
        }
    }

    /// Takes the older half of the busiest window still being paged, if it is worth a chain.
    fn steal(&self) -> Option<Work> {
        let board = self.board.lock().unwrap();
        let failed = self.failed.lock().unwrap();
        let mut best: Option<(f64, &Arc<Mutex<Active>>)> = None;
        for entry in board.iter() {
            let a = entry.lock().unwrap();
            let Some(oldest) = a.oldest else { continue };
            let low = a.stop_at.unwrap_or(a.start);
            if oldest <= low || failed.contains(&a.stream) {
                continue;
            }
            let seen_span = (a.end - oldest).num_milliseconds().max(1) as f64;
            let left_span = (oldest - low).num_milliseconds() as f64;
            let estimate = a.seen as f64 * left_span / seen_span;
            if estimate >= MIN_STEAL_PAGES * f64::from(self.config.page_size)
                && best.is_none_or(|(e, _)| estimate > e)
            {
                best = Some((estimate, entry));
            }
        }
        let (_, entry) = best?;
        let mut a = entry.lock().unwrap();
        let low = a.stop_at.unwrap_or(a.start);
        let oldest = a.oldest?;
        // Whole microseconds, like every other boundary: a window's times travel as decimal
        // seconds and are read back at microsecond precision, and a half-microsecond split left
        // windows whose ends rounded past each other ("StartTime is after EndTime").
        let half = (oldest - low).num_microseconds().unwrap_or(i64::MAX) / 2;
        let split = low + Duration::microseconds(half);
        // The thief takes [low, split], the split point included; the owner stops once it has
        // stored events older than the split, so no instant is left to neither. The owner is
        // told only once the thief's window exists.
        let window = TimeWindow::new(low, split).ok()?;
        a.stop_at = Some(split);
        // Counted while the owner is on the board (its `Done` not yet sent).
        self.windows[a.stream].fetch_add(1, Ordering::SeqCst);
        Some(Work {
            stream: a.stream,
            window,
            kind: a.kind,
        })
    }

    async fn window(
        &self,
        work: &Work,
        active: &Mutex<Active>,
        counts: &mut StreamReport,
        late_times: &mut Vec<DateTime<Utc>>,
    ) -> Outcome {
        let spec = &self.specs[work.stream];
        let query = match LookupQuery::new(
            spec.key.account.clone(),
            spec.key.region.clone(),
            spec.event_source.clone(),
            work.window,
        )
        .with_max_results(self.config.page_size)
        {
            Ok(q) => q,
            Err(e) => return Outcome::Failed(e),
        };
        let mut token: Option<PageToken> = None;
        let mut oldest: Option<DateTime<Utc>> = None;
        let mut failures = 0u32;
        loop {
            if self.deadline.remaining() < self.config.stop_margin {
                // Everything newer than the oldest event seen is stored, except what was handed
                // over to a thief: that is the thief's to claim.
                let handed_over = active.lock().unwrap().stop_at;
                return Outcome::Cut(oldest.map(|o| handed_over.map_or(o, |h| o.max(h))));
            }
            let slot = self.pace.until_ready().await;
            // Until the page is stored (the end of this turn of the loop); a wait before a retry
            // gives it back.
            let in_hand = self.pages.acquire().await.expect("never closed");
            counts.requests += 1;
            let sent = Utc::now();
            counts.first_request.get_or_insert(sent);
            counts.last_request = Some(sent);
            let page = match self.ports.source.lookup(&query, token.as_ref()).await {
                Ok(page) => {
                    // A page the client had to retry was pushed back on too.
                    if page.retries == 0 {
                        self.pace.answered();
                    } else {
                        self.pace.pushed_back(slot, page.retries);
                    }
                    page
                }
                Err(Error::Throttled { .. }) => {
                    self.pace.pushed_back(slot, 0);
                    // The service answered: whatever failed before was transient.
                    failures = 0;
                    counts.throttled += 1;
                    drop(in_hand);
                    tokio::time::sleep(self.config.throttle_pause).await;
                    continue;
                }
                Err(e @ Error::Unavailable { .. }) if failures < self.config.transient_retries => {
                    self.pace.pushed_back(slot, 0);
                    failures += 1;
                    counts.retried += 1;
                    tracing::debug!(stream = %spec.key, error = %e, attempt = failures, "retrying page");
                    drop(in_hand);
                    tokio::time::sleep(
                        self.config.throttle_pause * 2u32.saturating_pow(failures - 1),
                    )
                    .await;
                    continue;
                }
                Err(e) => return Outcome::Failed(e),
            };
            failures = 0;
            // Faults the client absorbed count as retries too.
            counts.retried += u64::from(page.retries);
            // Events at or before a thief's split are the thief's to store: storing them here too
            // would race its writes of the same events.
            let handed_over = active.lock().unwrap().stop_at;
            match self
                .store(
                    &spec.key,
                    work.window,
                    page.records,
                    handed_over,
                    counts,
                    &mut oldest,
                )
                .await
            {
                Ok(new_times) if work.kind != Kind::Gap => late_times.extend(new_times),
                Ok(_) => {}
                Err(e) => return Outcome::Failed(e),
            }
            let stop_at = {
                let mut a = active.lock().unwrap();
                a.oldest = oldest;
                a.seen = counts.records;
                a.stop_at
            };
            // A chain claims only what it stored: below a split, the thief's own outcome
            // claims the older part (and a thief that fails claims nothing).
            let own_start =
                stop_at.map_or(work.window.start(), |stop| stop + Duration::microseconds(1));
            match page.next {
                None => return Outcome::Complete(own_start),
                Some(_) if stop_at.is_some() && oldest.is_some_and(|o| o < own_start) => {
                    return Outcome::Complete(own_start);
                }
                Some(next) => token = Some(next),
            }
        }
    }

    async fn store(
        &self,
        stream: &StreamKey,
        window: TimeWindow,
        records: Vec<String>,
        handed_over: Option<DateTime<Utc>>,
        counts: &mut StreamReport,
        oldest: &mut Option<DateTime<Utc>>,
    ) -> Result<Vec<DateTime<Utc>>, Error> {
        let mut events = Vec::with_capacity(records.len());
        let mut rejects = Vec::new();
        for raw in records {
            counts.records += 1;
            let origin = || format!("{stream} {window}");
            let (n, noise) = match triage(raw, &self.config.limits, &self.config.filter, origin) {
                Triage::Keep(n) => (n, false),
                Triage::Noise(n, _) => (n, true),
                Triage::Refused { quarantined, .. } => {
                    counts.malformed += 1;
                    tracing::warn!(%stream, event_id = quarantined.event_id.as_deref().unwrap_or("-"), error = %quarantined.reason, "record skipped");
                    rejects.push(quarantined);
                    continue;
                }
            };
            let time = n.event.time;
            *oldest = Some(oldest.map_or(time, |o| o.min(time)));
            if handed_over.is_some_and(|h| time <= h) {
                // Handed to the chain that took over the older part of the window.
                continue;
            }
            if noise {
                counts.filtered += 1;
            } else {
                events.push(n.event);
            }
        }
        if !rejects.is_empty() {
            self.ports.store.quarantine(&rejects).await?;
        }
        let out = self.ports.store.put(&events).await?;
        counts.inserted += out.inserted as u64;
        counts.duplicates += out.duplicates as u64;
        Ok(out.inserted_times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(h)
    }

    /// The windows' (start, end) for one range, checked to tile it: contiguous, in order, the
    /// first at its start and the last at its end.
    fn cut(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        wanted: usize,
        config: &CollectConfig,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let work = cut_windows(7, &[(start, end, Kind::Gap)], wanted, config).unwrap();
        let windows: Vec<_> = work
            .iter()
            .map(|w| {
                assert_eq!((w.stream, w.kind), (7, Kind::Gap));
                (w.window.start(), w.window.end())
            })
            .collect();
        assert_eq!(windows.first().unwrap().0, start);
        assert_eq!(windows.last().unwrap().1, end);
        for pair in windows.windows(2) {
            assert_eq!(
                pair[0].1 + Duration::microseconds(1),
                pair[1].0,
                "{windows:?}"
            );
        }
        windows
    }

    #[test]
    fn a_backfill_is_cut_into_the_windows_wanted_of_equal_length() {
        let config = CollectConfig::default();
        let (start, end) = (at(0), at(90 * 24) - Duration::minutes(5));
        for wanted in [1, 2, 3, 4, 6] {
            let windows = cut(start, end, wanted, &config);
            // Not one more: the range's length need not divide evenly, and a window of the
            // few microseconds left over would cost a request of its own.
            assert_eq!(windows.len(), wanted);
            let lengths: Vec<_> = windows.iter().map(|(s, e)| *e - *s).collect();
            let (min, max) = (lengths.iter().min(), lengths.iter().max());
            assert!(*max.unwrap() - *min.unwrap() <= Duration::microseconds(1));
        }
    }

    #[test]
    fn an_hour_and_a_little_more_is_one_window() {
        let config = CollectConfig::default();
        let start = at(0);
        // An hourly run's new hour, when the schedule fired a few seconds late.
        let windows = cut(start, start + Duration::seconds(3_603), 6, &config);
        assert_eq!(windows.len(), 1);
        // Under an hour: one window too.
        assert_eq!(
            cut(start, start + Duration::minutes(20), 6, &config).len(),
            1
        );
        // Five hours: five windows of an hour, not six shorter ones.
        let windows = cut(start, at(5), 6, &config);
        assert_eq!(windows.len(), 5);
        assert!(
            windows
                .iter()
                .all(|(s, e)| *e - *s + Duration::microseconds(1) >= MIN_INITIAL_WINDOW)
        );
    }

    #[test]
    fn no_window_is_longer_than_the_configured_one() {
        let config = CollectConfig {
            window: Duration::hours(2),
            ..Default::default()
        };
        let windows = cut(at(0), at(5), 1, &config);
        assert_eq!(windows.len(), 3);
        assert!(windows.iter().all(|(s, e)| *e - *s < Duration::hours(2)));
        // A single instant is one window.
        assert_eq!(cut(at(0), at(0), 4, &config).len(), 1);
    }
}
