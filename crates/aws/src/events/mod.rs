//! `DynamoEventStore`: the `EventStore` port on one DynamoDB table.
//!
//! Key design — the decision a newcomer must know:
//!
//! - An event lives at `pk = E#<day>#<shard>`, `sk = <time>#<event id>`: its UTC day, one of
//!   [`DAY_SHARDS`] shards chosen by a stable hash of the event id, and a sort key that orders by
//!   (time, id). The key is a function of the event alone, so the same event always lands on the
//!   same item. A busy day is spread over eight partitions (8,000 writes/s, far over what
//!   `LookupEvents` can deliver), and one day is read with eight `Query` calls, never a `Scan`.
//! - Every item carries `ak = <actor>#<day>` and `nk = <name>#<day>`. Lookups by actor or by
//!   event name read the day partitions with a filter on them (read units for every item of
//!   those days, no write beyond the item). Where the table has the optional key-only indexes
//!   (`by_actor`, `by_name`, see [`crate::LookupIndexes`]; each costs one more write unit per
//!   event), the lookup reads only the matching keys, one `Query` per day. The store finds
//!   out which indexes exist (`DescribeTable`) the first time a query could use one. Any
//!   other filter reads the day partitions.
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
//!
//! Files: `keys` (the stored layout: keys, index keys, item, write cost), `writer` (day
//! registration, existing-key reads, conditional puts), `reader` (query plans, lanes, merged
//! pages), `stream` (the table's stream images), `feed` (the table as a "since the last run"
//! feed, marks in the control table); this file holds the store and the port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use iat_core::ports::{EventQuery, EventStore, Order, PutOutcome, Quarantined, StoreStats};
use iat_core::{ActivityEvent, Error, RecordLimits, normalize};

use crate::LookupIndexes;
use crate::codec;
use crate::error::dynamo_error;

mod feed;
mod keys;
mod reader;
mod stream;
mod writer;

pub use feed::DynamoEventFeed;
pub use keys::{BY_ACTOR, BY_NAME, DAY_SHARDS, WriteCost};
use keys::{
    EventKey, MAX_INDEX_KEY_BYTES, META_PK, QUARANTINE_PK, cut, day_pk, day_window, event_item,
    fnv1a, n, s, value_size,
};
pub use stream::{event_from_stream_image, stream_image};

/// Stores events in a DynamoDB table laid out as described in the module documentation.
#[derive(Debug)]
pub struct DynamoEventStore {
    client: Client,
    table: String,
    retention: Option<Duration>,
    export_grace: Duration,
    concurrency: usize,
    limits: RecordLimits,
    /// Days already registered in `META` by this process.
    registered: Mutex<HashSet<String>>,
    /// The lookup indexes the table has, once known.
    indexes: tokio::sync::OnceCell<LookupIndexes>,
    reads: ReadMeter,
    /// [`MAX_STORE_REQUESTS_IN_FLIGHT`]: held by each request a `put` makes (day registration,
    /// duplicate check, conditional put).
    requests: tokio::sync::Semaphore,
}

/// Requests of `put` (day registrations, duplicate checks, conditional puts) in flight at once,
/// across every caller of one store.
/// Each `put` runs a few at a time, and a collector reading many accounts calls `put` from many
/// page chains at once: without a bound they would open a connection each, more than a Lambda
/// function's 1,024 file descriptors and its memory.
pub const MAX_STORE_REQUESTS_IN_FLIGHT: usize = 128;

/// What this store's queries have read so far: for a person (`iat events` says how it answered)
/// and for the cost figures.
#[derive(Debug, Default)]
struct ReadMeter {
    requests: AtomicU64,
    /// Read units DynamoDB reported consumed (`ReturnConsumedCapacity`), in thousandths.
    milli_units: AtomicU64,
    /// Items DynamoDB evaluated (before any filter).
    scanned: AtomicU64,
    /// How the last query was answered.
    last_path: Mutex<Option<ReadPath>>,
}

/// How a query was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPath {
    /// Each day's partitions, all of their items (`filter` names what was kept, if anything).
    DayPartitions {
        days: usize,
        filter: Option<&'static str>,
    },
    /// One lookup index, one `Query` per day.
    Index { index: &'static str, days: usize },
}

impl std::fmt::Display for ReadPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadPath::DayPartitions { days, filter: None } => {
                write!(
                    f,
                    "every item of {days} day(s), {DAY_SHARDS} partitions a day"
                )
            }
            ReadPath::DayPartitions {
                days,
                filter: Some(on),
            } => write!(
                f,
                "every item of {days} day(s), {DAY_SHARDS} partitions a day, filtered on the {on} \
                 (the table has no index for it)"
            ),
            ReadPath::Index { index, days } => {
                write!(f, "the {index} index, one query for each of {days} day(s)")
            }
        }
    }
}

/// What a store's queries read, as DynamoDB reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    pub requests: u64,
    /// Read units consumed (1 per 4 KB strongly consistent, half that eventually consistent).
    pub read_units: f64,
    /// Items DynamoDB evaluated, before filters.
    pub items_read: u64,
    /// How the last query was answered.
    pub last_path: Option<ReadPath>,
}

impl DynamoEventStore {
    /// A store on `table`, keeping events forever.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: None,
            export_grace: Self::EXPORT_GRACE,
            concurrency: 8,
            limits: RecordLimits::default(),
            registered: Mutex::new(HashSet::new()),
            indexes: tokio::sync::OnceCell::new(),
            reads: ReadMeter::default(),
            requests: tokio::sync::Semaphore::new(MAX_STORE_REQUESTS_IN_FLIGHT),
        }
    }

    /// The table's lookup indexes are `indexes` (no `DescribeTable` call to find out).
    pub fn with_lookup_indexes(self, indexes: LookupIndexes) -> Self {
        let _ = self.indexes.set(indexes);
        self
    }

    /// The lookup indexes the table has: asked of DynamoDB once. A table that cannot be
    /// described (the caller may not `DescribeTable`) is read as having none, which is correct
    /// and only dearer.
    pub async fn lookup_indexes(&self) -> LookupIndexes {
        *self
            .indexes
            .get_or_init(|| async {
                match self.client.describe_table().table_name(&self.table).send().await {
                    Ok(out) => LookupIndexes::of_names(
                        out.table()
                            .map(|t| t.global_secondary_indexes())
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|i| i.index_name()),
                    ),
                    Err(e) => {
                        let e = dynamo_error(&self.table, "describe table", e);
                        tracing::warn!(table = %self.table, error = %e, "lookup indexes unknown; lookups read the day partitions");
                        LookupIndexes::None
                    }
                }
            })
            .await
    }

    /// What this store's queries have read so far.
    pub fn read_report(&self) -> ReadReport {
        ReadReport {
            requests: self.reads.requests.load(Ordering::Relaxed),
            read_units: self.reads.milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            items_read: self.reads.scanned.load(Ordering::Relaxed),
            last_path: self
                .reads
                .last_path
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn count_read(&self, units: Option<f64>, scanned: u64) {
        self.reads.requests.fetch_add(1, Ordering::Relaxed);
        self.reads.scanned.fetch_add(scanned, Ordering::Relaxed);
        if let Some(units) = units {
            self.reads
                .milli_units
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    /// How long an item stays at least after it is written, whatever its event's age: long
    /// enough for the daily export to copy it to the lake (a day exported once its streams are
    /// complete, at the next daily run) with days to spare for an exporter outage. Without it,
    /// a backfill of events older than the retention would write items that are already
    /// expired and never reach the lake.
    pub const EXPORT_GRACE: Duration = Duration::days(7);

    /// Items expire `retention` after the event's time (DynamoDB TTL), and never sooner than
    /// [`Self::EXPORT_GRACE`] after they are written; `None` keeps them.
    pub fn with_retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Overrides [`Self::EXPORT_GRACE`] (tests of expiry).
    pub fn with_export_grace(mut self, grace: Duration) -> Self {
        self.export_grace = grace;
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
        let floor = Utc::now() + self.export_grace;
        self.retention.map(|r| (time + r).max(floor).timestamp())
    }

    fn expired(&self, item: &HashMap<String, AttributeValue>, now: i64) -> bool {
        item.get("x")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|x| x <= now)
    }

    fn item(&self, event: &ActivityEvent) -> Result<HashMap<String, AttributeValue>, String> {
        event_item(event, self.expires_at(event.time))
    }

    /// What storing `event` costs in a table with `indexes`, computed from its item the way
    /// DynamoDB sizes items.
    pub fn write_cost(
        event: &ActivityEvent,
        retention: Option<Duration>,
        indexes: LookupIndexes,
    ) -> WriteCost {
        let Ok(item) = event_item(event, retention.map(|r| (event.time + r).timestamp())) else {
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
            index_units: [(BY_ACTOR, "ak"), (BY_NAME, "nk")]
                .into_iter()
                .filter(|(index, _)| indexes.has(index))
                .map(|(_, key)| units(size(&["pk", "sk", key])))
                .sum(),
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
            let page = page.map_err(|e| dynamo_error(&self.table, "list days", e))?;
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
            .map_err(|e| dynamo_error(&self.table, "read table", e))?;
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
            let page = page.map_err(|e| dynamo_error(&self.table, "count events", e))?;
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
                Err(e) => return Err(dynamo_error(&self.table, "quarantine record", e)),
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
