//! Ingest: log files → records → normalised events → noise filter → SQLite, with a summary.
//!
//! Parser threads each take whole files and send batches of events to the one writer (SQLite
//! has one writer anyway). A large file is split: the thread reading it hands chunks of its
//! records to the other parser threads when they are idle (and normalises a chunk itself when
//! none is), so one big export is parsed on every thread as many small files are. Nothing stops the run: a missing path, an unreadable file, a broken
//! gzip or a malformed record is counted, logged with where it was, kept in quarantine when it
//! has text, and skipped. Memory is bounded by the channel depth times the batch size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Instant;

use iat_core::ports::Quarantined;
use iat_core::scope::IngestScope;
use iat_core::{ActivityEvent, Error, NoiseFilter, RecordLimits, Triage};
use serde::Serialize;

use crate::SqliteStore;
use crate::logfiles::{self, FileOutcome, Item};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub filter: NoiseFilter,
    pub limits: RecordLimits,
    /// Events a parser thread hands the writer at once (commits are every
    /// [`COMMIT_EVERY`] events). About seven batches are alive at a time (being filled, queued,
    /// written and freed), at 2-3 KB an event: 4,096 cost 60 MB more than 512 for no speed.
    pub batch_size: usize,
    /// Parser threads; 0 picks one less than the cores (at least one).
    pub threads: usize,
    /// Which events are stored (every one by default; `identity` as the organisation-trail
    /// ingester keeps them).
    pub scope: IngestScope,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            filter: NoiseFilter::default(),
            limits: RecordLimits::default(),
            batch_size: 512,
            threads: 0,
            scope: IngestScope::All,
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
    /// Events outside the ingest scope (not stored).
    pub out_of_scope: u64,
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
    out_of_scope: u64,
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
    // Each file with its size, as discovery found them.
    let files = &discovery.files;
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
    let next = AtomicUsize::new(0);
    let (tx, rx) = sync_channel::<Batch>(threads * 2);
    let (raw_tx, raw_rx) = sync_channel::<RawChunk>(threads * 2);
    let split = Split {
        enabled: threads > 1,
        active: AtomicUsize::new(0),
        queue: Mutex::new(raw_rx),
    };

    let result = std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let raw_tx = raw_tx.clone();
            let (next, split) = (&next, &split);
            scope.spawn(move || {
                // A batch spans files: many CloudTrail files hold a handful of records each.
                let mut batch = Batch::default();
                if parse_files(files, next, split, &raw_tx, options, &mut batch, &tx).is_ok() {
                    let _ = tx.send(batch);
                }
            });
        }
        drop(tx);
        drop(raw_tx);
        write_all(rx, store, &mut summary, &mut p, progress)
    });
    result?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Files from this size on are split across the parser threads.
const SPLIT_BYTES: u64 = 4 << 20;
/// Records in a chunk of a split file.
const CHUNK_RECORDS: usize = 1024;

/// Records of a split file, read but not yet normalised.
struct RawChunk {
    origin: Arc<str>,
    items: Vec<logfiles::Item>,
}

/// The chunks of the files being split, for idle parser threads.
struct Split {
    enabled: bool,
    /// Files being split right now.
    active: AtomicUsize,
    queue: Mutex<Receiver<RawChunk>>,
}

impl Split {
    fn take(&self, wait: Option<std::time::Duration>) -> Option<RawChunk> {
        let rx = self.queue.lock().expect("not poisoned");
        match wait {
            None => rx.try_recv().ok(),
            Some(d) => rx.recv_timeout(d).ok(),
        }
    }
}

/// One parser thread: chunks of split files first, then the next file, until both run out.
/// `Err` when the writer has gone.
fn parse_files(
    files: &[(PathBuf, u64)],
    next: &AtomicUsize,
    split: &Split,
    raw_tx: &SyncSender<RawChunk>,
    options: &IngestOptions,
    batch: &mut Batch,
    tx: &SyncSender<Batch>,
) -> Result<(), ()> {
    loop {
        if let Some(chunk) = split.take(None) {
            take_chunk(chunk, options, batch, tx)?;
            continue;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if let Some((path, size)) = files.get(i) {
            let large = split.enabled && *size >= SPLIT_BYTES;
            if large {
                split.active.fetch_add(1, Ordering::SeqCst);
                let r = parse_file(path, options, batch, tx, Some(raw_tx));
                split.active.fetch_sub(1, Ordering::SeqCst);
                r?;
            } else {
                parse_file(path, options, batch, tx, None)?;
            }
            continue;
        }
        // No file left: help with the files still being split, then stop.
        if split.active.load(Ordering::SeqCst) == 0 {
            match split.take(None) {
                Some(chunk) => take_chunk(chunk, options, batch, tx)?,
                None => return Ok(()),
            }
        } else if let Some(chunk) = split.take(Some(std::time::Duration::from_millis(5))) {
            take_chunk(chunk, options, batch, tx)?;
        }
    }
}

fn take_chunk(
    chunk: RawChunk,
    options: &IngestOptions,
    batch: &mut Batch,
    tx: &SyncSender<Batch>,
) -> Result<(), ()> {
    for item in chunk.items {
        take_item(&chunk.origin, item, options, batch);
        if batch.len() >= options.batch_size {
            tx.send(std::mem::take(batch)).map_err(|_| ())?;
        }
    }
    Ok(())
}

/// Normalises and filters one record into `batch` (or quarantines it).
fn take_item(origin: &str, item: logfiles::Item, options: &IngestOptions, batch: &mut Batch) {
    batch.records += 1;
    let (index, sorted) = logfiles::triage_item(origin, item, &options.limits, &options.filter);
    match sorted {
        Triage::Keep(n) => {
            batch.unknown_version += u64::from(n.unknown_version);
            if options.scope.keeps(&n.event) {
                batch.events.push(n.event);
            } else {
                batch.out_of_scope += 1;
            }
        }
        Triage::Noise(n, reason) => {
            batch.unknown_version += u64::from(n.unknown_version);
            *batch.filtered.entry(reason.as_str()).or_default() += 1;
        }
        Triage::Refused {
            quarantined,
            oversized,
        } => {
            tracing::warn!(file = %origin, record = index, event_id = quarantined.event_id.as_deref().unwrap_or("-"), error = %quarantined.reason, "record skipped");
            batch.rejects.push((quarantined, oversized));
        }
    }
}

/// Parses one file into `batch`, sending it whenever it is full; `Err` when the writer has gone.
/// With `split`, records go out in chunks for idle threads (normalised here when none is).
fn parse_file(
    path: &std::path::Path,
    options: &IngestOptions,
    batch: &mut Batch,
    tx: &SyncSender<Batch>,
    split: Option<&SyncSender<RawChunk>>,
) -> Result<(), ()> {
    let origin: Arc<str> = Arc::from(path.display().to_string());
    let mut send_err = false;
    let mut pending: Vec<Item> = Vec::new();
    let flush = |pending: &mut Vec<Item>, batch: &mut Batch| -> Result<(), ()> {
        let chunk = RawChunk {
            origin: Arc::clone(&origin),
            items: std::mem::take(pending),
        };
        match split.map(|s| s.try_send(chunk)) {
            Some(Ok(())) => Ok(()),
            Some(Err(TrySendError::Full(chunk) | TrySendError::Disconnected(chunk))) => {
                take_chunk(chunk, options, batch, tx)
            }
            None => unreachable!("only split files are chunked"),
        }
    };
    let outcome = logfiles::read_file(path, &mut |item| {
        if send_err {
            return;
        }
        if split.is_some() {
            pending.push(item);
            if pending.len() >= CHUNK_RECORDS {
                send_err = flush(&mut pending, batch).is_err();
            }
            return;
        }
        take_item(&origin, item, options, batch);
        if batch.len() >= options.batch_size {
            send_err = tx.send(std::mem::take(batch)).is_err();
        }
    });
    if send_err {
        return Err(());
    }
    if !pending.is_empty() {
        flush(&mut pending, batch)?;
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
        summary.out_of_scope += b.out_of_scope;
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
