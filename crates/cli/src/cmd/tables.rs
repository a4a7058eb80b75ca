//! `iat create-tables`

use std::io::Write;
use std::process::ExitCode;

use iat_aws::{TableKind, create_table};

use super::DynamoArgs;

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct CreateTablesArgs {
    /// Name of the events table.
    #[arg(long, default_value = "iat-events")]
    pub events_table: String,
    /// Name of the control table (checkpoints).
    #[arg(long, default_value = "iat-control")]
    pub control_table: String,
    /// Name of the alert ledger table.
    #[arg(long, default_value = "iat-alert-ledger")]
    pub ledger_table: String,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    #[command(flatten)]
    pub dynamodb: DynamoArgs,
}

pub fn run(args: CreateTablesArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let client = args.dynamodb.client(args.profile.as_deref()).await;
        for (kind, name) in [
            (TableKind::Events, &args.events_table),
            (TableKind::Control, &args.control_table),
            (TableKind::AlertLedger, &args.ledger_table),
        ] {
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
