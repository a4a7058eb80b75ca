//! Ingesting CloudTrail log files: formats, idempotence, and bad input (DESIGN invariant 4).

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use iat_core::ports::{EventQuery, EventStore};
use iat_local::SqliteStore;
use iat_local::ingest::{IngestOptions, IngestSummary, ingest};
use iat_local::logfiles::{self, Format, Item};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn run(inputs: &[PathBuf], store: &SqliteStore) -> IngestSummary {
    ingest(inputs, store, &IngestOptions::default(), &mut |_| {}).unwrap()
}

fn event_ids(store: &SqliteStore) -> Vec<String> {
    store
        .query_blocking(&EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect()
}

#[test]
fn every_format_is_read() {
    let cases = [
        ("trail_file.json", Format::TrailFile, 3),
        ("lookup_events.json", Format::LookupEvents, 3),
        ("records.jsonl", Format::JsonLines, 4),
        ("single_record_pretty.json", Format::JsonLines, 1),
    ];
    for (name, format, items) in cases {
        let mut got = Vec::new();
        let out = logfiles::read_file(&fixture(name), &mut |i| got.push(i));
        assert_eq!(out.format, Some(format), "{name}");
        assert_eq!(out.items, items, "{name}");
        assert_eq!(got.len(), items, "{name}");
        assert!(out.error.is_none(), "{name}: {:?}", out.error);
    }
}

#[test]
fn gzip_trees_are_discovered_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir
        .path()
        .join("AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/03/02");
    std::fs::create_dir_all(&deep).unwrap();
    let trail = std::fs::read(fixture("trail_file.json")).unwrap();
    std::fs::write(
        deep.join("111122223333_CloudTrail_us-east-1_20260302T0905Z_abc.json.gz"),
        gzip(&trail),
    )
    .unwrap();
    std::fs::write(deep.join("README.txt"), "not a log file").unwrap();
    // Gzip is detected by content, not name.
    std::fs::write(
        dir.path().join("renamed.json"),
        gzip(&std::fs::read(fixture("records.jsonl")).unwrap()),
    )
    .unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[dir.path().to_owned()], &store);
    assert_eq!(s.files, 2, "README.txt is not picked up in a directory");
    assert_eq!((s.records, s.stored, s.malformed), (7, 6, 1));
    assert_eq!(s.files_failed, 0);
}

#[test]
fn ingesting_twice_stores_each_event_once() {
    let store = SqliteStore::in_memory().unwrap();
    let inputs = [
        fixture("trail_file.json"),
        fixture("lookup_events.json"),
        fixture("records.jsonl"),
    ];
    let first = run(&inputs, &store);
    assert_eq!((first.stored, first.duplicates), (8, 0));
    let ids = event_ids(&store);
    let second = run(&inputs, &store);
    assert_eq!((second.stored, second.duplicates), (0, 8));
    assert_eq!(event_ids(&store), ids);
    // The same event in two files of one run is also stored once.
    let store = SqliteStore::in_memory().unwrap();
    let s = run(
        &[fixture("trail_file.json"), fixture("trail_file.json")],
        &store,
    );
    assert_eq!((s.stored, s.duplicates), (3, 3));
}

#[test]
fn truncated_gzip_keeps_what_came_before_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A trail file big enough that the cut falls well after the first records.
    let records: Vec<String> = (0..400)
        .map(|i| {
            iat_core::contract::records::RecordSpec::new(
                &format!("trunc-{i:04}"),
                chrono::Utc::now(),
            )
            .json()
        })
        .collect();
    let body = format!("{{\"Records\":[{}]}}", records.join(","));
    let gz = gzip(body.as_bytes());
    let cut = dir.path().join("cut.json.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[cut.clone(), fixture("trail_file.json")], &store);
    assert_eq!(s.files, 2);
    assert_eq!(s.files_failed, 1);
    assert!(
        s.problems[0].error.contains("gzip") || s.problems[0].error.contains("truncated"),
        "{:?}",
        s.problems
    );
    assert!(
        s.stored > 3 && s.stored < 403,
        "records before the cut are kept: {}",
        s.stored
    );
    assert!(
        event_ids(&store).contains(&"00000000-0000-4000-8000-000000000001".to_owned()),
        "the next file is read"
    );
}

#[test]
fn invalid_json_file_is_counted_and_skipped() {
    let store = SqliteStore::in_memory().unwrap();
    let s = run(
        &[fixture("invalid.json"), fixture("trail_file.json")],
        &store,
    );
    assert_eq!(s.files_failed, 1);
    assert!(
        s.problems[0].error.starts_with("invalid JSON"),
        "{}",
        s.problems[0].error
    );
    assert_eq!(s.stored, 3);
}

#[test]
fn record_without_event_id_is_quarantined_and_the_rest_kept() {
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[fixture("no_event_id.json")], &store);
    assert_eq!(
        (s.records, s.stored, s.malformed, s.files_failed),
        (2, 1, 1, 0)
    );
    let q = store.recent_quarantine(10).unwrap();
    assert_eq!(q.len(), 1);
    assert!(
        q[0].origin.ends_with("no_event_id.json#1"),
        "origin names file and record: {}",
        q[0].origin
    );
    assert!(q[0].reason.contains("eventID"), "{}", q[0].reason);
    assert_eq!(store.stats_blocking().unwrap().quarantined, 1);
}

#[test]
fn large_record_is_stored_and_oversized_one_quarantined() {
    use iat_core::contract::records::RecordSpec;
    let dir = tempfile::tempdir().unwrap();
    let big = RecordSpec::new("big-256k", chrono::Utc::now())
        .params(serde_json::json!({"policyDocument": "x".repeat(256 * 1024)}))
        .json();
    let huge = RecordSpec::new("huge-2m", chrono::Utc::now())
        .params(serde_json::json!({"policyDocument": "y".repeat(2 * 1024 * 1024)}))
        .json();
    let path = dir.path().join("big.json");
    std::fs::write(&path, format!("{{\"Records\":[{big},{huge}]}}")).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[path], &store);
    assert_eq!((s.stored, s.malformed, s.oversized), (1, 1, 1));
    let stored = store.query_blocking(&EventQuery::default()).unwrap();
    assert_eq!(stored[0].raw, big, "a 256 KB record is kept whole");
    let q = store.recent_quarantine(1).unwrap();
    assert_eq!(
        q[0].event_id.as_deref(),
        Some("huge-2m"),
        "the oversized record is logged with its id"
    );
}

#[test]
fn unknown_event_version_is_stored_and_counted() {
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[fixture("future_version.json")], &store);
    assert_eq!((s.stored, s.unknown_version, s.malformed), (1, 1, 0));
    let e = &store.query_blocking(&EventQuery::default()).unwrap()[0];
    assert_eq!(e.version.as_deref(), Some("9.99"));
    assert!(
        e.raw.contains("someNewField"),
        "unknown fields are kept in the raw record"
    );
}

#[test]
fn non_utf8_bytes_are_replaced_and_the_file_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("trail_file.json")).unwrap();
    let mut bytes = text
        .replacen("aws-cli/2.15.30", "aws-cli/2.15.30 \u{1}MARK", 1)
        .into_bytes();
    let at = bytes.windows(5).position(|w| w == b"\x01MARK").unwrap();
    bytes[at] = 0xff; // a lone byte that is not UTF-8, inside a string
    let path = dir.path().join("latin1.json");
    std::fs::write(&path, &bytes).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let s = run(&[path], &store);
    assert_eq!((s.stored, s.utf8_repaired_files, s.files_failed), (3, 1, 0));
    let events = store.query_blocking(&EventQuery::default()).unwrap();
    assert!(
        events[0]
            .user_agent
            .as_deref()
            .unwrap()
            .contains('\u{FFFD}')
    );
}

#[test]
fn missing_paths_are_reported_and_the_rest_read() {
    let store = SqliteStore::in_memory().unwrap();
    let s = run(
        &[
            PathBuf::from("/definitely/not/here"),
            fixture("trail_file.json"),
        ],
        &store,
    );
    assert_eq!((s.files_failed, s.stored), (1, 3));
    assert_eq!(s.problems[0].path, PathBuf::from("/definitely/not/here"));
}

#[test]
fn large_files_are_streamed() {
    // With a tiny in-memory limit, every format goes through the streaming parser.
    for (name, n) in [
        ("trail_file.json", 3),
        ("lookup_events.json", 3),
        ("records.jsonl", 4),
    ] {
        let mut got = Vec::new();
        let out = logfiles::read_file_with_limit(&fixture(name), 64, &mut |i| got.push(i));
        assert!(out.error.is_none(), "{name}: {:?}", out.error);
        assert_eq!(got.len(), n, "{name}");
    }
    let mut got = Vec::new();
    let out = logfiles::read_file_with_limit(&fixture("invalid.json"), 16, &mut |i| got.push(i));
    assert!(out.error.is_some());
    let mut first = None;
    logfiles::read_file_with_limit(&fixture("trail_file.json"), 64, &mut |i| {
        if let (None, Item::Record { text, .. }) = (&first, i) {
            first = Some(text);
        }
    });
    assert!(
        first
            .unwrap()
            .contains("00000000-0000-4000-8000-000000000001")
    );
}

/// The streamed scanner hands out exactly what the in-memory parser does, breaks included.
#[test]
fn streamed_documents_read_as_in_memory() {
    let rec = |id: &str, extra: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventID":"{id}","note":"a ] }} {{ [ \" \\ ,","nested":{{"a":[1,[2,{{"b":"}}"}}]],"c":null}}{extra}}}"#
        )
    };
    let lookup =
        |id: &str| serde_json::json!({ "EventId": id, "CloudTrailEvent": rec(id, "") }).to_string();
    let docs = [
        format!(
            "{{\"Records\":[{},{}]}}",
            rec("a", ""),
            rec("b", ",\"é\":\"ë\"")
        ),
        format!(
            "{{ \"Meta\" : {{\"x\":[1,\"]\"]}},\n \"Records\" : [\n  {} ,\n  {}\n ] , \"After\":\"}}\" }}\n",
            rec("a", ""),
            rec("b", "")
        ),
        format!("[{}, {}, 7, \"text\", [1]]", rec("a", ""), rec("b", "")),
        format!(
            "{{\"NextToken\":\"t\",\"Events\":[{},{{\"EventId\":\"x\"}},{}]}}",
            lookup("a"),
            lookup("c")
        ),
        "{\"Records\":[]}".to_owned(),
        // Broken: truncated inside a record, after one, a missing comma, trailing text.
        format!("{{\"Records\":[{},{}", rec("a", ""), &rec("b", "")[..40]),
        format!("{{\"Records\":[{},", rec("a", "")),
        format!("{{\"Records\":[{} {}]}}", rec("a", ""), rec("b", "")),
        format!("{{\"Records\":[{}]}} extra", rec("a", "")),
        format!("{{\"Records\":[{},]}}", rec("a", "")),
        "{\"Records\":{\"a\":1}}".to_owned(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.json");
    let items = |limit: usize| {
        let mut got = Vec::new();
        let out = logfiles::read_file_with_limit(&path, limit, &mut |i| {
            got.push(match i {
                Item::Record { index, text } => format!("{index} record {text}"),
                Item::Malformed { index, raw, .. } => format!("{index} malformed {raw}"),
            })
        });
        (got, out.error.is_some())
    };
    for doc in &docs {
        std::fs::write(&path, doc).unwrap();
        let (memory, memory_failed) = items(usize::MAX / 2);
        let (streamed, streamed_failed) = items(64);
        assert_eq!(streamed, memory, "{doc}");
        assert_eq!(streamed_failed, memory_failed, "{doc}");
    }
}

#[tokio::test]
async fn filtered_events_are_counted_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let slr = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/fixtures/aws_service_assume_slr.json"),
    )
    .unwrap();
    let scanner = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/denied_scp.json"),
    )
    .unwrap()
    .replace("Developer", "WizScanner")
    .replace("5e07", "5e99");
    let keep = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/denied_scp.json"),
    )
    .unwrap();
    let path = dir.path().join("mixed.jsonl");
    std::fs::write(
        &path,
        format!("{}\n{}\n{}\n", slr.trim(), scanner.trim(), keep.trim()),
    )
    .unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let options = IngestOptions {
        filter: iat_core::NoiseFilter::from_list("Wiz*").unwrap(),
        ..Default::default()
    };
    let s = ingest(&[path], &store, &options, &mut |_| {}).unwrap();
    assert_eq!(s.records, 3);
    assert_eq!(s.stored, 1);
    assert_eq!(s.filtered.get("service_linked_role"), Some(&1));
    assert_eq!(s.filtered.get("role_pattern"), Some(&1));
    assert_eq!(store.stats().await.unwrap().events, 1);
}

fn record_json(id: &str) -> String {
    iat_core::contract::records::RecordSpec::new(id, chrono::Utc::now()).json()
}

#[test]
fn a_gzip_bomb_stops_at_the_file_limit_with_its_reason() {
    // 64 MiB of one record repeated compresses to a few hundred KiB; the reader stops at 4 MiB.
    let dir = tempfile::tempdir().unwrap();
    let one = record_json("bomb");
    let copies = (64 << 20) / (one.len() + 1);
    let mut plain = String::with_capacity(64 << 20);
    plain.push_str("{\"Records\":[");
    for i in 0..copies {
        if i > 0 {
            plain.push(',');
        }
        plain.push_str(&one);
    }
    plain.push_str("]}");
    let path = dir.path().join("bomb.json.gz");
    let compressed = gzip(plain.as_bytes());
    assert!(compressed.len() < plain.len() / 50, "{}", compressed.len());
    std::fs::write(&path, compressed).unwrap();
    let limits = logfiles::ReadLimits {
        whole_file: 1 << 20,
        file_bytes: 4 << 20,
        ..Default::default()
    };
    let mut got = 0;
    let out = logfiles::read_file_with(&path, &limits, &mut |_| got += 1);
    assert!(
        got > 0 && got * one.len() <= 4 << 20,
        "the records before the limit are delivered: {got}"
    );
    assert!(
        out.error
            .as_deref()
            .is_some_and(|e| e.contains("decompresses to more than 4194304 bytes")),
        "{:?}",
        out.error
    );
}

#[test]
fn a_record_longer_than_the_limit_is_never_held_whole() {
    let dir = tempfile::tempdir().unwrap();
    let limits = logfiles::ReadLimits {
        whole_file: 1024,
        record_bytes: 64 * 1024,
        ..Default::default()
    };
    let huge = format!("{{\"eventID\":\"{}\"}}", "x".repeat(8 << 20));
    // JSON Lines: the long line is skipped to its end and reported; the next line is read.
    let lines = dir.path().join("lines.jsonl");
    std::fs::write(
        &lines,
        format!(
            "{}\n{huge}\n{}\n",
            record_json("line-1"),
            record_json("line-3")
        ),
    )
    .unwrap();
    let mut got = Vec::new();
    let out = logfiles::read_file_with(&lines, &limits, &mut |i| got.push(i));
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(got.len(), 3);
    match &got[1] {
        Item::Malformed { index, reason, raw } => {
            assert_eq!(*index, 2);
            assert!(reason.contains("longer than 65536 bytes"), "{reason}");
            assert!(raw.len() <= 1024, "only its first bytes are kept");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&got[2], Item::Record { index: 3, .. }));
    // A trail file streamed: the long element stops the file, naming why.
    let trail = dir.path().join("trail.json");
    std::fs::write(
        &trail,
        format!(
            "{{\"Records\":[{},{huge},{}]}}",
            record_json("el-1"),
            record_json("el-3")
        ),
    )
    .unwrap();
    let mut got = Vec::new();
    let out = logfiles::read_file_with(&trail, &limits, &mut |i| got.push(i));
    assert_eq!(got.len(), 1);
    assert!(
        out.error
            .as_deref()
            .is_some_and(|e| e.contains("longer than 65536 bytes")),
        "{:?}",
        out.error
    );
}

/// One file over the split size, read by several parser threads: every record is counted once,
/// stored once or quarantined, exactly as one thread reads it.
#[test]
fn a_large_file_split_across_threads_stores_what_one_thread_stores() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("export.jsonl");
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 5 << 20 {
        n += 1;
        if n % 1000 == 0 {
            text.push_str("{\"not\": \"a record\"}\n");
        }
        text.push_str(&record_json(&format!("00000000-0000-4000-8000-{n:012}")));
        text.push('\n');
    }
    std::fs::write(&big, text).unwrap();
    let small = fixture("records.jsonl");
    let mut results = Vec::new();
    for threads in [1, 3] {
        let store = SqliteStore::open(&dir.path().join(format!("t{threads}.db"))).unwrap();
        let options = IngestOptions {
            threads,
            batch_size: 500,
            ..IngestOptions::default()
        };
        let s = ingest(&[big.clone(), small.clone()], &store, &options, &mut |_| {}).unwrap();
        let mut ids = event_ids(&store);
        ids.sort();
        assert_eq!(ids.len() as u64, s.stored, "{threads} threads");
        results.push((s.files, s.records, s.stored, s.duplicates, s.malformed, ids));
    }
    let (files, records, stored, duplicates, malformed, _) = &results[0];
    assert_eq!(*files, 2);
    // The non-records, and the fixture's own malformed line.
    assert_eq!(*malformed, (n / 1000) as u64 + 1);
    assert!(*stored >= n as u64 - *malformed, "{stored} of {n}");
    assert_eq!(*records, *stored + *duplicates + *malformed);
    assert_eq!(results[0], results[1]);
}

#[test]
fn the_identity_scope_stores_what_the_rules_read_and_counts_the_rest() {
    use iat_core::contract::records::RecordSpec;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut text = String::new();
    for i in 0..30 {
        let (source, name) = match i % 3 {
            0 => ("iam.amazonaws.com", "CreateUser"),
            1 => ("ec2.amazonaws.com", "DescribeInstances"),
            _ => ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        };
        text.push_str(
            &RecordSpec::new(&format!("scope-{i}"), t0)
                .name(source, name)
                .json(),
        );
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let options = IngestOptions {
        scope: iat_core::scope::IngestScope::Identity,
        ..IngestOptions::default()
    };
    let s = ingest(std::slice::from_ref(&path), &store, &options, &mut |_| {}).unwrap();
    assert_eq!((s.records, s.stored, s.out_of_scope), (30, 20, 10), "{s:?}");
    let all = SqliteStore::in_memory().unwrap();
    let s = run(&[path], &all);
    assert_eq!((s.stored, s.out_of_scope), (30, 0), "{s:?}");
}
