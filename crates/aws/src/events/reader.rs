//! Reading: the days a query covers, each read by its shards (or one index), page by page,
//! merged in sort-key order and filtered by the query's matcher.

use std::collections::{HashMap, VecDeque};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use iat_core::ports::{EventCursor, EventQuery, Order};
use iat_core::{ActivityEvent, Error};

use super::DynamoEventStore;
use super::keys::{BY_ACTOR, BY_NAME, DAY_SHARDS, day_pk, index_key, s, sort_time};
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

fn page_size(remaining: usize, index: bool) -> i32 {
    let cap = if index { 100 } else { 500 };
    remaining.saturating_add(1).clamp(10, cap) as i32
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
    pub(super) async fn fill(&self, lanes: &mut [Lane]) -> Result<(), Error> {
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
            .set_exclusive_start_key(lane.next.take());
        if let Some(index) = lane.index {
            req = req.index_name(index);
        } else {
            req = req.consistent_read(true);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| dynamo_error(&store.table, "query events", e))?;
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
    use chrono::{Duration, TimeZone};
    use iat_core::contract::records::RecordSpec;

    use super::super::keys::EventKey;
    use super::*;

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
