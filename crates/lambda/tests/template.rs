//! The deployed stack (`infra/template.yaml`) against the code:
//! - every environment variable a function reads is set by the template, and every variable the
//!   template sets is read (no drift), and the template's defaults are accepted;
//! - no role grants a `*` action, and a `*` resource only for the APIs that have no resource
//!   level, each with its reason;
//! - the Glue table has the exported Parquet schema's columns;
//! - every parameter's environment variable (what `make deploy` reads) is in the README and in
//!   `infra/deploy.env.example`;
//! - an update from the stack before the cost changes replaces no table, bucket or queue.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use iat_lambda::alarm::AlarmSettings;
use iat_lambda::alerter::AlerterSettings;
use iat_lambda::env::Env;
use iat_lambda::exporter::ExporterSettings;
use iat_lambda::ingester::IngesterSettings;
use iat_lambda::report::ReportSettings;
use iat_lambda::tracker::TrackerSettings;
use serde_yaml::Value;

/// Actions allowed on `Resource: "*"`, because the API has no resource-level permissions.
const STAR_RESOURCE_ACTIONS: &[(&str, &str)] = &[
    (
        "cloudtrail:LookupEvents",
        "Event history is not a resource: LookupEvents supports no resource ARN or condition key",
    ),
    (
        "account:ListRegions",
        "without an AccountId, ListRegions reads only the caller's own account's region list",
    ),
    (
        "organizations:ListAccounts",
        "ListAccounts has no resource type: the organisation is the caller's own",
    ),
    (
        "organizations:ListAccountsForParent",
        "the units' ARNs hold the management account and organisation id, which the stack is not given",
    ),
    (
        "organizations:ListOrganizationalUnitsForParent",
        "the units' ARNs hold the management account and organisation id, which the stack is not given",
    ),
];

/// Variables a function may read that the template does not set, and why.
const NOT_SET_BY_TEMPLATE: &[(&str, &str)] = &[
    ("AWS_REGION", "set by Lambda in every function"),
    (
        "RUST_LOG",
        "a full log filter for debugging; LOG_LEVEL is the deployed setting",
    ),
    (
        "AWS_LAMBDA_LOG_LEVEL",
        "set by Lambda when the function's advanced logging controls name a level",
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .collect()
}

/// A value as the function would see it once deployed: parameters at their defaults,
/// resource references as plausible names and ARNs.
fn resolve(t: &Value, v: &Value) -> String {
    let reference = |name: &str| -> String {
        match name {
            "AWS::Region" => return "eu-west-1".into(),
            "AWS::AccountId" => return "111122223333".into(),
            "AWS::StackName" => return "iat".into(),
            "AWS::Partition" => return "aws".into(),
            // As deployed with the options on (see `!If` below): an organisation's accounts.
            "Accounts" => return "organization".into(),
            _ => {}
        }
        if let Some(p) = t["Parameters"].get(name) {
            return match &p["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("parameter {name} has default {other:?}"),
            };
        }
        match t["Resources"][name]["Type"].as_str() {
            Some("AWS::SNS::Topic") => format!("arn:aws:sns:eu-west-1:111122223333:{name}"),
            Some(_) => format!("iat-{name}"),
            None => panic!("reference to unknown {name}"),
        }
    };
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!Ref", Value::String(name)) => reference(name),
            ("!Sub", Value::String(text)) => {
                let mut out = String::new();
                let mut rest = text.as_str();
                while let Some(i) = rest.find("${") {
                    out.push_str(&rest[..i]);
                    let end = rest[i..].find('}').unwrap() + i;
                    let name = &rest[i + 2..end];
                    match name.split_once('.') {
                        Some((resource, attr)) => out.push_str(&get_att(t, resource, attr)),
                        None => out.push_str(&reference(name)),
                    }
                    rest = &rest[end + 1..];
                }
                out + rest
            }
            // As deployed with the option on (a trail bucket, an organisation id, ...).
            ("!If", Value::Sequence(branches)) => resolve(t, &branches[1]),
            ("!GetAtt", Value::String(path)) => {
                let (resource, attr) = path.split_once('.').unwrap();
                get_att(t, resource, attr)
            }
            (tag, value) => panic!("no resolution for {tag} {value:?}"),
        },
        other => panic!("unexpected value {other:?}"),
    }
}

/// What `!GetAtt resource.attr` gives once deployed, in the shape AWS documents for it.
fn get_att(t: &Value, resource: &str, attr: &str) -> String {
    let ty = t["Resources"][resource]["Type"]
        .as_str()
        .unwrap_or_else(|| panic!("!GetAtt of unknown {resource}"));
    let at = "eu-west-1:111122223333";
    match (ty, attr) {
        ("AWS::DynamoDB::Table", "Arn") => format!("arn:aws:dynamodb:{at}:table/iat-{resource}"),
        ("AWS::DynamoDB::Table", "StreamArn") => {
            format!("arn:aws:dynamodb:{at}:table/iat-{resource}/stream/2026-01-01T00:00:00.000")
        }
        ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::iat-{}", resource.to_lowercase()),
        ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{at}:iat-{resource}"),
        ("AWS::SQS::Queue", "QueueName") => format!("iat-{resource}"),
        ("AWS::KMS::Key", "Arn") => format!("arn:aws:kms:{at}:key/0000-{resource}"),
        // A log group's ARN ends in `:*` (its streams).
        ("AWS::Logs::LogGroup", "Arn") => {
            format!("arn:aws:logs:{at}:log-group:/aws/lambda/iat-{resource}:*")
        }
        ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::111122223333:role/iat-{resource}"),
        ("AWS::Events::Rule", "Arn") => format!("arn:aws:events:{at}:rule/iat-{resource}"),
        ("AWS::Serverless::Function", "Arn") => {
            format!("arn:aws:lambda:{at}:function:iat-{resource}")
        }
        _ => panic!("no shape for !GetAtt {resource}.{attr} ({ty})"),
    }
}

/// Each function's binary name (from its code directory) and environment.
fn functions(t: &Value) -> BTreeMap<String, HashMap<String, String>> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, f)| {
            let code = f["Properties"]["CodeUri"].as_str().unwrap();
            let bin = code.trim_end_matches('/').rsplit('/').next().unwrap();
            let vars = f["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .unwrap_or_else(|| panic!("{id} has no environment"))
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), resolve(t, v)))
                .collect();
            (bin.to_owned(), vars)
        })
        .collect()
}

/// The names a function's configuration asks for, given these variables, and whether it
/// accepted them.
fn names_read(bin: &str, vars: &HashMap<String, String>) -> (BTreeSet<String>, Result<(), String>) {
    let seen = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        seen.borrow_mut().insert(name.to_owned());
        vars.get(name).cloned()
    };
    let env = Env::new(&lookup);
    fn accepted<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
        r.map(drop).map_err(|e| e.to_string())
    }
    let outcome = match bin {
        "tracker" => accepted(TrackerSettings::from_env(&env)),
        "alarm" => accepted(AlarmSettings::from_env(&env)),
        "alerter" => accepted(AlerterSettings::from_env(&env)),
        "exporter" => accepted(ExporterSettings::from_env(&env)),
        "report" => accepted(ReportSettings::from_env(&env)),
        "ingester" => accepted(IngesterSettings::from_env(&env)),
        other => panic!("the template deploys an unknown function {other}"),
    };
    let mut names = seen.into_inner();
    names.extend(iat_lambda::LOG_VARIABLES.map(str::to_owned));
    (names, outcome)
}

/// The names the function's source asks `Env` for, found in its text: a second witness, for
/// variables read only on some paths.
fn names_in_source(bin: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(format!("crates/lambda/src/{bin}.rs"))).unwrap();
    let mut names = BTreeSet::new();
    for method in ["required", "get", "parse", "parse_opt", "flag", "list"] {
        // `env.get("X")`, also when rustfmt puts `.get(` on the next line.
        let call = format!(".{method}(");
        let mut at = 0;
        while let Some(i) = text[at..].find(&call) {
            let start = at + i;
            at = start + call.len();
            if !text[..start].trim_end().ends_with("env") {
                continue;
            }
            let arg = text[at..].trim_start();
            if let Some(quoted) = arg.strip_prefix('"') {
                names.insert(quoted[..quoted.find('"').unwrap()].to_owned());
            }
        }
    }
    // The rule settings are read through one lookup by name (`RuleSetConfig::from_lookup`).
    if bin == "alerter" || bin == "exporter" {
        names.extend(
            iat_core::rules::SETTINGS
                .iter()
                .map(|(n, _, _)| (*n).to_owned()),
        );
    }
    names.extend(iat_lambda::LOG_VARIABLES.map(str::to_owned));
    names
}

#[test]
fn every_variable_read_is_set_and_every_variable_set_is_read() {
    let t = template();
    let fns = functions(&t);
    assert_eq!(
        fns.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "alarm", "alerter", "exporter", "ingester", "report", "tracker"
        ]
    );
    let exempt: BTreeSet<&str> = NOT_SET_BY_TEMPLATE.iter().map(|(n, _)| *n).collect();
    for (bin, vars) in &fns {
        let (read, accepted) = names_read(bin, vars);
        accepted.unwrap_or_else(|e| panic!("{bin} rejects the template's defaults: {e}"));
        assert_eq!(
            read,
            names_in_source(bin),
            "{bin}: the variables read differ from those its source names"
        );
        let set: BTreeSet<String> = vars.keys().cloned().collect();
        let not_set: Vec<&String> = read
            .iter()
            .filter(|n| !set.contains(*n) && !exempt.contains(n.as_str()))
            .collect();
        let not_read: Vec<&String> = set.iter().filter(|n| !read.contains(*n)).collect();
        assert!(
            not_set.is_empty(),
            "{bin} reads {not_set:?}, which the template does not set"
        );
        assert!(
            not_read.is_empty(),
            "the template sets {not_read:?} for {bin}, which it never reads"
        );
    }
}

fn strings(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Both branches of an `!If [condition, a, b]` (each checked as if it were deployed), leaving
/// out `!Ref AWS::NoValue`; any other value as itself.
fn branches(v: &Value) -> Vec<&Value> {
    let no_value = |v: &Value| matches!(v, Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("AWS::NoValue"));
    match v {
        Value::Tagged(t) if t.tag == "If" => t.value.as_sequence().unwrap()[1..]
            .iter()
            .flat_map(branches)
            .filter(|b| !no_value(b))
            .collect(),
        other => vec![other],
    }
}

#[test]
fn no_role_grants_a_star_except_where_the_api_requires_it() {
    let t = template();
    let allowed: HashMap<&str, &str> = STAR_RESOURCE_ACTIONS.iter().copied().collect();
    let roles = of_type(&t, "AWS::IAM::Role");
    assert_eq!(roles.len(), 6, "one role per function");
    let mut star_grants = Vec::new();
    for (role, r) in &roles {
        let trust = &r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(
            trust["Principal"]["Service"].as_str(),
            Some("lambda.amazonaws.com"),
            "{role}"
        );
        assert!(
            r["Properties"].get("ManagedPolicyArns").is_none(),
            "{role}: managed policies grant more than the function calls"
        );
        for policy in r["Properties"]["Policies"].as_sequence().unwrap() {
            let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
            for st in statements.iter().flat_map(branches) {
                let sid = st["Sid"].as_str().unwrap_or("?");
                assert_eq!(st["Effect"].as_str(), Some("Allow"));
                assert!(
                    st.get("NotAction").is_none() && st.get("NotResource").is_none(),
                    "{role}/{sid}"
                );
                let actions: Vec<&str> = strings(&st["Action"])
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                for a in &actions {
                    assert!(
                        !a.contains('*'),
                        "{role}/{sid} grants the action pattern {a}"
                    );
                }
                for resource in strings(&st["Resource"]).into_iter().flat_map(branches) {
                    match resource {
                        Value::String(s) if s == "*" => {
                            for a in &actions {
                                let why = allowed.get(a).unwrap_or_else(|| {
                                    panic!("{role}/{sid} grants {a} on every resource")
                                });
                                star_grants.push(format!("{role}: {a} ({why})"));
                            }
                        }
                        Value::String(s) => {
                            panic!("{role}/{sid}: literal resource {s}; reference the stack's own")
                        }
                        other => {
                            // ARNs built from the stack's resources: no wildcard in the service,
                            // region or account; only an object-key suffix like `/events/*`.
                            let arn = resolve(&t, other);
                            let fields: Vec<&str> = arn.splitn(6, ':').collect();
                            // The one exception: the member accounts' reader role, by name,
                            // in any account (each role's trust policy names this tracker).
                            if actions == ["sts:AssumeRole"]
                                && arn == "arn:aws:iam::*:role/iat-member-reader"
                            {
                                star_grants.push(format!("{role}: sts:AssumeRole on {arn}"));
                                continue;
                            }
                            if fields.len() == 6 {
                                assert!(
                                    fields[..5].iter().all(|f| !f.contains('*')),
                                    "{role}/{sid}: {arn}"
                                );
                            }
                            let scoped_suffix = arn.ends_with("/*")
                                || arn.starts_with("arn:aws:logs:") && arn.ends_with(":*");
                            assert!(
                                arn.matches('*').count() == 0
                                    || arn.matches('*').count() == 1 && scoped_suffix,
                                "{role}/{sid}: {arn}"
                            );
                        }
                    }
                }
            }
        }
    }
    // Printed so the grants and their reasons are visible in the test output.
    println!("grants on Resource \"*\":\n  {}", star_grants.join("\n  "));
    assert_eq!(star_grants.len(), 7, "{star_grants:?}");
}

#[test]
fn every_function_has_its_own_role_logs_dead_letters_and_alarms() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let p = &f["Properties"];
        if id == "AlarmFunction" {
            // Alarms about the alarm function would go through it: its failures reach the topic
            // as Lambda's on-failure record instead.
            let on_failure = &p["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
            assert_eq!(on_failure["Type"].as_str(), Some("SNS"));
            assert_eq!(on_failure["Destination"], tagged_ref("AlertTopic"));
            continue;
        }
        let role = match &p["Role"] {
            Value::Tagged(g) => g
                .value
                .as_str()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_owned(),
            other => panic!("{id}: role {other:?}"),
        };
        assert_eq!(
            t["Resources"][role.as_str()]["Type"].as_str(),
            Some("AWS::IAM::Role")
        );
        assert!(
            matches!(p["DeadLetterQueue"]["TargetArn"], Value::Tagged(_)),
            "{id} has no dead-letter queue"
        );
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.iter().any(|(_, a)| {
                    let ap = &a["Properties"];
                    ap["MetricName"].as_str() == Some(metric)
                        && ap["Dimensions"][0]["Value"].clone() == tagged_ref(&id)
                        && !ap["AlarmActions"].as_sequence().unwrap().is_empty()
                }),
                "{id} has no {metric} alarm with an action"
            );
        }
    }
    let invoke = of_type(&t, "AWS::Lambda::Permission")
        .into_iter()
        .find(|(_, p)| {
            p["Properties"]["Principal"].as_str() == Some("lambda.alarms.cloudwatch.amazonaws.com")
        })
        .expect("CloudWatch may invoke the alarm function");
    let source = resolve(&t, &invoke.1["Properties"]["SourceArn"]);
    for (id, a) in &alarms {
        let actions = a["Properties"]["AlarmActions"].as_sequence().unwrap();
        assert_eq!(actions.len(), 1, "{id}");
        assert_eq!(
            resolve(&t, &actions[0]),
            get_att(&t, "AlarmFunction", "Arn"),
            "{id} notifies nobody"
        );
        // Its name is one the permission's source pattern admits.
        let name = resolve(&t, &a["Properties"]["AlarmName"]);
        let prefix = source
            .rsplit_once(":alarm:")
            .unwrap()
            .1
            .trim_end_matches('*');
        assert!(name.starts_with(prefix), "{id}: {name} outside {source}");
    }
    for metric in [
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
        "EventsCollected",
    ] {
        assert!(
            alarms
                .iter()
                .any(|(_, a)| a["Properties"]["MetricName"].as_str() == Some(metric)),
            "no {metric} alarm"
        );
    }
}

/// `Alarms=essential` (the default) keeps one alarm per failure that needs a person: every
/// function's dead-letter queue (a failure made final: retries spent, or throttled past the
/// event's age), the alerter's stream age, no events collected, stalled streams. Errors and
/// throttles, earlier signals of the same failures, are the `full` set's.
#[test]
fn essential_alarms_cover_every_final_failure_and_full_adds_only_earlier_signals() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let essential: Vec<&(String, &Value)> = alarms
        .iter()
        .filter(|(_, a)| {
            !matches!(
                a["Condition"].as_str(),
                Some("FullAlarms" | "TrailFullAlarms")
            )
        })
        .collect();
    for (id, a) in &alarms {
        if essential.iter().any(|(e, _)| e == id) {
            continue;
        }
        let metric = a["Properties"]["MetricName"].as_str().unwrap();
        assert!(
            ["Errors", "Throttles"].contains(&metric),
            "{id} ({metric}) is only in the full set"
        );
    }
    // Every dead-letter queue a function or the trail files' queue sends to has an essential
    // alarm on its depth.
    let queues: Vec<String> = of_type(&t, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.ends_with("DeadLetterQueue"))
        .collect();
    assert!(queues.len() >= 5, "{queues:?}");
    for queue in &queues {
        assert!(
            essential.iter().any(|(_, a)| {
                let p = &a["Properties"];
                p["MetricName"].as_str() == Some("ApproximateNumberOfMessagesVisible")
                    && format!("{:?}", p["Dimensions"][0]["Value"]).contains(queue.as_str())
            }),
            "{queue} has no essential alarm"
        );
    }
    for metric in ["IteratorAge", "EventsCollected", "StalledStreams"] {
        assert!(
            essential
                .iter()
                .any(|(_, a)| a["Properties"]["MetricName"].as_str() == Some(metric)),
            "no essential {metric} alarm"
        );
    }
    let without_trail = essential
        .iter()
        .filter(|(_, a)| a["Condition"].as_str() != Some("HasTrail"))
        .count();
    assert_eq!(
        (without_trail, essential.len(), alarms.len()),
        (7, 8, 18),
        "alarms without a trail, with one, and in the full set"
    );
    assert_eq!(
        t["Parameters"]["Alarms"]["Default"].as_str(),
        Some("essential")
    );
}

fn tagged_ref(name: &str) -> Value {
    serde_yaml::from_str(&format!("!Ref {name}")).unwrap()
}

#[test]
fn the_glue_table_has_the_exported_columns() {
    let t = template();
    let table = &t["Resources"]["GlueEventsTable"]["Properties"]["TableInput"];
    let columns: Vec<(String, String)> = table["StorageDescriptor"]["Columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_owned(),
                c["Type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = iat_lake::schema::events_schema()
        .fields()
        .iter()
        .map(|f| {
            let arrow_type = f.data_type().to_string();
            let ty = match arrow_type.split('(').next().unwrap() {
                "Utf8" | "Dictionary" => "string",
                "Boolean" => "boolean",
                "Timestamp" => "timestamp",
                other => panic!("no Glue type for {other}"),
            };
            (f.name().clone(), ty.to_owned())
        })
        .collect();
    assert_eq!(columns, expected);
    assert_eq!(table["PartitionKeys"][0]["Name"].as_str(), Some("dt"));
    assert_eq!(
        table["Parameters"]["projection.dt.format"].as_str(),
        Some("yyyy-MM-dd")
    );
    let location = resolve(&t, &table["StorageDescriptor"]["Location"]);
    assert!(
        location.ends_with(&format!("/{}", iat_lake::layout::table_prefix(""))),
        "{location}"
    );
}

#[test]
fn the_glue_trail_table_is_the_trail_ddl() {
    let t = template();
    let table = &t["Resources"]["GlueTrailTable"];
    assert_eq!(table["Condition"].as_str(), Some("HasTrailTable"));
    let input = &table["Properties"]["TableInput"];
    let columns: Vec<(String, String)> = input["StorageDescriptor"]["Columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_owned(),
                c["Type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ddl = iat_lake::trail::TABLE_DDL;
    let open = ".${table} (\n";
    let start = ddl.find(open).unwrap() + open.len();
    let body = &ddl[start..ddl.find("\nPARTITIONED BY").unwrap()];
    let expected: Vec<(String, String)> = body
        .trim()
        .trim_end_matches(')')
        .lines()
        .map(|l| {
            let (name, ty) = l.trim().trim_end_matches(',').split_once(' ').unwrap();
            (name.to_owned(), ty.to_owned())
        })
        .collect();
    assert_eq!(columns, expected);
    let keys: Vec<&str> = input["PartitionKeys"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| k["Name"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["account", "region", "day"]);
    assert!(ddl.contains("PARTITIONED BY (account string, region string, day string)"));
    let p = &input["Parameters"];
    assert_eq!(
        p["projection.region.values"].as_str(),
        Some(iat_lake::trail::REGIONS.join(",").as_str())
    );
    assert_eq!(p["projection.day.format"].as_str(), Some("yyyy/MM/dd"));
    for (key, value) in [
        ("serde", "org.apache.hive.hcatalog.data.JsonSerDe"),
        ("input", "com.amazon.emr.cloudtrail.CloudTrailInputFormat"),
    ] {
        assert!(ddl.contains(value), "{key}");
    }
    assert_eq!(
        input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].as_str(),
        Some("org.apache.hive.hcatalog.data.JsonSerDe")
    );
    // The location template, as Athena fills it, is where the trail writes (the lake crate's
    // tests fill the DDL's template and parse the key it gives).
    let template = format!("{:?}", p["storage.location.template"]);
    assert!(
        template.contains("AWSLogs/${OrganizationId}/${!account}/CloudTrail/${!region}/${!day}/"),
        "{template}"
    );
}

#[test]
fn every_parameter_has_its_variable_in_the_readme_and_the_example() {
    let t = template();
    let variables: Vec<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| upper_snake(k.as_str().unwrap()))
        .collect();
    // The README's configuration table, and the commented lines of infra/deploy.env.example.
    for (file, mention) in [
        ("README.md", "`{}`"),
        ("infra/deploy.env.example", "\n#{}="),
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let missing: Vec<&String> = variables
            .iter()
            .filter(|v| !text.contains(&mention.replace("{}", v)))
            .collect();
        assert!(missing.is_empty(), "{file} lacks {missing:?}");
    }
}

/// `AlertsEmailAddress` → `ALERTS_EMAIL_ADDRESS`, as `scripts/deploy.sh` maps them.
fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The member accounts' reader role: trusted by the tracker role alone, from inside the
/// organisation, and allowed only to read Event history and its regions.
#[test]
fn the_member_reader_role_trusts_only_the_tracker_inside_the_organisation() {
    let text = std::fs::read_to_string(root().join("infra/member.yaml")).unwrap();
    let t: Value = serde_yaml::from_str(&text).unwrap();
    let role = &t["Resources"]["ReaderRole"];
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    let trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 1);
    let st = &trust[0];
    assert_eq!(st["Action"].as_str(), Some("sts:AssumeRole"));
    let principal = &st["Principal"]["AWS"];
    assert!(
        principal.as_str() != Some("*") && !principal.is_null(),
        "{principal:?}"
    );
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        tagged_ref("OrganizationId")
    );
    assert_eq!(
        st["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        tagged_ref("TrackerRoleArn")
    );
    let policies = role["Properties"]["Policies"].as_sequence().unwrap();
    let actions: Vec<&str> = policies
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .flat_map(|st| strings(&st["Action"]))
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(actions, ["cloudtrail:LookupEvents", "account:ListRegions"]);
    // The role's name is what the tracker assumes by default.
    let central = template();
    assert_eq!(
        t["Parameters"]["RoleName"]["Default"],
        central["Parameters"]["MemberRoleName"]["Default"]
    );
}

fn member_template() -> Value {
    let text = std::fs::read_to_string(root().join("infra/member.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Every account's real-time events reach the one alerter: the member accounts' forwarding
/// rule and the central bus's rule match exactly what the stack's own real-time rule matches,
/// and the central bus takes events only from inside the organisation.
#[test]
fn member_accounts_forward_the_real_time_pattern_to_a_bus_only_the_organisation_can_write() {
    let t = template();
    let m = member_template();
    let own = &t["Resources"]["RealTimeRule"]["Properties"]["EventPattern"];
    assert!(own.is_mapping());
    assert_eq!(
        &t["Resources"]["OrgRealTimeRule"]["Properties"]["EventPattern"],
        own
    );
    assert_eq!(
        &m["Resources"]["ForwardRule"]["Properties"]["EventPattern"],
        own
    );
    // The central rule listens on the organisation bus and invokes the alerter.
    let rule = &t["Resources"]["OrgRealTimeRule"]["Properties"];
    assert_eq!(
        rule["EventBusName"],
        serde_yaml::from_str::<Value>("!GetAtt OrgEventBus.Name").unwrap()
    );
    let target = &rule["Targets"][0]["Arn"];
    assert_eq!(
        target,
        &serde_yaml::from_str::<Value>("!GetAtt AlerterFunction.Arn").unwrap()
    );
    assert_eq!(
        t["Resources"]["OrgRealTimePermission"]["Properties"]["SourceArn"],
        serde_yaml::from_str::<Value>("!GetAtt OrgRealTimeRule.Arn").unwrap()
    );
    // The bus policy: anyone, but only inside the organisation, and only PutEvents.
    let policy = &t["Resources"]["OrgEventBus"]["Properties"]["Policy"];
    let statements = policy["Statement"].as_sequence().unwrap();
    assert_eq!(statements.len(), 1);
    let st = &statements[0];
    assert_eq!(st["Action"].as_str(), Some("events:PutEvents"));
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
        tagged_ref("OrganizationId")
    );
    // The member's forwarding role: EventBridge of that account only, PutEvents on the one bus.
    let role = &m["Resources"]["ForwardRole"]["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        tagged_ref("AWS::AccountId")
    );
    let grants = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["Action"].as_str(), Some("events:PutEvents"));
    assert_eq!(grants[0]["Resource"], tagged_ref("CentralEventBusArn"));
    assert_eq!(
        m["Resources"]["ForwardRule"]["Properties"]["Targets"][0]["Arn"],
        tagged_ref("CentralEventBusArn")
    );
    // The reader role is made once per account (IAM is global), in one region of the stack set.
    assert_eq!(
        m["Resources"]["ReaderRole"]["Condition"].as_str(),
        Some("IsRoleRegion")
    );
}

/// No statement in either template allows a wildcard principal without the organisation
/// condition (denials, such as the buckets' refusal of plain HTTP, may name anyone).
#[test]
fn no_wildcard_principal_is_allowed_without_the_organisation_condition() {
    fn statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Mapping(map) => {
                for (k, child) in map {
                    if k.as_str() == Some("Statement") {
                        out.extend(strings(child));
                    } else {
                        statements(child, out);
                    }
                }
            }
            Value::Sequence(items) => items.iter().for_each(|i| statements(i, out)),
            Value::Tagged(t) => statements(&t.value, out),
            _ => {}
        }
    }
    let (t, m) = (template(), member_template());
    let mut all = Vec::new();
    statements(&t["Resources"], &mut all);
    statements(&m["Resources"], &mut all);
    assert!(all.len() > 20, "statements found: {}", all.len());
    let mut wildcards = 0;
    for st in all {
        if st["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let p = &st["Principal"];
        let star =
            p.as_str() == Some("*") || strings(&p["AWS"]).iter().any(|a| a.as_str() == Some("*"));
        if star {
            wildcards += 1;
            assert!(
                !st["Condition"]["StringEquals"]["aws:PrincipalOrgID"].is_null(),
                "a wildcard principal without aws:PrincipalOrgID: {st:?}"
            );
        }
    }
    assert_eq!(wildcards, 1, "the organisation bus's policy");
}

/// `value` with every `!If [Condition, then, else]` taken by `conditions` (a condition not
/// given is a test error).
fn choose(value: &Value, conditions: &HashMap<&str, bool>) -> Value {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!If" => {
            let branches = tagged.value.as_sequence().expect("!If takes a list");
            let name = branches[0].as_str().expect("!If names a condition");
            let on = *conditions
                .get(name)
                .unwrap_or_else(|| panic!("condition {name} not given"));
            choose(&branches[if on { 1 } else { 2 }], conditions)
        }
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .map(|v| choose(v, conditions))
                .filter(|v| !is_no_value(v))
                .collect(),
        ),
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| (k.clone(), choose(v, conditions)))
                .filter(|(_, v)| !is_no_value(v))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_no_value(v: &Value) -> bool {
    *v == tagged_ref("AWS::NoValue")
}

/// An update from the stack as it was before the cost changes (the data-holding resources of
/// that template, kept as a fixture) replaces nothing that holds data: CloudFormation replaces a
/// resource whose logical id, type or condition goes, or one of whose replacement properties
/// changes, and the replacement starts empty (a table, a bucket) or without its messages (a
/// queue). The events table keeps its key, its expiry attribute (items stored before keep
/// expiring, or keep never expiring) and, with `LookupIndexes=both`, exactly its indexes.
#[test]
fn an_update_from_the_earlier_stack_replaces_nothing_that_holds_data() {
    // Per the resource types' reference: "Update requires: Replacement".
    const REPLACED_ON: &[(&str, &[&str])] = &[
        (
            "AWS::DynamoDB::Table",
            &["TableName", "KeySchema", "LocalSecondaryIndexes"],
        ),
        ("AWS::S3::Bucket", &["BucketName", "ObjectLockEnabled"]),
        ("AWS::SQS::Queue", &["QueueName", "FifoQueue"]),
    ];
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stateful-resources-2026-12-02.yaml");
    let earlier: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now = template();
    let mut checked = BTreeSet::new();
    for (name, was) in resources(&earlier) {
        let ty = was["Type"].as_str().unwrap();
        let (_, replaced_on) = REPLACED_ON
            .iter()
            .find(|(t, _)| *t == ty)
            .unwrap_or_else(|| panic!("{name}: no replacement rule for {ty}"));
        let is = &now["Resources"][name.as_str()];
        assert_eq!(is["Type"], was["Type"], "{name} is still in the template");
        assert_eq!(is["Condition"], was["Condition"], "{name}: same condition");
        for property in *replaced_on {
            assert_eq!(
                is["Properties"][property], was["Properties"][property],
                "{name}: {property} changes, which replaces it"
            );
        }
        if ty != "AWS::SQS::Queue" {
            assert_eq!(is["DeletionPolicy"], "Retain", "{name}");
            assert_eq!(is["UpdateReplacePolicy"], "Retain", "{name}");
        }
        checked.insert(ty);
    }
    assert_eq!(checked.len(), REPLACED_ON.len(), "each kind checked");

    let was = &earlier["Resources"]["EventsTable"]["Properties"];
    let is = &now["Resources"]["EventsTable"]["Properties"];
    assert_eq!(
        is["TimeToLiveSpecification"],
        was["TimeToLiveSpecification"]
    );
    let both = HashMap::from([("HasNameIndex", true), ("HasActorIndex", true)]);
    for property in ["AttributeDefinitions", "GlobalSecondaryIndexes"] {
        assert_eq!(
            choose(&is[property], &both),
            was[property],
            "LookupIndexes=both keeps the earlier {property}"
        );
    }
    // The default drops both indexes, which DynamoDB does one an update: `make deploy` steps
    // through LookupIndexes=actor first (scripts/stack.py index-step).
    assert_eq!(now["Parameters"]["LookupIndexes"]["Default"], "none");
    let none = HashMap::from([("HasNameIndex", false), ("HasActorIndex", false)]);
    assert!(is_no_value(&choose(&is["GlobalSecondaryIndexes"], &none)));
    let deploy = std::fs::read_to_string(root().join("scripts/deploy.sh")).unwrap();
    assert!(deploy.contains("stack.py index-step"), "make deploy steps");
}
