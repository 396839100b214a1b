//! `tlstap`: the command line. Builds a configuration, calls the library, prints the
//! summary and maps the result to an exit code:
//!
//! - 0: everything read and written;
//! - 1: some inputs were unreadable or damaged (everything readable is still written);
//! - 2: usage error (bad flags or arguments);
//! - 3: fatal error: the output could not be written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use tlstap::decode::DecoderLimits;
use tlstap::flow::reassembly::ReasmLimits;
use tlstap::flow::table::FlowLimits;
use tlstap::output::{Format, OutputConfig};
use tlstap::pipeline::{expand_inputs, run_batch, Progress, RunConfig, RunReport};

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
    #[command(flatten)]
    limits: LimitArgs,
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
    /// Memory of the flow table per capture thread, in MiB: connection entries,
    /// reassembly buffers and held-back segments together. New connections beyond it
    /// are refused and counted (flow.memory_limit).
    #[arg(long, alias = "max-reassembly-mib", default_value_t = FlowLimits::default().max_memory >> 20, value_name = "MIB")]
    max_memory_mib: usize,
    /// Data segments per direction inspected for the start of TLS.
    #[arg(long, default_value_t = FlowLimits::default().sniff_max_segments, value_name = "N")]
    sniff_segments: u8,
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
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Read(args) => cmd_read(args),
    }
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
    };
    let progress = Progress::new(!args.quiet);
    let report = match run_batch(&cfg, &progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(3);
        }
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
        "tlstap: {} file(s), {:.1} MiB, {} packets, {} TCP segments in {:.2}s ({:.0} MiB/s)",
        r.files,
        mib,
        r.packets,
        r.tcp_segments,
        secs,
        mib / secs.max(1e-9)
    );
    let _ = writeln!(
        s,
        "  flows: {} TCP connections, {} with TLS, peak {} open",
        r.flows, r.tls_flows, r.peak_open_flows
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
