//! One line that says where data was expected, and how to get some, when a command finds none.
//!
//! `iat demo` keeps its data apart (`./iat-data/demo/`) so that a planted scenario never mixes
//! with a real account's history; these hints are how a newcomer finds it from the commands
//! that read the default store and lake.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use iat_local::sql::LocalLake;

use crate::store::StoreSpec;

/// Where `iat demo` writes unless told otherwise.
pub(crate) const DEMO_DIR: &str = "./iat-data/demo";

/// How to fill a store from Event history, where this build can.
const COLLECT: &str = if cfg!(feature = "aws") {
    ", `iat collect` reads Event history"
} else {
    ""
};

/// The demo's database, when a demo has run here.
fn demo_db(demo_dir: &Path) -> Option<PathBuf> {
    Some(demo_dir.join("iat.db")).filter(|p| p.is_file())
}

/// Why a local query read nothing: the lake holds no day of `start..=end`. `None` when it does.
pub(crate) fn empty_lake(
    lake: &LocalLake,
    root: &Path,
    start: NaiveDate,
    end: NaiveDate,
    demo_dir: &Path,
) -> Option<String> {
    let days = lake.days();
    if days.iter().any(|d| (start..=end).contains(d)) {
        return None;
    }
    let held = match (days.first(), days.last()) {
        (Some(a), Some(b)) if a == b => format!("it holds {a} only"),
        (Some(a), Some(b)) => format!("it holds {a} to {b}"),
        _ => "it holds no day yet".to_owned(),
    };
    let mut line = format!(
        "note: no exported day from {start} to {end} in the lake {} ({held}); `iat export` writes days from the store",
        root.display()
    );
    let demo = demo_dir.join("lake");
    let demo_days = LocalLake::new(&demo, "").days();
    if let (false, Some(a), Some(b)) = (same_dir(&demo, root), demo_days.first(), demo_days.last())
    {
        let span = if a == b {
            a.to_string()
        } else {
            format!("{a} to {b}")
        };
        line.push_str(&format!(
            "; the demo's lake ({span}) is {0}: --lake {0} or IAT_LAKE={0}",
            demo.display()
        ));
    }
    Some(line)
}

/// Why a command read no events: the store is empty.
pub(crate) fn empty_store(spec: &StoreSpec) -> String {
    empty_store_with_demo(spec, Path::new(DEMO_DIR))
}

fn empty_store_with_demo(spec: &StoreSpec, demo_dir: &Path) -> String {
    match spec {
        StoreSpec::Sqlite(db) => format!(
            "note: the store {} holds no events; `iat ingest PATH` reads CloudTrail files{COLLECT}{}",
            db.display(),
            demo_suffix(db, demo_dir)
        ),
        StoreSpec::Dynamo { events, .. } => format!(
            "note: the table {events} holds no events; the deployed tracker fills it, or `iat collect --store {spec}`"
        ),
    }
}

/// For a missing database: the same pointers, as an error.
pub(crate) fn missing_store(db: &Path, demo_dir: &Path) -> String {
    format!(
        "no database at {} — run `iat ingest PATH...`{COLLECT}, or `iat demo`, or point --store sqlite:PATH (IAT_STORE) at one{}",
        db.display(),
        demo_suffix(db, demo_dir)
    )
}

fn demo_suffix(db: &Path, demo_dir: &Path) -> String {
    match demo_db(demo_dir).filter(|d| !same_dir(d, db)) {
        Some(d) => format!(
            "; the demo's database is {0}: --store sqlite:{0} or IAT_STORE=sqlite:{0}",
            d.display()
        ),
        None => String::new(),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn part(root: &Path, d: &str) {
        let dir = root.join("events").join(format!("dt={d}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-00000.parquet"), b"x").unwrap();
    }

    #[test]
    fn an_empty_lake_says_what_it_holds_and_where_the_demo_is() {
        let tmp = tempfile::tempdir().unwrap();
        let (lake_dir, demo) = (tmp.path().join("lake"), tmp.path().join("demo"));
        let lake = LocalLake::new(&lake_dir, "");
        let (start, end) = (day("2026-11-24"), day("2026-11-30"));
        let line = empty_lake(&lake, &lake_dir, start, end, &demo).unwrap();
        assert!(
            line.contains("holds no day yet") && line.contains("iat export"),
            "{line}"
        );
        assert!(!line.contains("demo"), "no demo ran: {line}");
        assert_eq!(line.lines().count(), 1);

        part(&demo.join("lake"), "2026-11-20");
        let line = empty_lake(&lake, &lake_dir, start, end, &demo).unwrap();
        assert!(line.contains("the demo's lake (2026-11-20)"), "{line}");
        assert!(
            line.contains(&format!("--lake {}", demo.join("lake").display())),
            "{line}"
        );

        part(&lake_dir, "2026-10-01");
        part(&lake_dir, "2026-10-03");
        std::fs::create_dir_all(lake_dir.join("events/dt=2026-11-25")).unwrap();
        let line = empty_lake(&lake, &lake_dir, start, end, &demo).unwrap();
        assert!(
            line.contains("it holds 2026-10-01 to 2026-10-03"),
            "an empty day directory is no day: {line}"
        );
        part(&lake_dir, "2026-11-30");
        assert_eq!(empty_lake(&lake, &lake_dir, start, end, &demo), None);

        // Reading the demo's own lake never points at itself.
        let own = LocalLake::new(&demo.join("lake"), "");
        let line = empty_lake(&own, &demo.join("lake"), start, end, &demo).unwrap();
        assert!(!line.contains("the demo's lake"), "{line}");
    }

    #[test]
    fn an_empty_or_missing_store_points_at_the_demo_database_when_there_is_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (db, demo) = (tmp.path().join("iat.db"), tmp.path().join("demo"));
        let line = missing_store(&db, &demo);
        assert!(
            line.contains("iat ingest") && !line.contains("demo's"),
            "{line}"
        );
        std::fs::create_dir_all(&demo).unwrap();
        std::fs::write(demo.join("iat.db"), b"").unwrap();
        let line = empty_store_with_demo(&StoreSpec::Sqlite(db.clone()), &demo);
        assert!(
            line.contains(&format!("--store sqlite:{}", demo.join("iat.db").display())),
            "{line}"
        );
        let own = StoreSpec::Sqlite(demo.join("iat.db"));
        assert!(!empty_store_with_demo(&own, &demo).contains("demo's"));
        let table = StoreSpec::parse("dynamodb:ev-table,ctl-table").unwrap();
        let line = empty_store_with_demo(&table, &demo);
        assert!(
            line.contains("ev-table holds no events")
                && line.contains("--store dynamodb:ev-table,ctl-table"),
            "{line}"
        );
    }
}
