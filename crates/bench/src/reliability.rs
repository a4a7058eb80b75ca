//! Reliability figures: the collector's model check over many schedules, and the fuzzers'
//! executions, each with what it found (the goals are zero).

use std::time::Instant;

use iat_core::contract::fuzz::{fuzz, policy_corpus, policy_target, record_corpus, record_target};
use iat_local::logfiles;

use crate::Figure;

pub(crate) fn benchmark(schedules: u64, fuzz_execs: u64) -> anyhow::Result<Vec<Figure>> {
    let started = Instant::now();
    let (stats, violations) = iat_tracker::model::check_schedules(0, schedules);
    let model_s = started.elapsed().as_secs_f64();
    for v in violations.iter().take(5) {
        eprintln!("model violation: {v}");
    }
    let note = format!(
        "seeds 0..{schedules} of the collector's model check ({model_s:.0} s): {} runs, {} checkpoint saves checked, {} requests, {} throttled, {} failed, {} windows cut by deadlines, {} crashes, {} racing runs, {} late and {} duplicate deliveries over {} events",
        stats.runs,
        stats.checks,
        stats.requests,
        stats.throttled,
        stats.failed_requests,
        stats.windows_cut,
        stats.crashes,
        stats.concurrent_runs,
        stats.late_deliveries,
        stats.duplicate_deliveries,
        stats.events
    );
    let mut figures = vec![
        Figure {
            metric: "reliability.model_schedules_checked",
            value: stats.schedules as f64,
            unit: "schedules",
            goal: ">= 10000",
            note: note.clone(),
        },
        Figure {
            metric: "reliability.model_violations",
            value: violations.len() as f64,
            unit: "schedules",
            goal: "0",
            note,
        },
    ];

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("input");
    let limits = logfiles::ReadLimits {
        whole_file: 2_048,
        file_bytes: 1 << 20,
        record_bytes: 16 * 1024,
    };
    let trail_target = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write the fuzz input");
        logfiles::read_file_with(&path, &limits, &mut |_| {});
    };
    let trail_corpus: Vec<Vec<u8>> = record_corpus()
        .into_iter()
        .map(|r| {
            let mut file = b"{\"Records\":[".to_vec();
            file.extend_from_slice(&r);
            file.extend_from_slice(b"]}");
            file
        })
        .collect();
    let started = Instant::now();
    let reports = [
        fuzz("record", &record_corpus(), &record_target, fuzz_execs, 1),
        fuzz("policy", &policy_corpus(), &policy_target, fuzz_execs, 1),
        fuzz("trail-file", &trail_corpus, &trail_target, fuzz_execs, 1),
    ];
    let fuzz_s = started.elapsed().as_secs_f64();
    let execs: u64 = reports.iter().map(|r| r.execs).sum();
    let crashes: usize = reports.iter().map(|r| r.crashes.len()).sum();
    for c in reports.iter().flat_map(|r| r.crashes.iter().take(3)) {
        eprintln!("fuzz crash: {c:?}");
    }
    let note = format!(
        "seeded mutation fuzzing, seed 1, {fuzz_execs} executions each of {} ({fuzz_s:.0} s); crashes: {}",
        reports
            .iter()
            .map(|r| r.target)
            .collect::<Vec<_>>()
            .join(", "),
        reports
            .iter()
            .map(|r| format!("{} {}", r.target, r.crashes.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    figures.push(Figure {
        metric: "reliability.fuzz_execs",
        value: execs as f64,
        unit: "executions",
        goal: "",
        note: note.clone(),
    });
    figures.push(Figure {
        metric: "reliability.fuzz_crashes",
        value: crashes as f64,
        unit: "crashes",
        goal: "0",
        note,
    });
    Ok(figures)
}
