//! Generated organisation → `iat ingest` → `iat export` → `iat query`: every query of the
//! catalogue runs on DataFusion over the exported day and returns what the labels predict; the
//! Parquet files read the same in an independent reader (pyarrow); every query parses as Trino
//! SQL (sqlglot). The Python checks run when `make test` provides its tools (`IAT_TEST_PYTHON`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use iat_e2e::iat;
use iat_sim::{Labels, OrgConfig, generate};

struct Lake {
    dir: tempfile::TempDir,
    db: String,
    lake: String,
    labels: Labels,
}

fn exported() -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let labels = generate(
        &OrgConfig {
            background_events: 5_000,
            ..OrgConfig::default()
        },
        &logs,
    )
    .unwrap();
    let db = dir.path().join("iat.db").display().to_string();
    let lake = dir.path().join("lake").display().to_string();
    iat([
        "--db",
        &db,
        "ingest",
        &logs.join("AWSLogs").display().to_string(),
        "--no-progress",
    ])
    .unwrap();
    let day = labels.day.to_string();
    // Three times: the day is replaced, never duplicated.
    for _ in 0..3 {
        let run = iat([
            "--db", &db, "export", "--since", &day, "--lake", &lake, "--format", "json",
        ])
        .unwrap();
        assert_eq!(run.code, ExitCode::SUCCESS);
    }
    Lake {
        dir,
        db,
        lake,
        labels,
    }
}

fn query(l: &Lake, name: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let day = l.labels.day.to_string();
    let mut args = vec![
        "query", name, "--since", &day, "--until", &day, "--lake", &l.lake, "--format", "json",
        "--local",
    ];
    args.extend_from_slice(extra);
    let run = iat(args).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {}", run.stdout))
}

fn scenario_ids<'a>(l: &'a Lake, kind_prefix: &str) -> Vec<&'a str> {
    l.labels
        .scenarios
        .iter()
        .filter(|s| s.kind.starts_with(kind_prefix))
        .flat_map(|s| s.event_ids.iter().map(String::as_str))
        .collect()
}

#[test]
fn every_query_runs_over_the_exported_day_and_finds_what_the_labels_say() {
    let l = exported();
    let status = iat(["--db", &l.db, "status", "--format", "json"]).unwrap();
    let stored = serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["events"]
        .as_u64()
        .unwrap();

    let summary = query(&l, "daily_summary", &[]);
    assert_eq!(summary.len(), 1);
    assert_eq!(
        summary[0]["events"].as_u64(),
        Some(stored),
        "each stored event exported once"
    );

    // failed_auth: the failed console sign-ins (root's and the user's three) and every denial.
    let failed = query(&l, "failed_auth", &[]);
    let sign_ins: u64 = failed
        .iter()
        .filter(|r| r["failure"] == "failed sign-in")
        .map(|r| r["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sign_ins as usize,
        scenario_ids(&l, "root_console_login_failure").len()
            + scenario_ids(&l, "console_login_failures").len()
    );
    let denied: u64 = failed
        .iter()
        .filter(|r| r["failure"] == "denied")
        .map(|r| r["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(denied as usize, scenario_ids(&l, "denied_").len());

    // denied_by_layer: each generated layer with its count.
    let by_layer: BTreeMap<String, u64> =
        query(&l, "denied_by_layer", &[])
            .iter()
            .fold(BTreeMap::new(), |mut m, r| {
                *m.entry(r["denial_layer"].as_str().unwrap().to_owned())
                    .or_default() += r["calls"].as_u64().unwrap();
                m
            });
    // The labels' calls per layer (two scenarios may share one: a VPC endpoint denial by
    // message, and one recorded as a network activity event).
    let mut labelled: BTreeMap<String, u64> = BTreeMap::new();
    for s in l
        .labels
        .scenarios
        .iter()
        .filter(|s| s.kind.starts_with("denied_"))
    {
        let layer = s
            .find
            .denial_layer
            .clone()
            .expect("a denial scenario names its layer");
        *labelled.entry(layer).or_default() += s.event_ids.len() as u64;
    }
    for (layer, calls) in &labelled {
        assert_eq!(
            by_layer.get(layer).copied(),
            Some(*calls),
            "{layer}: {by_layer:?}"
        );
    }
    // Each breakdown of the denied calls adds up to the planted ones. The week before the
    // exported day is empty, so every region with a denial is new.
    let denied = scenario_ids(&l, "denied_").len() as u64;
    let calls_of = |rows: &[serde_json::Value]| -> u64 {
        rows.iter().map(|r| r["calls"].as_u64().unwrap()).sum()
    };
    let regions_new = query(&l, "denied_regions_new", &[]);
    assert!(!regions_new.is_empty());
    assert_eq!(calls_of(&regions_new), denied);
    assert_eq!(calls_of(&query(&l, "denied_by_account", &[])), denied);
    let calls = query(&l, "denied_calls", &[]);
    assert_eq!(calls_of(&calls), denied);
    // Nothing was denied the day before, so every denied action is new.
    assert_eq!(query(&l, "denied_new", &[]).len(), calls.len());

    let root = query(&l, "root_usage", &[]);
    assert_eq!(root.len(), scenario_ids(&l, "root_").len());
    let keys = query(&l, "access_keys", &[]);
    assert_eq!(keys.len(), 2, "one created, one deactivated: {keys:?}");
    assert!(
        keys.iter()
            .any(|k| k["event_name"] == "UpdateAccessKey" && k["status"] == "Inactive")
    );
    let sg = query(&l, "security_group_changes", &[]);
    assert_eq!(
        sg.iter()
            .filter(|r| r["open_to_world"] == true
                && r["event_name"] == "AuthorizeSecurityGroupIngress")
            .count(),
        2
    );
    let logins = query(&l, "console_logins", &[]);
    assert!(
        logins.iter().any(|r| r["failures"].as_u64() == Some(3)),
        "{logins:?}"
    );
    let assignments = query(&l, "sso_account_assignments", &[]);
    assert_eq!(assignments.len(), 1);
    assert_eq!(query(&l, "sso_admin_policies", &[]).len(), 1);
    assert_eq!(query(&l, "sso_applications", &[]).len(), 2);
    assert_eq!(query(&l, "sso_permission_sets", &[]).len(), 3);
    let offset = l.labels.utc_offset_hours.to_string();
    let (ws, we) = (
        l.labels.working_hours.0.to_string(),
        l.labels.working_hours.1.to_string(),
    );
    let off = query(
        &l,
        "off_hours",
        &[
            "--param",
            &format!("utc_offset={offset}"),
            "--param",
            &format!("work_start={ws}"),
            "--param",
            &format!("work_end={we}"),
        ],
    );
    assert_eq!(
        off.len(),
        1,
        "the one person reading secrets at night: {off:?}"
    );
    let lookup = query(&l, "user_lookup", &["--param", "actor=root"]);
    assert_eq!(lookup.len(), root.len());
    let regions = query(
        &l,
        "unexpected_regions",
        &["--param", "allowed_regions=us-east-1,eu-west-1"],
    );
    assert!(
        regions
            .iter()
            .all(|r| !["us-east-1", "eu-west-1"].contains(&r["aws_region"].as_str().unwrap()))
    );
    for name in iat_lake::QueryCatalogue::file_names() {
        query(&l, name, &[]);
    }
    // The weekly report over the same day: every denied call counted, all of them new.
    let day = l.labels.day.to_string();
    let jsonl = l.dir.path().join("report.jsonl");
    let report = iat([
        "report",
        "--local",
        "--lake",
        &l.lake,
        "--until",
        &day,
        "--days",
        "1",
        "--notify",
        &format!("jsonl:{}", jsonl.display()),
    ])
    .unwrap()
    .stdout;
    let denied_total = scenario_ids(&l, "denied_").len();
    assert!(
        report.starts_with(&format!(
            "Denied calls {day} to {day}: {denied_total} calls, {} actions, {} new",
            calls.len(),
            calls.len()
        )),
        "{report}"
    );
    assert!(
        report.contains("NEWLY DENIED") && report.contains("denied by service control policy"),
        "{report}"
    );
    let sent = iat_local::notify::JsonlNotifier::read(&jsonl).unwrap();
    assert_eq!(sent[0].attributes["rule_id"], "weekly_report");
    // The list names them all; unknown names and parameters are refused in one line.
    let list = iat(["query", "list"]).unwrap().stdout;
    assert!(
        list.contains("denied_new") && list.contains("allowed_regions=us-east-1,eu-west-1"),
        "{list}"
    );
    assert!(
        iat(["query", "nope"])
            .unwrap_err()
            .contains("iat query list")
    );
    assert!(
        iat([
            "query",
            "root_usage",
            "--param",
            "actor=x",
            "--lake",
            &l.lake
        ])
        .unwrap_err()
        .contains("no parameter actor")
    );

    // A range the lake holds no day of says so in one line, with the days it holds.
    let before = (l.labels.day - chrono::Duration::days(30)).to_string();
    let empty = iat([
        "query",
        "failed_auth",
        "--since",
        &before,
        "--until",
        &before,
        "--lake",
        &l.lake,
        "--local",
    ])
    .unwrap()
    .stdout;
    let note = format!(
        "note: no exported day from {before} to {before} in the lake {} (it holds {} only)",
        l.lake, l.labels.day
    );
    assert!(empty.contains(&note), "{empty}");
    let day = l.labels.day.to_string();
    let found = iat([
        "query",
        "daily_summary",
        "--since",
        &day,
        "--until",
        &day,
        "--lake",
        &l.lake,
        "--local",
    ])
    .unwrap()
    .stdout;
    assert!(!found.contains("note:"), "{found}");
}

/// A Python with pyarrow, as `make test` provides (these tests are ignored by a plain `cargo test`).
fn python() -> String {
    std::env::var("IAT_TEST_PYTHON")
        .expect("IAT_TEST_PYTHON is not set: run the tests through `make test`")
}

#[test]
#[ignore = "needs pyarrow: run `make test`"]
fn an_independent_reader_sees_the_same_rows_and_athena_readable_timestamps() {
    let py = python();
    let l = exported();
    let script = r#"
import json, sys, glob
import pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + "/events/dt=*/*.parquet"))
t = pq.ParquetDataset(files).read()
ts = t.schema.field("event_time").type
meta = pq.ParquetFile(files[0]).metadata
col = meta.schema.column(1)
print(json.dumps({
  "rows": t.num_rows,
  "ids": len(set(t.column("event_id").to_pylist())),
  "time_type": str(ts),
  "logical": str(col.logical_type),
  "first_time": t.column("event_time")[0].as_py().isoformat(),
  "denied": sum(1 for v in t.column("denied").to_pylist() if v),
  "compression": meta.row_group(0).column(0).compression,
}))
"#;
    let out = std::process::Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&l.lake)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = iat(["--db", &l.db, "status", "--format", "json"]).unwrap();
    let stored = serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["events"]
        .as_u64()
        .unwrap();
    assert_eq!(v["rows"].as_u64(), Some(stored));
    assert_eq!(v["ids"].as_u64(), Some(stored), "each event once");
    assert_eq!(v["time_type"], "timestamp[us, tz=UTC]");
    assert!(
        v["logical"]
            .as_str()
            .unwrap()
            .contains("Timestamp(isAdjustedToUTC=true, timeUnit=microseconds"),
        "{v}"
    );
    assert!(
        v["first_time"]
            .as_str()
            .unwrap()
            .starts_with(&l.labels.day.to_string()),
        "{v}"
    );
    assert_eq!(
        v["denied"].as_u64().unwrap() as usize,
        scenario_ids(&l, "denied_").len()
    );
    assert_eq!(v["compression"], "SNAPPY");
}

#[test]
#[ignore = "needs pyarrow: run `make test`"]
fn every_query_parses_as_trino_sql() {
    let py = python();
    let catalogue = iat_lake::QueryCatalogue::builtin();
    let mut values = BTreeMap::new();
    for (k, v) in [
        ("start", "2026-03-01"),
        ("end", "2026-03-07"),
        ("previous_start", "2026-02-22"),
        ("previous_end", "2026-02-28"),
    ] {
        values.insert(k.to_owned(), v.to_owned());
    }
    // And the statements `iat events` runs on the lake for history: a window, exact filters, a
    // page's keyset.
    let history = iat_core::ports::EventQuery {
        window: Some(
            iat_core::TimeWindow::new(
                "2026-03-01T10:00:00Z".parse().unwrap(),
                "2026-03-07T00:00:00Z".parse().unwrap(),
            )
            .unwrap(),
        ),
        actor: Some("o'brien".into()),
        event_names: vec!["CreateUser".into(), "DeleteUser".into()],
        account: Some(iat_core::AccountId::new("111122223333").unwrap()),
        denial_layer: Some(iat_core::DenialLayer::ServiceControlPolicy),
        order: iat_core::ports::Order::Descending,
        ..Default::default()
    };
    let cursor = iat_core::ports::EventCursor {
        time: "2026-03-05T12:00:00.123456Z".parse().unwrap(),
        id: iat_core::EventId::new("abc-1").unwrap(),
    };
    let statements = [
        (
            "history".to_owned(),
            iat_lake::history::statement(&history, Some(&cursor), 5_000),
        ),
        (
            "history, no filter".to_owned(),
            iat_lake::history::statement(&Default::default(), None, 100),
        ),
    ];
    let rendered = catalogue
        .queries()
        .iter()
        .map(|q| (q.name.clone(), q.render(&values).unwrap()))
        .chain(statements);
    for (name, sql) in rendered {
        let out = std::process::Command::new(&py)
            .arg("-c")
            .arg("import sys, sqlglot; sqlglot.parse_one(sys.stdin.read(), read='trino', error_level=sqlglot.ErrorLevel.RAISE); print('ok')")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(sql.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{} is not Trino SQL: {}\n{sql}",
            name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ddl = include_str!("../queries/ddl/events.sql");
    assert!(ddl.contains("PARTITIONED BY (dt string)"));
}

/// The same commands on Athena (moto, which runs no SQL: it answers with rows queued for it).
#[test]
#[ignore = "needs moto: run `make test`"]
fn query_and_report_run_on_athena_with_bytes_scanned_and_cost() {
    use iat_aws::testing::{AthenaAnswer, queue_athena_answers};
    let endpoint = iat_sim::emulators::moto_endpoint();
    let text = |v: &str| Some(v.to_owned());
    let columns = |c: &[(&str, &str)]| -> Vec<(String, String)> {
        c.iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect()
    };
    // Regions of their own: moto hands queued answers to the next queries of a region.
    let athena = |region: &'static str| {
        vec![
            "--athena-database".to_owned(),
            "iat".to_owned(),
            "--athena-endpoint".to_owned(),
            endpoint.clone(),
            "--athena-region".to_owned(),
            region.to_owned(),
            "--athena-output".to_owned(),
            "s3://iat-athena-results/".to_owned(),
        ]
    };
    queue_athena_answers(
        &endpoint,
        "ap-southeast-3",
        &[AthenaAnswer {
            columns: columns(&[("actor", "varchar"), ("failures", "bigint")]),
            rows: vec![vec![text("mallory"), text("12")]],
        }],
    );
    let mut args: Vec<String> = [
        "query",
        "failed_auth",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-07",
    ]
    .map(String::from)
    .to_vec();
    args.extend(athena("ap-southeast-3"));
    let run = iat(args).unwrap();
    assert!(
        run.stdout.contains("mallory") && run.stdout.contains("12"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 rows in ")
            && run.stdout.contains("0 bytes scanned, $0.000048 at $5 per TB (10.0 MB billed) (2026-03-01 to 2026-03-07, Athena workgroup primary, database iat, query id "),
        "{}",
        run.stdout
    );

    queue_athena_answers(
        &endpoint,
        "ap-southeast-4",
        &[
            AthenaAnswer {
                columns: columns(&[
                    ("event_source", "varchar"),
                    ("event_name", "varchar"),
                    ("calls", "bigint"),
                    ("callers", "bigint"),
                    ("accounts", "bigint"),
                    ("regions", "bigint"),
                    ("a_layer", "varchar"),
                    ("layers", "bigint"),
                ]),
                rows: vec![vec![
                    text("sqs.amazonaws.com"),
                    text("CreateQueue"),
                    text("12"),
                    text("3"),
                    text("2"),
                    text("1"),
                    text("service_control_policy"),
                    text("1"),
                ]],
            },
            AthenaAnswer {
                columns: columns(&[
                    ("event_source", "varchar"),
                    ("event_name", "varchar"),
                    ("calls", "bigint"),
                    ("callers", "bigint"),
                    ("a_layer", "varchar"),
                    ("first_seen", "timestamp"),
                ]),
                rows: vec![vec![
                    text("sqs.amazonaws.com"),
                    text("CreateQueue"),
                    text("12"),
                    text("3"),
                    text("service_control_policy"),
                    text("2026-03-02 10:00:00.000"),
                ]],
            },
            AthenaAnswer::default(),
        ],
    );
    let mut args: Vec<String> = ["report", "--until", "2026-03-07"]
        .map(String::from)
        .to_vec();
    args.extend(athena("ap-southeast-4"));
    let report = iat(args).unwrap().stdout;
    assert!(
        report.starts_with("Denied calls 2026-03-01 to 2026-03-07: 12 calls, 1 actions, 1 new"),
        "{report}"
    );
    assert!(
        report.contains("sqs:CreateQueue  by 3 callers, first 2026-03-02 10:00:00.000, denied by service control policy")
            && report.contains("From Athena workgroup primary, database iat; 5 queries scanned 0 bytes for $0.0002."),
        "{report}"
    );
    // A bad setting is one line naming it.
    let e = iat([
        "query",
        "failed_auth",
        "--athena-database",
        "iat",
        "--athena-output",
        "bucket/x",
    ])
    .unwrap_err();
    assert!(
        e.contains("--athena-output \"bucket/x\": expected s3://bucket/prefix/"),
        "{e}"
    );
}

/// `iat query --source trail`: the catalogue query over the raw organisation trail on Athena
/// (moto), by day partition and for the accounts named; refused, with what to do, elsewhere.
#[test]
#[ignore = "needs moto: run `make test`"]
fn a_query_runs_over_the_raw_trail_on_athena() {
    use iat_aws::testing::{AthenaAnswer, queue_athena_answers};
    let endpoint = iat_sim::emulators::moto_endpoint();
    let region = "il-central-1";
    queue_athena_answers(
        &endpoint,
        region,
        &[AthenaAnswer {
            columns: vec![
                ("account".into(), "varchar".into()),
                ("calls".into(), "bigint".into()),
            ],
            rows: vec![vec![Some("111122223333".into()), Some("9".into())]],
        }],
    );
    let base = [
        "query",
        "denied_by_account",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-07",
    ];
    let athena = [
        "--athena-database",
        "iam_activity",
        "--athena-endpoint",
        &endpoint,
        "--athena-region",
        region,
        "--athena-output",
        "s3://iat-athena-results/",
    ];
    let mut args: Vec<&str> = base.to_vec();
    args.extend(athena);
    args.extend([
        "--source",
        "trail",
        "--account",
        "111122223333",
        "--show-sql",
    ]);
    let run = iat(args).unwrap();
    for part in [
        "FROM trail\n  WHERE account IN ('111122223333')",
        "dt BETWEEN '2026/03/01' AND '2026/03/07'",
        "day AS dt",
        "111122223333",
        "1 rows in ",
    ] {
        assert!(run.stdout.contains(part), "{part:?} not in\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("FROM events"), "{}", run.stdout);

    // No Athena: the trail table is not local.
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--source", "trail"]);
    let e = iat(args).unwrap_err();
    assert!(
        e.contains("--athena-database") && e.contains("iat ingest"),
        "{e}"
    );
    // --account is for the trail; an account id has 12 digits.
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["--account", "111122223333"]);
    assert!(iat(args).unwrap_err().contains("--source trail"));
    let mut args: Vec<&str> = base.to_vec();
    args.extend(athena);
    args.extend(["--source", "trail", "--account", "prod"]);
    assert!(iat(args).unwrap_err().contains("--account \"prod\""));
}
