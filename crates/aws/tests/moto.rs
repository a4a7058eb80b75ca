//! The AWS adapters pass the ports' contract suites against moto.
//!
//! `make test` starts moto and sets `IAT_TEST_MOTO_ENDPOINT` (and `IAT_REQUIRE_EMULATORS`, so a
//! missing emulator fails the run instead of skipping). Run alone, these tests skip.

use std::sync::atomic::{AtomicUsize, Ordering};

use iat_aws::{AwsSettings, S3ObjectStore, sdk_config};
use iat_core::contract;
use iat_core::ports::{ObjectKey, ObjectStore};

fn endpoint() -> Option<String> {
    match std::env::var("IAT_TEST_MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var_os("IAT_REQUIRE_EMULATORS").is_none(),
                "IAT_REQUIRE_EMULATORS is set but IAT_TEST_MOTO_ENDPOINT is not"
            );
            eprintln!("skipped: no moto endpoint (run `make test`)");
            None
        }
    }
}

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
async fn s3_object_store_contract() {
    let Some(endpoint) = endpoint() else { return };
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

#[tokio::test]
async fn s3_lists_past_one_page() {
    let Some(endpoint) = endpoint() else { return };
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
async fn s3_errors_name_the_bucket_and_the_cause() {
    let Some(endpoint) = endpoint() else { return };
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
async fn dynamo_checkpoint_store_contract() {
    let Some(endpoint) = endpoint() else { return };
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
async fn dynamo_alert_ledger_contract() {
    let Some(endpoint) = endpoint() else { return };
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
async fn dynamo_errors_name_the_table() {
    use iat_core::ports::CheckpointStore;
    let Some(endpoint) = endpoint() else { return };
    let store =
        iat_aws::DynamoCheckpointStore::new(dynamo_client(&endpoint).await, "no-such-table");
    let err = store.list().await.unwrap_err().to_string();
    assert!(
        err.contains("no-such-table") && err.contains("ResourceNotFoundException"),
        "{err}"
    );
}
