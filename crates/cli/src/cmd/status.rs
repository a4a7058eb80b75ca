//! `iat status`

use std::io::Write;
use std::process::ExitCode;

use iat_core::ports::{Breakdown, QuarantineEntry, StoreSummary};
use serde::Serialize;

use crate::store::{OpenOptions, StoreArgs};

use crate::output::{SummaryFormat, bytes, count, table};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

#[derive(Serialize)]
struct Status {
    store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database_bytes: Option<u64>,
    events: u64,
    first_event: Option<String>,
    last_event: Option<String>,
    quarantined: u64,
    #[serde(flatten)]
    summary: Option<Summary>,
    checkpoints: Vec<iat_core::ports::Checkpoint>,
}

/// What a store with the summary capability adds.
#[derive(Serialize)]
struct Summary {
    by_source: Vec<(String, u64)>,
    by_account: Vec<(String, u64)>,
    by_region: Vec<(String, u64)>,
    denied_by_layer: Vec<(String, u64)>,
    recent_quarantine: Vec<QuarantineEntry>,
}

async fn summary(s: &dyn StoreSummary) -> Result<Summary, iat_core::Error> {
    Ok(Summary {
        by_source: s.breakdown(Breakdown::EventSource, 12).await?,
        by_account: s.breakdown(Breakdown::Account, 50).await?,
        by_region: s.breakdown(Breakdown::Region, 40).await?,
        denied_by_layer: s.breakdown(Breakdown::DenialLayer, 10).await?,
        recent_quarantine: s.recent_quarantine(5).await?,
    })
}

pub fn run(stores: &StoreArgs, args: StatusArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = stores.open(OpenOptions::default())?;
    let db = store.spec.sqlite_path();
    let status = crate::runtime()?.block_on(async {
        let stats = store.events.stats().await?;
        let summary = match &store.summary {
            Some(s) => Some(summary(s.as_ref()).await?),
            None => None,
        };
        anyhow::Ok(Status {
            store: store.spec.to_string(),
            database: db.map(|p| p.display().to_string()),
            database_bytes: db.map(|db| {
                ["", "-wal"]
                    .iter()
                    .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
                    .map(|m| m.len())
                    .sum()
            }),
            events: stats.events,
            first_event: stats.first.map(|t| t.to_rfc3339()),
            last_event: stats.last.map(|t| t.to_rfc3339()),
            quarantined: stats.quarantined,
            summary,
            checkpoints: store.checkpoints.list().await?,
        })
    })?;
    if args.format == SummaryFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    match (&status.database, status.database_bytes) {
        (Some(path), Some(size)) => writeln!(out, "Database   {path} ({})", bytes(size))?,
        _ => writeln!(out, "Store      {}", status.store)?,
    }
    writeln!(out, "Events     {}", count(status.events))?;
    if status.events == 0 {
        writeln!(out, "{}", crate::hint::empty_store(&store.spec))?;
    }
    if let (Some(first), Some(last)) = (&status.first_event, &status.last_event) {
        writeln!(out, "Time range {first} .. {last}")?;
    }
    let Some(summary) = &status.summary else {
        writeln!(out, "Quarantined records {}", count(status.quarantined))?;
        writeln!(
            out,
            "Events by source, account, region and denial layer: not kept by this store \
             (`iat export` then `iat query` answers them)"
        )?;
        write_checkpoints(out, &status.checkpoints)?;
        return Ok(ExitCode::SUCCESS);
    };
    writeln!(
        out,
        "Accounts   {}   Regions {}   Quarantined records {}",
        summary.by_account.len(),
        summary.by_region.len(),
        count(status.quarantined)
    )?;
    if !summary.by_source.is_empty() {
        let mut t = table();
        t.set_header(["event source", "events"]);
        for (k, v) in &summary.by_source {
            t.add_row([k.clone(), count(*v)]);
        }
        writeln!(out, "{t}")?;
    }
    if !summary.denied_by_layer.is_empty() {
        let mut t = table();
        t.set_header(["denied by", "calls"]);
        for (k, v) in &summary.denied_by_layer {
            t.add_row([k.replace('_', " "), count(*v)]);
        }
        writeln!(out, "{t}")?;
    }
    write_checkpoints(out, &status.checkpoints)?;
    if !summary.recent_quarantine.is_empty() {
        writeln!(out, "Most recent quarantined records:")?;
        for q in &summary.recent_quarantine {
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
