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
async fn sqlite_event_feed() {
    contract::event_feed_suite(|| async {
        let store = std::sync::Arc::new(SqliteStore::in_memory().unwrap());
        (store.clone(), store)
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
async fn sqlite_alert_log() {
    contract::alert_log_suite(|| async { SqliteStore::in_memory().unwrap() }).await;
}

/// An entry of the alert log that cannot be read is skipped by the listing, not fatal to it.
#[tokio::test]
async fn sqlite_alert_log_lists_around_an_unreadable_entry() {
    use iat_core::ports::{AlertLog, AlertLogQuery, LoggedAlert, LoggedEvent};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iat.db");
    let store = SqliteStore::open(&path).unwrap();
    let t = chrono::DateTime::parse_from_rfc3339("2026-05-01T09:00:00Z")
        .unwrap()
        .to_utc();
    let alert = |id: &str| LoggedAlert {
        id: format!("iam_user_created:{id}"),
        rule_id: "iam_user_created".into(),
        title: "IAM user created".into(),
        severity: iat_core::Severity::Medium,
        summary: "user ci-bot created".into(),
        details: Vec::new(),
        events: vec![LoggedEvent {
            event_id: id.into(),
            time: t,
            source: "iam.amazonaws.com".into(),
            name: "CreateUser".into(),
            actor: "alice".into(),
            principal_type: "IAMUser".into(),
            principal_arn: None,
            source_ip: "203.0.113.10".into(),
            account: Some("111122223333".into()),
            region: "us-east-1".into(),
            error_code: None,
        }],
        sent_at: t,
        more: 0,
        in_digest: false,
        ack: None,
    };
    store.record(&[alert("e-1"), alert("e-2")]).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "UPDATE alert_log SET body = '{\"not\": \"an alert\"}' WHERE id = 'iam_user_created:e-1'",
        [],
    )
    .unwrap();
    let listed = store.list(&AlertLogQuery::default()).await.unwrap();
    assert_eq!(
        listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["iam_user_created:e-2"]
    );
    assert!(
        store.get("iam_user_created:e-1").await.is_err(),
        "read alone, it is an error"
    );
}

#[tokio::test]
async fn sqlite_seen_store() {
    contract::seen_store_suite(|| async { SqliteStore::in_memory().unwrap() }).await;
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
    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // A load into an empty table builds the secondary indexes at its end: all are there, and
    // the time-ordered reads use one.
    let indexes = |c: &rusqlite::Connection| -> Vec<String> {
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        indexes(&raw),
        [
            "events_by_actor",
            "events_by_name",
            "events_by_time_id",
            "events_denied",
            "events_people",
            "events_root"
        ]
    );
    // Denied calls in a window are read from their own index, not by visiting every event.
    let plan: String = raw
        .query_row(
            "EXPLAIN QUERY PLAN SELECT seq, event_time, event_id FROM events WHERE event_time >= 0 \
             AND event_time <= 4000000000000000 AND denial_layer IS NOT NULL AND denial_layer = 'session_policy' \
             ORDER BY event_time DESC, event_id DESC LIMIT 50",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("events_denied"), "{plan}");
    // A load that stopped before building them (a crash): opening the file builds them.
    raw.execute_batch(
        "DROP INDEX events_by_actor; DROP INDEX events_by_name; DROP INDEX events_denied;",
    )
    .unwrap();
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(
        indexes(&raw),
        [
            "events_by_actor",
            "events_by_name",
            "events_by_time_id",
            "events_denied",
            "events_people",
            "events_root"
        ]
    );
    drop(raw);
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

/// A file written by the previous version (no principal columns): opening it adds them, fills
/// them from the stored records, and the rules' reads then find exactly the people's calls.
#[tokio::test]
async fn a_version_1_file_is_upgraded_with_each_event_s_principal() {
    use iat_core::contract::records::RecordSpec;
    use iat_core::ports::{EventQuery, EventStore, Interest};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let t0 = chrono::Utc::now();
    let person = RecordSpec::new("v1-person", t0).event();
    let mut workload: serde_json::Value =
        serde_json::from_str(&RecordSpec::new("v1-workload", t0).json()).unwrap();
    workload["userIdentity"] = serde_json::json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app/i-1", "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app"}}});
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
                event_time INTEGER NOT NULL, event_source TEXT NOT NULL, event_name TEXT NOT NULL,
                account TEXT, region TEXT NOT NULL, actor TEXT NOT NULL, principal_arn TEXT,
                source_ip TEXT NOT NULL, error_code TEXT, denial_layer TEXT);
             CREATE TABLE records (seq INTEGER PRIMARY KEY, record TEXT NOT NULL);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        for (seq, id, record) in [
            (1, "v1-person", person.raw.clone()),
            (2, "v1-workload", workload.to_string()),
        ] {
            raw.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, 'iam.amazonaws.com', 'ListUsers', '111122223333', 'us-east-1', 'x', NULL, '203.0.113.10', NULL, NULL)",
                rusqlite::params![seq, id, t0.timestamp_micros()],
            )
            .unwrap();
            raw.execute(
                "INSERT INTO records VALUES (?1, ?2)",
                rusqlite::params![seq, record],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    let people = EventQuery {
        interest: Some(Interest {
            people: true,
            ..Interest::default()
        }),
        ..Default::default()
    };
    let found = store.query(&people).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["v1-person"]
    );
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(String, Option<String>, Option<i64>)> = raw
        .prepare("SELECT event_id, principal_type, person FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            ("v1-person".into(), Some("IAMUser".into()), Some(1)),
            ("v1-workload".into(), Some("AssumedRole".into()), Some(0)),
        ]
    );
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

#[tokio::test]
async fn jsonl_notifier_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts/alerts.jsonl");
    let n = iat_local::notify::JsonlNotifier::new(&path).unwrap();
    iat_core::contract::notifier_suite(&n, || {
        let path = path.clone();
        async move { iat_local::notify::JsonlNotifier::read(&path).unwrap() }
    })
    .await;
}

/// A webhook receiver on 127.0.0.1 that keeps the JSON bodies it is sent, and answers `status`.
async fn receiver(
    status: u16,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let keep = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let keep = keep.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + len {
                        continue;
                    }
                    let body = &buf[head_end + 4..head_end + 4 + len];
                    keep.lock()
                        .unwrap()
                        .push(serde_json::from_slice(body).unwrap());
                    let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                    s.write_all(resp.as_bytes()).await.unwrap();
                    buf.clear();
                }
            });
        }
    });
    (format!("http://{addr}/services/T000/B000/secret"), got)
}

#[tokio::test]
async fn webhook_notifier_contract_and_errors() {
    let (url, got) = receiver(200).await;
    let n = iat_local::notify::WebhookNotifier::new(&url).unwrap();
    assert!(
        !format!("{n:?}").contains("secret"),
        "the URL's path stays out of logs"
    );
    iat_core::contract::notifier_suite(&n, || {
        let got = got.clone();
        async move {
            got.lock()
                .unwrap()
                .iter()
                .map(|v| {
                    assert!(
                        v["text"]
                            .as_str()
                            .unwrap()
                            .contains(v["subject"].as_str().unwrap())
                    );
                    let mut n = iat_core::ports::Notification::new(
                        v["subject"].as_str().unwrap(),
                        v["body"].as_str().unwrap(),
                        v["severity"].as_str().unwrap().parse().unwrap(),
                    )
                    .unwrap();
                    n.attributes = serde_json::from_value(v["attributes"].clone()).unwrap();
                    n
                })
                .collect()
        }
    })
    .await;
    let (url, _) = receiver(500).await;
    let n = iat_local::notify::WebhookNotifier::new(&url).unwrap();
    let msg = iat_core::ports::Notification::new("s", "b", iat_core::Severity::Low).unwrap();
    let e = n.notify_err(&msg).await;
    assert!(e.contains("500") && !e.contains("secret"), "{e}");
    let e = iat_local::notify::WebhookNotifier::new("ftp://example.com/x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("http"), "{e}");
}

trait NotifyErr {
    async fn notify_err(&self, n: &iat_core::ports::Notification) -> String;
}

impl<N: iat_core::ports::Notifier> NotifyErr for N {
    async fn notify_err(&self, n: &iat_core::ports::Notification) -> String {
        self.notify(n).await.unwrap_err().to_string()
    }
}

/// DataFusion over a lake directory holding the contract's events, one Parquet part per day,
/// written as the exporter writes them.
#[cfg(feature = "sql")]
#[tokio::test]
async fn datafusion_query_engine() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    contract::query_engine_suite(|events, _| async move {
        let mut days = std::collections::BTreeMap::<_, Vec<_>>::new();
        for e in events {
            days.entry(e.time.date_naive()).or_default().push(e);
        }
        for (day, events) in days {
            let mut part = iat_lake::PartWriter::new(iat_lake::Compression::Snappy);
            part.write(&iat_lake::to_batch(&events)).unwrap();
            let path = root.join(iat_lake::part_key("iat", day, 0));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, part.finish().unwrap()).unwrap();
        }
        iat_local::sql::LocalLake::new(&root, "iat")
    })
    .await;
}

/// The lake read back as events: the query cases of the event store's contract over Parquet
/// written as the exporter writes it (one part per day and load), read through DataFusion.
#[cfg(feature = "sql")]
#[tokio::test]
async fn lake_event_history() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use iat_core::ActivityEvent;
    use iat_core::ports::{EventQuery, EventStore, PutOutcome, Quarantined, StoreStats};

    struct ExportedLake {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        parts: AtomicUsize,
        lake: iat_lake::LakeEventStore,
    }

    #[async_trait::async_trait]
    impl EventStore for ExportedLake {
        async fn put(&self, events: &[ActivityEvent]) -> iat_core::error::Result<PutOutcome> {
            let mut days = std::collections::BTreeMap::<_, Vec<_>>::new();
            for e in events {
                days.entry(e.time.date_naive()).or_default().push(e.clone());
            }
            for (day, mut events) in days {
                events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
                let mut part = iat_lake::PartWriter::new(iat_lake::Compression::Snappy);
                part.write(&iat_lake::to_batch(&events)).unwrap();
                let n = self.parts.fetch_add(1, Ordering::Relaxed);
                let path = self.root.join(iat_lake::part_key("iat", day, n));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, part.finish().unwrap()).unwrap();
            }
            Ok(PutOutcome::default())
        }
        async fn quarantine(&self, records: &[Quarantined]) -> iat_core::error::Result<()> {
            self.lake.quarantine(records).await
        }
        async fn query(&self, q: &EventQuery) -> iat_core::error::Result<Vec<ActivityEvent>> {
            self.lake.query(q).await
        }
        async fn stats(&self) -> iat_core::error::Result<StoreStats> {
            self.lake.stats().await
        }
        async fn count_actions(
            &self,
            q: &EventQuery,
            max: usize,
        ) -> iat_core::error::Result<iat_core::ports::ActionCounts> {
            self.lake.count_actions(q, max).await
        }
    }

    // Small pages, so the contract's paging crosses the lake's own keyset pages.
    for page in [7, 5_000] {
        contract::event_history_suite(|| async move {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_owned();
            let engine = Arc::new(iat_local::sql::LocalLake::new(&root, "iat"));
            ExportedLake {
                _dir: dir,
                root,
                parts: AtomicUsize::new(0),
                lake: iat_lake::LakeEventStore::with_page(engine, page),
            }
        })
        .await;
    }
}
