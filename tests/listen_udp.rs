//! `tlstap live --listen-udp`: cloud-style mirrored traffic on ordinary UDP sockets, no
//! root needed. The test is the mirror: it replays the frames of real handshake
//! captures from `testdata/` (TLS over TCP, QUIC, DTLS) wrapped in VXLAN, Geneve and
//! TZSP to three listeners on loopback, stops tlstap with SIGINT, and checks that every
//! handshake `tlstap read` finds in the original captures comes out once per tunnel with
//! the same fields, the tunnel named in `encap` and its network id in `tunnel_id`.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tlstap::decode::DecoderLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::pipeline::analyze_capture;
use tlstap::source::{CaptureFile, PacketSource};

mod support;
use support::mirror::{free_udp_port, geneve, interrupt, tzsp, vxlan, wait_bound, walk};

const TLSTAP: &str = env!("CARGO_BIN_EXE_tlstap");

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

const CAPTURES: [&str; 4] = [
    "loopback/openssl-tls13.pcap",
    "loopback/openssl-hrr.pcap",
    "quic/aioquic-v1.pcap",
    "dtls/openssl-dtls12-mtu.pcap",
];

/// What a row must agree on (times and tunnel columns aside).
type Fields = (String, String, String, String, String, String);

fn fields(v: &serde_json::Value) -> Fields {
    let s = |k: &str| match &v[k] {
        serde_json::Value::Null => String::new(),
        x => x.to_string(),
    };
    (
        s("transport"),
        s("sni"),
        s("ja4"),
        s("ja3s"),
        s("cipher"),
        s("status"),
    )
}

#[test]
fn mirrored_vxlan_geneve_and_tzsp_give_the_rows_of_the_original_captures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let ports = [free_udp_port(), free_udp_port(), free_udp_port()];
    let mut child = Command::new(TLSTAP)
        .args([
            "live",
            "--format",
            "jsonl",
            "--stats-interval",
            "0",
            "--out",
        ])
        .arg(&out)
        .args(["--listen-udp", &format!("vxlan:127.0.0.1:{}", ports[0])])
        .args(["--listen-udp", &format!("geneve:127.0.0.1:{}", ports[1])])
        .args(["--listen-udp", &format!("tzsp:127.0.0.1:{}", ports[2])])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bound(ports[2]);

    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut expected: BTreeMap<Fields, usize> = BTreeMap::new();
    for rel in CAPTURES {
        let path = testdata(rel);
        let (rows, _, _) = analyze_capture(&path, FlowLimits::default(), DecoderLimits::default());
        assert!(!rows.is_empty(), "{rel}");
        for r in &rows {
            let v = serde_json::json!({
                "transport": r.meta.transport.as_str(),
                "sni": r.hs.client_hello.as_ref().and_then(|c| c.sni.clone()),
                "ja4": r.fp.ja4.as_deref(),
                "ja3s": r.fp.ja3s.as_deref(),
                "cipher": r.hs.server_hello.as_ref().map(|s| s.cipher),
                "status": r.hs.status.as_str(),
            });
            *expected.entry(fields(&v)).or_default() += 3;
        }
        let mut cap = CaptureFile::open(&path).unwrap();
        let mut n = 0;
        while let Some(Ok(p)) = cap.next_packet() {
            assert_eq!(p.linktype, 1, "{rel}: Ethernet frames");
            tx.send_to(&vxlan(100, p.data), ("127.0.0.1", ports[0]))
                .unwrap();
            tx.send_to(&geneve(200, p.data), ("127.0.0.1", ports[1]))
                .unwrap();
            tx.send_to(&tzsp(p.data), ("127.0.0.1", ports[2])).unwrap();
            n += 1;
            if n % 16 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let (code, err) = interrupt(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(0), "{err}");

    let mut got: BTreeMap<Fields, usize> = BTreeMap::new();
    let mut encaps: BTreeMap<(String, String), usize> = BTreeMap::new();
    for f in walk(&out.join("handshakes")) {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            *got.entry(fields(&v)).or_default() += 1;
            assert!(v["source_file"].as_str().unwrap().starts_with("udp:"));
            let e = (v["encap"].to_string(), v["tunnel_id"].to_string());
            *encaps.entry(e).or_default() += 1;
        }
    }
    assert_eq!(got, expected, "{err}");
    let per_tunnel: usize = expected.values().sum::<usize>() / 3;
    let want: BTreeMap<(String, String), usize> = [
        (("[\"vxlan\"]".into(), "100".into()), per_tunnel),
        (("[\"geneve\"]".into(), "200".into()), per_tunnel),
        (("[\"tzsp\"]".into(), "null".into()), per_tunnel),
    ]
    .into_iter()
    .collect();
    assert_eq!(encaps, want);
}
