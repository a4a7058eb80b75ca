//! Finding the emulators (and the shared real-data sets) a test needs, the way `make test`
//! provides them.
//!
//! Tests that need moto are marked `#[ignore = "needs moto: run `make test`"]`, so a plain
//! `cargo test` lists them as ignored, never as passed. `make test` starts moto, sets
//! `IAT_TEST_MOTO_ENDPOINT` and runs the ignored tests too; such a test asks for the endpoint
//! with [`moto_endpoint`], which fails it when moto is missing.

/// moto's URL, as `make test` provides it.
///
/// # Panics
/// When `IAT_TEST_MOTO_ENDPOINT` is not set: the test was run without moto.
pub fn moto_endpoint() -> String {
    moto_endpoint_if_running().expect(
        "IAT_TEST_MOTO_ENDPOINT is not set: this test needs moto; run it through `make test`",
    )
}

/// moto's URL when one is running (for the benchmarks, which measure what they can).
pub fn moto_endpoint_if_running() -> Option<String> {
    std::env::var("IAT_TEST_MOTO_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
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
