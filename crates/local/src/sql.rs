//! SQL over the local lake with DataFusion: the query catalogue's files, unchanged, over the
//! Parquet parts under `<root>/<prefix>/events/dt=YYYY-MM-DD/`.
//!
//! The table is registered with the lake's schema and `dt` as a Hive-style partition column,
//! so `WHERE dt BETWEEN ...` prunes whole directories, as partition projection does in Athena.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};
use iat_core::Error;
use iat_core::ports::{QueryEngine, QueryRun, ResultRows};

/// The local lake at `root` (a directory) under `prefix`.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
    prefix: String,
    /// Shared by every statement, so the Parquet footers (with their page indexes) read by one
    /// are not read and decoded again by the next; the cache checks each file's size and
    /// modification time, so a re-exported day is read afresh.
    runtime: Arc<RuntimeEnv>,
}

fn err(operation: &'static str) -> impl Fn(datafusion::error::DataFusionError) -> Error {
    move |e| {
        Error::backend(
            "datafusion",
            operation,
            e.to_string().lines().next().unwrap_or_default().to_owned(),
        )
    }
}

impl LocalLake {
    pub fn new(root: &Path, prefix: &str) -> Self {
        Self {
            root: root.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            runtime: Arc::new(RuntimeEnv::default()),
        }
    }

    /// The directory of the `events` table.
    pub fn table_dir(&self) -> PathBuf {
        let mut d = self.root.clone();
        if !self.prefix.is_empty() {
            d.push(&self.prefix);
        }
        d.join("events")
    }

    /// The days the lake holds Parquet parts for, oldest first (none when the directory is
    /// missing).
    pub fn days(&self) -> Vec<chrono::NaiveDate> {
        let Ok(entries) = std::fs::read_dir(self.table_dir()) else {
            return Vec::new();
        };
        let mut days: Vec<chrono::NaiveDate> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let day = name.strip_prefix("dt=")?.parse().ok()?;
                let has_parts = std::fs::read_dir(e.path()).ok()?.any(|f| {
                    f.is_ok_and(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
                });
                has_parts.then_some(day)
            })
            .collect();
        days.sort();
        days
    }

    async fn context(&self) -> Result<SessionContext, Error> {
        let dir = self.table_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::backend("datafusion", "open lake", format!("{}: {e}", dir.display()))
        })?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| {
            Error::backend("datafusion", "open lake", format!("{}: {e}", dir.display()))
        })?;
        let url =
            ListingTableUrl::parse(format!("{}/", dir.display())).map_err(err("open lake"))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("dt".to_owned(), DataType::Utf8)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(iat_lake::events_schema());
        let table = ListingTable::try_new(config).map_err(err("open lake"))?;
        // Filters are applied while the Parquet pages are decoded, the most selective first:
        // a search for one actor or for denied calls decodes the other columns of its rows
        // only, not of the whole day.
        let session = SessionConfig::new()
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        let ctx = SessionContext::new_with_config_rt(session, self.runtime.clone());
        ctx.register_table("events", Arc::new(table))
            .map_err(err("open lake"))?;
        Ok(ctx)
    }

    /// Runs one SQL statement and returns its rows as text.
    pub async fn rows(&self, sql: &str) -> Result<QueryRun, Error> {
        let start = Instant::now();
        let ctx = self.context().await?;
        let df = ctx.sql(sql).await.map_err(err("plan"))?;
        let mut out = ResultRows::default();
        // From the plan, so that a result without rows still has its columns.
        for f in df.schema().fields() {
            out.columns.push(f.name().clone());
            out.typed
                .push(f.data_type().is_numeric() || f.data_type() == &DataType::Boolean);
        }
        let batches = df.collect().await.map_err(err("run"))?;
        let options = FormatOptions::default().with_null("");
        for b in &batches {
            let formatters: Vec<ArrayFormatter<'_>> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(|e| Error::backend("datafusion", "format", e))?;
            for i in 0..b.num_rows() {
                out.rows.push(
                    b.columns()
                        .iter()
                        .zip(&formatters)
                        .map(|(c, f)| (!c.is_null(i)).then(|| f.value(i).to_string()))
                        .collect(),
                );
            }
        }
        Ok(QueryRun {
            rows: out,
            elapsed: start.elapsed(),
            scanned_bytes: None,
            query_id: None,
        })
    }
}

#[async_trait]
impl QueryEngine for LocalLake {
    fn describe(&self) -> String {
        format!("the local lake {}", self.table_dir().display())
    }

    async fn run(&self, sql: &str) -> Result<QueryRun, Error> {
        self.rows(sql).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_result_without_rows_still_has_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path(), "");
        let run = lake
            .run("SELECT event_name, count(*) AS n FROM events WHERE dt BETWEEN '2026-01-01' AND '2026-01-02' GROUP BY event_name")
            .await
            .unwrap();
        assert_eq!(run.rows.columns, ["event_name", "n"]);
        assert_eq!(run.rows.typed, [false, true]);
        assert!(run.rows.rows.is_empty());
        assert_eq!(run.scanned_bytes, None);
        assert!(lake.describe().starts_with("the local lake "));
    }
}
