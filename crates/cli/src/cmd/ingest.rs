//! `iat ingest PATH...`

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use iat_core::scope::IngestScope;
use iat_core::{NoiseFilter, RecordLimits};
use iat_local::SqliteStore;
use iat_local::ingest::{IngestOptions, IngestSummary, Progress, ingest};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{SummaryFormat, bytes, count};
use crate::store::{OpenOptions, StoreArgs};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Files or directories to read, or one trail bucket: s3://BUCKET[/PREFIX] (the trail's
    /// prefix before AWSLogs/, or a deeper folder), read in place.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// s3:// only: the first UTC day to read; with it, only those days' folders are listed.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub since: Option<chrono::NaiveDate>,

    /// s3:// only: the last day to read (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<chrono::NaiveDate>,

    /// s3:// only: read only this account's files (repeat the flag for more).
    #[arg(long = "account", value_name = "ACCOUNT_ID")]
    pub accounts: Vec<String>,

    /// s3:// only: read only this region's files (repeat the flag for more).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,

    /// s3:// only: GETs in flight at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parallel: usize,

    /// s3:// only: the bucket's region (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,

    /// s3:// only: reach S3 at this URL (an emulator such as moto) instead of AWS.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Role-name globs whose activity is noise, comma-separated (e.g. "PrismaCloud*,Wiz*").
    #[arg(long, env = "FILTERED_ROLES", value_name = "GLOBS", default_value = "")]
    pub filtered_roles: String,

    /// Keep activity of AWS service-linked roles (filtered by default).
    #[arg(long)]
    pub keep_service_linked_roles: bool,

    /// Records larger than this many bytes are quarantined instead of stored.
    #[arg(long, default_value_t = RecordLimits::default().max_record_bytes, value_name = "BYTES")]
    pub max_record_bytes: usize,

    /// Parser threads (0: one less than the number of cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Which events to store: `all`, or `identity` (IAM, STS, console sign-in, Identity Center,
    /// Organizations and CloudTrail events, denied and root calls, and every event a rule
    /// names), as the deployed organisation-trail ingester keeps them.
    #[arg(
        long,
        env = "INGEST_SCOPE",
        default_value = "all",
        value_name = "SCOPE"
    )]
    pub scope: IngestScope,

    /// Summary format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,

    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl IngestArgs {
    pub(crate) fn options(&self) -> anyhow::Result<IngestOptions> {
        let mut filter = NoiseFilter::from_list(&self.filtered_roles)
            .context("invalid --filtered-roles / FILTERED_ROLES")?;
        if self.keep_service_linked_roles {
            filter = filter.keep_service_linked_roles();
        }
        if self.max_record_bytes < 1024 {
            anyhow::bail!("--max-record-bytes must be at least 1024");
        }
        Ok(IngestOptions {
            filter,
            limits: RecordLimits {
                max_record_bytes: self.max_record_bytes,
            },
            threads: self.threads,
            scope: self.scope,
            ..Default::default()
        })
    }
}

pub fn run(stores: &StoreArgs, args: IngestArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let urls: Vec<&str> = args
        .paths
        .iter()
        .filter_map(|p| p.to_str())
        .filter(|p| p.starts_with("s3://"))
        .collect();
    if !urls.is_empty() {
        if args.paths.len() > 1 {
            anyhow::bail!("give one s3:// URL, or local paths, not both or several URLs");
        }
        #[cfg(feature = "aws")]
        return super::ingest_s3::run(stores, &args, urls[0], out);
        #[cfg(not(feature = "aws"))]
        anyhow::bail!("this iat was built without the AWS clients: it cannot read s3:// URLs");
    }
    let s3_only = [
        ("--since", args.since.is_some()),
        ("--until", args.until.is_some()),
        ("--account", !args.accounts.is_empty()),
        ("--region", !args.regions.is_empty()),
        ("--s3-region", args.s3_region.is_some()),
        ("--s3-endpoint", args.s3_endpoint.is_some()),
    ];
    if let Some((flag, _)) = s3_only.iter().find(|(_, set)| *set) {
        anyhow::bail!("{flag} is for an s3:// URL; local files are read whole");
    }
    let options = args.options()?;
    let opened = stores.open(OpenOptions {
        create: true,
        ..Default::default()
    })?;
    let store = opened.sqlite("iat ingest")?;
    let db = store.path().unwrap_or(Path::new(":memory:"));
    let show = !args.no_progress && args.format == SummaryFormat::Text;
    let summary = ingest_with_progress(&args.paths, &store, &options, show)?;
    match args.format {
        SummaryFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &summary)?;
            writeln!(out)?;
        }
        SummaryFormat::Text => print_summary(out, &summary, db)?,
    }
    Ok(if summary.files == 0 {
        eprintln!("error: no CloudTrail log files were read from the paths given");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Ingests with a progress bar on stderr when it is a terminal.
pub(crate) fn ingest_with_progress(
    paths: &[PathBuf],
    store: &SqliteStore,
    options: &IngestOptions,
    show: bool,
) -> anyhow::Result<IngestSummary> {
    let bar = if show && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} ingesting [{bar:30}] {bytes}/{total_bytes} {msg} ({eta} left)",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = ingest(paths, store, options, &mut |p: Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!(
            "{} files, {} records",
            count(p.files_done),
            count(p.records)
        ));
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

pub(crate) fn print_summary(
    out: &mut dyn Write,
    s: &IngestSummary,
    db: &Path,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "Ingested {} files ({}) into {} in {:.1} s ({} records/s)",
        count(s.files),
        bytes(s.bytes),
        db.display(),
        s.elapsed_seconds,
        count(s.records_per_second() as u64)
    )?;
    let filtered = if s.filtered.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = s
            .filtered
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), count(*v)))
            .collect();
        format!("  ({})", parts.join(", "))
    };
    let rows = [
        ("records read", s.records, String::new()),
        ("stored", s.stored, String::new()),
        (
            "duplicates",
            s.duplicates,
            "  (already stored; not stored again)".to_owned(),
        ),
        ("filtered", s.filtered_total(), filtered),
        (
            "out of scope",
            s.out_of_scope,
            if s.out_of_scope > 0 {
                "  (outside --scope; not stored)".to_owned()
            } else {
                String::new()
            },
        ),
        (
            "malformed",
            s.malformed,
            if s.malformed > 0 {
                format!(
                    "  (quarantined, {} oversized; see `iat status`)",
                    count(s.oversized)
                )
            } else {
                String::new()
            },
        ),
        (
            "unknown version",
            s.unknown_version,
            if s.unknown_version > 0 {
                "  (stored)".to_owned()
            } else {
                String::new()
            },
        ),
    ];
    for (label, n, note) in rows {
        writeln!(out, "  {label:<16}{:>12}{note}", count(n))?;
    }
    if s.utf8_repaired_files > 0 {
        writeln!(
            out,
            "  {} file(s) had bytes that are not UTF-8; they were replaced and the files read",
            s.utf8_repaired_files
        )?;
    }
    if !s.problems.is_empty() {
        writeln!(
            out,
            "Problems ({}; records before each problem were kept):",
            s.problems.len()
        )?;
        for p in s.problems.iter().take(20) {
            writeln!(out, "  {}: {}", p.path.display(), p.error)?;
        }
        if s.problems.len() > 20 {
            writeln!(
                out,
                "  ... and {} more (see --format json)",
                s.problems.len() - 20
            )?;
        }
    }
    Ok(())
}
