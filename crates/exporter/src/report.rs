//! The weekly denied-calls report as a service: five queries of the catalogue on any
//! [`QueryEngine`] (Athena on AWS, DataFusion over the local lake), made into one message.
//!
//! The queries read only the report's days and the period before it (for what is newly
//! denied), so on Athena a week's report costs five small scans, not the whole history.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use iat_core::Severity;
use iat_core::error::{Error, Result};
use iat_core::model::AccountId;
use iat_core::ports::Notification;
use iat_core::ports::{QueryEngine, QueryRun, human_bytes};
use iat_lake::{QueryCatalogue, WeeklyReport};

/// The catalogue queries the report runs, in order.
pub const REPORT_QUERIES: [&str; 5] = [
    "denied_calls",
    "denied_new",
    "unexpected_regions",
    "denied_by_account",
    "denied_regions_new",
];

/// What a report reads besides its period.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// `None`: the lake's `events`. `Some`: the organisation trail's raw table on Athena.
    pub trail: Option<TrailSource>,
    /// Account names by id (from Organizations), shown beside the ids.
    pub account_names: BTreeMap<String, String>,
}

/// The raw trail table a report reads.
#[derive(Debug, Clone)]
pub struct TrailSource {
    /// The table in the engine's database.
    pub table: String,
    /// The accounts to read, for an `injected` account projection (`None` for an enum one).
    pub accounts: Option<Vec<AccountId>>,
}

/// The days a report covers, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl ReportPeriod {
    /// `days` days ending with `end`.
    pub fn ending(end: NaiveDate, days: u32) -> Result<Self> {
        if days == 0 || days > 90 {
            return Err(Error::invalid(
                "report length",
                days.to_string(),
                "a report covers 1 to 90 days",
            ));
        }
        Ok(Self {
            start: end - Duration::days(i64::from(days) - 1),
            end,
        })
    }
}

/// A report, ready to send, and the query runs it was made from.
#[derive(Debug, Clone)]
pub struct Report {
    pub subject: String,
    pub body: String,
    pub runs: Vec<(&'static str, QueryRun)>,
}

impl Report {
    /// The report as one notification (attributes `rule_id=weekly_report`, `severity=low`, so
    /// subscriptions that filter alerts can take or leave it).
    pub fn notification(&self) -> Result<Notification> {
        Ok(
            Notification::new(&self.subject, self.body.clone(), Severity::Low)?
                .with_attribute("rule_id", "weekly_report")
                .with_attribute("severity", "low"),
        )
    }

    /// Bytes the engine scanned over all queries, when it reports them.
    pub fn scanned_bytes(&self) -> Option<u64> {
        scanned(&self.runs)
    }

    /// What the queries cost on Athena (each billed on its own, 10 MB at least).
    pub fn cost_usd(&self) -> f64 {
        cost(&self.runs)
    }
}

fn scanned(runs: &[(&'static str, QueryRun)]) -> Option<u64> {
    runs.iter().map(|(_, r)| r.scanned_bytes).sum()
}

fn cost(runs: &[(&'static str, QueryRun)]) -> f64 {
    runs.iter().filter_map(|(_, r)| r.cost_usd()).sum()
}

/// Runs the report's queries for `period` and writes the report. `allowed_regions` is the
/// comma-separated list of regions where activity is expected.
pub async fn weekly_report(
    engine: &dyn QueryEngine,
    catalogue: &QueryCatalogue,
    period: ReportPeriod,
    allowed_regions: &str,
    options: &ReportOptions,
) -> Result<Report> {
    if allowed_regions.split(',').all(|r| r.trim().is_empty()) {
        return Err(Error::invalid(
            "allowed regions",
            allowed_regions,
            "name at least one region, e.g. us-east-1,eu-west-1",
        ));
    }
    let mut values = iat_lake::catalogue::period(period.start, period.end);
    values.insert("allowed_regions".to_owned(), allowed_regions.to_owned());
    let mut runs = Vec::new();
    for name in REPORT_QUERIES {
        let sql = catalogue
            .get(name)
            .and_then(|q| match &options.trail {
                None => q.render(&values),
                Some(t) => iat_lake::trail::render(q, &values, &t.table, t.accounts.as_deref()),
            })
            .map_err(|e| Error::invalid("report query", name, e.to_string()))?;
        let run = engine.run(&sql).await.map_err(|e| match e {
            Error::Backend {
                backend,
                operation,
                resource,
                message,
                source,
            } => Error::Backend {
                backend,
                operation,
                resource: Some(
                    match resource {
                        Some(r) => format!("{name}: {r}"),
                        None => name.to_string(),
                    }
                    .into(),
                ),
                message,
                source,
            },
            other => other,
        })?;
        tracing::info!(
            query = name,
            rows = run.rows.rows.len(),
            elapsed_ms = run.elapsed.as_millis() as u64,
            scanned_bytes = run.scanned_bytes,
            "report query done"
        );
        runs.push((name, run));
    }
    let mut source = match &options.trail {
        None => engine.describe(),
        Some(t) => format!(
            "the organisation trail (table {}) on {}",
            t.table,
            engine.describe()
        ),
    };
    if let Some(bytes) = scanned(&runs) {
        source.push_str(&format!(
            "; {} queries scanned {} for ${:.4}",
            runs.len(),
            human_bytes(bytes),
            cost(&runs)
        ));
    }
    let (start, end) = (period.start.to_string(), period.end.to_string());
    let report = WeeklyReport {
        start: &start,
        end: &end,
        denied_calls: &runs[0].1.rows,
        denied_new: &runs[1].1.rows,
        unexpected_regions: &runs[2].1.rows,
        denied_by_account: &runs[3].1.rows,
        denied_regions_new: &runs[4].1.rows,
        account_names: &options.account_names,
        source,
    };
    let (subject, body) = (report.subject(), report.body());
    Ok(Report {
        subject,
        body,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration as StdDuration;

    use async_trait::async_trait;
    use iat_core::ports::ResultRows;

    use super::*;

    /// Answers each statement with canned rows and remembers the SQL it was given.
    struct Canned {
        seen: Mutex<Vec<String>>,
        fail_on: Option<usize>,
    }

    fn rows(columns: &[&str], values: &[&[&str]]) -> ResultRows {
        ResultRows {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            typed: vec![false; columns.len()],
            rows: values
                .iter()
                .map(|r| r.iter().map(|v| Some((*v).to_owned())).collect())
                .collect(),
        }
    }

    #[async_trait]
    impl QueryEngine for Canned {
        fn describe(&self) -> String {
            "a canned engine".into()
        }

        async fn run(&self, sql: &str) -> Result<QueryRun> {
            let mut seen = self.seen.lock().unwrap();
            seen.push(sql.to_owned());
            if self.fail_on == Some(seen.len()) {
                return Err(Error::backend(
                    "athena",
                    "GetQueryExecution",
                    "FAILED: Query exhausted resources",
                ));
            }
            let rows = match seen.len() {
                1 => rows(
                    &[
                        "event_source",
                        "event_name",
                        "calls",
                        "callers",
                        "accounts",
                        "regions",
                        "a_layer",
                        "layers",
                    ],
                    &[&[
                        "s3.amazonaws.com",
                        "GetObject",
                        "40",
                        "2",
                        "1",
                        "1",
                        "resource_policy",
                        "1",
                    ]],
                ),
                2 => rows(
                    &[
                        "event_source",
                        "event_name",
                        "calls",
                        "callers",
                        "a_layer",
                        "first_seen",
                    ],
                    &[],
                ),
                4 => rows(
                    &[
                        "account",
                        "calls",
                        "actions",
                        "callers",
                        "regions",
                        "org_policy_calls",
                    ],
                    &[&["111122223333", "40", "1", "2", "1", "0"]],
                ),
                _ => rows(
                    &[
                        "aws_region",
                        "event_source",
                        "actor",
                        "calls",
                        "denied",
                        "last_seen",
                    ],
                    &[&[
                        "ap-east-1",
                        "ec2.amazonaws.com",
                        "mallory",
                        "3",
                        "3",
                        "2026-03-06 01:00:00",
                    ]],
                ),
            };
            Ok(QueryRun {
                rows,
                elapsed: StdDuration::from_millis(5),
                scanned_bytes: Some(3 << 20),
                query_id: Some(format!("q{}", seen.len())),
            })
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn the_report_reads_only_its_days_and_the_period_before() {
        let engine = Canned {
            seen: Mutex::new(Vec::new()),
            fail_on: None,
        };
        let period = ReportPeriod::ending(day("2026-03-07"), 7).unwrap();
        assert_eq!(period.start, day("2026-03-01"));
        let report = weekly_report(
            &engine,
            &QueryCatalogue::builtin(),
            period,
            "us-east-1,eu-west-1",
            &ReportOptions {
                trail: None,
                account_names: [("111122223333".to_owned(), "payments".to_owned())].into(),
            },
        )
        .await
        .unwrap();
        let seen = engine.seen.lock().unwrap();
        assert_eq!(seen.len(), 5);
        for sql in seen.iter() {
            assert!(
                sql.contains("'2026-03-01'") && sql.contains("'2026-03-07'"),
                "{sql}"
            );
        }
        // denied_new compares with the week before.
        assert!(
            seen[1].contains("'2026-02-22'") && seen[1].contains("'2026-02-28'"),
            "{}",
            seen[1]
        );
        assert!(
            seen[2].contains("'us-east-1', 'eu-west-1'")
                || seen[2].contains("'us-east-1','eu-west-1'"),
            "{}",
            seen[2]
        );
        assert_eq!(
            report.subject,
            "Denied calls 2026-03-01 to 2026-03-07: 40 calls, 1 actions, 0 new"
        );
        assert!(report.body.contains("s3:GetObject"), "{}", report.body);
        assert!(
            report
                .body
                .contains("ap-east-1  ec2  by mallory (3 denied)"),
            "{}",
            report.body
        );
        assert!(
            report
                .body
                .contains("      40  111122223333 (payments)  1 actions, 2 callers"),
            "{}",
            report.body
        );
        // Five queries at the 10 MB minimum each.
        assert!(
            report
                .body
                .contains("a canned engine; 5 queries scanned 15.0 MB for $0.0002"),
            "{}",
            report.body
        );
        assert_eq!(report.scanned_bytes(), Some(15 << 20));
        let n = report.notification().unwrap();
        assert_eq!(n.subject.as_str(), report.subject);
    }

    #[tokio::test]
    async fn over_the_trail_every_query_reads_the_raw_table_by_day_partition() {
        let engine = Canned {
            seen: Mutex::new(Vec::new()),
            fail_on: None,
        };
        let period = ReportPeriod::ending(day("2026-03-07"), 7).unwrap();
        let report = weekly_report(
            &engine,
            &QueryCatalogue::builtin(),
            period,
            "us-east-1",
            &ReportOptions {
                trail: Some(TrailSource {
                    table: "trail".into(),
                    accounts: Some(vec![AccountId::new("111122223333").unwrap()]),
                }),
                account_names: BTreeMap::new(),
            },
        )
        .await
        .unwrap();
        let seen = engine.seen.lock().unwrap();
        assert_eq!(seen.len(), 5);
        for sql in seen.iter() {
            assert!(
                sql.contains("dt BETWEEN '2026/03/01' AND '2026/03/07'"),
                "{sql}"
            );
            assert!(
                sql.contains("FROM trail\n  WHERE account IN ('111122223333')"),
                "{sql}"
            );
            assert!(!sql.contains("FROM events"), "{sql}");
        }
        assert!(
            report
                .body
                .contains("From the organisation trail (table trail) on a canned engine"),
            "{}",
            report.body
        );
    }

    #[tokio::test]
    async fn a_failed_query_fails_the_report_and_names_the_query() {
        let engine = Canned {
            seen: Mutex::new(Vec::new()),
            fail_on: Some(2),
        };
        let period = ReportPeriod::ending(day("2026-03-07"), 7).unwrap();
        let e = weekly_report(
            &engine,
            &QueryCatalogue::builtin(),
            period,
            "us-east-1",
            &ReportOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("denied_new: FAILED: Query exhausted resources"),
            "{e}"
        );
    }

    #[test]
    fn bad_periods_and_regions_are_refused() {
        assert!(ReportPeriod::ending(day("2026-03-07"), 0).is_err());
        assert!(ReportPeriod::ending(day("2026-03-07"), 91).is_err());
        let engine = Canned {
            seen: Mutex::new(Vec::new()),
            fail_on: None,
        };
        let period = ReportPeriod::ending(day("2026-03-07"), 7).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt
            .block_on(weekly_report(
                &engine,
                &QueryCatalogue::builtin(),
                period,
                " , ",
                &ReportOptions::default(),
            ))
            .unwrap_err();
        assert!(e.to_string().contains("name at least one region"), "{e}");
        assert!(engine.seen.lock().unwrap().is_empty());
    }
}
