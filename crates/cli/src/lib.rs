//! The `iat` command line, as a library so tests drive exactly what users run.
//!
//! Each subcommand is a module under [`cmd`] with its clap arguments and a `run` function that
//! writes its output to the writer it is given. Only this crate chooses backends, reads the
//! clock and the environment, and uses `anyhow`. Commands that wait on I/O share one Tokio
//! runtime, [`runtime`], built the first time one asks for it.

pub mod cmd;
mod hint;
mod output;
pub mod store;
mod timearg;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// The command's one Tokio runtime (multi-threaded: collection runs page chains in parallel),
/// built on first use, so that commands without I/O to wait on (`iat ingest`, `iat rules`)
/// never start one.
pub(crate) fn runtime() -> anyhow::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(RUNTIME.get_or_init(|| built))
}

/// IAM Activity Tracker: who did what with identities in your AWS accounts.
///
/// Collects IAM, STS, console sign-in and Identity Center activity from CloudTrail, keeps it in a
/// local SQLite file or in the DynamoDB tables of a deployment (`--store`), and lets you search
/// it, alert on it and export it. Start with `iat demo`.
#[derive(Debug, Parser)]
#[command(name = "iat", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub store: store::StoreArgs,

    /// Log filter for diagnostics on stderr, e.g. `warn`, `info`, `iat_local=debug`.
    #[arg(long, global = true, env = "IAT_LOG")]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail log files into the local store.
    ///
    /// PATH may be a file or a directory, searched recursively for *.json, *.json.gz, *.jsonl and
    /// *.ndjson (gzip is detected by content). Reads trail files as CloudTrail delivers them to S3
    /// ({"Records":[...]}), the output of `aws cloudtrail lookup-events`, and JSON Lines of
    /// records. Ingesting the same files again stores nothing twice. Unreadable files and
    /// malformed records are counted, kept in quarantine where there is text, and skipped: the
    /// run always finishes. Exits 1 when no file could be read at all.
    ///
    /// PATH may instead be one organisation-trail bucket, s3://BUCKET[/PREFIX], read in place
    /// with your AWS credentials (s3:ListBucket, s3:GetObject, and kms:Decrypt for an SSE-KMS
    /// trail) and several GETs in flight. With --since/--until only those days' folders are
    /// listed (one LIST per account, region and day, never the whole bucket); --account and
    /// --region narrow it further. Exits 1 when a file could not be read to its end (what it
    /// held before the break is stored; running again stores nothing twice).
    Ingest(cmd::ingest::IngestArgs),
    /// Collect from CloudTrail Event history (LookupEvents) into the store (--store).
    ///
    /// Collects the identity streams: IAM and console sign-in in us-east-1, console sign-in in
    /// the sign-in regions, STS in every region given, and Identity Center in --sso-region.
    /// The first run backfills 90 days oldest first; later runs continue from each stream's
    /// checkpoint and re-scan an overlap window for events delivered late. Each account and
    /// region is kept under CloudTrail's limit of 2 requests/s. Interrupt it any time: the next
    /// run resumes. Uses your AWS credentials (--profile, AWS_PROFILE, SSO, ...), or --endpoint
    /// for a simulator. With --store dynamodb:EVENTS,CONTROL, stores in DynamoDB as the
    /// deployed tracker does. Exits 1 when a stream failed (the others are still collected).
    #[cfg(feature = "aws")]
    Collect(cmd::collect::CollectArgs),
    /// Create the DynamoDB tables of `--store dynamodb:...`, as the deployed stack does.
    ///
    /// On-demand (pay per request) tables: events (sharded by day, TTL on `x`; the lookup
    /// indexes by actor and by event name only with --lookup-indexes), control (checkpoints)
    /// and the alert ledger (TTL on `expires_at`).
    /// Tables that exist are left as they are. The deployed stack creates the same tables.
    /// Without --store: iat-events, iat-control and iat-alert-ledger.
    #[cfg(feature = "aws")]
    CreateTables(cmd::tables::CreateTablesArgs),
    /// Search stored events.
    ///
    /// Filters combine (all must match). Text filters are exact, or globs when they contain `*`,
    /// `?`, `[...]`, `{a,b}` or a `\` escape: `--actor 'Admin/*'`, `--event-name 'Create*'`,
    /// `--actor '{alice,bob}'`; `?` is one character, matching is case-sensitive, and every store
    /// matches the same way. Times are RFC 3339, a date, or an age back from now (90m, 24h, 7d,
    /// 2w). Newest first.
    ///
    /// History beyond the store: with --retention-days (the stack's RetentionDays) events older
    /// than the store keeps are read from the lake (--lake, or Athena with --athena-database),
    /// each event once and in order, and the command says how many came from where.
    Events(cmd::events::EventsCommand),
    /// Show what the store holds: events, time range, collection streams and quarantined
    /// records; on SQLite also events by source, account and region, and denied calls by layer.
    Status(cmd::status::StatusArgs),
    /// Open a web console over the store: alerts, event search, a principal's timeline, denied
    /// calls by service and policy layer, rules and collection status.
    ///
    /// Pages are rendered by `iat` itself (no script, no external asset), so it works offline
    /// and over any --store, the tables of a deployment included. Every view is a URL to share.
    /// It changes nothing but an alert's acknowledgement (who, when, a note), kept in the
    /// store's alert log (the SQLite file, or the control table on DynamoDB).
    /// Listens on 127.0.0.1:8080; any other address needs a token (--token, or one generated and
    /// printed in the address to open). Each page reads at most 100,000 events and says so when
    /// that cut it. Ctrl-C stops it.
    Serve(cmd::serve::ServeArgs),
    /// Run the alert rules over events stored since the last run, and send what they raise.
    ///
    /// Each alert is recorded in the store's alert ledger when sent, so it is sent once
    /// whatever happens (a failed send is retried by the next run); on DynamoDB name the ledger
    /// table (--store dynamodb:EVENTS,CONTROL,LEDGER). DynamoDB keeps no insertion order, so
    /// there a run re-reads the 26 hours before its mark for events stored late; the ledger
    /// keeps them from being sent twice. Bursts above
    /// --digest-threshold go out as criticals one by one plus one digest. Rule settings are the
    /// deployed alerter's environment variables (see `--set`). Exits 1 when an alert could not
    /// be sent.
    Alerts(cmd::alerts::AlertsArgs),
    /// Export days of the store into the local Parquet lake (the Athena table's layout).
    ///
    /// Writes `<lake>/<prefix>/events/dt=YYYY-MM-DD/part-NNNNN.parquet`. Exporting a day again
    /// replaces it exactly (no duplicate rows, no stale parts); a day the store has no events
    /// for is left as the lake has it. By default exports yesterday and the two days before,
    /// which may have received late events.
    Export(cmd::export::ExportArgs),
    /// Run a query of the catalogue (`iat query list` shows them), on the local lake or Athena.
    ///
    /// Locally: DataFusion over the Parquet parts `iat export` wrote. With --athena-database
    /// (or ATHENA_DATABASE): the same SQL file on Athena, with the bytes scanned and what they
    /// cost. With --source trail (Athena): the same query over the organisation trail's own
    /// files, every account's events, reading only those days' partitions. Every query reads
    /// only the days asked for: --days 7 (ending today) by default.
    Query(cmd::query::QueryArgs),
    /// The weekly denied-calls report: newly denied actions, the most denied ones with the
    /// layer that denied them, and activity in unexpected regions. On the local lake, or on
    /// Athena with --athena-database (or ATHENA_DATABASE), as the report function runs it.
    Report(cmd::report::ReportArgs),
    /// The alert rules: list them, or test them on log files.
    Rules(cmd::rules::RulesArgs),
    /// What the first-seen rules remember of a principal, an account or the organisation.
    ///
    /// The state `iat alerts` (and the deployed alerter) keeps for the first-seen rules: when
    /// the principal was first seen (its learning period, SEEN_LEARN_DAYS, runs from there),
    /// the services and write actions it used, the networks (/24, /48) it came from; for an
    /// account, the regions it was active in; for `*`, every action denied so far. Entries
    /// unused for SEEN_FORGET_DAYS are forgotten.
    Seen(cmd::seen::SeenArgs),
    /// Generate a day of an organisation's CloudTrail, ingest it, and show what stands out.
    ///
    /// The organisation has several accounts, IAM users, roles, Identity Center users, service
    /// noise, scanners and activity in many regions, with planted security scenarios (root
    /// sign-ins, new users and keys, admin policies, opened trust policies, MFA removal,
    /// permission-set changes, open security groups, sign-ins from unexpected networks, off-hours
    /// activity, CloudTrail stopped, and calls denied by every policy layer). Uses a database of
    /// its own under --dir; needs no AWS account.
    Demo(cmd::demo::DemoArgs),
}

/// Our warnings; other crates' errors only (the AWS SDK warns about every credential source it
/// tries).
const DEFAULT_LOG: &str = "error,iat_core=warn,iat_local=warn,iat_aws=warn,iat_tracker=warn,iat_alerter=warn,iat_cli=warn";

/// Sets up logging to stderr (warnings by default).
pub fn init_logging(filter: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or(DEFAULT_LOG))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// An error as the one line `iat` prints: each context, then our error's text, which already
/// says what the client said (`code: message`); the client's own error, kept as its source for
/// logs and debugging, is not repeated.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        if cause.is::<iat_core::Error>() {
            break;
        }
    }
    line
}

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => cmd::ingest::run(&cli.store, args, out),
        #[cfg(feature = "aws")]
        Command::Collect(args) => cmd::collect::run(&cli.store, args, out),
        #[cfg(feature = "aws")]
        Command::CreateTables(args) => cmd::tables::run(&cli.store, args, out),
        Command::Events(args) => cmd::events::run(&cli.store, args, out),
        Command::Status(args) => cmd::status::run(&cli.store, args, out),
        Command::Serve(args) => cmd::serve::run(&cli.store, args, out),
        Command::Alerts(args) => cmd::alerts::run(&cli.store, args, out),
        Command::Rules(args) => cmd::rules::run(args, out),
        Command::Seen(args) => cmd::seen::run(&cli.store, args, out),
        Command::Export(args) => cmd::export::run(&cli.store, args, out),
        Command::Query(args) => cmd::query::run(&cli.store, args, out),
        Command::Report(args) => cmd::report::run(&cli.store, args, out),
        Command::Demo(args) => cmd::demo::run(args, out),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_line_has_the_contexts_and_our_text_but_not_the_client_error_again() {
        let client = std::io::Error::other("dispatch failure: connection refused (os error 111)");
        let ours = iat_core::Error::Unavailable {
            service: "dynamodb",
            operation: "Query",
            resource: Some("table iat-events".into()),
            message: "cannot reach the endpoint: connection refused".into(),
            source: Some(Box::new(client)),
        };
        let e = anyhow::Error::new(ours).context("alert run");
        assert_eq!(
            super::error_line(&e),
            "alert run: dynamodb Query unavailable: table iat-events: cannot reach the endpoint: \
             connection refused"
        );
        let plain = anyhow::anyhow!("--store \"x\": expected sqlite:PATH");
        assert_eq!(
            super::error_line(&plain),
            "--store \"x\": expected sqlite:PATH"
        );
    }
}
