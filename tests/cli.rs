//! Runs the real `tlstap` binary on captures in temporary folders and reads its output
//! back (Parquet through the `parquet` crate, JSON lines through `serde_json`).

#[path = "support/pcap.rs"]
mod pcap;
#[path = "support/table.rs"]
mod table;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, UInt16Type};
use table::{col_strings, read_parquet};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

fn tlstap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlstap"))
        .args(args)
        .output()
        .expect("run tlstap")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn read_writes_both_tables_with_the_fixed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = tlstap(&[
        "read",
        testdata("zeek").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let hs = read_parquet(&out.join("handshakes.parquet"));
    let certs = read_parquet(&out.join("certificates.parquet"));
    assert!(hs.num_rows() >= 11, "one row per TLS connection at least");
    assert!(certs.num_rows() > 0);

    let schema = hs.schema();
    let ty = |n: &str| schema.field_with_name(n).unwrap().data_type().clone();
    assert_eq!(
        ty("ts"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(ty("src_port"), DataType::UInt16);
    assert_eq!(ty("version"), DataType::UInt16);
    assert_eq!(ty("cipher"), DataType::UInt16);
    assert!(matches!(ty("cipher_suites"), DataType::List(f) if *f.data_type() == DataType::UInt16));
    assert!(matches!(ty("alpn"), DataType::List(f) if *f.data_type() == DataType::Utf8));
    assert!(
        matches!(ty("cert_chain_sha256"), DataType::List(f) if *f.data_type() == DataType::Utf8)
    );
    for name in [
        "community_id",
        "src_ip",
        "dst_ip",
        "dst_port",
        "transport",
        "source_file",
        "client_version",
        "client_supported_versions",
        "cipher_name",
        "compression_methods",
        "extensions",
        "server_extensions",
        "sni",
        "server_alpn",
        "supported_groups",
        "ec_point_formats",
        "signature_algorithms",
        "key_share_groups",
        "server_key_share_group",
        "session_id_len",
        "session_ticket",
        "psk_offered",
        "early_data",
        "resumed",
        "hello_retry_request",
        "ech_offered",
        "client_cert_chain_sha256",
        "alerts",
        "established",
        "status",
        "client_hello_ts",
        "server_hello_ts",
        "ja3",
        "ja3s",
        "ja4",
    ] {
        assert!(
            schema.field_with_name(name).is_ok(),
            "missing column {name}"
        );
    }
    let cschema = certs.schema();
    for name in [
        "sha256",
        "sha1",
        "serial",
        "subject",
        "issuer",
        "not_before",
        "not_after",
        "key_type",
        "key_bits",
        "curve",
        "sig_alg",
        "san_dns",
        "san_ip",
        "is_ca",
        "self_signed",
        "first_seen",
        "seen_count",
    ] {
        assert!(
            cschema.field_with_name(name).is_ok(),
            "missing certificate column {name}"
        );
    }

    // The HelloRetryRequest connection is one row, flagged.
    let files = col_strings(&hs, "source_file");
    let hrr = hs
        .column_by_name("hello_retry_request")
        .unwrap()
        .as_boolean()
        .clone();
    let hrr_rows: Vec<usize> = (0..hs.num_rows())
        .filter(|&i| files[i].as_deref().is_some_and(|f| f.ends_with("hrr.pcap")))
        .collect();
    assert_eq!(hrr_rows.len(), 1);
    assert!(hrr.value(hrr_rows[0]));

    // Every certificate in a chain is in the certificates table.
    let known: std::collections::HashSet<String> = col_strings(&certs, "sha256")
        .into_iter()
        .flatten()
        .collect();
    let chains = hs
        .column_by_name("cert_chain_sha256")
        .unwrap()
        .as_list::<i32>()
        .clone();
    for i in 0..chains.len() {
        let c = chains.value(i);
        let c = c.as_string::<i32>();
        for j in 0..c.len() {
            assert!(
                known.contains(c.value(j)),
                "chain cert {} not in table",
                c.value(j)
            );
        }
    }
    // Readable summary on stderr.
    let err = stderr(&o);
    assert!(err.contains("handshakes"), "{err}");
}

#[test]
fn output_is_identical_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2", "4"] {
        let out = dir.path().join(format!("t{threads}"));
        let o = tlstap(&[
            "read",
            testdata("").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
        ]);
        assert!(o.status.success(), "stderr: {}", stderr(&o));
        outs.push(out);
    }
    for name in ["handshakes.parquet", "certificates.parquet"] {
        let a = std::fs::read(outs[0].join(name)).unwrap();
        for o in &outs[1..] {
            assert!(a == std::fs::read(o.join(name)).unwrap(), "{name} differs");
        }
    }
}

#[test]
fn jsonl_files_and_stdout_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("j");
    let cap = testdata("zeek/tls-conn-with-extensions.pcap");
    let o = tlstap(&[
        "read",
        cap.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = std::fs::read_to_string(out.join("handshakes.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(out.join("certificates.jsonl").exists());

    let o = tlstap(&["read", cap.to_str().unwrap(), "--out", "-"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let streamed: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(streamed, lines, "stdout stream = jsonl file");
    assert!(streamed[0].get("community_id").is_some());
}

#[test]
fn usage_error_exits_2() {
    let o = tlstap(&["read"]);
    assert_eq!(o.status.code(), Some(2));
    let o = tlstap(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn missing_input_names_the_file_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let o = tlstap(&[
        "read",
        "/nonexistent/x.pcap",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/x.pcap"), "{}", stderr(&o));
}

/// Every damaged-file case keeps what was readable, names the file and exits 1.
#[test]
fn bad_files_are_reported_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let good = testdata("zeek/tls-conn-with-extensions.pcap");
    let bytes = std::fs::read(&good).unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::write(inputs.join("a-empty.pcap"), b"").unwrap();
    std::fs::write(
        inputs.join("b-garbage.pcap"),
        b"this is not a capture file at all",
    )
    .unwrap();
    // Cut in the middle of a record near the end: everything before is delivered.
    std::fs::write(inputs.join("c-truncated.pcap"), &bytes[..bytes.len() - 100]).unwrap();
    std::fs::copy(&good, inputs.join("d-good.pcap")).unwrap();

    let out = dir.path().join("out");
    let o = tlstap(&[
        "read",
        inputs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    for name in ["a-empty.pcap", "b-garbage.pcap", "c-truncated.pcap"] {
        assert!(err.contains(name), "{name} not named in: {err}");
    }
    assert!(!err.contains("d-good.pcap"), "{err}");
    let hs = read_parquet(&out.join("handshakes.parquet"));
    let files = col_strings(&hs, "source_file");
    let n_trunc = files
        .iter()
        .flatten()
        .filter(|f| f.ends_with("c-truncated.pcap"))
        .count();
    let n_good = files
        .iter()
        .flatten()
        .filter(|f| f.ends_with("d-good.pcap"))
        .count();
    assert!(n_good >= 1);
    assert_eq!(
        n_trunc, n_good,
        "the truncated copy keeps every handshake before the cut"
    );
}

/// Zero-length and snaplen-cut packets are delivered and do not break decoding.
#[test]
fn zero_length_and_snaplen_cut_packets() {
    let good = testdata("zeek/tls-conn-with-extensions.pcap");
    let bytes = std::fs::read(&good).unwrap();
    let rewritten = pcap::rewrite_records(&bytes, |i, rec| {
        let mut out = Vec::new();
        if i == 3 {
            // An empty record before the fourth packet.
            out.push(Vec::new());
        }
        if i == 40 {
            // Cut this packet to 60 bytes as a small snaplen would.
            out.push(rec[..rec.len().min(60)].to_vec());
        } else {
            out.push(rec.to_vec());
        }
        out
    });
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("odd.pcap");
    std::fs::write(&cap, rewritten).unwrap();
    let o = tlstap(&["read", cap.to_str().unwrap(), "--out", "-"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(!o.stdout.is_empty());
}

#[test]
fn pppoe_capture_yields_its_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = tlstap(&[
        "read",
        testdata("arkime/pppoe.pcap").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let hs = read_parquet(&out.join("handshakes.parquet"));
    assert!(hs.num_rows() >= 1);
    let ver = hs
        .column_by_name("version")
        .unwrap()
        .as_primitive::<UInt16Type>()
        .clone();
    assert!(ver.iter().any(|v| v.is_some()));
}
