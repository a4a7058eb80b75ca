//! `iat-ingester-probe FILE [identity|all]`: the organisation-trail ingester's own work on one
//! trail file, as a child process the benchmark samples: the file opened as the function opens
//! an S3 object (a blocking stream), read, normalised, filtered and scoped by
//! `iat_ingester::ingest_object`, with a store that counts what it is handed and keeps nothing,
//! so the figure is the ingester's rate, not a database's. Prints a JSON summary.
//!
//! Links only the ingester and the core, as the Lambda function does, so its memory is the
//! function's, not the benchmark's.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use iat_core::ActivityEvent;
use iat_core::error::Result;
use iat_core::ports::{
    EventQuery, EventStore, ListedObject, ObjectSource, PutOutcome, Quarantined, StoreStats,
};
use iat_ingester::{IngestSettings, ObjectRef, ingest_object};

/// Files on disk as objects of bucket "local".
struct Files;

#[async_trait]
impl ObjectSource for Files {
    async fn open(&self, _: &str, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        Ok(std::fs::File::open(key)
            .ok()
            .map(|f| Box::new(f) as Box<dyn Read + Send>))
    }
    async fn list(&self, _: &str, _: &str) -> Result<Vec<ListedObject>> {
        Ok(Vec::new())
    }
    async fn folders(&self, _: &str, _: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Counts the events handed to it.
#[derive(Default)]
struct Counting {
    events: AtomicU64,
}

#[async_trait]
impl EventStore for Counting {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        self.events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(PutOutcome {
            inserted: events.len(),
            ..PutOutcome::default()
        })
    }
    async fn query(&self, _: &EventQuery) -> Result<Vec<ActivityEvent>> {
        Ok(Vec::new())
    }
    async fn quarantine(&self, _: &[Quarantined]) -> Result<()> {
        Ok(())
    }
    async fn stats(&self) -> Result<StoreStats> {
        Ok(StoreStats::default())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: iat-ingester-probe FILE [identity|all]");
        std::process::exit(2);
    };
    let scope = match args.next().as_deref().unwrap_or("identity").parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .expect("a runtime");
    let settings = IngestSettings {
        scope,
        ..IngestSettings::default()
    };
    let store = Counting::default();
    let obj = ObjectRef {
        bucket: "local".into(),
        key: file,
    };
    let started = Instant::now();
    let report = rt.block_on(ingest_object(&Files, &store, &obj, &settings));
    let secs = started.elapsed().as_secs_f64();
    match report {
        Ok(r) => println!(
            "{}",
            serde_json::json!({
                "seconds": secs, "bytes": r.bytes, "records": r.records, "stored": r.stored,
                "out_of_scope": r.out_of_scope, "filtered": r.filtered, "quarantined": r.quarantined,
            })
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
