//! `iat rules list` and `iat rules test`: the rule set, and what it says about log files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use iat_core::RecordLimits;
use iat_core::alert::AlertMerger;
use iat_core::rules::RuleSet;
use iat_local::logfiles::EventRead;
use serde_json::json;

use super::RuleArgs;
use crate::output::{count, table};

/// Arguments of `iat rules` (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// List every rule: id, title, severity (after SEVERITY_OVERRIDES), events read.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Include disabled rules (marked as such).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Run every rule on the events in FILE... and show what fires.
    ///
    /// Reads what `iat ingest` reads: trail files, `aws cloudtrail lookup-events` output, JSON
    /// arrays or lines of records, plain or gzip, and directories of them. Sends nothing and
    /// stores nothing. Exits 1 when a file could not be read or a record not understood.
    Test {
        /// Files or directories of CloudTrail records.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `text`: the alerts as they would be sent; `jsonl`: one line per event,
        /// {"event_id": ..., "rules": [ids that fired]}; `summary`: counts by rule.
        #[arg(long, value_enum, default_value_t = TestFormat::Text)]
        format: TestFormat,
        #[command(flatten)]
        rules: RuleArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Text,
    Jsonl,
    Summary,
}

pub fn run(args: RulesArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::List { format, all, rules } => list(format, all, &rules, out),
        RulesCommand::Test {
            files,
            format,
            rules,
        } => test(&files, format, &rules, out),
    }
}

fn list(
    format: ListFormat,
    all: bool,
    args: &RuleArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let config = args.config()?;
    let set = RuleSet::new(config.clone())?;
    let enabled: Vec<(&'static iat_core::rules::Rule, iat_core::Severity)> = set.rules().collect();
    let rows: Vec<_> = iat_core::rules::ALL
        .iter()
        .chain(iat_core::rules::FIRST_SEEN)
        .filter_map(|r| match enabled.iter().find(|(e, _)| e.id == r.id) {
            Some((_, sev)) => Some((*r, *sev, true)),
            None if all => Some((*r, r.severity, false)),
            None => None,
        })
        .collect();
    match format {
        ListFormat::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(r, sev, on)| {
                    json!({
                        "id": r.id, "title": r.title, "severity": sev, "enabled": on,
                        "events": r.reads.describe(), "description": r.description,
                        "tuning": r.tuning, "references": r.references,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        ListFormat::Table => {
            let mut t = table();
            t.set_header(["id", "severity", "title", "events read"]);
            for (r, sev, on) in &rows {
                let sev = if *on {
                    sev.to_string()
                } else {
                    "disabled".into()
                };
                let events = r.reads.describe();
                let shown = if events.len() > 3 {
                    format!("{} (+{} more)", events[..3].join(", "), events.len() - 3)
                } else {
                    events.join(", ")
                };
                t.add_row([r.id.to_owned(), sev, r.title.to_owned(), shown]);
            }
            writeln!(out, "{t}")?;
            writeln!(
                out,
                "{} rules enabled. `iat rules list --format json` has descriptions and tuning.",
                enabled.len()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rules evaluated as events stream past: an event is dropped once its hits became alerts (or
/// its JSON line was written), so memory holds the alerts, not the events.
fn test(
    files: &[PathBuf],
    format: TestFormat,
    args: &RuleArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let set = RuleSet::new(args.config()?)?;
    let (mut events, mut hit_count, mut rejected, mut problems) = (0u64, 0u64, 0u64, 0u64);
    let mut merger = AlertMerger::default();
    let mut written: std::io::Result<()> = Ok(());
    iat_local::logfiles::for_each_event(files, &RecordLimits::default(), &mut |read| match read {
        EventRead::Event(e) => {
            events += 1;
            // Allocates only when a rule fires.
            let mut hits = Vec::new();
            set.evaluate(&e, &mut hits);
            hit_count += hits.len() as u64;
            if format == TestFormat::Jsonl {
                let rules: Vec<&str> = hits.iter().map(|h| h.rule.id).collect();
                if written.is_ok() {
                    written = writeln!(out, "{}", json!({"event_id": e.id, "rules": rules}));
                }
            } else {
                hits.into_iter().for_each(|h| merger.push_hit(h));
            }
        }
        EventRead::Rejected {
            path,
            index,
            reason,
        } => {
            rejected += 1;
            if rejected <= 20 {
                eprintln!("warning: {} record {index}: {reason}", path.display());
            }
        }
        EventRead::Problem { path, error } => {
            problems += 1;
            eprintln!("error: {}: {error}", path.display());
        }
    });
    written?;
    if rejected > 20 {
        eprintln!(
            "warning: ... and {} more records not understood",
            rejected - 20
        );
    }
    if format != TestFormat::Jsonl {
        let alerts = merger.finish();
        if format == TestFormat::Text {
            for a in &alerts {
                crate::output::alert(out, a)?;
            }
            if !alerts.is_empty() {
                writeln!(out, "{}", "─".repeat(78))?;
            }
        }
        let mut by_rule: std::collections::BTreeMap<&str, (usize, usize)> =
            std::collections::BTreeMap::new();
        for a in &alerts {
            let e = by_rule.entry(a.rule_id).or_default();
            e.0 += 1;
            e.1 += a.events.len();
        }
        let mut t = table();
        t.set_header(["rule", "alerts", "events"]);
        for (id, (a, e)) in &by_rule {
            t.add_row([(*id).to_owned(), count(*a as u64), count(*e as u64)]);
        }
        if !by_rule.is_empty() {
            writeln!(out, "{t}")?;
        }
        writeln!(
            out,
            "{} events read, {} rule hits, {} alerts{}",
            count(events),
            count(hit_count),
            count(alerts.len() as u64),
            if rejected == 0 {
                String::new()
            } else {
                format!(", {} records not understood", count(rejected))
            }
        )?;
    }
    Ok(if problems > 0 || rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
