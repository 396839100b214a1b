//! `tlstap`: the command line. Builds a configuration, calls the library, prints the
//! summary and maps the result to an exit code:
//!
//! - 0: everything read and written (`live`: stopped by SIGINT/SIGTERM, all written);
//! - 1: some inputs were unreadable or damaged (everything readable is still written);
//!   `live`: the capture could not start (no such interface, no permission, bad BPF
//!   filter) or failed while running (what was captured is still written);
//! - 2: usage error (bad flags or arguments);
//! - 3: fatal error: the output could not be written.
//!
//! `report`: 0 done; 1 the folder holds no readable tables; 3 `--html` not written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};

use tlstap::certs::chain::TrustStore;
use tlstap::decode::DecoderLimits;
use tlstap::flow::reassembly::ReasmLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::flow::udp::UdpLimits;
use tlstap::output::{Format, OutputConfig, RotateConfig};
use tlstap::pipeline::{
    expand_inputs, run_batch, run_live, LiveRunConfig, LiveRunError, Progress, RunConfig, RunError,
    RunReport,
};
use tlstap::report::{self, Summary};
use tlstap::source::live::list_interfaces;
use tlstap::source::LiveConfig;

/// mimalloc: rows are built on parser threads and freed on the writer's, a pattern
/// glibc's per-arena malloc handles poorly (it was ~15 % of a run's CPU time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "tlstap",
    version,
    about = "Passive TLS handshake analyzer: captures in, one Parquet table of every TLS handshake out",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Analyse capture files (pcap, pcapng, optionally .gz) or folders of them.
    ///
    /// Writes DIR/handshakes.parquet and DIR/certificates.parquet (or .jsonl with
    /// --format jsonl). With --out - handshakes stream to stdout as JSON lines.
    Read(ReadArgs),
    /// Capture live from a network interface (libpcap) until SIGINT/SIGTERM.
    ///
    /// Writes hive-partitioned files, one set per rotation window:
    /// DIR/{handshakes,certificates,stats}/date=YYYY-MM-DD/hour=HH/<start>-<seq>.parquet.
    /// Each file appears atomically (written as a hidden .tmp, then renamed). Needs root
    /// or CAP_NET_RAW + CAP_NET_ADMIN. On SIGINT/SIGTERM it drains what was captured,
    /// finishes open handshakes, writes the last window and exits 0 (a second SIGINT
    /// exits at once with code 1).
    Live(LiveArgs),
    /// List the interfaces libpcap can capture on.
    Interfaces,
    /// Summarise an output folder for a person: versions, ciphers, top SNIs and JA4s,
    /// chain validation, every finding with examples, certificates expiring soon.
    ///
    /// Reads DIR/handshakes.parquet and DIR/certificates.parquet, or every *.parquet
    /// under DIR/handshakes/ and DIR/certificates/ (the partitioned live layout).
    Report(ReportArgs),
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Output folder of `tlstap read` (or of a live capture).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Also write the report as one self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Entries shown per ranked list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum FormatArg {
    Parquet,
    Jsonl,
}

#[derive(Args, Debug)]
struct ReadArgs {
    /// Capture files or folders (walked recursively). Format is detected from content.
    #[arg(required = true, value_name = "CAPTURE|DIR")]
    inputs: Vec<PathBuf>,
    /// Output folder, or - for JSON lines on stdout.
    #[arg(short, long, value_name = "DIR")]
    out: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    /// Print every counter in the summary, including zero-impact ones.
    #[arg(short, long)]
    verbose: bool,
    /// PEM file of extra trusted roots (an organisation's private CAs), added to the
    /// Mozilla root set for `validation_status`. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Debug)]
struct LiveArgs {
    /// PEM file of extra trusted roots, added to the Mozilla root set for
    /// `validation_status`. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    /// Interface to capture on (see `tlstap interfaces`; `any` for all).
    #[arg(short, long, value_name = "IFACE")]
    interface: String,
    /// BPF capture filter, tcpdump syntax (e.g. "tcp port 443").
    #[arg(long, value_name = "EXPR")]
    bpf: Option<String>,
    /// Output folder (hive-partitioned tables below it).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    /// Close the output files and start new ones this often (wall clock), e.g. 60s, 5m, 1h.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    rotate: Duration,
    /// Also close a window early once it holds this many handshakes (bounds memory).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    rotate_rows: usize,
    /// Bytes kept of each packet.
    #[arg(long, default_value_t = LiveConfig::default().snaplen, value_name = "BYTES")]
    snaplen: u32,
    /// Kernel capture buffer, in MiB (absorbs bursts).
    #[arg(long, default_value_t = LiveConfig::default().buffer_bytes >> 20, value_name = "MIB")]
    buffer_mib: u32,
    /// Do not put the interface in promiscuous mode (default: promiscuous, as a SPAN
    /// port or tap needs).
    #[arg(long)]
    no_promisc: bool,
    /// Immediate mode: packets delivered one by one (lower latency, more CPU). Default:
    /// kernel batches them, flushed at least every 100 ms.
    #[arg(long)]
    immediate: bool,
    /// Handshake batches queued for the parsers; when full, new ones are dropped and
    /// counted (live.parse_queue_full) so capture never stalls.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    queue: usize,
    /// Print a health line on stderr this often (0 to turn it off).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    stats_interval: Duration,
    /// Parser threads (default: cores - 1, at least 1).
    #[arg(short = 'j', long, value_name = "N")]
    threads: Option<usize>,
    /// No start line, stats lines or summary.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// `60`, `60s`, `500ms`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit (ms, s, m, h)"))?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_millis(n.saturating_mul(ms)))
}

/// Resource limits. Each one, when hit, is counted in the summary by reason.
#[derive(Args, Debug, Clone)]
struct LimitArgs {
    /// Connections followed at once per capture thread.
    #[arg(long, default_value_t = FlowLimits::default().max_flows, value_name = "N")]
    max_flows: usize,
    /// Forget a connection after this many seconds without packets (packet time).
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    idle_timeout: u64,
    /// Handshake bytes kept per direction of a connection.
    #[arg(long, default_value_t = ReasmLimits::default().max_bytes_per_direction, value_name = "BYTES")]
    max_stream_bytes: usize,
    /// Out-of-order segments held per direction before a gap is skipped.
    #[arg(long, default_value_t = ReasmLimits::default().max_ooo_segments, value_name = "N")]
    max_ooo_segments: usize,
    /// Memory of the whole process, in MiB. A fixed reserve (40 MiB plus 6 MiB per
    /// worker thread) is kept for the pipeline; 3/4 of the rest is the flow tables'
    /// budget for connection entries, reassembly buffers and held-back segments. New
    /// connections beyond it are refused and counted (flow.memory_limit).
    #[arg(long, alias = "max-reassembly-mib", default_value_t = FlowLimits::default().max_memory >> 20, value_name = "MIB")]
    max_memory_mib: usize,
    /// Data segments per direction inspected for the start of TLS.
    #[arg(long, default_value_t = FlowLimits::default().sniff_max_segments, value_name = "N")]
    sniff_segments: u8,
    /// QUIC connections and DTLS associations followed at once per capture thread.
    #[arg(long, default_value_t = UdpLimits::default().max_flows, value_name = "N")]
    max_udp_flows: usize,
    /// Forget a QUIC/DTLS flow after this long without datagrams (packet time; a
    /// number of seconds, or with a unit: 500ms, 30s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    udp_idle_timeout: Duration,
    /// Bytes of handshake datagrams kept per QUIC/DTLS flow.
    #[arg(long, default_value_t = UdpLimits::default().max_flow_bytes, value_name = "BYTES")]
    max_udp_flow_bytes: usize,
}

impl LimitArgs {
    fn flow_limits(&self) -> FlowLimits {
        FlowLimits {
            max_flows: self.max_flows,
            idle_timeout_ns: i64::try_from(self.idle_timeout)
                .unwrap_or(i64::MAX / 1_000_000_000)
                .saturating_mul(1_000_000_000),
            sniff_max_segments: self.sniff_segments,
            max_memory: self.max_memory_mib.saturating_mul(1 << 20),
            reasm: ReasmLimits {
                max_bytes_per_direction: self.max_stream_bytes,
                max_ooo_segments: self.max_ooo_segments,
            },
            udp: UdpLimits {
                max_flows: self.max_udp_flows,
                max_flow_bytes: self.max_udp_flow_bytes,
                idle_timeout_ns: i64::try_from(self.udp_idle_timeout.as_nanos())
                    .unwrap_or(i64::MAX),
                ..UdpLimits::default()
            },
        }
    }
}

/// A run that could not start or finish: exit 2 for a limit the user set too small
/// (a usage error), 3 for everything else (fatal).
fn run_failed(e: &RunError) -> ExitCode {
    eprintln!("tlstap: error: {e}");
    ExitCode::from(if matches!(e, RunError::Memory(_)) {
        2
    } else {
        3
    })
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Read(args) => cmd_read(args),
        Cmd::Report(args) => cmd_report(args),
        Cmd::Live(args) => cmd_live(args),
        Cmd::Interfaces => cmd_interfaces(),
    }
}

/// Turns transparent huge pages off for this process. The allocator hands freed memory
/// back to the kernel and takes it again as the writer's buffers grow and shrink; with
/// huge pages each such fault zeroes 2 MiB, which was a sixth of a run's CPU time
/// (`perf`: `clear_page_erms`). Small pages cost more faults but far less zeroing.
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of
    // ours; on kernels without it the call fails harmlessly.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The Mozilla roots plus each `--ca-file`; a file with no usable certificate is a
/// usage error (exit 2).
fn trust_store(files: &[PathBuf]) -> Result<TrustStore, ExitCode> {
    let mut trust = TrustStore::mozilla();
    for f in files {
        if let Err(e) = trust.add_pem_file(f) {
            eprintln!("tlstap: error: --ca-file {e}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(trust)
}

fn cmd_interfaces() -> ExitCode {
    match list_interfaces() {
        Ok(list) => {
            for i in list {
                let mut flags = Vec::new();
                if i.up {
                    flags.push("up");
                }
                if i.running {
                    flags.push("running");
                }
                if i.loopback {
                    flags.push("loopback");
                }
                let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
                println!(
                    "{:<16} {:<22} {}{}",
                    i.name,
                    flags.join(","),
                    addrs.join(" "),
                    i.description
                        .map(|d| format!("  ({d})"))
                        .unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn cmd_live(args: LiveArgs) -> ExitCode {
    let started = Instant::now();
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Order matters: the first registration exits at once if the flag is already
        // set, i.e. on the second signal.
        let registered = signal_hook::flag::register_conditional_shutdown(sig, 1, shutdown.clone())
            .and_then(|_| signal_hook::flag::register(sig, shutdown.clone()));
        if let Err(e) = registered {
            eprintln!("tlstap: error: cannot install signal handlers: {e}");
            return ExitCode::from(3);
        }
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1))
    });
    let format = match args.format {
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Jsonl => Format::Jsonl,
    };
    let cfg = LiveRunConfig {
        capture: LiveConfig {
            interface: args.interface.clone(),
            bpf: args.bpf.clone(),
            snaplen: args.snaplen,
            buffer_bytes: args.buffer_mib.saturating_mul(1 << 20),
            promisc: !args.no_promisc,
            immediate: args.immediate,
            ..LiveConfig::default()
        },
        rotate: RotateConfig {
            dir: args.out.clone(),
            format,
            every: args.rotate.max(Duration::from_millis(100)),
            max_rows: args.rotate_rows,
            batch_rows: OutputConfig::default().batch_rows,
            max_certificates: OutputConfig::default().max_certificates,
        },
        threads: threads.max(1),
        flow: args.limits.flow_limits(),
        decoder: DecoderLimits::default(),
        queue_batches: args.queue,
        max_cert_cache: 1_000_000,
        trust: match trust_store(&args.ca_file) {
            Ok(t) => t,
            Err(code) => return code,
        },
        stats_every: (!args.quiet && !args.stats_interval.is_zero()).then_some(args.stats_interval),
    };
    let quiet = args.quiet;
    let result = run_live(&cfg, shutdown, |src| {
        if !quiet {
            eprintln!(
                "tlstap: capturing on {} (linktype {}, snaplen {}, filter {:?}), \
                 writing {} every {:?}",
                args.interface,
                src.linktype(),
                args.snaplen,
                args.bpf.as_deref().unwrap_or(""),
                args.out.display(),
                args.rotate
            );
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(LiveRunError::Capture(e)) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(1);
        }
        Err(LiveRunError::Run(e)) => return run_failed(&e),
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(3);
        }
    };
    for p in &report.problems {
        eprintln!("tlstap: error: {}: {}", p.path.display(), p.message);
    }
    if !quiet {
        print_summary(&report, started.elapsed().as_secs_f64(), false);
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn cmd_report(args: ReportArgs) -> ExitCode {
    let summary = match Summary::load(&args.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", report::text::render(&summary, args.top));
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, report::html::render(&summary, args.top)) {
            eprintln!("tlstap: error: {}: {e}", path.display());
            return ExitCode::from(3);
        }
        eprintln!("tlstap: wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn cmd_read(args: ReadArgs) -> ExitCode {
    let started = Instant::now();
    let inputs = match expand_inputs(&args.inputs) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(1);
        }
    };
    let to_stdout = args.out == "-";
    let format = match (to_stdout, args.format) {
        (true, _) | (false, FormatArg::Jsonl) => Format::Jsonl,
        (false, FormatArg::Parquet) => Format::Parquet,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let trust = match trust_store(&args.ca_file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let cfg = RunConfig {
        inputs,
        threads,
        flow: args.limits.flow_limits(),
        decoder: DecoderLimits::default(),
        output: OutputConfig {
            dir: (!to_stdout).then(|| PathBuf::from(&args.out)),
            format,
            ..OutputConfig::default()
        },
        max_cert_cache: 1_000_000,
        trust,
    };
    let progress = Progress::new(!args.quiet);
    let report = match run_batch(&cfg, &progress) {
        Ok(r) => r,
        Err(e) => return run_failed(&e),
    };
    for p in &report.problems {
        let what = if p.partial {
            "damaged, read up to the damage"
        } else {
            "unreadable"
        };
        eprintln!(
            "tlstap: warning: {}: {} ({what})",
            p.path.display(),
            p.message
        );
    }
    if !args.quiet {
        print_summary(&report, started.elapsed().as_secs_f64(), args.verbose);
    }
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_summary(r: &RunReport, secs: f64, verbose: bool) {
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "tlstap: {} file(s), {:.1} MiB, {} packets, {} TCP segments, {} UDP datagrams in {:.2}s ({:.0} MiB/s)",
        r.files,
        mib,
        r.packets,
        r.tcp_segments,
        r.udp_datagrams,
        secs,
        mib / secs.max(1e-9)
    );
    let _ = writeln!(
        s,
        "  flows: {} TCP connections, {} QUIC/DTLS flows, {} with TLS, peak {} open",
        r.flows, r.udp_flows, r.tls_flows, r.peak_open_flows
    );
    let _ = writeln!(
        s,
        "  written: {} handshakes, {} distinct certificates",
        r.output.handshakes, r.output.certificates
    );
    for f in &r.output.files {
        let _ = writeln!(s, "    {}", f.display());
    }
    if !r.output.by_version.is_empty() {
        let parts: Vec<String> = r
            .output
            .by_version
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "  versions: {}", parts.join(", "));
    }
    if !r.output.by_status.is_empty() {
        let parts: Vec<String> = r
            .output
            .by_status
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "  status: {}", parts.join(", "));
    }
    let shown: Vec<(&str, u64)> = r
        .counters
        .iter()
        .filter(|(k, _)| verbose || !k.ends_with(".not_tcp"))
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(s, "  dropped / truncated / malformed, by reason:");
        for (k, v) in shown {
            let _ = writeln!(s, "    {k:<32} {v}");
        }
    }
    eprint!("{s}");
}
