//! DynamoDB write units per stored event, from the items the event store would write.
//!
//! Computed, not timed: each event's item is built exactly as `DynamoEventStore` builds it and
//! sized the way DynamoDB sizes items (attribute names plus values; 1 KB per write unit).

use std::path::Path;

use iat_aws::DynamoEventStore;
use iat_core::{RecordLimits, normalize};
use iat_local::logfiles::{self, Item};

use crate::Figure;

/// Write units of the events in the CloudTrail files under `dir` (`what` names them in the note).
pub(crate) fn figure(dir: &Path, what: &str) -> anyhow::Result<Figure> {
    let found = logfiles::discover(&[dir.to_path_buf()]);
    let limits = RecordLimits::default();
    let (mut events, mut table, mut index, mut bytes, mut raw, mut over) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for (path, _) in &found.files {
        logfiles::read_file(path, &mut |item| {
            if let Item::Record { text, .. } = item
                && let Ok(n) = normalize(text, &limits)
            {
                let cost =
                    DynamoEventStore::write_cost(&n.event, Some(chrono::Duration::days(400)));
                events += 1;
                table += u64::from(cost.table_units);
                index += u64::from(cost.index_units);
                bytes += cost.item_bytes as u64;
                raw += n.event.raw.len() as u64;
                over += u64::from(cost.table_units > 1);
            }
        });
    }
    anyhow::ensure!(events > 0, "no CloudTrail records under {}", dir.display());
    let per = |x: u64| x as f64 / events as f64;
    Ok(Figure {
        metric: "tracker.wcu_per_event",
        value: per(table),
        unit: "write units/event",
        goal: "<= 1.1",
        note: format!(
            "{what}: {events} events; table item {:.0} bytes on average for {:.0}-byte records (record deflated with a CloudTrail dictionary), {:.1}% over 1 KB; the two key-only indexes add {:.2} units/event ({:.2} in all); plus one day-registration write per day per process, and a consistent read per event to find duplicates",
            per(bytes),
            per(raw),
            100.0 * per(over),
            per(index),
            per(table + index),
        ),
    })
}
