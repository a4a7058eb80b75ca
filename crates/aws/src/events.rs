//! `DynamoEventStore`: the `EventStore` port on one DynamoDB table.
//!
//! Key design — the decision a newcomer must know:
//!
//! - An event lives at `pk = E#<day>#<shard>`, `sk = <time>#<event id>`: its UTC day, one of
//!   [`DAY_SHARDS`] shards chosen by a stable hash of the event id, and a sort key that orders by
//!   (time, id). The key is a function of the event alone, so the same event always lands on the
//!   same item. A busy day is spread over eight partitions (8,000 writes/s, far over what
//!   `LookupEvents` can deliver), and one day is read with eight `Query` calls, never a `Scan`.
//! - Two key-only global secondary indexes answer lookups by actor (`by_actor`, key
//!   `ak = <actor>#<day>`) and by event name (`by_name`, key `nk = <name>#<day>`) over a time
//!   range, one `Query` per day in the range. Any other filter reads the day partitions.
//! - The record is stored compressed ([`crate::codec`]), so a typical event item is under 1 KB:
//!   one write unit (each index entry is one more). Everything else is derived again from it
//!   when read.
//! - Storing first reads which keys exist (consistent `BatchGetItem`), then writes only new
//!   events, each with a conditional `PutItem` (`attribute_not_exists(pk)`), several at a time.
//!   Re-reading the overlap window every hour therefore costs reads, not writes, and the put
//!   outcome counts duplicates exactly, even when two runs race over the same window (a retried
//!   invocation beside the one still running): exactly one of them stores an event and reports
//!   it new. A batch write could not say which of its items already existed.
//! - A `META` partition registers each day before its events are written, so reads list the
//!   days to visit without a `Scan` and can never miss a stored event. Counts are exact `Query`
//!   counts over a day's shards, so a writer that crashes cannot skew them. Quarantined records
//!   live under `pk = Q`.
//! - With a retention period, items carry a TTL attribute `x` (epoch seconds). DynamoDB deletes
//!   expired items within about two days; until then reads skip them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures_util::StreamExt;
use iat_core::ports::{
    EventCursor, EventQuery, EventStore, Order, PutOutcome, Quarantined, StoreStats,
};
use iat_core::{ActivityEvent, Error, RecordLimits, normalize};

use crate::codec;
use crate::error::dynamo_error;

/// Shards per day. Part of the stored layout: changing it hides existing events.
pub const DAY_SHARDS: u32 = 8;
/// Index of event keys by actor and day.
pub const BY_ACTOR: &str = "by_actor";
/// Index of event keys by event name and day.
pub const BY_NAME: &str = "by_name";

const META_PK: &str = "META";
const QUARANTINE_PK: &str = "Q";
/// DynamoDB's item limit is 400 KB; keep room for the keys.
const MAX_STORED_BYTES: usize = 390 * 1024;
/// Index key values are cut to this many bytes (DynamoDB allows 2,048 for a partition key).
const MAX_INDEX_KEY_BYTES: usize = 1_000;
/// Attempts at reading a batch's unprocessed keys before giving up (the SDK retries each call
/// too; these are keys DynamoDB accepted the call for but did not read).
const UNPROCESSED_ATTEMPTS: u32 = 12;

/// Stores events in a DynamoDB table laid out as described in the module documentation.
#[derive(Debug)]
pub struct DynamoEventStore {
    client: Client,
    table: String,
    retention: Option<Duration>,
    concurrency: usize,
    limits: RecordLimits,
    /// Days already registered in `META` by this process.
    registered: Mutex<HashSet<String>>,
}

impl DynamoEventStore {
    /// A store on `table`, keeping events forever.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: None,
            concurrency: 8,
            limits: RecordLimits::default(),
            registered: Mutex::new(HashSet::new()),
        }
    }

    /// Items expire `retention` after the event's time (DynamoDB TTL); `None` keeps them.
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Batch writes in flight at once.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn err(&self, operation: &'static str, detail: impl std::fmt::Display) -> Error {
        Error::backend(
            "dynamodb",
            operation,
            format!("table {}: {detail}", self.table),
        )
    }

    fn expires_at(&self, time: DateTime<Utc>) -> Option<i64> {
        self.retention.map(|r| (time + r).timestamp())
    }

    fn expired(&self, item: &HashMap<String, AttributeValue>, now: i64) -> bool {
        item.get("x")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|x| x <= now)
    }

    fn item(&self, event: &ActivityEvent) -> Result<HashMap<String, AttributeValue>, String> {
        event_item(event, self.retention)
    }

    /// What storing `event` costs, computed from its item the way DynamoDB sizes items.
    pub fn write_cost(event: &ActivityEvent, retention: Option<Duration>) -> WriteCost {
        let Ok(item) = event_item(event, retention) else {
            return WriteCost::default();
        };
        let size = |names: &[&str]| -> usize {
            names
                .iter()
                .filter_map(|name| item.get(*name).map(|v| name.len() + value_size(v)))
                .sum()
        };
        let item_bytes = size(&["pk", "sk", "ak", "nk", "z", "x"]);
        let units = |bytes: usize| bytes.div_ceil(1024) as u32;
        WriteCost {
            item_bytes,
            table_units: units(item_bytes),
            // Each key-only index entry holds its own key and the table's.
            index_units: units(size(&["pk", "sk", "ak"])) + units(size(&["pk", "sk", "nk"])),
        }
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<ActivityEvent, Error> {
        let sk = item.get("sk").and_then(|v| v.as_s().ok());
        let stored = item
            .get("z")
            .and_then(|v| v.as_b().ok())
            .ok_or_else(|| self.err("read event", format!("item {sk:?} has no record")))?;
        let raw = codec::decode(stored.as_ref())
            .map_err(|e| self.err("read event", format!("item {sk:?}: {e}")))?;
        normalize(raw, &self.limits)
            .map(|n| n.event)
            .map_err(|r| self.err("read event", format!("item {sk:?}: {}", r.error)))
    }

    /// Registers `days` in `META` before events of those days are written, so that readers
    /// (which list days there) can never miss a stored event.
    async fn register_days(&self, days: &BTreeMap<String, usize>) -> Result<(), Error> {
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
            put.send()
                .await
                .map_err(|e| dynamo_error(&self.table, "register day", &e))?;
            self.registered.lock().unwrap().insert(day.clone());
        }
        Ok(())
    }

    fn day_expires_at(&self, day: &str) -> Option<i64> {
        let start = day_window(day)?.start();
        self.expires_at(start + Duration::days(1))
    }

    /// Which of `keys` are stored (by sort key, which holds the event id).
    async fn existing(&self, keys: &[&EventKey]) -> Result<HashSet<String>, Error> {
        let mut found = HashSet::new();
        let chunks: Vec<Vec<HashMap<String, AttributeValue>>> = keys
            .chunks(100)
            .map(|chunk| chunk.iter().map(|k| k.attributes()).collect())
            .collect();
        let results: Vec<Result<Vec<HashMap<String, AttributeValue>>, Error>> =
            futures_util::stream::iter(chunks)
                .map(|keys| self.batch_get(keys, "pk, sk"))
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

    /// Items for up to 100 keys, retrying unprocessed keys with backoff.
    async fn batch_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
        projection: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        let mut pending = keys;
        let mut attempt = 0;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .projection_expression(projection)
                .build()
                .map_err(|e| self.err("read events", e))?;
            let resp = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| dynamo_error(&self.table, "read events", &e))?;
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
                        message: format!(
                            "table {}: {} keys still unprocessed after {attempt} attempts",
                            self.table,
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
    async fn put_new(&self, item: HashMap<String, AttributeValue>) -> Result<bool, Error> {
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
            Err(e) => Err(dynamo_error(&self.table, "write events", &e)),
        }
    }

    /// The registered days (those not yet expired).
    async fn days(&self) -> Result<Vec<String>, Error> {
        let now = Utc::now().timestamp();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :day)")
            .expression_attribute_values(":pk", s(META_PK))
            .expression_attribute_values(":day", s("day#"))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut days = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| dynamo_error(&self.table, "list days", &e))?;
            for item in page.items() {
                if self.expired(item, now) {
                    continue;
                }
                if let Some(day) = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix("day#"))
                {
                    days.push(day.to_owned());
                }
            }
        }
        days.sort();
        Ok(days)
    }

    /// Whether the table can be read (one small query); the error says what is wrong.
    pub async fn check(&self) -> Result<(), Error> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(META_PK))
            .limit(1)
            .send()
            .await
            .map_err(|e| dynamo_error(&self.table, "read table", &e))?;
        Ok(())
    }

    /// Items in partition `pk` (not expired), counted by DynamoDB without returning them.
    async fn count(&self, pk: String) -> Result<u64, Error> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .filter_expression("attribute_not_exists(x) OR x > :now")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":now", n(Utc::now().timestamp()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send();
        let mut total = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| dynamo_error(&self.table, "count events", &e))?;
            total += page.count().max(0) as u64;
        }
        Ok(total)
    }

    /// The first (or last) event time of `day`.
    async fn edge_of_day(&self, day: &str, order: Order) -> Result<Option<DateTime<Utc>>, Error> {
        let query = EventQuery {
            window: day_window(day),
            order,
            limit: Some(1),
            ..Default::default()
        };
        let days = [day.to_owned()];
        Ok(self
            .query_days(&query, &days)
            .await?
            .first()
            .map(|e| e.time))
    }

    /// [`EventStore::query`] over `days`, the registered days (from [`Self::days`]).
    async fn query_days(
        &self,
        query: &EventQuery,
        days: &[String],
    ) -> Result<Vec<ActivityEvent>, Error> {
        let matcher = query.matcher()?;
        let limit = query.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let bounds = Bounds::of(query);
        let mut days: Vec<&String> = days.iter().filter(|d| bounds.includes_day(d)).collect();
        if query.order == Order::Descending {
            days.reverse();
        }
        let plan = Plan::of(query);
        let now = Utc::now().timestamp();
        for day in days {
            let mut lanes = plan.lanes(day);
            let reader = DayReader {
                store: self,
                bounds: &bounds,
                order: query.order,
                page: page_size(limit - out.len(), plan.is_index()),
            };
            loop {
                reader.fill(&mut lanes).await?;
                let Some(item) = pick(&mut lanes, query.order) else {
                    break;
                };
                if !bounds.after_cursor(&item.sk, query.order) || self.expired(&item.item, now) {
                    continue;
                }
                let event = self.decode(&item.item)?;
                if matcher.matches(&event) {
                    out.push(event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome, Error> {
        let mut outcome = PutOutcome::default();
        let mut seen = HashSet::new();
        let mut unique: Vec<(&ActivityEvent, EventKey)> = Vec::with_capacity(events.len());
        for e in events {
            if seen.insert(&e.id) {
                unique.push((e, EventKey::of(e)));
            } else {
                outcome.duplicates += 1;
            }
        }
        if unique.is_empty() {
            return Ok(outcome);
        }
        let keys: Vec<&EventKey> = unique.iter().map(|(_, k)| k).collect();
        let existing = self.existing(&keys).await?;

        let mut items = Vec::new();
        let mut new_times = Vec::new();
        let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
        let mut unstorable = Vec::new();
        for (e, key) in &unique {
            if existing.contains(&key.sk) {
                outcome.duplicates += 1;
                continue;
            }
            match self.item(e) {
                Ok(item) => {
                    *per_day.entry(key.day.clone()).or_default() += 1;
                    items.push(item);
                    new_times.push(e.time);
                }
                Err(reason) => {
                    tracing::warn!(table = %self.table, event_id = %e.id, %reason, "event quarantined");
                    unstorable.push(Quarantined {
                        origin: format!("dynamodb table {}", self.table),
                        event_id: Some(e.id.to_string()),
                        reason,
                        raw: e.raw.clone(),
                    });
                }
            }
        }
        if !unstorable.is_empty() {
            self.quarantine(&unstorable).await?;
        }
        if items.is_empty() {
            return Ok(outcome);
        }
        self.register_days(&per_day).await?;
        // Each new event is written only if absent: two runs racing over the same window both
        // find it missing above, and exactly one of them stores it and reports it new.
        let results: Vec<Result<bool, Error>> = futures_util::stream::iter(items)
            .map(|item| self.put_new(item))
            .buffered(self.concurrency * 2)
            .collect()
            .await;
        for (stored, time) in results.into_iter().zip(new_times) {
            if stored? {
                outcome.inserted += 1;
                outcome.inserted_times.push(time);
            } else {
                outcome.duplicates += 1;
            }
        }
        Ok(outcome)
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>, Error> {
        let days = self.days().await?;
        self.query_days(query, &days).await
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<(), Error> {
        for r in records {
            // Keep as much of the text as fits in an item.
            let mut raw = r.raw.as_str();
            let mut stored = codec::encode(raw);
            while stored.len() > 300 * 1024 {
                raw = cut(raw, raw.len() / 2);
                stored = codec::encode(raw);
            }
            let sk = format!("{}#{:016x}", r.origin, fnv1a(r.raw.as_bytes()));
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(QUARANTINE_PK))
                .item("sk", s(cut(&sk, MAX_INDEX_KEY_BYTES)))
                .item("o", s(&r.origin))
                .item("r", s(&r.reason))
                .item("z", AttributeValue::B(stored.into()))
                .condition_expression("attribute_not_exists(pk)");
            if let Some(id) = &r.event_id {
                put = put.item("i", s(id));
            }
            match put.send().await {
                // Already kept: quarantining the same record twice keeps one.
                Ok(_) => {}
                Err(e) if crate::error::is_condition_failure(&e) => {}
                Err(e) => return Err(dynamo_error(&self.table, "quarantine record", &e)),
            }
        }
        Ok(())
    }

    /// Counts with `Query` (`Select = COUNT`) over every day's shards: exact whatever happened
    /// to writers, and read cost only (about 0.5 read units per 4 KB of items).
    async fn stats(&self) -> Result<StoreStats, Error> {
        let days = self.days().await?;
        let partitions: Vec<(usize, String)> = days
            .iter()
            .enumerate()
            .flat_map(|(i, d)| (0..DAY_SHARDS).map(move |shard| (i, day_pk(d, shard))))
            .collect();
        let counts: Vec<(usize, Result<u64, Error>)> = futures_util::stream::iter(partitions)
            .map(|(i, pk)| async move { (i, self.count(pk).await) })
            .buffer_unordered(self.concurrency * 2)
            .collect()
            .await;
        let mut per_day = vec![0u64; days.len()];
        for (i, count) in counts {
            per_day[i] += count?;
        }
        let mut stats = StoreStats {
            events: per_day.iter().sum(),
            quarantined: self.count(QUARANTINE_PK.to_owned()).await?,
            ..Default::default()
        };
        let busy: Vec<&String> = days
            .iter()
            .zip(&per_day)
            .filter(|(_, n)| **n > 0)
            .map(|(d, _)| d)
            .collect();
        if let (Some(first), Some(last)) = (busy.first(), busy.last()) {
            stats.first = self.edge_of_day(first, Order::Ascending).await?;
            stats.last = self.edge_of_day(last, Order::Descending).await?;
        }
        Ok(stats)
    }
}

/// The event in a DynamoDB stream record's `NewImage` (the Lambda event's JSON form, attribute
/// values as `{"S": ...}`, `{"B": "<base64>"}`), `Ok(None)` for the table's other items (day
/// registrations, quarantined records), or why the image cannot be read.
pub fn event_from_stream_image(
    image: &serde_json::Value,
    limits: &RecordLimits,
) -> Result<Option<ActivityEvent>, String> {
    let pk = image
        .pointer("/pk/S")
        .and_then(|v| v.as_str())
        .ok_or("image has no pk")?;
    if !pk.starts_with("E#") {
        return Ok(None);
    }
    let sk = image
        .pointer("/sk/S")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let z = image
        .pointer("/z/B")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("item {sk} has no record"))?;
    let stored = aws_smithy_types::base64::decode(z).map_err(|e| format!("item {sk}: {e}"))?;
    let raw = codec::decode(&stored).map_err(|e| format!("item {sk}: {e}"))?;
    normalize(raw, limits)
        .map(|n| Some(n.event))
        .map_err(|r| format!("item {sk}: {}", r.error))
}

/// The `NewImage` the events table's stream carries for `event` (as [`DynamoEventStore`]
/// writes it), in the Lambda event's JSON form: for tests and benchmarks of stream consumers.
pub fn stream_image(
    event: &ActivityEvent,
    retention: Option<Duration>,
) -> Result<serde_json::Value, String> {
    let item = event_item(event, retention)?;
    let mut image = serde_json::Map::new();
    for (k, v) in item {
        let value = match v {
            AttributeValue::S(s) => serde_json::json!({ "S": s }),
            AttributeValue::N(n) => serde_json::json!({ "N": n }),
            AttributeValue::B(b) => {
                serde_json::json!({ "B": aws_smithy_types::base64::encode(b.as_ref()) })
            }
            other => return Err(format!("unexpected attribute {other:?}")),
        };
        image.insert(k, value);
    }
    Ok(serde_json::Value::Object(image))
}

/// The item for `event`, or why it cannot be one.
fn event_item(
    event: &ActivityEvent,
    retention: Option<Duration>,
) -> Result<HashMap<String, AttributeValue>, String> {
    let key = EventKey::of(event);
    let stored = codec::encode(&event.raw);
    if stored.len() > MAX_STORED_BYTES {
        return Err(format!(
            "record compresses to {} bytes, over DynamoDB's item limit",
            stored.len()
        ));
    }
    let mut item = key.attributes();
    item.insert("ak".into(), s(index_key(&event.principal.actor, &key.day)));
    item.insert("nk".into(), s(index_key(&event.name, &key.day)));
    item.insert("z".into(), AttributeValue::B(stored.into()));
    if let Some(x) = retention.map(|r| (event.time + r).timestamp()) {
        item.insert("x".into(), n(x));
    }
    Ok(item)
}

/// Write units (1 KB each) spent storing one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCost {
    /// Size of the event's item as DynamoDB counts it (attribute names and values).
    pub item_bytes: usize,
    /// Units for the item in the table.
    pub table_units: u32,
    /// Units for its entries in the two indexes.
    pub index_units: u32,
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        // Numbers take about one byte per two significant digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        _ => 0,
    }
}

/// Where an event's item is.
#[derive(Debug, Clone)]
struct EventKey {
    day: String,
    pk: String,
    sk: String,
}

impl EventKey {
    fn of(event: &ActivityEvent) -> Self {
        let day = event.time.format("%Y-%m-%d").to_string();
        let shard = fnv1a(event.id.as_str().as_bytes()) % u64::from(DAY_SHARDS);
        Self {
            pk: day_pk(&day, shard as u32),
            sk: format!("{}#{}", sort_time(event.time), event.id),
            day,
        }
    }

    fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".into(), s(&self.pk)), ("sk".into(), s(&self.sk))])
    }
}

fn day_pk(day: &str, shard: u32) -> String {
    format!("E#{day}#{shard}")
}

/// Fixed-width UTC time, so that text order is time order.
fn sort_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn index_key(value: &str, day: &str) -> String {
    format!("{}#{day}", cut(value, MAX_INDEX_KEY_BYTES))
}

fn day_window(day: &str) -> Option<iat_core::TimeWindow> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .map(iat_core::TimeWindow::day)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// 64-bit FNV-1a: stable across versions and platforms (it decides where items live).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn backoff(attempt: u32) -> StdDuration {
    StdDuration::from_millis((25u64 << attempt.min(8)).min(5_000))
}

fn page_size(remaining: usize, index: bool) -> i32 {
    let cap = if index { 100 } else { 500 };
    remaining.saturating_add(1).clamp(10, cap) as i32
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The sort-key range a query covers.
#[derive(Debug)]
struct Bounds {
    /// Inclusive lower sort key.
    lo: String,
    /// Inclusive upper sort key.
    hi: String,
    first_day: String,
    last_day: String,
    cursor: Option<String>,
}

impl Bounds {
    fn of(query: &EventQuery) -> Self {
        let mut start = query.window.map(|w| w.start());
        let mut end = query.window.map(|w| w.end());
        let cursor = query.after.as_ref().map(|c: &EventCursor| {
            match query.order {
                Order::Ascending => start = Some(start.map_or(c.time, |s| s.max(c.time))),
                Order::Descending => end = Some(end.map_or(c.time, |e| e.min(c.time))),
            }
            format!("{}#{}", sort_time(c.time), c.id)
        });
        // Sort keys start with a digit; DynamoDB refuses an empty key value.
        let lo = start.map_or_else(|| "0".to_owned(), sort_time);
        // '$' sorts just after the '#' that follows the time.
        let hi = end.map_or_else(|| "\u{10FFFF}".to_owned(), |e| format!("{}$", sort_time(e)));
        Self {
            first_day: start.map_or_else(String::new, |s| s.format("%Y-%m-%d").to_string()),
            last_day: end.map_or_else(
                || "9999-12-31".to_owned(),
                |e| e.format("%Y-%m-%d").to_string(),
            ),
            lo,
            hi,
            cursor,
        }
    }

    fn includes_day(&self, day: &str) -> bool {
        day >= self.first_day.as_str() && day <= self.last_day.as_str()
    }

    fn after_cursor(&self, sk: &str, order: Order) -> bool {
        match (&self.cursor, order) {
            (None, _) => true,
            (Some(c), Order::Ascending) => sk > c.as_str(),
            (Some(c), Order::Descending) => sk < c.as_str(),
        }
    }
}

/// Which partitions a query reads for each day.
#[derive(Debug)]
enum Plan {
    Days,
    Index { index: &'static str, value: String },
}

impl Plan {
    fn of(query: &EventQuery) -> Self {
        let literal = |s: &str| !iat_core::glob::is_glob(s);
        if let Some(actor) = query
            .actor
            .as_deref()
            .filter(|a| literal(a) && !a.starts_with("arn:"))
        {
            return Plan::Index {
                index: BY_ACTOR,
                value: actor.to_owned(),
            };
        }
        if let [name] = query.event_names.as_slice()
            && literal(name)
        {
            return Plan::Index {
                index: BY_NAME,
                value: name.clone(),
            };
        }
        Plan::Days
    }

    fn is_index(&self) -> bool {
        matches!(self, Plan::Index { .. })
    }

    fn lanes(&self, day: &str) -> Vec<Lane> {
        match self {
            Plan::Days => (0..DAY_SHARDS)
                .map(|shard| Lane::new(None, "pk", day_pk(day, shard)))
                .collect(),
            Plan::Index { index, value } => {
                let attr = if *index == BY_ACTOR { "ak" } else { "nk" };
                vec![Lane::new(Some(index), attr, index_key(value, day))]
            }
        }
    }
}

/// One partition read in sort-key order, a page at a time.
#[derive(Debug)]
struct Lane {
    index: Option<&'static str>,
    key_attr: &'static str,
    key: String,
    buf: VecDeque<Row>,
    next: Option<HashMap<String, AttributeValue>>,
    done: bool,
}

#[derive(Debug)]
struct Row {
    sk: String,
    item: HashMap<String, AttributeValue>,
}

impl Lane {
    fn new(index: Option<&'static str>, key_attr: &'static str, key: String) -> Self {
        Self {
            index,
            key_attr,
            key,
            buf: VecDeque::new(),
            next: None,
            done: false,
        }
    }
}

struct DayReader<'a> {
    store: &'a DynamoEventStore,
    bounds: &'a Bounds,
    order: Order,
    page: i32,
}

impl DayReader<'_> {
    /// Fetches the next page of every lane that has run dry.
    async fn fill(&self, lanes: &mut [Lane]) -> Result<(), Error> {
        let pending: Vec<&mut Lane> = lanes
            .iter_mut()
            .filter(|l| l.buf.is_empty() && !l.done)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let results =
            futures_util::future::join_all(pending.into_iter().map(|l| self.page(l))).await;
        results.into_iter().collect()
    }

    async fn page(&self, lane: &mut Lane) -> Result<(), Error> {
        let store = self.store;
        let mut req = store
            .client
            .query()
            .table_name(&store.table)
            .key_condition_expression("#k = :k AND sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#k", lane.key_attr)
            .expression_attribute_values(":k", s(&lane.key))
            .expression_attribute_values(":lo", s(&self.bounds.lo))
            .expression_attribute_values(":hi", s(&self.bounds.hi))
            .scan_index_forward(self.order == Order::Ascending)
            .limit(self.page)
            .set_exclusive_start_key(lane.next.take());
        if let Some(index) = lane.index {
            req = req.index_name(index);
        } else {
            req = req.consistent_read(true);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| dynamo_error(&store.table, "query events", &e))?;
        lane.next = resp.last_evaluated_key().cloned();
        lane.done = lane.next.is_none();
        let items = resp.items().to_vec();
        let items = if lane.index.is_some() && !items.is_empty() {
            // Index items hold keys only: fetch the events, in the index's order.
            let keys: Vec<_> = items
                .iter()
                .map(|i| {
                    HashMap::from([
                        ("pk".to_owned(), i.get("pk").cloned().unwrap_or(s(""))),
                        ("sk".to_owned(), i.get("sk").cloned().unwrap_or(s(""))),
                    ])
                })
                .collect();
            let mut bodies: HashMap<String, HashMap<String, AttributeValue>> = HashMap::new();
            for chunk in keys.chunks(100) {
                for item in store.batch_get(chunk.to_vec(), "pk, sk, z, x").await? {
                    if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()) {
                        bodies.insert(sk.clone(), item);
                    }
                }
            }
            items
                .iter()
                .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()))
                // A key whose item is gone (expired and deleted in between) is skipped.
                .filter_map(|sk| bodies.remove(sk))
                .collect()
        } else {
            items
        };
        for item in items {
            if let Some(sk) = item.get("sk").and_then(|v| v.as_s().ok()).cloned() {
                lane.buf.push_back(Row { sk, item });
            }
        }
        Ok(())
    }
}

/// Takes the next row in `order` across lanes (every lane has a row or is done).
fn pick(lanes: &mut [Lane], order: Order) -> Option<Row> {
    let best = lanes
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.buf.front().map(|r| (i, r.sk.as_str())))
        .reduce(|a, b| match order {
            Order::Ascending if b.1 < a.1 => b,
            Order::Descending if b.1 > a.1 => b,
            _ => a,
        })?
        .0;
    lanes[best].buf.pop_front()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use iat_core::contract::records::RecordSpec;

    #[test]
    fn stream_images_read_back_as_the_event_and_other_items_are_skipped() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let e = RecordSpec::new("img-1", t).event();
        let image = stream_image(&e, Some(Duration::days(400))).unwrap();
        assert!(image["z"]["B"].is_string() && image["x"]["N"].is_string());
        let back = event_from_stream_image(&image, &RecordLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(back, e);
        let meta = serde_json::json!({"pk": {"S": "META"}, "sk": {"S": "D#2026-03-02"}});
        assert_eq!(
            event_from_stream_image(&meta, &RecordLimits::default()),
            Ok(None)
        );
        let mut broken = image.clone();
        broken["z"]["B"] = serde_json::json!("not base64!");
        assert!(
            event_from_stream_image(&broken, &RecordLimits::default())
                .unwrap_err()
                .contains("img-1")
        );
        assert!(event_from_stream_image(&serde_json::json!({}), &RecordLimits::default()).is_err());
    }

    #[test]
    fn keys_order_by_time_then_id_and_spread_over_shards() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let a = EventKey::of(&RecordSpec::new("b-1", t).event());
        let b = EventKey::of(&RecordSpec::new("a-2", t + Duration::seconds(1)).event());
        assert!(a.sk < b.sk, "{} < {}", a.sk, b.sk);
        assert_eq!(a.day, "2026-03-02");
        assert!(a.pk.starts_with("E#2026-03-02#"));
        let shards: HashSet<String> = (0..200)
            .map(|i| EventKey::of(&RecordSpec::new(&format!("id-{i}"), t).event()).pk)
            .collect();
        assert_eq!(
            shards.len(),
            DAY_SHARDS as usize,
            "ids spread over every shard"
        );
    }

    #[test]
    fn the_shard_hash_never_changes() {
        // Items already stored depend on it.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn bounds_are_inclusive_and_follow_the_cursor() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let w = iat_core::TimeWindow::new(t, t + Duration::hours(30)).unwrap();
        let q = EventQuery {
            window: Some(w),
            ..Default::default()
        };
        let b = Bounds::of(&q);
        let at_start = format!("{}#x", sort_time(t));
        let at_end = format!("{}#zzz", sort_time(t + Duration::hours(30)));
        assert!(b.lo.as_str() <= at_start.as_str() && at_start.as_str() <= b.hi.as_str());
        assert!(b.lo.as_str() <= at_end.as_str() && at_end.as_str() <= b.hi.as_str());
        assert!(b.includes_day("2026-03-03") && !b.includes_day("2026-03-04"));
        let e = RecordSpec::new("c", t + Duration::hours(2)).event();
        let q = EventQuery {
            after: Some(EventCursor::after(&e)),
            ..q
        };
        let b = Bounds::of(&q);
        assert!(!b.after_cursor(&EventKey::of(&e).sk, Order::Ascending));
        assert!(b.lo.starts_with("2026-03-02T11:00"));
    }

    #[test]
    fn plans_use_an_index_only_for_a_literal() {
        let q = |actor: Option<&str>, names: &[&str]| EventQuery {
            actor: actor.map(str::to_owned),
            event_names: names.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        assert!(matches!(
            Plan::of(&q(Some("bob"), &[])),
            Plan::Index {
                index: BY_ACTOR,
                ..
            }
        ));
        assert!(matches!(
            Plan::of(&q(Some("b*"), &["CreateUser"])),
            Plan::Index { index: BY_NAME, .. }
        ));
        assert!(matches!(
            Plan::of(&q(Some("arn:aws:iam::1:user/x"), &[])),
            Plan::Days
        ));
        assert!(matches!(Plan::of(&q(None, &["A", "B"])), Plan::Days));
        assert!(matches!(Plan::of(&q(None, &["Create*"])), Plan::Days));
    }
}
