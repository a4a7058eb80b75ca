//! One trail file: opened as a stream, read record by record on a blocking thread, triaged,
//! scoped, and stored in small batches by the async side, so memory is a few batches and the
//! reader's buffers whatever the file's size.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use iat_core::ports::{EventStore, ObjectSource, Quarantined};
use iat_core::scope::IngestScope;
use iat_core::{ActivityEvent, NoiseFilter, RecordLimits, Triage};
use iat_logfiles::ReadLimits;

use crate::notification::ObjectRef;

/// How the ingester reads and what it keeps.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub scope: IngestScope,
    pub filter: NoiseFilter,
    pub limits: ReadLimits,
    /// Events handed to the store at once.
    pub batch_size: usize,
    /// The trail's bucket: an object announced in another bucket fails its message, naming both.
    pub expect_bucket: Option<String>,
    /// The organisation id (`o-…`): a trail key of another organisation fails its message.
    pub expect_org: Option<String>,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            scope: IngestScope::Identity,
            filter: NoiseFilter::default(),
            // Files above 8 MB decompressed are parsed from the stream rather than in memory.
            limits: ReadLimits {
                whole_file: 8 << 20,
                ..ReadLimits::default()
            },
            batch_size: 200,
            expect_bucket: None,
            expect_org: None,
        }
    }
}

/// What one file came to.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileReport {
    /// Bytes read from the object (compressed).
    pub bytes: u64,
    pub records: u64,
    pub stored: u64,
    pub duplicates: u64,
    /// Events outside the ingest scope.
    pub out_of_scope: u64,
    /// Events the noise filters dropped.
    pub filtered: u64,
    /// Records kept in quarantine instead of stored.
    pub quarantined: u64,
}

impl FileReport {
    /// Adds another file's counts to these.
    pub fn add(&mut self, other: &FileReport) {
        self.bytes += other.bytes;
        self.records += other.records;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.out_of_scope += other.out_of_scope;
        self.filtered += other.filtered;
        self.quarantined += other.quarantined;
    }
}

/// Why a file was not ingested whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The object is not where this deployment was told the trail is.
    #[error("s3://{bucket}/{key}: {reason}")]
    Misconfigured {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("s3://{bucket}/{key}: no such object")]
    Missing { bucket: String, key: String },
    #[error("{0}")]
    Open(#[source] iat_core::Error),
    /// The file broke part way (truncated or corrupt gzip, invalid JSON, over a size limit);
    /// the records before the break were stored.
    #[error("s3://{bucket}/{key}: {reason} (after {records} records)")]
    Unreadable {
        bucket: String,
        key: String,
        reason: String,
        records: u64,
    },
    #[error("storing events of s3://{bucket}/{key}: {source}")]
    Store {
        bucket: String,
        key: String,
        #[source]
        source: iat_core::Error,
    },
}

#[derive(Default)]
struct Batch {
    events: Vec<ActivityEvent>,
    rejects: Vec<Quarantined>,
    records: u64,
    out_of_scope: u64,
    filtered: u64,
}

/// Reads one object to its end and stores its in-scope events (see the crate's doc for what
/// an error means).
pub async fn ingest_object(
    source: &dyn ObjectSource,
    store: &dyn EventStore,
    obj: &ObjectRef,
    settings: &IngestSettings,
) -> Result<FileReport, IngestError> {
    let reader = source
        .open(&obj.bucket, &obj.key)
        .await
        .map_err(IngestError::Open)?
        .ok_or_else(|| IngestError::Missing {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let stop = Arc::new(AtomicBool::new(false));
    let name = format!("s3://{}/{}", obj.bucket, obj.key);
    let parse = {
        let (settings, stop) = (settings.clone(), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || parse(&name, reader, &settings, &stop, &tx))
    };
    let mut report = FileReport::default();
    let mut failed = None;
    while let Some(b) = rx.recv().await {
        report.records += b.records;
        report.out_of_scope += b.out_of_scope;
        report.filtered += b.filtered;
        let put = async {
            if !b.events.is_empty() {
                let out = store.put(&b.events).await?;
                report.stored += out.inserted as u64;
                report.duplicates += out.duplicates as u64;
            }
            if !b.rejects.is_empty() {
                store.quarantine(&b.rejects).await?;
                report.quarantined += b.rejects.len() as u64;
            }
            Ok::<_, iat_core::Error>(())
        };
        if let Err(e) = put.await {
            failed = Some(e);
            stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    drop(rx);
    let outcome = parse.await.map_err(|e| IngestError::Unreadable {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        reason: format!("reader stopped: {e}"),
        records: report.records,
    })?;
    report.bytes = outcome.bytes;
    if let Some(source) = failed {
        return Err(IngestError::Store {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            source,
        });
    }
    if let Some(reason) = outcome.error {
        return Err(IngestError::Unreadable {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            reason,
            records: report.records,
        });
    }
    tracing::info!(key = %obj.key, records = report.records, stored = report.stored, duplicates = report.duplicates, out_of_scope = report.out_of_scope, "file ingested");
    Ok(report)
}

/// Stops a reader when the store has failed, so a broken store does not read on to the end.
struct Stoppable<'a, R> {
    inner: R,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("stopped: the store failed"));
        }
        self.inner.read(buf)
    }
}

/// The blocking side: records → batches.
fn parse(
    name: &str,
    reader: Box<dyn Read + Send>,
    settings: &IngestSettings,
    stop: &AtomicBool,
    tx: &tokio::sync::mpsc::Sender<Batch>,
) -> iat_logfiles::FileOutcome {
    let limits = RecordLimits {
        max_record_bytes: settings.limits.record_bytes,
    };
    let mut batch = Batch::default();
    let reader = Stoppable {
        inner: reader,
        stop,
    };
    let outcome = iat_logfiles::read_stream(name, reader, &settings.limits, &mut |item| {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        batch.records += 1;
        match iat_logfiles::triage_item(name, item, &limits, &settings.filter) {
            (_, Triage::Keep(n)) if settings.scope.keeps(&n.event) => batch.events.push(n.event),
            (_, Triage::Keep(_)) => batch.out_of_scope += 1,
            (_, Triage::Noise(..)) => batch.filtered += 1,
            (index, Triage::Refused { quarantined, .. }) => {
                tracing::warn!(file = name, record = index, event_id = quarantined.event_id.as_deref().unwrap_or("-"), error = %quarantined.reason, "record skipped");
                batch.rejects.push(quarantined);
            }
        }
        if batch.events.len() + batch.rejects.len() >= settings.batch_size
            && tx.blocking_send(std::mem::take(&mut batch)).is_err()
        {
            stop.store(true, Ordering::Relaxed);
        }
    });
    if !stop.load(Ordering::Relaxed) {
        let _ = tx.blocking_send(batch);
    }
    outcome
}
