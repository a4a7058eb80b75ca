//! IAM users and keys: creation, MFA removal, key status, and privilege escalation paths.

use super::*;

pub(super) fn user_and_key(p: &mut Planter<'_>) {
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

pub(super) fn mfa_and_keys(p: &mut Planter<'_>) {
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

pub(super) fn privilege_escalation(p: &mut Planter<'_>) {
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
