//! The Arrow schema of the exported `events` table, and events to record batches.
//!
//! Columns follow the normalised event, not the raw record: readable principal fields, the
//! denial layer, the console sign-in outcome. Low-cardinality strings are dictionary-encoded.
//! `response_elements` is exported with session tokens removed: `AssumeRole` responses carry
//! them, and the lake is read by more people than the tracker.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, RecordBatch, StringBuilder, StringDictionaryBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef, TimeUnit};
use iat_core::ActivityEvent;

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Columns: name, type, nullable, meaning (for the DDL test and the documentation).
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("event_id", "string", "CloudTrail eventID"),
    ("event_time", "timestamp", "eventTime, UTC"),
    (
        "event_source",
        "dict",
        "eventSource, e.g. iam.amazonaws.com",
    ),
    ("event_name", "dict", "eventName"),
    ("event_type", "dict", "eventType"),
    ("event_category", "dict", "eventCategory"),
    ("aws_region", "dict", "awsRegion"),
    ("account", "dict", "recipientAccountId"),
    ("principal_type", "dict", "userIdentity.type"),
    ("principal_arn", "string", "userIdentity.arn"),
    ("principal_id", "string", "userIdentity.principalId"),
    ("principal_account", "dict", "userIdentity.accountId"),
    (
        "actor",
        "string",
        "readable actor: user, role/session, root",
    ),
    (
        "session_issuer_arn",
        "string",
        "the role or user that issued the session",
    ),
    ("role_name", "dict", "assumed role name"),
    ("access_key_id", "string", "userIdentity.accessKeyId"),
    (
        "mfa_authenticated",
        "bool",
        "session MFA (or MFAUsed for console sign-in)",
    ),
    ("invoked_by", "dict", "userIdentity.invokedBy"),
    (
        "identity_store_user_id",
        "string",
        "Identity Center user id",
    ),
    ("source_ip", "string", "sourceIPAddress as written"),
    ("user_agent", "string", "userAgent"),
    ("read_only", "bool", "readOnly"),
    ("management_event", "bool", "managementEvent"),
    ("error_code", "dict", "errorCode"),
    ("error_message", "string", "errorMessage"),
    ("denied", "bool", "denied by a policy"),
    ("denial_layer", "dict", "which policy layer denied it"),
    ("deny_kind", "dict", "explicit or implicit deny"),
    (
        "console_login",
        "dict",
        "ConsoleLogin outcome: Success or Failure",
    ),
    ("mfa_used", "bool", "additionalEventData.MFAUsed"),
    ("vpc_endpoint_id", "string", "vpcEndpointId"),
    ("request_id", "string", "requestID"),
    ("request_parameters", "string", "requestParameters as JSON"),
    (
        "response_elements",
        "string",
        "responseElements as JSON, session tokens removed",
    ),
    (
        "additional_event_data",
        "string",
        "additionalEventData as JSON",
    ),
    ("resources", "string", "resources as a JSON array"),
];

/// The schema of the `events` table.
pub fn events_schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|(name, kind, _)| {
            let t = match *kind {
                "string" => DataType::Utf8,
                "dict" => dict(),
                "bool" => DataType::Boolean,
                "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                other => unreachable!("unknown column kind {other}"),
            };
            Field::new(
                *name,
                t,
                !matches!(
                    *name,
                    "event_id" | "event_time" | "event_source" | "event_name" | "aws_region"
                ),
            )
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `responseElements` without session tokens (`"sessionToken": "..."` anywhere).
pub fn redact_response(text: &str) -> String {
    if !text.contains("sessionToken") {
        return text.to_owned();
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            iat_core::record::redact_session_tokens(&mut v);
            v.to_string()
        }
        Err(_) => text.to_owned(),
    }
}

/// JSON text in CloudTrail's compact form (no spaces after `:` and `,`), which the queries'
/// text matching relies on; records from elsewhere are re-serialised.
pub fn compact_json(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(": ") && !text.contains(", ") && !text.contains('\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => std::borrow::Cow::Owned(v.to_string()),
        Err(_) => std::borrow::Cow::Borrowed(text),
    }
}

struct Builders {
    strings: Vec<StringBuilder>,
    dicts: Vec<StringDictionaryBuilder<Int32Type>>,
    bools: Vec<BooleanBuilder>,
    time: TimestampMicrosecondBuilder,
}

/// A record batch of `events`, in the order given.
pub fn to_batch(events: &[ActivityEvent]) -> RecordBatch {
    let n = events.len();
    let count = |k: &str| COLUMNS.iter().filter(|(_, kind, _)| *kind == k).count();
    let mut b = Builders {
        strings: (0..count("string"))
            .map(|_| StringBuilder::with_capacity(n, n * 32))
            .collect(),
        dicts: (0..count("dict"))
            .map(|_| StringDictionaryBuilder::new())
            .collect(),
        bools: (0..count("bool"))
            .map(|_| BooleanBuilder::with_capacity(n))
            .collect(),
        time: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
    };
    for e in events {
        let p = &e.principal;
        let denial = e.denial.as_ref();
        let login = e.console_login.as_ref();
        let resources = if e.resources.is_empty() {
            None
        } else {
            serde_json::to_string(&e.resources).ok()
        };
        let response = e
            .response_elements()
            .map(|t| redact_response(&compact_json(t)));
        let request = e.request_parameters().map(compact_json);
        let additional = e.additional_event_data().map(compact_json);
        let (mut s, mut d, mut bo) = (0, 0, 0);
        for (name, kind, _) in COLUMNS {
            match *kind {
                "timestamp" => b.time.append_value(e.time.timestamp_micros()),
                "bool" => {
                    let v = match *name {
                        "mfa_authenticated" => p.mfa_authenticated,
                        "read_only" => e.read_only,
                        "management_event" => e.management,
                        "denied" => Some(denial.is_some()),
                        "mfa_used" => login.and_then(|l| l.mfa_used),
                        _ => unreachable!(),
                    };
                    b.bools[bo].append_option(v);
                    bo += 1;
                }
                "dict" => {
                    let v: Option<&str> = match *name {
                        "event_source" => Some(&e.source),
                        "event_name" => Some(&e.name),
                        "event_type" => Some(e.event_type.as_str()),
                        "event_category" => e.category.as_deref(),
                        "aws_region" => Some(e.region.as_str()),
                        "account" => e.account.as_ref().map(|a| a.as_str()),
                        "principal_type" => Some(p.kind.as_str()),
                        "principal_account" => p.account.as_deref(),
                        "role_name" => p.role_name.as_deref(),
                        "invoked_by" => p.invoked_by.as_deref(),
                        "error_code" => e.error_code.as_deref(),
                        "denial_layer" => denial.map(|x| x.layer.as_str()),
                        "deny_kind" => denial.map(|x| x.kind.as_str()),
                        "console_login" => login.map(|l| match &l.outcome {
                            iat_core::ConsoleLoginOutcome::Success => "Success",
                            iat_core::ConsoleLoginOutcome::Failure => "Failure",
                            iat_core::ConsoleLoginOutcome::Other(o) => o.as_str(),
                        }),
                        _ => unreachable!("{name}"),
                    };
                    match v {
                        Some(v) => {
                            b.dicts[d].append_value(v);
                        }
                        None => b.dicts[d].append_null(),
                    }
                    d += 1;
                }
                _ => {
                    let v: Option<&str> = match *name {
                        "event_id" => Some(e.id.as_str()),
                        "principal_arn" => p.arn.as_deref(),
                        "principal_id" => p.id.as_deref(),
                        "actor" => Some(&p.actor),
                        "session_issuer_arn" => p.session_issuer_arn.as_deref(),
                        "access_key_id" => p.access_key_id.as_deref(),
                        "identity_store_user_id" => p.identity_store_user_id.as_deref(),
                        "source_ip" => Some(&e.source_ip.raw),
                        "user_agent" => e.user_agent.as_deref(),
                        "error_message" => e.error_message.as_deref(),
                        "vpc_endpoint_id" => e.vpc_endpoint_id.as_deref(),
                        "request_id" => e.request_id.as_deref(),
                        "request_parameters" => request.as_deref(),
                        "response_elements" => response.as_deref(),
                        "additional_event_data" => additional.as_deref(),
                        "resources" => resources.as_deref(),
                        _ => unreachable!("{name}"),
                    };
                    b.strings[s].append_option(v);
                    s += 1;
                }
            }
        }
    }
    let (mut s, mut d, mut bo) = (0, 0, 0);
    let mut time = Some(b.time);
    let columns: Vec<ArrayRef> = COLUMNS
        .iter()
        .map(|(_, kind, _)| -> ArrayRef {
            match *kind {
                "timestamp" => Arc::new(time.take().expect("one time column").finish()),
                "bool" => {
                    bo += 1;
                    Arc::new(b.bools[bo - 1].finish())
                }
                "dict" => {
                    d += 1;
                    Arc::new(b.dicts[d - 1].finish())
                }
                _ => {
                    s += 1;
                    Arc::new(b.strings[s - 1].finish())
                }
            }
        })
        .collect();
    RecordBatch::try_new(events_schema(), columns).expect("columns follow the schema")
}

/// Events as an engine answers `SELECT <every column>`: text, `None` for NULL.
#[cfg(test)]
pub(crate) fn rows_for_tests(events: &[ActivityEvent]) -> iat_core::ports::ResultRows {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let batch = to_batch(events);
    let options = FormatOptions::default();
    // Times as DataFusion prints them (this crate's arrow has no named time zones).
    let formatters: Vec<Option<ArrayFormatter<'_>>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
        .collect();
    iat_core::ports::ResultRows {
        columns: COLUMNS.iter().map(|(n, _, _)| (*n).to_owned()).collect(),
        typed: COLUMNS.iter().map(|(_, k, _)| *k == "bool").collect(),
        rows: (0..batch.num_rows())
            .map(|i| {
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| {
                        (!c.is_null(i)).then(|| match f {
                            Some(f) => f.value(i).to_string(),
                            None => events[i].time.to_rfc3339(),
                        })
                    })
                    .collect()
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn the_athena_ddl_matches_the_schema() {
        let ddl = include_str!("../../../queries/ddl/events.sql");
        let body =
            &ddl[ddl.find("events (").unwrap() + 8..ddl.find("\n)\nPARTITIONED BY").unwrap()];
        let cols: Vec<(String, String)> = body
            .lines()
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, t) = l.split_once(' ').unwrap();
                (n.to_owned(), t.to_owned())
            })
            .collect();
        let expected: Vec<(String, String)> = events_schema()
            .fields()
            .iter()
            .map(|f| {
                let t = match f.data_type() {
                    DataType::Utf8 | DataType::Dictionary(_, _) => "string",
                    DataType::Boolean => "boolean",
                    DataType::Timestamp(_, _) => "timestamp",
                    other => panic!("no Athena type for {other}"),
                };
                (f.name().clone(), t.to_owned())
            })
            .collect();
        assert_eq!(cols, expected);
        assert!(
            ddl.contains("PARTITIONED BY (dt string)")
                && ddl.contains("'projection.dt.format' = 'yyyy-MM-dd'")
        );
    }

    #[test]
    fn documents_are_exported_compact() {
        assert_eq!(compact_json(r#"{"a":1,"b":[1,2]}"#), r#"{"a":1,"b":[1,2]}"#);
        assert_eq!(
            compact_json("{\"a\": 1, \"b\": \"x\"}"),
            r#"{"a":1,"b":"x"}"#
        );
    }
    use iat_core::contract::records::RecordSpec;

    #[test]
    fn a_batch_has_every_column_and_redacts_session_tokens() {
        let t = "2026-03-03T10:00:00Z".parse().unwrap();
        let denied = RecordSpec::new("e1", t)
            .name("sqs.amazonaws.com", "CreateQueue")
            .error("AccessDenied", "User: x is not authorized to perform: sqs:CreateQueue with an explicit deny in a service control policy")
            .event();
        let mut v: serde_json::Value = serde_json::from_str(
            &RecordSpec::new("e2", t)
                .name("sts.amazonaws.com", "AssumeRole")
                .json(),
        )
        .unwrap();
        v["responseElements"] = serde_json::json!({"credentials": {"accessKeyId": "ASIAX", "sessionToken": "IQoJsecret", "expiration": "x"}});
        let assume = iat_core::normalize(v.to_string(), &Default::default())
            .unwrap()
            .event;
        let batch = to_batch(&[denied, assume]);
        assert_eq!(batch.num_columns(), COLUMNS.len());
        assert_eq!(batch.num_rows(), 2);
        let col = |n: &str| batch.column(batch.schema().index_of(n).unwrap()).clone();
        assert!(col("denied").as_boolean().value(0));
        let layer = col("denial_layer");
        let layer = layer.as_dictionary::<Int32Type>();
        let values = layer.values().as_string::<i32>();
        assert_eq!(
            values.value(layer.keys().value(0) as usize),
            "service_control_policy"
        );
        assert!(layer.is_null(1));
        let resp = col("response_elements");
        let resp = resp.as_string::<i32>().value(1);
        assert!(
            resp.contains("REDACTED") && !resp.contains("IQoJsecret") && resp.contains("ASIAX"),
            "{resp}"
        );
    }
}
