//! Console sign-ins from unexpected networks and failed ones, and activity outside working hours.

use super::*;

pub(super) fn console_logins(p: &mut Planter<'_>) {
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

pub(super) fn off_hours(p: &mut Planter<'_>) {
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
