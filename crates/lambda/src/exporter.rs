//! The exporter function: days of the events table into the Parquet lake on S3.
//!
//! A daily schedule exports yesterday and the `LATE_DAYS` before it (late events), and every
//! day the collector's checkpoints (in `CONTROL_TABLE`) completed since the last daily run, so
//! a day exported while the collector was behind is exported again once it is complete; an
//! invocation with `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}` exports that range on demand.
//! Each day is read from its own DynamoDB partitions (never a Scan) and replaces that day in
//! the lake exactly. A day the table no longer holds (expired) is left as the lake has it.
//!
//! Beside each day it keeps the alerts the rules raise over it (`exports/raised/`), under the
//! same rule settings as the alerter (`DISABLED_RULES`, `WORKING_HOURS`, … as `iat rules
//! list` names them), so `iat serve` shows a lake day's alerts without querying its events.
//!
//! Environment: `EVENTS_TABLE`, `LAKE_BUCKET` (required); `CONTROL_TABLE` (none: only the late
//! days are exported, with a warning at start-up), `LAKE_PREFIX` (none), `LATE_DAYS` (2),
//! `COMPRESSION` (snappy or zstd), `ROWS_PER_PART` (500000), and the rule settings.

use chrono::{DateTime, NaiveDate, Utc};
use iat_aws::{DynamoCheckpointStore, DynamoEventStore, S3ObjectStore};
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_exporter::{DayExport, ExportOptions, daily_days, export_daily, export_days};
use iat_lake::Compression;
use serde_json::{Value, json};

use crate::env::{Env, EnvError};

/// The exporter's configuration.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    pub events_table: String,
    /// The collector's checkpoints: which days are complete.
    pub control_table: Option<String>,
    pub bucket: String,
    pub late_days: u32,
    pub options: ExportOptions,
}

impl ExporterSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ExporterError> {
        let events_table = env.required("EVENTS_TABLE", "the events table's name")?;
        let bucket = env.required("LAKE_BUCKET", "the S3 bucket of the lake")?;
        let late_days = env.parse("LATE_DAYS", 2u32, "a number of days, e.g. 2")?;
        let compression = env.parse("COMPRESSION", Compression::Snappy, "snappy or zstd")?;
        let rows_per_part = env.parse(
            "ROWS_PER_PART",
            500_000usize,
            "a number of rows, e.g. 500000",
        )?;
        if rows_per_part == 0 || late_days > 89 {
            return Err(EnvError {
                name: if rows_per_part == 0 {
                    "ROWS_PER_PART"
                } else {
                    "LATE_DAYS"
                },
                value: if rows_per_part == 0 {
                    "0".into()
                } else {
                    late_days.to_string()
                },
                expected: "ROWS_PER_PART at least 1, LATE_DAYS at most 89".into(),
            }
            .into());
        }
        let lookup = |name: &str| env.get(name);
        let rules = RuleSetConfig::from_lookup(&lookup)
            .and_then(RuleSet::new)
            .map_err(|e| ExporterError::Rules(e.to_string()))?;
        let control_table = env.get("CONTROL_TABLE").filter(|t| !t.is_empty());
        if control_table.is_none() {
            tracing::warn!(
                "CONTROL_TABLE is not set: days the collector completes after the late days are not exported again"
            );
        }
        Ok(Self {
            events_table,
            control_table,
            bucket,
            late_days,
            options: ExportOptions {
                prefix: env.get("LAKE_PREFIX").unwrap_or_default(),
                compression,
                rows_per_part,
                rules: Some(std::sync::Arc::new(rules)),
                ..ExportOptions::default()
            },
        })
    }
}

/// Why an invocation (or start-up) failed.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error(transparent)]
    Config(#[from] EnvError),
    #[error("rule settings: {0}")]
    Rules(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("export failed: {0}")]
    Export(#[from] iat_core::Error),
}

impl ExporterError {
    pub fn error_type(&self) -> &'static str {
        match self {
            ExporterError::Config(_) | ExporterError::Rules(_) => "ConfigError",
            ExporterError::BadRequest(_) => "BadRequest",
            ExporterError::Export(_) => "ExportFailed",
        }
    }
}

impl From<ExporterError> for lambda_runtime::Diagnostic {
    fn from(e: ExporterError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The exporter with its AWS ports.
#[derive(Debug)]
pub struct ExporterFunction {
    store: DynamoEventStore,
    checkpoints: Option<DynamoCheckpointStore>,
    lake: S3ObjectStore,
    settings: ExporterSettings,
}

impl ExporterFunction {
    pub fn new(
        settings: ExporterSettings,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ExporterError> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let store = DynamoEventStore::new(dynamo.clone(), &settings.events_table);
        let checkpoints = settings
            .control_table
            .as_ref()
            .map(|t| DynamoCheckpointStore::new(dynamo, t));
        let lake = S3ObjectStore::new(S3ObjectStore::client(sdk, false), &settings.bucket, "")?;
        Ok(Self {
            store,
            checkpoints,
            lake,
            settings,
        })
    }

    /// Builds the function over given ports (tests, other stores).
    pub fn with_ports(
        store: DynamoEventStore,
        checkpoints: Option<DynamoCheckpointStore>,
        lake: S3ObjectStore,
        settings: ExporterSettings,
    ) -> Self {
        Self {
            store,
            checkpoints,
            lake,
            settings,
        }
    }

    /// Exports the days the event asks for (a range) or the daily set (anything else).
    pub async fn handle(&self, event: Value, now: DateTime<Utc>) -> Result<Value, ExporterError> {
        let day = |k: &str| -> Result<Option<NaiveDate>, ExporterError> {
            match event.get(k).and_then(Value::as_str) {
                None => Ok(None),
                Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| {
                        ExporterError::BadRequest(format!("{k}={s:?} is not a date (YYYY-MM-DD)"))
                    }),
            }
        };
        let (first, last) = match (day("from")?, day("to")?) {
            (Some(f), t) => (f, t.unwrap_or(f)),
            (None, Some(t)) => (t, t),
            (None, None) => return self.daily(now).await,
        };
        if (last - first).num_days() > 400 {
            return Err(ExporterError::BadRequest(format!(
                "{first} to {last} is over 400 days; export it in parts"
            )));
        }
        self.range(first, last, now).await
    }

    /// Exports `first..=last`.
    async fn range(
        &self,
        first: NaiveDate,
        last: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Value, ExporterError> {
        let days: Vec<DayExport> = export_days(
            &self.store,
            &self.lake,
            first,
            last,
            &self.settings.options,
            now,
        )
        .await?;
        let events: u64 = days.iter().map(|d| d.events).sum();
        tracing::info!(%first, %last, days = days.len(), events, "export run");
        Ok(json!({"days": days, "events": events}))
    }

    /// The daily run: the late days, and the days the checkpoints completed since the last.
    async fn daily(&self, now: DateTime<Utc>) -> Result<Value, ExporterError> {
        let today = now.date_naive();
        let Some(checkpoints) = &self.checkpoints else {
            let (first, last) = daily_days(today, self.settings.late_days);
            return self.range(first, last, now).await;
        };
        let run = export_daily(
            &self.store,
            &self.lake,
            checkpoints,
            today,
            self.settings.late_days,
            &self.settings.options,
            now,
        )
        .await?;
        let events: u64 = run.days.iter().map(|d| d.events).sum();
        let days: Vec<&DayExport> = run.reported_days().collect();
        tracing::info!(days = days.len(), completed = run.completed.len(), events, settled_up_to = ?run.coverage.settled_up_to, swept_up_to = ?run.coverage.swept_up_to, "daily export");
        Ok(json!({
            "days": days,
            "events": events,
            "completed": run.completed,
            "coverage": run.coverage,
        }))
    }
}
