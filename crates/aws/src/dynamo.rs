//! Ports on DynamoDB: collection checkpoints and the alert ledger.
//!
//! Both rely on conditional writes, so that concurrent invocations cannot both win:
//! - checkpoints are compare-and-set on `version` (all in one partition, `pk = CHECKPOINT`, one
//!   item per stream: a few thousand items at most, each written about hourly);
//! - the alert ledger claims an (event, rule) with `attribute_not_exists` or a stale claim, and
//!   its items expire through DynamoDB TTL (`expires_at`, 30 days by default).
//!
//! Tables have a string partition key `pk` and, for checkpoints, a string sort key `sk`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use iat_core::Error;
use iat_core::StreamKey;
use iat_core::ports::{AlertKey, AlertLedger, Checkpoint, CheckpointStore, ClaimOutcome};

use crate::error::{dynamo_error, is_condition_failure};

const BACKEND: &str = "dynamodb";
const CHECKPOINT_PK: &str = "CHECKPOINT";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_n(item: &HashMap<String, AttributeValue>, key: &str) -> Option<i64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Checkpoints in a DynamoDB table (`pk` = `CHECKPOINT`, `sk` = the stream).
#[derive(Debug, Clone)]
pub struct DynamoCheckpointStore {
    client: Client,
    table: String,
}

impl DynamoCheckpointStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn err(&self, operation: &'static str, detail: impl std::fmt::Display) -> Error {
        Error::backend(
            BACKEND,
            operation,
            format!("table {}: {detail}", self.table),
        )
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<Checkpoint, Error> {
        let body = item
            .get("body")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| self.err("load checkpoint", "item has no body"))?;
        let mut cp: Checkpoint =
            serde_json::from_str(body).map_err(|e| self.err("load checkpoint", e))?;
        cp.version = get_n(item, "version").unwrap_or(0) as u64;
        Ok(cp)
    }

    async fn stored_version(&self, stream: &StreamKey) -> Result<u64, Error> {
        Ok(self.load(stream).await?.map_or(0, |c| c.version))
    }
}

#[async_trait]
impl CheckpointStore for DynamoCheckpointStore {
    async fn load(&self, stream: &StreamKey) -> Result<Option<Checkpoint>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(CHECKPOINT_PK))
            .key("sk", s(stream.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error(&self.table, "load checkpoint", e))?;
        out.item().map(|i| self.decode(i)).transpose()
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<u64, Error> {
        let next = checkpoint.version + 1;
        let mut stored = checkpoint.clone();
        stored.version = next;
        let body = serde_json::to_string(&stored).map_err(|e| self.err("save checkpoint", e))?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(CHECKPOINT_PK))
            .item("sk", s(checkpoint.stream.to_string()))
            .item("version", n(next))
            .item("body", s(body));
        put = if checkpoint.version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected")
                .expression_attribute_values(":expected", n(checkpoint.version))
        };
        match put.send().await {
            Ok(_) => Ok(next),
            Err(e) if is_condition_failure(&e) => Err(Error::CheckpointConflict {
                stream: checkpoint.stream.to_string(),
                expected: checkpoint.version,
                found: self.stored_version(&checkpoint.stream).await?,
            }),
            Err(e) => Err(dynamo_error(&self.table, "save checkpoint", e)),
        }
    }

    async fn list(&self) -> Result<Vec<Checkpoint>, Error> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(CHECKPOINT_PK))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| dynamo_error(&self.table, "list checkpoints", e))?;
            for item in page.items() {
                out.push(self.decode(item)?);
            }
        }
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }
}

/// The alert ledger in a DynamoDB table (`pk` = `event_id#rule_id`), expiring through TTL.
#[derive(Debug, Clone)]
pub struct DynamoAlertLedger {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoAlertLedger {
    /// How long a sent alert is remembered by default: longer than any event can be seen twice.
    pub const DEFAULT_RETENTION: Duration = Duration::days(30);

    /// A ledger whose items expire `retention` after they were last written.
    pub fn new(client: Client, table: impl Into<String>, retention: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    fn pk(key: &AlertKey) -> String {
        format!("{}#{}", key.event_id, key.rule_id)
    }

    fn expires(&self, now: DateTime<Utc>) -> AttributeValue {
        n((now + self.retention).timestamp())
    }
}

#[async_trait]
impl AlertLedger for DynamoAlertLedger {
    async fn claim(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome, Error> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(Self::pk(key)))
            .item("sent", AttributeValue::Bool(false))
            .item("claimed_at", n(now.timestamp_micros()))
            .item("expires_at", self.expires(now))
            .condition_expression(
                "attribute_not_exists(pk) OR (sent = :false AND claimed_at <= :stale)",
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":stale", n((now - lease).timestamp_micros()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(e) if is_condition_failure(&e) => {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(Self::pk(key)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| dynamo_error(&self.table, "claim alert", e))?;
                let Some(item) = out.item() else {
                    // Released between our write and our read: let the caller try again later.
                    return Ok(ClaimOutcome::InFlight { since: now });
                };
                if item.get("sent").and_then(|v| v.as_bool().ok()) == Some(&true) {
                    return Ok(ClaimOutcome::AlreadySent);
                }
                let since = get_n(item, "claimed_at")
                    .and_then(DateTime::from_timestamp_micros)
                    .unwrap_or(now);
                Ok(ClaimOutcome::InFlight { since })
            }
            Err(e) => Err(dynamo_error(&self.table, "claim alert", e)),
        }
    }

    async fn confirm(&self, key: &AlertKey, now: DateTime<Utc>) -> Result<(), Error> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::pk(key)))
            .update_expression("SET sent = :true, expires_at = :expires")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":expires", self.expires(now))
            .send()
            .await
            .map_err(|e| dynamo_error(&self.table, "confirm alert", e))?;
        Ok(())
    }

    async fn release(&self, key: &AlertKey) -> Result<(), Error> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(Self::pk(key)))
            .condition_expression("sent = :false")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()), // sent, or not there: nothing to release
            Err(e) => Err(dynamo_error(&self.table, "release alert", e)),
        }
    }
}
