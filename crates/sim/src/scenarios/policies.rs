//! Policies: admin policies attached, dangerous inline policies, and trust policies opened to other accounts or to anyone.

use super::*;

pub(super) fn admin_policies(p: &mut Planter<'_>) {
    for (kind, action, key, target, desc) in [
        (
            "admin_policy_attached_to_role",
            "AttachRolePolicy",
            "roleName",
            "ops-automation",
            "AdministratorAccess attached to a role.",
        ),
        (
            "admin_policy_attached_to_group",
            "AttachGroupPolicy",
            "groupName",
            "contractors",
            "AdministratorAccess attached to a group.",
        ),
        (
            "admin_policy_attached_to_user",
            "AttachUserPolicy",
            "userName",
            "svc-legacy",
            "AdministratorAccess attached to a user.",
        ),
    ] {
        let a = p.acct(2);
        let t = p.at_work();
        let ip = office_ip(p.rng);
        let who = sso_admin(p, a);
        let rec = call(
            p.rng,
            &who,
            t,
            "iam.amazonaws.com",
            action,
            "us-east-1",
            &ip,
            false,
        )
        .params(json!({key: target, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}));
        let id = p.add(a, "us-east-1", t, rec);
        p.label(
            kind,
            desc,
            a,
            vec![id],
            Finder {
                event_names: Planter::names(&[action]),
                ..Default::default()
            },
        );
    }
}

pub(super) fn policy_doc(statement: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statement}).to_string()
}

pub(super) fn inline_policies(p: &mut Planter<'_>) {
    let cases = [
        (
            "inline_policy_allow_all_role",
            "PutRolePolicy",
            ("roleName", "data-pipeline"),
            // A single statement object, not a list: the Python tool skipped these.
            policy_doc(json!({"Effect": "Allow", "Action": "*", "Resource": "*"})),
            "An inline policy allowing every action on a role (Statement as one object).",
        ),
        (
            "inline_policy_iam_wildcard_user",
            "PutUserPolicy",
            ("userName", "svc-legacy"),
            policy_doc(
                json!([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}, {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]),
            ),
            "An inline policy granting iam:* to a user.",
        ),
        (
            "inline_policy_not_action_group",
            "PutGroupPolicy",
            ("groupName", "contractors"),
            policy_doc(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}])),
            "An inline Allow with NotAction on a group.",
        ),
    ];
    for (kind, action, (key, target), doc, desc) in cases {
        let a = p.acct(3);
        let t = p.at_work();
        let ip = office_ip(p.rng);
        let who = sso_admin(p, a);
        let name = format!("{target}-inline");
        let rec = call(
            p.rng,
            &who,
            t,
            "iam.amazonaws.com",
            action,
            "us-east-1",
            &ip,
            false,
        )
        .params(json!({key: target, "policyName": name, "policyDocument": doc}));
        let id = p.add(a, "us-east-1", t, rec);
        p.label(
            kind,
            desc,
            a,
            vec![id],
            Finder {
                event_names: Planter::names(&[action]),
                ..Default::default()
            },
        );
    }
}

pub(super) fn trust_policies(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let own = p.org.accounts[a].id.clone();
    let outsider = "999988887777";
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = sso_admin(p, a);
    let to_account = policy_doc(
        json!([{"Effect": "Allow", "Principal": {"AWS": outsider}, "Action": "sts:AssumeRole"}]),
    );
    let to_role = policy_doc(
        json!([{"Effect": "Allow", "Principal": {"AWS": [format!("arn:aws:iam::{own}:root"), format!("arn:aws:iam::{outsider}:role/deployer")]}, "Action": "sts:AssumeRole"}]),
    );
    let r1 = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        "us-east-1",
        &ip,
        false,
    )
    .params(json!({"roleName": "billing-export", "policyDocument": to_account}));
    let t2 = t + Duration::minutes(4);
    let r2 = call(p.rng, &who, t2, "iam.amazonaws.com", "CreateRole", "us-east-1", &ip, false)
        .params(json!({"roleName": "partner-deploy", "assumeRolePolicyDocument": to_role}))
        .response(json!({"role": {"path": "/", "roleName": "partner-deploy", "roleId": id_like(p.rng, "AROA", 17), "arn": format!("arn:aws:iam::{own}:role/partner-deploy"), "createDate": "Mar 3, 2026, 11:00:00 AM", "assumeRolePolicyDocument": urlencode(&to_role)}}));
    let ids = vec![p.add(a, "us-east-1", t, r1), p.add(a, "us-east-1", t2, r2)];
    p.label(
        "trust_policy_other_account",
        "Role trust opened to another account (bare account id; a role ARN in a list).",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["UpdateAssumeRolePolicy", "CreateRole"]),
            ..Default::default()
        },
    );

    let a = p.acct(3);
    let t = p.at_work();
    let who = sso_admin(p, a);
    let anyone = policy_doc(
        json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
    );
    let rec = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "UpdateAssumeRolePolicy",
        "us-east-1",
        &ip,
        false,
    )
    .params(json!({"roleName": "legacy-integration", "policyDocument": anyone}));
    let id = p.add(a, "us-east-1", t, rec);
    p.label(
        "trust_policy_anyone",
        "Role trust opened to any AWS principal (\"*\").",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["UpdateAssumeRolePolicy"]),
            ..Default::default()
        },
    );
}

/// Percent-encoding as IAM writes policy documents in responses.
pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
