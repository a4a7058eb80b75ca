//! `iat demo` works from nothing, and finds every planted scenario.

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
        assert!(
            out.contains("duplicates                 0"),
            "a fresh database each run: {out}"
        );
        assert!(out.contains("Root user activity"), "{out}");
        assert!(out.contains("service control policy"), "{out}");
        assert!(out.contains("denied_vpc_endpoint_policy"), "{out}");
        assert!(!out.contains(" 0/"), "every scenario found: {out}");
    }
}
