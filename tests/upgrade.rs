//! An update from the stack as it was before the cost changes (two lookup indexes, events kept in
//! DynamoDB without expiry) keeps every stored event reachable.
//!
//! `fixtures/upgrade/` holds what that stack's code stored and answered, made by `iat` of that
//! version against moto from 216 CloudTrail records over eight days (see its README): the events
//! table's definition and items, the lake it exported (every day but the last), and its own
//! answers to four reads (`iat events ... --format csv`). Here the table is made again from them,
//! updated as `make deploy` updates it (both indexes dropped, one an update), and this version
//! must print the earlier answers byte for byte: with a retention that reads the older days from
//! the earlier lake, from the table alone, and from the lake alone once it has exported the day
//! the earlier stack had not.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteGlobalSecondaryIndexAction,
    GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection,
    ProjectionType, PutRequest, ScalarAttributeType, WriteRequest,
};
use chrono::{NaiveDate, Utc};
use iat_e2e::iat;
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/upgrade");
/// The first day the upgraded table is read for; the days before it come from the lake.
const FIRST_STORE_DAY: &str = "2026-11-20";
/// The day the earlier stack had stored but not yet exported.
const UNEXPORTED_DAY: &str = "2026-11-29";
/// The fixture's events: eight days, three copies of each of nine record shapes.
const RECORDS: usize = 216;

/// An attribute from DynamoDB JSON (`{"S": "..."}`, `{"N": "1"}`, `{"B": "base64"}`).
fn attribute(v: &Value) -> AttributeValue {
    let (kind, value) = v.as_object().unwrap().iter().next().unwrap();
    match (kind.as_str(), value) {
        ("S", Value::String(s)) => AttributeValue::S(s.clone()),
        ("N", Value::String(n)) => AttributeValue::N(n.clone()),
        ("B", Value::String(b)) => AttributeValue::B(Blob::new(
            aws_smithy_types::base64::decode(b).expect("base64"),
        )),
        other => panic!("the fixture's items hold S, N and B only, not {other:?}"),
    }
}

fn key_schema(v: &Value) -> Vec<KeySchemaElement> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// The events table as the earlier stack made it, holding its items.
async fn earlier_table(client: &aws_sdk_dynamodb::Client, name: &str, fixture: &Value) {
    let table = &fixture["table"];
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&table["KeySchema"])));
    for a in table["AttributeDefinitions"].as_array().unwrap() {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap(),
        );
    }
    for g in table["GlobalSecondaryIndexes"].as_array().unwrap() {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g["Projection"]["ProjectionType"].as_str().unwrap(),
                        ))
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    create.send().await.expect("create the earlier table");
    let items: Vec<HashMap<String, AttributeValue>> = fixture["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute(v)))
                .collect()
        })
        .collect();
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        while !pending.is_empty() {
            let answer = client
                .batch_write_item()
                .request_items(name, pending)
                .send()
                .await
                .expect("store the earlier items");
            pending = answer
                .unprocessed_items()
                .and_then(|u| u.get(name))
                .cloned()
                .unwrap_or_default();
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Rows of an answer (after the header) whose time is on `day`.
fn rows_on(answer: &str, day: &str) -> usize {
    answer.lines().skip(1).filter(|l| l.contains(day)).count()
}

#[test]
#[ignore = "needs moto: run `make test`"]
fn an_upgraded_stack_answers_every_read_as_the_earlier_one_did() {
    let moto = iat_sim::emulators::moto_endpoint();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = runtime.block_on(iat_aws::testing::emulator_config(&moto, "us-east-1"));
    let client = aws_sdk_dynamodb::Client::new(&config);
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURE).join("events-table.json")).unwrap(),
    )
    .unwrap();
    let suffix = std::process::id();
    let events = format!("upgrade-events-{suffix}");
    let store = format!("dynamodb:{events},upgrade-control-{suffix},upgrade-ledger-{suffix}");
    runtime.block_on(earlier_table(&client, &events, &fixture));
    let tables = ["--store", &store, "--dynamodb-endpoint", &moto];
    let made = iat(["create-tables"].iter().chain(&tables).copied()).unwrap();
    assert!(made.stdout.contains("exists"), "{}", made.stdout);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_tree(&Path::new(FIXTURE).join("lake"), &lake);
    let lake = lake.display().to_string();

    // The update's table change: DynamoDB drops one index an update.
    for index in ["by_name", "by_actor"] {
        runtime
            .block_on(
                client
                    .update_table()
                    .table_name(&events)
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder()
                            .delete(
                                DeleteGlobalSecondaryIndexAction::builder()
                                    .index_name(index)
                                    .build()
                                    .unwrap(),
                            )
                            .build(),
                    )
                    .send(),
            )
            .expect("drop an index");
    }
    let described = runtime
        .block_on(client.describe_table().table_name(&events).send())
        .unwrap();
    let table = described.table().unwrap();
    assert!(table.global_secondary_indexes().is_empty(), "{table:?}");

    // A retention whose first whole day is FIRST_STORE_DAY, whatever today is.
    let first: NaiveDate = FIRST_STORE_DAY.parse().unwrap();
    let retention = ((Utc::now().date_naive() - first).num_days() + 1).to_string();
    let read = |name: &str, filters: &[&str], history: &[&str]| -> String {
        let mut args: Vec<&str> = vec!["events", "--since", "2026-09-01", "--limit", "0"];
        args.extend(["--format", "csv"]);
        args.extend(filters);
        args.extend(history);
        args.extend(tables);
        iat(args).unwrap_or_else(|e| panic!("{name}: {e}")).stdout
    };
    let reads: [(&str, &[&str]); 4] = [
        ("all", &[]),
        ("actor", &["--actor", "alice"]),
        ("name", &["--event-name", "CreateUser,ConsoleLogin"]),
        ("denied", &["--denied"]),
    ];
    let answer = |name: &str| {
        std::fs::read_to_string(Path::new(FIXTURE).join(format!("answer-{name}.csv"))).unwrap()
    };
    assert_eq!(
        answer("all").lines().count(),
        RECORDS + 1,
        "every record stored"
    );
    for (name, filters) in reads {
        let earlier = answer(name);
        assert!(
            earlier.lines().count() > 1,
            "{name}: the earlier answer has rows"
        );
        let spanned = read(
            name,
            filters,
            &["--retention-days", &retention, "--lake", &lake],
        );
        assert_eq!(spanned, earlier, "{name}: the table and the earlier lake");
        let table_only = read(name, filters, &["--history", "store"]);
        assert_eq!(table_only, earlier, "{name}: the table alone");
    }
    // The span read both sides: the earlier lake lacks the unexported day, the table has it.
    let all = answer("all");
    assert!(rows_on(&all, "2026-09-02") > 0 && rows_on(&all, UNEXPORTED_DAY) > 0);
    let lake_only = read("lake", &[], &["--history", "lake", "--lake", &lake]);
    assert_eq!(rows_on(&lake_only, UNEXPORTED_DAY), 0, "not exported yet");
    assert_eq!(
        lake_only.lines().count(),
        all.lines().count() - rows_on(&all, UNEXPORTED_DAY)
    );

    // This version exports that day from the earlier items; the lake then answers alone.
    iat([
        "export",
        "--since",
        UNEXPORTED_DAY,
        "--until",
        UNEXPORTED_DAY,
    ]
    .into_iter()
    .chain(["--lake", &lake])
    .chain(tables))
    .unwrap();
    for (name, filters) in reads {
        let lake_only = read(name, filters, &["--history", "lake", "--lake", &lake]);
        assert_eq!(lake_only, answer(name), "{name}: the lake alone");
    }
}
