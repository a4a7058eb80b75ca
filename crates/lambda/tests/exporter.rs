//! The exporter function against moto: a day of the DynamoDB events table into Parquet parts
//! on S3, exported three times with a late event in between: each event once, read back; and a
//! day the collector completed after the late days is exported by the daily run, as the
//! checkpoints in the control table say.
//!
//! `make test` starts moto; run alone, this test skips.

use chrono::{Duration, Utc};
use iat_aws::{
    AwsSettings, DynamoCheckpointStore, DynamoEventStore, S3ObjectStore, TableKind, create_table,
    sdk_config,
};
use iat_core::contract::records::RecordSpec;
use iat_core::model::{AccountId, Region, StreamKey};
use iat_core::ports::{Checkpoint, CheckpointStore};
use iat_core::ports::{EventStore, ObjectStore};
use iat_lambda::env::Env;
use iat_lambda::exporter::{ExporterFunction, ExporterSettings};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

#[tokio::test]
#[ignore = "needs moto: run `make test`"]
async fn a_day_of_the_events_table_becomes_parquet_on_s3_once() {
    let endpoint = iat_sim::emulators::moto_endpoint();
    let sdk = sdk_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..Default::default()
    })
    .await;
    let name = format!("iat-export-{}", std::process::id());
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&dynamo, TableKind::Events, &name)
        .await
        .unwrap();
    let control = format!("{name}-control");
    create_table(&dynamo, TableKind::Control, &control)
        .await
        .unwrap();
    let checkpoints = DynamoCheckpointStore::new(dynamo.clone(), &control);
    // One stream, still behind: complete up to 2026-02-10 when the first daily run comes.
    let mut cp = Checkpoint::new(
        StreamKey {
            account: AccountId::new("111122223333").unwrap(),
            region: Region::new("us-east-1").unwrap(),
            source: "iam.amazonaws.com".into(),
        },
        Utc::now(),
    );
    let behind: chrono::DateTime<Utc> = "2026-02-10T00:00:00Z".parse().unwrap();
    cp.complete_up_to = Some(behind);
    cp.settled_up_to = Some(behind);
    cp.stats.overlap_minutes = 20;
    cp.version = checkpoints.save(&cp).await.unwrap();
    let s3 = S3ObjectStore::client(&sdk, true);
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let store = DynamoEventStore::new(dynamo.clone(), &name);
    let t0: chrono::DateTime<Utc> = "2026-03-03T00:00:00Z".parse().unwrap();
    // Quiet calls, and one user created: an alert the exporter keeps beside the day.
    let events: Vec<_> = (0..300)
        .map(|i| {
            let spec = RecordSpec::new(&format!("ev-{i:04}"), t0 + Duration::seconds(i * 250));
            if i == 7 {
                spec.name("iam.amazonaws.com", "CreateUser")
                    .params(json!({"userName": "ci-bot"}))
            } else {
                spec
            }
            .event()
        })
        .collect();
    store.put(&events).await.unwrap();
    store
        .put(&[RecordSpec::new("next-day", t0 + Duration::days(1)).event()])
        .await
        .unwrap();

    let env_values = [
        ("EVENTS_TABLE", name.clone()),
        ("CONTROL_TABLE", control.clone()),
        ("LAKE_BUCKET", name.clone()),
        ("LAKE_PREFIX", "lake".into()),
        ("ROWS_PER_PART", "120".into()),
    ];
    let lookup = |k: &str| {
        env_values
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    };
    let settings = ExporterSettings::from_env(&Env::new(&lookup)).unwrap();
    let lake = S3ObjectStore::new(s3.clone(), &name, "").unwrap();
    let f = ExporterFunction::with_ports(
        DynamoEventStore::new(dynamo.clone(), &name),
        Some(DynamoCheckpointStore::new(dynamo.clone(), &control)),
        lake.clone(),
        settings,
    );
    let range = json!({"from": "2026-03-03", "to": "2026-03-03"});
    let rules = iat_core::rules::RuleSet::default_rules();
    for _ in 0..3 {
        let out = f.handle(range.clone(), Utc::now()).await.unwrap();
        assert_eq!(out["events"], 300);
        assert_eq!(out["days"][0]["parts"], 3);
        // The alerter's rules over the day, kept beside it for the console.
        let kept = iat_exporter::raised::read_day(&lake, "lake", t0.date_naive(), &rules)
            .await
            .unwrap()
            .expect("the day's alerts are kept beside it");
        assert!(
            kept.hits.iter().any(|h| h
                .first()
                .is_some_and(|h| h.rule == "iam_user_created" && h.event.event_id == "ev-0007")),
            "{kept:#?}"
        );
        assert_eq!(out["days"][0]["raised"], kept.hit_count());
    }
    store
        .put(&[RecordSpec::new("late-1", t0 + Duration::hours(5)).event()])
        .await
        .unwrap();
    // The backfill has stored an event of 2026-02-20, a day it has not completed yet.
    store
        .put(&[RecordSpec::new("backfill-1", t0 - Duration::days(11)).event()])
        .await
        .unwrap();
    // The daily run on 2026-03-05 re-exports the 3rd (two late days) and takes the late event in.
    let daily = f
        .handle(
            json!({"source": "aws.events"}),
            "2026-03-05T01:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    let days: Vec<(String, u64)> = daily["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["events"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-02".to_owned(), 0),
            ("2026-03-03".to_owned(), 301),
            ("2026-03-04".to_owned(), 1)
        ]
    );

    let backfilled = iat_core::ports::ObjectKey::new("lake/exports/dt=2026-02-20.json").unwrap();
    assert!(lake.get(&backfilled).await.unwrap().is_none());
    // The stream catches up; the next daily run exports 2026-02-20, outside its late days.
    cp.complete_up_to = Some("2026-03-05T23:40:00Z".parse().unwrap());
    cp.settled_up_to = cp.complete_up_to;
    checkpoints.save(&cp).await.unwrap();
    let next = f
        .handle(
            json!({"source": "aws.events"}),
            "2026-03-06T01:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
    assert!(
        next["completed"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-02-20")),
        "{next}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&lake.get(&backfilled).await.unwrap().unwrap()).unwrap();
    assert_eq!(manifest["events"], 1);

    let mut ids = Vec::new();
    for key in lake.list("lake/events/dt=2026-03-03/").await.unwrap() {
        let bytes = lake.get(&key).await.unwrap().unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let col = batch
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
        }
    }
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (301, 301), "each event of the day once");
    assert!(
        lake.get(&iat_core::ports::ObjectKey::new("lake/exports/dt=2026-03-03.json").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let bad = f
        .handle(json!({"from": "March 3rd"}), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(bad.error_type(), "BadRequest");
}
