//! Security group ingress opened to every IPv4 or IPv6 address.

use serde_json::Value;

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "security_group_open_to_world",
    title: "Security group open to the internet",
    severity: Severity::High,
    description: "A successful `AuthorizeSecurityGroupIngress`, or `ModifySecurityGroupRules` on an ingress rule, that allows 0.0.0.0/0 or ::/0. Names the ports.",
    why: "Ingress from anywhere exposes whatever listens on those ports to the whole internet; SSH and RDP open to the world are scanned within minutes.",
    check: "Which ports, on which instances? Replace the range with your networks, or put the service behind a load balancer or Session Manager.",
    tuning: "ALLOWED_ACTORS for the role that manages public load balancers' groups.",
    references: &[
        "https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html",
        "https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-19",
    ],
    reads: Reads::Events(&[
        ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"),
        ("ec2.amazonaws.com", "ModifySecurityGroupRules"),
    ]),
    superseded_by: &[],
    eval,
};

const OPEN: [&str; 2] = ["0.0.0.0/0", "::/0"];

/// Every open range in the request, with the ports of the rule that holds it.
fn open_ranges(v: &Value, ports: Option<String>, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if map.get("isEgress").and_then(Value::as_bool) == Some(true)
                || map.get("IsEgress").and_then(Value::as_bool) == Some(true)
            {
                return;
            }
            let here = port_range(v).or(ports);
            for (key, value) in map {
                let is_cidr = matches!(
                    key.as_str(),
                    "cidrIp" | "cidrIpv6" | "CidrIpv4" | "CidrIpv6"
                );
                match value.as_str() {
                    Some(cidr) if is_cidr && OPEN.contains(&cidr.trim()) => {
                        out.push(match &here {
                            Some(p) => format!("{cidr} on {p}"),
                            None => cidr.to_owned(),
                        });
                    }
                    _ => open_ranges(value, here.clone(), out),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| open_ranges(i, ports.clone(), out)),
        _ => {}
    }
}

fn port_range(v: &Value) -> Option<String> {
    let protocol = v
        .get("ipProtocol")
        .or_else(|| v.get("IpProtocol"))?
        .as_str()
        .unwrap_or("");
    let from = v
        .get("fromPort")
        .or_else(|| v.get("FromPort"))
        .and_then(Value::as_i64);
    let to = v
        .get("toPort")
        .or_else(|| v.get("ToPort"))
        .and_then(Value::as_i64);
    Some(match (protocol, from, to) {
        ("-1", _, _) => "all traffic".to_owned(),
        (p, Some(f), Some(t)) if f == t => format!("{p}/{f}"),
        (p, Some(f), Some(t)) => format!("{p}/{f}-{t}"),
        (p, _, _) => p.to_owned(),
    })
}

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let mut open = Vec::new();
    open_ranges(&p, None, &mut open);
    if open.is_empty() {
        return None;
    }
    open.dedup();
    let group = text(&p, "groupId")
        .or_else(|| text(&p, "GroupId"))
        .or_else(|| text(&p, "groupName"))
        .unwrap_or("(not recorded)");
    Some(
        Finding::new(format!(
            "security group {group} open to the internet: {}",
            open.join(", ")
        ))
        .detail("Group", group)
        .detail("Open", open.join("; ")),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn ipv4_ipv6_and_modify_rules() {
        let v6 = call(iam_user("alice"), "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress").params(json!({
            "groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}
        }));
        assert_eq!(
            fire(&RULE, &v6.event()).summary,
            "security group sg-1 open to the internet: ::/0 on tcp/3389"
        );
        let modify = call(iam_user("alice"), "ec2.amazonaws.com", "ModifySecurityGroupRules").params(json!({
            "ModifySecurityGroupRulesRequest": {"GroupId": "sg-2", "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"IpProtocol": "-1", "CidrIpv4": "0.0.0.0/0"}}}
        }));
        assert!(
            fire(&RULE, &modify.event())
                .summary
                .contains("0.0.0.0/0 on all traffic")
        );
        let inside = call(iam_user("alice"), "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress").params(json!({
            "groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}
        }));
        assert!(quiet(&RULE, &inside.event()));
    }
}
