//! `iat status`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use iat_core::ports::Breakdown;
use iat_core::ports::CheckpointStore;
use serde::Serialize;

use crate::output::{SummaryFormat, bytes, count, table};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Show the DynamoDB tables of a deployment (or of `iat collect --events-table`) instead of
    /// the local database: this events table...
    #[cfg(feature = "aws")]
    #[arg(long, requires = "control_table")]
    pub events_table: Option<String>,
    /// ...and this control table (checkpoints).
    #[cfg(feature = "aws")]
    #[arg(long, requires = "events_table")]
    pub control_table: Option<String>,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub dynamodb: super::DynamoArgs,
    /// AWS profile, with --events-table.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub profile: Option<String>,
}

/// What DynamoDB tables hold.
#[cfg(feature = "aws")]
#[derive(Serialize)]
struct TablesStatus {
    events_table: String,
    control_table: String,
    events: u64,
    first_event: Option<String>,
    last_event: Option<String>,
    quarantined: u64,
    checkpoints: Vec<iat_core::ports::Checkpoint>,
}

#[cfg(feature = "aws")]
fn run_tables(
    args: &StatusArgs,
    events_table: &str,
    control_table: &str,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use iat_core::ports::EventStore;
    let runtime = crate::runtime()?;
    let status = runtime.block_on(async {
        let client = args.dynamodb.client(args.profile.as_deref()).await;
        let store = iat_aws::DynamoEventStore::new(client.clone(), events_table);
        let checkpoints = iat_aws::DynamoCheckpointStore::new(client, control_table);
        let checkpoints = checkpoints.list().await?;
        let stats = store.stats().await?;
        anyhow::Ok(TablesStatus {
            events_table: events_table.to_owned(),
            control_table: control_table.to_owned(),
            events: stats.events,
            first_event: stats.first.map(|t| t.to_rfc3339()),
            last_event: stats.last.map(|t| t.to_rfc3339()),
            quarantined: stats.quarantined,
            checkpoints,
        })
    })?;
    if args.format == SummaryFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Tables     {} (events), {} (control)",
        status.events_table, status.control_table
    )?;
    writeln!(out, "Events     {}", count(status.events))?;
    if let (Some(first), Some(last)) = (&status.first_event, &status.last_event) {
        writeln!(out, "Time range {first} .. {last}")?;
    }
    writeln!(out, "Quarantined records {}", count(status.quarantined))?;
    write_checkpoints(out, &status.checkpoints)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Status {
    database: String,
    database_bytes: u64,
    events: u64,
    first_event: Option<String>,
    last_event: Option<String>,
    quarantined: u64,
    by_source: Vec<(String, u64)>,
    by_account: Vec<(String, u64)>,
    by_region: Vec<(String, u64)>,
    denied_by_layer: Vec<(String, u64)>,
    checkpoints: Vec<iat_core::ports::Checkpoint>,
    recent_quarantine: Vec<iat_core::ports::QuarantineEntry>,
}

pub fn run(db: &Path, args: StatusArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    #[cfg(feature = "aws")]
    if let (Some(events), Some(control)) = (&args.events_table, &args.control_table) {
        return run_tables(&args, events, control, out);
    }
    let store = super::open_existing(db)?;
    let stats = store.stats_blocking()?;
    let checkpoints = crate::runtime()?.block_on(store.list())?;
    let size = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    let status = Status {
        database: db.display().to_string(),
        database_bytes: size,
        events: stats.events,
        first_event: stats.first.map(|t| t.to_rfc3339()),
        last_event: stats.last.map(|t| t.to_rfc3339()),
        quarantined: stats.quarantined,
        by_source: store.breakdown(Breakdown::EventSource, 12)?,
        by_account: store.breakdown(Breakdown::Account, 50)?,
        by_region: store.breakdown(Breakdown::Region, 40)?,
        denied_by_layer: store.breakdown(Breakdown::DenialLayer, 10)?,
        checkpoints,
        recent_quarantine: store.recent_quarantine(5)?,
    };
    if args.format == SummaryFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Database   {} ({})",
        status.database,
        bytes(status.database_bytes)
    )?;
    writeln!(out, "Events     {}", count(status.events))?;
    if status.events == 0 {
        writeln!(
            out,
            "{}",
            crate::hint::empty_store(db, std::path::Path::new(crate::hint::DEMO_DIR))
        )?;
    }
    if let (Some(first), Some(last)) = (&status.first_event, &status.last_event) {
        writeln!(out, "Time range {first} .. {last}")?;
    }
    writeln!(
        out,
        "Accounts   {}   Regions {}   Quarantined records {}",
        status.by_account.len(),
        status.by_region.len(),
        count(status.quarantined)
    )?;
    if !status.by_source.is_empty() {
        let mut t = table();
        t.set_header(["event source", "events"]);
        for (k, v) in &status.by_source {
            t.add_row([k.clone(), count(*v)]);
        }
        writeln!(out, "{t}")?;
    }
    if !status.denied_by_layer.is_empty() {
        let mut t = table();
        t.set_header(["denied by", "calls"]);
        for (k, v) in &status.denied_by_layer {
            t.add_row([k.replace('_', " "), count(*v)]);
        }
        writeln!(out, "{t}")?;
    }
    write_checkpoints(out, &status.checkpoints)?;
    if !status.recent_quarantine.is_empty() {
        writeln!(out, "Most recent quarantined records:")?;
        for q in &status.recent_quarantine {
            writeln!(
                out,
                "  {} [{}]: {}",
                q.origin,
                q.event_id.as_deref().unwrap_or("no eventID"),
                q.reason
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Each stream's checkpoint, backlog and last error.
fn write_checkpoints(
    out: &mut dyn Write,
    checkpoints: &[iat_core::ports::Checkpoint],
) -> anyhow::Result<()> {
    if checkpoints.is_empty() {
        writeln!(
            out,
            "Collection streams: none yet (`iat collect` or the tracker function records them)"
        )?;
    } else {
        let mut t = table();
        t.set_header([
            "stream",
            "complete up to",
            "behind",
            "last run",
            "runs",
            "stored",
            "late: in overlap / beyond",
            "p99.9 late (overlap)",
            "last error",
        ]);
        let now = chrono::Utc::now();
        for c in checkpoints {
            t.add_row([
                c.stream.to_string(),
                c.complete_up_to.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }),
                c.complete_up_to
                    .map_or("not started".to_owned(), |t| behind(now - t)),
                ago(now - c.updated_at),
                count(c.stats.runs),
                count(c.stats.events_stored),
                format!(
                    "{} / {}",
                    count(c.stats.late_found),
                    count(c.stats.late_beyond_overlap)
                ),
                lateness(c),
                c.last_error.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}

/// The p99.9 delivery lateness seen on a stream, and the overlap its last run re-scanned.
fn lateness(c: &iat_core::ports::Checkpoint) -> String {
    let p999 = c
        .stats
        .lateness_p999()
        .map_or("-".to_owned(), |d| match d.num_minutes() {
            0 => "on time".to_owned(),
            m if m > 24 * 60 => "over 1 d".to_owned(),
            m => format!("≤ {m} min"),
        });
    match c.stats.overlap_minutes {
        0 => p999,
        m => format!("{p999} ({m} min)"),
    }
}

/// How long ago a run was: `just now`, `4 min ago`, `3 h ago`.
fn ago(d: chrono::Duration) -> String {
    if d.num_minutes() < 1 {
        "just now".to_owned()
    } else {
        format!("{} ago", behind(d))
    }
}

/// A backlog as people say it: `4 min`, `3 h`, `12 d`.
fn behind(d: chrono::Duration) -> String {
    match d.num_minutes() {
        m if m < 1 => "up to date".to_owned(),
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    #[test]
    fn backlog_in_words() {
        assert_eq!(super::behind(Duration::seconds(30)), "up to date");
        assert_eq!(super::behind(Duration::minutes(25)), "25 min");
        assert_eq!(super::behind(Duration::hours(5)), "5 h");
        assert_eq!(super::behind(Duration::days(40)), "40 d");
    }
}
