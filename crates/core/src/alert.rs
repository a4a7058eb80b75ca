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
        })
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

    /// The subject line: severity, title, actor and account.
    pub fn subject(&self) -> String {
        let e = self.first();
        let count = if self.events.len() > 1 {
            format!(" (x{})", self.events.len())
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
        let what = if self.events.len() > 1 {
            format!("{} ({} events)", self.summary, self.events.len())
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
            if self.events.len() > MAX_LISTED {
                let _ = writeln!(b, "  ... and {} more", self.events.len() - MAX_LISTED);
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
    let events: usize = alerts.iter().map(|a| a.events.len()).sum();
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
        let n = if a.events.len() > 1 {
            format!(" ({} events)", a.events.len())
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
