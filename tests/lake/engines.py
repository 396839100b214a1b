#!/usr/bin/env python3
"""Check that data-lake engines read tlstap's Parquet output exactly as pyarrow does.

Usage: python3 tests/lake/engines.py PATH [PATH...] [--engines pyarrow,polars,duckdb,spark] [--hive]

Each PATH is a Parquet file or a table folder (with --hive, key=value sub-folders such as
sensor=x/date=2025-01-01/hour=03 are partition columns). pyarrow is the reference; each
other engine reads PATH the way a user would (polars read_parquet, DuckDB read_parquet(),
spark.read.parquet) and every column is compared row by row after normalising:
- timestamps -> UTC microseconds (Spark via unix_micros(), so the Python time zone plays
  no part); Spark's and DuckDB's session time zone is set to UTC and their text rendering
  is also checked against the UTC wall clock ("COL#utc_text");
- integers, whatever the engine widened them to (Decimal(20,0) too) -> Python int, so a
  wrap-around, a negative value or a null where pyarrow has a value shows;
- lists and structs recursively, binary as bytes, dates as ISO text;
- partition columns -> text, digits without leading zeros ("03" == 3): the engines infer
  different types for them (the type table shows which).
Rows are ordered by the partition columns, then by a key from the columns present
(certificates: sha256; stats: window_start, interface; handshakes: source_file, ts,
community_id, ports, transport), ties by the whole row.

Report per PATH: a table of each column's Parquet type and the type each engine gave it,
then per engine the columns that differ (first differing row, both values), that cannot
be read (with the error) and the count that match. Exit 0 only when every engine matches
on every column of every PATH, else 1 (2: usage). Without --hive, Spark still turns
key=value folders into columns (reported as EXTRA).

Spark: local[1], 1 GiB driver, no UI, UTC session time zone, started once and only when
asked for, stopped at the end; needs Java 17+ and pyspark from PyPI (nothing from Maven).
"""

import argparse
import datetime as dt
import decimal
import os
import sys
import time

os.environ["TZ"] = "UTC"  # naive datetimes anywhere below mean UTC wall clock
time.tzset()

import pyarrow as pa  # noqa: E402
import pyarrow.dataset as pads  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
US = dt.timedelta(microseconds=1)
TEXT = "#utc_text"  # suffix of the rendered-timestamp pseudo-columns
TEXT_FMT = "%Y-%m-%d %H:%M:%S.%f"
KEYS = [["sha256"], ["window_start", "interface"],  # the first one present orders rows
        ["source_file", "ts", "community_id", "src_port", "dst_port", "transport"]]
ENGINES = ["pyarrow", "polars", "duckdb", "spark"]


def norm(v):
    """One value, as comparable Python data (see the module doc)."""
    if v is None or isinstance(v, (bool, int, str, float)):
        return v
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else v
    if isinstance(v, dt.datetime):  # naive: UTC wall clock (TZ=UTC above)
        return ((v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)) - EPOCH) // US
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if hasattr(v, "asDict"):  # pyspark Row (a tuple subclass)
        return {k: norm(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v


def norm_part(v):
    """A partition value, as text: '03', 3 and '3' are equal; dates as ISO text."""
    if v is None:
        return None
    s = v.isoformat() if isinstance(v, dt.date) else str(v)
    return str(int(s)) if s.isdigit() else s


class Result:
    """What one engine read: column -> values (read order), types, per-column errors."""

    def __init__(self):
        self.cols, self.types, self.errors = {}, {}, {}
        self.error, self.seconds = None, 0.0  # error: the whole read failed


def short(e):
    """An exception in one line; for a Py4J error, the Java exception's line."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    java = [x for x in lines[1:] if "Exception:" in x or "Error:" in x]
    cause = [x for x in java if x.startswith("Caused by:")]  # the root cause is last
    line = (cause or java)[-1 if cause else 0] if java else f"{type(e).__name__}: {lines[0] if lines else ''}"
    return line.removeprefix("Caused by:").lstrip(": ")[:300]


def by_column(res, names, read_one):
    """After a failed whole read, each column alone: one bad column hides no other."""
    for n in names:
        try:
            values, typ = read_one(n)
            res.cols[n], res.types[n] = values, typ
        except Exception as e:  # noqa: BLE001 - the report shows any reader error
            res.errors[n] = short(e)


def read_pyarrow(path, hive):
    res = Result()
    if os.path.isdir(path):
        t = pads.dataset(path, format="parquet", partitioning="hive" if hive else None).to_table()
    else:
        t = pq.read_table(path)
    for f, col in zip(t.schema, t.columns):
        res.types[f.name] = str(f.type)
        if pa.types.is_timestamp(f.type):  # exact UTC micros, also from ns (no pandas)
            mul, div = {"s": (10**6, 1), "ms": (1000, 1), "us": (1, 1), "ns": (1, 1000)}[f.type.unit]
            ints = col.cast(pa.int64()).to_pylist()
            res.cols[f.name] = [None if v is None else v * mul // div for v in ints]
        else:
            res.cols[f.name] = col.to_pylist(maps_as_pydicts="strict")
    return res


def read_polars(path, hive):
    import polars as pl

    res = Result()
    kw = {"hive_partitioning": hive} if os.path.isdir(path) else {}
    try:
        df = pl.read_parquet(path, **kw)
        for n in df.columns:
            res.cols[n], res.types[n] = df[n].to_list(), str(df.schema[n])
    except Exception as e:  # noqa: BLE001
        res.error = short(e)

        def one(n):
            s = pl.read_parquet(path, columns=[n], **kw)[n]
            return s.to_list(), str(s.dtype)

        by_column(res, REF_NAMES[path], one)
    return res


def read_duckdb(path, hive):
    import duckdb

    res = Result()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 1")  # read order = file order, and be frugal
    src = f"read_parquet('{path}', hive_partitioning = {str(hive).lower()})"

    def select(names):
        cur = con.execute(f'SELECT {", ".join(names)} FROM {src}')
        return cur.fetchall(), [d[0] for d in cur.description]

    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
        types = {r[0]: r[1] for r in desc}
        exprs = []
        for n, t in types.items():
            exprs.append(f'"{n}"')
            if t.startswith("TIMESTAMP"):
                exprs.append(f"strftime(\"{n}\", '{TEXT_FMT}') AS \"{n}{TEXT}\"")
        rows, names = select(exprs)
        for i, n in enumerate(names):
            res.cols[n] = [r[i] for r in rows]
            res.types[n] = types.get(n, "VARCHAR")
    except Exception as e:  # noqa: BLE001
        res.error = short(e)

        def one(n):
            rows, _ = select([f'"{n}"'])
            t = con.execute(f'DESCRIBE SELECT "{n}" FROM {src}').fetchall()[0][1]
            return [r[0] for r in rows], t

        by_column(res, REF_NAMES[path], one)
    con.close()
    return res


SPARK, SPARK_START = None, 0.0  # the session; seconds to import pyspark and start it
SPARK_CONF = {"spark.sql.session.timeZone": "UTC", "spark.driver.memory": "1g",
              "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
              "spark.sql.shuffle.partitions": "1"}


def spark_session():
    global SPARK, SPARK_START
    if SPARK is None:
        t = time.monotonic()
        from pyspark.sql import SparkSession

        b = SparkSession.builder.master("local[1]").appName("tlstap-engines")
        for k, v in SPARK_CONF.items():
            b = b.config(k, v)
        SPARK = b.getOrCreate()
        SPARK.sparkContext.setLogLevel("FATAL")  # errors go to the report
        tz = SPARK.conf.get("spark.sql.session.timeZone")
        if tz != "UTC":
            raise RuntimeError(f"Spark session time zone is {tz}, not UTC")
        SPARK_START = time.monotonic() - t
    return SPARK


def read_spark(path, hive):
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    res = Result()
    spark = spark_session()

    def columns(df, names):
        out = []
        for n in names:
            c = F.col(f"`{n}`")
            if not isinstance(df.schema[n].dataType, (TimestampType, TimestampNTZType)):
                out.append(c)
                continue
            ts = c.cast("timestamp")  # NTZ: wall clock read as UTC
            out.append(F.unix_micros(ts).alias(n))
            out.append(F.date_format(ts, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(n + TEXT))
        return out

    def fetch(names=None):
        df = spark.read.parquet(path)
        names = names or df.columns
        sel = df.select(columns(df, names))
        rows = sel.collect()
        types = {f.name: f.dataType.simpleString() for f in df.schema if f.name in names}
        return [(n, [r[i] for r in rows]) for i, n in enumerate(sel.columns)], types

    try:
        cols, types = fetch()
        for n, values in cols:
            res.cols[n], res.types[n] = values, types.get(n, "string")
    except Exception as e:  # noqa: BLE001
        res.error = short(e)

        def one(n):
            cols, types = fetch([n])
            return cols[0][1], types[n]  # the #utc_text column is dropped here

        by_column(res, REF_NAMES[path], one)
    return res


READERS = {"pyarrow": read_pyarrow, "polars": read_polars, "duckdb": read_duckdb, "spark": read_spark}
REF_NAMES = {}  # path -> reference column names (for the per-column fallback)


def ordered_rows(res, parts, n_rows):
    """Normalised rows as dicts, in the stable order described in the module doc."""
    names = list(res.cols)
    rows = []
    for i in range(n_rows):
        row = {}
        for n in names:
            v = res.cols[n][i] if i < len(res.cols[n]) else None
            row[n] = norm_part(v) if n in parts else norm(v)
        rows.append(row)
    key = next((k for k in KEYS if all(c in names for c in k)), [])
    key = [p for p in parts if p in names] + key
    whole = sorted(c for c in names if not c.endswith(TEXT))

    def sort_key(r):
        return (tuple(repr(r.get(c)) for c in key), repr([r[c] for c in whole]))

    return sorted(rows, key=sort_key), key


def parquet_types(path):
    """Column -> 'physical/logical' of the first Parquet file under path."""
    if os.path.isdir(path):
        path = pads.dataset(path, format="parquet", partitioning="hive").files[0]
    out = {}
    for c in pq.ParquetFile(path).schema:
        desc = c.physical_type
        if c.converted_type != "NONE":
            desc += "/" + c.converted_type
        if c.logical_type.type == "TIMESTAMP":
            desc += "/utc" if '"isAdjustedToUTC":true' in c.logical_type.to_json() else "/local"
        top = out.setdefault(c.path.split(".")[0], [])
        if desc not in top:
            top.append(desc)
    return {k: ", ".join(v) for k, v in out.items()}


def show(v, limit=160):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def cell(s, width):
    s = s.replace("Datetime(time_unit=", "Datetime(").replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
    return (s if len(s) < width else s[: width - 2] + "~").ljust(width)


def check(eng, res, ref, ref_rows, parts, key):
    """Compare one engine with the reference: (problems, number of matching columns)."""
    n_ref, n = len(ref_rows), max((len(v) for v in res.cols.values()), default=0)
    problems = [f"ROW COUNT {n} (pyarrow {n_ref})"] if n != n_ref else []
    rows, _ = ordered_rows(res, parts, n)
    matched, unreadable = 0, {}
    for c in ref.cols:
        if c in res.errors or c not in res.cols:
            unreadable.setdefault(res.errors.get(c, "column missing"), []).append(c)
            continue
        checks = [(c, lambda r, c=c: r[c])]
        if c + TEXT in res.cols:  # the timestamp as the engine renders it, session tz
            checks.append((c + TEXT, lambda r, c=c: None if r[c] is None
                           else (EPOCH + r[c] * US).strftime(TEXT_FMT)))
        bad = False
        for name, want in checks:
            i = next((i for i in range(min(n, n_ref)) if rows[i][name] != want(ref_rows[i])), None)
            if i is not None:
                k = {kc: ref_rows[i].get(kc) for kc in key}
                problems.append(f"DIFFERS {name} [{res.types.get(c)}] at {show(k, 120)}: "
                                f"pyarrow {show(want(ref_rows[i]))} vs {eng} {show(rows[i][name])}")
                bad = True
        matched += not bad
    for err, cols in unreadable.items():
        problems.append(f"UNREADABLE ({len(cols)}) {', '.join(cols)}: {err}")
    extra = [c for c in res.cols if c not in ref.cols and not c.endswith(TEXT)]
    if extra:
        problems.append(f"EXTRA columns not in pyarrow's read: {extra}")
    return problems, matched


def compare(path, hive, engines):
    """Read path with every engine; print the report; True if all match."""
    print(f"\n=== {path}")
    t = time.monotonic()
    try:
        ref = read_pyarrow(path, hive)
    except Exception as e:  # noqa: BLE001
        print(f"pyarrow (reference) cannot read it: {short(e)}")
        return False
    ref.seconds = time.monotonic() - t
    REF_NAMES[path] = list(ref.cols)
    ptypes = parquet_types(path)
    parts = [n for n in ref.cols if n not in ptypes] if hive else []
    n_ref = len(next(iter(ref.cols.values()), []))
    ref_rows, key = ordered_rows(ref, parts, n_ref)
    print(f"pyarrow {pa.__version__} (reference): {n_ref} rows, {len(ref.cols)} columns, "
          f"{ref.seconds:.2f}s; rows ordered by {key or 'whole row'}")
    results = {}
    for eng in engines:
        if eng == "pyarrow":
            continue
        t = time.monotonic()
        try:
            results[eng] = READERS[eng](path, hive)
            results[eng].seconds = time.monotonic() - t
        except Exception as e:  # noqa: BLE001 - import or session failure
            results[eng] = short(e)
    live = {e: r for e, r in results.items() if isinstance(r, Result)}
    print("\n" + cell("column", 26) + cell("parquet", 30) + cell("pyarrow", 24)
          + "".join(cell(e, 24) for e in live))
    for c in ref.cols:
        pt = ptypes.get(c, "(partition)")
        print(cell(c, 26) + cell(pt, 30) + cell(ref.types[c], 24) + "".join(
            cell("ERROR" if c in r.errors else r.types.get(c, "-"), 24) for r in live.values()))
    ok = True
    for eng, res in results.items():
        if not isinstance(res, Result):
            print(f"\n--- {eng}: FAILED to run: {res}")
            ok = False
            continue
        problems, matched = check(eng, res, ref, ref_rows, parts, key)
        print(f"\n--- {eng} {engine_version(eng)}: {res.seconds:.2f}s, "
              f"{matched}/{len(ref.cols)} columns match")
        if res.error:
            print(f"  whole read failed, then read column by column: {res.error}")
        for p in problems:
            print("  " + p)
        ok = ok and not problems
    return ok


def engine_version(eng):
    v = __import__({"spark": "pyspark"}.get(eng, eng)).__version__
    if eng == "spark" and SPARK is not None:
        java = SPARK.sparkContext._jvm.System.getProperty("java.version")
        v += f" (Spark {SPARK.version}, Java {java}, session start {SPARK_START:.1f}s)"
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--hive", action="store_true", help="folders are hive-partitioned")
    a = ap.parse_args()
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in READERS]
    if unknown:
        ap.error(f"unknown engine(s) {unknown}; known: {ENGINES}")
    t0 = time.monotonic()
    ok = True
    try:
        for p in a.paths:
            if not os.path.exists(p):
                print(f"\n=== {p}: does not exist")
                ok = False
                continue
            ok = compare(p, a.hive, engines) and ok
    finally:
        if SPARK is not None:
            SPARK.stop()
    print(f"\n{'ALL ENGINES MATCH' if ok else 'MISMATCH'} ({time.monotonic() - t0:.1f}s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
