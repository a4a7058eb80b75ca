//! The alerts the rules raise over an exported day, kept beside the day.
//!
//! Raising alerts over a week of history means reading every event of interest to the rules
//! from seven lake days, and those events are spread over whole days of workload traffic: each
//! day costs a decode of most of its pages. The exporter has every event of the day in hand
//! already, so it keeps the day's hits (`exports/raised/dt=YYYY-MM-DD.json`, outside the table)
//! and a reader merges the hits of the days it needs instead of reading their events. The one
//! step of the rules that reads across events, raising a role passed to a service after it was
//! made admin in the same run, is left to the reader: a day keeps each event's hits and its
//! admin grants, and the reader raises the hits of all the days it reads over all their grants.
//!
//! The one decision to know: a day's hits are only as good as the rules that raised them. The
//! file records [`RuleSet::fingerprint`] (the release and every setting that changes what the
//! rules find), and [`read_day`] treats a file of other rules as absent, so a reader falls back
//! to the events; `iat export --raise-only` raises the days again under the current rules. A day
//! whose events of interest exceed [`MAX_RAISED_EVENTS`] keeps no file either (a reader of the
//! events would have been cut at the same bound and says so).

use chrono::NaiveDate;
use iat_core::ActivityEvent;
use iat_core::TimeWindow;
use iat_core::alert::StoredHit;
use iat_core::error::{Error, Result};
use iat_core::ports::{EventQuery, EventStore, ObjectKey, ObjectStore, Order, read_at_most};
use iat_core::rules::{AdminGrant, RuleSet};
use iat_lake::layout::raised_key;
use serde::{Deserialize, Serialize};

/// Most events of interest a day's hits are raised from.
pub const MAX_RAISED_EVENTS: usize = 100_000;

/// The file's format; a file of another is treated as absent (format 1 kept hits raised with
/// the day's own admin grants and no grants).
const FORMAT: u32 = 2;

/// A day's hits, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedDay {
    pub format: u32,
    pub day: NaiveDate,
    /// [`RuleSet::fingerprint`] of the rules that raised them.
    pub rules: String,
    /// Events of interest to those rules that the day held.
    pub events: u64,
    /// Each event's hits on its own ([`RuleSet::evaluate_each`]), oldest event first: a passed
    /// role is raised by the reader, over the grants of every day it reads.
    pub hits: Vec<StoredHit>,
    /// The day's admin grants ([`RuleSet::admin_grants`]), oldest first.
    pub grants: Vec<AdminGrant>,
}

impl RaisedDay {
    /// The hits `rules` raise over `events` (the day's events of interest, oldest first).
    pub fn raise(day: NaiveDate, events: &[ActivityEvent], rules: &RuleSet) -> Self {
        Self {
            format: FORMAT,
            day,
            rules: rules.fingerprint().to_owned(),
            events: events.len() as u64,
            hits: rules
                .evaluate_each(events)
                .into_iter()
                .map(StoredHit::of)
                .collect(),
            grants: rules.admin_grants(events),
        }
    }

    /// The day's hits as one run over the day raises them (a passed role raised by the day's
    /// grants).
    pub fn raised_hits(&self, rules: &RuleSet) -> Vec<StoredHit> {
        let mut hits = self.hits.clone();
        rules.raise_passed_admin_stored(&self.grants, &mut hits);
        hits
    }
}

/// Collects a day's events of interest to `rules` as an export reads them, page by page,
/// giving up (and holding nothing) past [`MAX_RAISED_EVENTS`].
#[derive(Debug)]
pub struct DayInterest<'r> {
    rules: &'r RuleSet,
    interest: Option<iat_core::ports::Interest>,
    events: Option<Vec<ActivityEvent>>,
    max: usize,
}

impl<'r> DayInterest<'r> {
    pub fn new(rules: &'r RuleSet) -> Self {
        Self::with_max(rules, MAX_RAISED_EVENTS)
    }

    /// Gives up past `max` events of interest.
    pub fn with_max(rules: &'r RuleSet, max: usize) -> Self {
        Self {
            rules,
            interest: rules.interest(),
            events: Some(Vec::new()),
            max,
        }
    }

    /// Takes the page's events of interest (pages in time order).
    pub fn push(&mut self, page: &[ActivityEvent]) {
        let Some(kept) = &mut self.events else {
            return;
        };
        kept.extend(
            page.iter()
                .filter(|e| self.interest.as_ref().is_none_or(|i| i.matches(e)))
                .cloned(),
        );
        if kept.len() > self.max {
            self.events = None;
        }
    }

    /// The day's hits; `None` when it held too many events of interest.
    pub fn finish(self, day: NaiveDate) -> Option<RaisedDay> {
        self.events
            .map(|events| RaisedDay::raise(day, &events, self.rules))
    }
}

/// Writes a day's hits; `None` removes the day's file (too many events to raise ahead).
pub async fn write_day(
    objects: &dyn ObjectStore,
    prefix: &str,
    day: NaiveDate,
    raised: Option<&RaisedDay>,
) -> Result<()> {
    let key = ObjectKey::new(raised_key(prefix, day))?;
    match raised {
        Some(r) => {
            let body = serde_json::to_vec(r)
                .map_err(|e| Error::backend("lake", "encode raised alerts", e))?;
            objects.put(&key, body).await
        }
        None => {
            tracing::warn!(%day, max = MAX_RAISED_EVENTS, "too many events of interest to raise the day's alerts ahead; readers will read its events");
            objects.delete(&key).await
        }
    }
}

/// Removes a day's hits (before its events are replaced).
pub async fn forget_day(objects: &dyn ObjectStore, prefix: &str, day: NaiveDate) -> Result<()> {
    objects
        .delete(&ObjectKey::new(raised_key(prefix, day))?)
        .await
}

/// What a lake day keeps for a reader of its alerts ([`kept`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The hits of these rules.
    Hits(RaisedDay),
    /// The day was never exported: the lake has no event of it, and so no alert.
    NotExported,
    /// The day was exported but keeps no hits of these rules (kept under other settings or an
    /// earlier release, exported without rules, or too busy): read its events.
    Unusable,
}

/// What `day` keeps for `rules` ([`Kept`]).
pub async fn kept(
    objects: &dyn ObjectStore,
    prefix: &str,
    day: NaiveDate,
    rules: &RuleSet,
) -> Result<Kept> {
    if let Some(hits) = read_day(objects, prefix, day, rules).await? {
        return Ok(Kept::Hits(hits));
    }
    if objects
        .get(&ObjectKey::new(raised_key(prefix, day))?)
        .await?
        .is_some()
    {
        return Ok(Kept::Unusable);
    }
    let manifest = ObjectKey::new(iat_lake::layout::manifest_key(prefix, day))?;
    let parts = objects
        .list(&iat_lake::layout::day_prefix(prefix, day))
        .await?;
    Ok(
        if parts.is_empty() && objects.get(&manifest).await?.is_none() {
            Kept::NotExported
        } else {
            Kept::Unusable
        },
    )
}

/// The day's hits if they were raised by rules with `rules`' fingerprint; `None` when there is
/// no file, or it is of other rules or another format.
pub async fn read_day(
    objects: &dyn ObjectStore,
    prefix: &str,
    day: NaiveDate,
    rules: &RuleSet,
) -> Result<Option<RaisedDay>> {
    let key = ObjectKey::new(raised_key(prefix, day))?;
    let Some(body) = objects.get(&key).await? else {
        return Ok(None);
    };
    // The format and rules first: a file of other rules need not be parsed whole.
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        rules: String,
    }
    let head: Head = serde_json::from_slice(&body)
        .map_err(|e| Error::backend("lake", "read raised alerts", format!("{key}: {e}")))?;
    if head.format != FORMAT || head.rules != rules.fingerprint() {
        return Ok(None);
    }
    let day_read: RaisedDay = serde_json::from_slice(&body)
        .map_err(|e| Error::backend("lake", "read raised alerts", format!("{key}: {e}")))?;
    Ok((day_read.day == day).then_some(day_read))
}

/// Raises a day's hits again from `events` (the lake's own events, after the rules changed) and
/// writes them. Returns what was written (`None`: too many events of interest).
pub async fn raise_again(
    events: &dyn EventStore,
    objects: &dyn ObjectStore,
    prefix: &str,
    day: NaiveDate,
    rules: &RuleSet,
) -> Result<Option<RaisedDay>> {
    let query = EventQuery {
        window: Some(TimeWindow::day(day)),
        order: Order::Ascending,
        interest: rules.interest(),
        ..EventQuery::default()
    };
    let (read, cut) = read_at_most(events, query, MAX_RAISED_EVENTS).await?;
    let raised = (!cut).then(|| RaisedDay::raise(day, &read, rules));
    write_day(objects, prefix, day, raised.as_ref()).await?;
    Ok(raised)
}
