//! The alert service: run the rules over new events and send each alert once.
//!
//! Every alert goes through the ledger's claim → publish → confirm protocol (DESIGN invariant 2):
//! an alert whose events were all sent already is dropped, one claimed by a live sender is left
//! to it (and reported, so the caller retries later), and one whose publish fails is released
//! so the retry sends it. The ledger key is (event id, rule id), so the same event arriving by
//! the DynamoDB stream and by EventBridge alerts once.
//!
//! The one decision to know: sending is paced to stay under the SNS e-mail rate, and a run with
//! more alerts than the digest threshold sends critical alerts one by one and everything else
//! as one digest, so a burst never floods an inbox or gets a subscription disabled.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use iat_core::alert::{Alert, digest, late_digest};
use iat_core::ports::{
    AlertKey, AlertLedger, AlertLog, ClaimOutcome, LoggedAlert, Notification, Notifier, SeenStore,
};
use iat_core::rules::RuleSet;
use iat_core::{ActivityEvent, EventId, Severity};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How alerts are sent.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Messages per second, at most (SNS e-mail delivery is capped at about 10/s per account).
    pub max_per_second: f64,
    /// Above this many alerts in one run, non-critical alerts go out as one digest.
    pub digest_threshold: usize,
    /// How long a claim protects an alert being sent; older claims were left by a crash.
    pub lease: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_per_second: 5.0,
            digest_threshold: 20,
            lease: Duration::minutes(2),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub events: usize,
    /// Rule firings (one per event and rule).
    pub hits: usize,
    /// Alerts after grouping bursts.
    pub alerts: usize,
    /// Alerts sent in this run, on their own or in a digest.
    pub alerts_sent: usize,
    /// Messages published (alerts on their own plus digests).
    pub messages: usize,
    pub digests: usize,
    /// (event, rule) pairs skipped because they were sent before.
    pub already_sent: usize,
    /// (event, rule) pairs another sender is sending now; retry later.
    pub in_flight: usize,
    /// Events with an alert that was not sent (publish or ledger failure, or in flight):
    /// the caller must hand them in again.
    pub failed_events: BTreeSet<EventId>,
    /// The first failure, if any.
    pub error: Option<String>,
    /// First-seen state: keys read, records written, and candidates another writer kept.
    pub seen_keys_read: usize,
    pub seen_writes: usize,
    pub seen_lost_races: usize,
    /// Sent alerts written to the alert log, and the first failure to write one (the alert
    /// was sent all the same).
    pub logged: usize,
    pub log_error: Option<String>,
}

impl RunReport {
    pub fn is_complete(&self) -> bool {
        self.failed_events.is_empty()
    }
}

/// The alert service.
pub struct Alerter {
    rules: RuleSet,
    /// The first-seen state; without it the first-seen rules do not run.
    seen: Option<Arc<dyn SeenStore>>,
    ledger: Arc<dyn AlertLedger>,
    notifier: Arc<dyn Notifier>,
    policy: DeliveryPolicy,
    next_send: Mutex<Option<Instant>>,
    /// Where sent alerts are kept for people to read back; optional.
    log: Option<Arc<dyn AlertLog>>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// An alert whose keys this run holds claims on.
struct Claimed {
    alert: Alert,
    keys: Vec<AlertKey>,
}

impl Alerter {
    pub fn new(
        rules: RuleSet,
        ledger: Arc<dyn AlertLedger>,
        notifier: Arc<dyn Notifier>,
        policy: DeliveryPolicy,
    ) -> Self {
        Self {
            rules,
            seen: None,
            ledger,
            notifier,
            policy,
            next_send: Mutex::new(None),
            log: None,
        }
    }

    /// Keeps each sent alert in `log` as well (what was sent, for the console).
    pub fn with_log(mut self, log: Arc<dyn AlertLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// Logs alerts that were just sent; a failure is reported, not retried (they were sent).
    async fn log_sent<'a>(
        &self,
        alerts: impl Iterator<Item = &'a Alert>,
        in_digest: bool,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) {
        let Some(log) = &self.log else { return };
        let entries: Vec<LoggedAlert> =
            alerts.map(|a| LoggedAlert::of(a, now, in_digest)).collect();
        match log.record(&entries).await {
            Ok(()) => report.logged += entries.len(),
            Err(e) => {
                tracing::warn!(error = %e, alerts = entries.len(), "alert log write failed");
                report.log_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// Runs the first-seen rules too, with their state in `store`.
    pub fn with_seen(mut self, store: Arc<dyn SeenStore>) -> Self {
        self.seen = Some(store);
        self
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Evaluates `events` (first-seen rules included) and sends what they raise. `now` stamps
    /// the ledger and dates the first-seen state. When the state cannot be read or written,
    /// the other alerts are still sent and every event is reported failed, so the caller
    /// hands the batch in again (what was sent is not sent twice).
    pub async fn process(&self, events: &[ActivityEvent], now: DateTime<Utc>) -> RunReport {
        let (alerts, seen) = self.evaluate_now(events, now).await;
        let mut report = self.deliver(alerts, now).await;
        report.events = events.len();
        match seen {
            Ok(stats) => {
                (
                    report.seen_keys_read,
                    report.seen_writes,
                    report.seen_lost_races,
                ) = stats;
            }
            Err(e) => {
                report
                    .failed_events
                    .extend(events.iter().map(|e| e.id.clone()));
                report.error.get_or_insert(e);
            }
        }
        report
    }

    /// The alerts `events` raise on their own, grouped; nothing is sent and no state is read
    /// (the first-seen rules need [`Alerter::evaluate_now`]).
    pub fn evaluate(&self, events: &[ActivityEvent]) -> Vec<Alert> {
        Alert::from_hits(self.rules.evaluate_all(events))
    }

    /// The alerts `events` raise, first-seen rules included, and the state's (keys read,
    /// writes, lost races) or why it failed; nothing is sent.
    pub async fn evaluate_now(
        &self,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> (Vec<Alert>, Result<(usize, usize, usize), String>) {
        let mut hits = self.rules.evaluate_all(events);
        let seen = match &self.seen {
            None => Ok((0, 0, 0)),
            Some(store) => {
                let run = match iat_core::seen::evaluate(store.as_ref(), &self.rules, events, now)
                    .await
                {
                    Ok(run) => iat_core::seen::raise_passed_admin_roles(
                        store.as_ref(),
                        &self.rules,
                        &mut hits,
                        now,
                    )
                    .await
                    .map(|()| run),
                    Err(e) => Err(e),
                };
                match run {
                    Ok(run) => {
                        let stats = (run.keys_read, run.writes, run.lost_races);
                        hits.extend(run.hits);
                        Ok(stats)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "first-seen state unavailable");
                        Err(format!("first-seen state: {e}"))
                    }
                }
            }
        };
        (Alert::from_hits(hits), seen)
    }

    /// Sends alerts (from [`Alerter::evaluate`], possibly of several batches merged with
    /// [`Alert::merge`]): the digest decision is taken over all of them.
    pub async fn deliver(&self, alerts: Vec<Alert>, now: DateTime<Utc>) -> RunReport {
        let (mut report, claimed) = self.claim_all(alerts, now).await;
        if claimed.is_empty() {
            return report;
        }
        let (single, digested): (Vec<Claimed>, Vec<Claimed>) =
            if claimed.len() > self.policy.digest_threshold {
                claimed
                    .into_iter()
                    .partition(|c| c.alert.severity == Severity::Critical)
            } else {
                (claimed, Vec::new())
            };
        let mut batches: Vec<Vec<Claimed>> = single.into_iter().map(|c| vec![c]).collect();
        if !digested.is_empty() {
            batches.push(digested);
        }
        let mut batches = batches.into_iter();
        while let Some(batch) = batches.next() {
            let message = if batch.len() == 1 {
                batch[0].alert.notification()
            } else {
                let alerts: Vec<Alert> = batch.iter().map(|c| c.alert.clone()).collect();
                digest(&alerts)
            };
            let sent = match message {
                Ok(m) => self.send(&m).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => {
                    report.messages += 1;
                    report.alerts_sent += batch.len();
                    if batch.len() > 1 {
                        report.digests += 1;
                    }
                    self.log_sent(
                        batch.iter().map(|c| &c.alert),
                        batch.len() > 1,
                        now,
                        &mut report,
                    )
                    .await;
                    for c in &batch {
                        for key in &c.keys {
                            // A failed confirm leaves a claim that expires; a retry then sends
                            // this alert again: the one-message window of invariant 2.
                            if let Err(e) = self.ledger.confirm(key, now).await {
                                tracing::warn!(event_id = %key.event_id, rule_id = %key.rule_id, error = %e, "confirm failed");
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "publish failed; releasing unsent alerts for a retry");
                    report.error.get_or_insert_with(|| e.to_string());
                    let rest: Vec<Claimed> = batches.by_ref().flatten().collect();
                    for c in batch.iter().chain(rest.iter()) {
                        self.release(c, &mut report).await;
                    }
                    break;
                }
            }
        }
        report
    }

    /// Sends the alerts of events older than the age limit (`limit_hours`) as one digest,
    /// criticals included, each (event, rule) once like any alert.
    pub async fn deliver_late(
        &self,
        alerts: Vec<Alert>,
        limit_hours: i64,
        now: DateTime<Utc>,
    ) -> RunReport {
        let (mut report, claimed) = self.claim_all(alerts, now).await;
        if claimed.is_empty() {
            return report;
        }
        let alerts: Vec<Alert> = claimed.iter().map(|c| c.alert.clone()).collect();
        let sent = match late_digest(&alerts, limit_hours) {
            Ok(m) => self.send(&m).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {
                report.messages += 1;
                report.digests += 1;
                report.alerts_sent += claimed.len();
                self.log_sent(claimed.iter().map(|c| &c.alert), true, now, &mut report)
                    .await;
                for key in claimed.iter().flat_map(|c| &c.keys) {
                    if let Err(e) = self.ledger.confirm(key, now).await {
                        tracing::warn!(event_id = %key.event_id, rule_id = %key.rule_id, error = %e, "confirm failed");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "publish of the late digest failed; releasing for a retry");
                report.error.get_or_insert_with(|| e.to_string());
                for c in &claimed {
                    self.release(c, &mut report).await;
                }
            }
        }
        report
    }

    /// Claims every alert's (event, rule) pairs; the report counts what was raised and skipped.
    async fn claim_all(&self, alerts: Vec<Alert>, now: DateTime<Utc>) -> (RunReport, Vec<Claimed>) {
        let mut report = RunReport {
            hits: alerts.iter().map(|a| a.events.len()).sum(),
            alerts: alerts.len(),
            ..RunReport::default()
        };
        let mut claimed = Vec::new();
        for alert in alerts {
            if let Some(c) = self.claim(alert, now, &mut report).await {
                claimed.push(c);
            }
        }
        (report, claimed)
    }

    async fn claim(
        &self,
        mut alert: Alert,
        now: DateTime<Utc>,
        report: &mut RunReport,
    ) -> Option<Claimed> {
        let mut keep = Vec::new();
        let mut keys = Vec::new();
        let all_keys = alert.keys();
        for (facts, key) in alert.events.drain(..).zip(all_keys) {
            match self.ledger.claim(&key, now, self.policy.lease).await {
                Ok(ClaimOutcome::Claimed) => {
                    keep.push(facts);
                    keys.push(key);
                }
                Ok(ClaimOutcome::AlreadySent) => report.already_sent += 1,
                Ok(ClaimOutcome::InFlight { .. }) => {
                    report.in_flight += 1;
                    report.failed_events.insert(key.event_id);
                }
                Err(e) => {
                    tracing::error!(event_id = %key.event_id, rule_id = %key.rule_id, error = %e, "claim failed");
                    report.error.get_or_insert_with(|| e.to_string());
                    report.failed_events.insert(key.event_id);
                }
            }
        }
        alert.events = keep;
        (!alert.events.is_empty()).then_some(Claimed { alert, keys })
    }

    async fn release(&self, c: &Claimed, report: &mut RunReport) {
        for key in &c.keys {
            if let Err(e) = self.ledger.release(key).await {
                // The claim expires after the lease; the retry waits that long.
                tracing::warn!(event_id = %key.event_id, error = %e, "release failed");
            }
            report.failed_events.insert(key.event_id.clone());
        }
    }

    /// Publishes one message, never sooner than the rate allows after the previous one.
    async fn send(&self, message: &Notification) -> iat_core::error::Result<()> {
        let mut next = self.next_send.lock().await;
        if let Some(at) = *next {
            tokio::time::sleep_until(at).await;
        }
        let result = self.notifier.notify(message).await;
        let gap = StdDuration::from_secs_f64(1.0 / self.policy.max_per_second.max(0.001));
        *next = Some(Instant::now() + gap);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{MemoryAlertLedger, MemoryNotifier};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        "2026-03-03T10:00:00Z".parse().unwrap()
    }

    /// `n` events that each raise one medium alert (a new IAM user each).
    fn users(n: usize) -> Vec<ActivityEvent> {
        (0..n)
            .map(|i| {
                RecordSpec::new(&format!("user-{i}"), t0())
                    .user(&format!("admin{i}"))
                    .name("iam.amazonaws.com", "CreateUser")
                    .params(json!({"userName": format!("new{i}")}))
                    .event()
            })
            .collect()
    }

    fn root_keys(n: usize) -> Vec<ActivityEvent> {
        (0..n)
            .map(|i| {
                let mut v: serde_json::Value = serde_json::from_str(
                    &RecordSpec::new(&format!("root-{i}"), t0()).name("iam.amazonaws.com", "CreateAccessKey").json(),
                )
                .unwrap();
                v["userIdentity"] = json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"});
                iat_core::normalize(v.to_string(), &Default::default()).unwrap().event
            })
            .collect()
    }

    fn alerter(
        notifier: Arc<MemoryNotifier>,
        ledger: Arc<MemoryAlertLedger>,
        policy: DeliveryPolicy,
    ) -> Alerter {
        Alerter::new(RuleSet::default_rules(), ledger, notifier, policy)
    }

    #[tokio::test(start_paused = true)]
    async fn each_alert_once_even_when_the_same_events_come_again() {
        let (n, l) = (
            Arc::new(MemoryNotifier::new()),
            Arc::new(MemoryAlertLedger::new()),
        );
        let a = alerter(n.clone(), l, DeliveryPolicy::default());
        let events = users(3);
        let first = a.process(&events, t0()).await;
        assert_eq!(
            (first.alerts_sent, first.messages, first.digests),
            (3, 3, 0)
        );
        assert!(first.is_complete());
        let again = a.process(&events, t0()).await;
        assert_eq!((again.alerts_sent, again.already_sent), (0, 3));
        assert_eq!(n.sent().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_publish_releases_the_rest_and_a_retry_sends_each_once() {
        let (n, l) = (
            Arc::new(MemoryNotifier::new()),
            Arc::new(MemoryAlertLedger::new()),
        );
        let a = alerter(n.clone(), l, DeliveryPolicy::default());
        let events = users(6);
        // Two messages get through, the third fails.
        let fail_third = async {
            let r = a.process(&events[..2], t0()).await;
            assert_eq!(r.messages, 2);
            n.fail_next(1);
            a.process(&events, t0()).await
        };
        let r = fail_third.await;
        assert_eq!(r.already_sent, 2);
        assert_eq!(
            r.failed_events.len(),
            4,
            "the failed alert and the three after it"
        );
        assert!(r.error.as_deref().unwrap().contains("injected"));
        let retry = a.process(&events, t0()).await;
        assert_eq!((retry.alerts_sent, retry.already_sent), (4, 2));
        assert!(retry.is_complete());
        let mut subjects: Vec<String> = n
            .sent()
            .iter()
            .map(|m| m.subject.as_str().to_owned())
            .collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), 6);
        assert_eq!(n.sent().len(), 6, "nothing sent twice");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_sends_criticals_alone_and_the_rest_as_one_digest_at_the_paced_rate() {
        let (n, l) = (
            Arc::new(MemoryNotifier::new()),
            Arc::new(MemoryAlertLedger::new()),
        );
        let policy = DeliveryPolicy {
            max_per_second: 4.0,
            digest_threshold: 20,
            ..DeliveryPolicy::default()
        };
        let a = alerter(n.clone(), l, policy);
        let mut events = users(495);
        events.extend(root_keys(5));
        let start = Instant::now();
        let r = a.process(&events, t0()).await;
        // Each root key raises two alerts: the key (critical) and root activity (high).
        assert_eq!(
            r.alerts,
            495 + 5 + 1,
            "root activity is grouped per account"
        );
        assert_eq!((r.messages, r.digests, r.alerts_sent), (6, 1, 501));
        let sent = n.sent();
        assert!(sent[..5].iter().all(|m| m.severity == Severity::Critical));
        assert!(sent[5].subject.as_str().starts_with("[DIGEST] 496 alerts"));
        // Five gaps of at least 1/4 s between six messages.
        assert!(
            start.elapsed() >= StdDuration::from_millis(1250),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_live_claim_elsewhere_defers_and_a_stale_one_is_taken_over() {
        let (n, l) = (
            Arc::new(MemoryNotifier::new()),
            Arc::new(MemoryAlertLedger::new()),
        );
        let events = users(1);
        let key = AlertKey {
            event_id: events[0].id.clone(),
            rule_id: iat_core::RuleId::new("iam_user_created").unwrap(),
        };
        assert_eq!(
            l.claim(&key, t0(), Duration::minutes(2)).await.unwrap(),
            ClaimOutcome::Claimed
        );
        let a = alerter(n.clone(), l, DeliveryPolicy::default());
        let r = a.process(&events, t0() + Duration::seconds(30)).await;
        assert_eq!((r.in_flight, r.alerts_sent), (1, 0));
        assert!(!r.is_complete(), "the caller retries");
        let later = a.process(&events, t0() + Duration::minutes(5)).await;
        assert_eq!(later.alerts_sent, 1);
        assert_eq!(n.sent().len(), 1);
    }
}
