//! Alerts: rule hits grouped and rendered for people.
//!
//! A hit is one rule firing on one event. Hits of one rule with the same group key in the same
//! account become one [`Alert`] (a burst of denials is one message saying how many); every
//! other hit is an alert of its own. An alert knows the ledger keys of all its events, so a
//! grouped alert is sent once and each of its events counts as alerted.
//!
//! The text is plain, for e-mail: a subject under 100 characters, then what happened, who, from
//! where, when, in which account and region, why it matters and what to check. It never carries
//! the raw record (which may hold session tokens in `responseElements`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{AccountId, ActivityEvent, EventId, Region, RuleId, Severity};
use crate::ports::{AlertKey, LoggedEvent, Notification};
use crate::rules::{Hit, Rule};

/// The facts of one event that an alert shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventFacts {
    pub event_id: EventId,
    pub time: DateTime<Utc>,
    pub source: String,
    pub name: String,
    pub actor: String,
    pub principal_type: String,
    pub principal_arn: Option<String>,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub account: Option<AccountId>,
    pub region: Region,
    pub error_code: Option<String>,
}

impl EventFacts {
    pub fn of(e: &ActivityEvent) -> Self {
        Self {
            event_id: e.id.clone(),
            time: e.time,
            source: e.source.clone(),
            name: e.name.clone(),
            actor: e.principal.actor.clone(),
            principal_type: e.principal.kind.as_str().to_owned(),
            principal_arn: e.principal.arn.clone(),
            source_ip: e.source_ip.raw.clone(),
            user_agent: e.user_agent.clone(),
            account: e.account.clone(),
            region: e.region.clone(),
            error_code: e.error_code.clone(),
        }
    }

    fn account_str(&self) -> &str {
        self.account
            .as_ref()
            .map(|a| a.as_str())
            .unwrap_or("unknown account")
    }

    fn call(&self) -> String {
        format!(
            "{}:{}",
            self.source.trim_end_matches(".amazonaws.com"),
            self.name
        )
    }
}

/// Alerts as hits stream past: each hit becomes an alert at once (the event need not be kept),
/// and hits of one rule with the same burst key in the same account join the first one's alert.
/// Holds the alerts, never the events that raised nothing.
#[derive(Debug, Default)]
pub struct AlertMerger {
    out: Vec<Alert>,
    groups: HashMap<(&'static str, Option<String>, String), usize>,
}

impl AlertMerger {
    pub fn push_hit(&mut self, hit: Hit<'_>) {
        self.push(Alert::of_hit(hit));
    }

    pub fn push(&mut self, alert: Alert) {
        if let Some(key) = &alert.group {
            let k = (
                alert.rule_id,
                alert.events[0].account.as_ref().map(|a| a.to_string()),
                key.clone(),
            );
            if let Some(&i) = self.groups.get(&k) {
                let a = &mut self.out[i];
                a.severity = a.severity.max(alert.severity);
                a.events.extend(alert.events);
                a.more += alert.more;
                return;
            }
            self.groups.insert(k, self.out.len());
        }
        self.out.push(alert);
    }

    /// The alerts in the order their first events came, each one's events oldest first and once.
    pub fn finish(mut self) -> Vec<Alert> {
        for a in &mut self.out {
            a.events.sort_by(|x, y| {
                x.time
                    .cmp(&y.time)
                    .then_with(|| x.event_id.cmp(&y.event_id))
            });
            a.events.dedup_by(|x, y| x.event_id == y.event_id);
        }
        self.out
    }
}

/// One hit as an exported day keeps it: the alert [`Alert::of_hit`] makes, in owned fields
/// that are checked when read back. A day's raised alerts are kept as their hits, so a reader
/// can narrow them by time, account or actor and merge what is left ([`Alert::merge`]) into the
/// alerts the rules would raise over just those events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHit {
    pub rule: String,
    pub severity: Severity,
    pub summary: String,
    #[serde(default)]
    pub details: Vec<(String, String)>,
    #[serde(default)]
    pub group: Option<String>,
    /// The event, as the alert log keeps it (a record's region or account as written).
    #[serde(flatten)]
    pub event: LoggedEvent,
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl StoredHit {
    /// The stored form of a hit.
    pub fn of(hit: Hit<'_>) -> Self {
        let a = Alert::of_hit(hit);
        let e = &a.events[0];
        Self {
            rule: a.rule_id.to_owned(),
            severity: a.severity,
            summary: a.summary.clone(),
            details: a
                .details
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            group: a.group.clone(),
            event: LoggedEvent::of(e),
            user_agent: e.user_agent.clone(),
        }
    }

    /// The hit's alert again; an unknown rule, or an id, account or region no record could hold,
    /// is an error naming it.
    pub fn into_alert(self) -> Result<Alert> {
        let rule = Rule::by_id(&self.rule).ok_or_else(|| {
            crate::Error::invalid("stored hit's rule", &self.rule, "no such rule")
        })?;
        let e = self.event;
        let event = EventFacts {
            event_id: EventId::new(e.event_id)?,
            time: e.time,
            source: e.source,
            name: e.name,
            actor: e.actor,
            principal_type: e.principal_type,
            principal_arn: e.principal_arn,
            source_ip: e.source_ip,
            user_agent: self.user_agent,
            // As the record wrote them (anonymised or unknown codes are kept, as events keep them).
            account: e.account.map(AccountId::recorded).transpose()?,
            region: Region::recorded(e.region)?,
            error_code: e.error_code,
        };
        Ok(Alert {
            rule_id: rule.id,
            title: rule.title,
            severity: self.severity,
            summary: self.summary,
            details: self
                .details
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), v))
                .collect(),
            events: vec![event],
            rule,
            group: self.group,
            more: 0,
        })
    }
}

/// How many hits of a burst a kept day lists: its first ones and its last, as many as an
/// e-mail lists.
pub const BURST_LISTED: usize = MAX_LISTED;

/// A burst of more than [`BURST_LISTED`] hits of one grouped rule, by one principal in one
/// account, as an exported day keeps it: its first hits and its last, how many more there were,
/// and the highest severity of all of them. Read back ([`KeptHit::into_alert`]) it is the
/// alert those hits make, with the hits not listed counted in [`Alert::more`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBurst {
    /// Oldest first: the first `BURST_LISTED - 1` hits and the last.
    pub listed: Vec<StoredHit>,
    /// Hits not listed.
    pub more: u64,
    /// The highest severity of all the burst's hits.
    pub severity: Severity,
}

/// A day's hits as kept: each on its own, or a long burst as its first and last
/// ([`HitKeeper`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// Nearly every kept hit is `One`: boxing it would add an allocation to each for the rare burst.
#[allow(clippy::large_enum_variant)]
pub enum KeptHit {
    One(StoredHit),
    Burst(StoredBurst),
}

impl KeptHit {
    /// Its first hit (`None` only for a burst read back with nothing listed).
    pub fn first(&self) -> Option<&StoredHit> {
        match self {
            Self::One(h) => Some(h),
            Self::Burst(b) => b.listed.first(),
        }
    }

    /// Its last hit.
    pub fn last(&self) -> Option<&StoredHit> {
        match self {
            Self::One(h) => Some(h),
            Self::Burst(b) => b.listed.last(),
        }
    }

    /// The hit, when kept on its own (a passed role's always is).
    pub fn as_one_mut(&mut self) -> Option<&mut StoredHit> {
        match self {
            Self::One(h) => Some(h),
            Self::Burst(_) => None,
        }
    }

    /// How many hits it holds, listed or not.
    pub fn count(&self) -> u64 {
        match self {
            Self::One(_) => 1,
            Self::Burst(b) => b.listed.len() as u64 + b.more,
        }
    }

    /// The alert of its hits; an error (as [`StoredHit::into_alert`]) for a stored hit no run
    /// could have kept, or a burst that lists none, or hits of several rules.
    pub fn into_alert(self) -> Result<Alert> {
        match self {
            Self::One(h) => h.into_alert(),
            Self::Burst(b) => {
                let mut listed = b.listed.into_iter();
                let mut alert = listed
                    .next()
                    .ok_or_else(|| crate::Error::invalid("kept burst", "[]", "lists no hit"))?
                    .into_alert()?;
                for h in listed {
                    let next = h.into_alert()?;
                    if next.rule_id != alert.rule_id {
                        return Err(crate::Error::invalid(
                            "kept burst",
                            next.rule_id,
                            "hits of another rule than its first",
                        ));
                    }
                    alert.events.extend(next.events);
                }
                alert.severity = alert.severity.max(b.severity);
                alert.more = usize::try_from(b.more).unwrap_or(usize::MAX);
                Ok(alert)
            }
        }
    }
}

/// Which hits a burst gathers: one grouped rule's with the same burst key, by the same actor
/// (and principal ARN) in the same account, so a reader can keep or drop a burst whole by who
/// did it, and by when when its first and last hits fall on the same side of a window's edge.
type BurstKey = (String, Option<String>, String, String, Option<String>);

/// Collects a day's hits in the order they were raised and keeps them as [`KeptHit`]s: every
/// hit on its own, except that a burst of more than [`BURST_LISTED`] hits of a grouped rule
/// (a principal's every call on a weekend, a denied loop) is kept as its first and last hits
/// and a count. Merged ([`Alert::merge`]) the kept hits make the alerts the hits make, with
/// the same first events, last events, counts and severities, and each alert's text from the
/// same first hit.
///
/// A passed role's hits stay on their own whatever their number: a reader raises them one by
/// one ([`crate::rules::RuleSet::raise_passed_admin_stored`]).
#[derive(Debug, Default)]
pub struct HitKeeper {
    ones: Vec<(u64, StoredHit)>,
    bursts: HashMap<BurstKey, Burst>,
    seq: u64,
    held: usize,
}

#[derive(Debug)]
struct Burst {
    first_seq: u64,
    head: Vec<(u64, StoredHit)>,
    last: Option<(u64, StoredHit)>,
    more: u64,
    severity: Severity,
}

impl HitKeeper {
    /// Takes the next hit.
    pub fn push(&mut self, hit: StoredHit) {
        let seq = self.seq;
        self.seq += 1;
        let key = match &hit.group {
            Some(g) if hit.rule != crate::rules::ROLE_PASSED_RULE_ID => (
                hit.rule.clone(),
                hit.event.account.clone(),
                g.clone(),
                hit.event.actor.clone(),
                hit.event.principal_arn.clone(),
            ),
            _ => {
                self.ones.push((seq, hit));
                self.held += 1;
                return;
            }
        };
        let b = self.bursts.entry(key).or_insert_with(|| Burst {
            first_seq: seq,
            head: Vec::new(),
            last: None,
            more: 0,
            severity: hit.severity,
        });
        b.severity = b.severity.max(hit.severity);
        if b.head.len() < BURST_LISTED - 1 {
            b.head.push((seq, hit));
            self.held += 1;
        } else if b.last.replace((seq, hit)).is_some() {
            b.more += 1;
        } else {
            self.held += 1;
        }
    }

    /// Stored hits held (listed ones; a burst's unlisted hits are only counted).
    pub fn held(&self) -> usize {
        self.held
    }

    /// The kept hits, in the order of their first hits.
    pub fn finish(self) -> Vec<KeptHit> {
        let mut out: Vec<(u64, KeptHit)> = self
            .ones
            .into_iter()
            .map(|(seq, h)| (seq, KeptHit::One(h)))
            .collect();
        for (_, b) in self.bursts {
            if b.more == 0 {
                out.extend(
                    b.head
                        .into_iter()
                        .chain(b.last)
                        .map(|(seq, h)| (seq, KeptHit::One(h))),
                );
            } else {
                out.push((
                    b.first_seq,
                    KeptHit::Burst(StoredBurst {
                        listed: b.head.into_iter().chain(b.last).map(|(_, h)| h).collect(),
                        more: b.more,
                        severity: b.severity,
                    }),
                ));
            }
        }
        out.sort_by_key(|(seq, _)| *seq);
        out.into_iter().map(|(_, k)| k).collect()
    }
}

/// One message's worth of findings: one rule, one or more events.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub rule_id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub details: Vec<(Cow<'static, str>, String)>,
    /// Oldest first; never empty.
    pub events: Vec<EventFacts>,
    #[serde(skip)]
    pub rule: &'static Rule,
    /// The burst key that grouped the events, if the rule groups.
    #[serde(skip)]
    pub group: Option<String>,
    /// Events of the alert not in `events`: a long burst read back from a kept day lists only
    /// its first and last events ([`StoredBurst`]). Zero for every alert the alerter raises.
    #[serde(skip_serializing_if = "is_zero")]
    pub more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Alert {
    /// Groups hits into alerts, in the order their first events were given.
    pub fn from_hits(hits: Vec<Hit<'_>>) -> Vec<Alert> {
        let mut merger = AlertMerger::default();
        hits.into_iter().for_each(|h| merger.push_hit(h));
        merger.finish()
    }

    /// One hit's alert, owning what it needs of the event.
    pub fn of_hit(hit: Hit<'_>) -> Alert {
        Alert {
            rule_id: hit.rule.id,
            title: hit.rule.title,
            severity: hit.severity,
            summary: hit.finding.summary,
            details: hit
                .finding
                .details
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
            events: vec![EventFacts::of(hit.event)],
            rule: hit.rule,
            group: hit.finding.group,
            more: 0,
        }
    }

    /// Merges alerts of one rule with the same burst key in the same account (alerts from
    /// several batches of one run, say), keeping the first one's text.
    pub fn merge(alerts: Vec<Alert>) -> Vec<Alert> {
        let mut merger = AlertMerger::default();
        alerts.into_iter().for_each(|a| merger.push(a));
        merger.finish()
    }

    /// The ledger keys of every event in the alert.
    pub fn keys(&self) -> Vec<AlertKey> {
        let rule_id = RuleId::new(self.rule_id).expect("rule ids are valid");
        self.events
            .iter()
            .map(|e| AlertKey {
                event_id: e.event_id.clone(),
                rule_id: rule_id.clone(),
            })
            .collect()
    }

    fn first(&self) -> &EventFacts {
        &self.events[0]
    }

    /// How many events the alert is about, listed or not.
    pub fn count(&self) -> usize {
        self.events.len() + self.more
    }

    /// The subject line: severity, title, actor and account.
    pub fn subject(&self) -> String {
        let e = self.first();
        let count = if self.count() > 1 {
            format!(" (x{})", self.count())
        } else {
            String::new()
        };
        format!(
            "[{}] {}: {} in {}{count}",
            self.severity.as_str().to_uppercase(),
            self.title,
            e.actor,
            e.account_str()
        )
    }

    /// The plain-text body.
    pub fn body(&self) -> String {
        let e = self.first();
        let mut b = String::new();
        let _ = writeln!(b, "{} ({} severity)", self.title, self.severity);
        let _ = writeln!(b);
        let what = if self.count() > 1 {
            format!("{} ({} events)", self.summary, self.count())
        } else {
            self.summary.clone()
        };
        let _ = writeln!(b, "What happened: {what}");
        let who = match &e.principal_arn {
            Some(arn) if arn != &e.actor => format!("{} ({}, {arn})", e.actor, e.principal_type),
            _ => format!("{} ({})", e.actor, e.principal_type),
        };
        let _ = writeln!(b, "Who:           {who}");
        let from = match &e.user_agent {
            Some(ua) => format!(
                "{} using {}",
                e.source_ip,
                ua.chars().take(120).collect::<String>()
            ),
            None => e.source_ip.clone(),
        };
        let _ = writeln!(b, "From:          {from}");
        let when = if self.events.len() > 1 {
            let last = self.events.last().expect("non-empty");
            format!("{} to {}", rfc3339(e.time), rfc3339(last.time))
        } else {
            rfc3339(e.time)
        };
        let _ = writeln!(b, "When:          {when}");
        let _ = writeln!(
            b,
            "Where:         account {}, region {}",
            e.account_str(),
            e.region
        );
        let _ = writeln!(b, "Call:          {} (event {})", e.call(), e.event_id);
        for (label, value) in &self.details {
            let _ = writeln!(b, "{:<15}{value}", format!("{label}:"));
        }
        if self.events.len() > 1 {
            let _ = writeln!(b);
            let _ = writeln!(b, "Events:");
            for ev in self.events.iter().take(MAX_LISTED) {
                let _ = writeln!(
                    b,
                    "  {}  {}  {}  {}  {}",
                    rfc3339(ev.time),
                    ev.call(),
                    ev.actor,
                    ev.source_ip,
                    ev.event_id
                );
            }
            let listed = self.events.len().min(MAX_LISTED);
            if self.count() > listed {
                let _ = writeln!(b, "  ... and {} more", self.count() - listed);
            }
        }
        let _ = writeln!(b);
        let _ = writeln!(b, "Why it matters: {}", self.rule.why);
        let _ = writeln!(b);
        let _ = writeln!(b, "What to check: {}", self.rule.check);
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "Rule {} ({}). Tune: {}",
            self.rule_id,
            self.rule.references.first().copied().unwrap_or(""),
            self.rule.tuning
        );
        b
    }

    /// The message: subject, body, and the attributes subscription filter policies use.
    pub fn notification(&self) -> Result<Notification> {
        let e = self.first();
        Ok(
            Notification::new(&self.subject(), self.body(), self.severity)?
                .with_attribute("severity", self.severity.as_str())
                .with_attribute("rule_id", self.rule_id)
                .with_attribute("event_name", e.name.clone())
                .with_attribute("account", e.account_str().to_owned()),
        )
    }
}

/// Events listed in one grouped alert's body.
const MAX_LISTED: usize = 20;

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One message for many alerts: counts by rule, then one line per alert.
pub fn digest(alerts: &[Alert]) -> Result<Notification> {
    digest_with(alerts, None)
}

/// One message for alerts on events older than the alerter's age limit (`limit_hours`): they
/// arrived late (collection was down or behind), so they are summarised, criticals included,
/// rather than sent one by one or dropped.
pub fn late_digest(alerts: &[Alert], limit_hours: i64) -> Result<Notification> {
    digest_with(alerts, Some(limit_hours))
}

fn digest_with(alerts: &[Alert], late_limit_hours: Option<i64>) -> Result<Notification> {
    let events: usize = alerts.iter().map(Alert::count).sum();
    let highest = alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Low);
    let mut by_severity: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, (usize, Severity, &str)> = BTreeMap::new();
    let mut accounts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in alerts {
        *by_severity
            .entry(std::cmp::Reverse(a.severity))
            .or_default() += 1;
        let r = by_rule.entry(a.rule_id).or_insert((0, a.severity, a.title));
        r.0 += 1;
        r.1 = r.1.max(a.severity);
        *accounts.entry(a.first().account_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_severity
        .iter()
        .map(|(s, n)| format!("{n} {}", s.0))
        .collect();
    let mut b = String::new();
    let subject = match late_limit_hours {
        None => {
            let _ = writeln!(
                b,
                "{} alerts on {events} events were raised at once; they are summarised here so that",
                alerts.len()
            );
            let _ = writeln!(
                b,
                "e-mail delivery stays under its rate limit. Critical alerts were sent on their own."
            );
            format!("[DIGEST] {} alerts: {}", alerts.len(), counts.join(", "))
        }
        Some(hours) => {
            let _ = writeln!(
                b,
                "{} findings on {events} events older than the age limit ({hours} h) were collected",
                alerts.len()
            );
            let _ = writeln!(
                b,
                "late (collection was down or behind, or this is a backfill). They are summarised"
            );
            let _ = writeln!(
                b,
                "here, critical ones included, instead of being sent one by one; check them below."
            );
            format!(
                "[LATE] {} findings older than {hours} h: {}",
                alerts.len(),
                counts.join(", ")
            )
        }
    };
    let _ = writeln!(b);
    let _ = writeln!(b, "By rule:");
    let mut rules: Vec<_> = by_rule.into_iter().collect();
    rules.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(b.1.0.cmp(&a.1.0)));
    for (id, (n, sev, title)) in &rules {
        let _ = writeln!(b, "  {n:>5}  {sev:<8}  {title} ({id})");
    }
    let _ = writeln!(b);
    let _ = writeln!(
        b,
        "Accounts: {}",
        accounts
            .iter()
            .map(|(a, n)| format!("{a} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(b);
    let _ = writeln!(b, "Alerts, most severe first:");
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by(|x, y| {
        y.severity
            .cmp(&x.severity)
            .then(x.first().time.cmp(&y.first().time))
    });
    let mut listed = 0;
    for a in &sorted {
        // SNS messages are limited to 256 KB; stop well before.
        if b.len() > DIGEST_BODY_LIMIT {
            break;
        }
        let e = a.first();
        let n = if a.count() > 1 {
            format!(" ({} events)", a.count())
        } else {
            String::new()
        };
        let _ = writeln!(
            b,
            "  {}  {:<8}  {}  {}  {}/{}  {}{n}  [{}]",
            rfc3339(e.time),
            a.severity,
            a.rule_id,
            e.actor,
            e.account_str(),
            e.region,
            a.summary,
            e.event_id
        );
        listed += 1;
    }
    if listed < sorted.len() {
        let _ = writeln!(
            b,
            "  ... and {} more (`iat events` or the Athena table list them all)",
            sorted.len() - listed
        );
    }
    let account = if accounts.len() == 1 {
        accounts.keys().next().copied().unwrap_or("-")
    } else {
        "multiple"
    };
    Ok(Notification::new(&subject, b, highest)?
        .with_attribute("severity", highest.as_str())
        .with_attribute("rule_id", "digest")
        .with_attribute("event_name", "digest")
        .with_attribute("account", account))
}

/// Body size at which a digest stops listing alerts one per line.
const DIGEST_BODY_LIMIT: usize = 200 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::records::RecordSpec;
    use crate::rules::RuleSet;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// What a reader compares: each alert's rule, severity, text, count, first and last event.
    fn outline(alerts: &[Alert]) -> Vec<String> {
        alerts
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {:?} x{} {}..{}",
                    a.rule_id,
                    a.severity,
                    a.summary,
                    a.details,
                    a.count(),
                    a.events[0].event_id,
                    a.events[a.events.len() - 1].event_id
                )
            })
            .collect()
    }

    #[test]
    fn a_long_burst_is_kept_as_its_first_and_last_hits_and_merges_as_its_hits_do() {
        let at = |i: i64| t("2026-03-03T10:00:00Z") + chrono::Duration::seconds(i);
        let denied = |id: String, i: i64, user: &str| {
            RecordSpec::new(&id, at(i))
                .user(user)
                .name("sqs.amazonaws.com", "CreateQueue")
                .error("AccessDenied", "is not authorized to perform: sqs:CreateQueue with an explicit deny in a service control policy")
                .event()
        };
        let mut events = Vec::new();
        for i in 0..50 {
            // alice's long burst; bob's exactly as long as a burst lists; a pass every other
            // second (a passed role's hits are raised one by one, so never kept as a burst).
            events.push(denied(format!("alice-{i:03}"), i * 10, "alice"));
            if i < BURST_LISTED as i64 {
                events.push(denied(format!("bob-{i:03}"), i * 10 + 1, "bob"));
            }
            events.push(
                RecordSpec::new(&format!("pass-{i:03}"), at(i * 10 + 2))
                    .name("lambda.amazonaws.com", "CreateFunction20150331")
                    .params(json!({"functionName": format!("f{i}"), "role": "arn:aws:iam::111122223333:role/app"}))
                    .event(),
            );
        }
        let rules = RuleSet::default_rules();
        let hits = rules.evaluate_all(&events);
        let mut stored: Vec<StoredHit> = hits.iter().cloned().map(StoredHit::of).collect();
        // One of alice's unlisted hits is high: the burst is, as the merged alert is.
        let unlisted = stored
            .iter()
            .position(|h| h.event.event_id == "alice-030")
            .unwrap();
        stored[unlisted].severity = Severity::High;
        let all_alerts = Alert::merge(
            stored
                .iter()
                .cloned()
                .map(|h| h.into_alert().unwrap())
                .collect(),
        );
        let mut keeper = HitKeeper::default();
        for h in stored {
            keeper.push(h);
        }
        assert_eq!(keeper.held(), BURST_LISTED + BURST_LISTED + 50);
        let kept = keeper.finish();
        let bursts: Vec<&StoredBurst> = kept
            .iter()
            .filter_map(|k| match k {
                KeptHit::Burst(b) => Some(b),
                KeptHit::One(_) => None,
            })
            .collect();
        assert_eq!(bursts.len(), 1);
        let b = bursts[0];
        assert_eq!(b.listed.len(), BURST_LISTED);
        assert_eq!(b.more, 50 - BURST_LISTED as u64);
        assert_eq!(b.severity, Severity::High);
        assert_eq!(b.listed[0].event.event_id, "alice-000");
        assert_eq!(
            b.listed[BURST_LISTED - 2].event.event_id,
            format!("alice-{:03}", BURST_LISTED - 2)
        );
        assert_eq!(b.listed[BURST_LISTED - 1].event.event_id, "alice-049");
        assert_eq!(
            kept.iter().map(KeptHit::count).sum::<u64>(),
            hits.len() as u64
        );
        // The burst stands where its first hit stood: first of all.
        assert!(matches!(kept[0], KeptHit::Burst(_)));
        let kept_alerts = Alert::merge(kept.into_iter().map(|k| k.into_alert().unwrap()).collect());
        let outlined = outline(&kept_alerts);
        assert_eq!(outlined, outline(&all_alerts));
        assert_eq!(outlined.len(), 3, "{outlined:#?}");
        assert!(
            outlined[0].contains("HIGH") || outlined[0].contains("high"),
            "{outlined:#?}"
        );
        assert_eq!(kept_alerts[0].more, 50 - BURST_LISTED);
        assert!(
            kept_alerts[0].subject().ends_with("(x50)"),
            "{}",
            kept_alerts[0].subject()
        );
        assert!(
            kept_alerts[0]
                .body()
                .contains(&format!("... and {} more", 50 - BURST_LISTED)),
            "{}",
            kept_alerts[0].body()
        );
    }

    #[test]
    fn a_kept_burst_that_lists_nothing_or_mixes_rules_is_refused() {
        let e = RecordSpec::new("e1", t("2026-03-03T10:00:00Z")).event();
        let hit = |rule: &str| StoredHit {
            rule: rule.to_owned(),
            severity: Severity::Low,
            summary: "s".into(),
            details: Vec::new(),
            group: Some("g".into()),
            event: LoggedEvent::of(&EventFacts::of(&e)),
            user_agent: None,
        };
        let empty = KeptHit::Burst(StoredBurst {
            listed: Vec::new(),
            more: 3,
            severity: Severity::Low,
        });
        assert!(empty.first().is_none());
        assert!(empty.into_alert().is_err());
        let mixed = KeptHit::Burst(StoredBurst {
            listed: vec![hit("access_denied"), hit("off_hours_activity")],
            more: 3,
            severity: Severity::Low,
        });
        assert!(mixed.into_alert().is_err());
    }

    #[test]
    fn a_burst_of_denials_is_one_alert_naming_the_count() {
        let events: Vec<ActivityEvent> = (0..5)
            .map(|i| {
                RecordSpec::new(&format!("e{i}"), t("2026-03-03T10:00:00Z") + chrono::Duration::seconds(i))
                    .name("sqs.amazonaws.com", "CreateQueue")
                    .error("AccessDenied", "is not authorized to perform: sqs:CreateQueue with an explicit deny in a service control policy")
                    .event()
            })
            .collect();
        let rules = RuleSet::default_rules();
        let alerts = Alert::from_hits(rules.evaluate_all(&events));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.keys().len(), 5);
        assert_eq!(
            a.subject(),
            "[MEDIUM] Access denied: alice in 111122223333 (x5)"
        );
        let body = a.body();
        assert!(
            body.contains("(5 events)")
                && body.contains("2026-03-03T10:00:00Z to 2026-03-03T10:00:04Z"),
            "{body}"
        );
    }

    #[test]
    fn the_message_says_what_who_where_when_why_and_what_to_check() {
        let e = RecordSpec::new("ev-1", t("2026-03-03T10:00:00Z"))
            .name("iam.amazonaws.com", "AttachRolePolicy")
            .params(json!({"roleName": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
            .event();
        let rules = RuleSet::default_rules();
        let alerts = Alert::from_hits(rules.evaluate_all(std::slice::from_ref(&e)));
        let n = alerts[0].notification().unwrap();
        assert!(n.subject.as_str().chars().count() < 100);
        for part in [
            "What happened: AdministratorAccess attached to role ops",
            "Who:",
            "From:          203.0.113.10",
            "When:          2026-03-03T10:00:00Z",
            "Where:         account 111122223333, region us-east-1",
            "Why it matters:",
            "What to check:",
        ] {
            assert!(n.body.contains(part), "missing {part:?} in\n{}", n.body);
        }
        assert_eq!(n.attributes["rule_id"], "admin_policy_attached");
        assert_eq!(n.attributes["severity"], "high");
        assert_eq!(n.attributes["event_name"], "AttachRolePolicy");
        assert_eq!(n.attributes["account"], "111122223333");
    }

    #[test]
    fn a_digest_counts_by_rule_and_stays_under_the_sns_limit() {
        let events: Vec<ActivityEvent> = (0..3000)
            .map(|i| {
                RecordSpec::new(&format!("e{i}"), t("2026-03-03T10:00:00Z"))
                    .user(&format!("user{i}"))
                    .name("iam.amazonaws.com", "CreateUser")
                    .params(json!({"userName": format!("new{i}")}))
                    .event()
            })
            .collect();
        let alerts = Alert::from_hits(RuleSet::default_rules().evaluate_all(&events));
        assert_eq!(alerts.len(), 3000);
        let d = digest(&alerts).unwrap();
        assert_eq!(d.subject.as_str(), "[DIGEST] 3000 alerts: 3000 medium");
        assert!(
            d.body
                .contains(" 3000  medium    IAM user created (iam_user_created)"),
            "{}",
            &d.body[..600]
        );
        assert!(d.body.len() < 256 * 1024 - 1024 && d.body.contains("more"));
        assert_eq!(d.attributes["rule_id"], "digest");
    }
}
