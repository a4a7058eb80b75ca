//! `iat report`: the weekly denied-calls report, on Athena or over the local lake.

use std::io::Write;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate, Utc};
use iat_exporter::report::{ReportOptions, ReportPeriod, weekly_report};
use iat_lake::QueryCatalogue;

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Days covered, ending with --until.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Last day covered (default: yesterday, UTC).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// Regions where activity is expected (comma-separated).
    #[arg(long, env = "ALLOWED_REGIONS", default_value = "us-east-1,eu-west-1")]
    pub allowed_regions: String,
    /// Also send the report: `jsonl:PATH` or `webhook:URL`.
    #[arg(long)]
    pub notify: Option<String>,
    #[command(flatten)]
    pub engine: super::EngineArgs,
}

pub fn run(
    stores: &crate::store::StoreArgs,
    args: ReportArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let end = args
        .until
        .unwrap_or_else(|| Utc::now().date_naive() - Duration::days(1));
    let period = ReportPeriod::ending(end, args.days)?;
    let runtime = crate::runtime()?;
    let report = runtime.block_on(async {
        let engine = args.engine.engine(stores.profile()).await?;
        anyhow::Ok(
            weekly_report(
                engine.as_ref(),
                &QueryCatalogue::builtin(),
                period,
                &args.allowed_regions,
                &ReportOptions::default(),
            )
            .await?,
        )
    })?;
    writeln!(out, "{}\n\n{}", report.subject, report.body)?;
    if let Some(hint) = args.engine.empty_lake_hint(period.start, period.end) {
        writeln!(out, "\n{hint}")?;
    }
    if let Some(spec) = &args.notify {
        let notifier = super::alerts::notifier_for(spec)?;
        runtime.block_on(notifier.notify(&report.notification()?))?;
    }
    Ok(ExitCode::SUCCESS)
}
