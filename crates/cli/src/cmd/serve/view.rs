//! The console's HTML: one layout, forms that submit with GET (so every view is a shareable
//! URL), tables, and charts as inline SVG. No script anywhere.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use iat_core::ports::Checkpoint;
use iat_core::ports::{LoggedAlert, LoggedEvent};
use iat_core::rules::Rule;
use iat_core::rules::{ALL, FIRST_SEEN, SETTINGS};
use iat_core::{ActivityEvent, ConsoleLoginOutcome, DenialLayer};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{Console, MAX_ALERTS, MAX_EVENTS, Params, cursor, rfc3339, rfc3339_ms};

/// The window a page covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) since: DateTime<Utc>,
    pub(crate) until: DateTime<Utc>,
}

/// Counts by label, largest first.
#[derive(Debug, Default)]
pub(crate) struct Counted(pub(crate) Vec<(String, u64)>);

impl Counted {
    pub(crate) fn of(labels: impl Iterator<Item = String>) -> Self {
        Self::weighted(labels.map(|l| (l, 1)))
    }

    /// Sums the counts given for each label.
    pub(crate) fn weighted(labels: impl Iterator<Item = (String, u64)>) -> Self {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        labels.for_each(|(l, n)| *m.entry(l).or_default() += n);
        let mut v: Vec<(String, u64)> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self(v)
    }
}

/// What the denied-calls page shows.
#[derive(Debug)]
pub(crate) struct Denials {
    pub(crate) by_layer: Counted,
    pub(crate) by_service: Counted,
    /// Service, action, layer, calls, and whether the action was not denied in the previous
    /// period.
    pub(crate) actions: Vec<(String, String, String, u64, bool)>,
    pub(crate) new_services: Vec<String>,
    pub(crate) events: usize,
    pub(crate) previous: usize,
    pub(crate) cut: bool,
}

const CSS: &str = r#"
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d5dae1;--bg:#fff;--soft:#f3f5f8;--accent:#0b5cad;
--critical:#a4161a;--high:#d9480f;--medium:#b08800;--low:#3b7d4f}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)} a:focus,button:focus,input:focus,select:focus{outline:3px solid #ffb000;outline-offset:1px}
.skip{position:absolute;left:-999px} .skip:focus{left:8px;top:8px;background:#fff;padding:4px}
header{background:#16202c;color:#fff;padding:8px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
header a{color:#fff;text-decoration:none} header nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:4px 14px;margin:0;padding:0}
header a[aria-current=page]{border-bottom:2px solid #ffb000} .brand{font-weight:600;margin-right:12px}
header .store{margin:0 0 0 auto;font-size:13px;color:#c5ccd6} header code{color:#fff}
main{padding:12px 16px;max-width:1400px}
h1{font-size:22px;margin:8px 0} h2{font-size:17px;margin:18px 0 6px}
form.filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:flex-end;background:var(--soft);padding:10px;border-radius:6px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input,select{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:4px;min-width:9em}
button{font:inherit;padding:4px 12px;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
.scroll{overflow-x:auto} table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600} td.t{white-space:nowrap} td.who{max-width:24em;overflow-wrap:anywhere} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px;font-weight:600}
.sev-critical{background:var(--critical)} .sev-high{background:var(--high)} .sev-medium{background:var(--medium)} .sev-low{background:var(--low)}
.denied{color:var(--critical);font-weight:600} .new{background:#fff3bf;padding:0 4px;border-radius:3px;font-size:12px}
.note{color:var(--muted);font-size:13px} .cut{background:#fff3bf;padding:6px 10px;border-radius:4px}
pre{background:var(--soft);padding:10px;overflow:auto;font-size:13px;max-height:70vh}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px} dt{color:var(--muted)} dd{margin:0;word-break:break-all}
.cards{display:flex;flex-wrap:wrap;gap:10px} .card{background:var(--soft);padding:8px 14px;border-radius:6px}
.card b{display:block;font-size:20px}
svg text{font:12px system-ui,sans-serif;fill:var(--fg)}
@media (max-width:640px){main{padding:8px} input,select{min-width:7em} header .store{margin-left:0}}
"#;

const NAV: &[(&str, &str)] = &[
    ("/alerts", "Alerts"),
    ("/events", "Events"),
    ("/denied", "Denied calls"),
    ("/rules", "Rules"),
    ("/status", "Status"),
];

fn layout(c: Option<&Console>, title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No icon: without this a browser asks for /favicon.ico on every page.
                link rel="icon" href="data:,";
                title { (title) " · IAM Activity Tracker" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    a.brand href="/alerts" { "IAM Activity Tracker" }
                    nav aria-label="Pages" {
                        ul {
                            @for (href, label) in NAV {
                                li { a href=(href) aria-current=[(*label == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                    @if let Some(c) = c {
                        p.store { "store " code { (c.store) } }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub(crate) fn error_page(title: &str, reason: &str) -> Markup {
    layout(None, title, "", html! { p { (reason) } })
}

pub(crate) fn refused() -> (axum::http::StatusCode, Markup) {
    (
        axum::http::StatusCode::UNAUTHORIZED,
        layout(
            None,
            "Token required",
            "",
            html! {
                p { "This console needs its token: open the address `iat serve` printed (it ends in "
                    code { "?token=…" } "), or send " code { "Authorization: Bearer TOKEN" } "." }
            },
        ),
    )
}

/// `path?k=v&…` with the non-empty pairs, encoded.
fn link(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    if kept.is_empty() {
        return path.to_owned();
    }
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(&kept).unwrap_or_default()
    )
}

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn count(n: u64) -> String {
    crate::output::count(n)
}

fn severity(s: iat_core::Severity) -> Markup {
    html! { span class={ "sev sev-" (s.as_str()) } { (s.as_str()) } }
}

/// A principal's timeline over the hour before and after `from`..`to`.
fn timeline_link(actor: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    link(
        "/timeline",
        &[
            ("actor", Some(actor)),
            ("since", Some(&rfc3339(from - Duration::hours(1)))),
            ("until", Some(&rfc3339(to + Duration::hours(1)))),
        ],
    )
}

fn event_link(id: &str, time: DateTime<Utc>) -> String {
    link(
        "/event",
        &[("event", Some(id)), ("time", Some(&rfc3339_ms(time)))],
    )
}

fn window_fields(p: &Params) -> Markup {
    html! {
        label { "Since" input name="since" value=[p.since.as_deref()] placeholder="7d, 2026-11-30, RFC 3339"; }
        label { "Until" input name="until" value=[p.until.as_deref()] placeholder="now"; }
    }
}

fn cut_note(cut: bool, what: &str) -> Markup {
    html! {
        @if cut {
            p.cut role="status" { "Only the newest " (count(MAX_EVENTS as u64)) " events of this window were read; " (what) " may be incomplete. Narrow the window or the filters." }
        }
    }
}

/// What raised alerts were raised from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raised {
    /// Events of interest read now, and those of the lake days whose kept alerts were used.
    pub(crate) events: usize,
    /// Lake days whose alerts were kept at export and used as kept.
    pub(crate) kept_days: usize,
}

/// Where the alerts of a page come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The store's alert log: what was sent.
    Sent,
    /// The rules run over the window's events now (a store without a log, or asked for).
    Raised,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn alerts(
    c: &Console,
    p: &Params,
    window: &Window,
    shown: &[&LoggedAlert],
    by_severity: &Counted,
    source: Source,
    raised: Option<Raised>,
    cut: bool,
) -> Markup {
    let other = link(
        "/alerts",
        &[
            ("since", p.since.as_deref()),
            ("until", p.until.as_deref()),
            ("raised", (source == Source::Sent).then_some("1")),
        ],
    );
    let body = html! {
        form.filters method="get" action="/alerts" aria-label="Filter alerts" {
            (window_fields(p))
            label { "At least" select name="severity" {
                option value="" { "any severity" }
                @for s in ["low", "medium", "high", "critical"] {
                    option value=(s) selected[p.severity.as_deref() == Some(s)] { (s) }
                }
            } }
            label { "Rule" select name="rule" {
                option value="" { "any rule" }
                @for (r, _) in c.rules.rules() {
                    option value=(r.id) selected[p.rule.as_deref() == Some(r.id)] { (r.title) }
                }
            } }
            label { "Account" input name="account" value=[p.account.as_deref()] placeholder="123456789012"; }
            label { "Actor" input name="actor" value=[p.actor.as_deref()]; }
            @if source == Source::Sent {
                label { "Not acknowledged" input type="checkbox" name="open" value="1" checked[p.open.is_some()]; }
            } @else if p.raised.is_some() {
                input type="hidden" name="raised" value="1";
            }
            button type="submit" { "Show" }
        }
        @match (source, raised) {
            (Source::Sent, _) => p.note { "Alerts sent, as sent (alone or in a digest), whose last event is from " (at(window.since)) " to " (at(window.until)) " UTC. "
                a href=(other) { "What the rules raise over these events now" } },
            (Source::Raised, Some(r)) => p.note { "Not a record of what was sent: what the rules raise over the " (count(r.events as u64)) " events they read (the actions they name, denied calls, people's calls outside working hours, the root user's) from " (at(window.since)) " to " (at(window.until)) " UTC, grouped as a run groups them"
                @if r.kept_days > 0 { "; for the " (r.kept_days) " days read from the lake, the alerts the same rules and settings raised over each day when it was exported (`iat export --raise-only` raises them again)" }
                ". First-seen rules (new region, new country, …) depend on what the alerter has learned and are not re-run here. "
                @if c.log.is_some() { a href=(other) { "The alerts sent" } } @else { "This store keeps no log of sent alerts." } },
            (Source::Raised, None) => "",
        }
        @if source == Source::Sent && cut {
            p.cut role="status" { "Only the newest " (count(MAX_ALERTS as u64)) " alerts of this window are listed; narrow the window or the filters." }
        } @else {
            (cut_note(cut, "the alerts"))
        }
        div.cards {
            @for s in ["critical", "high", "medium", "low"] {
                div.card { b { (count(by_severity.0.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n))) } (s) }
            }
        }
        @if shown.is_empty() {
            p { "No alert in this window with these filters." }
        } @else {
            div.scroll { table {
                caption.note { (shown.len()) " alerts, newest first" }
                thead { tr { th { "Last event (UTC)" } th { "Severity" } th { "Alert" } th { "Actor" } th { "Account" } th.n { "Events" }
                    @if source == Source::Sent { th { "Acknowledged" } } } }
                tbody {
                    @for a in shown {
                        @let first = &a.events[0];
                        @let last = a.events.last().unwrap_or(first);
                        tr {
                            td.t { (at(last.time)) }
                            td { (severity(a.severity)) }
                            td {
                                a href=(alert_link(a, p)) { (a.title) }
                                br; span.note { (a.summary) }
                            }
                            td.who { a href=(timeline_link(actor_key(first), first.time, last.time)) { (first.actor) } }
                            td { (first.account.as_deref().unwrap_or("")) }
                            td.n { (a.count()) }
                            @if source == Source::Sent {
                                td { @match &a.ack { Some(k) => { (k.by) br; span.note { (at(k.at)) } }, None => span.note { "no" } } }
                            }
                        }
                    }
                }
            } }
        }
    };
    layout(Some(c), "Alerts", "Alerts", body)
}

/// An alert's page, carrying the list's window (so a raised alert is found again).
fn alert_link(a: &LoggedAlert, p: &Params) -> String {
    link(
        "/alert",
        &[
            ("rule", Some(&a.rule_id)),
            ("event", Some(&a.events[0].event_id)),
            ("since", p.since.as_deref()),
            ("until", p.until.as_deref()),
            ("raised", p.raised.as_deref()),
        ],
    )
}

/// What a timeline link filters on: the principal ARN when there is one (exact across
/// accounts), else the readable actor.
fn actor_key(f: &LoggedEvent) -> &str {
    f.principal_arn.as_deref().unwrap_or(&f.actor)
}

pub(crate) fn alert(c: &Console, p: &Params, a: &LoggedAlert, source: Source) -> Markup {
    let first = &a.events[0];
    let last = a.events.last().unwrap_or(first);
    let rule = Rule::by_id(&a.rule_id);
    let body = html! {
        p { (severity(a.severity)) " " strong { (a.summary) } }
        dl {
            dt { "Rule" } dd { code { (a.rule_id) } }
            dt { "Actor" } dd { a href=(timeline_link(actor_key(first), first.time, last.time)) { (first.actor) } " (" (first.principal_type) ")" }
            @if let Some(arn) = &first.principal_arn { dt { "Principal" } dd { code { (arn) } } }
            dt { "Account" } dd { (first.account.as_deref().unwrap_or("-")) }
            dt { "When (UTC)" } dd { (at(first.time)) @if a.count() > 1 { " to " (at(last.time)) } }
            @for (k, v) in &a.details { dt { (k) } dd { (v) } }
            @match source {
                Source::Sent => { dt { "Sent" } dd { (at(a.sent_at)) " UTC" @if a.in_digest { ", in a digest" } } },
                Source::Raised => { dt { "Sent" } dd { "not known: raised by the rules now" } },
            }
        }
        @if source == Source::Sent {
            h2 { "Acknowledgement" }
            @if let Some(k) = &a.ack {
                p { "Acknowledged by " strong { (k.by) } " at " (at(k.at)) " UTC" @if !k.note.is_empty() { ": " (k.note) } }
            }
            form.filters method="post" action="/alert/ack" aria-label="Acknowledge" {
                input type="hidden" name="id" value=(a.id);
                label { "Your name" input name="by" required maxlength="200" autocomplete="name"; }
                label { "Note" input name="note" maxlength="2000" size="40"; }
                button type="submit" { @if a.ack.is_some() { "Acknowledge again" } @else { "Acknowledge" } }
            }
        }
        @if let Some(rule) = rule {
            h2 { "Why it matters" }
            p { (rule.why) }
            h2 { "What to check" }
            p { (rule.check) }
        }
        p { a href=(timeline_link(actor_key(first), first.time, last.time)) { "Everything " (first.actor) " did from an hour before to an hour after" } }
        @if let Some(rule) = rule.filter(|r| !r.references.is_empty()) {
            h2 { "References" }
            ul { @for r in rule.references { li { a href=(r) rel="noreferrer" { (r) } } } }
        }
        h2 { "Events (" (a.count()) ")" }
        @if a.more > 0 {
            p.note { "A long burst: " (a.events.len()) " of its events are listed, the first and the last among them; " (a.more) " are not. "
                a href=(timeline_link(actor_key(first), first.time, last.time)) { "The actor's timeline" } " has them all." }
        }
        div.scroll { table {
            thead { tr { th { "Time (UTC)" } th { "Event" } th { "Source IP" } th { "Region" } th { "Result" } } }
            tbody { @for f in &a.events { tr {
                td.t { a href=(event_link(&f.event_id, f.time)) { (at(f.time)) } }
                td { (f.source.trim_end_matches(".amazonaws.com")) ":" (f.name) }
                td { (f.source_ip) }
                td { (f.region) }
                td { @match &f.error_code { Some(e) => span.denied { (e) }, None => "OK" } }
            } } }
        } }
        p.note { a href=(link("/alerts", &[("since", p.since.as_deref()), ("until", p.until.as_deref()), ("raised", p.raised.as_deref())])) { "Back to the alerts" } }
    };
    layout(Some(c), &a.title, "Alerts", body)
}

fn event_filters(p: &Params) -> Markup {
    html! {
        form.filters method="get" action="/events" aria-label="Search events" {
            (window_fields(p))
            label { "Actor (or ARN, glob)" input name="actor" value=[p.actor.as_deref()]; }
            label { "Event name" input name="event_name" value=[p.event_name.as_deref()] placeholder="Create*,DeleteUser"; }
            label { "Source" input name="source" value=[p.source.as_deref()] placeholder="iam"; }
            label { "Account" input name="account" value=[p.account.as_deref()]; }
            label { "Region" input name="region" value=[p.region.as_deref()]; }
            label { "Source IP or network" input name="source_ip" value=[p.source_ip.as_deref()]; }
            label { "Denied by" select name="denial_layer" {
                option value="" { "-" }
                @for l in DenialLayer::ALL {
                    option value=(l.as_str()) selected[p.denial_layer.as_deref() == Some(l.as_str())] { (l.as_str().replace('_', " ")) }
                }
            } }
            label { "Denied only" input type="checkbox" name="denied" value="1" checked[p.denied.is_some()]; }
            button type="submit" { "Search" }
        }
    }
}

fn result(e: &ActivityEvent) -> Markup {
    html! {
        @match (&e.denial, &e.error_code) {
            (Some(d), Some(code)) => span.denied title=(code) { "denied: " (d.layer.as_str().replace('_', " ")) },
            (None, Some(code)) => span { (code) },
            _ if e.console_login.as_ref().is_some_and(|l| l.outcome == ConsoleLoginOutcome::Failure) => span.denied { "sign-in failed" },
            _ => "OK",
        }
    }
}

fn events_table(events: &[ActivityEvent], with_actor: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { "Time (UTC)" } th { "Event" } @if with_actor { th { "Actor" } }
                th { "Account" } th { "Region" } th { "Source IP" } th { "Result" } th { "Sign-in" }
            } }
            tbody { @for e in events { tr {
                td.t { a href=(event_link(e.id.as_str(), e.time)) { (at(e.time)) } }
                td { (e.source.trim_end_matches(".amazonaws.com")) ":" (e.name) }
                @if with_actor {
                    td.who { a href=(timeline_link(e.principal.arn.as_deref().unwrap_or(&e.principal.actor), e.time, e.time)) { (e.principal.actor) } }
                }
                td { (e.account.as_ref().map_or("", |a| a.as_str())) }
                td { (e.region) }
                td { (e.source_ip.raw) }
                td { (result(e)) }
                td { @if let Some(l) = &e.console_login {
                    (match &l.outcome { ConsoleLoginOutcome::Success => "success", ConsoleLoginOutcome::Failure => "failure", ConsoleLoginOutcome::Other(o) => o.as_str() })
                    ", MFA " (match l.mfa_used { Some(true) => "yes", Some(false) => "no", None => "at the identity provider" })
                } }
            } } }
        } }
    }
}

pub(crate) fn events(c: &Console, p: &Params, page: &[ActivityEvent], more: bool) -> Markup {
    let next = page.last().filter(|_| more).map(|last| {
        link(
            "/events",
            &[
                ("since", p.since.as_deref()),
                ("until", p.until.as_deref()),
                ("actor", p.actor.as_deref()),
                ("event_name", p.event_name.as_deref()),
                ("source", p.source.as_deref()),
                ("account", p.account.as_deref()),
                ("region", p.region.as_deref()),
                ("source_ip", p.source_ip.as_deref()),
                ("denied", p.denied.as_deref()),
                ("denial_layer", p.denial_layer.as_deref()),
                ("after", Some(&cursor(last))),
            ],
        )
    });
    let body = html! {
        (event_filters(p))
        @if page.is_empty() {
            p { "No stored event matches." }
        } @else {
            p.note { (page.len()) " events, newest first" @if p.after.is_some() { " (a later page)" } ". Times are UTC; a time opens the whole record." }
            (events_table(page, true))
        }
        @if let Some(next) = next { p { a href=(next) rel="next" { "Older events →" } } }
    };
    layout(Some(c), "Events", "Events", body)
}

pub(crate) fn event(c: &Console, e: &ActivityEvent) -> Markup {
    let pretty = serde_json::from_str::<serde_json::Value>(&e.raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| e.raw.clone());
    let body = html! {
        dl {
            dt { "Event id" } dd { code { (e.id) } }
            dt { "Time (UTC)" } dd { (rfc3339_ms(e.time)) }
            dt { "Actor" } dd { a href=(timeline_link(e.principal.arn.as_deref().unwrap_or(&e.principal.actor), e.time, e.time)) { (e.principal.actor) } }
            @if let Some(arn) = &e.principal.arn { dt { "Principal" } dd { code { (arn) } } }
            dt { "Account / region" } dd { (e.account.as_ref().map_or("-", |a| a.as_str())) " / " (e.region) }
            dt { "Source IP" } dd { (e.source_ip.raw) }
            @if let Some(ua) = &e.user_agent { dt { "User agent" } dd { (ua) } }
            dt { "Result" } dd { (result(e)) }
            @if let Some(m) = &e.error_message { dt { "Error message" } dd { (m) } }
        }
        h2 { "Record as stored" }
        pre { code { (pretty) } }
    };
    layout(
        Some(c),
        &format!("{}:{}", e.source.trim_end_matches(".amazonaws.com"), e.name),
        "Events",
        body,
    )
}

/// Columns of a chart of activity over the window.
const COLUMNS: usize = 48;

/// Calls per slice of the window, allowed and denied stacked, as an SVG column chart.
fn activity_chart(window: &Window, events: &[ActivityEvent]) -> Markup {
    let span = (window.until - window.since).num_seconds().max(1);
    let mut ok = [0u64; COLUMNS];
    let mut denied = [0u64; COLUMNS];
    for e in events {
        let i = ((e.time - window.since).num_seconds().max(0) * COLUMNS as i64 / span) as usize;
        let i = i.min(COLUMNS - 1);
        if e.is_denied() {
            denied[i] += 1
        } else {
            ok[i] += 1
        }
    }
    let top = ok
        .iter()
        .zip(&denied)
        .map(|(a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left) = (960.0_f64, 160.0_f64, 40.0_f64);
    let col = (w - left) / COLUMNS as f64;
    let y = |n: u64| h - 20.0 - (n as f64 / top as f64) * (h - 30.0);
    let label = format!(
        "Calls from {} to {} UTC in {COLUMNS} slices: most in one slice {top}; denied in red",
        at(window.since),
        at(window.until)
    );
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } width="100%" role="img" aria-label=(label) {
            text x="0" y="12" { (top) }
            text x="0" y=(h - 22.0) { "0" }
            line x1=(left) y1=(h - 20.0) x2=(w) y2=(h - 20.0) stroke="#d5dae1" {}
            @for i in 0..COLUMNS {
                @let x = left + i as f64 * col;
                @let start = window.since + Duration::seconds(span * i as i64 / COLUMNS as i64);
                @if ok[i] + denied[i] > 0 {
                    g {
                        title { (at(start)) ": " (ok[i]) " allowed, " (denied[i]) " denied" }
                        rect x=(x + 1.0) y=(y(ok[i] + denied[i])) width=(col - 2.0) height=(y(denied[i]) - y(ok[i] + denied[i])) fill="#0b5cad" {}
                        @if denied[i] > 0 {
                            rect x=(x + 1.0) y=(y(denied[i])) width=(col - 2.0) height=(h - 20.0 - y(denied[i])) fill="#a4161a" {}
                        }
                    }
                }
            }
            text x=(left) y=(h - 4.0) { (at(window.since)) }
            text x=(w) y=(h - 4.0) text-anchor="end" { (at(window.until)) }
        }
    }
}

/// Horizontal bars, one per label.
fn bar_chart(label: &str, items: &[(String, u64)]) -> Markup {
    let top = items.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let (w, row, left) = (640.0_f64, 24.0_f64, 190.0_f64);
    let h = row * items.len().max(1) as f64;
    html! {
        svg viewBox={ "0 0 " (w) " " (h) } width="100%" style="max-width:640px" role="img" aria-label=(label) {
            @for (i, (k, n)) in items.iter().enumerate() {
                @let y = i as f64 * row;
                @let bw = (*n as f64 / top as f64) * (w - left - 70.0);
                g {
                    title { (k) ": " (n) }
                    text x=(left - 8.0) y=(y + 16.0) text-anchor="end" { (k) }
                    rect x=(left) y=(y + 4.0) width=(bw.max(1.0)) height=(row - 8.0) fill="#a4161a" {}
                    text x=(left + bw + 6.0) y=(y + 16.0) { (count(*n)) }
                }
            }
        }
    }
}

pub(crate) fn timeline(
    c: &Console,
    p: &Params,
    window: &Window,
    events: &[ActivityEvent],
    cut: bool,
) -> Markup {
    let actor = p.actor.as_deref().unwrap_or("");
    let denied = events.iter().filter(|e| e.is_denied()).count();
    let signins = events.iter().filter(|e| e.console_login.is_some()).count();
    let body = html! {
        form.filters method="get" action="/timeline" aria-label="Timeline" {
            label { "Actor (or ARN, glob)" input name="actor" value=(actor) required; }
            (window_fields(p))
            button type="submit" { "Show" }
        }
        p.note { (events.len()) " calls from " (at(window.since)) " to " (at(window.until)) " UTC: " (denied) " denied, " (signins) " console sign-ins. "
            a href=(link("/events", &[("actor", Some(actor)), ("since", p.since.as_deref()), ("until", p.until.as_deref())])) { "Search these events" } }
        @if cut { p.cut role="status" { "Only the first " (events.len()) " calls are listed; narrow the window." } }
        (activity_chart(window, events))
        @if events.is_empty() { p { "No stored call by this actor in this window." } }
        @else { (events_table(events, false)) }
    };
    layout(Some(c), &format!("Timeline of {actor}"), "", body)
}

pub(crate) fn denied(c: &Console, p: &Params, window: &Window, d: &Denials) -> Markup {
    let layers: Vec<(String, u64)> = d
        .by_layer
        .0
        .iter()
        .map(|(k, n)| (k.replace('_', " "), *n))
        .collect();
    let body = html! {
        form.filters method="get" action="/denied" aria-label="Denied calls" {
            (window_fields(p))
            label { "Account" input name="account" value=[p.account.as_deref()]; }
            label { "Source" input name="source" value=[p.source.as_deref()] placeholder="s3"; }
            button type="submit" { "Show" }
        }
        p.note { (count(d.events as u64)) " denied calls from " (at(window.since)) " to " (at(window.until)) " UTC; " (count(d.previous as u64)) " in the period of the same length before. \"new\" marks an action not denied in that period." }
        (cut_note(d.cut, "the counts"))
        @if d.events == 0 { p { "No denied call in this window." } } @else {
            h2 { "By the layer that denied" }
            (bar_chart("Denied calls by policy layer", &layers))
            h2 { "By service" }
            @if !d.new_services.is_empty() { p { "Denied for the first time in this period: " @for (i, s) in d.new_services.iter().enumerate() { @if i > 0 { ", " } strong { (s) } } } }
            (bar_chart("Denied calls by service", &d.by_service.0[..d.by_service.0.len().min(15)]))
            h2 { "By action and layer" }
            div.scroll { table {
                thead { tr { th { "Service" } th { "Action" } th { "Denied by" } th.n { "Calls" } th { "" } } }
                tbody { @for (service, action, layer, n, new) in &d.actions { tr {
                    td { (service) }
                    td { a href=(link("/events", &[("source", Some(service)), ("event_name", Some(action)), ("denied", Some("1")), ("since", p.since.as_deref()), ("until", p.until.as_deref()), ("account", p.account.as_deref())])) { (action) } }
                    td { (layer.replace('_', " ")) }
                    td.n { (count(*n)) }
                    td { @if *new { span.new { "new" } } }
                } } }
            } }
        }
    };
    layout(Some(c), "Denied calls", "Denied calls", body)
}

pub(crate) fn rules(c: &Console) -> Markup {
    let enabled: BTreeMap<&str, iat_core::Severity> =
        c.rules.rules().map(|(r, s)| (r.id, s)).collect();
    let body = html! {
        p.note { "Settings come from the environment or " code { "iat serve --set NAME=VALUE" } ", as the deployed alerter reads them." }
        div.scroll { table {
            thead { tr { th { "Rule" } th { "Severity" } th { "What it detects" } th { "Reads" } th { "Tuning" } } }
            tbody { @for r in ALL.iter().chain(FIRST_SEEN) { tr {
                td { strong { (r.title) } br; code { (r.id) } }
                td { @match enabled.get(r.id) { Some(s) => (severity(*s)), None => span.note { "disabled" } } }
                td { (r.description) }
                td { (r.reads.describe().join(", ")) }
                td { (r.tuning) }
            } } }
        } }
        h2 { "Settings" }
        div.scroll { table {
            thead { tr { th { "Name" } th { "Default" } th { "Meaning" } } }
            tbody { @for (name, default, meaning) in SETTINGS { tr { td { code { (name) } } td { (default) } td { (meaning) } } } }
        } }
    };
    layout(Some(c), "Rules", "Rules", body)
}

pub(crate) fn status(
    c: &Console,
    checkpoints: &[Checkpoint],
    newest: Option<DateTime<Utc>>,
) -> Markup {
    let now = (c.now)();
    let failing = checkpoints
        .iter()
        .filter(|k| k.last_error.is_some())
        .count();
    let behind = checkpoints
        .iter()
        .filter(|k| k.last_error.is_none())
        .filter(|k| k.complete_up_to.is_none_or(|t| now - t > c.behind_after))
        .count();
    let accounts: std::collections::BTreeSet<&str> = checkpoints
        .iter()
        .map(|k| k.stream.account.as_str())
        .collect();
    let body = html! {
        div.cards {
            div.card { b { (accounts.len()) } "accounts" }
            div.card { b { (checkpoints.len() - failing - behind) } "streams caught up" }
            div.card { b { (behind) } "behind (over " (ago(c.behind_after)) ")" }
            div.card { b { (failing) } "failing" }
        }
        p.note { "Newest stored event: " (newest.map_or("none".to_owned(), at)) " UTC." }
        @if checkpoints.is_empty() {
            p { "No collection stream yet: this store was filled from log files or a trail, or " code { "iat collect" } " has not run." }
        } @else {
            div.scroll { table {
                thead { tr { th { "Account" } th { "Region" } th { "Source" } th { "Complete up to (UTC)" } th { "Behind" } th { "Last run" } th { "Last error" } } }
                tbody { @for k in checkpoints { tr {
                    td { (k.stream.account) } td { (k.stream.region) } td { (k.stream.source) }
                    td { (k.complete_up_to.map_or("never".to_owned(), at)) }
                    td.n { (k.complete_up_to.map_or("-".to_owned(), |t| ago(now - t))) }
                    td { (k.last_run_at.map_or("-".to_owned(), at)) }
                    td { @if let Some(e) = &k.last_error { span.denied { (e) } } }
                } } }
            } }
        }
    };
    layout(Some(c), "Status", "Status", body)
}

fn ago(d: Duration) -> String {
    match d.num_minutes() {
        m if m < 0 => "0 m".into(),
        m if m < 120 => format!("{m} m"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / 60 / 24),
    }
}
