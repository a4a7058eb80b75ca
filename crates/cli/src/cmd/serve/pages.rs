//! The console's pages: each reads its parameters, asks the store for a bounded set of events,
//! and hands plain values to [`super::view`].

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use iat_core::alert::{Alert, KeptHit};
use iat_core::ports::alert_log::order_and_limit;
use iat_core::ports::{
    Acknowledgement, ActionCount, AlertLogQuery, EventQuery, LoggedAlert, Order,
};
use iat_core::rules::Rule;
use iat_core::{ActivityEvent, Severity, TimeWindow};
use iat_exporter::raised::Kept;
use maud::Markup;

use super::view::{self, Counted, Denials, Raised, Source, Window};
use super::{
    Console, MAX_ALERTS, MAX_EVENTS, MAX_KEPT_DAYS, PageError, Params, fetch, flag, newest, rfc3339,
};

type Page = Result<Markup, PageError>;
type Ctx = State<Arc<Console>>;

/// Lake days whose kept alerts are read at once.
const KEPT_READS_AT_ONCE: usize = 8;

/// Events per page of the event search.
const SEARCH_PAGE: usize = 50;
/// Most events a timeline lists.
const TIMELINE_MAX: usize = 2_000;

pub(crate) async fn home() -> Response {
    Redirect::to("/alerts").into_response()
}

pub(crate) async fn not_found() -> PageError {
    PageError::NotFound("no such page; start at /alerts".into())
}

/// Fills `since`/`until` when absent: `days` days ending at `until`, else at the newest stored
/// event (the clock when the store is empty). Returns the window as given to the query.
async fn with_window(c: &Console, p: &mut Params, days: i64) -> Result<Window, PageError> {
    fill_window(c, p, |end| end - Duration::days(days)).await
}

/// Fills `since`/`until` when absent with whole UTC days: `days` of them, the last one the day
/// of `until` (else of the newest stored event), from its midnight. The alerts' default: a
/// week is seven calendar days, and whole days are what each lake day keeps its alerts for.
async fn with_days_window(c: &Console, p: &mut Params, days: i64) -> Result<Window, PageError> {
    fill_window(c, p, |end| {
        (end.date_naive() - Duration::days(days - 1))
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    })
    .await
}

async fn fill_window(
    c: &Console,
    p: &mut Params,
    start: impl FnOnce(DateTime<Utc>) -> DateTime<Utc>,
) -> Result<Window, PageError> {
    if p.since.is_none() {
        let end = match &p.until {
            Some(_) => p.query()?.window.map(|w| w.end()),
            None => None,
        };
        let end = match end {
            Some(e) => e,
            None => newest(c.events.as_ref()).await?.unwrap_or_else(c.now),
        };
        p.since = Some(rfc3339(start(end)));
        if p.until.is_none() {
            p.until = Some(rfc3339(end));
        }
    }
    let window = p
        .query()?
        .window
        .ok_or_else(|| PageError::BadRequest("a time window is needed".into()))?;
    let end = if window.end() == DateTime::<Utc>::MAX_UTC {
        (c.now)()
    } else {
        window.end()
    };
    Ok(Window {
        since: window.start(),
        until: end,
    })
}

/// `alerts` (hits' alerts, in the order of their first events) merged as one run merges them,
/// newest first, in the log's shape.
fn raise(c: &Console, alerts: Vec<Alert>) -> Vec<LoggedAlert> {
    let now = (c.now)();
    order_and_limit(
        Alert::merge(alerts)
            .iter()
            .map(|a| LoggedAlert::of(a, now, false))
            .collect(),
        None,
    )
}

/// The alerts the rules raise over the page's window, newest first, and what they were raised
/// from: the hits kept beside the window's lake days when every one of them has those of these
/// rules ([`raised_with_lake`]), else the window's events of interest read now (with whether
/// that read was cut).
async fn raised(c: &Console, p: &Params) -> Result<(Vec<LoggedAlert>, Raised, bool), PageError> {
    if let Some(found) = raised_with_lake(c, p).await? {
        return Ok(found);
    }
    let (events, cut) = window_events(c, p).await?;
    let alerts = raise(c, Alert::from_hits(c.rules.evaluate_all(&events)));
    Ok((
        alerts,
        Raised {
            events: events.len(),
            kept_days: 0,
        },
        cut,
    ))
}

/// The window's alerts from the hits the export kept beside each lake day
/// ([`iat_exporter::raised`]), narrowed to the window, account and actor, plus the store's days'
/// events raised now, with a passed role raised over every day's admin grants (narrowed alike):
/// the alerts one run over all those events raises, without reading the lake days' events.
/// `None` (read the events instead) when the lake is not local, the window has no lake day,
/// the page narrows events by more than account and actor, a lake day has no hits of these
/// rules (exported before, or under other settings: `iat export --raise-only`), or the window
/// cuts a burst a day keeps as its first and last hits (the default window is whole days).
async fn raised_with_lake(
    c: &Console,
    p: &Params,
) -> Result<Option<(Vec<LoggedAlert>, Raised, bool)>, PageError> {
    let Some(lake) = &c.lake_alerts else {
        return Ok(None);
    };
    let other_filters = [
        &p.event_name,
        &p.source,
        &p.region,
        &p.source_ip,
        &p.denial_layer,
        &p.after,
    ]
    .iter()
    .any(|f| f.is_some())
        || flag("denied", p.denied.as_deref())?;
    let query = p.query()?;
    let Some(window) = query.window.filter(|_| !other_filters) else {
        return Ok(None);
    };
    let in_lake = |t: DateTime<Utc>| lake.boundary.is_none_or(|b| t < b);
    if !in_lake(window.start()) {
        return Ok(None);
    }
    let lake_last = match lake.boundary {
        Some(b) => window.end().min(b - Duration::microseconds(1)),
        None => window.end(),
    };
    let (first, last) = (window.start().date_naive(), lake_last.date_naive());
    if (last - first).num_days() > MAX_KEPT_DAYS {
        return Ok(None);
    }
    let actor = p
        .actor
        .as_deref()
        .map(|a| iat_core::glob::Pattern::new("actor filter", a))
        .transpose()
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    // When, who and where: the window, account and actor narrow the kept hits and grants as
    // they narrow the events a reader of the events would raise from. A burst is kept or
    // dropped whole (its hits share the actor and account); one the window cuts sends the page
    // to the events.
    let when = |time: DateTime<Utc>| window.contains(time) && in_lake(time);
    let who = |account: Option<&str>, actor_name: &str, arn: Option<&str>| {
        query
            .account
            .as_ref()
            .is_none_or(|a| account == Some(a.as_str()))
            && actor
                .as_ref()
                .is_none_or(|m| m.is_match(actor_name) || arn.is_some_and(|x| m.is_match(x)))
    };
    // The lake's days from what they keep, while the store's days are read (on its own thread).
    let lake_days = async {
        let mut hits = Vec::new();
        let mut grants = Vec::new();
        let mut read = Raised {
            events: 0,
            kept_days: 0,
        };
        // A few days at once: on S3 each is a request.
        let mut days = futures_util::stream::iter(first.iter_days().take_while(|d| *d <= last))
            .map(|day| async move {
                let kept =
                    iat_exporter::raised::kept(lake.objects.as_ref(), &lake.prefix, day, &c.rules)
                        .await;
                (day, kept)
            })
            .buffered(KEPT_READS_AT_ONCE);
        while let Some((day, kept)) = days.next().await {
            let kept = match kept {
                Ok(Kept::Hits(k)) => k,
                Ok(Kept::NotExported) => continue,
                Ok(Kept::Unusable) => return None,
                Err(e) => {
                    tracing::warn!(%day, error = %e, "the alerts kept beside a lake day cannot be read; reading its events");
                    return None;
                }
            };
            read.events += kept.events as usize;
            read.kept_days += 1;
            for k in kept.hits {
                let (Some(first_hit), Some(last_hit)) = (k.first(), k.last()) else {
                    tracing::warn!(%day, "a kept burst lists no hit; reading the window's events");
                    return None;
                };
                let e = &first_hit.event;
                if !who(e.account.as_deref(), &e.actor, e.principal_arn.as_deref()) {
                    continue;
                }
                let (from, to) = (e.time, last_hit.event.time);
                match (when(from), when(to)) {
                    (true, true) => hits.push(k),
                    (false, false) if !(from < window.start() && to > window.start()) => {}
                    _ => return None,
                }
            }
            grants.extend(kept.grants.into_iter().filter(|g| {
                when(g.time) && who(g.account.as_deref(), &g.actor, g.principal_arn.as_deref())
            }));
        }
        Some((hits, grants, read))
    };
    // The store's days, read now; raised after the lake's (one run's order).
    let store_days = async {
        match lake.boundary.filter(|b| window.end() >= *b) {
            Some(b) => {
                let store_query = EventQuery {
                    window: Some(TimeWindow::new(b, window.end())?),
                    order: Order::Descending,
                    interest: c.rules.interest(),
                    ..query.clone()
                };
                let (mut events, cut) = fetch(c.events.as_ref(), store_query, MAX_EVENTS).await?;
                events.reverse();
                Ok::<_, PageError>((events, cut))
            }
            None => Ok((Vec::new(), false)),
        }
    };
    // The store's read first: its first poll hands the query to the store's thread, and the
    // kept days (read and parsed on this one, without waiting) are raised meanwhile.
    let (store_days, lake_days) = tokio::join!(store_days, lake_days);
    let Some((mut hits, mut grants, mut read)) = lake_days else {
        return Ok(None);
    };
    let (events, cut) = store_days?;
    read.events += events.len();
    grants.extend(c.rules.admin_grants(&events));
    // The one step across events, over every day's grants at once, as one run takes it.
    c.rules
        .raise_passed_admin_stored(&grants, hits.iter_mut().filter_map(KeptHit::as_one_mut));
    let mut live = c.rules.evaluate_each(&events);
    c.rules.raise_passed_admin_roles(&grants, &mut live);
    let mut alerts = Vec::with_capacity(hits.len() + live.len());
    for h in hits {
        match h.into_alert() {
            Ok(a) => alerts.push(a),
            Err(e) => {
                tracing::warn!(error = %e, "a kept alert cannot be read; reading the window's events");
                return Ok(None);
            }
        }
    }
    alerts.extend(Alert::from_hits(live));
    Ok(Some((raise(c, alerts), read, cut)))
}

/// Whether the page shows the log (what was sent) or the rules' view of the events now.
fn source(c: &Console, p: &Params) -> Result<Source, PageError> {
    Ok(
        if c.log.is_some() && !flag("raised", p.raised.as_deref())? {
            Source::Sent
        } else {
            Source::Raised
        },
    )
}

/// The alert's actor matches the actor filter (same globs as event search).
fn actor_matches(p: &Params, a: &LoggedAlert) -> Result<bool, PageError> {
    let Some(actor) = &p.actor else {
        return Ok(true);
    };
    let m = iat_core::glob::Pattern::new("actor filter", actor)
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let first = &a.events[0];
    Ok(m.is_match(&first.actor)
        || first
            .principal_arn
            .as_deref()
            .is_some_and(|x| m.is_match(x)))
}

/// The alerts of the page's window: from the log, or raised by the rules over the events.
/// Returns them with what they were raised from (when raised) and whether the read was cut.
async fn window_alerts(
    c: &Console,
    p: &Params,
    window: &Window,
    source: Source,
) -> Result<(Vec<LoggedAlert>, Option<Raised>, bool), PageError> {
    match (source, &c.log) {
        (Source::Sent, Some(log)) => {
            let query = AlertLogQuery {
                window: Some(TimeWindow::new(window.since, window.until)?),
                limit: Some(MAX_ALERTS + 1),
            };
            let mut found = log.list(&query).await?;
            let cut = found.len() > MAX_ALERTS;
            found.truncate(MAX_ALERTS);
            Ok((found, None, cut))
        }
        _ => {
            let (alerts, read, cut) = raised(c, p).await?;
            Ok((alerts, Some(read), cut))
        }
    }
}

fn rule_param(p: &Params) -> Result<Option<&'static Rule>, PageError> {
    p.rule
        .as_deref()
        .map(|id| {
            Rule::by_id(id).ok_or_else(|| {
                PageError::BadRequest(format!("rule={id:?}: no such rule (see /rules)"))
            })
        })
        .transpose()
}

fn severity_param(p: &Params) -> Result<Option<Severity>, PageError> {
    p.severity
        .as_deref()
        .map(|s| {
            Severity::from_str(s).map_err(|_| {
                PageError::BadRequest(format!("severity={s:?}: use low, medium, high or critical"))
            })
        })
        .transpose()
}

/// The newest [`MAX_EVENTS`] events of the window that the enabled rules read (their named
/// actions, denied calls, people's calls outside working hours, the root user's: [`RuleSet::interest`](iat_core::rules::RuleSet::interest)),
/// oldest first as the rules read them. The rules raise the same alerts from these as from every
/// event, and a window's workload traffic is most of its events, so the stores select them with
/// their indexes rather than reading everything. Newest first because a cut read should keep what
/// an investigator looks at first, and because the newest days are the store's: the lake is read
/// only when they are not enough.
async fn window_events(c: &Console, p: &Params) -> Result<(Vec<ActivityEvent>, bool), PageError> {
    let query = EventQuery {
        order: Order::Descending,
        interest: c.rules.interest(),
        ..p.query()?
    };
    let (mut events, cut) = fetch(c.events.as_ref(), query, MAX_EVENTS).await?;
    events.reverse();
    Ok((events, cut))
}

pub(crate) async fn alerts(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let mut p = Params::parse(q.as_deref())?;
    let source = source(&c, &p)?;
    let open = flag("open", p.open.as_deref())?;
    let window = with_days_window(&c, &mut p, 7).await?;
    let rule = rule_param(&p)?;
    let severity = severity_param(&p)?;
    let account = p
        .account
        .as_deref()
        .map(iat_core::AccountId::new)
        .transpose()
        .map_err(|e| PageError::BadRequest(format!("account: {e}")))?;
    // The actor and account narrow the events the rules read, and the alerts listed.
    let (all, events, cut) = window_alerts(&c, &p, &window, source).await?;
    let mut kept = Vec::new();
    for a in &all {
        if actor_matches(&p, a)?
            && account
                .as_ref()
                .is_none_or(|x| a.account() == Some(x.as_str()))
        {
            kept.push(a);
        }
    }
    let by_severity = Counted::of(kept.iter().map(|a| a.severity.as_str().to_owned()));
    let shown: Vec<&LoggedAlert> = kept
        .into_iter()
        .filter(|a| rule.is_none_or(|r| a.rule_id == r.id))
        .filter(|a| severity.is_none_or(|s| a.severity >= s))
        .filter(|a| !open || a.ack.is_none())
        .collect();
    Ok(view::alerts(
        &c,
        &p,
        &window,
        &shown,
        &by_severity,
        source,
        events,
        cut,
    ))
}

pub(crate) async fn alert(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let mut p = Params::parse(q.as_deref())?;
    let rule = rule_param(&p)?
        .ok_or_else(|| PageError::BadRequest("rule is required: the alert's rule id".into()))?;
    let event = p
        .event
        .clone()
        .ok_or_else(|| PageError::BadRequest("event is required: an event of the alert".into()))?;
    let source = source(&c, &p)?;
    if let (Source::Sent, Some(log)) = (source, &c.log) {
        let id = format!("{}:{event}", rule.id);
        return match log.get(&id).await? {
            Some(a) => Ok(view::alert(&c, &p, &a, source)),
            None => Err(PageError::NotFound(format!(
                "no {} alert with first event {event} was sent from this store",
                rule.id
            ))),
        };
    }
    let window = with_days_window(&c, &mut p, 7).await?;
    let (alerts, _, _) = raised(&c, &p).await?;
    let found = alerts
        .into_iter()
        .find(|a| a.rule_id == rule.id && a.events.iter().any(|f| f.event_id == event));
    match found {
        Some(a) => Ok(view::alert(&c, &p, &a, source)),
        None => Err(PageError::NotFound(format!(
            "no {} alert with event {event} between {} and {}",
            rule.id,
            rfc3339(window.since),
            rfc3339(window.until)
        ))),
    }
}

/// The acknowledgement form.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckForm {
    id: String,
    by: String,
    #[serde(default)]
    note: String,
}

/// Records who acknowledged an alert and when, then shows the alert again. Accepted only from
/// the console's own pages (`Origin` / `Sec-Fetch-Site`), so another site cannot post it.
pub(crate) async fn acknowledge(
    State(c): Ctx,
    headers: HeaderMap,
    body: String,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let form: AckForm = serde_urlencoded::from_str(&body)
        .map_err(|e| PageError::BadRequest(format!("acknowledgement form: {e}")))?;
    let Some(log) = &c.log else {
        return Err(PageError::BadRequest(
            "this store keeps no alert log, so alerts cannot be acknowledged here".into(),
        ));
    };
    let ack = Acknowledgement {
        by: form.by.trim().to_owned(),
        at: (c.now)(),
        note: form.note.trim().to_owned(),
    };
    if ack.by.is_empty() {
        return Err(PageError::BadRequest(
            "by is required: who acknowledges".into(),
        ));
    }
    let found = log.acknowledge(&form.id, &ack).await.map_err(|e| match e {
        iat_core::Error::InvalidValue { .. } => PageError::BadRequest(e.to_string()),
        other => PageError::from(other),
    })?;
    if !found {
        return Err(PageError::NotFound(format!("no sent alert {}", form.id)));
    }
    tracing::info!(alert = %form.id, by = %ack.by, "alert acknowledged");
    let (rule, event) = form.id.split_once(':').unwrap_or((&form.id, ""));
    let back = format!(
        "/alert?{}",
        serde_urlencoded::to_string([("rule", rule), ("event", event)]).unwrap_or_default()
    );
    Ok(Redirect::to(&back).into_response())
}

/// Refuses a cross-site post: a browser names the page's origin in `Origin` and says
/// `Sec-Fetch-Site: same-origin` when the form is the console's own.
fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(PageError::Forbidden(format!(
            "a form from another site ({site}) cannot acknowledge alerts"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && host.is_none_or(|h| origin != format!("http://{h}") && origin != format!("https://{h}"))
    {
        return Err(PageError::Forbidden(format!(
            "a form from {origin} cannot acknowledge alerts"
        )));
    }
    Ok(())
}

pub(crate) async fn events(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let p = Params::parse(q.as_deref())?;
    let query = p.query()?;
    let (page, more) = fetch(c.events.as_ref(), query, SEARCH_PAGE).await?;
    Ok(view::events(&c, &p, &page, more))
}

pub(crate) async fn event(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let p = Params::parse(q.as_deref())?;
    let (Some(id), Some(time)) = (&p.event, &p.time) else {
        return Err(PageError::BadRequest(
            "event and time are required: the event id and its time (RFC 3339)".into(),
        ));
    };
    let at = DateTime::parse_from_rfc3339(time)
        .map_err(|e| PageError::BadRequest(format!("time={time:?}: {e}")))?
        .with_timezone(&Utc);
    let query = EventQuery {
        window: Some(TimeWindow::new(at, at)?),
        ..Default::default()
    };
    let (found, _) = fetch(c.events.as_ref(), query, MAX_EVENTS).await?;
    match found.into_iter().find(|e| e.id.as_str() == id) {
        Some(e) => Ok(view::event(&c, &e)),
        None => Err(PageError::NotFound(format!("no event {id} at {time}"))),
    }
}

pub(crate) async fn timeline(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let mut p = Params::parse(q.as_deref())?;
    if p.actor.is_none() {
        return Err(PageError::BadRequest(
            "actor is required: a user, role/session, root, or principal ARN".into(),
        ));
    }
    let window = with_window(&c, &mut p, 7).await?;
    let query = EventQuery {
        order: Order::Ascending,
        ..p.query()?
    };
    let (events, cut) = fetch(c.events.as_ref(), query, TIMELINE_MAX).await?;
    Ok(view::timeline(&c, &p, &window, &events, cut))
}

pub(crate) async fn denied(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    let mut p = Params::parse(q.as_deref())?;
    p.denied = Some("1".into());
    let window = with_window(&c, &mut p, 7).await?;
    let length = window.until - window.since;
    let before = Params {
        since: Some(rfc3339(window.since - length)),
        until: Some(rfc3339(window.since - Duration::seconds(1))),
        ..p.clone()
    };
    // Counts, not events: the lake counts in SQL; a store that reads events to count keeps
    // the newest. The two periods are read at once: often one from the store, one from the lake.
    let counts = |p: &Params| -> Result<EventQuery, PageError> {
        Ok(EventQuery {
            order: Order::Descending,
            ..p.query()?
        })
    };
    let (now_q, then_q) = (counts(&p)?, counts(&before)?);
    let (now, then) = tokio::try_join!(
        c.events.count_actions(&now_q, MAX_EVENTS),
        c.events.count_actions(&then_q, MAX_EVENTS)
    )?;
    let layer = |a: &ActionCount| a.layer.map_or("unknown", |l| l.as_str()).to_owned();
    let seen_before: HashSet<(String, &str)> = then
        .actions
        .iter()
        .map(|a| (service(&a.source), a.name.as_str()))
        .collect();
    let services_before: HashSet<String> =
        then.actions.iter().map(|a| service(&a.source)).collect();
    let mut actions: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for a in &now.actions {
        *actions
            .entry((service(&a.source), a.name.clone(), layer(a)))
            .or_default() += a.count;
    }
    let denials = Denials {
        by_layer: Counted::weighted(now.actions.iter().map(|a| (layer(a), a.count))),
        by_service: Counted::weighted(now.actions.iter().map(|a| (service(&a.source), a.count))),
        actions: actions
            .into_iter()
            .map(|((service, action, layer), n)| {
                let new = !seen_before.contains(&(service.clone(), action.as_str()));
                (service, action, layer, n, new)
            })
            .collect(),
        new_services: {
            let mut s: Vec<String> = now
                .actions
                .iter()
                .map(|a| service(&a.source))
                .filter(|s| !services_before.contains(s))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            s.sort();
            s
        },
        events: now.events() as usize,
        previous: then.events() as usize,
        cut: now.cut || then.cut,
    };
    Ok(view::denied(&c, &p, &window, &denials))
}

/// `iam` for `iam.amazonaws.com`.
fn service(source: &str) -> String {
    source.trim_end_matches(".amazonaws.com").to_owned()
}

pub(crate) async fn rules(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    Params::parse(q.as_deref())?;
    Ok(view::rules(&c))
}

pub(crate) async fn status(State(c): Ctx, RawQuery(q): RawQuery) -> Page {
    Params::parse(q.as_deref())?;
    let checkpoints = c.checkpoints.list().await?;
    let newest = newest(c.events.as_ref()).await?;
    Ok(view::status(&c, &checkpoints, newest))
}
