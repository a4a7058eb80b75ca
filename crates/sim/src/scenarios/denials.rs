//! Denied calls by each policy layer, and the noise that should not alert.

use super::*;

pub(super) fn denials(p: &mut Planter<'_>) {
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
