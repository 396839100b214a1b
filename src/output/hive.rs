//! Hive layout for `read --layout hive`: a table split into files by the packet time
//! of its rows, so many machines and runs can write one prefix and engines prune by
//! partition.
//!
//! ```text
//! DIR/handshakes/sensor=NAME/date=YYYY-MM-DD/hour=H/<run start>-<run>-<seq>.parquet
//! DIR/certificates/sensor=NAME/date=YYYY-MM-DD/hour=H/<run start>-<run>-<seq>.parquet
//! ```
//! The same partitions and names as `live` ([`super::rotate`]). Handshakes go by `ts`
//! (their first packet), certificates by `first_seen`. `<run>` is random per run, so
//! two writers never pick one name; `<seq>` numbers the files of a run.
//!
//! Invariants: rows keep their order within a file; a record batch whose rows are in
//! one hour (the usual case: captures are in time order) is written as it is, others
//! are split by hour. Files are closed under their temporary names and put in place
//! with the run's other tables ([`super::commit_tables`]).
//!
//! Limit: at most [`MAX_OPEN_PARTITIONS`] files open at once per table (each buffers
//! up to a row group); a further hour closes the one used least recently, and a later
//! row of that hour starts a new file (counted, `output.partition_reopened`).

use std::path::PathBuf;

use arrow::array::{Array, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::rotate::partition_and_stamp_us;
use super::writer::{ClosedTable, Format, OutputError, TableWriter};
use crate::stats::Counters;

/// Files of one table open at once.
pub const MAX_OPEN_PARTITIONS: usize = 8;

const US_PER_HOUR: i64 = 3_600_000_000;

/// Where a run's hive files go and what they are called.
#[derive(Debug, Clone)]
pub struct HiveNaming {
    pub sensor: String,
    pub run_id: String,
    /// The run's start (microseconds since the epoch, wall clock): the `<run start>`
    /// of file names.
    pub started_us: i64,
}

struct OpenPart {
    hour: i64,
    writer: TableWriter,
    last_use: u64,
}

/// One table written as hive partitions by the hour of a timestamp column.
pub struct PartitionedWriter {
    dir: PathBuf,
    table: &'static str,
    format: Format,
    schema: SchemaRef,
    ts_column: usize,
    naming: HiveNaming,
    open: Vec<OpenPart>,
    closed: Vec<ClosedTable>,
    next_seq: u64,
    uses: u64,
    rows: u64,
    reopened: u64,
    /// Hours that had a file closed early (a later row starts another).
    closed_hours: std::collections::HashSet<i64>,
}

impl PartitionedWriter {
    /// `ts_column` names a UTC microsecond timestamp column of `schema`.
    pub fn new(
        dir: PathBuf,
        table: &'static str,
        format: Format,
        schema: SchemaRef,
        ts_column: &str,
        naming: HiveNaming,
    ) -> Result<PartitionedWriter, OutputError> {
        let ts_column = schema.index_of(ts_column)?;
        Ok(PartitionedWriter {
            dir,
            table,
            format,
            schema,
            ts_column,
            naming,
            open: Vec::new(),
            closed: Vec::new(),
            next_seq: 0,
            uses: 0,
            rows: 0,
            reopened: 0,
            closed_hours: Default::default(),
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Write `batch`, each row into the file of its hour.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), OutputError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let ts = batch
            .column(self.ts_column)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| {
                arrow::error::ArrowError::InvalidArgumentError(
                    "the partition column is not a microsecond timestamp".into(),
                )
            })?;
        let hour_of = |i: usize| {
            if ts.is_null(i) {
                0
            } else {
                ts.value(i).div_euclid(US_PER_HOUR)
            }
        };
        let first = hour_of(0);
        if (1..batch.num_rows()).all(|i| hour_of(i) == first) {
            return self.write_hour(first, batch);
        }
        // Split by hour, keeping row order within each.
        let mut hours: Vec<(i64, Vec<u32>)> = Vec::new();
        for i in 0..batch.num_rows() {
            let h = hour_of(i);
            match hours.iter_mut().find(|(x, _)| *x == h) {
                Some((_, idx)) => idx.push(i as u32),
                None => hours.push((h, vec![i as u32])),
            }
        }
        for (h, idx) in hours {
            let part = arrow::compute::take_record_batch(batch, &UInt32Array::from(idx))?;
            self.write_hour(h, &part)?;
        }
        Ok(())
    }

    fn write_hour(&mut self, hour: i64, batch: &RecordBatch) -> Result<(), OutputError> {
        self.uses += 1;
        let at = match self.open.iter().position(|p| p.hour == hour) {
            Some(at) => at,
            None => {
                if self.open.len() >= MAX_OPEN_PARTITIONS {
                    let lru = (0..self.open.len())
                        .min_by_key(|&i| self.open[i].last_use)
                        .unwrap_or(0);
                    let p = self.open.swap_remove(lru);
                    self.closed_hours.insert(p.hour);
                    self.closed.extend(p.writer.close()?);
                }
                if self.closed_hours.contains(&hour) {
                    self.reopened += 1;
                }
                let (partition, _) = partition_and_stamp_us(hour * US_PER_HOUR);
                let (_, stamp) = partition_and_stamp_us(self.naming.started_us);
                let dir = self
                    .dir
                    .join(self.table)
                    .join(format!("sensor={}", self.naming.sensor))
                    .join(partition);
                let name = format!(
                    "{stamp}-{}-{:06}.{}",
                    self.naming.run_id,
                    self.next_seq,
                    self.format.extension()
                );
                self.next_seq += 1;
                let writer = TableWriter::create_via(
                    &dir,
                    &name,
                    Some(&self.dir.join(super::TEMP_DIR)),
                    self.format,
                    self.schema.clone(),
                )?;
                self.open.push(OpenPart {
                    hour,
                    writer,
                    last_use: 0,
                });
                self.open.len() - 1
            }
        };
        let p = &mut self.open[at];
        p.last_use = self.uses;
        p.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close every file (temporary names; put in place by the caller).
    pub fn close(mut self, counters: &mut Counters) -> Result<Vec<ClosedTable>, OutputError> {
        self.open.sort_by_key(|p| p.hour);
        for p in self.open {
            self.closed.extend(p.writer.close()?);
        }
        counters.add("output.partition_reopened", self.reopened);
        Ok(self.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    fn batch(ts: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(
                TimestampMicrosecondArray::from(ts.to_vec()).with_timezone("UTC"),
            )],
        )
        .unwrap()
    }

    #[test]
    fn rows_go_to_the_file_of_their_hour_and_lru_files_reopen_counted() {
        let dir = tempfile::tempdir().unwrap();
        let naming = HiveNaming {
            sensor: "s".into(),
            run_id: "r".into(),
            started_us: 1_735_732_800_000_000, // 2025-01-01T12:00:00Z
        };
        let b0 = batch(&[0]);
        let mut w = PartitionedWriter::new(
            dir.path().to_owned(),
            "handshakes",
            Format::Jsonl,
            b0.schema(),
            "ts",
            naming,
        )
        .unwrap();
        let h = US_PER_HOUR;
        // One batch across two hours, then enough hours to push the first out.
        w.write(&batch(&[5, h + 1, 7])).unwrap();
        for k in 2..(MAX_OPEN_PARTITIONS as i64 + 2) {
            w.write(&batch(&[k * h])).unwrap();
        }
        w.write(&batch(&[9])).unwrap();
        assert_eq!(w.rows(), 3 + MAX_OPEN_PARTITIONS as u64 + 1);
        let mut c = Counters::new();
        let closed = w.close(&mut c).unwrap();
        assert_eq!(c.get("output.partition_reopened"), 1);
        let names: Vec<String> = closed
            .iter()
            .map(|t| {
                t.final_path()
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names[0],
            "handshakes/sensor=s/date=1970-01-01/hour=0/20250101T120000Z-r-000000.jsonl"
        );
        assert!(
            names.contains(
                &"handshakes/sensor=s/date=1970-01-01/hour=1/20250101T120000Z-r-000001.jsonl"
                    .to_owned()
            ),
            "{names:?}"
        );
        assert_eq!(names.len(), MAX_OPEN_PARTITIONS + 2 + 1);
        let files = super::super::commit_tables(closed).unwrap();
        let first = std::fs::read_to_string(&files[0]).unwrap();
        assert_eq!(first.lines().count(), 2, "{first}");
    }
}
