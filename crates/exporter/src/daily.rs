//! The daily export: yesterday, the late days before it, and every day the collector completed
//! since the exporter last looked.
//!
//! Exporting only the last few days is not enough: a day exported while the collector was
//! behind (a backfill still running, an outage, a stream that could not advance, late events
//! the sweep finds a day on) would stay short in the lake for good once it left the late days.
//! So the exporter reads the checkpoints rather than guessing: the [`Coverage`] is, over every
//! stream, how far events are *settled* (read at least the overlap after they happened) and
//! *swept* (read again a day after). Each run re-exports the days whose end one of them passed
//! since the previous run, which the run records in `exports/coverage.json`. In a steady state
//! those days are inside the late days already and nothing extra is exported; after a backfill
//! or an outage, each day is exported again once it is complete. Days older than Event history
//! (90 days) cannot gain events and are never re-examined.
//!
//! Progress is saved after each such day, so a run cut short (the Lambda limit) resumes.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::error::{Error, Result};
use iat_core::ports::{Checkpoint, CheckpointStore, EventStore, ObjectKey, ObjectStore};
use iat_lake::layout::coverage_key;
use serde::{Deserialize, Serialize};

use crate::{DayExport, ExportOptions, daily_days, export_day};

pub use iat_core::time::EVENT_HISTORY_DAYS;

/// The overlap assumed for a checkpoint saved before it recorded its own (the collector's
/// widest overlap, so its settled time is never overstated).
const LEGACY_OVERLAP_MINUTES: i64 = 240;

/// How far every stream's events are final in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Every stream read everything up to here at least its overlap after it happened; `None`
    /// while any stream has not (or there are no streams).
    pub settled_up_to: Option<DateTime<Utc>>,
    /// Every stream swept everything up to here a day after it happened; `None` while any
    /// stream has not (or the sweep is off).
    pub swept_up_to: Option<DateTime<Utc>>,
}

impl Coverage {
    /// The coverage of a set of checkpoints: the least of each measure.
    pub fn of(checkpoints: &[Checkpoint]) -> Self {
        let settled = checkpoints.iter().map(|cp| {
            let overlap = match cp.stats.overlap_minutes {
                m if m > 0 => m,
                _ => LEGACY_OVERLAP_MINUTES,
            };
            cp.settled(Duration::minutes(overlap))
        });
        Self {
            settled_up_to: least(settled),
            swept_up_to: least(checkpoints.iter().map(|cp| cp.swept_up_to)),
        }
    }

    fn measures(&self) -> [Option<DateTime<Utc>>; 2] {
        [self.settled_up_to, self.swept_up_to]
    }
}

/// The least value; `None` if any is `None` or there are none.
fn least(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> Option<DateTime<Utc>> {
    let mut out: Option<DateTime<Utc>> = None;
    for v in values {
        let v = v?;
        out = Some(out.map_or(v, |o| o.min(v)));
    }
    out
}

/// The last day wholly at or before `t`.
fn last_whole_day(t: DateTime<Utc>) -> NaiveDate {
    (t + Duration::microseconds(1)).date_naive() - Duration::days(1)
}

/// The days whose end a measure passed going from `from` (`None`: nothing covered) to `to`,
/// not before `horizon` nor after `last`.
fn days_passed(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    horizon: NaiveDate,
    last: NaiveDate,
) -> impl Iterator<Item = NaiveDate> {
    let first = from.map_or(horizon, |f| {
        (last_whole_day(f) + Duration::days(1)).max(horizon)
    });
    let end = to.map(last_whole_day).map(|d| d.min(last));
    first
        .iter_days()
        .take_while(move |d| end.is_some_and(|e| *d <= e))
}

/// What the exporter records between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    #[serde(flatten)]
    coverage: Coverage,
    recorded_at: DateTime<Utc>,
}

/// What a daily export did.
#[derive(Debug, Clone, Serialize)]
pub struct DailyExport {
    /// Every day exported, oldest first.
    pub days: Vec<DayExport>,
    /// The days among them exported because the collector completed them since the last run
    /// (outside the late days).
    pub completed: Vec<NaiveDate>,
    /// The checkpoints' coverage this run went by.
    pub coverage: Coverage,
}

impl DailyExport {
    /// The days worth reporting: all but those looked at only because the checkpoints cover
    /// them and found empty (a first run looks back over 90 days).
    pub fn reported_days(&self) -> impl Iterator<Item = &DayExport> {
        self.days
            .iter()
            .filter(|d| d.events > 0 || d.kept_existing || !self.completed.contains(&d.day))
    }
}

/// Runs the daily export for `today` (UTC): yesterday and the `late_days` before it, and the
/// days the checkpoints completed since the last run.
pub async fn export_daily(
    store: &dyn EventStore,
    objects: &dyn ObjectStore,
    checkpoints: &dyn CheckpointStore,
    today: NaiveDate,
    late_days: u32,
    options: &ExportOptions,
    now: DateTime<Utc>,
) -> Result<DailyExport> {
    let (first, last) = daily_days(today, late_days);
    let current = Coverage::of(&checkpoints.list().await?);
    let state_key = ObjectKey::new(coverage_key(&options.prefix))?;
    let previous = read_recorded(objects, &state_key).await?;
    let horizon = today - Duration::days(EVENT_HISTORY_DAYS);
    let was = previous.map(|r| r.coverage).unwrap_or_default();
    let mut completed = BTreeSet::new();
    for (from, to) in was.measures().into_iter().zip(current.measures()) {
        if to > from {
            completed.extend(
                days_passed(from, to, horizon, last).filter(|d| !(first..=last).contains(d)),
            );
        }
    }
    if !completed.is_empty() {
        tracing::info!(days = completed.len(), first = %completed.first().expect("not empty"), "re-exporting days the collector completed since the last export");
    }
    let mut days: BTreeSet<NaiveDate> = completed.clone();
    days.extend(first.iter_days().take_while(|d| *d <= last));
    let mut out = Vec::with_capacity(days.len());
    for day in days {
        out.push(export_day(store, objects, day, options, now).await?);
        if completed.contains(&day) {
            let progress = progress(&was, &current, day);
            write_recorded(objects, &state_key, progress, now).await?;
        }
    }
    write_recorded(objects, &state_key, current, now).await?;
    Ok(DailyExport {
        days: out,
        completed: completed.into_iter().collect(),
        coverage: current,
    })
}

/// What to record once the days up to `done` are exported: each measure that advanced, as far
/// as `done`'s end (never past where it is now); the others, where they are now.
fn progress(was: &Coverage, now: &Coverage, done: NaiveDate) -> Coverage {
    let done_end = iat_core::TimeWindow::day(done).end();
    let step = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
        if to > from {
            to.map(|t| t.min(done_end.max(from.unwrap_or(done_end))))
        } else {
            to
        }
    };
    Coverage {
        settled_up_to: step(was.settled_up_to, now.settled_up_to),
        swept_up_to: step(was.swept_up_to, now.swept_up_to),
    }
}

async fn read_recorded(objects: &dyn ObjectStore, key: &ObjectKey) -> Result<Option<Recorded>> {
    let Some(body) = objects.get(key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| Error::backend("lake", "read export coverage", format!("{key}: {e}")))
}

async fn write_recorded(
    objects: &dyn ObjectStore,
    key: &ObjectKey,
    coverage: Coverage,
    now: DateTime<Utc>,
) -> Result<()> {
    let body = serde_json::to_vec(&Recorded {
        coverage,
        recorded_at: now,
    })
    .map_err(|e| Error::backend("lake", "write export coverage", e))?;
    objects.put(key, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_day_is_passed_once_its_last_microsecond_is_covered() {
        assert_eq!(last_whole_day(t("2026-03-04T00:00:00Z")), d("2026-03-03"));
        assert_eq!(
            last_whole_day(t("2026-03-03T23:59:59.999999Z")),
            d("2026-03-03")
        );
        assert_eq!(
            last_whole_day(t("2026-03-03T23:59:59.999998Z")),
            d("2026-03-02")
        );
    }

    #[test]
    fn the_days_passed_lie_between_the_two_positions_within_the_horizon() {
        let horizon = d("2026-01-01");
        let last = d("2026-03-09");
        let days = |from: Option<&str>, to: Option<&str>| -> Vec<NaiveDate> {
            days_passed(from.map(t), to.map(t), horizon, last).collect()
        };
        assert_eq!(
            days(Some("2026-03-02T10:00:00Z"), Some("2026-03-05T01:00:00Z")),
            vec![d("2026-03-02"), d("2026-03-03"), d("2026-03-04")]
        );
        assert!(days(Some("2026-03-02T10:00:00Z"), Some("2026-03-02T23:00:00Z")).is_empty());
        assert!(days(Some("2026-03-02T10:00:00Z"), None).is_empty());
        // Nothing covered before: every day since the horizon.
        assert_eq!(days(None, Some("2026-01-03T05:00:00Z")).len(), 2);
        // Never past the last day asked.
        assert_eq!(
            days(Some("2026-03-08T00:00:00Z"), Some("2026-03-20T00:00:00Z")),
            vec![d("2026-03-08"), d("2026-03-09")]
        );
    }

    #[test]
    fn progress_stops_at_the_day_done_and_never_moves_a_measure_back_past_it() {
        let was = Coverage {
            settled_up_to: Some(t("2026-03-01T12:00:00Z")),
            swept_up_to: Some(t("2026-03-05T00:00:00Z")),
        };
        let now = Coverage {
            settled_up_to: Some(t("2026-03-06T12:00:00Z")),
            swept_up_to: Some(t("2026-03-04T00:00:00Z")),
        };
        let p = progress(&was, &now, d("2026-03-02"));
        assert_eq!(p.settled_up_to, Some(t("2026-03-02T23:59:59.999999Z")));
        // A measure that went back is recorded where it is now, so its advance is seen again.
        assert_eq!(p.swept_up_to, now.swept_up_to);
    }
}
