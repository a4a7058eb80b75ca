//! `iat demo` works from nothing, finds every planted scenario and raises its alerts.

use std::process::ExitCode;

use iat_e2e::iat;

#[test]
fn demo_generates_ingests_and_finds_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo").display().to_string();
    for _ in 0..2 {
        // Twice: a second run replaces the first.
        let run = iat([
            "demo",
            "--events",
            "3000",
            "--dir",
            &demo,
            "--no-progress",
            "--day",
            "2026-03-03",
        ])
        .unwrap();
        assert_eq!(run.code, ExitCode::SUCCESS);
        let out = &run.stdout;
        assert!(out.contains("Generated 2026-03-03"), "{out}");
        // The organisation view: every account, named, with its events and denials.
        let labels =
            iat_sim::Labels::read(&std::path::Path::new(&demo).join("logs/labels.json")).unwrap();
        let view = out
            .split(", by account (")
            .nth(1)
            .unwrap_or_else(|| panic!("no organisation view: {out}"));
        for account in &labels.accounts {
            let name = &labels.account_names[account];
            assert!(
                view.lines()
                    .any(|l| l.contains(account.as_str()) && l.contains(name.as_str())),
                "{account} ({name}) not in the organisation view: {view}"
            );
        }
        assert!(
            out.contains("duplicates                 0"),
            "a fresh database each run: {out}"
        );
        assert!(out.contains("root_activity"), "{out}");
        assert!(out.contains("52 alerts from 80 rule hits"), "{out}");
        assert!(
            out.contains("[CRITICAL] Root user console sign-in: root in"),
            "{out}"
        );
        let sent =
            iat_local::notify::JsonlNotifier::read(&dir.path().join("demo/alerts.jsonl")).unwrap();
        assert_eq!(sent.len(), 7, "six criticals and one digest");
        assert!(out.contains("service control policy"), "{out}");
        assert!(out.contains("denied_vpc_endpoint_policy"), "{out}");
        assert!(!out.contains(" 0/"), "every scenario found: {out}");
    }
}
