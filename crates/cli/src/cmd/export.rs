//! `iat export`: days of the local store into the local Parquet lake.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use iat_exporter::{DailyExport, ExportOptions, export_daily, export_days};
use iat_lake::Compression;
use iat_local::DirObjectStore;

use crate::output::{count, table};
use crate::store::{OpenOptions, StoreArgs};

/// Default directory of the local lake.
pub const DEFAULT_LAKE: &str = "./iat-data/lake";

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// First day to export (UTC, YYYY-MM-DD). Without --since/--until: the daily export, that
    /// is yesterday, the --late-days before it, and every day the collector's checkpoints
    /// completed since the last daily export (a backfill or an outage caught up).
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Last day to export (default: --since, or yesterday).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// Days before yesterday exported again to take in late events.
    #[arg(long, default_value_t = 2)]
    pub late_days: u32,
    /// The lake's directory.
    #[arg(long, env = "IAT_LAKE", default_value = DEFAULT_LAKE)]
    pub lake: PathBuf,
    /// Key prefix inside the lake.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Parquet compression: snappy or zstd.
    #[arg(long, default_value = "snappy")]
    pub compression: Compression,
    /// Rows per part file (bounds memory).
    #[arg(long, default_value_t = 500_000)]
    pub rows_per_part: usize,
    /// Replace a day even when the store now has fewer of its events than the lake (after a
    /// deliberate purge). Without it such a day keeps its fuller export.
    #[arg(long)]
    pub allow_shrink: bool,
    /// Do not export: raise the alerts kept beside each lake day of --since..--until again from
    /// the lake's own events, under the current rule settings (after changing them, so the
    /// console's raised view reads them again rather than every event).
    #[arg(long, requires = "since")]
    pub raise_only: bool,
    /// Rule settings of the alerts kept beside each exported day (those the console raises).
    #[command(flatten)]
    pub rules: super::RuleArgs,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(stores: &StoreArgs, args: ExportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if args.rows_per_part == 0 {
        anyhow::bail!("--rows-per-part must be at least 1");
    }
    let rules = std::sync::Arc::new(iat_core::rules::RuleSet::new(args.rules.config()?)?);
    if args.raise_only {
        return raise_only(&args, &rules, out);
    }
    let stores = stores.open(OpenOptions {
        // Export reads each page once, in order: a small page cache is enough, and keeps the
        // process's memory to the part being built.
        cache_mib: Some(16),
        ..Default::default()
    })?;
    let (store, checkpoints) = (stores.events.as_ref(), stores.checkpoints.as_ref());
    let objects = DirObjectStore::new(&args.lake)?;
    let options = ExportOptions {
        prefix: args.prefix.clone(),
        compression: args.compression,
        rows_per_part: args.rows_per_part,
        allow_shrink: args.allow_shrink,
        rules: Some(rules),
        ..ExportOptions::default()
    };
    let runtime = crate::runtime()?;
    let range = match (args.since, args.until) {
        (Some(s), u) => Some((s, u.unwrap_or(s))),
        (None, Some(u)) => Some((u, u)),
        (None, None) => None,
    };
    let now = Utc::now();
    let run = match range {
        Some((first, last)) => DailyExport {
            days: runtime.block_on(export_days(store, &objects, first, last, &options, now))?,
            completed: Vec::new(),
            coverage: Default::default(),
        },
        None => runtime.block_on(export_daily(
            store,
            &objects,
            checkpoints,
            now.date_naive(),
            args.late_days,
            &options,
            now,
        ))?,
    };
    let days = &run.days;
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, days)?;
            writeln!(out)?;
        }
        Format::Table => {
            let mut t = table();
            t.set_header(["day", "events", "parts", "bytes", "alerts kept", "note"]);
            for d in run.reported_days() {
                let note = if d.kept_existing {
                    "no events in the store; the lake's copy was kept".to_owned()
                } else if let Some(previous) = d.kept_fuller {
                    format!(
                        "fewer than the lake's {}; the lake's copy was kept (--allow-shrink replaces it)",
                        count(previous)
                    )
                } else if run.completed.contains(&d.day) {
                    "completed by the collector since the last export".to_owned()
                } else if d.removed > 0 {
                    format!("{} old parts removed", d.removed)
                } else {
                    String::new()
                };
                t.add_row([
                    d.day.to_string(),
                    count(d.events),
                    d.parts.to_string(),
                    count(d.bytes),
                    raised_cell(d.raised, d.kept_existing || d.kept_fuller.is_some()),
                    note,
                ]);
            }
            writeln!(out, "{t}")?;
            let events: u64 = days.iter().map(|d| d.events).sum();
            writeln!(
                out,
                "{} events exported to {}",
                count(events),
                args.lake.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the "alerts kept" column says of a day.
fn raised_cell(raised: Option<usize>, kept_lake: bool) -> String {
    match (raised, kept_lake) {
        (_, true) => "as before".to_owned(),
        (Some(n), false) => count(n as u64),
        (None, false) => "none: too many events of interest".to_owned(),
    }
}

/// `--raise-only`: each day's alerts raised again from the lake's events.
fn raise_only(
    args: &ExportArgs,
    rules: &iat_core::rules::RuleSet,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let (Some(first), last) = (args.since, args.until) else {
        anyhow::bail!("--raise-only needs --since (and --until for more than one day)");
    };
    let last = last.unwrap_or(first);
    if last < first {
        anyhow::bail!("--until {last} is before --since {first}");
    }
    if !args.lake.is_dir() {
        anyhow::bail!(
            "--lake {}: no such directory (the lake `iat export` wrote)",
            args.lake.display()
        );
    }
    let objects = DirObjectStore::new(&args.lake)?;
    let lake = iat_local::sql::LocalLake::new(&args.lake, &args.prefix);
    let exported = lake.days();
    let events = iat_lake::LakeEventStore::new(std::sync::Arc::new(lake));
    let runtime = crate::runtime()?;
    let mut t = table();
    t.set_header(["day", "events of interest", "alerts kept"]);
    let mut day = first;
    while day <= last {
        if exported.contains(&day) {
            let raised = runtime.block_on(iat_exporter::raised::raise_again(
                &events,
                &objects,
                &args.prefix,
                day,
                rules,
            ))?;
            t.add_row(match &raised {
                Some(r) => [day.to_string(), count(r.events), count(r.hit_count())],
                None => [
                    day.to_string(),
                    String::new(),
                    format!(
                        "none: more than {} hits to keep; the console reads the day's events",
                        count(iat_exporter::raised::MAX_KEPT_HITS as u64)
                    ),
                ],
            });
        } else {
            t.add_row([day.to_string(), "not exported".to_owned(), String::new()]);
        }
        day = day.succ_opt().expect("a representable day");
    }
    writeln!(out, "{t}")?;
    Ok(ExitCode::SUCCESS)
}
