//! The collection service through the real AWS SDK against the LookupEvents simulator, with
//! throttling, injected server errors and dropped connections, late and duplicate deliveries,
//! and runs cut short: the stored set must equal the generated set.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use iat_aws::{AwsSettings, CloudTrailEventSource, sdk_config};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{EventQuery, EventStore, MemoryCheckpointStore, MemoryEventStore};
use iat_core::{AccountId, Region};
use iat_sim::lookup::{SimConfig, Simulator};
use iat_tracker::testing::Countdown;
use iat_tracker::{CollectConfig, Deadline, NoDeadline, Ports, StreamOptions, collect, streams};

const ACCOUNT: &str = "444455556666";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_exactly_once_through_faults_late_arrivals_and_cuts() {
    let sim = Simulator::new(SimConfig {
        // Below the collector's own rate, so throttling happens and must be waited out.
        rate_per_second: 150.0,
        burst: 5.0,
        server_error_rate: 0.02,
        drop_rate: 0.01,
        page_latency: (StdDuration::ZERO, StdDuration::from_millis(3)),
        default_account: ACCOUNT.to_owned(),
        seed: 7,
        ..Default::default()
    });
    let (addr, _server): (SocketAddr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    let t0 = Utc.with_ymd_and_hms(2026, 5, 4, 12, 0, 0).unwrap();
    let mut expected = BTreeSet::new();
    let mut add = |id: String,
                   region: &str,
                   source: &str,
                   name: &str,
                   time: DateTime<Utc>,
                   delay: Duration| {
        let raw = RecordSpec::new(&id, time)
            .name(source, name)
            .place(ACCOUNT, region)
            .json();
        sim.add(&raw, delay).unwrap();
        expected.insert(id);
        raw
    };
    // A busy IAM stream: more than 12,000 events within one day.
    for i in 0..12_000 {
        let t = t0 - Duration::hours(30) + Duration::seconds(7 * i);
        add(
            format!("iam-{i}"),
            "us-east-1",
            "iam.amazonaws.com",
            "ListUsers",
            t,
            Duration::minutes(5),
        );
    }
    // Regional STS, with late deliveries up to 15 minutes (inside the 20-minute overlap).
    for i in 0..1_500 {
        let t = t0 - Duration::hours(20) + Duration::seconds(40 * i);
        add(
            format!("sts-{i}"),
            "eu-west-1",
            "sts.amazonaws.com",
            "AssumeRole",
            t,
            Duration::minutes(i % 16),
        );
    }
    // Duplicate deliveries.
    for i in 0..50 {
        let raw = add(
            format!("dup-{i}"),
            "eu-west-1",
            "sts.amazonaws.com",
            "AssumeRole",
            t0 - Duration::hours(2) + Duration::minutes(i),
            Duration::minutes(1),
        );
        sim.add(&raw, Duration::minutes(3)).unwrap();
    }

    let (ports, store) = memory_ports(addr, 4, StdDuration::from_millis(5)).await;
    let plan = streams(
        &[AccountId::new(ACCOUNT).unwrap()],
        &[Region::us_east_1(), Region::new("eu-west-1").unwrap()],
        &StreamOptions::default(),
    );
    let collect_config = CollectConfig {
        requests_per_second: 300.0,
        chains_per_region: 6,
        window: Duration::hours(2),
        backfill: Duration::days(2),
        throttle_pause: StdDuration::from_millis(20),
        stop_margin: StdDuration::from_millis(1),
        ..Default::default()
    };

    // Hourly runs from t0, the first few cut short as by a Lambda deadline, then a last run late
    // enough for every delivery.
    let mut now = t0;
    let mut throttled = 0;
    let mut retried = 0;
    for run in 0..8 {
        sim.set_now(now);
        let deadline: Arc<dyn Deadline> = if run < 3 {
            Arc::new(Countdown::new(60))
        } else {
            Arc::new(NoDeadline)
        };
        let report = collect(&ports, &plan, &collect_config, now, deadline)
            .await
            .unwrap();
        throttled += report.total(|s| s.throttled);
        retried += report.total(|s| s.retried);
        assert!(
            report.streams.iter().all(|s| s.error.is_none()),
            "run {run}: {report:?}"
        );
        now += Duration::hours(1);
    }
    let stored: BTreeSet<String> = store
        .query(&EventQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    let missing: Vec<_> = expected.difference(&stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} lost, e.g. {missing:?}",
        expected.len() - stored.len().min(expected.len())
    );
    assert_eq!(stored.len(), expected.len(), "nothing extra");
    let stats = sim.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped > 0,
        "faults were injected: {stats:?}"
    );
    // Met at the simulator; whether the SDK's retry or the collector's pause answered each
    // throttle depends on timing, and the totals below count both.
    assert!(stats.throttled > 0, "the rate limit was met: {stats:?}");
    // Every fault the simulator injected was answered by a retry, the SDK's or the collector's:
    // the run's counts show them all.
    let faults = stats.server_errors + stats.dropped + stats.throttled;
    assert!(
        retried + throttled >= faults * 9 / 10,
        "{retried} retried and {throttled} throttled for {faults} faults ({stats:?})"
    );
}

/// Another caller takes half of an account-region's LookupEvents allowance: the collector's pace
/// falls to what is left instead of being throttled on every other request, whether the
/// throttles reach the collector or the SDK retries them first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_the_rate_limit_with_another_caller_the_pace_falls_to_what_is_left() {
    for sdk_attempts in [1, 3] {
        let sim = Simulator::new(SimConfig {
            // Half of the collector's rate (the other half taken by someone else).
            rate_per_second: 20.0,
            burst: 2.0,
            default_account: ACCOUNT.to_owned(),
            ..Default::default()
        });
        let (addr, _server): (SocketAddr, _) = sim
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 4, 12, 0, 0).unwrap();
        sim.set_now(now);
        let mut expected = BTreeSet::new();
        for i in 0..4_000 {
            let id = format!("sts-{i}");
            let raw = RecordSpec::new(&id, now - Duration::hours(20) + Duration::seconds(15 * i))
                .name("sts.amazonaws.com", "AssumeRole")
                .place(ACCOUNT, "eu-west-1")
                .json();
            sim.add(&raw, Duration::minutes(1)).unwrap();
            expected.insert(id);
        }
        // The SDK's 1 s backoff at 2 requests a second, scaled to this test's 20.
        let (ports, store) = memory_ports(addr, sdk_attempts, StdDuration::from_millis(100)).await;
        let plan = streams(
            &[AccountId::new(ACCOUNT).unwrap()],
            &[Region::new("eu-west-1").unwrap()],
            &StreamOptions::default(),
        );
        let collect_config = CollectConfig {
            requests_per_second: 40.0,
            backfill: Duration::days(1),
            throttle_pause: StdDuration::from_millis(20),
            ..Default::default()
        };
        let report = collect(&ports, &plan, &collect_config, now, Arc::new(NoDeadline))
            .await
            .unwrap();
        assert!(report.complete(), "{report:?}");
        let stored = store.query(&EventQuery::default()).await.unwrap().len();
        assert_eq!(stored, expected.len(), "every event stored");
        let stats = sim.stats();
        // Every request the simulator saw, throttled or answered, against those it throttled.
        let share = stats.throttled as f64 / (stats.requests as f64);
        // A fixed pace at the collector's rate has half its requests throttled (0.49 and 0.52
        // here). The SDK leaves throttles to the collector (it retries 5xx and dropped
        // connections only), so its retries never add requests outside the pace: while the SDK
        // retried throttles too, a third of the requests were throttled (0.31 to 0.36).
        assert!(
            share < 0.25,
            "with {sdk_attempts} SDK attempts: {} of {} requests throttled",
            stats.throttled,
            stats.requests
        );
    }
}

/// Ports reading the simulator at `addr` through the CloudTrail client, with the SDK's own
/// retries as given, into memory stores.
async fn memory_ports(
    addr: SocketAddr,
    max_attempts: u32,
    initial_backoff: StdDuration,
) -> (Ports, Arc<MemoryEventStore>) {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        max_attempts: Some(max_attempts),
        initial_backoff: Some(initial_backoff),
        ..Default::default()
    })
    .await;
    let config = iat_aws::with_static_credentials(config, ACCOUNT);
    let store = Arc::new(MemoryEventStore::new());
    let ports = Ports {
        source: Arc::new(CloudTrailEventSource::new(
            &config,
            AccountId::new(ACCOUNT).unwrap(),
        )),
        store: store.clone(),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
    };
    (ports, store)
}
