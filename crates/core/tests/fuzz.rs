//! Fuzzing the readers of outside input for a fixed budget (`IAT_FUZZ_EXECS` per target, 20,000
//! by default; `IAT_FUZZ_SEED` to vary or replay): no input may panic the normaliser, the rules,
//! the alert text or the policy reader.

use iat_core::contract::fuzz::{
    budget_from_env, fuzz, policy_corpus, policy_target, record_corpus, record_target,
};

#[test]
fn no_record_panics_the_normaliser_the_rules_or_the_alert_text() {
    let (execs, seed) = budget_from_env();
    let r = fuzz("record", &record_corpus(), &record_target, execs, seed);
    assert_eq!(r.execs, execs);
    r.assert_clean();
}

#[test]
fn no_policy_document_panics_the_policy_reader() {
    let (execs, seed) = budget_from_env();
    let r = fuzz("policy", &policy_corpus(), &policy_target, execs, seed);
    assert_eq!(r.execs, execs);
    r.assert_clean();
}
