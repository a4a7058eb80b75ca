//! `iat demo`: the whole local pipeline on a generated organisation, with no AWS account.

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use clap::Parser;
use iat_alerter::DeliveryPolicy;
use iat_core::NoiseFilter;
use iat_core::alert::Alert;
use iat_core::ports::Breakdown;
use iat_core::ports::{EventQuery, Order};
use iat_core::rules::RuleSet;
use iat_local::SqliteStore;
use iat_local::ingest::IngestOptions;
use iat_local::notify::JsonlNotifier;
use iat_sim::{Labels, OrgConfig};
use indicatif::{ProgressBar, ProgressStyle};

use super::events::EventsArgs;
use crate::output::{count, table};

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
    #[arg(long, default_value = crate::hint::DEMO_DIR)]
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

    // The demo keeps a database of its own, apart from any real history (--store is not used).
    let store =
        Arc::new(SqliteStore::open(&db).with_context(|| format!("cannot open {}", db.display()))?);
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

    let raised = alerts(out, &store, &labels, &args.dir)?;
    lake(out, &store, &labels, &args.dir)?;
    scenarios(out, &store, &labels, &raised, &db, &logs)?;

    let dbs = db.display();
    let lake_dir = args.dir.join("lake");
    writeln!(
        out,
        "\nExplore the demo's data (`make demo` built iat as ./target/release/iat):"
    )?;
    writeln!(
        out,
        "  make run-query Q=failed_auth IAT_LAKE={}      (iat query list shows the others)",
        lake_dir.display()
    )?;
    writeln!(out, "  make report IAT_LAKE={}", lake_dir.display())?;
    writeln!(out, "  iat --store sqlite:{dbs} events --actor root")?;
    writeln!(out, "  iat --store sqlite:{dbs} events --denied --limit 20")?;
    writeln!(
        out,
        "  iat --store sqlite:{dbs} events --source iam --event-name 'Create*,Attach*,Put*' --format json"
    )?;
    writeln!(out, "  iat --store sqlite:{dbs} status")?;
    writeln!(out, "  iat rules test {} --format summary", trail.display())?;
    writeln!(
        out,
        "  iat query denied_new --lake {} --since {day} --until {day}",
        lake_dir.display()
    )?;
    writeln!(
        out,
        "\nOpen the web console on this data at http://127.0.0.1:8080/ with: make serve\n  \
         (or: iat --store sqlite:{dbs} serve)"
    )?;
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

/// Runs the alert rules as the deployed alerter would (ledger, digest, notifier), and shows them.
/// Returns the rule ids raised per event id.
fn alerts(
    out: &mut dyn Write,
    store: &Arc<SqliteStore>,
    labels: &Labels,
    dir: &Path,
) -> anyhow::Result<HashMap<String, Vec<&'static str>>> {
    let settings = labels.rule_settings();
    let config = labels.rule_config()?;
    let rules = RuleSet::new(config.clone())?;
    let events = store.query_blocking(&EventQuery {
        order: Order::Ascending,
        ..Default::default()
    })?;
    let hits = rules.evaluate_all(&events);
    let mut raised: HashMap<String, Vec<&'static str>> = HashMap::new();
    for h in &hits {
        raised
            .entry(h.event.id.to_string())
            .or_default()
            .push(h.rule.id);
    }
    let shown = Alert::from_hits(hits);

    let file = dir.join("alerts.jsonl");
    let _ = std::fs::remove_file(&file);
    let notifier = Arc::new(JsonlNotifier::new(&file)?);
    let sent = crate::runtime()?.block_on(super::alerts::send_new(
        store.as_ref(),
        store.as_ref(),
        store.clone(),
        RuleSet::new(config)?,
        notifier,
        DeliveryPolicy {
            max_per_second: 1000.0,
            ..DeliveryPolicy::default()
        },
        false,
        Some(store.clone()),
    ))?;

    writeln!(out, "\nAlerts")?;
    let set: Vec<String> = settings.iter().map(|(n, v)| format!("{n}={v}")).collect();
    writeln!(out, "Rule settings: {}", set.join(" "))?;
    let mut t = table();
    t.set_header(["severity", "rule", "actor", "account", "what happened"]);
    let mut sorted: Vec<&Alert> = shown.iter().collect();
    sorted.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.events[0].time.cmp(&b.events[0].time))
    });
    for a in &sorted {
        let e = &a.events[0];
        let n = if a.events.len() > 1 {
            format!(" ({} events)", a.events.len())
        } else {
            String::new()
        };
        t.add_row([
            a.severity.to_string(),
            a.rule_id.to_owned(),
            e.actor.clone(),
            e.account
                .as_ref()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            format!("{}{n}", a.summary),
        ]);
    }
    writeln!(out, "{t}")?;
    let r = &sent;
    let how = if r.digests > 0 {
        format!(
            "{} critical alerts one by one and the other {} in {} digest, as the threshold of {} alerts a run asks",
            r.messages - r.digests,
            r.alerts_sent - (r.messages - r.digests),
            r.digests,
            DeliveryPolicy::default().digest_threshold
        )
    } else {
        "each on its own".to_owned()
    };
    writeln!(
        out,
        "{} alerts from {} rule hits, sent to {} as {} messages: {how}",
        r.alerts_sent,
        r.hits,
        file.display(),
        r.messages
    )?;
    if let Some(first) = sorted.first() {
        let n = first.notification()?;
        writeln!(
            out,
            "\nThe first, as SNS delivers it:\n{}\n{}\n{}",
            n.subject.as_str(),
            "─".repeat(78),
            n.body.trim_end()
        )?;
    }
    Ok(raised)
}

/// Exports the day to the demo's lake and runs a few queries of the catalogue over it.
fn lake(
    out: &mut dyn Write,
    store: &SqliteStore,
    labels: &Labels,
    dir: &Path,
) -> anyhow::Result<()> {
    let lake_dir = dir.join("lake");
    let _ = std::fs::remove_dir_all(&lake_dir);
    let objects = iat_local::DirObjectStore::new(&lake_dir)?;
    let runtime = crate::runtime()?;
    // The day's alerts are kept beside it under the demo's rule settings, as `make serve` runs.
    let options = iat_exporter::ExportOptions {
        rules: Some(Arc::new(RuleSet::new(labels.rule_config()?)?)),
        ..Default::default()
    };
    let export = runtime.block_on(iat_exporter::export_day(
        store,
        &objects,
        labels.day,
        &options,
        Utc::now(),
    ))?;
    writeln!(
        out,
        "\nExported {} to {}: {} events in {} Parquet part, {} bytes ({:.0} bytes an event)",
        labels.day,
        lake_dir.display(),
        count(export.events),
        export.parts,
        count(export.bytes),
        export.bytes as f64 / export.events.max(1) as f64
    )?;
    let lake = iat_local::sql::LocalLake::new(&lake_dir, "");
    let catalogue = iat_lake::QueryCatalogue::builtin();
    let mut values = std::collections::BTreeMap::new();
    values.insert("start".to_owned(), labels.day.to_string());
    values.insert("end".to_owned(), labels.day.to_string());
    // The organisation view: every account's activity, denials and alerts, with its name.
    let by_account =
        runtime.block_on(lake.rows(&catalogue.get("denied_by_account")?.render(&values)?))?;
    let denied: HashMap<String, (String, String)> = (0..by_account.rows.rows.len())
        .map(|i| {
            let r = &by_account.rows;
            (
                r.get(i, "account").to_owned(),
                (
                    r.get(i, "calls").to_owned(),
                    r.get(i, "org_policy_calls").to_owned(),
                ),
            )
        })
        .collect();
    writeln!(
        out,
        "
The organisation {}, by account (events stored, denied calls and how many an SCP or RCP denied: iat query denied_by_account)",
        labels.organization_id
    )?;
    let mut t = table();
    t.set_header(["account", "name", "events", "denied", "by org policy"]);
    for (account, events) in store.breakdown(Breakdown::Account, labels.accounts.len().max(1))? {
        let (calls, org) = denied
            .get(&account)
            .cloned()
            .unwrap_or_else(|| ("0".into(), "0".into()));
        let name = labels
            .account_names
            .get(&account)
            .cloned()
            .unwrap_or_default();
        t.add_row([account, name, count(events), calls, org]);
    }
    writeln!(out, "{t}")?;
    for name in ["denied_by_layer", "denied_calls"] {
        let q = catalogue.get(name)?;
        let rows = runtime.block_on(lake.rows(&q.render(&values)?))?;
        writeln!(
            out,
            "\niat query {name} --since {day} --until {day}   ({})",
            q.description,
            day = labels.day
        )?;
        super::query::print_rows(out, &rows.rows, super::query::Format::Table)?;
    }
    Ok(())
}

/// Checks each planted scenario is found by the `iat events` command its label gives.
fn scenarios(
    out: &mut dyn Write,
    store: &SqliteStore,
    labels: &Labels,
    raised: &HashMap<String, Vec<&'static str>>,
    db: &Path,
    logs: &Path,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "\nPlanted scenarios, each found by the `iat events` filter shown (labels: {})",
        logs.join("labels.json").display()
    )?;
    let mut t = table();
    t.set_header(["scenario", "found", "alerts", "iat events ..."]);
    let mut missed = 0;
    let mut missed_alerts = 0;
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
        let mut rules: Vec<&str> = s
            .event_ids
            .iter()
            .flat_map(|id| raised.get(id).into_iter().flatten().copied())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        missed_alerts += s
            .alerts
            .iter()
            .filter(|a| {
                !raised
                    .get(&a.event_id)
                    .is_some_and(|r| r.contains(&a.rule_id.as_str()))
            })
            .count();
        t.add_row([
            s.kind.clone(),
            format!("{hits}/{}", s.event_ids.len()),
            rules.join(", "),
            quoted.join(" "),
        ]);
    }
    writeln!(out, "{t}")?;
    if missed > 0 {
        anyhow::bail!("{missed} planted events were not found in {}", db.display());
    }
    if missed_alerts > 0 {
        anyhow::bail!("{missed_alerts} expected alerts were not raised");
    }
    Ok(())
}
