//! Many accounts through one collector: the organisation's member accounts read through their
//! reader roles (STS `AssumeRole` on the simulator, whose assumed credentials select the
//! account), with faults, late deliveries and cut runs; an account without the role, one whose
//! service control policy denies `LookupEvents`, and one that joins mid-way. Every event of
//! every readable account is stored exactly once, and the unreadable ones fail alone, by name.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use iat_aws::{AwsSettings, MemberAccess, MemberEventSource, sdk_config};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{EventQuery, EventStore, MemoryCheckpointStore, MemoryEventStore};
use iat_core::{AccountId, Region};
use iat_sim::lookup::{SimConfig, Simulator};
use iat_tracker::testing::Countdown;
use iat_tracker::{CollectConfig, Deadline, NoDeadline, Ports, StreamOptions, collect, streams};

const HOME: &str = "111122223333";
const MEMBERS: usize = 50;

fn member(i: usize) -> String {
    format!("{:012}", 200_000_000_000u64 + i as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_member_accounts_each_event_once_and_the_unreadable_ones_fail_alone() {
    let (no_role, denied, joining) = (member(7), member(13), member(MEMBERS - 1));
    let sim = Simulator::new(SimConfig {
        rate_per_second: 200.0,
        burst: 5.0,
        server_error_rate: 0.01,
        drop_rate: 0.005,
        default_account: HOME.to_owned(),
        missing_roles: vec![no_role.clone()],
        denied_accounts: vec![denied.clone()],
        seed: 11,
        ..Default::default()
    });
    let (addr, _server): (SocketAddr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let accounts: Vec<String> = std::iter::once(HOME.to_owned())
        .chain((0..MEMBERS).map(member))
        .collect();
    // Per account: IAM in us-east-1 and STS in eu-west-1, some delivered up to 15 minutes late.
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, account) in accounts.iter().enumerate() {
        for i in 0..40usize {
            let (region, source, name) = if i % 2 == 0 {
                ("us-east-1", "iam.amazonaws.com", "CreateRole")
            } else {
                ("eu-west-1", "sts.amazonaws.com", "AssumeRole")
            };
            let id = format!("{account}-{i}");
            let time =
                t0 - Duration::hours(20) + Duration::minutes((37 * i + 11 * a) as i64 % 1400);
            let raw = RecordSpec::new(&id, time)
                .name(source, name)
                .place(account, region)
                .json();
            sim.add(&raw, Duration::minutes(((i + a) % 16) as i64))
                .unwrap();
            expected.entry(account.clone()).or_default().insert(id);
        }
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
            aws_credential_types::Credentials::new(HOME, "secret", None, None, "test"),
        ),
    )
    .build();
    let source = Arc::new(MemberEventSource::new(
        &config,
        AccountId::new(HOME).unwrap(),
        MemberAccess {
            role_name: "iat-member-reader".into(),
            external_id: Some("o-abcdefghij".into()),
            session_name: "iat-tracker".into(),
        },
    ));
    let store = Arc::new(MemoryEventStore::new());
    let ports = Ports {
        source: source.clone(),
        store: store.clone(),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
    };
    let regions = [Region::us_east_1(), Region::new("eu-west-1").unwrap()];
    let collect_config = CollectConfig {
        requests_per_second: 300.0,
        chains_per_region: 4,
        window: Duration::hours(6),
        backfill: Duration::days(1),
        throttle_pause: StdDuration::from_millis(20),
        stop_margin: StdDuration::from_millis(1),
        ..Default::default()
    };

    // Hourly runs; the first two cut short, the last one late enough for every delivery; the
    // last account joins the organisation at the third run.
    let mut now = t0;
    let mut last_errors = BTreeMap::new();
    for run in 0..6 {
        sim.set_now(now);
        let listed: Vec<AccountId> = accounts
            .iter()
            .filter(|a| run >= 2 || **a != joining)
            .map(|a| AccountId::new(a).unwrap())
            .collect();
        let plan = streams(&listed, &regions, &StreamOptions::default());
        let deadline: Arc<dyn Deadline> = if run < 2 {
            Arc::new(Countdown::new(400))
        } else {
            Arc::new(NoDeadline)
        };
        let report = collect(&ports, &plan, &collect_config, now, deadline)
            .await
            .unwrap();
        last_errors = report
            .streams
            .iter()
            .filter_map(|s| Some((s.stream.clone(), s.error.clone()?)))
            .collect();
        now += Duration::hours(1);
    }

    // The failing streams are exactly the two unreadable accounts', each saying why.
    let failing: BTreeSet<&str> = last_errors
        .keys()
        .map(|s| {
            accounts
                .iter()
                .find(|a| s.contains(a.as_str()))
                .map(String::as_str)
                .unwrap_or("?")
        })
        .collect();
    assert_eq!(
        failing,
        BTreeSet::from([no_role.as_str(), denied.as_str()]),
        "{last_errors:#?}"
    );
    for (stream, error) in &last_errors {
        if stream.contains(&no_role) {
            assert!(
                error.contains(&format!("arn:aws:iam::{no_role}:role/iat-member-reader"))
                    && error.contains("make deploy-members"),
                "{error}"
            );
        } else {
            assert!(error.contains("service control policy"), "{error}");
        }
    }
    assert_eq!(
        source
            .failed_accounts()
            .await
            .into_iter()
            .map(|(a, _)| a.to_string())
            .collect::<Vec<_>>(),
        vec![no_role.clone()]
    );

    // Every other account's events, once each.
    let stored = store.query(&EventQuery::default()).await.unwrap();
    let mut by_account: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &stored {
        by_account
            .entry(
                e.account
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
            .or_default()
            .insert(e.id.to_string());
    }
    let ids: BTreeSet<String> = stored.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids.len(), stored.len(), "nothing stored twice");
    for (account, want) in &expected {
        let got = by_account.remove(account).unwrap_or_default();
        if *account == no_role || *account == denied {
            assert!(got.is_empty(), "{account}: {got:?}");
        } else {
            let missing: Vec<_> = want.difference(&got).take(3).collect();
            assert!(missing.is_empty(), "{account} lost {missing:?}");
            assert_eq!(got.len(), want.len(), "{account}");
        }
    }
    assert!(
        by_account.is_empty(),
        "stored for unknown accounts: {by_account:?}"
    );
    let stats = sim.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped > 0,
        "faults were injected: {stats:?}"
    );
    // Each member's role assumed once for all its streams and runs (the credentials last an
    // hour and are renewed by the SDK); the missing one tried once, its failure remembered.
    assert_eq!(stats.assume_role, MEMBERS as u64, "{stats:?}");
}
