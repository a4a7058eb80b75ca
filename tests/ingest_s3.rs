//! `iat ingest s3://…` against moto: a generated organisation of 50 accounts uploaded as its
//! trail would write it, read in place; the same events as reading the files from disk, nothing
//! twice on a second run, a day and an account read from their folders alone, and a corrupt file
//! named without stopping the rest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use iat_core::ports::{ObjectKey, ObjectStore};
use iat_e2e::iat;
use iat_sim::{OrgConfig, generate};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn json(args: &[&str]) -> (ExitCode, serde_json::Value) {
    let run = iat(args.iter().copied()).unwrap();
    let v = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    (run.code, v)
}

#[test]
#[ignore = "needs moto: run `make test`"]
fn a_trail_bucket_is_read_in_place() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let labels = generate(
        &OrgConfig {
            accounts: 50,
            background_events: 2_000,
            ..OrgConfig::default()
        },
        &logs,
    )
    .unwrap();
    let bucket = format!("iat-trail-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(iat_aws::testing::emulator_config(&endpoint, "us-east-1"));
    let trail = iat_aws::S3ObjectStore::new(
        iat_aws::S3ObjectStore::client(&config, true),
        &bucket,
        "org/",
    )
    .unwrap();
    let put = |key: String, body: Vec<u8>| {
        rt.block_on(trail.put(&ObjectKey::new(key).unwrap(), body))
            .unwrap()
    };
    let (uploaded, _) = rt.block_on(iat_aws::testing::upload_tree(
        &config,
        &bucket,
        "org/AWSLogs/",
        &logs.join("AWSLogs"),
    ));
    // Not event files: a digest.
    let (org, first_account) = (&labels.organization_id, &labels.accounts[0]);
    put(
        format!("AWSLogs/{org}/{first_account}/CloudTrail-Digest/us-east-1/2026/01/01/d.json.gz"),
        b"{}".to_vec(),
    );
    assert!(uploaded > 100, "{uploaded} files");

    // From disk, for reference.
    let reference = dir.path().join("reference.db").display().to_string();
    let (_, local) = json(&[
        "--db",
        &reference,
        "ingest",
        &logs.join("AWSLogs").display().to_string(),
        "--no-progress",
        "--format",
        "json",
    ]);

    let db = dir.path().join("iat.db").display().to_string();
    let url = format!("s3://{bucket}/org");
    let read = |extra: &[&str]| {
        let mut args = vec![
            "--db",
            &db,
            "ingest",
            &url,
            "--s3-endpoint",
            &endpoint,
            "--no-progress",
            "--format",
            "json",
        ];
        args.extend(extra);
        json(&args)
    };
    let (code, first) = read(&[]);
    assert_eq!(code, ExitCode::SUCCESS, "{first}");
    assert_eq!(first["files"], uploaded);
    for k in ["records", "stored", "duplicates", "out_of_scope"] {
        assert_eq!(first[k], local[k], "{k}: s3 {first}, disk {local}");
    }
    assert!(first["stored"].as_u64().unwrap() > 1_500, "{first}");
    assert_eq!(first["objects_skipped"], 1, "the digest");

    // Again: nothing stored twice.
    let (_, again) = read(&[]);
    assert_eq!(again["stored"], 0);
    assert_eq!(again["duplicates"], first["stored"]);

    // One account's day, from its folders alone: the AWSLogs/ and organisation folders are not
    // walked (the account is given), one CloudTrail/ folder listing for its regions, then one
    // listing per region for the day.
    let day = labels.day.to_string();
    let account = labels.accounts[1].clone();
    let (_, one) = read(&["--since", &day, "--until", &day, "--account", &account]);
    let regions = files(
        &logs
            .join("AWSLogs")
            .join(&labels.organization_id)
            .join(&account)
            .join("CloudTrail"),
    )
    .iter()
    .filter_map(|f| {
        f.components()
            .rev()
            .nth(4)
            .map(|c| c.as_os_str().to_owned())
    })
    .collect::<std::collections::BTreeSet<_>>()
    .len() as u64;
    let account_files = files(
        &logs
            .join("AWSLogs")
            .join(&labels.organization_id)
            .join(&account),
    )
    .len();
    assert_eq!(one["files"], account_files as u64, "{one}");
    assert_eq!(one["list_requests"], 1 + 1 + regions, "{one}");
    assert_eq!(one["stored"], 0, "already stored");
    let (code, none) = read(&["--since", "2020-01-01", "--until", "2020-01-02"]);
    assert_eq!(code, ExitCode::from(1), "{none}");
    assert_eq!(none["files"], 0);

    // A corrupt file is named and the run goes on.
    put(
        format!(
            "AWSLogs/{org}/{account}/CloudTrail/us-east-1/{}/{account}_CloudTrail_us-east-1_x_corrupt.json.gz",
            labels.day.format("%Y/%m/%d")
        ),
        vec![0x1f, 0x8b, 8, 0, 1, 2, 3],
    );
    let (code, broken) = read(&[]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(broken["files"], uploaded + 1);
    assert_eq!(broken["files_failed"], 1);
    let problem = broken["problems"][0].to_string();
    assert!(problem.contains("_corrupt.json.gz"), "{problem}");

    // Bad arguments are one line each.
    for (args, says) in [
        (vec!["ingest", "s3://Bad_Bucket/x"], "not an S3 bucket name"),
        (vec!["ingest", "s3://b-1/x", "./logs"], "one s3:// URL"),
        (
            vec!["ingest", "./logs", "--since", "2026-03-01"],
            "--since is for an s3:// URL",
        ),
        (
            vec!["ingest", "s3://b-1/x", "--account", "prod"],
            "--account \"prod\"",
        ),
        (
            vec![
                "ingest",
                "s3://b-1/x",
                "--since",
                "2026-03-02",
                "--until",
                "2026-03-01",
            ],
            "after --until",
        ),
    ] {
        let e = iat(args.iter().copied()).unwrap_err();
        assert!(e.contains(says), "{args:?}: {e}");
    }
}
