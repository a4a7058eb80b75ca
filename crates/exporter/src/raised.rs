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
//! A day keeps its hits, not its events of interest: they are raised page by page as the
//! export reads the day, and a long burst of one grouped rule by one principal (every call of a
//! person on a weekend, a denied loop) is kept as its first and last hits and a count
//! ([`HitKeeper`]): the bench's weekend day, 486,782 events of interest and 441,877 hits, keeps
//! 3,441 of them (81 on their own, 168 bursts) in 2.7 MB. A reader keeps or drops a burst whole: by who did it, and by when as long as its first
//! and last hits fall on the same side of the reader's window (a window that cuts a burst reads
//! the events instead).
//!
//! The one decision to know: a day's hits are only as good as the rules that raised them. The
//! file records [`RuleSet::fingerprint`] (the release and every setting that changes what the
//! rules find), and [`read_day`] treats a file of other rules as absent, so a reader falls back
//! to the events; `iat export --raise-only` raises the days again under the current rules. A day
//! whose hits kept on their own exceed [`MAX_KEPT_HITS`] keeps no file either (rules that do not
//! group, firing on most of a day: the reader's read of the events is cut and says so).

use chrono::NaiveDate;
use iat_core::ActivityEvent;
use iat_core::TimeWindow;
use iat_core::alert::{HitKeeper, KeptHit, StoredHit};
use iat_core::error::{Error, Result};
use iat_core::ports::{EventQuery, EventStore, ObjectKey, ObjectStore, Order};
use iat_core::rules::{AdminGrant, RuleSet};
use iat_lake::layout::raised_key;
use serde::{Deserialize, Serialize};

/// Most hits a day keeps (listed hits: a burst's unlisted ones are only counted).
pub const MAX_KEPT_HITS: usize = 100_000;

/// Events of interest read per page when a day's hits are raised again from the lake.
const RAISE_PAGE: usize = 10_000;

/// The file's format; a file of another is treated as absent (format 1 kept hits raised with
/// the day's own admin grants and no grants; format 2 every hit of the day on its own).
const FORMAT: u32 = 3;

/// A day's hits, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaisedDay {
    pub format: u32,
    pub day: NaiveDate,
    /// [`RuleSet::fingerprint`] of the rules that raised them.
    pub rules: String,
    /// Events of interest to those rules that the day held.
    pub events: u64,
    /// Each event's hits on its own ([`RuleSet::evaluate_each`]), oldest event first, long
    /// bursts as their first and last hits ([`HitKeeper`]): a passed role is raised by the
    /// reader, over the grants of every day it reads.
    pub hits: Vec<KeptHit>,
    /// The day's admin grants ([`RuleSet::admin_grants`]), oldest first.
    pub grants: Vec<AdminGrant>,
}

impl RaisedDay {
    /// The day's hits as one run over the day raises them (a passed role raised by the day's
    /// grants).
    pub fn raised_hits(&self, rules: &RuleSet) -> Vec<KeptHit> {
        let mut hits = self.hits.clone();
        rules.raise_passed_admin_stored(
            &self.grants,
            hits.iter_mut().filter_map(KeptHit::as_one_mut),
        );
        hits
    }

    /// The hits the day raised, listed or not.
    pub fn hit_count(&self) -> u64 {
        self.hits.iter().map(KeptHit::count).sum()
    }
}

/// Raises a day's hits from its events as an export reads them, page by page, holding the hits
/// and admin grants rather than the events, and giving up (holding nothing) past
/// [`MAX_KEPT_HITS`].
#[derive(Debug)]
pub struct DayInterest<'r> {
    rules: &'r RuleSet,
    interest: Option<iat_core::ports::Interest>,
    kept: Option<HitKeeper>,
    grants: Vec<AdminGrant>,
    events: u64,
    max: usize,
}

impl<'r> DayInterest<'r> {
    pub fn new(rules: &'r RuleSet) -> Self {
        Self::with_max(rules, MAX_KEPT_HITS)
    }

    /// Gives up past `max` hits kept.
    pub fn with_max(rules: &'r RuleSet, max: usize) -> Self {
        Self {
            rules,
            interest: rules.interest(),
            kept: Some(HitKeeper::default()),
            grants: Vec::new(),
            events: 0,
            max,
        }
    }

    /// Raises the page's events of interest (pages in time order).
    pub fn push(&mut self, page: &[ActivityEvent]) {
        let Some(kept) = &mut self.kept else {
            return;
        };
        let mut hits = Vec::new();
        for e in page
            .iter()
            .filter(|e| self.interest.as_ref().is_none_or(|i| i.matches(e)))
        {
            self.events += 1;
            self.rules.evaluate(e, &mut hits);
            for h in hits.drain(..) {
                kept.push(StoredHit::of(h));
            }
            self.grants
                .extend(self.rules.admin_grants(std::slice::from_ref(e)));
        }
        if kept.held() > self.max {
            self.kept = None;
            self.grants = Vec::new();
        }
    }

    /// Whether it gave up (too many hits to keep): later pages change nothing.
    pub fn gave_up(&self) -> bool {
        self.kept.is_none()
    }

    /// The day's hits; `None` when it raised too many to keep.
    pub fn finish(self, day: NaiveDate) -> Option<RaisedDay> {
        let kept = self.kept?;
        Some(RaisedDay {
            format: FORMAT,
            day,
            rules: self.rules.fingerprint().to_owned(),
            events: self.events,
            hits: kept.finish(),
            grants: self.grants,
        })
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
            tracing::warn!(%day, max = MAX_KEPT_HITS, "too many hits to keep the day's alerts; readers will read its events");
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
    // One parse when the file is of this format (the reader's case); a file that does not parse
    // is absent when its head says another format or other rules, and an error otherwise.
    #[derive(Deserialize)]
    struct Head {
        format: u32,
        rules: String,
    }
    let ours = |format: u32, of_rules: &str| format == FORMAT && of_rules == rules.fingerprint();
    match serde_json::from_slice::<RaisedDay>(&body) {
        Ok(d) => Ok((ours(d.format, &d.rules) && d.day == day).then_some(d)),
        Err(e) => match serde_json::from_slice::<Head>(&body) {
            Ok(head) if !ours(head.format, &head.rules) => Ok(None),
            _ => Err(Error::backend(
                "lake",
                "read raised alerts",
                format!("{key}: {e}"),
            )),
        },
    }
}

/// Raises a day's hits again from `events` (the lake's own events, after the rules changed),
/// page by page, and writes them. Returns what was written (`None`: too many hits to keep).
pub async fn raise_again(
    events: &dyn EventStore,
    objects: &dyn ObjectStore,
    prefix: &str,
    day: NaiveDate,
    rules: &RuleSet,
) -> Result<Option<RaisedDay>> {
    let mut query = EventQuery {
        window: Some(TimeWindow::day(day)),
        order: Order::Ascending,
        interest: rules.interest(),
        limit: Some(RAISE_PAGE),
        ..EventQuery::default()
    };
    let mut interest = DayInterest::new(rules);
    loop {
        let page = events.query(&query).await?;
        interest.push(&page);
        match page.last() {
            Some(last) if page.len() >= RAISE_PAGE && !interest.gave_up() => {
                query.after = Some(iat_core::ports::EventCursor::after(last));
            }
            _ => break,
        }
    }
    let raised = interest.finish(day);
    write_day(objects, prefix, day, raised.as_ref()).await?;
    Ok(raised)
}
