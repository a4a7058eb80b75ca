//! Real-shaped CloudTrail records built in code, for contract suites and tests.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::model::ActivityEvent;
use crate::normalize::{RecordLimits, normalize};

/// A record under construction. Defaults: an IAM user `alice` calling `iam:ListUsers` in
/// `us-east-1` of account 111122223333 from 203.0.113.10.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub id: String,
    pub time: DateTime<Utc>,
    pub source: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub user: String,
    pub source_ip: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub request_parameters: serde_json::Value,
}

impl RecordSpec {
    pub fn new(id: &str, time: DateTime<Utc>) -> Self {
        Self {
            id: id.to_owned(),
            time,
            source: "iam.amazonaws.com".to_owned(),
            name: "ListUsers".to_owned(),
            account: "111122223333".to_owned(),
            region: "us-east-1".to_owned(),
            user: "alice".to_owned(),
            source_ip: "203.0.113.10".to_owned(),
            error_code: None,
            error_message: None,
            request_parameters: serde_json::Value::Null,
        }
    }

    pub fn name(mut self, source: &str, name: &str) -> Self {
        self.source = source.to_owned();
        self.name = name.to_owned();
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.to_owned();
        self
    }

    pub fn place(mut self, account: &str, region: &str) -> Self {
        self.account = account.to_owned();
        self.region = region.to_owned();
        self
    }

    pub fn ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.to_owned();
        self
    }

    pub fn error(mut self, code: &str, message: &str) -> Self {
        self.error_code = Some(code.to_owned());
        self.error_message = Some(message.to_owned());
        self
    }

    pub fn params(mut self, params: serde_json::Value) -> Self {
        self.request_parameters = params;
        self
    }

    /// The record's JSON text.
    pub fn json(&self) -> String {
        let mut v = json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": format!("arn:aws:iam::{}:user/{}", self.account, self.user),
                "accountId": self.account,
                "accessKeyId": "AKIAEXAMPLE",
                "userName": self.user
            },
            "eventTime": self.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": self.region,
            "sourceIPAddress": self.source_ip,
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": self.request_parameters,
            "responseElements": null,
            "requestID": format!("req-{}", self.id),
            "eventID": self.id,
            "readOnly": self.name.starts_with("List") || self.name.starts_with("Get"),
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account,
            "eventCategory": "Management"
        });
        if let Some(code) = &self.error_code {
            v["errorCode"] = json!(code);
            v["errorMessage"] = json!(self.error_message);
        }
        v.to_string()
    }

    /// The normalised event.
    pub fn event(&self) -> ActivityEvent {
        normalize(self.json(), &RecordLimits::default())
            .expect("a RecordSpec always normalises")
            .event
    }
}

/// Every record of the rule fixtures that must fire (`fixtures/rules/*/fires-*.json`: real-shaped
/// CloudTrail records, one or more per rule), normalised, in file order.
pub fn firing_fixture_events() -> Vec<ActivityEvent> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rules");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("fires-"))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let records = match v.get("Records") {
            Some(r) => r.clone(),
            None => v,
        };
        let records = match records {
            serde_json::Value::Array(items) => items,
            one => vec![one],
        };
        for r in records {
            out.push(
                normalize(r.to_string(), &RecordLimits::default())
                    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
                    .event,
            );
        }
    }
    out
}
