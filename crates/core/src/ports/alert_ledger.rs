//! `AlertLedger`: which (event, rule) alerts were sent, so each is sent once.
//!
//! The protocol is claim → publish → confirm. A claim is exclusive for a lease; a claim older
//! than its lease was left by a crashed sender and may be taken over. If the sender crashes after
//! publishing but before confirming, the alert can be sent again: that is the one-message window
//! of DESIGN invariant 2. If publishing fails, the sender releases the claim so a retry can send.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::model::{EventId, RuleId};

/// One alert: a rule firing on an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub event_id: EventId,
    pub rule_id: RuleId,
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The caller holds the claim and should publish, then confirm.
    Claimed,
    /// The alert was sent already.
    AlreadySent,
    /// Another sender holds a live claim taken at this time.
    InFlight { since: DateTime<Utc> },
}

/// Records which alerts were sent.
#[async_trait]
pub trait AlertLedger: Send + Sync {
    /// Claims `key` unless it was sent or is claimed by someone else within `lease`.
    async fn claim(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome>;
    /// Marks a claimed alert as sent.
    async fn confirm(&self, key: &AlertKey, now: DateTime<Utc>) -> Result<()>;
    /// Drops a claim whose publish failed, so a retry can claim it.
    async fn release(&self, key: &AlertKey) -> Result<()>;
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Claimed(DateTime<Utc>),
    Sent,
}

/// An [`AlertLedger`] in memory.
#[derive(Debug, Default)]
pub struct MemoryAlertLedger {
    inner: Mutex<HashMap<AlertKey, Entry>>,
}

impl MemoryAlertLedger {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AlertLedger for MemoryAlertLedger {
    async fn claim(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome> {
        let mut inner = self.inner.lock().unwrap();
        match inner.get(key) {
            Some(Entry::Sent) => Ok(ClaimOutcome::AlreadySent),
            Some(Entry::Claimed(since)) if *since + lease > now => {
                Ok(ClaimOutcome::InFlight { since: *since })
            }
            _ => {
                inner.insert(key.clone(), Entry::Claimed(now));
                Ok(ClaimOutcome::Claimed)
            }
        }
    }

    async fn confirm(&self, key: &AlertKey, _now: DateTime<Utc>) -> Result<()> {
        self.inner.lock().unwrap().insert(key.clone(), Entry::Sent);
        Ok(())
    }

    async fn release(&self, key: &AlertKey) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        if let Some(Entry::Claimed(_)) = inner.get(key) {
            inner.remove(key);
        }
        Ok(())
    }
}
