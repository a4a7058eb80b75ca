//! `iat events`

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use iat_core::ports::{EventCursor, EventQuery, IpFilter, Order};
use iat_core::{AccountId, DenialLayer, Region, TimeWindow};

use super::history::HistoryArgs;
use crate::output::{self, EventFormat};
use crate::store::{OpenOptions, StoreArgs};
use crate::timearg::{self, End};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// Events at or after this time.
    #[arg(long)]
    pub since: Option<String>,
    /// Events at or before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Actor (IAM user, `role/session`, `root`, ...) or principal ARN.
    #[arg(long)]
    pub actor: Option<String>,
    /// Event name; repeat or separate with commas for alternatives (commas inside a glob's
    /// braces, as in `{Create,Delete}User`, belong to the glob).
    #[arg(long = "event-name")]
    pub event_names: Vec<String>,
    /// Event source, e.g. `iam` or `iam.amazonaws.com`.
    #[arg(long)]
    pub source: Option<String>,
    /// 12-digit account id.
    #[arg(long)]
    pub account: Option<String>,
    /// Region, e.g. `eu-west-1`.
    #[arg(long)]
    pub region: Option<String>,
    /// Source address exactly as recorded (`AWS Internal` too), or a network (`198.51.100.0/24`).
    #[arg(long)]
    pub source_ip: Option<String>,
    /// Only calls denied by a policy.
    #[arg(long)]
    pub denied: bool,
    /// Only calls denied by this layer: scp, rcp, permissions_boundary, session_policy,
    /// identity_policy, resource_policy, vpc_endpoint_policy, unknown.
    #[arg(long)]
    pub denial_layer: Option<String>,
    /// Most events to print (0: all).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Oldest first instead of newest first.
    #[arg(long)]
    pub oldest_first: bool,
    #[arg(long, value_enum, default_value_t = EventFormat::Table)]
    pub format: EventFormat,
}

impl EventsArgs {
    /// The store query these arguments ask for (without the limit).
    pub fn query(&self) -> anyhow::Result<EventQuery> {
        let now = Utc::now();
        let since = self
            .since
            .as_deref()
            .map(|s| timearg::parse(s, now, End::Start))
            .transpose()
            .context("--since")?;
        let until = self
            .until
            .as_deref()
            .map(|s| timearg::parse(s, now, End::End))
            .transpose()
            .context("--until")?;
        let window = match (since, until) {
            (None, None) => None,
            (s, u) => Some(
                TimeWindow::new(
                    s.unwrap_or(chrono::DateTime::<Utc>::MIN_UTC),
                    u.unwrap_or(chrono::DateTime::<Utc>::MAX_UTC),
                )
                .context("--since is after --until")?,
            ),
        };
        let source = self.source.as_ref().map(|s| {
            if s.contains('.') || s.contains('*') {
                s.clone()
            } else {
                format!("{s}.amazonaws.com")
            }
        });
        let denial_layer = self
            .denial_layer
            .as_deref()
            .map(|l| {
                DenialLayer::parse(l).with_context(|| {
                    let names: Vec<&str> = DenialLayer::ALL.iter().map(|l| l.as_str()).collect();
                    format!(
                        "unknown --denial-layer {l:?}; use scp, rcp or one of {}",
                        names.join(", ")
                    )
                })
            })
            .transpose()?;
        let query = EventQuery {
            window,
            actor: self.actor.clone(),
            event_names: self
                .event_names
                .iter()
                .flat_map(|n| iat_core::glob::split_list(n))
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            event_source: source,
            account: self.account.as_deref().map(AccountId::new).transpose()?,
            region: self.region.as_deref().map(Region::new).transpose()?,
            source_ip: self.source_ip.as_deref().map(IpFilter::parse).transpose()?,
            denied_only: self.denied || denial_layer.is_some(),
            denial_layer,
            interest: None,
            order: if self.oldest_first {
                Order::Ascending
            } else {
                Order::Descending
            },
            after: None,
            limit: None,
        };
        query.matcher()?;
        Ok(query)
    }
}

/// `iat events`: the filters, and where history beyond the store comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct EventsCommand {
    #[command(flatten)]
    pub filters: EventsArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
}

/// Events fetched from the store per page while streaming.
const PAGE: usize = 5_000;

pub fn run(
    stores: &StoreArgs,
    command: EventsCommand,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let EventsCommand {
        filters: args,
        history,
    } = command;
    let mut query = args.query()?;
    let store = stores.open(OpenOptions::default())?;
    let runtime = crate::runtime()?;
    let reads = history.reads(&store, stores.profile(), runtime, Utc::now())?;
    let mut lake_count = 0;
    let mut writer = output::EventWriter::new(out, args.format)?;
    let wanted = if args.limit == 0 {
        usize::MAX
    } else {
        args.limit
    };
    let mut written = 0;
    let mut more = false;
    loop {
        // One more than needed tells whether the limit cut the list.
        query.limit = Some(PAGE.min((wanted - written).saturating_add(1)));
        let page = runtime.block_on(reads.events.query(&query))?;
        let full = page.len() == query.limit.unwrap_or(0);
        let take = page.len().min(wanted - written);
        writer.write(&page[..take])?;
        if let Some(lake) = &reads.lake {
            lake_count += lake.from_lake(&page[..take]);
        }
        written += take;
        if written == wanted {
            more = page.len() > take;
            break;
        }
        match (full, page.last()) {
            (true, Some(last)) => query.after = Some(EventCursor::after(last)),
            _ => break,
        }
    }
    writer.finish()?;
    if let Some(note) = store.reads.as_ref().and_then(|reads| reads()) {
        eprintln!("{note}");
    }
    if let Some(lake) = &reads.lake {
        for line in lake.report(query.window, lake_count) {
            eprintln!("{line}");
        }
    }
    if more {
        eprintln!(
            "showing the first {} matching events; use --limit N or --limit 0 for all",
            args.limit
        );
    } else if args.format == EventFormat::Table {
        eprintln!("{written} matching events");
    }
    // Whether the store holds anything at all: one event is enough to know (a count would read
    // every day of a DynamoDB table).
    let any = EventQuery {
        limit: Some(1),
        ..Default::default()
    };
    if written == 0
        && reads.lake.is_none()
        && runtime.block_on(store.events.query(&any))?.is_empty()
    {
        eprintln!("{}", crate::hint::empty_store(&store.spec));
    }
    Ok(ExitCode::SUCCESS)
}
