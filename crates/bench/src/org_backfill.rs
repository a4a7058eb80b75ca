//! `org.accounts_backfill_vs_floor`: a 90-day backfill of member accounts' Event history
//! through their reader roles, against the floor CloudTrail's limit sets.
//!
//! The decision to know: whether the tracker's backfill fan-out (a scheduled run hands the
//! accounts far behind to invocations of their own, three accounts each) holds CloudTrail's
//! pace for the goal's 200 accounts × 17 regions. The floor of a backfill is each
//! account-region's events at 100 a second (2 requests of 50 records), every account-region at
//! once. [`fan_out`] reads every handed-off group with a collector of its own, as its
//! invocation does, a few groups at a time (this machine has two cores; Lambda gives each its
//! own); [`benchmark`]'s sizes measure one invocation alone, for comparison. The collector is
//! the tracker function's (the member source, one AssumeRole per account, its in-flight cap,
//! the deployed function's defaults); the store keeps ids only, as moto cannot take thousands
//! of writes a second (DynamoDB's on-demand table limit is 40,000).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use iat_aws::{AwsSettings, MemberAccess, MemberEventSource, sdk_config};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{
    EventQuery, EventStore, MemoryCheckpointStore, PutOutcome, Quarantined, StoreStats,
};
use iat_core::{AccountId, ActivityEvent, DEFAULT_REGIONS, EventId, Region};
use iat_sim::lookup::{SimConfig, Simulator};
use iat_tracker::{CollectConfig, NoDeadline, Ports, StreamOptions, collect, streams};

use crate::Figure;

/// The collector's own account (the management account).
const HOME: &str = "123456789012";
/// Pages take a uniformly random time in this range, as CloudTrail's do.
const PAGE_LATENCY: (StdDuration, StdDuration) = (
    StdDuration::from_millis(200),
    StdDuration::from_millis(4000),
);

/// An event store that keeps each stored event's id only: a backfill of millions of events
/// in the memory of one machine; an id stored again is reported a duplicate, as DynamoDB's
/// conditional put reports it.
#[derive(Default)]
struct Ids {
    ids: Mutex<HashSet<EventId>>,
    quarantined: AtomicU64,
}

#[async_trait::async_trait]
impl EventStore for Ids {
    async fn put(&self, events: &[ActivityEvent]) -> iat_core::error::Result<PutOutcome> {
        let mut ids = self.ids.lock().expect("lock");
        let mut out = PutOutcome::default();
        for e in events {
            if ids.insert(e.id.clone()) {
                out.inserted += 1;
                out.inserted_times.push(e.time);
            } else {
                out.duplicates += 1;
            }
        }
        Ok(out)
    }
    async fn query(&self, _: &EventQuery) -> iat_core::error::Result<Vec<ActivityEvent>> {
        Ok(Vec::new())
    }
    async fn quarantine(&self, records: &[Quarantined]) -> iat_core::error::Result<()> {
        self.quarantined
            .fetch_add(records.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    async fn stats(&self) -> iat_core::error::Result<StoreStats> {
        Ok(StoreStats::default())
    }
}

/// One backfill of `accounts` (the collector's own and the rest members).
struct Run {
    accounts: usize,
    account_regions: usize,
    streams: usize,
    events: u64,
    wall_s: f64,
    floor_s: f64,
    cpu_s: f64,
    requests: u64,
    throttled: u64,
}

/// One size to measure: accounts (the collector's own and the rest members), each of their 17
/// regions holding `per_region` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Size {
    pub(crate) accounts: usize,
    pub(crate) per_region: usize,
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?}: expected ACCOUNTSxEVENTS, e.g. 3x24000 (events per account-region)");
        let (a, e) = s.split_once('x').ok_or_else(bad)?;
        let (accounts, per_region) = (
            a.trim().parse().map_err(|_| bad())?,
            e.trim().parse().map_err(|_| bad())?,
        );
        if accounts == 0 || per_region == 0 {
            return Err(bad());
        }
        Ok(Size {
            accounts,
            per_region,
        })
    }
}

/// The size the goal is stated for: 200 accounts × 17 regions.
const GOAL_ACCOUNTS: usize = 200;

pub(crate) fn benchmark(
    sizes: &[Size],
    fanout: Option<(Size, usize)>,
) -> anyhow::Result<Vec<Figure>> {
    if sizes.is_empty() && fanout.is_none() {
        bail!("--backfill-sizes takes at least one ACCOUNTSxEVENTS");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut runs = Vec::new();
    for size in sizes {
        let run = runtime.block_on(backfill(size.accounts, size.per_region))?;
        eprintln!(
            "org backfill: {} accounts, {} account-regions, {} events in {:.0} s (floor {:.0} s, ratio {:.2}), {:.0} CPU s, {} requests, {} throttled",
            run.accounts,
            run.account_regions,
            run.events,
            run.wall_s,
            run.floor_s,
            run.wall_s / run.floor_s,
            run.cpu_s,
            run.requests,
            run.throttled
        );
        runs.push(run);
    }
    let sizes_note: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{} accounts ({} account-regions, {} streams, {} events): {:.0} s for a {:.0} s floor = {:.2}, {:.0} CPU s, {} requests, {} throttled",
                r.accounts,
                r.account_regions,
                r.streams,
                r.events,
                r.wall_s,
                r.floor_s,
                r.wall_s / r.floor_s,
                r.cpu_s,
                r.requests,
                r.throttled
            )
        })
        .collect();
    if let Some((size, at_once)) = fanout {
        let f = runtime.block_on(fan_out(size, at_once))?;
        eprintln!("org backfill fan-out: {}", f.note);
        let mut f = f;
        if !sizes_note.is_empty() {
            f.note.push_str(&format!(
                ". One invocation alone, in the same run: {}",
                sizes_note.join("; ")
            ));
        }
        return Ok(vec![f]);
    }
    // The figure is the goal's size when it was measured, else the largest measured; every
    // size is in the note, the shards that held their floor among them.
    let figure = runs
        .iter()
        .find(|r| r.accounts == GOAL_ACCOUNTS)
        .or_else(|| runs.iter().max_by_key(|r| r.accounts))
        .expect("at least one run");
    Ok(vec![Figure {
        metric: "org.accounts_backfill_vs_floor",
        value: figure.wall_s / figure.floor_s,
        unit: "ratio",
        goal: "<= 1.1",
        note: format!(
            "a 90-day backfill in one tracker invocation, {} accounts x 17 regions: the collector as the tracker function runs it (member accounts through their reader roles, one AssumeRole each, at most {} LookupEvents in flight, its defaults: at most 2 requests/s (slower while throttled) and 8 chains per account-region) against the LookupEvents simulator at CloudTrail's limits (2 requests/s per account and region, pages of 50 taking 0.2-4 s), STS events spread over 89 days in every account-region, none lost (each generated id checked present; the store keeps ids only, so a duplicate is absorbed as DynamoDB's conditional put absorbs it); the floor is an account-region's events / 100 per s. Every size: {}",
            figure.accounts,
            iat_aws::MAX_LOOKUPS_IN_FLIGHT,
            sizes_note.join("; ")
        ),
    }])
}

fn member(i: usize) -> String {
    format!("{:012}", 420_000_000_000u64 + i as u64 * 11)
}

async fn backfill(accounts: usize, per_region: usize) -> anyhow::Result<Run> {
    let all: Vec<String> = std::iter::once(HOME.to_owned())
        .chain((1..accounts).map(member))
        .collect();
    let now = Utc::now();
    let (sim, events) = simulator(&all, per_region, now)?;
    let (addr, server): (SocketAddr, _) = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let regions = default_regions()?;
    let ticks = crate::tracker::clock_ticks();
    let cpu = || crate::tracker::cpu_seconds("/proc/self/stat", ticks).unwrap_or(0.0);
    let cpu_before = cpu();
    let started = Instant::now();
    let read = read_group(addr, &all, &regions, per_region, now).await?;
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu() - cpu_before;
    server.abort();
    Ok(Run {
        accounts,
        account_regions: all.len() * regions.len(),
        streams: read.streams,
        events,
        wall_s,
        floor_s: per_region as f64 / 100.0,
        cpu_s,
        requests: read.requests,
        throttled: read.throttled,
    })
}

fn default_regions() -> anyhow::Result<Vec<Region>> {
    Ok(DEFAULT_REGIONS
        .iter()
        .map(|r| Region::new(*r))
        .collect::<Result<_, _>>()?)
}

/// A simulator holding `per_region` STS events in each of `accounts`' 17 regions, evenly over
/// 89 days, the newest an hour before `now` (older than the safety lag); the events' ids are
/// `<account>-<region>-<i>`. Returns it and the events it holds.
fn simulator(
    accounts: &[String],
    per_region: usize,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<(Simulator, u64)> {
    let sim = Simulator::new(SimConfig {
        default_account: HOME.to_owned(),
        page_latency: PAGE_LATENCY,
        ..Default::default()
    });
    let newest = now - Duration::hours(1);
    let step = Duration::days(89).num_milliseconds() / per_region as i64;
    let mut events = 0u64;
    for account in accounts {
        for region in DEFAULT_REGIONS {
            for i in 0..per_region {
                let raw = RecordSpec::new(
                    &format!("{account}-{region}-{i}"),
                    newest - Duration::milliseconds(step * i as i64),
                )
                .name("sts.amazonaws.com", "AssumeRole")
                .place(account, region)
                .json();
                sim.add(&raw, Duration::minutes(1))
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                events += 1;
            }
        }
    }
    Ok((sim, events))
}

/// One handed-off group's invocation, measured from the start of its wave.
struct Group {
    wall_s: f64,
    requests: u64,
    throttled: u64,
}

/// The tracker's backfill fan-out at `size`: the accounts (the collector's own first) cut into
/// the groups a scheduled run hands off (`DEFAULT_ACCOUNTS_PER_INVOCATION`, in listed order),
/// each read by a collector of its own as its invocation reads it (its own member source, one
/// AssumeRole per account, its own in-flight cap). Lambda runs every group at once, each with
/// a CPU of its own; this machine has two cores, so the groups run `at_once` at a time, in
/// waves, each wave against a simulator holding its accounts' events (CloudTrail's limits are
/// per account and region, so one group's pace does not depend on another's). The fan-out's
/// time is its slowest group's, from the start of its wave; the scheduled run's hand-off (a
/// checkpoint read per account, a message per group) and the queue's delivery are not in it.
async fn fan_out(size: Size, at_once: usize) -> anyhow::Result<Figure> {
    let per = iat_lambda::tracker::DEFAULT_ACCOUNTS_PER_INVOCATION;
    let all: Vec<String> = std::iter::once(HOME.to_owned())
        .chain((1..size.accounts).map(member))
        .collect();
    let groups: Vec<Vec<String>> = all.chunks(per).map(<[String]>::to_vec).collect();
    let regions = default_regions()?;
    let ticks = crate::tracker::clock_ticks();
    let cpu = || crate::tracker::cpu_seconds("/proc/self/stat", ticks).unwrap_or(0.0);
    let mut done: Vec<Group> = Vec::new();
    let mut cpu_s = 0.0;
    let mut events_total = 0u64;
    let started_all = Instant::now();
    for wave in groups.chunks(at_once.max(1)) {
        let now = Utc::now();
        let wave_accounts: Vec<String> = wave.iter().flatten().cloned().collect();
        let (sim, _) = simulator(&wave_accounts, size.per_region, now)?;
        let (addr, server): (SocketAddr, _) =
            sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let cpu_before = cpu();
        let wave_start = Instant::now();
        // In one task, not spawned: the collector's future is not `Send` for every lifetime;
        // it spawns its own page chains, which use both cores.
        let reads = wave.iter().map(|group| {
            let regions = &regions;
            async move {
                let r = read_group(addr, group, regions, size.per_region, now).await;
                r.map(|read| {
                    (
                        Group {
                            wall_s: wave_start.elapsed().as_secs_f64(),
                            requests: read.requests,
                            throttled: read.throttled,
                        },
                        read.stored,
                    )
                })
            }
        });
        for joined in futures_util::future::join_all(reads).await {
            let (group, stored) = joined?;
            events_total += stored;
            done.push(group);
        }
        cpu_s += cpu() - cpu_before;
        // The server's task holds the simulator (its events): stop it before the next wave's.
        server.abort();
        drop(sim);
        let slowest = done.iter().map(|g| g.wall_s).fold(0.0, f64::max);
        eprintln!(
            "org backfill fan-out: {} of {} groups read, slowest {slowest:.0} s (floor {:.0} s), {:.0} s so far",
            done.len(),
            groups.len(),
            size.per_region as f64 / 100.0,
            started_all.elapsed().as_secs_f64()
        );
    }
    let floor_s = size.per_region as f64 / 100.0;
    let mut walls: Vec<f64> = done.iter().map(|g| g.wall_s).collect();
    walls.sort_by(f64::total_cmp);
    let slowest = *walls.last().expect("a group");
    let median = walls[walls.len() / 2];
    let requests: u64 = done.iter().map(|g| g.requests).sum();
    let throttled: u64 = done.iter().map(|g| g.throttled).sum();
    Ok(Figure {
        metric: "org.accounts_backfill_vs_floor",
        value: slowest / floor_s,
        unit: "ratio",
        goal: "<= 1.1",
        note: format!(
            "a 90-day backfill of {} accounts x 17 regions ({} events, {} an account-region of STS events over 89 days), handed off as the tracker's fan-out does: {} groups of {per} accounts, each read by the collector as its invocation runs it (member accounts through their reader roles, one AssumeRole each, at most {} LookupEvents in flight, at most 2 requests/s (slower while throttled) and 8 chains per account-region) against the LookupEvents simulator at CloudTrail's limits (2 requests/s per account and region, pages of 50 taking 0.2-4 s); every event stored once (each generated id checked). Lambda runs the groups at once, each on its own CPU; this machine (2 cores) ran {at_once} at a time, in waves, each against a simulator of its accounts, and the figure is the slowest group's time from the start of its wave ({slowest:.0} s; median {median:.0} s) against the floor of an account-region's events / 100 per s ({floor_s:.0} s). {requests} requests, {throttled} throttled, {cpu_s:.0} CPU s (collectors and simulator); the scheduled run's hand-off and the queue's delivery are not in the figure. The floor leaves out that an account's us-east-1 has three streams (IAM, sign-in and STS; the first two empty here) and three other regions a sign-in stream, each needing its own requests under its region's 2 a second",
            size.accounts,
            events_total,
            size.per_region,
            groups.len(),
            iat_aws::MAX_LOOKUPS_IN_FLIGHT,
        ),
    })
}

/// What one invocation's read did.
struct Read {
    streams: usize,
    requests: u64,
    throttled: u64,
    stored: u64,
}

/// One invocation reading `group`: its own member source and store, the tracker function's
/// defaults. Fails unless every stream caught up and every generated id of the group's
/// accounts was stored once and nothing quarantined (duplicates are absorbed by the store, as
/// by DynamoDB's conditional put, not counted here).
async fn read_group(
    addr: SocketAddr,
    group: &[String],
    regions: &[Region],
    per_region: usize,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Read> {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        ..Default::default()
    })
    .await
    .into_builder()
    .credentials_provider(
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(HOME, "secret", None, None, "bench"),
        ),
    )
    .build();
    let source = Arc::new(MemberEventSource::new(
        &config,
        AccountId::new(HOME)?,
        MemberAccess {
            role_name: "iat-member-reader".into(),
            external_id: None,
            session_name: "iat-tracker".into(),
        },
    ));
    let store = Arc::new(Ids::default());
    let ports = Ports {
        source,
        store: store.clone(),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
    };
    let ids: Vec<AccountId> = group.iter().map(AccountId::new).collect::<Result<_, _>>()?;
    let plan = streams(&ids, regions, &StreamOptions::default());
    let report = collect(
        &ports,
        &plan,
        &CollectConfig::default(),
        now,
        Arc::new(NoDeadline),
    )
    .await
    .context("the backfill")?;
    if !report.complete() {
        let failed: Vec<String> = report
            .streams
            .iter()
            .filter(|s| !s.caught_up || s.error.is_some())
            .take(3)
            .map(|s| format!("{}: {:?}", s.stream, s.error))
            .collect();
        bail!("the backfill of {group:?} left streams behind or failed: {failed:?}");
    }
    let inserted = report.total(|s| s.inserted);
    let quarantined = store.quarantined.load(Ordering::SeqCst);
    let stored = std::mem::take(&mut *store.ids.lock().expect("lock"));
    let expected = (group.len() * regions.len() * per_region) as u64;
    let missing = group
        .iter()
        .flat_map(|a| regions.iter().map(move |r| (a, r)))
        .flat_map(|(a, r)| (0..per_region).map(move |i| format!("{a}-{r}-{i}")))
        .filter(|id| !stored.contains(&EventId::new(id.as_str()).expect("id")))
        .take(3)
        .collect::<Vec<_>>();
    if stored.len() as u64 != expected
        || inserted != expected
        || quarantined != 0
        || !missing.is_empty()
    {
        bail!(
            "the backfill of {group:?} stored {} distinct events ({inserted} reported, {quarantined} quarantined) of {expected}; missing e.g. {missing:?}",
            stored.len()
        );
    }
    Ok(Read {
        streams: plan.len(),
        requests: report.total(|s| s.requests),
        throttled: report.total(|s| s.throttled),
        stored: stored.len() as u64,
    })
}
