//! The collection service as deployed: the real AWS SDK against the LookupEvents simulator,
//! events and checkpoints in DynamoDB (moto). Throttling, 2% injected server errors, dropped
//! connections, late and duplicate deliveries, a stream with over 50,000 events in one window,
//! and a backfill cut at random points by deadlines and by crashes, then resumed: the stored set
//! must equal the generated set, each event once.
//!
//! `make test` starts moto and sets `IAT_TEST_MOTO_ENDPOINT`; a plain `cargo test` lists this test as ignored.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use iat_aws::{
    AwsSettings, CloudTrailEventSource, DynamoCheckpointStore, DynamoEventStore, TableKind,
    create_table, sdk_config,
};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{CheckpointStore, EventQuery, EventStore};
use iat_core::{AccountId, Region};
use iat_sim::lookup::{SimConfig, Simulator};
use iat_tracker::testing::Countdown;
use iat_tracker::{CollectConfig, Deadline, NoDeadline, Ports, StreamOptions, collect, streams};
use rand::{Rng, SeedableRng};

const ACCOUNT: &str = "777788889999";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn every_event_exactly_once_into_dynamodb() {
    let moto = iat_sim::emulators::moto_endpoint();
    let sim = Simulator::new(SimConfig {
        // Below the collector's own rate, so throttling happens and must be waited out.
        rate_per_second: 30.0,
        burst: 5.0,
        server_error_rate: 0.02,
        drop_rate: 0.005,
        page_latency: (StdDuration::ZERO, StdDuration::from_millis(2)),
        default_account: ACCOUNT.to_owned(),
        seed: 99,
        ..Default::default()
    });
    let (addr, _server): (SocketAddr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let mut expected = BTreeSet::new();
    let mut add = |id: String, region: &str, source: &str, time, delay| {
        let raw = RecordSpec::new(&id, time)
            .name(source, "AssumeRole")
            .user(["alice", "bob", "deploy"][expected.len() % 3])
            .place(ACCOUNT, region)
            .json();
        sim.add(&raw, delay).unwrap();
        expected.insert(id);
        raw
    };
    // One window, one stream: 52,000 IAM events within 100 minutes.
    for i in 0..52_000 {
        let t = t0 - Duration::hours(20) + Duration::milliseconds(115 * i);
        add(
            format!("iam-{i:05}"),
            "us-east-1",
            "iam.amazonaws.com",
            t,
            Duration::minutes(5),
        );
    }
    // Regional STS over two days, late by up to 15 minutes (inside the 20-minute overlap).
    for i in 0..2_000 {
        let t = t0 - Duration::hours(40) + Duration::seconds(77 * i);
        add(
            format!("sts-{i}"),
            "eu-west-1",
            "sts.amazonaws.com",
            t,
            Duration::minutes(i % 16),
        );
    }
    // Duplicate deliveries.
    for i in 0..40 {
        let raw = add(
            format!("dup-{i}"),
            "eu-west-1",
            "sts.amazonaws.com",
            t0 - Duration::hours(3) + Duration::minutes(i),
            Duration::minutes(1),
        );
        sim.add(&raw, Duration::minutes(4)).unwrap();
    }

    let ddb_config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto),
        ..Default::default()
    })
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&ddb_config);
    let suffix = std::process::id();
    let events_table = format!("iat-e2e-events-{suffix}");
    let control_table = format!("iat-e2e-control-{suffix}");
    create_table(&ddb, TableKind::Events, &events_table)
        .await
        .unwrap();
    create_table(&ddb, TableKind::Control, &control_table)
        .await
        .unwrap();
    let store = Arc::new(DynamoEventStore::new(ddb.clone(), &events_table));
    let checkpoints = Arc::new(DynamoCheckpointStore::new(ddb.clone(), &control_table));

    let ct_config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        max_attempts: Some(4),
        initial_backoff: Some(StdDuration::from_millis(5)),
        ..Default::default()
    })
    .await;
    let ct_config = iat_aws::with_static_credentials(ct_config, ACCOUNT);
    let ports = Ports {
        source: Arc::new(CloudTrailEventSource::new(
            &ct_config,
            AccountId::new(ACCOUNT).unwrap(),
        )),
        store: store.clone(),
        checkpoints: checkpoints.clone(),
    };
    let plan = streams(
        &[AccountId::new(ACCOUNT).unwrap()],
        &[Region::us_east_1(), Region::new("eu-west-1").unwrap()],
        &StreamOptions::default(),
    );
    let config = CollectConfig {
        requests_per_second: 45.0,
        chains_per_region: 6,
        window: Duration::hours(3),
        backfill: Duration::days(3),
        throttle_pause: StdDuration::from_millis(20),
        stop_margin: StdDuration::from_millis(1),
        // The sweep would re-read the 52,000-event window once it is a day old, ten minutes on
        // moto for nothing this test checks; the model check and the faults benchmark cover it.
        sweep_age: None,
        ..Default::default()
    };

    // Hourly runs. The first six are cut at random points: by a deadline after a random number
    // of requests, or by a crash (the run's future dropped) after a random time. Then runs late
    // enough for every delivery.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut now = t0;
    let (mut cut_by_deadline, mut crashed) = (0, 0);
    for run in 0..9 {
        sim.set_now(now);
        let deadline: Arc<dyn Deadline> = if run < 6 && run % 2 == 0 {
            Arc::new(Countdown::new(rng.random_range(20..200)))
        } else {
            Arc::new(NoDeadline)
        };
        let going = collect(&ports, &plan, &config, now, deadline);
        if run < 6 && run % 2 == 1 {
            let after = StdDuration::from_millis(rng.random_range(200..3_000));
            match tokio::time::timeout(after, going).await {
                Err(_) => crashed += 1,
                Ok(report) => assert!(report.unwrap().streams.iter().all(|s| s.error.is_none())),
            }
        } else {
            let report = going.await.unwrap();
            assert!(
                report.streams.iter().all(|s| s.error.is_none()),
                "run {run}: {report:?}"
            );
            cut_by_deadline += usize::from(!report.complete());
        }
        now += Duration::hours(1);
    }
    assert!(
        cut_by_deadline > 0 && crashed > 0,
        "runs were cut: {cut_by_deadline} by deadline, {crashed} by crash"
    );

    let stored: Vec<String> = store
        .query(&EventQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    let unique: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no event stored twice");
    let missing: Vec<_> = expected.difference(&unique).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} lost, e.g. {missing:?}",
        expected.len().saturating_sub(unique.len())
    );
    assert_eq!(unique, expected, "nothing extra");
    assert_eq!(
        store.stats().await.unwrap().events,
        expected.len() as u64,
        "the store's own count agrees"
    );
    let stats = sim.stats();
    assert!(
        stats.server_errors > 0 && stats.throttled > 0,
        "faults were injected and the rate limit met: {stats:?}"
    );
    for cp in checkpoints.list().await.unwrap() {
        assert!(cp.last_error.is_none(), "{cp:?}");
        assert!(cp.complete_up_to.is_some());
    }
}
