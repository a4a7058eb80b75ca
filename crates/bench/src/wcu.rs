//! DynamoDB write units per stored event, from the items the event store would write: every
//! write the event causes in the table the stack deploys by default (its item, and the entries
//! of the lookup indexes the template's default has; what both indexes would add is in the
//! note), and the item's size, which the cost model reads as
//! figures of their own.
//!
//! Computed, not timed: each event's item is built exactly as `DynamoEventStore` builds it and
//! sized the way DynamoDB sizes items (attribute names plus values; 1 KB per write unit).

use std::path::Path;

use iat_aws::{DynamoEventStore, LookupIndexes};
use iat_core::{RecordLimits, normalize};
use iat_local::logfiles::{self, Item};

use crate::Figure;

/// Write units and item bytes of the events in the CloudTrail files under `dir` (`what` names
/// them in the notes). The real files' figures are named `.real`; the cost model reads the
/// generated organisation's.
pub(crate) fn figures(dir: &Path, what: &str, real: bool) -> anyhow::Result<Vec<Figure>> {
    let deployed = crate::deploy::cost::default_lookup_indexes(&crate::deploy::cost::template()?)?;
    let found = logfiles::discover(&[dir.to_path_buf()]);
    let limits = RecordLimits::default();
    let (mut events, mut table, mut index, mut bytes, mut raw, mut over) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut default_index = 0u64;
    // The tracker reads each fetched event's key before writing (an eventually consistent
    // BatchGetItem): half a read unit per 4 KB of the item, and half for a key not stored yet.
    let mut read_units = 0u64; // in half units
    for (path, _) in &found.files {
        logfiles::read_file(path, &mut |item| {
            if let Item::Record { text, .. } = item
                && let Ok(n) = normalize(text, &limits)
            {
                let retention = Some(chrono::Duration::days(400));
                let cost = DynamoEventStore::write_cost(&n.event, retention, deployed);
                let indexed =
                    DynamoEventStore::write_cost(&n.event, retention, LookupIndexes::Both);
                events += 1;
                table += u64::from(cost.table_units);
                default_index += u64::from(cost.index_units);
                index += u64::from(indexed.index_units);
                bytes += cost.item_bytes as u64;
                read_units += (cost.item_bytes as u64).div_ceil(4096).max(1);
                raw += n.event.raw.len() as u64;
                over += u64::from(cost.table_units > 1);
            }
        });
    }
    anyhow::ensure!(events > 0, "no CloudTrail records under {}", dir.display());
    let per = |x: u64| x as f64 / events as f64;
    Ok(vec![
        Figure {
            metric: if real {
                "tracker.wcu_per_event.real"
            } else {
                "tracker.wcu_per_event"
            },
            value: per(table + default_index),
            unit: "write units/event",
            goal: "<= 1.1",
            note: format!(
                "{what}: {events} events; every write an event causes in the default table (LOOKUP_INDEXES={deployed}): its item {:.2} units ({:.1}% of items over 1 KB); the opt-in key-only indexes would add {:.2} (LOOKUP_INDEXES=both); plus one day-registration write per day per process (tracker.rcu_per_fetched_event gives the duplicate check's reads)",
                per(table),
                100.0 * per(over),
                per(index),
            ),
        },
        Figure {
            metric: if real {
                "tracker.rcu_per_fetched_event.real"
            } else {
                "tracker.rcu_per_fetched_event"
            },
            value: per(read_units) / 2.0,
            unit: "read units/event",
            goal: "measure",
            note: format!(
                "{what}: {events} events; the tracker's duplicate check reads every fetched event's key with an eventually consistent BatchGetItem: half a unit per 4 KB of the stored item (the projection does not lower it), half for a key not stored yet"
            ),
        },
        Figure {
            metric: if real {
                "tracker.item_bytes_per_event.real"
            } else {
                "tracker.item_bytes_per_event"
            },
            value: per(bytes),
            unit: "bytes",
            goal: "measure",
            note: format!(
                "{what}: {events} events; the events table's item as DynamoDB sizes it (attribute names and values) for {:.0}-byte records (record deflated with a CloudTrail dictionary)",
                per(raw),
            ),
        },
    ])
}
