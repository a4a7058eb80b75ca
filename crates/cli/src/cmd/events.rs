//! `iat events`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use iat_core::ports::{EventCursor, EventQuery, IpFilter, Order};
use iat_core::{AccountId, DenialLayer, Region, TimeWindow};

use crate::output::{self, EventFormat};
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
    /// Search this DynamoDB events table (of a deployment, or of `iat collect --events-table`)
    /// instead of the local database. An exact --actor or a single exact --event-name is
    /// answered from an index, one query per day; other filters read the days in the range.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub events_table: Option<String>,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub dynamodb: super::DynamoArgs,
    /// AWS profile, with --events-table.
    #[cfg(feature = "aws")]
    #[arg(long)]
    pub profile: Option<String>,
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

type Fetch = Box<dyn FnMut(&EventQuery) -> anyhow::Result<Vec<iat_core::ActivityEvent>>>;

/// Where pages of events come from: the local database, or a DynamoDB events table.
fn fetcher(db: &Path, args: &EventsArgs) -> anyhow::Result<Fetch> {
    #[cfg(feature = "aws")]
    if let Some(table) = &args.events_table {
        use iat_core::ports::EventStore;
        let runtime = crate::runtime()?;
        let store = runtime.block_on(async {
            let client = args.dynamodb.client(args.profile.as_deref()).await;
            let store = iat_aws::DynamoEventStore::new(client, table);
            store.check().await.map(|()| store)
        })?;
        return Ok(Box::new(move |q| Ok(runtime.block_on(store.query(q))?)));
    }
    #[cfg(not(feature = "aws"))]
    let _ = args;
    let store = super::open_existing(db)?;
    Ok(Box::new(move |q| Ok(store.query_blocking(q)?)))
}

/// Events fetched from the store per page while streaming.
const PAGE: usize = 5_000;

pub fn run(db: &Path, args: EventsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut query = args.query()?;
    let mut fetch = fetcher(db, &args)?;
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
        let page = fetch(&query)?;
        let full = page.len() == query.limit.unwrap_or(0);
        let take = page.len().min(wanted - written);
        writer.write(&page[..take])?;
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
    if more {
        eprintln!(
            "showing the first {} matching events; use --limit N or --limit 0 for all",
            args.limit
        );
    } else if args.format == EventFormat::Table {
        eprintln!("{written} matching events");
    }
    #[cfg(feature = "aws")]
    let local = args.events_table.is_none();
    #[cfg(not(feature = "aws"))]
    let local = true;
    if written == 0 && local && super::open_existing(db)?.stats_blocking()?.events == 0 {
        eprintln!(
            "{}",
            crate::hint::empty_store(db, Path::new(crate::hint::DEMO_DIR))
        );
    }
    Ok(ExitCode::SUCCESS)
}
