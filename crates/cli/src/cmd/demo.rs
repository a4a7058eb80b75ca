//! `iat demo`: the whole local pipeline on a generated organisation, with no AWS account.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use clap::Parser;
use iat_core::ports::{EventQuery, Order};
use iat_core::{ActivityEvent, NoiseFilter};
use iat_local::ingest::IngestOptions;
use iat_local::{Breakdown, SqliteStore};
use iat_sim::{Labels, OrgConfig};
use indicatif::{ProgressBar, ProgressStyle};

use super::events::EventsArgs;
use crate::output::{self, EventFormat, count, table};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seed: the same seed and day give the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The UTC day to generate, a weekday (default: the last weekday before today).
    #[arg(long)]
    pub day: Option<NaiveDate>,
    /// Accounts in the organisation (2-50).
    #[arg(long, default_value_t = 4)]
    pub accounts: usize,
    /// Background events to generate; planted scenarios come on top.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    /// Where the demo writes its log files, labels and database (replaced on each run).
    #[arg(long, default_value = "./iat-data/demo")]
    pub dir: PathBuf,
    /// Do not draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

/// The last weekday strictly before `today`.
fn last_weekday(today: NaiveDate) -> NaiveDate {
    let mut d = today - Duration::days(1);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d -= Duration::days(1);
    }
    d
}

#[derive(Parser)]
struct EventsCommand {
    #[command(flatten)]
    args: EventsArgs,
}

pub fn run(args: DemoArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let day = args
        .day
        .unwrap_or_else(|| last_weekday(Utc::now().date_naive()));
    let logs = args.dir.join("logs");
    let db = args.dir.join("iat.db");
    if logs.exists() {
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("cannot clear {}", logs.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let config = OrgConfig {
        seed: args.seed,
        day,
        accounts: args.accounts,
        background_events: args.events,
        ..Default::default()
    };
    let show = !args.no_progress && std::io::stderr().is_terminal();
    let labels = generate(&config, &logs, show)?;
    let trail = logs.join("AWSLogs");
    writeln!(
        out,
        "Generated {day} for organisation {} ({} accounts): {} events in {} CloudTrail files under {}",
        labels.organization_id,
        labels.accounts.len(),
        count(labels.background_events + labels.scenario_events),
        count(labels.files),
        trail.display()
    )?;

    let store = super::open_store(&db)?;
    let options = IngestOptions {
        filter: NoiseFilter::new(&labels.scanner_role_patterns)?,
        ..Default::default()
    };
    writeln!(
        out,
        "Ingesting with FILTERED_ROLES={}",
        labels.scanner_role_patterns.join(",")
    )?;
    let summary =
        super::ingest::ingest_with_progress(std::slice::from_ref(&trail), &store, &options, show)?;
    super::ingest::print_summary(out, &summary, &db)?;

    writeln!(out, "\nActivity by event source")?;
    let mut t = table();
    t.set_header(["event source", "events"]);
    for (k, v) in store.breakdown(Breakdown::EventSource, 10)? {
        t.add_row([k, count(v)]);
    }
    writeln!(out, "{t}")?;

    writeln!(out, "\nDenied calls, by the policy layer that denied them")?;
    let mut t = table();
    t.set_header(["denied by", "calls"]);
    for (k, v) in store.breakdown(Breakdown::DenialLayer, 10)? {
        t.add_row([k.replace('_', " "), count(v)]);
    }
    writeln!(out, "{t}")?;

    stands_out(out, &store, &labels)?;
    scenarios(out, &store, &labels, &db, &logs)?;

    let dbs = db.display();
    writeln!(out, "\nExplore:")?;
    writeln!(out, "  iat --db {dbs} events --actor root")?;
    writeln!(out, "  iat --db {dbs} events --denied --limit 20")?;
    writeln!(
        out,
        "  iat --db {dbs} events --source iam --event-name 'Create*,Attach*,Put*' --format json"
    )?;
    writeln!(out, "  iat --db {dbs} status")?;
    Ok(ExitCode::SUCCESS)
}

fn generate(config: &OrgConfig, logs: &Path, show: bool) -> anyhow::Result<Labels> {
    let bar = if show {
        ProgressBar::new(config.background_events)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} generating [{bar:30}] {pos}/{len} events")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let labels = iat_sim::generate_with(config, logs, &mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    Ok(labels)
}

fn query(store: &SqliteStore, q: EventQuery) -> anyhow::Result<Vec<ActivityEvent>> {
    Ok(store.query_blocking(&EventQuery {
        order: Order::Ascending,
        ..q
    })?)
}

fn section(out: &mut dyn Write, title: &str, events: &[ActivityEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{title} ({})", events.len())?;
    output::events(out, events, EventFormat::Table)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn stands_out(out: &mut dyn Write, store: &SqliteStore, labels: &Labels) -> anyhow::Result<()> {
    writeln!(out, "\nWhat stands out")?;
    section(
        out,
        "Root user activity",
        &query(
            store,
            EventQuery {
                actor: Some("root".into()),
                ..Default::default()
            },
        )?,
    )?;

    let networks: Vec<ipnet::IpNet> = labels
        .expected_networks
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    let logins = query(
        store,
        EventQuery {
            event_names: names(&["ConsoleLogin"]),
            ..Default::default()
        },
    )?;
    let odd: Vec<ActivityEvent> = logins
        .into_iter()
        .filter(|e| {
            let outside = e
                .source_ip
                .addr
                .is_some_and(|a| !networks.iter().any(|n| n.contains(&a)));
            let no_mfa = e.console_login.as_ref().and_then(|c| c.mfa_used) == Some(false);
            e.principal.actor != "root" && (outside || no_mfa || e.is_failure())
        })
        .collect();
    section(
        out,
        &format!(
            "Console sign-ins that failed, lacked MFA, or came from outside {}",
            labels.expected_networks.join(", ")
        ),
        &odd,
    )?;

    let changes = names(&[
        "Create*",
        "Delete*",
        "Attach*",
        "Detach*",
        "Put*",
        "Update*",
        "Deactivate*",
        "Add*",
        "Remove*",
        "Set*",
    ]);
    let by_source = |source: &str| EventQuery {
        event_source: Some(source.to_owned()),
        event_names: changes.clone(),
        ..Default::default()
    };
    let by_names = |list: &[&str]| EventQuery {
        event_names: names(list),
        ..Default::default()
    };
    let sections = [
        ("IAM changes", by_source("iam.amazonaws.com")),
        ("Identity Center changes", by_source("sso.amazonaws.com")),
        (
            "Security group changes",
            by_names(&[
                "AuthorizeSecurityGroup*",
                "RevokeSecurityGroup*",
                "ModifySecurityGroupRules",
            ]),
        ),
        (
            "CloudTrail changes",
            by_names(&[
                "StopLogging",
                "DeleteTrail",
                "UpdateTrail",
                "PutEventSelectors",
            ]),
        ),
    ];
    for (title, q) in sections {
        section(out, title, &query(store, q)?)?;
    }
    Ok(())
}

/// Checks each planted scenario is found by the `iat events` command its label gives.
fn scenarios(
    out: &mut dyn Write,
    store: &SqliteStore,
    labels: &Labels,
    db: &Path,
    logs: &Path,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nPlanted scenarios, each found by the `iat events` filter shown (labels: {})",
        logs.join("labels.json").display()
    )?;
    let mut t = table();
    t.set_header(["scenario", "found", "iat events ..."]);
    let mut missed = 0;
    for s in &labels.scenarios {
        let argv = s.find.to_args();
        let cmd = EventsCommand::try_parse_from(
            std::iter::once("events".to_owned()).chain(argv.iter().cloned()),
        )
        .with_context(|| format!("label of {} has arguments iat cannot parse", s.kind))?;
        let found: BTreeSet<String> = store
            .query_blocking(&cmd.args.query()?)?
            .into_iter()
            .map(|e| e.id.to_string())
            .collect();
        let hits = s.event_ids.iter().filter(|id| found.contains(*id)).count();
        missed += s.event_ids.len() - hits;
        let quoted: Vec<String> = argv
            .iter()
            .map(|a| {
                if a.contains([' ', '*', '/']) {
                    format!("'{a}'")
                } else {
                    a.clone()
                }
            })
            .collect();
        t.add_row([
            s.kind.clone(),
            format!("{hits}/{}", s.event_ids.len()),
            quoted.join(" "),
        ]);
    }
    writeln!(out, "{t}")?;
    if missed > 0 {
        anyhow::bail!("{missed} planted events were not found in {}", db.display());
    }
    Ok(())
}
