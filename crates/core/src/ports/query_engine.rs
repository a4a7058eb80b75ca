//! `QueryEngine`: SQL over the exported `events` table (DataFusion over the local lake, or
//! Athena), and what Athena charges for it.
//!
//! Every engine takes the same SQL text (a catalogue query rendered for a date range) and gives
//! back rows as text, `None` for NULL, with a flag per column for numbers and booleans. Athena
//! also reports the bytes it scanned, which is what it bills; its price is defined here, once.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// Athena's price: $5 per TB scanned (TB = 2^40 bytes), each query rounded up to a whole
/// megabyte with a 10 MB minimum.
pub const ATHENA_USD_PER_TB: f64 = 5.0;
const MB: u64 = 1 << 20;
const ATHENA_MIN_BYTES: u64 = 10 * MB;

/// The bytes Athena bills for a query that scanned `scanned` bytes.
pub fn athena_billed_bytes(scanned: u64) -> u64 {
    scanned
        .div_ceil(MB)
        .saturating_mul(MB)
        .max(ATHENA_MIN_BYTES)
}

/// What Athena charges for a query that scanned `scanned` bytes, in US dollars.
pub fn athena_cost_usd(scanned: u64) -> f64 {
    athena_billed_bytes(scanned) as f64 / (1u64 << 40) as f64 * ATHENA_USD_PER_TB
}

/// Rows of a query as text: column names, then values (`None` for NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultRows {
    pub columns: Vec<String>,
    /// Per column: true for numbers and booleans (JSON writes them unquoted).
    pub typed: Vec<bool>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultRows {
    /// The value of `column` in row `i`, or "".
    pub fn get(&self, i: usize, column: &str) -> &str {
        self.columns
            .iter()
            .position(|c| c == column)
            .and_then(|c| self.rows.get(i)?.get(c)?.as_deref())
            .unwrap_or("")
    }

    /// The sum of `column` over the rows whose value is a whole number.
    pub fn total(&self, column: &str) -> u64 {
        (0..self.rows.len())
            .filter_map(|i| self.get(i, column).parse::<u64>().ok())
            .sum()
    }
}

/// One query's result.
#[derive(Debug, Clone, Default)]
pub struct QueryRun {
    pub rows: ResultRows,
    /// Wall time from submission to the last row.
    pub elapsed: Duration,
    /// Bytes the engine scanned, when it reports them (Athena does).
    pub scanned_bytes: Option<u64>,
    /// The engine's id of the run (Athena's query execution id).
    pub query_id: Option<String>,
}

impl QueryRun {
    /// What the run cost on Athena, when the engine reported bytes scanned.
    pub fn cost_usd(&self) -> Option<f64> {
        self.scanned_bytes.map(athena_cost_usd)
    }

    /// One line: rows, time, and for Athena the bytes scanned and the cost.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} rows in {:.2} s",
            self.rows.rows.len(),
            self.elapsed.as_secs_f64()
        );
        if let Some(bytes) = self.scanned_bytes {
            s.push_str(&format!(
                ", {} scanned, ${:.6} at ${ATHENA_USD_PER_TB} per TB ({} billed)",
                human_bytes(bytes),
                athena_cost_usd(bytes),
                human_bytes(athena_billed_bytes(bytes))
            ));
        }
        s
    }
}

/// Bytes in binary units, one decimal: `12.5 MB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Runs SQL over the `events` table.
#[async_trait]
pub trait QueryEngine: Send + Sync {
    /// Where the rows come from, for messages: "Athena workgroup iat, database iat".
    fn describe(&self) -> String;

    /// Runs one statement to completion and returns all its rows.
    async fn run(&self, sql: &str) -> Result<QueryRun>;
}

/// An engine that runs no SQL: it answers each statement with the next queued rows (no rows
/// once the queue is empty, as Athena on an empty table) and remembers every statement.
#[derive(Debug, Default)]
pub struct MemoryQueryEngine {
    answers: Mutex<VecDeque<Result<ResultRows>>>,
    seen: Mutex<Vec<String>>,
}

impl MemoryQueryEngine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the rows the next unanswered statement returns.
    pub fn answer(&self, rows: ResultRows) {
        self.answers.lock().expect("answers").push_back(Ok(rows));
    }

    /// Queues a failure for the next unanswered statement.
    pub fn fail(&self, error: Error) {
        self.answers.lock().expect("answers").push_back(Err(error));
    }

    /// Every statement run so far, in order.
    pub fn statements(&self) -> Vec<String> {
        self.seen.lock().expect("statements").clone()
    }
}

#[async_trait]
impl QueryEngine for MemoryQueryEngine {
    fn describe(&self) -> String {
        "an in-memory engine".to_owned()
    }

    async fn run(&self, sql: &str) -> Result<QueryRun> {
        self.seen.lock().expect("statements").push(sql.to_owned());
        let rows = self
            .answers
            .lock()
            .expect("answers")
            .pop_front()
            .unwrap_or_else(|| Ok(ResultRows::default()))?;
        Ok(QueryRun {
            rows,
            ..QueryRun::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_bills_whole_megabytes_with_a_ten_megabyte_minimum() {
        assert_eq!(athena_billed_bytes(0), 10 * MB);
        assert_eq!(athena_billed_bytes(10 * MB + 1), 11 * MB);
        assert_eq!(athena_billed_bytes(1 << 40), 1 << 40);
        assert!((athena_cost_usd(1 << 40) - 5.0).abs() < 1e-12);
        // The minimum: 10 MB is 5 * 10 / 2^20 dollars.
        assert!((athena_cost_usd(1) - 5.0 * 10.0 / 1_048_576.0).abs() < 1e-15);
    }

    #[test]
    fn a_summary_names_rows_time_bytes_and_cost() {
        let run = QueryRun {
            rows: ResultRows {
                columns: vec!["n".into()],
                typed: vec![true],
                rows: vec![vec![Some("1".into())], vec![Some("2".into())]],
            },
            elapsed: Duration::from_millis(1_250),
            scanned_bytes: Some(52 * MB + MB / 2),
            query_id: None,
        };
        assert_eq!(
            run.summary(),
            "2 rows in 1.25 s, 52.5 MB scanned, $0.000253 at $5 per TB (53.0 MB billed)"
        );
        assert_eq!(run.rows.total("n"), 3);
        let local = QueryRun {
            scanned_bytes: None,
            ..run
        };
        assert_eq!(local.summary(), "2 rows in 1.25 s");
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(3 << 30), "3.0 GB");
    }
}
