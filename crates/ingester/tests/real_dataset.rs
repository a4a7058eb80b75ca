//! The ingester over real trail files (the shared datasets beside the repository), when
//! present: every file read, every record accounted for, and the identity scope drops no event
//! a rule alerts on.
//!
//! Skips when the datasets are absent, as in a user's fresh clone.

use std::collections::BTreeSet;
use std::io::Write;

use iat_core::ports::{EventQuery, EventStore, MemoryEventStore, MemoryObjectSource};
use iat_core::rules::RuleSet;
use iat_core::scope::IngestScope;
use iat_ingester::{IngestSettings, Message, handle_messages};

#[tokio::test]
async fn real_files_are_read_whole_and_the_identity_scope_keeps_every_alerting_event() {
    let Some(dir) = iat_sim::emulators::real_cloudtrail_dir() else {
        return;
    };
    let source = MemoryObjectSource::new();
    let mut messages = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for (i, path) in names.iter().enumerate() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&std::fs::read(path).unwrap()).unwrap();
        let file = path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".json", ".json.gz");
        let key =
            format!("AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2023/07/10/{file}");
        source.insert("trail", &key, gz.finish().unwrap());
        messages.push(Message {
            id: format!("m{i}"),
            body: serde_json::json!({"s3Bucket": "trail", "s3ObjectKey": [key]}).to_string(),
        });
    }
    assert_eq!(messages.len(), 55);

    let (all, identity) = (MemoryEventStore::new(), MemoryEventStore::new());
    let wide = IngestSettings {
        scope: IngestScope::All,
        ..IngestSettings::default()
    };
    let r_all = handle_messages(&messages, &source, &all, &wide, None).await;
    let r_id = handle_messages(
        &messages,
        &source,
        &identity,
        &IngestSettings::default(),
        None,
    )
    .await;
    for r in [&r_all, &r_id] {
        assert!(r.failed.is_empty(), "{r:?}");
        assert_eq!(r.files, 55);
        assert_eq!(r.totals.records, 2_900, "{r:?}");
        assert_eq!(
            r.totals.stored
                + r.totals.duplicates
                + r.totals.out_of_scope
                + r.totals.filtered
                + r.totals.quarantined,
            r.totals.records,
            "{r:?}"
        );
    }
    assert_eq!(r_all.totals.out_of_scope, 0);
    // The attack simulation's identity activity is kept; its background reads mostly are not.
    assert!(
        r_id.totals.stored > 0 && r_id.totals.out_of_scope > 0,
        "{r_id:?}"
    );
    eprintln!(
        "identity scope kept {} of {} stored events ({:.0}%)",
        r_id.totals.stored,
        r_all.totals.stored,
        100.0 * r_id.totals.stored as f64 / r_all.totals.stored as f64
    );

    let everything = all.query(&EventQuery::default()).await.unwrap();
    let kept: BTreeSet<String> = identity
        .query(&EventQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.as_str().to_owned())
        .collect();
    let rules = RuleSet::default_rules();
    let hits = rules.evaluate_all(&everything);
    assert!(!hits.is_empty(), "the attack simulation raises alerts");
    let missed: Vec<String> = hits
        .iter()
        .filter(|h| !kept.contains(h.event.id.as_str()) && h.rule.id != "off_hours_activity")
        .map(|h| format!("{} {} {}", h.rule.id, h.event.source, h.event.name))
        .collect();
    assert!(
        missed.is_empty(),
        "the identity scope dropped alerting events: {missed:?}"
    );
}
