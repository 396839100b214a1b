//! Live capture end to end: the real `tlstap live` on `lo`, real handshakes from
//! `openssl s_client` and `curl` against `openssl s_server`, signals, rotation, crashes.
//!
//! Capturing needs root (CAP_NET_RAW); without it each test prints why and returns. CI
//! runs as root (`CI` set), so there a missing tool or permission is a failure.

#[path = "support/table.rs"]
mod table;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt16Type;
use arrow::record_batch::RecordBatch;
use table::{col_strings, files_under, read_parquet, try_read_parquet};

const TLSTAP: &str = env!("CARGO_BIN_EXE_tlstap");

/// `true` when live capture can be tested here; otherwise says why (and fails on CI).
fn can_capture() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tools = ["openssl", "curl", "tcpdump"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let why = match (root, tools) {
        (true, true) => return true,
        (false, _) => "not root: live capture needs CAP_NET_RAW",
        (true, false) => "openssl, curl or tcpdump missing",
    };
    if std::env::var_os("CI").is_some() {
        panic!("live capture tests must run on CI: {why}");
    }
    eprintln!("note: skipping live capture test: {why}");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child killed when dropped (a failing test leaves nothing running).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < limit, "process did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Collect a child's stderr in the background; `wait_for` blocks until a line
/// containing the text appears.
struct Stderr {
    text: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
}

impl Stderr {
    fn capture(child: &mut Child) -> Stderr {
        let err = child.stderr.take().unwrap();
        let text = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let t = text.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                t.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        Stderr { text, lines }
    }

    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(needle) {
                return;
            }
        }
        panic!("no {needle:?} on stderr; got:\n{}", self.all());
    }

    fn all(&self) -> String {
        self.text.lock().unwrap().clone()
    }
}

/// A TLS server on `port` (self-signed certificate for `CN=tlstap.test`).
fn server(dir: &Path, port: u16) -> Guard {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    if !cert.exists() {
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=tlstap.test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-cert",
        ])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // That probe connection is a TCP flow without TLS; tlstap ignores it.
    Guard(child)
}

/// Start `tlstap live` on `lo` for `port` and wait until it captures.
fn live(out: &Path, port: u16, extra: &[&str]) -> (Guard, Stderr) {
    let mut child = Command::new(TLSTAP)
        .args([
            "live",
            "-i",
            "lo",
            "--bpf",
            &format!("tcp port {port}"),
            "--out",
        ])
        .arg(out)
        .args(["--stats-interval", "1s"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Stderr::capture(&mut child);
    err.wait_for("capturing on lo");
    (Guard(child), err)
}

#[derive(Debug, Clone, Copy)]
enum Client {
    Curl12,
    Curl13,
    Openssl12,
    Openssl13,
}

impl Client {
    const ALL: [Client; 4] = [
        Client::Curl12,
        Client::Curl13,
        Client::Openssl12,
        Client::Openssl13,
    ];

    fn version(self) -> u16 {
        match self {
            Client::Curl12 | Client::Openssl12 => 0x0303,
            Client::Curl13 | Client::Openssl13 => 0x0304,
        }
    }

    /// Run one connection with this SNI; `true` when the handshake completed.
    fn run(self, port: u16, sni: &str) -> bool {
        let mut cmd = match self {
            Client::Curl12 | Client::Curl13 => {
                let mut c = Command::new("curl");
                c.args(["-sk", "--max-time", "5", "-o", "/dev/null"])
                    .args(["--resolve", &format!("{sni}:{port}:127.0.0.1")]);
                if matches!(self, Client::Curl12) {
                    c.args(["--tlsv1.2", "--tls-max", "1.2"]);
                } else {
                    c.args(["--tlsv1.3"]);
                }
                c.arg(format!("https://{sni}:{port}/"));
                c
            }
            Client::Openssl12 | Client::Openssl13 => {
                let mut c = Command::new("openssl");
                c.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                    .args(["-servername", sni]);
                c.arg(if matches!(self, Client::Openssl12) {
                    "-tls1_2"
                } else {
                    "-tls1_3"
                });
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// One client connection's outcome.
#[derive(Debug, Clone)]
struct Done {
    sni: String,
    client: Client,
    ok: bool,
    at: Instant,
}

/// Run clients one after the other (kinds in turn, a fresh SNI each) until `stop`.
fn drive(port: u16, tag: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Done>> {
    let tag = tag.to_owned();
    std::thread::spawn(move || {
        let mut done = Vec::new();
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let client = Client::ALL[i % Client::ALL.len()];
            let sni = format!("c{i}.{tag}.test");
            let ok = client.run(port, &sni);
            done.push(Done {
                sni,
                client,
                ok,
                at: Instant::now(),
            });
            i += 1;
        }
        done
    })
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The columns compared between `live` and `read`.
type Key = (String, String, String, u16, u16);

#[derive(Debug, Clone)]
struct Row {
    community_id: String,
    sni: Option<String>,
    ja4: Option<String>,
    version: Option<u16>,
    cipher: Option<u16>,
    status: String,
    ts: i64,
}

impl Row {
    fn key(&self) -> Key {
        (
            self.community_id.clone(),
            self.sni.clone().unwrap_or_default(),
            self.ja4.clone().unwrap_or_default(),
            self.version.unwrap_or(0),
            self.cipher.unwrap_or(0),
        )
    }
}

fn rows_of(b: &RecordBatch) -> Vec<Row> {
    let u16s = |name: &str| -> Vec<Option<u16>> {
        let a = b.column_by_name(name).unwrap().as_primitive::<UInt16Type>();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect()
    };
    let ts = b
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let (cid, sni, ja4, status) = (
        col_strings(b, "community_id"),
        col_strings(b, "sni"),
        col_strings(b, "ja4"),
        col_strings(b, "status"),
    );
    let (version, cipher) = (u16s("version"), u16s("cipher"));
    (0..b.num_rows())
        .map(|i| Row {
            community_id: cid[i].clone().unwrap(),
            sni: sni[i].clone(),
            ja4: ja4[i].clone(),
            version: version[i],
            cipher: cipher[i],
            status: status[i].clone().unwrap(),
            ts: ts.value(i),
        })
        .collect()
}

/// Visible (non-hidden) Parquet files of one table, each read back.
fn table_files(out: &Path, table: &str) -> Vec<(PathBuf, RecordBatch)> {
    files_under(&out.join(table))
        .into_iter()
        .filter(|p| !hidden(p))
        .map(|p| {
            let b = read_parquet(&p);
            (p, b)
        })
        .collect()
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn all_rows(out: &Path) -> Vec<Row> {
    table_files(out, "handshakes")
        .iter()
        .flat_map(|(_, b)| rows_of(b))
        .collect()
}

/// No connection is written twice. A connection is its 5-tuple (Community ID) and its
/// client's name: every client of these tests sends its own SNI, and the kernel may
/// give a later client the ephemeral port of an earlier one, which makes two
/// connections with one Community ID, not a repeat. (Keyed by Community ID alone, this
/// failed once in CI on `c7`, without naming the other row; not reproduced since. The
/// message now names both rows' first-packet times.)
fn assert_unique(rows: &[Row]) {
    let mut seen = HashMap::new();
    for r in rows {
        let key = (r.community_id.clone(), r.sni.clone());
        if let Some(prev_ts) = seen.insert(key, r.ts) {
            panic!(
                "connection {} ({:?}) written twice (first packets at {prev_ts} and {})",
                r.community_id, r.sni, r.ts
            );
        }
    }
}

#[test]
fn sigint_while_traffic_flows_loses_nothing_and_matches_tcpdump() {
    sigint_loses_nothing(&[]);
}

/// The same with AF_PACKET: two sockets in a fanout group, each with its capture
/// thread, re-dispatching packets to two flow workers by the flow hash.
#[test]
fn afpacket_fanout_workers_lose_nothing_and_match_tcpdump() {
    sigint_loses_nothing(&["--capture", "afpacket", "--workers", "2"]);
}

/// libpcap feeding three flow workers.
#[test]
fn pcap_with_flow_workers_loses_nothing_and_matches_tcpdump() {
    sigint_loses_nothing(&["--workers", "3"]);
}

/// Clients connect while `tlstap live` (with `extra` options) captures; SIGINT while
/// they go on. Every handshake completed before the signal is written exactly once,
/// complete, and `read` on tcpdump's capture of the same traffic has the same rows.
fn sigint_loses_nothing(extra: &[&str]) {
    if !can_capture() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(tmp.path(), port);
    let pcap = tmp.path().join("same-traffic.pcap");
    let mut tcpdump = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
        .arg(&pcap)
        .arg(format!("tcp port {port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dump_err = Stderr::capture(&mut tcpdump);
    let mut tcpdump = Guard(tcpdump);
    dump_err.wait_for("listening on");

    let out = tmp.path().join("live");
    let mut args = vec!["--rotate", "60s"];
    args.extend_from_slice(extra);
    let (mut tlstap, err) = live(&out, port, &args);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = drive(port, "sig", stop.clone());

    // Let some handshakes complete, then stop tlstap while clients keep connecting.
    std::thread::sleep(Duration::from_secs(4));
    let sigint_at = Instant::now();
    signal(&tlstap.0, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let done = clients.join().unwrap();
    let status = wait_exit(&mut tlstap.0, Duration::from_secs(30));
    let stderr = err.all();
    assert!(status.success(), "tlstap live exit {status:?}:\n{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    signal(&tcpdump.0, libc::SIGINT);
    wait_exit(&mut tcpdump.0, Duration::from_secs(10));

    let before: Vec<&Done> = done.iter().filter(|d| d.ok && d.at < sigint_at).collect();
    assert!(
        before.len() >= 8,
        "too few handshakes before SIGINT: {done:?}"
    );
    for kind in Client::ALL {
        assert!(
            before.iter().any(|d| d.client.version() == kind.version()),
            "no {kind:?} client completed"
        );
    }

    let rows = all_rows(&out);
    assert_unique(&rows);
    let by_sni: HashMap<&str, Vec<&Row>> = rows.iter().fold(HashMap::new(), |mut m, r| {
        m.entry(r.sni.as_deref().unwrap_or("")).or_default().push(r);
        m
    });
    for d in &before {
        let got = by_sni.get(d.sni.as_str()).map_or(0, |v| v.len());
        assert_eq!(
            got, 1,
            "{} ({:?}) written {got} times\n{stderr}",
            d.sni, d.client
        );
        let r = by_sni[d.sni.as_str()][0];
        assert_eq!(r.version, Some(d.client.version()), "{r:?}");
        assert_eq!(r.status, "complete", "{r:?}");
    }
    for (p, _) in table_files(&out, "certificates")
        .iter()
        .chain(table_files(&out, "stats").iter())
    {
        assert!(p.extension().is_some_and(|e| e == "parquet"), "{p:?}");
    }
    let stats = table_files(&out, "stats");
    assert!(!stats.is_empty(), "no stats file");

    // The same traffic, written by tcpdump, read back by `tlstap read`.
    let read_out = tmp.path().join("read");
    let o = Command::new(TLSTAP)
        .args(["read", "-q"])
        .arg(&pcap)
        .arg("--out")
        .arg(&read_out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read_rows = rows_of(&read_parquet(&read_out.join("handshakes.parquet")));
    let read_keys: BTreeSet<Key> = read_rows.iter().map(Row::key).collect();
    let live_complete: BTreeSet<Key> = rows
        .iter()
        .filter(|r| r.status == "complete")
        .map(Row::key)
        .collect();
    let missing: Vec<&Key> = live_complete.difference(&read_keys).collect();
    assert!(missing.is_empty(), "live rows not in read: {missing:?}");
    for d in &before {
        let live_key = by_sni[d.sni.as_str()][0].key();
        assert!(
            read_keys.contains(&live_key),
            "{} differs: {live_key:?}",
            d.sni
        );
    }
}

#[test]
fn rotation_writes_several_files_without_repeats() {
    if !can_capture() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(tmp.path(), port);
    let out = tmp.path().join("live");
    let (mut tlstap, err) = live(&out, port, &["--rotate", "2s"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = drive(port, "rot", stop.clone());
    std::thread::sleep(Duration::from_secs(7));
    stop.store(true, Ordering::Relaxed);
    let done = clients.join().unwrap();
    // Wait for a window to close after the last handshake, then stop.
    wait_until("a quiet window", Duration::from_secs(10), || {
        err.all().matches("tlstap live lo:").count() >= 9
    });
    signal(&tlstap.0, libc::SIGTERM);
    let status = wait_exit(&mut tlstap.0, Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", err.all());

    let files = table_files(&out, "handshakes");
    assert!(files.len() >= 3, "expected several files, got {files:?}");
    for (p, b) in &files {
        let name = p.to_string_lossy();
        assert!(name.contains("/date=") && name.contains("/hour="), "{name}");
        // Sequential clients: recognition order is packet order.
        let ts: Vec<i64> = rows_of(b).iter().map(|r| r.ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{name} not sorted");
    }
    let rows = all_rows(&out);
    assert_unique(&rows);
    let ok = done.iter().filter(|d| d.ok).count();
    assert!(rows.len() >= ok, "{} rows for {ok} handshakes", rows.len());

    let mut certs = Vec::new();
    for (_, b) in table_files(&out, "certificates") {
        certs.extend(col_strings(&b, "sha256").into_iter().flatten());
    }
    let distinct: BTreeSet<&String> = certs.iter().collect();
    assert_eq!(
        distinct.len(),
        certs.len(),
        "certificate written twice: {certs:?}"
    );
    assert_eq!(certs.len(), 1, "the server's one certificate: {certs:?}");
    // Every window has its stats row; the last one counts everything written.
    let stats = table_files(&out, "stats");
    assert!(stats.len() >= files.len());
    let (_, last) = stats.last().unwrap();
    let total = last
        .column_by_name("handshakes_total")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>()
        .value(0);
    assert_eq!(total as usize, rows.len());
}

#[test]
fn kill_9_leaves_only_complete_files_and_restart_cleans_up() {
    if !can_capture() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _server = server(tmp.path(), port);
    let out = tmp.path().join("live");
    let (mut tlstap, _err) = live(&out, port, &["--rotate", "1s"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = drive(port, "kill", stop.clone());
    std::thread::sleep(Duration::from_millis(3500));
    signal(&tlstap.0, libc::SIGKILL);
    wait_exit(&mut tlstap.0, Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    clients.join().unwrap();

    let all = files_under(&out);
    let visible: Vec<&PathBuf> = all.iter().filter(|p| !hidden(p)).collect();
    assert!(!visible.is_empty(), "nothing written before the kill");
    for p in &visible {
        assert!(p.extension().is_some_and(|e| e == "parquet"), "{p:?}");
        try_read_parquet(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }

    // A stale temporary file (as a kill mid-write leaves) is removed by the next start.
    let part = visible[0].parent().unwrap();
    let stale = part.join(".20000101T000000Z-000000.parquet.tmp");
    std::fs::write(&stale, b"PAR1 partial").unwrap();
    let (mut again, err) = live(&out, port, &["--rotate", "1s"]);
    assert!(!stale.exists(), "stale temporary file kept");
    signal(&again.0, libc::SIGINT);
    let status = wait_exit(&mut again.0, Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", err.all());
    for p in files_under(&out) {
        assert!(!hidden(&p), "temporary file left after a clean stop: {p:?}");
        try_read_parquet(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn capture_errors_are_clear_and_exit_1() {
    let o = Command::new(TLSTAP)
        .args(["live", "-i", "tlstap-nope0", "--out", "/tmp/tlstap-never"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("no interface named \"tlstap-nope0\""), "{e}");
    assert!(!Path::new("/tmp/tlstap-never").exists());

    if !can_capture() {
        return;
    }
    // Without CAP_NET_RAW (as nobody): the message says what to do.
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(TLSTAP)
        .args(["live", "-i", "lo", "--out"])
        .arg(tmp.path().join("x"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("no permission to capture on lo"), "{e}");
    assert!(e.contains("cap_net_raw"), "{e}");

    let o = Command::new(TLSTAP)
        .args(["live", "-i", "lo", "--bpf", "tcp port nonsense", "--out"])
        .arg(tmp.path().join("y"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("bad BPF filter"), "{e}");
}

#[test]
fn interfaces_lists_loopback() {
    let o = Command::new(TLSTAP).arg("interfaces").output().unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.lines().any(|l| l.starts_with("lo ")), "{s}");
}

/// DTLS in live mode: `openssl s_server -dtls` on a UDP port of `lo`, two `s_client
/// -dtls1_2` handshakes (the first with the HelloVerifyRequest cookie exchange), SIGINT:
/// each association is one `dtls` row with its SNI, the cookie flag and the server's
/// certificate, through the same live pipeline as TCP.
#[test]
fn live_sees_dtls() {
    if !can_capture() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    // The certificate `server` makes for the TCP tests; its TCP server is not used.
    drop(server(tmp.path(), free_port()));
    let srv = Command::new("openssl")
        .args(["s_server", "-dtls", "-listen", "-quiet", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(tmp.path().join("cert.pem"))
        .arg("-key")
        .arg(tmp.path().join("key.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _srv = Guard(srv);
    let out = tmp.path().join("out");
    let mut child = Command::new(TLSTAP)
        .args([
            "live",
            "-i",
            "lo",
            "--bpf",
            &format!("udp port {port}"),
            "--out",
        ])
        .arg(&out)
        .args(["--stats-interval", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Stderr::capture(&mut child);
    err.wait_for("capturing on lo");
    let mut guard = Guard(child);
    let mut done = 0;
    for sni in ["dtls-one.test", "dtls-two.test"] {
        // s_client ends its session when stdin closes, after the handshake.
        let ok = Command::new("timeout")
            .args(["10", "openssl", "s_client", "-dtls1_2", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", sni])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        done += usize::from(ok.success());
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(done, 2, "both DTLS handshakes completed");
    std::thread::sleep(Duration::from_millis(500));
    signal(&guard.0, libc::SIGINT);
    let st = wait_exit(&mut guard.0, Duration::from_secs(20));
    assert_eq!(st.code(), Some(0), "{}", err.all());
    let batches = table_files(&out, "handshakes");
    let mut seen = Vec::new();
    for (_, b) in &batches {
        let transport = col_strings(b, "transport");
        let sni = col_strings(b, "sni");
        let status = col_strings(b, "status");
        let certs = b
            .column_by_name("cert_chain_sha256")
            .unwrap()
            .as_list::<i32>();
        let cookie = b.column_by_name("dtls_cookie").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            assert_eq!(transport[i].as_deref(), Some("dtls"));
            seen.push((
                sni[i].clone().unwrap_or_default(),
                status[i].clone().unwrap_or_default(),
                certs.value(i).len(),
                cookie.value(i),
            ));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("dtls-one.test".to_owned(), "complete".to_owned(), 1, true),
            ("dtls-two.test".to_owned(), "complete".to_owned(), 1, true),
        ],
        "{}",
        err.all()
    );
}
