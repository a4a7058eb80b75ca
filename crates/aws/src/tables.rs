//! The project's DynamoDB tables: their key schemas, their creation (for `iat create-tables` and tests;
//! the deployed stack declares the same), and errors that say which table and what to do.
//!
//! - events: `pk`/`sk` strings, indexes `by_actor` (`ak`, `sk`) and `by_name` (`nk`, `sk`)
//!   holding keys only, TTL on `x` (see [`crate::DynamoEventStore`]);
//! - control: `pk`/`sk` strings, holding checkpoints (see [`crate::DynamoCheckpointStore`]);
//! - alert ledger: `pk` string, TTL on `expires_at` (see [`crate::DynamoAlertLedger`]).
//!
//! All are on-demand (pay per request) and encrypted at rest with the AWS-owned key by default.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use iat_core::Error;

use crate::error::dynamo_error;
use crate::events::{BY_ACTOR, BY_NAME};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

/// Which of the project's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    Events,
    Control,
    AlertLedger,
}

/// Creates `name` as a table of `kind` unless it exists, and waits until it is active.
/// Returns true when it was created.
pub async fn create_table(client: &Client, kind: TableKind, name: &str) -> Result<bool, Error> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("name and type are set")
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .key_schema(key("pk", KeyType::Hash));
    if kind != TableKind::AlertLedger {
        req = req
            .attribute_definitions(attr("sk"))
            .key_schema(key("sk", KeyType::Range));
    }
    if kind == TableKind::Events {
        for (index, hash) in [(BY_ACTOR, "ak"), (BY_NAME, "nk")] {
            req = req
                .attribute_definitions(attr(hash))
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(index)
                        .key_schema(key(hash, KeyType::Hash))
                        .key_schema(key("sk", KeyType::Range))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::KeysOnly)
                                .build(),
                        )
                        .build()
                        .expect("name, keys and projection are set"),
                );
        }
    }
    let created = match req.send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("ResourceInUseException") => false,
        Err(e) => return Err(dynamo_error(name, "create table", e)),
    };
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| dynamo_error(name, "describe table", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let ttl = match kind {
        TableKind::Events => Some("x"),
        TableKind::AlertLedger => Some("expires_at"),
        TableKind::Control => Some("expires_at"),
    };
    if let (true, Some(attribute)) = (created, ttl) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .expect("name and flag are set"),
            )
            .send()
            .await
            .map_err(|e| dynamo_error(name, "enable TTL", e))?;
    }
    Ok(created)
}
