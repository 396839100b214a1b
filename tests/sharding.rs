//! Sharded flow workers (`read --threads N`, N > 1): the rows are the ones a single
//! flow table gives, on every testdata capture, and memory limits bind per worker.

#[path = "support/pcap.rs"]
mod pcap;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tlstap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlstap"))
        .args(args)
        .output()
        .expect("run tlstap")
}

/// Run tlstap to its end; its output and its peak RSS in KiB: the kernel's `VmHWM` of
/// the child, read every 2 ms while it runs (the last reading is at most 2 ms before
/// exit). Not `wait4`'s `ru_maxrss`: that keeps the maximum from before `exec`, when a
/// child spawned with `CLONE_VM` still ran on this test process's memory.
fn tlstap_peak_rss(args: &[&str]) -> (Output, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_tlstap"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tlstap");
    let status_file = format!("/proc/{}/status", child.id());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status_file)
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0);
                peak = peak.max(hwm);
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        })
    };
    let out = child.wait_with_output().expect("wait for tlstap");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, poll.join().unwrap())
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// Every capture in testdata/ (TCP, QUIC, DTLS, tunnels, wrappers, fragments, damaged
/// files) read with 1, 2, 3 and 7 threads: one flow table in the capture thread, or
/// 2/3/7 flow workers fed by one reader. The JSON lines (every column, in order) and
/// the certificates must be the same text. The Parquet bytes are compared by
/// `cli::output_is_identical_whatever_the_thread_count`.
#[test]
fn every_testdata_capture_gives_the_same_rows_with_any_number_of_flow_workers() {
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2", "3", "7"] {
        let out = dir.path().join(format!("t{threads}"));
        let o = tlstap(&[
            "read",
            testdata().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--format",
            "jsonl",
            "--threads",
            threads,
            "--quiet",
        ]);
        // Some testdata captures are damaged on purpose (exit 1 names them).
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "threads {threads}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        outs.push(out);
    }
    let one = std::fs::read_to_string(outs[0].join("handshakes.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = one
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows.len() > 100, "{} rows", rows.len());
    for transport in ["tcp", "quic", "dtls"] {
        assert!(
            rows.iter().any(|r| r["transport"] == transport),
            "no {transport} row in testdata"
        );
    }
    assert!(
        rows.iter().any(|r| !r["encap"].is_null()),
        "no tunnelled row"
    );
    for name in ["handshakes.jsonl", "certificates.jsonl"] {
        let a = std::fs::read_to_string(outs[0].join(name)).unwrap();
        for (o, t) in outs[1..].iter().zip(["2", "3", "7"]) {
            let b = std::fs::read_to_string(o.join(name)).unwrap();
            if a != b {
                let line = a
                    .lines()
                    .zip(b.lines())
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.lines().count().min(b.lines().count()));
                panic!(
                    "{name} with {t} threads differs from 1 thread at line {} ({} vs {} lines)",
                    line + 1,
                    a.lines().count(),
                    b.lines().count()
                );
            }
        }
    }
}

/// A little-endian classic pcap of Ethernet frames.
fn pcap(frames: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::new();
    pcap::write_header(&mut v, pcap::NANOS, 65535, pcap::ETHERNET).unwrap();
    for (ts, f) in frames {
        pcap::write_record_ns(&mut v, *ts, f).unwrap();
    }
    v
}

/// Ethernet/IPv4/TCP from `client`:`cport` to 172.16.0.1:443.
fn frame(client: [u8; 4], cport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    pcap::eth_ipv4_tcp(client, [172, 16, 0, 1], cport, 443, seq, flags, payload)
}

/// Counter value from the summary on stderr (`name  value`).
fn counter(stderr: &str, name: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(name)).then(|| w.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

/// 100,000 connections that each send a SYN and the first 100 bytes of a ClientHello
/// and never finish, read at `--max-memory-mib 112` with 1 and 2 threads. Each flow
/// worker's table gets its share of the limit, so two workers do not follow more
/// connections in total (a little fewer: the second parser thread's memos are reserved
/// too), each refusing on its own when its share is full (`flow.memory_limit`); every
/// connection followed is a row, and the process stays under the limit.
#[test]
fn memory_limit_binds_per_flow_worker() {
    let mut hello = vec![0x16, 3, 1, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.resize(100, 0x41);
    let n = 100_000usize;
    let t0: i64 = 1_700_000_000_000_000_000;
    let mut frames = Vec::with_capacity(2 * n);
    for i in 0..n {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let cport = 1024 + (i % 60000) as u16;
        let ts = t0 + i as i64 * 50_000; // all within 5 s: every one is open at the end
        frames.push((ts, frame(client, cport, 1000, 0x02, &[])));
        frames.push((ts + 1000, frame(client, cport, 1001, 0x18, &hello)));
    }
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("flood.pcap");
    std::fs::write(&cap, pcap(&frames)).unwrap();
    let mut followed = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("o{threads}"));
        let (o, peak_kib) = tlstap_peak_rss(&[
            "read",
            cap.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--format",
            "jsonl",
            "--threads",
            threads,
            "--max-memory-mib",
            "112",
        ]);
        // The whole process stays under its limit.
        assert!(peak_kib > 0, "threads {threads}: no RSS reading");
        assert!(
            peak_kib < 112 * 1024,
            "threads {threads}: peak RSS {peak_kib} KiB over the 112 MiB limit"
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "threads {threads}: {err}");
        let rows = std::fs::read_to_string(out.join("handshakes.jsonl"))
            .unwrap()
            .lines()
            .count();
        let refused = counter(&err, "flow.memory_limit");
        assert!(refused > 0, "threads {threads}: nothing refused\n{err}");
        assert!(rows > 10_000 && rows < n, "threads {threads}: {rows} rows");
        followed.push(rows);
    }
    // More workers share the same memory: each refuses on its own once its share is
    // full. (More threads also mean more parser memos reserved, so a little less.)
    for (&f, t) in followed[1..].iter().zip(["2"]) {
        assert!(
            f <= followed[0] * 11 / 10 && f >= followed[0] / 2,
            "{t} threads followed {f}, 1 thread {}",
            followed[0]
        );
    }
}
