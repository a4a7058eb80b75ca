//! The AWS adapters pass the ports' contract suites against moto.
//!
//! `make test` starts moto, sets `IAT_TEST_MOTO_ENDPOINT` and runs these tests; a plain `cargo
//! test` lists them as ignored (they need moto).

use std::sync::atomic::{AtomicUsize, Ordering};

use iat_aws::{AwsSettings, S3ObjectSource, S3ObjectStore, sdk_config};
use iat_core::contract;
use iat_core::ports::{ObjectKey, ObjectStore};

async fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    S3ObjectStore::client(&config, true)
}

static BUCKETS: AtomicUsize = AtomicUsize::new(0);

async fn fresh_bucket(client: &aws_sdk_s3::Client) -> String {
    let name = format!(
        "iat-test-{}-{}",
        std::process::id(),
        BUCKETS.fetch_add(1, Ordering::Relaxed)
    );
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("create bucket in moto");
    name
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn s3_object_store_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = s3_client(&endpoint).await;
    contract::object_store_suite(|| {
        let client = client.clone();
        async move {
            let bucket = fresh_bucket(&client).await;
            S3ObjectStore::new(client, bucket, "").unwrap()
        }
    })
    .await;
    // Below a prefix, keys are relative to it and other prefixes are invisible.
    contract::object_store_suite(|| {
        let client = client.clone();
        async move {
            let bucket = fresh_bucket(&client).await;
            client
                .put_object()
                .bucket(&bucket)
                .key("other/x")
                .body(Vec::from(*b"x").into())
                .send()
                .await
                .unwrap();
            S3ObjectStore::new(client, bucket, "/lake/v1/").unwrap()
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn s3_object_source_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = s3_client(&endpoint).await;
    contract::object_source_suite(|objects| {
        let client = client.clone();
        async move {
            let bucket = fresh_bucket(&client).await;
            for (key, body) in objects {
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(key)
                    .body(body.into())
                    .send()
                    .await
                    .unwrap();
            }
            (S3ObjectSource::new(client), bucket)
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn s3_object_source_names_the_bucket_that_is_not_there() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = s3_client(&endpoint).await;
    let source = S3ObjectSource::new(client);
    let err =
        iat_core::ports::ObjectSource::open(&source, "iat-no-such-bucket-7", "AWSLogs/x.json.gz")
            .await
            .err()
            .expect("a missing bucket is an error, not an absent object")
            .to_string();
    assert!(
        err.contains("s3://iat-no-such-bucket-7/AWSLogs/x.json.gz") && err.contains("NoSuchBucket"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn s3_lists_past_one_page() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = s3_client(&endpoint).await;
    let bucket = fresh_bucket(&client).await;
    let store = S3ObjectStore::new(client, bucket, "p").unwrap();
    for i in 0..1_005 {
        store
            .put(&ObjectKey::new(format!("events/k{i:05}")).unwrap(), vec![1])
            .await
            .unwrap();
    }
    let keys = store.list("events/").await.unwrap();
    assert_eq!(
        keys.len(),
        1_005,
        "ListObjectsV2 pages of 1,000 are followed"
    );
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn s3_errors_name_the_bucket_and_the_cause() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = s3_client(&endpoint).await;
    let store = S3ObjectStore::new(client, "no-such-bucket-iat", "").unwrap();
    let err = store
        .put(&ObjectKey::new("a").unwrap(), vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s3://no-such-bucket-iat/a") && err.contains("NoSuchBucket"),
        "{err}"
    );
    assert!(S3ObjectStore::new(s3_client(&endpoint).await, "Bad_Bucket", "").is_err());

    let down = s3_client("http://127.0.0.1:9").await;
    let store = S3ObjectStore::new(down, "bucket", "").unwrap();
    let err = store
        .get(&ObjectKey::new("a").unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot reach the endpoint"), "{err}");
}

async fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    aws_sdk_dynamodb::Client::new(&config)
}

static TABLES: AtomicUsize = AtomicUsize::new(0);

/// A fresh on-demand table keyed by `pk` (and `sk` when `sorted`).
async fn fresh_table(client: &aws_sdk_dynamodb::Client, sorted: bool) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = format!(
        "iat-test-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let mut req = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .key_schema(key("pk", KeyType::Hash));
    if sorted {
        req = req
            .attribute_definitions(attr("sk"))
            .key_schema(key("sk", KeyType::Range));
    }
    req.send().await.expect("create table in moto");
    name
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_checkpoint_store_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::checkpoint_store_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_table(&client, true).await;
            iat_aws::DynamoCheckpointStore::new(client, table)
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_alert_ledger_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::alert_ledger_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_table(&client, false).await;
            iat_aws::DynamoAlertLedger::new(client, table, chrono::Duration::days(30))
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_alert_log_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::alert_log_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_table(&client, true).await;
            iat_aws::DynamoAlertLog::new(client, table)
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_seen_store_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::seen_store_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_table(&client, true).await;
            iat_aws::DynamoSeenStore::new(client, table)
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_errors_name_the_table() {
    use iat_core::ports::CheckpointStore;
    let endpoint = iat_sim::emulators::moto_endpoint();
    let store =
        iat_aws::DynamoCheckpointStore::new(dynamo_client(&endpoint).await, "no-such-table");
    let err = store.list().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("table no-such-table: not found") && text.contains("create-tables"),
        "{text}"
    );
    // The SDK's error is kept whole as the source, and the table is a field.
    let iat_core::Error::Backend {
        operation,
        resource,
        source: Some(source),
        ..
    } = &err
    else {
        panic!("a backend error with its source: {err:?}");
    };
    assert_eq!(
        (*operation, resource.as_deref()),
        ("list checkpoints", Some("table no-such-table"))
    );
    let sdk = source
        .downcast_ref::<aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::query::QueryError,
        >>()
        .expect("the SDK error, as the SDK returned it");
    assert!(
        sdk.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "{sdk:?}"
    );
}

async fn fresh_events_table(client: &aws_sdk_dynamodb::Client) -> String {
    fresh_events_table_with(client, iat_aws::LookupIndexes::None).await
}

async fn fresh_events_table_with(
    client: &aws_sdk_dynamodb::Client,
    indexes: iat_aws::LookupIndexes,
) -> String {
    let name = format!(
        "iat-events-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    iat_aws::create_events_table(client, &name, indexes)
        .await
        .expect("create events table in moto");
    name
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_store_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::event_store_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_events_table(&client).await;
            iat_aws::DynamoEventStore::new(client, table)
        }
    })
    .await;
    // With both lookup indexes, found by the store itself.
    contract::event_store_suite(|| {
        let client = client.clone();
        async move {
            let table = fresh_events_table_with(&client, iat_aws::LookupIndexes::Both).await;
            iat_aws::DynamoEventStore::new(client, table)
        }
    })
    .await;
}

/// A fresh events table and control table as a feed resuming `late_window` before its mark.
async fn fresh_feed(
    client: aws_sdk_dynamodb::Client,
    late_window: chrono::Duration,
) -> (
    std::sync::Arc<iat_aws::DynamoEventStore>,
    std::sync::Arc<iat_aws::DynamoEventFeed>,
) {
    use std::sync::Arc;
    let events = fresh_events_table(&client).await;
    let control = fresh_table(&client, true).await;
    let store = Arc::new(iat_aws::DynamoEventStore::new(client.clone(), events));
    let feed = iat_aws::DynamoEventFeed::new(store.clone(), client, &control)
        .with_late_window(late_window);
    (store, Arc::new(feed))
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_feed_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    contract::event_feed_suite(|| {
        fresh_feed(
            client.clone(),
            iat_aws::DynamoEventFeed::DEFAULT_LATE_WINDOW,
        )
    })
    .await;
}

/// Without the late window, the DynamoDB feed would miss an event stored late: the suite
/// catches it.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_feed_without_a_late_window_fails_the_contract() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    let run = tokio::spawn(async move {
        contract::event_feed_suite(|| fresh_feed(client.clone(), chrono::Duration::zero())).await;
    })
    .await;
    let panic = run.expect_err("the suite must fail without a late window");
    let message = panic.into_panic();
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("\"late\""), "{text}");
}

/// Every query answers what the in-memory store answers, over days, shards and both indexes.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_store_answers_like_memory() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    for indexes in [
        iat_aws::LookupIndexes::None,
        iat_aws::LookupIndexes::Actor,
        iat_aws::LookupIndexes::Both,
    ] {
        answers_like_memory(&client, indexes).await;
    }
}

/// Every query on a table with `indexes` answers as the memory store does, in one walk and in
/// pages, and each lookup says which path it took.
async fn answers_like_memory(client: &aws_sdk_dynamodb::Client, indexes: iat_aws::LookupIndexes) {
    use chrono::{Duration, TimeZone, Utc};
    use iat_aws::ReadPath;
    use iat_core::TimeWindow;
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{EventCursor, EventQuery, EventStore, MemoryEventStore, Order};

    let dynamo = iat_aws::DynamoEventStore::new(
        client.clone(),
        fresh_events_table_with(client, indexes).await,
    );
    let memory = MemoryEventStore::new();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 22, 0, 0).unwrap();
    let users = ["alice", "bob", "carol"];
    let names = ["CreateUser", "AssumeRole", "ListUsers", "GetRole"];
    // 900 events over two days (22:00 to 17:37 the next day); several share an instant.
    let events: Vec<_> = (0..900i64)
        .map(|i| {
            RecordSpec::new(
                &format!("ev-{:04}", (i * 7919) % 900),
                t0 + Duration::seconds(i * 157 / 2),
            )
            .user(users[(i % 3) as usize])
            .name("iam.amazonaws.com", names[(i % 4) as usize])
            .event()
        })
        .collect();
    for chunk in events.chunks(130) {
        let a = dynamo.put(chunk).await.unwrap();
        let b = memory.put(chunk).await.unwrap();
        assert_eq!(a, b);
    }
    let again = dynamo.put(&events[100..400]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 300));
    assert_eq!(dynamo.stats().await.unwrap(), memory.stats().await.unwrap());

    let window = TimeWindow::new(t0 + Duration::hours(5), t0 + Duration::hours(26)).unwrap();
    let queries = [
        EventQuery::default(),
        EventQuery {
            window: Some(window),
            ..Default::default()
        },
        EventQuery {
            actor: Some("bob".into()),
            ..Default::default()
        },
        EventQuery {
            actor: Some("bob".into()),
            window: Some(window),
            order: Order::Descending,
            ..Default::default()
        },
        EventQuery {
            event_names: vec!["AssumeRole".into()],
            window: Some(window),
            ..Default::default()
        },
        EventQuery {
            event_names: vec!["Create*".into(), "GetRole".into()],
            ..Default::default()
        },
        EventQuery {
            actor: Some("[ab]*".into()),
            order: Order::Descending,
            ..Default::default()
        },
    ];
    // The path each query takes on this table: an index only where the table has it.
    let actor_index = indexes != iat_aws::LookupIndexes::None;
    let name_index = indexes == iat_aws::LookupIndexes::Both;
    // Every day the table holds, and the days the window covers.
    let day_path = |filter| ReadPath::DayPartitions { days: 2, filter };
    let index_path = |index| ReadPath::Index { index, days: 2 };
    let paths = [
        day_path(None),
        ReadPath::DayPartitions {
            days: 1,
            filter: None,
        },
        if actor_index {
            index_path(iat_aws::BY_ACTOR)
        } else {
            day_path(Some("actor"))
        },
        if actor_index {
            ReadPath::Index {
                index: iat_aws::BY_ACTOR,
                days: 1,
            }
        } else {
            ReadPath::DayPartitions {
                days: 1,
                filter: Some("actor"),
            }
        },
        if name_index {
            ReadPath::Index {
                index: iat_aws::BY_NAME,
                days: 1,
            }
        } else {
            ReadPath::DayPartitions {
                days: 1,
                filter: Some("event name"),
            }
        },
        day_path(None),
        day_path(None),
    ];
    for (q, path) in queries.iter().zip(paths) {
        let want = memory.query(q).await.unwrap();
        let before = dynamo.read_report();
        let got = dynamo.query(q).await.unwrap();
        let report = dynamo.read_report();
        assert_eq!(report.last_path, Some(path), "{indexes}: {q:?}");
        assert!(report.requests > before.requests, "{q:?}: reads counted");
        assert_eq!(got.len(), want.len(), "{indexes}: {q:?}");
        assert!(got == want, "{q:?}: same events in the same order");
        // The same walk in pages of 37 visits the same events.
        let mut paged = Vec::new();
        let mut after: Option<EventCursor> = None;
        loop {
            let page = dynamo
                .query(&EventQuery {
                    after: after.clone(),
                    limit: Some(37),
                    ..q.clone()
                })
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(EventCursor::after(last));
            paged.extend(page);
        }
        assert!(paged == want, "{q:?}: paged walk");
    }
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_store_hides_expired_events() {
    use chrono::{Duration, Utc};
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{EventQuery, EventStore};

    let endpoint = iat_sim::emulators::moto_endpoint();
    let client = dynamo_client(&endpoint).await;
    let table = fresh_events_table(&client).await;
    let now = Utc::now();
    let old = RecordSpec::new("old", now - Duration::days(40)).event();
    let new = RecordSpec::new("new", now - Duration::days(2)).event();
    // A backfill writes an event older than the retention: it stays for the export's grace.
    let store = iat_aws::DynamoEventStore::new(client.clone(), table.clone())
        .with_retention(Some(Duration::days(30)));
    store.put(&[old.clone(), new.clone()]).await.unwrap();
    let ids = |got: Vec<iat_core::ActivityEvent>| -> Vec<String> {
        got.iter().map(|e| e.id.to_string()).collect()
    };
    assert_eq!(
        ids(store.query(&EventQuery::default()).await.unwrap()),
        ["old", "new"],
        "a backfilled event stays until the exporter has had its chance"
    );
    // Without that grace it expires at once. moto never deletes expired items, like DynamoDB
    // in the two days before it gets to them, and reads still hide them.
    let table = fresh_events_table(&client).await;
    let store = iat_aws::DynamoEventStore::new(client.clone(), table)
        .with_retention(Some(Duration::days(30)))
        .with_export_grace(Duration::zero());
    store.put(&[old, new]).await.unwrap();
    assert_eq!(
        ids(store.query(&EventQuery::default()).await.unwrap()),
        ["new"]
    );
    assert_eq!(store.stats().await.unwrap().events, 1);
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn dynamo_event_store_missing_table_says_what_to_do() {
    use iat_core::ports::{EventQuery, EventStore};
    let endpoint = iat_sim::emulators::moto_endpoint();
    let store = iat_aws::DynamoEventStore::new(dynamo_client(&endpoint).await, "no-such-events");
    let err = store
        .query(&EventQuery::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table no-such-events: not found") && err.contains("iat create-tables"),
        "{err}"
    );
}

/// moto has no Account Management `ListRegions` (the unit tests cover its pages and statuses
/// with mocks), which makes it the case of an account that will not say: named regions are
/// collected unchecked, and with none named the error says what to allow.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn regions_unlisted_by_the_account_are_named_or_refused() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..Default::default()
    })
    .await;
    let named = [iat_core::Region::new("eu-west-1").unwrap()];
    let (regions, found) = iat_aws::regions_to_collect(&config, &named).await.unwrap();
    assert_eq!(regions, named);
    assert!(found.is_none());
    let e = iat_aws::regions_to_collect(&config, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ListRegions") && e.contains("account:ListRegions"),
        "{e}"
    );
}

static TOPICS: AtomicUsize = AtomicUsize::new(0);

async fn inbox(endpoint: &str) -> iat_aws::testing::SnsInbox {
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    let name = format!(
        "iat-test-{}-{}",
        std::process::id(),
        TOPICS.fetch_add(1, Ordering::Relaxed)
    );
    iat_aws::testing::SnsInbox::create(&config, &name).await
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn sns_notifier_contract_read_back_through_sqs() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let inbox = inbox(&endpoint).await;
    let notifier = iat_aws::SnsNotifier::new(inbox.sns.clone(), &inbox.topic_arn);
    notifier.check().await.unwrap();
    contract::notifier_suite(&notifier, || {
        let inbox = inbox.clone();
        async move {
            inbox
                .drain()
                .await
                .into_iter()
                .map(|d| d.notification)
                .collect()
        }
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn sns_missing_topic_is_named() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let inbox = inbox(&endpoint).await;
    let arn = inbox.topic_arn.replace("iat-test", "no-such-topic");
    let notifier = iat_aws::SnsNotifier::new(inbox.sns.clone(), &arn);
    let e = notifier.check().await.unwrap_err().to_string();
    assert!(e.contains(&arn), "{e}");
}

async fn athena_engine(endpoint: &str, region: &str) -> iat_aws::AthenaQueryEngine {
    let config = sdk_config(&AwsSettings {
        region: Some(region.into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    let mut settings = iat_aws::AthenaSettings::new("iat", "primary");
    settings.output_location = Some("s3://iat-athena-results/".into());
    iat_aws::AthenaQueryEngine::new(aws_sdk_athena::Client::new(&config), settings)
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn athena_rows_come_back_as_the_catalogue_expects() {
    use iat_aws::testing::{AthenaAnswer, queue_athena_answers};
    use iat_core::ports::QueryEngine;
    let endpoint = iat_sim::emulators::moto_endpoint();
    // A region of its own: moto hands queued answers to the next queries of that region.
    let region = "ap-northeast-3";
    let text = |v: &str| Some(v.to_owned());
    queue_athena_answers(
        &endpoint,
        region,
        &[AthenaAnswer {
            columns: vec![
                ("event_source".into(), "varchar".into()),
                ("calls".into(), "bigint".into()),
                ("a_layer".into(), "varchar".into()),
            ],
            rows: vec![
                vec![
                    text("s3.amazonaws.com"),
                    text("40"),
                    text("resource_policy"),
                ],
                vec![text("sqs.amazonaws.com"), text("2"), None],
            ],
        }],
    );
    let engine = athena_engine(&endpoint, region).await;
    let sql = iat_lake::QueryCatalogue::builtin()
        .get("denied_calls")
        .unwrap()
        .render(&iat_lake::catalogue::period(
            "2026-03-01".parse().unwrap(),
            "2026-03-07".parse().unwrap(),
        ))
        .unwrap();
    let run = engine.run(&sql).await.unwrap();
    assert_eq!(run.rows.columns, ["event_source", "calls", "a_layer"]);
    assert_eq!(run.rows.typed, [false, true, false]);
    assert_eq!(
        run.rows.rows,
        vec![
            vec![
                text("s3.amazonaws.com"),
                text("40"),
                text("resource_policy")
            ],
            vec![text("sqs.amazonaws.com"), text("2"), None],
        ]
    );
    // moto scans nothing; Athena bills its 10 MB minimum for that.
    assert_eq!(run.scanned_bytes, Some(0));
    assert!(
        run.summary().contains("0 bytes scanned, $0.000048"),
        "{}",
        run.summary()
    );
    // An answer not queued: no rows, still a success.
    let empty = engine.run(&sql).await.unwrap();
    assert!(empty.rows.rows.is_empty());
}

/// Athena on moto runs no SQL: each case's rows are queued as Athena sends them (the header
/// row first, types in the column info, NULL as a missing value), so the suite checks what the
/// adapter makes of them, in the same terms as DataFusion's.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn athena_query_engine() {
    use iat_aws::testing::{AthenaAnswer, queue_athena_answers};
    let endpoint = iat_sim::emulators::moto_endpoint();
    // A region of its own: moto hands queued answers to the next queries of that region.
    let region = "ca-west-1";
    iat_core::contract::query_engine_suite(|_, cases| async move {
        let answers: Vec<AthenaAnswer> = cases
            .iter()
            .map(|c| AthenaAnswer {
                columns: c
                    .expected
                    .columns
                    .iter()
                    .cloned()
                    .zip(c.column_types.iter().map(|t| (*t).to_owned()))
                    .collect(),
                rows: c.expected.rows.clone(),
            })
            .collect();
        queue_athena_answers(&endpoint, region, &answers);
        athena_engine(&endpoint, region).await
    })
    .await;
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn athena_missing_workgroup_is_named() {
    use iat_core::ports::QueryEngine;
    let endpoint = iat_sim::emulators::moto_endpoint();
    let config = sdk_config(&AwsSettings {
        region: Some("ap-northeast-3".into()),
        endpoint_url: Some(endpoint.clone()),
        ..Default::default()
    })
    .await;
    let engine = iat_aws::AthenaQueryEngine::new(
        aws_sdk_athena::Client::new(&config),
        iat_aws::AthenaSettings::new("iat", "no-such-workgroup"),
    );
    let e = engine.run("SELECT 1").await.unwrap_err().to_string();
    assert!(
        e.contains("StartQueryExecution") && e.contains("no-such-workgroup"),
        "{e}"
    );
}

/// Organizations on moto: an organisation of 60 accounts, listed past one page, with names.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn organizations_lists_every_account_with_its_name() {
    use iat_core::ports::AccountDirectory;
    let endpoint = iat_sim::emulators::moto_endpoint();
    let config = iat_aws::testing::emulator_config(&endpoint, "us-east-1").await;
    let client = aws_sdk_organizations::Client::new(&config);
    if let Err(e) = client
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
    {
        let code = e.as_service_error().and_then(|e| {
            aws_sdk_organizations::error::ProvideErrorMetadata::code(e).map(str::to_owned)
        });
        assert_eq!(
            code.as_deref(),
            Some("AlreadyInOrganizationException"),
            "{e:?}"
        );
    }
    let run = std::process::id();
    let mut created = std::collections::BTreeMap::new();
    for i in 0..60 {
        let name = format!("workload-{run}-{i:02}");
        let status = client
            .create_account()
            .account_name(&name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .unwrap();
        let id = status
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("moto creates accounts at once")
            .to_owned();
        created.insert(id, name);
    }
    let directory = iat_aws::OrganizationsAccountDirectory::new(client);
    let listed = directory.accounts().await.unwrap();
    assert!(listed.len() > 60, "{} accounts", listed.len());
    for (id, name) in &created {
        let a = listed
            .iter()
            .find(|a| a.id.as_str() == id)
            .unwrap_or_else(|| panic!("account {id} ({name}) not listed"));
        assert_eq!(&a.name, name);
        assert_eq!(a.status, "ACTIVE");
    }
    let mut ids: Vec<&str> = listed.iter().map(|a| a.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), listed.len(), "an account listed twice");
}

/// The accounts under an organisational unit, child units included, and nothing else; an
/// unknown unit is named in the error.
#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn the_accounts_under_a_unit_include_its_child_units() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let config = iat_aws::testing::emulator_config(&endpoint, "us-east-1").await;
    let client = aws_sdk_organizations::Client::new(&config);
    let run = std::process::id();
    let outside = iat_aws::testing::organization_member(&client, &format!("outside-{run}")).await;
    let root = iat_aws::testing::ensure_organization(&client).await;
    let unit = iat_aws::testing::organizational_unit;
    let workloads = unit(&client, &root, &format!("workloads-{run}")).await;
    let prod = unit(&client, &workloads, &format!("prod-{run}")).await;
    let mut inside = Vec::new();
    for (i, ou) in [&workloads, &prod, &prod].into_iter().enumerate() {
        let id = iat_aws::testing::organization_member(&client, &format!("in-{run}-{i}")).await;
        client
            .move_account()
            .account_id(&id)
            .source_parent_id(&root)
            .destination_parent_id(ou)
            .send()
            .await
            .unwrap();
        inside.push(id);
    }
    let directory = iat_aws::OrganizationsAccountDirectory::new(client);
    let mut listed: Vec<String> = directory
        .accounts_under(&workloads)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id.to_string())
        .collect();
    listed.sort();
    inside.sort();
    assert_eq!(listed, inside, "not {outside}");
    let e = directory
        .accounts_under("ou-zzzz-zzzzzzzz")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("ou-zzzz-zzzzzzzz"), "{e}");
}
