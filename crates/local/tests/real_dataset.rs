//! Real CloudTrail data (the shared datasets beside the repository), when present.
//!
//! Skips when the datasets are absent, as in a user's fresh clone. Set `IAT_SHARED_DIR` to point
//! elsewhere.

use std::path::PathBuf;

use iat_core::{DenialLayer, PrincipalType, RecordLimits, normalize};
use iat_local::SqliteStore;
use iat_local::ingest::{IngestOptions, ingest};
use iat_local::logfiles::{self, Item};

fn dataset() -> Option<PathBuf> {
    iat_sim::emulators::real_cloudtrail_dir()
}

#[test]
fn every_real_record_parses_and_normalises() {
    let Some(dir) = dataset() else { return };
    let found = logfiles::discover(&[dir]);
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    assert_eq!(found.files.len(), 55);
    let mut records = 0;
    let mut failures = Vec::new();
    let mut unknown_version = 0;
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut denied = 0;
    let mut identity_layer = 0;
    for (path, _) in &found.files {
        let out = logfiles::read_file(path, &mut |item| match item {
            Item::Record { text, .. } => {
                records += 1;
                match normalize(text, &RecordLimits::default()) {
                    Ok(n) => {
                        unknown_version += usize::from(n.unknown_version);
                        let e = n.event;
                        *kinds
                            .entry(e.principal.kind.as_str().to_owned())
                            .or_default() += 1;
                        assert!(!e.principal.actor.is_empty());
                        assert!(
                            e.account.is_some(),
                            "{}: every real record has an account",
                            e.id
                        );
                        if let Some(d) = e.denial {
                            denied += 1;
                            if d.layer == DenialLayer::IdentityPolicy {
                                identity_layer += 1;
                            }
                        }
                        if e.principal.kind == PrincipalType::AssumedRole {
                            assert!(
                                e.principal.actor.contains('/'),
                                "{}: role/session",
                                e.principal.actor
                            );
                        }
                    }
                    Err(r) => failures.push(format!("{}: {}", path.display(), r.error)),
                }
            }
            Item::Malformed { reason, .. } => failures.push(reason),
        });
        assert!(out.error.is_none(), "{}: {:?}", path.display(), out.error);
    }
    eprintln!("records {records}, principal types {kinds:?}, denied {denied}");
    assert_eq!(records, 2900);
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(unknown_version, 0, "1.08 and 1.09 are known versions");
    assert_eq!(kinds.get("IAMUser"), Some(&2748));
    assert_eq!(kinds.get("AssumedRole"), Some(&76));
    assert_eq!(kinds.get("AWSService"), Some(&34));
    assert_eq!(
        kinds.get("Unknown"),
        Some(&42),
        "records with no userIdentity.type"
    );
    // 17 AccessDenied and 43 Client.UnauthorizedOperation (EC2's encoded messages). Only the
    // organizations:LeaveOrganization denial names its layer ("no identity-based policy allows").
    assert_eq!(denied, 60);
    assert_eq!(identity_layer, 1);
}

#[test]
fn real_files_ingest_once() {
    let Some(dir) = dataset() else { return };
    let store = SqliteStore::in_memory().unwrap();
    let s = ingest(
        std::slice::from_ref(&dir),
        &store,
        &IngestOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        (s.files, s.records, s.malformed, s.files_failed),
        (55, 2900, 0, 0)
    );
    assert!(
        s.filtered_total() > 0,
        "service-linked-role activity is in the data"
    );
    assert_eq!(s.stored + s.duplicates + s.filtered_total(), 2900);
    let again = ingest(&[dir], &store, &IngestOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(again.stored, 0);
    assert_eq!(again.duplicates, s.stored + s.duplicates);
}
