//! QUIC and DTLS handshakes against tshark 4.0.17 (`_derived/tshark-4.0.17/**`, grouped
//! per `udp.stream` by `support::oracles::tshark_handshakes`), over every capture of the
//! corpus: one row of ours per QUIC connection or DTLS association tshark sees a
//! ClientHello in, and no QUIC/DTLS row tshark has no conversation for.
//!
//! Compared per conversation: whether the row exists, which side is the client, the
//! transport (QUIC when tshark saw a QUIC version), the QUIC version of the client's
//! first packet, SNI, and, for QUIC only (tshark's table has no `dtls.*` column for
//! them), the offered ALPN list, the chosen cipher and the negotiated version.
//! JA3/JA3S of the same conversations are in `conformance_fingerprints.rs`, JA4 against
//! FoxIO there too; Zeek's `quic.log`/`ssl.log` in `conformance_zeek.rs`. Every
//! disagreement is either in [`EXCEPTIONS`] with its reason or fails the test.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use support::agreement::{analyze, conn, our_conn, same_conn, Agreement, Exception};
use support::oracles::{tshark_handshakes, tshark_tables, Carrier};
use tlstap::flow::record::Transport;
use tlstap::row::HandshakeRow;

/// Disagreements we keep on purpose. Each says why our value is the right one.
const EXCEPTIONS: &[Exception] = &[Exception {
    capture: "zeek/Traces/quic/quicdoq.pcap",
    conn: "127.0.0.1:46907 > 127.0.0.1:853",
    field: "row present",
    ours: "yes",
    theirs: "no",
    why: "DNS over QUIC on UDP 853 (RFC 9250): tshark 4.0.17 does not try QUIC on that \
          port, so its table has no handshake. Rerun with -d udp.port==853,quic it \
          decodes frame 1 as a QUIC v1 Initial with the ClientHello (ALPN doq, JA3 \
          0299b052ace53a14c3a04aceb5efd247) and frame 2's ServerHello (0x1301): our \
          values, and Zeek's quic.log/ssl.log agree on the connection.",
}];

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Quic => "quic",
        Transport::Dtls => "dtls",
    }
}

fn is_udp(r: &HandshakeRow) -> bool {
    r.meta.transport != Transport::Tcp
}

#[test]
fn tshark_quic_dtls_handshakes() {
    let Some(corpus) = support::corpus_root() else {
        return;
    };
    let tables = tshark_tables(&corpus).expect("load tshark tables");
    let mut agree = Agreement::default();
    let mut ours: BTreeMap<PathBuf, Vec<HandshakeRow>> = BTreeMap::new();
    let mut matched: HashSet<(PathBuf, usize)> = HashSet::new();
    let (mut quic, mut dtls) = (0, 0);
    for cap in &tables {
        let rows = ours
            .entry(cap.capture.clone())
            .or_insert_with(|| analyze(&cap.capture));
        let c = cap.capture_rel.as_str();
        let ctx = "tshark 4.0.17";
        for t in tshark_handshakes(cap, Carrier::Udp) {
            let theirs_transport = if t.quic_version.is_some() {
                "quic"
            } else {
                "dtls"
            };
            if t.quic_version.is_some() {
                quic += 1;
            } else {
                dtls += 1;
            }
            let name = format!(
                "#{} {}",
                t.stream,
                conn(&t.client, t.client_port, &t.server, t.server_port)
            );
            let hit = rows.iter().enumerate().find_map(|(i, r)| {
                let o = same_conn(r, &t.client, t.client_port, &t.server, t.server_port)?;
                is_udp(r).then_some((i, o))
            });
            let Some((i, orig_is_client)) = hit else {
                agree.check(c, &name, "row present", "no", "yes", ctx);
                continue;
            };
            matched.insert((cap.capture.clone(), i));
            let r = &rows[i];
            agree.check(c, &name, "row present", "yes", "yes", ctx);
            let side = if orig_is_client { "src" } else { "dst" };
            agree.check(c, &name, "src = client", side, "src", ctx);
            let mine = transport_name(r.meta.transport);
            agree.check(c, &name, "transport", mine, theirs_transport, ctx);
            let ch = r.hs.client_hello.as_ref();
            let sni = ch.and_then(|c| c.sni.as_deref()).unwrap_or("");
            agree.check(c, &name, "sni", sni, t.sni.as_deref().unwrap_or(""), ctx);
            let Some(theirs_version) = t.quic_version else {
                continue;
            };
            let qv = r
                .quic
                .as_ref()
                .map_or(String::new(), |q| format!("0x{:08x}", q.version));
            agree.check(
                c,
                &name,
                "quic version",
                &qv,
                &format!("0x{theirs_version:08x}"),
                ctx,
            );
            let alpn: Vec<String> = ch
                .map(|c| {
                    c.alpn
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            agree.check(c, &name, "alpn", &alpn.join(","), &t.alpn.join(","), ctx);
            let hex = |v: Option<u16>| v.map_or(String::new(), |v| format!("0x{v:04x}"));
            let sh = r.hs.server_hello.as_ref();
            agree.check(
                c,
                &name,
                "cipher",
                &hex(sh.map(|s| s.cipher)),
                &hex(t.cipher),
                ctx,
            );
            agree.check(
                c,
                &name,
                "version",
                &hex(r.hs.version),
                &hex(t.selected_version),
                ctx,
            );
        }
    }
    for (p, rows) in &ours {
        for (i, r) in rows.iter().enumerate() {
            if is_udp(r) && !matched.contains(&(p.clone(), i)) {
                agree.check(
                    &support::agreement::rel(&corpus, p),
                    &our_conn(r),
                    "row present",
                    "yes",
                    "no",
                    "no tshark QUIC/DTLS conversation with a ClientHello",
                );
            }
        }
    }
    eprintln!("tshark: {quic} QUIC and {dtls} DTLS conversations with a ClientHello");
    agree.finish("tshark QUIC/DTLS", EXCEPTIONS);
}
