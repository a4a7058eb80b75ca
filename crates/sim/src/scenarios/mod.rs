//! The planted security scenarios, each labelled with its events and how to find them.
//!
//! One file per theme (root, identities, policies, identity_center, sign_in, network, logging,
//! denials), each planting its scenarios through the [`Planter`]; this file holds the planter,
//! the rules each scenario must raise, and the order they are planted in.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::ids::{id_like, office_ip, uuid};
use crate::org::{Org, SSO_REGION, UNEXPECTED_PREFIX, WORK_END, WORK_START};
use crate::records::{Rec, Who, call};
use crate::{ExpectedAlert, Finder, Pending, ScenarioLabel};

mod denials;
mod first_seen;
mod identities;
mod identity_center;
mod logging;
mod network;
mod policies;
mod root;
mod shapes;
mod sign_in;

use denials::denials;
use identities::{mfa_and_keys, privilege_escalation, user_and_key};
use identity_center::{identity_center, sso_admin};
use logging::cloudtrail;
use network::security_groups;
use policies::{admin_policies, inline_policies, policy_doc, trust_policies};
use root::{root_api_call, root_logins};
use shapes::{
    anonymised_region, passed_roles, root_console_actions, saml_console_login, vpce_denial,
};
use sign_in::{console_logins, off_hours};

struct Planter<'a> {
    rng: &'a mut ChaCha8Rng,
    org: &'a Org,
    day_start: DateTime<Utc>,
    records: Vec<Pending>,
    labels: Vec<ScenarioLabel>,
}

impl<'a> Planter<'a> {
    fn new(rng: &'a mut ChaCha8Rng, org: &'a Org, day_start: DateTime<Utc>) -> Self {
        Self {
            rng,
            org,
            day_start,
            records: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// An account by role in the organisation: 0 management, 1 security, 2 prod, 3 staging.
    fn acct(&self, i: usize) -> usize {
        i % self.org.accounts.len()
    }

    /// A random time in working hours (local), leaving room for follow-up calls.
    fn at_work(&mut self) -> DateTime<Utc> {
        let h = self.rng.random_range(WORK_START + 1..WORK_END - 1);
        let m = self.rng.random_range(0..60);
        self.org.local_time(self.day_start, h, m) + Duration::seconds(self.rng.random_range(0..60))
    }

    fn add(
        &mut self,
        account: usize,
        region: &'static str,
        time: DateTime<Utc>,
        rec: Rec,
    ) -> String {
        let id = rec.id().to_owned();
        self.records.push(Pending {
            account,
            region,
            time,
            json: rec.json(),
        });
        id
    }

    fn label(
        &mut self,
        kind: &str,
        description: &str,
        account: usize,
        event_ids: Vec<String>,
        find: Finder,
    ) {
        let alerts = event_ids
            .iter()
            .flat_map(|id| {
                let name = self
                    .records
                    .iter()
                    .find(|r| r.json["eventID"] == id.as_str())
                    .and_then(|r| r.json["eventName"].as_str())
                    .unwrap_or_default();
                expected_rules(kind, name)
                    .iter()
                    .map(move |rule| ExpectedAlert {
                        event_id: id.clone(),
                        rule_id: (*rule).to_owned(),
                    })
            })
            .collect();
        self.labels.push(ScenarioLabel {
            alerts,
            kind: kind.to_owned(),
            description: description.to_owned(),
            account: self.org.accounts[account].id.clone(),
            event_ids,
            find: Finder {
                account: find
                    .account
                    .or_else(|| Some(self.org.accounts[account].id.clone())),
                ..find
            },
        });
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }
}

/// The alert rules a scenario's event must raise, by scenario kind and event name.
fn expected_rules(kind: &str, event_name: &str) -> &'static [&'static str] {
    match (kind, event_name) {
        ("first_service_use", _) => &["first_service_use"],
        ("new_network_for_principal", _) => &["new_network_for_principal"],
        ("first_region_use", _) => &["first_region_use"],
        ("first_denied_action", _) => &["access_denied", "first_denied_action"],
        (k, _) if k.starts_with("root_console_login") => &["root_console_login"],
        (k, _) if k.starts_with("root_api_activity") => &["root_activity"],
        ("role_passed_admin", "AttachRolePolicy") => &["admin_policy_attached"],
        (k, _) if k.starts_with("role_passed") => &["role_passed_to_service"],
        (k, _) if k.starts_with("quiet_") => &[],
        (_, "CreateUser") => &["iam_user_created"],
        (_, "CreateAccessKey") => &["access_key_created"],
        (k, _) if k.starts_with("admin_policy_attached") => &["admin_policy_attached"],
        (k, _) if k.starts_with("inline_policy") => &["dangerous_inline_policy"],
        (k, _) if k.starts_with("trust_policy") => &["trust_policy_external"],
        ("mfa_deactivated", _) => &["mfa_device_removed"],
        ("access_key_status_changed", _) => &["access_key_status_changed"],
        ("privilege_escalation", _) => &["privilege_escalation"],
        (_, "CreatePermissionSet") => &["permission_set_created"],
        (_, "UpdatePermissionSet") => &["permission_set_updated"],
        (_, "AttachManagedPolicyToPermissionSet") => &["permission_set_admin_policy"],
        (_, "CreateAccountAssignment") => &["account_assignment_created"],
        (_, "CreateApplication") => &["sso_application_created"],
        (_, "DeleteApplication") => &["sso_application_deleted"],
        ("security_group_open_to_world", _) => &["security_group_open_to_world"],
        ("security_group_changed", _) => &["security_group_changed"],
        ("console_login_unexpected_network", _) => &["console_login_unexpected_network"],
        ("console_login_without_mfa", _) => &["console_login_without_mfa"],
        ("console_login_failures", _) => &["console_login_failed"],
        ("off_hours_activity", _) => &["off_hours_activity"],
        (k, _) if k.starts_with("cloudtrail") => &["cloudtrail_tampering"],
        (k, _) if k.starts_with("denied_") => &["access_denied"],
        _ => &[],
    }
}

/// Plants every scenario on the day starting at `day_start`.
pub(crate) fn plant(
    rng: &mut ChaCha8Rng,
    org: &Org,
    day_start: DateTime<Utc>,
) -> (Vec<Pending>, Vec<ScenarioLabel>) {
    let mut p = Planter::new(rng, org, day_start);
    root_logins(&mut p);
    root_api_call(&mut p);
    user_and_key(&mut p);
    admin_policies(&mut p);
    inline_policies(&mut p);
    trust_policies(&mut p);
    mfa_and_keys(&mut p);
    privilege_escalation(&mut p);
    identity_center(&mut p);
    security_groups(&mut p);
    console_logins(&mut p);
    off_hours(&mut p);
    cloudtrail(&mut p);
    denials(&mut p);
    root_console_actions(&mut p);
    saml_console_login(&mut p);
    vpce_denial(&mut p);
    anonymised_region(&mut p);
    passed_roles(&mut p);
    (p.records, p.labels)
}

/// The first-use-after-learning scenarios of [`crate::generate_learned`]: the routine records
/// (replayed in the history), the novel ones (on the day only) and their labels.
pub(crate) fn plant_first_seen(
    rng: &mut ChaCha8Rng,
    org: &Org,
    day_start: DateTime<Utc>,
) -> (Vec<Pending>, Vec<Pending>, Vec<ScenarioLabel>) {
    let mut p = Planter::new(rng, org, day_start);
    let (routine, novel) = first_seen::first_use_after_learning(&mut p);
    (routine, novel, p.labels)
}
