//! `iat report`: the weekly denied-calls report over the local lake.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate, Utc};
use iat_lake::{QueryCatalogue, WeeklyReport};
use iat_local::sql::LocalLake;

use super::export::DEFAULT_LAKE;

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
    /// The lake's directory.
    #[arg(long, env = "IAT_LAKE", default_value = DEFAULT_LAKE)]
    pub lake: PathBuf,
    /// Key prefix inside the lake.
    #[arg(long, default_value = "")]
    pub prefix: String,
}

pub fn run(args: ReportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let end = args
        .until
        .unwrap_or_else(|| Utc::now().date_naive() - Duration::days(1));
    let start = end - Duration::days(i64::from(args.days.max(1)) - 1);
    let mut values = super::query::period(start, end);
    values.insert("allowed_regions".to_owned(), args.allowed_regions.clone());
    let catalogue = QueryCatalogue::builtin();
    let lake = LocalLake::new(&args.lake, &args.prefix);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    for name in ["denied_calls", "denied_new", "unexpected_regions"] {
        let sql = catalogue.get(name)?.render(&values)?;
        results.push(runtime.block_on(lake.rows(&sql))?.rows);
    }
    let report = WeeklyReport {
        start: &values["start"],
        end: &values["end"],
        denied_calls: &results[0],
        denied_new: &results[1],
        unexpected_regions: &results[2],
        source: format!("the local lake {}", lake.table_dir().display()),
    };
    let (subject, body) = (report.subject(), report.body());
    writeln!(out, "{subject}\n\n{body}")?;
    if let Some(spec) = &args.notify {
        let n = iat_core::ports::Notification::new(&subject, body, iat_core::Severity::Low)?
            .with_attribute("rule_id", "weekly_report")
            .with_attribute("severity", "low");
        let notifier = super::alerts::notifier_for(spec)?;
        runtime.block_on(notifier.notify(&n))?;
    }
    Ok(ExitCode::SUCCESS)
}
