//! Ingest: log files → records → normalised events → noise filter → SQLite, with a summary.
//!
//! Parser threads each take whole files and send batches of events to the one writer (SQLite
//! has one writer anyway). Nothing stops the run: a missing path, an unreadable file, a broken
//! gzip or a malformed record is counted, logged with where it was, kept in quarantine when it
//! has text, and skipped. Memory is bounded by the channel depth times the batch size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use iat_core::ports::Quarantined;
use iat_core::{ActivityEvent, Error, NoiseFilter, RecordLimits, normalize};
use serde::Serialize;

use crate::SqliteStore;
use crate::logfiles::{self, FileOutcome, Item};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub filter: NoiseFilter,
    pub limits: RecordLimits,
    /// Events per write transaction.
    pub batch_size: usize,
    /// Parser threads; 0 picks one less than the cores (at least one).
    pub threads: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            filter: NoiseFilter::default(),
            limits: RecordLimits::default(),
            batch_size: 4096,
            threads: 0,
        }
    }
}

/// A file or path that was not read whole.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub error: String,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    /// Files found and opened.
    pub files: u64,
    /// Files that stopped early (records before the break were kept), and paths not found.
    pub files_failed: u64,
    pub bytes: u64,
    /// Records read from the files.
    pub records: u64,
    /// Events stored for the first time.
    pub stored: u64,
    /// Events already stored (or repeated in the input).
    pub duplicates: u64,
    /// Events dropped as noise, by reason.
    pub filtered: BTreeMap<&'static str, u64>,
    /// Records that are not usable events (kept in quarantine).
    pub malformed: u64,
    /// Records over the size limit (kept in quarantine, included in `malformed`).
    pub oversized: u64,
    /// Events with an `eventVersion` this version does not know (stored).
    pub unknown_version: u64,
    /// Files with bytes that were not UTF-8 (replaced, then read).
    pub utf8_repaired_files: u64,
    pub problems: Vec<Problem>,
    pub elapsed_seconds: f64,
}

impl IngestSummary {
    pub fn filtered_total(&self) -> u64 {
        self.filtered.values().sum()
    }

    /// Records per second over the whole run.
    pub fn records_per_second(&self) -> f64 {
        if self.elapsed_seconds > 0.0 {
            self.records as f64 / self.elapsed_seconds
        } else {
            0.0
        }
    }
}

/// Progress, reported after each file.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub records: u64,
}

/// What a parser sends the writer: events of one or more files, and which files are done.
#[derive(Default)]
struct Batch {
    events: Vec<ActivityEvent>,
    rejects: Vec<(Quarantined, bool)>,
    records: u64,
    filtered: BTreeMap<&'static str, u64>,
    unknown_version: u64,
    files_done: Vec<FileOutcome>,
}

impl Batch {
    fn len(&self) -> usize {
        self.events.len() + self.rejects.len()
    }
}

/// Ingests every log file below `inputs` into `store`.
pub fn ingest(
    inputs: &[PathBuf],
    store: &SqliteStore,
    options: &IngestOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<IngestSummary, Error> {
    let started = Instant::now();
    let discovery = logfiles::discover(inputs);
    let mut summary = IngestSummary::default();
    for (path, error) in &discovery.problems {
        tracing::warn!(path = %path.display(), %error, "input skipped");
        summary.files_failed += 1;
        summary.problems.push(Problem {
            path: path.clone(),
            error: error.clone(),
        });
    }
    let files: Arc<Vec<PathBuf>> =
        Arc::new(discovery.files.iter().map(|(p, _)| p.clone()).collect());
    let mut p = Progress {
        files_done: 0,
        files_total: files.len() as u64,
        bytes_done: 0,
        bytes_total: discovery.total_bytes(),
        records: 0,
    };
    progress(p);

    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        n => n,
    }
    .min(files.len().max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = sync_channel::<Batch>(threads * 2);

    let result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let files = Arc::clone(&files);
            let next = Arc::clone(&next);
            scope.spawn(move || {
                // A batch spans files: many CloudTrail files hold a handful of records each.
                let mut batch = Batch::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    if parse_file(path, options, &mut batch, &tx).is_err() {
                        return; // the writer stopped
                    }
                }
                let _ = tx.send(batch);
            });
        }
        drop(tx);
        write_all(rx, store, &mut summary, &mut p, progress)
    });
    result?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Parses one file into `batch`, sending it whenever it is full; `Err` when the writer has gone.
fn parse_file(
    path: &std::path::Path,
    options: &IngestOptions,
    batch: &mut Batch,
    tx: &SyncSender<Batch>,
) -> Result<(), ()> {
    let origin = path.display().to_string();
    let mut send_err = false;
    let outcome = logfiles::read_file(path, &mut |item| {
        if send_err {
            return;
        }
        batch.records += 1;
        match item {
            Item::Record { index, text } => match normalize(text, &options.limits) {
                Ok(n) => {
                    if n.unknown_version {
                        batch.unknown_version += 1;
                    }
                    match options.filter.classify(&n.event) {
                        Some(reason) => *batch.filtered.entry(reason.as_str()).or_default() += 1,
                        None => batch.events.push(n.event),
                    }
                }
                Err(rejected) => {
                    let oversized = matches!(rejected.error, Error::Oversized { .. });
                    let event_id = iat_core::normalize::sniff_event_id(&rejected.raw);
                    tracing::warn!(file = %origin, record = index, event_id = event_id.as_deref().unwrap_or("-"), error = %rejected.error, "record skipped");
                    batch.rejects.push((
                        Quarantined {
                            origin: format!("{origin}#{index}"),
                            event_id,
                            reason: rejected.error.to_string(),
                            raw: rejected.raw,
                        },
                        oversized,
                    ));
                }
            },
            Item::Malformed { index, reason, raw } => {
                tracing::warn!(file = %origin, record = index, %reason, "record skipped");
                batch.rejects.push((
                    Quarantined {
                        origin: format!("{origin}#{index}"),
                        event_id: None,
                        reason,
                        raw,
                    },
                    false,
                ));
            }
        }
        if batch.len() >= options.batch_size {
            send_err = tx.send(std::mem::take(batch)).is_err();
        }
    });
    if send_err {
        return Err(());
    }
    batch.files_done.push(outcome);
    if batch.len() >= options.batch_size || batch.files_done.len() >= 256 {
        tx.send(std::mem::take(batch)).map_err(|_| ())?;
    }
    Ok(())
}

fn write_all(
    rx: Receiver<Batch>,
    store: &SqliteStore,
    summary: &mut IngestSummary,
    p: &mut Progress,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    let mut writer = store.bulk_writer(COMMIT_EVERY)?;
    // Freeing a batch's events takes the writer a few percent of its time; another thread can.
    let (drop_tx, drop_rx) = sync_channel::<Vec<ActivityEvent>>(2);
    let dropper = std::thread::spawn(move || drop_rx.into_iter().for_each(drop));
    for b in rx {
        let put = writer.put(&b.events)?;
        let _ = drop_tx.send(b.events);
        summary.stored += put.inserted as u64;
        summary.duplicates += put.duplicates as u64;
        summary.records += b.records;
        summary.unknown_version += b.unknown_version;
        for (k, v) in b.filtered {
            *summary.filtered.entry(k).or_default() += v;
        }
        if !b.rejects.is_empty() {
            summary.malformed += b.rejects.len() as u64;
            summary.oversized += b.rejects.iter().filter(|(_, o)| *o).count() as u64;
            let q: Vec<Quarantined> = b.rejects.into_iter().map(|(q, _)| q).collect();
            writer.quarantine(&q)?;
        }
        p.records = summary.records;
        for outcome in b.files_done {
            summary.files += 1;
            summary.bytes += outcome.bytes;
            if outcome.utf8_repaired {
                summary.utf8_repaired_files += 1;
                tracing::warn!(file = %outcome.path.display(), "bytes that are not UTF-8 were replaced");
            }
            if let Some(error) = outcome.error {
                tracing::warn!(file = %outcome.path.display(), %error, records_read = outcome.items, "file not read to the end");
                summary.files_failed += 1;
                summary.problems.push(Problem {
                    path: outcome.path,
                    error,
                });
            }
            p.files_done += 1;
            p.bytes_done += outcome.bytes;
        }
        progress(*p);
    }
    drop(drop_tx);
    let _ = dropper.join();
    writer.finish()
}

/// Events per write transaction of an ingest run.
const COMMIT_EVERY: usize = 100_000;
