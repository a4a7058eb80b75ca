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
    /// An account whose oldest stream is complete up to longer ago than this is behind
    /// (`90m`, `2h`, `1d`); the default suits the hourly schedule.
    #[arg(long, default_value = "2h", value_name = "AGE")]
    pub behind_after: String,
    /// With more than one account, list every stream too, not only the accounts that are
    /// behind or failing.
    #[arg(long)]
    pub streams: bool,
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
    /// The collected accounts, each summarised over its streams.
    accounts: AccountsSummary,
    checkpoints: Vec<iat_core::ports::Checkpoint>,
}

/// How the collected accounts stand: counts, and each account's state.
#[derive(Serialize, Debug, PartialEq)]
struct AccountsSummary {
    caught_up: usize,
    behind: usize,
    failing: usize,
    accounts: Vec<AccountState>,
}

/// One account over its streams.
#[derive(Serialize, Debug, PartialEq)]
struct AccountState {
    account: String,
    state: State,
    streams: usize,
    failing_streams: usize,
    /// Its least advanced stream's checkpoint; `None` while one has not started.
    complete_up_to: Option<chrono::DateTime<chrono::Utc>>,
    last_run: Option<chrono::DateTime<chrono::Utc>>,
    events_stored: u64,
    /// The first failing stream's error, with the stream's name.
    last_error: Option<String>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum State {
    Failing,
    Behind,
    CaughtUp,
}

/// Each account's state from its streams' checkpoints: failing if a stream's last run failed,
/// behind if a stream has not started or is complete only up to before `now - behind_after`.
fn accounts(
    checkpoints: &[iat_core::ports::Checkpoint],
    now: chrono::DateTime<chrono::Utc>,
    behind_after: chrono::Duration,
) -> AccountsSummary {
    let mut by_account: std::collections::BTreeMap<&str, Vec<&iat_core::ports::Checkpoint>> =
        Default::default();
    for c in checkpoints {
        by_account
            .entry(c.stream.account.as_str())
            .or_default()
            .push(c);
    }
    let mut list: Vec<AccountState> = by_account
        .into_iter()
        .map(|(account, streams)| {
            let failing: Vec<_> = streams.iter().filter(|c| c.last_error.is_some()).collect();
            let complete_up_to = streams.iter().map(|c| c.complete_up_to).min().flatten();
            let state = if !failing.is_empty() {
                State::Failing
            } else if complete_up_to.is_none_or(|t| now - t > behind_after) {
                State::Behind
            } else {
                State::CaughtUp
            };
            AccountState {
                account: account.to_owned(),
                state,
                streams: streams.len(),
                failing_streams: failing.len(),
                complete_up_to,
                last_run: streams.iter().filter_map(|c| c.last_run_at).max(),
                events_stored: streams.iter().map(|c| c.stats.events_stored).sum(),
                last_error: failing.first().map(|c| {
                    format!(
                        "{}: {}",
                        c.stream,
                        c.last_error.as_deref().unwrap_or_default()
                    )
                }),
            }
        })
        .collect();
    list.sort_by(|a, b| (a.state, &a.account).cmp(&(b.state, &b.account)));
    let n = |s: State| list.iter().filter(|a| a.state == s).count();
    AccountsSummary {
        caught_up: n(State::CaughtUp),
        behind: n(State::Behind),
        failing: n(State::Failing),
        accounts: list,
    }
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
    let behind_after = crate::timearg::duration(&args.behind_after)
        .map_err(|e| anyhow::anyhow!("--behind-after: {e}"))?;
    let store = stores.open(OpenOptions::default())?;
    let db = store.spec.sqlite_path();
    let status = crate::runtime()?.block_on(async {
        let stats = store.events.stats().await?;
        let summary = match &store.summary {
            Some(s) => Some(summary(s.as_ref()).await?),
            None => None,
        };
        let checkpoints = store.checkpoints.list().await?;
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
            accounts: accounts(&checkpoints, chrono::Utc::now(), behind_after),
            checkpoints,
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
        write_collection(out, &status, args.streams)?;
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
    write_collection(out, &status, args.streams)?;
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

/// One account: its streams. Several: how many are caught up, behind and failing, the accounts
/// that are not caught up, and each stream only when asked.
fn write_collection(out: &mut dyn Write, status: &Status, all_streams: bool) -> anyhow::Result<()> {
    let a = &status.accounts;
    if a.accounts.len() <= 1 {
        return write_checkpoints(out, &status.checkpoints);
    }
    writeln!(
        out,
        "Collected accounts {}: {} caught up, {} behind, {} failing",
        a.accounts.len(),
        a.caught_up,
        a.behind,
        a.failing
    )?;
    let now = chrono::Utc::now();
    let lagging: Vec<_> = a
        .accounts
        .iter()
        .filter(|x| x.state != State::CaughtUp)
        .collect();
    if !lagging.is_empty() {
        let mut t = table();
        t.set_header([
            "account",
            "state",
            "streams (failing)",
            "complete up to",
            "behind",
            "last run",
            "stored",
            "last error",
        ]);
        for x in lagging {
            t.add_row([
                x.account.clone(),
                match x.state {
                    State::Failing => "failing",
                    State::Behind => "behind",
                    State::CaughtUp => "caught up",
                }
                .to_owned(),
                format!("{} ({})", x.streams, x.failing_streams),
                x.complete_up_to.map_or("-".to_owned(), |t| {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }),
                x.complete_up_to
                    .map_or("not started".to_owned(), |t| behind(now - t)),
                x.last_run.map_or("never".to_owned(), |t| ago(now - t)),
                count(x.events_stored),
                x.last_error.clone().unwrap_or_default(),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    if all_streams {
        write_checkpoints(out, &status.checkpoints)?;
    } else {
        writeln!(
            out,
            "Streams: {} (`--streams` lists each)",
            count(status.checkpoints.len() as u64)
        )?;
    }
    Ok(())
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
    use chrono::{Duration, TimeZone, Utc};
    use iat_core::ports::Checkpoint;
    use iat_core::{AccountId, Region, StreamKey};

    use super::State;

    fn checkpoint(
        account: &str,
        region: &str,
        complete_hours_ago: Option<i64>,
        error: Option<&str>,
    ) -> Checkpoint {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let mut c = Checkpoint::new(
            StreamKey {
                account: AccountId::new(account).unwrap(),
                region: Region::new(region).unwrap(),
                source: "iam.amazonaws.com".into(),
            },
            now,
        );
        c.complete_up_to = complete_hours_ago.map(|h| now - Duration::hours(h));
        c.last_run_at = Some(now - Duration::minutes(5));
        c.last_error = error.map(str::to_owned);
        c.stats.events_stored = 10;
        c
    }

    #[test]
    fn an_account_is_as_far_as_its_least_advanced_stream_and_failing_if_any_stream_fails() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let list = [
            checkpoint("111111111111", "us-east-1", Some(1), None),
            checkpoint("111111111111", "eu-west-1", Some(1), None),
            checkpoint("222222222222", "us-east-1", Some(1), None),
            checkpoint("222222222222", "eu-west-1", Some(30), None),
            checkpoint(
                "333333333333",
                "us-east-1",
                None,
                Some("cannot assume the role"),
            ),
            checkpoint("444444444444", "us-east-1", Some(1), None),
            checkpoint("444444444444", "eu-west-1", None, None),
        ];
        let s = super::accounts(&list, now, Duration::hours(2));
        assert_eq!((s.caught_up, s.behind, s.failing), (1, 2, 1));
        let states: Vec<(&str, State)> = s
            .accounts
            .iter()
            .map(|a| (a.account.as_str(), a.state))
            .collect();
        assert_eq!(
            states,
            [
                ("333333333333", State::Failing),
                ("222222222222", State::Behind),
                ("444444444444", State::Behind),
                ("111111111111", State::CaughtUp),
            ]
        );
        let failing = &s.accounts[0];
        assert_eq!(failing.streams, 1);
        assert_eq!(failing.failing_streams, 1);
        assert_eq!(
            failing.last_error.as_deref(),
            Some("333333333333/us-east-1/iam.amazonaws.com: cannot assume the role")
        );
        assert_eq!(
            s.accounts[1].complete_up_to,
            Some(now - Duration::hours(30))
        );
        assert_eq!(s.accounts[3].events_stored, 20);
        // A wider tolerance makes the 30-hour-old stream caught up.
        assert_eq!(super::accounts(&list, now, Duration::days(2)).caught_up, 2);
    }

    #[test]
    fn backlog_in_words() {
        assert_eq!(super::behind(Duration::seconds(30)), "up to date");
        assert_eq!(super::behind(Duration::minutes(25)), "25 min");
        assert_eq!(super::behind(Duration::hours(5)), "5 h");
        assert_eq!(super::behind(Duration::days(40)), "40 d");
    }
}
