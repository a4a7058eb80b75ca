//! Calls a policy denied, grouped per actor and action.

use super::{Finding, Reads, Rule, RuleSettings};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "access_denied",
    title: "Access denied",
    severity: Severity::Medium,
    description: "A call denied by a policy (`AccessDenied`, `AccessDeniedException`, `UnauthorizedOperation`, `Client.UnauthorizedOperation`, a network activity event's `VpceAccessDenied`, and the service-specific codes listed in `denial.rs`), naming the layer that denied it when the message says (SCP, RCP, permissions boundary, session, identity, resource or VPC endpoint policy). Denials of one actor for one action in one run make one alert with the count (burst aggregation).",
    why: "Denials are where an intruder's reconnaissance shows first, and where a stolen credential tries what it cannot do. A burst from one principal is worth a look.",
    check: "Is the actor a person exploring, a misconfigured workload, or someone probing? The layer says where the deny lives; the weekly denied-calls report says whether it is new.",
    tuning: "DENIED_EXCLUSIONS (`service:Action` globs, default `ce:GetCostAndUsage,ce:GetCostForecast`, which the console calls on every visit); FILTERED_ROLES for scanners.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html",
        "https://aws.amazon.com/blogs/security/how-to-monitor-and-query-iam-resources-at-scale-part-2/",
    ],
    reads: Reads::Denied,
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    let denial = e.denial?;
    if s.is_excluded_denial(e) {
        return None;
    }
    let service = e.source.split('.').next().unwrap_or(&e.source);
    let by = match denial.layer {
        crate::denial::DenialLayer::Unknown => String::new(),
        layer => format!(" by {}", layer.as_str().replace('_', " ")),
    };
    let mut f = Finding::new(format!("{service}:{} denied{by}", e.name))
        .detail("Error", e.error_code.clone().unwrap_or_default())
        .detail("Layer", denial.layer.as_str())
        .group(format!("{}|{}|{}", e.principal.actor, e.source, e.name));
    if let Some(endpoint) = &e.vpc_endpoint_id {
        f = f.detail("VPC endpoint", endpoint.as_str());
    }
    if let Some(message) = &e.error_message {
        f = f.detail("Message", message.chars().take(300).collect::<String>());
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn codes_layers_and_exclusions() {
        let scp = call(iam_user("alice"), "sqs.amazonaws.com", "CreateQueue")
            .error("AccessDenied", "User: x is not authorized to perform: sqs:createqueue with an explicit deny in a service control policy");
        assert_eq!(
            fire(&RULE, &scp.event()).summary,
            "sqs:CreateQueue denied by service control policy"
        );
        let ec2 = call(iam_user("alice"), "ec2.amazonaws.com", "RunInstances").error(
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        );
        assert_eq!(fire(&RULE, &ec2.event()).summary, "ec2:RunInstances denied");
        let other = call(iam_user("alice"), "s3.amazonaws.com", "GetBucketPolicy")
            .error("NoSuchBucketPolicy", "none");
        assert!(quiet(&RULE, &other.event()));
        let ce = call(iam_user("alice"), "ce.amazonaws.com", "GetCostAndUsage")
            .error("AccessDenied", "not authorized");
        assert!(quiet(&RULE, &ce.event()), "default exclusion");
        let mut s = RuleSettings::default();
        s.set_denied_exclusions("sqs:Create*").unwrap();
        assert!((RULE.eval)(&scp.event(), &s).is_none());
        // The whole event source works as the service, and case does not matter.
        for list in [
            "ec2.amazonaws.com:Run*",
            "EC2:runinstances",
            "{s3,ec2}:*Instances",
        ] {
            s.set_denied_exclusions(list).unwrap();
            assert!((RULE.eval)(&ec2.event(), &s).is_none(), "{list}");
        }
        s.set_denied_exclusions("ec2:Describe*,s3:*").unwrap();
        assert!((RULE.eval)(&ec2.event(), &s).is_some());
    }
}
