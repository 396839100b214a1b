//! Reading tlstap's output tables back in tests (Parquet through the `parquet` crate).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The whole file as one batch (the handshakes schema when it holds no batch).
pub fn read_parquet(path: &Path) -> RecordBatch {
    try_read_parquet(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Like [`read_parquet`], but reports a damaged file instead of panicking.
pub fn try_read_parquet(path: &Path) -> Result<RecordBatch, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|e| e.to_string())?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(tlstap::output::handshakes_schema);
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

pub fn col_strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let s = a.as_string::<i32>();
    (0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_owned()))
        .collect()
}

/// Every file under `dir` (recursively), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
