//! Fuzzing the trail-file reader for a fixed budget (`IAT_FUZZ_EXECS`, 20,000 by default;
//! `IAT_FUZZ_SEED`): whatever a file holds — broken JSON, broken gzip, huge lines — reading it
//! never panics, and every record it hands out is text the normaliser can be given.

use std::io::Write;

use iat_core::contract::fuzz::{budget_from_env, fuzz};
use iat_local::logfiles::{self, Item, ReadLimits};

fn corpus() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    // Gzip versions too, so mutations reach the decompressor's error paths.
    let gz: Vec<Vec<u8>> = out
        .iter()
        .map(|plain| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(plain).unwrap();
            enc.finish().unwrap()
        })
        .collect();
    out.extend(gz);
    out
}

#[test]
fn no_file_panics_the_trail_file_reader() {
    let (execs, seed) = budget_from_env();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    // Small limits, so the streamed and capped paths are taken as often as the in-memory one.
    let limits = ReadLimits {
        whole_file: 2_048,
        file_bytes: 1 << 20,
        record_bytes: 16 * 1024,
    };
    let target = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let mut items = 0;
        let out = logfiles::read_file_with(&path, &limits, &mut |item| {
            items += 1;
            if let Item::Record { text, .. } = item {
                assert!(text.len() <= (1 << 20), "a record over the file limit");
                let _ = iat_core::normalize(text, &iat_core::RecordLimits::default());
            }
        });
        assert_eq!(out.items, items, "every item is counted");
    };
    let r = fuzz("trail-file", &corpus(), &target, execs, seed);
    assert_eq!(r.execs, execs);
    r.assert_clean();
}
