//! Figures for reading as a stream: `iat rules test` over a million events in bounded memory,
//! and one large JSON Lines file ingested as fast as many small trail files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use iat_local::logfiles::{self, Item};

use crate::{Figure, IngestRun, ingest_once, median, run_sampled};

/// `iat rules test --format summary` over the ingest dataset, as a child process.
pub(crate) fn rules_test(
    iat: &Path,
    dir: &Path,
    events: u64,
    runs: usize,
) -> anyhow::Result<Figure> {
    let trail = dir.join("AWSLogs");
    let (mut rss, mut rates) = (Vec::new(), Vec::new());
    let mut summary = String::new();
    for _ in 0..runs {
        let run = run_sampled(
            Command::new(iat)
                .args(["rules", "test", "--format", "summary"])
                .arg(&trail),
            "iat rules test",
        )?;
        let (secs, peak_kb, out) = (run.secs, run.peak_kb, run.stdout);
        summary = out.lines().last().unwrap_or_default().to_owned();
        let read: u64 = summary
            .split(" events read")
            .next()
            .map(|n| n.replace(',', ""))
            .and_then(|n| n.trim().parse().ok())
            .context("the summary line")?;
        if read < events {
            bail!("rules test read {read} events, expected at least {events}: {summary}");
        }
        rss.push(peak_kb as f64 / 1024.0);
        rates.push(read as f64 / secs);
    }
    Ok(Figure {
        metric: "rules_test.peak_rss_mb",
        value: median(rss.clone()),
        unit: "MB",
        goal: "<= 150",
        note: format!(
            "peak resident set (VmHWM sampled every 10 ms) of `iat rules test --format summary` (profile cli, the build make uses) over the generated organisation's gzip trail files, median of {runs} runs; \"{summary}\"; runs {:?} MB at {:?} events/s",
            rss.iter().map(|r| r.round() as u64).collect::<Vec<_>>(),
            rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
        ),
    })
}

/// One JSON Lines file of the first `records` records of the trail files under `dir`, cached.
fn one_file(dir: &Path, records: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("one-{records}.jsonl"));
    if path.exists() {
        return Ok(path);
    }
    let partial = path.with_extension("partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
    let mut written = 0u64;
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir.join("AWSLogs"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    for file in files {
        if written == records {
            break;
        }
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&file)?).read_to_end(&mut text)?;
        let mut failed = None;
        logfiles::read_bytes(text, &mut |item| {
            if let (Item::Record { text, .. }, true) = (item, written < records) {
                let line = if text.contains('\n') {
                    match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v) => v.to_string(),
                        Err(e) => {
                            failed = Some(e.to_string());
                            return;
                        }
                    }
                } else {
                    text
                };
                if let Err(e) = writeln!(out, "{line}") {
                    failed = Some(e.to_string());
                }
                written += 1;
            }
        })
        .map_err(anyhow::Error::msg)?;
        if let Some(e) = failed {
            bail!("writing {}: {e}", partial.display());
        }
    }
    if written < records {
        bail!("only {written} records under {}", dir.display());
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// `iat ingest` of one JSON Lines file, against the same records spread over many trail files.
pub(crate) fn ingest_one_file(
    iat: &Path,
    dir: &Path,
    records: u64,
    runs: usize,
    many_files: Option<f64>,
) -> anyhow::Result<Figure> {
    let file = one_file(dir, records)?;
    let size = std::fs::metadata(&file)?.len();
    let mut rates = Vec::new();
    for run in 0..runs {
        let IngestRun {
            rate,
            records: read,
            ..
        } = ingest_once(iat, &file, &dir.join(format!("one-file-{run}.db")))?;
        if read != records {
            bail!(
                "ingest read {read} records of {records} from {}",
                file.display()
            );
        }
        rates.push(rate);
    }
    let rate = median(rates.clone());
    let against = many_files
        .map(|m| {
            format!(
                "; {:.2} of the many-files figure measured in the same run ({} events/s)",
                rate / m,
                m.round()
            )
        })
        .unwrap_or_default();
    Ok(Figure {
        metric: "foundation.ingest_one_file_events_per_s",
        value: rate,
        unit: "events/s",
        goal: "within 20% of foundation.ingest_events_per_s",
        note: format!(
            "median of {runs} runs of `iat ingest` (profile cli, the build make uses) of one {records}-record JSON Lines file ({} MB, the generated trail files' records one per line) into a fresh SQLite file{against}; runs {:?}",
            size / 1_000_000,
            rates.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
        ),
    })
}
