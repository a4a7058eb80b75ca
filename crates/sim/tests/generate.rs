//! The generator: deterministic, realistic, labelled.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use chrono::NaiveDate;
use iat_core::{NoiseFilter, RecordLimits, normalize};
use iat_sim::{OrgConfig, generate};

fn config() -> OrgConfig {
    OrgConfig {
        seed: 7,
        day: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
        accounts: 4,
        background_events: 3_000,
        utc_offset_hours: 1,
    }
}

/// Every record in every generated file, with the file's relative path.
fn records(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in walk(root) {
        if !entry.to_string_lossy().ends_with(".json.gz") {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&entry).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rel = entry
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for r in doc["Records"].as_array().unwrap() {
            out.push((rel.clone(), r.to_string()));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(&config(), a.path()).unwrap();
    generate(&config(), b.path()).unwrap();
    generate(
        &OrgConfig {
            seed: 8,
            ..config()
        },
        c.path(),
    )
    .unwrap();
    let files_a = walk(a.path());
    let files_b = walk(b.path());
    assert_eq!(files_a.len(), files_b.len());
    for (fa, fb) in files_a.iter().zip(&files_b) {
        assert_eq!(
            fa.strip_prefix(a.path()).unwrap(),
            fb.strip_prefix(b.path()).unwrap()
        );
        assert_eq!(
            std::fs::read(fa).unwrap(),
            std::fs::read(fb).unwrap(),
            "{}",
            fa.display()
        );
    }
    assert_ne!(
        std::fs::read(a.path().join("labels.json")).unwrap(),
        std::fs::read(c.path().join("labels.json")).unwrap()
    );
}

#[test]
fn records_are_real_shaped_and_labels_point_at_them() {
    let dir = tempfile::tempdir().unwrap();
    let labels = generate(&config(), dir.path()).unwrap();
    let all = records(dir.path());
    assert_eq!(
        all.len() as u64,
        labels.background_events + labels.scenario_events
    );
    assert!(
        labels.files > 50,
        "one file per account, region and five minutes: {}",
        labels.files
    );

    let mut ids = BTreeSet::new();
    let mut regions = BTreeSet::new();
    let mut principal_types = BTreeMap::<String, usize>::new();
    let mut filtered = 0;
    let filter = NoiseFilter::default();
    for (file, raw) in &all {
        let e = normalize(raw.clone(), &RecordLimits::default())
            .unwrap_or_else(|r| panic!("{file}: {}", r.error))
            .event;
        let account = e.account.as_ref().unwrap().to_string();
        // One planted record has an anonymised region (kept and flagged); it is filed under
        // the region its stream is read from.
        let region = if e.unusual.is_empty() {
            e.region.as_str()
        } else {
            assert_eq!(e.unusual, ["awsRegion"], "{file}");
            "us-east-1"
        };
        assert!(
            file.starts_with(&format!(
                "AWSLogs/{}/{account}/CloudTrail/{region}/2026/03/0",
                labels.organization_id
            )),
            "{file} holds {} of {account}",
            e.region
        );
        assert!(ids.insert(e.id.to_string()), "event ids are unique");
        regions.insert(region.to_owned());
        *principal_types
            .entry(e.principal.kind.as_str().to_owned())
            .or_default() += 1;
        if e.source == "iam.amazonaws.com" {
            assert_eq!(region, "us-east-1", "IAM is recorded in us-east-1");
        }
        filtered += usize::from(filter.classify(&e).is_some());
    }
    assert!(regions.len() >= 10, "activity in many regions: {regions:?}");
    for kind in [
        "IAMUser",
        "AssumedRole",
        "Root",
        "AWSService",
        "IdentityCenterUser",
    ] {
        assert!(
            principal_types.contains_key(kind),
            "{kind} in {principal_types:?}"
        );
    }
    assert!(
        filtered > 50,
        "service-linked-role noise is generated: {filtered}"
    );

    let scenario_ids = labels.scenario_event_ids();
    assert_eq!(
        scenario_ids.len() as u64,
        labels.scenario_events,
        "each scenario event is labelled once"
    );
    for id in &scenario_ids {
        assert!(ids.contains(*id), "labelled event {id} exists");
    }
    let kinds: BTreeSet<&str> = labels.scenarios.iter().map(|s| s.kind.as_str()).collect();
    for kind in [
        "root_console_login_mfa",
        "root_console_login_no_mfa",
        "iam_user_and_access_key_created",
        "admin_policy_attached_to_role",
        "inline_policy_allow_all_role",
        "trust_policy_other_account",
        "trust_policy_anyone",
        "mfa_deactivated",
        "identity_center_permission_set_changes",
        "security_group_open_to_world",
        "console_login_unexpected_network",
        "off_hours_activity",
        "cloudtrail_stopped",
        "denied_service_control_policy",
        "denied_resource_control_policy",
        "denied_permissions_boundary",
        "denied_session_policy",
        "denied_identity_policy",
        "denied_resource_policy",
        "denied_vpc_endpoint_policy",
        "denied_unknown",
    ] {
        assert!(kinds.contains(kind), "scenario {kind} is planted");
    }
}

#[test]
fn background_is_benign() {
    let dir = tempfile::tempdir().unwrap();
    let labels = generate(&config(), dir.path()).unwrap();
    let scenario_ids = labels.scenario_event_ids();
    for (_, raw) in records(dir.path()) {
        let e = normalize(raw, &RecordLimits::default()).unwrap().event;
        if scenario_ids.contains(e.id.as_str()) {
            continue;
        }
        assert!(
            e.error_code.is_none(),
            "no background call fails: {} {}",
            e.name,
            e.id
        );
        assert_ne!(
            e.principal.actor, "root",
            "root never acts in the background"
        );
        if let Some(login) = &e.console_login {
            assert_eq!(login.mfa_used, Some(true), "background sign-ins use MFA");
            let ip = e.source_ip.addr.unwrap().to_string();
            assert!(
                ip.starts_with("203.0.113.") || ip.starts_with("2001:db8:1000:"),
                "from the office: {ip}"
            );
        }
    }
}

#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let weekend = OrgConfig {
        day: NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
        ..config()
    };
    assert!(
        generate(&weekend, dir.path())
            .unwrap_err()
            .to_string()
            .contains("weekend")
    );
    assert!(
        generate(
            &OrgConfig {
                accounts: 1,
                ..config()
            },
            dir.path()
        )
        .is_err()
    );
}
