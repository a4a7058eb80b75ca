//! The first-seen rules as a user meets them: `iat alerts` learns from history quietly, then
//! alerts once on what is new, and `iat seen` shows what it remembers.

use std::io::Write;

use chrono::{Duration, Utc};
use iat_core::contract::records::RecordSpec;
use iat_e2e::iat;

fn write_jsonl(path: &std::path::Path, records: &[RecordSpec]) {
    let mut f = std::fs::File::create(path).unwrap();
    for r in records {
        writeln!(f, "{}", r.json()).unwrap();
    }
}

fn alerts_in(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rule_ids(alerts: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = alerts
        .iter()
        .map(|a| {
            a["attributes"]["rule_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn history_teaches_quietly_then_what_is_new_alerts_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("iat.db").display());
    let now = Utc::now();
    // A month of alice's routine: IAM writes from the office, in us-east-1 and eu-west-1.
    let history: Vec<RecordSpec> = (0..30)
        .map(|d| {
            RecordSpec::new(&format!("h{d}"), now - Duration::days(30 - d))
                .name("iam.amazonaws.com", "TagUser")
                .place(
                    "111122223333",
                    if d % 2 == 0 { "us-east-1" } else { "eu-west-1" },
                )
        })
        .chain([
            // Ten days ago, after the learning period: a new service, region and network. Old
            // enough at evaluation time to only teach; alerting on it would be a backfill
            // alerting.
            RecordSpec::new("h-late", now - Duration::days(10))
                .name("sns.amazonaws.com", "CreateTopic")
                .place("111122223333", "ap-northeast-1")
                .ip("192.0.2.77"),
        ])
        .collect();
    write_jsonl(&dir.path().join("history.jsonl"), &history);
    iat([
        "--store",
        &db,
        "ingest",
        &dir.path().join("history.jsonl").display().to_string(),
    ])
    .unwrap();
    let sent = dir.path().join("alerts.jsonl");
    let notify = format!("jsonl:{}", sent.display());
    iat(["--store", &db, "alerts", "--notify", &notify]).unwrap();
    assert!(
        rule_ids(&alerts_in(&sent)).iter().all(|r| ![
            "first_service_use",
            "first_region_use",
            "new_network_for_principal"
        ]
        .contains(&r.as_str())),
        "history only teaches: {:?}",
        rule_ids(&alerts_in(&sent))
    );

    // Today: a new service from a new network, a new region, and a first denial.
    let fresh = now - Duration::hours(1);
    let today = vec![
        RecordSpec::new("n1", fresh)
            .name("secretsmanager.amazonaws.com", "PutSecretValue")
            .ip("198.51.100.23"),
        RecordSpec::new("n2", fresh + Duration::minutes(1))
            .name("secretsmanager.amazonaws.com", "DeleteSecret")
            .ip("198.51.100.24"),
        RecordSpec::new("n3", fresh)
            .name("iam.amazonaws.com", "TagUser")
            .place("111122223333", "ap-southeast-3"),
        RecordSpec::new("n4", fresh)
            .name("kms.amazonaws.com", "ScheduleKeyDeletion")
            .error(
                "AccessDeniedException",
                "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:ScheduleKeyDeletion with an explicit deny in a service control policy",
            ),
    ];
    write_jsonl(&dir.path().join("today.jsonl"), &today);
    iat([
        "--store",
        &db,
        "ingest",
        &dir.path().join("today.jsonl").display().to_string(),
    ])
    .unwrap();
    std::fs::remove_file(&sent).ok();
    iat(["--store", &db, "alerts", "--notify", &notify]).unwrap();
    let first: Vec<String> = rule_ids(&alerts_in(&sent))
        .into_iter()
        .filter(|r| r.starts_with("first_") || r.starts_with("new_network"))
        .collect();
    assert_eq!(
        first,
        [
            "first_denied_action",
            "first_region_use",
            "first_service_use",
            "new_network_for_principal"
        ],
        "each new thing once; the second secretsmanager call and the second address of the /24 are not new"
    );

    // Again, and from the beginning: nothing is sent twice.
    std::fs::remove_file(&sent).ok();
    iat(["--store", &db, "alerts", "--notify", &notify]).unwrap();
    iat(["--store", &db, "alerts", "--all", "--notify", &notify]).unwrap();
    assert!(alerts_in(&sent).is_empty(), "{:?}", alerts_in(&sent));

    let seen = iat([
        "--store",
        &db,
        "seen",
        "arn:aws:iam::111122223333:user/alice",
        "--format",
        "json",
    ])
    .unwrap()
    .stdout;
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    let has = |kind: &str, value: &str| {
        seen["seen"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == kind && s["value"] == value)
    };
    assert!(has("service", "secretsmanager.amazonaws.com"), "{seen}");
    assert!(has("network", "198.51.100.0/24") && has("network", "203.0.113.0/24"));
    assert!(has("action", "iam:TagUser"));
    assert!(
        has("service", "sns.amazonaws.com") && has("network", "192.0.2.0/24"),
        "what history taught is kept: {seen}"
    );
    let account = iat(["--store", &db, "seen", "111122223333"])
        .unwrap()
        .stdout;
    assert!(
        account.contains("ap-southeast-3") && account.contains("ap-northeast-1"),
        "{account}"
    );
    let bad = iat(["--store", &db, "seen", "alice"]).unwrap_err();
    assert!(bad.contains("ARN"), "{bad}");
}
