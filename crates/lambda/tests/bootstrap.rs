//! The tracker function's real binary, run the way Lambda runs it: a Runtime API (served here)
//! hands it a scheduled invocation; CloudTrail is the simulator and DynamoDB, STS and EC2 are
//! moto, reached through the SDK's standard `AWS_ENDPOINT_URL*` variables.
//!
//! `make test` starts moto and sets `IAT_TEST_MOTO_ENDPOINT`; a plain `cargo test` lists the moto test as ignored.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use iat_aws::{AwsSettings, TableKind, create_table, sdk_config};
use iat_core::contract::records::RecordSpec;
use iat_lambda::testing::{Outcome, function_command, stop};
use iat_sim::lookup::{SimConfig, Simulator};
use tokio::sync::mpsc;

/// moto's account for any credentials; the simulator reads the account from the key id.
const ACCOUNT: &str = "123456789012";

/// A Runtime API serving one scheduled invocation, then none.
async fn runtime_api(deadline_in: StdDuration) -> (SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    let event =
        serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    iat_lambda::testing::runtime_api(event, deadline_in).await
}

fn tracker(runtime_api: SocketAddr, env: &[(&str, String)]) -> Child {
    let mut cmd = function_command(
        Path::new(env!("CARGO_BIN_EXE_tracker")),
        runtime_api,
        "tracker",
    );
    // The simulator reads the account from the access key id.
    cmd.env("AWS_ACCESS_KEY_ID", ACCOUNT);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the tracker binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn a_scheduled_invocation_collects_into_dynamodb() {
    let moto = iat_sim::emulators::moto_endpoint();
    let sim = Simulator::new(SimConfig {
        default_account: ACCOUNT.to_owned(),
        ..Default::default()
    });
    let now = Utc::now();
    let mut expected = 0;
    for i in 0..600 {
        let region = if i % 3 == 0 { "eu-west-1" } else { "us-east-1" };
        let (source, name) = if region == "us-east-1" && i % 2 == 0 {
            ("iam.amazonaws.com", "CreateUser")
        } else {
            ("sts.amazonaws.com", "AssumeRole")
        };
        let raw = RecordSpec::new(
            &format!("lambda-{i}"),
            now - Duration::hours(20) + Duration::seconds(100 * i),
        )
        .name(source, name)
        .place(ACCOUNT, region)
        .json();
        // Visible once delivered; the run collects up to five minutes ago.
        sim.add(&raw, Duration::minutes(1)).unwrap();
        if now - Duration::hours(20) + Duration::seconds(100 * i) <= now - Duration::minutes(5) {
            expected += 1;
        }
    }
    let (sim_addr, _server) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();

    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let suffix = std::process::id();
    let (events, control) = (
        format!("fn-events-{suffix}"),
        format!("fn-control-{suffix}"),
    );
    create_table(&ddb, TableKind::Events, &events)
        .await
        .unwrap();
    create_table(&ddb, TableKind::Control, &control)
        .await
        .unwrap();

    let (api, mut outcomes) = runtime_api(StdDuration::from_secs(120)).await;
    let child = tracker(
        api,
        &[
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", format!("http://{sim_addr}")),
            ("EVENTS_TABLE", events.clone()),
            ("CONTROL_TABLE", control.clone()),
            ("REGIONS", "us-east-1,eu-west-1".into()),
            ("BACKFILL_DAYS", "2".into()),
            ("FILTERED_ROLES", "cdk-*".into()),
        ],
    );
    let outcome = tokio::time::timeout(StdDuration::from_secs(180), outcomes.recv()).await;
    let logs = stop(child);
    let Ok(Some(Outcome::Response(summary))) = outcome else {
        panic!("no response: {outcome:?}\n{logs}");
    };
    assert_eq!(summary["account"], ACCOUNT, "{summary:#}");
    assert_eq!(summary["failed"], 0, "{summary:#}");
    assert_eq!(summary["inserted"], expected, "{summary:#}\n{logs}");
    // Streams: IAM, sign-in and STS in us-east-1; STS in eu-west-1.
    assert_eq!(summary["streams"], 4, "{summary:#}");

    // JSON logs, one object a line, with the run's figures as fields.
    let finished = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "run finished")
        .unwrap_or_else(|| panic!("no JSON 'run finished' line in:\n{logs}"));
    assert_eq!(finished["level"], "INFO");
    assert_eq!(finished["fields"]["inserted"], expected);
    // Every line of the invocation carries its request id, from the runtime's span.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let without: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["requestId"] != "req-1")
        .collect();
    assert!(
        lines.len() > 4,
        "a line per stream and one for the run: {logs}"
    );
    assert!(
        without.is_empty(),
        "lines without the request id: {without:#?}"
    );

    // What the function stored is what `iat status` and the exporter will read.
    use iat_core::ports::{CheckpointStore, EventStore};
    let store = iat_aws::DynamoEventStore::new(ddb.clone(), &events);
    assert_eq!(store.stats().await.unwrap().events, expected as u64);
    let checkpoints = iat_aws::DynamoCheckpointStore::new(ddb, &control)
        .list()
        .await
        .unwrap();
    assert_eq!(checkpoints.len(), 4);

    // A table that does not exist: the invocation fails with a stable error type, and says which
    // table, so an alarm on the function's errors tells someone.
    let (api, mut outcomes) = runtime_api(StdDuration::from_secs(60)).await;
    let child = tracker(
        api,
        &[
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", format!("http://{sim_addr}")),
            ("EVENTS_TABLE", events.clone()),
            ("CONTROL_TABLE", "no-such-control".into()),
            ("REGIONS", "us-east-1".into()),
        ],
    );
    let outcome = tokio::time::timeout(StdDuration::from_secs(60), outcomes.recv()).await;
    let logs = stop(child);
    let Ok(Some(Outcome::Error(error))) = outcome else {
        panic!("no error: {outcome:?}\n{logs}");
    };
    assert_eq!(error["errorType"], "StreamsFailed", "{error:#}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("table no-such-control: not found"),
        "{message}"
    );
}

/// `ACCOUNTS` naming member accounts: each read through its reader role (STS and Account
/// Management on the simulator, whose assumed credentials select the account); one without
/// the role and one denied by a service control policy fail the invocation by name, and the
/// others are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn member_accounts_are_read_through_their_roles_and_the_unreadable_named() {
    let moto = iat_sim::emulators::moto_endpoint();
    let members = [
        "210000000001",
        "210000000002",
        "210000000003",
        "210000000004",
    ];
    let (no_role, denied) = (members[2], members[3]);
    let sim = Simulator::new(SimConfig {
        default_account: ACCOUNT.to_owned(),
        missing_roles: vec![no_role.to_owned()],
        denied_accounts: vec![denied.to_owned()],
        ..Default::default()
    });
    let now = Utc::now();
    let mut readable = 0u64;
    for (a, account) in std::iter::once(&ACCOUNT).chain(members.iter()).enumerate() {
        for i in 0..30 {
            let raw = RecordSpec::new(
                &format!("member-{account}-{i}"),
                now - Duration::hours(10) + Duration::minutes(13 * i + a as i64),
            )
            .name("iam.amazonaws.com", "CreateRole")
            .place(account, "us-east-1")
            .json();
            sim.add(&raw, Duration::minutes(1)).unwrap();
            if *account != no_role && *account != denied {
                readable += 1;
            }
        }
    }
    let (sim_addr, _server) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let suffix = std::process::id();
    let (events, control) = (
        format!("mb-events-{suffix}"),
        format!("mb-control-{suffix}"),
    );
    create_table(&ddb, TableKind::Events, &events)
        .await
        .unwrap();
    create_table(&ddb, TableKind::Control, &control)
        .await
        .unwrap();

    let sim_url = format!("http://{sim_addr}");
    let (api, mut outcomes) = runtime_api(StdDuration::from_secs(120)).await;
    let mut env = members_env(&moto, &sim_url, &events, &control);
    env.push(("ACCOUNTS", format!("{ACCOUNT},{}", members.join(","))));
    env.push(("MEMBER_EXTERNAL_ID", "o-abcdefghij".into()));
    let child = tracker(api, &env);
    let outcome = tokio::time::timeout(StdDuration::from_secs(180), outcomes.recv()).await;
    let logs = stop(child);
    let Ok(Some(Outcome::Error(error))) = outcome else {
        panic!("no error: {outcome:?}\n{logs}");
    };
    assert_eq!(error["errorType"], "AccountsFailed", "{error:#}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "2 of 5 accounts could not be read ({no_role}, {denied})"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("arn:aws:iam::{no_role}:role/iat-member-reader")),
        "{message}"
    );
    use iat_core::ports::EventStore;
    let store = iat_aws::DynamoEventStore::new(ddb.clone(), &events);
    assert_eq!(store.stats().await.unwrap().events, readable, "{logs}");
    assert_eq!(sim.stats().assume_role, 4, "one AssumeRole per member");
    // Each account's state is in the checkpoints, for `iat status`: the unreadable ones with
    // the reason on their us-east-1 streams, the readable ones complete and without error.
    use iat_core::ports::CheckpointStore;
    let checkpoints = iat_aws::DynamoCheckpointStore::new(ddb, &control)
        .list()
        .await
        .unwrap();
    for account in std::iter::once(&ACCOUNT).chain(members.iter()) {
        let mine: Vec<_> = checkpoints
            .iter()
            .filter(|c| c.stream.account.as_str() == *account)
            .collect();
        assert!(!mine.is_empty(), "no checkpoint for {account}");
        for c in mine {
            assert_eq!(c.stream.region.as_str(), "us-east-1");
            if *account == no_role || *account == denied {
                let error = c.last_error.as_deref().unwrap_or_default();
                let reason = if *account == no_role {
                    "cannot assume"
                } else {
                    "explicit deny in a service control policy"
                };
                assert!(error.contains(reason), "{}: {error}", c.stream);
                // No progress: at most the start of the backfill (a day back).
                assert!(
                    c.complete_up_to
                        .is_none_or(|t| t <= now - Duration::hours(23)),
                    "{}: {:?}",
                    c.stream,
                    c.complete_up_to
                );
            } else {
                assert_eq!(c.last_error, None, "{}", c.stream);
                assert!(c.complete_up_to.is_some(), "{}", c.stream);
            }
        }
    }
}

#[tokio::test]
async fn misconfiguration_stops_the_function_with_one_line_naming_the_variable() {
    let (api, _outcomes) = runtime_api(StdDuration::from_secs(30)).await;
    let child = tracker(api, &[("CONTROL_TABLE", "control".into())]);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "it must not start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON log line: {stdout}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["error_type"], "ConfigError");
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(
        error.contains("EVENTS_TABLE") && error.contains("must be set"),
        "{error}"
    );

    let (api, _outcomes) = runtime_api(StdDuration::from_secs(30)).await;
    let child = tracker(
        api,
        &[
            ("EVENTS_TABLE", "e".into()),
            ("CONTROL_TABLE", "c".into()),
            ("REQUESTS_PER_SECOND", "10".into()),
        ],
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("REQUESTS_PER_SECOND"));
}

/// `ACCOUNTS=<OU>,<account>`: the unit's accounts (child units included) are listed from
/// Organizations (moto) on every run, so a suspended account is skipped and one that joins is
/// read from the next run on, without a redeploy; the schedule's shards split the accounts
/// between invocations, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn the_organisation_is_listed_each_run_suspended_skipped_joiners_read_shards_split() {
    let moto = iat_sim::emulators::moto_endpoint();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let org = aws_sdk_organizations::Client::new(&config);
    let run = std::process::id();
    // This test's accounts live in their own unit (and a child unit of it), so accounts other
    // tests add to moto's organisation are not read.
    let root = iat_aws::testing::ensure_organization(&org).await;
    let new_unit = iat_aws::testing::organizational_unit;
    let unit = new_unit(&org, &root, &format!("tracked-{run}")).await;
    let inner = new_unit(&org, &unit, &format!("tracked-child-{run}")).await;
    let create = |name: String, into: String| {
        let (org, root) = (org.clone(), root.clone());
        async move {
            let id = iat_aws::testing::organization_member(&org, &name).await;
            org.move_account()
                .account_id(&id)
                .source_parent_id(root)
                .destination_parent_id(into)
                .send()
                .await
                .unwrap();
            id
        }
    };
    let (a, b, closed) = (
        create(format!("org-a-{run}"), unit.clone()).await,
        create(format!("org-b-{run}"), inner.clone()).await,
        create(format!("org-c-{run}"), unit.clone()).await,
    );
    org.close_account()
        .account_id(&closed)
        .send()
        .await
        .unwrap();

    let sim = Simulator::new(SimConfig {
        default_account: ACCOUNT.to_owned(),
        ..Default::default()
    });
    let now = Utc::now();
    let add = |account: &str, tag: &str| {
        for i in 0..5 {
            let raw = RecordSpec::new(
                &format!("{tag}-{account}-{i}"),
                now - Duration::hours(3) + Duration::minutes(i),
            )
            .name("iam.amazonaws.com", "CreateUser")
            .place(account, "us-east-1")
            .json();
            sim.add(&raw, Duration::minutes(1)).unwrap();
        }
    };
    for account in [ACCOUNT, &a, &b, &closed] {
        add(account, "org");
    }
    let (sim_addr, _server) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let (events, control) = (format!("og-events-{run}"), format!("og-control-{run}"));
    create_table(&ddb, TableKind::Events, &events)
        .await
        .unwrap();
    create_table(&ddb, TableKind::Control, &control)
        .await
        .unwrap();
    let sim_url = format!("http://{sim_addr}");
    let (api, invoke, mut outcomes) =
        iat_lambda::testing::runtime_api_queue(StdDuration::from_secs(120)).await;
    let mut env = members_env(&moto, &sim_url, &events, &control);
    env.push(("ACCOUNTS", format!("{unit},{ACCOUNT}")));
    let child = tracker(api, &env);
    let store = iat_aws::DynamoEventStore::new(ddb.clone(), &events);
    let checkpoints = iat_aws::DynamoCheckpointStore::new(ddb.clone(), &control);
    let mut summaries = Vec::new();
    for shard in 0..2 {
        match invoke_once(
            &invoke,
            &mut outcomes,
            serde_json::json!({"shard": shard, "shards": 2}),
        )
        .await
        {
            Ok(v) => summaries.push(v),
            Err(e) => panic!("shard {shard}: {e}\n{}", stop(child)),
        }
    }
    // Each account in one shard: together they read every active account once.
    let read: u64 = summaries
        .iter()
        .map(|s| s["accounts"].as_u64().unwrap())
        .sum();
    assert!(read >= 3, "{summaries:?}");
    for account in [ACCOUNT, &a, &b] {
        assert_eq!(stored_of(&store, account).await, 5, "{account}");
    }
    assert_eq!(
        stored_of(&store, &closed).await,
        0,
        "the suspended account is skipped"
    );
    use iat_core::ports::CheckpointStore;
    let listed = checkpoints.list().await.unwrap();
    assert!(
        !listed.iter().any(|c| c.stream.account.as_str() == closed),
        "no stream of the suspended account"
    );
    for account in [ACCOUNT, &a, &b] {
        let mine = listed
            .iter()
            .filter(|c| c.stream.account.as_str() == account)
            .count();
        assert_eq!(mine, 3, "{account}: each stream once, by one shard");
    }

    // An account joins: the next run (no shard named: every account) reads it.
    let joined = create(format!("org-d-{run}"), inner.clone()).await;
    add(&joined, "org");
    let summary = invoke_once(&invoke, &mut outcomes, serde_json::json!({})).await;
    let logs = stop(child);
    let summary = summary.unwrap_or_else(|e| panic!("{e}\n{logs}"));
    assert_eq!(summary["accounts"], 4, "{summary}");
    assert_eq!(
        stored_of(&store, &joined).await,
        5,
        "the joining account is read"
    );
    for account in [ACCOUNT, &a, &b] {
        assert_eq!(
            stored_of(&store, account).await,
            5,
            "{account}: nothing twice"
        );
    }
}

/// `BACKFILL_QUEUE_URL`: a scheduled run hands the accounts far behind (never read) to the
/// backfill queue (moto's SQS) in groups of `BACKFILL_ACCOUNTS_PER_INVOCATION`, reads the
/// caught-up one itself, and never assumes a handed-off account's role; each group, delivered
/// as the queue delivers it, is read by an invocation of its own, one with a missing role
/// failing by name while its group's others are stored; every event is then stored once. The
/// next run hands nothing off but the failed account, which it leaves to the run that just
/// tried it; a group delivered too late is dropped unread; a queue that refuses the groups
/// leaves them to the scheduled run, which reads them itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run `make test`"]
async fn accounts_far_behind_are_backfilled_by_invocations_of_their_own() {
    let moto = iat_sim::emulators::moto_endpoint();
    let members: Vec<String> = (1..=7)
        .map(|i| format!("{:012}", 230_000_000_000u64 + i))
        .collect();
    let no_role = members[4].clone();
    let late_joiner = format!("{:012}", 230_000_000_099u64);
    let sim = Simulator::new(SimConfig {
        default_account: ACCOUNT.to_owned(),
        missing_roles: vec![no_role.clone()],
        ..Default::default()
    });
    let now = Utc::now();
    let everyone: Vec<String> = std::iter::once(ACCOUNT.to_owned())
        .chain(members.iter().cloned())
        .chain([late_joiner.clone()])
        .collect();
    for (a, account) in everyone.iter().enumerate() {
        for i in 0..30 {
            let raw = RecordSpec::new(
                &format!("fan-{account}-{i}"),
                now - Duration::hours(10) + Duration::minutes(13 * i + a as i64),
            )
            .name("iam.amazonaws.com", "CreateRole")
            .place(account, "us-east-1")
            .json();
            sim.add(&raw, Duration::minutes(1)).unwrap();
        }
    }
    let (sim_addr, _server) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let config = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.clone()),
        ..Default::default()
    })
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let run = std::process::id();
    let (events, control) = (format!("fo-events-{run}"), format!("fo-control-{run}"));
    create_table(&ddb, TableKind::Events, &events)
        .await
        .unwrap();
    create_table(&ddb, TableKind::Control, &control)
        .await
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(format!("fo-backfill-{run}"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let store = iat_aws::DynamoEventStore::new(ddb.clone(), &events);
    let sim_url = format!("http://{sim_addr}");
    let base = members_env(&moto, &sim_url, &events, &control);

    // The management account alone, before the organisation: it is caught up.
    let (api, invoke, mut outcomes) =
        iat_lambda::testing::runtime_api_queue(StdDuration::from_secs(120)).await;
    let mut env = base.clone();
    env.push(("ACCOUNTS", ACCOUNT.to_owned()));
    let child = tracker(api, &env);
    let first = invoke_once(&invoke, &mut outcomes, serde_json::json!({})).await;
    let logs = stop(child);
    first.unwrap_or_else(|e| panic!("{e}\n{logs}"));
    assert_eq!(stored_of(&store, ACCOUNT).await, 30);

    // The organisation with the fan-out: the seven members are far behind (never read).
    let (api, invoke, mut outcomes) =
        iat_lambda::testing::runtime_api_queue(StdDuration::from_secs(120)).await;
    let mut env = base.clone();
    env.push(("ACCOUNTS", format!("{ACCOUNT},{}", members.join(","))));
    env.push(("BACKFILL_QUEUE_URL", queue.clone()));
    env.push(("BACKFILL_ACCOUNTS_PER_INVOCATION", "3".into()));
    let child = tracker(api, &env);
    let scheduled = invoke_once(&invoke, &mut outcomes, serde_json::json!({})).await;
    let scheduled = scheduled.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scheduled["accounts"], 8, "{scheduled}");
    assert_eq!(scheduled["handed_off"], 7, "{scheduled}");
    assert_eq!(
        sim.stats().assume_role,
        0,
        "no handed-off account is read here"
    );
    for m in &members {
        assert_eq!(stored_of(&store, m).await, 0, "{m} is left to its backfill");
    }
    // What the queue holds: three groups (3, 3 and 1) covering the members once.
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            bodies.push(m.body().unwrap().to_owned());
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if bodies.len() >= 3 {
            break;
        }
    }
    let groups: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let mut sizes: Vec<usize> = groups
        .iter()
        .map(|g| g["accounts"].as_array().unwrap().len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3, 3], "{bodies:?}");
    let mut handed: Vec<String> = groups
        .iter()
        .flat_map(|g| g["accounts"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    handed.sort();
    assert_eq!(handed, members);

    // Each group as the queue's event source delivers it, one invocation each.
    let delivery = |body: &str| {
        serde_json::json!({"Records": [{
            "messageId": "m", "eventSource": "aws:sqs", "body": body,
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:backfill",
        }]})
    };
    let mut failed = Vec::new();
    for body in &bodies {
        invoke.send(delivery(body)).unwrap();
        match tokio::time::timeout(StdDuration::from_secs(180), outcomes.recv()).await {
            Ok(Some(Outcome::Response(v))) => assert_eq!(v["dropped_late"], 0, "{v}"),
            Ok(Some(Outcome::Error(e))) => failed.push(e),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["errorType"], "AccountsFailed", "{:?}", failed[0]);
    assert!(
        failed[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains(&no_role),
        "{:?}",
        failed[0]
    );
    assert_eq!(
        sim.stats().assume_role,
        7,
        "each member's role assumed once"
    );
    for account in std::iter::once(ACCOUNT.to_owned()).chain(members.iter().cloned()) {
        let want = if account == no_role { 0 } else { 30 };
        assert_eq!(stored_of(&store, &account).await, want, "{account}");
    }

    // The next run: everything caught up but the account without a role, which a run that
    // may still be going has just tried: nothing is handed off, and it is not read here.
    let next = invoke_once(&invoke, &mut outcomes, serde_json::json!({})).await;
    let next = next.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next["handed_off"], 0, "{next}");
    assert_eq!(next["left_to_running"], 1, "{next}");
    assert_eq!(next["accounts"], 8, "{next}");
    assert_eq!(
        sim.stats().assume_role,
        7,
        "the failing account is not read here"
    );

    // A group delivered after its lifetime is dropped unread.
    let stale = serde_json::json!({
        "accounts": [late_joiner],
        "issued": (now - Duration::hours(2)).to_rfc3339(),
    })
    .to_string();
    let dropped = invoke_once(&invoke, &mut outcomes, delivery(&stale)).await;
    let logs = stop(child);
    let dropped = dropped.unwrap_or_else(|e| panic!("{e}\n{logs}"));
    assert_eq!(dropped["dropped_late"], 1, "{dropped}");
    assert_eq!(stored_of(&store, &late_joiner).await, 0);

    // A queue that refuses the groups: the scheduled run reads the new account itself.
    let (api, invoke, mut outcomes) =
        iat_lambda::testing::runtime_api_queue(StdDuration::from_secs(120)).await;
    let mut env = base.clone();
    env.push(("ACCOUNTS", format!("{ACCOUNT},{late_joiner}")));
    env.push(("BACKFILL_QUEUE_URL", format!("{queue}-missing")));
    let child = tracker(api, &env);
    let fallback = invoke_once(&invoke, &mut outcomes, serde_json::json!({})).await;
    let logs = stop(child);
    let fallback = fallback.unwrap_or_else(|e| panic!("{e}\n{logs}"));
    assert_eq!(fallback["handed_off"], 0, "{fallback}");
    assert!(logs.contains("not queued"), "{logs}");
    assert_eq!(stored_of(&store, &late_joiner).await, 30);
    assert_eq!(stored_of(&store, ACCOUNT).await, 30, "nothing twice");
}

/// The events stored of `account`.
async fn stored_of(store: &iat_aws::DynamoEventStore, account: &str) -> usize {
    use iat_core::ports::EventStore;
    store
        .query(&iat_core::ports::EventQuery {
            account: Some(iat_core::AccountId::new(account).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// Hands the function one invocation and waits for what it posts back.
async fn invoke_once(
    invoke: &mpsc::UnboundedSender<serde_json::Value>,
    outcomes: &mut mpsc::UnboundedReceiver<Outcome>,
    event: serde_json::Value,
) -> Result<serde_json::Value, String> {
    invoke.send(event).map_err(|e| e.to_string())?;
    match tokio::time::timeout(StdDuration::from_secs(180), outcomes.recv()).await {
        Ok(Some(Outcome::Response(v))) => Ok(v),
        other => Err(format!("{other:?}")),
    }
}

/// The tracker reading accounts through their roles: DynamoDB on moto, CloudTrail, STS and
/// Account Management on the simulator, us-east-1, one day back.
fn members_env(
    moto: &str,
    sim_url: &str,
    events: &str,
    control: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.to_owned()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", sim_url.to_owned()),
        ("AWS_ENDPOINT_URL_STS", sim_url.to_owned()),
        ("AWS_ENDPOINT_URL_ACCOUNT", sim_url.to_owned()),
        ("EVENTS_TABLE", events.to_owned()),
        ("CONTROL_TABLE", control.to_owned()),
        ("REGIONS", "us-east-1".to_owned()),
        ("BACKFILL_DAYS", "1".to_owned()),
    ]
}
