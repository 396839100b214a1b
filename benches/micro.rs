//! Criterion micro-benchmarks of the per-connection work: TLS parse, certificate parse,
//! fingerprints, out-of-order reassembly, and row batching + Parquet write; and the
//! per-packet decoder on plain and tunnelled frames, and QUIC / DTLS handshakes.
//! `cargo bench --bench micro`

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tlstap::certs::chain::{TrustStore, Validator, DEFAULT_CACHE_LIMIT};
use tlstap::decode::{Decoder, DecoderLimits};
use tlstap::flow::reassembly::{DirAssembler, MemBudget, ReasmLimits};
use tlstap::flow::table::{FlowLimits, FlowRecord, FlowTable};
use tlstap::row::{analyze_flow, CertClaims};
use tlstap::source::{CaptureFile, PacketSource};
use tlstap::stats::Counters;

fn records(rel: &str) -> Vec<FlowRecord> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    let mut src = CaptureFile::open(&path).expect("testdata capture");
    let mut dec = Decoder::new(DecoderLimits::default());
    let mut table = FlowTable::new(FlowLimits::default());
    let mut out = Vec::new();
    while let Some(Ok(p)) = src.next_packet() {
        let ts = p.ts_ns;
        if let Some(seg) = dec.decode(&p) {
            table.on_packet(&seg, ts, &mut out);
        }
    }
    table.flush_all(&mut out);
    out
}

/// Every frame of a testdata capture, as (link type, bytes).
fn frames(rel: &str) -> Vec<(u32, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    let mut src = CaptureFile::open(&path).expect("testdata capture");
    let mut f = Vec::new();
    while let Some(Ok(p)) = src.next_packet() {
        f.push((p.linktype, p.data.to_vec()));
    }
    f
}

fn decode_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, rel) in [
        ("plain_eth_ipv4_tcp", "loopback/openssl-tls13.pcap"),
        ("plain_eth_ipv4_udp", "quic/aioquic-v1.pcap"),
        ("vxlan_eth_ipv4_tcp", "tunnels/vxlan--openssl-tls13.pcap"),
    ] {
        let f = frames(rel);
        g.throughput(Throughput::Elements(f.len() as u64));
        g.bench_function(name, |b| {
            let mut dec = Decoder::new(DecoderLimits::default());
            b.iter(|| {
                for (lt, d) in &f {
                    let p = tlstap::source::RawPacket {
                        ts_ns: 0,
                        linktype: *lt,
                        orig_len: d.len() as u32,
                        data: d,
                    };
                    std::hint::black_box(dec.decode(&p).is_some());
                }
            })
        });
    }
    g.finish();

    // QUIC (Initial decryption + CRYPTO reassembly + TLS parse) and DTLS (fragment
    // reassembly + TLS parse), one whole connection per iteration.
    let mut g = c.benchmark_group("udp_handshake");
    let validator = Validator::new(TrustStore::mozilla(), DEFAULT_CACHE_LIMIT);
    let claims = CertClaims::new(usize::MAX);
    let src: Arc<str> = Arc::from("bench");
    for (name, rel) in [
        ("quic_aioquic", "quic/aioquic-v1.pcap"),
        ("quic_pq_two_initials", "quic/quinn-pq.pcap"),
        ("dtls12_fragmented", "dtls/openssl-dtls12-mtu.pcap"),
    ] {
        let rec = records(rel).remove(0);
        g.bench_function(name, |b| {
            b.iter_batched(
                || rec.clone(),
                |r| analyze_flow(r, &src, &claims, &validator),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    decode_benches(c);
    let tls12 = records("loopback/openssl-tls12-ecdhe.pcap").remove(0);
    let tls13 = records("loopback/curl-tls13.pcap").remove(0);

    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Bytes(tls13.client().data.len() as u64));
    g.bench_function("client_hello_parse_tls13", |b| {
        let empty = tlstap::flow::stream::StreamData::default();
        b.iter(|| tlstap::tls::analyze(tls13.client(), &empty))
    });
    g.bench_function("full_handshake_parse_tls12", |b| {
        b.iter(|| tlstap::tls::analyze(tls12.client(), tls12.server()))
    });
    g.finish();

    let hs = tlstap::tls::analyze(tls12.client(), tls12.server());
    let leaf = hs
        .server_certs
        .first()
        .expect("TLS 1.2 chain in the clear")
        .clone();
    c.bench_function("certificate_parse", |b| {
        b.iter(|| tlstap::certs::parse_certificate(&leaf))
    });
    c.bench_function("certificate_sha256", |b| {
        b.iter(|| tlstap::certs::cert_sha256_hex(&leaf))
    });
    c.bench_function("fingerprints_ja3_ja3s_ja4", |b| {
        b.iter(|| tlstap::row::fingerprints(&hs, tlstap::flow::record::Transport::Tcp))
    });

    // Out-of-order reassembly: a 16 KiB stream in 1 KiB segments, delivered in
    // reverse pairs.
    let stream: Vec<u8> = (0..16384u32).map(|i| i as u8).collect();
    let mut order: Vec<usize> = (0..16).collect();
    for pair in order.chunks_mut(2) {
        pair.reverse();
    }
    c.bench_function("reassembly_out_of_order_16k", |b| {
        b.iter_batched(
            || {
                (
                    DirAssembler::new(),
                    MemBudget::new(1 << 20),
                    Counters::new(),
                )
            },
            |(mut a, mut budget, mut counters)| {
                for &i in &order {
                    let seg = &stream[i * 1024..(i + 1) * 1024];
                    let limits = ReasmLimits::default();
                    a.push(
                        1 + (i * 1024) as u32,
                        seg,
                        0,
                        &limits,
                        &mut budget,
                        &mut counters,
                    );
                }
                a.finish(Default::default(), &mut budget, &mut counters)
            },
            BatchSize::SmallInput,
        )
    });

    // Rows to Arrow to Parquet, 1024 rows per batch.
    let claims = CertClaims::new(1 << 20);
    let validator = Validator::new(TrustStore::mozilla(), DEFAULT_CACHE_LIMIT);
    let src: Arc<str> = Arc::from("bench");
    let rows: Vec<_> = (0..1024)
        .map(|i| {
            let mut r = tls12.clone();
            r.seq = i;
            analyze_flow(r, &src, &claims, &validator)
                .expect("a TCP flow always gives a row")
                .row
        })
        .collect();
    let mut g = c.benchmark_group("output");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("rows_to_parquet_1024", |b| {
        b.iter(|| {
            let batch = tlstap::output::handshakes_batch(&rows).expect("batch");
            let mut buf = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)
                .expect("writer");
            w.write(&batch).expect("write");
            w.close().expect("close");
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(micro, benches);
criterion_main!(micro);
