//! The weekly report function's real binary, run the way Lambda runs it: a Runtime API (served
//! here) hands it an invocation; Athena and SNS are moto (moto runs no SQL: it answers with the
//! rows queued for it), and the message is read back from an SQS subscription.
//!
//! `make test` starts moto and sets `IAT_TEST_MOTO_ENDPOINT`; a plain `cargo test` lists these tests as ignored.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use iat_aws::testing::{AthenaAnswer, SnsInbox, queue_athena_answers};
use iat_aws::{AwsSettings, sdk_config};
use iat_lambda::testing::{Outcome, function_command, runtime_api, stop};

fn report(api: std::net::SocketAddr, env: &[(&str, String)]) -> Child {
    let mut cmd = function_command(Path::new(env!("CARGO_BIN_EXE_report")), api, "report");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the report binary")
}

/// Serves `event` to the report binary started with `env`; its answer and its logs.
async fn invoke(event: serde_json::Value, env: &[(&str, String)]) -> (Option<Outcome>, String) {
    let (api, mut outcomes) = runtime_api(event, Duration::from_secs(120)).await;
    let child = report(api, env);
    let outcome = tokio::time::timeout(Duration::from_secs(60), outcomes.recv()).await;
    (outcome.ok().flatten(), stop(child))
}

async fn inbox(endpoint: &str, region: &str) -> SnsInbox {
    let config = sdk_config(&AwsSettings {
        region: Some(region.into()),
        endpoint_url: Some(endpoint.to_owned()),
        ..Default::default()
    })
    .await;
    SnsInbox::create(&config, &format!("iat-report-{}", std::process::id())).await
}

fn answer(columns: &[(&str, &str)], rows: &[&[&str]]) -> AthenaAnswer {
    AthenaAnswer {
        columns: columns
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect(),
        rows: rows
            .iter()
            .map(|r| r.iter().map(|v| Some((*v).to_owned())).collect())
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn a_report_runs_on_athena_and_arrives_by_sns() {
    let moto = iat_sim::emulators::moto_endpoint();
    // A region of its own: moto hands queued answers to the next queries of a region.
    let region = "ap-south-2";
    let inbox = inbox(&moto, region).await;
    queue_athena_answers(
        &moto,
        region,
        &[
            answer(
                &[
                    ("event_source", "varchar"),
                    ("event_name", "varchar"),
                    ("calls", "bigint"),
                    ("callers", "bigint"),
                    ("accounts", "bigint"),
                    ("regions", "bigint"),
                    ("a_layer", "varchar"),
                    ("layers", "bigint"),
                ],
                &[
                    &[
                        "sqs.amazonaws.com",
                        "CreateQueue",
                        "12",
                        "3",
                        "2",
                        "1",
                        "service_control_policy",
                        "1",
                    ],
                    &[
                        "kms.amazonaws.com",
                        "Decrypt",
                        "5",
                        "1",
                        "1",
                        "1",
                        "resource_policy",
                        "2",
                    ],
                ],
            ),
            answer(
                &[
                    ("event_source", "varchar"),
                    ("event_name", "varchar"),
                    ("calls", "bigint"),
                    ("callers", "bigint"),
                    ("a_layer", "varchar"),
                    ("first_seen", "timestamp"),
                ],
                &[&[
                    "sqs.amazonaws.com",
                    "CreateQueue",
                    "12",
                    "3",
                    "service_control_policy",
                    "2026-03-02 10:00:00.000",
                ]],
            ),
            answer(
                &[
                    ("aws_region", "varchar"),
                    ("event_source", "varchar"),
                    ("actor", "varchar"),
                    ("calls", "bigint"),
                    ("denied", "bigint"),
                    ("last_seen", "timestamp"),
                ],
                &[&[
                    "ap-east-1",
                    "ec2.amazonaws.com",
                    "mallory",
                    "3",
                    "3",
                    "2026-03-06 01:00:00.000",
                ]],
            ),
            by_account(&[&["123456789012", "17", "2", "4", "1", "12"]]),
            answer(
                &[
                    ("aws_region", "varchar"),
                    ("calls", "bigint"),
                    ("actions", "bigint"),
                    ("callers", "bigint"),
                    ("accounts", "bigint"),
                    ("first_seen", "timestamp"),
                ],
                &[&["ap-east-1", "3", "1", "1", "1", "2026-03-06 01:00:00.000"]],
            ),
        ],
    );
    let (outcome, logs) = invoke(
        serde_json::json!({"until": "2026-03-07"}),
        &[
            ("AWS_REGION", region.to_owned()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("ATHENA_DATABASE", "iat".into()),
            ("ATHENA_OUTPUT_LOCATION", "s3://iat-athena-results/".into()),
            ("REPORT_TOPIC_ARN", inbox.topic_arn.clone()),
        ],
    )
    .await;
    let Some(Outcome::Response(out)) = outcome else {
        panic!("no response: {outcome:?}\n{logs}");
    };
    assert_eq!(out["start"], "2026-03-01");
    assert_eq!(out["end"], "2026-03-07");
    assert_eq!(
        out["rows"],
        serde_json::json!({"denied_calls": 2, "denied_new": 1, "unexpected_regions": 1, "denied_by_account": 1, "denied_regions_new": 1})
    );
    assert_eq!(
        out["subject"],
        "Denied calls 2026-03-01 to 2026-03-07: 17 calls, 2 actions, 1 new"
    );
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1, "one message");
    let n = &delivered[0].notification;
    assert_eq!(n.subject.as_str(), out["subject"].as_str().unwrap());
    assert_eq!(n.attributes["rule_id"], "weekly_report");
    for part in [
        "12  sqs:CreateQueue  by 3 callers, first 2026-03-02 10:00:00.000, denied by service control policy",
        "kms:Decrypt  1 callers, 1 accounts, 1 regions; resource policy and 1 other layers",
        "ap-east-1  ec2  by mallory (3 denied)",
        "      17  123456789012  2 actions, 4 callers, 1 regions; 12 by an organisation policy",
        "       3  ap-east-1  1 actions by 1 callers in 1 accounts, first 2026-03-06 01:00:00.000",
        "From Athena workgroup primary, database iat; 5 queries scanned 0 bytes for $0.0002.",
    ] {
        assert!(n.body.contains(part), "{part:?} not in\n{}", n.body);
    }
    assert!(logs.contains("\"report sent\""), "{logs}");
}

fn by_account(rows: &[&[&str]]) -> AthenaAnswer {
    answer(
        &[
            ("account", "varchar"),
            ("calls", "bigint"),
            ("actions", "bigint"),
            ("callers", "bigint"),
            ("regions", "bigint"),
            ("org_policy_calls", "bigint"),
        ],
        rows,
    )
}

/// The statements the function sent to Athena (moto keeps them), oldest first.
async fn athena_statements(endpoint: &str, region: &str) -> Vec<String> {
    let config = iat_aws::testing::emulator_config(endpoint, region).await;
    let athena = aws_sdk_athena::Client::new(&config);
    let ids = athena
        .list_query_executions()
        .send()
        .await
        .unwrap()
        .query_execution_ids()
        .to_vec();
    let mut statements = Vec::new();
    for id in ids {
        let q = athena
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        let e = q.query_execution().unwrap();
        let submitted = e
            .status()
            .and_then(|s| s.submission_date_time())
            .map(|t| t.as_nanos())
            .unwrap_or_default();
        statements.push((submitted, e.query().unwrap_or_default().to_owned()));
    }
    statements.sort();
    statements.into_iter().map(|(_, q)| q).collect()
}

/// Over the organisation trail: the accounts come from Organizations (moto), the trail table's
/// account list is refreshed with them before the queries, every query reads the raw table by
/// day partition, and the report names the accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn over_the_trail_the_report_covers_the_organisation_by_account() {
    let moto = iat_sim::emulators::moto_endpoint();
    let region = "eu-south-2";
    let config = iat_aws::testing::emulator_config(&moto, region).await;
    let org = aws_sdk_organizations::Client::new(&config);
    let name = format!("payments-{}", std::process::id());
    let member = iat_aws::testing::organization_member(&org, &name).await;
    let inbox = inbox(&moto, region).await;
    let empty = |cols: &[(&str, &str)]| answer(cols, &[]);
    queue_athena_answers(
        &moto,
        region,
        &[
            // ALTER TABLE answers nothing.
            AthenaAnswer {
                columns: vec![],
                rows: vec![],
            },
            empty(&[
                ("event_source", "varchar"),
                ("event_name", "varchar"),
                ("calls", "bigint"),
                ("callers", "bigint"),
                ("accounts", "bigint"),
                ("regions", "bigint"),
                ("a_layer", "varchar"),
                ("layers", "bigint"),
            ]),
            empty(&[("event_source", "varchar"), ("event_name", "varchar")]),
            empty(&[("aws_region", "varchar")]),
            by_account(&[&[&member, "9", "3", "2", "1", "9"]]),
            empty(&[("aws_region", "varchar")]),
        ],
    );
    let (outcome, logs) = invoke(
        serde_json::json!({"until": "2026-03-07"}),
        &[
            ("AWS_REGION", region.to_owned()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("ATHENA_DATABASE", "iam_activity_0a1b2c3d".into()),
            ("ATHENA_OUTPUT_LOCATION", "s3://iat-athena-results/".into()),
            ("REPORT_TOPIC_ARN", inbox.topic_arn.clone()),
            ("TRAIL_TABLE", "trail".into()),
        ],
    )
    .await;
    let Some(Outcome::Response(out)) = outcome else {
        panic!(
            "no response: {outcome:?}
{logs}"
        );
    };
    assert_eq!(out["source"], "trail");
    assert!(out["accounts"].as_u64().unwrap() >= 2, "{out}");
    let statements = athena_statements(&moto, region).await;
    assert_eq!(statements.len(), 6, "{statements:#?}");
    assert!(
        statements[0].starts_with(
            "ALTER TABLE iam_activity_0a1b2c3d.trail SET TBLPROPERTIES ('projection.account.type' = 'enum', 'projection.account.values' = '"
        ) && statements[0].contains(&member),
        "{}",
        statements[0]
    );
    for sql in &statements[1..] {
        assert!(sql.contains("FROM trail"), "{sql}");
        assert!(!sql.contains("FROM events"), "{sql}");
        assert!(
            sql.contains("dt BETWEEN '2026/03/01' AND '2026/03/07'"),
            "{sql}"
        );
    }
    let delivered = inbox.drain().await;
    assert_eq!(delivered.len(), 1, "one message");
    let body = &delivered[0].notification.body;
    for part in [
        format!(
            "       9  {member} ({name})  3 actions, 2 callers, 1 regions; 9 by an organisation policy"
        ),
        "From the organisation trail (table trail) on Athena".to_owned(),
    ] {
        assert!(
            body.contains(&part),
            "{part:?} not in
{body}"
        );
    }
}

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn a_failed_query_is_an_error_and_sends_nothing() {
    let moto = iat_sim::emulators::moto_endpoint();
    let region = "me-central-1";
    let inbox = inbox(&moto, region).await;
    let (outcome, logs) = invoke(
        serde_json::json!({"source": "aws.events"}),
        &[
            ("AWS_REGION", region.to_owned()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("ATHENA_DATABASE", "iat".into()),
            ("ATHENA_WORKGROUP", "no-such-workgroup".into()),
            ("REPORT_TOPIC_ARN", inbox.topic_arn.clone()),
        ],
    )
    .await;
    let Some(Outcome::Error(error)) = outcome else {
        panic!("no error: {outcome:?}\n{logs}");
    };
    assert_eq!(error["errorType"], "ReportFailed");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("denied_calls") && message.contains("no-such-workgroup"),
        "{message}"
    );
    assert!(inbox.drain().await.is_empty());
}

#[tokio::test]
async fn misconfiguration_stops_the_function_with_one_line_naming_the_variable() {
    for (env, variable) in [
        (
            vec![("ATHENA_DATABASE", "iat".to_owned())],
            "REPORT_TOPIC_ARN",
        ),
        (
            vec![
                ("ATHENA_DATABASE", "iat".to_owned()),
                (
                    "REPORT_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:t".to_owned(),
                ),
                ("REPORT_DAYS", "0".to_owned()),
            ],
            "REPORT_DAYS",
        ),
        (
            vec![
                ("ATHENA_DATABASE", "iat".to_owned()),
                (
                    "REPORT_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:t".to_owned(),
                ),
                ("ATHENA_OUTPUT_LOCATION", "my-bucket/results".to_owned()),
            ],
            "ATHENA_OUTPUT_LOCATION",
        ),
    ] {
        let (api, _outcomes) = runtime_api(serde_json::json!({}), Duration::from_secs(30)).await;
        let out = report(api, &env).wait_with_output().unwrap();
        assert!(!out.status.success(), "it must not start");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line: serde_json::Value = stdout
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON log line: {stdout}"));
        assert_eq!(line["fields"]["error_type"], "ConfigError");
        assert!(
            line["fields"]["error"].as_str().unwrap().contains(variable),
            "{stdout}"
        );
    }
}
