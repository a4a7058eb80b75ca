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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStats {
    pub runs: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub filtered: u64,
    pub errors: u64,
    /// Runs in a row that neither caught up nor advanced the checkpoint.
    #[serde(default)]
    pub stalled_runs: u64,
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
            version: 0,
            updated_at: now,
            last_error: None,
            stats: StreamStats::default(),
        }
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
