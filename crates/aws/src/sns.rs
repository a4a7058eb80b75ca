//! The `Notifier` port on an SNS topic.
//!
//! Each notification is one `Publish`: the subject (under 100 characters), the plain-text body,
//! and the notification's attributes as `String` message attributes, so subscriptions can filter
//! on `severity`, `rule_id`, `event_name` and `account`.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use iat_core::Error;
use iat_core::ports::{Notification, Notifier};

use crate::error::sdk_error;

/// Publishes notifications to one topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// Fails fast when the topic does not exist or cannot be read.
    pub async fn check(&self) -> Result<(), Error> {
        self.client
            .get_topic_attributes()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                sdk_error(
                    "sns",
                    "GetTopicAttributes",
                    Some(format!("topic {}", self.topic_arn)),
                    e,
                )
            })
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(n.subject.as_str())
            .message(&n.body);
        // Always filterable by severity, even when the caller set no attribute for it.
        let mut attributes = n.attributes.clone();
        attributes
            .entry("severity".to_owned())
            .or_insert_with(|| n.severity.as_str().to_owned());
        for (name, value) in &attributes {
            if value.is_empty() {
                continue;
            }
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| Error::backend("sns", "Publish", e))?;
            req = req.message_attributes(name, attr);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(sdk_error(
                "sns",
                "Publish",
                Some(format!("topic {}", self.topic_arn)),
                e,
            )),
        }
    }
}
