#!/usr/bin/env python3
"""Maintain a Delta table the way a lake team does, with delta-rs (the `deltalake` package).

Usage: python3 tests/lake/delta_maintain.py TABLE [TABLE...] [--endpoint URL]

For each TABLE (a local folder or s3://bucket/prefix holding _delta_log/): compact its
small files (DeltaTable.optimize.compact(): new files in, the old ones removed from the
log but left in place, no vacuum), then write a checkpoint (create_checkpoint(), which
also writes _delta_log/_last_checkpoint). Prints one JSON line per table:
  {"table", "version_before", "version", "files_before", "files", "added", "removed",
   "rows", "parquet_objects", "rows_in_all_objects"}
where files are the snapshot's data files, rows delta-rs's row count of the snapshot, and
parquet_objects / rows_in_all_objects count every *.parquet object below TABLE outside
_delta_log/ (what a reader that ignores the log would read). Exit 1 when compaction
removed nothing (the test would then prove nothing). S3 is at --endpoint with the
credentials of AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region us-east-1.
"""

import argparse
import json
import os
import sys

import pyarrow.dataset  # noqa: F401  (before deltalake: else the interpreter aborts at exit)
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from same_rows import delta_opts  # noqa: E402  (the same storage options)


def filesystem(table, endpoint):
    """(pyarrow file system, path in it) for TABLE."""
    if not table.startswith("s3://"):
        return pafs.LocalFileSystem(), os.path.abspath(table)
    scheme, host = endpoint.split("://", 1)
    fs = pafs.S3FileSystem(
        endpoint_override=host, scheme=scheme, region="us-east-1",
        access_key=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    return fs, table[len("s3://"):].rstrip("/")


def every_parquet_object(table, endpoint):
    """(objects, rows) of every *.parquet below TABLE outside _delta_log/."""
    fs, root = filesystem(table, endpoint)
    objects = rows = 0
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        rel = info.path[len(root):].lstrip("/")
        if info.type != pafs.FileType.File or not rel.endswith(".parquet"):
            continue
        if rel.startswith("_delta_log/"):
            continue
        with fs.open_input_file(info.path) as f:
            rows += pq.ParquetFile(f).metadata.num_rows
        objects += 1
    return objects, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tables", nargs="+", metavar="TABLE")
    ap.add_argument("--endpoint", default="")
    a = ap.parse_args()
    opts = delta_opts(a.endpoint) if any(t.startswith("s3://") for t in a.tables) else None
    ok = True
    for table in a.tables:
        dt = DeltaTable(table, storage_options=opts)
        before, files_before = dt.version(), len(dt.file_uris())
        metrics = dt.optimize.compact()
        dt = DeltaTable(table, storage_options=opts)
        dt.create_checkpoint()
        dt = DeltaTable(table, storage_options=opts)
        objects, all_rows = every_parquet_object(table, a.endpoint)
        out = {
            "table": table, "version_before": before, "version": dt.version(),
            "files_before": files_before, "files": len(dt.file_uris()),
            "added": metrics["numFilesAdded"], "removed": metrics["numFilesRemoved"],
            "rows": dt.to_pyarrow_table().num_rows,
            "parquet_objects": objects, "rows_in_all_objects": all_rows,
        }
        print(json.dumps(out))
        ok &= metrics["numFilesRemoved"] > 0
    # Skip the interpreter's clean-up: with pyarrow's S3 client and delta-rs's runtime
    # both loaded it sometimes aborts ("terminate called without an active
    # exception", 2 runs in 20) after everything is done and printed.
    sys.stdout.flush()
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    main()
