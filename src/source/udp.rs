//! `live --listen-udp`: mirrored traffic received on ordinary UDP sockets — no root, no
//! libpcap, no promiscuous NIC. This is how a sensor receives cloud mirror sessions:
//! AWS VPC Traffic Mirroring and Azure virtual network TAP send VXLAN (UDP 4789), AWS
//! Gateway Load Balancer and Google Cloud packet mirroring send Geneve (UDP 6081), and
//! many switches and sensors can send TZSP (UDP 37008).
//!
//! Each socket's datagrams become [`RawPacket`]s of the tunnel's pseudo link type
//! ([`crate::decode::UdpTunnel::linktype`]), so the very same decoder peels the tunnel
//! header and everything after it is the live pipeline as for `live -i`.
//!
//! Time: a datagram's packet time is the kernel's receive timestamp (`SO_TIMESTAMPNS`),
//! else the wall clock when it was read. Drops: the kernel's count of datagrams dropped
//! because a socket's receive buffer was full (`SO_RXQ_OVFL`, cumulative per socket) is
//! published as `packets_dropped_kernel`. A datagram larger than [`MAX_DATAGRAM`] (it
//! cannot be: UDP carries at most 65,507 bytes over IPv4) would be counted
//! (`listen_udp.truncated`).
//!
//! Invariants: never panics on any datagram; one receive buffer, reused.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::decode::UdpTunnel;
use crate::source::live::{CaptureStats, LiveError};
use crate::source::{PacketSource, RawPacket, SourceError};
use crate::stats::Counters;

/// Largest datagram read (the UDP maximum).
pub const MAX_DATAGRAM: usize = 65_536;

/// How long one wait for data lasts before the source returns `None` ("nothing yet"),
/// so the pipeline publishes statistics and hands on what it holds on a quiet link.
const POLL_MS: i32 = 100;

/// After a stop, datagrams already queued in the sockets are still read for at most
/// this long.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// One `--listen-udp` argument: `[KIND:][ADDR:]PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub tunnel: UdpTunnel,
    pub addr: SocketAddr,
}

impl ListenSpec {
    /// Parse `[vxlan|geneve|tzsp:][ADDR:]PORT` (`4789`, `0.0.0.0:4789`, `[::]:6081`,
    /// `geneve:10.0.0.5:6081`). Without a kind, the port names it (4789 VXLAN, 6081
    /// Geneve, 37008 TZSP); another port needs one. Without an address, every IPv4
    /// address (`0.0.0.0`).
    pub fn parse(s: &str) -> Result<ListenSpec, String> {
        let kinds = [
            ("vxlan", UdpTunnel::Vxlan),
            ("geneve", UdpTunnel::Geneve),
            ("tzsp", UdpTunnel::Tzsp),
        ];
        let (kind, rest) = match s.split_once(':') {
            Some((k, rest)) if kinds.iter().any(|(n, _)| *n == k) => (Some(k), rest),
            _ => (None, s),
        };
        let addr: SocketAddr = if let Ok(port) = rest.parse::<u16>() {
            SocketAddr::from(([0, 0, 0, 0], port))
        } else {
            rest.parse().map_err(|_| {
                format!("{s:?}: expected [vxlan|geneve|tzsp:][ADDR:]PORT, e.g. 4789 or geneve:0.0.0.0:6081")
            })?
        };
        let tunnel = match kind {
            Some(k) => kinds
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, t)| *t)
                .ok_or_else(|| format!("{s:?}: unknown kind {k:?}"))?,
            None => match addr.port() {
                4789 => UdpTunnel::Vxlan,
                6081 => UdpTunnel::Geneve,
                37008 => UdpTunnel::Tzsp,
                p => {
                    return Err(format!(
                        "{s:?}: port {p} does not say what it receives: write vxlan:{s}, geneve:{s} or tzsp:{s}"
                    ))
                }
            },
        };
        Ok(ListenSpec { tunnel, addr })
    }
}

impl std::fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tunnel.as_str(), self.addr)
    }
}

struct Listener {
    sock: UdpSocket,
    tunnel: UdpTunnel,
    linktype: u32,
    /// The kernel's cumulative drop count for this socket, last seen.
    dropped: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Draining { deadline: Instant },
    Ended,
}

/// UDP sockets receiving mirrored traffic (see the module doc).
pub struct UdpListener {
    listeners: Vec<Listener>,
    /// Where the next poll round starts (fairness between sockets).
    next: usize,
    buf: Vec<u8>,
    ctrl: Vec<u8>,
    stop: Arc<AtomicBool>,
    state: State,
    bytes: u64,
    stats: Arc<CaptureStats>,
    counters: Counters,
    /// Length of the datagram in `buf`.
    len: usize,
    ts_ns: i64,
    linktype: u32,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn set_opt(fd: i32, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<i32>()` bytes from a valid i32 on our stack.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl UdpListener {
    /// Bind every spec (receive buffer `rcvbuf` bytes each: the kernel may cap it at
    /// `net.core.rmem_max`, which root can raise with SO_RCVBUFFORCE, tried first).
    pub fn open(
        specs: &[ListenSpec],
        rcvbuf: usize,
        stop: Arc<AtomicBool>,
    ) -> Result<UdpListener, LiveError> {
        let mut listeners = Vec::new();
        for spec in specs {
            let open_err = |detail: String| LiveError::Open {
                name: format!("udp:{}", spec.addr),
                detail,
            };
            let sock = UdpSocket::bind(spec.addr).map_err(|e| open_err(e.to_string()))?;
            sock.set_nonblocking(true)
                .map_err(|e| open_err(e.to_string()))?;
            let fd = sock.as_raw_fd();
            let size = i32::try_from(rcvbuf).unwrap_or(i32::MAX);
            if set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_err() {
                let _ = set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, size);
            }
            // Drop counts and kernel receive times ride along as control messages;
            // both are optional (a kernel without them still works).
            let _ = set_opt(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1);
            let _ = set_opt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
            let linktype = spec
                .tunnel
                .linktype()
                .ok_or_else(|| open_err("no pseudo link type for this tunnel".into()))?;
            listeners.push(Listener {
                sock,
                tunnel: spec.tunnel,
                linktype,
                dropped: 0,
            });
        }
        Ok(UdpListener {
            listeners,
            next: 0,
            buf: vec![0; MAX_DATAGRAM],
            ctrl: vec![0; 256],
            stop,
            state: State::Running,
            bytes: 0,
            stats: Arc::new(CaptureStats::default()),
            counters: Counters::new(),
            len: 0,
            ts_ns: 0,
            linktype: 0,
        })
    }

    /// The addresses actually bound (a spec with port 0 gets one from the kernel).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.sock.local_addr().ok())
            .collect()
    }

    /// Received and dropped counts, as for a libpcap capture.
    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Nothing to refresh: the counts are published as datagrams arrive.
    pub fn publish_stats(&mut self) {}

    /// Read one datagram from listener `i` into `buf`; `false` when none is queued.
    fn recv_from(&mut self, i: usize) -> bool {
        let Some(l) = self.listeners.get_mut(i) else {
            return false;
        };
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // SAFETY: msghdr is plain data; zeroed is a valid "no name, no control" value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.ctrl.as_mut_ptr().cast();
        msg.msg_controllen = self.ctrl.len() as _;
        // SAFETY: every pointer in `msg` points into buffers owned by `self` that
        // outlive the call, with their true lengths.
        let n = unsafe { libc::recvmsg(l.sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return false;
        }
        let n = usize::try_from(n).unwrap_or(0);
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            self.counters.bump("listen_udp.truncated");
        }
        let mut ts = None;
        // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded
        // by `msg_controllen`; each payload is read unaligned at its true size.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
                        let total = std::ptr::read_unaligned(data.cast::<u32>());
                        let grew = total.wrapping_sub(l.dropped);
                        l.dropped = total;
                        self.stats
                            .dropped_kernel
                            .fetch_add(u64::from(grew), Ordering::Relaxed);
                    }
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let t = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        ts = Some(t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec);
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        self.len = n.min(self.buf.len());
        self.ts_ns = ts.unwrap_or_else(now_ns);
        self.linktype = l.linktype;
        self.bytes += self.len as u64;
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Read the next datagram from any socket, round robin; `false` when none is queued.
    fn recv_any(&mut self) -> bool {
        let n = self.listeners.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if self.recv_from(i) {
                self.next = (i + 1) % n;
                return true;
            }
        }
        false
    }

    /// Wait up to [`POLL_MS`] for any socket to become readable.
    fn wait(&self) {
        let mut fds: Vec<libc::pollfd> = self
            .listeners
            .iter()
            .map(|l| libc::pollfd {
                fd: l.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS);
        }
    }
}

impl crate::source::LiveSource for UdpListener {
    fn name(&self) -> String {
        let addrs: Vec<String> = self.local_addrs().iter().map(|a| a.to_string()).collect();
        format!("udp:{}", addrs.join(","))
    }

    fn describe(&self) -> String {
        let names: Vec<String> = self
            .listeners
            .iter()
            .map(|l| {
                let kind = l.tunnel.as_str();
                let addr = l
                    .sock
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string());
                format!("{kind} on udp {addr}")
            })
            .collect();
        names.join(", ")
    }

    fn capture_stats(&self) -> Arc<CaptureStats> {
        self.stats()
    }

    fn publish_stats(&mut self) {}
}

impl PacketSource for UdpListener {
    fn next_packet(&mut self) -> Option<Result<RawPacket<'_>, SourceError>> {
        loop {
            match self.state {
                State::Ended => return None,
                State::Running if self.stop.load(Ordering::Relaxed) => {
                    self.state = State::Draining {
                        deadline: Instant::now() + DRAIN_DEADLINE,
                    };
                }
                State::Draining { deadline } => {
                    if Instant::now() >= deadline || !self.recv_any() {
                        self.state = State::Ended;
                        return None;
                    }
                    break;
                }
                State::Running => {
                    if self.recv_any() {
                        break;
                    }
                    self.wait();
                    if self.recv_any() {
                        break;
                    }
                    return None; // nothing yet: the caller publishes and asks again
                }
            }
        }
        let data = self.buf.get(..self.len).unwrap_or(&[]);
        Some(Ok(RawPacket {
            ts_ns: self.ts_ns,
            linktype: self.linktype,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            data,
        }))
    }

    fn at_end(&self) -> bool {
        self.state == State::Ended
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
    fn specs_parse_with_and_without_kind() {
        let p = |s| ListenSpec::parse(s);
        assert_eq!(
            p("4789").unwrap(),
            ListenSpec {
                tunnel: UdpTunnel::Vxlan,
                addr: "0.0.0.0:4789".parse().unwrap()
            }
        );
        assert_eq!(p("[::1]:6081").unwrap().tunnel, UdpTunnel::Geneve);
        assert_eq!(p("127.0.0.1:37008").unwrap().tunnel, UdpTunnel::Tzsp);
        let g = p("geneve:127.0.0.1:7000").unwrap();
        assert_eq!(g.tunnel, UdpTunnel::Geneve);
        assert_eq!(g.addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(p("tzsp:9000").unwrap().addr.port(), 9000);
        assert!(p("9000").unwrap_err().contains("does not say"));
        assert!(p("vxlan:nonsense").is_err());
        assert!(p("").is_err());
        assert_eq!(g.to_string(), "geneve:127.0.0.1:7000");
    }

    /// Datagrams sent to the listener come out as packets of the tunnel's pseudo link
    /// type, with a receive time; a stop ends the source after what was queued.
    #[test]
    fn datagrams_come_out_as_tunnel_packets() {
        let stop = Arc::new(AtomicBool::new(false));
        let specs = [
            ListenSpec::parse("vxlan:127.0.0.1:0").unwrap(),
            ListenSpec::parse("tzsp:127.0.0.1:0").unwrap(),
        ];
        let mut l = UdpListener::open(&specs, 1 << 20, stop.clone()).unwrap();
        let addrs = l.local_addrs();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"first", addrs[0]).unwrap();
        tx.send_to(b"second", addrs[1]).unwrap();
        let before = now_ns();
        let mut got = Vec::new();
        let t = Instant::now();
        while got.len() < 2 && t.elapsed().as_secs() < 5 {
            if let Some(Ok(p)) = l.next_packet() {
                assert!(p.ts_ns > before - 60_000_000_000);
                got.push((p.linktype, p.data.to_vec()));
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (UdpTunnel::Vxlan.linktype().unwrap(), b"first".to_vec()),
                (UdpTunnel::Tzsp.linktype().unwrap(), b"second".to_vec()),
            ]
        );
        assert_eq!(l.stats().received.load(Ordering::Relaxed), 2);
        assert!(!l.at_end());
        tx.send_to(b"queued", addrs[0]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let p = l
            .next_packet()
            .expect("the queued datagram is drained")
            .unwrap();
        assert_eq!(p.data, b"queued");
        assert!(l.next_packet().is_none());
        assert!(l.at_end());
        assert_eq!(l.bytes_consumed(), 17);
    }
}
