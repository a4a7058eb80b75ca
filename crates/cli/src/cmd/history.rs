//! Where older events come from: the store for the days it keeps, the lake before them.
//!
//! A deployed store keeps events for `RETENTION_DAYS` (DynamoDB TTL); the exported lake keeps
//! every day. With the retention given, event reads span both: from the first whole day inside
//! the retention onwards from the store, before it from the lake (DataFusion over a local lake,
//! or Athena), each event once and in order, through the one [`SpanningEventStore`].

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::TimeWindow;
use iat_core::ports::{EventStore, SpanningEventStore};
use iat_lake::LakeEventStore;

use super::EngineArgs;
use crate::store::Stores;

/// Which events a read takes from the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum History {
    /// The store for the days it keeps (--retention-days), the lake before them; only the store
    /// when no retention is given.
    Auto,
    /// Only the store.
    Store,
    /// Only the lake (every exported day).
    Lake,
}

/// Arguments for reading history beyond the store (flattened into commands that read events).
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Days the store keeps events (the stack's RetentionDays, DynamoDB TTL). Events before the
    /// first whole UTC day inside them are read from the lake: --lake locally, Athena with
    /// --athena-database. Unset: the store keeps everything.
    #[arg(long, env = "RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<u32>,
    /// Where events come from.
    #[arg(long, value_enum, default_value_t = History::Auto)]
    pub history: History,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The events a command reads, and what it needs to say about where they came from.
pub struct EventReads {
    pub events: Arc<dyn EventStore>,
    /// The lake's part, when one is read.
    pub lake: Option<LakeSide>,
}

impl std::fmt::Debug for EventReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReads")
            .field("lake", &self.lake)
            .finish_non_exhaustive()
    }
}

/// The lake's side of a read.
#[derive(Debug)]
pub struct LakeSide {
    pub store: Arc<LakeEventStore>,
    /// Events before this come from the lake; `None` when every event does.
    pub boundary: Option<DateTime<Utc>>,
    pub retention_days: Option<u32>,
    /// The local lake's exported days, to name the missing ones (`None` on Athena).
    pub local_days: Option<Vec<NaiveDate>>,
}

/// The first moment of the first whole UTC day whose every event is younger than `days` at
/// `now`: the store holds all of that day and every later one.
pub fn boundary(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let oldest = (now - Duration::days(i64::from(days))).date_naive();
    (oldest + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

impl HistoryArgs {
    /// The event store these arguments read: `stores.events`, the lake, or both split.
    pub fn reads(
        &self,
        stores: &Stores,
        profile: Option<String>,
        runtime: &tokio::runtime::Runtime,
        now: DateTime<Utc>,
    ) -> anyhow::Result<EventReads> {
        if self.retention_days == Some(0) {
            anyhow::bail!(
                "--retention-days 0: a store keeps events at least a day; leave it unset when it keeps them all"
            );
        }
        let split = match (self.history, self.retention_days) {
            (History::Store, _) | (History::Auto, None) => {
                return Ok(EventReads {
                    events: stores.events.clone(),
                    lake: None,
                });
            }
            (History::Lake, _) => None,
            (History::Auto, Some(days)) => Some(boundary(now, days)),
        };
        let engine = runtime
            .block_on(self.engine.engine(profile))
            .context("the lake's query engine")?;
        let lake = Arc::new(LakeEventStore::new(Arc::from(engine)));
        let events: Arc<dyn EventStore> = match split {
            Some(b) => Arc::new(SpanningEventStore::new(
                stores.events.clone(),
                lake.clone(),
                b,
            )),
            None => lake.clone(),
        };
        Ok(EventReads {
            events,
            lake: Some(LakeSide {
                store: lake,
                boundary: split,
                retention_days: self.retention_days,
                local_days: self.engine.local_lake().map(|l| l.days()),
            }),
        })
    }
}

impl LakeSide {
    /// How many of `shown` came from the lake: those before the boundary, or all of them when
    /// the lake alone is read (`--history lake`).
    pub fn from_lake(&self, shown: &[iat_core::ActivityEvent]) -> usize {
        from_lake(self.boundary, shown)
    }

    /// Lines for stderr after a read of `window`: how many events came from where, what the lake's statements cost, rows it could not read, days it lacks.
    /// `from_lake` is how many of the events shown are older than the boundary (all of them
    /// when the lake alone is read).
    pub fn report(&self, window: Option<TimeWindow>, from_lake: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let reads = self.store.reads();
        let mut line = match (self.boundary, self.retention_days) {
            (Some(b), Some(days)) => format!(
                "{from_lake} of these events (those before {}) from {}: the store keeps {days} days",
                b.format("%Y-%m-%d"),
                self.store.describe()
            ),
            _ => format!("{from_lake} events from {}", self.store.describe()),
        };
        if reads.statements > 0 {
            let s = if reads.statements == 1 { "" } else { "s" };
            line.push_str(&format!("; {} SQL statement{s}", reads.statements));
        }
        if reads.scanned_bytes > 0 || reads.cost_usd > 0.0 {
            line.push_str(&format!(
                ", {} scanned, ${:.4}",
                iat_core::ports::query_engine::human_bytes(reads.scanned_bytes),
                reads.cost_usd
            ));
        }
        lines.push(line);
        if reads.unreadable > 0 {
            lines.push(format!(
                "warning: {} rows of the lake could not be read back as events and were skipped",
                reads.unreadable
            ));
        }
        // Days between the lake's first export and the store's part that have no export: the
        // store may no longer hold them either. Only said when the lake was read.
        let days = self.local_days.as_ref().filter(|_| reads.statements > 0);
        if let (Some(days), Some(w), Some(first_export)) =
            (days, window, days.and_then(|d| d.first()))
        {
            let last = match self.boundary {
                Some(b) => (b - Duration::days(1)).date_naive(),
                None => w.end().date_naive(),
            }
            .min(w.end().date_naive());
            let first = w.start().date_naive().max(*first_export);
            if (1000..=9999).contains(&chrono::Datelike::year(&first)) && first <= last {
                let missing: Vec<NaiveDate> = first
                    .iter_days()
                    .take_while(|d| *d <= last)
                    .filter(|d| days.binary_search(d).is_err())
                    .collect();
                if !missing.is_empty() {
                    let shown: Vec<String> =
                        missing.iter().take(5).map(|d| d.to_string()).collect();
                    lines.push(format!(
                        "warning: the lake has no export of {} day(s) read from it ({}{}); a day without events has none, otherwise run `iat export` for them while the store still holds them",
                        missing.len(),
                        shown.join(", "),
                        if missing.len() > 5 { ", ..." } else { "" }
                    ));
                }
            }
        }
        lines
    }
}

fn from_lake(boundary: Option<DateTime<Utc>>, shown: &[iat_core::ActivityEvent]) -> usize {
    match boundary {
        Some(b) => shown.iter().filter(|e| e.time < b).count(),
        None => shown.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_shown_are_counted_from_the_lake_before_the_boundary_or_all_from_the_lake_alone() {
        let at = |t: &str| {
            iat_core::contract::records::RecordSpec::new("e", t.parse::<DateTime<Utc>>().unwrap())
                .event()
        };
        let shown = [at("2026-11-15T10:00:00Z"), at("2026-11-20T10:00:00Z")];
        let b: DateTime<Utc> = "2026-11-17T00:00:00Z".parse().unwrap();
        assert_eq!(from_lake(Some(b), &shown), 1);
        assert_eq!(from_lake(None, &shown), 2);
    }

    #[test]
    fn the_boundary_is_the_first_whole_day_the_store_still_holds() {
        let now: DateTime<Utc> = "2026-11-30T10:00:00Z".parse().unwrap();
        // 14 days back is 2026-11-16 10:00; the 16th is partly gone, the 17th whole.
        assert_eq!(boundary(now, 14).to_rfc3339(), "2026-11-17T00:00:00+00:00");
        let midnight: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
        assert_eq!(
            boundary(midnight, 1).to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
    }
}
