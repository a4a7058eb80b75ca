//! Reading: the days a query covers, each read by its shards (filtered on the actor or event
//! name where the query names one) or by one lookup index, page by page, merged in sort-key
//! order and filtered by the query's matcher.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Utc};
use iat_core::ports::{EventCursor, EventQuery, Order};
use iat_core::{ActivityEvent, Error};

use super::keys::{BY_ACTOR, BY_NAME, DAY_SHARDS, day_pk, index_key, s, sort_time};
use super::{DynamoEventStore, ReadPath};
use crate::LookupIndexes;
use crate::error::dynamo_error;

impl DynamoEventStore {
    /// [`EventStore::query`] over `days`, the registered days (from [`Self::days`]).
    pub(super) async fn query_days(
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
        let indexes = if Plan::lookup(query).is_some() {
            self.lookup_indexes().await
        } else {
            LookupIndexes::None
        };
        let plan = Plan::of(query, indexes);
        *self
            .reads
            .last_path
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(plan.path(days.len()));
        let now = Utc::now().timestamp();
        for day in days {
            let mut lanes = plan.lanes(day);
            let reader = DayReader {
                store: self,
                bounds: &bounds,
                order: query.order,
                page: page_size(limit - out.len(), &plan),
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

/// Items a page evaluates: an index page's keys are fetched again by key, so it stays small; a
/// filtered day page keeps few of the items it reads, so it reads many (up to DynamoDB's 1 MB).
fn page_size(remaining: usize, plan: &Plan) -> i32 {
    match plan {
        Plan::Index { .. } => remaining.saturating_add(1).clamp(10, 100) as i32,
        Plan::Days { filter: None } => remaining.saturating_add(1).clamp(10, 500) as i32,
        Plan::Days { filter: Some(_) } => 2_000,
    }
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
        // Keys hold four-digit years; a window open at either end (`--since 30d` alone ends at
        // the latest time there is) is unbounded there, not a key like "+262142-12-31", which
        // sorts before every stored day.
        let keyed = |t: &DateTime<Utc>| (0..=9999).contains(&t.year());
        let mut start = query.window.map(|w| w.start()).filter(keyed);
        let mut end = query.window.map(|w| w.end()).filter(keyed);
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
    /// Every shard of the day, keeping only items whose lookup key matches `filter`.
    Days { filter: Option<Lookup> },
    /// The lookup index's partition for the value and day.
    Index(Lookup),
}

/// A lookup by one exact value: the index that answers it, and the item attribute it keys.
#[derive(Debug, Clone)]
struct Lookup {
    index: &'static str,
    value: String,
}

impl Lookup {
    fn attr(&self) -> &'static str {
        if self.index == BY_ACTOR { "ak" } else { "nk" }
    }

    fn what(&self) -> &'static str {
        if self.index == BY_ACTOR {
            "actor"
        } else {
            "event name"
        }
    }
}

impl Plan {
    /// The lookup a query asks for: one literal actor (a name, not an ARN, which matches the
    /// principal ARN too), or else one literal event name.
    fn lookup(query: &EventQuery) -> Option<Lookup> {
        let literal = |s: &str| !iat_core::glob::is_glob(s);
        if let Some(actor) = query
            .actor
            .as_deref()
            .filter(|a| literal(a) && !a.starts_with("arn:"))
        {
            return Some(Lookup {
                index: BY_ACTOR,
                value: actor.to_owned(),
            });
        }
        if let [name] = query.event_names.as_slice()
            && literal(name)
        {
            return Some(Lookup {
                index: BY_NAME,
                value: name.clone(),
            });
        }
        None
    }

    /// The plan for `query` on a table with `indexes`: an index where it has the one the lookup
    /// needs, else the days' partitions filtered on the lookup's attribute.
    fn of(query: &EventQuery, indexes: LookupIndexes) -> Self {
        match Self::lookup(query) {
            Some(lookup) if indexes.has(lookup.index) => Plan::Index(lookup),
            filter => Plan::Days { filter },
        }
    }

    fn path(&self, days: usize) -> ReadPath {
        match self {
            Plan::Days { filter } => ReadPath::DayPartitions {
                days,
                filter: filter.as_ref().map(Lookup::what),
            },
            Plan::Index(lookup) => ReadPath::Index {
                index: lookup.index,
                days,
            },
        }
    }

    fn lanes(&self, day: &str) -> Vec<Lane> {
        match self {
            Plan::Days { filter } => (0..DAY_SHARDS)
                .map(|shard| {
                    let mut lane = Lane::new(None, "pk", day_pk(day, shard));
                    lane.filter = filter
                        .as_ref()
                        .map(|f| (f.attr(), index_key(&f.value, day)));
                    lane
                })
                .collect(),
            Plan::Index(lookup) => {
                vec![Lane::new(
                    Some(lookup.index),
                    lookup.attr(),
                    index_key(&lookup.value, day),
                )]
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
    /// Only items whose attribute has this value (a `FilterExpression`: read, not returned).
    filter: Option<(&'static str, String)>,
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
            filter: None,
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
    /// Fetches pages until every lane has a row or is done. A filtered page can hold no row
    /// and still not be the last, and the merge needs each lane's next row.
    pub(super) async fn fill(&self, lanes: &mut [Lane]) -> Result<(), Error> {
        loop {
            let pending: Vec<&mut Lane> = lanes
                .iter_mut()
                .filter(|l| l.buf.is_empty() && !l.done)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            let results =
                futures_util::future::join_all(pending.into_iter().map(|l| self.page(l))).await;
            results.into_iter().collect::<Result<(), Error>>()?;
        }
    }

    pub(super) async fn page(&self, lane: &mut Lane) -> Result<(), Error> {
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
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(lane.next.take());
        if let Some((attr, value)) = &lane.filter {
            req = req
                .filter_expression("#f = :f")
                .expression_attribute_names("#f", *attr)
                .expression_attribute_values(":f", s(value));
        }
        if let Some(index) = lane.index {
            req = req.index_name(index);
        } else {
            req = req.consistent_read(true);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| dynamo_error(&store.table, "query events", e))?;
        store.count_read(
            resp.consumed_capacity().and_then(|c| c.capacity_units()),
            resp.scanned_count().max(0) as u64,
        );
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
                for item in store
                    .batch_get(chunk.to_vec(), "pk, sk, z, x", super::writer::Read::Metered)
                    .await?
                {
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
    use chrono::{Duration, TimeZone};
    use iat_core::contract::records::RecordSpec;

    use super::super::keys::EventKey;
    use super::*;

    #[test]
    fn a_window_open_at_an_end_is_unbounded_there() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let stored = format!("{}#id", sort_time(t + Duration::days(400)));
        for (start, end) in [
            (t, chrono::DateTime::<Utc>::MAX_UTC),
            (chrono::DateTime::<Utc>::MIN_UTC, t + Duration::days(500)),
            (
                chrono::DateTime::<Utc>::MIN_UTC,
                chrono::DateTime::<Utc>::MAX_UTC,
            ),
        ] {
            let b = Bounds::of(&EventQuery {
                window: Some(iat_core::TimeWindow::new(start, end).unwrap()),
                ..Default::default()
            });
            assert!(b.includes_day("2027-04-06"), "{start}..{end}: {b:?}");
            assert!(b.lo <= stored && stored <= b.hi, "{start}..{end}: {b:?}");
        }
        // After a cursor the open end is still open.
        let e = RecordSpec::new("c", t).event();
        let b = Bounds::of(&EventQuery {
            window: Some(iat_core::TimeWindow::new(t, chrono::DateTime::<Utc>::MAX_UTC).unwrap()),
            after: Some(EventCursor::after(&e)),
            ..Default::default()
        });
        assert!(b.after_cursor(&stored, Order::Ascending) && stored <= b.hi);
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
    fn plans_use_an_index_only_for_a_literal_and_only_where_the_table_has_it() {
        let q = |actor: Option<&str>, names: &[&str]| EventQuery {
            actor: actor.map(str::to_owned),
            event_names: names.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        let index = |plan: Plan| match plan {
            Plan::Index(l) => Some(l.index),
            Plan::Days { .. } => None,
        };
        let filter = |plan: Plan| match plan {
            Plan::Days { filter } => filter.map(|f| (f.attr(), f.value)),
            Plan::Index(_) => None,
        };
        let both = LookupIndexes::Both;
        assert_eq!(index(Plan::of(&q(Some("bob"), &[]), both)), Some(BY_ACTOR));
        assert_eq!(
            index(Plan::of(&q(Some("b*"), &["CreateUser"]), both)),
            Some(BY_NAME)
        );
        assert_eq!(
            index(Plan::of(&q(Some("arn:aws:iam::1:user/x"), &[]), both)),
            None
        );
        assert_eq!(index(Plan::of(&q(None, &["A", "B"]), both)), None);
        assert_eq!(index(Plan::of(&q(None, &["Create*"]), both)), None);
        // Without the index the same lookups read the days, filtered on the item's key.
        let none = LookupIndexes::None;
        assert_eq!(
            filter(Plan::of(&q(Some("bob"), &[]), none)),
            Some(("ak", "bob".to_owned()))
        );
        assert_eq!(
            filter(Plan::of(&q(None, &["CreateUser"]), LookupIndexes::Actor)),
            Some(("nk", "CreateUser".to_owned()))
        );
        assert_eq!(filter(Plan::of(&q(Some("b*"), &["A", "B"]), none)), None);
        let lanes = Plan::of(&q(Some("bob"), &[]), none).lanes("2026-03-02");
        assert_eq!(lanes.len(), DAY_SHARDS as usize);
        assert!(
            lanes
                .iter()
                .all(|l| l.filter == Some(("ak", "bob#2026-03-02".to_owned())))
        );
    }
}
