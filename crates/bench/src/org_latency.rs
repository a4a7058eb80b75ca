//! `org.file_to_alert_s_p50` and `_p99`: from a trail file's S3 notification to its alert's SNS
//! publish, through the real function binaries, everything on moto.
//!
//! The path is the deployed one with the two Lambda pollers played by this harness: files put
//! in a bucket whose notifications go to an SQS queue; the queue read in batches of up to 10
//! and handed to the ingester binaries (two warm execution environments) through the Runtime
//! API; the events table's DynamoDB stream read from moto and handed to the alerter binary in
//! batches gathered for the template's batching window; the alerts read back from the topic's
//! SQS subscription. Both ends are moto's clock: the notification's `eventTime` and the SNS
//! envelope's `Timestamp`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use iat_core::contract::records::RecordSpec;
use iat_lambda::testing::{Outcome, function_command, runtime_api_queue};
use serde_json::{Value, json};

use crate::{Figure, percentile};

const ORG: &str = "o-b3nchl4t3n";
/// The stream trigger's `MaximumBatchingWindowInSeconds` in the template.
const STREAM_WINDOW: Duration = Duration::from_secs(5);
/// The stream trigger's `BatchSize`.
const STREAM_BATCH: usize = 1000;
/// Ingester execution environments polling the queue at once.
const INGESTERS: usize = 2;
/// Background records in each file besides its alerting one.
const BACKGROUND: usize = 9;

/// What the harness saw of one file.
#[derive(Default)]
struct Seen {
    notified: HashMap<usize, DateTime<Utc>>,
    published: HashMap<usize, DateTime<Utc>>,
    ingest_batches: usize,
    alert_batches: usize,
    /// SNS messages delivered (an alert each, or a digest of several).
    messages: usize,
    failures: Vec<String>,
}

pub(crate) fn benchmark(
    endpoint: &str,
    ingester: &Path,
    alerter: &Path,
    files: usize,
    per_second: f64,
) -> anyhow::Result<Vec<Figure>> {
    for bin in [ingester, alerter] {
        if !bin.exists() {
            bail!(
                "{} is missing: cargo build --release -p iat-lambda",
                bin.display()
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let seen = runtime.block_on(run(endpoint, ingester, alerter, files, per_second))?;
    if !seen.failures.is_empty() {
        bail!(
            "{} failures, first: {}",
            seen.failures.len(),
            seen.failures[0]
        );
    }
    let mut latencies: Vec<f64> = (0..files)
        .filter_map(|i| {
            let (n, p) = (seen.notified.get(&i)?, seen.published.get(&i)?);
            Some((*p - *n).num_milliseconds() as f64 / 1000.0)
        })
        .collect();
    if latencies.len() != files {
        bail!(
            "{} of {files} files were notified and alerted on ({} notified, {} alerted)",
            latencies.len(),
            seen.notified.len(),
            seen.published.len()
        );
    }
    latencies.sort_by(f64::total_cmp);
    let note = format!(
        "{files} trail files ({} records each, one alerting) put at {per_second} files/s into a moto bucket notifying an SQS queue; the queue read in batches of up to 10 by {INGESTERS} warm release ingester binaries through the Runtime API ({} invocations); the events table's moto stream handed to the release alerter binary in batches gathered for the template's {} s window ({} invocations, {} SNS messages: alerts, and digests where a batch held more than DIGEST_THRESHOLD; default MAX_MESSAGES_PER_SECOND); from the S3 notification's eventTime to the SNS envelope's Timestamp, both moto's clock. AWS's own delays (queue and stream polling, e-mail delivery) are outside our time and not modelled beyond the stream window; max {:.2} s",
        BACKGROUND + 1,
        seen.ingest_batches,
        STREAM_WINDOW.as_secs(),
        seen.alert_batches,
        seen.messages,
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    Ok(vec![
        Figure {
            metric: "org.file_to_alert_s_p50",
            value: percentile(&latencies, 0.50),
            unit: "s",
            goal: "report",
            note: note.clone(),
        },
        Figure {
            metric: "org.file_to_alert_s_p99",
            value: percentile(&latencies, 0.99),
            unit: "s",
            goal: "<= 60",
            note,
        },
    ])
}

/// The trail file `i`: one `iam:CreateUser` (the alert) among background reads, in one of
/// 50 accounts.
fn trail_file(i: usize, now: DateTime<Utc>) -> (String, Vec<u8>) {
    use std::io::Write;
    let account = format!("{:012}", 100_000_000_000u64 + (i % 50) as u64);
    let region = ["us-east-1", "eu-west-1", "ap-southeast-2"][i % 3];
    let mut records = vec![
        RecordSpec::new(&format!("lat-{i:05}"), now)
            .name("iam.amazonaws.com", "CreateUser")
            .user(&format!("bench-admin-{i}"))
            .place(&account, region)
            .params(json!({"userName": format!("bench-user-{i}")}))
            .json(),
    ];
    for b in 0..BACKGROUND {
        let (source, name) = if b % 3 == 0 {
            ("sts.amazonaws.com", "AssumeRole")
        } else {
            ("ec2.amazonaws.com", "DescribeInstances")
        };
        records.push(
            RecordSpec::new(&format!("bg-{i:05}-{b}"), now)
                .name(source, name)
                .place(&account, region)
                .json(),
        );
    }
    let body = format!("{{\"Records\":[{}]}}", records.join(","));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).expect("in memory");
    let day = now.format("%Y/%m/%d");
    let stamp = now.format("%Y%m%dT%H%MZ");
    let key = format!(
        "AWSLogs/{ORG}/{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_f{i:05}.json.gz"
    );
    (key, gz.finish().expect("in memory"))
}

fn file_index(key: &str) -> Option<usize> {
    let tail = key.rsplit("_f").next()?;
    tail.strip_suffix(".json.gz")?.parse().ok()
}

fn moto_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One DynamoDB Streams call to moto (the SDK has no client for it among our dependencies).
async fn streams(endpoint: &str, action: &str, body: Value) -> anyhow::Result<Value> {
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let tcp = tokio::net::TcpStream::connect(&authority).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post("/")
        .header("host", &authority)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDBStreams_20120810.{action}"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from(body.to_string())))?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let bytes = res.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "DynamoDB Streams {action}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(serde_json::from_slice(&bytes)?)
}

async fn run(
    endpoint: &str,
    ingester: &Path,
    alerter: &Path,
    files: usize,
    per_second: f64,
) -> anyhow::Result<Seen> {
    let sdk = iat_aws::testing::emulator_config(endpoint, "us-east-1").await;
    let tag = format!("iat-latency-{}", std::process::id());
    let s3 = iat_aws::S3ObjectStore::client(&sdk, true);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let (bucket, table, ledger) = (
        format!("{tag}-trail"),
        format!("{tag}-events"),
        format!("{tag}-ledger"),
    );
    s3.create_bucket().bucket(&bucket).send().await?;
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{tag}-files"))
        .send()
        .await?
        .queue_url
        .context("queue url")?;
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(format!("arn:aws:sqs:us-east-1:123456789012:{tag}-files"))
                        .events(Event::S3ObjectCreated)
                        .build()?,
                )
                .build(),
        )
        .send()
        .await?;
    iat_aws::create_table(&ddb, iat_aws::TableKind::Events, &table).await?;
    ddb.update_table()
        .table_name(&table)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewImage)
                .build()?,
        )
        .send()
        .await?;
    let stream_arn = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .context("the events table's stream")?;
    iat_aws::create_table(&ddb, iat_aws::TableKind::AlertLedger, &ledger).await?;
    let inbox = iat_aws::testing::SnsInbox::create(&sdk, &format!("{tag}-alerts")).await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let spawn = |bin: &Path, api, name: &str, env: &[(&str, &str)]| {
        let mut cmd = function_command(bin, api, name);
        cmd.env("AWS_ENDPOINT_URL", endpoint)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn()
            .with_context(|| format!("start {}", bin.display()))
    };
    let mut children = Vec::new();
    let deadline = Instant::now()
        + Duration::from_secs_f64(files as f64 / per_second)
        + Duration::from_secs(300);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The queue's pollers, one per ingester execution environment.
    let mut pollers = Vec::new();
    for n in 0..INGESTERS {
        let (api, invoke, mut outcomes) = runtime_api_queue(Duration::from_secs(900)).await;
        children.push(spawn(
            ingester,
            api,
            "ingester",
            &[
                ("EVENTS_TABLE", &table),
                ("TRAIL_BUCKET", &bucket),
                ("ORGANIZATION_ID", ORG),
            ],
        )?);
        let (sqs, queue_url, seen, done) =
            (sqs.clone(), queue_url.clone(), seen.clone(), done.clone());
        let queue_arn = format!("arn:aws:sqs:us-east-1:123456789012:{tag}-files");
        pollers.push(tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let got = match sqs
                    .receive_message()
                    .queue_url(&queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .visibility_timeout(120)
                    .send()
                    .await
                {
                    Ok(got) => got,
                    Err(e) => {
                        seen.lock()
                            .expect("lock")
                            .failures
                            .push(format!("receive: {e}"));
                        continue;
                    }
                };
                if got.messages().is_empty() {
                    continue;
                }
                let mut records = Vec::new();
                for m in got.messages() {
                    let body = m.body().unwrap_or_default();
                    if let Ok(v) = serde_json::from_str::<Value>(body) {
                        for r in v["Records"].as_array().into_iter().flatten() {
                            let key = r["s3"]["object"]["key"].as_str().unwrap_or_default();
                            if let (Some(i), Some(t)) = (
                                file_index(key),
                                moto_time(r["eventTime"].as_str().unwrap_or("")),
                            ) {
                                seen.lock().expect("lock").notified.insert(i, t);
                            }
                        }
                    }
                    records.push(json!({
                        "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                        "body": body, "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                        "awsRegion": "us-east-1", "attributes": {}, "messageAttributes": {},
                    }));
                }
                let _ = invoke.send(json!({ "Records": records }));
                let failed: Vec<String> = match outcomes.recv().await {
                    Some(Outcome::Response(v)) => v["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect(),
                    other => {
                        seen.lock()
                            .expect("lock")
                            .failures
                            .push(format!("ingester {n}: {other:?}"));
                        return;
                    }
                };
                {
                    let mut s = seen.lock().expect("lock");
                    s.ingest_batches += 1;
                    if !failed.is_empty() {
                        s.failures
                            .push(format!("ingester {n} failed messages {failed:?}"));
                    }
                }
                for m in got.messages() {
                    if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                        let _ = sqs
                            .delete_message()
                            .queue_url(&queue_url)
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .send()
                            .await;
                    }
                }
            }
        }));
    }

    // The stream's poller: one shard, one batch at a time, as Lambda reads a shard.
    let (api, invoke, mut outcomes) = runtime_api_queue(Duration::from_secs(900)).await;
    children.push(spawn(
        alerter,
        api,
        "alerter",
        &[
            ("ALERT_TOPIC_ARN", &inbox.topic_arn),
            ("ALERT_LEDGER_TABLE", &ledger),
        ],
    )?);
    let stream = {
        let (seen, done, endpoint, stream_arn) = (
            seen.clone(),
            done.clone(),
            endpoint.to_owned(),
            stream_arn.clone(),
        );
        tokio::spawn(async move {
            let described = streams(
                &endpoint,
                "DescribeStream",
                json!({"StreamArn": stream_arn}),
            )
            .await?;
            let shard = described["StreamDescription"]["Shards"][0]["ShardId"]
                .as_str()
                .context("a shard")?
                .to_owned();
            let mut iterator = streams(
                &endpoint,
                "GetShardIterator",
                json!({"StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await?["ShardIterator"]
                .as_str()
                .context("an iterator")?
                .to_owned();
            let mut pending: Vec<Value> = Vec::new();
            let mut first_at = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let page = streams(
                    &endpoint,
                    "GetRecords",
                    json!({"ShardIterator": iterator, "Limit": STREAM_BATCH}),
                )
                .await?;
                iterator = page["NextShardIterator"]
                    .as_str()
                    .context("a next iterator")?
                    .to_owned();
                let records = page["Records"].as_array().cloned().unwrap_or_default();
                if pending.is_empty() && !records.is_empty() {
                    first_at = Instant::now();
                }
                for mut r in records {
                    r["eventSourceARN"] = json!(stream_arn);
                    pending.push(r);
                }
                if !pending.is_empty()
                    && (first_at.elapsed() >= STREAM_WINDOW || pending.len() >= STREAM_BATCH)
                {
                    let _ = invoke.send(json!({ "Records": std::mem::take(&mut pending) }));
                    match outcomes.recv().await {
                        Some(Outcome::Response(v)) if v["batchItemFailures"] == json!([]) => {
                            seen.lock().expect("lock").alert_batches += 1;
                        }
                        other => bail!("the alerter did not handle its batch: {other:?}"),
                    }
                } else {
                    // Lambda polls a shard about four times a second.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            anyhow::Ok(())
        })
    };

    // The producer: files at a steady rate, as an organisation's accounts deliver them.
    let producer = {
        let (s3, bucket) = (s3.clone(), bucket.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..files {
                let at = start + Duration::from_secs_f64(i as f64 / per_second);
                tokio::time::sleep_until(at.into()).await;
                let (key, body) = trail_file(i, Utc::now());
                s3.put_object()
                    .bucket(&bucket)
                    .key(key)
                    .body(body.into())
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        })
    };

    // The topic's deliveries, read back as they arrive.
    while Instant::now() < deadline && seen.lock().expect("lock").published.len() < files {
        let got = inbox
            .sqs
            .receive_message()
            .queue_url(&inbox.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for m in got.messages() {
            let envelope: Value = serde_json::from_str(m.body().unwrap_or("{}"))?;
            let published = moto_time(envelope["Timestamp"].as_str().unwrap_or_default())
                .context("an SNS Timestamp")?;
            let message = envelope["Message"].as_str().unwrap_or_default();
            {
                let mut s = seen.lock().expect("lock");
                s.messages += 1;
                for part in message.split("lat-").skip(1) {
                    if let Ok(i) = part.get(..5).unwrap_or_default().parse::<usize>() {
                        let at = s.published.entry(i).or_insert(published);
                        *at = (*at).min(published);
                    }
                }
            }
            if let Some(h) = m.receipt_handle() {
                inbox
                    .sqs
                    .delete_message()
                    .queue_url(&inbox.queue_url)
                    .receipt_handle(h)
                    .send()
                    .await?;
            }
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.await??;
    for p in pollers {
        p.await?;
    }
    stream.await??;
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let seen = Arc::try_unwrap(seen)
        .map_err(|_| anyhow::anyhow!("a task still holds the results"))?
        .into_inner()
        .expect("lock");
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_known_by_its_key() {
        let (key, body) = trail_file(42, Utc::now());
        assert_eq!(file_index(&key), Some(42));
        assert_eq!(
            iat_core::trail::TrailKey::parse(&key).map(|k| k.account.to_string()),
            Some("100000000042".to_owned())
        );
        assert!(!body.is_empty());
    }
}
