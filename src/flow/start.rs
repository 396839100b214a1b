//! Where TLS starts in one direction of a TCP connection, including behind the wrappers
//! a tap meets in front of it: a PROXY protocol header (`tls::proxy`) before the hello,
//! and OpenVPN's control channel (`openvpn`) around it. The flow table asks
//! [`sniff_start`] about the first bytes of a direction and keeps the returned
//! [`Framing`] to know, through [`DirScanner`], when that direction's handshake is over.
//!
//! Invariants: looks at no more than a PROXY header ([`crate::tls::proxy::V2_MAX_LEN`])
//! plus an OpenVPN reset ([`crate::openvpn::packet::MAX_RESET_LEN`]) or a TLS record
//! header; `NeedMore` only while every byte seen still fits one of them.

use crate::openvpn::{self, Sniffed};
use crate::tls::proxy::{self, ProxyError};
use crate::tls::{sniff, RecordScanner, ScanState, Sniff};

/// How a direction's bytes carry TLS, from `skip` (the PROXY header's length) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// TLS records.
    Records { skip: u16 },
    /// OpenVPN-over-TCP packets.
    OpenVpn { skip: u16 },
}

/// What the first bytes of a direction say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// A hello (or OpenVPN hard reset) of which side, not TLS, or too early to say.
    pub sniff: Sniff,
    pub framing: Framing,
    /// An OpenVPN tls-crypt reset: TLS is there but encrypted.
    pub tls_crypt: bool,
}

impl Start {
    fn of(sniff: Sniff) -> Self {
        Start {
            sniff,
            framing: Framing::Records { skip: 0 },
            tls_crypt: false,
        }
    }
}

/// Does `prefix` start TLS, directly, after a PROXY header, or inside OpenVPN? The
/// wrappers are looked for only at the `opening` of a direction (its first data
/// segment): both are the first bytes of a connection, and a later segment that only
/// starts like one (a lone `\r\n` after an HTTP CONNECT reply) must not hold back the
/// hello behind it.
pub fn sniff_start(prefix: &[u8], opening: bool) -> Start {
    if !opening {
        return Start::of(sniff(prefix));
    }
    let skip = match proxy::parse(prefix) {
        Ok(h) => h.len,
        Err(ProxyError::NotProxy) => 0,
        Err(ProxyError::Incomplete) => return Start::of(Sniff::NeedMore),
        Err(ProxyError::Malformed(_)) => return Start::of(Sniff::NotTls),
    };
    // `V2_MAX_LEN` keeps a header's length within u16.
    let skip16 = u16::try_from(skip).unwrap_or(u16::MAX);
    let rest = prefix.get(skip..).unwrap_or(&[]);
    let tls = sniff(rest);
    let records = Start {
        framing: Framing::Records { skip: skip16 },
        ..Start::of(tls)
    };
    if matches!(tls, Sniff::ClientHello | Sniff::ServerHello) {
        return records;
    }
    let framed = |sniff| Start {
        sniff,
        framing: Framing::OpenVpn { skip: skip16 },
        tls_crypt: false,
    };
    match openvpn::sniff(rest) {
        Sniffed::Reset(openvpn::Side::Client, _) => framed(Sniff::ClientHello),
        Sniffed::Reset(openvpn::Side::Server, _) => framed(Sniff::ServerHello),
        Sniffed::TlsCrypt => Start {
            tls_crypt: true,
            ..Start::of(Sniff::NotTls)
        },
        Sniffed::NeedMore => Start::of(Sniff::NeedMore),
        Sniffed::NotOpenVpn => records,
    }
}

/// The end-of-handshake walk of one collecting direction, for its framing. As small as
/// a [`RecordScanner`]: the flow table holds one per direction of a million flows.
#[derive(Debug, Clone)]
pub enum DirScanner {
    Records(RecordScanner),
    OpenVpn(openvpn::Scanner),
}

impl Default for DirScanner {
    fn default() -> Self {
        Self::new(Framing::Records { skip: 0 })
    }
}

impl DirScanner {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Records { skip: 0 } => DirScanner::Records(RecordScanner::new()),
            Framing::Records { skip } => {
                DirScanner::Records(RecordScanner::starting_at(usize::from(skip)))
            }
            Framing::OpenVpn { skip } => {
                DirScanner::OpenVpn(openvpn::Scanner::new(usize::from(skip)))
            }
        }
    }

    /// Walk what is new in the direction's contiguous bytes (see
    /// [`RecordScanner::scan`], [`openvpn::Scanner::scan`]).
    pub fn scan(&mut self, contiguous: &[u8]) -> ScanState {
        match self {
            DirScanner::Records(s) => s.scan(contiguous),
            DirScanner::OpenVpn(s) => s.scan(contiguous),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openvpn::packet::{
        test_packet, P_CONTROL_HARD_RESET_CLIENT_V2, P_CONTROL_HARD_RESET_SERVER_V2,
    };

    const HELLO: [u8; 6] = [0x16, 3, 1, 0, 0x40, 1];

    #[test]
    fn plain_tls() {
        let s = sniff_start(&HELLO, true);
        assert_eq!(s.sniff, Sniff::ClientHello);
        assert_eq!(s.framing, Framing::Records { skip: 0 });
        assert_eq!(sniff_start(b"GET /", true).sniff, Sniff::NotTls);
        assert_eq!(sniff_start(&[0x16, 3], true).sniff, Sniff::NeedMore);
        // Past a direction's first segment only TLS itself is looked for.
        assert_eq!(sniff_start(b"\r\n", true).sniff, Sniff::NeedMore);
        assert_eq!(sniff_start(b"\r\n", false).sniff, Sniff::NotTls);
        assert_eq!(sniff_start(&HELLO, false).sniff, Sniff::ClientHello);
    }

    #[test]
    fn proxy_header_then_hello() {
        let mut p = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 443\r\n".to_vec();
        let n = p.len() as u16;
        // The header alone (its own segment): wait for the hello.
        assert_eq!(sniff_start(&p, true).sniff, Sniff::NeedMore);
        assert_eq!(sniff_start(&p[..10], true).sniff, Sniff::NeedMore);
        p.extend(HELLO);
        let s = sniff_start(&p, true);
        assert_eq!(s.sniff, Sniff::ClientHello);
        assert_eq!(s.framing, Framing::Records { skip: n });
        // A broken header is not TLS; neither is a header followed by plain text.
        assert_eq!(sniff_start(b"PROXY TCP9 x\r\n", true).sniff, Sniff::NotTls);
        let mut text = b"PROXY UNKNOWN\r\n".to_vec();
        text.extend(b"GET /");
        assert_eq!(sniff_start(&text, true).sniff, Sniff::NotTls);
    }

    #[test]
    fn openvpn_resets() {
        let c = test_packet(P_CONTROL_HARD_RESET_CLIENT_V2, 20, &[], Some(0), &[]);
        let s = sniff_start(&c, true);
        assert_eq!(s.sniff, Sniff::ClientHello);
        assert_eq!(s.framing, Framing::OpenVpn { skip: 0 });
        assert_eq!(sniff_start(&c[..10], true).sniff, Sniff::NeedMore);
        let srv = test_packet(P_CONTROL_HARD_RESET_SERVER_V2, 0, &[0], Some(0), &[]);
        assert_eq!(sniff_start(&srv, true).sniff, Sniff::ServerHello);
        let mut p = b"PROXY UNKNOWN\r\n".to_vec();
        p.extend(&c);
        assert_eq!(
            sniff_start(&p, true).framing,
            Framing::OpenVpn { skip: 15 },
            "PROXY in front of OpenVPN"
        );
    }

    #[test]
    fn scanner_skips_the_proxy_header() {
        let mut p = b"PROXY UNKNOWN\r\n".to_vec();
        p.extend(HELLO);
        p.extend([0u8; 0x40 - 1]);
        p.extend([0x17, 3, 3, 0, 1, 0]);
        let mut sc = DirScanner::new(sniff_start(&p, true).framing);
        assert_eq!(sc.scan(&p), ScanState::Done);
    }

    #[test]
    fn scanner_is_no_bigger_than_a_record_scanner() {
        assert_eq!(
            std::mem::size_of::<DirScanner>(),
            std::mem::size_of::<RecordScanner>()
        );
    }
}
