use std::future::Future;

use crate::ports::{ObjectKey, ObjectStore};

fn k(s: &str) -> ObjectKey {
    ObjectKey::new(s).unwrap()
}

/// Runs every `ObjectStore` case, each on a fresh store from `make`.
pub async fn object_store_suite<S, F, Fut>(make: F)
where
    S: ObjectStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let store = make().await;
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-01/a.parquet"))
            .await
            .unwrap(),
        None,
        "object: absent is None"
    );
    store
        .put(&k("events/dt=2026-01-01/a.parquet"), b"one".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-01/a.parquet"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"one"[..]),
        "object: put then get"
    );
    store
        .put(&k("events/dt=2026-01-01/a.parquet"), b"two".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-01/a.parquet"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"two"[..]),
        "object: put replaces"
    );
    store
        .put(&k("events/dt=2026-01-01/b.parquet"), Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-01/b.parquet"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b""[..]),
        "object: empty objects exist"
    );
    store
        .put(&k("events/dt=2026-01-02/a.parquet"), vec![0, 159, 146, 150])
        .await
        .unwrap();
    store
        .put(&k("exports/state.json"), b"{}".to_vec())
        .await
        .unwrap();

    let names = |v: Vec<ObjectKey>| {
        v.into_iter()
            .map(|k| k.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list("events/dt=2026-01-01/").await.unwrap()),
        [
            "events/dt=2026-01-01/a.parquet",
            "events/dt=2026-01-01/b.parquet"
        ],
        "object: list by folder prefix, sorted"
    );
    assert_eq!(
        names(store.list("events/dt=2026-01-0").await.unwrap()),
        [
            "events/dt=2026-01-01/a.parquet",
            "events/dt=2026-01-01/b.parquet",
            "events/dt=2026-01-02/a.parquet"
        ],
        "object: list by a partial prefix"
    );
    assert_eq!(
        names(store.list("nothing/").await.unwrap()),
        Vec::<String>::new(),
        "object: empty listing"
    );
    assert_eq!(
        names(store.list("").await.unwrap()).len(),
        4,
        "object: list everything"
    );
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-02/a.parquet"))
            .await
            .unwrap(),
        Some(vec![0, 159, 146, 150]),
        "object: bytes are kept exactly"
    );

    store
        .delete(&k("events/dt=2026-01-01/a.parquet"))
        .await
        .unwrap();
    store
        .delete(&k("events/dt=2026-01-01/a.parquet"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&k("events/dt=2026-01-01/a.parquet"))
            .await
            .unwrap(),
        None,
        "object: deleted"
    );
    assert_eq!(
        names(store.list("events/dt=2026-01-01/").await.unwrap()),
        ["events/dt=2026-01-01/b.parquet"],
        "object: deleting is idempotent and leaves siblings"
    );
}
