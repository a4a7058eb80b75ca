//! The model check of the collection service (see `iat_tracker::model`): generated schedules of
//! runs, faults, splits and crashes, with "what a checkpoint claims is stored" checked after
//! every save and "stored = delivered" at the end.
//!
//! `make test` checks 2,000 schedules; `IAT_MODEL_SCHEDULES=N` checks more, and
//! `IAT_MODEL_SEED=S` replays one.

use iat_tracker::model::{check_schedule, check_schedules};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
    })
}

#[test]
fn no_schedule_claims_an_event_that_is_not_stored() {
    if let Some(seed) = env_u64("IAT_MODEL_SEED") {
        let stats = check_schedule(seed).unwrap_or_else(|v| panic!("{v}"));
        println!("seed {seed}: {stats:?}");
        return;
    }
    let count = env_u64("IAT_MODEL_SCHEDULES").unwrap_or(2_000);
    let (stats, violations) = check_schedules(0, count);
    println!("{stats:?}");
    assert!(
        violations.is_empty(),
        "{} of {count} schedules broke an invariant; first: {}",
        violations.len(),
        violations
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(stats.schedules, count);
    // The schedules really exercise what they claim to.
    assert!(stats.crashes > count / 20, "{stats:?}");
    assert!(stats.windows_cut > count / 20, "{stats:?}");
    assert!(stats.concurrent_runs > count / 50, "{stats:?}");
    assert!(stats.throttled > count, "{stats:?}");
    assert!(stats.failed_requests > count / 2, "{stats:?}");
    assert!(stats.late_deliveries > count * 5, "{stats:?}");
    assert!(stats.beyond_overlap > count, "{stats:?}");
    assert!(stats.found_by_sweep > count / 2, "{stats:?}");
    assert!(stats.duplicate_deliveries > count, "{stats:?}");
    assert!(stats.checks > count * 5, "{stats:?}");
}
