//! Record shapes of real CloudTrail that generated data rarely has: the root user acting in the
//! console and through a service, a SAML console sign-in (not "without MFA"), a VPC endpoint
//! policy denial recorded as a network activity event, an event with an anonymised region, and
//! roles passed to services (one of them made admin the same day).

use super::*;

/// Sets a field of the record's `userIdentity`.
fn identity(rec: Rec, key: &str, value: Value) -> Rec {
    let mut v = rec.json();
    v["userIdentity"][key] = value;
    Rec::from_json(v)
}

pub(super) fn root_console_actions(p: &mut Planter<'_>) {
    let a = p.acct(1);
    let account = &p.org.accounts[a];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = Who::Root { account };
    let console = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "ListUsers",
        "us-east-1",
        &ip,
        true,
    )
    .set("userAgent", json!("signin.amazonaws.com"))
    .set("sessionCredentialFromConsole", json!("true"));
    let console = identity(console, "invokedBy", json!("signin.amazonaws.com"));
    let t2 = t + Duration::seconds(75);
    let on_behalf = call(
        p.rng,
        &who,
        t2,
        "iam.amazonaws.com",
        "GetRole",
        "us-east-1",
        "cloudformation.amazonaws.com",
        true,
    )
    .set("userAgent", json!("cloudformation.amazonaws.com"))
    .params(json!({"roleName": "break-glass"}));
    let on_behalf = identity(
        on_behalf,
        "invokedBy",
        json!("cloudformation.amazonaws.com"),
    );
    let ids = vec![
        p.add(a, "us-east-1", t, console),
        p.add(a, "us-east-1", t2, on_behalf),
    ];
    p.label(
        "root_api_activity_console",
        "The root user clicked through the IAM console, and CloudFormation called IAM on root's behalf (`invokedBy`).",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["ListUsers", "GetRole"]),
            actor: Some("root".into()),
            ..Default::default()
        },
    );
}

pub(super) fn saml_console_login(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let account = &p.org.accounts[a];
    let role = &account.roles[0];
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let who = Who::Role {
        account,
        role,
        session: "jane@example.com".to_owned(),
        mfa: false,
    };
    let rec = call(
        p.rng,
        &who,
        t,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "us-east-1",
        &ip,
        false,
    )
    .console_login("Success", false)
    .set(
        "additionalEventData",
        json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No", "SamlProviderArn": format!("arn:aws:iam::{}:saml-provider/Okta", account.id)}),
    );
    let actor = format!("{}/jane@example.com", role.name);
    let id = p.add(a, "us-east-1", t, rec);
    p.label(
        "quiet_saml_console_login",
        "A SAML console sign-in: `MFAUsed: No`, but MFA is the identity provider's; no alert.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["ConsoleLogin"]),
            actor: Some(actor),
            ..Default::default()
        },
    );
}

pub(super) fn vpce_denial(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let outsider = &p.org.accounts[p.acct(3)];
    let account = &p.org.accounts[a];
    let role = &outsider.roles[0];
    let t = p.at_work();
    let who = Who::Role {
        account: outsider,
        role,
        session: "batch".to_owned(),
        mfa: false,
    };
    let rec = call(
        p.rng,
        &who,
        t,
        "kms.amazonaws.com",
        "ListKeys",
        "eu-west-1",
        "10.20.4.17",
        true,
    )
    .error(
        "VpceAccessDenied",
        "The request was denied due to a VPC endpoint policy",
    )
    .set(
        "userIdentity",
        json!({"type": "AWSAccount", "principalId": id_like(p.rng, "AKIA", 16), "accountId": outsider.id}),
    )
    .set("eventType", json!("AwsVpceEvent"))
    .set("eventCategory", json!("NetworkActivity"))
    .set("recipientAccountId", json!(account.id))
    .set("vpcEndpointId", json!("vpce-0b1c2d3e4f5a60718"))
    .set("vpcEndpointAccountId", json!(account.id))
    .set("sharedEventID", json!(uuid(p.rng)));
    let rec = {
        let mut v = rec.json();
        let o = v.as_object_mut().expect("a record is an object");
        for absent in [
            "userAgent",
            "requestParameters",
            "responseElements",
            "readOnly",
            "managementEvent",
            "tlsDetails",
        ] {
            o.remove(absent);
        }
        Rec::from_json(v)
    };
    let id = p.add(a, "eu-west-1", t, rec);
    p.label(
        "denied_network_activity",
        "Another account's call through this account's VPC endpoint, denied by the endpoint policy (network activity event, `VpceAccessDenied`).",
        a,
        vec![id],
        Finder {
            denied: true,
            denial_layer: Some("vpc_endpoint_policy".into()),
            ..Default::default()
        },
    );
}

pub(super) fn anonymised_region(p: &mut Planter<'_>) {
    let a = p.acct(3);
    let who = sso_admin(p, a);
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let rec = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "CreateUser",
        "region-A",
        &ip,
        false,
    )
    .params(json!({"userName": "export-bot"}));
    let id = p.add(a, "us-east-1", t, rec);
    p.label(
        "unusual_region_user_created",
        "An IAM user created, in a record whose region was anonymised (`region-A`): kept, flagged, and alerted on.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["CreateUser"]),
            ..Default::default()
        },
    );
}

pub(super) fn passed_roles(p: &mut Planter<'_>) {
    let a = p.acct(2);
    let own = p.org.accounts[a].id.clone();
    // A pipeline hands an ordinary role to a new function: low.
    let who = sso_admin(p, a);
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let function = call(
        p.rng,
        &who,
        t,
        "lambda.amazonaws.com",
        "CreateFunction20150331",
        "eu-west-1",
        &ip,
        false,
    )
    .params(json!({"functionName": "nightly-export", "runtime": "python3.12", "role": format!("arn:aws:iam::{own}:role/nightly-export-lambda"), "handler": "app.handler", "code": {"s3Bucket": format!("artifacts-{own}"), "s3Key": "export.zip"}, "timeout": 30, "memorySize": 256, "publish": false, "packageType": "Zip"}));
    let id = p.add(a, "eu-west-1", t, function);
    p.label(
        "role_passed_to_service",
        "A role passed to a new Lambda function (iam:PassRole), low.",
        a,
        vec![id],
        Finder {
            event_names: Planter::names(&["CreateFunction20150331"]),
            ..Default::default()
        },
    );
    // A role made admin, then launched on an instance through its instance profile: high.
    let who = sso_admin(p, a);
    let t = p.at_work();
    let ip = office_ip(p.rng);
    let grant = call(
        p.rng,
        &who,
        t,
        "iam.amazonaws.com",
        "AttachRolePolicy",
        "us-east-1",
        &ip,
        false,
    )
    .params(json!({"roleName": "build-runner", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}));
    let t2 = t + Duration::minutes(2);
    let launch = call(
        p.rng,
        &who,
        t2,
        "ec2.amazonaws.com",
        "RunInstances",
        "eu-west-1",
        &ip,
        false,
    )
    .params(json!({"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro", "iamInstanceProfile": {"name": "build-runner"}}));
    let ids = vec![
        p.add(a, "us-east-1", t, grant),
        p.add(a, "eu-west-1", t2, launch),
    ];
    p.label(
        "role_passed_admin",
        "AdministratorAccess attached to a role, then that role launched on an instance: the passed role is high.",
        a,
        ids,
        Finder {
            event_names: Planter::names(&["AttachRolePolicy", "RunInstances"]),
            ..Default::default()
        },
    );
}
