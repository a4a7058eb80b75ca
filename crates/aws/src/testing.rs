//! Test helpers (feature `testkit`): an SNS topic whose deliveries land in an SQS queue, read
//! back as the notifications they carry.

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
