//! The alert rules: one file per rule, one plain list ([`ALL`]), one evaluator ([`RuleSet`]).
//!
//! A rule is data plus a pure function: its metadata (id, title, severity, what it detects, why
//! it matters, what to check, how to tune it, references), the events it reads, and
//! `fn(&ActivityEvent, &RuleSettings) -> Option<Finding>`. Adding a rule is one file and one line
//! in [`ALL`], plus its fixtures under `fixtures/rules/<id>/` (`fires-*`, `quiet-*`), which one
//! test checks for every listed rule.
//!
//! The decision to know: rules fire on *what happened*, so a call that failed is not reported as
//! if it succeeded. Only rules about failure itself (a failed root sign-in, access denied, failed
//! console sign-ins) or about a principal that should not be used at all (root) read failed
//! calls; every other rule returns nothing when `errorCode` is set.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::glob::PatternSet;
use serde::Serialize;

use crate::alert::StoredHit;
use crate::error::{Error, Result};
use crate::filter::NoiseFilter;
use crate::model::{ActivityEvent, Severity};
use crate::ports::Interest;

mod config;
pub mod policy;
mod settings;

mod access_denied;
mod access_key_created;
mod access_key_status_changed;
mod account_assignment_created;
mod admin_policy_attached;
mod cloudtrail_tampering;
mod console_login_failed;
mod console_login_unexpected_network;
mod console_login_without_mfa;
mod dangerous_inline_policy;
mod first_denied_action;
mod first_region_use;
mod first_service_use;
mod iam_user_created;
mod mfa_device_removed;
mod new_network_for_principal;
mod off_hours_activity;
mod permission_set_admin_policy;
mod permission_set_created;
mod permission_set_updated;
mod privilege_escalation;
mod role_passed_to_service;
mod root_activity;
mod root_console_login;
mod security_group_changed;
mod security_group_open_to_world;
mod sso_application_created;
mod sso_application_deleted;
mod trust_policy_external;

#[cfg(test)]
pub(crate) mod testing;

pub use config::SETTINGS;
pub use settings::{
    DEFAULT_ADMIN_POLICIES, DEFAULT_DENIED_EXCLUSIONS, RuleSettings, WorkingHours, Zone,
};

/// The rule whose hits the one cross-event step raises ([`RuleSet::raise_passed_admin_roles`]).
pub const ROLE_PASSED_RULE_ID: &str = "role_passed_to_service";

/// Every rule, in the order they are listed and documented.
pub static ALL: &[&Rule] = &[
    &root_console_login::RULE,
    &root_activity::RULE,
    &iam_user_created::RULE,
    &access_key_created::RULE,
    &access_key_status_changed::RULE,
    &mfa_device_removed::RULE,
    &admin_policy_attached::RULE,
    &dangerous_inline_policy::RULE,
    &trust_policy_external::RULE,
    &privilege_escalation::RULE,
    &role_passed_to_service::RULE,
    &permission_set_created::RULE,
    &permission_set_updated::RULE,
    &permission_set_admin_policy::RULE,
    &account_assignment_created::RULE,
    &sso_application_created::RULE,
    &sso_application_deleted::RULE,
    &console_login_unexpected_network::RULE,
    &console_login_without_mfa::RULE,
    &console_login_failed::RULE,
    &access_denied::RULE,
    &security_group_open_to_world::RULE,
    &security_group_changed::RULE,
    &cloudtrail_tampering::RULE,
    &off_hours_activity::RULE,
];

/// The first-seen rules: documented and configured like the others, but evaluated over a batch
/// with state by [`crate::seen::evaluate`], never by [`RuleSet::evaluate`].
pub static FIRST_SEEN: &[&Rule] = &[
    &first_service_use::RULE,
    &first_region_use::RULE,
    &first_denied_action::RULE,
    &new_network_for_principal::RULE,
];

/// The names of the roles (and instance profiles, which usually bear their role's name) an
/// event passes to a service.
pub fn passed_role_names(e: &ActivityEvent) -> Vec<String> {
    role_passed_to_service::passed_roles(&params(e))
        .iter()
        .map(|r| r.name().to_owned())
        .collect()
}

/// The role a successful `AttachRolePolicy` grants an admin policy (one of
/// [`RuleSettings::is_admin_policy`]'s), if the event is one. The one test of "made admin"
/// behind both the same-run raise of [`RuleSet::evaluate_all`] and the remembered admin roles
/// of [`crate::seen`].
pub fn admin_role_granted(e: &ActivityEvent, settings: &RuleSettings) -> Option<String> {
    if e.source != "iam.amazonaws.com" || e.name != "AttachRolePolicy" || !succeeded(e) {
        return None;
    }
    let p = params(e);
    let role = text(&p, "roleName")?;
    settings
        .is_admin_policy(text(&p, "policyArn")?)
        .then(|| role.to_owned())
}

/// The `eval` of a first-seen rule: nothing is decided from one event alone.
pub(crate) fn stateful(_: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    None
}

/// The events a rule reads. The rule set calls a rule only on the events its `Reads` matches,
/// so the union of the enabled rules' reads ([`RuleSet::interest`]) is every event that can
/// raise an alert, and a reader may fetch those alone.
#[derive(Debug, Clone, Copy)]
pub enum Reads {
    /// These `(eventSource, eventName)` pairs only.
    Events(&'static [(&'static str, &'static str)]),
    /// Every call denied by a policy.
    Denied,
    /// Every call by a person ([`crate::model::Principal::is_person`]).
    People,
    /// Every call by a person outside the working hours of the settings
    /// ([`RuleSettings::working_hours`]); [`Self::matches`] cannot see the settings and says
    /// every call by a person, so the rule checks the hours itself.
    PeopleOffHours,
    /// Every event of the root user.
    Root,
    /// Every event; the rule must be cheap on events it ignores.
    Any(&'static str),
}

impl Reads {
    /// The events as people write them: `iam:CreateUser`, or what a broader read covers.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Reads::Events(pairs) => pairs
                .iter()
                .map(|(source, name)| {
                    format!("{}:{name}", source.trim_end_matches(".amazonaws.com"))
                })
                .collect(),
            Reads::Denied => vec!["every denied call".to_owned()],
            Reads::People => vec!["every call by a person".to_owned()],
            Reads::PeopleOffHours => {
                vec!["every call by a person outside working hours".to_owned()]
            }
            Reads::Root => vec!["every event by the root user".to_owned()],
            Reads::Any(what) => vec![(*what).to_owned()],
        }
    }

    /// True when the rule reads `e`.
    pub fn matches(&self, e: &ActivityEvent) -> bool {
        match self {
            Reads::Events(pairs) => pairs.iter().any(|(s, n)| *n == e.name && *s == e.source),
            Reads::Denied => e.is_denied(),
            Reads::People | Reads::PeopleOffHours => e.principal.is_person(),
            Reads::Root => e.principal.kind == crate::model::PrincipalType::Root,
            Reads::Any(_) => true,
        }
    }
}

/// The events [`RuleSet::evaluate_all`] reads besides each rule's own: a passed role is raised
/// to high when the same batch attaches an admin policy to it ([`admin_role_granted`]) or puts
/// it in the instance profile passed.
const RAISE_READS: &[(&str, &str)] = &[
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("iam.amazonaws.com", "AddRoleToInstanceProfile"),
];

/// What a rule found in one event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Finding {
    /// One line saying what happened, without the actor or account (the alert adds those).
    pub summary: String,
    /// Facts worth reading: the policy, the target, the CIDR, ...
    pub details: Vec<(&'static str, String)>,
    /// A severity for this finding other than the rule's (an open-to-anyone trust policy is
    /// worse than one naming an account). A configured override still wins.
    pub severity: Option<Severity>,
    /// Findings of one rule with the same key, in one run, make one alert (burst aggregation).
    pub group: Option<String>,
}

impl Finding {
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            ..Self::default()
        }
    }

    pub fn detail(mut self, label: &'static str, value: impl Into<String>) -> Self {
        self.details.push((label, value.into()));
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    pub fn group(mut self, key: impl Into<String>) -> Self {
        self.group = Some(key.into());
        self
    }
}

/// One alert rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable id: ledger key, message attribute, configuration key.
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// What the rule detects.
    pub description: &'static str,
    /// Why it matters, for the alert body.
    pub why: &'static str,
    /// What the reader should check, for the alert body.
    pub check: &'static str,
    /// How to tune it (settings that affect it), for the documentation.
    pub tuning: &'static str,
    pub references: &'static [&'static str],
    pub reads: Reads,
    /// Rules whose finding on the same event makes this one redundant (a specific rule beats a
    /// general one: an admin policy attached to a role is not also "privilege escalation").
    pub superseded_by: &'static [&'static str],
    pub eval: fn(&ActivityEvent, &RuleSettings) -> Option<Finding>,
}

impl Rule {
    /// True when the rule reads this event.
    pub fn reads_event(&self, e: &ActivityEvent) -> bool {
        self.reads.matches(e)
    }

    /// Runs the rule on one event, as the rule set would (without filters and superseding).
    pub fn check(&self, e: &ActivityEvent, settings: &RuleSettings) -> Option<Finding> {
        if self.reads_event(e) {
            (self.eval)(e, settings)
        } else {
            None
        }
    }

    /// Looks a rule up by id, first-seen rules included.
    pub fn by_id(id: &str) -> Option<&'static Rule> {
        ALL.iter().chain(FIRST_SEEN).copied().find(|r| r.id == id)
    }

    /// True for the rules evaluated with the first-seen state.
    pub fn is_first_seen(&self) -> bool {
        FIRST_SEEN.iter().any(|r| r.id == self.id)
    }
}

/// A rule firing on an event, with the severity it will be sent at.
#[derive(Debug, Clone)]
pub struct Hit<'e> {
    pub rule: &'static Rule,
    pub severity: Severity,
    pub finding: Finding,
    pub event: &'e ActivityEvent,
}

/// A role granted an admin policy, or added to an instance profile, by a successful IAM call:
/// what the same-run raise of a passed role reads ([`RuleSet::admin_grants`]), kept with the
/// call's time, account and actor so that a reader narrowing a batch narrows its grants alike.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdminGrant {
    pub time: chrono::DateTime<chrono::Utc>,
    pub account: Option<String>,
    pub actor: String,
    #[serde(default)]
    pub principal_arn: Option<String>,
    /// The role made admin, or added to `profile`.
    pub role: String,
    /// The instance profile the role was added to; `None`: the role was granted an admin
    /// policy.
    #[serde(default)]
    pub profile: Option<String>,
}

/// A run's grants by account: roles made admin, and instance profiles' roles.
#[derive(Default)]
struct GrantIndex {
    admin: BTreeSet<(Option<String>, String)>,
    profiles: Vec<(Option<String>, String, String)>,
}

impl GrantIndex {
    /// The admin role among `passed` (a role by name, or an instance profile holding one), in
    /// `account`: a role name means nothing in another account.
    fn admin_role(
        &self,
        account: &Option<String>,
        passed: &[role_passed_to_service::Passed],
    ) -> Option<String> {
        let is_admin = |role: &str| self.admin.contains(&(account.clone(), role.to_owned()));
        passed.iter().find_map(|r| {
            let name = r.name();
            if is_admin(name) {
                return Some(name.to_owned());
            }
            (r.kind == "instance profile")
                .then(|| {
                    self.profiles
                        .iter()
                        .find(|(a, p, role)| a == account && p == name && is_admin(role))
                        .map(|(_, _, role)| role.clone())
                })
                .flatten()
        })
    }
}

/// What a raised passed-role hit's summary says.
fn passed_admin_note(role: &str) -> String {
    format!(" (role {role} was granted an admin policy in the same run)")
}

/// Which rules run, at which severity, and for whom.
#[derive(Debug, Clone, Default)]
pub struct RuleSetConfig {
    pub settings: RuleSettings,
    /// Rule ids that never fire.
    pub disabled: BTreeSet<String>,
    /// Severities that replace a rule's own.
    pub severity: BTreeMap<String, Severity>,
    /// `FILTERED_ROLES` and service-linked roles: their events alert no one.
    pub filter: NoiseFilter,
    /// Actor names or principal ARNs (globs) whose activity alerts no one.
    pub allowed_actors: Vec<String>,
    /// How the first-seen rules learn and forget.
    pub seen: crate::seen::SeenSettings,
}

impl RuleSetConfig {
    /// Parses `DISABLED_RULES` (`id,id`); every id must name a rule.
    pub fn parse_disabled(list: &str) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for id in split_list(list) {
            if Rule::by_id(id).is_none() {
                return Err(unknown_rule(id));
            }
            out.insert(id.to_owned());
        }
        Ok(out)
    }

    /// Parses `SEVERITY_OVERRIDES` (`rule_id=level,rule_id=level`).
    pub fn parse_severities(list: &str) -> Result<BTreeMap<String, Severity>> {
        let mut out = BTreeMap::new();
        for pair in split_list(list) {
            let (id, level) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "severity override",
                    pair,
                    "expected rule_id=level, e.g. off_hours_activity=low",
                )
            })?;
            let id = id.trim();
            if Rule::by_id(id).is_none() {
                return Err(unknown_rule(id));
            }
            out.insert(id.to_owned(), level.trim().parse()?);
        }
        Ok(out)
    }
}

fn unknown_rule(id: &str) -> Error {
    Error::invalid(
        "rule id",
        id,
        "no such rule (`iat rules list` shows them all)",
    )
}

/// `requestParameters` parsed, `Null` when absent, `null` or not JSON (never a panic: the Python
/// tool crashed on `null`).
pub(crate) fn params(e: &ActivityEvent) -> serde_json::Value {
    e.request_parameters_value()
        .unwrap_or(serde_json::Value::Null)
}

/// A string field of a JSON object.
pub(crate) fn text<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

/// A successful Identity Center call on a named object (permission set, application): the
/// finding names it and its instance.
pub(crate) fn identity_center_change(
    e: &ActivityEvent,
    summary: impl Fn(&str) -> String,
) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let name = text(&p, "name")
        .or_else(|| text(&p, "applicationArn"))
        .or_else(|| text(&p, "permissionSetArn"))
        .unwrap_or("(not recorded)");
    let mut f = Finding::new(summary(name));
    if let Some(instance) = text(&p, "instanceArn") {
        f = f.detail("Instance", instance);
    }
    Some(f)
}

/// True when the call did what it asked (no `errorCode`).
pub(crate) fn succeeded(e: &ActivityEvent) -> bool {
    e.error_code.is_none()
}

/// Splits a comma-separated setting, dropping blanks.
pub(crate) fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[derive(Debug)]
struct Active {
    rule: &'static Rule,
    severity: Severity,
    superseded_by: Vec<usize>,
}

/// The enabled rules, indexed by the events they read.
#[derive(Debug)]
pub struct RuleSet {
    active: Vec<Active>,
    /// Enabled first-seen rules with the severity each is sent at.
    first_seen: Vec<(&'static Rule, Severity)>,
    seen: crate::seen::SeenSettings,
    by_name: HashMap<&'static str, Vec<(&'static str, usize)>>,
    any: Vec<usize>,
    settings: RuleSettings,
    filter: NoiseFilter,
    allowed: PatternSet,
    fingerprint: String,
}

/// FNV-1a, 64 bits: a hash that is the same in every build and on every machine.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl RuleSet {
    /// Every rule with default settings.
    pub fn default_rules() -> Self {
        Self::new(RuleSetConfig::default()).expect("the default configuration is valid")
    }

    pub fn new(config: RuleSetConfig) -> Result<Self> {
        for id in config.disabled.iter().chain(config.severity.keys()) {
            if Rule::by_id(id).is_none() {
                return Err(unknown_rule(id));
            }
        }
        let allowed = PatternSet::new("allowed actor pattern", &config.allowed_actors)?;
        let enabled: Vec<&'static Rule> = ALL
            .iter()
            .copied()
            .filter(|r| !config.disabled.contains(r.id))
            .collect();
        let index_of = |id: &str| enabled.iter().position(|r| r.id == id);
        let mut active = Vec::new();
        let mut by_name: HashMap<&'static str, Vec<(&'static str, usize)>> = HashMap::new();
        let mut any = Vec::new();
        for (i, rule) in enabled.iter().enumerate() {
            active.push(Active {
                rule,
                severity: config
                    .severity
                    .get(rule.id)
                    .copied()
                    .unwrap_or(rule.severity),
                superseded_by: rule
                    .superseded_by
                    .iter()
                    .filter_map(|id| index_of(id))
                    .collect(),
            });
            match rule.reads {
                Reads::Events(pairs) => {
                    for (source, name) in pairs {
                        by_name.entry(name).or_default().push((source, i));
                    }
                }
                Reads::Denied
                | Reads::People
                | Reads::PeopleOffHours
                | Reads::Root
                | Reads::Any(_) => any.push(i),
            }
        }
        // Everything that changes what `evaluate_all` finds: the settings and the release.
        let fingerprint = format!(
            "{}-{:016x}",
            env!("CARGO_PKG_VERSION"),
            stable_hash(&format!(
                "{:?}|{:?}|{:?}|{:?}|{:?}",
                config.settings,
                config.disabled,
                config.severity,
                config.filter,
                config.allowed_actors
            ))
        );
        let first_seen = FIRST_SEEN
            .iter()
            .copied()
            .filter(|r| !config.disabled.contains(r.id))
            .map(|r| (r, config.severity.get(r.id).copied().unwrap_or(r.severity)))
            .collect();
        Ok(Self {
            active,
            first_seen,
            seen: config.seen,
            by_name,
            any,
            settings: config.settings,
            filter: config.filter,
            allowed,
            fingerprint,
        })
    }

    /// Names what [`Self::evaluate_all`] finds: two rule sets with the same fingerprint raise the
    /// same alerts over the same events (same release, same settings, same rules enabled at the
    /// same severities). Kept with alerts raised ahead of time, to know when they are stale.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The enabled rules with the severity each is sent at (first-seen rules last).
    pub fn rules(&self) -> impl Iterator<Item = (&'static Rule, Severity)> + '_ {
        self.active
            .iter()
            .map(|a| (a.rule, a.severity))
            .chain(self.first_seen.iter().copied())
    }

    /// The enabled first-seen rules with their severity.
    pub fn first_seen_rules(&self) -> impl Iterator<Item = (&'static Rule, Severity)> + '_ {
        self.first_seen.iter().copied()
    }

    /// How the first-seen rules learn and forget.
    pub fn seen_settings(&self) -> crate::seen::SeenSettings {
        self.seen
    }

    /// The rule settings.
    pub fn settings(&self) -> &RuleSettings {
        &self.settings
    }

    /// True when `SEVERITY_OVERRIDES` sets this rule's severity.
    pub fn severity_overridden(&self, id: &str) -> bool {
        self.active
            .iter()
            .any(|a| a.rule.id == id && a.severity != a.rule.severity)
    }

    /// True when `event` alerts no one: filtered roles, service-linked roles, allowed actors.
    pub fn is_quiet(&self, event: &ActivityEvent) -> bool {
        self.filter.classify(event).is_some() || self.is_allowed(event)
    }

    /// Runs every enabled rule that reads `event`, appending what fired to `out`.
    pub fn evaluate<'e>(&self, event: &'e ActivityEvent, out: &mut Vec<Hit<'e>>) {
        let start = out.len();
        // Indices (into `active`) of the rules that fired, parallel to `out[start..]`.
        let mut fired = [usize::MAX; 16];
        let candidates = self
            .by_name
            .get(event.name.as_str())
            .into_iter()
            .flatten()
            .filter(|(source, _)| *source == event.source)
            .map(|(_, i)| *i)
            .chain(
                self.any
                    .iter()
                    .copied()
                    .filter(|&i| self.active[i].rule.reads.matches(event)),
            );
        for i in candidates {
            let active = &self.active[i];
            if let Some(finding) = (active.rule.eval)(event, &self.settings) {
                let severity = if active.severity != active.rule.severity {
                    active.severity
                } else {
                    finding.severity.unwrap_or(active.severity)
                };
                if let Some(slot) = fired.get_mut(out.len() - start) {
                    *slot = i;
                }
                out.push(Hit {
                    rule: active.rule,
                    severity,
                    finding,
                    event,
                });
            }
        }
        if out.len() == start {
            return;
        }
        if self.filter.classify(event).is_some() || self.is_allowed(event) {
            out.truncate(start);
            return;
        }
        let fired = &fired[..(out.len() - start).min(fired.len())];
        for (j, &i) in fired.iter().enumerate().rev() {
            if self.active[i]
                .superseded_by
                .iter()
                .any(|s| fired.contains(s))
            {
                out.remove(start + j);
            }
        }
    }

    /// Every event [`Self::evaluate_all`] can raise an alert on, or read to raise one: the
    /// enabled rules' reads and [`RAISE_READS`]. `None` when a rule reads every event. Over
    /// the events this selects, `evaluate_all` finds exactly what it finds over all of them.
    pub fn interest(&self) -> Option<Interest> {
        let mut interest = Interest::default();
        let (mut all_people, mut off_hours) = (false, false);
        for a in &self.active {
            match a.rule.reads {
                Reads::Events(pairs) => interest.events.extend(
                    pairs
                        .iter()
                        .map(|(s, n)| ((*s).to_owned(), (*n).to_owned())),
                ),
                Reads::Denied => interest.denied = true,
                Reads::People => all_people = true,
                Reads::PeopleOffHours => off_hours = true,
                Reads::Root => interest.root = true,
                Reads::Any(_) => return None,
            }
            if a.rule.id == role_passed_to_service::RULE.id {
                interest.events.extend(
                    RAISE_READS
                        .iter()
                        .map(|(s, n)| ((*s).to_owned(), (*n).to_owned())),
                );
            }
        }
        interest.people = all_people || off_hours;
        if off_hours && !all_people {
            interest.outside = Some(self.settings.working_hours);
        }
        Some(interest)
    }

    /// Every hit for a slice of events (one batch, one run). A role passed to a service is
    /// raised to high when the batch also grants that role an admin policy.
    pub fn evaluate_all<'e>(&self, events: &'e [ActivityEvent]) -> Vec<Hit<'e>> {
        let mut out = self.evaluate_each(events);
        self.raise_passed_admin_roles(&self.admin_grants(events), &mut out);
        out
    }

    /// Every event's hits on its own, without the batch's one cross-event step (the raise of
    /// a role passed to a service after an admin grant in the same batch): what a reader that
    /// evaluates a batch in parts keeps, with the parts' [`RuleSet::admin_grants`], to raise
    /// the whole as one run would ([`RuleSet::raise_passed_admin_roles`],
    /// [`RuleSet::raise_passed_admin_stored`]).
    pub fn evaluate_each<'e>(&self, events: &'e [ActivityEvent]) -> Vec<Hit<'e>> {
        let mut out = Vec::new();
        for e in events {
            self.evaluate(e, &mut out);
        }
        out
    }

    /// What the same-run raise of a passed role reads from `events`: the roles granted an admin
    /// policy and the roles added to an instance profile, with who, where and when.
    pub fn admin_grants(&self, events: &[ActivityEvent]) -> Vec<AdminGrant> {
        let mut out = Vec::new();
        for e in events
            .iter()
            .filter(|e| e.source == "iam.amazonaws.com" && succeeded(e))
        {
            let (role, profile) = if let Some(role) = admin_role_granted(e, &self.settings) {
                (role, None)
            } else if e.name == "AddRoleToInstanceProfile" {
                let p = params(e);
                match (text(&p, "instanceProfileName"), text(&p, "roleName")) {
                    (Some(profile), Some(role)) => (role.to_owned(), Some(profile.to_owned())),
                    _ => continue,
                }
            } else {
                continue;
            };
            out.push(AdminGrant {
                time: e.time,
                account: e.account.as_ref().map(|a| a.to_string()),
                actor: e.principal.actor.clone(),
                principal_arn: e.principal.arn.clone(),
                role,
                profile,
            });
        }
        out
    }

    /// Raises to high each `role_passed_to_service` hit whose role (or instance profile's
    /// role) was granted an admin policy in `grants` (the run's, see
    /// [`RuleSet::admin_grants`]), in the hit's account; not when the rule's severity is
    /// configured.
    pub fn raise_passed_admin_roles(&self, grants: &[AdminGrant], hits: &mut [Hit<'_>]) {
        let Some(index) = self.grant_index(grants, hits.iter().map(|h| h.rule.id)) else {
            return;
        };
        for h in hits
            .iter_mut()
            .filter(|h| h.rule.id == role_passed_to_service::RULE.id)
        {
            let account = h.event.account.as_ref().map(|a| a.to_string());
            let passed = role_passed_to_service::passed_roles(&params(h.event));
            if let Some(role) = index.admin_role(&account, &passed) {
                h.severity = Severity::High;
                h.finding.severity = Some(Severity::High);
                h.finding.summary.push_str(&passed_admin_note(&role));
                h.finding.details.push(("Admin role", role));
            }
        }
    }

    /// [`RuleSet::raise_passed_admin_roles`] for hits kept apart from their events
    /// ([`StoredHit`], raised by [`RuleSet::evaluate_each`]): the roles passed are read from
    /// the hit's `Role` details, as the rule wrote them.
    pub fn raise_passed_admin_stored<'h>(
        &self,
        grants: &[AdminGrant],
        hits: impl IntoIterator<Item = &'h mut StoredHit>,
    ) {
        let passed_hits: Vec<&mut StoredHit> = hits
            .into_iter()
            .filter(|h| {
                h.rule == role_passed_to_service::RULE.id
                    && !h.details.iter().any(|(k, _)| k == "Admin role")
            })
            .collect();
        if passed_hits.is_empty() {
            return;
        }
        let Some(index) =
            self.grant_index(grants, std::iter::once(role_passed_to_service::RULE.id))
        else {
            return;
        };
        for h in passed_hits {
            let passed: Vec<role_passed_to_service::Passed> = h
                .details
                .iter()
                .filter(|(k, _)| k == "Role")
                .filter_map(|(_, v)| role_passed_to_service::Passed::described(v))
                .collect();
            if let Some(role) = index.admin_role(&h.event.account, &passed) {
                h.severity = Severity::High;
                h.summary.push_str(&passed_admin_note(&role));
                h.details.push(("Admin role".to_owned(), role));
            }
        }
    }

    /// The grants as the raise reads them; `None` when nothing can be raised (no admin grant,
    /// no passed-role hit, or the rule's severity configured).
    fn grant_index<'r>(
        &self,
        grants: &[AdminGrant],
        mut rules: impl Iterator<Item = &'r str>,
    ) -> Option<GrantIndex> {
        let rule = &role_passed_to_service::RULE;
        if self.severity_overridden(rule.id) || !rules.any(|r| r == rule.id) {
            return None;
        }
        let mut index = GrantIndex::default();
        for g in grants {
            match &g.profile {
                None => {
                    index.admin.insert((g.account.clone(), g.role.clone()));
                }
                Some(p) => index
                    .profiles
                    .push((g.account.clone(), p.clone(), g.role.clone())),
            }
        }
        (!index.admin.is_empty()).then_some(index)
    }

    fn is_allowed(&self, event: &ActivityEvent) -> bool {
        !self.allowed.is_empty()
            && (self.allowed.is_match(&event.principal.actor)
                || event
                    .principal
                    .arn
                    .as_deref()
                    .is_some_and(|a| self.allowed.is_match(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call by the IAM user mallory at 2026-03-03 10:00 UTC with these parameters.
    fn mallory_call(id: &str, source: &str, name: &str, p: serde_json::Value) -> ActivityEvent {
        crate::contract::records::RecordSpec::new(id, "2026-03-03T10:00:00Z".parse().unwrap())
            .user("mallory")
            .name(source, name)
            .params(p)
            .event()
    }

    /// One loop over the registry: a rule is checked against its fixtures by being listed.
    #[test]
    fn every_rule_fires_on_its_fires_fixtures_and_not_on_its_quiet_ones() {
        for rule in ALL {
            testing::check_fixtures(rule);
        }
    }

    #[test]
    fn ids_are_unique_valid_and_documented() {
        let mut seen = BTreeSet::new();
        for rule in ALL.iter().chain(FIRST_SEEN) {
            crate::model::RuleId::new(rule.id).unwrap();
            assert!(seen.insert(rule.id), "{} twice", rule.id);
            assert!(
                rule.title.len() < 60,
                "{}: title too long for a subject",
                rule.id
            );
            for text in [rule.description, rule.why, rule.check, rule.tuning] {
                assert!(!text.trim().is_empty(), "{}: empty text", rule.id);
            }
            assert!(!rule.references.is_empty(), "{}: no references", rule.id);
            for s in rule.superseded_by {
                assert!(
                    Rule::by_id(s).is_some(),
                    "{}: superseded by unknown {s}",
                    rule.id
                );
            }
        }
    }

    fn admin_attach(user: &str) -> ActivityEvent {
        crate::contract::records::RecordSpec::new(&format!("e-{user}"), "2026-03-03T10:00:00Z".parse().unwrap())
            .user(user)
            .name("iam.amazonaws.com", "AttachRolePolicy")
            .params(serde_json::json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
            .event()
    }

    #[test]
    fn disabled_rules_overrides_allowed_actors_and_filtered_roles_apply() {
        let e = admin_attach("alice");
        let fired = |c: RuleSetConfig| -> Vec<(&'static str, Severity)> {
            RuleSet::new(c)
                .unwrap()
                .evaluate_all(std::slice::from_ref(&e))
                .iter()
                .map(|h| (h.rule.id, h.severity))
                .collect()
        };
        assert_eq!(
            fired(RuleSetConfig::default()),
            [("admin_policy_attached", Severity::High)]
        );
        let mut c = RuleSetConfig::default();
        c.severity
            .insert("admin_policy_attached".into(), Severity::Critical);
        assert_eq!(fired(c), [("admin_policy_attached", Severity::Critical)]);
        let mut c = RuleSetConfig::default();
        c.disabled.insert("admin_policy_attached".into());
        assert_eq!(
            fired(c),
            [("privilege_escalation", Severity::Medium)],
            "the general rule speaks when the specific one is off"
        );
        let c = RuleSetConfig {
            allowed_actors: vec!["ali*".into()],
            ..RuleSetConfig::default()
        };
        assert!(fired(c).is_empty());
        let c = RuleSetConfig {
            allowed_actors: vec!["arn:aws:iam::*:user/alice".into()],
            ..RuleSetConfig::default()
        };
        assert!(fired(c).is_empty(), "ARNs match too");
        let c = RuleSetConfig {
            allowed_actors: vec!["bob".into()],
            ..RuleSetConfig::default()
        };
        assert_eq!(fired(c).len(), 1);
        let mut raw: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
        raw["userIdentity"] = serde_json::json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Wiz-Scanner/s", "accountId": "111122223333",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/Wiz-Scanner", "userName": "Wiz-Scanner"}}});
        let scanner = crate::normalize(raw.to_string(), &Default::default())
            .unwrap()
            .event;
        let c = RuleSetConfig {
            filter: NoiseFilter::new(&["Wiz*"]).unwrap(),
            ..RuleSetConfig::default()
        };
        assert!(
            RuleSet::new(c)
                .unwrap()
                .evaluate_all(std::slice::from_ref(&scanner))
                .is_empty()
        );
        assert!(
            RuleSet::new(RuleSetConfig {
                disabled: ["nope".to_owned()].into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn the_fingerprint_changes_with_what_the_rules_find_and_only_with_it() {
        let of = |c: RuleSetConfig| RuleSet::new(c).unwrap().fingerprint().to_owned();
        let default = of(RuleSetConfig::default());
        assert_eq!(default, RuleSet::default_rules().fingerprint());
        assert!(default.starts_with(env!("CARGO_PKG_VERSION")));
        let mut hours = RuleSetConfig::default();
        hours.settings.working_hours =
            settings::WorkingHours::parse("08:00-18:00", "mon-fri", "UTC").unwrap();
        let mut disabled = RuleSetConfig::default();
        disabled.disabled.insert("access_denied".into());
        let mut severity = RuleSetConfig::default();
        severity
            .severity
            .insert("access_denied".into(), Severity::High);
        let allowed = RuleSetConfig {
            allowed_actors: vec!["ci-*".into()],
            ..RuleSetConfig::default()
        };
        let mut seen = RuleSetConfig::default();
        seen.seen.learn = chrono::Duration::days(3);
        let prints = [of(hours), of(disabled), of(severity), of(allowed)];
        for (i, p) in prints.iter().enumerate() {
            assert_ne!(p, &default, "change {i}");
            assert!(prints[..i].iter().all(|q| q != p), "change {i}");
        }
        assert_eq!(
            of(seen),
            default,
            "the first-seen settings do not change what evaluate_all finds"
        );
    }

    #[test]
    fn a_role_passed_in_a_batch_that_makes_it_admin_is_high() {
        let pass = mallory_call(
            "p1",
            "ec2.amazonaws.com",
            "RunInstances",
            serde_json::json!({"iamInstanceProfile": {"name": "web"}}),
        );
        let quiet_pass = mallory_call(
            "p2",
            "lambda.amazonaws.com",
            "CreateFunction20150331",
            serde_json::json!({"role": "arn:aws:iam::111122223333:role/reader"}),
        );
        let severities = |events: &[ActivityEvent]| -> Vec<(String, Severity)> {
            RuleSet::default_rules()
                .evaluate_all(events)
                .into_iter()
                .filter(|h| h.rule.id == "role_passed_to_service")
                .map(|h| (h.event.id.to_string(), h.severity))
                .collect()
        };
        assert_eq!(
            severities(&[pass.clone(), quiet_pass.clone()]),
            [("p1".into(), Severity::Low), ("p2".into(), Severity::Low)]
        );
        let grant = mallory_call(
            "g1",
            "iam.amazonaws.com",
            "AttachRolePolicy",
            serde_json::json!({"roleName": "web-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        );
        let profile = mallory_call(
            "g2",
            "iam.amazonaws.com",
            "AddRoleToInstanceProfile",
            serde_json::json!({"instanceProfileName": "web", "roleName": "web-role"}),
        );
        let events = [pass.clone(), quiet_pass.clone(), grant, profile];
        assert_eq!(
            severities(&events),
            [("p1".into(), Severity::High), ("p2".into(), Severity::Low)],
            "the instance profile holds the role that was made admin"
        );
        // The same grant in another account says nothing of this account's role.
        let elsewhere = |e: &ActivityEvent, id: &str| {
            let mut raw: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
            raw["eventID"] = id.into();
            raw["recipientAccountId"] = "444455556666".into();
            raw["userIdentity"]["accountId"] = "444455556666".into();
            crate::normalize(raw.to_string(), &Default::default())
                .unwrap()
                .event
        };
        assert_eq!(
            severities(&[
                pass.clone(),
                quiet_pass.clone(),
                elsewhere(&events[2], "g3"),
                elsewhere(&events[3], "g4")
            ]),
            [("p1".into(), Severity::Low), ("p2".into(), Severity::Low)],
            "a role made admin in another account"
        );
        let allowed = RuleSet::new(RuleSetConfig {
            allowed_actors: vec!["mallory".into()],
            ..RuleSetConfig::default()
        })
        .unwrap();
        assert!(
            allowed
                .evaluate_all(&events)
                .iter()
                .all(|h| h.rule.id != "role_passed_to_service"),
            "ALLOWED_ACTORS quiets pipelines"
        );
    }

    /// Over every rule's fixtures (firing and quiet: real-shaped records of every principal
    /// type) and the batch that raises a passed role to high, the events the interest selects
    /// raise exactly what all of them raise: under the default rules, and with each rule alone.
    #[test]
    fn the_interest_selects_every_event_an_alert_needs() {
        let mut events = Vec::new();
        for rule in ALL {
            let dir = testing::fixture_dir(rule);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|f| f.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter(|p| !p.ends_with("settings.json"))
                .collect();
            files.sort();
            for f in files {
                events.extend(testing::fixture_events(
                    &std::fs::read_to_string(f).unwrap(),
                ));
            }
        }
        events.extend([
            mallory_call(
                "raise-pass",
                "ec2.amazonaws.com",
                "RunInstances",
                serde_json::json!({"iamInstanceProfile": {"name": "web"}}),
            ),
            mallory_call(
                "raise-grant",
                "iam.amazonaws.com",
                "AttachRolePolicy",
                serde_json::json!({"roleName": "web-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            ),
            mallory_call(
                "raise-profile",
                "iam.amazonaws.com",
                "AddRoleToInstanceProfile",
                serde_json::json!({"instanceProfileName": "web", "roleName": "web-role"}),
            ),
        ]);
        let seen = |rules: &RuleSet, events: &[ActivityEvent]| -> Vec<String> {
            rules
                .evaluate_all(events)
                .iter()
                .map(|h| {
                    format!(
                        "{} {} {:?} {}",
                        h.rule.id, h.event.id, h.severity, h.finding.summary
                    )
                })
                .collect()
        };
        // Each rule alone, under its fixtures' settings (an expected network, working hours).
        let alone = |id: &str| {
            let settings = std::fs::read_to_string(
                testing::fixture_dir(Rule::by_id(id).unwrap()).join("settings.json"),
            )
            .map(|t| testing::settings_from(&serde_json::from_str(&t).unwrap()))
            .unwrap_or_default();
            RuleSet::new(RuleSetConfig {
                settings,
                disabled: ALL
                    .iter()
                    .chain(FIRST_SEEN)
                    .filter(|r| r.id != id)
                    .map(|r| r.id.to_owned())
                    .collect(),
                ..RuleSetConfig::default()
            })
            .unwrap()
        };
        let mut sets = vec![("default".to_owned(), RuleSet::default_rules())];
        sets.extend(ALL.iter().map(|r| (r.id.to_owned(), alone(r.id))));
        for (name, rules) in sets {
            let interest = rules
                .interest()
                .unwrap_or_else(|| panic!("{name}: reads every event"));
            let selected: Vec<ActivityEvent> = events
                .iter()
                .filter(|e| interest.matches(e))
                .cloned()
                .collect();
            let all = seen(&rules, &events);
            assert!(!all.is_empty(), "{name}: nothing raised");
            assert_eq!(seen(&rules, &selected), all, "{name}");
            assert!(selected.len() < events.len(), "{name}: selects every event");
        }
        let passed = seen(&alone("role_passed_to_service"), &events);
        assert!(
            passed
                .iter()
                .any(|h| h.starts_with("role_passed_to_service raise-pass High")),
            "{passed:?}"
        );
    }

    #[test]
    fn settings_lists_name_real_rules() {
        assert!(RuleSetConfig::parse_disabled("off_hours_activity, access_denied").is_ok());
        let e = RuleSetConfig::parse_disabled("root_login")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("root_login") && e.contains("iat rules list"),
            "{e}"
        );
        let s = RuleSetConfig::parse_severities("access_denied=low").unwrap();
        assert_eq!(s["access_denied"], Severity::Low);
        assert!(RuleSetConfig::parse_severities("access_denied").is_err());
        assert!(RuleSetConfig::parse_severities("access_denied=urgent").is_err());
    }
}
