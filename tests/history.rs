//! History beyond the store: `iat events --retention-days N` reads the days the store no longer
//! keeps from the exported lake, and answers as the store would have before those days expired.
//!
//! Two organisation days are generated, the weekdays on or before three weeks ago and two days
//! ago. One store holds both and exports both to the lake; a second store holds only the recent
//! day, as a store with a 14-day retention would by now. Every read of the second store with the lake must print what
//! the first prints alone.

use chrono::{Duration, Utc};
use iat_e2e::iat;
use iat_sim::{OrgConfig, generate};

struct Stores {
    _dir: tempfile::TempDir,
    full: String,
    recent: String,
    lake: String,
    old_day: chrono::NaiveDate,
}

/// The generator plants its scenarios in working hours and refuses a weekend day, so the two
/// days are the weekdays on or before three weeks ago and two days ago, whatever today is.
fn weekday_on_or_before(mut day: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::Datelike;
    while matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
        day -= Duration::days(1);
    }
    day
}

fn stores() -> Stores {
    let dir = tempfile::tempdir().unwrap();
    let today = Utc::now().date_naive();
    let old_day = weekday_on_or_before(today - Duration::days(21));
    let recent_day = weekday_on_or_before(today - Duration::days(2));
    let full = dir.path().join("full.db").display().to_string();
    let recent = dir.path().join("recent.db").display().to_string();
    let lake = dir.path().join("lake").display().to_string();
    for (i, day) in [old_day, recent_day].into_iter().enumerate() {
        let logs = dir.path().join(format!("logs-{i}"));
        let config = OrgConfig {
            seed: 7 + i as u64,
            day,
            accounts: 4,
            background_events: 1_500,
            utc_offset_hours: 1,
        };
        generate(&config, &logs).unwrap();
        let trail = logs.join("AWSLogs").display().to_string();
        let mut targets = vec![&full];
        if day == recent_day {
            targets.push(&recent);
        }
        for db in targets {
            iat(["--db", db, "ingest", &trail, "--no-progress"]).unwrap();
        }
    }
    let since = old_day.to_string();
    let until = recent_day.to_string();
    iat([
        "--db", &full, "export", "--since", &since, "--until", &until, "--lake", &lake,
    ])
    .unwrap();
    Stores {
        _dir: dir,
        full,
        recent,
        lake,
        old_day,
    }
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[test]
fn events_the_store_no_longer_keeps_come_from_the_lake_once_each_in_order() {
    let s = stores();
    let filters: [&[&str]; 6] = [
        &[],
        &["--oldest-first"],
        &["--denied"],
        &["--actor", "*/*"],
        &["--event-name", "Create*,AssumeRole"],
        &["--source-ip", "10.0.0.0/8"],
    ];
    let mut compared = 0;
    for extra in filters {
        let args = |db: &str, history: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = ["--db", db, "events", "--since", "30d"]
                .map(String::from)
                .to_vec();
            a.extend(["--limit", "0", "--format", "csv"].map(String::from));
            a.extend(extra.iter().map(|s| s.to_string()));
            a.extend(history.iter().map(|s| s.to_string()));
            a
        };
        let want = iat(args(&s.full, &[])).unwrap().stdout;
        let spanned = iat(args(
            &s.recent,
            &["--retention-days", "14", "--lake", &s.lake],
        ))
        .unwrap()
        .stdout;
        assert_eq!(
            lines(&spanned),
            lines(&want),
            "store + lake answer as the full store ({extra:?})"
        );
        let old = want
            .lines()
            .filter(|l| l.contains(&s.old_day.to_string()))
            .count();
        assert!(old > 0 || !extra.is_empty(), "the old day has events");
        compared += want.lines().count() - 1;
        // Without the retention only the store is read: the old day is missing.
        let store_only = iat(args(&s.recent, &[])).unwrap().stdout;
        assert_eq!(
            store_only.lines().count(),
            want.lines().count() - old,
            "the store alone lacks the old day ({extra:?})"
        );
        // The lake alone holds both exported days.
        let lake_only = iat(args(&s.recent, &["--history", "lake", "--lake", &s.lake]))
            .unwrap()
            .stdout;
        assert_eq!(
            lines(&lake_only),
            lines(&want),
            "the lake alone ({extra:?})"
        );
    }
    assert!(compared > 1_000, "compared {compared} rows");

    // The first page, oldest first, crosses nothing but starts in the lake.
    let first_five = |db: &str, history: &[&str]| {
        let mut a = vec![
            "--db",
            db,
            "events",
            "--since",
            "30d",
            "--limit",
            "5",
            "--oldest-first",
            "--format",
            "csv",
        ];
        a.extend(history);
        iat(a).unwrap().stdout
    };
    let page = first_five(&s.recent, &["--retention-days", "14", "--lake", &s.lake]);
    let all = first_five(&s.full, &[]);
    assert_eq!(lines(&page), lines(&all));
    assert!(page.contains(&s.old_day.to_string()));

    let err = iat([
        "--db",
        &s.recent,
        "events",
        "--retention-days",
        "0",
        "--lake",
        &s.lake,
    ])
    .unwrap_err();
    assert!(err.contains("--retention-days 0"), "{err}");
}

/// The same read on Athena: moto runs no SQL, so it is given the rows Athena would return for
/// the statement (the lake's rows, with Athena's text for timestamps and booleans), and the
/// events rebuilt from them must print as the full store prints its own.
#[test]
#[ignore = "needs moto: run `make test`"]
fn history_reads_athena_s_text_rows() {
    use iat_aws::testing::{AthenaAnswer, queue_athena_answers};
    use iat_core::ports::QueryEngine;

    let s = stores();
    let columns: Vec<&str> = iat_lake::schema::COLUMNS.iter().map(|c| c.0).collect();
    let sql = format!(
        "SELECT {} FROM events ORDER BY event_time DESC, event_id DESC",
        columns.join(", ")
    );
    let lake = iat_local::sql::LocalLake::new(std::path::Path::new(&s.lake), "");
    let rows = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(lake.run(&sql))
        .unwrap()
        .rows;
    assert!(rows.rows.len() > 1_000, "{} rows", rows.rows.len());
    let answer = AthenaAnswer {
        columns: iat_lake::schema::COLUMNS
            .iter()
            .map(|(name, kind, _)| {
                let t = match *kind {
                    "timestamp" => "timestamp",
                    "bool" => "boolean",
                    _ => "varchar",
                };
                ((*name).to_owned(), t.to_owned())
            })
            .collect(),
        rows: rows
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .zip(&columns)
                    .map(|(v, c)| match (*c, v) {
                        ("event_time", Some(t)) => Some(
                            chrono::DateTime::parse_from_rfc3339(t)
                                .unwrap()
                                .format("%Y-%m-%d %H:%M:%S%.3f")
                                .to_string(),
                        ),
                        _ => v.clone(),
                    })
                    .collect()
            })
            .collect(),
    };
    let endpoint = iat_sim::emulators::moto_endpoint();
    queue_athena_answers(&endpoint, "ap-northeast-3", &[answer]);
    let run = iat([
        "--db",
        &s.recent,
        "events",
        "--since",
        "30d",
        "--limit",
        "0",
        "--format",
        "csv",
        "--history",
        "lake",
        "--athena-database",
        "iat",
        "--athena-endpoint",
        &endpoint,
        "--athena-region",
        "ap-northeast-3",
        "--athena-output",
        "s3://iat-athena-results/",
    ])
    .unwrap()
    .stdout;
    let want = iat([
        "--db", &s.full, "events", "--since", "30d", "--limit", "0", "--format", "csv",
    ])
    .unwrap()
    .stdout;
    assert_eq!(lines(&run), lines(&want));
}

/// `iat --db DB serve` on a free port with `history`'s flags, in this process; its address.
fn serve_db(db: &str, history: &[&str]) -> String {
    use clap::Parser;
    let mut argv = vec!["iat", "--db", db, "serve", "--listen", "127.0.0.1:0"];
    argv.extend(history);
    let cli = iat_cli::Cli::try_parse_from(argv).unwrap();
    let iat_cli::Command::Serve(args) = cli.command else {
        unreachable!()
    };
    let server = iat_cli::cmd::serve::Server::bind(&cli.store, args).unwrap();
    let url = server.url().unwrap();
    server.spawn().unwrap();
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// A page of `path` from the console at `addr`.
fn page(addr: &str, path: &str) -> (u16, String) {
    iat_e2e::http(addr, "GET", path, &[], "")
}

/// The console over the 14-day store with the lake: an event search on the old day finds its
/// events, and each opens as a record.
#[test]
fn the_console_reads_the_lake_for_days_the_store_no_longer_keeps() {
    let s = stores();
    let serve = |history: &[&str]| serve_db(&s.recent, history);
    let day = s.old_day.to_string();
    let search = format!("/events?since={day}T00:00:00Z&until={day}T23:59:59Z");

    let with_lake = serve(&["--retention-days", "14", "--lake", &s.lake]);
    let (status, body) = page(&with_lake, &search);
    assert_eq!(status, 200, "{body}");
    let records: Vec<&str> = body
        .split("href=\"/event?")
        .skip(1)
        .map(|l| l.split('"').next().unwrap())
        .collect();
    assert_eq!(records.len(), 50, "a full first page from the lake");
    let (status, record) = page(
        &with_lake,
        &format!("/event?{}", records[0].replace("&amp;", "&")),
    );
    assert_eq!(status, 200, "{record}");
    assert!(
        record.contains("eventID") && record.contains(&day),
        "{record}"
    );

    // Denied calls from the old day to today: the lake counts its days in SQL, the store
    // counts its own, and the page is the one a store holding every day shows. The window's
    // end is given: left open it is each request's clock, and two requests can straddle a second.
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let denied = format!("/denied?since={day}T00:00:00Z&until={until}");
    let section = |addr: &str| -> (u64, String) {
        let (status, body) = page(addr, &denied);
        assert_eq!(status, 200, "{body}");
        let at = body
            .find(" denied calls from")
            .expect("the denied page's summary");
        let start = body[..at].rfind('>').unwrap() + 1;
        let end = body.rfind("</table>").expect("the denied page's table");
        let calls = body[start..at].replace(',', "").parse().unwrap();
        (calls, body[start..end].to_owned())
    };
    let (calls, spanned) = section(&with_lake);
    assert_eq!(spanned, section(&serve_db(&s.full, &[])).1);
    let (recent_calls, _) = section(&serve(&[]));
    assert!(
        recent_calls > 0 && calls > recent_calls,
        "denied calls on both days: {calls} in all, {recent_calls} in the store's"
    );

    // The store alone has nothing that day.
    let store_only = serve(&[]);
    let (status, body) = page(&store_only, &search);
    assert_eq!(status, 200);
    assert!(!body.contains("href=\"/event?"), "{body}");
}

/// On a deployed stack the lake is read through Athena, and the exporter keeps each day's alerts
/// in the lake's bucket: with `--lake-bucket` the console's raised view of a lake day reads them
/// from S3 (Athena is asked nothing: moto is given no answer) and shows what the console over
/// the local lake shows; without it, the page asks Athena for the day's events.
#[test]
#[ignore = "needs moto: run `make test`"]
fn on_athena_the_console_reads_a_lake_days_alerts_from_the_bucket() {
    use iat_core::ports::{ObjectKey, ObjectStore};
    let s = stores();
    let endpoint = iat_sim::emulators::moto_endpoint();
    let bucket = format!("iat-lake-{}", std::process::id());
    let raised_dir = std::path::Path::new(&s.lake).join("exports/raised");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let sdk = iat_aws::sdk_config(&iat_aws::AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.clone()),
            ..Default::default()
        })
        .await;
        let client = iat_aws::S3ObjectStore::client(&sdk, true);
        client.create_bucket().bucket(&bucket).send().await.unwrap();
        let lake = iat_aws::S3ObjectStore::new(client, &bucket, "").unwrap();
        for f in std::fs::read_dir(&raised_dir).unwrap() {
            let f = f.unwrap();
            let key = format!("exports/raised/{}", f.file_name().to_string_lossy());
            lake.put(
                &ObjectKey::new(key).unwrap(),
                std::fs::read(f.path()).unwrap(),
            )
            .await
            .unwrap();
        }
    });
    let serve = |history: &[&str]| {
        serve_db(
            &s.recent,
            &[&["--retention-days", "14"][..], history].concat(),
        )
    };
    let athena = [
        "--athena-database",
        "iat",
        "--athena-endpoint",
        &endpoint,
        "--athena-region",
        "us-east-1",
        "--athena-output",
        "s3://iat-athena-results/",
    ];
    let day = s.old_day.to_string();
    let uri = format!("/alerts?raised=1&since={day}T00:00:00Z&until={day}T23:59:59Z");
    let with_bucket = serve(&[&athena[..], &["--lake-bucket", &bucket]].concat());
    let (status, body) = page(&with_bucket, &uri);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("for the 1 days read from the lake"), "{body}");
    let (status, local) = page(&serve(&["--lake", &s.lake]), &uri);
    assert_eq!(status, 200, "{local}");
    let rows = |b: &str| -> String {
        let start = b.find("<tbody>").expect("a table");
        b[start..start + b[start..].find("</tbody>").unwrap()].to_owned()
    };
    assert!(
        rows(&local).matches("href=\"/alert?").count() > 3,
        "{}",
        rows(&local)
    );
    assert_eq!(rows(&body), rows(&local));

    // Without the bucket the page asks Athena for the day's events instead.
    let (_, without) = page(&serve(&athena), &uri);
    assert!(!without.contains("days read from the lake"), "{without}");
}
