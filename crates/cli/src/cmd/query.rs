//! `iat query`: the query catalogue on Athena, or on DataFusion over the local lake.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{Duration, NaiveDate, Utc};
use iat_core::ports::ResultRows;
use iat_lake::QueryCatalogue;

use crate::output::table;

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// A query name (`iat query list` shows them), or `list`.
    pub name: String,
    /// Days to read, ending with --until (default 7).
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// First day (UTC, YYYY-MM-DD); overrides --days.
    #[arg(long)]
    pub since: Option<NaiveDate>,
    /// Last day (default: today, UTC).
    #[arg(long)]
    pub until: Option<NaiveDate>,
    /// Another parameter of the query, NAME=VALUE (e.g. actor=alice, allowed_regions=us-east-1,eu-west-1).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print the SQL as run, then the rows.
    #[arg(long)]
    pub show_sql: bool,
    /// What to read: the exported lake (`events`), or on Athena the organisation trail's own
    /// files (the stack's `trail` table, every account's events, not only the stored ones).
    #[arg(long, value_enum, default_value_t = Source::Lake)]
    pub source: Source,
    /// The raw trail's table in the Athena database (the stack creates `trail`).
    #[arg(long, env = "TRAIL_TABLE", default_value = iat_lake::trail::DEFAULT_TABLE, value_name = "NAME")]
    pub trail_table: String,
    /// With --source trail: read only these accounts (repeat the flag). Required when the
    /// table's account projection is `injected`; prunes the scan either way.
    #[arg(long = "account", value_name = "ACCOUNT_ID")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub engine: super::EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The exported events (Parquet, `dt` partitions).
    Lake,
    /// The organisation trail's CloudTrail files, read in place (Athena only).
    Trail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The date range and the parameters for a query.
pub(crate) fn parameters(
    args: &QueryArgs,
    today: NaiveDate,
) -> anyhow::Result<BTreeMap<String, String>> {
    let end = args.until.unwrap_or(today);
    let start = args
        .since
        .unwrap_or_else(|| end - Duration::days(i64::from(args.days.max(1)) - 1));
    if start > end {
        anyhow::bail!("--since {start} is after --until {end}");
    }
    let mut values = iat_lake::catalogue::period(start, end);
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--param {p:?}: expected NAME=VALUE"))?;
        values.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(values)
}

pub fn run(
    stores: &crate::store::StoreArgs,
    args: QueryArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let catalogue = QueryCatalogue::builtin();
    if args.name == "list" {
        let mut t = table();
        t.set_header(["query", "parameters", "description"]);
        for q in catalogue.queries() {
            let params: Vec<String> = q
                .params
                .iter()
                .filter(|p| {
                    !["start", "end", "previous_start", "previous_end"].contains(&p.name.as_str())
                })
                .map(|p| match &p.default {
                    Some(d) => format!("{}={d}", p.name),
                    None => p.name.clone(),
                })
                .collect();
            t.add_row([q.name.clone(), params.join(" "), q.description.clone()]);
        }
        writeln!(out, "{t}")?;
        writeln!(
            out,
            "Every query reads only the days asked for (--days 7 by default, or --since/--until)."
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let query = catalogue.get(&args.name)?;
    let values = parameters(&args, Utc::now().date_naive())?;
    let known: Vec<&str> = query.params.iter().map(|p| p.name.as_str()).collect();
    for p in &args.params {
        let name = p.split_once('=').map(|(k, _)| k.trim()).unwrap_or(p);
        if !known.contains(&name) {
            anyhow::bail!(
                "query {} has no parameter {name} (it takes {})",
                query.name,
                known.join(", ")
            );
        }
    }
    let sql = match args.source {
        Source::Lake => {
            if !args.accounts.is_empty() {
                anyhow::bail!(
                    "--account is for --source trail (on the lake, filter with the query's own parameters)"
                );
            }
            query.render(&values)?
        }
        Source::Trail => {
            if args.engine.local_lake().is_some() {
                anyhow::bail!(
                    "--source trail reads the organisation trail's table on Athena: give --athena-database (or ATHENA_DATABASE; `make run-query SOURCE=trail` uses the stack's). Locally, ingest the trail's files with `iat ingest` and query the lake"
                );
            }
            let accounts = args
                .accounts
                .iter()
                .map(|a| {
                    iat_core::model::AccountId::new(a)
                        .map_err(|e| anyhow::anyhow!("--account {a:?}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let table = args.trail_table.trim();
            if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                anyhow::bail!(
                    "--trail-table {table:?}: expected a table name (letters, digits, _)"
                );
            }
            iat_lake::trail::render(
                query,
                &values,
                table,
                (!accounts.is_empty()).then_some(&accounts[..]),
            )?
        }
    };
    if args.show_sql {
        writeln!(out, "{sql}\n")?;
    }
    let runtime = crate::runtime()?;
    let run = runtime.block_on(async {
        let engine = args.engine.engine(stores.profile()).await?;
        let run = engine
            .run(&sql)
            .await
            .with_context(|| format!("query {} on {}", query.name, engine.describe()))?;
        anyhow::Ok((run, engine.describe()))
    });
    let (run, source) = run?;
    print_rows(out, &run.rows, args.format)?;
    let hint = if run.rows.rows.is_empty() {
        let day = |k: &str| values[k].parse::<NaiveDate>().ok();
        day("start")
            .zip(day("end"))
            .and_then(|(start, end)| args.engine.empty_lake_hint(start, end))
    } else {
        None
    };
    if args.format == Format::Table {
        writeln!(
            out,
            "{} ({} to {}, {source}{})",
            run.summary(),
            values["start"],
            values["end"],
            run.query_id
                .as_deref()
                .map(|id| format!(", query id {id}"))
                .unwrap_or_default()
        )?;
    }
    if let Some(hint) = hint {
        if args.format == Format::Table {
            writeln!(out, "{hint}")?;
        } else {
            eprintln!("{hint}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn print_rows(
    out: &mut dyn Write,
    rows: &ResultRows,
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let mut t = table();
            t.set_header(rows.columns.clone());
            for r in &rows.rows {
                t.add_row(
                    r.iter()
                        .map(|v| v.clone().unwrap_or_default())
                        .collect::<Vec<_>>(),
                );
            }
            writeln!(out, "{t}")?;
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .rows
                .iter()
                .map(|r| {
                    let mut m = serde_json::Map::new();
                    for ((c, v), typed) in rows.columns.iter().zip(r).zip(&rows.typed) {
                        let value = match v {
                            None => serde_json::Value::Null,
                            Some(v) if *typed => serde_json::from_str(v)
                                .unwrap_or_else(|_| serde_json::Value::String(v.clone())),
                            Some(v) => serde_json::Value::String(v.clone()),
                        };
                        m.insert(c.clone(), value);
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &items)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(&rows.columns)?;
            for r in &rows.rows {
                w.write_record(r.iter().map(|v| v.clone().unwrap_or_default()))?;
            }
            w.flush()?;
        }
    }
    Ok(())
}
