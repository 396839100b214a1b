//! End-to-end benchmark: tlstap against a bare libpcap read loop and against tshark, on
//! generated captures, printing ratios, rates and peak memory in one run.
//!
//! ```sh
//! cargo bench --bench e2e                 # generate (first time) and measure
//! cargo bench --bench e2e -- --runs 5     # median of 5 runs
//! cargo bench --bench e2e -- --quick      # small corpora, for a smoke test
//! ```
//! Corpora are generated (never committed) into `target/bench-corpus/` from the real
//! template captures in `testdata/` and `../shared/corpus` (when present; see
//! `corpus_gen.rs`), with client addresses, ports, randoms, session ids and key shares
//! varied per connection. Each corpus has a `.stamp` beside it naming the generator
//! version, the template set and the spec: a change to any of them regenerates it
//! (`--regen` forces it).
//! - `dense.pcap`: ~50,000 TLS connections, handshakes back to back, over TCP, QUIC and
//!   DTLS in the proportions of the templates, every 20th one tunnelled (VXLAN, Geneve,
//!   GRE); its 2-thread run also reports CPU time per thread (`TLSTAP_THREAD_CPU`)
//!   against the target of at most 25 % of the process's CPU for any one thread;
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

/// What a child process took.
struct ChildRun {
    /// Wall time, seconds.
    secs: f64,
    /// Peak RSS, KiB.
    rss_kib: u64,
    /// CPU time of all its threads (user + system), seconds.
    cpu_secs: f64,
    ok: bool,
}

/// Run a child to its end; what it took.
fn run_child(cmd: &mut Command) -> ChildRun {
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
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    ChildRun {
        secs,
        rss_kib: ru.ru_maxrss as u64,
        cpu_secs: tv(ru.ru_utime) + tv(ru.ru_stime),
        ok,
    }
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
/// unpinned run spreads over every core. `thread_cpu`: a file for its per-thread CPU
/// times (`TLSTAP_THREAD_CPU`).
fn tlstap_run(
    path: &Path,
    threads: usize,
    one_cpu: bool,
    out: &Path,
    thread_cpu: Option<&Path>,
) -> ChildRun {
    let _ = std::fs::remove_dir_all(out);
    let mut cmd = Command::new(tlstap_bin());
    cmd.arg("read")
        .arg(path)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .arg("--threads")
        .arg(threads.to_string());
    if let Some(f) = thread_cpu {
        let _ = std::fs::remove_file(f);
        cmd.env("TLSTAP_THREAD_CPU", f);
    }
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
    let run = run_child(Command::new("tshark").args([
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
    run.ok.then_some(run.secs)
}

fn handshakes_in(out: &Path) -> u64 {
    let f = std::fs::File::open(out.join("handshakes.parquet")).expect("output written");
    let r = parquet::file::reader::SerializedFileReader::new(f).expect("valid parquet");
    use parquet::file::reader::FileReader;
    r.metadata().file_metadata().num_rows() as u64
}

/// The per-thread CPU table of one run: each thread's share of the process's CPU time
/// (user + system of the whole process, from `wait4`), the largest against the target.
fn print_thread_cpu(tsv_path: &Path, process_cpu: f64) {
    let Ok(tsv) = std::fs::read_to_string(tsv_path) else {
        println!("  per-thread CPU: {} not written", tsv_path.display());
        return;
    };
    let mut rows: Vec<(String, f64)> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (name, ms) = l.split_once('\t')?;
            Some((name.to_string(), ms.parse::<f64>().ok()? / 1e3))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let recorded: f64 = rows.iter().map(|r| r.1).sum();
    let share = |cpu: f64| 100.0 * cpu / process_cpu.max(1e-9);
    println!(
        "  per-thread CPU (2 threads, last run; process CPU {process_cpu:.3} s, user + system):"
    );
    println!("    {:<24} {:>8} {:>7}", "thread", "CPU s", "share");
    for (name, cpu) in &rows {
        println!("    {name:<24} {cpu:8.3} {:6.1}%", share(*cpu));
    }
    println!(
        "    {:<24} {:8.3} {:6.1}%",
        "(not recorded)",
        (process_cpu - recorded).max(0.0),
        share((process_cpu - recorded).max(0.0))
    );
    if rows.len() <= 1 {
        println!(
            "    only the main thread recorded itself: the pipeline's threads do not call \
             tlstap::threadcpu::finish_thread yet"
        );
    }
    if let Some((name, cpu)) = rows.first() {
        let pct = share(*cpu);
        println!(
            "  largest thread share: {name} {pct:.1}% of process CPU (target <= {THREAD_SHARE_TARGET:.0}%): {}",
            if pct <= THREAD_SHARE_TARGET {
                "ok"
            } else {
                "OVER THE TARGET"
            }
        );
    }
}

/// Issue 13: no single thread may do more than this share of the process's CPU time
/// on the dense capture.
const THREAD_SHARE_TARGET: f64 = 25.0;

fn measure(
    name: &str,
    path: &Path,
    runs: usize,
    with_tshark: bool,
    out_root: &Path,
    thread_cpu: bool,
) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Warm the page cache so every contender reads from memory.
    let _ = bare_libpcap_loop(path);
    let mut loop_t = Vec::new();
    let mut packets = 0;
    let out = out_root.join(format!("out-{name}"));
    let tsv = out_root.join(format!("thread-cpu-{name}.tsv"));
    let (mut tl_t, mut tl1, mut tl1_pinned) = (Vec::new(), Vec::new(), Vec::new());
    let mut cpu = Vec::new();
    let mut last_cpu = 0.0;
    let mut rss = 0;
    // Interleaved, so a change in the machine's load hits every contender alike.
    for _ in 0..runs {
        let (t, n, _) = bare_libpcap_loop(path);
        loop_t.push(t);
        packets = n;
        let r = tlstap_run(path, 2, false, &out, thread_cpu.then_some(tsv.as_path()));
        assert!(r.ok, "tlstap failed on {}", path.display());
        tl_t.push(r.secs);
        cpu.push(r.cpu_secs);
        last_cpu = r.cpu_secs;
        rss = rss.max(r.rss_kib);
        tl1_pinned.push(tlstap_run(path, 1, true, &out, None).secs);
        tl1.push(tlstap_run(path, 1, false, &out, None).secs);
    }
    let hs = handshakes_in(&out);
    let (lt, tt, t1, t1p, cpu_s) = (
        median(loop_t),
        median(tl_t),
        median(tl1),
        median(tl1_pinned),
        median(cpu),
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
    println!(
        "  per core (2 threads, {cpu_s:.3} CPU s = {:.2} cores busy): {:.0} handshakes/s, {:.3} Mpackets/s per CPU second",
        cpu_s / tt,
        hs as f64 / cpu_s.max(1e-9),
        packets as f64 / cpu_s.max(1e-9) / 1e6
    );
    if thread_cpu {
        print_thread_cpu(&tsv, last_cpu);
    }
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
/// `--max-memory-mib` (the excess connections are refused and counted). 112 MiB is
/// a little above the least two threads accept (102 MiB: the reserve and two parser
/// threads' memos, plus 4 MiB per flow table).
fn attack(path: &Path, flows: usize, out_root: &Path) {
    let out = out_root.join("out-attack");
    for limit_mib in [112u64, 128, 256, 512] {
        let _ = std::fs::remove_dir_all(&out);
        let r = run_child(
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
        let (t, ok, rss_mib) = (r.secs, r.ok, r.rss_kib / 1024);
        println!(
            "== attack: {flows} never-finishing connections, --max-memory-mib {limit_mib}: exit ok {ok}, {t:.2} s, peak RSS {rss_mib} MiB ({})",
            if rss_mib <= limit_mib { "within the limit" } else { "OVER THE LIMIT" }
        );
    }
}

const ATTACK_FLOWS: usize = 1_000_000;

/// `path` was written by this generator from these templates and this spec (its
/// `.stamp` says so); else it is regenerated.
fn stamp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".stamp");
    PathBuf::from(s)
}

fn up_to_date(path: &Path, stamp: &str) -> bool {
    path.exists() && std::fs::read_to_string(stamp_path(path)).is_ok_and(|s| s == stamp)
}

fn print_loaded(what: &str, l: &corpus_gen::Loaded) {
    use corpus_gen::Kind;
    println!(
        "templates from {what}: {} ({} TCP, {} QUIC, {} DTLS) from {} captures ({} byte-identical copies read once)",
        l.templates.len(),
        l.count(Kind::Tcp),
        l.count(Kind::Quic),
        l.count(Kind::Dtls),
        l.captures,
        l.duplicates
    );
    let left: Vec<String> = l.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
    if !left.is_empty() {
        println!("  not used: {}", left.join(", "));
    }
}

fn main() {
    let args = parse_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-corpus");
    std::fs::create_dir_all(&dir).expect("create target/bench-corpus");
    use corpus_gen::Kind;
    // Captures already read, by content: testdata/ holds copies of some shared ones.
    let mut seen = std::collections::HashSet::new();
    let local_files: Vec<PathBuf> = ["loopback", "zeek", "arkime", "quic", "dtls"]
        .iter()
        .flat_map(|d| corpus_gen::capture_files(&root.join("testdata").join(d), false))
        .collect();
    let local = corpus_gen::load_templates(&local_files, &mut seen);
    print_loaded("testdata/", &local);
    let shared_dir = root.join("../shared/corpus");
    let shared = if shared_dir.is_dir() {
        let files = corpus_gen::capture_files(&shared_dir, true);
        let l = corpus_gen::load_templates(&files, &mut seen);
        print_loaded("../shared/corpus", &l);
        l
    } else {
        println!(
            "note: {} is absent: templates from testdata/ only",
            shared_dir.display()
        );
        corpus_gen::Loaded::default()
    };
    let templates: Vec<corpus_gen::Template> = local
        .templates
        .into_iter()
        .chain(shared.templates)
        .collect();
    let of_kind = |k: Kind| -> Vec<corpus_gen::Template> {
        templates.iter().filter(|t| t.kind == k).cloned().collect()
    };
    let (tcp_only, quic_only) = (of_kind(Kind::Tcp), of_kind(Kind::Quic));
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
                tunnel_every: 20,
                vary_hellos: true,
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
                tunnel_every: 0,
                vary_hellos: true,
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
                tunnel_every: 0,
                vary_hellos: true,
            },
        ),
    ];
    let varied: usize = templates.iter().map(|t| t.varied_bytes()).sum();
    println!(
        "templates: {} real TLS connections ({} TCP, {} QUIC, {} DTLS); {:.0} bytes of randoms, session ids and key shares varied per TCP connection on average",
        templates.len(),
        tcp_only.len(),
        quic_only.len(),
        templates.len() - tcp_only.len() - quic_only.len(),
        varied as f64 / tcp_only.len().max(1) as f64
    );
    for (name, templates, spec) in &specs {
        let path = dir.join(format!(
            "{name}{}.pcap",
            if args.quick { "-quick" } else { "" }
        ));
        let stamp = format!(
            "corpus_gen v{} templates {:016x} ({}) {spec:?}\n",
            corpus_gen::GENERATOR_VERSION,
            corpus_gen::fingerprint(templates),
            templates.len()
        );
        if args.regen || !up_to_date(&path, &stamp) {
            let t = Instant::now();
            let (p, b, f) = corpus_gen::generate(templates, spec, &path).expect("generate");
            std::fs::write(stamp_path(&path), &stamp).expect("write the corpus stamp");
            println!(
                "generated {}: {f} flows, {p} packets, {:.0} MB in {:.1}s",
                path.display(),
                b as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
        }
        measure(
            name,
            &path,
            args.runs,
            !args.skip_tshark,
            &dir,
            *name == "dense",
        );
    }
    let apath = dir.join(format!(
        "attack{}.pcap",
        if args.quick { "-quick" } else { "" }
    ));
    let astamp = format!(
        "corpus_gen v{} attack {}\n",
        corpus_gen::GENERATOR_VERSION,
        ATTACK_FLOWS / scale
    );
    if args.regen || !up_to_date(&apath, &astamp) {
        corpus_gen::generate_attack(&apath, ATTACK_FLOWS / scale).expect("generate attack");
        std::fs::write(stamp_path(&apath), &astamp).expect("write the corpus stamp");
    }
    attack(&apath, ATTACK_FLOWS / scale, &dir);
}
