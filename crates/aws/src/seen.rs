//! The first-seen state in the control table.
//!
//! One item per key: `pk = SEEN#<scope>` (a principal's ARN, an account id, `*` for the
//! organisation), `sk = <kind>#<value>`, with the first time (`first_us`, microseconds), the
//! event that saw it (`by`) and `expires_at`, the control table's TTL attribute. Reads are
//! `BatchGetItem` of 100 keys; writes are conditional `PutItem`s that keep the earliest first
//! time, so concurrent alerters agree on who saw a key first. DynamoDB deletes expired items
//! within about two days and reads return them until then, so reads compare `expires_at` too.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Utc};
use iat_core::Error;
use iat_core::ports::{SeenKey, SeenRecord, SeenStore};

use crate::error::{dynamo_error, is_condition_failure};

/// Keys per `BatchGetItem` request (DynamoDB's limit).
pub const SEEN_BATCH_GET: usize = 100;
const PK_PREFIX: &str = "SEEN#";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The first-seen state in a DynamoDB table with `pk` and `sk` (the control table).
#[derive(Debug, Clone)]
pub struct DynamoSeenStore {
    client: Client,
    table: String,
}

impl DynamoSeenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(k: &SeenKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), s(format!("{PK_PREFIX}{}", k.scope))),
            ("sk".to_owned(), s(k.item_key())),
        ])
    }

    fn parse(item: &HashMap<String, AttributeValue>) -> Option<(SeenKey, SeenRecord)> {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok());
        let num = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let scope = text("pk")?.strip_prefix(PK_PREFIX)?;
        let key = SeenKey::from_item(scope, text("sk")?)?;
        Some((
            key,
            SeenRecord {
                first: DateTime::from_timestamp_micros(num("first_us")?)?,
                event_id: text("by")?.clone(),
                expires: DateTime::from_timestamp(num("expires_at")?, 0)?,
            },
        ))
    }

    async fn read_one(&self, k: &SeenKey) -> Result<Option<SeenRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(k)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error(&self.table, "read first-seen key", e))?;
        Ok(out.item().and_then(Self::parse).map(|(_, r)| r))
    }
}

#[async_trait]
impl SeenStore for DynamoSeenStore {
    async fn get(
        &self,
        keys: &[SeenKey],
        now: DateTime<Utc>,
    ) -> Result<HashMap<SeenKey, SeenRecord>, Error> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(SEEN_BATCH_GET) {
            let mut pending = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(Self::key).collect()))
                .build()
                .map_err(|e| Error::backend("dynamodb", "read first-seen keys", e.to_string()))?;
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| dynamo_error(&self.table, "read first-seen keys", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let Some((k, r)) = Self::parse(item)
                        && r.expires > now
                    {
                        found.insert(k, r);
                    }
                }
                match out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                    Some(rest) if !rest.keys().is_empty() => {
                        if attempt >= 8 {
                            return Err(Error::backend(
                                "dynamodb",
                                "read first-seen keys",
                                format!(
                                    "table {}: {} keys still unprocessed after {attempt} retries",
                                    self.table,
                                    rest.keys().len()
                                ),
                            ));
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                        pending = rest.clone();
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    async fn put(
        &self,
        records: &[(SeenKey, SeenRecord)],
        now: DateTime<Utc>,
    ) -> Result<Vec<SeenRecord>, Error> {
        let mut out = Vec::with_capacity(records.len());
        for (k, r) in records {
            let first = r.first.timestamp_micros();
            let expires = r.expires.timestamp();
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(Self::key(k)))
                .item("first_us", n(first))
                .item("by", s(r.event_id.as_str()))
                .item("expires_at", n(expires))
                .condition_expression(
                    "attribute_not_exists(pk) OR expires_at <= :now OR first_us > :first \
                     OR (first_us = :first AND #by = :by AND expires_at < :expires)",
                )
                .expression_attribute_names("#by", "by")
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":first", n(first))
                .expression_attribute_values(":by", s(r.event_id.as_str()))
                .expression_attribute_values(":expires", n(expires))
                .send()
                .await;
            match put {
                Ok(_) => out.push(r.clone()),
                Err(e) if is_condition_failure(&e) => {
                    // Another writer's record stands; it is the answer (or, if it vanished
                    // since, ours is as good as any).
                    out.push(self.read_one(k).await?.unwrap_or_else(|| r.clone()));
                }
                Err(e) => return Err(dynamo_error(&self.table, "write first-seen key", e)),
            }
        }
        Ok(out)
    }

    async fn scope(
        &self,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(SeenKey, SeenRecord)>, Error> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("{PK_PREFIX}{scope}")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "list first-seen keys", e))?;
            out.extend(
                page.items()
                    .iter()
                    .filter_map(Self::parse)
                    .filter(|(_, r)| r.expires > now),
            );
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn count(&self) -> Result<u64, Error> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", s(PK_PREFIX))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "count first-seen keys", e))?;
            total += page.count().max(0) as u64;
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        Ok(total)
    }
}
