use std::future::Future;

use chrono::{Duration, TimeZone, Utc};

use crate::model::{EventId, RuleId};
use crate::ports::{AlertKey, AlertLedger, ClaimOutcome};

fn key(event: &str, rule: &str) -> AlertKey {
    AlertKey {
        event_id: EventId::new(event).unwrap(),
        rule_id: RuleId::new(rule).unwrap(),
    }
}

/// Runs every `AlertLedger` case, each on a fresh ledger from `make`.
pub async fn alert_ledger_suite<S, F, Fut>(make: F)
where
    S: AlertLedger,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let lease = Duration::minutes(5);

    let ledger = make().await;
    let k = key("e-1", "root_console_login");
    assert_eq!(
        ledger.claim(&k, now, lease).await.unwrap(),
        ClaimOutcome::Claimed,
        "ledger: first claim wins"
    );
    assert_eq!(
        ledger
            .claim(&k, now + Duration::seconds(1), lease)
            .await
            .unwrap(),
        ClaimOutcome::InFlight { since: now },
        "ledger: a live claim blocks others"
    );
    ledger
        .confirm(&k, now + Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(
        ledger
            .claim(&k, now + Duration::days(1), lease)
            .await
            .unwrap(),
        ClaimOutcome::AlreadySent,
        "ledger: a sent alert is never claimed again"
    );
    let other_rule = key("e-1", "access_denied");
    assert_eq!(
        ledger.claim(&other_rule, now, lease).await.unwrap(),
        ClaimOutcome::Claimed,
        "ledger: the key is (event, rule), not the event alone"
    );

    let ledger = make().await;
    let k = key("e-2", "mfa_deactivated");
    ledger.claim(&k, now, lease).await.unwrap();
    ledger.release(&k).await.unwrap();
    assert_eq!(
        ledger
            .claim(&k, now + Duration::seconds(1), lease)
            .await
            .unwrap(),
        ClaimOutcome::Claimed,
        "ledger: a released claim can be claimed again"
    );

    let ledger = make().await;
    let k = key("e-3", "iam_user_created");
    ledger.claim(&k, now, lease).await.unwrap();
    assert_eq!(
        ledger
            .claim(&k, now + lease + Duration::seconds(1), lease)
            .await
            .unwrap(),
        ClaimOutcome::Claimed,
        "ledger: a claim older than its lease is taken over"
    );
    ledger
        .confirm(&k, now + lease + Duration::seconds(2))
        .await
        .unwrap();
    ledger.release(&k).await.unwrap();
    assert_eq!(
        ledger
            .claim(&k, now + Duration::hours(1), lease)
            .await
            .unwrap(),
        ClaimOutcome::AlreadySent,
        "ledger: releasing a sent alert does not unsend it"
    );
}
