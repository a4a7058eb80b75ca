use std::future::Future;

use chrono::{Duration, TimeZone, Utc};

use crate::ports::{SeenKey, SeenKind, SeenRecord, SeenStore};

/// Runs every `SeenStore` case, each on a fresh store from `make`.
pub async fn seen_store_suite<S, F, Fut>(make: F)
where
    S: SeenStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let forget = Duration::days(90);
    let rec = |first: chrono::DateTime<Utc>, id: &str| SeenRecord {
        first,
        event_id: id.to_owned(),
        expires: now + forget,
    };
    let alice = "arn:aws:iam::111122223333:user/alice";
    let svc = SeenKey::new(alice, SeenKind::Service, "iam.amazonaws.com");
    let action = SeenKey::new(alice, SeenKind::Action, "iam:CreateUser");
    let other = SeenKey::new(
        "arn:aws:iam::111122223333:user/bob",
        SeenKind::Service,
        "iam.amazonaws.com",
    );

    let store = make().await;
    assert!(
        store
            .get(&[svc.clone(), action.clone()], now)
            .await
            .unwrap()
            .is_empty(),
        "seen: an empty store knows nothing"
    );
    let t1 = now - Duration::hours(2);
    let stored = store
        .put(
            &[
                (svc.clone(), rec(t1, "e-1")),
                (action.clone(), rec(t1, "e-1")),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        [rec(t1, "e-1"), rec(t1, "e-1")],
        "seen: new keys are written"
    );
    let got = store
        .get(&[svc.clone(), action.clone(), other.clone()], now)
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "seen: absent keys are left out");
    assert_eq!(got[&svc], rec(t1, "e-1"));

    // A later event never moves the first time forward; the winner comes back.
    let later = store
        .put(&[(svc.clone(), rec(now, "e-2"))], now)
        .await
        .unwrap();
    assert_eq!(
        later,
        [rec(t1, "e-1")],
        "seen: the earlier first seeing stays"
    );
    // An earlier event (late arrival) moves it back.
    let t0 = t1 - Duration::hours(5);
    let earlier = store
        .put(&[(svc.clone(), rec(t0, "e-0"))], now)
        .await
        .unwrap();
    assert_eq!(
        earlier,
        [rec(t0, "e-0")],
        "seen: an earlier event takes the key"
    );
    // The same first seeing, written again (a retried batch), is accepted and refreshes.
    let mut refreshed = rec(t0, "e-0");
    refreshed.expires = now + forget + Duration::days(10);
    assert_eq!(
        store
            .put(&[(svc.clone(), refreshed.clone())], now)
            .await
            .unwrap(),
        [refreshed.clone()],
        "seen: a refresh extends the expiry"
    );
    assert_eq!(
        store.get(std::slice::from_ref(&svc), now).await.unwrap()[&svc],
        refreshed
    );

    // Forgotten keys read as absent and can be seen again.
    let later_now = now + forget + Duration::days(11);
    assert!(
        store
            .get(&[svc.clone(), action.clone()], later_now)
            .await
            .unwrap()
            .is_empty(),
        "seen: expired keys are forgotten"
    );
    let again = SeenRecord {
        first: later_now,
        event_id: "e-9".into(),
        expires: later_now + forget,
    };
    assert_eq!(
        store
            .put(&[(action.clone(), again.clone())], later_now)
            .await
            .unwrap(),
        [again],
        "seen: a forgotten key is seen for the first time again"
    );

    // A scope lists its keys; other scopes stay out.
    store
        .put(&[(other.clone(), rec(t1, "e-5"))], now)
        .await
        .unwrap();
    let scope = store.scope(alice, now).await.unwrap();
    let keys: Vec<&SeenKey> = scope.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 2, "seen: one scope's keys {keys:?}");
    assert!(keys.contains(&&svc) && keys.contains(&&action));
    assert!(store.count().await.unwrap() >= 3);

    // Many keys at once (more than one batch of a backend's bulk read).
    let store = make().await;
    let many: Vec<(SeenKey, SeenRecord)> = (0..230)
        .map(|i| {
            (
                SeenKey::new(
                    format!("p{}", i % 7),
                    SeenKind::Action,
                    format!("svc:Action{i}"),
                ),
                rec(t1, &format!("e-{i}")),
            )
        })
        .collect();
    store.put(&many, now).await.unwrap();
    let keys: Vec<SeenKey> = many.iter().map(|(k, _)| k.clone()).collect();
    let got = store.get(&keys, now).await.unwrap();
    assert_eq!(got.len(), 230, "seen: every key of a large batch");
    assert_eq!(store.count().await.unwrap(), 230);
}
