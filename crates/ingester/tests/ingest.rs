//! The ingester on in-memory ports: what a message stores, counts and fails.

use std::io::Write;

use async_trait::async_trait;
use iat_core::ActivityEvent;
use iat_core::ports::{
    EventQuery, EventStore, MemoryEventStore, MemoryObjectSource, PutOutcome, Quarantined,
    StoreStats,
};
use iat_core::scope::IngestScope;
use iat_ingester::{IngestSettings, Message, handle_messages};

const BUCKET: &str = "org-trail-logs";
const KEY: &str = "AWSLogs/o-exampleorgid/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T1200Z_abc.json.gz";

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn mixed() -> Vec<u8> {
    gz(&std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/trail-mixed.json"
    ))
    .unwrap())
}

fn s3_message(id: &str, key: &str) -> Message {
    let body = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}}
    }]});
    Message {
        id: id.to_owned(),
        body: body.to_string(),
    }
}

fn source_with(objects: &[(&str, Vec<u8>)]) -> MemoryObjectSource {
    let s = MemoryObjectSource::new();
    for (k, v) in objects {
        s.insert(BUCKET, k, v.clone());
    }
    s
}

#[tokio::test]
async fn a_file_stores_its_in_scope_events_once_however_often_it_is_announced() {
    let source = source_with(&[(KEY, mixed())]);
    let store = MemoryEventStore::new();
    let settings = IngestSettings::default();
    let r = handle_messages(&[s3_message("m1", KEY)], &source, &store, &settings, None).await;
    assert!(r.failed.is_empty(), "{r:?}");
    // 8 records and one element that is not a record.
    assert_eq!(r.totals.records, 9);
    // CreateUser, GetCallerIdentity, the SCP-denied CreateBucket, root's ListBuckets, the
    // security-group change; not DescribeInstances or ListFunctions (out of scope), nor the
    // service-linked role's call (noise).
    assert_eq!(
        (
            r.totals.stored,
            r.totals.out_of_scope,
            r.totals.filtered,
            r.totals.quarantined
        ),
        (5, 2, 1, 1)
    );
    let names: Vec<String> = store
        .query(&EventQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e: ActivityEvent| e.name)
        .collect();
    for n in [
        "CreateUser",
        "GetCallerIdentity",
        "CreateBucket",
        "ListBuckets",
        "AuthorizeSecurityGroupIngress",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not stored: {names:?}");
    }
    // The same file announced again, and by CloudTrail's own notification: nothing twice.
    let again = handle_messages(&[s3_message("m2", KEY)], &source, &store, &settings, None).await;
    assert_eq!((again.totals.stored, again.totals.duplicates), (0, 5));
    assert_eq!(store.stats().await.unwrap().events, 5);

    let all = IngestSettings {
        scope: IngestScope::All,
        ..IngestSettings::default()
    };
    let wide = MemoryEventStore::new();
    let r = handle_messages(&[s3_message("m3", KEY)], &source, &wide, &all, None).await;
    assert_eq!(
        (r.totals.stored, r.totals.out_of_scope, r.totals.filtered),
        (7, 0, 1)
    );
}

#[tokio::test]
async fn a_broken_file_fails_its_message_alone_after_storing_what_precedes_the_break() {
    let whole = mixed();
    let cut = &whole[..whole.len() * 2 / 3];
    let broken_key = KEY.replace("_abc.json.gz", "_broken.json.gz");
    let source = source_with(&[(KEY, whole.clone()), (&broken_key, cut.to_vec())]);
    let store = MemoryEventStore::new();
    let r = handle_messages(
        &[
            s3_message("broken", &broken_key),
            s3_message("good", KEY),
            s3_message("missing", &KEY.replace("_abc", "_gone")),
            Message {
                id: "garbage".into(),
                body: "{\"hello\":1}".into(),
            },
        ],
        &source,
        &store,
        &IngestSettings::default(),
        None,
    )
    .await;
    assert_eq!(r.failed, vec!["broken", "missing", "garbage"]);
    assert_eq!(r.files, 1, "only the good file counts as ingested");
    assert_eq!(store.stats().await.unwrap().events, 5);
}

#[tokio::test]
async fn digests_and_test_events_are_skipped_not_failed() {
    let digest =
        "AWSLogs/o-exampleorgid/111122223333/CloudTrail-Digest/us-east-1/2026/11/30/x.json.gz";
    let source = source_with(&[]);
    let store = MemoryEventStore::new();
    let test_event = Message {
        id: "t".into(),
        body: r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"org-trail-logs"}"#.into(),
    };
    let r = handle_messages(
        &[s3_message("d", digest), test_event],
        &source,
        &store,
        &IngestSettings::default(),
        None,
    )
    .await;
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!((r.skipped_objects, r.files), (1, 0));
}

/// A store whose writes fail.
#[derive(Debug, Default)]
struct Down;

#[async_trait]
impl EventStore for Down {
    async fn put(&self, _: &[ActivityEvent]) -> iat_core::error::Result<PutOutcome> {
        Err(iat_core::Error::unavailable(
            "memory",
            "put",
            "table is being restored",
        ))
    }
    async fn query(&self, _: &EventQuery) -> iat_core::error::Result<Vec<ActivityEvent>> {
        Ok(Vec::new())
    }
    async fn quarantine(&self, _: &[Quarantined]) -> iat_core::error::Result<()> {
        Ok(())
    }
    async fn stats(&self) -> iat_core::error::Result<StoreStats> {
        Ok(StoreStats::default())
    }
}

#[tokio::test]
async fn a_store_failure_fails_the_message() {
    let source = source_with(&[(KEY, mixed())]);
    let r = handle_messages(
        &[s3_message("m", KEY)],
        &source,
        &Down,
        &IngestSettings::default(),
        None,
    )
    .await;
    assert_eq!(r.failed, vec!["m"]);
}

#[tokio::test]
async fn objects_of_another_bucket_or_organisation_fail_naming_the_setting() {
    let source = source_with(&[(KEY, mixed())]);
    let store = MemoryEventStore::new();
    let wrong_bucket = IngestSettings {
        expect_bucket: Some("the-real-trail".into()),
        ..IngestSettings::default()
    };
    let r = handle_messages(
        &[s3_message("b", KEY)],
        &source,
        &store,
        &wrong_bucket,
        None,
    )
    .await;
    assert_eq!(r.failed, vec!["b"]);
    let wrong_org = IngestSettings {
        expect_org: Some("o-otherorg12".into()),
        ..IngestSettings::default()
    };
    let r = handle_messages(&[s3_message("o", KEY)], &source, &store, &wrong_org, None).await;
    assert_eq!(r.failed, vec!["o"]);
    assert_eq!(store.stats().await.unwrap().events, 0);
    let right = IngestSettings {
        expect_bucket: Some(BUCKET.into()),
        expect_org: Some("o-exampleorgid".into()),
        ..IngestSettings::default()
    };
    let r = handle_messages(&[s3_message("r", KEY)], &source, &store, &right, None).await;
    assert!(r.failed.is_empty() && r.totals.stored == 5, "{r:?}");
}

#[tokio::test]
async fn messages_not_started_before_the_stop_time_are_deferred_not_lost() {
    let source = source_with(&[(KEY, mixed())]);
    let store = MemoryEventStore::new();
    let past = std::time::Instant::now();
    let r = handle_messages(
        &[s3_message("a", KEY), s3_message("b", KEY)],
        &source,
        &store,
        &IngestSettings::default(),
        Some(past),
    )
    .await;
    assert_eq!(
        (r.failed, r.deferred, r.files),
        (vec!["a".to_owned(), "b".to_owned()], 2, 0)
    );
    assert_eq!(store.stats().await.unwrap().events, 0);
}
