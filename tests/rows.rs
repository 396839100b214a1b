//! Rows that must be right: runs the built `tlstap` on captures that once gave a wrong
//! or thin row (`testdata/rows/`, built by its `make.py` from real loopback captures,
//! and real captures in `testdata/`) and reads the output back. One test per issue,
//! named after what broke; the names people read (`group_name`, alert names) and the
//! crypto inventory (`pq_offered`, `pq_negotiated`, the report's post-quantum section).

#[path = "support/run.rs"]
mod run;
#[path = "support/table.rs"]
mod table;

use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{UInt16Type, UInt32Type, UInt8Type};
use run::{stderr, testdata, tlstap};
use table::{col_strings, read_parquet};

/// `tlstap read` of `inputs` into a temporary folder: the handshakes table and stderr.
fn read(inputs: &[PathBuf]) -> (RecordBatch, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["read", "--out", out.to_str().unwrap()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let o = tlstap(&args);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    (read_parquet(&out.join("handshakes.parquet")), stderr(&o))
}

fn one_row(rel: &str) -> RecordBatch {
    let (hs, _) = read(&[testdata(rel)]);
    assert_eq!(hs.num_rows(), 1, "{rel}");
    hs
}

fn str0(b: &RecordBatch, name: &str) -> Option<String> {
    col_strings(b, name).remove(0)
}

fn u16_0(b: &RecordBatch, name: &str) -> Option<u16> {
    let a = b.column_by_name(name).unwrap().as_primitive::<UInt16Type>();
    (!a.is_null(0)).then(|| a.value(0))
}

fn bool_at(b: &RecordBatch, name: &str, i: usize) -> Option<bool> {
    let a = b.column_by_name(name).unwrap().as_boolean();
    (!a.is_null(i)).then(|| a.value(i))
}

fn list_len0(b: &RecordBatch, name: &str) -> usize {
    b.column_by_name(name)
        .unwrap()
        .as_list::<i32>()
        .value(0)
        .len()
}

fn strings0(b: &RecordBatch, name: &str) -> Vec<String> {
    let v = b.column_by_name(name).unwrap().as_list::<i32>().value(0);
    let s = v.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_owned()).collect()
}

/// A client RST right after the ServerHello segment: the Certificate that follows in
/// sequence, already in flight, is kept (it used to be dropped: the flow shipped at
/// the RST), and the grace is counted.
#[test]
fn client_rst_keeps_the_certificate_in_flight() {
    let (hs, err) = read(&[testdata("rows/openssl-tls12-client-rst.pcap")]);
    assert_eq!(hs.num_rows(), 1);
    assert_eq!(list_len0(&hs, "cert_chain_sha256"), 2, "leaf + CA");
    assert_eq!(
        str0(&hs, "validation_status").as_deref(),
        Some("unknown_issuer")
    );
    assert!(err.contains("flow.rst_grace"), "{err}");
}

/// A server that sent only a HelloRetryRequest committed to its cipher suite (RFC 8446
/// 4.1.4): `cipher` says it, `hrr_group` names the group asked for, and the status says
/// that no ServerHello followed.
#[test]
fn hello_retry_request_only_reports_its_cipher() {
    let hs = one_row("rows/openssl-hrr-only.pcap");
    assert_eq!(u16_0(&hs, "cipher"), Some(0x1302));
    assert_eq!(
        str0(&hs, "cipher_name").as_deref(),
        Some("TLS_AES_256_GCM_SHA384")
    );
    assert_eq!(u16_0(&hs, "hrr_group"), Some(24));
    assert_eq!(bool_at(&hs, "hello_retry_request", 0), Some(true));
    assert_eq!(str0(&hs, "status").as_deref(), Some("no_server_hello"));
    assert_eq!(
        u16_0(&hs, "version"),
        None,
        "no ServerHello, no negotiated version"
    );
    assert_eq!(bool_at(&hs, "pq_negotiated", 0), None);
}

/// An SSLv2 CLIENT-HELLO keeps every offered 3-byte cipher spec; the SERVER-HELLO
/// names no TLS cipher, so neither `cipher` nor `cipher_name` is set (the name used to
/// say TLS_NULL_WITH_NULL_NULL).
#[test]
fn sslv2_hello_keeps_its_cipher_specs_and_names_no_cipher() {
    let hs = one_row("zeek/ssl-v2.pcap");
    let specs = hs
        .column_by_name("sslv2_cipher_specs")
        .unwrap()
        .as_list::<i32>()
        .value(0);
    let specs: Vec<u32> = specs.as_primitive::<UInt32Type>().values().to_vec();
    assert_eq!(
        specs,
        [0x0700c0, 0x050080, 0x030080, 0x010080, 0x060040, 0x040080, 0x020080]
    );
    // Every spec here is SSLv2-only: none has a TLS value.
    assert_eq!(list_len0(&hs, "cipher_suites"), 0);
    assert_eq!(u16_0(&hs, "version"), Some(2));
    assert_eq!(u16_0(&hs, "cipher"), None);
    assert_eq!(str0(&hs, "cipher_name"), None);
}

/// Regression (`heuristic_tcp_ack_payload`-style captures): two client ACKs carry two
/// bytes of noise, one where the ClientHello starts, one where the client's next record
/// starts. The hello is read and the row is not `malformed`; the overlap is flagged.
#[test]
fn heuristic_tcp_ack_payload_does_not_make_a_parsed_hello_malformed() {
    let hs = one_row("rows/openssl-tls12-ack-noise.pcap");
    assert_eq!(str0(&hs, "sni").as_deref(), Some("tlstap.test"));
    assert_eq!(u16_0(&hs, "cipher"), Some(0xc02f));
    assert_ne!(str0(&hs, "status").as_deref(), Some("malformed"));
    assert_eq!(str0(&hs, "malformed_reason"), None);
    assert!(strings0(&hs, "anomalies").contains(&"client_overlap_conflict".to_owned()));
    assert_eq!(list_len0(&hs, "cert_chain_sha256"), 2);
}

/// JSON lines carry every column on every line, `null` included, so each file has the
/// same keys whatever its rows hold.
#[test]
fn jsonl_writes_every_column_null_included() {
    let o = tlstap(&[
        "read",
        "-q",
        testdata("rows/openssl-hrr-only.pcap").to_str().unwrap(),
        testdata("loopback/openssl-tls12-ecdhe.pcap")
            .to_str()
            .unwrap(),
        "--out",
        "-",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let schema = tlstap::output::handshakes_schema();
    let want: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut w = want.clone();
        keys.sort_unstable();
        w.sort_unstable();
        assert_eq!(keys, w);
        lines += 1;
    }
    assert_eq!(lines, 2);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first["version"].is_null(), "an HRR-only row has no version");
}

/// Names people read beside the numbers: the key-exchange group (`group_name`, from the
/// TLS 1.3 key share or the TLS 1.2 ServerKeyExchange curve) and alert descriptions.
#[test]
fn group_and_alert_names() {
    let (hs, _) = read(&[
        testdata("loopback/openssl-tls12-ecdhe.pcap"),
        testdata("loopback/openssl-alert.pcap"),
        testdata("zeek/hrr.pcap"),
        testdata("loopback/openssl-dhe1024.pcap"),
    ]);
    let files: Vec<String> = col_strings(&hs, "source_file")
        .into_iter()
        .map(|f| f.unwrap())
        .collect();
    let groups = col_strings(&hs, "group_name");
    let at = |stem: &str| files.iter().position(|f| f.contains(stem)).unwrap();
    assert_eq!(groups[at("openssl-tls12-ecdhe")].as_deref(), Some("x25519"));
    assert_eq!(groups[at("hrr.pcap")].as_deref(), Some("secp256r1"));
    // Finite-field DHE names no group; no guess.
    assert_eq!(groups[at("openssl-dhe1024")], None);

    let alerts = hs.column_by_name("alerts").unwrap().as_list::<i32>();
    let a = alerts.value(at("openssl-alert"));
    let a = a.as_struct();
    let desc = a
        .column_by_name("description")
        .unwrap()
        .as_primitive::<UInt8Type>();
    let name = a
        .column_by_name("description_name")
        .unwrap()
        .as_string::<i32>();
    assert_eq!((desc.value(0), name.value(0)), (40, "handshake_failure"));
}

/// Crypto inventory on real post-quantum handshakes: quinn/rustls over QUIC offering
/// and negotiating X25519MLKEM768, against classical TLS 1.3.
#[test]
fn post_quantum_offered_and_negotiated() {
    let (hs, _) = read(&[
        testdata("quic/quinn-pq.pcap"),
        testdata("loopback/openssl-tls13.pcap"),
    ]);
    let files = col_strings(&hs, "source_file");
    let groups = col_strings(&hs, "group_name");
    let mut seen = 0;
    for i in 0..hs.num_rows() {
        let pq = files[i].as_deref().unwrap().contains("quinn-pq");
        assert_eq!(bool_at(&hs, "pq_offered", i), Some(pq), "row {i}");
        assert_eq!(bool_at(&hs, "pq_negotiated", i), Some(pq), "row {i}");
        if pq {
            assert_eq!(groups[i].as_deref(), Some("X25519MLKEM768"));
            seen += 1;
        }
    }
    assert!(seen > 0);
}

/// `tlstap report`: the post-quantum readiness section (shares overall, by server name
/// and by client JA4, ECH and TLS 1.3 shares), in text and HTML, and the page keeps
/// the text's "N more" notes.
#[test]
fn report_shows_post_quantum_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = tlstap(&[
        "read",
        "-q",
        "--out",
        out.to_str().unwrap(),
        testdata("quic/quinn-pq.pcap").to_str().unwrap(),
        testdata("zeek/tls13-ech.pcap").to_str().unwrap(),
        testdata("loopback").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let html = dir.path().join("r.html");
    let o = tlstap(&[
        "report",
        out.to_str().unwrap(),
        "--top",
        "2",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let section = &text[text.find("Post-quantum readiness").expect("section")..];
    for line in [
        "PQ key exchange offered",
        "PQ key exchange negotiated",
        "ECH offered",
        "TLS 1.3 negotiated",
        "by server name",
        "by client JA4",
    ] {
        assert!(section.contains(line), "text lacks {line}:\n{section}");
        assert!(
            page.to_lowercase().contains(&line.to_lowercase()),
            "html lacks {line}"
        );
    }
    // quinn-pq's SNI offers and negotiates PQ on every connection.
    let pq_line = section
        .lines()
        .find(|l| l.trim_start().starts_with("PQ key exchange offered"))
        .unwrap();
    assert!(!pq_line.contains(" 0 of"), "{pq_line}");
    // Every "N more" note of the text report is on the page too.
    let notes: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('(') && l.contains(" more"))
        .collect();
    assert!(notes.len() >= 4, "{text}");
    for n in notes {
        assert!(page.contains(n), "html lacks {n}");
    }
}

/// The corpus's Chrome 125 capture offers X25519Kyber768Draft00 (0x6399) and the server
/// picks it.
#[test]
fn chrome_kyber_draft_is_post_quantum() {
    let corpus = std::env::var_os("TLSTAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let f = corpus.join("zeek/Traces/tls/chrome-1250-tls-x25519-kyber.pcap");
    if !f.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "corpus missing: {}",
            f.display()
        );
        eprintln!("NOTE: {} not found: skipped", f.display());
        return;
    }
    let (hs, _) = read(&[f]);
    assert!(hs.num_rows() >= 1);
    assert_eq!(bool_at(&hs, "pq_offered", 0), Some(true));
    assert_eq!(bool_at(&hs, "pq_negotiated", 0), Some(true));
    assert_eq!(
        str0(&hs, "group_name").as_deref(),
        Some("X25519Kyber768Draft00")
    );
}
