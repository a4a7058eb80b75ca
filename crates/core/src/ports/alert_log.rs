//! `AlertLog`: the alerts as they were sent, for people to read back and acknowledge.
//!
//! The ledger says *whether* an (event, rule) alert was sent, so each is sent once; the log keeps
//! *what* was sent (the grouped alert, its text and its events) and who acknowledged it. The log
//! is for reading: an alert is sent whether or not it could be logged, and a failure to log is
//! reported, never retried by sending again.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TimeWindow;
use crate::alert::Alert;
use crate::error::{Error, Result};
use crate::model::Severity;

/// One event of a logged alert, as the alert showed it. Text rather than the alert's own
/// `EventFacts`: a record's region or account may be kept as written (not of the usual shape),
/// and the log must read back whatever it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub source: String,
    pub name: String,
    pub actor: String,
    pub principal_type: String,
    pub principal_arn: Option<String>,
    pub source_ip: String,
    pub account: Option<String>,
    pub region: String,
    pub error_code: Option<String>,
}

impl LoggedEvent {
    /// The text of an alert's event.
    pub fn of(f: &crate::alert::EventFacts) -> Self {
        Self {
            event_id: f.event_id.to_string(),
            time: f.time,
            source: f.source.clone(),
            name: f.name.clone(),
            actor: f.actor.clone(),
            principal_type: f.principal_type.clone(),
            principal_arn: f.principal_arn.clone(),
            source_ip: f.source_ip.clone(),
            account: f.account.as_ref().map(|a| a.to_string()),
            region: f.region.to_string(),
            error_code: f.error_code.clone(),
        }
    }
}

/// Who acknowledged an alert, when, and what they noted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A sent alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedAlert {
    /// `rule_id:first event id`: the same alert logged again keeps its id.
    pub id: String,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub summary: String,
    pub details: Vec<(String, String)>,
    /// Oldest first; never empty.
    pub events: Vec<LoggedEvent>,
    /// Events of the alert not listed in `events` ([`crate::alert::Alert::more`]): only an
    /// alert raised from a kept day's long burst has any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: u64,
    pub sent_at: DateTime<Utc>,
    /// Whether it went out inside a digest rather than on its own.
    pub in_digest: bool,
    pub ack: Option<Acknowledgement>,
}

impl LoggedAlert {
    /// The log entry of `alert`, sent at `sent_at`.
    pub fn of(alert: &Alert, sent_at: DateTime<Utc>, in_digest: bool) -> Self {
        let events: Vec<LoggedEvent> = alert.events.iter().map(LoggedEvent::of).collect();
        Self {
            id: format!(
                "{}:{}",
                alert.rule_id,
                events.first().map_or("", |e| e.event_id.as_str())
            ),
            rule_id: alert.rule_id.to_owned(),
            title: alert.title.to_owned(),
            severity: alert.severity,
            summary: alert.summary.clone(),
            details: alert
                .details
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            events,
            more: alert.more as u64,
            sent_at,
            in_digest,
            ack: None,
        }
    }

    /// How many events the alert is about, listed or not.
    pub fn count(&self) -> u64 {
        self.events.len() as u64 + self.more
    }

    /// The time of its last event, by which the log is ordered and windowed.
    pub fn last_time(&self) -> DateTime<Utc> {
        self.events.last().map_or(self.sent_at, |e| e.time)
    }

    /// The account of its first event.
    pub fn account(&self) -> Option<&str> {
        self.events.first().and_then(|e| e.account.as_deref())
    }
}

/// Which logged alerts to list. Pages filter the rest themselves: their counts need the
/// alerts the filters leave out.
#[derive(Debug, Clone, Default)]
pub struct AlertLogQuery {
    /// On the alert's last event time.
    pub window: Option<TimeWindow>,
    pub limit: Option<usize>,
}

impl AlertLogQuery {
    /// True when `a` is in the window (the limit aside).
    pub fn matches(&self, a: &LoggedAlert) -> bool {
        self.window.is_none_or(|w| w.contains(a.last_time()))
    }
}

/// Keeps the alerts that were sent.
#[async_trait]
pub trait AlertLog: Send + Sync {
    /// Logs sent alerts; an id logged before is replaced, keeping its acknowledgement.
    async fn record(&self, alerts: &[LoggedAlert]) -> Result<()>;
    /// Matching alerts, newest last event first, then by id.
    async fn list(&self, query: &AlertLogQuery) -> Result<Vec<LoggedAlert>>;
    async fn get(&self, id: &str) -> Result<Option<LoggedAlert>>;
    /// Records an acknowledgement (a later one replaces it); false when no alert has this id.
    async fn acknowledge(&self, id: &str, ack: &Acknowledgement) -> Result<bool>;
}

/// Sorts as [`AlertLog::list`] returns, and applies the limit.
pub fn order_and_limit(mut alerts: Vec<LoggedAlert>, limit: Option<usize>) -> Vec<LoggedAlert> {
    alerts.sort_by(|a, b| {
        b.last_time()
            .cmp(&a.last_time())
            .then_with(|| a.id.cmp(&b.id))
    });
    if let Some(n) = limit {
        alerts.truncate(n);
    }
    alerts
}

/// Refuses an acknowledgement without a name, or with text too long to be a note.
pub fn check_acknowledgement(ack: &Acknowledgement) -> Result<()> {
    if ack.by.trim().is_empty() {
        return Err(Error::invalid(
            "acknowledged by",
            &ack.by,
            "must name someone",
        ));
    }
    if ack.by.chars().count() > 200 || ack.note.chars().count() > 2_000 {
        return Err(Error::invalid(
            "acknowledgement",
            &ack.by,
            "name over 200 or note over 2,000 characters",
        ));
    }
    Ok(())
}

/// An [`AlertLog`] in memory.
#[derive(Debug, Default)]
pub struct MemoryAlertLog {
    inner: Mutex<BTreeMap<String, LoggedAlert>>,
}

impl MemoryAlertLog {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AlertLog for MemoryAlertLog {
    async fn record(&self, alerts: &[LoggedAlert]) -> Result<()> {
        let mut m = self.inner.lock().unwrap();
        for a in alerts {
            let ack = m.get(&a.id).and_then(|old| old.ack.clone());
            m.insert(
                a.id.clone(),
                LoggedAlert {
                    ack: ack.or_else(|| a.ack.clone()),
                    ..a.clone()
                },
            );
        }
        Ok(())
    }

    async fn list(&self, query: &AlertLogQuery) -> Result<Vec<LoggedAlert>> {
        let m = self.inner.lock().unwrap();
        let found = m.values().filter(|a| query.matches(a)).cloned().collect();
        Ok(order_and_limit(found, query.limit))
    }

    async fn get(&self, id: &str) -> Result<Option<LoggedAlert>> {
        Ok(self.inner.lock().unwrap().get(id).cloned())
    }

    async fn acknowledge(&self, id: &str, ack: &Acknowledgement) -> Result<bool> {
        check_acknowledgement(ack)?;
        Ok(match self.inner.lock().unwrap().get_mut(id) {
            Some(a) => {
                a.ack = Some(ack.clone());
                true
            }
            None => false,
        })
    }
}
