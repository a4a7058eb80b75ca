//! A role handed to a compute or automation service (`iam:PassRole`): whoever can pass a role
//! to something that runs code gets that role's permissions.
//!
//! The calls are those whose Service Authorization Reference entry lists `iam:PassRole` as a
//! dependent action and that name the role in their request: creating or updating something
//! that runs with a role. Where the role sits in the request differs by API (`role`, `roleArn`,
//! `taskRoleArn`, `serviceRole`, an instance profile, a list of ARNs, a Data Pipeline field), so
//! the request is searched for those keys at any depth. Low severity: pipelines do this all
//! day. [`RuleSet::evaluate_all`](super::RuleSet::evaluate_all) raises a finding to high when
//! the same batch grants the role an admin policy, and
//! [`seen::raise_passed_admin_roles`](crate::seen::raise_passed_admin_roles) when an earlier
//! run did.

use serde_json::Value;

use super::{Finding, Reads, Rule, RuleSettings, params, succeeded};
use crate::model::{ActivityEvent, Severity};

/// `(eventSource, eventName)` of the calls that pass a role.
pub(crate) const CALLS: &[(&str, &str)] = &[
    ("ec2.amazonaws.com", "RunInstances"),
    ("ec2.amazonaws.com", "AssociateIamInstanceProfile"),
    ("ec2.amazonaws.com", "ReplaceIamInstanceProfileAssociation"),
    ("ec2.amazonaws.com", "RequestSpotInstances"),
    ("ec2.amazonaws.com", "RequestSpotFleet"),
    ("lambda.amazonaws.com", "CreateFunction20150331"),
    (
        "lambda.amazonaws.com",
        "UpdateFunctionConfiguration20150331v2",
    ),
    ("ecs.amazonaws.com", "RegisterTaskDefinition"),
    ("ecs.amazonaws.com", "CreateService"),
    ("eks.amazonaws.com", "CreateCluster"),
    ("eks.amazonaws.com", "CreateNodegroup"),
    ("batch.amazonaws.com", "CreateComputeEnvironment"),
    ("batch.amazonaws.com", "RegisterJobDefinition"),
    ("glue.amazonaws.com", "CreateJob"),
    ("glue.amazonaws.com", "UpdateJob"),
    ("glue.amazonaws.com", "CreateDevEndpoint"),
    ("glue.amazonaws.com", "CreateSession"),
    ("glue.amazonaws.com", "CreateCrawler"),
    ("glue.amazonaws.com", "UpdateCrawler"),
    ("sagemaker.amazonaws.com", "CreateNotebookInstance"),
    ("sagemaker.amazonaws.com", "UpdateNotebookInstance"),
    ("sagemaker.amazonaws.com", "CreateTrainingJob"),
    ("sagemaker.amazonaws.com", "CreateProcessingJob"),
    ("sagemaker.amazonaws.com", "CreateModel"),
    ("codebuild.amazonaws.com", "CreateProject"),
    ("codebuild.amazonaws.com", "UpdateProject"),
    ("codepipeline.amazonaws.com", "CreatePipeline"),
    ("codepipeline.amazonaws.com", "UpdatePipeline"),
    ("cloudformation.amazonaws.com", "CreateStack"),
    ("cloudformation.amazonaws.com", "UpdateStack"),
    ("cloudformation.amazonaws.com", "CreateStackSet"),
    ("cloudformation.amazonaws.com", "UpdateStackSet"),
    ("cloudformation.amazonaws.com", "CreateChangeSet"),
    ("datapipeline.amazonaws.com", "PutPipelineDefinition"),
    ("states.amazonaws.com", "CreateStateMachine"),
    ("states.amazonaws.com", "UpdateStateMachine"),
    ("scheduler.amazonaws.com", "CreateSchedule"),
    ("scheduler.amazonaws.com", "UpdateSchedule"),
    ("events.amazonaws.com", "PutTargets"),
    ("elasticmapreduce.amazonaws.com", "RunJobFlow"),
    ("apprunner.amazonaws.com", "CreateService"),
    ("rolesanywhere.amazonaws.com", "CreateProfile"),
    ("rolesanywhere.amazonaws.com", "UpdateProfile"),
];

/// Request keys (lowercase) that hold a passed role or instance profile.
const ROLE_KEYS: &[&str] = &[
    "role",
    "rolearn",
    "rolearns",
    "servicerole",
    "servicerolearn",
    "executionrole",
    "executionrolearn",
    "taskrolearn",
    "noderole",
    "instancerole",
    "jobflowrole",
    "resourcerole",
    "iaminstanceprofile",
];

pub(crate) static RULE: Rule = Rule {
    id: super::ROLE_PASSED_RULE_ID,
    title: "Role passed to a service",
    severity: Severity::Low,
    description: "A role handed to a compute or automation service when it is created or updated (`iam:PassRole`): EC2 instances and instance profiles, Lambda functions, ECS task definitions, EKS, Batch, Glue, SageMaker, CodeBuild, CodePipeline, CloudFormation, Data Pipeline, Step Functions, EventBridge, EMR, App Runner and IAM Roles Anywhere profiles. Low by default; high when that role (or the instance profile of the same name) was granted an admin policy, in the same batch or, with the first-seen state, in an earlier run. Grouped per actor and run.",
    why: "Passing a role to something that runs code is how a principal borrows permissions it does not have: a role with more rights than its passer, handed to a Lambda function or an instance the passer controls, is privilege escalation without touching IAM.",
    check: "Is the passer expected to deploy this workload (a pipeline, an operator)? Does the role's policy exceed what the passer holds? Restrict `iam:PassRole` to named roles with `iam:PassedToService`.",
    tuning: "ALLOWED_ACTORS for deployment pipelines (by name or ARN glob); SEVERITY_OVERRIDES; DISABLED_RULES.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html",
        "https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html",
    ],
    reads: Reads::Events(CALLS),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, _: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let roles = passed_roles(&params(e));
    let first = roles.first()?;
    let service = e.source.trim_end_matches(".amazonaws.com");
    let more = match roles.len() {
        1 => String::new(),
        n => format!(" and {} more", n - 1),
    };
    let mut f = Finding::new(format!(
        "{} {}{more} passed to {service} in {}",
        first.kind,
        first.name(),
        e.name
    ))
    .group(format!("{}|passed-role", e.principal.actor));
    for r in &roles {
        f = f.detail("Role", format!("{} {}", r.kind, r.value));
    }
    Some(f)
}

/// A role or instance profile found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Passed {
    /// `role` or `instance profile`.
    pub(crate) kind: &'static str,
    /// The ARN or name as written.
    pub(crate) value: String,
}

impl Passed {
    /// The role or profile a `Role` detail of a finding describes (`role X`, `instance
    /// profile X`).
    pub(crate) fn described(detail: &str) -> Option<Self> {
        let (kind, value) = if let Some(v) = detail.strip_prefix("instance profile ") {
            ("instance profile", v)
        } else {
            ("role", detail.strip_prefix("role ")?)
        };
        Some(Self {
            kind,
            value: value.to_owned(),
        })
    }

    /// The name: the last path segment of an ARN, or the value itself.
    pub(crate) fn name(&self) -> &str {
        self.value.rsplit(['/', ':']).next().unwrap_or(&self.value)
    }
}

/// Every role and instance profile a request passes, in order, without repeats.
pub(crate) fn passed_roles(p: &Value) -> Vec<Passed> {
    let mut out = Vec::new();
    walk(p, &mut out, 0);
    out.dedup();
    out
}

fn walk(v: &Value, out: &mut Vec<Passed>, depth: usize) {
    if depth > 12 {
        return;
    }
    match v {
        Value::Object(map) => {
            // A Data Pipeline field: {"key": "role", "stringValue": "..."}.
            if let (Some(Value::String(k)), Some(Value::String(s))) =
                (map.get("key"), map.get("stringValue"))
                && matches!(k.as_str(), "role" | "resourceRole")
            {
                push(out, "role", s);
            }
            for (key, value) in map {
                let lower = key.to_ascii_lowercase();
                if !ROLE_KEYS.contains(&lower.as_str()) {
                    walk(value, out, depth + 1);
                    continue;
                }
                let kind = if lower == "iaminstanceprofile" {
                    "instance profile"
                } else {
                    "role"
                };
                match value {
                    Value::String(s) => push(out, kind, s),
                    Value::Array(items) => {
                        for s in items.iter().filter_map(Value::as_str) {
                            push(out, kind, s);
                        }
                    }
                    Value::Object(profile) => {
                        let named = ["arn", "Arn", "name", "Name"]
                            .iter()
                            .find_map(|k| profile.get(*k).and_then(Value::as_str));
                        if let Some(s) = named {
                            push(out, kind, s);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn push(out: &mut Vec<Passed>, kind: &'static str, value: &str) {
    let value = value.trim();
    // An IAM role or instance profile is named by an ARN or a plain name; anything else under a
    // role key (an SSM document's "role" description, a template) is not a role.
    let plausible = value.starts_with("arn:")
        || (!value.is_empty()
            && value.len() <= 128
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c)));
    if plausible
        && !out
            .iter()
            .any(|p: &Passed| p.kind == kind && p.value == value)
    {
        out.push(Passed {
            kind,
            value: value.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_found_wherever_the_api_puts_them() {
        // Sorted: serde_json keeps keys sorted or in insertion order, by a feature another
        // crate of the build may turn on.
        let found = |p: Value| -> Vec<String> {
            let mut v: Vec<String> = passed_roles(&p)
                .iter()
                .map(|r| format!("{}={}", r.kind, r.name()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            found(json!({"iamInstanceProfile": {"name": "web"}})),
            ["instance profile=web"]
        );
        assert_eq!(
            found(
                json!({"taskRoleArn": "arn:aws:iam::111122223333:role/app", "executionRoleArn": "arn:aws:iam::111122223333:role/ecsExec"})
            ),
            ["role=app", "role=ecsExec"]
        );
        assert_eq!(
            found(
                json!({"roleArns": ["arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:role/b"]})
            ),
            ["role=a", "role=b"]
        );
        assert_eq!(
            found(
                json!({"pipelineObjects": [{"id": "Default", "fields": [{"key": "role", "stringValue": "DataPipelineDefaultRole"}, {"key": "resourceRole", "stringValue": "DataPipelineDefaultResourceRole"}]}]})
            ),
            [
                "role=DataPipelineDefaultResourceRole",
                "role=DataPipelineDefaultRole"
            ]
        );
        assert_eq!(
            found(
                json!({"targets": [{"id": "1", "arn": "arn:aws:lambda:us-east-1:111122223333:function:f", "roleArn": "arn:aws:iam::111122223333:role/events"}]})
            ),
            ["role=events"]
        );
        assert!(found(json!({"instanceType": "t3.micro"})).is_empty());
        assert!(found(json!({"role": "a sentence, not a role"})).is_empty());
    }

    #[test]
    fn a_call_passing_a_role_fires_a_failed_one_does_not() {
        let create = call(
            iam_user("deployer"),
            "lambda.amazonaws.com",
            "CreateFunction20150331",
        )
        .params(
            json!({"functionName": "f", "role": "arn:aws:iam::111122223333:role/lambda-admin"}),
        );
        let f = fire(&RULE, &create.event());
        assert_eq!(
            f.summary,
            "role lambda-admin passed to lambda in CreateFunction20150331"
        );
        assert_eq!(f.group.as_deref(), Some("deployer|passed-role"));
        assert!(quiet(
            &RULE,
            &create
                .clone()
                .error("InvalidParameterValueException", "role cannot be assumed")
                .event()
        ));
        let no_role = call(iam_user("deployer"), "ec2.amazonaws.com", "RunInstances")
            .params(json!({"instanceType": "t3.micro"}));
        assert!(quiet(&RULE, &no_role.event()));
    }
}
