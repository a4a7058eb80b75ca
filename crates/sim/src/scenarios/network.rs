//! Security groups opened to the world and changed.

use super::*;

pub(super) fn security_groups(p: &mut Planter<'_>) {
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
