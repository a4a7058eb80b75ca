//! CloudTrail itself stopped, deleted or changed.

use super::*;

pub(super) fn cloudtrail(p: &mut Planter<'_>) {
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
