//! The tracker function: each scheduled invocation runs one collection of the streams of this
//! account, or of the organisation's accounts, into DynamoDB, stopping cleanly before the
//! invocation's deadline; the next invocation resumes from the checkpoints.
//!
//! With `ACCOUNTS`, member accounts are read through their reader role (`MEMBER_ROLE_NAME`,
//! which the member stack set creates), assumed once per account and renewed before it
//! expires; each account's regions are its own enabled ones, and each account and region has
//! its own rate limiter, as CloudTrail's limit is per account. An account that cannot be read
//! fails its own streams only, and the invocation's error names it.
//!
//! Configuration (environment variables; names from the Python tool where it had them):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `EVENTS_TABLE` | DynamoDB table of events | required |
//! | `CONTROL_TABLE` | DynamoDB table of checkpoints | required |
//! | `REGIONS` | regions to collect, comma-separated | the account's enabled regions |
//! | `PROCESS_SSO_EVENTS` | collect IAM Identity Center events | `true` when `SSO_REGION` is set |
//! | `SSO_REGION` | Identity Center's home region | required with `PROCESS_SSO_EVENTS` |
//! | `FILTERED_ROLES` | role-name globs whose activity is noise | none |
//! | `EXTRA_EVENT_SOURCES` | more event sources, e.g. `ec2.amazonaws.com` | none |
//! | `ALL_MANAGEMENT_EVENTS` | collect every management event | `false` |
//! | `OVERLAP_MINUTES` | re-scanned each run for late deliveries | `20` |
//! | `MAX_OVERLAP_MINUTES` | the most a stream's overlap widens to its observed lateness | `240` |
//! | `SWEEP_AGE_HOURS` | every time is read again this long after it happened; `off` | `24` |
//! | `BACKFILL_DAYS` | how far back a new stream starts, 1–90 | `90` |
//! | `REQUESTS_PER_SECOND` | per account and region, at most (slower while throttled); CloudTrail allows 2 | `2` |
//! | `CHAINS_PER_REGION` | concurrent page chains per region | `8` |
//! | `RETENTION_DAYS` | events expire this long after they happened | keep |
//! | `STOP_MARGIN_SECONDS` | stop starting requests this long before the deadline | `30` |
//! | `METRICS_NAMESPACE` | CloudWatch namespace of the run's metrics (embedded metric format) | none |
//! | `LATENESS_METRICS` | also publish `LateBeyondOverlap` and `LatenessP999` as metrics | `false` |
//! | `ACCOUNTS` | accounts to collect: empty for this one, `organization` for every active account of the organisation (listed each run), or comma-separated account ids | this account |
//! | `MEMBER_ROLE_NAME` | the reader role in each member account | `iat-member-reader` |
//! | `MEMBER_EXTERNAL_ID` | the external id the reader role's trust policy requires | none |
//! | `BACKFILL_QUEUE_URL` | with `ACCOUNTS`: hand accounts far behind to invocations of their own through this queue | none (each run reads its accounts itself) |
//! | `BACKFILL_ACCOUNTS_PER_INVOCATION` | accounts in one handed-off invocation, 1–50 | `3` |
//! | `BACKFILL_AFTER_HOURS` | an account is far behind when its IAM stream (us-east-1) is complete up to longer ago than this, or not started | `24` |
//!
//! **Backfill fan-out.** One invocation keeps at most 256 lookups in flight, about 120 requests
//! a second, while an account backfilling every region can use 34 (2 per region). With
//! `BACKFILL_QUEUE_URL`, a scheduled run hands the accounts far behind (new ones, or ones back
//! after a long failure) to the queue in groups of `BACKFILL_ACCOUNTS_PER_INVOCATION`, and
//! reads only the others itself; the queue invokes this function once per group, so every
//! group backfills at CloudTrail's pace at once. A group not picked up within
//! [`HANDOFF_LIFETIME`] is dropped unread (the next scheduled run hands its accounts off again
//! from their checkpoints), so a late delivery never overlaps the next hour's run; an account
//! whose checkpoints show a run started within the function's 15 minutes is left to that run.
//! A group that cannot be queued is read by the scheduled run itself.
//!
//! With `METRICS_NAMESPACE`, every run prints one line in CloudWatch's embedded metric format
//! with two metrics: `EventsCollected` (new events stored) and `StalledStreams` (streams with no
//! progress for several runs); the deployed stack alarms when a day passes without the first,
//! and whenever the second is above zero. The same line carries `LateBeyondOverlap` (events the
//! sweep found, delivered later than the overlap) and `LatenessP999` (the largest of the
//! streams' p99.9 lateness, seconds), which show how late Event history delivers against the
//! overlap: as log fields (Logs Insights reads them), and as metrics too with
//! `LATENESS_METRICS=true` (the stack's `ALARMS=full`). Each custom metric costs $0.30 a month;
//! the run's other figures are in its log line, and failures go to the dead-letter queue.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use iat_aws::{
    DynamoCheckpointStore, DynamoEventStore, MemberAccess, MemberEventSource,
    OrganizationsAccountDirectory, caller_account, regions_to_collect,
};
use iat_core::ports::AccountDirectory;
use iat_core::{AccountId, Region};
use iat_tracker::collect::Setting;
use iat_tracker::{CollectConfig, Deadline, Ports, RunReport, StreamOptions, collect, streams};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::env::{Env, EnvError};

/// The tracker's settings, read once at start-up.
#[derive(Debug, Clone)]
pub struct TrackerSettings {
    pub events_table: String,
    pub control_table: String,
    /// `None`: ask EC2 which regions are enabled.
    pub regions: Option<Vec<Region>>,
    pub streams: StreamOptions,
    pub collect: CollectConfig,
    pub retention: Option<Duration>,
    /// CloudWatch namespace for the run's embedded-format metrics; `None` prints none.
    pub metrics_namespace: Option<String>,
    /// Lateness figures as metrics too, not only as fields of the metrics line.
    pub lateness_metrics: bool,
    pub accounts: Accounts,
    pub member_access: MemberAccess,
    /// Hand accounts far behind to invocations of their own; `None`: read every account here.
    pub fanout: Option<Fanout>,
}

/// How a scheduled run hands accounts far behind to invocations of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fanout {
    pub queue_url: String,
    pub accounts_per_invocation: usize,
    /// An account is far behind when its IAM stream (us-east-1) is complete up to longer ago
    /// than this (or has not started).
    pub behind_after: Duration,
}

/// Accounts in one handed-off invocation by default: one invocation keeps about 120 requests
/// a second in flight (256 lookups at pages of 0.2–4 s), and an account backfilling all 17
/// default regions at CloudTrail's limit uses 34.
pub const DEFAULT_ACCOUNTS_PER_INVOCATION: usize = 3;

/// A handed-off group not started within this long after it was queued is dropped unread: it
/// would then run into the next hourly run, which hands the accounts off again.
pub const HANDOFF_LIFETIME: Duration = Duration::minutes(40);

/// A run that started less than this long ago may still be running (the function's timeout).
const RUN_MAY_BE_RUNNING: Duration = Duration::minutes(16);

/// What the queue carries to a backfill invocation: a group of accounts, and when the
/// scheduled run queued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    pub accounts: Vec<AccountId>,
    pub issued: DateTime<Utc>,
}

/// A [`Handoff`] as the queue carries it, before its account ids are checked.
#[derive(serde::Deserialize)]
struct HandoffMessage {
    accounts: Vec<String>,
    issued: DateTime<Utc>,
}

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The schedule's run (of one shard of the accounts, or all of them).
    Scheduled(Shard),
    /// Groups of accounts handed off by a scheduled run, delivered by the backfill queue.
    Backfill(Vec<Handoff>),
}

impl Invocation {
    /// A queue's delivery (`{"Records": [{"eventSource": "aws:sqs", "body": ...}]}`) is a
    /// backfill; any other event a scheduled run ([`Shard::from_event`]).
    pub fn from_event(event: &serde_json::Value) -> Result<Self, TrackerError> {
        let Some(records) = event.get("Records").and_then(|r| r.as_array()) else {
            return Shard::from_event(event).map(Invocation::Scheduled);
        };
        let mut handoffs = Vec::new();
        for (i, record) in records.iter().enumerate() {
            if record.get("eventSource").and_then(|s| s.as_str()) != Some("aws:sqs") {
                return Err(TrackerError::Input(format!(
                    "record {i} is not from the backfill queue (eventSource {}): the tracker takes schedule events and its backfill queue's messages",
                    record
                        .get("eventSource")
                        .unwrap_or(&serde_json::Value::Null)
                )));
            }
            let body = record.get("body").and_then(|b| b.as_str()).unwrap_or("");
            let message: HandoffMessage = serde_json::from_str(body).map_err(|e| {
                TrackerError::Input(format!(
                    "record {i}: not a backfill group ({{\"accounts\": [...], \"issued\": ...}}): {e}"
                ))
            })?;
            let accounts = message
                .accounts
                .into_iter()
                .map(|a| {
                    AccountId::new(a.as_str()).map_err(|_| {
                        TrackerError::Input(format!(
                            "record {i}: {a:?} is not a 12-digit account id"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            handoffs.push(Handoff {
                accounts,
                issued: message.issued,
            });
        }
        Ok(Invocation::Backfill(handoffs))
    }
}

/// Which accounts the tracker reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// The account of the function's own credentials.
    Own,
    /// Every `ACTIVE` account Organizations lists, each run.
    Organization,
    /// These accounts, and the active accounts under these organisational units or roots
    /// (`ou-…`, `r-…`, listed each run, child units included).
    Chosen {
        ids: Vec<AccountId>,
        units: Vec<String>,
    },
}

/// Which share of the accounts an invocation collects: the schedule invokes the function once
/// per shard (the template's `TrackerShards`), and each takes the accounts whose id modulo
/// `count` is `index`, so every account is collected by exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Every account (an invocation that names no shard).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Self, TrackerError> {
        if count == 0 || index >= count {
            return Err(TrackerError::Input(format!(
                "shard {index} of {count}: the shard must be below the number of shards, which must be at least 1"
            )));
        }
        Ok(Self { index, count })
    }

    /// The shard an invocation's event names (`{"shard": 1, "shards": 3}`), or [`Shard::ALL`]
    /// for any event without one (the schedule's single target, a manual invocation).
    pub fn from_event(event: &serde_json::Value) -> Result<Self, TrackerError> {
        let field = |name: &str| -> Result<Option<u32>, TrackerError> {
            match event.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| {
                        TrackerError::Input(format!("{name} must be a whole number, not {v}"))
                    }),
            }
        };
        match (field("shard")?, field("shards")?) {
            (None, None) => Ok(Self::ALL),
            (Some(index), Some(count)) => Self::new(index, count),
            _ => Err(TrackerError::Input(
                "an event names both shard and shards, or neither".to_owned(),
            )),
        }
    }

    pub fn holds(&self, account: &AccountId) -> bool {
        let n: u64 = account.as_str().parse().unwrap_or(0);
        n % u64::from(self.count) == u64::from(self.index)
    }
}

/// An organisational unit (`ou-ab12-cd34ef56`) or root (`r-ab12`) id.
fn is_org_parent(s: &str) -> bool {
    let id_chars = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    match s.split('-').collect::<Vec<_>>().as_slice() {
        ["ou", root, unit] => id_chars(root) && id_chars(unit),
        ["r", root] => id_chars(root),
        _ => false,
    }
}

/// Account discoveries (role and regions) at once.
const DISCOVERY_CONCURRENCY: usize = 16;

impl TrackerSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, TrackerError> {
        let invalid = |name: &'static str, value: String, expected: &str| EnvError {
            name,
            value,
            expected: expected.to_owned(),
        };
        let regions = match env.list("REGIONS") {
            list if list.is_empty() => None,
            list => Some(
                list.into_iter()
                    .map(|r| {
                        Region::new(&r).map_err(|_| {
                            invalid("REGIONS", r, "comma-separated region names like eu-west-1")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        // As with `iat collect`: naming the home region turns Identity Center on.
        let sso_region = if env.flag("PROCESS_SSO_EVENTS", env.get("SSO_REGION").is_some())? {
            let r = env.required(
                "SSO_REGION",
                "Identity Center's home region when PROCESS_SSO_EVENTS is true",
            )?;
            Some(Region::new(&r).map_err(|_| invalid("SSO_REGION", r, "a region name"))?)
        } else {
            None
        };
        let filter = crate::env::filtered_roles(env.get("FILTERED_ROLES"))?;
        // Defaults are the collector's own; bounds are checked once, by `CollectConfig::validate`.
        let defaults = CollectConfig::default();
        let minutes = |d: Duration| u32::try_from(d.num_minutes()).unwrap_or(u32::MAX);
        let overlap: u32 = env.parse(
            "OVERLAP_MINUTES",
            minutes(defaults.overlap),
            "a whole number of minutes",
        )?;
        let backfill: u32 = env.parse(
            "BACKFILL_DAYS",
            u32::try_from(defaults.backfill.num_days()).unwrap_or(u32::MAX),
            "a whole number of days, 1 to 90",
        )?;
        let max_overlap: u32 = env.parse(
            "MAX_OVERLAP_MINUTES",
            minutes(defaults.max_overlap),
            "a whole number of minutes, at least OVERLAP_MINUTES",
        )?;
        let rate: f64 = env.parse(
            "REQUESTS_PER_SECOND",
            defaults.requests_per_second,
            "a number above 0, at most 2",
        )?;
        let chains: usize = env.parse(
            "CHAINS_PER_REGION",
            defaults.chains_per_region,
            "a whole number, 1 to 32",
        )?;
        let retention: Option<u32> = env.parse_opt("RETENTION_DAYS", "a whole number of days")?;
        let stop_margin: u64 = env.parse(
            "STOP_MARGIN_SECONDS",
            defaults.stop_margin.as_secs(),
            "a whole number of seconds",
        )?;
        let sweep_hours = env.get("SWEEP_AGE_HOURS").filter(|v| !v.trim().is_empty());
        let sweep_age = match sweep_hours.as_deref().map(str::trim) {
            None => defaults.sweep_age,
            Some("off") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(h) => Some(Duration::hours(h.into())),
                Err(_) => {
                    return Err(invalid(
                        "SWEEP_AGE_HOURS",
                        v.to_owned(),
                        "a whole number of hours longer than MAX_OVERLAP_MINUTES, or off",
                    )
                    .into());
                }
            },
        };
        let collect = CollectConfig {
            overlap: Duration::minutes(overlap.into()),
            backfill: Duration::days(backfill.into()),
            requests_per_second: rate,
            chains_per_region: chains,
            stop_margin: StdDuration::from_secs(stop_margin),
            max_overlap: Duration::minutes(max_overlap.into()),
            sweep_age,
            filter,
            ..defaults
        };
        collect.validate(false).map_err(|e| {
            let value = match e.setting {
                Setting::Overlap => overlap.to_string(),
                Setting::MaxOverlap => max_overlap.to_string(),
                Setting::SweepAge => sweep_hours.clone().unwrap_or_default(),
                Setting::Backfill => backfill.to_string(),
                Setting::RequestsPerSecond => rate.to_string(),
                Setting::ChainsPerRegion => chains.to_string(),
            };
            invalid(e.setting.env(), value, &e.expected)
        })?;
        let accounts = match env.get("ACCOUNTS").as_deref().map(str::trim) {
            None | Some("") => Accounts::Own,
            Some(v) if v.eq_ignore_ascii_case("organization") => Accounts::Organization,
            Some(v) => {
                let (mut ids, mut units) = (Vec::new(), Vec::new());
                for a in env.list("ACCOUNTS") {
                    if is_org_parent(&a) {
                        units.push(a);
                    } else {
                        ids.push(AccountId::new(&a).map_err(|_| {
                            invalid(
                                "ACCOUNTS",
                                v.to_owned(),
                                "empty (this account), organization, or comma-separated 12-digit account ids and organisational units (ou-…) or the root (r-…)",
                            )
                        })?);
                    }
                }
                Accounts::Chosen { ids, units }
            }
        };
        let role_name = env
            .get("MEMBER_ROLE_NAME")
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "iat-member-reader".to_owned());
        let role_ok = (1..=64).contains(&role_name.len())
            && role_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !role_ok {
            return Err(invalid(
                "MEMBER_ROLE_NAME",
                role_name,
                "an IAM role name: 1 to 64 letters, digits and +=,.@_-",
            )
            .into());
        }
        let external_id = env.get("MEMBER_EXTERNAL_ID").filter(|x| !x.is_empty());
        if let Some(x) = &external_id {
            let ok = (2..=1224).contains(&x.len())
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/_-".contains(c));
            if !ok {
                return Err(invalid(
                    "MEMBER_EXTERNAL_ID",
                    x.clone(),
                    "2 to 1,224 letters, digits and +=,.@:/_-",
                )
                .into());
            }
        }
        let fanout = match env.get("BACKFILL_QUEUE_URL").map(|v| v.trim().to_owned()) {
            None => None,
            Some(url) if url.is_empty() => None,
            Some(url) => {
                if accounts == Accounts::Own {
                    return Err(invalid(
                        "BACKFILL_QUEUE_URL",
                        url,
                        "empty unless ACCOUNTS names the accounts to read (one account is read by one invocation)",
                    )
                    .into());
                }
                // `n` when within `range`, else the variable named with what it must be.
                let within = |name: &'static str,
                              n: u32,
                              range: std::ops::RangeInclusive<u32>,
                              expected: &str| {
                    if range.contains(&n) {
                        Ok(n)
                    } else {
                        Err(TrackerError::from(invalid(name, n.to_string(), expected)))
                    }
                };
                let expected = "a whole number, 1 to 50";
                let per: u32 = env.parse(
                    "BACKFILL_ACCOUNTS_PER_INVOCATION",
                    DEFAULT_ACCOUNTS_PER_INVOCATION as u32,
                    expected,
                )?;
                let per =
                    within("BACKFILL_ACCOUNTS_PER_INVOCATION", per, 1..=50, expected)? as usize;
                let expected = "a whole number of hours, 2 to 2160";
                let hours: u32 = env.parse("BACKFILL_AFTER_HOURS", 24, expected)?;
                let hours = within("BACKFILL_AFTER_HOURS", hours, 2..=2160, expected)?;
                Some(Fanout {
                    queue_url: url,
                    accounts_per_invocation: per,
                    behind_after: Duration::hours(hours.into()),
                })
            }
        };
        Ok(Self {
            fanout,
            accounts,
            member_access: MemberAccess {
                role_name,
                external_id,
                session_name: "iat-tracker".to_owned(),
            },
            events_table: env.required("EVENTS_TABLE", "the DynamoDB table of events")?,
            control_table: env.required("CONTROL_TABLE", "the DynamoDB table of checkpoints")?,
            regions,
            streams: StreamOptions {
                sso_region,
                extra_sources: env.list("EXTRA_EVENT_SOURCES"),
                all_management_events: env.flag("ALL_MANAGEMENT_EVENTS", false)?,
            },
            collect,
            retention: retention.map(|d| Duration::days(d.into())),
            metrics_namespace: env.get("METRICS_NAMESPACE"),
            lateness_metrics: env.flag("LATENESS_METRICS", false)?,
        })
    }
}

/// Why an invocation failed. The variant is the Lambda error type (`errorType`), stable for
/// alarms and log queries.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Config(#[from] EnvError),
    /// The account or its regions could not be found out.
    #[error("{0}")]
    Setup(iat_core::Error),
    /// The run could not start or finish (its stores failed).
    #[error("{0}")]
    Run(iat_core::Error),
    /// The invocation's event is not one the function takes.
    #[error("{0}")]
    Input(String),
    /// Some streams failed; the others were collected and their checkpoints saved.
    #[error("{failed} of {total} streams failed, e.g. {example}")]
    StreamsFailed {
        failed: usize,
        total: usize,
        example: String,
    },
    /// Some accounts could not be read (all or some of their streams); the others were.
    #[error("{} of {total} accounts could not be read ({}), e.g. {example}", accounts.len(), accounts.join(", "))]
    AccountsFailed {
        accounts: Vec<String>,
        total: usize,
        example: String,
    },
}

impl TrackerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            TrackerError::Config(_) => "ConfigError",
            TrackerError::Setup(_) => "SetupError",
            TrackerError::Run(_) => "RunError",
            TrackerError::Input(_) => "InputError",
            TrackerError::StreamsFailed { .. } => "StreamsFailed",
            TrackerError::AccountsFailed { .. } => "AccountsFailed",
        }
    }
}

impl From<TrackerError> for lambda_runtime::Diagnostic {
    fn from(e: TrackerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// What an invocation returns (and logs).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The account of the function's own credentials.
    pub account: String,
    /// The invocation's accounts: a scheduled run's listed ones (those it handed off or left
    /// to a running backfill among them), a backfill's handed-off ones.
    pub accounts: usize,
    /// Accounts that could not be read (no role, denied, or some of their streams failed),
    /// with the first reason.
    pub failing_accounts: Vec<AccountFailure>,
    pub streams: usize,
    pub caught_up: usize,
    pub failed: usize,
    pub inserted: u64,
    pub duplicates: u64,
    pub filtered: u64,
    pub malformed: u64,
    pub requests: u64,
    pub throttled: u64,
    /// Streams that made no progress for several runs in a row (each is also an error).
    pub stalled: usize,
    /// Events found by the overlap re-scan (late within the overlap) and by the sweep (later).
    pub late_found: u64,
    pub late_beyond_overlap: u64,
    /// The largest of the streams' p99.9 lateness, in minutes.
    pub lateness_p999_minutes: Option<i64>,
    pub oldest_complete_up_to: Option<DateTime<Utc>>,
    /// Accounts far behind that this run handed to backfill invocations (`BACKFILL_QUEUE_URL`).
    pub handed_off: usize,
    /// Accounts far behind left alone because a run of theirs may still be going.
    pub left_to_running: usize,
    /// Handed-off accounts this backfill invocation dropped, delivered after
    /// [`HANDOFF_LIFETIME`].
    pub dropped_late: usize,
}

/// An account the run could not read, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountFailure {
    pub account: String,
    pub error: String,
}

/// The tracker with its clients, built once per execution environment.
#[derive(Debug)]
pub struct Tracker {
    settings: TrackerSettings,
    sdk: aws_config::SdkConfig,
    store: Arc<DynamoEventStore>,
    checkpoints: Arc<DynamoCheckpointStore>,
    /// Found out on the first invocation, not at start-up (keeps cold starts short).
    account: OnceCell<AccountId>,
    regions: OnceCell<Vec<Region>>,
    source: OnceCell<Arc<MemberEventSource>>,
    /// Each member account's enabled regions, found once per execution environment.
    member_regions: tokio::sync::Mutex<std::collections::HashMap<AccountId, Vec<Region>>>,
}

impl Tracker {
    pub fn new(settings: TrackerSettings, sdk: aws_config::SdkConfig) -> Self {
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        Self {
            store: Arc::new(
                DynamoEventStore::new(dynamo.clone(), &settings.events_table)
                    .with_retention(settings.retention),
            ),
            checkpoints: Arc::new(DynamoCheckpointStore::new(dynamo, &settings.control_table)),
            settings,
            sdk,
            account: OnceCell::new(),
            regions: OnceCell::new(),
            source: OnceCell::new(),
            member_regions: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    async fn source(&self) -> Result<&Arc<MemberEventSource>, TrackerError> {
        let home = self.account().await?.clone();
        Ok(self
            .source
            .get_or_init(|| async {
                Arc::new(MemberEventSource::new(
                    &self.sdk,
                    home,
                    self.settings.member_access.clone(),
                ))
            })
            .await)
    }

    /// The accounts of this run.
    async fn accounts(&self) -> Result<Vec<AccountId>, TrackerError> {
        match &self.settings.accounts {
            Accounts::Own => Ok(vec![self.account().await?.clone()]),
            Accounts::Chosen { ids, units } => {
                let directory = OrganizationsAccountDirectory::from_sdk(&self.sdk);
                let mut listed = Vec::new();
                for unit in units {
                    listed.extend(
                        directory
                            .accounts_under(unit)
                            .await
                            .map_err(TrackerError::Setup)?,
                    );
                }
                let mut out = ids.clone();
                out.extend(active(listed));
                out.sort();
                out.dedup();
                Ok(out)
            }
            Accounts::Organization => {
                let directory = OrganizationsAccountDirectory::from_sdk(&self.sdk);
                Ok(active(
                    directory.accounts().await.map_err(TrackerError::Setup)?,
                ))
            }
        }
    }

    /// `account`'s enabled regions (or the named ones among them), through its reader role.
    async fn account_regions(&self, account: &AccountId) -> Result<Vec<Region>, String> {
        if account == self.account().await.map_err(|e| e.to_string())? {
            return self.regions().await.cloned().map_err(|e| e.to_string());
        }
        if let Some(r) = self.member_regions.lock().await.get(account) {
            return Ok(r.clone());
        }
        let source = self.source().await.map_err(|e| e.to_string())?;
        let config = source
            .account_config(account)
            .await
            .map_err(|e| e.to_string())?;
        let named = self.settings.regions.as_deref().unwrap_or_default();
        let (regions, _) = regions_to_collect(&config, named)
            .await
            .map_err(|e| format!("its regions: {e}"))?;
        self.member_regions
            .lock()
            .await
            .insert(account.clone(), regions.clone());
        Ok(regions)
    }

    async fn account(&self) -> Result<&AccountId, TrackerError> {
        self.account
            .get_or_try_init(|| async {
                caller_account(&self.sdk).await.map_err(TrackerError::Setup)
            })
            .await
    }

    async fn regions(&self) -> Result<&Vec<Region>, TrackerError> {
        self.regions
            .get_or_try_init(|| async {
                let named = self.settings.regions.as_deref().unwrap_or_default();
                let (regions, _) = regions_to_collect(&self.sdk, named)
                    .await
                    .map_err(TrackerError::Setup)?;
                Ok(regions)
            })
            .await
    }

    /// What an invocation asks for, run at `now` and stopping before `deadline`.
    pub async fn handle(
        &self,
        now: DateTime<Utc>,
        invocation: Invocation,
        deadline: Arc<dyn Deadline>,
    ) -> Result<Summary, TrackerError> {
        // Boxed: the two runs' futures are deep, and one of them is enough on the stack.
        match invocation {
            Invocation::Scheduled(shard) => Box::pin(self.run(now, shard, deadline)).await,
            Invocation::Backfill(groups) => Box::pin(self.backfill(now, groups, deadline)).await,
        }
    }

    /// One collection run at `now` over `shard`'s accounts, stopping before `deadline`; with
    /// [`Fanout`], the accounts far behind are handed to backfill invocations instead.
    pub async fn run(
        &self,
        now: DateTime<Utc>,
        shard: Shard,
        deadline: Arc<dyn Deadline>,
    ) -> Result<Summary, TrackerError> {
        let accounts: Vec<AccountId> = self
            .accounts()
            .await?
            .into_iter()
            .filter(|a| shard.holds(a))
            .collect();
        tracing::info!(
            shard = shard.index,
            shards = shard.count,
            accounts = accounts.len(),
            "run started"
        );
        let listed = accounts.len();
        let (accounts, handed_off, left_to_running) = match &self.settings.fanout {
            Some(fanout) => self.hand_off(now, accounts, fanout).await,
            None => (accounts, 0, 0),
        };
        let mut summary = self.read(now, accounts, deadline, listed).await?;
        summary.handed_off = handed_off;
        summary.left_to_running = left_to_running;
        Ok(summary)
    }

    /// A backfill invocation: reads the handed-off groups' accounts, dropping any group
    /// delivered later than [`HANDOFF_LIFETIME`] after it was queued.
    pub async fn backfill(
        &self,
        now: DateTime<Utc>,
        groups: Vec<Handoff>,
        deadline: Arc<dyn Deadline>,
    ) -> Result<Summary, TrackerError> {
        if self.settings.accounts == Accounts::Own {
            return Err(TrackerError::Input(
                "a backfill group arrived, but ACCOUNTS is empty: this stack reads its own account only".to_owned(),
            ));
        }
        let mut accounts = Vec::new();
        let mut dropped_late = 0;
        for group in groups {
            if now - group.issued > HANDOFF_LIFETIME {
                tracing::warn!(
                    accounts = ?group.accounts,
                    issued = %group.issued,
                    "backfill group delivered too late, dropped unread: the next scheduled run hands its accounts off again"
                );
                dropped_late += group.accounts.len();
                continue;
            }
            accounts.extend(group.accounts);
        }
        accounts.sort();
        accounts.dedup();
        tracing::info!(accounts = accounts.len(), dropped_late, "backfill started");
        let listed = accounts.len();
        let mut summary = self.read(now, accounts, deadline, listed).await?;
        summary.dropped_late = dropped_late;
        Ok(summary)
    }

    /// Splits `accounts` into those this run reads and those far behind, which it queues in
    /// groups for backfill invocations; returns the ones to read here, how many were handed
    /// off, and how many were left to a run that may still be going.
    async fn hand_off(
        &self,
        now: DateTime<Utc>,
        accounts: Vec<AccountId>,
        fanout: &Fanout,
    ) -> (Vec<AccountId>, usize, usize) {
        let states: Vec<(AccountId, Behind)> = futures_util::stream::iter(accounts)
            .map(|a| async move {
                let state = self.behind(&a, now, fanout.behind_after).await;
                (a, state)
            })
            .buffered(DISCOVERY_CONCURRENCY * 2)
            .collect()
            .await;
        let (mut keep, mut far, mut running) = (Vec::new(), Vec::new(), 0);
        for (a, state) in states {
            match state {
                Behind::No => keep.push(a),
                Behind::Far => far.push(a),
                Behind::Running => running += 1,
            }
        }
        let groups: Vec<Vec<AccountId>> = far
            .chunks(fanout.accounts_per_invocation)
            .map(<[AccountId]>::to_vec)
            .collect();
        let unsent = self.queue(&fanout.queue_url, &groups, now).await;
        let handed_off = far.len() - unsent.iter().map(Vec::len).sum::<usize>();
        keep.extend(unsent.into_iter().flatten());
        keep.sort();
        if handed_off > 0 || running > 0 {
            tracing::info!(
                handed_off,
                invocations = groups.len(),
                left_to_running = running,
                read_here = keep.len(),
                "accounts far behind handed to backfill invocations"
            );
        }
        (keep, handed_off, running)
    }

    /// Whether `account` is far behind, from the checkpoint of its first us-east-1 stream (IAM,
    /// which every account has, or all management events): one read an account and run. A
    /// checkpoint that cannot be read counts as not behind: the account is then read here, as
    /// without a fan-out.
    async fn behind(&self, account: &AccountId, now: DateTime<Utc>, after: Duration) -> Behind {
        use iat_core::ports::CheckpointStore;
        let specs = streams(
            std::slice::from_ref(account),
            &[Region::us_east_1()],
            &self.settings.streams,
        );
        let Some(first) = specs.first() else {
            return Behind::No;
        };
        match self.checkpoints.load(&first.key).await {
            Ok(None) => Behind::Far,
            Ok(Some(c)) if c.complete_up_to.is_none_or(|t| now - t > after) => {
                if c.last_run_at.is_some_and(|t| now - t < RUN_MAY_BE_RUNNING) {
                    Behind::Running
                } else {
                    Behind::Far
                }
            }
            Ok(Some(_)) => Behind::No,
            Err(error) => {
                tracing::warn!(%account, %error, "checkpoint unreadable: the account is read by this run");
                Behind::No
            }
        }
    }

    /// Queues each group as one message; returns the groups that could not be queued.
    async fn queue(
        &self,
        queue_url: &str,
        groups: &[Vec<AccountId>],
        now: DateTime<Utc>,
    ) -> Vec<Vec<AccountId>> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        if groups.is_empty() {
            return Vec::new();
        }
        let client = aws_sdk_sqs::Client::new(&self.sdk);
        let mut unsent = Vec::new();
        // SendMessageBatch takes ten messages.
        for batch in groups.chunks(10) {
            let entries: Result<Vec<_>, _> = batch
                .iter()
                .enumerate()
                .map(|(i, group)| {
                    let body = serde_json::json!({"accounts": group, "issued": now}).to_string();
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                })
                .collect();
            let sent = match entries {
                Ok(entries) => client
                    .send_message_batch()
                    .queue_url(queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| iat_aws::describe_sdk_error(&e)),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(out) => {
                    for failed in out.failed() {
                        let group = failed.id().parse::<usize>().ok().and_then(|i| batch.get(i));
                        if let Some(group) = group {
                            tracing::error!(
                                accounts = ?group,
                                error = failed.message().unwrap_or(failed.code()),
                                "backfill group not queued: read by this run"
                            );
                            unsent.push(group.clone());
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(%error, queue_url, "backfill groups not queued: read by this run");
                    unsent.extend(batch.iter().cloned());
                }
            }
        }
        unsent
    }

    /// Reads `accounts` (`listed` of them were this invocation's) into the store.
    async fn read(
        &self,
        now: DateTime<Utc>,
        accounts: Vec<AccountId>,
        deadline: Arc<dyn Deadline>,
        listed: usize,
    ) -> Result<Summary, TrackerError> {
        let account = self.account().await?.clone();
        // Each account's role and regions, a few at a time; one that fails is left out.
        let found: Vec<(AccountId, Result<Vec<Region>, String>)> =
            futures_util::stream::iter(accounts.iter().cloned())
                .map(|a| async move {
                    let r = self.account_regions(&a).await;
                    (a, r)
                })
                .buffered(DISCOVERY_CONCURRENCY)
                .collect()
                .await;
        let mut plan = Vec::new();
        let mut unreadable = Vec::new();
        for (a, regions) in found {
            match regions {
                Ok(regions) => plan.extend(streams(
                    std::slice::from_ref(&a),
                    &regions,
                    &self.settings.streams,
                )),
                Err(error) => {
                    tracing::error!(account = %a, %error, "account not readable");
                    // Its us-east-1 streams (where IAM is recorded, in every account) stay in
                    // the plan: they fail at once on the remembered error, which their
                    // checkpoints keep for `iat status`, and they resume when the role works.
                    plan.extend(streams(
                        std::slice::from_ref(&a),
                        &[Region::us_east_1()],
                        &self.settings.streams,
                    ));
                    unreadable.push(AccountFailure {
                        account: a.to_string(),
                        error,
                    });
                }
            }
        }
        let ports = Ports {
            source: self.source().await?.clone(),
            store: self.store.clone(),
            checkpoints: self.checkpoints.clone(),
        };
        let report = collect(&ports, &plan, &self.settings.collect, now, deadline)
            .await
            .map_err(TrackerError::Run)?;
        log_report(&report);
        let mut summary = summarize(&account, &report);
        summary.accounts = listed;
        summary.failing_accounts = failing_accounts(unreadable, &plan, &report);
        if let Some(namespace) = &self.settings.metrics_namespace {
            // Lambda sends stdout to CloudWatch Logs, which turns this line into metrics.
            println!(
                "{}",
                metrics_line(namespace, &summary, now, self.settings.lateness_metrics)
            );
        }
        tracing::info!(
            streams = summary.streams,
            caught_up = summary.caught_up,
            failed = summary.failed,
            inserted = summary.inserted,
            requests = summary.requests,
            throttled = summary.throttled,
            late_found = summary.late_found,
            late_beyond_overlap = summary.late_beyond_overlap,
            lateness_p999_minutes = summary.lateness_p999_minutes,
            "run finished"
        );
        if self.settings.accounts != Accounts::Own && !summary.failing_accounts.is_empty() {
            let first = &summary.failing_accounts[0];
            return Err(TrackerError::AccountsFailed {
                accounts: summary
                    .failing_accounts
                    .iter()
                    .map(|f| f.account.clone())
                    .collect(),
                total: summary.accounts,
                example: format!("{}: {}", first.account, first.error),
            });
        }
        if let Some(example) = report
            .streams
            .iter()
            .find_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.stream)))
        {
            return Err(TrackerError::StreamsFailed {
                failed: summary.failed,
                total: summary.streams,
                example,
            });
        }
        Ok(summary)
    }
}

/// The `ACTIVE` accounts among `listed`: suspended and closing ones are skipped.
fn active(listed: Vec<iat_core::ports::OrgAccount>) -> Vec<AccountId> {
    let skipped = listed.iter().filter(|a| a.status != "ACTIVE").count();
    if skipped > 0 {
        tracing::info!(
            skipped,
            "accounts not active (suspended or closing) skipped"
        );
    }
    listed
        .into_iter()
        .filter(|a| a.status == "ACTIVE")
        .map(|a| a.id)
        .collect()
}

/// The run's figures in CloudWatch's embedded metric format (one JSON object on one line). Every
/// figure is a field of the line; the lateness ones are declared as metrics (and billed) only
/// with `lateness`.
pub fn metrics_line(
    namespace: &str,
    summary: &Summary,
    at: DateTime<Utc>,
    lateness: bool,
) -> String {
    let metrics = [
        ("EventsCollected", summary.inserted, "Count"),
        ("StalledStreams", summary.stalled as u64, "Count"),
        ("LateBeyondOverlap", summary.late_beyond_overlap, "Count"),
        (
            "LatenessP999",
            summary
                .lateness_p999_minutes
                .map_or(0, |m| m.max(0) as u64 * 60),
            "Seconds",
        ),
    ];
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": metrics
                    .iter()
                    .take(if lateness { metrics.len() } else { 2 })
                    .map(|(name, _, unit)| serde_json::json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        },
    });
    for (name, value, _) in metrics {
        line[name] = value.into();
    }
    line.to_string()
}

fn log_report(report: &RunReport) {
    for s in &report.streams {
        match &s.error {
            Some(error) => tracing::error!(
                stream = %s.stream,
                %error,
                inserted = s.inserted,
                "stream failed"
            ),
            None => tracing::info!(
                stream = %s.stream,
                inserted = s.inserted,
                duplicates = s.duplicates,
                filtered = s.filtered,
                requests = s.requests,
                throttled = s.throttled,
                caught_up = s.caught_up,
                complete_up_to = ?s.complete_up_to,
                "stream collected"
            ),
        }
    }
}

/// The accounts left out of the plan, then those with a failed stream (its first error), by id.
fn failing_accounts(
    mut out: Vec<AccountFailure>,
    plan: &[iat_tracker::StreamSpec],
    report: &RunReport,
) -> Vec<AccountFailure> {
    for s in &report.streams {
        if let Some(error) = &s.error {
            // A stream's name starts with its account.
            let Some(account) = plan
                .iter()
                .map(|spec| spec.key.account.to_string())
                .find(|a| s.stream.contains(a.as_str()))
            else {
                continue;
            };
            if !out.iter().any(|f| f.account == account) {
                out.push(AccountFailure {
                    account,
                    error: error.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.account.cmp(&b.account));
    out
}

fn summarize(account: &AccountId, report: &RunReport) -> Summary {
    Summary {
        account: account.to_string(),
        accounts: 1,
        failing_accounts: Vec::new(),
        streams: report.streams.len(),
        caught_up: report.streams.iter().filter(|s| s.caught_up).count(),
        failed: report.streams.iter().filter(|s| s.error.is_some()).count(),
        inserted: report.total(|s| s.inserted),
        duplicates: report.total(|s| s.duplicates),
        filtered: report.total(|s| s.filtered),
        malformed: report.total(|s| s.malformed),
        requests: report.total(|s| s.requests),
        throttled: report.total(|s| s.throttled),
        stalled: report
            .streams
            .iter()
            .filter(|s| s.stalled_runs >= iat_tracker::collect::STALL_RUNS)
            .count(),
        late_found: report.total(|s| s.late_found),
        late_beyond_overlap: report.total(|s| s.late_beyond_overlap),
        lateness_p999_minutes: report
            .streams
            .iter()
            .filter_map(|s| s.lateness_p999_minutes)
            .max(),
        oldest_complete_up_to: report.streams.iter().filter_map(|s| s.complete_up_to).min(),
        handed_off: 0,
        left_to_running: 0,
        dropped_late: 0,
    }
}

/// Whether an account is far behind.
enum Behind {
    No,
    Far,
    /// Far behind, with a run that may still be going.
    Running,
}

/// The invocation's deadline (milliseconds since the epoch, from the Lambda context) as a
/// [`Deadline`].
pub fn deadline_from_context(deadline_ms: u64) -> Arc<dyn Deadline> {
    Arc::new(iat_tracker::DeadlineAt(
        std::time::Instant::now() + crate::time_left(deadline_ms, Utc::now()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<TrackerSettings, TrackerError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |k: &str| vars.get(k).cloned();
        TrackerSettings::from_env(&Env::new(&lookup))
    }

    const TABLES: [(&str, &str); 2] = [("EVENTS_TABLE", "events"), ("CONTROL_TABLE", "control")];

    #[test]
    fn shards_split_the_accounts_so_each_is_collected_once() {
        let accounts: Vec<AccountId> = (0..1000u64)
            .map(|i| AccountId::new(format!("{:012}", 100_000_000_000 + i * 7919)).unwrap())
            .collect();
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard::from_event(&serde_json::json!({"shard": i, "shards": 3})).unwrap())
            .collect();
        let mut sizes = Vec::new();
        for a in &accounts {
            assert_eq!(shards.iter().filter(|s| s.holds(a)).count(), 1, "{a}");
        }
        for s in &shards {
            sizes.push(accounts.iter().filter(|a| s.holds(a)).count());
        }
        assert!(sizes.iter().all(|n| (300..=367).contains(n)), "{sizes:?}");
        // No shard named: every account; a scheduled event's own fields are ignored.
        let schedule =
            serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert_eq!(Shard::from_event(&schedule).unwrap(), Shard::ALL);
        assert!(accounts.iter().all(|a| Shard::ALL.holds(a)));
        for bad in [
            serde_json::json!({"shard": 3, "shards": 3}),
            serde_json::json!({"shard": 0, "shards": 0}),
            serde_json::json!({"shard": 1}),
            serde_json::json!({"shard": "1", "shards": 2}),
        ] {
            let e = Shard::from_event(&bad).unwrap_err();
            assert_eq!(e.error_type(), "InputError", "{bad}: {e}");
        }
    }

    #[test]
    fn accounts_are_this_one_the_organisation_or_a_list() {
        let with = |v: &str| {
            let mut pairs = TABLES.to_vec();
            pairs.push(("ACCOUNTS", v));
            settings(&pairs)
        };
        assert_eq!(settings(&TABLES).unwrap().accounts, Accounts::Own);
        assert_eq!(with("").unwrap().accounts, Accounts::Own);
        assert_eq!(
            with("organization").unwrap().accounts,
            Accounts::Organization
        );
        assert_eq!(
            with("111122223333, 444455556666").unwrap().accounts,
            Accounts::Chosen {
                ids: vec![
                    AccountId::new("111122223333").unwrap(),
                    AccountId::new("444455556666").unwrap()
                ],
                units: Vec::new()
            }
        );
        assert_eq!(
            with("ou-ab12-cd34ef56,111122223333,r-ab12")
                .unwrap()
                .accounts,
            Accounts::Chosen {
                ids: vec![AccountId::new("111122223333").unwrap()],
                units: vec!["ou-ab12-cd34ef56".into(), "r-ab12".into()]
            }
        );
        for bad in ["111122223333,prod", "ou-AB12-x", "ou-ab12", "r-"] {
            let e = with(bad).unwrap_err().to_string();
            assert!(
                e.contains("ACCOUNTS") && e.contains("12-digit"),
                "{bad}: {e}"
            );
        }
        let s = settings(&TABLES).unwrap();
        assert_eq!(s.member_access.role_name, "iat-member-reader");
        assert_eq!(s.member_access.external_id, None);
        let mut pairs = TABLES.to_vec();
        pairs.push(("MEMBER_ROLE_NAME", "reader role"));
        let e = settings(&pairs).unwrap_err().to_string();
        assert!(e.contains("MEMBER_ROLE_NAME"), "{e}");
    }

    #[test]
    fn defaults_follow_the_api_and_the_python_tool() {
        let s = settings(&TABLES).unwrap();
        assert_eq!(s.regions, None, "regions are discovered");
        assert_eq!(s.streams.sso_region, None);
        assert_eq!(s.collect.overlap, Duration::minutes(20));
        assert_eq!(s.collect.backfill, Duration::days(90));
        assert_eq!(
            s.collect.requests_per_second,
            iat_tracker::collect::MAX_REQUESTS_PER_SECOND,
            "the pace starts at the documented limit and adapts down"
        );
        assert_eq!(s.retention, None);
    }

    #[test]
    fn python_tool_variables_are_understood() {
        let mut vars = TABLES.to_vec();
        vars.extend([
            ("PROCESS_SSO_EVENTS", "True"),
            ("SSO_REGION", "eu-west-1"),
            ("FILTERED_ROLES", "AWSServiceRole*, cdk-*"),
            ("REGIONS", "us-east-1, eu-west-1"),
            ("RETENTION_DAYS", "400"),
        ]);
        let s = settings(&vars).unwrap();
        assert_eq!(
            s.streams.sso_region.as_ref().map(Region::as_str),
            Some("eu-west-1")
        );
        assert_eq!(s.regions.unwrap().len(), 2);
        assert_eq!(s.retention, Some(Duration::days(400)));
    }

    #[test]
    fn a_run_is_one_embedded_metric_format_line() {
        let summary = Summary {
            account: "111122223333".into(),
            accounts: 1,
            failing_accounts: Vec::new(),
            streams: 20,
            caught_up: 18,
            failed: 1,
            inserted: 4_321,
            duplicates: 7,
            filtered: 3,
            malformed: 0,
            requests: 250,
            throttled: 2,
            stalled: 1,
            late_found: 12,
            late_beyond_overlap: 3,
            lateness_p999_minutes: Some(45),
            oldest_complete_up_to: None,
            handed_off: 0,
            left_to_running: 0,
            dropped_late: 0,
        };
        let at: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let names = |line: &str| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_owned())
                .collect()
        };
        for lateness in [false, true] {
            let line = metrics_line("IamActivityTracker/prod", &summary, at, lateness);
            assert!(!line.contains('\n'));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let directive = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(v["_aws"]["Timestamp"], at.timestamp_millis());
            assert_eq!(directive["Namespace"], "IamActivityTracker/prod");
            // Every figure is a field of the line; only the declared ones are metrics (billed).
            assert_eq!(v["EventsCollected"], 4_321);
            assert_eq!(v["StalledStreams"], 1);
            assert_eq!(v["LateBeyondOverlap"], 3);
            assert_eq!(v["LatenessP999"], 45 * 60);
            if lateness {
                assert_eq!(
                    names(&line),
                    [
                        "EventsCollected",
                        "StalledStreams",
                        "LateBeyondOverlap",
                        "LatenessP999"
                    ]
                );
                assert_eq!(directive["Metrics"][3]["Unit"], "Seconds");
            } else {
                assert_eq!(names(&line), ["EventsCollected", "StalledStreams"]);
            }
        }
        assert!(settings(&TABLES).unwrap().metrics_namespace.is_none());
    }

    #[test]
    fn the_overlap_cap_and_the_sweep_are_configurable() {
        let s = settings(&TABLES).unwrap().collect;
        assert_eq!(s.max_overlap, Duration::minutes(240));
        assert_eq!(s.sweep_age, Some(Duration::hours(24)));
        let mut vars = TABLES.to_vec();
        vars.extend([("MAX_OVERLAP_MINUTES", "90"), ("SWEEP_AGE_HOURS", "36")]);
        let s = settings(&vars).unwrap().collect;
        assert_eq!(s.max_overlap, Duration::minutes(90));
        assert_eq!(s.sweep_age, Some(Duration::hours(36)));
        // Empty (the template's default) is the default.
        let mut vars = TABLES.to_vec();
        vars.extend([("MAX_OVERLAP_MINUTES", ""), ("SWEEP_AGE_HOURS", "")]);
        assert_eq!(
            settings(&vars).unwrap().collect.sweep_age,
            Some(Duration::hours(24))
        );
        let mut vars = TABLES.to_vec();
        vars.push(("SWEEP_AGE_HOURS", "off"));
        assert_eq!(settings(&vars).unwrap().collect.sweep_age, None);
    }

    #[test]
    fn naming_the_sso_region_turns_identity_center_on() {
        let mut vars = TABLES.to_vec();
        vars.push(("SSO_REGION", "eu-west-1"));
        assert!(settings(&vars).unwrap().streams.sso_region.is_some());
        vars.push(("PROCESS_SSO_EVENTS", "false"));
        assert!(settings(&vars).unwrap().streams.sso_region.is_none());
    }

    #[test]
    fn misconfiguration_names_the_variable() {
        let err = |pairs: &[(&str, &str)]| settings(pairs).unwrap_err().to_string();
        assert!(err(&[("CONTROL_TABLE", "c")]).contains("EVENTS_TABLE"));
        let mut vars = TABLES.to_vec();
        vars.push(("PROCESS_SSO_EVENTS", "true"));
        assert!(err(&vars).contains("SSO_REGION"));
        for (name, value) in [
            ("REGIONS", "us-east-1,Mars"),
            ("REQUESTS_PER_SECOND", "5"),
            ("BACKFILL_DAYS", "120"),
            ("OVERLAP_MINUTES", "soon"),
            ("MAX_OVERLAP_MINUTES", "10"),
            ("SWEEP_AGE_HOURS", "2"),
            ("SWEEP_AGE_HOURS", "daily"),
            ("PROCESS_SSO_EVENTS", "maybe"),
            ("CHAINS_PER_REGION", "0"),
            ("OVERLAP_MINUTES", "0"),
        ] {
            let mut vars = TABLES.to_vec();
            vars.push((name, value));
            let e = err(&vars);
            assert!(e.contains(name), "{name}: {e}");
        }
        let e = settings(&[]).unwrap_err();
        assert_eq!(e.error_type(), "ConfigError");
    }

    #[test]
    fn the_backfill_fanout_needs_accounts_and_sane_groups() {
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = TABLES.to_vec();
            pairs.extend_from_slice(extra);
            settings(&pairs)
        };
        assert_eq!(with(&[]).unwrap().fanout, None);
        assert_eq!(
            with(&[("ACCOUNTS", "organization"), ("BACKFILL_QUEUE_URL", " ")])
                .unwrap()
                .fanout,
            None,
            "an empty queue (the template's when ACCOUNTS is empty) is no fan-out"
        );
        let on = with(&[
            ("ACCOUNTS", "organization"),
            ("BACKFILL_QUEUE_URL", "https://sqs.example/1/q"),
        ])
        .unwrap()
        .fanout
        .unwrap();
        assert_eq!(on.accounts_per_invocation, DEFAULT_ACCOUNTS_PER_INVOCATION);
        assert_eq!(on.behind_after, Duration::hours(24));
        let e = with(&[("BACKFILL_QUEUE_URL", "https://sqs.example/1/q")]).unwrap_err();
        assert!(
            e.to_string().contains("BACKFILL_QUEUE_URL") && e.to_string().contains("ACCOUNTS"),
            "{e}"
        );
        for (name, value) in [
            ("BACKFILL_ACCOUNTS_PER_INVOCATION", "0"),
            ("BACKFILL_ACCOUNTS_PER_INVOCATION", "51"),
            ("BACKFILL_ACCOUNTS_PER_INVOCATION", "three"),
            ("BACKFILL_AFTER_HOURS", "1"),
        ] {
            let e = with(&[
                ("ACCOUNTS", "organization"),
                ("BACKFILL_QUEUE_URL", "https://sqs.example/1/q"),
                (name, value),
            ])
            .unwrap_err();
            assert!(e.to_string().contains(name), "{name}={value}: {e}");
        }
    }

    #[test]
    fn a_queue_delivery_is_a_backfill_and_anything_else_a_scheduled_run() {
        let issued = "2026-12-05T10:00:00Z";
        let delivery = serde_json::json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "m1",
             "body": format!(r#"{{"accounts": ["111111111111", "222222222222"], "issued": "{issued}"}}"#)},
        ]});
        let Invocation::Backfill(groups) = Invocation::from_event(&delivery).unwrap() else {
            panic!("not a backfill");
        };
        assert_eq!(
            groups,
            vec![Handoff {
                accounts: vec![
                    AccountId::new("111111111111").unwrap(),
                    AccountId::new("222222222222").unwrap(),
                ],
                issued: issued.parse().unwrap(),
            }]
        );
        assert_eq!(
            Invocation::from_event(&serde_json::json!({"shard": 1, "shards": 2})).unwrap(),
            Invocation::Scheduled(Shard::new(1, 2).unwrap())
        );
        assert_eq!(
            Invocation::from_event(&serde_json::json!({"source": "aws.events"})).unwrap(),
            Invocation::Scheduled(Shard::ALL)
        );
        for (event, says) in [
            (
                serde_json::json!({"Records": [{"eventSource": "aws:s3", "body": "{}"}]}),
                "not from the backfill queue",
            ),
            (
                serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "hello"}]}),
                "not a backfill group",
            ),
            (
                serde_json::json!({"Records": [{"eventSource": "aws:sqs",
                    "body": format!(r#"{{"accounts": ["12345"], "issued": "{issued}"}}"#)}]}),
                "not a 12-digit account id",
            ),
        ] {
            let e = Invocation::from_event(&event).unwrap_err();
            assert_eq!(e.error_type(), "InputError");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
