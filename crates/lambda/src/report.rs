//! The weekly report function: the denied-calls report on Athena, sent through SNS.
//!
//! A weekly schedule reports the `REPORT_DAYS` days ending yesterday (UTC); an invocation with
//! `{"until": "YYYY-MM-DD", "days": N}` reports another period. It runs the catalogue's
//! denied_calls, denied_new, unexpected_regions, denied_by_account and denied_regions_new on
//! Athena (reading only those days and the period before), and publishes one plain-text
//! message with `rule_id=weekly_report`.
//!
//! With `TRAIL_TABLE` set it reports the whole organisation from the trail's raw table: it
//! lists the accounts (Organizations `ListAccounts`) for their names, refreshes the table's
//! account projection with them (`TRAIL_ACCOUNT_PROJECTION=enum`, so an account that joined
//! this week is read) or names them in every query (`injected`), and adds the accounts to the
//! report.
//!
//! Environment: `ATHENA_DATABASE`, `REPORT_TOPIC_ARN` (required); `ATHENA_WORKGROUP`
//! (primary), `ATHENA_OUTPUT_LOCATION` (the workgroup's), `ALLOWED_REGIONS` (us-east-1 and the
//! function's region), `REPORT_DAYS` (7), `QUERY_TIMEOUT_SECONDS` (240; less when the
//! invocation's deadline is nearer), `TRAIL_TABLE` (empty: the lake), `TRAIL_ACCOUNT_PROJECTION`
//! (enum).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use iat_aws::{AthenaQueryEngine, AthenaSettings, OrganizationsAccountDirectory, SnsNotifier};
use iat_core::ports::{AccountDirectory, Notifier, QueryEngine};
use iat_exporter::report::{
    REPORT_QUERIES, ReportOptions, ReportPeriod, TrailSource, weekly_report,
};
use iat_lake::QueryCatalogue;
use serde_json::{Value, json};

use crate::env::{Env, EnvError};

/// The report function's configuration.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub athena: AthenaSettings,
    pub topic_arn: String,
    pub allowed_regions: String,
    pub days: u32,
    /// The organisation trail's raw table, when the report reads the trail.
    pub trail: Option<TrailSettings>,
}

/// How the report reads the organisation trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailSettings {
    pub table: String,
    /// The table's account projection is an enum list (refreshed before each report), not
    /// injected.
    pub enum_accounts: bool,
}

impl ReportSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ReportError> {
        let database = env.required("ATHENA_DATABASE", "the Glue database of the events table")?;
        let topic_arn = env.required("REPORT_TOPIC_ARN", "the SNS topic the report is sent to")?;
        let workgroup = env
            .get("ATHENA_WORKGROUP")
            .unwrap_or_else(|| "primary".into());
        let output_location = env.get("ATHENA_OUTPUT_LOCATION");
        if let Some(o) = output_location.as_ref().filter(|o| !o.starts_with("s3://")) {
            return Err(EnvError {
                name: "ATHENA_OUTPUT_LOCATION",
                value: o.clone(),
                expected: "an S3 URL, s3://bucket/prefix/".into(),
            }
            .into());
        }
        let allowed_regions = env.get("ALLOWED_REGIONS").unwrap_or_else(|| {
            match env.get("AWS_REGION").filter(|r| r != "us-east-1") {
                Some(own) => format!("us-east-1,{own}"),
                None => "us-east-1".into(),
            }
        });
        let days: u32 = env.parse("REPORT_DAYS", 7, "a number of days from 1 to 90")?;
        if !(1..=90).contains(&days) {
            return Err(EnvError {
                name: "REPORT_DAYS",
                value: days.to_string(),
                expected: "a number of days from 1 to 90".into(),
            }
            .into());
        }
        let timeout: u64 = env.parse(
            "QUERY_TIMEOUT_SECONDS",
            240,
            "a number of seconds, e.g. 240",
        )?;
        if timeout == 0 {
            return Err(EnvError {
                name: "QUERY_TIMEOUT_SECONDS",
                value: "0".into(),
                expected: "at least 1 second".into(),
            }
            .into());
        }
        let trail = match env.get("TRAIL_TABLE").filter(|t| !t.trim().is_empty()) {
            None => None,
            Some(table) => {
                let table = table.trim().to_owned();
                if !table
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return Err(EnvError {
                        name: "TRAIL_TABLE",
                        value: table,
                        expected: "a Glue table name (lowercase letters, digits, _)".into(),
                    }
                    .into());
                }
                let enum_accounts = match env
                    .get("TRAIL_ACCOUNT_PROJECTION")
                    .unwrap_or_else(|| "enum".into())
                    .as_str()
                {
                    "enum" | "" => true,
                    "injected" => false,
                    other => {
                        return Err(EnvError {
                            name: "TRAIL_ACCOUNT_PROJECTION",
                            value: other.to_owned(),
                            expected: "enum or injected".into(),
                        }
                        .into());
                    }
                };
                Some(TrailSettings {
                    table,
                    enum_accounts,
                })
            }
        };
        let mut athena = AthenaSettings::new(database, workgroup);
        athena.output_location = output_location;
        athena.timeout = Duration::from_secs(timeout);
        Ok(Self {
            athena,
            topic_arn,
            allowed_regions,
            days,
            trail,
        })
    }
}

/// Why an invocation (or start-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Config(#[from] EnvError),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("report failed: {0}")]
    Query(iat_core::Error),
    #[error("the organisation's accounts: {0}")]
    Accounts(iat_core::Error),
    #[error("report not sent: {0}")]
    Publish(iat_core::Error),
}

impl ReportError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ReportError::Config(_) => "ConfigError",
            ReportError::BadRequest(_) => "BadRequest",
            ReportError::Query(_) => "ReportFailed",
            ReportError::Accounts(_) => "AccountsFailed",
            ReportError::Publish(_) => "PublishFailed",
        }
    }
}

impl From<ReportError> for lambda_runtime::Diagnostic {
    fn from(e: ReportError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Time kept back from the invocation's deadline for sending the report.
const SEND_MARGIN: Duration = Duration::from_secs(15);

/// The report function with its AWS ports.
#[derive(Debug)]
pub struct ReportFunction {
    engine: AthenaQueryEngine,
    notifier: SnsNotifier,
    settings: ReportSettings,
    catalogue: QueryCatalogue,
    directory: Box<dyn AccountDirectory>,
}

impl ReportFunction {
    pub fn new(settings: ReportSettings, sdk: &aws_config::SdkConfig) -> Self {
        let engine =
            AthenaQueryEngine::new(aws_sdk_athena::Client::new(sdk), settings.athena.clone());
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(sdk), &settings.topic_arn);
        Self {
            engine,
            notifier,
            settings,
            catalogue: QueryCatalogue::builtin(),
            directory: Box::new(OrganizationsAccountDirectory::from_sdk(sdk)),
        }
    }

    /// What the report reads besides its period: for the trail, the organisation's accounts
    /// (names for the report; the table's account list refreshed, or the accounts named in
    /// each query).
    async fn options(&self, engine: &dyn QueryEngine) -> Result<ReportOptions, ReportError> {
        let Some(trail) = &self.settings.trail else {
            return Ok(ReportOptions::default());
        };
        let accounts = self
            .directory
            .accounts()
            .await
            .map_err(ReportError::Accounts)?;
        if accounts.is_empty() {
            return Err(ReportError::Accounts(iat_core::Error::invalid(
                "organisation",
                self.directory.describe(),
                "lists no accounts",
            )));
        }
        let ids: Vec<_> = accounts.iter().map(|a| a.id.clone()).collect();
        if trail.enum_accounts {
            let ddl = iat_lake::trail::set_accounts_ddl(
                &self.settings.athena.database,
                &trail.table,
                &ids,
            )
            .map_err(|e| {
                ReportError::Query(iat_core::Error::invalid(
                    "trail table",
                    &trail.table,
                    e.to_string(),
                ))
            })?;
            engine.run(&ddl).await.map_err(ReportError::Query)?;
            tracing::info!(accounts = ids.len(), table = %trail.table, "trail table's accounts refreshed");
        }
        Ok(ReportOptions {
            trail: Some(TrailSource {
                table: trail.table.clone(),
                accounts: (!trail.enum_accounts).then_some(ids),
            }),
            account_names: accounts
                .into_iter()
                .map(|a| (a.id.as_str().to_owned(), a.name))
                .collect(),
        })
    }

    /// Replaces the account directory (tests, or another source of accounts).
    pub fn with_directory(mut self, directory: Box<dyn AccountDirectory>) -> Self {
        self.directory = directory;
        self
    }

    /// Reports the period the event asks for (`until`, `days`), or the days ending yesterday.
    /// `remaining` is the time left before the invocation's deadline.
    pub async fn handle(
        &self,
        event: Value,
        now: DateTime<Utc>,
        remaining: Duration,
    ) -> Result<Value, ReportError> {
        let until = match event.get("until").and_then(Value::as_str) {
            None => now.date_naive().pred_opt().expect("a representable day"),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ReportError::BadRequest(format!("until={s:?} is not a date (YYYY-MM-DD)"))
            })?,
        };
        let days = match event.get("days") {
            None => self.settings.days,
            Some(d) => d
                .as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| ReportError::BadRequest(format!("days={d} is not a number")))?,
        };
        let period = ReportPeriod::ending(until, days)
            .map_err(|e| ReportError::BadRequest(e.to_string()))?;
        // Each query gets its share of the time left, so a slow one is stopped by us (and
        // stops scanning) rather than by Lambda's timeout.
        let statements = REPORT_QUERIES.len() + usize::from(self.settings.trail.is_some());
        let share = remaining.saturating_sub(SEND_MARGIN) / statements as u32;
        let timeout = self
            .settings
            .athena
            .timeout
            .min(share)
            .max(Duration::from_secs(1));
        let engine = self.engine.with_timeout(timeout);
        let options = self.options(&engine).await?;
        let report = weekly_report(
            &engine,
            &self.catalogue,
            period,
            &self.settings.allowed_regions,
            &options,
        )
        .await
        .map_err(ReportError::Query)?;
        let notification = report.notification().map_err(ReportError::Publish)?;
        self.notifier
            .notify(&notification)
            .await
            .map_err(ReportError::Publish)?;
        let rows: serde_json::Map<String, Value> = report
            .runs
            .iter()
            .map(|(name, run)| ((*name).to_owned(), json!(run.rows.rows.len())))
            .collect();
        let scanned = report.scanned_bytes().unwrap_or(0);
        let cost = report.cost_usd();
        tracing::info!(start = %period.start, end = %period.end, scanned_bytes = scanned, cost_usd = cost, "report sent");
        Ok(json!({
            "subject": report.subject,
            "start": period.start,
            "end": period.end,
            "rows": rows,
            "scanned_bytes": scanned,
            "cost_usd": cost,
            "source": if self.settings.trail.is_some() { "trail" } else { "lake" },
            "accounts": options.account_names.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ReportSettings, ReportError> {
        let lookup = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        ReportSettings::from_env(&Env::new(&lookup))
    }

    const BASE: [(&str, &str); 2] = [
        ("ATHENA_DATABASE", "iat"),
        ("REPORT_TOPIC_ARN", "arn:aws:sns:eu-west-1:123456789012:iat"),
    ];

    #[test]
    fn defaults_allow_us_east_1_and_the_functions_own_region() {
        let s = settings(&[BASE[0], BASE[1], ("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(s.allowed_regions, "us-east-1,eu-west-1");
        assert_eq!(s.days, 7);
        assert_eq!(s.athena.workgroup, "primary");
        assert_eq!(s.athena.timeout, Duration::from_secs(240));
        let s = settings(&[BASE[0], BASE[1], ("AWS_REGION", "us-east-1")]).unwrap();
        assert_eq!(s.allowed_regions, "us-east-1");
        let s = settings(&[
            BASE[0],
            BASE[1],
            ("ALLOWED_REGIONS", "eu-central-1"),
            ("ATHENA_WORKGROUP", "iat"),
            ("QUERY_TIMEOUT_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(s.allowed_regions, "eu-central-1");
        assert_eq!(s.athena.workgroup, "iat");
        assert_eq!(s.athena.timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_trail_is_read_when_its_table_is_named() {
        let s = settings(&[BASE[0], BASE[1], ("TRAIL_TABLE", "")]).unwrap();
        assert_eq!(s.trail, None);
        let s = settings(&[BASE[0], BASE[1], ("TRAIL_TABLE", "trail")]).unwrap();
        assert_eq!(
            s.trail,
            Some(TrailSettings {
                table: "trail".into(),
                enum_accounts: true
            })
        );
        let s = settings(&[
            BASE[0],
            BASE[1],
            ("TRAIL_TABLE", "trail"),
            ("TRAIL_ACCOUNT_PROJECTION", "injected"),
        ])
        .unwrap();
        assert!(!s.trail.unwrap().enum_accounts);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (pairs, name) in [
            (vec![BASE[1]], "ATHENA_DATABASE"),
            (vec![BASE[0], BASE[1], ("REPORT_DAYS", "91")], "REPORT_DAYS"),
            (
                vec![BASE[0], BASE[1], ("QUERY_TIMEOUT_SECONDS", "0")],
                "QUERY_TIMEOUT_SECONDS",
            ),
            (
                vec![BASE[0], BASE[1], ("QUERY_TIMEOUT_SECONDS", "soon")],
                "QUERY_TIMEOUT_SECONDS",
            ),
            (
                vec![BASE[0], BASE[1], ("TRAIL_TABLE", "my-trail")],
                "TRAIL_TABLE",
            ),
            (
                vec![
                    BASE[0],
                    BASE[1],
                    ("TRAIL_TABLE", "trail"),
                    ("TRAIL_ACCOUNT_PROJECTION", "all"),
                ],
                "TRAIL_ACCOUNT_PROJECTION",
            ),
        ] {
            let e = settings(&pairs).unwrap_err();
            assert_eq!(e.error_type(), "ConfigError");
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
