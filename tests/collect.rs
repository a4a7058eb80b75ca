//! `iat collect` against the LookupEvents simulator serving a generated organisation: the stored
//! set is exactly the events of the collected streams, and a second run adds nothing.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use iat_core::contract::records::RecordSpec;
use iat_core::{NoiseFilter, RecordLimits, normalize};
use iat_e2e::iat;
use iat_sim::lookup::{SimConfig, Simulator, load_trail_files};
use iat_sim::{OrgConfig, generate};

/// Every generated record (as text) below `dir`.
fn generated(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                let mut text = String::new();
                flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
                    .read_to_string(&mut text)
                    .unwrap();
                let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
                out.extend(
                    doc["Records"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.to_string()),
                );
            }
        }
    }
    out
}

#[test]
fn collect_from_the_simulator_stores_exactly_the_streams_events() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let labels = generate(
        &OrgConfig {
            seed: 11,
            day,
            accounts: 3,
            background_events: 4_000,
            utc_offset_hours: 1,
        },
        &logs,
    )
    .unwrap();
    let account = labels.accounts[0].clone();
    let now = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        + Duration::days(1)
        + Duration::hours(1);

    // The simulator runs on its own runtime; `iat` builds its own.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = Simulator::new(SimConfig {
        rate_per_second: 200.0,
        burst: 20.0,
        ..Default::default()
    });
    sim.set_now(now);
    load_trail_files(&sim, &logs, &mut |_| Duration::zero()).unwrap();
    let (addr, _server): (SocketAddr, _) = runtime
        .block_on(sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();

    let db = dir.path().join("iat.db").display().to_string();
    let endpoint = format!("http://{addr}");
    let now_arg = now.to_rfc3339();
    let args = [
        "--db",
        &db,
        "collect",
        "--endpoint",
        &endpoint,
        "--account",
        &account,
        "--region",
        "us-east-1,eu-west-1,eu-north-1",
        "--sso-region",
        "eu-west-1",
        "--backfill",
        "3d",
        "--now",
        &now_arg,
        "--rate",
        "150",
        "--format",
        "json",
    ];
    let first = iat(args).unwrap();
    assert_eq!(first.code, ExitCode::SUCCESS, "{}", first.stdout);
    let report: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(report["streams"].as_array().unwrap().len(), 7);
    assert!(
        report["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["caught_up"] == true && s["error"].is_null()),
        "{report:#}"
    );

    // What the streams should hold: this account's identity events in those regions, minus noise.
    let sources = |region: &str, source: &str| match source {
        "iam.amazonaws.com" => region == "us-east-1",
        "signin.amazonaws.com" => region == "us-east-1" || region == "eu-north-1",
        "sts.amazonaws.com" => true,
        "sso.amazonaws.com" => region == "eu-west-1",
        _ => false,
    };
    let filter = NoiseFilter::default();
    let expected: BTreeSet<String> = generated(&logs)
        .into_iter()
        .filter_map(|raw| normalize(raw, &RecordLimits::default()).ok())
        .map(|n| n.event)
        .filter(|e| {
            e.account.as_ref().is_some_and(|a| a.as_str() == account)
                && ["us-east-1", "eu-west-1", "eu-north-1"].contains(&e.region.as_str())
                && sources(e.region.as_str(), &e.source)
                && filter.classify(e).is_none()
        })
        .map(|e| e.id.to_string())
        .collect();
    assert!(
        expected.len() > 100,
        "a meaningful sample: {}",
        expected.len()
    );
    let listed = iat(["--db", &db, "events", "--limit", "0", "--format", "jsonl"])
        .unwrap()
        .stdout;
    let stored: BTreeSet<String> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(stored, expected, "exactly the streams' events");

    // An hour later nothing new exists: the overlap re-scan finds only what is stored.
    let later = (now + Duration::hours(1)).to_rfc3339();
    let mut again_args = args.to_vec();
    let at = again_args.iter().position(|a| *a == now_arg).unwrap();
    again_args[at] = &later;
    let again: serde_json::Value = serde_json::from_str(&iat(again_args).unwrap().stdout).unwrap();
    let inserted: u64 = again["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["inserted"].as_u64().unwrap())
        .sum();
    assert_eq!(inserted, 0);

    let status: serde_json::Value = serde_json::from_str(
        &iat(["--db", &db, "status", "--format", "json"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    let checkpoints = status["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 7);
    assert!(
        checkpoints
            .iter()
            .all(|c| c["stats"]["runs"] == 2 && c["last_error"].is_null())
    );
}

#[test]
fn collect_explains_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db").display().to_string();
    let err = iat(["--db", &db, "collect", "--region", "mars-north-1x"]).unwrap_err();
    assert!(err.contains("--region"), "{err}");
    let err = iat(["--db", &db, "collect", "--endpoint", "http://127.0.0.1:9"]).unwrap_err();
    assert!(err.contains("--account"), "{err}");
    let err = iat([
        "--db",
        &db,
        "collect",
        "--overlap",
        "soon",
        "--account",
        "111122223333",
        "--endpoint",
        "http://127.0.0.1:9",
    ])
    .unwrap_err();
    assert!(err.contains("--overlap"), "{err}");
    let err = iat([
        "--db",
        &db,
        "collect",
        "--rate",
        "5",
        "--account",
        "111122223333",
    ])
    .unwrap_err();
    assert!(err.contains("at most 2"), "{err}");
    // An endpoint that is down: the run finishes, every stream reports it, exit code 1.
    let run = iat([
        "--db",
        &db,
        "collect",
        "--endpoint",
        "http://127.0.0.1:9",
        "--account",
        "111122223333",
        "--region",
        "us-east-1",
        "--backfill",
        "1h",
        "--retries",
        "0",
        "--format",
        "json",
    ])
    .unwrap();
    assert_eq!(run.code, ExitCode::from(1));
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        report["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["error"]
                .as_str()
                .unwrap()
                .contains("cannot reach the endpoint")),
        "{report:#}"
    );
}

/// `iat create-tables`, `collect`, `status`, `events`, `alerts` and `export` with `--store
/// dynamodb:...`, against the simulator and DynamoDB (moto), as a user trying the deployed
/// layout from a laptop: every command works on the tables as on a SQLite file.
#[test]
#[ignore = "needs moto: run `make test`"]
fn collect_into_dynamodb_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let moto = iat_sim::emulators::moto_endpoint();
    let account = "222233334444";
    let now = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = Simulator::new(SimConfig {
        rate_per_second: 200.0,
        burst: 20.0,
        default_account: account.to_owned(),
        ..Default::default()
    });
    sim.set_now(now);
    let assume_role = (0..1_200).map(|i| {
        RecordSpec::new(
            &format!("cli-{i}"),
            now - Duration::hours(30) + Duration::seconds(80 * i),
        )
        .name("sts.amazonaws.com", "AssumeRole")
        .place(account, if i % 2 == 0 { "us-east-1" } else { "eu-west-1" })
    });
    // Three new IAM users, which the alert rules report.
    let new_users = (0..3).map(|i| {
        RecordSpec::new(
            &format!("cli-new-user-{i}"),
            now - Duration::hours(2) + Duration::minutes(10 * i),
        )
        .name("iam.amazonaws.com", "CreateUser")
        .place(account, "us-east-1")
        .params(serde_json::json!({"userName": format!("new-user-{i}")}))
    });
    let mut expected = BTreeSet::new();
    for spec in assume_role.chain(new_users) {
        let event = spec.event();
        sim.add(&event.raw, Duration::minutes(5)).unwrap();
        expected.insert(event.id.to_string());
    }
    let (addr, _server): (SocketAddr, _) = runtime
        .block_on(sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let endpoint = format!("http://{addr}");
    let suffix = std::process::id();
    let events = format!("cli-events-{suffix}");
    let control = format!("cli-control-{suffix}");
    let ledger = format!("cli-ledger-{suffix}");
    let store = format!("dynamodb:{events},{control}");
    let with_ledger = format!("{store},{ledger}");
    let tables = [
        "--store",
        store.as_str(),
        "--dynamodb-endpoint",
        moto.as_str(),
    ];
    let all_tables = [
        "--store",
        with_ledger.as_str(),
        "--dynamodb-endpoint",
        moto.as_str(),
    ];

    let made = iat(["create-tables"].into_iter().chain(all_tables)).unwrap();
    assert_eq!(made.stdout.matches("created").count(), 3, "{}", made.stdout);
    let again = iat(["create-tables"].into_iter().chain(all_tables)).unwrap();
    assert_eq!(
        again.stdout.matches("exists").count(),
        3,
        "{}",
        again.stdout
    );

    let now_arg = now.to_rfc3339();
    let collect_args = |now: &str| -> Vec<String> {
        [
            "collect",
            "--endpoint",
            &endpoint,
            "--account",
            account,
            "--region",
            "us-east-1,eu-west-1",
            "--backfill",
            "2d",
            "--rate",
            "150",
            "--now",
            now,
            "--format",
            "json",
        ]
        .into_iter()
        .chain(tables)
        .map(str::to_owned)
        .collect()
    };
    let run = iat(collect_args(&now_arg)).unwrap();
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let inserted: u64 = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["inserted"].as_u64().unwrap())
        .sum();
    // Everything older than the 5-minute safety lag.
    assert_eq!(inserted, expected.len() as u64, "{report:#}");

    let later = (now + Duration::hours(1)).to_rfc3339();
    let report: serde_json::Value =
        serde_json::from_str(&iat(collect_args(&later)).unwrap().stdout).unwrap();
    assert!(
        report["streams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["inserted"] == 0 && s["error"].is_null()),
        "the next run finds nothing new: {report:#}"
    );

    let status: serde_json::Value = serde_json::from_str(
        &iat(["status", "--format", "json"].into_iter().chain(tables))
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(status["events"], expected.len() as u64, "{status:#}");
    let checkpoints = status["checkpoints"].as_array().unwrap();
    assert!(!checkpoints.is_empty());
    assert!(
        checkpoints
            .iter()
            .all(|c| c["stats"]["runs"] == 2 && c["last_error"].is_null()),
        "{status:#}"
    );

    // The stored events can be searched where they are: by actor (the day partitions filtered
    // on the actor, as these tables have no lookup index), by region (the day partitions).
    let search = |filters: &[&str]| -> Vec<serde_json::Value> {
        let args: Vec<&str> = ["events", "--format", "jsonl"]
            .into_iter()
            .chain(tables)
            .chain(filters.iter().copied())
            .collect();
        iat(args)
            .unwrap()
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(search(&["--actor", "alice", "--limit", "0"]).len(), 1_203);
    let west = search(&["--region", "eu-west-1", "--limit", "0"]);
    assert_eq!(west.len(), 600);
    assert!(west.iter().all(|e| e["region"] == "eu-west-1"));
    let newest = search(&["--event-name", "AssumeRole", "--limit", "3"]);
    assert_eq!(
        search(&["--event-name", "CreateUser", "--limit", "0"]).len(),
        3
    );
    assert_eq!(newest.len(), 3);
    assert!(
        newest[0]["event_time"].as_str() >= newest[2]["event_time"].as_str(),
        "newest first"
    );

    // Alerts from the tables: the ledger table is required to send, and records what was sent.
    let notify = dir.path().join("alerts.jsonl");
    let notify_arg = format!("jsonl:{}", notify.display());
    let err = iat(["alerts", "--notify", &notify_arg]
        .into_iter()
        .chain(tables))
    .unwrap_err();
    assert!(
        err.contains("alert ledger table") && err.contains("dynamodb:EVENTS,CONTROL,LEDGER"),
        "{err}"
    );
    let sent = iat(["alerts", "--notify", &notify_arg]
        .into_iter()
        .chain(all_tables))
    .unwrap();
    assert_eq!(sent.code, ExitCode::SUCCESS, "{}", sent.stdout);
    assert!(
        sent.stdout.contains("1,203 events evaluated")
            && sent.stdout.contains("4 alerts sent in 4 messages"),
        "{}",
        sent.stdout
    );
    // Three new users, and the early-morning AssumeRole calls as one off-hours alert.
    let messages = std::fs::read_to_string(&notify).unwrap();
    assert!(messages.contains("off_hours_activity"), "{messages}");
    for i in 0..3 {
        assert!(
            messages.contains(&format!("cli-new-user-{i}")),
            "the alert for new-user-{i} was sent: {messages}"
        );
    }
    let lines = messages.lines().count();
    // The next run re-reads the late window before its mark, and sends nothing again.
    let again = iat(["alerts", "--notify", &notify_arg]
        .into_iter()
        .chain(all_tables))
    .unwrap();
    assert!(
        again.stdout.contains("0 alerts sent")
            && again.stdout.contains("3 events' alerts sent before"),
        "{}",
        again.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&notify).unwrap().lines().count(),
        lines
    );

    // The console over the tables lists what was sent, from the alert log in the control
    // table, and records an acknowledgement there.
    {
        use clap::Parser;
        let argv: Vec<&str> = ["iat", "serve", "--listen", "127.0.0.1:0"]
            .into_iter()
            .chain(all_tables)
            .collect();
        let cli = iat_cli::Cli::try_parse_from(argv).unwrap();
        let iat_cli::Command::Serve(args) = cli.command else {
            unreachable!()
        };
        let server = iat_cli::cmd::serve::Server::bind(&cli.store, args).unwrap();
        let addr = server
            .url()
            .unwrap()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        server.spawn().unwrap();
        let (status, alerts) = iat_e2e::http(&addr, "GET", "/alerts", &[], "");
        assert_eq!(status, 200, "{alerts}");
        let sent: Vec<&str> = alerts
            .split("href=\"/alert?")
            .skip(1)
            .map(|l| l.split('"').next().unwrap())
            .collect();
        assert_eq!(sent.len(), 4, "the four alerts sent: {alerts}");
        assert!(!alerts.contains("raised=1\" class=\"on\""), "{alerts}");
        let link = sent
            .iter()
            .find(|l| l.contains("cli-new-user-1"))
            .expect("the alert of new-user-1")
            .replace("&amp;", "&");
        let param = |name: &str| {
            link.split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        let id = format!("{}:{}", param("rule"), param("event"));
        let origin = format!("Origin: http://{addr}");
        let form = format!("id={id}&by=ana.lima%40example.com&note=expected");
        let (status, _) = iat_e2e::http(&addr, "POST", "/alert/ack", &[&origin], &form);
        assert_eq!(status, 303, "acknowledged {id} from {link}");
        let (_, page) = iat_e2e::http(&addr, "GET", &format!("/alert?{link}"), &[], "");
        assert!(page.contains("ana.lima@example.com"), "{page}");
        let (_, open) = iat_e2e::http(&addr, "GET", "/alerts?open=1", &[], "");
        assert_eq!(open.matches("href=\"/alert?").count(), 3, "{open}");
    }

    // Export from the tables into a local lake: every stored event, once.
    let lake = dir.path().join("lake");
    let first_day = (now - Duration::hours(31)).date_naive().to_string();
    let last_day = now.date_naive().to_string();
    let lake_arg = lake.display().to_string();
    let exported = iat([
        "export", "--since", &first_day, "--until", &last_day, "--lake", &lake_arg, "--format",
        "json",
    ]
    .into_iter()
    .chain(tables))
    .unwrap();
    let days: serde_json::Value = serde_json::from_str(&exported.stdout).unwrap();
    let total: u64 = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["events"].as_u64().unwrap())
        .sum();
    assert_eq!(total, expected.len() as u64, "{days:#}");
    let status_text = iat(["status"].into_iter().chain(tables)).unwrap().stdout;
    assert!(
        status_text.contains(&format!("Store      {store}"))
            && status_text.contains("not kept by this store"),
        "{status_text}"
    );

    // What only a SQLite file can do says so.
    let err = iat(["ingest", "x"].into_iter().chain(tables)).unwrap_err();
    assert!(
        err.contains("iat ingest is not supported by this store") && err.contains("sqlite:PATH"),
        "{err}"
    );

    // Misconfiguration is one line naming the table, or the endpoint, and what to do.
    let mut missing = collect_args(&now_arg);
    let at = missing.iter().position(|a| *a == store).unwrap();
    missing[at] = format!("dynamodb:no-such-table,{control}");
    let err = iat(missing).unwrap_err();
    assert!(
        err.contains("table no-such-table: not found") && err.contains("create-tables"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let mut down = collect_args(&now_arg);
    let at = down.iter().position(|a| *a == moto).unwrap();
    down[at] = "http://127.0.0.1:9".to_owned();
    let err = iat(down).unwrap_err();
    assert!(err.contains("cannot reach the endpoint"), "{err}");
}

#[test]
fn status_summarises_many_accounts_and_names_the_failing_ones() {
    use iat_core::ports::{Checkpoint, CheckpointStore};
    use iat_core::{AccountId, Region, StreamKey};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.db");
    let db = path.display().to_string();
    let now = chrono::Utc::now();
    let store = iat_local::SqliteStore::open(&path).unwrap();
    let save = |account: &str, region: &str, complete: Option<Duration>, error: Option<&str>| {
        let mut c = Checkpoint::new(
            StreamKey {
                account: AccountId::new(account).unwrap(),
                region: Region::new(region).unwrap(),
                source: "iam.amazonaws.com".into(),
            },
            now,
        );
        c.complete_up_to = complete.map(|d| now - d);
        c.last_run_at = Some(now - Duration::minutes(3));
        c.last_error = error.map(str::to_owned);
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(store.save(&c))
            .unwrap();
    };
    for i in 0..20 {
        let account = format!("3000000000{i:02}");
        if i == 7 {
            // No role: its us-east-1 streams never started, and say why.
            save(
                &account,
                "us-east-1",
                None,
                Some("cannot assume arn:aws:iam::300000000007:role/iat-member-reader"),
            );
            continue;
        }
        save(&account, "us-east-1", Some(Duration::minutes(20)), None);
        let behind = if i == 3 {
            Duration::days(3)
        } else {
            Duration::minutes(20)
        };
        save(&account, "eu-west-1", Some(behind), None);
    }
    drop(store);

    let text = iat(["--db", &db, "status"]).unwrap().stdout;
    assert!(
        text.contains("Collected accounts 20: 18 caught up, 1 behind, 1 failing"),
        "{text}"
    );
    assert!(
        text.contains("300000000007") && text.contains("role/iat-member-reader"),
        "{text}"
    );
    assert!(
        text.contains("300000000003") && text.contains("3 d"),
        "{text}"
    );
    assert!(
        !text.contains("300000000011"),
        "caught-up accounts are counted, not listed: {text}"
    );
    assert!(
        text.contains("Streams: 39 (`--streams` lists each)"),
        "{text}"
    );
    let all = iat(["--db", &db, "status", "--streams"]).unwrap().stdout;
    assert!(all.contains("300000000011/eu-west-1/"), "{all}");

    let json: serde_json::Value = serde_json::from_str(
        &iat([
            "--db",
            &db,
            "status",
            "--format",
            "json",
            "--behind-after",
            "4d",
        ])
        .unwrap()
        .stdout,
    )
    .unwrap();
    let accounts = &json["accounts"];
    assert_eq!(
        (
            accounts["caught_up"].as_u64(),
            accounts["behind"].as_u64(),
            accounts["failing"].as_u64()
        ),
        (Some(19), Some(0), Some(1)),
        "{accounts:#}"
    );
    assert_eq!(accounts["accounts"][0]["account"], "300000000007");
    assert_eq!(accounts["accounts"][0]["state"], "failing");
    let err = iat(["--db", &db, "status", "--behind-after", "soon"]).unwrap_err();
    assert!(err.contains("--behind-after"), "{err}");
}
