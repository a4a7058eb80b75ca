//! `EventStore`: where normalised events are kept, once each.
//!
//! Storing is idempotent by event id: putting an event whose id is already stored changes
//! nothing and counts as a duplicate. Queries return events ordered by (time, id) and page with
//! a keyset cursor, so a caller can walk any number of events in bounded memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::Serialize;

use crate::denial::DenialLayer;
use crate::error::{Error, Result};
use crate::glob::Pattern;
use crate::model::{AccountId, ActivityEvent, EventId, Region};
use crate::ports::event_feed::{EventFeed, FeedPosition};
use crate::rules::WorkingHours;
use crate::time::TimeWindow;

/// Result of a put: how many events were new and how many were already stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PutOutcome {
    pub inserted: usize,
    pub duplicates: usize,
    /// The event time of each new event (the collector measures from them how late events
    /// found by a re-scan arrived).
    #[serde(skip)]
    pub inserted_times: Vec<DateTime<Utc>>,
}

/// A record that could not be used, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// Where it came from: a file and record number, a stream, ...
    pub origin: String,
    pub event_id: Option<String>,
    pub reason: String,
    /// The text as read (possibly cut by the backend's size limit).
    pub raw: String,
}

/// What a store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub events: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub quarantined: u64,
}

/// Sort order of query results, by (time, id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    Ascending,
    Descending,
}

/// Position after which the next page starts (exclusive), in the query's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    pub time: DateTime<Utc>,
    pub id: EventId,
}

impl EventCursor {
    /// The cursor just past `event`.
    pub fn after(event: &ActivityEvent) -> Self {
        Self {
            time: event.time,
            id: event.id.clone(),
        }
    }
}

/// A source-IP filter: an exact `sourceIPAddress` text, or a network that contains the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpFilter {
    Exact(String),
    Network(IpNet),
}

impl IpFilter {
    /// `203.0.113.0/24` or `2001:db8::/32` is a network; anything else is matched exactly.
    pub fn parse(s: &str) -> Result<Self> {
        if s.contains('/') {
            s.parse::<IpNet>()
                .map(IpFilter::Network)
                .map_err(|e| Error::invalid("network", s, e.to_string()))
        } else {
            Ok(IpFilter::Exact(s.to_owned()))
        }
    }

    /// True when `event`'s source address matches.
    pub fn matches(&self, event: &ActivityEvent) -> bool {
        match self {
            IpFilter::Exact(s) => event.source_ip.raw == *s,
            IpFilter::Network(net) => event.source_ip.addr.is_some_and(|a| net.contains(&a)),
        }
    }
}

/// Kinds of events a reader wants, such as the rules' reads ([`crate::rules::RuleSet::interest`]):
/// an event matches when it is of any one kind. Backends select them with their indexes, so a
/// reader of the few events that can raise an alert does not read every event of a window.
/// A backend returns exactly the events that [`Self::matches`], except that where
/// [`Self::people_read`] says [`PeopleRead::All`] (no window, or a long one) it may return every
/// call by a person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// `(eventSource, eventName)` pairs.
    pub events: BTreeSet<(String, String)>,
    /// Calls denied by a policy.
    pub denied: bool,
    /// Calls by a person ([`crate::model::Principal::is_person`]).
    pub people: bool,
    /// With `people`: only people's calls outside these working hours.
    pub outside: Option<WorkingHours>,
    /// Events of the root user.
    pub root: bool,
}

/// Which people's calls a store reads for an [`Interest`] ([`Interest::people_read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleRead {
    None,
    All,
    /// Those in these spans, each `[start, end)`; empty when the window is all working time.
    Spans(Vec<(DateTime<Utc>, DateTime<Utc>)>),
}

/// The longest window whose spans outside working hours a store is given
/// ([`Interest::people_read`]); a longer one reads every call by a person.
pub const MAX_SPANS_WINDOW_DAYS: i64 = 31;

impl Interest {
    /// True when `e` is of one of the kinds.
    pub fn matches(&self, e: &ActivityEvent) -> bool {
        (self.denied && e.is_denied())
            || (self.people
                && e.principal.is_person()
                && self.outside.is_none_or(|hours| !hours.contains(e.time)))
            || (self.root && e.principal.kind == crate::model::PrincipalType::Root)
            || self
                .events
                .iter()
                .any(|(s, n)| *n == e.name && *s == e.source)
    }

    /// Which people's calls a store reads over `window`: none, all of them (no working hours,
    /// no window, or one longer than [`MAX_SPANS_WINDOW_DAYS`], where the caller's own check
    /// keeps the result right), or those in the spans of the window outside working hours.
    pub fn people_read(&self, window: Option<&TimeWindow>) -> PeopleRead {
        if !self.people {
            return PeopleRead::None;
        }
        match (self.outside, window) {
            (Some(hours), Some(w))
                if w.end() - w.start() <= chrono::TimeDelta::days(MAX_SPANS_WINDOW_DAYS) =>
            {
                PeopleRead::Spans(hours.outside(w.start(), w.end()))
            }
            _ => PeopleRead::All,
        }
    }

    /// True when the root user's events need a read of their own: unless every person's call
    /// is read (the root user is a person).
    pub fn root_apart(&self, window: Option<&TimeWindow>) -> bool {
        self.root && !matches!(self.people_read(window), PeopleRead::All)
    }

    /// The distinct event names of [`Self::events`].
    pub fn names(&self) -> BTreeSet<&str> {
        self.events.iter().map(|(_, n)| n.as_str()).collect()
    }
}

/// Which events to return. Text filters are exact, or globs (`*`, `?`, `[...]`) when they
/// contain a glob character; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub window: Option<TimeWindow>,
    /// Matches the readable actor or the principal ARN.
    pub actor: Option<String>,
    /// Matches the event name; several are alternatives.
    pub event_names: Vec<String>,
    /// Matches the event source (`iam.amazonaws.com`).
    pub event_source: Option<String>,
    pub account: Option<AccountId>,
    pub region: Option<Region>,
    pub source_ip: Option<IpFilter>,
    /// Only calls denied by a policy.
    pub denied_only: bool,
    /// Only calls denied by this layer.
    pub denial_layer: Option<DenialLayer>,
    /// Only events of these kinds.
    pub interest: Option<Interest>,
    pub order: Order,
    pub after: Option<EventCursor>,
    pub limit: Option<usize>,
}

impl EventQuery {
    /// Compiles the text filters, rejecting a malformed glob.
    pub fn matcher(&self) -> Result<QueryMatcher<'_>> {
        Ok(QueryMatcher {
            query: self,
            actor: self
                .actor
                .as_deref()
                .map(|s| Pattern::new("actor filter", s))
                .transpose()?,
            names: self
                .event_names
                .iter()
                .map(|s| Pattern::new("event name filter", s))
                .collect::<Result<_>>()?,
            source: self
                .event_source
                .as_deref()
                .map(|s| Pattern::new("event source filter", s))
                .transpose()?,
        })
    }
}

/// An [`EventQuery`] ready to test events one by one.
#[derive(Debug)]
pub struct QueryMatcher<'q> {
    query: &'q EventQuery,
    actor: Option<Pattern>,
    names: Vec<Pattern>,
    source: Option<Pattern>,
}

impl QueryMatcher<'_> {
    /// True when `e` passes every filter except the cursor and limit.
    pub fn matches(&self, e: &ActivityEvent) -> bool {
        let q = self.query;
        q.window.is_none_or(|w| w.contains(e.time))
            && self.actor.as_ref().is_none_or(|m| {
                m.is_match(&e.principal.actor)
                    || e.principal.arn.as_deref().is_some_and(|a| m.is_match(a))
            })
            && (self.names.is_empty() || self.names.iter().any(|m| m.is_match(&e.name)))
            && self.source.as_ref().is_none_or(|m| m.is_match(&e.source))
            && q.account
                .as_ref()
                .is_none_or(|a| e.account.as_ref() == Some(a))
            && q.region.as_ref().is_none_or(|r| e.region == *r)
            && q.source_ip.as_ref().is_none_or(|f| f.matches(e))
            && (!q.denied_only || e.is_denied())
            && q.denial_layer
                .is_none_or(|l| e.denial.is_some_and(|d| d.layer == l))
            && q.interest.as_ref().is_none_or(|i| i.matches(e))
    }

    /// True when `e` comes after the query's cursor in its order.
    pub fn after_cursor(&self, e: &ActivityEvent) -> bool {
        match (&self.query.after, self.query.order) {
            (None, _) => true,
            (Some(c), Order::Ascending) => (e.time, &e.id) > (c.time, &c.id),
            (Some(c), Order::Descending) => (e.time, &e.id) < (c.time, &c.id),
        }
    }
}

/// How many of a query's events share an event source, name and denial layer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ActionCount {
    pub source: String,
    pub name: String,
    /// The layer that denied the calls; `None` for calls not denied.
    pub layer: Option<DenialLayer>,
    pub count: u64,
}

/// A query's events counted by action ([`EventStore::count_actions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionCounts {
    /// One entry per (source, name, layer), sorted.
    pub actions: Vec<ActionCount>,
    /// True when the count stopped at the caller's bound: more events match.
    pub cut: bool,
}

impl ActionCounts {
    /// Counts `events`.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a ActivityEvent>) -> Self {
        let mut counts: BTreeMap<(&str, &str, Option<DenialLayer>), u64> = BTreeMap::new();
        for e in events {
            *counts
                .entry((&e.source, &e.name, e.denial.map(|d| d.layer)))
                .or_default() += 1;
        }
        let counts = counts
            .into_iter()
            .map(|((source, name, layer), count)| ActionCount {
                source: source.to_owned(),
                name: name.to_owned(),
                layer,
                count,
            });
        Self::from_counts(counts, false)
    }

    /// Merges counts of the same action (as from two parts of a window) and sorts them.
    pub fn from_counts(counts: impl IntoIterator<Item = ActionCount>, cut: bool) -> Self {
        let mut merged: BTreeMap<(String, String, Option<DenialLayer>), u64> = BTreeMap::new();
        for c in counts {
            *merged.entry((c.source, c.name, c.layer)).or_default() += c.count;
        }
        Self {
            actions: merged
                .into_iter()
                .map(|((source, name, layer), count)| ActionCount {
                    source,
                    name,
                    layer,
                    count,
                })
                .collect(),
            cut,
        }
    }

    /// Events counted.
    pub fn events(&self) -> u64 {
        self.actions.iter().map(|a| a.count).sum()
    }
}

/// Stores normalised events, once each.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores events not yet stored; ids already present (or repeated in `events`) are duplicates.
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome>;
    /// Events matching `query`, ordered by (time, id) in the query's order.
    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>>;
    /// Keeps records that could not be used.
    async fn quarantine(&self, records: &[Quarantined]) -> Result<()>;
    /// Counts and time range.
    async fn stats(&self) -> Result<StoreStats>;

    /// `query`'s events (its order, cursor and limit aside) counted by event source, name and
    /// denial layer, for pages that show counts rather than events. This default reads the
    /// events page by page and counts at most `max` of them (`cut` when more match); a store
    /// that can count where the events are (the lake's SQL) counts them all there instead,
    /// without reading each event whole.
    async fn count_actions(&self, query: &EventQuery, max: usize) -> Result<ActionCounts> {
        count_actions_by_reading(self, query, max).await
    }
}

/// [`EventStore::count_actions`] by reading `query`'s events page by page, at most `max`
/// (`cut` when more match): the default, and the fallback of stores that count in SQL when a
/// filter is not expressed there.
pub async fn count_actions_by_reading<S: EventStore + ?Sized>(
    store: &S,
    query: &EventQuery,
    max: usize,
) -> Result<ActionCounts> {
    let query = EventQuery {
        after: None,
        ..query.clone()
    };
    let (events, cut) = read_at_most(store, query, max).await?;
    Ok(ActionCounts {
        cut,
        ..ActionCounts::of(&events)
    })
}

/// The first `max` events of `query` from its cursor on, and whether more match: one request
/// for all of them (the store pages underneath) plus one event to tell, repeated only if a
/// store answers short of a full page.
pub async fn read_at_most<S: EventStore + ?Sized>(
    store: &S,
    mut query: EventQuery,
    max: usize,
) -> Result<(Vec<ActivityEvent>, bool)> {
    let mut out = Vec::new();
    loop {
        query.limit = Some((max - out.len()).saturating_add(1));
        let page = store.query(&query).await?;
        let full = page.len() == query.limit.unwrap_or(0);
        if let Some(last) = page.last() {
            query.after = Some(EventCursor::after(last));
        }
        out.extend(page);
        if out.len() > max {
            out.truncate(max);
            return Ok((out, true));
        }
        if !full {
            return Ok((out, false));
        }
    }
}

/// What [`StoreSummary::breakdown`] counts events by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakdown {
    EventSource,
    EventName,
    Account,
    Region,
    Actor,
    /// Denied calls by the policy layer that denied them (allowed calls are not counted).
    DenialLayer,
}

/// A quarantined record as `iat status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineEntry {
    pub origin: String,
    pub event_id: Option<String>,
    pub reason: String,
}

/// An optional capability of an event store: counts by a column and the latest quarantined
/// records, for stores that answer them from an index (SQLite). A store that would have to
/// read every item to answer (DynamoDB) does not offer it; the lake answers the same with SQL.
#[async_trait]
pub trait StoreSummary: Send + Sync {
    /// Event counts grouped by `by`, largest first, at most `limit` groups.
    async fn breakdown(&self, by: Breakdown, limit: usize) -> Result<Vec<(String, u64)>>;
    /// The `limit` most recently quarantined records, newest first.
    async fn recent_quarantine(&self, limit: usize) -> Result<Vec<QuarantineEntry>>;
}

/// An [`EventStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryEventStore {
    inner: Mutex<MemoryEvents>,
}

#[derive(Debug, Default)]
struct MemoryEvents {
    by_key: BTreeMap<(DateTime<Utc>, EventId), ActivityEvent>,
    ids: std::collections::HashMap<EventId, DateTime<Utc>>,
    quarantined: Vec<Quarantined>,
    /// Keys in the order they were stored: the feed's positions are 1 + the index.
    stored: Vec<(DateTime<Utc>, EventId)>,
    marks: BTreeMap<String, FeedPosition>,
}

impl MemoryEventStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The quarantined records, for tests.
    pub fn quarantined(&self) -> Vec<Quarantined> {
        self.inner.lock().unwrap().quarantined.clone()
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        let mut inner = self.inner.lock().unwrap();
        let mut out = PutOutcome::default();
        for e in events {
            if inner.ids.contains_key(&e.id) {
                out.duplicates += 1;
            } else {
                inner.ids.insert(e.id.clone(), e.time);
                inner.by_key.insert((e.time, e.id.clone()), e.clone());
                inner.stored.push((e.time, e.id.clone()));
                out.inserted += 1;
                out.inserted_times.push(e.time);
            }
        }
        Ok(out)
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        let m = query.matcher()?;
        let inner = self.inner.lock().unwrap();
        let limit = query.limit.unwrap_or(usize::MAX);
        let pick = |e: &&ActivityEvent| m.after_cursor(e) && m.matches(e);
        let out = match query.order {
            Order::Ascending => inner
                .by_key
                .values()
                .filter(pick)
                .take(limit)
                .cloned()
                .collect(),
            Order::Descending => inner
                .by_key
                .values()
                .rev()
                .filter(pick)
                .take(limit)
                .cloned()
                .collect(),
        };
        Ok(out)
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<()> {
        self.inner
            .lock()
            .unwrap()
            .quarantined
            .extend_from_slice(records);
        Ok(())
    }

    async fn stats(&self) -> Result<StoreStats> {
        let inner = self.inner.lock().unwrap();
        Ok(StoreStats {
            events: inner.by_key.len() as u64,
            first: inner.by_key.keys().next().map(|k| k.0),
            last: inner.by_key.keys().next_back().map(|k| k.0),
            quarantined: inner.quarantined.len() as u64,
        })
    }
}

#[async_trait]
impl EventFeed for MemoryEventStore {
    async fn after(
        &self,
        position: FeedPosition,
        limit: usize,
    ) -> Result<Vec<(FeedPosition, ActivityEvent)>> {
        let inner = self.inner.lock().unwrap();
        let start = usize::try_from(position.max(0)).unwrap_or(usize::MAX);
        Ok(inner
            .stored
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, key)| (i as FeedPosition + 1, inner.by_key[key].clone()))
            .collect())
    }

    async fn mark(&self, name: &str) -> Result<FeedPosition> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.marks.get(name).copied().unwrap_or(0))
    }

    async fn set_mark(&self, name: &str, position: FeedPosition) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        inner.marks.insert(name.to_owned(), position);
        Ok(())
    }
}
