//! Test helpers (feature `testkit`): an SNS topic whose deliveries land in an SQS queue, read
//! back as the notifications they carry; and rows for moto's Athena to answer with.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use iat_core::Severity;
use iat_core::ports::Notification;

/// A topic subscribed by a queue.
#[derive(Debug, Clone)]
pub struct SnsInbox {
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    pub queue_url: String,
}

/// One delivery: the notification and the raw SNS envelope.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub notification: Notification,
    pub envelope: serde_json::Value,
}

impl SnsInbox {
    /// Creates topic `name` and queue `name`, and subscribes the queue (enveloped delivery).
    pub async fn create(config: &SdkConfig, name: &str) -> Self {
        let sns = aws_sdk_sns::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let topic_arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");
        Self {
            sns,
            sqs,
            topic_arn,
            queue_url,
        }
    }

    /// Everything delivered so far, oldest first (drains the queue).
    pub async fn drain(&self) -> Vec<Delivery> {
        let mut out = Vec::new();
        loop {
            let r = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = r.messages();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let envelope: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope");
                let mut attributes = BTreeMap::new();
                if let Some(map) = envelope["MessageAttributes"].as_object() {
                    for (k, v) in map {
                        attributes.insert(
                            k.clone(),
                            v["Value"].as_str().unwrap_or_default().to_owned(),
                        );
                    }
                }
                let severity = attributes
                    .get("severity")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(Severity::Low);
                let mut n = Notification::new(
                    envelope["Subject"].as_str().unwrap_or_default(),
                    envelope["Message"].as_str().unwrap_or_default(),
                    severity,
                )
                .expect("a body");
                n.attributes = attributes;
                out.push(Delivery {
                    notification: n,
                    envelope,
                });
                if let Some(h) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(h)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
        out.sort_by(|a, b| {
            a.envelope["Timestamp"]
                .as_str()
                .cmp(&b.envelope["Timestamp"].as_str())
        });
        out
    }
}

/// The rows one Athena query should answer with, for moto (which runs no SQL).
#[derive(Debug, Clone, Default)]
pub struct AthenaAnswer {
    /// (name, Athena type) per column.
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Queues answers in moto for the next queries started in `region` (account 123456789012),
/// in order. Rows are laid out as Athena does: the column names first.
///
/// # Panics
/// When moto cannot be reached or refuses the request.
pub fn queue_athena_answers(endpoint: &str, region: &str, answers: &[AthenaAnswer]) {
    use std::io::{Read, Write};
    let datum = |v: &Option<String>| match v {
        Some(v) => serde_json::json!({ "VarCharValue": v }),
        None => serde_json::json!({}),
    };
    let results: Vec<serde_json::Value> = answers
        .iter()
        .map(|a| {
            let header: Vec<Option<String>> = a.columns.iter().map(|(n, _)| Some(n.clone())).collect();
            let rows: Vec<serde_json::Value> = std::iter::once(&header)
                .chain(&a.rows)
                .map(|r| serde_json::json!({ "Data": r.iter().map(datum).collect::<Vec<_>>() }))
                .collect();
            let columns: Vec<serde_json::Value> = a
                .columns
                .iter()
                .map(|(n, t)| serde_json::json!({ "Name": n, "Label": n, "Type": t, "Nullable": "UNKNOWN" }))
                .collect();
            serde_json::json!({ "rows": rows, "column_info": columns })
        })
        .collect();
    let body = serde_json::json!({ "region": region, "results": results }).to_string();
    let authority = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&authority).expect("connect to moto");
    let request = format!(
        "POST /moto-api/static/athena/query-results HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send to moto");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("read moto's answer");
    assert!(
        answer.starts_with("HTTP/1.1 201") || answer.starts_with("HTTP/1.0 201"),
        "moto: {answer}"
    );
}

/// The SDK configuration for an emulator at `endpoint` (test credentials come from the
/// environment `make test` sets).
pub async fn emulator_config(endpoint: &str, region: &str) -> SdkConfig {
    crate::sdk_config(&crate::AwsSettings {
        region: Some(region.into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await
}

/// Creates `bucket` and uploads every file under `dir` to it, keyed by its path below `dir`
/// after `prefix` (a trail written to disk by the generator becomes the trail's bucket).
/// Returns the files and bytes uploaded.
pub async fn upload_tree(
    config: &SdkConfig,
    bucket: &str,
    prefix: &str,
    dir: &std::path::Path,
) -> (u64, u64) {
    use iat_core::ports::{ObjectKey, ObjectStore};
    let client = crate::S3ObjectStore::client(config, true);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    let store = crate::S3ObjectStore::new(client, bucket, prefix).expect("a valid prefix");
    let (mut files, mut bytes) = (0, 0);
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let key = path
                .strip_prefix(dir)
                .expect("below dir")
                .to_string_lossy()
                .replace('\\', "/");
            let body = std::fs::read(&path).expect("readable file");
            bytes += body.len() as u64;
            store
                .put(&ObjectKey::new(key).expect("a valid key"), body)
                .await
                .expect("upload");
            files += 1;
        }
    }
    (files, bytes)
}

/// A new member account named `name` in moto's organisation (created first if no test has),
/// and its id.
#[cfg(feature = "organizations")]
pub async fn organization_member(client: &aws_sdk_organizations::Client, name: &str) -> String {
    ensure_organization(client).await;
    client
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .expect("create the account")
        .create_account_status()
        .and_then(|s| s.account_id())
        .expect("moto creates accounts at once")
        .to_owned()
}

/// A new organisational unit named `name` under `parent` (a root or unit id), and its id.
#[cfg(feature = "organizations")]
pub async fn organizational_unit(
    client: &aws_sdk_organizations::Client,
    parent: &str,
    name: &str,
) -> String {
    client
        .create_organizational_unit()
        .parent_id(parent)
        .name(name)
        .send()
        .await
        .expect("create the unit")
        .organizational_unit()
        .and_then(|u| u.id())
        .expect("a unit id")
        .to_owned()
}

/// Moto's organisation, created unless a test already has, and its root's id.
#[cfg(feature = "organizations")]
pub async fn ensure_organization(client: &aws_sdk_organizations::Client) -> String {
    use aws_sdk_organizations::error::ProvideErrorMetadata;
    if let Err(e) = client
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
    {
        let code = e
            .as_service_error()
            .and_then(|e| e.code().map(str::to_owned));
        assert_eq!(
            code.as_deref(),
            Some("AlreadyInOrganizationException"),
            "{e:?}"
        );
    }
    client
        .list_roots()
        .send()
        .await
        .expect("list the roots")
        .roots()[0]
        .id()
        .expect("a root id")
        .to_owned()
}
