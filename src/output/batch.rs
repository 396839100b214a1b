//! Rows to Arrow record batches: the one place where the output schema is defined.
//!
//! Each table's columns are listed once, as `(name, nullable, array)` built from the
//! rows; the schema is whatever an empty slice of rows produces, so the column list can
//! never drift from the schema. Parquet and JSON lines are both written from these
//! batches (see `writer`), so the two formats cannot disagree either.
//!
//! Types are chosen for pipelines: timestamps are `Timestamp(µs, "UTC")`, wire code
//! points are unsigned integers of their wire width, lists are Arrow lists (Parquet
//! LIST), strings are UTF-8 (bytes that are not UTF-8 are replaced, lossy, with U+FFFD).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int64Array, ListBuilder, PrimitiveBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt16Array, UInt32Array, UInt8Array, UInt8Builder,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Field, Fields, Int64Type, Schema, SchemaRef, UInt16Type,
    UInt32Type, UInt8Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::certs::CertInfo;
use crate::row::HandshakeRow;
use crate::tls::names::{alert_name, cipher_name, group_name, version_name};

/// Version of the output schema; bumped on any incompatible change.
///
/// 2: 64-bit counts and ids are signed (`Int64`): Spark has no unsigned types and
/// reads Parquet's UINT_64 as `decimal(20,0)`, which every sum and join then has to
/// cast. No value tlstap writes comes near 2^63 (QUIC parameter ids are below 2^62;
/// an RSA exponent of 2^63 or more is written as null). Narrower unsigned columns
/// stay: every engine reads them exactly (Spark widens them).
pub const SCHEMA_VERSION: &str = "2";

/// Columns written with Parquet dictionary encoding: strings drawn from a small fixed
/// vocabulary (names of versions, ciphers, statuses, key types), where a dictionary
/// lets readers filter and group on codes. Every other column is written plain: on
/// per-connection values (times, ports, hashes, community IDs) a dictionary only
/// overflows and falls back, and on code-point lists ZSTD already takes out the
/// repetition. Measured on the dense bench corpus's 50,000 rows: dictionary on every
/// column took about 1.5x the encoding time and wrote a 28 % larger file than this.
pub const DICTIONARY_COLUMNS: &[&str] = &[
    "transport",
    "wrapper",
    "source_file",
    "version_name",
    "cipher_name",
    "group_name",
    "status",
    "validation_status",
    "key_type",
    "curve",
    "sig_alg",
];

/// One certificate row: parsed fields plus where it was seen.
#[derive(Debug, Clone)]
pub struct CertRow {
    pub info: CertInfo,
    pub first_seen_us: i64,
    pub seen_count: u64,
}

struct Cols {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Cols {
    fn new() -> Self {
        Cols {
            fields: Vec::new(),
            arrays: Vec::new(),
        }
    }

    fn add(&mut self, name: &str, nullable: bool, array: ArrayRef) {
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable));
        self.arrays.push(array);
    }

    fn finish(self) -> Result<RecordBatch, ArrowError> {
        let mut meta = std::collections::HashMap::new();
        meta.insert(
            "tlstap.schema_version".to_owned(),
            SCHEMA_VERSION.to_owned(),
        );
        let schema = Schema::new_with_metadata(self.fields, meta);
        RecordBatch::try_new(Arc::new(schema), self.arrays)
    }
}

fn ts<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(f)).with_timezone("UTC"))
}

fn string<'a, T>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter(rows.iter().map(f)))
}

fn u8s<T>(rows: &[T], f: impl Fn(&T) -> Option<u8>) -> ArrayRef {
    Arc::new(UInt8Array::from_iter(rows.iter().map(f)))
}

fn u16s<T>(rows: &[T], f: impl Fn(&T) -> Option<u16>) -> ArrayRef {
    Arc::new(UInt16Array::from_iter(rows.iter().map(f)))
}

fn u32s<T>(rows: &[T], f: impl Fn(&T) -> Option<u32>) -> ArrayRef {
    Arc::new(UInt32Array::from_iter(rows.iter().map(f)))
}

fn bools<T>(rows: &[T], f: impl Fn(&T) -> Option<bool>) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(rows.iter().map(f)))
}

/// A list column of wire code points; never null (an absent list is empty).
fn list_of<'a, T, P: ArrowPrimitiveType>(
    rows: &'a [T],
    f: impl Fn(&'a T) -> &'a [P::Native],
) -> ArrayRef {
    let mut b = ListBuilder::with_capacity(PrimitiveBuilder::<P>::new(), rows.len());
    for r in rows {
        b.values().append_slice(f(r));
        b.append(true);
    }
    Arc::new(b.finish())
}

fn list_u8<'a, T>(rows: &'a [T], f: impl Fn(&'a T) -> &'a [u8]) -> ArrayRef {
    list_of::<T, UInt8Type>(rows, f)
}

fn list_u16<'a, T>(rows: &'a [T], f: impl Fn(&'a T) -> &'a [u16]) -> ArrayRef {
    list_of::<T, UInt16Type>(rows, f)
}

fn list_u32<'a, T>(rows: &'a [T], f: impl Fn(&'a T) -> &'a [u32]) -> ArrayRef {
    list_of::<T, UInt32Type>(rows, f)
}

/// 64-bit values as a list of signed 64-bit integers (see [`SCHEMA_VERSION`]); a
/// value of 2^63 or more (none tlstap produces) saturates.
fn list_u64_as_i64<'a, T>(rows: &'a [T], f: impl Fn(&'a T) -> &'a [u64]) -> ArrayRef {
    let mut b = ListBuilder::with_capacity(PrimitiveBuilder::<Int64Type>::new(), rows.len());
    for r in rows {
        for &v in f(r) {
            b.values()
                .append_value(i64::try_from(v).unwrap_or(i64::MAX));
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A count as signed 64 bits (see [`SCHEMA_VERSION`]), saturating.
fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn list_str<'a, T, S: AsRef<str> + 'a>(rows: &'a [T], f: impl Fn(&'a T) -> &'a [S]) -> ArrayRef {
    let mut b = ListBuilder::with_capacity(StringBuilder::new(), rows.len());
    for r in rows {
        for s in f(r) {
            b.values().append_value(s.as_ref());
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Alerts as `list<struct<level: u8, description: u8, side: string,
/// description_name: string>>` (the name is null for a value no registry names).
fn alerts(rows: &[HandshakeRow]) -> ArrayRef {
    let fields = Fields::from(vec![
        Field::new("level", DataType::UInt8, false),
        Field::new("description", DataType::UInt8, false),
        Field::new("side", DataType::Utf8, false),
        Field::new("description_name", DataType::Utf8, true),
    ]);
    let mut b = ListBuilder::with_capacity(
        arrow::array::StructBuilder::from_fields(fields.clone(), 0),
        rows.len(),
    );
    for r in rows {
        let sb = b.values();
        for a in &r.hs.alerts {
            sb.field_builder::<UInt8Builder>(0)
                .expect("field 0 is u8")
                .append_value(a.level);
            sb.field_builder::<UInt8Builder>(1)
                .expect("field 1 is u8")
                .append_value(a.description);
            sb.field_builder::<StringBuilder>(2)
                .expect("field 2 is utf8")
                .append_value(if a.from_server { "server" } else { "client" });
            sb.field_builder::<StringBuilder>(3)
                .expect("field 3 is utf8")
                .append_option(alert_name(a.description));
            sb.append(true);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// The `handshakes` table for these rows.
pub fn handshakes_batch(rows: &[HandshakeRow]) -> Result<RecordBatch, ArrowError> {
    let mut c = Cols::new();
    fn ch(r: &HandshakeRow) -> Option<&crate::tls::model::ClientHello> {
        r.hs.client_hello.as_ref()
    }
    fn sh(r: &HandshakeRow) -> Option<&crate::tls::model::ServerHello> {
        r.hs.server_hello.as_ref()
    }
    static EMPTY16: [u16; 0] = [];
    static EMPTY8: [u8; 0] = [];

    c.add("ts", false, ts(rows, |r| Some(r.meta.ts_us)));
    c.add(
        "community_id",
        false,
        string(rows, |r| Some(r.meta.community_id.as_str())),
    );
    let ips: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.meta.src_ip.to_string(), r.meta.dst_ip.to_string()))
        .collect();
    c.add("src_ip", false, string(&ips, |p| Some(p.0.as_str())));
    c.add("src_port", false, u16s(rows, |r| Some(r.meta.src_port)));
    c.add("dst_ip", false, string(&ips, |p| Some(p.1.as_str())));
    c.add("dst_port", false, u16s(rows, |r| Some(r.meta.dst_port)));
    c.add("vlan", false, u32s(rows, |r| Some(r.meta.vlan)));
    c.add(
        "transport",
        false,
        string(rows, |r| Some(r.meta.transport.as_str())),
    );
    let encap: Vec<Vec<&'static str>> = rows
        .iter()
        .map(|r| r.meta.encap.names().collect())
        .collect();
    c.add("encap", false, list_str(&encap, |v| v.as_slice()));
    c.add("tunnel_id", true, u32s(rows, |r| r.meta.encap.tunnel_id));
    let outer: Vec<(Option<String>, Option<String>)> = rows
        .iter()
        .map(|r| {
            let e = &r.meta.encap;
            (
                e.outer_src.map(|a| a.to_string()),
                e.outer_dst.map(|a| a.to_string()),
            )
        })
        .collect();
    c.add("outer_src_ip", true, string(&outer, |o| o.0.as_deref()));
    c.add("outer_dst_ip", true, string(&outer, |o| o.1.as_deref()));
    c.add(
        "quic_version",
        true,
        u32s(rows, |r| r.quic.as_ref().map(|q| q.version)),
    );
    c.add(
        "quic_dcid",
        true,
        string(rows, |r| r.quic.as_ref().map(|q| q.dcid.as_str())),
    );
    c.add(
        "quic_scid",
        true,
        string(rows, |r| r.quic.as_ref().and_then(|q| q.scid.as_deref())),
    );
    c.add(
        "quic_client_scid",
        true,
        string(rows, |r| r.quic.as_ref().map(|q| q.client_scid.as_str())),
    );
    c.add(
        "quic_retry",
        true,
        bools(rows, |r| r.quic.as_ref().map(|q| q.retry)),
    );
    static EMPTY64: [u64; 0] = [];
    c.add(
        "quic_transport_params",
        false,
        list_u64_as_i64(rows, |r| {
            ch(r).map_or(&EMPTY64[..], |h| &h.quic_transport_params)
        }),
    );
    c.add(
        "dtls_cookie",
        true,
        bools(rows, |r| {
            (r.meta.transport == crate::flow::record::Transport::Dtls).then_some(r.hs.dtls_cookie)
        }),
    );
    c.add("wrapper", true, string(rows, |r| r.wrap.wrapper()));
    let proxy_ips: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.wrap.proxy_src.map(|a| a.ip().to_string()))
        .collect();
    c.add("proxy_src_ip", true, string(&proxy_ips, |p| p.as_deref()));
    c.add(
        "proxy_src_port",
        true,
        u16s(rows, |r| r.wrap.proxy_src.map(|a| a.port())),
    );
    c.add(
        "source_file",
        false,
        string(rows, |r| Some(&*r.meta.source_file)),
    );

    c.add(
        "client_version",
        true,
        u16s(rows, |r| ch(r).map(|h| h.version)),
    );
    c.add(
        "client_supported_versions",
        false,
        list_u16(rows, |r| {
            ch(r).map_or(&EMPTY16[..], |h| &h.supported_versions)
        }),
    );
    c.add("version", true, u16s(rows, |r| r.hs.version));
    c.add(
        "version_name",
        true,
        string(rows, |r| r.hs.version.map(version_name)),
    );
    c.add(
        "cipher_suites",
        false,
        list_u16(rows, |r| ch(r).map_or(&EMPTY16[..], |h| &h.cipher_suites)),
    );
    static EMPTY32: [u32; 0] = [];
    c.add(
        "sslv2_cipher_specs",
        false,
        list_u32(rows, |r| {
            ch(r).map_or(&EMPTY32[..], |h| &h.sslv2_cipher_specs)
        }),
    );
    // The ServerHello's suite, else a lone HelloRetryRequest's; never an SSLv2
    // SERVER-HELLO's (it lists 3-byte cipher specs). The name is of that same value.
    c.add("cipher", true, u16s(rows, |r| r.hs.committed_cipher()));
    c.add(
        "cipher_name",
        true,
        string(rows, |r| r.hs.committed_cipher().and_then(cipher_name)),
    );
    c.add(
        "compression_methods",
        false,
        list_u8(rows, |r| {
            ch(r).map_or(&EMPTY8[..], |h| &h.compression_methods)
        }),
    );
    c.add(
        "extensions",
        false,
        list_u16(rows, |r| ch(r).map_or(&EMPTY16[..], |h| &h.extensions)),
    );
    c.add(
        "server_extensions",
        false,
        list_u16(rows, |r| sh(r).map_or(&EMPTY16[..], |h| &h.extensions)),
    );
    c.add(
        "sni",
        true,
        string(rows, |r| ch(r).and_then(|h| h.sni.as_deref())),
    );
    let alpn: Vec<Vec<String>> = rows
        .iter()
        .map(|r| ch(r).map_or_else(Vec::new, |h| h.alpn.iter().map(|a| lossy(a)).collect()))
        .collect();
    c.add("alpn", false, list_str(&alpn, |v| v.as_slice()));
    let server_alpn: Vec<Option<String>> = rows
        .iter()
        .map(|r| sh(r).and_then(|h| h.alpn.as_deref()).map(lossy))
        .collect();
    c.add("server_alpn", true, string(&server_alpn, |s| s.as_deref()));
    c.add(
        "supported_groups",
        false,
        list_u16(rows, |r| {
            ch(r).map_or(&EMPTY16[..], |h| &h.supported_groups)
        }),
    );
    c.add(
        "ec_point_formats",
        false,
        list_u8(rows, |r| ch(r).map_or(&EMPTY8[..], |h| &h.ec_point_formats)),
    );
    c.add(
        "signature_algorithms",
        false,
        list_u16(rows, |r| {
            ch(r).map_or(&EMPTY16[..], |h| &h.signature_algorithms)
        }),
    );
    c.add(
        "key_share_groups",
        false,
        list_u16(rows, |r| {
            ch(r).map_or(&EMPTY16[..], |h| &h.key_share_groups)
        }),
    );
    c.add(
        "server_key_share_group",
        true,
        u16s(rows, |r| sh(r).and_then(|h| h.key_share_group)),
    );
    c.add(
        "ske_curve",
        true,
        u16s(rows, |r| r.hs.server_key_exchange.and_then(|k| k.curve)),
    );
    c.add(
        "group_name",
        true,
        string(rows, |r| r.hs.key_exchange_group().and_then(group_name)),
    );
    c.add("pq_offered", true, bools(rows, |r| r.hs.pq_offered()));
    c.add("pq_negotiated", true, bools(rows, |r| r.hs.pq_negotiated()));
    c.add(
        "dh_bits",
        true,
        u32s(rows, |r| r.hs.server_key_exchange.and_then(|k| k.dh_bits)),
    );
    c.add(
        "session_id_len",
        true,
        u8s(rows, |r| ch(r).map(|h| h.session_id.len().min(255) as u8)),
    );
    c.add(
        "session_ticket",
        false,
        bools(rows, |r| {
            Some(ch(r).is_some_and(|h| h.session_ticket_len > 0))
        }),
    );
    c.add(
        "psk_offered",
        false,
        bools(rows, |r| Some(ch(r).is_some_and(|h| h.psk_offered))),
    );
    c.add(
        "early_data",
        false,
        bools(rows, |r| Some(ch(r).is_some_and(|h| h.early_data))),
    );
    c.add("resumed", false, bools(rows, |r| Some(r.hs.resumed)));
    c.add(
        "hello_retry_request",
        false,
        bools(rows, |r| Some(r.hs.hello_retry_request.is_some())),
    );
    c.add(
        "hrr_group",
        true,
        u16s(rows, |r| {
            r.hs.hello_retry_request
                .as_ref()
                .and_then(|h| h.key_share_group)
        }),
    );
    c.add(
        "ech_offered",
        false,
        bools(rows, |r| Some(ch(r).is_some_and(|h| h.ech_offered))),
    );
    c.add(
        "cert_chain_sha256",
        false,
        list_str(rows, |r| r.cert_chain_sha256.as_slice()),
    );
    c.add(
        "client_cert_chain_sha256",
        false,
        list_str(rows, |r| r.client_cert_chain_sha256.as_slice()),
    );
    c.add(
        "certs_encrypted",
        false,
        bools(rows, |r| Some(r.hs.certs_encrypted)),
    );
    c.add("alerts", false, alerts(rows));
    c.add(
        "established",
        false,
        bools(rows, |r| Some(r.hs.established)),
    );
    c.add(
        "status",
        false,
        string(rows, |r| Some(r.hs.status.as_str())),
    );
    c.add(
        "malformed_reason",
        true,
        string(rows, |r| r.hs.malformed_reason),
    );
    c.add(
        "anomalies",
        false,
        list_str(rows, |r| r.anomalies.as_slice()),
    );
    c.add(
        "validation_status",
        true,
        string(rows, |r| r.validation.as_ref().map(|v| v.status.as_str())),
    );
    c.add(
        "sni_matches_cert",
        true,
        bools(rows, |r| r.validation.as_ref().and_then(|v| v.sni_matches)),
    );
    c.add("findings", false, list_str(rows, |r| r.findings.as_slice()));
    c.add(
        "client_hello_ts",
        true,
        ts(rows, |r| {
            r.hs.client_hello_ts_ns.map(|t| t.div_euclid(1000))
        }),
    );
    c.add(
        "server_hello_ts",
        true,
        ts(rows, |r| {
            r.hs.server_hello_ts_ns.map(|t| t.div_euclid(1000))
        }),
    );
    c.add("ja3", true, string(rows, |r| r.fp.ja3.as_deref()));
    c.add(
        "ja3_string",
        true,
        string(rows, |r| r.fp.ja3_string.as_deref()),
    );
    c.add("ja3s", true, string(rows, |r| r.fp.ja3s.as_deref()));
    c.add(
        "ja3s_string",
        true,
        string(rows, |r| r.fp.ja3s_string.as_deref()),
    );
    c.add("ja4", true, string(rows, |r| r.fp.ja4.as_deref()));
    c.add("ja4_r", true, string(rows, |r| r.fp.ja4_r.as_deref()));
    c.add("ja4_o", true, string(rows, |r| r.fp.ja4_o.as_deref()));
    c.add("ja4_ro", true, string(rows, |r| r.fp.ja4_ro.as_deref()));
    c.finish()
}

/// The `certificates` table for these rows.
pub fn certificates_batch(rows: &[CertRow]) -> Result<RecordBatch, ArrowError> {
    let mut c = Cols::new();
    c.add(
        "sha256",
        false,
        string(rows, |r| Some(r.info.sha256.as_str())),
    );
    c.add("sha1", false, string(rows, |r| Some(r.info.sha1.as_str())));
    c.add("der_len", false, u32s(rows, |r| Some(r.info.der_len)));
    c.add(
        "parse_error",
        true,
        string(rows, |r| r.info.parse_error.as_deref()),
    );
    c.add("version", true, u8s(rows, |r| r.info.version));
    c.add("serial", true, string(rows, |r| non_empty(&r.info.serial)));
    c.add(
        "subject",
        true,
        string(rows, |r| non_empty(&r.info.subject)),
    );
    c.add("issuer", true, string(rows, |r| non_empty(&r.info.issuer)));
    c.add(
        "subject_cn",
        true,
        string(rows, |r| r.info.subject_cn.as_deref()),
    );
    c.add(
        "issuer_cn",
        true,
        string(rows, |r| r.info.issuer_cn.as_deref()),
    );
    c.add(
        "subject_org",
        true,
        string(rows, |r| r.info.subject_org.as_deref()),
    );
    c.add(
        "issuer_org",
        true,
        string(rows, |r| r.info.issuer_org.as_deref()),
    );
    c.add("not_before", true, ts(rows, |r| r.info.not_before_us));
    c.add("not_after", true, ts(rows, |r| r.info.not_after_us));
    c.add(
        "key_type",
        true,
        string(rows, |r| r.info.key_type.as_deref()),
    );
    c.add("key_bits", true, u32s(rows, |r| r.info.key_bits));
    c.add(
        "rsa_exponent",
        true,
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| {
            r.info.rsa_exponent.and_then(|e| i64::try_from(e).ok())
        }))),
    );
    c.add("curve", true, string(rows, |r| r.info.curve.as_deref()));
    c.add(
        "sig_alg",
        true,
        string(rows, |r| non_empty(&r.info.sig_alg)),
    );
    c.add(
        "san_dns",
        false,
        list_str(rows, |r| r.info.san_dns.as_slice()),
    );
    c.add(
        "san_ip",
        false,
        list_str(rows, |r| r.info.san_ip.as_slice()),
    );
    c.add(
        "san_email",
        false,
        list_str(rows, |r| r.info.san_email.as_slice()),
    );
    c.add(
        "san_uri",
        false,
        list_str(rows, |r| r.info.san_uri.as_slice()),
    );
    c.add("is_ca", true, bools(rows, |r| r.info.is_ca));
    c.add("path_len", true, u32s(rows, |r| r.info.path_len));
    c.add(
        "key_usage",
        false,
        list_str(rows, |r| r.info.key_usage.as_slice()),
    );
    c.add(
        "ext_key_usage",
        false,
        list_str(rows, |r| r.info.ext_key_usage.as_slice()),
    );
    c.add("ski", true, string(rows, |r| r.info.ski.as_deref()));
    c.add("aki", true, string(rows, |r| r.info.aki.as_deref()));
    c.add("sct_count", false, u32s(rows, |r| Some(r.info.sct_count)));
    c.add(
        "self_signed",
        false,
        bools(rows, |r| Some(r.info.self_signed)),
    );
    c.add("first_seen", false, ts(rows, |r| Some(r.first_seen_us)));
    c.add(
        "seen_count",
        false,
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(r.seen_count)),
        )),
    );
    c.finish()
}

/// One `stats` row: the health of a live capture at the close of a rotation window.
/// Counters are cumulative since the start of the run (so a lost file loses nothing
/// but resolution); `handshakes` and `certificates` are this window's.
#[derive(Debug, Clone, Default)]
pub struct StatsRow {
    /// Wall-clock bounds of the window, µs since the epoch.
    pub window_start_us: i64,
    pub window_end_us: i64,
    pub interface: String,
    /// libpcap: accepted by the filter / dropped by the kernel (buffer full) / dropped
    /// by the interface or driver.
    pub packets_received: u64,
    pub packets_dropped_kernel: u64,
    pub packets_dropped_interface: u64,
    /// Packets tlstap read and decoded.
    pub packets_processed: u64,
    pub bytes_processed: u64,
    /// Everything tlstap dropped, capped or found malformed, by reason
    /// (`live.parse_queue_full` is handshakes dropped because the parsers fell behind).
    pub drops: Vec<(String, u64)>,
    pub flows_open: u64,
    pub rss_bytes: u64,
    pub handshakes: u64,
    pub certificates: u64,
    pub handshakes_total: u64,
}

/// The `stats` table for these rows.
pub fn stats_batch(rows: &[StatsRow]) -> Result<RecordBatch, ArrowError> {
    let u64s = |f: fn(&StatsRow) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| count(f(r))),
        ))
    };
    let mut c = Cols::new();
    c.add("window_start", false, ts(rows, |r| Some(r.window_start_us)));
    c.add("window_end", false, ts(rows, |r| Some(r.window_end_us)));
    c.add(
        "interface",
        false,
        string(rows, |r| Some(r.interface.as_str())),
    );
    c.add("packets_received", false, u64s(|r| r.packets_received));
    c.add(
        "packets_dropped_kernel",
        false,
        u64s(|r| r.packets_dropped_kernel),
    );
    c.add(
        "packets_dropped_interface",
        false,
        u64s(|r| r.packets_dropped_interface),
    );
    c.add("packets_processed", false, u64s(|r| r.packets_processed));
    c.add("bytes_processed", false, u64s(|r| r.bytes_processed));
    let fields = Fields::from(vec![
        Field::new("reason", DataType::Utf8, false),
        Field::new("count", DataType::Int64, false),
    ]);
    let mut b = ListBuilder::with_capacity(
        arrow::array::StructBuilder::from_fields(fields, 0),
        rows.len(),
    );
    for r in rows {
        let sb = b.values();
        for (reason, n) in &r.drops {
            sb.field_builder::<StringBuilder>(0)
                .expect("field 0 is utf8")
                .append_value(reason);
            sb.field_builder::<arrow::array::Int64Builder>(1)
                .expect("field 1 is i64")
                .append_value(count(*n));
            sb.append(true);
        }
        b.append(true);
    }
    c.add("drops", false, Arc::new(b.finish()));
    c.add("flows_open", false, u64s(|r| r.flows_open));
    c.add("rss_bytes", false, u64s(|r| r.rss_bytes));
    c.add("handshakes", false, u64s(|r| r.handshakes));
    c.add("certificates", false, u64s(|r| r.certificates));
    c.add("handshakes_total", false, u64s(|r| r.handshakes_total));
    c.finish()
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Schema of the `handshakes` table.
pub fn handshakes_schema() -> SchemaRef {
    handshakes_batch(&[])
        .expect("empty batch always builds")
        .schema()
}

/// Schema of the `certificates` table.
pub fn certificates_schema() -> SchemaRef {
    certificates_batch(&[])
        .expect("empty batch always builds")
        .schema()
}

/// Schema of the `stats` table (live capture).
pub fn stats_schema() -> SchemaRef {
    stats_batch(&[])
        .expect("empty batch always builds")
        .schema()
}
