//! Parquet encoding of the `events` table.
//!
//! One [`PartWriter`] makes one part file in memory (the object store takes whole objects).
//! The exporter bounds memory by starting a new part every `rows_per_part` rows, so a day of
//! any size is written with at most one part's encoded bytes and one row group's buffers held.
//!
//! The decision to know: denied calls are a few in ten thousand events, and the questions asked
//! of them (the weekly report, the console's denied calls, a search by denial layer) would
//! otherwise decode every page of every row group to find rows scattered through all of them.
//! So a part keeps its denied calls back and writes them last, in row groups of their own: the
//! other row groups' `denied` column is all false and their `denial_layer` all null, which
//! their statistics say, so a reader filtering on either can skip them (DataFusion does, as
//! the console's benchmark measures; Athena's engine reads the same row-group statistics, not
//! measured here). Rows are in time order within each row group, not across a part's; readers
//! order by the query.

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{SlicesIterator, filter_record_batch, not};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::schema::events_schema;

/// Column compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Fast, and what Athena's examples use.
    #[default]
    Snappy,
    /// Smaller files (about 40% less here: under gzipped JSON), a little slower to write.
    Zstd,
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "snappy" => Ok(Compression::Snappy),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(format!("compression {s:?}: expected snappy or zstd")),
        }
    }
}

/// Rows per row group: large enough for Athena's readers, small enough to bound memory.
pub const ROW_GROUP_ROWS: usize = 250_000;

fn properties(compression: Compression) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(match compression {
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::Zstd => PqCompression::ZSTD(ZstdLevel::try_new(3).expect("a valid level")),
        })
        .set_dictionary_enabled(true)
        // Unique per event: a dictionary would only be built to be thrown away.
        .set_column_dictionary_enabled(ColumnPath::from("event_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("request_id"), false)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(concat!("iam-activity-tracker ", env!("CARGO_PKG_VERSION")).to_owned())
        .build()
}

/// Writes one part file.
pub struct PartWriter {
    inner: ArrowWriter<Vec<u8>>,
    rows: usize,
    /// Denied calls held back, to be written as row groups of their own (at the end, or when
    /// they fill one).
    denied: Vec<RecordBatch>,
    denied_rows: usize,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("rows", &self.rows)
            .finish()
    }
}

impl PartWriter {
    pub fn new(compression: Compression) -> Self {
        let inner =
            ArrowWriter::try_new(Vec::new(), events_schema(), Some(properties(compression)))
                .expect("the schema is valid for Parquet");
        Self {
            inner,
            rows: 0,
            denied: Vec::new(),
            denied_rows: 0,
        }
    }

    /// Appends rows (already in time order): denied calls are held back for row groups of
    /// their own, the others written at once.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), parquet::errors::ParquetError> {
        self.rows += batch.num_rows();
        let denied = batch
            .column_by_name("denied")
            .and_then(|c| c.as_boolean_opt())
            .ok_or_else(|| {
                parquet::errors::ParquetError::General(
                    "the batch has no boolean denied column".into(),
                )
            })?;
        // The column is never null (every event is denied or not).
        match denied.true_count() {
            0 => self.inner.write(batch)?,
            n if n == batch.num_rows() => self.hold(batch.clone())?,
            n => {
                // The allowed rows as slices of the batch, not a copy of it (denied calls are a
                // few in ten thousand, so a batch is a few runs); the denied ones copied out.
                for (start, end) in SlicesIterator::new(&not(denied)?) {
                    self.inner.write(&batch.slice(start, end - start))?;
                }
                let held = filter_record_batch(batch, denied)?;
                debug_assert_eq!(held.num_rows(), n);
                self.hold(held)?;
            }
        }
        Ok(())
    }

    fn hold(&mut self, denied: RecordBatch) -> Result<(), parquet::errors::ParquetError> {
        self.denied_rows += denied.num_rows();
        self.denied.push(denied);
        if self.denied_rows >= ROW_GROUP_ROWS {
            self.write_denied()?;
        }
        Ok(())
    }

    /// Ends the row group being written and writes the held denied calls as their own.
    fn write_denied(&mut self) -> Result<(), parquet::errors::ParquetError> {
        if self.denied.is_empty() {
            return Ok(());
        }
        self.inner.flush()?;
        for batch in std::mem::take(&mut self.denied) {
            self.inner.write(&batch)?;
        }
        self.inner.flush()?;
        self.denied_rows = 0;
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The finished file.
    pub fn finish(mut self) -> Result<Vec<u8>, parquet::errors::ParquetError> {
        self.write_denied()?;
        self.inner.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::to_batch;
    use iat_core::contract::records::RecordSpec;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn parts_read_back_with_the_same_rows_and_statistics() {
        let t: chrono::DateTime<chrono::Utc> = "2026-03-03T10:00:00Z".parse().unwrap();
        let events: Vec<_> = (0..1000)
            .map(|i| {
                RecordSpec::new(&format!("e{i:04}"), t + chrono::Duration::seconds(i))
                    .user(&format!("u{}", i % 7))
                    .event()
            })
            .collect();
        for c in [Compression::Snappy, Compression::Zstd] {
            let mut w = PartWriter::new(c);
            w.write(&to_batch(&events[..600])).unwrap();
            w.write(&to_batch(&events[600..])).unwrap();
            assert_eq!(w.rows(), 1000);
            let bytes = w.finish().unwrap();
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
            let meta = reader.metadata().clone();
            assert!(
                meta.row_group(0).column(1).statistics().is_some(),
                "time statistics for pruning"
            );
            let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
            assert_eq!(rows, 1000);
        }
    }

    /// Denied calls end up in row groups of their own, whose statistics set them apart: the
    /// others' `denied` is false throughout and their `denial_layer` null throughout.
    #[test]
    fn denied_calls_are_row_groups_of_their_own() {
        let t: chrono::DateTime<chrono::Utc> = "2026-03-03T10:00:00Z".parse().unwrap();
        let denied = |i: usize| i % 97 == 5;
        let events: Vec<_> = (0..3000)
            .map(|i| {
                let spec = RecordSpec::new(&format!("e{i:04}"), t + chrono::Duration::seconds(i as i64));
                if denied(i) {
                    spec.error("AccessDenied", "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:ListUsers with an explicit deny in a service control policy")
                        .event()
                } else {
                    spec.event()
                }
            })
            .collect();
        let want_denied = (0..3000).filter(|i| denied(*i)).count();
        let mut w = PartWriter::new(Compression::Snappy);
        for chunk in events.chunks(700) {
            w.write(&to_batch(chunk)).unwrap();
        }
        let bytes = w.finish().unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone())).unwrap();
        let meta = reader.metadata().clone();
        let schema = meta.file_metadata().schema_descr();
        let column = |name: &str| {
            (0..schema.num_columns())
                .find(|i| schema.column(*i).name() == name)
                .unwrap()
        };
        let (d, layer) = (column("denied"), column("denial_layer"));
        let groups = meta.num_row_groups();
        assert!(groups >= 2, "{groups} row groups");
        let mut denied_rows = 0;
        for g in 0..groups {
            let rg = meta.row_group(g);
            let stats = rg.column(d).statistics().unwrap();
            let (min, max) = match stats {
                parquet::file::statistics::Statistics::Boolean(s) => {
                    (*s.min_opt().unwrap(), *s.max_opt().unwrap())
                }
                other => panic!("{other:?}"),
            };
            assert_eq!(min, max, "row group {g} mixes denied and allowed calls");
            let nulls = rg
                .column(layer)
                .statistics()
                .unwrap()
                .null_count_opt()
                .unwrap();
            if min {
                denied_rows += rg.num_rows();
                assert_eq!(nulls, 0, "every denied call has its layer");
            } else {
                assert_eq!(
                    nulls as i64,
                    rg.num_rows(),
                    "no layer outside the denied groups"
                );
            }
        }
        assert_eq!(denied_rows as usize, want_denied);
        // Each row group in time order.
        for g in 0..groups {
            let times: Vec<i64> =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone()))
                    .unwrap()
                    .with_row_groups(vec![g])
                    .build()
                    .unwrap()
                    .flat_map(|b| {
                        let b = b.unwrap();
                        let t = b
                            .column_by_name("event_time")
                            .unwrap()
                            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                            .clone();
                        t.values().to_vec()
                    })
                    .collect();
            assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "row group {g} out of time order"
            );
        }
        // Every event once, each row group in time order.
        let mut ids = Vec::new();
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            let col = b.column_by_name("event_id").unwrap().as_string::<i32>();
            ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
        }
        assert_eq!(ids.len(), 3000);
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3000);
    }
}
