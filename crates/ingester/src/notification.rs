//! The objects a queue message announces.
//!
//! The ingester's queue receives one of four shapes, and the stack may be wired to any:
//! - an S3 event notification (`{"Records":[{"s3":{"bucket":…,"object":{"key":…}}}]}`, keys
//!   URL-encoded with `+` for a space), and its `s3:TestEvent` sent when the notification is
//!   configured;
//! - CloudTrail's own per-file notification (`{"s3Bucket":…,"s3ObjectKey":[…]}`);
//! - either of those inside an SNS envelope (`{"Type":"Notification","Message":"…"}`), when the
//!   queue subscribes to a topic without raw delivery;
//! - an EventBridge "Object Created" event from S3 (`{"source":"aws.s3","detail":…}`).
//!
//! Anything else is an error naming what was received, so a wrong wiring shows at the first
//! message instead of as silence.

use serde::Deserialize;
use serde_json::Value;

/// One object to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

/// The objects a message body announces; empty for a test event.
pub fn announced(body: &str) -> Result<Vec<ObjectRef>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("message is not JSON: {e}"))?;
    from_value(&v, 0)
}

fn from_value(v: &Value, depth: u8) -> Result<Vec<ObjectRef>, String> {
    // SNS envelope: the payload is a JSON string.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("SNS notification without a Message")?;
        if depth > 0 {
            return Err("SNS notification inside another".into());
        }
        let inner: Value =
            serde_json::from_str(inner).map_err(|e| format!("SNS Message is not JSON: {e}"))?;
        return from_value(&inner, depth + 1);
    }
    // S3's test event when a notification is configured.
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    // CloudTrail's per-file notification.
    if let Some(bucket) = v.get("s3Bucket").and_then(Value::as_str) {
        let keys = v
            .get("s3ObjectKey")
            .and_then(Value::as_array)
            .ok_or("CloudTrail notification without s3ObjectKey")?;
        return keys
            .iter()
            .map(|k| {
                k.as_str()
                    .map(|k| ObjectRef {
                        bucket: bucket.to_owned(),
                        key: k.to_owned(),
                    })
                    .ok_or_else(|| "CloudTrail notification: a key is not a string".to_owned())
            })
            .collect();
    }
    // EventBridge event from S3.
    if v.get("source").and_then(Value::as_str) == Some("aws.s3") {
        #[derive(Deserialize)]
        struct Detail {
            bucket: Named,
            object: Keyed,
        }
        let d: Detail = serde_json::from_value(v.get("detail").cloned().unwrap_or_default())
            .map_err(|e| format!("EventBridge S3 event: {e}"))?;
        return Ok(vec![ObjectRef {
            bucket: d.bucket.name,
            key: d.object.key,
        }]);
    }
    // S3 event notification.
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let mut out = Vec::new();
        for r in records {
            let s3 = r.get("s3").ok_or("S3 notification record without s3")?;
            let name = r.get("eventName").and_then(Value::as_str).unwrap_or("");
            if !name.is_empty() && !name.starts_with("ObjectCreated:") {
                continue;
            }
            #[derive(Deserialize)]
            struct S3 {
                bucket: Named,
                object: Keyed,
            }
            let s: S3 =
                serde_json::from_value(s3.clone()).map_err(|e| format!("S3 notification: {e}"))?;
            out.push(ObjectRef {
                bucket: s.bucket.name,
                key: url_decode(&s.object.key)?,
            });
        }
        return Ok(out);
    }
    let shape: Vec<&str> = v
        .as_object()
        .map(|o| o.keys().map(String::as_str).take(6).collect())
        .unwrap_or_default();
    Err(format!(
        "not an S3, CloudTrail or EventBridge notification (members: {})",
        shape.join(", ")
    ))
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Keyed {
    key: String,
}

/// S3 notification keys: `application/x-www-form-urlencoded` (`+` is a space).
fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad escape in object key {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("object key {s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bucket: &str, key: &str) -> Vec<ObjectRef> {
        vec![ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        }]
    }

    #[test]
    fn reads_every_shape_from_its_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/notifications");
        let read = |f: &str| announced(&std::fs::read_to_string(format!("{dir}/{f}")).unwrap());
        let key = "AWSLogs/o-exampleorgid/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T1200Z_abc.json.gz";
        assert_eq!(read("s3-event.json").unwrap(), one("org-trail-logs", key));
        assert_eq!(
            read("s3-event-via-sns.json").unwrap(),
            one("org-trail-logs", key)
        );
        assert_eq!(
            read("eventbridge-object-created.json").unwrap(),
            one("org-trail-logs", key)
        );
        let ct = read("cloudtrail-sns.json").unwrap();
        assert_eq!(ct.len(), 2);
        assert_eq!(ct[0].bucket, "org-trail-logs");
        assert_eq!(read("s3-test-event.json").unwrap(), vec![]);
    }

    #[test]
    fn keys_are_url_decoded() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b/c%3Dd.json.gz"}}}]}"#;
        assert_eq!(announced(body).unwrap(), one("b", "a b/c=d.json.gz"));
        let removed = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        assert_eq!(announced(removed).unwrap(), vec![]);
    }

    #[test]
    fn anything_else_says_what_it_got() {
        let e = announced(r#"{"hello":"world"}"#).unwrap_err();
        assert!(e.contains("hello"), "{e}");
        assert!(announced("not json").unwrap_err().contains("not JSON"));
        let bad = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"bad%zz"}}}]}"#;
        assert!(announced(bad).unwrap_err().contains("bad escape"));
    }
}
