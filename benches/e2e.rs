//! End-to-end benchmark: tlstap against a bare libpcap read loop and against tshark, on
//! generated captures, printing ratios, rates and peak memory in one run.
//!
//! ```sh
//! cargo bench --bench e2e                 # generate (first time) and measure
//! cargo bench --bench e2e -- --runs 5     # median of 5 runs
//! cargo bench --bench e2e -- --quick      # small corpora, for a smoke test
//! ```
//! Corpora are generated (never committed) into `target/bench-corpus/` from the real
//! template captures in `testdata/` (see `corpus_gen.rs`):
//! - `dense.pcap`: ~50,000 TLS connections, handshakes back to back, over TCP, QUIC and
//!   DTLS in the proportions of the templates;
//! - `tap.pcap`: ~10,000 TLS-over-TCP connections each followed by bulk application data;
//! - `quic.pcap`: ~20,000 QUIC connections (Initial packets decrypted, CRYPTO reassembled),
//!   for QUIC handshakes per second;
//! - `attack.pcap`: 1,000,000 connections that never finish their handshake.

mod corpus_gen;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Args {
    runs: usize,
    quick: bool,
    regen: bool,
    skip_tshark: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        runs: 3,
        quick: false,
        regen: false,
        skip_tshark: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        match argv[i].as_str() {
            "--runs" => {
                a.runs = argv.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(3);
                i += 1;
            }
            "--quick" => a.quick = true,
            "--regen" => a.regen = true,
            "--no-tshark" => a.skip_tshark = true,
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    a
}

/// Wall time and peak RSS (KiB) of a child process.
fn run_child(cmd: &mut Command) -> (f64, u64, bool) {
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call on our own child's pid with valid out-pointers.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let secs = start.elapsed().as_secs_f64();
    let ok = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    std::mem::forget(child);
    (secs, ru.ru_maxrss as u64, ok)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The least any analyzer can do: read every packet of the file with libpcap.
fn bare_libpcap_loop(path: &Path) -> (f64, u64, u64) {
    let start = Instant::now();
    let mut cap = pcap::Capture::from_file(path).expect("libpcap opens the bench capture");
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        n += 1;
        bytes += p.data.len() as u64;
    }
    (start.elapsed().as_secs_f64(), n, bytes)
}

fn tlstap_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tlstap"))
}

/// `tlstap read` with `threads`; `one_cpu` pins the process (all its threads) to the
/// first CPU this process may run on, which is what "1 core" means for scaling: even
/// `--threads 1` runs its capture, parser and writer stages on separate threads, which an
/// unpinned run spreads over every core.
fn tlstap_run(path: &Path, threads: usize, one_cpu: bool, out: &Path) -> (f64, u64, bool) {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(tlstap_bin());
    cmd.arg("read")
        .arg(path)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .arg("--threads")
        .arg(threads.to_string());
    if one_cpu {
        let cpu = first_allowed_cpu();
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only async-signal-safe libc calls on a local
        // cpu_set_t are made.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    run_child(&mut cmd)
}

fn first_allowed_cpu() -> usize {
    // SAFETY: sched_getaffinity writes into the zeroed set we pass with its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            for cpu in 0..libc::CPU_SETSIZE as usize {
                if libc::CPU_ISSET(cpu, &set) {
                    return cpu;
                }
            }
        }
    }
    0
}

fn tshark_run(path: &Path) -> Option<f64> {
    Command::new("tshark").arg("--version").output().ok()?;
    let (secs, _, ok) = run_child(Command::new("tshark").args([
        "-r",
        path.to_str()?,
        "-Y",
        "tls.handshake.type==1 || tls.handshake.type==2",
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "tls.handshake.version",
        "-e",
        "tls.handshake.ciphersuite",
        "-e",
        "tls.handshake.extensions_server_name",
        "-e",
        "tls.handshake.extensions_alpn_str",
        "-e",
        "tls.handshake.extensions.supported_version",
        "-e",
        "tls.handshake.ja3",
        "-e",
        "tls.handshake.ja3s",
    ]));
    ok.then_some(secs)
}

fn handshakes_in(out: &Path) -> u64 {
    let f = std::fs::File::open(out.join("handshakes.parquet")).expect("output written");
    let r = parquet::file::reader::SerializedFileReader::new(f).expect("valid parquet");
    use parquet::file::reader::FileReader;
    r.metadata().file_metadata().num_rows() as u64
}

fn measure(name: &str, path: &Path, runs: usize, with_tshark: bool, out_root: &Path) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Warm the page cache so every contender reads from memory.
    let _ = bare_libpcap_loop(path);
    let mut loop_t = Vec::new();
    let mut packets = 0;
    let out = out_root.join(format!("out-{name}"));
    let (mut tl_t, mut tl1, mut tl1_pinned) = (Vec::new(), Vec::new(), Vec::new());
    let mut rss = 0;
    // Interleaved, so a change in the machine's load hits every contender alike.
    for _ in 0..runs {
        let (t, n, _) = bare_libpcap_loop(path);
        loop_t.push(t);
        packets = n;
        let (t, r, ok) = tlstap_run(path, 2, false, &out);
        assert!(ok, "tlstap failed on {}", path.display());
        tl_t.push(t);
        rss = rss.max(r);
        tl1_pinned.push(tlstap_run(path, 1, true, &out).0);
        tl1.push(tlstap_run(path, 1, false, &out).0);
    }
    let hs = handshakes_in(&out);
    let (lt, tt, t1, t1p) = (
        median(loop_t),
        median(tl_t),
        median(tl1),
        median(tl1_pinned),
    );
    println!(
        "== {name}: {} ({:.0} MB, {packets} packets, {hs} handshakes)",
        path.display(),
        size as f64 / 1e6
    );
    println!("  bare libpcap loop        {lt:8.3} s");
    println!(
        "  tlstap read (2 threads)  {tt:8.3} s   = {:.2}x the libpcap loop",
        tt / lt
    );
    println!(
        "  tlstap read (1 thread, pinned to 1 CPU) {t1p:8.3} s   2 threads on 2 CPUs = {:.2}x the throughput of 1 on 1",
        t1p / tt
    );
    println!(
        "  tlstap read (1 thread, unpinned)        {t1:8.3} s   (its stages still overlap on the other CPU)"
    );
    println!(
        "  tlstap rates: {:.2} Mpackets/s, {:.2} Gbit/s, {:.0} handshakes/s; peak RSS {} MiB",
        packets as f64 / tt / 1e6,
        size as f64 * 8.0 / tt / 1e9,
        hs as f64 / tt,
        rss / 1024
    );
    if with_tshark {
        match tshark_run(path) {
            Some(ts) => println!(
                "  tshark -Y hello -T fields {ts:8.3} s   tlstap is {:.1}x faster",
                ts / tt
            ),
            None => println!("  tshark: not installed or failed (apt-get install tshark)"),
        }
    }
}

/// The attack capture under a few process memory limits: peak RSS must stay within
/// `--max-memory-mib` (the excess connections are refused and counted).
fn attack(path: &Path, flows: usize, out_root: &Path) {
    let out = out_root.join("out-attack");
    for limit_mib in [64u64, 128, 256, 512] {
        let _ = std::fs::remove_dir_all(&out);
        let (t, rss, ok) = run_child(
            Command::new(tlstap_bin())
                .arg("read")
                .arg(path)
                .arg("--out")
                .arg(&out)
                .arg("--threads")
                .arg("2")
                .arg("--max-memory-mib")
                .arg(limit_mib.to_string()),
        );
        let rss_mib = rss / 1024;
        println!(
            "== attack: {flows} never-finishing connections, --max-memory-mib {limit_mib}: exit ok {ok}, {t:.2} s, peak RSS {rss_mib} MiB ({})",
            if rss_mib <= limit_mib { "within the limit" } else { "OVER THE LIMIT" }
        );
    }
}

const ATTACK_FLOWS: usize = 1_000_000;

fn main() {
    let args = parse_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-corpus");
    std::fs::create_dir_all(&dir).expect("create target/bench-corpus");
    let templates = corpus_gen::load_templates(&[
        &root.join("testdata/loopback"),
        &root.join("testdata/zeek"),
        &root.join("testdata/arkime"),
        &root.join("testdata/quic"),
        &root.join("testdata/dtls"),
    ]);
    let tcp_only: Vec<corpus_gen::Template> =
        templates.iter().filter(|t| !t.udp).cloned().collect();
    let quic_only: Vec<corpus_gen::Template> =
        corpus_gen::load_templates(&[&root.join("testdata/quic")]);
    let scale = if args.quick { 50 } else { 1 };
    let specs = [
        (
            "dense",
            &templates,
            corpus_gen::GenSpec {
                flows: 50_000 / scale,
                flows_per_sec: 500.0,
                // A little post-handshake traffic (HTTP request/response sized), so the
                // corpus is close to the target ~650 MB / 1.5 M packets.
                bulk_bytes_per_flow: 6_600,
                bulk_segment: 825,
                max_flow_ns: 2_000_000_000,
            },
        ),
        (
            "tap",
            &tcp_only,
            corpus_gen::GenSpec {
                flows: 10_000 / scale,
                flows_per_sec: 100.0,
                bulk_bytes_per_flow: 100_000,
                bulk_segment: 1448,
                max_flow_ns: 2_000_000_000,
            },
        ),
        (
            "quic",
            &quic_only,
            corpus_gen::GenSpec {
                flows: 20_000 / scale,
                flows_per_sec: 500.0,
                bulk_bytes_per_flow: 0,
                bulk_segment: 1448,
                max_flow_ns: 2_000_000_000,
            },
        ),
    ];
    println!(
        "templates: {} real TLS connections from testdata/ ({} over TCP, {} QUIC/DTLS)",
        templates.len(),
        tcp_only.len(),
        templates.len() - tcp_only.len()
    );
    for (name, templates, spec) in &specs {
        let path = dir.join(format!(
            "{name}{}.pcap",
            if args.quick { "-quick" } else { "" }
        ));
        if args.regen || !path.exists() {
            let t = Instant::now();
            let (p, b, f) = corpus_gen::generate(templates, spec, &path).expect("generate");
            println!(
                "generated {}: {f} flows, {p} packets, {:.0} MB in {:.1}s",
                path.display(),
                b as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
        }
        measure(name, &path, args.runs, !args.skip_tshark, &dir);
    }
    let apath = dir.join(format!(
        "attack{}.pcap",
        if args.quick { "-quick" } else { "" }
    ));
    if args.regen || !apath.exists() {
        corpus_gen::generate_attack(&apath, ATTACK_FLOWS / scale).expect("generate attack");
    }
    attack(&apath, ATTACK_FLOWS / scale, &dir);
}
