//! Loaders for the expected outputs of other TLS analyzers stored in the shared corpus
//! (`../shared/corpus` beside the repository, see its README), turned into plain Rust structs for tlstap's
//! conformance tests. Every loader takes the corpus root as a `&Path`, reads only files
//! under it, never panics on malformed input and returns `Err(String)` naming the file and
//! 1-based line of the first problem. Only `std` and `serde_json` are used.
//!
//! # Zeek (`zeek_ssl_expectations`, `zeek_x509_expectations`, `zeek_quic_expectations`)
//! * Source of truth for "which trace produced which baseline" is `zeek/INDEX.json`: per
//!   test it stores the btest `exec` command lines. `TRACE_TO_BASELINE.tsv` is NOT sound on
//!   its own: its `baselines` column was built by prefix-matching baseline directory names,
//!   so `dtls.test` also lists `dtls-13/ssl-all.log` and `psql-aws-ssl-require.zeek` also
//!   lists `psql-aws-ssl-require-15432/*`; its (and INDEX's) `traces` lists are sorted
//!   alphabetically, not in read order (`dtls-13.test` reads `dtls13-wolfssl` before
//!   `dtls13-cid`; `tls13.test` reads `hrr.pcap` sixth).
//! * Rule used here: the exec lines are interpreted as a tiny shell script. A `zeek ... -r
//!   $TRACES/<t>` run (re)creates `ssl.log`/`x509.log`/`quic.log` with provenance `[t]`; `cat A > B`,
//!   `cat A >> B` (append = one more header segment), `cp`, `mv` (incl. `mv *log out DIR`),
//!   `zeek-cut [-m] cols < A > B` and `btest-bg-run` cluster workers (their traces all feed
//!   `manager/*.log`) propagate it; `btest-diff X` / `btest-diff-cut [-m] cols X` name the
//!   baseline `Baseline/<test dir>/<X with / -> .>`. So `tls-12.ssl.log` belongs to
//!   `tls-12-amazon-rds.pcap` only. The test dir is the test path without its extension,
//!   `/` -> `.`; btest `@TEST-START-NEXT` variants live in `<dir>-N` (N digits) when no
//!   other test is named so (`disable-certificate-events-known-certs-2`, `-3`): they share
//!   the exec lines but run a different `%INPUT` script.
//! * Concatenated baselines keep one Zeek header block per run; each block is a segment and
//!   segment i is attributed to the i-th producing run (`ZeekSslRow::trace`), only when the
//!   segment count equals the run count (it does for every file today). `ssl-log-ext`
//!   also writes `#file <name>` markers, kept in `file_marker`.
//! * Header forms: normal logs (`#separator \x09`, `#set_separator`, `#empty_field`,
//!   `#unset_field`, `#fields`, `#types`); `zeek-cut -m` / `btest-diff-cut -m` files have a
//!   plain first non-comment line of column names; `zeek-cut` without `-m`
//!   (`max-history-length`) has no header at all: columns come from the command. Cut files
//!   may lack `id.*` columns: then rows can only be matched by order (`uid` order).
//! * Values: `-` is [`Field::Unset`], a column missing from the file is [`Field::Absent`],
//!   `(empty)` is an empty vector (or empty string for scalars). Container columns (by
//!   `#types` `vector[`/`set[`, or by name for headerless cut files) split on the set
//!   separator. Strings are unescaped (`\\` -> `\`, `\xHH` -> byte; Zeek writes
//!   OpenSSL's `\,` in DNs as `\\,`). `ts` is masked and dropped; unknown columns go to
//!   `other` raw.
//! * Non-default runs worth knowing (see `commands`): most tests run `zeek -b` (bare mode)
//!   plus the test's own `%INPUT` script, which may redef options; `max-history-length`
//!   runs once with `SSL::max_ssl_history_length=3`; `validate-*` load
//!   `$SCRIPTS/external-ca-list.zeek`, some with `OPENSSL_ENABLE_SHA1_SIGNATURES=1`, and
//!   their baselines went through `TEST_DIFF_CANONIFIER` (`diff-remove-x509-names`), kept in
//!   `canonifier`; `ssl-log-ext`/`keyexchange` add policy columns (into `other`);
//!   `fragment.test` reads the gzipped `tls-fragmented-handshake.pcap.gz` via stdin;
//!   cluster tests (`log-caching-*cluster*`) read `ecdhe.pcap` twice (two workers) and
//!   dedupe or not depending on the script.
//!
//! # FoxIO JA4 (`ja4_expectations`)
//! `_derived/ja4_expected_rust_plus_python.tsv`, one row per stream with a `ja4` in the
//! reference Rust snapshot (streams without TLS, e.g. SSH/HTTP, are left out). Empty cell =
//! `None`; `ja4x` holds one value per certificate joined by `|`; the Python columns are
//! empty where the Python tool printed nothing (all QUIC streams but the Cloudflare ones,
//! and 3 TCP streams); where both exist they agree. The snapshot
//! `ja4__insta@gtp-iphone.pcap.snap` has no capture in `ja4/pcap/`.
//!
//! # Arkime (`arkime_expectations`)
//! `_derived/arkime_tls_sessions.tsv`: sessions that have `body.tls` or whose protocol list
//! has `quic` (so a session with `tls` in `protocol` but no `body.tls` is absent).
//! `protocols` is `,`-separated; `cert_serials`, `cert_sha1`, `cert_subjectCN` are
//! `|`-separated per certificate (`subjectCN` is itself a list per cert in the JSON, and a
//! cert without CN contributes nothing, so it may not align with `cert_serials`).
//! `firstPacket` is milliseconds. `host` is `body.http.host` (the SNI). Some `tls`
//! sessions have no ClientHello data at all (no ja3/ja4: `https2-301-get`, `pppoe`,
//! `socks4-https`); `cloudshark-dtls1` has a serial but no subject CN.
//!
//! # tshark (`tshark_tables`, `tshark_handshakes`)
//! `_derived/tshark-4.0.17/<source>/<capture path>.tsv`, one per capture, tab-separated with
//! a header line. Multi-valued fields use `|` (the `-E aggregator`), both for several
//! handshake messages in one frame (`2|11|12|14`) and several values in one message
//! (cipher suites, ALPN, serials); the JA3 strings use `,`/`-` internally. Numbers are hex
//! (`0x0303`). DTLS frames fill the `dtls.*` columns instead (`TsharkFrame::dtls`). Serials
//! are lowercase hex of the DER INTEGER content (leading `00` kept), unlike Zeek (uppercase,
//! no leading zero) and Arkime (lowercase, no leading zero). Non-UTF-8 bytes are replaced
//! (lossy). tshark repeats a ClientHello for retransmissions and reports the HRR as a
//! ServerHello (type 2). tshark 4.0.17 was run without out-of-order TCP reassembly: in
//! `zeek/Traces/tls/hrr.pcap` the real ServerHello sits in an out-of-order segment and is
//! missing (Zeek sees it). `zeek/Traces/tls/tls-fragmented-handshake.pcap.gz` (gzip) has no
//! table; `ja4/pcap/dtls-udp.notest.cap` has one (but no FoxIO snapshot).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

// ------------------------------------------------------------------------------------
// Common
// ------------------------------------------------------------------------------------

/// A log column value: column not in the file, column present but unset (`-`), or a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    /// The file has no such column.
    #[default]
    Absent,
    /// The column exists and holds Zeek's unset marker (`-`).
    Unset,
    /// The column holds a value.
    Value(T),
}

impl<T> Field<T> {
    /// The value, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    /// True when the file has no such column.
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    /// True when the column exists but is unset.
    pub fn is_unset(&self) -> bool {
        matches!(self, Field::Unset)
    }
}

fn at(file: &Path, line: usize, msg: impl std::fmt::Display) -> String {
    format!("{}:{}: {}", file.display(), line, msg)
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {}", path.display(), e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn opt(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

fn list(s: &str, sep: char) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(sep).map(str::to_string).collect()
    }
}

fn num<T: FromStr>(file: &Path, line: usize, col: &str, s: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| at(file, line, format!("column {col}: bad number {s:?}")))
}

fn opt_num<T: FromStr>(file: &Path, line: usize, col: &str, s: &str) -> Result<Option<T>, String> {
    if s.is_empty() {
        Ok(None)
    } else {
        num(file, line, col, s).map(Some)
    }
}

fn hex_u32(file: &Path, line: usize, col: &str, s: &str) -> Result<u32, String> {
    let t = s.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u32::from_str_radix(digits, 16)
        .map_err(|_| at(file, line, format!("column {col}: bad hex {s:?}")))
}

fn hex_u16(file: &Path, line: usize, col: &str, s: &str) -> Result<u16, String> {
    let v = hex_u32(file, line, col, s)?;
    u16::try_from(v).map_err(|_| at(file, line, format!("column {col}: {s:?} > 0xffff")))
}

/// A simple header-indexed tab-separated table.
struct Tsv {
    path: PathBuf,
    header: Vec<String>,
    /// (1-based line number, cells)
    rows: Vec<(usize, Vec<String>)>,
}

impl Tsv {
    fn load(path: &Path, required: &[&str]) -> Result<Tsv, String> {
        let text = read_text(path)?;
        let mut lines = text.lines().enumerate();
        let header: Vec<String> = match lines.next() {
            Some((_, h)) => h.split('\t').map(str::to_string).collect(),
            None => return Err(at(path, 1, "empty file, no header")),
        };
        for r in required {
            if !header.iter().any(|h| h == r) {
                return Err(at(path, 1, format!("header lacks column {r:?}")));
            }
        }
        let mut rows = Vec::new();
        for (i, l) in lines {
            if l.is_empty() {
                continue;
            }
            let cells: Vec<String> = l.split('\t').map(str::to_string).collect();
            if cells.len() != header.len() {
                return Err(at(
                    path,
                    i + 1,
                    format!("{} cells, header has {}", cells.len(), header.len()),
                ));
            }
            rows.push((i + 1, cells));
        }
        Ok(Tsv {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// Cell of `row` in column `col` ("" if the column is missing).
    fn get<'a>(&self, row: &'a [String], col: &str) -> &'a str {
        self.header
            .iter()
            .position(|h| h == col)
            .and_then(|i| row.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

// ------------------------------------------------------------------------------------
// Zeek
// ------------------------------------------------------------------------------------

/// One baseline file of one Zeek btest (or btest variant), derived from one kind of
/// log (`ssl.log`, `x509.log`, `quic.log`); `R` is that log's row type.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeekLog<R> {
    /// Test path under zeek's `testing/btest/`, e.g. `scripts/base/protocols/ssl/tls13.test`.
    pub test: String,
    /// 1 for the test itself, N for the btest `@TEST-START-NEXT` variant in `<dir>-N`.
    pub variant: u32,
    /// Absolute paths of the traces whose output went into this baseline, in run order.
    pub traces: Vec<PathBuf>,
    /// Absolute paths of all traces the test reads, in run order.
    pub test_traces: Vec<PathBuf>,
    /// Absolute path of the baseline file.
    pub baseline: PathBuf,
    /// The exec lines (zeek runs, cut commands, diff line) that produced the baseline.
    pub commands: Vec<String>,
    /// `TEST_DIFF_CANONIFIER` applied before diffing, if any.
    pub canonifier: Option<String>,
    /// Rows in file order.
    pub rows: Vec<R>,
}

/// One `ssl.log` baseline.
pub type ZeekTest = ZeekLog<ZeekSslRow>;
/// One `x509.log` baseline.
pub type ZeekX509Test = ZeekLog<ZeekX509Row>;
/// One `quic.log` baseline.
pub type ZeekQuicTest = ZeekLog<ZeekQuicRow>;

/// One row of a Zeek `ssl.log` (or a cut of it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZeekSslRow {
    /// 1-based line in the baseline file.
    pub line: usize,
    /// Index of the header block (run) this row is in; 0 for headerless files.
    pub segment: usize,
    /// Trace of that run, when attributable (see module docs).
    pub trace: Option<PathBuf>,
    /// Last `#file <name>` marker seen before the row (only `ssl-log-ext`).
    pub file_marker: Option<String>,
    pub uid: Field<String>,
    pub orig_h: Field<String>,
    pub orig_p: Field<u16>,
    pub resp_h: Field<String>,
    pub resp_p: Field<u16>,
    pub version: Field<String>,
    pub cipher: Field<String>,
    pub curve: Field<String>,
    pub server_name: Field<String>,
    pub resumed: Field<bool>,
    pub last_alert: Field<String>,
    pub next_protocol: Field<String>,
    pub established: Field<bool>,
    pub ssl_history: Field<String>,
    pub cert_chain_fps: Field<Vec<String>>,
    pub client_cert_chain_fps: Field<Vec<String>>,
    pub sni_matches_cert: Field<bool>,
    pub validation_status: Field<String>,
    /// Every other column except `ts`, raw as written.
    pub other: BTreeMap<String, String>,
}

/// One row of a Zeek `quic.log` (or a cut of it). Connection IDs are lowercase hex;
/// an empty ID is `(empty)` in the file, so `Value("")` here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZeekQuicRow {
    pub line: usize,
    pub segment: usize,
    pub trace: Option<PathBuf>,
    pub uid: Field<String>,
    pub orig_h: Field<String>,
    pub orig_p: Field<u16>,
    pub resp_h: Field<String>,
    pub resp_p: Field<u16>,
    /// `1`, `quicv2`, or `unknown-<hex>` (`QUIC::version_strings`).
    pub version: Field<String>,
    pub client_initial_dcid: Field<String>,
    pub client_scid: Field<String>,
    pub server_scid: Field<String>,
    pub server_name: Field<String>,
    /// First ALPN value the client offered.
    pub client_protocol: Field<String>,
    /// Packet-type letters (`I` Initial, `S` ClientHello, `s` ServerHello, `r` Retry,
    /// ...; lowercase = responder).
    pub history: Field<String>,
    pub other: BTreeMap<String, String>,
}

/// One row of a Zeek `x509.log`. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZeekX509Row {
    pub line: usize,
    pub segment: usize,
    pub trace: Option<PathBuf>,
    pub fingerprint: Field<String>,
    pub version: Field<u32>,
    pub serial: Field<String>,
    pub subject: Field<String>,
    pub issuer: Field<String>,
    pub not_valid_before: Field<f64>,
    pub not_valid_after: Field<f64>,
    pub key_alg: Field<String>,
    pub sig_alg: Field<String>,
    pub key_type: Field<String>,
    pub key_length: Field<u32>,
    pub exponent: Field<String>,
    pub curve: Field<String>,
    pub tbs_sig_alg: Field<String>,
    pub san_dns: Field<Vec<String>>,
    pub san_uri: Field<Vec<String>>,
    pub san_email: Field<Vec<String>>,
    pub san_ip: Field<Vec<String>>,
    pub basic_constraints_ca: Field<bool>,
    pub basic_constraints_path_len: Field<u32>,
    pub host_cert: Field<bool>,
    pub client_cert: Field<bool>,
    pub other: BTreeMap<String, String>,
}

/// Undo Zeek's ASCII-writer escaping: `\\` -> `\`, `\xHH` -> byte (then lossy UTF-8).
pub fn zeek_unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            match b.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                Some(b'x') => {
                    let hex = b
                        .get(i + 2..i + 4)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Columns that are containers, for files whose types are unknown (cut files).
const ZEEK_CONTAINER_COLUMNS: &[&str] = &[
    "cert_chain_fps",
    "client_cert_chain_fps",
    "san.dns",
    "san.uri",
    "san.email",
    "san.ip",
];

/// A parsed row of any Zeek log: column -> (raw value, is container).
#[derive(Debug)]
struct ZeekRawRow {
    line: usize,
    segment: usize,
    marker: Option<String>,
    set_sep: String,
    empty: String,
    unset: String,
    cols: Vec<(String, String, bool)>,
}

fn decode_sep(s: &str) -> String {
    zeek_unescape(s.trim())
}

/// Parse a Zeek log / cut file. `cut_cols` gives the columns of a headerless file;
/// `plain_header` says the first non-comment line holds the column names.
fn parse_zeek_log(
    path: &Path,
    cut_cols: Option<&[String]>,
    plain_header: bool,
) -> Result<(Vec<ZeekRawRow>, usize), String> {
    let text = read_text(path)?;
    let mut sep = "\t".to_string();
    let mut set_sep = ",".to_string();
    let mut empty = "(empty)".to_string();
    let mut unset = "-".to_string();
    let mut fields: Option<Vec<String>> = None;
    let mut types: Option<Vec<String>> = None;
    let mut segments = 0usize;
    let mut marker: Option<String> = None;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let ln = i + 1;
        if line.starts_with("###") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let (key, val) = match rest.find([' ', '\t']) {
                Some(p) => (rest.get(..p).unwrap_or(""), rest.get(p + 1..).unwrap_or("")),
                None => (rest, ""),
            };
            match key {
                "separator" => {
                    sep = decode_sep(val);
                    if sep.is_empty() {
                        return Err(at(path, ln, "empty #separator"));
                    }
                }
                "set_separator" => set_sep = decode_sep(val),
                "empty_field" => empty = val.to_string(),
                "unset_field" => unset = val.to_string(),
                "fields" => {
                    fields = Some(val.split(sep.as_str()).map(str::to_string).collect());
                    types = None;
                    segments += 1;
                }
                "types" => types = Some(val.split(sep.as_str()).map(str::to_string).collect()),
                "file" => marker = Some(val.trim().to_string()),
                _ => {}
            }
            continue;
        }
        let cells: Vec<&str> = line.split(sep.as_str()).collect();
        if fields.is_none() {
            if plain_header {
                fields = Some(cells.iter().map(|c| c.to_string()).collect());
                // `zeek-cut -m` without columns prints them all; a requested column
                // the log lacks gets an empty name (`discarded-packet`'s
                // `service_name`).
                let agrees = |cc: &[String]| {
                    cc.is_empty()
                        || (cc.len() == cells.len()
                            && cc.iter().zip(&cells).all(|(c, h)| h.is_empty() || c == h))
                };
                if let Some(cc) = cut_cols.filter(|cc| !agrees(cc)) {
                    return Err(at(
                        path,
                        ln,
                        format!("header {line:?} differs from cut {cc:?}"),
                    ));
                }
                continue;
            }
            match cut_cols {
                Some(cc) => fields = Some(cc.to_vec()),
                None => return Err(at(path, ln, "data row before any header")),
            }
        }
        let f = fields.as_deref().unwrap_or(&[]);
        if cells.len() != f.len() {
            return Err(at(
                path,
                ln,
                format!("{} cells, header has {}", cells.len(), f.len()),
            ));
        }
        let cols = f
            .iter()
            .enumerate()
            .zip(cells.iter())
            .map(|((k, name), v)| {
                let container = match types.as_ref().and_then(|t| t.get(k)) {
                    Some(t) => t.starts_with("vector[") || t.starts_with("set["),
                    None => ZEEK_CONTAINER_COLUMNS.contains(&name.as_str()),
                };
                (name.clone(), v.to_string(), container)
            })
            .collect();
        rows.push(ZeekRawRow {
            line: ln,
            segment: segments.saturating_sub(1),
            marker: marker.clone(),
            set_sep: set_sep.clone(),
            empty: empty.clone(),
            unset: unset.clone(),
            cols,
        });
    }
    Ok((rows, segments))
}

/// Typed access to one raw row; records which columns were consumed.
struct Cells<'a> {
    path: &'a Path,
    row: &'a ZeekRawRow,
    used: HashSet<&'static str>,
}

impl<'a> Cells<'a> {
    fn raw(&mut self, name: &'static str) -> Option<&'a (String, String, bool)> {
        self.used.insert(name);
        self.row.cols.iter().find(|c| c.0 == name)
    }
    fn string(&mut self, name: &'static str) -> Field<String> {
        match self.raw(name) {
            None => Field::Absent,
            Some((_, v, _)) if *v == self.row.unset => Field::Unset,
            Some((_, v, _)) if *v == self.row.empty => Field::Value(String::new()),
            Some((_, v, _)) => Field::Value(zeek_unescape(v)),
        }
    }
    fn parse<T: FromStr>(&mut self, name: &'static str) -> Result<Field<T>, String> {
        match self.string(name) {
            Field::Value(v) => v.parse::<T>().map(Field::Value).map_err(|_| {
                at(
                    self.path,
                    self.row.line,
                    format!("column {name}: bad value {v:?}"),
                )
            }),
            Field::Unset => Ok(Field::Unset),
            Field::Absent => Ok(Field::Absent),
        }
    }
    fn boolean(&mut self, name: &'static str) -> Result<Field<bool>, String> {
        match self.string(name) {
            Field::Value(v) => match v.as_str() {
                "T" => Ok(Field::Value(true)),
                "F" => Ok(Field::Value(false)),
                _ => Err(at(
                    self.path,
                    self.row.line,
                    format!("column {name}: bad bool {v:?}"),
                )),
            },
            Field::Unset => Ok(Field::Unset),
            Field::Absent => Ok(Field::Absent),
        }
    }
    fn vec(&mut self, name: &'static str) -> Field<Vec<String>> {
        match self.raw(name) {
            None => Field::Absent,
            Some((_, v, _)) if *v == self.row.unset => Field::Unset,
            Some((_, v, _)) if *v == self.row.empty => Field::Value(Vec::new()),
            Some((_, v, container)) => {
                if *container && !self.row.set_sep.is_empty() {
                    Field::Value(
                        v.split(self.row.set_sep.as_str())
                            .map(zeek_unescape)
                            .collect(),
                    )
                } else {
                    Field::Value(vec![zeek_unescape(v)])
                }
            }
        }
    }
    fn other(&self) -> BTreeMap<String, String> {
        self.row
            .cols
            .iter()
            .filter(|(n, _, _)| n != "ts" && !self.used.contains(n.as_str()))
            .map(|(n, v, _)| (n.clone(), v.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogKind {
    Ssl,
    X509,
    Quic,
}

/// The logs a Zeek run writes that a baseline may be derived from.
const LOG_FILES: [(LogKind, &str); 3] = [
    (LogKind::Ssl, "ssl.log"),
    (LogKind::X509, "x509.log"),
    (LogKind::Quic, "quic.log"),
];

/// Where a file in the btest sandbox came from.
#[derive(Debug, Clone)]
struct Prov {
    kind: LogKind,
    /// One entry per header segment: the traces feeding it.
    segments: Vec<Vec<String>>,
    commands: Vec<String>,
    cut: Option<Vec<String>>,
    cut_header: bool,
}

/// A baseline derived from an exec script.
#[derive(Debug, Clone)]
struct DerivedBaseline {
    file: String,
    prov: Prov,
    canonifier: Option<String>,
}

fn trace_in(line: &str) -> Option<String> {
    for pat in ["$TRACES/", "${TRACES}/"] {
        if let Some(p) = line.find(pat) {
            let rest = line.get(p + pat.len()..).unwrap_or("");
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .unwrap_or(rest.len());
            return rest.get(..end).map(str::to_string);
        }
    }
    None
}

/// Interpret a btest exec script; returns (all traces in read order, ssl/x509 baselines).
fn interpret_exec(exec: &[String]) -> (Vec<String>, Vec<DerivedBaseline>) {
    let mut files: HashMap<String, Prov> = HashMap::new();
    let mut reads: Vec<String> = Vec::new();
    let mut cluster: Vec<String> = Vec::new();
    let mut cluster_cmds: Vec<String> = Vec::new();
    let mut out = Vec::new();
    // `a && b` runs both; a `btest-bg-run` line keeps its quoted `&&` inside.
    let parts: Vec<String> = exec
        .iter()
        .flat_map(|l| {
            if l.trim_start().starts_with("btest-bg-run") {
                vec![l.clone()]
            } else {
                l.split("&&").map(|p| p.trim().to_string()).collect()
            }
        })
        .collect();
    for line in &parts {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let first = toks.first().copied().unwrap_or("");
        let is_zeek = toks
            .iter()
            .any(|t| *t == "zeek" || t.trim_start_matches('"') == "zeek");
        let canon = line
            .find("TEST_DIFF_CANONIFIER=\"")
            .and_then(|p| {
                let rest = line.get(p + "TEST_DIFF_CANONIFIER=\"".len()..)?;
                rest.find('"').and_then(|e| rest.get(..e))
            })
            .map(str::to_string);
        if is_zeek {
            let Some(t) = trace_in(line) else { continue };
            reads.push(t.clone());
            if first == "btest-bg-run" {
                cluster.push(t);
                cluster_cmds.push(line.clone());
                for (kind, name) in LOG_FILES {
                    files.insert(
                        format!("manager/{name}"),
                        Prov {
                            kind,
                            segments: vec![cluster.clone()],
                            commands: cluster_cmds.clone(),
                            cut: None,
                            cut_header: false,
                        },
                    );
                }
            } else {
                for (kind, name) in LOG_FILES {
                    files.insert(
                        name.to_string(),
                        Prov {
                            kind,
                            segments: vec![vec![t.clone()]],
                            commands: vec![line.clone()],
                            cut: None,
                            cut_header: false,
                        },
                    );
                }
            }
            continue;
        }
        let pos = |s: &str| toks.iter().position(|t| *t == s);
        match first {
            "cat" if toks.len() == 4 && !line.contains('|') => {
                let (src, op, dst) = (toks[1], toks[2], toks[3]);
                let Some(p) = files.get(src).cloned() else {
                    continue;
                };
                if op == ">" {
                    files.insert(dst.to_string(), p);
                } else if op == ">>" {
                    match files.get_mut(dst) {
                        Some(d) => {
                            d.segments.extend(p.segments);
                            d.commands.extend(p.commands);
                        }
                        None => {
                            files.insert(dst.to_string(), p);
                        }
                    }
                }
            }
            "cp" | "mv" if toks.len() >= 3 => {
                if toks.iter().any(|t| t.contains('*')) {
                    let dir = toks[toks.len() - 1];
                    let moved: Vec<String> = files
                        .keys()
                        .filter(|k| !k.contains('/') && k.ends_with("log"))
                        .cloned()
                        .collect();
                    for k in moved {
                        if let Some(p) = files.remove(&k) {
                            files.insert(format!("{dir}/{k}"), p);
                        }
                    }
                } else if toks.len() == 3 {
                    let Some(p) = files.get(toks[1]).cloned() else {
                        continue;
                    };
                    if first == "mv" {
                        files.remove(toks[1]);
                    }
                    files.insert(toks[2].to_string(), p);
                }
            }
            "zeek-cut" => {
                let (Some(lt), Some(gt)) = (pos("<"), pos(">")) else {
                    continue;
                };
                let (Some(src), Some(dst)) = (toks.get(lt + 1), toks.get(gt + 1)) else {
                    continue;
                };
                let Some(mut p) = files.get(*src).cloned() else {
                    continue;
                };
                let opts: Vec<&str> = toks[1..lt.min(gt)]
                    .iter()
                    .copied()
                    .filter(|t| t.starts_with('-'))
                    .collect();
                let cols: Vec<String> = toks[1..lt.min(gt)]
                    .iter()
                    .filter(|t| !t.starts_with('-'))
                    .map(|t| t.to_string())
                    .collect();
                p.cut = Some(cols);
                p.cut_header = opts.iter().any(|o| o.contains('m'));
                p.commands.push(line.clone());
                files.insert(dst.to_string(), p);
            }
            _ => {
                if let Some(i) = pos("btest-diff-cut") {
                    let args = &toks[i + 1..];
                    let Some(file) = args.last() else { continue };
                    let Some(mut p) = files.get(*file).cloned() else {
                        continue;
                    };
                    p.cut = Some(
                        args[..args.len() - 1]
                            .iter()
                            .filter(|t| !t.starts_with('-'))
                            .map(|t| t.to_string())
                            .collect(),
                    );
                    p.cut_header = args.iter().any(|t| t.starts_with('-') && t.contains('m'));
                    p.commands.push(line.clone());
                    out.push(DerivedBaseline {
                        file: file.replace('/', "."),
                        prov: p,
                        canonifier: canon,
                    });
                } else if let Some(i) = pos("btest-diff") {
                    let Some(file) = toks.get(i + 1) else {
                        continue;
                    };
                    let Some(mut p) = files.get(*file).cloned() else {
                        continue;
                    };
                    p.commands.push(line.clone());
                    out.push(DerivedBaseline {
                        file: file.replace('/', "."),
                        prov: p,
                        canonifier: canon,
                    });
                }
            }
        }
    }
    (reads, out)
}

/// `scripts/base/protocols/ssl/tls-1.2.test` -> `scripts.base.protocols.ssl.tls-1.2`.
fn btest_dir_name(test: &str) -> String {
    let (dir, file) = match test.rfind('/') {
        Some(p) => (
            test.get(..=p).unwrap_or(""),
            test.get(p + 1..).unwrap_or(""),
        ),
        None => ("", test),
    };
    let stem = match file.rfind('.') {
        Some(p) if p > 0 => file.get(..p).unwrap_or(file),
        _ => file,
    };
    format!("{dir}{stem}").replace('/', ".")
}

/// A derived baseline, resolved to a file on disk, before typing the rows.
struct ResolvedBaseline {
    test: String,
    variant: u32,
    traces: Vec<PathBuf>,
    test_traces: Vec<PathBuf>,
    baseline: PathBuf,
    commands: Vec<String>,
    canonifier: Option<String>,
    rows: Vec<ZeekRawRow>,
    /// Per row: attributed trace.
    row_traces: Vec<Option<PathBuf>>,
}

fn zeek_resolved(corpus: &Path, kind: LogKind) -> Result<Vec<ResolvedBaseline>, String> {
    let zeek = corpus.join("zeek");
    let index_path = zeek.join("INDEX.json");
    let text = read_text(&index_path)?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {}", index_path.display(), e))?;
    let tests = index
        .get("tests")
        .and_then(|t| t.as_array())
        .ok_or_else(|| format!("{}: no \"tests\" array", index_path.display()))?;
    let mut parsed: Vec<(String, Vec<String>)> = Vec::new();
    for (n, t) in tests.iter().enumerate() {
        let name = t
            .get("test")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{}: tests[{n}] has no \"test\"", index_path.display()))?;
        let exec = t
            .get("exec")
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("{}: tests[{n}] has no \"exec\"", index_path.display()))?
            .iter()
            .map(|l| l.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| format!("{}: tests[{n}].exec not strings", index_path.display()))?;
        parsed.push((name.to_string(), exec));
    }
    let dir_names: HashSet<String> = parsed.iter().map(|(t, _)| btest_dir_name(t)).collect();
    let baseline_root = zeek.join("Baseline");
    let mut variant_dirs: Vec<String> = Vec::new();
    if let Ok(rd) = fs::read_dir(&baseline_root) {
        for e in rd.flatten() {
            variant_dirs.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    variant_dirs.sort();
    let trace_path = |t: &str| zeek.join("Traces").join(t);
    let mut out = Vec::new();
    for (test, exec) in &parsed {
        let (reads, derived) = interpret_exec(exec);
        let dir = btest_dir_name(test);
        // The test's own dir plus `<dir>-N` variants that are not another test.
        let mut dirs: Vec<(String, u32)> = vec![(dir.clone(), 1)];
        for d in &variant_dirs {
            let variant = d
                .strip_prefix(&format!("{dir}-"))
                .filter(|_| !dir_names.contains(d))
                .and_then(|suffix| suffix.parse::<u32>().ok());
            if let Some(n) = variant {
                dirs.push((d.clone(), n));
            }
        }
        for b in derived.iter().filter(|b| b.prov.kind == kind) {
            for (d, variant) in &dirs {
                let baseline = baseline_root.join(d).join(&b.file);
                if !baseline.is_file() {
                    if *variant == 1 {
                        return Err(format!(
                            "{}: {test} diffs {} but {} is missing",
                            index_path.display(),
                            b.file,
                            baseline.display()
                        ));
                    }
                    continue;
                }
                let (rows, segments) =
                    parse_zeek_log(&baseline, b.prov.cut.as_deref(), b.prov.cut_header)?;
                let runs = &b.prov.segments;
                let row_traces = rows
                    .iter()
                    .map(|r| {
                        let seg = if segments == 0 && runs.len() == 1 {
                            runs.first()
                        } else if segments == runs.len() {
                            runs.get(r.segment)
                        } else {
                            None
                        };
                        match seg.map(|s| s.as_slice()) {
                            Some([one]) => Some(trace_path(one)),
                            _ => None,
                        }
                    })
                    .collect();
                out.push(ResolvedBaseline {
                    test: test.clone(),
                    variant: *variant,
                    traces: runs.iter().flatten().map(|t| trace_path(t)).collect(),
                    test_traces: reads.iter().map(|t| trace_path(t)).collect(),
                    baseline,
                    commands: b.prov.commands.clone(),
                    canonifier: b.canonifier.clone(),
                    rows,
                    row_traces,
                });
            }
        }
    }
    Ok(out)
}

/// Every baseline derived from `kind`'s log, each row typed by `row` (which reads the
/// columns it knows through [`Cells`]; the rest go to the row's `other`).
fn zeek_logs<R>(
    corpus: &Path,
    kind: LogKind,
    row: impl Fn(&mut Cells, &ZeekRawRow, Option<PathBuf>) -> Result<R, String>,
) -> Result<Vec<ZeekLog<R>>, String> {
    let mut out = Vec::new();
    for r in zeek_resolved(corpus, kind)? {
        let mut rows = Vec::new();
        for (raw, trace) in r.rows.iter().zip(r.row_traces.iter()) {
            let mut c = Cells {
                path: &r.baseline,
                row: raw,
                used: HashSet::new(),
            };
            rows.push(row(&mut c, raw, trace.clone())?);
        }
        out.push(ZeekLog {
            test: r.test,
            variant: r.variant,
            traces: r.traces,
            test_traces: r.test_traces,
            baseline: r.baseline,
            commands: r.commands,
            canonifier: r.canonifier,
            rows,
        });
    }
    Ok(out)
}

/// Every Zeek `ssl.log`-derived baseline (see module docs for the trace attribution rule).
pub fn zeek_ssl_expectations(corpus: &Path) -> Result<Vec<ZeekTest>, String> {
    zeek_logs(corpus, LogKind::Ssl, |c, raw, trace| {
        let mut row = ZeekSslRow {
            line: raw.line,
            segment: raw.segment,
            trace,
            file_marker: raw.marker.clone(),
            uid: c.string("uid"),
            orig_h: c.string("id.orig_h"),
            orig_p: c.parse("id.orig_p")?,
            resp_h: c.string("id.resp_h"),
            resp_p: c.parse("id.resp_p")?,
            version: c.string("version"),
            cipher: c.string("cipher"),
            curve: c.string("curve"),
            server_name: c.string("server_name"),
            resumed: c.boolean("resumed")?,
            last_alert: c.string("last_alert"),
            next_protocol: c.string("next_protocol"),
            established: c.boolean("established")?,
            ssl_history: c.string("ssl_history"),
            cert_chain_fps: c.vec("cert_chain_fps"),
            client_cert_chain_fps: c.vec("client_cert_chain_fps"),
            sni_matches_cert: c.boolean("sni_matches_cert")?,
            validation_status: c.string("validation_status"),
            other: BTreeMap::new(),
        };
        row.other = c.other();
        Ok(row)
    })
}

/// Every Zeek `x509.log`-derived baseline (same attribution rule as for `ssl.log`).
pub fn zeek_x509_expectations(corpus: &Path) -> Result<Vec<ZeekX509Test>, String> {
    zeek_logs(corpus, LogKind::X509, |c, raw, trace| {
        let mut row = ZeekX509Row {
            line: raw.line,
            segment: raw.segment,
            trace,
            fingerprint: c.string("fingerprint"),
            version: c.parse("certificate.version")?,
            serial: c.string("certificate.serial"),
            subject: c.string("certificate.subject"),
            issuer: c.string("certificate.issuer"),
            not_valid_before: c.parse("certificate.not_valid_before")?,
            not_valid_after: c.parse("certificate.not_valid_after")?,
            key_alg: c.string("certificate.key_alg"),
            sig_alg: c.string("certificate.sig_alg"),
            key_type: c.string("certificate.key_type"),
            key_length: c.parse("certificate.key_length")?,
            exponent: c.string("certificate.exponent"),
            curve: c.string("certificate.curve"),
            tbs_sig_alg: c.string("certificate.tbs_sig_alg"),
            san_dns: c.vec("san.dns"),
            san_uri: c.vec("san.uri"),
            san_email: c.vec("san.email"),
            san_ip: c.vec("san.ip"),
            basic_constraints_ca: c.boolean("basic_constraints.ca")?,
            basic_constraints_path_len: c.parse("basic_constraints.path_len")?,
            host_cert: c.boolean("host_cert")?,
            client_cert: c.boolean("client_cert")?,
            other: BTreeMap::new(),
        };
        row.other = c.other();
        Ok(row)
    })
}

/// Every Zeek `quic.log`-derived baseline (same attribution rule as for `ssl.log`).
pub fn zeek_quic_expectations(corpus: &Path) -> Result<Vec<ZeekQuicTest>, String> {
    zeek_logs(corpus, LogKind::Quic, |c, raw, trace| {
        let mut row = ZeekQuicRow {
            line: raw.line,
            segment: raw.segment,
            trace,
            uid: c.string("uid"),
            orig_h: c.string("id.orig_h"),
            orig_p: c.parse("id.orig_p")?,
            resp_h: c.string("id.resp_h"),
            resp_p: c.parse("id.resp_p")?,
            version: c.string("version"),
            client_initial_dcid: c.string("client_initial_dcid"),
            client_scid: c.string("client_scid"),
            server_scid: c.string("server_scid"),
            server_name: c.string("server_name"),
            client_protocol: c.string("client_protocol"),
            history: c.string("history"),
            other: BTreeMap::new(),
        };
        row.other = c.other();
        Ok(row)
    })
}

/// One row of `zeek/TRACE_TO_BASELINE.tsv`, raw (see module docs for why it is not used
/// to attribute traces).
#[derive(Debug, Clone, PartialEq)]
pub struct ZeekTraceToBaseline {
    pub trace: PathBuf,
    pub test: String,
    pub traces_in_test: u32,
    /// Absolute baseline paths.
    pub baselines: Vec<PathBuf>,
}

/// Load `zeek/TRACE_TO_BASELINE.tsv`.
pub fn zeek_trace_to_baseline(corpus: &Path) -> Result<Vec<ZeekTraceToBaseline>, String> {
    let zeek = corpus.join("zeek");
    let t = Tsv::load(
        &zeek.join("TRACE_TO_BASELINE.tsv"),
        &["trace", "test", "traces_in_test", "baselines"],
    )?;
    let mut out = Vec::new();
    for (ln, row) in &t.rows {
        out.push(ZeekTraceToBaseline {
            trace: zeek.join(t.get(row, "trace")),
            test: t.get(row, "test").to_string(),
            traces_in_test: num(&t.path, *ln, "traces_in_test", t.get(row, "traces_in_test"))?,
            baselines: list(t.get(row, "baselines"), ',')
                .into_iter()
                .map(|b| zeek.join(b))
                .collect(),
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------
// FoxIO JA4
// ------------------------------------------------------------------------------------

/// One stream of FoxIO's reference output (Rust snapshot plus Python raw strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Ja4Row {
    /// Absolute capture path.
    pub pcap: PathBuf,
    /// Capture path relative to the corpus root, as in the TSV.
    pub pcap_rel: String,
    pub stream: u64,
    /// `tcp` or `udp` (QUIC).
    pub transport: String,
    pub src: String,
    pub src_port: u16,
    pub dst: String,
    pub dst_port: u16,
    pub sni: Option<String>,
    pub ja4: Option<String>,
    pub ja4s: Option<String>,
    /// One JA4X per certificate, chain order.
    pub ja4x: Vec<String>,
    pub py_ja4: Option<String>,
    pub py_ja4_r: Option<String>,
    pub py_ja4_o: Option<String>,
    pub py_ja4_ro: Option<String>,
    pub py_ja4s: Option<String>,
    pub py_ja4s_r: Option<String>,
}

/// Load `_derived/ja4_expected_rust_plus_python.tsv`.
pub fn ja4_expectations(corpus: &Path) -> Result<Vec<Ja4Row>, String> {
    let cols = [
        "pcap",
        "stream",
        "transport",
        "src",
        "src_port",
        "dst",
        "dst_port",
        "sni",
        "ja4",
        "ja4s",
        "ja4x",
        "py_ja4",
        "py_ja4_r",
        "py_ja4_o",
        "py_ja4_ro",
        "py_ja4s",
        "py_ja4s_r",
    ];
    let t = Tsv::load(
        &corpus.join("_derived/ja4_expected_rust_plus_python.tsv"),
        &cols,
    )?;
    let mut out = Vec::new();
    for (ln, r) in &t.rows {
        let g = |c: &str| t.get(r, c);
        let pcap_rel = g("pcap").to_string();
        if pcap_rel.is_empty() {
            return Err(at(&t.path, *ln, "empty pcap"));
        }
        out.push(Ja4Row {
            pcap: corpus.join(&pcap_rel),
            pcap_rel,
            stream: num(&t.path, *ln, "stream", g("stream"))?,
            transport: g("transport").to_string(),
            src: g("src").to_string(),
            src_port: num(&t.path, *ln, "src_port", g("src_port"))?,
            dst: g("dst").to_string(),
            dst_port: num(&t.path, *ln, "dst_port", g("dst_port"))?,
            sni: opt(g("sni")),
            ja4: opt(g("ja4")),
            ja4s: opt(g("ja4s")),
            ja4x: list(g("ja4x"), '|'),
            py_ja4: opt(g("py_ja4")),
            py_ja4_r: opt(g("py_ja4_r")),
            py_ja4_o: opt(g("py_ja4_o")),
            py_ja4_ro: opt(g("py_ja4_ro")),
            py_ja4s: opt(g("py_ja4s")),
            py_ja4s_r: opt(g("py_ja4s_r")),
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------
// Arkime
// ------------------------------------------------------------------------------------

/// One Arkime session with TLS (or QUIC) information.
#[derive(Debug, Clone, PartialEq)]
pub struct ArkimeRow {
    pub pcap: PathBuf,
    pub pcap_rel: String,
    pub src: String,
    pub sport: u16,
    pub dst: String,
    pub dport: u16,
    /// Arkime's protocol tags (`tcp`, `tls`, `quic`, ...).
    pub protocols: Vec<String>,
    /// First packet time, milliseconds since the epoch.
    pub first_packet_ms: u64,
    /// e.g. `TLSv1.2`.
    pub version: Option<String>,
    /// IANA-style cipher name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher: Option<String>,
    pub ja3: Option<String>,
    pub ja3string: Option<String>,
    pub ja3s: Option<String>,
    pub ja3sstring: Option<String>,
    pub ja4: Option<String>,
    pub ja4_r: Option<String>,
    /// SNI (Arkime's `http.host`).
    pub host: Option<String>,
    pub quic_host: Option<String>,
    pub quic_version: Option<String>,
    /// Lowercase hex, no leading zeros byte, chain order.
    pub cert_serials: Vec<String>,
    /// Colon-separated lowercase hex SHA-1 per certificate.
    pub cert_sha1: Vec<String>,
    /// Subject CNs (flattened over certificates; may not align with `cert_serials`).
    pub cert_subject_cn: Vec<String>,
}

/// How an Arkime session carries TLS, which decides the fields Arkime fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArkimeTls {
    /// TLS over TCP (`tls.c`): every field.
    Tcp,
    /// IETF QUIC (`quic.c`): Arkime decrypts only the client's Initial, so it has the
    /// ClientHello's SNI (`http.host`), JA3 and JA4, never version, cipher or JA3S.
    Quic,
    /// DTLS (`dtls.c`): JA4 of the ClientHello and the server's certificates only.
    Dtls,
}

impl ArkimeTls {
    /// The compared fields Arkime fills for this carrier (names as in the tests:
    /// `sni` is `host`, `ja3string`/`ja3sstring` the JA3 strings).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            ArkimeTls::Tcp => &[
                "version",
                "cipher",
                "sni",
                "cert_serials",
                "ja3",
                "ja3string",
                "ja3s",
                "ja3sstring",
                "ja4",
                "ja4_r",
            ],
            ArkimeTls::Quic => &["sni", "ja3", "ja3string", "ja4", "ja4_r"],
            ArkimeTls::Dtls => &["cert_serials", "ja4", "ja4_r"],
        }
    }
}

impl ArkimeRow {
    /// How the session carries TLS; `None` when it carries none: Google QUIC (`Q0xx`
    /// versions, QUIC-crypto handshake, only `quic_host`), Facebook's `fbzero`, and
    /// other UDP protocols (IKE, OpenVPN over UDP).
    pub fn tls(&self) -> Option<ArkimeTls> {
        let has = |p: &str| self.protocols.iter().any(|x| x == p);
        let gquic = self
            .quic_version
            .as_deref()
            .is_some_and(|v| v.starts_with('Q'));
        if has("fbzero") || gquic {
            None
        } else if has("quic") {
            Some(ArkimeTls::Quic)
        } else if has("dtls") {
            Some(ArkimeTls::Dtls)
        } else if has("udp") {
            None
        } else {
            Some(ArkimeTls::Tcp)
        }
    }
}

/// Load `_derived/arkime_tls_sessions.tsv`.
pub fn arkime_expectations(corpus: &Path) -> Result<Vec<ArkimeRow>, String> {
    let cols = [
        "pcap",
        "src",
        "sport",
        "dst",
        "dport",
        "protocols",
        "firstPacket",
        "version",
        "cipher",
        "ja3",
        "ja3string",
        "ja3s",
        "ja3sstring",
        "ja4",
        "ja4_r",
        "host",
        "quic_host",
        "quic_version",
        "cert_serials",
        "cert_sha1",
        "cert_subjectCN",
    ];
    let t = Tsv::load(&corpus.join("_derived/arkime_tls_sessions.tsv"), &cols)?;
    let mut out = Vec::new();
    for (ln, r) in &t.rows {
        let g = |c: &str| t.get(r, c);
        let pcap_rel = g("pcap").to_string();
        if pcap_rel.is_empty() {
            return Err(at(&t.path, *ln, "empty pcap"));
        }
        out.push(ArkimeRow {
            pcap: corpus.join(&pcap_rel),
            pcap_rel,
            src: g("src").to_string(),
            sport: num(&t.path, *ln, "sport", g("sport"))?,
            dst: g("dst").to_string(),
            dport: num(&t.path, *ln, "dport", g("dport"))?,
            protocols: list(g("protocols"), ','),
            first_packet_ms: num(&t.path, *ln, "firstPacket", g("firstPacket"))?,
            version: opt(g("version")),
            cipher: opt(g("cipher")),
            ja3: opt(g("ja3")),
            ja3string: opt(g("ja3string")),
            ja3s: opt(g("ja3s")),
            ja3sstring: opt(g("ja3sstring")),
            ja4: opt(g("ja4")),
            ja4_r: opt(g("ja4_r")),
            host: opt(g("host")),
            quic_host: opt(g("quic_host")),
            quic_version: opt(g("quic_version")),
            cert_serials: list(g("cert_serials"), '|'),
            cert_sha1: list(g("cert_sha1"), '|'),
            cert_subject_cn: list(g("cert_subjectCN"), '|'),
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------
// tshark
// ------------------------------------------------------------------------------------

/// tshark's per-frame fields for one capture.
#[derive(Debug, Clone, PartialEq)]
pub struct TsharkCapture {
    /// Absolute capture path (`<corpus>/<source>/<path>`).
    pub capture: PathBuf,
    /// Capture path relative to the corpus root.
    pub capture_rel: String,
    /// Absolute path of the TSV.
    pub tsv: PathBuf,
    /// All frames tshark printed (every frame of the capture), in frame order.
    pub frames: Vec<TsharkFrame>,
}

/// One frame; handshake fields come from `tls.*`, or from `dtls.*` when `dtls` is true.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TsharkFrame {
    pub frame: u64,
    pub ts: f64,
    /// `ip.src` or `ipv6.src` (empty for non-IP frames).
    pub src: String,
    pub dst: String,
    /// TCP or UDP source port.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub tcp_stream: Option<u64>,
    pub udp_stream: Option<u64>,
    /// QUIC versions of the (coalesced) QUIC packets in the frame.
    pub quic_versions: Vec<u32>,
    /// Handshake fields came from the DTLS dissector.
    pub dtls: bool,
    /// Handshake message types, in frame order.
    pub hs_types: Vec<u8>,
    /// `handshake.version` of each ClientHello/ServerHello in the frame.
    pub hs_version: Vec<u16>,
    pub sni: Option<String>,
    /// ClientHello: offered suites; ServerHello: the chosen one.
    pub ciphersuites: Vec<u16>,
    pub supported_versions: Vec<u16>,
    pub alpn: Vec<String>,
    pub ja3_full: Option<String>,
    pub ja3: Option<String>,
    pub ja3s_full: Option<String>,
    pub ja3s: Option<String>,
    /// Certificate serials (lowercase hex, DER leading `00` kept).
    pub serials: Vec<String>,
}

fn collect_tsv_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let rd = fs::read_dir(dir).map_err(|e| format!("{}: {}", dir.display(), e))?;
    for e in rd {
        let e = e.map_err(|e| format!("{}: {}", dir.display(), e))?;
        let p = e.path();
        if p.is_dir() {
            collect_tsv_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "tsv") {
            out.push(p);
        }
    }
    Ok(())
}

fn parse_tshark_frame(t: &Tsv, ln: usize, r: &[String]) -> Result<TsharkFrame, String> {
    let p = &t.path;
    let g = |c: &str| t.get(r, c);
    let hexes16 = |c: &str| -> Result<Vec<u16>, String> {
        list(g(c), '|')
            .iter()
            .map(|v| hex_u16(p, ln, c, v))
            .collect()
    };
    let tls_types = g("tls.handshake.type");
    let dtls = tls_types.is_empty() && !g("dtls.handshake.type").is_empty();
    let pre = if dtls { "dtls" } else { "tls" };
    let col = |s: &str| format!("{pre}.handshake.{s}");
    let hs_types = list(g(&col("type")), '|')
        .iter()
        .map(|v| num::<u8>(p, ln, "handshake.type", v))
        .collect::<Result<Vec<_>, _>>()?;
    // Tunnelled frames list every IP layer (`outer|inner`); the handshake is the
    // innermost one's.
    let first_nonempty = |a: &str, b: &str| -> String {
        let v = if g(a).is_empty() { g(b) } else { g(a) };
        v.rsplit('|').next().unwrap_or("").to_string()
    };
    let sport = match opt_num::<u16>(p, ln, "tcp.srcport", g("tcp.srcport"))? {
        Some(v) => Some(v),
        None => opt_num(p, ln, "udp.srcport", g("udp.srcport"))?,
    };
    let dport = match opt_num::<u16>(p, ln, "tcp.dstport", g("tcp.dstport"))? {
        Some(v) => Some(v),
        None => opt_num(p, ln, "udp.dstport", g("udp.dstport"))?,
    };
    Ok(TsharkFrame {
        frame: num(p, ln, "frame.number", g("frame.number"))?,
        ts: num(p, ln, "frame.time_epoch", g("frame.time_epoch"))?,
        src: first_nonempty("ip.src", "ipv6.src"),
        dst: first_nonempty("ip.dst", "ipv6.dst"),
        sport,
        dport,
        tcp_stream: opt_num(p, ln, "tcp.stream", g("tcp.stream"))?,
        udp_stream: opt_num(p, ln, "udp.stream", g("udp.stream"))?,
        quic_versions: list(g("quic.version"), '|')
            .iter()
            .map(|v| hex_u32(p, ln, "quic.version", v))
            .collect::<Result<_, _>>()?,
        dtls,
        hs_types,
        hs_version: list(g(&col("version")), '|')
            .iter()
            .map(|v| hex_u16(p, ln, "handshake.version", v))
            .collect::<Result<_, _>>()?,
        sni: opt(g(&col("extensions_server_name"))),
        ciphersuites: hexes16("tls.handshake.ciphersuite")?,
        supported_versions: hexes16("tls.handshake.extensions.supported_version")?,
        alpn: list(g("tls.handshake.extensions_alpn_str"), '|'),
        ja3_full: opt(g(&col("ja3_full"))),
        ja3: opt(g(&col("ja3"))),
        ja3s_full: opt(g(&col("ja3s_full"))),
        ja3s: opt(g(&col("ja3s"))),
        serials: list(g("x509af.serialNumber"), '|'),
    })
}

/// Load every `_derived/tshark-4.0.17/**.tsv`, sorted by capture path.
pub fn tshark_tables(corpus: &Path) -> Result<Vec<TsharkCapture>, String> {
    let root = corpus.join("_derived/tshark-4.0.17");
    let mut files = Vec::new();
    collect_tsv_files(&root, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .map_err(|_| format!("{}: outside {}", f.display(), root.display()))?
            .to_string_lossy()
            .into_owned();
        let capture_rel = rel
            .strip_suffix(".tsv")
            .ok_or_else(|| format!("{}: not a .tsv", f.display()))?
            .to_string();
        let t = Tsv::load(
            &f,
            &["frame.number", "frame.time_epoch", "tls.handshake.type"],
        )?;
        let frames = t
            .rows
            .iter()
            .map(|(ln, r)| parse_tshark_frame(&t, *ln, r))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(TsharkCapture {
            capture: corpus.join(&capture_rel),
            capture_rel,
            tsv: f,
            frames,
        });
    }
    Ok(out)
}

/// What carried a handshake, for grouping tshark's frames into conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// TLS over TCP: frames with a `tcp.stream` (also inside UDP tunnels).
    Tcp,
    /// QUIC or DTLS: frames with a `udp.stream` and no `tcp.stream`.
    Udp,
}

/// One TCP or UDP stream's TLS handshake as tshark saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TsharkTls {
    /// `tcp.stream` or `udp.stream`, by the carrier asked for.
    pub stream: u64,
    /// The hellos came from the DTLS dissector (`dtls.*` columns).
    pub dtls: bool,
    /// QUIC version of the first ClientHello's frame (first packet in it), QUIC only.
    pub quic_version: Option<u32>,
    /// Sender of the first ClientHello.
    pub client: String,
    pub client_port: u16,
    pub server: String,
    pub server_port: u16,
    /// Frame of the first ClientHello.
    pub client_hello_frame: u64,
    /// Number of ClientHello messages in the stream (retransmissions and the second
    /// ClientHello after a HelloRetryRequest count too).
    pub client_hellos: usize,
    pub ja3: Option<String>,
    pub ja3_full: Option<String>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub ch_ciphersuites: Vec<u16>,
    pub ch_supported_versions: Vec<u16>,
    pub ch_version: Option<u16>,
    /// Frame of the first ServerHello from the server side (a HelloRetryRequest counts).
    pub server_hello_frame: Option<u64>,
    pub server_hellos: usize,
    pub ja3s: Option<String>,
    pub ja3s_full: Option<String>,
    pub cipher: Option<u16>,
    /// supported_versions of the first ServerHello, else its legacy version.
    pub selected_version: Option<u16>,
    /// Serials from the first server frame carrying certificates.
    pub server_serials: Vec<String>,
}

/// Group a capture's handshake frames per `tcp.stream` (TLS over TCP) or `udp.stream`
/// (QUIC, DTLS); one record per stream that has a ClientHello, sorted by stream. tshark
/// has no `dtls.*` cipher, supported_versions or ALPN column, so for DTLS those stay
/// empty and `selected_version` is the ServerHello's legacy version.
pub fn tshark_handshakes(cap: &TsharkCapture, carrier: Carrier) -> Vec<TsharkTls> {
    let mut by_stream: BTreeMap<u64, Vec<&TsharkFrame>> = BTreeMap::new();
    for f in &cap.frames {
        let stream = match carrier {
            Carrier::Tcp => f.tcp_stream.filter(|_| !f.dtls),
            Carrier::Udp => f.udp_stream.filter(|_| f.tcp_stream.is_none()),
        };
        if let Some(s) = stream {
            by_stream.entry(s).or_default().push(f);
        }
    }
    let mut out = Vec::new();
    for (stream, mut frames) in by_stream {
        frames.sort_by_key(|f| f.frame);
        // A fragmented DTLS ClientHello shows type 1 on every fragment but its fields
        // only on the frame that completes it.
        let Some(ch) = frames
            .iter()
            .find(|f| f.hs_types.contains(&1) && (!f.dtls || !f.hs_version.is_empty()))
        else {
            continue;
        };
        let client = (ch.src.clone(), ch.sport.unwrap_or(0));
        let mut rec = TsharkTls {
            stream,
            dtls: ch.dtls,
            quic_version: ch.quic_versions.first().copied(),
            client: client.0.clone(),
            client_port: client.1,
            server: ch.dst.clone(),
            server_port: ch.dport.unwrap_or(0),
            client_hello_frame: ch.frame,
            client_hellos: 0,
            ja3: ch.ja3.clone(),
            ja3_full: ch.ja3_full.clone(),
            sni: ch.sni.clone(),
            alpn: ch.alpn.clone(),
            ch_ciphersuites: ch.ciphersuites.clone(),
            ch_supported_versions: ch.supported_versions.clone(),
            ch_version: ch.hs_version.first().copied(),
            ..TsharkTls::default()
        };
        for f in &frames {
            let from_client = f.src == client.0 && f.sport == Some(client.1);
            if from_client {
                rec.client_hellos += f.hs_types.iter().filter(|t| **t == 1).count();
                continue;
            }
            let shs = f.hs_types.iter().filter(|t| **t == 2).count();
            if shs > 0 && rec.server_hello_frame.is_none() {
                rec.server_hello_frame = Some(f.frame);
                rec.ja3s = f.ja3s.clone();
                rec.ja3s_full = f.ja3s_full.clone();
                rec.cipher = f.ciphersuites.first().copied();
                rec.selected_version = f
                    .supported_versions
                    .first()
                    .or(f.hs_version.first())
                    .copied();
            }
            rec.server_hellos += shs;
            if rec.server_serials.is_empty() && f.hs_types.contains(&11) {
                rec.server_serials = f.serials.clone();
            }
        }
        out.push(rec);
    }
    out
}

// ------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus root, or return from the test when it is absent outside CI.
    macro_rules! corpus {
        () => {
            match crate::support::corpus_root() {
                Some(p) => p,
                None => return,
            }
        };
    }

    fn find<'a>(all: &'a [ZeekTest], test: &str, file: &str) -> &'a ZeekTest {
        all.iter()
            .find(|t| t.test == test && t.variant == 1 && t.baseline.ends_with(file))
            .unwrap_or_else(|| panic!("no {test} {file}"))
    }

    fn s(v: &str) -> Field<String> {
        Field::Value(v.to_string())
    }

    #[test]
    fn unescape() {
        assert_eq!(zeek_unescape(r"a\\, b"), r"a\, b");
        assert_eq!(zeek_unescape(r"\x41\x09z"), "A\tz");
        assert_eq!(zeek_unescape(r"\x4"), r"\x4");
        assert_eq!(zeek_unescape("\\"), "\\");
        assert_eq!(
            btest_dir_name("scripts/base/protocols/ssl/tls-1.2.test"),
            "scripts.base.protocols.ssl.tls-1.2"
        );
    }

    #[test]
    fn exec_interpreter() {
        let exec: Vec<String> = [
            "zeek -b -r $TRACES/a.pcap %INPUT",
            "mkdir A && mv *log out A",
            "zeek -Cr ${TRACES}/b.pcap",
            "cat ssl.log > all.log",
            "zeek -r $TRACES/c.pcap x=3",
            "cat ssl.log >> all.log",
            "zeek-cut -m uid version < ssl.log > ssl.cut",
            "btest-diff A/ssl.log",
            "btest-diff all.log",
            "TEST_DIFF_CANONIFIER=\"x | y\" btest-diff ssl.cut",
            "btest-diff conn.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (reads, out) = interpret_exec(&exec);
        assert_eq!(reads, ["a.pcap", "b.pcap", "c.pcap"]);
        let ssl: Vec<_> = out.iter().filter(|b| b.prov.kind == LogKind::Ssl).collect();
        assert_eq!(ssl.len(), 3);
        assert_eq!(ssl[0].file, "A.ssl.log");
        assert_eq!(ssl[0].prov.segments, vec![vec!["a.pcap".to_string()]]);
        assert_eq!(ssl[1].prov.segments.len(), 2);
        assert_eq!(ssl[1].prov.segments[1], ["c.pcap"]);
        assert_eq!(
            ssl[2].prov.cut.as_deref(),
            Some(&["uid".to_string(), "version".to_string()][..])
        );
        assert!(ssl[2].prov.cut_header);
        assert_eq!(ssl[2].canonifier.as_deref(), Some("x | y"));
    }

    #[test]
    fn zeek_ssl_values() {
        let all = zeek_ssl_expectations(&corpus!()).unwrap();
        let z = corpus!().join("zeek/Traces");

        // tls13.test: 7 runs concatenated, hrr.pcap is the 6th.
        let t = find(&all, "scripts/base/protocols/ssl/tls13.test", "ssl-out.log");
        assert_eq!(t.traces.len(), 7);
        assert_eq!(t.rows.len(), 11);
        assert_eq!(t.traces[5], z.join("tls/hrr.pcap"));
        let hrr: Vec<_> = t
            .rows
            .iter()
            .filter(|r| r.trace.as_deref() == Some(&z.join("tls/hrr.pcap")))
            .collect();
        assert_eq!(hrr.len(), 1);
        assert_eq!(hrr[0].segment, 5);
        assert_eq!(hrr[0].orig_h, s("10.192.48.168"));
        assert_eq!(hrr[0].orig_p, Field::Value(63564));
        assert_eq!(hrr[0].resp_p, Field::Value(443));
        assert_eq!(hrr[0].version, s("TLSv13"));
        assert_eq!(hrr[0].cipher, s("TLS_AES_256_GCM_SHA384"));
        assert_eq!(hrr[0].curve, s("secp256r1"));
        assert_eq!(hrr[0].server_name, Field::Unset);
        assert_eq!(hrr[0].resumed, Field::Value(false));
        assert_eq!(hrr[0].established, Field::Value(true));
        assert_eq!(hrr[0].ssl_history, s("CjiICs"));
        assert_eq!(hrr[0].validation_status, Field::Absent);
        let last = t.rows.last().unwrap();
        assert_eq!(last.curve, s("X25519Kyber768Draft00"));
        assert_eq!(last.server_name, s("lh3.google.com"));
        assert_eq!(
            last.trace.as_deref(),
            Some(&*z.join("tls/chrome-1250-tls-x25519-kyber.pcap"))
        );

        // Per-trace prefix baselines.
        let t = find(
            &all,
            "scripts/base/protocols/mysql/encrypted-aws-rds.test",
            "tls-12.ssl.log",
        );
        assert_eq!(t.traces, vec![z.join("mysql/tls-12-amazon-rds.pcap")]);
        assert_eq!(t.test_traces.len(), 2);
        let t = find(
            &all,
            "scripts/base/protocols/mysql/encrypted-aws-rds.test",
            "tls-13.ssl.log",
        );
        assert_eq!(t.traces, vec![z.join("mysql/tls-13-amazon-rds.pcap")]);

        // Read order differs from the alphabetical INDEX order.
        let t = find(
            &all,
            "scripts/base/protocols/ssl/dtls-13.test",
            "ssl-all.log",
        );
        assert_eq!(
            t.traces,
            vec![
                z.join("tls/dtls13-wolfssl.pcap"),
                z.join("tls/dtls13-cid.pcap")
            ]
        );
        assert_eq!(t.rows.len(), 6);

        // Basic row with vectors.
        let t = find(&all, "scripts/base/protocols/ssl/basic.test", "ssl.log");
        let r = &t.rows[0];
        assert_eq!(r.server_name, s("ssl.gstatic.com"));
        assert_eq!(r.cert_chain_fps.value().map(Vec::len), Some(2));
        assert_eq!(r.client_cert_chain_fps, Field::Value(vec![]));
        assert_eq!(r.sni_matches_cert, Field::Value(true));

        // ssl-log-ext markers agree with attribution; extra columns in `other`.
        let t = find(
            &all,
            "scripts/policy/protocols/ssl/ssl-log-ext.zeek",
            "ssl-all.log",
        );
        assert_eq!(t.rows.len(), 12);
        for r in &t.rows {
            let name = r
                .trace
                .as_ref()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert_eq!(r.file_marker.as_deref(), Some(name.as_str()));
            assert!(r.other.contains_key("client_ciphers"));
        }

        // Cut file with header line, no id columns.
        let t = find(
            &all,
            "scripts/base/protocols/quic/fragmented-crypto.zeek",
            "ssl.log.cut",
        );
        assert_eq!(t.rows.len(), 1);
        assert!(t.rows[0].orig_h.is_absent());
        assert_eq!(t.rows[0].server_name, s("www.google.de"));
        assert_eq!(t.rows[0].uid, s("CHhAvVGS1DHFjwGM9"));

        // Headerless zeek-cut output; non-default option.
        let t = find(
            &all,
            "scripts/base/protocols/ssl/max-history-length.test",
            "ssl-max-history-length-3.log",
        );
        assert_eq!(t.rows[0].ssl_history, s("Csx"));
        assert!(t.rows[0].version.is_absent());
        assert!(t
            .commands
            .iter()
            .any(|c| c.contains("SSL::max_ssl_history_length=3")));

        // btest-diff-cut and .cut from zeek-cut -m.
        let t = find(
            &all,
            "scripts/policy/frameworks/analyzer/detect-protocols-violation-ssl-to-http.zeek",
            "ssl.log",
        );
        assert_eq!(t.rows[0].resp_p, Field::Value(80));
        assert!(t.rows[0].orig_p.is_absent());
        let t = find(
            &all,
            "scripts/base/protocols/postgresql/psql-aws-ssl-require.zeek",
            "ssl.cut",
        );
        assert!(t
            .baseline
            .ends_with("scripts.base.protocols.postgresql.psql-aws-ssl-require/ssl.cut"));
        assert_eq!(t.rows[0].resp_p, Field::Value(5432));

        // Variants and canonifier.
        let v: Vec<u32> = all
            .iter()
            .filter(|t| {
                t.test
                    .ends_with("disable-certificate-events-known-certs.zeek")
            })
            .map(|t| t.variant)
            .collect();
        assert_eq!(v, [1, 2, 3]);
        let t = find(
            &all,
            "scripts/policy/protocols/ssl/validate-certs.zeek",
            "ssl-all.log",
        );
        assert!(t
            .canonifier
            .as_deref()
            .unwrap()
            .contains("diff-remove-x509-names"));
        assert_eq!(t.rows[0].validation_status, s("certificate has expired"));
        assert_eq!(t.traces[0], z.join("tls/tls-expired-cert.pcap"));
    }

    #[test]
    fn zeek_ssl_all_attributed_and_complete() {
        let c = corpus!();
        let all = zeek_ssl_expectations(&c).unwrap();
        assert_eq!(all.len(), 67);
        assert_eq!(all.iter().map(|t| t.rows.len()).sum::<usize>(), 132);
        for t in &all {
            assert!(!t.rows.is_empty(), "{}", t.baseline.display());
            for r in &t.rows {
                assert!(r.trace.is_some(), "{}:{}", t.baseline.display(), r.line);
                assert!(r.trace.as_ref().unwrap().is_file(), "{:?}", r.trace);
            }
        }
        // Every ssl-named baseline listed by TRACE_TO_BASELINE is covered, and nothing else.
        let mut listed: Vec<PathBuf> = zeek_trace_to_baseline(&c)
            .unwrap()
            .into_iter()
            .flat_map(|r| r.baselines)
            .filter(|b| {
                let n = b.file_name().unwrap().to_string_lossy();
                n.contains("ssl") && !n.starts_with("weird")
            })
            .collect();
        listed.sort();
        listed.dedup();
        let mut got: Vec<PathBuf> = all.iter().map(|t| t.baseline.clone()).collect();
        got.sort();
        got.dedup();
        assert_eq!(got, listed);
    }

    #[test]
    fn zeek_x509_values() {
        let c = corpus!();
        let all = zeek_x509_expectations(&c).unwrap();
        assert_eq!(all.len(), 31);
        assert_eq!(all.iter().map(|t| t.rows.len()).sum::<usize>(), 84);
        let t = all
            .iter()
            .find(|t| t.test == "scripts/base/protocols/ssl/tls-1.2.test")
            .unwrap();
        let r = &t.rows[0];
        assert_eq!(
            r.fingerprint,
            s("95cb443934beda97627688546191ab1d3989a835592cebdd2434f9ad41324ce1")
        );
        assert_eq!(r.version, Field::Value(3));
        assert_eq!(r.serial, s("99FAA8037A4EB2FAEF84EB5E55D5B8C8"));
        assert_eq!(r.not_valid_before, Field::Value(1304467200.0));
        assert_eq!(r.not_valid_after, Field::Value(1467676799.0));
        assert_eq!(r.key_alg, s("rsaEncryption"));
        assert_eq!(r.sig_alg, s("sha1WithRSAEncryption"));
        assert_eq!(r.key_type, s("rsa"));
        assert_eq!(r.key_length, Field::Value(2048));
        assert_eq!(r.exponent, s("65537"));
        assert_eq!(r.curve, Field::Unset);
        assert_eq!(
            r.san_dns,
            Field::Value(vec!["*.taleo.net".into(), "taleo.net".into()])
        );
        assert_eq!(r.san_ip, Field::Unset);
        assert_eq!(r.basic_constraints_ca, Field::Value(false));
        assert_eq!(r.basic_constraints_path_len, Field::Unset);
        assert_eq!(r.host_cert, Field::Value(true));
        assert_eq!(r.client_cert, Field::Value(false));
        assert!(r.tbs_sig_alg.is_absent());
        assert_eq!(t.rows[1].basic_constraints_path_len, Field::Value(0));
        assert_eq!(
            r.trace.as_deref(),
            Some(&*c.join("zeek/Traces/tls/tls1.2.pcap"))
        );

        let t = all
            .iter()
            .find(|t| t.baseline.ends_with("tls-12.x509.log"))
            .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert!(t.rows[1]
            .subject
            .value()
            .unwrap()
            .contains("O=Amazon Web Services\\, Inc."));

        let t = all
            .iter()
            .find(|t| t.test == "scripts/base/files/x509/log-caching-cluster.test")
            .unwrap();
        assert_eq!(t.traces, vec![c.join("zeek/Traces/tls/ecdhe.pcap"); 2]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].serial, s("1E58FDC12DE4C703"));
        assert!(t.rows[0].trace.is_none(), "two workers feed one segment");
        let t = all
            .iter()
            .find(|t| t.test == "scripts/base/files/x509/tbs_sig_alg.test")
            .unwrap();
        assert!(matches!(t.rows[0].tbs_sig_alg, Field::Value(_)));
        let t = all
            .iter()
            .find(|t| t.test == "scripts/policy/protocols/ssl/log-certs-base64.zeek")
            .unwrap();
        assert!(t.rows[0].other.contains_key("cert"));
    }

    #[test]
    fn ja4_values() {
        let rows = ja4_expectations(&corpus!()).unwrap();
        assert_eq!(rows.len(), 202);
        assert_eq!(rows.iter().filter(|r| r.transport == "udp").count(), 51);
        let r = &rows[0];
        assert_eq!(r.pcap_rel, "ja4/pcap/badcurveball.pcap");
        assert!(r.pcap.is_file());
        assert_eq!(
            (r.src.as_str(), r.src_port, r.dst_port),
            ("172.130.128.76", 55318, 443)
        );
        assert_eq!(r.sni.as_deref(), Some("bad.curveballtest.com"));
        assert_eq!(
            r.ja4.as_deref(),
            Some("t13d1615h2_46e7e9700bed_45f260be83e2")
        );
        assert_eq!(r.ja4s.as_deref(), Some("t1205h1_c02b_845f7282a956"));
        assert_eq!(
            r.ja4x,
            [
                "2e9214a636bc_a373a9f83c6b_0e17604154c5",
                "2e9214a636bc_2e9214a636bc_795797892f9c"
            ]
        );
        assert_eq!(r.py_ja4.as_deref(), r.ja4.as_deref());
        assert!(rows.iter().all(|r| r.ja4.is_some() && r.pcap.is_file()));
    }

    /// Minimal reader of the insta YAML snapshots: (stream, sni, ja4) of items with a ja4.
    fn snapshot(capture: &str) -> Vec<(u64, Option<String>, String)> {
        let Some(root) = crate::support::corpus_root() else {
            return Vec::new();
        };
        let p = root.join(format!(
            "ja4/rust/ja4/src/snapshots/ja4__insta@{capture}.snap"
        ));
        let text = fs::read_to_string(p).unwrap();
        let mut out = Vec::new();
        let mut cur: Option<(u64, Option<String>, Option<String>)> = None;
        let mut flush = |c: Option<(u64, Option<String>, Option<String>)>| {
            if let Some((st, sni, Some(j))) = c {
                out.push((st, sni, j));
            }
        };
        for l in text.lines() {
            if let Some(v) = l.strip_prefix("- stream: ") {
                flush(cur.take());
                cur = Some((v.trim().parse().unwrap(), None, None));
            } else if let (Some(v), Some(c)) = (l.strip_prefix("  tls_server_name: "), cur.as_mut())
            {
                c.1 = Some(v.trim().to_string());
            } else if let (Some(v), Some(c)) = (l.strip_prefix("  ja4: "), cur.as_mut()) {
                c.2 = Some(v.trim().to_string());
            }
        }
        flush(cur);
        out
    }

    #[test]
    fn ja4_tsv_matches_snapshots() {
        let rows = ja4_expectations(&corpus!()).unwrap();
        for cap in [
            "tls3.pcapng",
            "latest.pcapng",
            "chrome-cloudflare-quic-with-secrets.pcapng",
            "tls-sni.pcapng",
            "ssh2.pcapng",
        ] {
            let snap = snapshot(cap);
            let tsv: Vec<_> = rows
                .iter()
                .filter(|r| r.pcap_rel == format!("ja4/pcap/{cap}"))
                .map(|r| (r.stream, r.sni.clone(), r.ja4.clone().unwrap()))
                .collect();
            assert!(!snap.is_empty(), "{cap}");
            assert_eq!(tsv, snap, "{cap}");
        }
    }

    #[test]
    fn arkime_values() {
        let rows = arkime_expectations(&corpus!()).unwrap();
        assert_eq!(rows.len(), 59);
        let r = rows
            .iter()
            .find(|r| r.pcap_rel.ends_with("/adb_synthetic.pcap"))
            .unwrap();
        assert!(r.pcap.is_file());
        assert_eq!(
            (r.src.as_str(), r.sport, r.dst.as_str(), r.dport),
            ("10.0.0.1", 40005, "10.0.0.2", 5555)
        );
        assert_eq!(r.protocols, ["adb", "tcp", "tls"]);
        assert_eq!(r.first_packet_ms, 1_000_000_008_640);
        assert_eq!(r.version.as_deref(), Some("TLSv1.2"));
        assert_eq!(
            r.ja3string.as_deref(),
            Some("771,49199-49200-156,0-43-13-10,29-23,")
        );
        assert_eq!(
            r.ja4.as_deref(),
            Some("t12d030400_13bac7b83268_c91bed236abd")
        );
        assert_eq!(r.host.as_deref(), Some("adb-device.local"));
        assert!(r.cert_serials.is_empty());
        let r = rows.iter().find(|r| r.sport == 49301).unwrap();
        assert_eq!(r.cert_serials, ["11223344"]);
        assert_eq!(r.cert_subject_cn, ["keyusage-certsign-only"]);
        assert_eq!(
            rows.iter()
                .filter(|r| r.pcap_rel.ends_with("/arkime_synthetic.pcap"))
                .count(),
            13
        );
    }

    #[test]
    fn arkime_tsv_matches_json() {
        let rows = arkime_expectations(&corpus!()).unwrap();
        for cap in [
            "socks-https-example",
            "badcurveball",
            "tls13",
            "openssl-tls1_2",
            "arkime_synthetic",
        ] {
            let p = corpus!().join(format!("arkime/tests/pcap/{cap}.test"));
            let v: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap();
            // The TSV holds sessions with `body.tls` or a `quic` protocol tag.
            let sessions: Vec<&serde_json::Value> = v["sessions3"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| &s["body"])
                .filter(|b| {
                    b.get("tls").is_some()
                        || b["protocol"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p == "quic")
                })
                .collect();
            let tsv: Vec<&ArkimeRow> = rows
                .iter()
                .filter(|r| r.pcap_rel == format!("arkime/tests/pcap/{cap}.pcap"))
                .collect();
            assert_eq!(tsv.len(), sessions.len(), "{cap}");
            for (r, b) in tsv.iter().zip(sessions) {
                assert_eq!(b["source"]["ip"].as_str(), Some(r.src.as_str()));
                assert_eq!(b["source"]["port"].as_u64(), Some(u64::from(r.sport)));
                assert_eq!(b["firstPacket"].as_u64(), Some(r.first_packet_ms));
                assert_eq!(b["tls"]["ja3"][0].as_str(), r.ja3.as_deref());
                assert_eq!(b["tls"]["ja4"][0].as_str(), r.ja4.as_deref());
                assert_eq!(b["tls"]["cipher"][0].as_str(), r.cipher.as_deref());
                assert_eq!(b["http"]["host"][0].as_str(), r.host.as_deref());
                let serials: Vec<String> = b["cert"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| c["serial"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(serials, r.cert_serials, "{cap}");
                let sha1: Vec<String> = b["cert"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| c["hash"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(sha1, r.cert_sha1, "{cap}");
            }
        }
    }

    #[test]
    fn zeek_quic_values() {
        let all = zeek_quic_expectations(&corpus!()).unwrap();
        let retry = all
            .iter()
            .find(|t| t.test.ends_with("quic-go_quic-go/retry.zeek"))
            .unwrap();
        assert!(retry.traces[0].ends_with("quic/interop/quic-go_quic-go/retry.pcap"));
        let r = &retry.rows;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].client_initial_dcid, s("4a8294bf9201d6cf"));
        assert_eq!(r[0].client_scid, s(""));
        assert_eq!(r[0].server_scid, Field::Unset);
        assert_eq!(r[0].history, s("ISr"));
        assert_eq!(r[1].server_scid, s("fc674735"));
        assert_eq!(r[1].client_protocol, s("hq-interop"));
        // `btest-diff-cut -m quic.log`: every column, under a plain header line.
        let dpd = all
            .iter()
            .find(|t| t.test.ends_with("quic/dpd-v2-custom-port.zeek"))
            .unwrap();
        assert_eq!(dpd.rows.len(), 1);
        assert_eq!(dpd.rows[0].version, s("quicv2"));
        assert_eq!(dpd.rows[0].resp_p, Field::Value(4433));
        // A cut without `id.*` columns.
        let cut = all
            .iter()
            .find(|t| {
                t.baseline.ends_with(
                    "scripts.base.protocols.quic.multiple-initial-fragmented-crypto/quic.log.cut",
                )
            })
            .unwrap();
        assert!(cut.rows[0].orig_h.is_absent());
        assert_eq!(cut.rows[0].server_name, s("googleads.g.doubleclick.net"));
    }

    #[test]
    fn tshark_values() {
        let caps = tshark_tables(&corpus!()).unwrap();
        assert_eq!(caps.len(), 244);
        assert_eq!(caps.iter().map(|c| c.frames.len()).sum::<usize>(), 804);
        for c in &caps {
            assert!(c.capture.is_file(), "{}", c.capture.display());
        }
        let c = caps
            .iter()
            .find(|c| c.capture_rel == "ja4/pcap/tls-alpn-h2.pcap")
            .unwrap();
        let ch = c.frames.iter().find(|f| f.frame == 4).unwrap();
        assert_eq!(ch.src, "2001:4998:ef83:14:8000::100d");
        assert_eq!(
            (ch.sport, ch.dport, ch.tcp_stream),
            (Some(64034), Some(443), Some(0))
        );
        assert_eq!(ch.hs_types, [1]);
        assert_eq!(ch.hs_version, [0x0303]);
        assert_eq!(ch.sni.as_deref(), Some("www.cloudflare.com"));
        assert_eq!(ch.ciphersuites.first(), Some(&0xc030));
        assert_eq!(ch.ciphersuites.last(), Some(&0x00ff));
        assert_eq!(ch.alpn, ["h2", "http/1.1"]);
        let sh = c.frames.iter().find(|f| f.frame == 6).unwrap();
        assert_eq!(sh.hs_types, [2]);
        assert_eq!(sh.ciphersuites, [0xcca9]);
        assert_eq!(sh.ja3s_full.as_deref(), Some("771,52393,0-65281-11-16"));
        assert_eq!(sh.ja3s.as_deref(), Some("7f76f3e952a1bc7d407366fafe1db7ed"));

        let c = caps
            .iter()
            .find(|c| c.capture_rel == "zeek/Traces/tls/tls1.2.pcap")
            .unwrap();
        let f = c.frames.iter().find(|f| f.frame == 8).unwrap();
        assert_eq!(f.hs_types, [11, 14]);
        assert_eq!(
            f.serials,
            [
                "0099faa8037a4eb2faef84eb5e55d5b8c8",
                "1690c329b6780607511f05b0344846cb",
                "01"
            ]
        );

        let c = caps
            .iter()
            .find(|c| c.capture_rel == "zeek/Traces/tls/dtls1_2.pcap")
            .unwrap();
        let f = c.frames.iter().find(|f| f.frame == 6).unwrap();
        assert!(f.dtls);
        assert_eq!(f.hs_types, [2, 11]);
        assert_eq!(f.hs_version, [0xfefd]);
        assert_eq!(f.ja3s.as_deref(), Some("953c1507994f72697446de4eff6e300b"));
        assert_eq!(f.udp_stream, Some(0));

        let c = caps
            .iter()
            .find(|c| c.capture_rel == "ja4/pcap/chrome-cloudflare-quic-with-secrets.pcapng")
            .unwrap();
        let f = c.frames.iter().find(|f| f.frame == 47).unwrap();
        assert_eq!(f.quic_versions, [1]);
        assert_eq!(f.supported_versions, [0x0304]);
        assert_eq!(f.alpn, ["h3"]);
    }

    #[test]
    fn tshark_grouping() {
        let caps = tshark_tables(&corpus!()).unwrap();
        let c = caps
            .iter()
            .find(|c| c.capture_rel == "ja4/pcap/tls-alpn-h2.pcap")
            .unwrap();
        let hs = tshark_handshakes(c, Carrier::Tcp);
        assert_eq!(hs.len(), 1);
        let h = &hs[0];
        assert_eq!(
            (h.client.as_str(), h.client_port, h.server_port),
            ("2001:4998:ef83:14:8000::100d", 64034, 443)
        );
        assert_eq!(
            (h.client_hello_frame, h.client_hellos, h.server_hello_frame),
            (4, 1, Some(6))
        );
        assert_eq!(h.sni.as_deref(), Some("www.cloudflare.com"));
        assert_eq!(h.cipher, Some(0xcca9));
        assert_eq!(h.selected_version, Some(0x0303));
        assert_eq!(h.ja3s.as_deref(), Some("7f76f3e952a1bc7d407366fafe1db7ed"));

        // HelloRetryRequest: two ClientHellos; tshark reports the HRR as the ServerHello.
        let c = caps
            .iter()
            .find(|c| c.capture_rel == "zeek/Traces/tls/hrr.pcap")
            .unwrap();
        let hs = tshark_handshakes(c, Carrier::Tcp);
        assert_eq!(hs.len(), 1);
        assert_eq!(hs[0].client, "10.192.48.168");
        assert_eq!(hs[0].client_port, 63564);
        assert_eq!(hs[0].client_hellos, 2);
        // The real ServerHello is in an out-of-order segment tshark does not reassemble.
        assert_eq!(hs[0].server_hellos, 1);
        assert_eq!(hs[0].selected_version, Some(0x0304));
        assert_eq!(hs[0].cipher, Some(0x1302));

        // Agrees with the JA4 reference on the TCP streams of a multi-stream capture (in order).
        let ja4 = ja4_expectations(&corpus!()).unwrap();
        let c = caps
            .iter()
            .find(|c| c.capture_rel == "ja4/pcap/tls-sni.pcapng")
            .unwrap();
        let hs = tshark_handshakes(c, Carrier::Tcp);
        let want: Vec<_> = ja4
            .iter()
            .filter(|r| r.pcap_rel == c.capture_rel && r.transport == "tcp")
            .map(|r| (r.src.clone(), r.src_port, r.sni.clone()))
            .collect();
        let got: Vec<_> = hs
            .iter()
            .map(|h| (h.client.clone(), h.client_port, h.sni.clone()))
            .collect();
        assert_eq!(got, want);

        // QUIC streams of the same capture: one per FoxIO udp stream, QUIC v1.
        let hs = tshark_handshakes(c, Carrier::Udp);
        let want: Vec<_> = ja4
            .iter()
            .filter(|r| r.pcap_rel == c.capture_rel && r.transport == "udp")
            .map(|r| (r.src.clone(), r.src_port, r.sni.clone(), Some(1)))
            .collect();
        let got: Vec<_> = hs
            .iter()
            .map(|h| {
                (
                    h.client.clone(),
                    h.client_port,
                    h.sni.clone(),
                    h.quic_version,
                )
            })
            .collect();
        assert_eq!(got, want);

        // DTLS: hellos from the `dtls.*` columns, no QUIC version.
        let c = caps
            .iter()
            .find(|c| c.capture_rel == "zeek/Traces/tls/dtls1_2.pcap")
            .unwrap();
        let hs = tshark_handshakes(c, Carrier::Udp);
        assert_eq!(hs.len(), 1);
        assert!(hs[0].dtls && hs[0].quic_version.is_none());
        assert_eq!((hs[0].client_port, hs[0].server_port), (60934, 4400));
        assert_eq!(hs[0].selected_version, Some(0xfefd));
        assert!(tshark_handshakes(c, Carrier::Tcp).is_empty());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let dir = std::env::temp_dir().join(format!("oracles-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("_derived")).unwrap();
        fs::write(dir.join("_derived/arkime_tls_sessions.tsv"), "pcap\tsrc\n").unwrap();
        let e = arkime_expectations(&dir).unwrap_err();
        assert!(e.contains("arkime_tls_sessions.tsv:1"), "{e}");
        let hdr = "pcap\tstream\ttransport\tsrc\tsrc_port\tdst\tdst_port\tsni\tja4\tja4s\tja4x\tpy_ja4\tpy_ja4_r\tpy_ja4_o\tpy_ja4_ro\tpy_ja4s\tpy_ja4s_r\n";
        let bad = "x\t0\ttcp\ta\t99999\tb\t1\t\t\t\t\t\t\t\t\t\t\n";
        fs::write(
            dir.join("_derived/ja4_expected_rust_plus_python.tsv"),
            format!("{hdr}{bad}"),
        )
        .unwrap();
        let e = ja4_expectations(&dir).unwrap_err();
        assert!(e.contains(":2:") && e.contains("src_port"), "{e}");
        fs::write(
            dir.join("_derived/ja4_expected_rust_plus_python.tsv"),
            format!("{hdr}x\t0\n"),
        )
        .unwrap();
        assert!(ja4_expectations(&dir).unwrap_err().contains(":2:"));
        let log = dir.join("x.log");
        fs::write(&log, "#separator \\x09\n#fields\ta\tb\nonly-one\n").unwrap();
        assert!(parse_zeek_log(&log, None, false)
            .unwrap_err()
            .contains("x.log:3"));
        fs::write(&log, "1\t2\n").unwrap();
        assert!(parse_zeek_log(&log, None, false).is_err());
        assert!(zeek_ssl_expectations(&dir).is_err());
        assert!(tshark_tables(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
