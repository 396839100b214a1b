//! `tlstap`: the command line. Builds a configuration, calls the library, prints the
//! summary and maps the result to an exit code:
//!
//! - 0: everything read and written (`live`: stopped by SIGINT/SIGTERM, all written;
//!   `read --out -`: also when the reader of stdout went away, as `| head` does);
//! - 1: some inputs were unreadable or damaged (everything readable is still written),
//!   or no input was a capture (nothing written); `live`: the capture could not start
//!   (no such interface, no permission, bad BPF filter, another `live` holds the
//!   folder) or failed while running (what was captured is still written);
//! - 2: usage error (bad flags or arguments);
//! - 3: fatal error: the output could not be written (the previous output is intact);
//! - 130: `read` interrupted by SIGINT/SIGTERM: what was read until then is written
//!   (a second signal exits at once, writing nothing and leaving no temporary file).
//!
//! `report`: 0 done; 1 the folder is missing or holds no readable tables (or the store
//! failed); 2 a storage URL that cannot be opened; 3 `--html` not written.

use std::path::{Path, PathBuf};
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
use tlstap::output::{
    abandon_temp_files, check_output_dir, check_sensor_name, default_sensor_name, new_run_id,
    Format, HiveNaming, Layout, OutputConfig, OutputError, RotateConfig, TableFormat,
};
use tlstap::pipeline::{
    expand_inputs, expand_remote, run_batch, run_live, CaptureEngine, LiveRunConfig, LiveRunError,
    LiveUpload, Progress, RunConfig, RunError, RunReport, Shard,
};
use tlstap::report::{self, Summary};
use tlstap::source::live::list_interfaces;
use tlstap::source::BpfFilter;
use tlstap::source::{ListenSpec, LiveConfig};
use tlstap::store::{is_url, Store, StoreError, StoreOptions};

/// mimalloc: rows are built on parser threads and freed on the writer's, a pattern
/// glibc's per-arena malloc handles poorly (it was ~15 % of a run's CPU time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Shown after every `--help`: scripts branch on these.
const EXIT_CODES: &str = "\
Exit codes:
  0    everything read and written (read --out -: also when stdout was closed, e.g. | head)
  1    some inputs unreadable or damaged (each named on stderr; everything readable was
       still written), or no input was a capture (nothing written); live: the capture
       could not start (interface, permission, BPF filter, folder locked by another live)
  2    usage error (unknown flag, meaningless value such as --threads 0, --out not a folder)
  3    the output could not be written (the folder keeps its previous tables)
  130  read interrupted by Ctrl-C/SIGTERM: everything read until then was written;
       a second Ctrl-C exits at once and writes nothing (no temporary file is left)";

#[derive(Parser, Debug)]
#[command(
    name = "tlstap",
    version,
    about = "Passive TLS handshake analyzer: captures in, one Parquet table of every TLS handshake out",
    long_about = None,
    after_help = EXIT_CODES
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
    /// --format jsonl) as a pair, then DIR/_SUCCESS. With --out - handshakes stream to
    /// stdout as JSON lines. A missing or unreadable input is named and skipped; the
    /// rest is still read and written (exit 1). Ctrl-C stops reading and writes what
    /// was read (exit 130); a second Ctrl-C exits at once.
    #[command(after_help = EXIT_CODES)]
    Read(ReadArgs),
    /// Capture live from a network interface (libpcap) until SIGINT/SIGTERM.
    ///
    /// Writes hive-partitioned files, one set per rotation window:
    /// DIR/{handshakes,certificates,stats}/date=YYYY-MM-DD/hour=HH/<start>-<seq>.parquet.
    /// Each file appears atomically (written as a hidden .tmp, then renamed). Needs root
    /// or CAP_NET_RAW + CAP_NET_ADMIN. On SIGINT/SIGTERM it drains what was captured,
    /// finishes open handshakes, writes the last window and exits 0 (a second SIGINT
    /// exits at once with code 1). One live per output folder: a second one on the
    /// same folder is refused (exit 1).
    #[command(after_help = EXIT_CODES)]
    Live(LiveArgs),
    /// List the interfaces libpcap can capture on.
    Interfaces,
    /// Summarise an output folder for a person: versions, ciphers, top SNIs and JA4s,
    /// chain validation, every finding with examples, certificates expiring soon.
    ///
    /// Reads DIR/handshakes.parquet and DIR/certificates.parquet (or the .jsonl pair of
    /// --format jsonl), or the current snapshot of the Delta tables DIR/handshakes/ and
    /// DIR/certificates/ (--table delta), or every *.parquet under them (the
    /// partitioned layout). DIR may be object storage (s3://bucket/prefix, gs://…,
    /// az://…, file:///…).
    Report(ReportArgs),
}

#[derive(Args, Debug)]
struct ReportArgs {
    /// Output folder or storage URL of `tlstap read` (or of a live capture).
    #[arg(value_name = "DIR|URL")]
    dir: PathBuf,
    /// Also write the report as one self-contained HTML page with charts.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Entries shown per ranked list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    #[command(flatten)]
    endpoint: EndpointArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum FormatArg {
    Parquet,
    Jsonl,
}

#[derive(Args, Debug)]
struct ReadArgs {
    /// Capture files or folders (walked recursively), objects or prefixes in storage
    /// (s3://bucket/pcaps/…, gs://…, az://…; streamed, no local copy), or - for a
    /// capture on stdin. Format is detected from content. A file named twice is read
    /// once.
    #[arg(required = true, value_name = "CAPTURE|DIR|URL|-")]
    inputs: Vec<PathBuf>,
    /// Output folder, object storage (s3://bucket/prefix, gs://…, az://…,
    /// file:///…: staged locally, then uploaded), or - for JSON lines on stdout.
    #[arg(short, long, value_name = "DIR|URL|-")]
    out: String,
    /// Output format [default: parquet; jsonl with --out -]
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// BPF filter, tcpdump syntax as for `live` (e.g. "tcp port 443"), compiled by
    /// libpcap and applied to every packet read.
    #[arg(long, value_name = "EXPR")]
    bpf: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one)]
    threads: Option<usize>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    /// Print every counter in the summary, including zero-impact ones, and name
    /// every file skipped as not a capture.
    #[arg(short, long)]
    verbose: bool,
    /// PEM file of extra trusted roots (an organisation's private CAs), added to the
    /// Mozilla root set for `validation_status`. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    /// Output layout: `flat` writes DIR/handshakes.parquet, DIR/certificates.parquet and
    /// DIR/_SUCCESS (one run per folder); `hive` writes
    /// DIR/{handshakes,certificates}/sensor=NAME/date=YYYY-MM-DD/hour=H/<run>.parquet by
    /// packet time, with names no other writer picks, so many machines and runs can
    /// write one prefix.
    #[arg(long, value_enum, default_value_t = LayoutArg::Flat)]
    layout: LayoutArg,
    /// Also commit the run's files to an open table format (needs --layout hive and
    /// Parquet): `delta` appends them to a Delta Lake table per table folder
    /// (DIR/handshakes/_delta_log/ …) in one atomic commit each, so many writers
    /// append to one table.
    #[arg(long, value_enum, default_value_t = TableArg::None)]
    table: TableArg,
    /// Read only shard K of N (1 <= K <= N) of the inputs: the list of all inputs
    /// (files, and objects below storage URLs) sorted by name, every N-th from the
    /// K-th. N machines given 1/N .. N/N cover an archive once, with no overlap and no
    /// gap (a Kubernetes indexed Job: --shard $((JOB_COMPLETION_INDEX+1))/N).
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum LayoutArg {
    Flat,
    Hive,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum TableArg {
    /// Files only: engines read the folders as a hive dataset.
    None,
    /// Delta Lake commits (a `_delta_log/` per table folder).
    Delta,
}

impl From<TableArg> for TableFormat {
    fn from(t: TableArg) -> TableFormat {
        match t {
            TableArg::None => TableFormat::None,
            TableArg::Delta => TableFormat::Delta,
        }
    }
}

/// A usage error (exit 2) in clap's format.
fn usage_error(message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, message)
        .exit()
}

/// Object storage and the fleet: where files go and under which name.
#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// Sensor or job name, the `sensor=` partition of the hive layout (live, and read
    /// --layout hive) [default: the host name].
    #[arg(long, value_name = "NAME", value_parser = sensor_name)]
    sensor: Option<String>,
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Local folder for output bound for object storage: read stages its files here
    /// until uploaded; live writes each window here first and uploads it from here,
    /// keeping it while the store is unreachable [default: $TMPDIR/tlstap-spool].
    #[arg(long, value_name = "DIR")]
    spool_dir: Option<PathBuf>,
}

/// How to reach object storage (`read`, `live` and `report`).
#[derive(Args, Debug, Clone)]
struct EndpointArgs {
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2, …) for s3:// URLs, e.g.
    /// http://minio:9000 [default: AWS_ENDPOINT_URL]. Credentials and region come from
    /// the usual AWS environment and credential chains.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
}

impl EndpointArgs {
    fn options(&self) -> StoreOptions {
        StoreOptions {
            s3_endpoint: self.s3_endpoint.clone(),
        }
    }
}

impl StoreArgs {
    fn options(&self) -> StoreOptions {
        self.endpoint.options()
    }

    fn spool_root(&self) -> PathBuf {
        self.spool_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("tlstap-spool"))
    }

    fn sensor(&self) -> String {
        self.sensor.clone().unwrap_or_else(default_sensor_name)
    }

    /// The store `out` names, if it is a URL; a URL that cannot be opened is a usage
    /// error (exit 2).
    fn remote_out(&self, out: &str) -> Result<Option<Store>, ExitCode> {
        if !is_url(out) {
            return Ok(None);
        }
        Store::create(out, &self.options()).map(Some).map_err(|e| {
            eprintln!("tlstap: error: --out {e}");
            ExitCode::from(2)
        })
    }
}

fn sensor_name(s: &str) -> Result<String, String> {
    check_sensor_name(s).map(|()| s.to_owned())
}

/// A folder name for a storage URL inside the spool (one live per URL).
fn spool_slug(url: &str) -> String {
    url.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Args, Debug)]
struct LiveArgs {
    /// PEM file of extra trusted roots, added to the Mozilla root set for
    /// `validation_status`. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca_file: Vec<PathBuf>,
    /// Interface to capture on (see `tlstap interfaces`; `any` for all).
    #[arg(
        short,
        long,
        value_name = "IFACE",
        required_unless_present = "listen_udp"
    )]
    interface: Option<String>,
    /// Receive mirrored traffic on a UDP socket instead of capturing: VXLAN (4789),
    /// Geneve (6081) or TZSP (37008), as cloud traffic mirroring sends it. No root,
    /// no libpcap. `[vxlan|geneve|tzsp:][ADDR:]PORT`; repeatable. The receive buffer is
    /// --buffer-mib.
    #[arg(long, value_name = "[KIND:][ADDR:]PORT", value_parser = ListenSpec::parse, conflicts_with_all = ["interface", "bpf", "no_promisc", "immediate"])]
    listen_udp: Vec<ListenSpec>,
    /// BPF capture filter, tcpdump syntax (e.g. "tcp port 443").
    #[arg(long, value_name = "EXPR")]
    bpf: Option<String>,
    /// Output folder (hive-partitioned tables below it), or object storage:
    /// s3://bucket/prefix, gs://…, az://…, file:///… (windows are spooled locally
    /// and uploaded; see --spool-dir).
    #[arg(short, long, value_name = "DIR|URL")]
    out: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    format: FormatArg,
    /// Close the output files and start new ones this often (wall clock), e.g. 60s, 5m, 1h.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = nonzero_duration)]
    rotate: Duration,
    /// Also close a window early once it holds this many handshakes (bounds memory).
    #[arg(long, default_value_t = 100_000, value_name = "N", value_parser = at_least_one)]
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
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = at_least_one)]
    queue: usize,
    /// Print a health line on stderr this often (0 to turn it off).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    stats_interval: Duration,
    /// Parser threads (default: cores - 1, at least 1).
    #[arg(short = 'j', long, value_name = "N", value_parser = at_least_one)]
    threads: Option<usize>,
    /// How to read the interface: libpcap (any OS), or Linux AF_PACKET rings
    /// (TPACKET_V3), one socket per --workers in a PACKET_FANOUT hash group.
    #[arg(long, value_enum, default_value_t = EngineArg::Pcap, conflicts_with = "listen_udp")]
    capture: EngineArg,
    /// Flow workers, each following its share of the connections (by a symmetric hash
    /// of the inner 5-tuple) with its share of --max-memory-mib. With --capture
    /// afpacket, also the number of capture sockets and threads. 1: the capture
    /// thread follows the flows itself.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = at_least_one)]
    workers: usize,
    /// No start line, stats lines or summary.
    #[arg(short, long)]
    quiet: bool,
    /// Most MiB of windows kept in the spool while the store is unreachable; beyond
    /// it the oldest windows are deleted unsent and counted (spool.dropped_files).
    #[arg(long, default_value_t = 1024, value_name = "MIB", value_parser = at_least_one)]
    spool_max_mib: usize,
    /// Also commit each window's files to an open table format (Parquet only):
    /// `delta` appends them to a Delta Lake table per table folder, one atomic commit
    /// per table and window, so a fleet of sensors appends to one table.
    #[arg(long, value_enum, default_value_t = TableArg::None)]
    table: TableArg,
    /// At stop, how long to keep uploading the spool before exiting (what is left
    /// is uploaded by the next start with the same --spool-dir and --out).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_duration)]
    upload_timeout: Duration,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum EngineArg {
    /// libpcap.
    Pcap,
    /// Linux AF_PACKET TPACKET_V3 with PACKET_FANOUT.
    Afpacket,
}

/// A count where 0 means nothing (`--threads 0`, `--max-flows 0`): a usage error.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// [`parse_duration`] where zero means nothing (`--rotate 0`): a usage error.
fn nonzero_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be longer than 0 (e.g. 500ms, 30s, 2m, 1h)".into());
    }
    Ok(d)
}

/// `60` (seconds), `60s`, `500ms`, `5m`, `1h`: the one duration syntax of every flag.
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
    #[arg(long, default_value_t = FlowLimits::default().max_flows, value_name = "N", value_parser = at_least_one)]
    max_flows: usize,
    /// Forget a connection after this long without packets (packet time; a number of
    /// seconds, or with a unit: 500ms, 30s, 2m, 1h).
    #[arg(long, default_value = "120s", value_name = "DURATION", value_parser = nonzero_duration)]
    idle_timeout: Duration,
    /// Handshake bytes kept per direction of a connection.
    #[arg(long, default_value_t = ReasmLimits::default().max_bytes_per_direction, value_name = "BYTES", value_parser = at_least_one)]
    max_stream_bytes: usize,
    /// Out-of-order segments held per direction before a gap is skipped.
    #[arg(long, default_value_t = ReasmLimits::default().max_ooo_segments, value_name = "N")]
    max_ooo_segments: usize,
    /// Memory of the whole process, in MiB. A fixed reserve (80 MiB plus 6 MiB per
    /// worker thread) is kept for the pipeline; 80 % of the rest is the flow tables'
    /// budget for connection entries, reassembly buffers and held-back segments. New
    /// connections beyond it are refused and counted (flow.memory_limit).
    #[arg(long, alias = "max-reassembly-mib", default_value_t = FlowLimits::default().max_memory >> 20, value_name = "MIB")]
    max_memory_mib: usize,
    /// Data segments per direction inspected for the start of TLS.
    #[arg(long, default_value_t = FlowLimits::default().sniff_max_segments, value_name = "N")]
    sniff_segments: u8,
    /// QUIC connections and DTLS associations followed at once per capture thread.
    #[arg(long, default_value_t = UdpLimits::default().max_flows, value_name = "N", value_parser = at_least_one)]
    max_udp_flows: usize,
    /// Forget a QUIC/DTLS flow after this long without datagrams (packet time; a
    /// number of seconds, or with a unit: 500ms, 30s, 2m).
    #[arg(long, default_value = "60s", value_parser = nonzero_duration, value_name = "DURATION")]
    udp_idle_timeout: Duration,
    /// Bytes of handshake datagrams kept per QUIC/DTLS flow.
    #[arg(long, default_value_t = UdpLimits::default().max_flow_bytes, value_name = "BYTES", value_parser = at_least_one)]
    max_udp_flow_bytes: usize,
    /// Key connections by their inner 5-tuple and VLAN only, not by the virtual network
    /// (VXLAN/Geneve VNI, GRE key) they were tunnelled in. By default connections in
    /// different virtual networks that reuse inner addresses stay apart; use this when
    /// one connection's directions arrive with different network ids.
    #[arg(long)]
    ignore_tunnel_id: bool,
}

impl LimitArgs {
    fn flow_limits(&self) -> FlowLimits {
        FlowLimits {
            max_flows: self.max_flows,
            idle_timeout_ns: i64::try_from(self.idle_timeout.as_nanos()).unwrap_or(i64::MAX),
            sniff_max_segments: self.sniff_segments,
            max_memory: self.max_memory_mib.saturating_mul(1 << 20),
            reasm: ReasmLimits {
                max_bytes_per_direction: self.max_stream_bytes,
                max_ooo_segments: self.max_ooo_segments,
            },
            tunnel_id_in_key: !self.ignore_tunnel_id,
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

fn unix_micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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
    // Rayon's global pool encodes Parquet columns; named, its threads show as such in
    // `top -H`, perf and the per-thread CPU report.
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("tlstap-enc-{i}"))
        .build_global();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Read(args) => {
            let code = cmd_read(args);
            write_thread_cpu();
            code
        }
        Cmd::Report(args) => cmd_report(args),
        Cmd::Live(args) => cmd_live(args),
        Cmd::Interfaces => cmd_interfaces(),
    }
}

/// Environment variable naming a file for per-thread CPU times of a `read` run (the
/// bench's thread-balance check): written as TSV `thread\tcpu_ms` when `read` ends,
/// successfully or not. Not a flag: it is a measurement hook, not part of the product.
const THREAD_CPU_ENV: &str = "TLSTAP_THREAD_CPU";

/// Writes [`tlstap::threadcpu::report_tsv`] to the file `TLSTAP_THREAD_CPU` names, if
/// set; a failure is a warning only (the run's own result stands).
fn write_thread_cpu() {
    let Some(path) = std::env::var_os(THREAD_CPU_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    if let Err(e) = std::fs::write(&path, tlstap::threadcpu::report_tsv()) {
        eprintln!(
            "tlstap: warning: {THREAD_CPU_ENV}={}: {e}",
            Path::new(&path).display()
        );
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
    let remote = match args.store.remote_out(&args.out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Windows bound for storage are written in the spool (one folder per URL) and
    // uploaded from there.
    let out_dir = match &remote {
        Some(store) => args.store.spool_root().join(spool_slug(store.url())),
        None => PathBuf::from(&args.out),
    };
    if let Err(e) = check_output_dir(&out_dir) {
        eprintln!("tlstap: error: {e}");
        return ExitCode::from(2);
    }
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
    if args.table != TableArg::None && format != Format::Parquet {
        usage_error("--table delta commits Parquet files: leave out --format jsonl");
    }
    let cfg = LiveRunConfig {
        listen: args.listen_udp.clone(),
        capture: LiveConfig {
            interface: args.interface.clone().unwrap_or_default(),
            bpf: args.bpf.clone(),
            snaplen: args.snaplen,
            buffer_bytes: args.buffer_mib.saturating_mul(1 << 20),
            promisc: !args.no_promisc,
            immediate: args.immediate,
            ..LiveConfig::default()
        },
        rotate: RotateConfig {
            dir: out_dir.clone(),
            sensor: args.store.sensor(),
            run_id: new_run_id(),
            format,
            every: args.rotate.max(Duration::from_millis(100)),
            max_rows: args.rotate_rows,
            batch_rows: OutputConfig::default().batch_rows,
            max_certificates: OutputConfig::default().max_certificates,
        },
        threads: threads.max(1),
        engine: match args.capture {
            EngineArg::Pcap => CaptureEngine::Pcap,
            EngineArg::Afpacket => CaptureEngine::AfPacket,
        },
        workers: args.workers,
        flow: args.limits.flow_limits(),
        decoder: DecoderLimits::default(),
        queue_batches: args.queue,
        max_cert_cache: 1_000_000,
        trust: match trust_store(&args.ca_file) {
            Ok(t) => t,
            Err(code) => return code,
        },
        stats_every: (!args.quiet && !args.stats_interval.is_zero()).then_some(args.stats_interval),
        table: args.table.into(),
        upload: remote.map(|store| LiveUpload {
            store,
            max_bytes: (args.spool_max_mib as u64).saturating_mul(1 << 20),
            drain: args.upload_timeout,
        }),
    };
    let quiet = args.quiet;
    let result = run_live(&cfg, shutdown, |src| {
        if !quiet {
            if args.listen_udp.is_empty() {
                let workers = match args.workers {
                    1 => String::new(),
                    n => format!(", {n} flow workers"),
                };
                eprintln!(
                    "tlstap: capturing on {}{workers} (snaplen {}, filter {:?}), writing {} every {:?}",
                    src.describe(),
                    args.snaplen,
                    args.bpf.as_deref().unwrap_or(""),
                    args.out,
                    args.rotate
                );
            } else {
                eprintln!(
                    "tlstap: listening for {}, writing {} every {:?}",
                    src.describe(),
                    args.out,
                    args.rotate
                );
            }
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(LiveRunError::Capture(e)) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(1);
        }
        Err(LiveRunError::Run(e)) => return run_failed(&e),
        Err(LiveRunError::Output(e @ OutputError::Locked(_))) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(3);
        }
    };
    for p in &report.problems {
        eprintln!("tlstap: error: {}: {}", p.path.display(), p.message);
    }
    for w in &report.warnings {
        eprintln!("tlstap: warning: {w}");
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
    let loaded = match args.dir.to_str().filter(|d| is_url(d)) {
        Some(url) => match Store::open(url, &args.endpoint.options()) {
            Ok(store) => Summary::load_store(&store),
            // A file:// folder that is not there, as for a path.
            Err(e @ StoreError::Local { .. }) => {
                eprintln!("tlstap: error: {e}");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("tlstap: error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Summary::load(&args.dir),
    };
    let summary = match loaded {
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

/// SIGINT/SIGTERM during `read`: the first sets `stop` (reading ends, what was read is
/// written); the second deletes every temporary file and exits at once with 130.
fn stop_on_signals(stop: Arc<AtomicBool>, quiet: bool) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("tlstap-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for _ in signals.forever() {
                seen += 1;
                if seen == 1 {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    if !quiet {
                        eprintln!(
                            "\ntlstap: interrupted: writing what was read so far \
                             (interrupt again to exit at once, writing nothing)"
                        );
                    }
                } else {
                    // Held until exit: no writer can create or rename a file after this.
                    let _held = abandon_temp_files();
                    eprintln!("tlstap: interrupted again: exiting, nothing written");
                    std::process::exit(130);
                }
            }
        })?;
    Ok(())
}

fn cmd_read(args: ReadArgs) -> ExitCode {
    let started = Instant::now();
    let to_stdout = args.out == "-";
    let format = match (to_stdout, args.format) {
        (true, Some(FormatArg::Parquet)) => {
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--out - streams JSON lines to stdout; --format parquet needs an output folder",
                )
                .exit();
        }
        (true, _) | (false, Some(FormatArg::Jsonl)) => Format::Jsonl,
        (false, _) => Format::Parquet,
    };
    if to_stdout && args.layout == LayoutArg::Hive {
        usage_error(
            "--out - streams JSON lines to stdout; --layout hive needs an output folder or URL",
        );
    }
    if args.table != TableArg::None && (args.layout != LayoutArg::Hive || format != Format::Parquet)
    {
        usage_error("--table delta commits Parquet files of the hive layout: add --layout hive (and no --format jsonl)");
    }
    let run_id = new_run_id();
    let remote = match args.store.remote_out(&args.out) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Output bound for storage is staged in a folder of its own under the spool.
    let out_dir = match &remote {
        Some(_) => args.store.spool_root().join(format!("stage-{run_id}")),
        None => PathBuf::from(&args.out),
    };
    if !to_stdout {
        if let Err(e) = check_output_dir(&out_dir) {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(expr) = &args.bpf {
        if let Err(e) = BpfFilter::new(expr) {
            eprintln!("tlstap: error: {e}");
            return ExitCode::from(2);
        }
    }
    let mut expanded = expand_inputs(
        &args
            .inputs
            .iter()
            .filter(|p| !p.to_str().is_some_and(is_url))
            .cloned()
            .collect::<Vec<_>>(),
    );
    for url in args
        .inputs
        .iter()
        .filter_map(|p| p.to_str())
        .filter(|p| is_url(p))
    {
        let more = expand_remote(url, &args.store.options());
        expanded.inputs.extend(more.inputs);
        expanded.problems.extend(more.problems);
    }
    if let Some(shard) = args.shard {
        expanded.inputs = shard.select(std::mem::take(&mut expanded.inputs));
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let trust = match trust_store(&args.ca_file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let cfg = RunConfig {
        inputs: expanded.inputs,
        threads,
        flow: args.limits.flow_limits(),
        decoder: DecoderLimits::default(),
        output: OutputConfig {
            dir: (!to_stdout).then(|| out_dir.clone()),
            format,
            layout: match args.layout {
                LayoutArg::Flat => Layout::Flat,
                LayoutArg::Hive => Layout::Hive,
            },
            naming: HiveNaming {
                sensor: args.store.sensor(),
                run_id,
                started_us: unix_micros_now(),
            },
            remote,
            table: args.table.into(),
            ..OutputConfig::default()
        },
        max_cert_cache: 1_000_000,
        trust,
        bpf: args.bpf.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = stop_on_signals(stop.clone(), args.quiet) {
        eprintln!("tlstap: error: cannot install signal handlers: {e}");
        return ExitCode::from(3);
    }
    let progress = Progress::new(!args.quiet);
    let mut report = match run_batch(&cfg, &progress, stop) {
        Ok(r) => r,
        // `--out - | head`: the reader has what it wanted; a normal end.
        Err(RunError::Output(e)) if e.is_broken_pipe() => return ExitCode::SUCCESS,
        Err(e) => return run_failed(&e),
    };
    report.problems.extend(expanded.problems);
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
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
    if args.verbose {
        for p in &report.skipped {
            eprintln!("tlstap: skipped (not a capture): {}", p.display());
        }
    }
    if !args.quiet && (report.captures > 0 || report.interrupted) {
        print_summary(&report, started.elapsed().as_secs_f64(), args.verbose);
        if expanded.duplicates > 0 {
            eprintln!(
                "  {} input(s) named more than once were read once",
                expanded.duplicates
            );
        }
    }
    if report.interrupted {
        if !args.quiet {
            eprintln!(
                "tlstap: interrupted: stopped reading early; everything read until then is written"
            );
        }
        return ExitCode::from(130);
    }
    if report.captures == 0 {
        let skipped = match report.skipped.len() {
            0 => String::new(),
            n => format!(" ({n} file(s) skipped as not captures; -v names them)"),
        };
        eprintln!("tlstap: error: no capture file among the inputs{skipped}: nothing written");
        return ExitCode::from(1);
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
    if !r.skipped.is_empty() {
        let _ = writeln!(
            s,
            "  skipped: {} file(s) that are not captures{}",
            r.skipped.len(),
            if verbose { "" } else { " (-v names them)" }
        );
    }
    if r.bpf_rejected > 0 {
        let _ = writeln!(s, "  --bpf: {} packet(s) left out", r.bpf_rejected);
    }
    if r.interrupted {
        let _ = writeln!(
            s,
            "  interrupted: reading stopped early ({} of the inputs started)",
            r.files
        );
    }
    let shown: Vec<(&str, u64)> = r
        .counters
        .iter()
        // Routine facts, not problems: shown with -v only.
        .filter(|(k, _)| {
            verbose || !(k.ends_with(".not_tcp_udp") || *k == "tls.handshake_encrypted")
        })
        .filter(|(k, _)| *k != "input.skipped_not_a_capture")
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(
            s,
            "  counted, by reason (drops, limits hit, anomalies, parser notes):"
        );
        for (k, v) in shown {
            let _ = writeln!(s, "    {k:<32} {v}");
        }
    }
    eprint!("{s}");
}
