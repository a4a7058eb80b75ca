//! The Athena table over the raw organisation trail: its DDL parses as Trino SQL, every
//! catalogue query rendered for it parses too, and the relation that gives the raw records the
//! lake's columns computes, record for record and column for column, what the exporter writes
//! (run on DuckDB after sqlglot translates it, over records loaded the way Athena's JSON SerDe
//! reads them). The reference is our own normaliser, so a rule or report reads the same
//! values from either source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::NaiveDate;
use iat_core::model::AccountId;
use iat_core::{RecordLimits, normalize};
use iat_lake::trail::{self, AccountProjection};
use iat_lake::{Compression, PartWriter, QueryCatalogue, to_batch};

fn python() -> String {
    std::env::var("IAT_TEST_PYTHON")
        .expect("IAT_TEST_PYTHON is not set: run the tests through `make test`")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn is_trino(py: &str, sql: &str) -> Result<(), String> {
    let out = Command::new(py)
        .arg("-c")
        .arg("import sys, sqlglot; sqlglot.parse_one(sys.stdin.read(), read='trino', error_level=sqlglot.ErrorLevel.RAISE)")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(sql.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ddl() -> String {
    trail::table_ddl(
        "iam_activity",
        "trail",
        &trail::location("log-archive", "", "o-a1b2c3d4e5"),
        &AccountProjection::Enum(vec![AccountId::new("111122223333").unwrap()]),
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
    )
    .unwrap()
}

#[test]
#[ignore = "needs sqlglot: run `make test`"]
fn the_trail_ddl_and_every_query_on_it_parse_as_trino_sql() {
    let py = python();
    is_trino(&py, &ddl()).unwrap_or_else(|e| panic!("the trail DDL is not Trino/Hive SQL: {e}"));
    let catalogue = QueryCatalogue::builtin();
    let mut values = iat_lake::catalogue::period(
        NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
    );
    values.insert("actor".into(), "alice".into());
    let accounts = [AccountId::new("111122223333").unwrap()];
    for q in catalogue.queries() {
        for injected in [None, Some(&accounts[..])] {
            let sql = trail::render(q, &values, "iam_activity.trail", injected).unwrap();
            is_trino(&py, &sql)
                .unwrap_or_else(|e| panic!("{} on the trail is not Trino SQL: {e}\n{sql}", q.name));
        }
    }
}

/// Raw records of every fixture file (and the real dataset when it is there), each with the
/// partition values of the folder CloudTrail would deliver it to.
fn records(files: &[PathBuf]) -> (String, Vec<iat_core::ActivityEvent>) {
    let mut lines = String::new();
    let mut events = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let recs = match doc.get("Records") {
            Some(serde_json::Value::Array(r)) => r.clone(),
            _ => vec![doc],
        };
        for rec in recs {
            let raw = rec.to_string();
            let Ok(n) = normalize(raw, &RecordLimits::default()) else {
                continue;
            };
            let e = n.event;
            let mut row = rec.clone();
            let Some(account) = e.account.as_ref() else {
                continue;
            };
            row["_account"] = account.as_str().into();
            row["_region"] = e.region.as_str().into();
            row["_day"] = e.time.format("%Y/%m/%d").to_string().into();
            lines.push_str(&row.to_string());
            lines.push('\n');
            events.push(e);
        }
    }
    (lines, events)
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("crates/core/fixtures/rules")];
    files.push(root().join("crates/local/tests/fixtures/trail_file.json"));
    files.push(root().join("crates/ingester/tests/fixtures/trail-mixed.json"));
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn compare(files: &[PathBuf]) -> String {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let (lines, mut events) = records(files);
    assert!(events.len() > 20, "only {} records", events.len());
    events.sort_by_key(|e| e.time);
    let mut writer = PartWriter::new(Compression::Snappy);
    writer.write(&to_batch(&events)).unwrap();
    let paths: BTreeMap<&str, PathBuf> = [
        ("ddl", dir.path().join("trail.sql")),
        ("relation", dir.path().join("relation.sql")),
        ("records", dir.path().join("records.jsonl")),
        ("lake", dir.path().join("lake.parquet")),
    ]
    .into_iter()
    .collect();
    std::fs::write(&paths["ddl"], ddl()).unwrap();
    std::fs::write(&paths["relation"], trail::events_relation("trail", None)).unwrap();
    std::fs::write(&paths["records"], lines).unwrap();
    std::fs::write(&paths["lake"], writer.finish().unwrap()).unwrap();
    let out = Command::new(py)
        .arg(root().join("tests/trail_sql_check.py"))
        .args([
            &paths["ddl"],
            &paths["relation"],
            &paths["records"],
            &paths["lake"],
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the trail relation differs from the lake:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    stdout
}

#[test]
#[ignore = "needs duckdb and sqlglot: run `make test`"]
fn the_trail_relation_computes_the_lakes_columns_from_raw_records() {
    let out = compare(&fixture_files());
    assert!(out.contains("mismatches: none"), "{out}");
}

/// The same over the real recorded dataset, when the shared datasets are present.
#[test]
#[ignore = "needs duckdb and sqlglot: run `make test`"]
fn the_trail_relation_agrees_with_the_lake_on_real_records() {
    let dir = root().join("../shared/datasets/invictus-aws-dataset/CloudTrail");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    };
    let files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    let out = compare(&files);
    assert!(out.contains("mismatches: none"), "{out}");
}
