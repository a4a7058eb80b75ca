//! The alerter against moto: SNS deliveries read back through an SQS subscription, the alert
//! ledger in DynamoDB, events from the events table's stream and from EventBridge.
//!
//! `make test` starts moto; run alone, these tests skip.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use iat_alerter::{Alerter, DeliveryPolicy};
use iat_aws::testing::SnsInbox;
use iat_aws::{
    AwsSettings, DynamoAlertLedger, DynamoEventStore, SnsNotifier, TableKind, create_table,
    sdk_config,
};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::{EventStore, Notification, Notifier};
use iat_core::rules::RuleSet;
use iat_core::{ActivityEvent, Error, Severity};
use iat_lambda::alerter::AlerterFunction;
use iat_lambda::testing::{function_command, stop};
use serde_json::{Value, json};

static NAMES: AtomicUsize = AtomicUsize::new(0);

fn fresh(prefix: &str) -> String {
    format!(
        "iat-{prefix}-{}-{}",
        std::process::id(),
        NAMES.fetch_add(1, Ordering::Relaxed)
    )
}

struct Moto {
    sdk: aws_config::SdkConfig,
    inbox: SnsInbox,
    ledger_table: String,
}

async fn moto() -> Moto {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let sdk = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..Default::default()
    })
    .await;
    let inbox = SnsInbox::create(&sdk, &fresh("alerts")).await;
    let ledger_table = fresh("ledger");
    create_table(
        &aws_sdk_dynamodb::Client::new(&sdk),
        TableKind::AlertLedger,
        &ledger_table,
    )
    .await
    .unwrap();
    Moto {
        sdk,
        inbox,
        ledger_table,
    }
}

impl Moto {
    fn ledger(&self) -> Arc<DynamoAlertLedger> {
        Arc::new(DynamoAlertLedger::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.ledger_table,
            Duration::days(30),
        ))
    }

    fn sns(&self) -> SnsNotifier {
        SnsNotifier::new(self.inbox.sns.clone(), &self.inbox.topic_arn)
    }

    fn alerter(&self, notifier: Arc<dyn Notifier>, policy: DeliveryPolicy) -> Alerter {
        Alerter::new(RuleSet::default_rules(), self.ledger(), notifier, policy)
    }
}

fn t0() -> DateTime<Utc> {
    "2026-03-03T10:00:00Z".parse().unwrap()
}

fn admin_attached(id: &str, role: &str) -> RecordSpec {
    RecordSpec::new(id, t0())
        .name("iam.amazonaws.com", "AttachRolePolicy")
        .params(
            json!({"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        )
}

fn eventbridge(spec: &RecordSpec) -> Value {
    let detail: Value = serde_json::from_str(&spec.json()).unwrap();
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam",
        "account": "111122223333", "time": "2026-03-03T10:00:00Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

/// A stored item as the Lambda event carries it in `NewImage`.
fn image(item: &HashMap<String, AttributeValue>) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in item {
        let j = match v {
            AttributeValue::S(s) => json!({"S": s}),
            AttributeValue::N(n) => json!({"N": n}),
            AttributeValue::B(b) => json!({"B": aws_smithy_types::base64::encode(b.as_ref())}),
            other => panic!("unexpected attribute {other:?}"),
        };
        m.insert(k.clone(), j);
    }
    Value::Object(m)
}

/// Stores `events` in a fresh events table and returns the stream batch DynamoDB would deliver.
async fn stream_batch(m: &Moto, events: &[ActivityEvent]) -> Value {
    let client = aws_sdk_dynamodb::Client::new(&m.sdk);
    let table = fresh("events");
    create_table(&client, TableKind::Events, &table)
        .await
        .unwrap();
    DynamoEventStore::new(client.clone(), &table)
        .put(events)
        .await
        .unwrap();
    let items = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut records: Vec<Value> = Vec::new();
    // Stream order is write order; the items' sort keys order them by time then id.
    let mut items: Vec<_> = items
        .iter()
        .filter(|i| i["pk"].as_s().unwrap().starts_with("E#"))
        .collect();
    items.sort_by_key(|i| i["sk"].as_s().unwrap().clone());
    for (n, item) in items.iter().enumerate() {
        records.push(json!({
            "eventID": format!("stream-{n}"), "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"Keys": {"pk": {"S": item["pk"].as_s().unwrap()}, "sk": {"S": item["sk"].as_s().unwrap()}},
                "NewImage": image(item), "SequenceNumber": format!("{:021}", 100 + n), "SizeBytes": 700, "StreamViewType": "NEW_IMAGE"},
            "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:111122223333:table/{table}/stream/2026-03-03T00:00:00.000")
        }));
    }
    // A day registration in the same stream is not an event and is skipped.
    records.push(json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"pk": {"S": "META"}, "sk": {"S": "D#2026-03-03"}}, "SequenceNumber": "999"}}));
    json!({"Records": records})
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn delivered_messages_carry_subject_body_and_filter_attributes() {
    let m = moto().await;
    let f = AlerterFunction::from_alerter(m.alerter(Arc::new(m.sns()), DeliveryPolicy::default()));
    let spec = admin_attached("ev-admin-1", "ops-automation");
    let out = f.handle(eventbridge(&spec), Utc::now()).await.unwrap();
    assert_eq!(out["alerts_sent"], 1);
    let got = m.inbox.drain().await;
    assert_eq!(got.len(), 1);
    let n = &got[0].notification;
    assert_eq!(
        n.subject.as_str(),
        "[HIGH] Admin policy attached: alice in 111122223333"
    );
    for part in [
        "What happened: AdministratorAccess attached to role ops-automation",
        "Who:           alice (IAMUser, arn:aws:iam::111122223333:user/alice)",
        "From:          203.0.113.10 using aws-cli/2.15.0",
        "When:          2026-03-03T10:00:00Z",
        "Where:         account 111122223333, region us-east-1",
        "Call:          iam:AttachRolePolicy (event ev-admin-1)",
        "Policy:        arn:aws:iam::aws:policy/AdministratorAccess",
        "Why it matters:",
        "What to check:",
    ] {
        assert!(n.body.contains(part), "missing {part:?} in:\n{}", n.body);
    }
    let attrs: Vec<(&str, &str)> = n
        .attributes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        attrs,
        [
            ("account", "111122223333"),
            ("event_name", "AttachRolePolicy"),
            ("rule_id", "admin_policy_attached"),
            ("severity", "high")
        ]
    );
    assert_eq!(
        got[0].envelope["MessageAttributes"]["severity"]["Type"],
        "String"
    );
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn one_event_by_stream_and_eventbridge_alerts_once() {
    let m = moto().await;
    let f = Arc::new(AlerterFunction::from_alerter(
        m.alerter(Arc::new(m.sns()), DeliveryPolicy::default()),
    ));
    let spec = admin_attached("ev-both-1", "billing");
    let batch = stream_batch(&m, &[spec.event()]).await;
    let bridge = eventbridge(&spec);
    // Both paths at once, then each again (Lambda and EventBridge both retry).
    let (a, b) = tokio::join!(
        f.handle(batch.clone(), Utc::now()),
        f.handle(bridge.clone(), Utc::now())
    );
    let a = a.unwrap();
    // Whichever lost the race either saw the alert sent or found it in flight and asks for a retry.
    let retry_stream = !a["batchItemFailures"].as_array().unwrap().is_empty();
    if retry_stream || b.is_err() {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    let later = Utc::now() + Duration::minutes(5);
    assert_eq!(
        f.handle(batch, later).await.unwrap()["batchItemFailures"],
        json!([])
    );
    let again = f.handle(bridge, later).await.unwrap();
    assert_eq!(
        (
            again["alerts_sent"].as_u64(),
            again["already_sent"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let got = m.inbox.drain().await;
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter()
            .map(|d| d.notification.subject.as_str())
            .collect::<Vec<_>>()
    );
    assert!(got[0].notification.body.contains("ev-both-1"));
}

/// SNS with one publish that goes to a topic that does not exist: a real SNS error mid-batch.
struct FailingOnce {
    good: SnsNotifier,
    bad: SnsNotifier,
    calls: AtomicUsize,
    fail_at: usize,
}

#[async_trait]
impl Notifier for FailingOnce {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return self.bad.notify(n).await;
        }
        self.good.notify(n).await
    }
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn sns_failing_mid_batch_then_the_retry_delivers_each_alert_exactly_once() {
    let m = moto().await;
    let bad_arn = m.inbox.topic_arn.replace("iat-alerts", "iat-missing");
    let notifier = Arc::new(FailingOnce {
        good: m.sns(),
        bad: SnsNotifier::new(m.inbox.sns.clone(), bad_arn),
        calls: AtomicUsize::new(0),
        fail_at: 2,
    });
    let f = AlerterFunction::from_alerter(m.alerter(notifier, DeliveryPolicy::default()));
    let events: Vec<ActivityEvent> = (0..6)
        .map(|i| admin_attached(&format!("ev-mid-{i}"), &format!("role-{i}")).event())
        .collect();
    let batch = stream_batch(&m, &events).await;
    let first = f.handle(batch.clone(), Utc::now()).await.unwrap();
    let failures = first["batchItemFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{first}");
    let from = failures[0]["itemIdentifier"].as_str().unwrap().to_owned();
    assert_eq!(
        from,
        batch["Records"][2]["dynamodb"]["SequenceNumber"]
            .as_str()
            .unwrap(),
        "the third record failed"
    );
    assert_eq!(m.inbox.drain().await.len(), 2);
    // Lambda retries the batch from the failed record on.
    let rest: Vec<Value> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|r| r["dynamodb"]["SequenceNumber"].as_str() != Some(&from))
        .cloned()
        .collect();
    let retry = f
        .handle(json!({"Records": rest}), Utc::now())
        .await
        .unwrap();
    assert_eq!(retry["batchItemFailures"], json!([]));
    // And the whole batch once more (a duplicate delivery) sends nothing new.
    assert_eq!(
        f.handle(batch, Utc::now()).await.unwrap()["batchItemFailures"],
        json!([])
    );
    let got = m.inbox.drain().await;
    let ids: BTreeSet<String> = got
        .iter()
        .map(|d| {
            d.notification
                .body
                .lines()
                .find(|l| l.starts_with("Call:"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        (got.len(), ids.len()),
        (4, 4),
        "the four unsent alerts, once each"
    );
}

/// Records when each publish started.
struct Timed {
    inner: SnsNotifier,
    at: Mutex<Vec<Instant>>,
}

#[async_trait]
impl Notifier for Timed {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        self.at.lock().unwrap().push(Instant::now());
        self.inner.notify(n).await
    }
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn a_burst_of_500_alerts_is_criticals_plus_one_digest_never_faster_than_the_rate() {
    let m = moto().await;
    let timed = Arc::new(Timed {
        inner: m.sns(),
        at: Mutex::new(Vec::new()),
    });
    let policy = DeliveryPolicy {
        max_per_second: 8.0,
        digest_threshold: 20,
        ..DeliveryPolicy::default()
    };
    let alerter = m.alerter(timed.clone(), policy);
    let mut events: Vec<ActivityEvent> = (0..492)
        .map(|i| {
            RecordSpec::new(&format!("ev-burst-{i}"), t0() + Duration::seconds(i))
                .user(&format!("admin{}", i % 7))
                .name("iam.amazonaws.com", "CreateUser")
                .params(json!({"userName": format!("u{i}")}))
                .event()
        })
        .collect();
    for i in 0..8 {
        let spec = RecordSpec::new(&format!("ev-trail-{i}"), t0())
            .name("cloudtrail.amazonaws.com", "StopLogging")
            .params(json!({"name": format!("trail-{i}")}));
        events.push(spec.event());
    }
    let report = alerter.process(&events, Utc::now()).await;
    assert_eq!(
        (report.alerts, report.messages, report.digests),
        (500, 9, 1)
    );
    assert!(report.is_complete());
    let got = m.inbox.drain().await;
    assert_eq!(got.len(), 9);
    let critical = got
        .iter()
        .filter(|d| {
            d.notification.severity == Severity::Critical
                && d.notification.attributes["rule_id"] == "cloudtrail_tampering"
        })
        .count();
    assert_eq!(critical, 8);
    let digest: Vec<_> = got
        .iter()
        .filter(|d| d.notification.attributes["rule_id"] == "digest")
        .collect();
    assert_eq!(digest.len(), 1);
    assert!(
        digest[0]
            .notification
            .subject
            .as_str()
            .starts_with("[DIGEST] 492 alerts: 492 medium")
    );
    assert!(
        digest[0]
            .notification
            .body
            .contains("  492  medium    IAM user created (iam_user_created)")
    );
    let at = timed.at.lock().unwrap().clone();
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] >= StdDuration::from_millis(124),
            "messages {:?} apart",
            w[1] - w[0]
        );
    }
    // Sending it all again sends nothing.
    let again = alerter.process(&events, Utc::now()).await;
    assert_eq!((again.messages, again.already_sent), (0, 500));
}

fn alerter_binary(runtime: std::net::SocketAddr, env: &[(&str, String)]) -> std::process::Child {
    let mut cmd = function_command(
        std::path::Path::new(env!("CARGO_BIN_EXE_alerter")),
        runtime,
        "alerter",
    );
    // The fixtures happened in March 2026; the default 24-hour age limit would skip them.
    cmd.env("MAX_EVENT_AGE_HOURS", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the alerter binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn the_alerter_binary_handles_a_stream_batch_the_way_lambda_runs_it() {
    let m = moto().await;
    let events: Vec<ActivityEvent> = vec![
        admin_attached("ev-bin-1", "ops").event(),
        RecordSpec::new("ev-bin-quiet", t0()).event(),
        RecordSpec::new("ev-bin-2", t0())
            .name("cloudtrail.amazonaws.com", "StopLogging")
            .params(json!({"name": "org"}))
            .event(),
    ];
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": iat_aws::stream_image(e, None).unwrap(), "SequenceNumber": format!("{}", 10 + i)}}))
        .collect();
    let (api, mut rx) =
        iat_lambda::testing::runtime_api(json!({"Records": records}), StdDuration::from_secs(60))
            .await;
    let endpoint = iat_sim::emulators::moto_endpoint();
    let child = alerter_binary(
        api,
        &[
            ("AWS_ENDPOINT_URL", endpoint),
            ("ALERT_TOPIC_ARN", m.inbox.topic_arn.clone()),
            ("ALERT_LEDGER_TABLE", m.ledger_table.clone()),
            ("EXPECTED_NETWORKS", "203.0.113.0/24".into()),
        ],
    );
    let outcome = tokio::time::timeout(StdDuration::from_secs(60), rx.recv())
        .await
        .expect("an answer")
        .unwrap();
    let logs = stop(child);
    match outcome {
        iat_lambda::testing::Outcome::Response(v) => {
            assert_eq!(v, json!({"batchItemFailures": []}), "{logs}")
        }
        other => panic!("{other:?}\n{logs}"),
    }
    let got = m.inbox.drain().await;
    assert_eq!(got.len(), 2, "{logs}");
    let line = logs
        .lines()
        .find(|l| l.contains("alert run"))
        .expect("a JSON log line per run");
    let log: Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (
            log["fields"]["alerts_sent"].as_u64(),
            log["fields"]["events"].as_u64()
        ),
        (Some(2), Some(3)),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerter_binary_stops_at_start_on_a_bad_setting() {
    let (api, _rx) = iat_lambda::testing::runtime_api(json!({}), StdDuration::from_secs(60)).await;
    let mut child = alerter_binary(
        api,
        &[
            (
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts".into(),
            ),
            ("ALERT_LEDGER_TABLE", "ledger".into()),
            ("TIME_ZONE", "Mars/Olympus".into()),
        ],
    );
    let status = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(s) = child.try_wait().unwrap() {
                return (s, child);
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        panic!("the binary did not stop");
    })
    .await
    .unwrap();
    assert!(!status.0.success());
    let logs = stop(status.1);
    let line = logs
        .lines()
        .find(|l| l.contains("ConfigError"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        line.contains("TIME_ZONE") && line.contains("Mars/Olympus"),
        "{line}"
    );
}
