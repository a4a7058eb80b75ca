//! The CloudTrail adapter with the real SDK against the LookupEvents simulator: the port's
//! contract, and the API's limits and faults as the collector will meet them.

use std::io::{Read, Write};
use std::net::SocketAddr;

use chrono::{Duration, TimeZone, Utc};
use iat_aws::{AwsSettings, CloudTrailEventSource, sdk_config};
use iat_core::contract::{self, records::RecordSpec};
use iat_core::ports::{EventSource, LookupQuery};
use iat_core::{AccountId, Error, Region, TimeWindow};
use iat_sim::lookup::{SimConfig, Simulator};

const ACCOUNT: &str = "111122223333";

async fn start(config: SimConfig) -> (Simulator, SocketAddr) {
    let sim = Simulator::new(config);
    let (addr, _handle) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    (sim, addr)
}

/// A source whose access key id is the account id, as the simulator expects.
async fn source(addr: SocketAddr, max_attempts: u32) -> CloudTrailEventSource {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        max_attempts: Some(max_attempts),
        initial_backoff: Some(std::time::Duration::from_millis(5)),
        ..Default::default()
    })
    .await;
    let config = config
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(ACCOUNT, "secret", None, None, "test"),
            ),
        )
        .build();
    CloudTrailEventSource::new(&config, AccountId::new(ACCOUNT).unwrap())
}

fn unlimited() -> SimConfig {
    SimConfig {
        rate_per_second: 10_000.0,
        burst: 10_000.0,
        ..Default::default()
    }
}

fn query(window: TimeWindow) -> LookupQuery {
    LookupQuery::new(
        AccountId::new(ACCOUNT).unwrap(),
        Region::new("us-east-1").unwrap(),
        Some("iam.amazonaws.com".into()),
        window,
    )
}

#[tokio::test]
async fn cloudtrail_event_source_contract() {
    contract::event_source_suite(|records| async move {
        let (sim, addr) = start(unlimited()).await;
        sim.set_now(Utc.with_ymd_and_hms(2026, 4, 10, 0, 0, 0).unwrap());
        for r in records {
            sim.add(&r, Duration::zero()).unwrap();
        }
        source(addr, 1).await
    })
    .await;
}

#[tokio::test]
async fn throttling_is_reported_as_throttled() {
    let (sim, addr) = start(SimConfig::default()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    sim.set_now(t0 + Duration::days(1));
    sim.add(
        &RecordSpec::new("e1", t0).place(ACCOUNT, "us-east-1").json(),
        Duration::zero(),
    )
    .unwrap();
    let src = source(addr, 1).await;
    let q = query(TimeWindow::new(t0 - Duration::hours(1), t0 + Duration::hours(1)).unwrap());
    let mut ok = 0;
    let mut throttled = 0;
    for _ in 0..10 {
        match src.lookup(&q, None).await {
            Ok(page) => {
                assert_eq!(page.records.len(), 1);
                ok += 1;
            }
            Err(Error::Throttled { region, .. }) => {
                assert_eq!(region, "us-east-1");
                throttled += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        (2..=4).contains(&ok),
        "a burst of 2 then 2/s: {ok} answered"
    );
    assert_eq!(ok + throttled, 10);
    assert_eq!(sim.stats().throttled, throttled);
    // Another region has its own bucket.
    let other = LookupQuery::new(
        AccountId::new(ACCOUNT).unwrap(),
        Region::new("eu-west-1").unwrap(),
        None,
        q.window,
    );
    src.lookup(&other, None)
        .await
        .expect("eu-west-1 is not throttled by us-east-1");
}

#[tokio::test]
async fn late_events_appear_after_their_delivery_delay() {
    let (sim, addr) = start(unlimited()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    sim.add(&RecordSpec::new("on-time", t0).json(), Duration::minutes(5))
        .unwrap();
    sim.add(
        &RecordSpec::new("late", t0 - Duration::minutes(1)).json(),
        Duration::minutes(15),
    )
    .unwrap();
    let src = source(addr, 1).await;
    let q = query(TimeWindow::new(t0 - Duration::hours(1), t0 + Duration::hours(1)).unwrap());
    let ids = |page: iat_core::ports::EventPage| -> Vec<String> {
        page.records
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(r).unwrap()["eventID"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    sim.set_now(t0 + Duration::minutes(4));
    assert!(
        ids(src.lookup(&q, None).await.unwrap()).is_empty(),
        "nothing is visible before its delay"
    );
    sim.set_now(t0 + Duration::minutes(10));
    assert_eq!(ids(src.lookup(&q, None).await.unwrap()), ["on-time"]);
    sim.advance(Duration::minutes(10));
    assert_eq!(
        ids(src.lookup(&q, None).await.unwrap()),
        ["on-time", "late"],
        "the older event arrives later"
    );
    // The 90-day horizon.
    sim.set_now(t0 + Duration::days(91));
    assert!(
        ids(src.lookup(&q, None).await.unwrap()).is_empty(),
        "Event history keeps 90 days"
    );
}

#[tokio::test]
async fn duplicate_deliveries_are_served_twice() {
    let (sim, addr) = start(unlimited()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    sim.set_now(t0 + Duration::hours(2));
    let raw = RecordSpec::new("dup", t0).json();
    sim.add(&raw, Duration::zero()).unwrap();
    sim.add(&raw, Duration::minutes(30)).unwrap();
    let page = source(addr, 1)
        .await
        .lookup(&query(TimeWindow::new(t0, t0).unwrap()), None)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_by_the_sdk_and_reported_without_retries() {
    let (sim, addr) = start(SimConfig {
        server_error_rate: 0.3,
        drop_rate: 0.1,
        ..unlimited()
    })
    .await;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    sim.set_now(t0 + Duration::hours(2));
    sim.add(&RecordSpec::new("x", t0).json(), Duration::zero())
        .unwrap();
    let q = query(TimeWindow::new(t0 - Duration::minutes(1), t0).unwrap());
    let patient = source(addr, 8).await;
    let mut retries = 0;
    for _ in 0..20 {
        let page = patient.lookup(&q, None).await.unwrap();
        assert_eq!(page.records.len(), 1);
        retries += page.retries;
    }
    assert!(
        retries > 0,
        "the SDK's own retries are reported with the page"
    );
    let stats = sim.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped > 0,
        "faults were injected: {stats:?}"
    );
    let impatient = source(addr, 1).await;
    let mut failures = 0;
    for _ in 0..30 {
        if let Err(e) = impatient.lookup(&q, None).await {
            assert!(
                matches!(e, Error::Unavailable { .. }),
                "5xx and lost connections are transient: {e}"
            );
            failures += 1;
        }
    }
    assert!(failures > 0, "without retries, injected faults surface");
}

/// One raw HTTP call, for what the SDK will not send.
fn raw_call(addr: SocketAddr, target: &str, body: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260401/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_contract_is_enforced() {
    let (sim, addr) = start(unlimited()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    sim.set_now(t0 + Duration::hours(2));
    for i in 0..3 {
        sim.add(
            &RecordSpec::new(&format!("c{i}"), t0 + Duration::seconds(i)).json(),
            Duration::zero(),
        )
        .unwrap();
    }
    let long = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    let short = "CloudTrail_20131101.LookupEvents";
    let calls = tokio::task::spawn_blocking(move || {
        vec![
            raw_call(addr, long, "{}"),
            raw_call(addr, short, "{\"MaxResults\": 2}"),
            raw_call(addr, short, "{\"MaxResults\": 51}"),
            raw_call(addr, short, "{\"MaxResults\": 0}"),
            raw_call(addr, short, r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"a"},{"AttributeKey":"EventSource","AttributeValue":"b"}]}"#),
            raw_call(addr, short, r#"{"LookupAttributes":[{"AttributeKey":"Colour","AttributeValue":"a"}]}"#),
            raw_call(addr, short, "{\"StartTime\": 200, \"EndTime\": 100}"),
            raw_call(addr, short, "{\"NextToken\": \"forged\"}"),
            raw_call(addr, "CloudTrail_20131101.DescribeTrails", "{}"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(calls[0].0, 200, "the long target form is accepted");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].1).unwrap()["Events"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let page: serde_json::Value = serde_json::from_str(&calls[1].1).unwrap();
    assert_eq!(page["Events"].as_array().unwrap().len(), 2);
    assert_eq!(page["Events"][0]["EventId"], "c2", "newest first");
    assert!(page["NextToken"].is_string());
    for (i, kind) in [
        (2, "InvalidMaxResultsException"),
        (3, "InvalidMaxResultsException"),
        (4, "InvalidLookupAttributesException"),
        (5, "InvalidLookupAttributesException"),
        (6, "InvalidTimeRangeException"),
        (7, "InvalidNextTokenException"),
        (8, "UnknownOperationException"),
    ] {
        assert_eq!(calls[i].0, 400, "call {i}");
        assert!(calls[i].1.contains(kind), "call {i}: {}", calls[i].1);
    }
}

/// Region discovery through the real SDK against the simulator's `ListRegions`: the default
/// regions and the opt-in ones this account enabled are collected, the other opt-in ones not.
#[tokio::test]
async fn regions_enabled_by_the_account_are_discovered() {
    let (_sim, addr) = start(SimConfig {
        enabled_opt_in_regions: vec!["af-south-1".into()],
        ..unlimited()
    })
    .await;
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://{addr}")),
        ..Default::default()
    })
    .await;
    let found = iat_aws::discover_regions(&config).await.unwrap();
    let af = Region::new("af-south-1").unwrap();
    assert_eq!(found.enabled.len(), 18, "{:?}", found.enabled);
    assert!(found.enabled.contains(&af));
    assert_eq!(found.not_enabled.len(), 16, "{:?}", found.not_enabled);
    assert!(
        found
            .not_enabled
            .contains(&Region::new("me-south-1").unwrap())
    );
}
