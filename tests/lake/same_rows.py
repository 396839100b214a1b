#!/usr/bin/env python3
"""Do two tlstap tables hold the same rows? One is read locally, the other in object storage.

Usage: python3 tests/lake/same_rows.py REF TARGET [--endpoint URL] [--hive | --delta]
                                       [--columns a,b] [--ignore a,b] [--times N]
                                       [--engines pyarrow,polars,spark]

REF is a local Parquet file or table folder, read with pyarrow. TARGET is a local path or
an s3://bucket/key (a file, or a folder holding a hive-partitioned table), listed and read
the way a user would: with pyarrow (S3FileSystem, dataset discovery) and with polars
(read_parquet over the glob, storage_options). The store is S3-compatible at --endpoint
(credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, region us-east-1).

With --delta, TARGET is a Delta Lake table (a folder holding _delta_log/): pyarrow reads
it through delta-rs (the `deltalake` package: the table's current snapshot), polars with
read_delta, DuckDB (scanning the snapshot delta-rs lists, as an Arrow dataset), and Spark
(local paths only; no delta-spark jar offline) reads the Parquet
files the snapshot lists, with the partition folders as columns. --times N expects every
REF row N times (N writers appended the same input).

Rows are compared as multisets, after dropping partition columns (sensor, date, hour)
and --ignore columns, or keeping only --columns; values are normalised as in engines.py
(timestamps as UTC microseconds, integers as Python ints, lists and structs recursively).
A row missing or present twice shows as a difference. Prints the row counts and the
first differences; exit 0 when every engine's reading of TARGET equals REF, else 1.
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engines import norm  # noqa: E402  (same normalisation as the engine check)

import pyarrow.dataset as pads  # noqa: E402
import pyarrow.fs as pafs  # noqa: E402

PARTITIONS = {"sensor", "date", "hour"}


def s3_split(url):
    rest = url[len("s3://"):].rstrip("/")
    return rest


def pyarrow_table(path, hive, endpoint):
    fs = None
    if path.startswith("s3://"):
        scheme, host = endpoint.split("://", 1)
        fs = pafs.S3FileSystem(
            endpoint_override=host, scheme=scheme, region="us-east-1",
            access_key=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
        path = s3_split(path)
    ds = pads.dataset(path, format="parquet", filesystem=fs,
                      partitioning="hive" if hive else None)
    return ds.to_table().to_pylist()


def polars_table(path, hive, endpoint):
    import polars as pl
    opts = None
    if path.startswith("s3://"):
        opts = {
            "aws_endpoint_url": endpoint, "aws_region": "us-east-1", "aws_allow_http": "true",
            "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        }
    src = path.rstrip("/") + "/**/*.parquet" if (hive or not path.endswith(".parquet")) else path
    df = pl.read_parquet(src, storage_options=opts, hive_partitioning=hive)
    return df.to_dicts()


def delta_opts(endpoint):
    if not endpoint:
        return None
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}


def delta_pyarrow(path, endpoint):
    from deltalake import DeltaTable
    return DeltaTable(path, storage_options=delta_opts(endpoint)).to_pyarrow_table().to_pylist()


def delta_polars(path, endpoint):
    import polars as pl
    opts = delta_opts(endpoint)
    return pl.read_delta(path, storage_options=opts).to_dicts()


def delta_duckdb(path, endpoint):
    # DuckDB's own `delta` extension is downloaded at INSTALL time (not offline); here it
    # scans the table's current snapshot as delta-rs hands it over (an Arrow dataset).
    import duckdb
    from deltalake import DeltaTable
    snapshot = DeltaTable(path, storage_options=delta_opts(endpoint)).to_pyarrow_dataset()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rel = con.sql("SELECT * FROM snapshot")
    cols = rel.columns
    return [dict(zip(cols, row)) for row in rel.fetchall()]


def delta_spark(path, endpoint):
    from deltalake import DeltaTable
    from engines import spark_session
    files = DeltaTable(path).file_uris()
    spark = spark_session()
    df = spark.read.option("basePath", path).parquet(*files)
    return [r.asDict(recursive=True) for r in df.collect()]


def canon(rows, keep, ignore):
    out = collections.Counter()
    for r in rows:
        r = {k: norm(v) for k, v in r.items()
             if k not in PARTITIONS and k not in ignore and (not keep or k in keep)}
        out[json.dumps(r, sort_keys=True, default=repr)] += 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ref")
    ap.add_argument("target")
    ap.add_argument("--endpoint", default="")
    ap.add_argument("--hive", action="store_true", help="TARGET is hive-partitioned")
    ap.add_argument("--delta", action="store_true", help="TARGET is a Delta Lake table")
    ap.add_argument("--times", type=int, default=1, help="expect each REF row N times")
    ap.add_argument("--columns", default="", help="compare only these columns")
    ap.add_argument("--ignore", default="", help="leave these columns out")
    ap.add_argument("--engines", default="pyarrow,polars")
    a = ap.parse_args()
    keep = {c for c in a.columns.split(",") if c}
    ignore = {c for c in a.ignore.split(",") if c}
    ref_hive = os.path.isdir(a.ref) and any(
        "=" in d for _, ds, _ in os.walk(a.ref) for d in ds)
    ref = canon(pyarrow_table(a.ref, ref_hive, ""), keep, ignore)
    ref = collections.Counter({k: n * a.times for k, n in ref.items()})
    ok = True
    for eng in a.engines.split(","):
        if a.delta:
            read = {"pyarrow": delta_pyarrow, "polars": delta_polars, "duckdb": delta_duckdb,
                    "spark": delta_spark}[eng]
            got = canon(read(a.target, a.endpoint), keep, ignore)
        else:
            read = {"pyarrow": pyarrow_table, "polars": polars_table}[eng]
            got = canon(read(a.target, a.hive, a.endpoint), keep, ignore)
        missing, extra = ref - got, got - ref
        same = not missing and not extra
        ok &= same
        print(f"{eng}: {sum(got.values())} rows in {a.target}, {sum(ref.values())} in {a.ref}: "
              + ("same rows" if same else f"{sum(missing.values())} missing, "
                 f"{sum(extra.values())} extra"))
        for label, diff in (("missing", missing), ("extra", extra)):
            for row, n in list(diff.items())[:3]:
                print(f"  {label} x{n}: {row[:400]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
