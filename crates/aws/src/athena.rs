//! The `QueryEngine` port on Athena: start a query in a workgroup, poll until it ends, read
//! every page of its rows, and report the bytes scanned (what Athena bills).
//!
//! The decision to know: a query that runs past its time limit is stopped
//! (`StopQueryExecution`), never left running to keep scanning and billing after we gave up.
//! A workgroup's bytes-scanned cutoff shows as a failed query whose reason says so.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState, QueryExecutionStatistics, ResultConfiguration,
};
use iat_core::Error;
use iat_core::ports::{QueryEngine, QueryRun, ResultRows};

use crate::error::{describe, sdk_error};

/// Where and how queries run.
#[derive(Debug, Clone)]
pub struct AthenaSettings {
    /// The Glue database holding the `events` table.
    pub database: String,
    /// The workgroup (its bytes-scanned cutoff and result location apply).
    pub workgroup: String,
    /// `s3://bucket/prefix/` for results, when the workgroup does not set one.
    pub output_location: Option<String>,
    /// Longest a query may run before it is stopped.
    pub timeout: Duration,
    /// First wait between status checks; waits grow to 2 s.
    pub first_poll: Duration,
}

impl AthenaSettings {
    pub fn new(database: impl Into<String>, workgroup: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            workgroup: workgroup.into(),
            output_location: None,
            timeout: Duration::from_secs(300),
            first_poll: Duration::from_millis(200),
        }
    }
}

/// Runs SQL on Athena.
#[derive(Debug, Clone)]
pub struct AthenaQueryEngine {
    client: Client,
    settings: AthenaSettings,
}

const MAX_POLL: Duration = Duration::from_secs(2);

impl AthenaQueryEngine {
    pub fn new(client: Client, settings: AthenaSettings) -> Self {
        Self { client, settings }
    }

    /// The same engine with another time limit per query (a Lambda gives each invocation a
    /// deadline).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let mut settings = self.settings.clone();
        settings.timeout = timeout;
        Self {
            client: self.client.clone(),
            settings,
        }
    }

    async fn start(&self, sql: &str) -> Result<String, Error> {
        let s = &self.settings;
        let mut req = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&s.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .database(&s.database)
                    .build(),
            );
        if let Some(location) = &s.output_location {
            req = req.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| {
            sdk_error(
                "athena",
                "StartQueryExecution",
                Some(format!("workgroup {}", s.workgroup)),
                e,
            )
        })?;
        out.query_execution_id
            .ok_or_else(|| Error::backend("athena", "StartQueryExecution", "no query execution id"))
    }

    /// Waits for the query to end; its statistics when it succeeded.
    async fn wait(
        &self,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<QueryExecutionStatistics>, Error> {
        let mut pause = self.settings.first_poll;
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| {
                    sdk_error(
                        "athena",
                        "GetQueryExecution",
                        Some(format!("query {id}")),
                        e,
                    )
                })?;
            let execution = out.query_execution;
            let status = execution.as_ref().and_then(|e| e.status.as_ref());
            match status.and_then(|s| s.state.as_ref()) {
                Some(QueryExecutionState::Succeeded) => {
                    return Ok(execution.and_then(|e| e.statistics));
                }
                Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                    let reason = status
                        .and_then(|s| {
                            s.athena_error
                                .as_ref()
                                .and_then(|a| a.error_message.clone())
                                .or_else(|| s.state_change_reason.clone())
                        })
                        .unwrap_or_else(|| "no reason given".to_owned());
                    let hint = if reason.to_ascii_lowercase().contains("bytes scanned limit") {
                        " (the workgroup's bytes-scanned cutoff: ask for fewer days)"
                    } else {
                        ""
                    };
                    return Err(Error::backend(
                        "athena",
                        "GetQueryExecution",
                        format!("query {id} {}: {reason}{hint}", state.as_str()),
                    ));
                }
                _ => {}
            }
            if Instant::now() + pause > deadline {
                let stopped = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await;
                if let Err(e) = &stopped {
                    tracing::warn!(query_id = id, error = %describe(e), "could not stop the query");
                }
                return Err(Error::backend(
                    "athena",
                    "GetQueryExecution",
                    format!(
                        "query {id} did not finish within {:?} and was {}",
                        self.settings.timeout,
                        if stopped.is_ok() {
                            "stopped"
                        } else {
                            "left running (StopQueryExecution failed)"
                        }
                    ),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(MAX_POLL);
        }
    }

    /// Every row of a finished query, without the column-name row Athena puts first.
    async fn rows(&self, id: &str) -> Result<ResultRows, Error> {
        let mut out = ResultRows::default();
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    sdk_error("athena", "GetQueryResults", Some(format!("query {id}")), e)
                })?;
            let Some(set) = page.result_set else { break };
            if first_page {
                for c in set
                    .result_set_metadata
                    .as_ref()
                    .map(|m| m.column_info())
                    .unwrap_or_default()
                {
                    out.columns
                        .push(c.label.clone().unwrap_or_else(|| c.name.clone()));
                    out.typed.push(is_typed(&c.r#type));
                }
            }
            let mut rows = set.rows.unwrap_or_default().into_iter().map(|r| {
                r.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.var_char_value)
                    .collect::<Vec<_>>()
            });
            if first_page {
                let mut rows = rows.by_ref().peekable();
                if let Some(head) = rows.peek() {
                    let is_header = !out.columns.is_empty()
                        && head.len() == out.columns.len()
                        && head
                            .iter()
                            .zip(&out.columns)
                            .all(|(v, c)| v.as_deref() == Some(c));
                    if is_header {
                        rows.next();
                    }
                }
                out.rows.extend(rows);
            } else {
                out.rows.extend(rows.by_ref());
            }
            first_page = false;
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        if let (true, Some(width)) = (out.columns.is_empty(), out.rows.first().map(Vec::len)) {
            out.columns = (1..=width).map(|i| format!("_col{i}")).collect();
            out.typed = vec![false; width];
        }
        Ok(out)
    }
}

/// Numbers and booleans (JSON prints them unquoted).
fn is_typed(athena_type: &str) -> bool {
    let t = athena_type.to_ascii_lowercase();
    [
        "tinyint", "smallint", "integer", "int", "bigint", "real", "float", "double", "decimal",
        "boolean",
    ]
    .iter()
    .any(|n| t == *n || t.starts_with(&format!("{n}(")))
}

#[async_trait]
impl QueryEngine for AthenaQueryEngine {
    fn describe(&self) -> String {
        format!(
            "Athena workgroup {}, database {}",
            self.settings.workgroup, self.settings.database
        )
    }

    async fn run(&self, sql: &str) -> Result<QueryRun, Error> {
        let started = Instant::now();
        let deadline = started + self.settings.timeout;
        let id = self.start(sql).await?;
        tracing::debug!(query_id = %id, "query started");
        let statistics = self.wait(&id, deadline).await?;
        let rows = self.rows(&id).await?;
        let scanned = statistics
            .and_then(|s| s.data_scanned_in_bytes)
            .map(|b| u64::try_from(b).unwrap_or(0))
            .unwrap_or(0);
        Ok(QueryRun {
            rows,
            elapsed: started.elapsed(),
            scanned_bytes: Some(scanned),
            query_id: Some(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
    use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
    use aws_sdk_athena::operation::start_query_execution::StartQueryExecutionOutput;
    use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
    use aws_sdk_athena::types::{
        AthenaError, ColumnInfo, Datum, QueryExecution, QueryExecutionStatus, ResultSet,
        ResultSetMetadata, Row,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn execution(state: QueryExecutionState, reason: Option<&str>) -> GetQueryExecutionOutput {
        let mut status = QueryExecutionStatus::builder().state(state);
        if let Some(r) = reason {
            status = status
                .state_change_reason(r)
                .athena_error(AthenaError::builder().error_message(r).build());
        }
        GetQueryExecutionOutput::builder()
            .query_execution(
                QueryExecution::builder()
                    .query_execution_id("q-1")
                    .status(status.build())
                    .statistics(
                        QueryExecutionStatistics::builder()
                            .data_scanned_in_bytes(123_456_789)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn row(values: &[Option<&str>]) -> Row {
        Row::builder()
            .set_data(Some(
                values
                    .iter()
                    .map(|v| {
                        Datum::builder()
                            .set_var_char_value(v.map(str::to_owned))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn column(name: &str, t: &str) -> ColumnInfo {
        ColumnInfo::builder()
            .name(name)
            .label(name)
            .r#type(t)
            .build()
            .unwrap()
    }

    fn page(rows: Vec<Row>, next: Option<&str>) -> GetQueryResultsOutput {
        GetQueryResultsOutput::builder()
            .result_set(
                ResultSet::builder()
                    .set_rows(Some(rows))
                    .result_set_metadata(
                        ResultSetMetadata::builder()
                            .column_info(column("event_name", "varchar"))
                            .column_info(column("calls", "bigint"))
                            .build(),
                    )
                    .build(),
            )
            .set_next_token(next.map(str::to_owned))
            .build()
    }

    fn settings() -> AthenaSettings {
        AthenaSettings {
            first_poll: Duration::from_millis(5),
            ..AthenaSettings::new("iat", "iat")
        }
    }

    fn started() -> aws_smithy_mocks::Rule {
        mock!(Client::start_query_execution)
            .match_requests(|r| {
                r.work_group() == Some("iat")
                    && r.query_execution_context().and_then(|c| c.database()) == Some("iat")
            })
            .then_output(|| {
                StartQueryExecutionOutput::builder()
                    .query_execution_id("q-1")
                    .build()
            })
    }

    #[tokio::test]
    async fn a_query_is_polled_to_its_end_and_every_page_is_read_without_the_header_row() {
        let start = started();
        let status = mock!(Client::get_query_execution)
            .sequence()
            .output(|| execution(QueryExecutionState::Queued, None))
            .output(|| execution(QueryExecutionState::Running, None))
            .times(2)
            .output(|| execution(QueryExecutionState::Succeeded, None))
            .build();
        let results = mock!(Client::get_query_results)
            .sequence()
            .output(|| {
                page(
                    vec![
                        row(&[Some("event_name"), Some("calls")]),
                        row(&[Some("GetObject"), Some("40")]),
                        row(&[Some("PutObject"), None]),
                    ],
                    Some("page-2"),
                )
            })
            .output(|| page(vec![row(&[Some("event_name"), Some("7")])], None))
            .build();
        let client = mock_client!(
            aws_sdk_athena,
            RuleMode::MatchAny,
            [&start, &status, &results]
        );
        let engine = AthenaQueryEngine::new(client, settings());
        let run = engine.run("SELECT 1").await.unwrap();
        assert_eq!(status.num_calls(), 4, "queued, running twice, succeeded");
        assert_eq!(results.num_calls(), 2, "both pages");
        assert_eq!(run.rows.columns, ["event_name", "calls"]);
        assert_eq!(run.rows.typed, [false, true]);
        // The header row of the first page is dropped; a later row that looks like it is data.
        assert_eq!(
            run.rows.rows,
            vec![
                vec![Some("GetObject".to_owned()), Some("40".to_owned())],
                vec![Some("PutObject".to_owned()), None],
                vec![Some("event_name".to_owned()), Some("7".to_owned())],
            ]
        );
        assert_eq!(run.scanned_bytes, Some(123_456_789));
        assert_eq!(run.query_id.as_deref(), Some("q-1"));
        assert_eq!(engine.describe(), "Athena workgroup iat, database iat");
    }

    #[tokio::test]
    async fn a_failed_query_says_why_and_names_the_scan_cutoff() {
        let start = started();
        let status = mock!(Client::get_query_execution).then_output(|| {
            execution(
                QueryExecutionState::Failed,
                Some("Query cancelled! : Bytes scanned limit was exceeded"),
            )
        });
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &status]);
        let e = AthenaQueryEngine::new(client, settings())
            .run("SELECT 1")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("query q-1 FAILED: Query cancelled! : Bytes scanned limit was exceeded (the workgroup's bytes-scanned cutoff: ask for fewer days)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_query_past_its_time_limit_is_stopped() {
        let start = started();
        let status = mock!(Client::get_query_execution)
            .sequence()
            .output(|| execution(QueryExecutionState::Running, None))
            .repeatedly()
            .build();
        let stop = mock!(Client::stop_query_execution)
            .match_requests(|r| r.query_execution_id() == Some("q-1"))
            .then_output(|| StopQueryExecutionOutput::builder().build());
        let client = mock_client!(aws_sdk_athena, RuleMode::MatchAny, [&start, &status, &stop]);
        let engine = AthenaQueryEngine::new(
            client,
            AthenaSettings {
                timeout: Duration::from_millis(200),
                ..settings()
            },
        );
        let e = engine.run("SELECT 1").await.unwrap_err().to_string();
        assert_eq!(stop.num_calls(), 1);
        assert!(status.num_calls() >= 3, "polled until the limit");
        assert!(
            e.contains("query q-1 did not finish within 200ms and was stopped"),
            "{e}"
        );
    }

    #[test]
    fn numbers_and_booleans_are_typed() {
        for t in [
            "bigint",
            "integer",
            "double",
            "boolean",
            "decimal(10,2)",
            "BIGINT",
        ] {
            assert!(is_typed(t), "{t}");
        }
        for t in [
            "varchar",
            "timestamp",
            "date",
            "array(varchar)",
            "row(a integer)",
        ] {
            assert!(!is_typed(t), "{t}");
        }
    }
}
