//! `iat alerts`: run the rules over events stored since the last run, and send what they raise.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use iat_alerter::{Alerter, DeliveryPolicy, RunReport};
use iat_core::EventId;
use iat_core::alert::Alert;
use iat_core::ports::{
    AlertLedger, AlertLog, EventFeed, FeedPosition, MemorySeenStore, Notifier, SeenKey, SeenRecord,
    SeenStore,
};
use iat_core::rules::RuleSet;
use iat_local::notify::{JsonlNotifier, WebhookNotifier, WriterNotifier};

use super::RuleArgs;
use crate::output::count;
use crate::store::{OpenOptions, StoreArgs};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Where alerts go: `stdout`, `jsonl:PATH` (appended, one JSON object per message), or
    /// `webhook:URL` (JSON POST with a `text` field, as Slack and Teams incoming webhooks take).
    #[arg(long, env = "IAT_NOTIFY", default_value = "stdout")]
    pub notify: String,
    /// Evaluate every stored event, not only those stored since the last run. Alerts already
    /// sent are not sent again.
    #[arg(long)]
    pub all: bool,
    /// Print the alerts the new events raise; send nothing and remember nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Messages per second at most (default: 5 for a webhook, no limit for stdout and files).
    #[arg(long)]
    pub max_per_second: Option<f64>,
    /// Above this many alerts in one run, criticals go one by one and the rest as one digest.
    #[arg(long, default_value_t = 20)]
    pub digest_threshold: usize,
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// The mark that remembers the last event evaluated.
pub(crate) const MARK: &str = "alerts.after_seq";

/// Events evaluated per batch.
const BATCH: usize = 5_000;

/// The alerts raised by the events after feed position `after`, merged across batches as one
/// run.
struct Evaluated {
    alerts: Vec<Alert>,
    /// Positions of the events that raised something, to place the mark after a failure.
    seq_of: HashMap<EventId, FeedPosition>,
    events: usize,
    /// The last position read.
    last: FeedPosition,
}

async fn evaluate_after(
    feed: &dyn EventFeed,
    seen: &dyn SeenStore,
    rules: &RuleSet,
    after: FeedPosition,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Evaluated> {
    let mut e = Evaluated {
        alerts: Vec::new(),
        seq_of: HashMap::new(),
        events: 0,
        last: after,
    };
    loop {
        let batch = feed.after(e.last, BATCH).await?;
        let Some(&(last, _)) = batch.last() else {
            break;
        };
        let (seqs, events): (Vec<i64>, Vec<_>) = batch.into_iter().unzip();
        let mut hits = rules.evaluate_all(&events);
        let first_seen = iat_core::seen::evaluate(seen, rules, &events, now).await?;
        iat_core::seen::raise_passed_admin_roles(seen, rules, &mut hits, now).await?;
        hits.extend(first_seen.hits);
        let raised = Alert::from_hits(hits);
        let with_alerts: HashSet<&EventId> = raised
            .iter()
            .flat_map(|a| a.events.iter().map(|f| &f.event_id))
            .collect();
        for (seq, ev) in seqs.iter().zip(&events) {
            if with_alerts.contains(&ev.id) {
                e.seq_of.insert(ev.id.clone(), *seq);
            }
        }
        e.alerts.extend(raised);
        e.events += events.len();
        e.last = last;
    }
    e.alerts = Alert::merge(std::mem::take(&mut e.alerts));
    Ok(e)
}

/// Where a run starts reading: the beginning with `all`, else where the store resumes after
/// the mark.
async fn start(feed: &dyn EventFeed, all: bool) -> anyhow::Result<(FeedPosition, FeedPosition)> {
    let mark = feed.mark(MARK).await?;
    Ok((mark, if all { 0 } else { feed.resume_from(mark) }))
}

/// Evaluates the events stored after the mark (all with `all`), sends their alerts as one run
/// (so the digest threshold counts the whole run), and moves the mark past what was handled:
/// to the end when everything was sent, else to just before the first event with an unsent
/// alert, so the next run retries from there.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_new(
    feed: &dyn EventFeed,
    seen: &dyn SeenStore,
    ledger: Arc<dyn AlertLedger>,
    rules: RuleSet,
    notifier: Arc<dyn Notifier>,
    policy: DeliveryPolicy,
    all: bool,
    log: Option<Arc<dyn AlertLog>>,
) -> anyhow::Result<RunReport> {
    let (mark, from) = start(feed, all).await?;
    let now = Utc::now();
    let found = evaluate_after(feed, seen, &rules, from, now).await?;
    let mut alerter = Alerter::new(rules, ledger, notifier, policy);
    if let Some(log) = log {
        alerter = alerter.with_log(log);
    }
    let r = alerter.deliver(found.alerts, now).await;
    let end = if r.is_complete() {
        found.last
    } else {
        r.failed_events
            .iter()
            .filter_map(|id| found.seq_of.get(id))
            .min()
            .map(|s| s - 1)
            .unwrap_or(mark)
    };
    if end > mark {
        feed.set_mark(MARK, end).await?;
    }
    Ok(RunReport {
        events: found.events,
        ..r
    })
}

/// A file or webhook notifier from `jsonl:PATH` or `webhook:URL`.
pub(crate) fn notifier_for(spec: &str) -> anyhow::Result<Arc<dyn Notifier>> {
    if let Some(path) = spec.strip_prefix("jsonl:") {
        return Ok(Arc::new(JsonlNotifier::new(Path::new(path))?));
    }
    if let Some(url) = spec.strip_prefix("webhook:") {
        return Ok(Arc::new(WebhookNotifier::new(url)?));
    }
    anyhow::bail!("--notify {spec:?}: expected jsonl:PATH or webhook:URL")
}

fn notifier(
    spec: &str,
    out_buffer: &Arc<WriterNotifier<Vec<u8>>>,
) -> anyhow::Result<(Arc<dyn Notifier>, f64)> {
    if spec == "stdout" {
        return Ok((out_buffer.clone(), 1000.0));
    }
    let rate = if spec.starts_with("webhook:") {
        5.0
    } else {
        1000.0
    };
    notifier_for(spec).map(|n| (n, rate)).map_err(|_| {
        anyhow::anyhow!("--notify {spec:?}: expected stdout, jsonl:PATH or webhook:URL")
    })
}

pub fn run(stores: &StoreArgs, args: AlertsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let rules = RuleSet::new(args.rules.config()?)?;
    let store = stores.open(OpenOptions::default())?;
    let runtime = crate::runtime()?;
    if args.dry_run {
        let found = runtime.block_on(async {
            let (_, from) = start(store.feed.as_ref(), args.all).await?;
            let seen = DryRunSeen::over(store.seen.as_ref());
            evaluate_after(store.feed.as_ref(), &seen, &rules, from, Utc::now()).await
        })?;
        for a in &found.alerts {
            crate::output::alert(out, a)?;
        }
        writeln!(
            out,
            "{} alerts would be raised (dry run: nothing sent, nothing remembered)",
            found.alerts.len()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let buffer = Arc::new(WriterNotifier::new(Vec::new()));
    let (notifier, default_rate) = notifier(&args.notify, &buffer)?;
    let rate = args.max_per_second.unwrap_or(default_rate);
    if rate.is_nan() || rate <= 0.0 {
        anyhow::bail!("--max-per-second must be above 0");
    }
    let policy = DeliveryPolicy {
        max_per_second: rate,
        digest_threshold: args.digest_threshold,
        ..DeliveryPolicy::default()
    };
    let ledger = store.ledger()?;
    let r = runtime
        .block_on(send_new(
            store.feed.as_ref(),
            store.seen.as_ref(),
            ledger,
            rules,
            notifier,
            policy,
            args.all,
            store.alert_log.clone(),
        ))
        .context("alert run")?;
    drop(store);
    if let Ok(b) = Arc::try_unwrap(buffer) {
        out.write_all(&b.into_inner())?;
    }
    writeln!(
        out,
        "{} events evaluated: {} alerts sent in {} messages ({} digests), {} events' alerts sent before",
        count(r.events as u64),
        count(r.alerts_sent as u64),
        count(r.messages as u64),
        r.digests,
        count(r.already_sent as u64)
    )?;
    if let Some(e) = &r.log_error {
        eprintln!("warning: the alerts were sent but not all were written to the alert log: {e}");
    }
    if let Some(e) = &r.error {
        eprintln!(
            "error: {} alerts not sent: {e}; run `iat alerts` again to retry",
            r.failed_events.len()
        );
        return Ok(ExitCode::from(1));
    }
    if !r.failed_events.is_empty() {
        eprintln!(
            "error: {} alerts are being sent by another run; run `iat alerts` again later",
            r.failed_events.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The first-seen state as a dry run sees it: reads from the store, writes kept in memory.
struct DryRunSeen<'a> {
    real: &'a dyn SeenStore,
    written: MemorySeenStore,
}

impl<'a> DryRunSeen<'a> {
    fn over(real: &'a dyn SeenStore) -> Self {
        Self {
            real,
            written: MemorySeenStore::new(),
        }
    }
}

#[async_trait::async_trait]
impl SeenStore for DryRunSeen<'_> {
    async fn get(
        &self,
        keys: &[SeenKey],
        now: chrono::DateTime<Utc>,
    ) -> iat_core::error::Result<HashMap<SeenKey, SeenRecord>> {
        let mut found = self.real.get(keys, now).await?;
        found.extend(self.written.get(keys, now).await?);
        Ok(found)
    }

    async fn put(
        &self,
        records: &[(SeenKey, SeenRecord)],
        now: chrono::DateTime<Utc>,
    ) -> iat_core::error::Result<Vec<SeenRecord>> {
        // What the store holds competes as it would; nothing reaches it.
        let keys: Vec<SeenKey> = records.iter().map(|(k, _)| k.clone()).collect();
        let known = self.written.get(&keys, now).await?;
        let base: Vec<(SeenKey, SeenRecord)> = self
            .real
            .get(&keys, now)
            .await?
            .into_iter()
            .filter(|(k, _)| !known.contains_key(k))
            .collect();
        self.written.put(&base, now).await?;
        self.written.put(records, now).await
    }

    async fn scope(
        &self,
        scope: &str,
        now: chrono::DateTime<Utc>,
    ) -> iat_core::error::Result<Vec<(SeenKey, SeenRecord)>> {
        self.real.scope(scope, now).await
    }

    async fn count(&self) -> iat_core::error::Result<u64> {
        self.real.count().await
    }
}
