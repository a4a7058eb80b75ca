//! Fuzzing the readers of outside input for a fixed budget (`IAT_FUZZ_EXECS` per target, 20,000
//! by default; `IAT_FUZZ_SEED` to vary or replay): no input may panic the normaliser, the rules,
//! the alert text or the policy reader.

use iat_core::contract::fuzz::{
    FuzzReport, fuzz, policy_corpus, policy_target, record_corpus, record_target,
};

fn budget() -> (u64, u64) {
    let num = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
        })
    };
    (num("IAT_FUZZ_EXECS", 20_000), num("IAT_FUZZ_SEED", 1))
}

fn assert_clean(r: &FuzzReport) {
    println!(
        "{}: {} executions, {} crashes",
        r.target,
        r.execs,
        r.crashes.len()
    );
    assert!(
        r.crashes.is_empty(),
        "{} crashes of {}; first: {:?}",
        r.crashes.len(),
        r.target,
        r.crashes.first()
    );
}

#[test]
fn no_record_panics_the_normaliser_the_rules_or_the_alert_text() {
    let (execs, seed) = budget();
    let r = fuzz("record", &record_corpus(), &record_target, execs, seed);
    assert_eq!(r.execs, execs);
    assert_clean(&r);
}

#[test]
fn no_policy_document_panics_the_policy_reader() {
    let (execs, seed) = budget();
    let r = fuzz("policy", &policy_corpus(), &policy_target, execs, seed);
    assert_eq!(r.execs, execs);
    assert_clean(&r);
}
