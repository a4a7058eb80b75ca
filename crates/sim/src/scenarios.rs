//! The planted security scenarios, each labelled with its events and how to find them.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::ids::{id_like, office_ip, uuid};
use crate::org::{Org, SSO_REGION, UNEXPECTED_PREFIX, WORK_END, WORK_START};
use crate::records::{Rec, Who, call};
use crate::{ExpectedAlert, Finder, Pending, ScenarioLabel};

struct Planter<'a> {
    rng: &'a mut ChaCha8Rng,
    org: &'a Org,
    day_start: DateTime<Utc>,
    records: Vec<Pending>,
    labels: Vec<ScenarioLabel>,
}

impl Planter<'_> {
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
        (k, _) if k.starts_with("root_console_login") => &["root_console_login"],
        ("root_api_activity", _) => &["root_activity"],
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
    let mut p = Planter {
        rng,
        org,
        day_start,
        records: Vec::new(),
        labels: Vec::new(),
    };
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
    (p.records, p.labels)
}

fn root_logins(p: &mut Planter<'_>) {
    for (kind, acct, outcome, mfa, desc) in [
        (
            "root_console_login_mfa",
            0,
            "Success",
            true,
            "The root user signed in to the console with MFA.",
        ),
        (
            "root_console_login_no_mfa",
            2,
            "Success",
            false,
            "The root user signed in to the console without MFA.",
        ),
        (
            "root_console_login_failure",
            3,
            "Failure",
            false,
            "A failed console sign-in as the root user.",
        ),
    ] {
        let a = p.acct(acct);
        let account = &p.org.accounts[a];
        let t = p.at_work();
        let ip = office_ip(p.rng);
        let mut rec = call(
            p.rng,
            &Who::Root { account },
            t,
            "signin.amazonaws.com",
            "ConsoleLogin",
            "us-east-1",
            &ip,
            false,
        )
        .console_login(outcome, mfa);
        if outcome == "Failure" {
            rec = rec.set("errorMessage", json!("Failed authentication"));
        }
        let id = p.add(a, "us-east-1", t, rec);
        p.label(
            kind,
            desc,
            a,
            vec![id],
            Finder {
                event_names: Planter::names(&["ConsoleLogin"]),
                actor: Some("root".into()),
                ..Default::default()
            },
        );
    }
}

fn root_api_call(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let account = &p.org.accounts[a];
    let t = p.at_work() + Duration::minutes(3);
    let ip = office_ip(p.rng);
    let who = Who::Root { account };
    let t2 = t + Duration::seconds(40);
    let summary = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "GetAccountSummary",
        "us-east-1",
        &ip,
        true,
    );
    let buckets = call(
        p.rng,
        &who,
        t2,
        "s3.amazonaws.com",
        "ListBuckets",
        "us-east-1",
        &ip,
        true,
    );
    let ids = vec![
        p.add(a, "us-east-1", t, summary),
        p.add(a, "us-east-1", t2, buckets),
    ];
    p.label(
        "root_api_activity",
        "The root user called APIs.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["GetAccountSummary", "ListBuckets"]),
            actor: Some("root".into()),
            ..Default::default()
        },
    );
}

fn user_and_key(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let account = &p.org.accounts[a];
    let user = &account.users[0];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = Who::User {
        account,
        user,
        console: true,
        mfa: true,
    };
    let new_user = "svc-reporting";
    let create = call(p.rng, &who, t, "iam.amazonaws.com", "CreateUser", "us-east-1", &ip, false)
        .params(json!({"userName": new_user}))
        .response(json!({"user": {"path": "/", "userName": new_user, "userId": id_like(p.rng, "AIDA", 17), "arn": format!("arn:aws:iam::{}:user/{new_user}", account.id), "createDate": "Mar 3, 2026, 10:00:00 AM"}}));
    let t2 = t + Duration::seconds(75);
    let key = call(p.rng, &who, t2, "iam.amazonaws.com", "CreateAccessKey", "us-east-1", &ip, false)
        .params(json!({"userName": new_user}))
        .response(json!({"accessKey": {"userName": new_user, "accessKeyId": id_like(p.rng, "AKIA", 16), "status": "Active", "createDate": "Mar 3, 2026, 10:01:15 AM"}}));
    let ids = vec![
        p.add(a, "us-east-1", t, create),
        p.add(a, "us-east-1", t2, key),
    ];
    p.label(
        "iam_user_and_access_key_created",
        "A new IAM user and an access key for it.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["CreateUser", "CreateAccessKey"]),
            actor: Some(p.org.accounts[a].users[0].name.clone()),
            ..Default::default()
        },
    );
}

fn sso_admin<'a>(p: &Planter<'a>, a: usize) -> Who<'a> {
    let account = &p.org.accounts[a];
    let user = &p.org.sso_users[0];
    Who::Role {
        account,
        role: &account.sso_roles[0],
        session: user.email.clone(),
        mfa: false,
    }
}

fn admin_policies(p: &mut Planter<'_>) {
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

fn policy_doc(statement: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statement}).to_string()
}

fn inline_policies(p: &mut Planter<'_>) {
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

fn trust_policies(p: &mut Planter<'_>) {
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
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn mfa_and_keys(p: &mut Planter<'_>) {
    let a = p.acct(1);
    let account = &p.org.accounts[a];
    let user = &account.users[1];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = Who::User {
        account,
        user,
        console: true,
        mfa: true,
    };
    let serial = format!("arn:aws:iam::{}:mfa/{}", account.id, user.name);
    let r1 = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "DeactivateMFADevice",
        "us-east-1",
        &ip,
        false,
    )
    .params(json!({"userName": user.name, "serialNumber": serial}));
    let t2 = t + Duration::seconds(30);
    let r2 = call(
        p.rng,
        &who,
        t2,
        "iam.amazonaws.com",
        "DeleteVirtualMFADevice",
        "us-east-1",
        &ip,
        false,
    )
    .params(json!({"serialNumber": serial}));
    let ids = vec![p.add(a, "us-east-1", t, r1), p.add(a, "us-east-1", t2, r2)];
    let actor = user.name.clone();
    p.label(
        "mfa_deactivated",
        "An MFA device was deactivated and deleted.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["DeactivateMFADevice", "DeleteVirtualMFADevice"]),
            actor: Some(actor.clone()),
            ..Default::default()
        },
    );

    let t = p.at_work();
    let account = &p.org.accounts[a];
    let who = Who::User {
        account,
        user: &account.users[1],
        console: true,
        mfa: true,
    };
    let rec = call(p.rng, &who, t, "iam.amazonaws.com", "UpdateAccessKey", "us-east-1", &ip, false)
        .params(json!({"userName": "svc-backup", "accessKeyId": account.users[2].access_key, "status": "Inactive"}));
    let id = p.add(a, "us-east-1", t, rec);
    p.label(
        "access_key_status_changed",
        "An access key was deactivated.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["UpdateAccessKey"]),
            ..Default::default()
        },
    );
}

fn privilege_escalation(p: &mut Planter<'_>) {
    let a = p.acct(3);
    let account = &p.org.accounts[a];
    let role = &account.roles[1];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = Who::Role {
        account,
        role,
        session: "eve-laptop".into(),
        mfa: false,
    };
    let policy = format!("arn:aws:iam::{}:policy/developer-boundary", account.id);
    let steps = [
        (
            "CreateLoginProfile",
            json!({"userName": "svc-legacy", "passwordResetRequired": false}),
        ),
        (
            "AddUserToGroup",
            json!({"groupName": "admins", "userName": "svc-legacy"}),
        ),
        (
            "CreatePolicyVersion",
            json!({"policyArn": policy, "policyDocument": policy_doc(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}])), "setAsDefault": true}),
        ),
    ];
    let mut ids = Vec::new();
    for (i, (name, params)) in steps.into_iter().enumerate() {
        let ti = t + Duration::seconds(50 * i as i64);
        let rec = call(
            p.rng,
            &who,
            ti,
            "iam.amazonaws.com",
            name,
            "us-east-1",
            &ip,
            false,
        )
        .params(params);
        ids.push(p.add(a, "us-east-1", ti, rec));
    }
    p.label(
        "privilege_escalation",
        "A developer gave a user a password, admin group and an allow-all policy version.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&[
                "CreateLoginProfile",
                "AddUserToGroup",
                "CreatePolicyVersion",
            ]),
            actor: Some("Developer/eve-laptop".into()),
            ..Default::default()
        },
    );
}

fn identity_center(p: &mut Planter<'_>) {
    let a = 0;
    let mgmt = p.org.management().id.clone();
    let instance = format!(
        "arn:aws:sso:::instance/ssoins-{}",
        &uuid(p.rng).replace('-', "")[..16]
    );
    let ps = format!("{instance}/ps-{}", &uuid(p.rng).replace('-', "")[..16])
        .replace("instance/", "permissionSet/");
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = sso_admin(p, a);
    let sso = |rng: &mut ChaCha8Rng, name: &str, t: DateTime<Utc>, params: Value| {
        call(
            rng,
            &who,
            t,
            "sso.amazonaws.com",
            name,
            SSO_REGION,
            &ip,
            false,
        )
        .params(params)
    };
    let target = p.org.accounts[p.acct(2)].id.clone();
    let steps = [
        (
            "CreatePermissionSet",
            json!({"instanceArn": instance, "name": "BreakGlass", "sessionDuration": "PT12H"}),
        ),
        (
            "UpdatePermissionSet",
            json!({"instanceArn": instance, "permissionSetArn": ps, "sessionDuration": "PT12H", "description": "emergency"}),
        ),
        (
            "AttachManagedPolicyToPermissionSet",
            json!({"instanceArn": instance, "permissionSetArn": ps, "managedPolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ),
        (
            "CreateAccountAssignment",
            json!({"instanceArn": instance, "permissionSetArn": ps, "targetId": target, "targetType": "AWS_ACCOUNT", "principalType": "USER", "principalId": p.org.sso_users[3].user_id}),
        ),
    ];
    let mut ids = Vec::new();
    for (i, (name, params)) in steps.into_iter().enumerate() {
        let ti = t + Duration::seconds(45 * i as i64);
        let rec = sso(p.rng, name, ti, params);
        ids.push(p.add(a, SSO_REGION, ti, rec));
    }
    p.label(
        "identity_center_permission_set_changes",
        "A permission set created, updated, given AdministratorAccess and assigned.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&[
                "CreatePermissionSet",
                "UpdatePermissionSet",
                "AttachManagedPolicyToPermissionSet",
                "CreateAccountAssignment",
            ]),
            source: Some("sso.amazonaws.com".into()),
            account: Some(mgmt.clone()),
            ..Default::default()
        },
    );

    let t = p.at_work();
    let mut ids = Vec::new();
    for (i, name) in ["CreateApplication", "DeleteApplication"]
        .into_iter()
        .enumerate()
    {
        let ti = t + Duration::minutes(20 * i as i64);
        let rec = sso(
            p.rng,
            name,
            ti,
            json!({"instanceArn": instance, "name": "wiki-saml"}),
        );
        ids.push(p.add(a, SSO_REGION, ti, rec));
    }
    p.label(
        "identity_center_application_changes",
        "An Identity Center application created and deleted.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["CreateApplication", "DeleteApplication"]),
            source: Some("sso.amazonaws.com".into()),
            ..Default::default()
        },
    );
}

fn security_groups(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let account = &p.org.accounts[a];
    let who = Who::Role {
        account,
        role: &account.roles[0],
        session: "frank".into(),
        mfa: true,
    };
    let ip = office_ip(p.rng);
    let t = p.at_work();
    let open_v4 = call(p.rng, &who, t, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "eu-west-1", &ip, false).params(json!({
        "groupId": "sg-0a1b2c3d4e5f60718",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp ssh"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    }));
    let t2 = t + Duration::minutes(2);
    let open_v6 = call(p.rng, &who, t2, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "eu-west-1", &ip, false).params(json!({
        "groupId": "sg-0a1b2c3d4e5f60718",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "groups": {}, "ipRanges": {}, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}, "prefixListIds": {}}]}
    }));
    let ids = vec![
        p.add(a, "eu-west-1", t, open_v4),
        p.add(a, "eu-west-1", t2, open_v6),
    ];
    p.label(
        "security_group_open_to_world",
        "Ingress opened to 0.0.0.0/0 and ::/0.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["AuthorizeSecurityGroupIngress"]),
            actor: Some("Admin/frank".into()),
            ..Default::default()
        },
    );

    let t = p.at_work();
    let internal = call(p.rng, &who, t, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", "eu-west-1", &ip, false).params(json!({
        "groupId": "sg-0fedcba9876543210",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "groups": {}, "ipRanges": {"items": [{"cidrIp": "10.20.0.0/16"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    }));
    let t2 = t + Duration::minutes(30);
    let revoke = call(p.rng, &who, t2, "ec2.amazonaws.com", "RevokeSecurityGroupIngress", "eu-west-1", &ip, false)
        .params(json!({"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}));
    let ids = vec![
        p.add(a, "eu-west-1", t, internal),
        p.add(a, "eu-west-1", t2, revoke),
    ];
    p.label(
        "security_group_changed",
        "Internal ingress added and the open rule revoked.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&[
                "AuthorizeSecurityGroupIngress",
                "RevokeSecurityGroupIngress",
            ]),
            ..Default::default()
        },
    );
}

fn console_logins(p: &mut Planter<'_>) {
    let a = p.acct(1);
    let account = &p.org.accounts[a];
    let user = &account.users[0];
    let t = p.at_work();
    let ip = format!("{UNEXPECTED_PREFIX}{}", p.rng.random_range(2..250));
    let rec = call(
        p.rng,
        &Who::User {
            account,
            user,
            console: true,
            mfa: true,
        },
        t,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "us-east-1",
        &ip,
        false,
    )
    .console_login("Success", true);
    let id = p.add(a, "us-east-1", t, rec);
    p.label(
        "console_login_unexpected_network",
        "A console sign-in from outside the organisation's networks.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["ConsoleLogin"]),
            source_ip: Some(format!("{UNEXPECTED_PREFIX}0/24")),
            ..Default::default()
        },
    );

    let user = &account.users[2];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let rec = call(
        p.rng,
        &Who::User {
            account,
            user,
            console: true,
            mfa: false,
        },
        t,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "eu-north-1",
        &ip,
        false,
    )
    .console_login("Success", false);
    let id = p.add(a, "eu-north-1", t, rec);
    p.label(
        "console_login_without_mfa",
        "An IAM user signed in to the console without MFA.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["ConsoleLogin"]),
            actor: Some(user.name.clone()),
            ..Default::default()
        },
    );

    let user = &account.users[1];
    let t = p.at_work();
    let mut ids = Vec::new();
    for i in 0..3 {
        let ti = t + Duration::seconds(20 * i);
        let rec = call(
            p.rng,
            &Who::User {
                account,
                user,
                console: true,
                mfa: false,
            },
            ti,
            "signin.amazonaws.com",
            "ConsoleLogin",
            "us-east-1",
            &ip,
            false,
        )
        .console_login("Failure", false)
        .set("errorMessage", json!("Failed authentication"));
        ids.push(p.add(a, "us-east-1", ti, rec));
    }
    let actor = user.name.clone();
    p.label(
        "console_login_failures",
        "Three failed console sign-ins in a minute.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["ConsoleLogin"]),
            actor: Some(actor),
            ..Default::default()
        },
    );
}

fn off_hours(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let account = &p.org.accounts[a];
    let user = &account.users[1];
    let start = p.org.local_time(p.day_start, 2, 35);
    let ip = office_ip(p.rng);
    let who = Who::User {
        account,
        user,
        console: false,
        mfa: false,
    };
    let calls = [
        (
            "iam.amazonaws.com",
            "GetAccountAuthorizationDetails",
            "us-east-1",
        ),
        ("secretsmanager.amazonaws.com", "ListSecrets", "eu-west-1"),
        (
            "secretsmanager.amazonaws.com",
            "GetSecretValue",
            "eu-west-1",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (source, name, region)) in calls.into_iter().enumerate() {
        let t = start + Duration::seconds(90 * i as i64);
        let rec = call(p.rng, &who, t, source, name, region, &ip, true);
        ids.push(p.add(a, region, t, rec));
    }
    let actor = user.name.clone();
    p.label(
        "off_hours_activity",
        "A person reading secrets at 02:35 local time.",
        a,
        ids,
        Finder {
            actor: Some(actor),
            since: Some(start - Duration::minutes(1)),
            until: Some(start + Duration::minutes(10)),
            ..Default::default()
        },
    );
}

fn cloudtrail(p: &mut Planter<'_>) {
    let a = p.acct(3);
    let account = &p.org.accounts[a];
    let who = Who::Role {
        account,
        role: &account.roles[0],
        session: "mallory".into(),
        mfa: false,
    };
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let trail = format!(
        "arn:aws:cloudtrail:eu-west-1:{}:trail/org-trail",
        account.id
    );
    let stop = call(
        p.rng,
        &who,
        t,
        "cloudtrail.amazonaws.com",
        "StopLogging",
        "eu-west-1",
        &ip,
        false,
    )
    .params(json!({"name": trail}));
    let id = p.add(a, "eu-west-1", t, stop);
    p.label(
        "cloudtrail_stopped",
        "CloudTrail logging was stopped.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["StopLogging"]),
            ..Default::default()
        },
    );
    let t2 = t + Duration::minutes(6);
    let sel = call(p.rng, &who, t2, "cloudtrail.amazonaws.com", "PutEventSelectors", "eu-west-1", &ip, false)
        .params(json!({"trailName": trail, "eventSelectors": [{"readWriteType": "ReadOnly", "includeManagementEvents": false, "dataResources": []}]}));
    let t3 = t2 + Duration::minutes(3);
    let del = call(
        p.rng,
        &who,
        t3,
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        "eu-west-1",
        &ip,
        false,
    )
    .params(json!({"name": trail}));
    let ids = vec![
        p.add(a, "eu-west-1", t2, sel),
        p.add(a, "eu-west-1", t3, del),
    ];
    p.label(
        "cloudtrail_tampered",
        "Management events turned off, then the trail deleted.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["PutEventSelectors", "DeleteTrail"]),
            source: Some("cloudtrail.amazonaws.com".into()),
            ..Default::default()
        },
    );
}

fn denials(p: &mut Planter<'_>) {
    struct Denied {
        layer: &'static str,
        source: &'static str,
        name: &'static str,
        region: &'static str,
        code: &'static str,
        message: &'static str,
    }
    let cases = [
        Denied {
            layer: "service_control_policy",
            source: "sqs.amazonaws.com",
            name: "CreateQueue",
            region: "ap-south-1",
            code: "AccessDenied",
            message: "is not authorized to perform: sqs:createqueue on resource: arn:aws:sqs:ap-south-1:{acct}:jobs with an explicit deny in a service control policy",
        },
        Denied {
            layer: "service_control_policy",
            source: "sagemaker.amazonaws.com",
            name: "CreateNotebookInstance",
            region: "eu-west-1",
            code: "AccessDeniedException",
            message: "is not authorized to perform: sagemaker:CreateNotebookInstance on resource: arn:aws:sagemaker:eu-west-1:{acct}:notebook-instance/lab because no service control policy allows the sagemaker:CreateNotebookInstance action",
        },
        Denied {
            layer: "resource_control_policy",
            source: "secretsmanager.amazonaws.com",
            name: "GetSecretValue",
            region: "eu-west-1",
            code: "AccessDeniedException",
            message: "is not authorized to perform: secretsmanager:GetSecretValue on resource: prod/db with an explicit deny in a resource control policy",
        },
        Denied {
            layer: "permissions_boundary",
            source: "iam.amazonaws.com",
            name: "CreateRole",
            region: "us-east-1",
            code: "AccessDenied",
            message: "is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::{acct}:role/tmp because no permissions boundary allows the iam:CreateRole action",
        },
        Denied {
            layer: "session_policy",
            source: "s3.amazonaws.com",
            name: "ListBuckets",
            region: "us-east-1",
            code: "AccessDenied",
            message: "is not authorized to perform: s3:ListAllMyBuckets because no session policy allows the s3:ListAllMyBuckets action",
        },
        Denied {
            layer: "identity_policy",
            source: "dynamodb.amazonaws.com",
            name: "DeleteTable",
            region: "eu-west-1",
            code: "AccessDeniedException",
            message: "is not authorized to perform: dynamodb:DeleteTable on resource: arn:aws:dynamodb:eu-west-1:{acct}:table/orders with an explicit deny in an identity-based policy",
        },
        Denied {
            layer: "identity_policy",
            source: "lambda.amazonaws.com",
            name: "DeleteFunction20150331",
            region: "eu-west-1",
            code: "AccessDeniedException",
            message: "is not authorized to perform: lambda:DeleteFunction on resource: arn:aws:lambda:eu-west-1:{acct}:function:orders-api because no identity-based policy allows the lambda:DeleteFunction action",
        },
        Denied {
            layer: "resource_policy",
            source: "kms.amazonaws.com",
            name: "Decrypt",
            region: "eu-west-1",
            code: "AccessDeniedException",
            message: "is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:{acct}:key/3f0a2b6c because no resource-based policy allows the kms:Decrypt action",
        },
        Denied {
            layer: "vpc_endpoint_policy",
            source: "s3.amazonaws.com",
            name: "GetBucketPolicy",
            region: "eu-west-1",
            code: "AccessDenied",
            message: "is not authorized to perform: s3:GetBucketPolicy on resource: \"arn:aws:s3:::prod-artifacts\" with an explicit deny in a VPC endpoint policy",
        },
        Denied {
            layer: "unknown",
            source: "ec2.amazonaws.com",
            name: "RunInstances",
            region: "eu-west-1",
            code: "Client.UnauthorizedOperation",
            message: "You are not authorized to perform this operation. Encoded authorization failure message: 4kT9xQ-EXAMPLE",
        },
    ];
    for case in cases {
        let a = p.acct(3);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let account = &p.org.accounts[a];
            let role = &account.roles[1];
            let session = "dev-session".to_owned();
            let principal = format!(
                "arn:aws:sts::{}:assumed-role/{}/{session}",
                account.id, role.name
            );
            let message = if case.message.starts_with("You are") {
                case.message.to_owned()
            } else {
                format!(
                    "User: {principal} {}",
                    case.message.replace("{acct}", &account.id)
                )
            };
            let who = Who::Role {
                account,
                role,
                session,
                mfa: false,
            };
            let t = p.at_work();
            let ip = office_ip(p.rng);
            let mut rec = call(
                p.rng,
                &who,
                t,
                case.source,
                case.name,
                case.region,
                &ip,
                false,
            )
            .error(case.code, &message);
            if case.layer == "vpc_endpoint_policy" {
                rec = rec.set("vpcEndpointId", json!("vpce-0a1b2c3d4e5f60718"));
            }
            ids.push(p.add(a, case.region, t, rec));
        }
        let kind = format!("denied_{}", case.layer);
        // Two cases share a layer; keep one label per layer.
        if let Some(existing) = p.labels.iter_mut().find(|l| l.kind == kind) {
            existing.alerts.extend(ids.iter().map(|id| ExpectedAlert {
                event_id: id.clone(),
                rule_id: "access_denied".to_owned(),
            }));
            existing.event_ids.extend(ids);
            continue;
        }
        let desc = format!("Calls denied by {}.", case.layer.replace('_', " "));
        p.label(
            &kind,
            &desc,
            a,
            ids,
            Finder {
                denied: true,
                denial_layer: Some(case.layer.to_owned()),
                ..Default::default()
            },
        );
    }
}
