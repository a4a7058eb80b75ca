//! Benign background activity: people at work, automation, AWS services, scanners.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::Pending;
use crate::ids::{id_like, office_ip, uuid};
use crate::org::{DEFAULT_REGIONS, Org, SSO_REGION};
use crate::records::{Who, call};

/// Relative activity in the hour starting at `t`: automation all day, people in working hours.
pub(crate) fn hour_weight(org: &Org, t: DateTime<Utc>) -> f64 {
    let people = if org.working(t) || org.working(t + chrono::Duration::minutes(59)) {
        65.0
    } else {
        0.0
    };
    AUTOMATION_WEIGHT + people
}

const AUTOMATION_WEIGHT: f64 = 37.0;

#[derive(Clone, Copy)]
enum Kind {
    UserReads,
    SsoSessionReads,
    UserAssumesRole,
    SsoPortal,
    ConsoleLogin,
    Automation,
    KmsByService,
    ServiceLinkedAssume,
    ServiceLinkedActivity,
    Scanner,
    LambdaAssume,
}

const PEOPLE_KINDS: [(Kind, u32); 5] = [
    (Kind::UserReads, 25),
    (Kind::SsoSessionReads, 25),
    (Kind::UserAssumesRole, 8),
    (Kind::SsoPortal, 6),
    (Kind::ConsoleLogin, 1),
];

const AUTOMATION_KINDS: [(Kind, u32); 6] = [
    (Kind::Automation, 12),
    (Kind::KmsByService, 10),
    (Kind::ServiceLinkedAssume, 3),
    (Kind::ServiceLinkedActivity, 5),
    (Kind::Scanner, 8),
    (Kind::LambdaAssume, 4),
];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total);
    for (item, w) in items {
        if n < *w {
            return *item;
        }
        n -= w;
    }
    items[0].0
}

/// Most work happens in two regions; the rest is spread thin.
fn work_region(rng: &mut ChaCha8Rng) -> &'static str {
    match rng.random_range(0..10) {
        0..=5 => "eu-west-1",
        6..=7 => "us-east-1",
        _ => DEFAULT_REGIONS[rng.random_range(0..DEFAULT_REGIONS.len())],
    }
}

const READS: [(&str, &str, bool); 14] = [
    ("iam.amazonaws.com", "ListUsers", true),
    ("iam.amazonaws.com", "GetUser", true),
    ("iam.amazonaws.com", "ListRoles", true),
    ("iam.amazonaws.com", "GetRole", true),
    ("iam.amazonaws.com", "ListAttachedRolePolicies", true),
    ("iam.amazonaws.com", "ListPolicies", true),
    ("ec2.amazonaws.com", "DescribeInstances", false),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", false),
    ("ec2.amazonaws.com", "DescribeVpcs", false),
    ("s3.amazonaws.com", "ListBuckets", true),
    ("cloudtrail.amazonaws.com", "DescribeTrails", false),
    ("kms.amazonaws.com", "ListKeys", false),
    ("sts.amazonaws.com", "GetCallerIdentity", false),
    ("logs.amazonaws.com", "DescribeLogGroups", false),
];

/// Global services record in us-east-1.
fn region_for(source: &str, global: bool, rng: &mut ChaCha8Rng) -> &'static str {
    if global || source == "iam.amazonaws.com" {
        "us-east-1"
    } else {
        work_region(rng)
    }
}

/// One background event at `t`.
pub(crate) fn event(rng: &mut ChaCha8Rng, org: &Org, t: DateTime<Utc>) -> Pending {
    let kind = if org.working(t) && rng.random_bool(65.0 / (65.0 + AUTOMATION_WEIGHT)) {
        pick(rng, &PEOPLE_KINDS)
    } else {
        pick(rng, &AUTOMATION_KINDS)
    };
    // Production-like accounts are busier.
    let a = if rng.random_bool(0.4) {
        2.min(org.accounts.len() - 1)
    } else {
        rng.random_range(0..org.accounts.len())
    };
    let account = &org.accounts[a];
    let ip = office_ip(rng);
    let (region, json) = match kind {
        Kind::UserReads => {
            let user = &account.users[rng.random_range(0..account.users.len())];
            let (source, name, global) = READS[rng.random_range(0..READS.len())];
            let region = region_for(source, global, rng);
            let who = Who::User {
                account,
                user,
                console: false,
                mfa: false,
            };
            (
                region,
                call(rng, &who, t, source, name, region, &ip, true).json(),
            )
        }
        Kind::SsoSessionReads => {
            let role = &account.sso_roles[rng.random_range(0..account.sso_roles.len())];
            let user = &org.sso_users[rng.random_range(0..org.sso_users.len())];
            let (source, name, global) = READS[rng.random_range(0..READS.len())];
            let region = region_for(source, global, rng);
            let who = Who::Role {
                account,
                role,
                session: user.email.clone(),
                mfa: false,
            };
            (
                region,
                call(rng, &who, t, source, name, region, &ip, true).json(),
            )
        }
        Kind::UserAssumesRole => {
            let user = &account.users[rng.random_range(0..account.users.len())];
            let role = &account.roles[rng.random_range(0..3)];
            let region = work_region(rng);
            let who = Who::User {
                account,
                user,
                console: false,
                mfa: false,
            };
            let session = format!("{}-{}", user.name, rng.random_range(1000..9999));
            let rec = call(rng, &who, t, "sts.amazonaws.com", "AssumeRole", region, &ip, true)
                .params(json!({"roleArn": format!("arn:aws:iam::{}:role{}{}", account.id, role.path, role.name), "roleSessionName": session, "durationSeconds": 3600}))
                .response(json!({"credentials": {"accessKeyId": id_like(rng, "ASIA", 16), "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": "Mar 3, 2026, 10:00:00 AM"}, "assumedRoleUser": {"assumedRoleId": format!("{}:{session}", role.principal_id), "arn": format!("arn:aws:sts::{}:assumed-role/{}/{session}", account.id, role.name)}}));
            (region, rec.json())
        }
        Kind::SsoPortal => {
            let user = &org.sso_users[rng.random_range(0..org.sso_users.len())];
            let who = Who::SsoUser { org, user };
            let name = [
                "Federate",
                "ListAccounts",
                "ListAccountRoles",
                "GetRoleCredentials",
            ][rng.random_range(0..4)];
            let rec = call(
                rng,
                &who,
                t,
                "sso.amazonaws.com",
                name,
                SSO_REGION,
                &ip,
                name != "Federate",
            )
            .set("eventType", json!("AwsServiceEvent"));
            // Identity Center events land in the management account.
            return Pending {
                account: 0,
                region: SSO_REGION,
                time: t,
                json: rec.json(),
            };
        }
        Kind::ConsoleLogin => {
            let user = &account.users[rng.random_range(0..account.users.len())];
            let who = Who::User {
                account,
                user,
                console: true,
                mfa: true,
            };
            let rec = call(
                rng,
                &who,
                t,
                "signin.amazonaws.com",
                "ConsoleLogin",
                "us-east-1",
                &ip,
                false,
            )
            .console_login("Success", true);
            ("us-east-1", rec.json())
        }
        Kind::Automation => {
            let role = &account.roles[3];
            let region = work_region(rng);
            let who = Who::Role {
                account,
                role,
                session: format!("GitHubActions-{}", rng.random_range(100000..999999)),
                mfa: false,
            };
            let (source, name, ro) = [
                ("cloudformation.amazonaws.com", "DescribeStacks", true),
                (
                    "lambda.amazonaws.com",
                    "UpdateFunctionCode20150331v2",
                    false,
                ),
                ("ecs.amazonaws.com", "DescribeServices", true),
                ("ssm.amazonaws.com", "GetParameter", true),
                ("sts.amazonaws.com", "GetCallerIdentity", true),
            ][rng.random_range(0..5)];
            let ip = format!(
                "20.{}.{}.{}",
                rng.random_range(1..250),
                rng.random_range(1..250),
                rng.random_range(1..250)
            );
            (
                region,
                call(rng, &who, t, source, name, region, &ip, ro).json(),
            )
        }
        Kind::KmsByService => {
            let service = [
                "s3.amazonaws.com",
                "secretsmanager.amazonaws.com",
                "rds.amazonaws.com",
            ][rng.random_range(0..3)];
            let region = work_region(rng);
            let who = Who::Service { account, service };
            let name = if rng.random_bool(0.7) {
                "Decrypt"
            } else {
                "GenerateDataKey"
            };
            let key = format!("arn:aws:kms:{region}:{}:key/{}", account.id, uuid(rng));
            let rec = call(
                rng,
                &who,
                t,
                "kms.amazonaws.com",
                name,
                region,
                service,
                true,
            )
            .params(json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": key}))
            .set(
                "resources",
                json!([{"accountId": account.id, "type": "AWS::KMS::Key", "ARN": key}]),
            );
            (region, rec.json())
        }
        Kind::ServiceLinkedAssume => {
            let (service, role) = SERVICE_ROLES[rng.random_range(0..SERVICE_ROLES.len())];
            let region = work_region(rng);
            let who = Who::Service { account, service };
            let arn = format!(
                "arn:aws:iam::{}:role/aws-service-role/{service}/{role}",
                account.id
            );
            let rec = call(
                rng,
                &who,
                t,
                "sts.amazonaws.com",
                "AssumeRole",
                region,
                service,
                true,
            )
            .params(json!({"roleArn": arn, "roleSessionName": role, "durationSeconds": 3600}))
            .set(
                "resources",
                json!([{"accountId": account.id, "type": "AWS::IAM::Role", "ARN": arn}]),
            );
            (region, rec.json())
        }
        Kind::ServiceLinkedActivity => {
            let (service, role) = SERVICE_ROLES[rng.random_range(0..SERVICE_ROLES.len())];
            let region = work_region(rng);
            let role = crate::org::Role {
                name: role.to_owned(),
                path: format!("/aws-service-role/{service}/"),
                principal_id: id_like(rng, "AROA", 17),
            };
            let who = Who::Role {
                account,
                role: &role,
                session: role.name.clone(),
                mfa: false,
            };
            let name = [
                "DescribeInstances",
                "DescribeSubnets",
                "DescribeInstanceStatus",
            ][rng.random_range(0..3)];
            let rec = call(
                rng,
                &who,
                t,
                "ec2.amazonaws.com",
                name,
                region,
                service,
                true,
            )
            .set("userAgent", json!(service));
            (region, rec.json())
        }
        Kind::Scanner => {
            let role = &account.scanner_roles[rng.random_range(0..account.scanner_roles.len())];
            let region = DEFAULT_REGIONS[rng.random_range(0..DEFAULT_REGIONS.len())];
            let (source, name, global) = READS[rng.random_range(0..READS.len())];
            let region = if global || source == "iam.amazonaws.com" {
                "us-east-1"
            } else {
                region
            };
            let who = Who::Role {
                account,
                role,
                session: format!("scan-{}", rng.random_range(10000..99999)),
                mfa: false,
            };
            let ip = format!(
                "34.{}.{}.{}",
                rng.random_range(1..250),
                rng.random_range(1..250),
                rng.random_range(1..250)
            );
            (
                region,
                call(rng, &who, t, source, name, region, &ip, true).json(),
            )
        }
        Kind::LambdaAssume => {
            let role = &account.roles[4];
            let region = work_region(rng);
            let who = Who::Service {
                account,
                service: "lambda.amazonaws.com",
            };
            let rec = call(rng, &who, t, "sts.amazonaws.com", "AssumeRole", region, "lambda.amazonaws.com", true).params(
                json!({"roleArn": format!("arn:aws:iam::{}:role{}{}", account.id, role.path, role.name), "roleSessionName": "orders-api", "durationSeconds": 43200}),
            );
            (region, rec.json())
        }
    };
    Pending {
        account: a,
        region,
        time: t,
        json,
    }
}

const SERVICE_ROLES: [(&str, &str); 4] = [
    ("autoscaling.amazonaws.com", "AWSServiceRoleForAutoScaling"),
    (
        "elasticloadbalancing.amazonaws.com",
        "AWSServiceRoleForElasticLoadBalancing",
    ),
    ("config.amazonaws.com", "AWSServiceRoleForConfig"),
    (
        "inspector2.amazonaws.com",
        "AWSServiceRoleForAmazonInspector2",
    ),
];
