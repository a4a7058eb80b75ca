//! Time windows. Both ends are inclusive, as in CloudTrail's `LookupEvents`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Days CloudTrail's Event history keeps: nothing older can be collected from it.
pub const EVENT_HISTORY_DAYS: i64 = 90;

/// A closed interval `[start, end]` of UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeWindow {
    /// A window; `start` must not be after `end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if start > end {
            return Err(Error::invalid(
                "time window",
                format!("{start} .. {end}"),
                "start is after end",
            ));
        }
        Ok(Self { start, end })
    }

    /// One UTC day, from midnight to its last microsecond (the finest time a stored event
    /// has): the unit of the lake's partitions and of the events table's shards.
    pub fn day(day: NaiveDate) -> Self {
        let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
        Self {
            start,
            end: start + Duration::days(1) - Duration::microseconds(1),
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// True when `t` is inside the window, ends included.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t <= self.end
    }
}

impl std::fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} .. {}",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_is_midnight_to_its_last_microsecond() {
        let w = TimeWindow::day(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(w.start().to_rfc3339(), "2026-02-28T00:00:00+00:00");
        assert_eq!(w.end().to_rfc3339(), "2026-02-28T23:59:59.999999+00:00");
        assert!(!w.contains(w.end() + Duration::microseconds(1)));
    }

    #[test]
    fn inclusive_and_validated() {
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let w = TimeWindow::new(a, b).unwrap();
        assert!(w.contains(a) && w.contains(b));
        assert!(!w.contains(b + chrono::Duration::seconds(1)));
        assert!(TimeWindow::new(b, a).is_err());
        assert!(TimeWindow::new(a, a).is_ok());
    }
}
