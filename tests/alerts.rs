//! `iat rules` and `iat alerts` as a user runs them: list the rules, test them on log files,
//! and send alerts for new events once, retrying what failed.

use std::process::ExitCode;

use iat_e2e::iat;
use iat_sim::{OrgConfig, generate};

fn generated(dir: &std::path::Path) -> (iat_sim::Labels, String, String) {
    let logs = dir.join("logs");
    let labels = generate(
        &OrgConfig {
            background_events: 2_000,
            ..OrgConfig::default()
        },
        &logs,
    )
    .unwrap();
    let trail = logs.join("AWSLogs").display().to_string();
    let db = dir.join("iat.db").display().to_string();
    (labels, trail, db)
}

#[test]
fn rules_list_shows_every_rule_and_honours_settings() {
    let run = iat(["rules", "list", "--format", "json"]).unwrap();
    let rules: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        rules.len(),
        iat_core::rules::ALL.len() + iat_core::rules::FIRST_SEEN.len()
    );
    let root = rules
        .iter()
        .find(|r| r["id"] == "root_console_login")
        .unwrap();
    assert_eq!(root["severity"], "critical");
    assert_eq!(root["events"], serde_json::json!(["signin:ConsoleLogin"]));
    let tuned = iat([
        "rules",
        "list",
        "--format",
        "json",
        "--set",
        "DISABLED_RULES=off_hours_activity",
        "--set",
        "SEVERITY_OVERRIDES=access_denied=low",
    ])
    .unwrap();
    let tuned: Vec<serde_json::Value> = serde_json::from_str(&tuned.stdout).unwrap();
    assert_eq!(tuned.len(), rules.len() - 1);
    assert_eq!(
        tuned.iter().find(|r| r["id"] == "access_denied").unwrap()["severity"],
        "low"
    );
    let bad = iat(["rules", "list", "--set", "EXPECTED_NETWORKS=10.0.0.0/99"]).unwrap_err();
    assert!(
        bad.contains("EXPECTED_NETWORKS") && bad.contains("10.0.0.0/99"),
        "{bad}"
    );
    let unknown = iat(["rules", "list", "--set", "NOT_A_SETTING=1"]).unwrap_err();
    assert!(unknown.contains("no such setting"), "{unknown}");
    let table = iat(["rules", "list"]).unwrap().stdout;
    assert!(
        table.contains("trust_policy_external") && table.contains("29 rules enabled"),
        "{table}"
    );
}

#[test]
fn rules_test_prints_one_line_per_event_with_the_rules_that_fired() {
    let dir = tempfile::tempdir().unwrap();
    let (labels, trail, _) = generated(dir.path());
    let mut args = vec![
        "rules".to_owned(),
        "test".to_owned(),
        trail.clone(),
        "--format".to_owned(),
        "jsonl".to_owned(),
    ];
    for (name, value) in labels.rule_settings() {
        args.push("--set".into());
        args.push(format!("{name}={value}"));
    }
    let run = iat(args).unwrap();
    assert_eq!(run.code, ExitCode::SUCCESS);
    let lines: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len() as u64,
        labels.background_events + labels.scenario_events
    );
    let raised: std::collections::BTreeSet<iat_sim::ExpectedAlert> = lines
        .iter()
        .flat_map(|l| {
            let id = l["event_id"].as_str().unwrap().to_owned();
            l["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| iat_sim::ExpectedAlert {
                    event_id: id.clone(),
                    rule_id: r.as_str().unwrap().to_owned(),
                })
        })
        .collect();
    let score = labels.score_alerts(&raised);
    assert_eq!((score.precision, score.recall), (1.0, 1.0), "{score:?}");

    let text = iat(["rules", "test", &trail]).unwrap().stdout;
    assert!(
        text.contains("[CRITICAL] CloudTrail tampering") && text.contains("What to check:"),
        "{text}"
    );
    let missing = iat(["rules", "test", "/no/such/file.json"]).unwrap();
    assert_eq!(missing.code, ExitCode::from(1));
}

#[test]
fn alerts_are_sent_once_and_a_failed_send_is_retried_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, trail, db) = generated(dir.path());
    assert!(
        iat(["--db", &db, "alerts"])
            .unwrap_err()
            .contains("iat ingest"),
        "no database yet"
    );
    iat(["--db", &db, "ingest", &trail, "--no-progress"]).unwrap();

    // A webhook nobody listens on: the run fails, says so, and remembers nothing as sent.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("webhook:http://{}/hook", dead.local_addr().unwrap());
    drop(dead);
    let failed = iat(["--db", &db, "alerts", "--notify", &url]).unwrap();
    assert_eq!(failed.code, ExitCode::from(1));

    let jsonl = dir.path().join("alerts.jsonl");
    let notify = format!("jsonl:{}", jsonl.display());
    let first = iat(["--db", &db, "alerts", "--notify", &notify]).unwrap();
    assert_eq!(first.code, ExitCode::SUCCESS, "{}", first.stdout);
    let sent = iat_local::notify::JsonlNotifier::read(&jsonl).unwrap();
    assert!(
        sent.len() >= 2 && sent.iter().any(|n| n.attributes["rule_id"] == "digest"),
        "{}",
        first.stdout
    );
    let again = iat(["--db", &db, "alerts", "--notify", &notify]).unwrap();
    assert!(
        again.stdout.starts_with("0 events evaluated"),
        "{}",
        again.stdout
    );
    let all = iat(["--db", &db, "alerts", "--all", "--notify", &notify]).unwrap();
    assert!(all.stdout.contains(" 0 alerts sent"), "{}", all.stdout);
    assert_eq!(
        iat_local::notify::JsonlNotifier::read(&jsonl)
            .unwrap()
            .len(),
        sent.len(),
        "nothing sent twice"
    );
    let dry = iat(["--db", &db, "alerts", "--all", "--dry-run"])
        .unwrap()
        .stdout;
    assert!(dry.contains("alerts would be raised"), "{dry}");
}
