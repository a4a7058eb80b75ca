//! The export service: a day of stored events into Parquet parts in an object store.
//!
//! A day is read from the event store in time order, page by page (never a table scan: the
//! store reads that day's partitions), encoded into parts of at most `rows_per_part` rows, and
//! written as `events/dt=YYYY-MM-DD/part-00000.parquet`, `part-00001`, ... Then every other
//! object under that day is deleted, so a re-export replaces the day exactly: no duplicate
//! rows, no stale parts. A manifest per day (`exports/dt=YYYY-MM-DD.json`, outside the table)
//! records what was exported and when.
//!
//! The one decision to know: an export never shrinks a day. Events expire from the store
//! (retention), and an export must never erase the history it exists to keep: a day the store
//! has no events for, while the lake has parts, is left as it is; and a re-export (the day has a
//! manifest) is written to a staging prefix first and replaces the day's parts only if it holds
//! at least the events of the last export ([`ExportOptions::allow_shrink`] overrides).
//!
//! With rules given ([`ExportOptions::rules`]), the export also keeps the alerts those rules raise
//! over the day ([`raised`]), so a reader of many days' alerts need not read their events again.
//!
//! [`daily`] decides which days a daily run exports: the late days, and the days the collector's
//! checkpoints completed since the last run.
//!
//! [`report`] is the other half of the analytics service: the weekly denied-calls report,
//! run on whichever query engine the caller gives it.

pub mod daily;
pub mod raised;
pub mod report;

pub use daily::{Coverage, DailyExport, export_daily};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::TimeWindow;
use iat_core::error::{Error, Result};
use iat_core::ports::{EventCursor, EventQuery, EventStore, ObjectKey, ObjectStore, Order};
use iat_lake::layout::{day_prefix, manifest_key, part_key, staging_prefix};
use iat_lake::{Compression, PartWriter, to_batch};
use serde::Serialize;

/// How days are exported.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Key prefix of the lake (`""` for the root of the bucket or directory).
    pub prefix: String,
    pub compression: Compression,
    /// Rows per part file: bounds memory (one part is built in memory at a time).
    pub rows_per_part: usize,
    /// Events read from the store per page.
    pub page_size: usize,
    /// Replace a day's parts even with fewer events than its last export (after a deliberate
    /// purge). Off: such a re-export is discarded and the fuller day kept.
    pub allow_shrink: bool,
    /// Rules whose alerts over each exported day are kept beside it ([`raised`]). `None`: no
    /// alerts are kept (a re-export still removes the day's old ones, which no longer match).
    pub rules: Option<std::sync::Arc<iat_core::rules::RuleSet>>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            compression: Compression::Snappy,
            rows_per_part: 500_000,
            page_size: 10_000,
            allow_shrink: false,
            rules: None,
        }
    }
}

/// What exporting one day did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayExport {
    pub day: NaiveDate,
    pub events: u64,
    pub parts: usize,
    pub bytes: u64,
    /// Objects of an earlier export removed (parts beyond the new count).
    pub removed: usize,
    /// The store had no events for the day but the lake did; the lake was left alone.
    pub kept_existing: bool,
    /// The store had fewer events for the day than its last export (this many): the fuller
    /// export was kept and this one discarded.
    pub kept_fuller: Option<u64>,
    /// Hits the rules raised over the day, kept beside it (`None`: no rules given, or too many
    /// hits to keep).
    pub raised: Option<usize>,
}

fn key(s: String) -> Result<ObjectKey> {
    ObjectKey::new(s)
}

/// Exports one day. `now` stamps the manifest.
pub async fn export_day(
    store: &dyn EventStore,
    objects: &dyn ObjectStore,
    day: NaiveDate,
    options: &ExportOptions,
    now: DateTime<Utc>,
) -> Result<DayExport> {
    let prefix = day_prefix(&options.prefix, day);
    let before = objects.list(&prefix).await?;
    let manifest_key = key(manifest_key(&options.prefix, day))?;
    let previous = last_export(objects, &manifest_key).await?;
    // A re-export goes to staging first: the day is replaced only if it does not shrink.
    let staging = previous.map(|_| staging_prefix(&options.prefix, day));
    if let Some(staging) = &staging {
        for stale in objects.list(staging).await? {
            objects.delete(&stale).await?;
        }
    }
    if staging.is_none() {
        // A first export writes the day's parts in place: no alerts of other parts may stay.
        raised::forget_day(objects, &options.prefix, day).await?;
    }
    let mut interest = options.rules.as_deref().map(raised::DayInterest::new);
    let part_dir = staging.clone().unwrap_or_else(|| prefix.clone());
    let mut report = DayExport {
        day,
        events: 0,
        parts: 0,
        bytes: 0,
        removed: 0,
        kept_existing: false,
        kept_fuller: None,
        raised: None,
    };
    let mut written: Vec<ObjectKey> = Vec::new();
    let mut part: Option<PartWriter> = None;
    let window = TimeWindow::day(day);
    let page_query = |after: Option<EventCursor>| EventQuery {
        window: Some(window),
        order: Order::Ascending,
        after,
        limit: Some(options.page_size),
        ..EventQuery::default()
    };
    let mut page = store.query(&page_query(None)).await?;
    while let Some(last) = page.last() {
        if let Some(i) = &mut interest {
            i.push(&page);
        }
        let next_query =
            (page.len() >= options.page_size).then(|| page_query(Some(EventCursor::after(last))));
        // The next page is read while this one is encoded.
        let next = async {
            match &next_query {
                Some(q) => store.query(q).await.map(Some),
                None => Ok(None),
            }
        };
        let encode = encode_page(
            &page,
            &mut part,
            objects,
            options,
            &part_dir,
            &mut written,
            &mut report,
        );
        let (next, encoded) = futures_util::future::join(next, encode).await;
        encoded?;
        match next? {
            Some(p) => page = p,
            None => break,
        }
    }
    if let Some(done) = part.take() {
        flush(objects, &part_dir, done, &mut written, &mut report).await?;
    }
    if report.events == 0 && before.is_empty() && previous.is_none() {
        // Nothing collected for the day, nothing exported before: nothing to write.
        return Ok(report);
    }
    if report.events == 0 && !before.is_empty() {
        tracing::warn!(%day, parts = before.len(), "the store has no events for this day; keeping the lake's parts");
        for k in staging.iter().flat_map(|_| &written) {
            objects.delete(k).await?;
        }
        report.kept_existing = true;
        return Ok(report);
    }
    if let (Some(_), Some(previous)) = (&staging, previous) {
        if report.events < previous && !options.allow_shrink {
            tracing::warn!(%day, events = report.events, previous, "fewer events than the day's last export (expired from the store?); keeping the fuller export");
            for k in &written {
                objects.delete(k).await?;
            }
            report.kept_fuller = Some(previous);
            return Ok(report);
        }
        // Commit: the staged parts become the day's parts, one at a time; the alerts of the
        // parts they replace go first.
        raised::forget_day(objects, &options.prefix, day).await?;
        let mut committed = Vec::with_capacity(written.len());
        for (n, staged) in written.iter().enumerate() {
            let body = objects.get(staged).await?.ok_or_else(|| {
                Error::backend("lake", "commit export", format!("{staged} vanished"))
            })?;
            let k = key(part_key(&options.prefix, day, n))?;
            objects.put(&k, body).await?;
            committed.push(k);
        }
        for staged in &written {
            objects.delete(staged).await?;
        }
        written = committed;
    }
    for old in before.iter().filter(|k| !written.contains(k)) {
        objects.delete(old).await?;
        report.removed += 1;
    }
    if let Some(interest) = interest {
        let alerts = interest.finish(day);
        report.raised = alerts.as_ref().map(|a| a.hit_count() as usize);
        raised::write_day(objects, &options.prefix, day, alerts.as_ref()).await?;
    }
    let manifest = serde_json::json!({
        "day": day, "events": report.events, "parts": report.parts, "bytes": report.bytes,
        "compression": format!("{:?}", options.compression).to_lowercase(),
        "exported_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    objects
        .put(&manifest_key, manifest.to_string().into_bytes())
        .await?;
    tracing::info!(%day, events = report.events, parts = report.parts, bytes = report.bytes, removed = report.removed, "day exported");
    Ok(report)
}

/// The events of a day's last export, from its manifest.
async fn last_export(objects: &dyn ObjectStore, manifest: &ObjectKey) -> Result<Option<u64>> {
    let Some(body) = objects.get(manifest).await? else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::backend("lake", "read manifest", format!("{manifest}: {e}")))?;
    value["events"].as_u64().map(Some).ok_or_else(|| {
        Error::backend(
            "lake",
            "read manifest",
            format!("{manifest} has no event count"),
        )
    })
}

/// Appends a page to the open part, starting and flushing parts at `rows_per_part`.
async fn encode_page(
    page: &[iat_core::ActivityEvent],
    part: &mut Option<PartWriter>,
    objects: &dyn ObjectStore,
    options: &ExportOptions,
    dir: &str,
    written: &mut Vec<ObjectKey>,
    report: &mut DayExport,
) -> Result<()> {
    let mut rest = page;
    while !rest.is_empty() {
        let w = part.get_or_insert_with(|| PartWriter::new(options.compression));
        let room = options.rows_per_part.saturating_sub(w.rows()).max(1);
        let (now_part, later) = rest.split_at(room.min(rest.len()));
        w.write(&to_batch(now_part))
            .map_err(|e| Error::backend("parquet", "encode", e))?;
        report.events += now_part.len() as u64;
        rest = later;
        if w.rows() >= options.rows_per_part {
            let done = part.take().expect("a part is open");
            flush(objects, dir, done, written, report).await?;
        }
    }
    Ok(())
}

/// Writes a finished part as the next `part-NNNNN.parquet` under `dir`.
async fn flush(
    objects: &dyn ObjectStore,
    dir: &str,
    part: PartWriter,
    written: &mut Vec<ObjectKey>,
    report: &mut DayExport,
) -> Result<()> {
    let bytes = part
        .finish()
        .map_err(|e| Error::backend("parquet", "finish", e))?;
    let k = key(format!("{dir}part-{:05}.parquet", written.len()))?;
    report.bytes += bytes.len() as u64;
    objects.put(&k, bytes).await?;
    written.push(k);
    report.parts += 1;
    Ok(())
}

/// Exports every day from `first` to `last`, inclusive.
pub async fn export_days(
    store: &dyn EventStore,
    objects: &dyn ObjectStore,
    first: NaiveDate,
    last: NaiveDate,
    options: &ExportOptions,
    now: DateTime<Utc>,
) -> Result<Vec<DayExport>> {
    if last < first {
        return Err(Error::invalid(
            "export range",
            format!("{first}..{last}"),
            "the last day is before the first",
        ));
    }
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        out.push(export_day(store, objects, day, options, now).await?);
        day = day.succ_opt().expect("a representable day");
    }
    Ok(out)
}

/// The days a daily run exports: yesterday and the `late_days` before it, which may still
/// receive late events (CloudTrail delivers most within minutes, a few much later).
pub fn daily_days(today: NaiveDate, late_days: u32) -> (NaiveDate, NaiveDate) {
    let last = today.pred_opt().expect("a representable day");
    (last - Duration::days(i64::from(late_days)), last)
}
