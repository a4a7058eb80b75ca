//! The local backends pass the ports' contract suites.

use iat_core::contract;
use iat_local::{DirObjectStore, SqliteStore};

#[tokio::test]
async fn sqlite_event_store() {
    contract::event_store_suite(|| async { SqliteStore::in_memory().unwrap() }).await;
}

#[tokio::test]
async fn sqlite_event_store_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    contract::event_store_suite(|| {
        let path = dir.path().join(format!(
            "nested/dir/{}.db",
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        async move { SqliteStore::open(&path).unwrap() }
    })
    .await;
}

#[tokio::test]
async fn sqlite_checkpoint_store() {
    contract::checkpoint_store_suite(|| async { SqliteStore::in_memory().unwrap() }).await;
}

#[tokio::test]
async fn sqlite_alert_ledger() {
    contract::alert_ledger_suite(|| async { SqliteStore::in_memory().unwrap() }).await;
}

#[tokio::test]
async fn directory_object_store() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    contract::object_store_suite(|| {
        let root = dir.path().join(
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_string(),
        );
        async move { DirObjectStore::new(root).unwrap() }
    })
    .await;
}

#[tokio::test]
async fn sqlite_state_survives_reopening() {
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{EventQuery, EventStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iat.db");
    let e = RecordSpec::new("persist-1", chrono::Utc::now()).event();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.put(std::slice::from_ref(&e)).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.query(&EventQuery::default()).await.unwrap(), vec![e]);
    let out = store
        .put(&[RecordSpec::new("persist-1", chrono::Utc::now()).event()])
        .await
        .unwrap();
    assert_eq!(out.duplicates, 1, "dedup holds across processes");
}

#[tokio::test]
async fn bulk_load_returns_the_database_to_wal_and_stores_once() {
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{EventQuery, EventStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulk.db");
    let store = SqliteStore::open(&path).unwrap();
    let t0 = chrono::Utc::now();
    let events: Vec<_> = (0..250)
        .map(|i| RecordSpec::new(&format!("bulk-{i:03}"), t0).event())
        .collect();
    {
        let mut w = store.bulk_writer(100).unwrap();
        let first = w.put(&events[..200]).unwrap();
        let second = w.put(&events[150..]).unwrap();
        assert_eq!((first.inserted, first.duplicates), (200, 0));
        assert_eq!(
            (second.inserted, second.duplicates),
            (50, 50),
            "ids already written in the open transaction are duplicates"
        );
        w.finish().unwrap();
    }
    let mode: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        store.query(&EventQuery::default()).await.unwrap().len(),
        250
    );
    // Dropping a writer without finishing commits what it wrote.
    {
        let mut w = store.bulk_writer(1_000).unwrap();
        w.put(&[RecordSpec::new("bulk-late", t0).event()]).unwrap();
    }
    assert_eq!(store.stats().await.unwrap().events, 251);
}
