//! Lake figures: bytes per event in Parquet against raw and gzip JSON; `iat export` of one day
//! of 1,000,000 events (throughput and peak memory, as a child process reading SQLite); the
//! encoding alone on one thread; and `iat query` times for failed_auth and denied_calls over
//! 10,000,000 events (the exported day and nine earlier days made from it), warm.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::NaiveDate;
use iat_core::RecordLimits;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Figure, median, run_sampled};

fn iat() -> anyhow::Result<std::path::PathBuf> {
    crate::sibling("iat")
}

/// Runs the `iat` beside this binary with `args`; its stdout, or its stderr as the error.
pub(crate) fn run_iat(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(iat()?).args(args).output()?;
    if !out.status.success() {
        bail!(
            "iat {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Writes `days - 1` days before `day` into the `events` table at `table`, each made from
/// `day`'s parts: every row moved back by whole days (so each date holds its own day's times,
/// as an exported day does) and its event id's first group replaced by the offset (so no two
/// rows of the table share an id).
pub(crate) fn earlier_days(table: &Path, day: NaiveDate, days: i64) -> anyhow::Result<()> {
    let src = table.join(format!("dt={day}"));
    let mut parts: Vec<_> = std::fs::read_dir(&src)?
        .map(|f| f.map(|f| f.path()))
        .collect::<Result<_, _>>()?;
    parts.sort();
    ensure!(
        !parts.is_empty(),
        "the export wrote no part under {}",
        src.display()
    );
    for k in 1..days {
        let dst = table.join(format!("dt={}", day - chrono::Duration::days(k)));
        std::fs::create_dir_all(&dst)?;
        for part in &parts {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part)?)?.build()?;
            let mut w = iat_lake::writer::PartWriter::new(iat_lake::writer::Compression::Snappy);
            for batch in reader {
                w.write(&shifted(&batch?, k)?)?;
            }
            std::fs::write(
                dst.join(part.file_name().context("a part has a name")?),
                w.finish()?,
            )?;
        }
    }
    Ok(())
}

/// `batch` moved back `days` days: event times shifted, event ids' first group set to `days`.
fn shifted(batch: &RecordBatch, days: i64) -> anyhow::Result<RecordBatch> {
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    let t = schema.index_of("event_time")?;
    let delta = days * 86_400_000_000;
    let times = columns[t]
        .as_primitive_opt::<TimestampMicrosecondType>()
        .context("event_time is not a microsecond timestamp")?;
    let moved = times.unary::<_, TimestampMicrosecondType>(|us| us - delta);
    columns[t] = Arc::new(moved.with_timezone_opt(times.timezone()));
    let i = schema.index_of("event_id")?;
    let ids = columns[i]
        .as_string_opt::<i32>()
        .context("event_id is not a string column")?;
    let renamed: StringArray = ids
        .iter()
        .map(|id| {
            id.map(|id| match id.split_once('-') {
                Some((_, rest)) => format!("{days:08x}-{rest}"),
                None => format!("{id}-{days}"),
            })
        })
        .collect();
    ensure!(renamed.null_count() == 0, "an event without an id");
    columns[i] = Arc::new(renamed);
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `iat --store STORE ingest PATH` (JSON summary, no progress bar).
pub(crate) fn ingest(store: &str, path: &Path) -> anyhow::Result<String> {
    run_iat(&[
        "--store",
        store,
        "ingest",
        "--no-progress",
        "--format",
        "json",
        &path.display().to_string(),
    ])
}

pub(crate) fn benchmark(dir: &Path, events: u64, runs: usize) -> anyhow::Result<Vec<Figure>> {
    let labels = iat_sim::Labels::read(&dir.join("labels.json"))?;
    let day = labels.day.to_string();
    let trail = dir.join("AWSLogs");
    let work = dir.join("lake-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let db = work.join("iat.db");
    let db_s = format!("sqlite:{}", db.display());
    eprintln!("ingesting {events} events for the lake benchmark");
    ingest(&db_s, &trail)?;

    // Raw and gzip JSON sizes of the stored records (what CloudTrail would deliver).
    let mut loaded =
        iat_local::logfiles::load_events(std::slice::from_ref(&trail), &RecordLimits::default());
    // The events `iat ingest` stores (service-linked-role noise is filtered by default).
    let filter = iat_core::NoiseFilter::default();
    loaded.events.retain(|e| filter.classify(e).is_none());
    let mut raw = 0usize;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let n_all = loaded.events.len();
    for e in &loaded.events {
        raw += e.raw.len() + 1;
        gz.write_all(e.raw.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    let gz_bytes = gz.finish()?.len();

    // Encoding alone, one thread: events → Arrow → Parquet (snappy), parts of 500,000 rows.
    let mut encode_rates = Vec::new();
    for _ in 0..runs.min(3) {
        let start = Instant::now();
        for chunk in loaded.events.chunks(500_000) {
            let mut w = iat_lake::PartWriter::new(iat_lake::Compression::Snappy);
            for page in chunk.chunks(10_000) {
                w.write(&iat_lake::to_batch(page))?;
            }
            w.finish()?;
        }
        encode_rates.push(n_all as f64 / start.elapsed().as_secs_f64());
    }
    drop(loaded);

    // `iat export` end to end: SQLite → normalise → Arrow → Parquet files.
    let mut rates = Vec::new();
    let mut rss = Vec::new();
    let mut exported = 0u64;
    let mut parquet_bytes = 0u64;
    let lake = work.join("lake");
    for _ in 0..runs.min(3) {
        let _ = std::fs::remove_dir_all(&lake);
        let run = run_sampled(
            Command::new(iat()?)
                .args([
                    "--store", &db_s, "export", "--since", &day, "--format", "json", "--lake",
                ])
                .arg(&lake),
            "iat export",
        )?;
        let (secs, peak_kb, out) = (run.secs, run.peak_kb, run.stdout);
        let days: serde_json::Value = serde_json::from_str(&out)?;
        exported = days[0]["events"].as_u64().unwrap_or(0);
        parquet_bytes = days[0]["bytes"].as_u64().unwrap_or(0);
        rates.push(exported as f64 / secs);
        rss.push(peak_kb as f64 / 1024.0);
    }
    let per = |b: usize| b as f64 / n_all.max(1) as f64;

    // The same day with the zstd option, for its size and speed.
    let lake_zstd = work.join("lake-zstd");
    let _ = std::fs::remove_dir_all(&lake_zstd);
    let start = Instant::now();
    let out = run_iat(&[
        "--store",
        &db_s,
        "export",
        "--since",
        &day,
        "--format",
        "json",
        "--compression",
        "zstd",
        "--lake",
        &lake_zstd.display().to_string(),
    ])?;
    let zstd_secs = start.elapsed().as_secs_f64();
    let zstd_bytes = serde_json::from_str::<serde_json::Value>(&out)?[0]["bytes"]
        .as_u64()
        .unwrap_or(0);
    let _ = std::fs::remove_dir_all(&lake_zstd);

    // Ten days of a million: nine earlier days made from the exported one.
    let first = labels.day;
    earlier_days(&lake.join("events"), first, 10)?;
    let since = (first - chrono::Duration::days(9)).to_string();
    let lake_s = lake.display().to_string();
    let mut query_figures = Vec::new();
    for (metric, name) in [
        ("lake.query_failed_auth_10m_s", "failed_auth"),
        ("lake.query_denied_calls_10m_s", "denied_calls"),
    ] {
        let args = [
            "query", name, "--since", &since, "--until", &day, "--lake", &lake_s, "--format",
            "json", "--local",
        ];
        run_iat(&args)?; // warm-up: file cache and page cache
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let out = run_iat(&args)?;
            times.push(start.elapsed().as_secs_f64());
            rows = serde_json::from_str::<Vec<serde_json::Value>>(&out)?.len();
        }
        query_figures.push(Figure {
            metric,
            value: median(times.clone()),
            unit: "s",
            goal: "< 1",
            note: format!(
                "`iat query {name}` (a new process each run: start-up, plan, DataFusion over the Parquet parts) over 10 days x {exported} events = {} events (the exported day and nine earlier days made from it, each row moved to its date), {rows} rows out, warm, median of {runs}; runs {:?}",
                exported * 10,
                times.iter().map(|t| (t * 1000.0).round() / 1000.0).collect::<Vec<_>>()
            ),
        });
    }
    let _ = std::fs::remove_file(&db);
    // Bytes per exported event, and how that compares with raw and gzipped JSON.
    let parquet = |bytes: u64| {
        let per_event = bytes as f64 / exported.max(1) as f64;
        let compared = format!(
            "{bytes} bytes; {:.1}x smaller than raw JSON, {:.2}x gzip",
            per(raw) / per_event,
            per_event / per(gz_bytes)
        );
        (per_event, compared)
    };
    let (zstd_per_event, zstd_compared) = parquet(zstd_bytes);
    let (snappy_per_event, snappy_compared) = parquet(parquet_bytes);
    let mut figures = vec![
        Figure {
            metric: "lake.raw_json_bytes_per_event",
            value: per(raw),
            unit: "bytes",
            goal: "report",
            note: format!("the {n_all} stored events' records as JSON lines"),
        },
        Figure {
            metric: "lake.gzip_json_bytes_per_event",
            value: per(gz_bytes),
            unit: "bytes",
            goal: "report",
            note: "the same JSON lines, gzip level 6, one stream".into(),
        },
        Figure {
            metric: "lake.parquet_bytes_per_event",
            value: zstd_per_event,
            unit: "bytes",
            goal: "<= raw/10 and < gzip",
            note: format!(
                "`iat export --compression zstd` (COMPRESSION=zstd in Lambda) of {exported} stored events (one day), parts of 500,000 rows: {zstd_compared}; written in {zstd_secs:.2} s. The default snappy: see lake.parquet_snappy_bytes_per_event"
            ),
        },
        Figure {
            metric: "lake.parquet_snappy_bytes_per_event",
            value: snappy_per_event,
            unit: "bytes",
            goal: "report",
            note: format!(
                "the same export with the default snappy: {snappy_compared}. event_id and request_id are random UUIDs, 36 hex characters each, which snappy cannot entropy-code"
            ),
        },
        Figure {
            metric: "lake.export_events_per_s",
            value: median(rates.clone()),
            unit: "events/s",
            goal: ">= 200000",
            note: format!(
                "`iat export` of one day of {exported} events from SQLite to Parquet files, a child process, median of {}; runs {:?}; the encoding alone (Arrow + Parquet, one thread) {:?} events/s",
                rates.len(),
                rates.iter().map(|r| r.round()).collect::<Vec<_>>(),
                encode_rates.iter().map(|r| r.round()).collect::<Vec<_>>()
            ),
        },
        Figure {
            metric: "lake.export_peak_rss_mb",
            value: median(rss.clone()),
            unit: "MB",
            goal: "<= 256",
            note: format!(
                "peak resident set (VmHWM sampled every 10 ms) of that export; runs {rss:?}"
            ),
        },
    ];
    figures.extend(query_figures);
    Ok(figures)
}
