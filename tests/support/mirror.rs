//! Cloud-style traffic mirroring for tests: Ethernet frames wrapped as VXLAN, Geneve
//! or TZSP sends them to `tlstap live --listen-udp`, plus the process handling such a
//! test needs (a free port, waiting for the listener, SIGINT and the exit status).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0];
    v.extend(&(vni << 8).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

pub fn geneve(vni: u32, frame: &[u8]) -> Vec<u8> {
    // Version 0, no options, protocol 0x6558 (Ethernet), VNI, reserved.
    let mut v = vec![0, 0, 0x65, 0x58];
    v.extend(&(vni << 8).to_be_bytes());
    v.extend_from_slice(frame);
    v
}

pub fn tzsp(frame: &[u8]) -> Vec<u8> {
    // Version 1, type 0 (received), encapsulation 1 (Ethernet), TAG_END.
    let mut v = vec![1, 0, 0, 1, 1];
    v.extend_from_slice(frame);
    v
}

/// A free UDP port on loopback (bound and released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something listens on UDP `port` (our bind on it fails).
pub fn wait_bound(port: u16) {
    let t = Instant::now();
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "listener did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGINT `child`, wait up to `limit` for it to exit; its exit code and stderr.
pub fn interrupt(child: &mut Child, limit: Duration) -> (Option<i32>, String) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < limit, "live did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read as _;
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status.code(), err)
}

/// Every file below `dir` that is not hidden, sorted (nothing below a hidden folder).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    super::table::files_under(dir)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(p);
            !rel.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        })
        .collect()
}
