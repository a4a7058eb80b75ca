//! The in-memory ports pass their contract suites.

use iat_core::contract;
use iat_core::ports::{
    EventSource, MemoryAlertLedger, MemoryAlertLog, MemoryCheckpointStore, MemoryEventSource,
    MemoryEventStore, MemoryNotifier, MemoryObjectStore,
};

#[tokio::test]
async fn memory_event_store() {
    contract::event_store_suite(|| async { MemoryEventStore::new() }).await;
    contract::event_history_suite(|| async { MemoryEventStore::new() }).await;
}

#[tokio::test]
async fn memory_event_feed() {
    contract::event_feed_suite(|| async {
        let store = std::sync::Arc::new(MemoryEventStore::new());
        (store.clone(), store)
    })
    .await;
}

#[tokio::test]
async fn memory_checkpoint_store() {
    contract::checkpoint_store_suite(|| async { MemoryCheckpointStore::new() }).await;
}

#[tokio::test]
async fn memory_alert_ledger() {
    contract::alert_ledger_suite(|| async { MemoryAlertLedger::new() }).await;
}

#[tokio::test]
async fn memory_alert_log() {
    contract::alert_log_suite(|| async { MemoryAlertLog::new() }).await;
}

#[tokio::test]
async fn memory_object_store() {
    contract::object_store_suite(|| async { MemoryObjectStore::new() }).await;
}

#[tokio::test]
async fn memory_notifier() {
    let n = MemoryNotifier::new();
    contract::notifier_suite(&n, || async { n.sent() }).await;
}

#[tokio::test]
async fn memory_notifier_failure_is_reported() {
    use iat_core::Severity;
    use iat_core::ports::{Notification, Notifier};
    let n = MemoryNotifier::new();
    n.fail_next(1);
    let msg = Notification::new("s", "b", Severity::Low).unwrap();
    assert!(n.notify(&msg).await.is_err());
    n.notify(&msg).await.unwrap();
    assert_eq!(n.sent().len(), 1);
}

#[tokio::test]
async fn memory_event_source() {
    contract::event_source_suite(|records| async move {
        let s = MemoryEventSource::new();
        for r in records {
            s.add(&r).unwrap();
        }
        s
    })
    .await;
    // The trait is object-safe: a service can hold any source.
    let _: Box<dyn EventSource> = Box::new(MemoryEventSource::new());
}

#[tokio::test]
async fn memory_seen_store() {
    iat_core::contract::seen_store_suite(|| async { iat_core::ports::MemorySeenStore::new() })
        .await;
}
