//! Writing: days registered before their events, existing keys read first (eventually
//! consistent `BatchGetItem`, unprocessed keys retried), and only new events put, each
//! conditionally.
//!
//! The read only saves writes: the conditional put decides what is stored. A read that has not
//! yet seen an item written a moment ago lets its event through to a put that finds the item
//! and stores nothing, so an eventually consistent read (half the price of a consistent one)
//! loses and duplicates nothing. The events read again (the overlap, the sweep) were stored
//! minutes to a day before.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::Duration;
use futures_util::StreamExt;
use iat_core::Error;

use super::DynamoEventStore;
use super::keys::{EventKey, META_PK, UNPROCESSED_ATTEMPTS, day_window, n, s};
use crate::error::dynamo_error;

impl DynamoEventStore {
    /// Registers `days` in `META` before events of those days are written, so that readers
    /// (which list days there) can never miss a stored event.
    pub(super) async fn register_days(&self, days: &BTreeMap<String, usize>) -> Result<(), Error> {
        for day in days.keys() {
            if self.registered.lock().unwrap().contains(day) {
                continue;
            }
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(META_PK))
                .item("sk", s(format!("day#{day}")));
            if let Some(x) = self.day_expires_at(day) {
                put = put.item("x", n(x));
            }
            let _permit = self.requests.acquire().await.expect("never closed");
            put.send()
                .await
                .map_err(|e| dynamo_error(&self.table, "register day", e))?;
            self.registered.lock().unwrap().insert(day.clone());
        }
        Ok(())
    }

    pub(super) fn day_expires_at(&self, day: &str) -> Option<i64> {
        let start = day_window(day)?.start();
        self.expires_at(start + Duration::days(1))
    }

    /// Which of `keys` are stored (by sort key, which holds the event id), as an eventually
    /// consistent read sees them: a key missing here may still be stored (see the module).
    pub(super) async fn existing(&self, keys: &[&EventKey]) -> Result<HashSet<String>, Error> {
        let mut found = HashSet::new();
        let chunks: Vec<Vec<HashMap<String, AttributeValue>>> = keys
            .chunks(100)
            .map(|chunk| chunk.iter().map(|k| k.attributes()).collect())
            .collect();
        let results: Vec<Result<Vec<HashMap<String, AttributeValue>>, Error>> =
            futures_util::stream::iter(chunks)
                .map(|keys| self.batch_get(keys, "pk, sk", Read::Eventual))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
        for items in results {
            for item in items? {
                if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                    found.insert(sk.clone());
                }
            }
        }
        Ok(found)
    }

    /// Items for up to 100 keys, retrying unprocessed keys with backoff. A [`Read::Metered`]
    /// read is consistent and counted in the store's read report (queries' reads); the
    /// duplicate check's is [`Read::Eventual`] and not counted.
    pub(super) async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
        projection: &str,
        read: Read,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let metered = read == Read::Metered;
        let mut out = Vec::with_capacity(keys.len());
        let mut pending = keys;
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(metered)
                .projection_expression(projection)
                .build()
                .map_err(|e| self.err("read events", e))?;
            let permit = self.requests.acquire().await.expect("never closed");
            let resp = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .set_return_consumed_capacity(
                    metered.then_some(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total),
                )
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "read events", e))?;
            drop(permit);
            if metered {
                let units = resp
                    .consumed_capacity()
                    .iter()
                    .filter_map(|c| c.capacity_units())
                    .sum::<f64>();
                let read = resp.responses().and_then(|r| r.get(&self.table));
                self.count_read(Some(units), read.map_or(0, |r| r.len() as u64));
            }
            if let Some(items) = resp.responses().and_then(|r| r.get(&self.table)) {
                out.extend(items.iter().cloned());
            }
            pending = resp
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt >= UNPROCESSED_ATTEMPTS {
                    return Err(Error::Unavailable {
                        service: "dynamodb",
                        operation: "BatchGetItem",
                        resource: Some(format!("table {}", self.table).into()),
                        source: None,
                        message: format!(
                            "{} keys still unprocessed after {attempt} attempts",
                            pending.len()
                        ),
                    });
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Ok(out)
    }

    /// Writes `item` unless an item with its key exists; false when one did.
    pub(super) async fn put_new(
        &self,
        item: HashMap<String, AttributeValue>,
    ) -> Result<bool, Error> {
        let _permit = self.requests.acquire().await.expect("never closed");
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if crate::error::is_condition_failure(&e) => Ok(false),
            Err(e) => Err(dynamo_error(&self.table, "write events", e)),
        }
    }
}

/// How [`DynamoEventStore::batch_get`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// Consistent, and counted in the read report.
    Metered,
    /// Eventually consistent (half a unit per 4 KB), not counted.
    Eventual,
}

fn backoff(attempt: u32) -> StdDuration {
    StdDuration::from_millis((25u64 << attempt.min(8)).min(5_000))
}
