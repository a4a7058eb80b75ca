//! "First seen": what is new is what matters.
//!
//! Four rules ([`rules::FIRST_SEEN`](crate::rules::FIRST_SEEN)) fire on the first time
//! something is seen: a principal calling a service, an account active in a region, an action
//! denied anywhere in the organisation, a principal using a network. They need state (what was
//! seen before), kept in a [`SeenStore`], so they are evaluated here over a whole batch rather
//! than by the pure per-event evaluator.
//!
//! The decisions to know:
//! - Nothing fires while its owner is learning: a principal younger than `SEEN_LEARN_DAYS`
//!   (from its first event), an account (for regions) or the whole store (for denials) likewise.
//!   A 90-day backfill therefore builds the state without alerting.
//! - Events older than two days at evaluation time only teach: a late or backfilled event never
//!   raises a first-seen alert.
//! - One batch costs one bulk read of its keys (100 keys a request on DynamoDB) and writes only
//!   for keys not seen before, keys moved back by a late event, and keys whose expiry is within
//!   half the forget window (refreshed so what is in use is never forgotten).
//! - An alert is raised only by the event whose write the store kept, so two concurrent
//!   batches never both alert, and a retried batch alerts again for the keys it wrote (the
//!   ledger then sends it once).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::model::{ActivityEvent, EventType, PrincipalType, Severity};
use crate::ports::{SeenKey, SeenKind, SeenRecord, SeenStore};
use crate::rules::{Finding, Hit, Rule, RuleSet};

/// How the first-seen rules learn and forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenSettings {
    /// `SEEN_LEARN_DAYS`: nothing fires for a principal (account, organisation) younger than this.
    pub learn: Duration,
    /// `SEEN_FORGET_DAYS`: a key unused for this long is forgotten.
    pub forget: Duration,
    /// `SEEN_SERVICE_READS`: `first_service_use` also fires on read-only calls.
    pub service_reads: bool,
    /// Events older than this at evaluation time only teach.
    pub alert_within: Duration,
}

impl Default for SeenSettings {
    fn default() -> Self {
        Self {
            learn: Duration::days(14),
            forget: Duration::days(90),
            service_reads: false,
            alert_within: Duration::days(2),
        }
    }
}

/// The state key of the principal behind an event: the role (not the session) for role
/// sessions, the ARN otherwise; `None` for AWS services acting on their own.
pub fn principal_scope(e: &ActivityEvent) -> Option<String> {
    let p = &e.principal;
    match p.kind {
        PrincipalType::AwsService => None,
        PrincipalType::AssumedRole | PrincipalType::Role => p
            .session_issuer_arn
            .clone()
            .or_else(|| {
                let account = p
                    .account
                    .as_deref()
                    .or(e.account.as_ref().map(|a| a.as_str()))?;
                p.role_name
                    .as_ref()
                    .map(|r| format!("arn:aws:iam::{account}:role/{r}"))
            })
            .or_else(|| p.arn.clone()),
        PrincipalType::Root => Some(format!(
            "arn:aws:iam::{}:root",
            p.account
                .as_deref()
                .or(e.account.as_ref().map(|a| a.as_str()))
                .unwrap_or("unknown")
        )),
        _ => p.arn.clone().or_else(|| {
            Some(format!(
                "{}/{}",
                e.account.as_ref().map(|a| a.as_str()).unwrap_or("unknown"),
                p.actor
            ))
        }),
    }
}

/// An IPv4 address's /24 or an IPv6 address's /48, as CIDR text.
pub fn network_of(addr: std::net::IpAddr) -> String {
    match addr {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn action_of(e: &ActivityEvent) -> String {
    format!("{}:{}", e.source.trim_end_matches(".amazonaws.com"), e.name)
}

fn is_write(e: &ActivityEvent) -> bool {
    e.read_only != Some(true)
}

/// Which first-seen rule reads a kind of key, and the scope whose age gates it.
fn gate(kind: SeenKind) -> Option<(&'static str, SeenKind)> {
    match kind {
        SeenKind::Service => Some(("first_service_use", SeenKind::Principal)),
        SeenKind::Region => Some(("first_region_use", SeenKind::Account)),
        SeenKind::Denied => Some(("first_denied_action", SeenKind::Organisation)),
        SeenKind::Network => Some(("new_network_for_principal", SeenKind::Principal)),
        _ => None,
    }
}

/// The key recording that a role of `account` was granted an admin policy.
pub fn admin_role_key(account: &str, role: &str) -> SeenKey {
    SeenKey::new(account, SeenKind::AdminRole, role)
}

/// The keys one event touches: its learning scopes first, then what it may be first at.
pub fn keys_of(e: &ActivityEvent, settings: &SeenSettings) -> Vec<SeenKey> {
    if e.event_type == EventType::AwsServiceEvent {
        return Vec::new();
    }
    let Some(p) = principal_scope(e) else {
        return Vec::new();
    };
    let account = e.account.as_ref().map(|a| a.to_string());
    let mut keys = vec![
        SeenKey::new(p.as_str(), SeenKind::Principal, ""),
        SeenKey::new("*", SeenKind::Organisation, ""),
    ];
    if let Some(a) = &account {
        keys.push(SeenKey::new(a.as_str(), SeenKind::Account, ""));
    }
    let ok = e.error_code.is_none();
    if ok && (settings.service_reads || is_write(e)) {
        keys.push(SeenKey::new(
            p.as_str(),
            SeenKind::Service,
            e.source.as_str(),
        ));
    }
    if ok && is_write(e) {
        keys.push(SeenKey::new(p.as_str(), SeenKind::Action, action_of(e)));
    }
    if let Some(a) = &account
        && e.region.is_code()
    {
        keys.push(SeenKey::new(
            a.as_str(),
            SeenKind::Region,
            e.region.as_str(),
        ));
    }
    if e.denial.is_some() {
        keys.push(SeenKey::new("*", SeenKind::Denied, action_of(e)));
    }
    let sign_in = e
        .console_login
        .as_ref()
        .is_some_and(|l| matches!(l.outcome, crate::model::ConsoleLoginOutcome::Success));
    if let Some(addr) = e.source_ip.addr
        && (sign_in || (ok && is_write(e)))
    {
        keys.push(SeenKey::new(
            p.as_str(),
            SeenKind::Network,
            network_of(addr),
        ));
    }
    keys
}

/// A first seeing that fires if the store keeps this event's write.
#[derive(Debug)]
struct Candidate<'e> {
    event: &'e ActivityEvent,
    rule: &'static Rule,
    severity: Severity,
    key: SeenKey,
    finding: Finding,
}

/// What a batch read, wrote and raised.
#[derive(Debug, Default)]
pub struct SeenRun<'e> {
    pub hits: Vec<Hit<'e>>,
    /// Keys read in the bulk read.
    pub keys_read: usize,
    /// Records written (new keys, keys moved back, refreshes).
    pub writes: usize,
    /// Candidates whose key another writer kept.
    pub lost_races: usize,
}

/// Runs the enabled first-seen rules of `rules` over one batch against `store`.
pub async fn evaluate<'e>(
    store: &dyn SeenStore,
    rules: &RuleSet,
    events: &'e [ActivityEvent],
    now: DateTime<Utc>,
) -> Result<SeenRun<'e>> {
    let enabled: HashMap<&'static str, (&'static Rule, Severity)> = rules
        .first_seen_rules()
        .map(|(r, s)| (r.id, (r, s)))
        .collect();
    if enabled.is_empty() {
        return Ok(SeenRun::default());
    }
    let settings = rules.seen_settings();
    let mut order: Vec<&'e ActivityEvent> = events.iter().filter(|e| !rules.is_quiet(e)).collect();
    order.sort_by(|a, b| (a.time, a.id.as_str()).cmp(&(b.time, b.id.as_str())));
    let per_event: Vec<Vec<SeenKey>> = order
        .iter()
        .map(|e| {
            let mut keys = keys_of(e, &settings);
            keys.extend(admin_grant(e, rules));
            keys
        })
        .collect();
    let wanted: BTreeSet<SeenKey> = per_event.iter().flatten().cloned().collect();
    let wanted: Vec<SeenKey> = wanted.into_iter().collect();
    let known = store.get(&wanted, now).await?;

    let mut state: HashMap<SeenKey, SeenRecord> = known.clone();
    let mut changed: BTreeMap<SeenKey, SeenRecord> = BTreeMap::new();
    let mut candidates = Vec::new();
    let record = |e: &ActivityEvent| SeenRecord {
        first: e.time,
        event_id: e.id.to_string(),
        expires: now + settings.forget,
    };
    for (e, keys) in order.iter().zip(&per_event) {
        for key in keys {
            let first_here = match state.get(key) {
                None => {
                    state.insert(key.clone(), record(e));
                    changed.insert(key.clone(), record(e));
                    true
                }
                Some(r) if r.event_id == e.id.as_str() && r.first == e.time => true,
                Some(r) if r.first > e.time => {
                    // A late event older than the stored first seeing takes the key back.
                    let mut earlier = record(e);
                    earlier.expires = earlier.expires.max(r.expires);
                    state.insert(key.clone(), earlier.clone());
                    changed.insert(key.clone(), earlier);
                    false
                }
                Some(r) => {
                    if r.expires - now < settings.forget / 2 {
                        let mut fresh = r.clone();
                        fresh.expires = now + settings.forget;
                        state.insert(key.clone(), fresh.clone());
                        changed.insert(key.clone(), fresh);
                    }
                    false
                }
            };
            let Some((rule_id, owner_kind)) = gate(key.kind) else {
                continue;
            };
            let Some(&(rule, severity)) = enabled.get(rule_id) else {
                continue;
            };
            if !first_here || now - e.time > settings.alert_within {
                continue;
            }
            let owner = keys
                .iter()
                .find(|k| k.kind == owner_kind)
                .and_then(|k| state.get(k));
            let Some(known_since) = owner
                .filter(|r| e.time - r.first >= settings.learn)
                .map(|r| r.first)
            else {
                continue;
            };
            candidates.push(Candidate {
                event: e,
                rule,
                severity,
                key: key.clone(),
                finding: finding(key, e, known_since),
            });
        }
    }

    let writes: Vec<(SeenKey, SeenRecord)> = changed.into_iter().collect();
    let stored = if writes.is_empty() {
        Vec::new()
    } else {
        store.put(&writes, now).await?
    };
    let kept: HashMap<&SeenKey, &SeenRecord> = writes.iter().map(|(k, _)| k).zip(&stored).collect();
    let mut run = SeenRun {
        keys_read: wanted.len(),
        writes: writes.len(),
        ..SeenRun::default()
    };
    for c in candidates {
        let winner = kept.get(&c.key).copied().or_else(|| known.get(&c.key));
        if winner.is_some_and(|r| r.event_id == c.event.id.as_str() && r.first == c.event.time) {
            run.hits.push(Hit {
                rule: c.rule,
                severity: c.severity,
                finding: c.finding,
                event: c.event,
            });
        } else {
            run.lost_races += 1;
        }
    }
    Ok(run)
}

/// The admin-role key of a successful `AttachRolePolicy` of an admin policy.
fn admin_grant(e: &ActivityEvent, rules: &RuleSet) -> Option<SeenKey> {
    let role = crate::rules::admin_role_granted(e, rules.settings())?;
    let account = e.account.as_ref()?;
    Some(admin_role_key(account.as_str(), &role))
}

/// Raises `role_passed_to_service` hits to high when the role passed was granted an admin
/// policy in an earlier run (the same run is [`RuleSet::evaluate_all`]'s): one bulk read of
/// the passed roles' keys, only when a batch passed a role.
pub async fn raise_passed_admin_roles(
    store: &dyn SeenStore,
    rules: &RuleSet,
    hits: &mut [Hit<'_>],
    now: DateTime<Utc>,
) -> Result<()> {
    let passed = |h: &Hit<'_>| -> Vec<SeenKey> {
        let Some(account) = h.event.account.as_ref() else {
            return Vec::new();
        };
        crate::rules::passed_role_names(h.event)
            .into_iter()
            .map(|name| admin_role_key(account.as_str(), &name))
            .collect()
    };
    let candidates: Vec<usize> = hits
        .iter()
        .enumerate()
        .filter(|(_, h)| h.rule.id == "role_passed_to_service" && h.severity < Severity::High)
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() || rules.severity_overridden("role_passed_to_service") {
        return Ok(());
    }
    let keys: BTreeSet<SeenKey> = candidates.iter().flat_map(|&i| passed(&hits[i])).collect();
    let keys: Vec<SeenKey> = keys.into_iter().collect();
    let admins = store.get(&keys, now).await?;
    for i in candidates {
        let h = &mut hits[i];
        if let Some((k, r)) = passed(h)
            .into_iter()
            .find_map(|k| admins.get(&k).map(|r| (k, r.clone())))
        {
            h.severity = Severity::High;
            h.finding.severity = Some(Severity::High);
            h.finding.summary.push_str(&format!(
                " (role {} was granted an admin policy on {})",
                k.value,
                r.first.format("%Y-%m-%d")
            ));
            h.finding.details.push(("Admin role", k.value));
        }
    }
    Ok(())
}

/// The finding of a first seeing; `known_since` is when its owner (the principal, the account,
/// the organisation's state) was first seen.
fn finding(key: &SeenKey, e: &ActivityEvent, known_since: DateTime<Utc>) -> Finding {
    let f = match key.kind {
        SeenKind::Service => Finding::new(format!(
            "first call to {} by this principal ({})",
            key.value.trim_end_matches(".amazonaws.com"),
            action_of(e)
        ))
        .group(format!("{}|first-service", key.scope)),
        SeenKind::Region => Finding::new(format!(
            "first activity of account {} in {}",
            key.scope, key.value
        ))
        .group(format!("{}|{}", key.scope, key.value)),
        SeenKind::Denied => Finding::new(format!(
            "{} denied for the first time in the organisation",
            key.value
        ))
        .group(key.value.clone()),
        SeenKind::Network => Finding::new(format!(
            "{} from {}, a network this principal never used",
            if e.console_login.is_some() {
                "console sign-in".to_owned()
            } else {
                action_of(e)
            },
            key.value
        ))
        .group(format!("{}|new-network", key.scope)),
        _ => Finding::new("first seen"),
    };
    let (owner, since) = match key.kind {
        SeenKind::Region => ("Account", "Account known since"),
        SeenKind::Denied => ("", "Denials watched since"),
        _ => ("Principal", "Principal known since"),
    };
    let f = if owner.is_empty() {
        f
    } else {
        f.detail(owner, key.scope.clone())
    };
    f.detail(
        since,
        known_since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::records::RecordSpec;
    use crate::ports::MemorySeenStore;
    use crate::rules::RuleSetConfig;

    fn day(d: i64) -> DateTime<Utc> {
        "2026-01-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(d)
    }

    fn at(id: &str, d: i64) -> RecordSpec {
        RecordSpec::new(id, day(d))
    }

    async fn fired(
        store: &MemorySeenStore,
        rules: &RuleSet,
        events: &[ActivityEvent],
        now: DateTime<Utc>,
    ) -> Vec<(String, &'static str)> {
        let run = evaluate(store, rules, events, now).await.unwrap();
        let mut out: Vec<(String, &'static str)> = run
            .hits
            .iter()
            .map(|h| (h.event.id.to_string(), h.rule.id))
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn learns_quietly_then_fires_once_on_what_is_new() {
        let store = MemorySeenStore::new();
        let rules = RuleSet::default_rules();
        // Day 0: alice appears, using IAM from one network; nothing fires while she is new.
        let first = at("a0", 0).name("iam.amazonaws.com", "CreateGroup").event();
        assert!(fired(&store, &rules, &[first], day(0)).await.is_empty());
        // Day 5: a new service, still learning.
        let early = at("a5", 5).name("kms.amazonaws.com", "CreateKey").event();
        assert!(fired(&store, &rules, &[early], day(5)).await.is_empty());
        // Day 20: a write to a service she never wrote to, and from a new network.
        let new_service = at("a20", 20)
            .name("secretsmanager.amazonaws.com", "PutSecretValue")
            .ip("198.51.100.7")
            .event();
        let again = at("a20b", 20)
            .name("secretsmanager.amazonaws.com", "DeleteSecret")
            .ip("198.51.100.9")
            .event();
        let known = at("a20c", 20)
            .name("kms.amazonaws.com", "CreateKey")
            .event();
        assert_eq!(
            fired(
                &store,
                &rules,
                &[new_service, again.clone(), known],
                day(20)
            )
            .await,
            [
                ("a20".to_owned(), "first_service_use"),
                ("a20".to_owned(), "new_network_for_principal"),
            ],
            "once per key: the second call to the same service and /24 is not new"
        );
        // Reads do not count as service use by default.
        let read = at("a21", 21)
            .name("sqs.amazonaws.com", "ListQueues")
            .event();
        assert!(fired(&store, &rules, &[read], day(21)).await.is_empty());
        // Only what is new is written.
        let again = [again];
        let run = evaluate(&store, &rules, &again, day(20)).await.unwrap();
        assert_eq!((run.writes, run.hits.len()), (0, 0));
    }

    #[tokio::test]
    async fn regions_and_denials_learn_per_account_and_organisation() {
        let store = MemorySeenStore::new();
        let rules = RuleSet::default_rules();
        let seed = at("s0", 0).place("111122223333", "eu-west-1").event();
        fired(&store, &rules, &[seed], day(0)).await;
        let denied = |id: &str, d: i64, action: &str| {
            at(id, d)
                .user("bob")
                .name("ec2.amazonaws.com", action)
                .place("111122223333", "eu-west-1")
                .error("Client.UnauthorizedOperation", "You are not authorized")
                .event()
        };
        let region = at("r30", 30)
            .user("bob")
            .place("111122223333", "ap-southeast-3")
            .event();
        let got = fired(
            &store,
            &rules,
            &[region, denied("d30", 30, "RunInstances")],
            day(30),
        )
        .await;
        assert_eq!(
            got,
            [
                ("d30".to_owned(), "first_denied_action"),
                ("r30".to_owned(), "first_region_use"),
            ]
        );
        assert!(
            fired(
                &store,
                &rules,
                &[denied("d31", 31, "RunInstances")],
                day(31)
            )
            .await
            .is_empty(),
            "denied before"
        );
    }

    #[tokio::test]
    async fn backfill_only_teaches_and_late_events_move_keys_back() {
        let store = MemorySeenStore::new();
        let rules = RuleSet::default_rules();
        // A 90-day backfill evaluated today: old events never alert.
        let backfill: Vec<ActivityEvent> = (0..90)
            .map(|d| {
                at(&format!("b{d}"), d)
                    .name(&format!("svc{}.amazonaws.com", d % 30), "PutThing")
                    .event()
            })
            .collect();
        assert!(fired(&store, &rules, &backfill, day(91)).await.is_empty());
        let key = SeenKey::new(
            "arn:aws:iam::111122223333:user/alice",
            SeenKind::Service,
            "svc3.amazonaws.com",
        );
        let stored = store
            .get(std::slice::from_ref(&key), day(91))
            .await
            .unwrap();
        assert_eq!(stored[&key].first, day(3), "the earliest of days 3, 33, 63");
        // A late event older than the stored first seeing takes the key back, quietly.
        let late = at("late", 1).name("svc3.amazonaws.com", "PutThing").event();
        assert!(fired(&store, &rules, &[late], day(2)).await.is_empty());
        let stored = store.get(std::slice::from_ref(&key), day(2)).await.unwrap();
        assert_eq!(stored[&key].event_id, "late");
    }

    #[tokio::test]
    async fn a_retried_batch_alerts_again_and_a_second_writer_does_not() {
        let store = MemorySeenStore::new();
        let rules = RuleSet::default_rules();
        fired(&store, &rules, &[at("x0", 0).event()], day(0)).await;
        let mine = [at("m", 20).name("kms.amazonaws.com", "CreateKey").event()];
        let theirs = [at("t", 20)
            .name("kms.amazonaws.com", "ScheduleKeyDeletion")
            .event()];
        let first = fired(&store, &rules, &mine, day(20)).await;
        assert!(first.contains(&("m".to_owned(), "first_service_use")));
        assert_eq!(
            fired(&store, &rules, &mine, day(20)).await,
            first,
            "the same batch again (a retry after a crash) raises the same alerts; the ledger sends them once"
        );
        assert!(
            !fired(&store, &rules, &theirs, day(20))
                .await
                .iter()
                .any(|(_, r)| *r == "first_service_use"),
            "another event of the same second is not first"
        );
    }

    #[tokio::test]
    async fn quiet_actors_and_disabled_rules_read_and_write_nothing() {
        let store = MemorySeenStore::new();
        let allowed = RuleSet::new(RuleSetConfig {
            allowed_actors: vec!["alice".into()],
            ..RuleSetConfig::default()
        })
        .unwrap();
        let one = [at("q", 0).event()];
        let run = evaluate(&store, &allowed, &one, day(0)).await.unwrap();
        assert_eq!((run.keys_read, run.writes), (0, 0));
        let mut config = RuleSetConfig::default();
        for r in crate::rules::FIRST_SEEN {
            config.disabled.insert(r.id.to_owned());
        }
        let off = RuleSet::new(config).unwrap();
        let run = evaluate(&store, &off, &one, day(0)).await.unwrap();
        assert_eq!((run.keys_read, run.writes), (0, 0));
        assert_eq!(store.count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_role_made_admin_in_an_earlier_run_is_high_when_passed() {
        let store = MemorySeenStore::new();
        let rules = RuleSet::default_rules();
        let grant = [at("g", 0)
            .name("iam.amazonaws.com", "AttachRolePolicy")
            .params(serde_json::json!({"roleName": "web", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
            .event()];
        evaluate(&store, &rules, &grant, day(0)).await.unwrap();
        let pass = |id: &str, role: &str| {
            at(id, 3)
                .name("ec2.amazonaws.com", "RunInstances")
                .params(serde_json::json!({"iamInstanceProfile": {"name": role}}))
                .event()
        };
        let later = [pass("p1", "web"), pass("p2", "batch")];
        let mut hits = rules.evaluate_all(&later);
        raise_passed_admin_roles(&store, &rules, &mut hits, day(3))
            .await
            .unwrap();
        let severities: Vec<(&str, Severity)> = hits
            .iter()
            .filter(|h| h.rule.id == "role_passed_to_service")
            .map(|h| (h.event.id.as_str(), h.severity))
            .collect();
        assert_eq!(severities, [("p1", Severity::High), ("p2", Severity::Low)]);
        assert!(
            hits[0]
                .finding
                .summary
                .contains("granted an admin policy on 2026-01-01")
        );
    }

    #[test]
    fn principals_are_roles_not_sessions_and_networks_are_24s_and_48s() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            network_of("2001:db8:abcd:12::1".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        let e = at("p", 0).event();
        assert_eq!(
            principal_scope(&e).as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        let mut raw: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
        raw["userIdentity"] = serde_json::json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/i-0abc", "accountId": "111122223333",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Deploy", "userName": "Deploy"}}});
        let role = crate::normalize(raw.to_string(), &Default::default())
            .unwrap()
            .event;
        assert_eq!(
            principal_scope(&role).as_deref(),
            Some("arn:aws:iam::111122223333:role/Deploy")
        );
    }
}
