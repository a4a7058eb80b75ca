//! The events table's DynamoDB stream: an event from a record's `NewImage` (as the alerter
//! receives it), and the image an event makes (for tests and benchmarks of stream consumers).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use iat_core::{ActivityEvent, RecordLimits, normalize};

use super::keys::event_item;
use crate::codec;

/// The event in a DynamoDB stream record's `NewImage` (the Lambda event's JSON form, attribute
/// values as `{"S": ...}`, `{"B": "<base64>"}`), `Ok(None)` for the table's other items (day
/// registrations, quarantined records), or why the image cannot be read.
pub fn event_from_stream_image(
    image: &serde_json::Value,
    limits: &RecordLimits,
) -> Result<Option<ActivityEvent>, String> {
    let pk = image
        .pointer("/pk/S")
        .and_then(|v| v.as_str())
        .ok_or("image has no pk")?;
    if !pk.starts_with("E#") {
        return Ok(None);
    }
    let sk = image
        .pointer("/sk/S")
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let z = image
        .pointer("/z/B")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("item {sk} has no record"))?;
    let stored = aws_smithy_types::base64::decode(z).map_err(|e| format!("item {sk}: {e}"))?;
    let raw = codec::decode(&stored).map_err(|e| format!("item {sk}: {e}"))?;
    normalize(raw, limits)
        .map(|n| Some(n.event))
        .map_err(|r| format!("item {sk}: {}", r.error))
}

/// The `NewImage` the events table's stream carries for `event` (as [`DynamoEventStore`]
/// writes it), in the Lambda event's JSON form: for tests and benchmarks of stream consumers.
pub fn stream_image(
    event: &ActivityEvent,
    retention: Option<Duration>,
) -> Result<serde_json::Value, String> {
    let item = event_item(event, retention.map(|r| (event.time + r).timestamp()))?;
    let mut image = serde_json::Map::new();
    for (k, v) in item {
        let value = match v {
            AttributeValue::S(s) => serde_json::json!({ "S": s }),
            AttributeValue::N(n) => serde_json::json!({ "N": n }),
            AttributeValue::B(b) => {
                serde_json::json!({ "B": aws_smithy_types::base64::encode(b.as_ref()) })
            }
            other => return Err(format!("unexpected attribute {other:?}")),
        };
        image.insert(k, value);
    }
    Ok(serde_json::Value::Object(image))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use iat_core::contract::records::RecordSpec;

    #[test]
    fn stream_images_read_back_as_the_event_and_other_items_are_skipped() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let e = RecordSpec::new("img-1", t).event();
        let image = stream_image(&e, Some(Duration::days(400))).unwrap();
        assert!(image["z"]["B"].is_string() && image["x"]["N"].is_string());
        let back = event_from_stream_image(&image, &RecordLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(back, e);
        let meta = serde_json::json!({"pk": {"S": "META"}, "sk": {"S": "D#2026-03-02"}});
        assert_eq!(
            event_from_stream_image(&meta, &RecordLimits::default()),
            Ok(None)
        );
        let mut broken = image.clone();
        broken["z"]["B"] = serde_json::json!("not base64!");
        assert!(
            event_from_stream_image(&broken, &RecordLimits::default())
                .unwrap_err()
                .contains("img-1")
        );
        assert!(event_from_stream_image(&serde_json::json!({}), &RecordLimits::default()).is_err());
    }
}
