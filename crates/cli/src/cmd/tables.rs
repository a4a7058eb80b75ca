//! `iat create-tables`

use std::io::Write;
use std::process::ExitCode;

use iat_aws::{LookupIndexes, TableKind, create_events_table, create_table};

use crate::store::{StoreArgs, StoreSpec};

/// The tables made when --store names none.
pub const DEFAULT_TABLES: &str = "dynamodb:iat-events,iat-control,iat-alert-ledger";

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct CreateTablesArgs {
    /// Key-only indexes on the events table: none (one write unit per event; lookups by actor
    /// or event name read each day's items with a filter), actor (adds `by_actor`, one more
    /// write unit per event), or both (adds `by_name` too). An existing table keeps its own.
    #[arg(long, default_value = "none", value_parser = parse_indexes)]
    pub lookup_indexes: LookupIndexes,
}

fn parse_indexes(text: &str) -> Result<LookupIndexes, String> {
    LookupIndexes::parse(text)
}

pub fn run(
    stores: &StoreArgs,
    args: CreateTablesArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let spec = if stores.store.is_none() && stores.db.is_none() {
        StoreSpec::parse(DEFAULT_TABLES)?
    } else {
        stores.spec()?
    };
    let StoreSpec::Dynamo {
        events,
        control,
        ledger,
    } = &spec
    else {
        anyhow::bail!(
            "--store {spec}: create-tables makes DynamoDB tables; name them with --store \
             dynamodb:EVENTS,CONTROL,LEDGER (default {DEFAULT_TABLES})"
        );
    };
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let client = stores.dynamodb().await;
        let tables = [
            (TableKind::Events, Some(events)),
            (TableKind::Control, Some(control)),
            (TableKind::AlertLedger, ledger.as_ref()),
        ];
        for (kind, name) in tables {
            let Some(name) = name else { continue };
            let created = if kind == TableKind::Events {
                create_events_table(&client, name, args.lookup_indexes).await?
            } else {
                create_table(&client, kind, name).await?
            };
            writeln!(
                out,
                "{name}: {}",
                if created { "created" } else { "exists" }
            )?;
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
