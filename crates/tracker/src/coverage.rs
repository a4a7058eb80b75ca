//! Which times of a stream are complete: a prefix, and islands after it.
//!
//! Times are UTC microseconds, the finest CloudTrail precision. `add` merges a completed range;
//! islands that touch the prefix (or each other) merge into it.

use chrono::{DateTime, Duration, Utc};
use iat_core::TimeWindow;

/// One microsecond: ranges that meet at adjacent microseconds are contiguous.
fn tick() -> Duration {
    Duration::microseconds(1)
}

/// The complete parts of a stream's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    prefix: Option<DateTime<Utc>>,
    islands: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Coverage {
    /// Complete up to `prefix` (inclusive), plus `islands`.
    pub fn new(prefix: Option<DateTime<Utc>>, islands: &[TimeWindow]) -> Self {
        let mut c = Self {
            prefix,
            islands: Vec::new(),
        };
        for w in islands {
            c.add(w.start(), w.end());
        }
        c
    }

    /// Marks `[start, end]` complete.
    pub fn add(&mut self, start: DateTime<Utc>, end: DateTime<Utc>) {
        if start > end || self.prefix.is_some_and(|p| end <= p) {
            return;
        }
        self.islands.push((start, end));
        self.islands.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            Vec::with_capacity(self.islands.len());
        for (s, e) in self.islands.drain(..) {
            match merged.last_mut() {
                Some((_, le)) if s <= *le + tick() => *le = (*le).max(e),
                _ => merged.push((s, e)),
            }
        }
        self.islands = merged;
        // Islands that reach the prefix extend it.
        while let (Some(p), Some(&(s, e))) = (self.prefix, self.islands.first()) {
            if s <= p + tick() {
                self.prefix = Some(p.max(e));
                self.islands.remove(0);
            } else {
                break;
            }
        }
        if let Some(p) = self.prefix {
            self.islands.retain(|&(_, e)| e > p);
        }
    }

    /// Treats everything before `start` as complete (nothing older can be had: the horizon).
    pub fn floor(&mut self, start: DateTime<Utc>) {
        let below = start - tick();
        if self.prefix.is_none_or(|p| p < below) {
            self.prefix = Some(below);
            let islands = std::mem::take(&mut self.islands);
            for (s, e) in islands {
                self.add(s, e);
            }
        }
    }

    pub fn prefix(&self) -> Option<DateTime<Utc>> {
        self.prefix
    }

    /// The islands, oldest first.
    pub fn islands(&self) -> Vec<TimeWindow> {
        self.islands
            .iter()
            .map(|&(s, e)| TimeWindow::new(s, e).expect("islands are ordered"))
            .collect()
    }

    /// Drops islands ending after `limit`, keeping the part of one that straddles it.
    pub fn clip_islands(&mut self, limit: DateTime<Utc>) {
        self.islands.retain(|&(s, _)| s <= limit);
        if let Some(last) = self.islands.last_mut() {
            last.1 = last.1.min(limit);
        }
    }

    /// The incomplete parts of `[start, end]`, oldest first.
    pub fn gaps(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut cursor = start;
        if let Some(p) = self.prefix {
            cursor = cursor.max(p + tick());
        }
        for &(s, e) in &self.islands {
            if cursor > end {
                break;
            }
            if s > cursor {
                out.push((cursor, (s - tick()).min(end)));
            }
            cursor = cursor.max(e + tick());
        }
        if cursor <= end {
            out.push((cursor, end));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::minutes(m)
    }

    #[test]
    fn islands_merge_into_the_prefix() {
        let mut c = Coverage::new(Some(t(0)), &[]);
        c.add(t(30), t(40));
        c.add(t(50), t(60));
        assert_eq!(c.prefix(), Some(t(0)));
        assert_eq!(c.islands().len(), 2);
        assert_eq!(
            c.gaps(t(0), t(70)),
            vec![
                (t(0) + tick(), t(30) - tick()),
                (t(40) + tick(), t(50) - tick()),
                (t(60) + tick(), t(70))
            ]
        );
        c.add(t(0) + tick(), t(30) - tick());
        assert_eq!(
            c.prefix(),
            Some(t(40)),
            "filling the first gap joins the first island"
        );
        c.add(t(40) + tick(), t(50) - tick());
        assert_eq!(c.prefix(), Some(t(60)));
        assert!(c.islands().is_empty());
        assert_eq!(c.gaps(t(0), t(60)), vec![]);
    }

    #[test]
    fn overlapping_and_old_ranges() {
        let mut c = Coverage::new(None, &[]);
        c.add(t(10), t(20));
        c.add(t(15), t(25));
        assert_eq!(c.islands(), vec![TimeWindow::new(t(10), t(25)).unwrap()]);
        c.floor(t(10));
        assert_eq!(
            c.prefix(),
            Some(t(25)),
            "the horizon floor joins an island at its start"
        );
        c.add(t(0), t(5));
        assert_eq!(
            c.prefix(),
            Some(t(25)),
            "ranges below the prefix change nothing"
        );
        assert_eq!(c.gaps(t(20), t(30)), vec![(t(25) + tick(), t(30))]);
    }

    #[test]
    fn clipping_keeps_only_old_islands() {
        let mut c = Coverage::new(Some(t(0)), &[]);
        c.add(t(10), t(20));
        c.add(t(30), t(40));
        c.clip_islands(t(35));
        assert_eq!(
            c.islands(),
            vec![
                TimeWindow::new(t(10), t(20)).unwrap(),
                TimeWindow::new(t(30), t(35)).unwrap()
            ]
        );
        c.clip_islands(t(5));
        assert!(c.islands().is_empty());
    }
}
