//! First use after a learning period: planted only by [`crate::generate_learned`], whose
//! history (the day's records replayed three weeks earlier) has taught the first-seen state the
//! whole organisation, so these are the day's only first seeings.
//!
//! A dedicated role (`release-bot`) does its routine work (replayed in the history like
//! everything else), then on the day calls a service it never used, writes from a network it
//! never used, reads in a region its account never used, and is denied an action nobody in the
//! organisation was ever denied. Each novel call is labelled with the first-seen rule it must
//! raise (and, for the denial, `access_denied` as well).

use super::*;
use crate::org::Role;

/// Where the role works from: one office address, so its network is one /24.
const OFFICE: &str = "203.0.113.57";
/// A network nobody in the organisation uses (TEST-NET-1).
const NEW_NETWORK: &str = "192.0.2.10";
/// An opt-in region the background never uses.
const NEW_REGION: &str = "ap-south-2";

/// The routine records (to replay in the history and keep on the day), and the novel ones
/// (on the day only), labelled.
pub(crate) fn first_use_after_learning(p: &mut Planter<'_>) -> (Vec<Pending>, Vec<Pending>) {
    let a = p.acct(3);
    let account = &p.org.accounts[a];
    let role = Role {
        name: "release-bot".to_owned(),
        path: "/automation/".to_owned(),
        principal_id: id_like(p.rng, "AROA", 17),
    };
    let who = || Who::Role {
        account,
        role: &role,
        session: "release-1842".to_owned(),
        mfa: false,
    };
    let principal = format!(
        "arn:aws:sts::{}:assumed-role/{}/release-1842",
        account.id, role.name
    );
    let actor = format!("{}/release-1842", role.name);

    // Routine: tagging roles from the office, reading parameters where the account works.
    for (source, name, region, read_only) in [
        ("iam.amazonaws.com", "TagRole", "us-east-1", false),
        ("iam.amazonaws.com", "TagRole", "us-east-1", false),
        ("ssm.amazonaws.com", "GetParameter", "us-east-1", true),
    ] {
        let t = p.at_work();
        let rec = call(p.rng, &who(), t, source, name, region, OFFICE, read_only);
        p.add(a, region, t, rec);
    }
    let routine = std::mem::take(&mut p.records);

    let novel: [(&str, &str, &str, &str, bool, &str); 4] = [
        (
            "first_service_use",
            "secretsmanager.amazonaws.com",
            "CreateSecret",
            "us-east-1",
            false,
            OFFICE,
        ),
        (
            "new_network_for_principal",
            "iam.amazonaws.com",
            "TagRole",
            "us-east-1",
            false,
            NEW_NETWORK,
        ),
        (
            "first_region_use",
            "ssm.amazonaws.com",
            "GetParameter",
            NEW_REGION,
            true,
            OFFICE,
        ),
        (
            "first_denied_action",
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            "us-east-1",
            false,
            OFFICE,
        ),
    ];
    for (kind, source, name, region, read_only, ip) in novel {
        let t = p.at_work();
        let mut rec = call(p.rng, &who(), t, source, name, region, ip, read_only);
        if kind == "first_denied_action" {
            rec = rec.error(
                "AccessDeniedException",
                &format!(
                    "User: {principal} is not authorized to perform: kms:ScheduleKeyDeletion on resource: arn:aws:kms:us-east-1:{}:key/1234abcd-12ab-34cd-56ef-1234567890ab with an explicit deny in a service control policy",
                    account.id
                ),
            );
        }
        let id = p.add(a, region, t, rec);
        let description = match kind {
            "first_service_use" => {
                "A role with three weeks of history calls a service it never used."
            }
            "new_network_for_principal" => "The same role writes from a network it never used.",
            "first_region_use" => "The role's account is active in a region for the first time.",
            _ => "An action denied for the first time in the organisation.",
        };
        p.label(
            kind,
            description,
            a,
            vec![id],
            Finder {
                event_names: Planter::names(&[name]),
                actor: Some(actor.clone()),
                ..Default::default()
            },
        );
    }
    (routine, std::mem::take(&mut p.records))
}
