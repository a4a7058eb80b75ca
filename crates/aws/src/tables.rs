//! The project's DynamoDB tables: their key schemas, their creation (for `iat create-tables` and tests;
//! the deployed stack declares the same), and errors that say which table and what to do.
//!
//! - events: `pk`/`sk` strings, TTL on `x` (see [`crate::DynamoEventStore`]); optionally the
//!   key-only lookup indexes `by_actor` (`ak`, `sk`) and `by_name` (`nk`, `sk`), see
//!   [`LookupIndexes`];
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

/// Which key-only lookup indexes an events table has. Each index entry is one more write unit
/// per stored event; without an index its lookups read the day partitions with a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LookupIndexes {
    /// Neither: one write unit per event (the default).
    #[default]
    None,
    /// `by_actor`: "what did this principal do" reads only that principal's keys.
    Actor,
    /// `by_actor` and `by_name` ("who called this API").
    Both,
}

impl LookupIndexes {
    /// The values a setting takes, as `parse` reads them.
    pub const VALUES: &'static str = "none, actor, both";

    /// Reads `none`, `actor` or `both`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "none" | "" => Ok(Self::None),
            "actor" => Ok(Self::Actor),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "lookup indexes {other:?}: expected one of {}",
                Self::VALUES
            )),
        }
    }

    /// The indexes' names, in the order they are created.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Actor => &[BY_ACTOR],
            Self::Both => &[BY_ACTOR, BY_NAME],
        }
    }

    /// The set a table with these index names has (unknown names are ignored).
    pub fn of_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&str> = names.into_iter().collect();
        match (names.contains(&BY_ACTOR), names.contains(&BY_NAME)) {
            (true, true) => Self::Both,
            (true, false) => Self::Actor,
            // A table with only `by_name` (made by hand) is read as having none: lookups by
            // name then read the day partitions, which is correct, only dearer.
            _ => Self::None,
        }
    }

    pub fn has(self, index: &str) -> bool {
        self.names().contains(&index)
    }
}

impl std::fmt::Display for LookupIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Actor => "actor",
            Self::Both => "both",
        })
    }
}

/// Creates `name` as a table of `kind` unless it exists, and waits until it is active. An
/// events table gets no lookup indexes (see [`create_events_table`]). Returns true when it was
/// created.
pub async fn create_table(client: &Client, kind: TableKind, name: &str) -> Result<bool, Error> {
    create_table_with(client, kind, name, LookupIndexes::None).await
}

/// Creates the events table `name` with `indexes` unless it exists (an existing table keeps the
/// indexes it has). Returns true when it was created.
pub async fn create_events_table(
    client: &Client,
    name: &str,
    indexes: LookupIndexes,
) -> Result<bool, Error> {
    create_table_with(client, TableKind::Events, name, indexes).await
}

async fn create_table_with(
    client: &Client,
    kind: TableKind,
    name: &str,
    indexes: LookupIndexes,
) -> Result<bool, Error> {
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
        for (index, hash) in [(BY_ACTOR, "ak"), (BY_NAME, "nk")]
            .into_iter()
            .filter(|(index, _)| indexes.has(index))
        {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_indexes_read_back_what_they_print_and_refuse_the_rest() {
        for indexes in [
            LookupIndexes::None,
            LookupIndexes::Actor,
            LookupIndexes::Both,
        ] {
            assert_eq!(LookupIndexes::parse(&indexes.to_string()), Ok(indexes));
            assert_eq!(
                LookupIndexes::of_names(indexes.names().iter().copied()),
                indexes
            );
        }
        let err = LookupIndexes::parse("name").unwrap_err();
        assert!(err.contains("none, actor, both"), "{err}");
        assert!(LookupIndexes::Actor.has(BY_ACTOR) && !LookupIndexes::Actor.has(BY_NAME));
        // A name index alone (made by hand) cannot answer actor lookups: read as none.
        assert_eq!(LookupIndexes::of_names([BY_NAME]), LookupIndexes::None);
    }
}
