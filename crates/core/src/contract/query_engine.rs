//! The `QueryEngine` contract: the same SQL over the same events gives the same rows.
//!
//! An engine that runs SQL (DataFusion over the local lake) is given [`query_engine_table`] as
//! its `events` table. An engine that runs none (Athena on an emulator, which answers every
//! query with rows queued in advance) is given each case's rows as the service would send them,
//! so what it proves is the adapter: columns in order, numbers and booleans flagged, NULL kept
//! apart from the empty string, text byte for byte, and a result without rows still carrying
//! its columns. The SQL is the dialect both engines share (the catalogue's): `dt` partition
//! filters, `GROUP BY`, `ORDER BY`, `count(*)`, `coalesce`.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::contract::records::RecordSpec;
use crate::model::ActivityEvent;
use crate::ports::{QueryEngine, ResultRows};

/// One statement and the rows every engine must return for it.
#[derive(Debug, Clone)]
pub struct QueryCase {
    pub name: &'static str,
    pub sql: &'static str,
    /// Per column, the SQL type the service reports (`varchar`, `bigint`, `boolean`).
    pub column_types: Vec<&'static str>,
    pub expected: ResultRows,
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("a contract time")
}

/// The `events` table the cases are written against: two days inside the cases' window, one
/// event a week later that partition filters must leave out.
pub fn query_engine_table() -> Vec<ActivityEvent> {
    vec![
        RecordSpec::new("e1", at("2026-03-02T10:00:00Z")).event(),
        RecordSpec::new("e2", at("2026-03-02T11:30:00Z")).event(),
        RecordSpec::new("e3", at("2026-03-03T09:00:00Z"))
            .name("iam.amazonaws.com", "CreateUser")
            .user("José-山田")
            .event(),
        RecordSpec::new("e4", at("2026-03-03T12:00:00Z"))
            .name("s3.amazonaws.com", "GetObject")
            .user("bob")
            .error(
                "AccessDenied",
                "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: \
                 s3:GetObject with an explicit deny in a service control policy",
            )
            .event(),
        RecordSpec::new("e5", at("2026-03-09T00:00:00Z")).event(),
    ]
}

fn rows(
    columns: &[(&str, &'static str)],
    values: &[&[Option<&str>]],
) -> (Vec<&'static str>, ResultRows) {
    let types: Vec<&'static str> = columns.iter().map(|(_, t)| *t).collect();
    let expected = ResultRows {
        columns: columns.iter().map(|(c, _)| (*c).to_owned()).collect(),
        typed: types
            .iter()
            .map(|t| matches!(*t, "bigint" | "boolean"))
            .collect(),
        rows: values
            .iter()
            .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
            .collect(),
    };
    (types, expected)
}

fn case(
    name: &'static str,
    sql: &'static str,
    columns: &[(&str, &'static str)],
    values: &[&[Option<&str>]],
) -> QueryCase {
    let (column_types, expected) = rows(columns, values);
    QueryCase {
        name,
        sql,
        column_types,
        expected,
    }
}

/// The cases, in the order the suite runs them.
pub fn query_engine_cases() -> Vec<QueryCase> {
    vec![
        case(
            "counts per name, largest first, only the days asked for",
            "SELECT event_name, count(*) AS calls FROM events \
             WHERE dt BETWEEN '2026-03-02' AND '2026-03-03' \
             GROUP BY event_name ORDER BY calls DESC, event_name",
            &[("event_name", "varchar"), ("calls", "bigint")],
            &[
                &[Some("ListUsers"), Some("2")],
                &[Some("CreateUser"), Some("1")],
                &[Some("GetObject"), Some("1")],
            ],
        ),
        case(
            "NULL stays NULL, booleans are flagged, text comes back as written",
            "SELECT event_id, actor, error_code, denied FROM events \
             WHERE dt BETWEEN '2026-03-02' AND '2026-03-03' ORDER BY event_id",
            &[
                ("event_id", "varchar"),
                ("actor", "varchar"),
                ("error_code", "varchar"),
                ("denied", "boolean"),
            ],
            &[
                &[Some("e1"), Some("alice"), None, Some("false")],
                &[Some("e2"), Some("alice"), None, Some("false")],
                &[Some("e3"), Some("José-山田"), None, Some("false")],
                &[Some("e4"), Some("bob"), Some("AccessDenied"), Some("true")],
            ],
        ),
        case(
            "an empty string is a value, not NULL",
            "SELECT event_id, coalesce(error_code, '') AS error FROM events \
             WHERE dt = '2026-03-03' ORDER BY event_id",
            &[("event_id", "varchar"), ("error", "varchar")],
            &[&[Some("e3"), Some("")], &[Some("e4"), Some("AccessDenied")]],
        ),
        case(
            "a result without rows still has its columns",
            "SELECT event_name, count(*) AS calls FROM events \
             WHERE dt = '2026-04-01' GROUP BY event_name",
            &[("event_name", "varchar"), ("calls", "bigint")],
            &[],
        ),
    ]
}

/// Runs the `QueryEngine` cases, in order, on one engine. `make` builds it from the table's
/// events (for an engine that runs SQL) and the cases (for one that is told its answers).
pub async fn query_engine_suite<E, F, Fut>(make: F)
where
    E: QueryEngine,
    F: FnOnce(Vec<ActivityEvent>, Vec<QueryCase>) -> Fut,
    Fut: Future<Output = E>,
{
    let cases = query_engine_cases();
    let engine = make(query_engine_table(), cases.clone()).await;
    assert!(
        !engine.describe().is_empty(),
        "query engine: describes where its rows come from"
    );
    for case in &cases {
        let run = engine
            .run(case.sql)
            .await
            .unwrap_or_else(|e| panic!("query engine: {}: {e}", case.name));
        assert_eq!(
            run.rows.columns, case.expected.columns,
            "query engine: {}: columns",
            case.name
        );
        assert_eq!(
            run.rows.typed, case.expected.typed,
            "query engine: {}: typed columns",
            case.name
        );
        assert_eq!(
            run.rows.rows, case.expected.rows,
            "query engine: {}: rows",
            case.name
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MemoryQueryEngine;

    #[tokio::test]
    async fn the_memory_engine_passes_when_told_the_answers() {
        query_engine_suite(|_, cases| async move {
            let engine = MemoryQueryEngine::new();
            for c in cases {
                engine.answer(c.expected);
            }
            engine
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "query engine: counts per name")]
    async fn an_engine_that_loses_a_row_fails() {
        query_engine_suite(|_, cases| async move {
            let engine = MemoryQueryEngine::new();
            for mut c in cases {
                c.expected.rows.pop();
                engine.answer(c.expected);
            }
            engine
        })
        .await;
    }
}
