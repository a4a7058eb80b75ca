//! `org.accounts_backfill_vs_floor`: a 90-day backfill of member accounts' Event history
//! through their reader roles, against the floor CloudTrail's limit sets.
//!
//! The decision to know: this measures one tracker invocation at a time, at several sizes. The
//! floor of a backfill is each account-region's events at 100 a second (2 requests of 50
//! records), every account-region at once. A shard of a few accounts busy in every region shows
//! whether the collector holds CloudTrail's pace; the goal's 200 accounts × 17 regions (at a
//! lower density, so one machine can serve it) shows what one invocation does when the floor
//! asks for thousands of requests in flight, more than it keeps open. Each size has its own
//! simulator; the collector is the tracker function's (the member source, one AssumeRole per
//! account, its in-flight cap, the deployed function's defaults); the store keeps ids only, as
//! moto cannot take thousands of writes a second (DynamoDB's on-demand table limit is 40,000).

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

pub(crate) fn benchmark(sizes: &[Size]) -> anyhow::Result<Vec<Figure>> {
    if sizes.is_empty() {
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
            "a 90-day backfill in one tracker invocation, {} accounts x 17 regions: the collector as the tracker function runs it (member accounts through their reader roles, one AssumeRole each, at most {} LookupEvents in flight, its defaults: 1.95 requests/s and 8 chains per account-region) against the LookupEvents simulator at CloudTrail's limits (2 requests/s per account and region, pages of 50 taking 0.2-4 s), STS events spread over 89 days in every account-region, none lost (each generated id checked present; the store keeps ids only, so a duplicate is absorbed as DynamoDB's conditional put absorbs it); the floor is an account-region's events / 100 per s. Every size: {}",
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
    let sim = Simulator::new(SimConfig {
        default_account: HOME.to_owned(),
        page_latency: PAGE_LATENCY,
        ..Default::default()
    });
    // Evenly over 89 days, the newest an hour old (older than the safety lag).
    let now = Utc::now();
    let newest = now - Duration::hours(1);
    let step = Duration::days(89).num_milliseconds() / per_region as i64;
    let mut events = 0u64;
    for account in &all {
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
    let (addr, _server): (SocketAddr, _) = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
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
    let ids: Vec<AccountId> = all.iter().map(AccountId::new).collect::<Result<_, _>>()?;
    let regions: Vec<Region> = DEFAULT_REGIONS
        .iter()
        .map(|r| Region::new(*r))
        .collect::<Result<_, _>>()?;
    let plan = streams(&ids, &regions, &StreamOptions::default());
    let config = CollectConfig::default();
    let ticks = crate::tracker::clock_ticks();
    let cpu = || crate::tracker::cpu_seconds("/proc/self/stat", ticks).unwrap_or(0.0);
    let cpu_before = cpu();
    let started = Instant::now();
    let report = collect(&ports, &plan, &config, now, Arc::new(NoDeadline))
        .await
        .context("the backfill")?;
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu() - cpu_before;
    if !report.complete() {
        let failed: Vec<String> = report
            .streams
            .iter()
            .filter(|s| !s.caught_up || s.error.is_some())
            .take(3)
            .map(|s| format!("{}: {:?}", s.stream, s.error))
            .collect();
        bail!("the backfill left streams behind or failed: {failed:?}");
    }
    // Every id the simulator holds was stored: the ids are the generator's, so a missing one
    // is named. (Duplicates are absorbed by the store, as by DynamoDB's, not counted here.)
    let inserted = report.total(|s| s.inserted);
    let quarantined = store.quarantined.load(Ordering::SeqCst);
    let ids = std::mem::take(&mut *store.ids.lock().expect("lock"));
    let missing = all
        .iter()
        .flat_map(|a| DEFAULT_REGIONS.iter().map(move |r| (a, r)))
        .flat_map(|(a, r)| (0..per_region).map(move |i| format!("{a}-{r}-{i}")))
        .filter(|id| !ids.contains(&EventId::new(id.as_str()).expect("id")))
        .take(3)
        .collect::<Vec<_>>();
    if ids.len() as u64 != events || inserted != events || quarantined != 0 || !missing.is_empty() {
        bail!(
            "the backfill stored {} distinct events ({inserted} reported, {quarantined} quarantined) of {events}; missing e.g. {missing:?}",
            ids.len()
        );
    }
    Ok(Run {
        accounts,
        account_regions: all.len() * regions.len(),
        streams: plan.len(),
        events,
        wall_s,
        floor_s: per_region as f64 / 100.0,
        cpu_s,
        requests: report.total(|s| s.requests),
        throttled: report.total(|s| s.throttled),
    })
}
