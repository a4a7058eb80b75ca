//! `SpanningEventStore`: one `EventStore` over a recent store and an older history (the lake),
//! split at a moment.
//!
//! The store keeps events for its retention; the lake keeps every exported day. Reading events
//! at or after `boundary` from the recent store and those before it from the history gives each
//! event once (the two never answer for the same moment), in the query's order, with the same
//! cursor: a page that ends in one part simply continues there or moves on to the other. Writes
//! go to the recent store. The boundary is chosen by the caller, where the store is known to
//! hold everything (the start of the first whole day inside its retention).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::model::ActivityEvent;
use crate::ports::event_store::{
    ActionCounts, EventQuery, EventStore, Order, PutOutcome, Quarantined, StoreStats,
};
use crate::time::TimeWindow;

/// Events before `boundary` from `history`, the rest from `recent`.
#[derive(Clone)]
pub struct SpanningEventStore {
    recent: Arc<dyn EventStore>,
    history: Arc<dyn EventStore>,
    boundary: DateTime<Utc>,
}

impl std::fmt::Debug for SpanningEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanningEventStore")
            .field("boundary", &self.boundary)
            .finish_non_exhaustive()
    }
}

impl SpanningEventStore {
    pub fn new(
        recent: Arc<dyn EventStore>,
        history: Arc<dyn EventStore>,
        boundary: DateTime<Utc>,
    ) -> Self {
        Self {
            recent,
            history,
            boundary,
        }
    }

    /// Where the recent store's part begins.
    pub fn boundary(&self) -> DateTime<Utc> {
        self.boundary
    }

    /// `query` narrowed to `[start, end]`, or `None` when nothing of its window is left.
    fn part(query: &EventQuery, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<EventQuery> {
        let (s, e) = match query.window {
            Some(w) => (w.start().max(start), w.end().min(end)),
            None => (start, end),
        };
        let window = TimeWindow::new(s, e).ok()?;
        Some(EventQuery {
            window: Some(window),
            ..query.clone()
        })
    }

    /// `query` split at the boundary, each part with the store that holds it, in the query's
    /// order (`None` for a part outside the window).
    fn parts(&self, query: &EventQuery) -> [Option<(EventQuery, &Arc<dyn EventStore>)>; 2] {
        let older = Self::part(
            query,
            DateTime::<Utc>::MIN_UTC,
            self.boundary - Duration::microseconds(1),
        )
        .map(|q| (q, &self.history));
        let newer =
            Self::part(query, self.boundary, DateTime::<Utc>::MAX_UTC).map(|q| (q, &self.recent));
        match query.order {
            Order::Ascending => [older, newer],
            Order::Descending => [newer, older],
        }
    }
}

#[async_trait]
impl EventStore for SpanningEventStore {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        self.recent.put(events).await
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<()> {
        self.recent.quarantine(records).await
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        let parts = self.parts(query);
        let wanted = query.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (mut part, store) in parts.into_iter().flatten() {
            if out.len() == wanted {
                break;
            }
            part.limit = query.limit.map(|l| l - out.len());
            out.extend(store.query(&part).await?);
        }
        Ok(out)
    }

    /// The recent store's figures (the history's are the lake's to tell).
    async fn stats(&self) -> Result<StoreStats> {
        self.recent.stats().await
    }

    /// Each part counted where it is kept, the first in the query's order first (so a cut
    /// keeps what a read would): the second part gets what is left of `max`.
    async fn count_actions(&self, query: &EventQuery, max: usize) -> Result<ActionCounts> {
        let parts = self.parts(query);
        let mut counted = Vec::new();
        let (mut used, mut cut) = (0_usize, false);
        for (part, store) in parts.into_iter().flatten() {
            if cut {
                break;
            }
            let left = max.saturating_sub(used);
            if left == 0 {
                // Nothing may be added: the count is cut if this part holds anything.
                let one = EventQuery {
                    limit: Some(1),
                    after: None,
                    ..part
                };
                cut = !store.query(&one).await?.is_empty();
                continue;
            }
            let c = store.count_actions(&part, left).await?;
            used = used.saturating_add(usize::try_from(c.events()).unwrap_or(usize::MAX));
            cut |= c.cut;
            counted.extend(c.actions);
        }
        Ok(ActionCounts::from_counts(counted, cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract;
    use crate::ports::{EventCursor, MemoryEventStore};
    use chrono::TimeZone;

    /// Loads events into whichever part holds their moment.
    struct Split(
        SpanningEventStore,
        Arc<MemoryEventStore>,
        Arc<MemoryEventStore>,
    );

    #[async_trait]
    impl EventStore for Split {
        async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
            let (old, new): (Vec<_>, Vec<_>) = events
                .iter()
                .cloned()
                .partition(|e| e.time < self.0.boundary());
            self.2.put(&old).await?;
            self.1.put(&new).await
        }
        async fn quarantine(&self, records: &[Quarantined]) -> Result<()> {
            self.0.quarantine(records).await
        }
        async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
            self.0.query(query).await
        }
        async fn stats(&self) -> Result<StoreStats> {
            self.0.stats().await
        }
        async fn count_actions(&self, query: &EventQuery, max: usize) -> Result<ActionCounts> {
            self.0.count_actions(query, max).await
        }
    }

    fn split(boundary: DateTime<Utc>) -> Split {
        let recent = Arc::new(MemoryEventStore::new());
        let history = Arc::new(MemoryEventStore::new());
        Split(
            SpanningEventStore::new(recent.clone(), history.clone(), boundary),
            recent,
            history,
        )
    }

    #[tokio::test]
    async fn a_store_split_anywhere_answers_as_one() {
        // The contract's events sit around 2026-03-02 09:00 and a few minutes after; split
        // before, inside and after them.
        for boundary in [
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 20).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 3, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
        ] {
            contract::event_history_suite(|| async move { split(boundary) }).await;
        }
    }

    #[tokio::test]
    async fn each_part_reads_only_its_side_and_the_limit_spans_both() {
        let boundary = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let s = split(boundary);
        let at = |h: i64| boundary + Duration::hours(h);
        let events: Vec<ActivityEvent> = (-3..3)
            .map(|h| contract::records::RecordSpec::new(&format!("e{}", h + 3), at(h)).event())
            .collect();
        s.put(&events).await.unwrap();
        assert_eq!(
            s.1.stats().await.unwrap().events,
            3,
            "recent: from the boundary"
        );
        assert_eq!(s.2.stats().await.unwrap().events, 3, "history: before it");
        let q = EventQuery {
            order: Order::Descending,
            limit: Some(4),
            ..Default::default()
        };
        let got: Vec<String> = s
            .query(&q)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(got, ["e5", "e4", "e3", "e2"]);
        // A cursor inside the history skips the recent part.
        let after = EventCursor {
            time: at(-1),
            id: crate::EventId::new("e2").unwrap(),
        };
        let got: Vec<String> = s
            .query(&EventQuery {
                after: Some(after),
                ..q
            })
            .await
            .unwrap()
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(got, ["e1", "e0"]);
    }
}
