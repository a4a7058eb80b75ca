//! `iat rules list` and `iat rules test`: the rule set, and what it says about log files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use iat_core::RecordLimits;
use iat_core::alert::Alert;
use iat_core::rules::RuleSet;
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

fn test(
    files: &[PathBuf],
    format: TestFormat,
    args: &RuleArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let set = RuleSet::new(args.config()?)?;
    let loaded = iat_local::logfiles::load_events(files, &RecordLimits::default());
    for (path, e) in &loaded.problems {
        eprintln!("error: {}: {e}", path.display());
    }
    for (path, index, reason) in loaded.rejected.iter().take(20) {
        eprintln!("warning: {} record {index}: {reason}", path.display());
    }
    if loaded.rejected.len() > 20 {
        eprintln!(
            "warning: ... and {} more records not understood",
            loaded.rejected.len() - 20
        );
    }
    let hits = set.evaluate_all(&loaded.events);
    match format {
        TestFormat::Jsonl => {
            let mut fired: std::collections::HashMap<&str, Vec<&str>> =
                std::collections::HashMap::new();
            for h in &hits {
                fired
                    .entry(h.event.id.as_str())
                    .or_default()
                    .push(h.rule.id);
            }
            for e in &loaded.events {
                let rules = fired.get(e.id.as_str()).cloned().unwrap_or_default();
                writeln!(out, "{}", json!({"event_id": e.id, "rules": rules}))?;
            }
        }
        TestFormat::Summary | TestFormat::Text => {
            let hit_count = hits.len();
            let alerts = Alert::from_hits(hits);
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
                count(loaded.events.len() as u64),
                count(hit_count as u64),
                count(alerts.len() as u64),
                if loaded.rejected.is_empty() {
                    String::new()
                } else {
                    format!(", {} records not understood", loaded.rejected.len())
                }
            )?;
        }
    }
    let bad = !loaded.problems.is_empty() || !loaded.rejected.is_empty();
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
