//! The events table as a feed for "since the last run" readers (`iat alerts` on DynamoDB).
//!
//! The table keeps no insertion order, so positions are event times in milliseconds, and a
//! reader resumes a late window before its mark: an event stored after the mark was set but
//! dated before it (CloudTrail delivered it late, or a later run's overlap or daily sweep found
//! it) is read again within that window. The alert ledger keeps the re-read from sending
//! anything twice. Marks live in the control table (`pk = MARK`, `sk = <name>`). The deployed
//! alerter reads the table's stream instead and has no such window.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, TimeZone, Utc};
use iat_core::ports::{EventFeed, EventQuery, EventStore, FeedPosition, Order};
use iat_core::{ActivityEvent, Error, TimeWindow};

use super::DynamoEventStore;
use super::keys::{n, s};
use crate::error::dynamo_error;

const MARK_PK: &str = "MARK";

/// [`EventFeed`] over a [`DynamoEventStore`], with marks in the control table.
#[derive(Debug, Clone)]
pub struct DynamoEventFeed {
    events: Arc<DynamoEventStore>,
    client: Client,
    control_table: String,
    late_window: Duration,
}

impl DynamoEventFeed {
    /// How far before its mark a reader resumes by default: the collector finds a late event at
    /// most a day after its time (the daily sweep), plus an hourly run and delivery lag.
    pub const DEFAULT_LATE_WINDOW: Duration = Duration::hours(26);

    pub fn new(events: Arc<DynamoEventStore>, client: Client, control_table: &str) -> Self {
        Self {
            events,
            client,
            control_table: control_table.to_owned(),
            late_window: Self::DEFAULT_LATE_WINDOW,
        }
    }

    /// Resume this long before a mark instead of [`Self::DEFAULT_LATE_WINDOW`].
    pub fn with_late_window(mut self, late_window: Duration) -> Self {
        self.late_window = late_window;
        self
    }

    /// Events from `start` on, oldest first, at most `limit` (`None`: all).
    async fn read_from(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: Option<usize>,
    ) -> Result<Vec<ActivityEvent>, Error> {
        let query = EventQuery {
            window: Some(TimeWindow::new(start, end)?),
            order: Order::Ascending,
            limit,
            ..Default::default()
        };
        self.events.query(&query).await
    }
}

fn position(e: &ActivityEvent) -> FeedPosition {
    e.time.timestamp_millis()
}

fn time_of(position: FeedPosition) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(position.max(0)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn last_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
}

#[async_trait]
impl EventFeed for DynamoEventFeed {
    async fn after(
        &self,
        after: FeedPosition,
        limit: usize,
    ) -> Result<Vec<(FeedPosition, ActivityEvent)>, Error> {
        let limit = limit.max(1);
        let start = time_of(after.saturating_add(1).max(0));
        let mut page = self.read_from(start, last_time(), Some(limit)).await?;
        if page.len() == limit {
            let last = position(page.last().expect("a full page"));
            if page.iter().all(|e| position(e) == last) {
                // One instant holds the whole page: read all of that millisecond at once.
                let t = time_of(last);
                page = self
                    .read_from(t, t + Duration::microseconds(999), None)
                    .await?;
            } else {
                // The next page starts after `last`: leave its events all to that page.
                page.retain(|e| position(e) != last);
            }
        }
        Ok(page.into_iter().map(|e| (position(&e), e)).collect())
    }

    fn resume_from(&self, mark: FeedPosition) -> FeedPosition {
        if mark <= 0 {
            return mark;
        }
        mark - self.late_window.num_milliseconds()
    }

    async fn mark(&self, name: &str) -> Result<FeedPosition, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.control_table)
            .key("pk", s(MARK_PK))
            .key("sk", s(name))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error(&self.control_table, "read mark", e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("position"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    async fn set_mark(&self, name: &str, position: FeedPosition) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.control_table)
            .item("pk", s(MARK_PK))
            .item("sk", s(name))
            .item("position", n(position))
            .send()
            .await
            .map_err(|e| dynamo_error(&self.control_table, "write mark", e))?;
        Ok(())
    }
}
