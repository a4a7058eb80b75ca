//! Where exported days go: `<prefix>/events/dt=YYYY-MM-DD/part-NNNNN.parquet`.
//!
//! Months and days are zero-padded, always (the Python exporter wrote `month=9/day=5` and then
//! looked for `month=09/day=05`, so it exported every day again and duplicated rows). Parts of a
//! day are numbered from 0; a re-export writes parts 0..n and deletes any part numbered n or
//! above, so a day holds exactly its latest export.

use chrono::NaiveDate;

/// The table's directory under `prefix`.
pub fn table_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        "events/".to_owned()
    } else {
        format!("{p}/events/")
    }
}

/// The prefix of one day's parts.
pub fn day_prefix(prefix: &str, day: NaiveDate) -> String {
    format!("{}dt={}/", table_prefix(prefix), day.format("%Y-%m-%d"))
}

/// The key of part `n` of a day.
pub fn part_key(prefix: &str, day: NaiveDate, n: usize) -> String {
    format!("{}part-{n:05}.parquet", day_prefix(prefix, day))
}

/// Where a re-export of a day is written first, beside the table (Athena never reads it), so
/// the day's parts are replaced only once the new export is known not to be smaller.
pub fn staging_prefix(prefix: &str, day: NaiveDate) -> String {
    format!(
        "{}staging/dt={}/",
        exports_prefix(prefix),
        day.format("%Y-%m-%d")
    )
}

/// Where the exporter keeps what Athena must not read: `<prefix>/exports/`.
fn exports_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        "exports/".to_owned()
    } else {
        format!("{p}/exports/")
    }
}

/// Where the daily export records how far the collector's checkpoints had reached when it last
/// looked, so the next run re-exports the days completed since.
pub fn coverage_key(prefix: &str) -> String {
    format!("{}coverage.json", exports_prefix(prefix))
}

/// The manifest recording a day's last export, beside the table (Athena never reads it).
pub fn manifest_key(prefix: &str, day: NaiveDate) -> String {
    format!(
        "{}dt={}.json",
        exports_prefix(prefix),
        day.format("%Y-%m-%d")
    )
}

/// The alerts the rules raised over a day when it was exported, beside the table (Athena never
/// reads it), so a reader of many days need not read their events again.
pub fn raised_key(prefix: &str, day: NaiveDate) -> String {
    format!(
        "{}raised/dt={}.json",
        exports_prefix(prefix),
        day.format("%Y-%m-%d")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_and_read_back() {
        let d = NaiveDate::from_ymd_opt(2026, 9, 5).unwrap();
        assert_eq!(
            part_key("lake", d, 3),
            "lake/events/dt=2026-09-05/part-00003.parquet"
        );
        assert_eq!(
            part_key("/", d, 0),
            "events/dt=2026-09-05/part-00000.parquet"
        );
        assert_eq!(day_prefix("a/b/", d), "a/b/events/dt=2026-09-05/");
        assert_eq!(manifest_key("lake/", d), "lake/exports/dt=2026-09-05.json");
        assert_eq!(
            raised_key("lake/", d),
            "lake/exports/raised/dt=2026-09-05.json"
        );
    }
}
