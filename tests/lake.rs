//! Straight into the data lake: tlstap writing to and reading from a real S3-compatible
//! server (moto's standalone server, started by each test on a free loopback port), and
//! the engines a team queries with (pyarrow, polars, DuckDB, Spark) reading the result.
//!
//! Every check compares with a local run: the same rows, none missing, none twice.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tlstap::source::{CaptureFile, PacketSource};

mod support;
use support::lake::{assert_same_rows, delta_maintain, python, tlstap_ok, Moto, AWS_ENV};
use support::mirror::{free_udp_port, interrupt, vxlan, wait_bound, walk};
use support::table::read_parquet;

const TLSTAP: &str = env!("CARGO_BIN_EXE_tlstap");

fn testdata() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
}

fn tlstap(args: &[&str]) -> Output {
    tlstap_ok(AWS_ENV, args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn read_writes_flat_and_hive_tables_to_s3_and_reads_captures_from_s3_in_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let spool = tmp.path().join("spool");
    tlstap(&["read", s(testdata()), "--out", s(&local), "-q"]);
    let moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let common = ["--s3-endpoint", &ep, "--spool-dir", s(&spool), "-q"];

    // Flat: the pair and _SUCCESS, written last.
    tlstap(
        &[
            &["read", s(testdata()), "--out", "s3://lake/flat"][..],
            &common,
        ]
        .concat(),
    );
    assert_eq!(
        moto.list("lake", "flat/"),
        [
            "flat/_SUCCESS",
            "flat/certificates.parquet",
            "flat/handshakes.parquet"
        ]
    );
    for t in ["handshakes", "certificates"] {
        assert_same_rows(
            &local.join(format!("{t}.parquet")),
            &format!("s3://lake/flat/{t}.parquet"),
            &["--endpoint", &ep],
        );
    }

    // Hive, twice to one prefix (two jobs): names never collide, each run's rows are
    // there once.
    for sensor in ["job-a", "job-b"] {
        tlstap(
            &[
                &["read", s(testdata()), "--out", "s3://lake/hive"][..],
                &["--layout", "hive", "--sensor", sensor],
                &common,
            ]
            .concat(),
        );
    }
    let keys = moto.list("lake", "hive/");
    assert!(keys.iter().all(|k| k.ends_with(".parquet")), "{keys:?}");
    for sensor in ["job-a", "job-b"] {
        let part = format!("hive/handshakes/sensor={sensor}/");
        assert!(keys.iter().any(|k| k.starts_with(&part)), "{keys:?}");
        for t in ["handshakes", "certificates"] {
            assert_same_rows(
                &local.join(format!("{t}.parquet")),
                &format!("s3://lake/hive/{t}/sensor={sensor}"),
                &["--endpoint", &ep, "--hive"],
            );
        }
    }
    // Nothing is left in the staging folders.
    assert!(walk(&spool).is_empty(), "{:?}", walk(&spool));

    // Captures from the store, in three shards written to one local hive folder: the
    // rows of the local run, none twice (source_file names the object, so it differs).
    moto.s3(&["mkbucket", "pcaps"]);
    moto.s3(&["put-tree", "pcaps", "archive", s(testdata())]);
    let sharded = tmp.path().join("sharded");
    let mut read_by_shard = Vec::new();
    for k in 1..=3 {
        let o = Command::new(TLSTAP)
            .args(["read", "s3://pcaps/archive/", "--out", s(&sharded)])
            .args(["--layout", "hive", "--shard", &format!("{k}/3")])
            .args(["--s3-endpoint", &ep])
            .envs(AWS_ENV)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{err}");
        read_by_shard.push(err);
    }
    assert_same_rows(
        &local.join("handshakes.parquet"),
        s(&sharded.join("handshakes")),
        &["--hive", "--ignore", "source_file"],
    );
    // The three shards' file counts add up to the whole listing.
    let files = |e: &str| -> usize {
        let line = e.lines().find(|l| l.starts_with("tlstap: ")).unwrap();
        line["tlstap: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let total: usize = read_by_shard.iter().map(|e| files(e)).sum();
    assert_eq!(total, walk(testdata()).len(), "{read_by_shard:?}");

    // One object by its URL streams to stdout; a missing bucket is named, the other
    // inputs are still read (exit 1).
    let o = Command::new(TLSTAP)
        .args([
            "read",
            "s3://pcaps/archive/loopback/openssl-tls13.pcap",
            "s3://nobucket/x",
        ])
        .args([
            s(&testdata().join("loopback/openssl-hrr.pcap")),
            "--out",
            "-",
            "-q",
        ])
        .args(["--s3-endpoint", &ep])
        .envs(AWS_ENV)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("s3://nobucket/x") && err.contains("NoSuchBucket"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("\"source_file\":\"s3://pcaps/archive/loopback/openssl-tls13.pcap\""));

    // An unreachable store: read exits 3 and keeps the complete output locally.
    let mut moto = moto;
    moto.stop();
    let o = Command::new(TLSTAP)
        .args(["read", s(&testdata().join("loopback/openssl-hrr.pcap"))])
        .args(["--out", "s3://lake/down"])
        .args(common)
        .envs(AWS_ENV)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("the complete output is kept in"), "{err}");
    assert!(walk(&spool)
        .iter()
        .any(|p| p.ends_with("handshakes.parquet")));
}

/// The captures the live tests mirror.
const MIRRORED: [&str; 4] = [
    "loopback/openssl-tls13.pcap",
    "quic/aioquic-v1.pcap",
    "loopback/openssl-hrr.pcap",
    "dtls/openssl-dtls12-mtu.pcap",
];

/// The columns a mirror keeps: times, addresses, source and tunnel columns differ by
/// design.
const MIRROR_COLUMNS: &str = "transport,sni,ja4,ja3s,cipher,status,ja4s";

/// `tlstap read` of `captures` into `dir/reference` (flat).
fn read_reference(dir: &Path, captures: &[&str]) -> std::path::PathBuf {
    let reference = dir.join("reference");
    let paths: Vec<String> = captures
        .iter()
        .map(|c| testdata().join(c).display().to_string())
        .collect();
    let mut args = vec!["read"];
    args.extend(paths.iter().map(String::as_str));
    args.extend(["--out", s(&reference), "-q"]);
    tlstap(&args);
    reference
}

/// A file above the multipart threshold goes up in parts (the ETag says how many), is
/// visible only once complete, and streams back byte for byte.
#[test]
fn large_files_upload_in_parts_and_stream_back() {
    use std::io::Read as _;
    use tlstap::store::{Store, StoreOptions, MULTIPART_THRESHOLD, PART_SIZE};
    let moto = Moto::start();
    moto.s3(&["mkbucket", "lake"]);
    // The library reads credentials from the environment, as the binary does; every
    // test here uses the same values.
    for (k, v) in AWS_ENV {
        std::env::set_var(k, v);
    }
    let opts = StoreOptions {
        s3_endpoint: Some(moto.endpoint()),
    };
    let store = Store::create("s3://lake/big", &opts).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("big.bin");
    let len = MULTIPART_THRESHOLD as usize + PART_SIZE + 12345;
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &bytes).unwrap();
    let t = Duration::from_secs(120);
    assert_eq!(
        store.upload_file(&local, "x/big.bin", t).unwrap(),
        len as u64
    );
    let etag = moto.s3(&["etag", "lake", "big/x/big.bin"]);
    let parts = len.div_ceil(PART_SIZE);
    assert!(etag.trim().ends_with(&format!("-{parts}")), "{etag}");
    let mut back = Vec::new();
    store
        .reader("x/big.bin")
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == bytes, "streamed back {} of {len} bytes", back.len());
}

/// Send every frame of `rel` (a testdata capture) to `port` as VXLAN.
fn replay(rel: &str, port: u16) {
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cap = CaptureFile::open(&testdata().join(rel)).unwrap();
    let mut n = 0;
    while let Some(Ok(p)) = cap.next_packet() {
        tx.send_to(&vxlan(7, p.data), ("127.0.0.1", port)).unwrap();
        n += 1;
        if n % 16 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_live(port: u16, ep: &str, spool: &Path) -> std::process::Child {
    start_live_to(
        port,
        "s3://lake/live",
        &["--s3-endpoint", ep, "--spool-dir", s(spool)],
    )
}

fn start_live_to(port: u16, out: &str, extra: &[&str]) -> std::process::Child {
    let c = Command::new(TLSTAP)
        .args(["live", "--listen-udp", &format!("vxlan:127.0.0.1:{port}")])
        .args(["--out", out, "--rotate", "1s", "--sensor", "tap1"])
        .args(extra)
        .args(["--stats-interval", "0", "--upload-timeout", "3s"])
        .envs(AWS_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bound(port);
    c
}

/// `live` to S3 through the spool, with the server stopped and restarted under it (the
/// spool holds the windows and uploads them when it is back), then stopped again
/// across a SIGINT (the windows stay spooled and the next start uploads them). moto
/// keeps nothing across a restart, so what the bucket holds is saved before each stop:
/// the saved sets never share a key, and together they hold exactly the handshakes of
/// the captures sent, once each.
#[test]
fn live_spools_through_store_outages_and_loses_or_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let saved = tmp.path().join("saved");
    let mut moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let spool_files = || walk(&spool).len();
    let save = |moto: &Moto, n: usize| {
        moto.s3(&["get-tree", "lake", "live/", s(&saved.join(n.to_string()))]);
    };
    let port = free_udp_port();
    let mut live = start_live(port, &ep, &spool);

    // 1. Store up: windows are uploaded and leave the spool.
    replay("loopback/openssl-tls13.pcap", port);
    wait_for(
        "the first windows to upload",
        Duration::from_secs(30),
        || spool_files() == 0 && !moto.list("lake", "live/handshakes/").is_empty(),
    );
    save(&moto, 1);

    // 2. Store down while capturing: windows pile up in the spool...
    moto.stop();
    replay("quic/aioquic-v1.pcap", port);
    replay("loopback/openssl-hrr.pcap", port);
    wait_for("windows in the spool", Duration::from_secs(20), || {
        spool_files() >= 3
    });
    std::thread::sleep(Duration::from_secs(2));
    // ...and go up once it is back.
    let moto = Moto::start_on(moto.port);
    moto.s3(&["mkbucket", "lake"]);
    wait_for("the spool to drain", Duration::from_secs(60), || {
        spool_files() == 0
    });
    save(&moto, 2);

    // 3. Store down at SIGINT: the last windows stay spooled, exit 0 with a warning.
    let mut moto = moto;
    moto.stop();
    replay("dtls/openssl-dtls12-mtu.pcap", port);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, err) = interrupt(&mut live, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("not uploaded yet"), "{err}");
    assert!(err.contains("spool.upload_errors"), "{err}");
    assert!(spool_files() > 0);

    // 4. The next start uploads them first.
    let moto = Moto::start_on(moto.port);
    moto.s3(&["mkbucket", "lake"]);
    let mut live = start_live(port, &ep, &spool);
    wait_for("the leftovers to upload", Duration::from_secs(30), || {
        spool_files() == 0
    });
    let (code, err) = interrupt(&mut live, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    save(&moto, 3);

    // No key twice across the saved sets; every table's files in one hive tree.
    let union = tmp.path().join("union");
    let mut seen = std::collections::BTreeSet::new();
    for n in 1..=3 {
        let root = saved.join(n.to_string());
        for f in walk(&root) {
            let rel = f.strip_prefix(&root).unwrap().to_owned();
            assert!(
                seen.insert(rel.clone()),
                "uploaded twice: {}",
                rel.display()
            );
            let dest = union.join(&rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, dest).unwrap();
        }
    }
    // Exactly the handshakes `read` finds in the four captures (the columns a mirror
    // keeps: times, addresses and tunnel columns differ by design).
    let reference = tmp.path().join("reference");
    let captures = [
        "loopback/openssl-tls13.pcap",
        "quic/aioquic-v1.pcap",
        "loopback/openssl-hrr.pcap",
        "dtls/openssl-dtls12-mtu.pcap",
    ];
    let mut args = vec!["read"];
    let paths: Vec<String> = captures
        .iter()
        .map(|c| testdata().join(c).display().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    args.extend(["--out", s(&reference), "-q"]);
    tlstap(&args);
    assert_same_rows(
        &reference.join("handshakes.parquet"),
        s(&union.join("live/handshakes")),
        &[
            "--hive",
            "--columns",
            "transport,sni,ja4,ja3s,cipher,status,ja4s",
        ],
    );
    // Every window's stats file is there once (checked above) and together they count
    // the handshake rows written.
    let stats_total: i64 = walk(&union.join("live/stats"))
        .iter()
        .map(|f| column_sum(f, "handshakes"))
        .sum();
    let rows: i64 = walk(&union.join("live/handshakes"))
        .iter()
        .map(|f| read_parquet(f).num_rows() as i64)
        .sum();
    assert_eq!(stats_total, rows);
    assert!(rows > 0);
}

/// The sum of an i64 column of a Parquet file.
fn column_sum(f: &Path, column: &str) -> i64 {
    use arrow::array::AsArray;
    let b = read_parquet(f);
    let c = b.column_by_name(column).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>()
        .iter()
        .flatten()
        .sum()
}

/// `--table delta`: three jobs appending to one table on S3 at the same time all land,
/// once each, in one commit per job and table (put-if-absent on the log decides the
/// race); delta-rs, polars and DuckDB read the table back with exactly their rows.
#[test]
fn concurrent_jobs_append_to_one_delta_table_on_s3() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    tlstap(&["read", s(testdata()), "--out", s(&local), "-q"]);
    let moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let jobs: Vec<_> = (1..=3)
        .map(|k| {
            Command::new(TLSTAP)
                .args(["read", s(testdata()), "--out", "s3://lake/tls"])
                .args(["--layout", "hive", "--table", "delta"])
                .args(["--sensor", &format!("job{k}"), "-q", "--s3-endpoint", &ep])
                .args(["--spool-dir", s(&tmp.path().join(format!("spool{k}")))])
                .envs(AWS_ENV)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut j in jobs {
        assert!(j.wait().unwrap().success());
    }
    for t in ["handshakes", "certificates"] {
        let log = moto.list("lake", &format!("tls/{t}/_delta_log/"));
        assert_eq!(
            log,
            (0..3)
                .map(|v| format!("tls/{t}/_delta_log/{v:020}.json"))
                .collect::<Vec<_>>()
        );
        assert_same_rows(
            &local.join(format!("{t}.parquet")),
            &format!("s3://lake/tls/{t}"),
            &[
                "--delta",
                "--times",
                "3",
                "--endpoint",
                &ep,
                "--engines",
                "pyarrow,polars,duckdb",
            ],
        );
    }
}

/// `live --table delta`: each window is committed once uploaded (to S3, through the
/// spool) or once written (a local folder); both tables hold the mirrored handshakes.
#[test]
fn live_commits_every_window_to_delta_tables_in_s3_and_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let (p1, p2) = (free_udp_port(), free_udp_port());
    let local = tmp.path().join("local-live");
    let spool = tmp.path().join("spool");
    let mut to_s3 = start_live_to(
        p1,
        "s3://lake/live",
        &[
            "--table",
            "delta",
            "--s3-endpoint",
            &ep,
            "--spool-dir",
            s(&spool),
        ],
    );
    let mut to_dir = start_live_to(p2, s(&local), &["--table", "delta"]);
    for rel in MIRRORED {
        replay(rel, p1);
        replay(rel, p2);
        std::thread::sleep(Duration::from_millis(1200)); // a few windows
    }
    std::thread::sleep(Duration::from_millis(1000));
    for child in [&mut to_s3, &mut to_dir] {
        let (code, err) = interrupt(child, Duration::from_secs(30));
        assert_eq!(code, Some(0), "{err}");
        assert!(!err.contains("commit_errors"), "{err}");
    }
    let reference = read_reference(tmp.path(), &MIRRORED);
    let reference = reference.join("handshakes.parquet");
    let cols = ["--delta", "--columns", MIRROR_COLUMNS];
    assert_same_rows(
        &reference,
        "s3://lake/live/handshakes",
        &[&cols[..], &["--endpoint", &ep]].concat(),
    );
    assert_same_rows(&reference, s(&local.join("handshakes")), &cols);
    // Several windows, one commit each (stats has a file in every window).
    let stats_log = moto.list("lake", "live/stats/_delta_log/");
    assert!(stats_log.len() >= 4, "{stats_log:?}");
    let local_log = walk(&local.join("stats/_delta_log"));
    assert!(local_log.len() >= 4, "{local_log:?}");
}

/// Spark (pyspark from PyPI on Debian's Java), DuckDB and polars read a hive dataset
/// written by `read --layout hive` and `live`'s three tables, and every column comes
/// back with pyarrow's values (tests/lake/engines.py: unsigned integers, lists,
/// structs, UTC timestamps, partition columns).
#[test]
fn spark_duckdb_and_polars_read_every_column_of_the_hive_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    // The same two jobs as a plain hive dataset and as a Delta table (engines read a
    // Delta table's folder through its log, not as a hive dataset: polars refuses the
    // log's .json files beside the Parquet ones).
    let lake = tmp.path().join("lake");
    let delta = tmp.path().join("delta");
    for (dir, table) in [(&lake, "none"), (&delta, "delta")] {
        for sensor in ["a", "b"] {
            let out = format!("file://{}", dir.display());
            tlstap(&[
                "read",
                s(testdata()),
                "--out",
                &out,
                "--layout",
                "hive",
                "--sensor",
                sensor,
                "--table",
                table,
                "-q",
            ]);
        }
    }
    // The Delta table: Spark (no delta-spark jar offline) reads the files of its
    // current snapshot as delta-rs lists them; rows as a local run's, twice.
    let local = tmp.path().join("local");
    tlstap(&["read", s(testdata()), "--out", s(&local), "-q"]);
    for t in ["handshakes", "certificates"] {
        assert_same_rows(
            &local.join(format!("{t}.parquet")),
            s(&delta.join(t)),
            &[
                "--delta",
                "--times",
                "2",
                "--engines",
                "pyarrow,polars,spark",
            ],
        );
    }
    let o = python(
        "engines.py",
        &[
            s(&lake.join("handshakes")),
            s(&lake.join("certificates")),
            "--hive",
            "--engines",
            "pyarrow,polars,duckdb,spark",
        ],
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Meaningless lake flags are usage errors (exit 2) naming the problem, before any
/// input is read.
#[test]
fn lake_flags_that_mean_nothing_are_usage_errors() {
    let cap = testdata().join("loopback/openssl-tls13.pcap");
    let cases: [(&[&str], &str); 7] = [
        (&["--shard", "0/3", "--out", "o"], "1 <= K <= N"),
        (&["--shard", "4/3", "--out", "o"], "1 <= K <= N"),
        (&["--shard", "2", "--out", "o"], "K/N"),
        (&["--layout", "hive", "--out", "-"], "--layout hive"),
        (&["--sensor", "a/b", "--out", "o"], "sensor name"),
        (&["--out", "s3:///prefix"], "no bucket name"),
        (&["--table", "delta", "--out", "o"], "--layout hive"),
    ];
    for (args, want) in cases {
        let o = Command::new(TLSTAP)
            .arg("read")
            .arg(&cap)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// `tlstap report TARGET ARGS`: its text, with TARGET written as `DIR`.
fn report(target: &str, args: &[&str]) -> String {
    let o = tlstap(&[&["report", target][..], args].concat());
    String::from_utf8_lossy(&o.stdout).replace(target, "DIR")
}

/// A report without its example connections (which ones come first depends on the
/// order of the files, not on what they hold).
fn without_examples(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("e.g. "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(handshakes, certificates)` of a report's first lines.
fn report_counts(text: &str) -> (u64, u64) {
    let line = text
        .lines()
        .find(|l| l.contains(" handshakes, "))
        .unwrap_or_else(|| panic!("no counts in:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

/// `report s3://…` reads the flat pair and a hive prefix from the store and says
/// exactly what `report` says on the same runs written to local folders; a prefix
/// with no tables is exit 1, a URL that cannot be opened exit 2.
#[test]
fn report_on_s3_matches_report_on_a_local_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (flat, hive) = (tmp.path().join("flat"), tmp.path().join("hive"));
    let spool = tmp.path().join("spool");
    let moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let common = ["--s3-endpoint", &ep, "--spool-dir", s(&spool), "-q"];
    let hive_args = ["--layout", "hive", "--sensor", "s1"];
    tlstap(&["read", s(testdata()), "--out", s(&flat), "-q"]);
    tlstap(
        &[
            &["read", s(testdata()), "--out", s(&hive), "-q"][..],
            &hive_args,
        ]
        .concat(),
    );
    let read_to = |url: &str, extra: &[&str]| {
        tlstap(&[&["read", s(testdata()), "--out", url][..], extra, &common].concat());
    };
    read_to("s3://lake/flat", &[]);
    read_to("s3://lake/hive", &hive_args);
    let remote = ["--s3-endpoint", &ep];

    let local_flat = report(s(&flat), &[]);
    let local_hive = report(s(&hive), &[]);
    assert_eq!(report_counts(&local_flat), report_counts(&local_hive));
    assert!(report_counts(&local_flat).0 > 100, "{local_flat}");
    assert_eq!(report("s3://lake/flat", &remote), local_flat);
    assert_eq!(report("s3://lake/hive", &remote), local_hive);
    // The layouts differ only in which examples come first.
    assert_eq!(
        without_examples(&report("s3://lake/hive", &remote)),
        without_examples(&local_flat)
    );

    for (url, code, want) in [
        ("s3://lake/nothing", 1, "no handshakes.parquet"),
        ("s3:///lake", 2, "no bucket name"),
    ] {
        let o = Command::new(TLSTAP)
            .args(["report", url, "--s3-endpoint", &ep])
            .envs(AWS_ENV)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{url}: {err}");
        assert!(err.contains(want), "{url}: {err}");
    }
}

/// A Delta table (`read --table delta`, two runs of one sensor: two files in every
/// partition), in S3 and in a local folder, compacted by delta-rs (new files added,
/// the old ones removed from the log but left in place) and checkpointed: `report`
/// reads the snapshot through the checkpoint, so every handshake counts once, as
/// before the compaction; reading every Parquet file would count the compacted rows
/// twice. A later tlstap append on top of the checkpoint is counted too.
#[test]
fn report_counts_a_compacted_and_checkpointed_delta_table_once() {
    let tmp = tempfile::tempdir().unwrap();
    let flat = tmp.path().join("flat");
    tlstap(&["read", s(testdata()), "--out", s(&flat), "-q"]);
    let (hs, certs) = report_counts(&report(s(&flat), &[]));
    let moto = Moto::start();
    let ep = moto.endpoint();
    moto.s3(&["mkbucket", "lake"]);
    let local = tmp.path().join("delta");
    let local_url = local.display().to_string();
    for (target, extra) in [
        ("s3://lake/tls", vec!["--s3-endpoint", &ep]),
        (local_url.as_str(), vec![]),
    ] {
        let spool = tmp.path().join("spool");
        let append = || {
            tlstap(
                &[
                    &["read", s(testdata()), "--out", target, "-q"][..],
                    &["--layout", "hive", "--table", "delta", "--sensor", "same"],
                    &["--spool-dir", s(&spool)],
                    &extra,
                ]
                .concat(),
            );
        };
        append();
        append();
        let before = report(target, &extra);
        assert_eq!(report_counts(&before), (2 * hs, 2 * certs), "{target}");

        let tables = [
            format!("{target}/handshakes"),
            format!("{target}/certificates"),
        ];
        let stats = delta_maintain(&[tables[0].as_str(), tables[1].as_str()], &ep);
        for (st, rows) in stats.iter().zip([2 * hs, 2 * certs]) {
            assert!(st["removed"].as_u64().unwrap() > 0, "{st}");
            assert_eq!(st["rows"].as_u64(), Some(rows), "{st}");
            // The old files are still there: a reader of every file over-counts.
            assert!(st["rows_in_all_objects"].as_u64().unwrap() > rows, "{st}");
        }
        let log = |t: &str| -> Vec<String> {
            match target.strip_prefix("s3://lake/") {
                Some(prefix) => moto.list("lake", &format!("{prefix}/{t}/_delta_log/")),
                None => walk(&local.join(t).join("_delta_log"))
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            }
        };
        for t in ["handshakes", "certificates"] {
            let log = log(t);
            assert!(
                log.iter().any(|k| k.ends_with(".checkpoint.parquet"))
                    && log.iter().any(|k| k.ends_with("/_last_checkpoint")),
                "{log:?}"
            );
        }

        let after = report(target, &extra);
        assert_eq!(
            report_counts(&after),
            (2 * hs, 2 * certs),
            "{target}\n{after}"
        );
        assert_eq!(
            without_examples(&after),
            without_examples(&before),
            "{target}"
        );
        // delta-rs wrote dst_port as a signed int: still read as the port.
        assert!(!after.contains(":? ("), "{after}");

        // One more run appended after the checkpoint.
        append();
        let later = report(target, &extra);
        assert_eq!(report_counts(&later), (3 * hs, 3 * certs), "{target}");
    }
}
