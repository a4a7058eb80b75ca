//! `iat create-tables`

use std::io::Write;
use std::process::ExitCode;

use iat_aws::{TableKind, create_table};

use crate::store::{StoreArgs, StoreSpec};

/// The tables made when --store names none.
pub const DEFAULT_TABLES: &str = "dynamodb:iat-events,iat-control,iat-alert-ledger";

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct CreateTablesArgs {}

pub fn run(
    stores: &StoreArgs,
    _args: CreateTablesArgs,
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
            let created = create_table(&client, kind, name).await?;
            writeln!(
                out,
                "{name}: {}",
                if created { "created" } else { "exists" }
            )?;
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
