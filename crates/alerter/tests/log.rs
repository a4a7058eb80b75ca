//! Sent alerts reach the alert log as they were sent (alone or in a digest), and only once sent.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use iat_alerter::{Alerter, DeliveryPolicy};
use iat_core::Severity;
use iat_core::alert::Alert;
use iat_core::ports::{AlertLog, AlertLogQuery, MemoryAlertLedger, MemoryAlertLog, MemoryNotifier};
use iat_core::rules::RuleSet;

/// The alerts the rule fixtures' firing records raise.
fn alerts() -> Vec<Alert> {
    let events = iat_core::contract::records::firing_fixture_events();
    Alert::merge(Alert::from_hits(
        RuleSet::default_rules().evaluate_all(&events),
    ))
}

fn alerter(notifier: Arc<MemoryNotifier>, log: Arc<MemoryAlertLog>) -> Alerter {
    Alerter::new(
        RuleSet::default_rules(),
        Arc::new(MemoryAlertLedger::new()),
        notifier,
        DeliveryPolicy {
            max_per_second: 10_000.0,
            digest_threshold: 5,
            ..DeliveryPolicy::default()
        },
    )
    .with_log(log)
}

#[tokio::test]
async fn sent_alerts_are_logged_as_sent_and_unsent_ones_are_not() {
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let alerts = alerts();
    assert!(alerts.len() > 10, "{} alerts", alerts.len());
    let criticals = alerts
        .iter()
        .filter(|a| a.severity == Severity::Critical)
        .count();
    assert!(criticals > 0 && criticals < alerts.len());

    // A failed publish logs nothing: the log holds what was sent.
    let notifier = Arc::new(MemoryNotifier::new());
    let log = Arc::new(MemoryAlertLog::new());
    notifier.fail_next(1);
    let failed = alerter(notifier.clone(), log.clone())
        .deliver(alerts.clone(), now)
        .await;
    assert!(failed.error.is_some());
    assert_eq!(failed.logged, failed.alerts_sent);
    assert_eq!(
        log.list(&AlertLogQuery::default()).await.unwrap().len(),
        failed.alerts_sent
    );

    // Delivered: every alert logged once, criticals alone, the rest as the digest carried them.
    let notifier = Arc::new(MemoryNotifier::new());
    let log = Arc::new(MemoryAlertLog::new());
    let r = alerter(notifier.clone(), log.clone())
        .deliver(alerts.clone(), now)
        .await;
    assert!(r.error.is_none() && r.log_error.is_none(), "{r:?}");
    assert_eq!(r.alerts_sent, alerts.len());
    assert_eq!(r.logged, alerts.len());
    let logged = log.list(&AlertLogQuery::default()).await.unwrap();
    assert_eq!(logged.len(), alerts.len());
    for a in &logged {
        assert_eq!(a.in_digest, a.severity != Severity::Critical, "{}", a.id);
        assert_eq!(a.sent_at, now);
        let original = alerts
            .iter()
            .find(|o| {
                o.rule_id == a.rule_id && o.events[0].event_id.as_str() == a.events[0].event_id
            })
            .expect("logged alert was raised");
        assert_eq!(a.summary, original.summary);
        assert_eq!(a.events.len(), original.events.len());
    }
    assert_eq!(
        notifier.sent().len(),
        criticals + 1,
        "criticals and one digest"
    );
}
