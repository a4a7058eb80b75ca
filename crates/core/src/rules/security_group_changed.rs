//! Any security group change, grouped per actor, account and region.

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "security_group_changed",
    title: "Security group changed",
    severity: Severity::Low,
    description: "A successful security group change: created, deleted, ingress or egress authorised, revoked or modified. Changes by one actor in one account and region in one run make one alert. Quiet where `security_group_open_to_world` fired.",
    why: "Security groups are the network perimeter of every instance, database and function in a VPC; changes outside the deployment pipeline deserve a look.",
    check: "Was it the usual pipeline? Compare the group's rules with what the workload needs.",
    tuning: "ALLOWED_ACTORS for the deployment roles; DISABLED_RULES if all changes go through reviewed code.",
    references: &[
        "https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Events-tutorial-CloudTrail.html",
    ],
    reads: Reads::Events(&[
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupEgress"),
        ("ec2.amazonaws.com", "RevokeSecurityGroupIngress"),
        ("ec2.amazonaws.com", "RevokeSecurityGroupEgress"),
        ("ec2.amazonaws.com", "ModifySecurityGroupRules"),
        ("ec2.amazonaws.com", "CreateSecurityGroup"),
        ("ec2.amazonaws.com", "DeleteSecurityGroup"),
    ]),
    superseded_by: &["security_group_open_to_world"],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let group = text(&p, "groupId")
        .or_else(|| text(&p, "groupName"))
        .or_else(|| {
            p.pointer("/ModifySecurityGroupRulesRequest/GroupId")
                .and_then(|v| v.as_str())
        })
        .unwrap_or("(not recorded)");
    Some(
        Finding::new(format!("{} on {group}", e.name))
            .detail("Group", group)
            .group(format!("{}|{}", e.principal.actor, e.region)),
    )
}
