//! The events a store received since a reader's last run: how `iat alerts` finds what is new
//! on any store (the deployed alerter reads the events table's stream instead).
//!
//! A reader keeps a named mark, a [`FeedPosition`], in the store. Positions grow with what the
//! store received where the store keeps an insertion order (SQLite's insertion number). Where
//! it keeps none (DynamoDB orders by event time), an event stored late sits *before* marks set
//! since, so such a store resumes a late window earlier ([`EventFeed::resume_from`]) and the
//! reader re-reads that window; the alert ledger makes the re-read send nothing twice.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::ActivityEvent;

/// A place in a store's feed; 0 is before everything.
pub type FeedPosition = i64;

/// A store's events in the order a "since the last run" reader walks them, and its marks.
#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` events after `position`, in position order, each with its position.
    /// Events that share a position are never split across two pages, so a page may hold
    /// more than `limit` of them.
    async fn after(
        &self,
        position: FeedPosition,
        limit: usize,
    ) -> Result<Vec<(FeedPosition, ActivityEvent)>>;

    /// Where a reader whose mark is `mark` starts reading so that nothing stored since it set
    /// the mark is missed: the mark itself where positions follow the order of storage,
    /// earlier where they do not.
    fn resume_from(&self, mark: FeedPosition) -> FeedPosition {
        mark
    }

    /// The mark named `name` (0 when never set).
    async fn mark(&self, name: &str) -> Result<FeedPosition>;

    /// Sets the mark named `name`.
    async fn set_mark(&self, name: &str, position: FeedPosition) -> Result<()>;
}
