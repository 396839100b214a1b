//! Live capture through libpcap: a [`PacketSource`] over a network interface.
//!
//! The capture is opened with an explicit snaplen, kernel buffer size, promiscuous and
//! immediate mode ([`LiveConfig`]) and an optional BPF filter. Reading returns `None`
//! whenever the read timeout passes without a packet, so the caller can hand on what it
//! holds on a quiet link ([`PacketSource::at_end`] stays `false` until the end).
//!
//! The capture runs non-blocking and waits with `poll(2)` for at most the read timeout:
//! with TPACKET_V3, libpcap's blocking read never returns on a silent interface.
//!
//! Stopping: once the shared stop flag is set (SIGINT/SIGTERM), the source drains what
//! the kernel already captured: it keeps reading until it returns a packet stamped at or
//! after the moment it saw the flag, or the read timeout passes twice in a row with
//! nothing (once could be a kernel block not yet handed over), or
//! [`DRAIN_DEADLINE`] runs out (`live.drain_deadline`). Packet timestamps and the stop
//! time are both the kernel's real-time clock, so "captured before the stop" is exact.
//!
//! Timestamps are microseconds (libpcap's default, and tcpdump's), so a capture written
//! by tcpdump from the same traffic gives the same rows through `tlstap read`.
//!
//! libpcap's own counters (received, dropped by the kernel, dropped by the interface)
//! are published in [`CaptureStats`] on every read timeout and every
//! [`STATS_EVERY_PACKETS`] packets, for the health line and the `stats` table.
//!
//! Each frame is copied once into a reused buffer (at most snaplen bytes); nothing is
//! allocated per packet (the file reader hands out bytes in its read window instead).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::os::fd::AsRawFd;

use pcap::{Active, Capture, Device};

use super::{PacketSource, RawPacket, SourceError};
use crate::stats::Counters;

/// After the stop flag, read what the kernel already holds for at most this long.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// libpcap statistics are refreshed at least this often (in packets), besides on every
/// read timeout.
pub const STATS_EVERY_PACKETS: u64 = 1024;

/// How to open a live capture.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    /// BPF filter expression (tcpdump syntax), compiled with optimisation.
    pub bpf: Option<String>,
    /// Bytes kept of each frame. 262 144 (libpcap's maximum, tcpdump's default) keeps
    /// whole loopback and GRO-coalesced frames, so handshakes are never cut.
    pub snaplen: u32,
    /// Kernel capture buffer in bytes: what absorbs a burst while tlstap is busy.
    pub buffer_bytes: u32,
    pub promisc: bool,
    /// Deliver each packet at once instead of in kernel blocks (lower latency, more
    /// wake-ups).
    pub immediate: bool,
    /// Longest wait for a packet before the reader gets control back (ms).
    pub read_timeout_ms: i32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            interface: String::new(),
            bpf: None,
            snaplen: 262_144,
            buffer_bytes: 64 << 20,
            promisc: true,
            immediate: false,
            read_timeout_ms: 100,
        }
    }
}

/// Why a live capture could not start. Messages are meant for a user.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "no interface named {name:?} (capturable interfaces: {available}; see `tlstap interfaces`)"
    )]
    NoSuchInterface { name: String, available: String },
    #[error("no permission to capture on {name}: {detail}. Run as root, or grant the capabilities once: setcap cap_net_raw,cap_net_admin=eip <path to tlstap>")]
    Permission { name: String, detail: String },
    #[error("bad BPF filter {expr:?}: {detail}")]
    Filter { expr: String, detail: String },
    #[error("cannot capture on {name}: {detail}")]
    Open { name: String, detail: String },
    #[error("cannot list interfaces: {0}")]
    List(String),
}

/// libpcap's counters, published by the capture thread (cumulative since start).
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Packets the kernel filter accepted (`ps_recv`).
    pub received: AtomicU64,
    /// Dropped because the kernel buffer was full (`ps_drop`): tlstap read too slowly.
    pub dropped_kernel: AtomicU64,
    /// Dropped by the interface or its driver (`ps_ifdrop`).
    pub dropped_interface: AtomicU64,
}

/// One capturable interface, for `tlstap interfaces`.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<std::net::IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

/// Interfaces libpcap can capture on, in its order.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, LiveError> {
    let devs = Device::list().map_err(|e| LiveError::List(e.to_string()))?;
    Ok(devs
        .into_iter()
        .map(|d| InterfaceInfo {
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            description: d.desc,
            name: d.name,
        })
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Stop seen at `stop_ns` (packet clock); reading what was captured before it.
    Draining {
        stop_ns: i64,
        deadline: Instant,
        timeouts: u8,
    },
    Ended,
}

/// What a kernel capture does before its next read (see [`Drain::gate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Read on.
    Read,
    /// The source has ended: return `None`.
    Ended,
    /// [`DRAIN_DEADLINE`] ran out just now (counted): publish statistics once, then end.
    Expired,
}

/// The stop-and-drain rule of the module doc, shared by the kernel capture sources
/// (libpcap here, AF_PACKET in [`super::afpacket`]): after the stop flag, read until a
/// packet stamped at or after the stop, two empty read timeouts in a row, or
/// [`DRAIN_DEADLINE`].
#[derive(Debug)]
pub(crate) struct Drain {
    stop: Arc<AtomicBool>,
    state: State,
}

impl Drain {
    pub(crate) fn new(stop: Arc<AtomicBool>) -> Drain {
        Drain {
            stop,
            state: State::Running,
        }
    }

    /// Called before every read attempt; notices the stop flag and the deadline
    /// (`live.drain_deadline`).
    pub(crate) fn gate(&mut self, counters: &mut Counters) -> Gate {
        match self.state {
            State::Ended => Gate::Ended,
            State::Running if self.stop.load(Ordering::Relaxed) => {
                self.state = State::Draining {
                    stop_ns: now_ns(),
                    deadline: Instant::now() + DRAIN_DEADLINE,
                    timeouts: 0,
                };
                Gate::Read
            }
            State::Draining { deadline, .. } if Instant::now() >= deadline => {
                counters.bump("live.drain_deadline");
                self.state = State::Ended;
                Gate::Expired
            }
            _ => Gate::Read,
        }
    }

    /// A read timeout passed with nothing: while draining, the second one ends it
    /// (once could be a kernel block not yet handed over).
    pub(crate) fn timed_out(&mut self) {
        match &mut self.state {
            State::Draining { timeouts, .. } if *timeouts >= 1 => self.state = State::Ended,
            State::Draining { timeouts, .. } => *timeouts += 1,
            _ => {}
        }
    }

    /// A packet stamped `ts_ns` is being delivered; `true` when it is the last one
    /// (everything captured before the stop has been read), so the caller publishes.
    pub(crate) fn delivered(&mut self, ts_ns: i64) -> bool {
        match self.state {
            State::Draining { stop_ns, .. } if ts_ns >= stop_ns => {
                self.state = State::Ended;
                true
            }
            _ => false,
        }
    }

    /// The capture failed: end now.
    pub(crate) fn end(&mut self) {
        self.state = State::Ended;
    }

    pub(crate) fn ended(&self) -> bool {
        self.state == State::Ended
    }
}

/// Wait until `fd` is readable (or reports an error) or `timeout_ms` passes; the
/// `revents` seen, 0 on a timeout or an interrupted wait.
pub(crate) fn wait_readable(fd: std::os::fd::RawFd, timeout_ms: i32) -> libc::c_short {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1; poll only writes `revents`.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n > 0 {
        pfd.revents
    } else {
        0
    }
}

/// A running libpcap capture.
pub struct LiveCapture {
    cap: Capture<Active>,
    interface: String,
    linktype: u32,
    drain: Drain,
    stats: Arc<CaptureStats>,
    bytes: u64,
    packets: u64,
    read_timeout_ms: i32,
    buf: Vec<u8>,
    ts_ns: i64,
    orig_len: u32,
    /// libpcap's last raw (32-bit) counters.
    last_raw: [u32; 3],
    counters: Counters,
}

/// The kernel's real-time clock in nanoseconds (the clock packets are stamped with).
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn is_permission(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("permission") || m.contains("not permitted")
}

impl LiveCapture {
    /// Open and activate the capture. `stop` is the graceful-stop flag (set by the
    /// signal handler); after it the source drains and then ends.
    pub fn open(cfg: &LiveConfig, stop: Arc<AtomicBool>) -> Result<LiveCapture, LiveError> {
        let name = cfg.interface.clone();
        // Checked first: libpcap's own message for a missing device varies by version.
        if let Ok(devs) = Device::list() {
            if !devs.iter().any(|d| d.name == name) {
                let available: Vec<String> = devs.into_iter().map(|d| d.name).collect();
                return Err(LiveError::NoSuchInterface {
                    name,
                    available: available.join(", "),
                });
            }
        }
        let open_err = |e: pcap::Error| {
            let detail = e.to_string();
            if is_permission(&detail) {
                LiveError::Permission {
                    name: name.clone(),
                    detail,
                }
            } else {
                LiveError::Open {
                    name: name.clone(),
                    detail,
                }
            }
        };
        let cap = Capture::from_device(name.as_str())
            .map_err(open_err)?
            .snaplen(i32::try_from(cfg.snaplen).unwrap_or(i32::MAX))
            .buffer_size(i32::try_from(cfg.buffer_bytes).unwrap_or(i32::MAX))
            .promisc(cfg.promisc)
            .immediate_mode(cfg.immediate)
            .timeout(cfg.read_timeout_ms.max(1))
            .open()
            .map_err(open_err)?;
        let mut cap = cap.setnonblock().map_err(open_err)?;
        if let Some(expr) = &cfg.bpf {
            cap.filter(expr, true).map_err(|e| LiveError::Filter {
                expr: expr.clone(),
                detail: e.to_string(),
            })?;
        }
        let linktype = u32::try_from(cap.get_datalink().0).unwrap_or(0);
        Ok(LiveCapture {
            cap,
            interface: cfg.interface.clone(),
            linktype,
            drain: Drain::new(stop),
            stats: Arc::new(CaptureStats::default()),
            bytes: 0,
            packets: 0,
            read_timeout_ms: cfg.read_timeout_ms.max(1),
            buf: Vec::with_capacity(cfg.snaplen.min(1 << 16) as usize),
            ts_ns: 0,
            orig_len: 0,
            last_raw: [0; 3],
            counters: Counters::new(),
        })
    }

    /// `LINKTYPE_*` of the interface.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// libpcap's counters, shared with whoever reports health.
    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Refresh [`CaptureStats`] from libpcap (the owner calls it once more at the end).
    pub fn publish_stats(&mut self) {
        if let Ok(s) = self.cap.stats() {
            // libpcap's counters are 32-bit and wrap (in about an hour at 1 Mpps), so
            // the published totals add up wrapping differences.
            let raw = [s.received, s.dropped, s.if_dropped];
            let totals = [
                &self.stats.received,
                &self.stats.dropped_kernel,
                &self.stats.dropped_interface,
            ];
            for ((now, last), total) in raw.iter().zip(&mut self.last_raw).zip(totals) {
                total.fetch_add(u64::from(now.wrapping_sub(*last)), Ordering::Relaxed);
                *last = *now;
            }
        }
    }
}

impl LiveCapture {
    /// Wait until the capture descriptor is readable or the read timeout passes.
    /// libpcap's own timeout cannot be trusted for this: with TPACKET_V3 a blocking
    /// read on a silent interface never returns, so the capture runs non-blocking and
    /// waits here instead.
    fn wait_readable(&self) -> bool {
        wait_readable(self.cap.as_raw_fd(), self.read_timeout_ms) != 0
    }
}

impl super::LiveSource for LiveCapture {
    fn name(&self) -> String {
        format!("live:{}", self.interface)
    }

    fn describe(&self) -> String {
        format!("{} (linktype {})", self.interface, self.linktype())
    }

    fn capture_stats(&self) -> Arc<CaptureStats> {
        self.stats()
    }

    fn publish_stats(&mut self) {
        LiveCapture::publish_stats(self);
    }
}

impl PacketSource for LiveCapture {
    fn next_packet(&mut self) -> Option<Result<RawPacket<'_>, SourceError>> {
        let mut waited = false;
        loop {
            match self.drain.gate(&mut self.counters) {
                Gate::Read => {}
                Gate::Ended => return None,
                Gate::Expired => {
                    self.publish_stats();
                    return None;
                }
            }
            if self.packets.is_multiple_of(STATS_EVERY_PACKETS) {
                self.publish_stats();
            }
            // The frame is copied into our buffer (as the file reader does) so the
            // borrow of libpcap's ring ends here and the loop can go on reading.
            match self.cap.next_packet() {
                Ok(p) => {
                    let h = *p.header;
                    self.buf.clear();
                    self.buf.extend_from_slice(p.data);
                    // time_t / suseconds_t are 32-bit on some targets.
                    #[allow(clippy::useless_conversion)]
                    let (sec, usec) = (i64::from(h.ts.tv_sec), i64::from(h.ts.tv_usec));
                    self.ts_ns = sec
                        .saturating_mul(1_000_000_000)
                        .saturating_add(usec.saturating_mul(1_000));
                    self.orig_len = h.len;
                    break;
                }
                // Non-blocking: nothing is ready yet.
                Err(pcap::Error::TimeoutExpired) => {
                    if !waited && self.wait_readable() {
                        waited = true;
                        continue;
                    }
                    self.publish_stats();
                    self.drain.timed_out();
                    return None;
                }
                Err(e) => {
                    self.drain.end();
                    self.publish_stats();
                    return Some(Err(SourceError::Capture(e.to_string())));
                }
            }
        }
        if self.drain.delivered(self.ts_ns) {
            self.publish_stats();
        }
        self.packets += 1;
        self.bytes += self.buf.len() as u64;
        Some(Ok(RawPacket {
            ts_ns: self.ts_ns,
            linktype: self.linktype,
            orig_len: self.orig_len,
            data: &self.buf,
        }))
    }

    fn at_end(&self) -> bool {
        self.drain.ended()
    }

    fn bytes_consumed(&self) -> u64 {
        self.bytes
    }

    fn counters(&self) -> Counters {
        self.counters.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_is_named_with_the_alternatives() {
        let cfg = LiveConfig {
            interface: "tlstap-no-such-if0".into(),
            ..LiveConfig::default()
        };
        match LiveCapture::open(&cfg, Arc::new(AtomicBool::new(false))) {
            Err(LiveError::NoSuchInterface { name, available }) => {
                assert_eq!(name, "tlstap-no-such-if0");
                assert!(available.contains("lo"), "{available}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }

    #[test]
    fn permission_messages_are_recognised() {
        assert!(is_permission(
            "lo: You don't have permission to perform this capture on that device (socket: Operation not permitted)"
        ));
        assert!(!is_permission("SIOCGIFINDEX: No such device"));
    }
}
