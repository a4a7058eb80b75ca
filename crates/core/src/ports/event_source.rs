//! `EventSource`: CloudTrail Event history, as `LookupEvents` serves it.
//!
//! The port mirrors the API's contract because the collector's correctness depends on it:
//! newest first, both ends of the window inclusive, at most 50 records a page, and a page token
//! valid only with the exact query that produced it. Records come back as raw JSON text; the
//! caller normalises them.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::{AccountId, Region};
use crate::time::TimeWindow;

/// An opaque continuation token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageToken(pub String);

/// One `LookupEvents` call's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LookupQuery {
    pub account: AccountId,
    pub region: Region,
    /// The `EventSource` lookup attribute; `None` for all management events.
    pub event_source: Option<String>,
    pub window: TimeWindow,
    max_results: u8,
}

impl LookupQuery {
    /// A query for up to 50 records a page.
    pub fn new(
        account: AccountId,
        region: Region,
        event_source: Option<String>,
        window: TimeWindow,
    ) -> Self {
        Self {
            account,
            region,
            event_source,
            window,
            max_results: 50,
        }
    }

    /// Sets the page size, 1 to 50 as the API allows.
    pub fn with_max_results(mut self, n: u8) -> Result<Self> {
        if !(1..=50).contains(&n) {
            return Err(Error::invalid(
                "MaxResults",
                n.to_string(),
                "must be 1 to 50",
            ));
        }
        self.max_results = n;
        Ok(self)
    }

    pub fn max_results(&self) -> u8 {
        self.max_results
    }

    fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// One page of records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPage {
    /// Raw CloudTrail record JSON, one string per event.
    pub records: Vec<String>,
    pub next: Option<PageToken>,
    /// Attempts the client made for this page beyond the first (its own retries of 5xx,
    /// throttling and lost connections), so faults it absorbed still show.
    pub retries: u32,
}

/// Reads CloudTrail Event history.
#[async_trait]
pub trait EventSource: Send + Sync {
    /// One page of `query`, continuing from `token` when given.
    async fn lookup(&self, query: &LookupQuery, token: Option<&PageToken>) -> Result<EventPage>;
}

/// An [`EventSource`] over records held in memory, with the API's paging semantics. Records can
/// be given a delivery time; once [`MemoryEventSource::set_now`] is called, records not yet
/// delivered at that time are invisible, as in Event history.
#[derive(Debug, Default)]
pub struct MemoryEventSource {
    records: Mutex<Vec<HeldRecord>>,
    now: Mutex<Option<DateTime<Utc>>>,
}

#[derive(Debug, Clone)]
struct HeldRecord {
    account: AccountId,
    region: Region,
    source: String,
    time: DateTime<Utc>,
    delivered: DateTime<Utc>,
    id: String,
    raw: String,
}

impl MemoryEventSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a record visible. `raw` must be a record that normalises; its fields place it.
    pub fn add(&self, raw: &str) -> Result<()> {
        self.add_delivered(raw, None)
    }

    /// Sets the time of Event history: records delivered later are not visible yet.
    pub fn set_now(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap() = Some(now);
    }

    /// Adds a record delivered at `delivered` (default: its event time). Adding a record twice
    /// makes a duplicate delivery.
    pub fn add_delivered(&self, raw: &str, delivered: Option<DateTime<Utc>>) -> Result<()> {
        let n = crate::normalize(raw.to_owned(), &Default::default()).map_err(|r| r.error)?;
        let e = n.event;
        let account = e
            .account
            .clone()
            .ok_or_else(|| Error::invalid("record", e.id.to_string(), "has no account"))?;
        self.records.lock().unwrap().push(HeldRecord {
            account,
            region: e.region.clone(),
            source: e.source.clone(),
            time: e.time,
            delivered: delivered.unwrap_or(e.time),
            id: e.id.to_string(),
            raw: e.raw,
        });
        Ok(())
    }
}

#[async_trait]
impl EventSource for MemoryEventSource {
    async fn lookup(&self, query: &LookupQuery, token: Option<&PageToken>) -> Result<EventPage> {
        let offset = match token {
            None => 0,
            Some(t) => {
                let (fp, off) = t.0.split_once(':').ok_or(Error::InvalidPageToken)?;
                if fp != query.fingerprint().to_string() {
                    return Err(Error::InvalidPageToken);
                }
                off.parse::<usize>().map_err(|_| Error::InvalidPageToken)?
            }
        };
        let now = *self.now.lock().unwrap();
        let records = self.records.lock().unwrap();
        let mut matching: Vec<&HeldRecord> = records
            .iter()
            .filter(|r| {
                now.is_none_or(|now| r.delivered <= now)
                    && r.account == query.account
                    && r.region == query.region
                    && query.event_source.as_ref().is_none_or(|s| *s == r.source)
                    && query.window.contains(r.time)
            })
            .collect();
        matching.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
        let size = usize::from(query.max_results);
        let page: Vec<String> = matching
            .iter()
            .skip(offset)
            .take(size)
            .map(|r| r.raw.clone())
            .collect();
        let next = (offset + size < matching.len())
            .then(|| PageToken(format!("{}:{}", query.fingerprint(), offset + size)));
        Ok(EventPage {
            records: page,
            next,
            retries: 0,
        })
    }
}
