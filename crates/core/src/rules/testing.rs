//! Test helpers: records built in code for any principal, and the fixture-file check every rule
//! runs (`fixtures/rules/<rule id>/fires-*.json` must fire, `quiet-*.json` must not, under the
//! optional `settings.json` of that directory).

use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Finding, Rule, RuleSettings, WorkingHours};
use crate::model::ActivityEvent;
use crate::normalize::{RecordLimits, normalize};

const ACCOUNT: &str = "111122223333";

pub(crate) fn root() -> Value {
    json!({"type": "Root", "principalId": ACCOUNT, "arn": format!("arn:aws:iam::{ACCOUNT}:root"), "accountId": ACCOUNT, "accessKeyId": "ASIAROOTEXAMPLE"})
}

pub(crate) fn iam_user(name: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"), "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLE", "userName": name})
}

pub(crate) fn assumed_role(role: &str, session: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": format!("AROAEXAMPLE:{session}"), "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"), "accountId": ACCOUNT, "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "accountId": ACCOUNT, "userName": role},
        "attributes": {"creationDate": "2026-03-03T09:00:00Z", "mfaAuthenticated": "false"}}})
}

/// A record under construction.
#[derive(Debug, Clone)]
pub(crate) struct Spec(Value);

pub(crate) fn call(who: Value, source: &str, name: &str) -> Spec {
    Spec(json!({
        "eventVersion": "1.09",
        "userIdentity": who,
        "eventTime": "2026-03-03T10:15:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": null,
        "responseElements": null,
        "requestID": "4bd8e1b2-0000-4000-8000-000000000001",
        "eventID": "0e5a1d4c-0000-4000-8000-000000000001",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    }))
}

impl Spec {
    pub(crate) fn params(mut self, v: Value) -> Self {
        self.0["requestParameters"] = v;
        self
    }
    pub(crate) fn error(mut self, code: &str, message: &str) -> Self {
        self.0["errorCode"] = json!(code);
        self.0["errorMessage"] = json!(message);
        self
    }
    pub(crate) fn at(mut self, t: DateTime<Utc>) -> Self {
        self.0["eventTime"] = json!(t.to_rfc3339_opts(SecondsFormat::Secs, true));
        self
    }
    pub(crate) fn ip(mut self, ip: &str) -> Self {
        self.0["sourceIPAddress"] = json!(ip);
        self
    }
    pub(crate) fn event(&self) -> ActivityEvent {
        normalize(self.0.to_string(), &RecordLimits::default())
            .expect("test records normalise")
            .event
    }
}

pub(crate) fn console_login_spec(who: Value, outcome: &str, mfa: Option<bool>) -> Spec {
    let mut s = call(who, "signin.amazonaws.com", "ConsoleLogin");
    s.0["eventType"] = json!("AwsConsoleSignIn");
    s.0["responseElements"] = json!({"ConsoleLogin": outcome});
    let mut extra =
        json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No"});
    if let Some(m) = mfa {
        extra["MFAUsed"] = json!(if m { "Yes" } else { "No" });
    }
    s.0["additionalEventData"] = extra;
    if outcome == "Failure" {
        s.0["errorMessage"] = json!("Failed authentication");
    }
    s
}

pub(crate) fn console_login(who: Value, outcome: &str, mfa: Option<bool>) -> ActivityEvent {
    console_login_spec(who, outcome, mfa).event()
}

/// The rule's finding under default settings; panics when it does not fire.
pub(crate) fn fire(rule: &Rule, e: &ActivityEvent) -> Finding {
    rule.check(e, &RuleSettings::default())
        .unwrap_or_else(|| panic!("{} did not fire on {}", rule.id, e.raw))
}

/// True when the rule stays quiet under default settings.
pub(crate) fn quiet(rule: &Rule, e: &ActivityEvent) -> bool {
    rule.check(e, &RuleSettings::default()).is_none()
}

pub(crate) fn settings_from(v: &Value) -> RuleSettings {
    let mut s = RuleSettings::default();
    let get = |k: &str| v.get(k).and_then(Value::as_str);
    if let Some(x) = get("expected_networks") {
        s.set_expected_networks(x).unwrap();
    }
    if let Some(x) = get("trusted_accounts") {
        s.set_trusted_accounts(x).unwrap();
    }
    if let Some(x) = get("admin_policies") {
        s.set_admin_policies(x).unwrap();
    }
    if let Some(x) = get("denied_exclusions") {
        s.set_denied_exclusions(x).unwrap();
    }
    if let Some(h) = get("working_hours") {
        s.working_hours = WorkingHours::parse(
            h,
            get("working_days").unwrap_or("mon-fri"),
            get("time_zone").unwrap_or("UTC"),
        )
        .unwrap();
    }
    s
}

/// Records of a fixture file: one record, a list, or `{"Records": [...]}`.
pub(crate) fn fixture_events(text: &str) -> Vec<ActivityEvent> {
    let v: Value = serde_json::from_str(text).expect("fixture is JSON");
    let records = match v {
        Value::Object(ref m) if m.contains_key("Records") => {
            m["Records"].as_array().cloned().unwrap_or_default()
        }
        Value::Array(items) => items,
        one => vec![one],
    };
    records
        .into_iter()
        .map(|r| {
            normalize(r.to_string(), &RecordLimits::default())
                .expect("fixture records normalise")
                .event
        })
        .collect()
}

pub(crate) fn fixture_dir(rule: &Rule) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/rules")
        .join(rule.id)
}

/// Every `fires-*` record fires the rule and every `quiet-*` record does not.
pub(crate) fn check_fixtures(rule: &Rule) {
    let dir = fixture_dir(rule);
    let settings = std::fs::read_to_string(dir.join("settings.json"))
        .map(|t| settings_from(&serde_json::from_str(&t).expect("settings.json is JSON")))
        .unwrap_or_default();
    let (mut fires, mut quiets) = (0, 0);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expect = if name.starts_with("fires-") {
            true
        } else if name.starts_with("quiet-") {
            false
        } else {
            continue;
        };
        for e in fixture_events(&std::fs::read_to_string(&path).unwrap()) {
            let got = rule.check(&e, &settings);
            assert_eq!(
                got.is_some(),
                expect,
                "{}: {name} event {}: {got:?}",
                rule.id,
                e.id
            );
            if expect {
                fires += 1;
            } else {
                quiets += 1;
            }
        }
    }
    assert!(
        fires > 0 && quiets > 0,
        "{}: needs firing and quiet fixtures in {}",
        rule.id,
        dir.display()
    );
}
