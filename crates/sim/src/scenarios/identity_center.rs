//! IAM Identity Center: permission sets and account assignments.

use super::*;

pub(super) fn sso_admin<'a>(p: &Planter<'a>, a: usize) -> Who<'a> {
    let account = &p.org.accounts[a];
    let user = &p.org.sso_users[0];
    Who::Role {
        account,
        role: &account.sso_roles[0],
        session: user.email.clone(),
        mfa: false,
    }
}

pub(super) fn identity_center(p: &mut Planter<'_>) {
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
