//! Where an event's item is and what it holds: keys (day, shard, time and id), index keys, the
//! compressed record, the TTL, and what one costs to write. Part of the stored layout.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use iat_core::ActivityEvent;

use crate::codec;

/// Shards per day. Part of the stored layout: changing it hides existing events.
pub const DAY_SHARDS: u32 = 8;
/// Index of event keys by actor and day.
pub const BY_ACTOR: &str = "by_actor";
/// Index of event keys by event name and day.
pub const BY_NAME: &str = "by_name";

pub(super) const META_PK: &str = "META";
pub(super) const QUARANTINE_PK: &str = "Q";
/// DynamoDB's item limit is 400 KB; keep room for the keys.
pub(super) const MAX_STORED_BYTES: usize = 390 * 1024;
/// Index key values are cut to this many bytes (DynamoDB allows 2,048 for a partition key).
pub(super) const MAX_INDEX_KEY_BYTES: usize = 1_000;
/// Attempts at reading a batch's unprocessed keys before giving up (the SDK retries each call
/// too; these are keys DynamoDB accepted the call for but did not read).
pub(super) const UNPROCESSED_ATTEMPTS: u32 = 12;

/// The item for `event`, expiring at `expires` (epoch seconds), or why it cannot be one.
pub(super) fn event_item(
    event: &ActivityEvent,
    expires: Option<i64>,
) -> Result<HashMap<String, AttributeValue>, String> {
    let key = EventKey::of(event);
    let stored = codec::encode(&event.raw);
    if stored.len() > MAX_STORED_BYTES {
        return Err(format!(
            "record compresses to {} bytes, over DynamoDB's item limit",
            stored.len()
        ));
    }
    let mut item = key.attributes();
    item.insert("ak".into(), s(index_key(&event.principal.actor, &key.day)));
    item.insert("nk".into(), s(index_key(&event.name, &key.day)));
    item.insert("z".into(), AttributeValue::B(stored.into()));
    if let Some(x) = expires {
        item.insert("x".into(), n(x));
    }
    Ok(item)
}

/// Write units (1 KB each) spent storing one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCost {
    /// Size of the event's item as DynamoDB counts it (attribute names and values).
    pub item_bytes: usize,
    /// Units for the item in the table.
    pub table_units: u32,
    /// Units for its entries in the two indexes.
    pub index_units: u32,
}

pub(super) fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        // Numbers take about one byte per two significant digits, plus one.
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        _ => 0,
    }
}

/// Where an event's item is.
#[derive(Debug, Clone)]
pub(super) struct EventKey {
    pub(super) day: String,
    pub(super) pk: String,
    pub(super) sk: String,
}

impl EventKey {
    pub(super) fn of(event: &ActivityEvent) -> Self {
        let day = event.time.format("%Y-%m-%d").to_string();
        let shard = fnv1a(event.id.as_str().as_bytes()) % u64::from(DAY_SHARDS);
        Self {
            pk: day_pk(&day, shard as u32),
            sk: format!("{}#{}", sort_time(event.time), event.id),
            day,
        }
    }

    pub(super) fn attributes(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".into(), s(&self.pk)), ("sk".into(), s(&self.sk))])
    }
}

pub(super) fn day_pk(day: &str, shard: u32) -> String {
    format!("E#{day}#{shard}")
}

/// Fixed-width UTC time, so that text order is time order.
pub(super) fn sort_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn index_key(value: &str, day: &str) -> String {
    format!("{}#{day}", cut(value, MAX_INDEX_KEY_BYTES))
}

pub(super) fn day_window(day: &str) -> Option<iat_core::TimeWindow> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .map(iat_core::TimeWindow::day)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(super) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// 64-bit FNV-1a: stable across versions and platforms (it decides where items live).
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use chrono::TimeZone;
    use iat_core::contract::records::RecordSpec;

    #[test]
    fn keys_order_by_time_then_id_and_spread_over_shards() {
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let a = EventKey::of(&RecordSpec::new("b-1", t).event());
        let b = EventKey::of(&RecordSpec::new("a-2", t + chrono::Duration::seconds(1)).event());
        assert!(a.sk < b.sk, "{} < {}", a.sk, b.sk);
        assert_eq!(a.day, "2026-03-02");
        assert!(a.pk.starts_with("E#2026-03-02#"));
        let shards: HashSet<String> = (0..200)
            .map(|i| EventKey::of(&RecordSpec::new(&format!("id-{i}"), t).event()).pk)
            .collect();
        assert_eq!(
            shards.len(),
            DAY_SHARDS as usize,
            "ids spread over every shard"
        );
    }

    #[test]
    fn the_shard_hash_never_changes() {
        // Items already stored depend on it.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
