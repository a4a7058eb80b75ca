//! The alert log in the control table: what the deployed alerter sent, for people to read back
//! and acknowledge (the console over a deployment).
//!
//! One item per alert: `pk = ALERTLOG`, `sk = <alert id>` (`rule:first event id`), the alert as
//! sent in `body` (JSON), its acknowledgement in `ack` (JSON, absent until someone acknowledges
//! it) and `expires_at` (the control table's TTL attribute) [`DynamoAlertLog::RETENTION`] after
//! it was sent. Recording is an `UpdateItem` of `body` and `expires_at` only, so logging an alert
//! again keeps its acknowledgement; acknowledging is an `UpdateItem` of `ack` on condition that
//! the alert exists.
//!
//! The decision to know: the log is one partition, read whole (paged) by `list` and filtered by
//! window there. Alerts are few (the alerter digests bursts) and expire after 90 days, so a
//! list reads at most a few thousand small items; one partition takes 1,000 writes a second,
//! far above the alerter's rate limit of messages.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use iat_core::Error;
use iat_core::ports::alert_log::{check_acknowledgement, order_and_limit};
use iat_core::ports::{Acknowledgement, AlertLog, AlertLogQuery, LoggedAlert};

use crate::error::{dynamo_error, is_condition_failure};

const PK: &str = "ALERTLOG";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The alert log in a DynamoDB table with `pk` and `sk` (the control table).
#[derive(Debug, Clone)]
pub struct DynamoAlertLog {
    client: Client,
    table: String,
}

impl DynamoAlertLog {
    /// How long a logged alert is kept after it was sent.
    pub const RETENTION: Duration = Duration::days(90);

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), s(PK)), ("sk".to_owned(), s(id))])
    }

    fn err(&self, operation: &'static str, detail: impl std::fmt::Display) -> Error {
        Error::backend(
            "dynamodb",
            operation,
            format!("table {}: {detail}", self.table),
        )
    }

    /// An item as an alert; `None` (with a warning) when it cannot be read.
    fn parse(&self, item: &HashMap<String, AttributeValue>) -> Option<LoggedAlert> {
        let id = item.get("sk").and_then(|v| v.as_s().ok());
        let body = item.get("body").and_then(|v| v.as_s().ok());
        let mut alert: LoggedAlert = match body.map(|b| serde_json::from_str(b)) {
            Some(Ok(a)) => a,
            other => {
                let reason = match other {
                    Some(Err(e)) => e.to_string(),
                    _ => "no body".to_owned(),
                };
                tracing::warn!(table = %self.table, id = ?id, %reason, "unreadable alert log entry skipped");
                return None;
            }
        };
        alert.ack = item
            .get("ack")
            .and_then(|v| v.as_s().ok())
            .and_then(|a| serde_json::from_str(a).ok());
        Some(alert)
    }
}

#[async_trait]
impl AlertLog for DynamoAlertLog {
    async fn record(&self, alerts: &[LoggedAlert]) -> Result<(), Error> {
        for alert in alerts {
            let body = LoggedAlert {
                ack: None,
                ..alert.clone()
            };
            let body = serde_json::to_string(&body).map_err(|e| self.err("record alert", e))?;
            let expires = (alert.sent_at.max(Utc::now()) + Self::RETENTION).timestamp();
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key(&alert.id)))
                .update_expression("SET body = :b, expires_at = :x")
                .expression_attribute_values(":b", s(body))
                .expression_attribute_values(":x", AttributeValue::N(expires.to_string()))
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "record alert", e))?;
        }
        Ok(())
    }

    async fn list(&self, query: &AlertLogQuery) -> Result<Vec<LoggedAlert>, Error> {
        let now = Utc::now().timestamp();
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(PK))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "list alerts", e))?;
            for item in page.items() {
                // Expired items are still read until DynamoDB gets to them.
                let expired = item
                    .get("expires_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|x| x <= now);
                if expired {
                    continue;
                }
                if let Some(alert) = self.parse(item).filter(|a| query.matches(a)) {
                    out.push(alert);
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(order_and_limit(out, query.limit))
    }

    async fn get(&self, id: &str) -> Result<Option<LoggedAlert>, Error> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error(&self.table, "get alert", e))?;
        Ok(got.item().and_then(|item| self.parse(item)))
    }

    async fn acknowledge(&self, id: &str, ack: &Acknowledgement) -> Result<bool, Error> {
        check_acknowledgement(ack)?;
        let text = serde_json::to_string(ack).map_err(|e| self.err("acknowledge alert", e))?;
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET ack = :a")
            .condition_expression("attribute_exists(body)")
            .expression_attribute_values(":a", s(text))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(dynamo_error(&self.table, "acknowledge alert", e)),
        }
    }
}
