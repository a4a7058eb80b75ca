use std::future::Future;

use chrono::{Duration, TimeZone, Utc};

use crate::error::Error;
use crate::model::{AccountId, Region, StreamKey};
use crate::ports::{Checkpoint, CheckpointStore};

fn stream(source: &str, region: &str) -> StreamKey {
    StreamKey {
        account: AccountId::new("111122223333").unwrap(),
        region: Region::new(region).unwrap(),
        source: source.to_owned(),
    }
}

/// Runs every `CheckpointStore` case, each on a fresh store from `make`.
pub async fn checkpoint_store_suite<S, F, Fut>(make: F)
where
    S: CheckpointStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    save_and_load(&make().await).await;
    compare_and_set(&make().await).await;
    list_is_ordered(&make().await).await;
}

async fn save_and_load(store: &impl CheckpointStore) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let key = stream("iam.amazonaws.com", "us-east-1");
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "checkpoint: absent stream loads as None"
    );
    let mut cp = Checkpoint::new(key.clone(), now);
    cp.complete_up_to = Some(now - Duration::minutes(20));
    cp.islands = vec![
        crate::time::TimeWindow::new(now - Duration::minutes(10), now - Duration::minutes(5))
            .unwrap(),
        crate::time::TimeWindow::new(now - Duration::minutes(2), now).unwrap(),
    ];
    cp.last_error = Some("AccessDenied in ap-east-1".into());
    cp.collected_at = Some(now - Duration::minutes(1));
    cp.settled_up_to = Some(now - Duration::minutes(30));
    cp.stats.runs = 3;
    cp.stats.events_stored = 1234;
    let v = store.save(&cp).await.unwrap();
    assert_eq!(v, 1, "checkpoint: first save is version 1");
    let back = store
        .load(&key)
        .await
        .unwrap()
        .expect("checkpoint: saved stream loads");
    assert_eq!(
        back,
        Checkpoint { version: 1, ..cp },
        "checkpoint: every field round-trips"
    );
    let other = stream("iam.amazonaws.com", "eu-west-1");
    assert_eq!(
        store.load(&other).await.unwrap(),
        None,
        "checkpoint: streams are independent"
    );
}

async fn compare_and_set(store: &impl CheckpointStore) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let key = stream("sts.amazonaws.com", "eu-west-1");
    let cp = Checkpoint::new(key.clone(), now);
    assert_eq!(store.save(&cp).await.unwrap(), 1);
    // A second writer that also read "absent" loses.
    assert!(
        matches!(
            store.save(&cp).await,
            Err(Error::CheckpointConflict {
                expected: 0,
                found: 1,
                ..
            })
        ),
        "checkpoint: saving over an existing stream as if new is a conflict"
    );
    let current = store.load(&key).await.unwrap().unwrap();
    let mut next = current.clone();
    next.complete_up_to = Some(now);
    assert_eq!(
        store.save(&next).await.unwrap(),
        2,
        "checkpoint: saving at the current version advances it"
    );
    // The stale copy (version 1) is refused and the stored value is unchanged.
    assert!(
        matches!(
            store.save(&current).await,
            Err(Error::CheckpointConflict {
                expected: 1,
                found: 2,
                ..
            })
        ),
        "checkpoint: a stale version is a conflict"
    );
    let stored = store.load(&key).await.unwrap().unwrap();
    assert_eq!(
        stored.complete_up_to,
        Some(now),
        "checkpoint: a refused save changes nothing"
    );
    assert_eq!(stored.version, 2);
}

async fn list_is_ordered(store: &impl CheckpointStore) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    let keys = [
        stream("sts.amazonaws.com", "us-west-2"),
        stream("iam.amazonaws.com", "us-east-1"),
        stream("signin.amazonaws.com", "us-east-1"),
    ];
    for k in &keys {
        store.save(&Checkpoint::new(k.clone(), now)).await.unwrap();
    }
    let listed: Vec<StreamKey> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.stream)
        .collect();
    let mut expected = keys.to_vec();
    expected.sort();
    assert_eq!(
        listed, expected,
        "checkpoint: list returns every stream, ordered"
    );
}
