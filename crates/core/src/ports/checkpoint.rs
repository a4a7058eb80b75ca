//! `CheckpointStore`: how far each collection stream is complete.
//!
//! A checkpoint means "every event of this stream at or before `complete_up_to` is stored" and
//! nothing else. `islands` are ranges after it that are complete too (collection pages newest
//! first, so an interrupted window is complete at its newer end); they let the next run skip
//! them, and merge into `complete_up_to` once the gap before them is filled. Writes are compare-and-set on `version`, so two collectors racing on one stream
//! cannot both advance it; the loser gets [`Error::CheckpointConflict`] and must reload.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::StreamKey;
use crate::time::TimeWindow;

/// Counters kept with a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    pub runs: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub filtered: u64,
    pub errors: u64,
    /// Runs in a row that neither caught up nor advanced the checkpoint.
    #[serde(default)]
    pub stalled_runs: u64,
    /// Events found late by the overlap re-scan, and by the sweep (later than the overlap).
    #[serde(default)]
    pub late_found: u64,
    #[serde(default)]
    pub late_beyond_overlap: u64,
    /// How late events arrived: counts per bucket of the collector's lateness edges (the
    /// first bucket: found on the first read).
    #[serde(default)]
    pub lateness: Vec<u64>,
    /// The overlap the last run re-scanned, in minutes.
    #[serde(default)]
    pub overlap_minutes: i64,
}

/// Upper edges (minutes) of the lateness histogram kept per stream; a last bucket holds the
/// rest. The first bucket counts events found on their first read.
pub const LATENESS_EDGES_MINUTES: [i64; 15] = [
    0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 480, 720, 1440,
];

impl StreamStats {
    /// Counts `n` events that arrived `late` (rounded up to whole minutes, then to its bucket).
    pub fn add_lateness(&mut self, late: chrono::Duration, n: u64) {
        if n == 0 {
            return;
        }
        let h = &mut self.lateness;
        h.resize(LATENESS_EDGES_MINUTES.len() + 1, 0);
        let secs = late.num_seconds().max(0);
        let minutes = secs / 60 + i64::from(secs % 60 != 0);
        let i = LATENESS_EDGES_MINUTES
            .iter()
            .position(|&edge| minutes <= edge)
            .unwrap_or(LATENESS_EDGES_MINUTES.len());
        h[i] += n;
    }

    /// The lateness 99.9% of events were within (the upper edge of its bucket; a minute over a
    /// day for the last); `None` before any event.
    pub fn lateness_p999(&self) -> Option<chrono::Duration> {
        let total: u64 = self.lateness.iter().sum();
        if total == 0 {
            return None;
        }
        let needed = total - total / 1000;
        let mut seen = 0;
        let i = self.lateness.iter().position(|n| {
            seen += n;
            seen >= needed
        })?;
        Some(LATENESS_EDGES_MINUTES.get(i).map_or(
            chrono::Duration::days(1) + chrono::Duration::minutes(1),
            |m| chrono::Duration::minutes(*m),
        ))
    }
}

/// The state of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub stream: StreamKey,
    /// Everything at or before this time is stored; `None` before the first complete window.
    pub complete_up_to: Option<DateTime<Utc>>,
    /// Complete ranges after `complete_up_to`, oldest first, disjoint.
    #[serde(default)]
    pub islands: Vec<TimeWindow>,
    /// When the run that last advanced this checkpoint started (for status; re-scans go by
    /// `settled_up_to`).
    #[serde(default)]
    pub collected_at: Option<DateTime<Utc>>,
    /// Everything at or before this time was read at least the overlap after it happened, so
    /// events delivered within the overlap are stored too; at or before `complete_up_to`. Late
    /// arrivals are re-scanned from here, so an unfinished re-scan is resumed, never forgotten.
    /// `None` in checkpoints saved before it existed: derived from `collected_at`.
    #[serde(default)]
    pub settled_up_to: Option<DateTime<Utc>>,
    /// Everything at or before this time was read at least the sweep age (a day) after it
    /// happened; at or before `settled_up_to`.
    #[serde(default)]
    pub swept_up_to: Option<DateTime<Utc>>,
    /// When the last run that saved this checkpoint started.
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
    /// The version this value was read at: 0 for a stream never saved.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub stats: StreamStats,
}

impl Checkpoint {
    /// A stream never collected.
    pub fn new(stream: StreamKey, now: DateTime<Utc>) -> Self {
        Self {
            stream,
            complete_up_to: None,
            islands: Vec::new(),
            collected_at: None,
            settled_up_to: None,
            swept_up_to: None,
            last_run_at: None,
            version: 0,
            updated_at: now,
            last_error: None,
            stats: StreamStats::default(),
        }
    }

    /// How far this stream is settled. For a checkpoint saved before `settled_up_to` existed,
    /// what its `collected_at` implied: the run that last moved it read up to
    /// `collected_at − overlap` (the overlap it used).
    pub fn settled(&self, overlap: chrono::Duration) -> Option<DateTime<Utc>> {
        if self.settled_up_to.is_some() {
            return self.settled_up_to.min(self.complete_up_to);
        }
        let p = self.complete_up_to?;
        let read = self.collected_at.map_or(p - overlap, |c| c - overlap);
        Some(read.max(p - overlap).min(p))
    }
}

/// Keeps checkpoints.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stream's checkpoint, if it was ever saved.
    async fn load(&self, stream: &StreamKey) -> Result<Option<Checkpoint>>;
    /// Saves `checkpoint` if the stored version is still `checkpoint.version` (0: absent).
    /// Returns the new version.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<u64>;
    /// Every checkpoint, ordered by stream.
    async fn list(&self) -> Result<Vec<Checkpoint>>;
}

/// A [`CheckpointStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    inner: Mutex<BTreeMap<StreamKey, Checkpoint>>,
}

impl MemoryCheckpointStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load(&self, stream: &StreamKey) -> Result<Option<Checkpoint>> {
        Ok(self.inner.lock().unwrap().get(stream).cloned())
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<u64> {
        let mut inner = self.inner.lock().unwrap();
        let found = inner.get(&checkpoint.stream).map_or(0, |c| c.version);
        if found != checkpoint.version {
            return Err(Error::CheckpointConflict {
                stream: checkpoint.stream.to_string(),
                expected: checkpoint.version,
                found,
            });
        }
        let mut stored = checkpoint.clone();
        stored.version = found + 1;
        inner.insert(stored.stream.clone(), stored);
        Ok(found + 1)
    }

    async fn list(&self) -> Result<Vec<Checkpoint>> {
        Ok(self.inner.lock().unwrap().values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn lateness_p999_is_the_bucket_edge_that_holds_all_but_a_thousandth() {
        let mut s = StreamStats::default();
        assert_eq!(s.lateness_p999(), None);
        s.add_lateness(Duration::zero(), 9_980);
        s.add_lateness(Duration::seconds(61), 15); // 2 min: the 5-minute bucket
        assert_eq!(s.lateness_p999(), Some(Duration::minutes(5)));
        s.add_lateness(Duration::minutes(33), 11); // the 45-minute bucket: over a thousandth
        assert_eq!(s.lateness_p999(), Some(Duration::minutes(45)));
        s.add_lateness(Duration::days(3), 1_000);
        assert_eq!(
            s.lateness_p999(),
            Some(Duration::days(1) + Duration::minutes(1))
        );
        assert_eq!(s.lateness.len(), LATENESS_EDGES_MINUTES.len() + 1);
    }
}
