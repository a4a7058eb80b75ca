//! Root user: console sign-ins with and without MFA, and API calls made as root.

use super::*;

pub(super) fn root_logins(p: &mut Planter<'_>) {
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

pub(super) fn root_api_call(p: &mut Planter<'_>) {
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
