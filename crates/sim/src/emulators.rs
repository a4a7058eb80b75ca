//! Finding the emulators (and the shared real-data sets) a test needs, the way `make test`
//! provides them.
//!
//! `make test` starts moto and sets `IAT_TEST_MOTO_ENDPOINT`, and sets `IAT_REQUIRE_EMULATORS`
//! so that a missing emulator fails the run instead of skipping. A test run alone (`cargo test`)
//! skips what needs moto.

/// moto's URL, or `None` (with a note on stderr) when the test should skip.
///
/// # Panics
/// When emulators are required but moto's endpoint is not set.
pub fn moto_endpoint() -> Option<String> {
    match std::env::var("IAT_TEST_MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            assert!(
                std::env::var_os("IAT_REQUIRE_EMULATORS").is_none(),
                "IAT_REQUIRE_EMULATORS is set but IAT_TEST_MOTO_ENDPOINT is not"
            );
            eprintln!("skipped: no moto endpoint (run `make test`)");
            None
        }
    }
}

/// The real CloudTrail files of the shared datasets beside the repository (or under
/// `IAT_SHARED_DIR`), when present; tests that use them skip otherwise, as in a fresh clone.
pub fn real_cloudtrail_dir() -> Option<std::path::PathBuf> {
    let shared = std::env::var_os("IAT_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    let dir = shared.join("datasets/invictus-aws-dataset/CloudTrail");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}
