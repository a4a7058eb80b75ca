//! The ingester function's real binary, run the way Lambda runs it: trail files put in a moto
//! bucket whose notifications go to a moto queue; the queue's messages handed to the binary as
//! the SQS batch Lambda would send; events read back from the DynamoDB table.

use std::io::Write;
use std::path::Path;
use std::time::Duration as StdDuration;

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use chrono::{Duration, Utc};
use iat_aws::{AwsSettings, DynamoEventStore, TableKind, create_table, sdk_config};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::EventStore;
use iat_lambda::testing::{Outcome, function_command, stop};
use serde_json::{Value, json};

const ORG: &str = "o-a1b2c3d4e5";
const ACCOUNT: &str = "111122223333";

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn key(region: &str, n: &str) -> String {
    let day = Utc::now().format("%Y/%m/%d");
    format!(
        "AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/{region}/{day}/{ACCOUNT}_CloudTrail_{region}_{n}.json.gz"
    )
}

/// A trail file of `n` records in `region`: every fourth an EC2 read (out of the identity
/// scope), the rest IAM and STS calls. Returns the file and how many are in scope.
fn trail_file(region: &str, tag: &str, n: usize) -> (String, usize) {
    let now = Utc::now() - Duration::minutes(10);
    let mut in_scope = 0;
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let (source, name) = match i % 4 {
                0 => ("ec2.amazonaws.com", "DescribeInstances"),
                1 => ("iam.amazonaws.com", "CreateUser"),
                _ => ("sts.amazonaws.com", "AssumeRole"),
            };
            if i % 4 != 0 {
                in_scope += 1;
            }
            let raw = RecordSpec::new(
                &format!("ingest-{tag}-{i}"),
                now + Duration::seconds(i as i64),
            )
            .name(source, name)
            .place(ACCOUNT, region)
            .json();
            serde_json::from_str(&raw).unwrap()
        })
        .collect();
    (json!({ "Records": records }).to_string(), in_scope)
}

async fn invoke(event: Value, env: &[(&str, String)]) -> (Value, String) {
    let (response, logs, _) = invoke_measured(event, env).await;
    (response, logs)
}

/// [`invoke`], also returning the binary's peak resident set in KiB once it has answered.
async fn invoke_measured(event: Value, env: &[(&str, String)]) -> (Value, String, u64) {
    let (api, mut outcomes) =
        iat_lambda::testing::runtime_api(event, StdDuration::from_secs(300)).await;
    let mut cmd = function_command(Path::new(env!("CARGO_BIN_EXE_ingester")), api, "ingester");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start the ingester binary");
    let outcome = tokio::time::timeout(StdDuration::from_secs(300), outcomes.recv()).await;
    let peak = iat_lambda::testing::peak_rss_kib(child.id()).unwrap_or(0);
    let logs = stop(child);
    match outcome {
        Ok(Some(Outcome::Response(v))) => (v, logs, peak),
        other => panic!("no response: {other:?}\n{logs}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn trail_files_announced_by_s3_are_stored_once_and_a_corrupt_one_is_retried() {
    let moto = iat_sim::emulators::moto_endpoint();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let suffix = std::process::id();
    let (bucket, table, queue) = (
        format!("org-trail-{suffix}"),
        format!("ingest-events-{suffix}"),
        format!("trail-files-{suffix}"),
    );
    let s3 = iat_aws::S3ObjectStore::client(&config, true);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    create_table(&ddb, TableKind::Events, &table).await.unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(&queue)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(queue_arn)
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let (east, east_in) = trail_file("us-east-1", "e", 400);
    let (west, west_in) = trail_file("eu-west-1", "w", 200);
    let corrupt = gz(&trail_file("us-east-1", "c", 50).0);
    let corrupt = corrupt[..corrupt.len() / 2].to_vec();
    let digest = key("us-east-1", "digest").replace("/CloudTrail/", "/CloudTrail-Digest/");
    for (k, body) in [
        (key("us-east-1", "20261130T1200Z_east"), gz(&east)),
        (key("eu-west-1", "20261130T1200Z_west"), gz(&west)),
        (key("us-east-1", "20261130T1205Z_corrupt"), corrupt),
        (digest, gz("{}")),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    // What S3 sent the queue, as Lambda's SQS batch.
    let mut records = Vec::new();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            records.push(json!({
                "messageId": m.message_id().unwrap(),
                "receiptHandle": m.receipt_handle().unwrap(),
                "body": m.body().unwrap(),
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
                "awsRegion": "us-east-1",
                "attributes": {}, "messageAttributes": {}, "md5OfBody": ""
            }));
        }
        if records.len() >= 5 {
            break;
        }
    }
    // One notification per object, and S3's test event sent when notifications were set.
    let created = records
        .iter()
        .filter(|r| r["body"].as_str().unwrap().contains("ObjectCreated"))
        .count();
    assert_eq!((records.len(), created), (5, 4), "{records:#?}");
    let corrupt_id = records
        .iter()
        .find(|r| r["body"].as_str().unwrap().contains("corrupt"))
        .map(|r| r["messageId"].clone())
        .expect("the corrupt file's notification");
    let event = json!({ "Records": records });
    let env = [
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("EVENTS_TABLE", table.clone()),
        ("TRAIL_BUCKET", bucket.clone()),
        ("ORGANIZATION_ID", ORG.to_owned()),
    ];

    let (response, logs) = invoke(event.clone(), &env).await;
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": corrupt_id}]}),
        "only the corrupt file's message is retried\n{logs}"
    );
    let done = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "batch done")
        .unwrap_or_else(|| panic!("no 'batch done' line:\n{logs}"));
    assert_eq!(done["fields"]["files"], 2, "{done:#}");
    assert_eq!(
        done["fields"]["skipped_objects"], 1,
        "the digest file: {done:#}"
    );
    assert_eq!(done["fields"]["out_of_scope"], 150, "{done:#}");
    assert!(
        logs.contains("truncated or corrupt gzip"),
        "the reason is logged:\n{logs}"
    );
    let store = DynamoEventStore::new(ddb.clone(), &table);
    let first = store.stats().await.unwrap().events;
    // The good files' in-scope events, and whatever of the corrupt file preceded its break.
    assert!(
        first >= (east_in + west_in) as u64 && first < (east_in + west_in + 50) as u64,
        "{first}"
    );

    // Delivered again (SQS is at least once): nothing stored twice.
    let (again, logs) = invoke(event, &env).await;
    assert_eq!(
        again["batchItemFailures"].as_array().unwrap().len(),
        1,
        "{logs}"
    );
    assert_eq!(store.stats().await.unwrap().events, first);
    let done = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "batch done")
        .unwrap();
    assert_eq!(done["fields"]["stored"], 0, "{done:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn an_unreadable_bucket_and_a_wrong_organisation_say_what_to_fix() {
    let moto = iat_sim::emulators::moto_endpoint();
    let suffix = std::process::id();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let table = format!("ingest-bad-{suffix}");
    create_table(
        &aws_sdk_dynamodb::Client::new(&config),
        TableKind::Events,
        &table,
    )
    .await
    .unwrap();
    let message = |bucket: &str, key: &str| {
        json!({"Records": [{
            "messageId": "m-1", "eventSource": "aws:sqs",
            "body": json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}).to_string()
        }]})
    };
    let env = [
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("EVENTS_TABLE", table.clone()),
        ("ORGANIZATION_ID", ORG.to_owned()),
    ];
    let (r, logs) = invoke(
        message(&format!("no-such-trail-{suffix}"), &key("us-east-1", "x")),
        &env,
    )
    .await;
    assert_eq!(r["batchItemFailures"][0]["itemIdentifier"], "m-1");
    assert!(logs.contains("NoSuchBucket"), "{logs}");
    let other_org = key("us-east-1", "x").replace(ORG, "o-zzzzzzzzzz");
    let (r, logs) = invoke(message("any-bucket", &other_org), &env).await;
    assert_eq!(r["batchItemFailures"][0]["itemIdentifier"], "m-1");
    assert!(logs.contains("ORGANIZATION_ID is o-a1b2c3d4e5"), "{logs}");

    // Bad configuration stops the function at start-up, naming the variable.
    let (api, _outcomes) =
        iat_lambda::testing::runtime_api(json!({}), StdDuration::from_secs(10)).await;
    let out = function_command(Path::new(env!("CARGO_BIN_EXE_ingester")), api, "ingester")
        .env("EVENTS_TABLE", &table)
        .env("INGEST_SCOPE", "everything")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("INGEST_SCOPE"),
        "{text}"
    );
}

/// An SSE-KMS trail (the bucket's default encryption and each object under a KMS key) read
/// through messages in CloudTrail's own notification shape, several keys each: what the trail's
/// SNS topic sends and what `make init` queues for a backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn sse_kms_files_named_in_cloudtrail_notifications_are_stored() {
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let moto = iat_sim::emulators::moto_endpoint();
    let config = iat_aws::testing::emulator_config(&moto, "us-east-1").await;
    let suffix = std::process::id();
    let (bucket, table) = (
        format!("org-trail-kms-{suffix}"),
        format!("ingest-kms-{suffix}"),
    );
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let s3 = iat_aws::S3ObjectStore::client(&config, true);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    create_table(&ddb, TableKind::Events, &table).await.unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_bucket_encryption()
        .bucket(&bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::AwsKms)
                                .kms_master_key_id(key_arn)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut keys = Vec::new();
    let mut in_scope = 0;
    for (i, region) in ["us-east-1", "eu-west-1", "ap-south-1"].iter().enumerate() {
        let (file, n) = trail_file(region, &format!("kms{i}"), 40);
        let k = key(region, &format!("20261130T1210Z_kms{i}"));
        s3.put_object()
            .bucket(&bucket)
            .key(&k)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key_arn)
            .body(gz(&file).into())
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(&k)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        keys.push(k);
        in_scope += n;
    }
    let event = json!({"Records": [
        {"messageId": "two-keys", "eventSource": "aws:sqs",
         "body": json!({"s3Bucket": bucket, "s3ObjectKey": [keys[0], keys[1]]}).to_string()},
        {"messageId": "one-key", "eventSource": "aws:sqs",
         "body": json!({"s3Bucket": bucket, "s3ObjectKey": [keys[2]]}).to_string()},
    ]});
    let env = [
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("EVENTS_TABLE", table.clone()),
        ("TRAIL_BUCKET", bucket.clone()),
        ("ORGANIZATION_ID", ORG.to_owned()),
    ];
    let (response, logs) = invoke(event, &env).await;
    assert_eq!(response, json!({"batchItemFailures": []}), "{logs}");
    let store = DynamoEventStore::new(ddb, &table);
    assert_eq!(
        store.stats().await.unwrap().events,
        in_scope as u64,
        "{logs}"
    );
}

/// A trail file of 200 MB (decompressed) through the real binary: read as a stream, so the
/// function's peak memory stays far below its 256 MB, whatever the file's size. One record in
/// 200 is an IAM call (in scope and stored); the rest are EC2 reads, parsed and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn a_200_mb_trail_file_is_read_within_the_memory_limit() {
    const BYTES: usize = 200 * 1000 * 1000;
    const LIMIT_KIB: u64 = 128 * 1024;
    let moto = iat_sim::emulators::moto_endpoint();
    let config = iat_aws::testing::emulator_config(&moto, "us-east-1").await;
    let suffix = std::process::id();
    let (bucket, table) = (
        format!("org-trail-big-{suffix}"),
        format!("ingest-big-{suffix}"),
    );
    let s3 = iat_aws::S3ObjectStore::client(&config, true);
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    create_table(&ddb, TableKind::Events, &table).await.unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    // Records written from two templates with their own ids, users and times, streamed
    // through gzip: the test never holds the decompressed file.
    let now = Utc::now() - Duration::hours(1);
    let template = |source: &str, name: &str| {
        RecordSpec::new("ID", now)
            .name(source, name)
            .user("USER")
            .place(ACCOUNT, "us-east-1")
            .json()
    };
    let (iam, ec2) = (
        template("iam.amazonaws.com", "CreateUser"),
        template("ec2.amazonaws.com", "DescribeInstances"),
    );
    let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(iam.contains("\"ID\"") && iam.contains(&stamp), "{iam}");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"{\"Records\":[").unwrap();
    let (mut written, mut records, mut in_scope) = (0usize, 0usize, 0usize);
    while written < BYTES {
        let base = if records % 200 == 7 {
            in_scope += 1;
            &iam
        } else {
            &ec2
        };
        let time = (now + Duration::milliseconds(records as i64 * 10)).format("%Y-%m-%dT%H:%M:%SZ");
        let text = base
            .replace("\"ID\"", &format!("\"big-{records:08}\""))
            .replace("USER", &format!("user-{}", records % 997))
            .replace(&stamp, &time.to_string());
        if records > 0 {
            gz.write_all(b",").unwrap();
        }
        gz.write_all(text.as_bytes()).unwrap();
        written += text.len() + 1;
        records += 1;
    }
    gz.write_all(b"]}").unwrap();
    let body = gz.finish().unwrap();
    let k = key("us-east-1", "20261130T1215Z_big");
    s3.put_object()
        .bucket(&bucket)
        .key(&k)
        .body(body.into())
        .send()
        .await
        .unwrap();

    let event = json!({"Records": [{
        "messageId": "big", "eventSource": "aws:sqs",
        "body": json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": k}}}]}).to_string()
    }]});
    let env = [
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("EVENTS_TABLE", table.clone()),
        ("TRAIL_BUCKET", bucket.clone()),
        ("ORGANIZATION_ID", ORG.to_owned()),
    ];
    let (response, logs, peak) = invoke_measured(event, &env).await;
    assert_eq!(response, json!({"batchItemFailures": []}), "{logs}");
    let done = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "batch done")
        .unwrap_or_else(|| panic!("no 'batch done' line:\n{logs}"));
    assert_eq!(
        done["fields"]["out_of_scope"],
        (records - in_scope) as u64,
        "{done:#}"
    );
    let store = DynamoEventStore::new(ddb, &table);
    assert_eq!(store.stats().await.unwrap().events, in_scope as u64);
    assert!(
        peak > 0 && peak <= LIMIT_KIB,
        "peak resident set {peak} KiB for {records} records ({written} bytes)"
    );
    eprintln!("{records} records, {written} bytes, {in_scope} stored, peak {peak} KiB");
}
