//! `iat serve`: a web console over any store the CLI opens: alerts, an alert's events, event
//! search, a principal's timeline, denied calls by service, action and layer, the rules and the
//! collection streams. It changes one thing only: an alert's acknowledgement in the alert log.
//!
//! Pages are HTML rendered on the server with inline SVG charts: no script, no external asset, so
//! the console works offline, without JavaScript and behind a strict content security policy.
//! Every page reads at most [`MAX_EVENTS`] events through the same [`EventQuery`] as
//! `iat events`, and says so where that bound cut it. Listening on anything but a loopback
//! address needs a token, checked on every request.

mod pages;
mod view;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use iat_core::ActivityEvent;
use iat_core::ports::{AlertLog, CheckpointStore, EventCursor, EventQuery, EventStore, Order};
use iat_core::rules::RuleSet;
use serde::Deserialize;

use super::RuleArgs;
use super::events::EventsArgs;
use crate::store::{OpenOptions, StoreArgs};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but a loopback address (127.0.0.1, ::1) needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Token every request must carry (`Authorization: Bearer TOKEN`, or `?token=TOKEN` once,
    /// which sets a cookie). Generated and printed when listening beyond loopback without one.
    #[arg(long, env = "IAT_CONSOLE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// On the status page, a stream complete only up to longer ago than this is behind (`90m`,
    /// `2h`, `1d`), as `iat status --behind-after` counts it.
    #[arg(long, default_value = "2h", value_name = "AGE")]
    pub behind_after: String,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// History beyond the store: with --retention-days, pages read the days the store no
    /// longer keeps from the lake (--lake, or Athena with --athena-database).
    #[command(flatten)]
    pub history: super::history::HistoryArgs,
    /// With Athena: the lake's S3 bucket (the stack's `LakeBucketName` output), where the exporter
    /// keeps each day's alerts beside it; the rules' raised view reads them for the lake's days
    /// instead of querying those days' events (with the rule settings the stack alerts with:
    /// `--set`). Reached at --athena-endpoint when one is given.
    #[arg(long, env = "LAKE_BUCKET", value_name = "BUCKET")]
    pub lake_bucket: Option<String>,
}

/// Most events one page reads from the store.
pub(crate) const MAX_EVENTS: usize = 100_000;

/// Most lake days whose kept alerts one page reads (a longer window reads events instead).
pub(crate) const MAX_KEPT_DAYS: i64 = 400;

/// Most alerts one page lists from the alert log.
pub(crate) const MAX_ALERTS: usize = 5_000;

/// An event's time as its links carry it (RFC 3339, milliseconds, UTC).
pub(crate) fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A time as links and form fields carry it (RFC 3339, whole seconds, UTC).
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What every page reads.
pub(crate) struct Console {
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) checkpoints: Arc<dyn CheckpointStore>,
    /// The sent alerts and their acknowledgements, where the store keeps them.
    pub(crate) log: Option<Arc<dyn AlertLog>>,
    pub(crate) rules: RuleSet,
    /// The alerts kept beside a local lake's days, for the days read from it.
    pub(crate) lake_alerts: Option<LakeAlerts>,
    /// The `--store` it serves, for the header.
    pub(crate) store: String,
    pub(crate) token: Option<String>,
    /// When a stream counts as behind on the status page.
    pub(crate) behind_after: chrono::Duration,
    /// The clock, fixed in tests.
    pub(crate) now: fn() -> DateTime<Utc>,
}

/// Where the export kept each lake day's alerts ([`iat_exporter::raised`]).
pub(crate) struct LakeAlerts {
    pub(crate) objects: Arc<dyn iat_core::ports::ObjectStore>,
    pub(crate) prefix: String,
    /// Events before this are read from the lake; `None`: every event is.
    pub(crate) boundary: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A console bound to its address, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    console: Arc<Console>,
}

impl Server {
    /// Opens the store and binds the address (port 0 picks a free one); refuses a short token.
    /// Call outside async code: it runs on the command's runtime.
    pub fn bind(stores: &StoreArgs, args: ServeArgs) -> anyhow::Result<Self> {
        let rules = RuleSet::new(args.rules.config()?)?;
        let behind_after = crate::timearg::duration(&args.behind_after)
            .map_err(|e| anyhow::anyhow!("--behind-after: {e}"))?;
        let token = match (args.token, args.listen.ip().is_loopback()) {
            (Some(t), _) if t.len() < 16 => {
                anyhow::bail!("--token: use at least 16 characters (one is generated when omitted)")
            }
            (Some(t), _) => Some(t),
            (None, true) => None,
            (None, false) => Some(generate_token()?),
        };
        let store = stores.open(OpenOptions::default())?;
        let runtime = crate::runtime()?;
        let reads = args
            .history
            .reads(&store, stores.profile(), runtime, Utc::now())?;
        let described = match reads.lake.as_ref() {
            None => store.spec.to_string(),
            Some(lake) => match lake.boundary {
                Some(b) => format!(
                    "{}, and before {} {}",
                    store.spec,
                    b.format("%Y-%m-%d"),
                    lake.store.describe()
                ),
                None => lake.store.describe(),
            },
        };
        // Kept alerts are read from the local lake's directory, or on Athena from the lake's
        // bucket when it is named (else the pages read events).
        let lake_alerts = match reads.lake.as_ref() {
            Some(lake) if lake.local_days.is_some() && args.history.engine.lake.is_dir() => {
                Some(LakeAlerts {
                    objects: Arc::new(iat_local::DirObjectStore::new(&args.history.engine.lake)?),
                    prefix: args.history.engine.prefix.clone(),
                    boundary: lake.boundary,
                })
            }
            Some(lake) if lake.local_days.is_none() => match &args.lake_bucket {
                Some(bucket) => Some(LakeAlerts {
                    objects: lake_bucket(runtime, stores.profile(), &args.history, bucket)?,
                    prefix: args.history.engine.prefix.clone(),
                    boundary: lake.boundary,
                }),
                None => None,
            },
            _ => {
                if args.lake_bucket.is_some() {
                    tracing::warn!(
                        "--lake-bucket is read with Athena only (--athena-database and --retention-days); ignored"
                    );
                }
                None
            }
        };
        let console = Arc::new(Console {
            events: reads.events.clone(),
            lake_alerts,
            checkpoints: store.checkpoints.clone(),
            log: store.alert_log.clone(),
            rules,
            store: described,
            token,
            behind_after,
            now: Utc::now,
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(args.listen))
            .with_context(|| format!("--listen {}: cannot listen there", args.listen))?;
        Ok(Self { listener, console })
    }

    /// The address to open: with `?token=` when there is a token.
    pub fn url(&self) -> anyhow::Result<String> {
        let addr = self.listener.local_addr()?;
        Ok(match &self.console.token {
            Some(t) => format!("http://{addr}/?token={t}"),
            None => format!("http://{addr}/"),
        })
    }

    /// Serves until the process ends.
    pub fn serve(self) -> anyhow::Result<()> {
        crate::runtime()?
            .block_on(self.serving())
            .context("the console stopped")
    }

    /// Serves in the background, for as long as the process runs.
    pub fn spawn(self) -> anyhow::Result<()> {
        crate::runtime()?.spawn(self.serving());
        Ok(())
    }

    async fn serving(self) -> std::io::Result<()> {
        axum::serve(self.listener, router(self.console)).await
    }
}

pub fn run(
    stores: &StoreArgs,
    args: ServeArgs,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let server = Server::bind(stores, args)?;
    // The address alone on stdout, for a script that reads one line and closes the pipe;
    // what is served goes to stderr, so that a closed stdout does not stop the console.
    writeln!(out, "console: {}", server.url()?)?;
    out.flush()?;
    eprintln!(
        "serving {} (read-only but for acknowledging alerts); Ctrl-C stops it",
        server.console.store
    );
    server.serve()?;
    Ok(ExitCode::SUCCESS)
}

/// The lake's bucket on S3, where the exporter keeps each day's alerts.
#[cfg(feature = "aws")]
fn lake_bucket(
    runtime: &tokio::runtime::Runtime,
    profile: Option<String>,
    history: &super::history::HistoryArgs,
    bucket: &str,
) -> anyhow::Result<Arc<dyn iat_core::ports::ObjectStore>> {
    let athena = &history.engine.athena;
    let config = runtime.block_on(iat_aws::sdk_config(&iat_aws::AwsSettings {
        region: athena.region.clone(),
        profile,
        endpoint_url: athena.endpoint.clone(),
        ..Default::default()
    }));
    let client = iat_aws::S3ObjectStore::client(&config, athena.endpoint.is_some());
    Ok(Arc::new(
        iat_aws::S3ObjectStore::new(client, bucket, "")
            .map_err(|e| anyhow::anyhow!("--lake-bucket {bucket:?}: {e}"))?,
    ))
}

#[cfg(not(feature = "aws"))]
fn lake_bucket(
    _runtime: &tokio::runtime::Runtime,
    _profile: Option<String>,
    _history: &super::history::HistoryArgs,
    bucket: &str,
) -> anyhow::Result<Arc<dyn iat_core::ports::ObjectStore>> {
    anyhow::bail!("--lake-bucket {bucket:?}: this build of iat has no AWS support")
}

/// 32 random bytes as hex.
fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("cannot generate a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Every route of the console.
pub(crate) fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/alerts", get(pages::alerts))
        .route("/alert", get(pages::alert))
        .route("/alert/ack", axum::routing::post(pages::acknowledge))
        .route("/events", get(pages::events))
        .route("/event", get(pages::event))
        .route("/timeline", get(pages::timeline))
        .route("/denied", get(pages::denied))
        .route("/rules", get(pages::rules))
        .route("/status", get(pages::status))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// The name of the cookie that carries the token after `?token=`.
const COOKIE: &str = "iat_console";

/// Checks the token (when there is one) and adds the security headers to every answer.
async fn guard(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    let mut from_query = false;
    if let Some(token) = &console.token {
        let headers = request.headers();
        let query = request.uri().query().unwrap_or("");
        let given_query = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        let ok = bearer(headers).is_some_and(|t| same(t, token))
            || cookie(headers).is_some_and(|t| same(t, token))
            || given_query.as_deref().is_some_and(|t| same(t, token));
        if !ok {
            return secure(view::refused().into_response());
        }
        from_query = given_query.is_some();
    }
    let mut response = next.run(request).await;
    if from_query && let Some(token) = &console.token {
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    secure(response)
}

fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No address (which may carry the token) leaves for another site; and the console's own
    // form posts still carry their origin, which the acknowledgement checks (under
    // `no-referrer` a browser sends `Origin: null`, and acknowledging was refused).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Compares without stopping at the first difference.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A page that could not be answered.
#[derive(Debug)]
pub(crate) enum PageError {
    /// A parameter is wrong: 400 with the reason.
    BadRequest(String),
    NotFound(String),
    /// Refused (a cross-site form).
    Forbidden(String),
    /// The store failed: 500 with its message.
    Store(String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, reason) = match self {
            PageError::BadRequest(r) => (StatusCode::BAD_REQUEST, "Bad request", r),
            PageError::NotFound(r) => (StatusCode::NOT_FOUND, "Not found", r),
            PageError::Forbidden(r) => (StatusCode::FORBIDDEN, "Refused", r),
            PageError::Store(r) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The store could not answer",
                r,
            ),
        };
        (status, view::error_page(title, &reason)).into_response()
    }
}

impl From<iat_core::Error> for PageError {
    fn from(e: iat_core::Error) -> Self {
        PageError::Store(e.to_string())
    }
}

/// The parameters pages take; each page uses those it needs and ignores empty ones (a form
/// sends every field). Unknown names are refused, so a mistyped link does not silently show
/// everything.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) event_name: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) source_ip: Option<String>,
    pub(crate) denied: Option<String>,
    pub(crate) denial_layer: Option<String>,
    /// The page cursor of event search: `TIME~ID` of the last event shown.
    pub(crate) after: Option<String>,
    pub(crate) severity: Option<String>,
    pub(crate) rule: Option<String>,
    /// Only alerts nobody acknowledged.
    pub(crate) open: Option<String>,
    /// What the rules raise now rather than what was sent.
    pub(crate) raised: Option<String>,
    /// An alert's first event, or an event to show.
    pub(crate) event: Option<String>,
    /// An event's time, with `event`.
    pub(crate) time: Option<String>,
    /// Read by the token check, before the page.
    #[serde(rename = "token")]
    _token: Option<String>,
}

impl Params {
    /// Parses a query string; a bad one is a 400 naming the parameter.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, PageError> {
        let mut p: Params = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| PageError::BadRequest(format!("query string: {e}")))?;
        for field in [
            &mut p.since,
            &mut p.until,
            &mut p.actor,
            &mut p.event_name,
            &mut p.source,
            &mut p.account,
            &mut p.region,
            &mut p.source_ip,
            &mut p.denied,
            &mut p.denial_layer,
            &mut p.after,
            &mut p.severity,
            &mut p.rule,
            &mut p.open,
            &mut p.raised,
            &mut p.event,
            &mut p.time,
        ] {
            if field.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *field = None;
            } else if let Some(v) = field {
                *v = v.trim().to_owned();
            }
        }
        Ok(p)
    }

    /// The `iat events` query these parameters ask for (same parsing, same errors).
    pub(crate) fn query(&self) -> Result<EventQuery, PageError> {
        let args = EventsArgs {
            since: self.since.clone(),
            until: self.until.clone(),
            actor: self.actor.clone(),
            event_names: self.event_name.iter().cloned().collect(),
            source: self.source.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            source_ip: self.source_ip.clone(),
            denied: flag("denied", self.denied.as_deref())?,
            denial_layer: self.denial_layer.clone(),
            limit: 0,
            oldest_first: false,
            format: crate::output::EventFormat::Table,
        };
        let mut query = args
            .query()
            .map_err(|e| PageError::BadRequest(format!("{e:#}")))?;
        if let Some(after) = &self.after {
            query.after = Some(parse_cursor(after)?);
        }
        Ok(query)
    }
}

/// A yes/no parameter: 1, true or on; 0, false, off or absent.
pub(crate) fn flag(name: &str, value: Option<&str>) -> Result<bool, PageError> {
    match value {
        None | Some("0" | "false" | "off") => Ok(false),
        Some("1" | "true" | "on") => Ok(true),
        Some(other) => Err(PageError::BadRequest(format!(
            "{name}={other:?}: use 1 or 0"
        ))),
    }
}

/// `TIME~ID`, as [`cursor`] writes it.
fn parse_cursor(s: &str) -> Result<EventCursor, PageError> {
    let bad = || PageError::BadRequest(format!("after={s:?}: not a page cursor of this console"));
    let (time, id) = s.split_once('~').ok_or_else(bad)?;
    Ok(EventCursor {
        time: DateTime::parse_from_rfc3339(time)
            .map_err(|_| bad())?
            .with_timezone(&Utc),
        id: iat_core::EventId::new(id).map_err(|_| bad())?,
    })
}

/// The cursor just past `e`.
pub(crate) fn cursor(e: &ActivityEvent) -> String {
    format!("{}~{}", rfc3339_ms(e.time), e.id)
}

/// Up to `max` events of `query` in its order, and whether there were more.
pub(crate) async fn fetch(
    store: &dyn EventStore,
    query: EventQuery,
    max: usize,
) -> Result<(Vec<ActivityEvent>, bool), PageError> {
    Ok(iat_core::ports::read_at_most(store, query, max).await?)
}

/// The newest stored event's time (one event read), for default windows that end at the data
/// rather than at the clock, so a store of last month still opens on something.
pub(crate) async fn newest(store: &dyn EventStore) -> Result<Option<DateTime<Utc>>, PageError> {
    let q = EventQuery {
        order: Order::Descending,
        limit: Some(1),
        ..Default::default()
    };
    Ok(store.query(&q).await?.first().map(|e| e.time))
}

#[cfg(test)]
mod tests;
