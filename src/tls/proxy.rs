//! HAProxy PROXY protocol headers (v1 text, v2 binary) in front of a ClientHello: a load
//! balancer that terminates nothing but forwards TCP prepends one so the server learns
//! the real client. The flow table skips it to recognise the hello behind it
//! (`flow::start`), the TLS walk starts after it ([`super::parse`]), and the row keeps the
//! source address it carries (`proxy_src_ip`, `proxy_src_port`).
//!
//! Spec: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.
//! - v1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN...\r\n`,
//!   at most [`V1_MAX_LEN`] bytes with the CRLF (spec 2.1).
//! - v2: the 12-byte [`V2_SIGNATURE`], version/command, family/protocol, a 16-bit length,
//!   then the addresses (12 bytes for INET, 36 for INET6, 216 for UNIX) and TLVs
//!   (spec 2.2). LOCAL connections (health checks) and UNSPEC/UNIX families carry no IP
//!   source.
//!
//! Invariants: never panics on any bytes; looks at no more than [`V2_MAX_LEN`] bytes;
//! [`ProxyError::Incomplete`] only while every byte seen still fits a header, so a
//! direction that merely starts with `P` or `\r\n` is decided as soon as the next byte
//! contradicts it. Limits: a v2 header longer than [`V2_MAX_LEN`] is refused
//! (`TooLong`): real ones are a few hundred bytes even with TLVs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Spec 2.1: "a 108-byte buffer is always enough to store all the line and a trailing
/// zero"; 107 bytes with the CRLF.
pub const V1_MAX_LEN: usize = 107;
/// Spec 2.2: the binary signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Fixed part of a v2 header: signature, ver/cmd, fam, len.
const V2_FIXED: usize = 16;
/// Largest v2 header accepted (fixed part, addresses and TLVs). The spec bounds it only
/// by the 16-bit length; HAProxy sends up to a few hundred bytes (UNIX addresses, SSL
/// and cloud TLVs). A cap keeps a hostile "header" from swallowing the stream.
pub const V2_MAX_LEN: usize = 4096;

/// Spec 2.2 command nibble.
const CMD_LOCAL: u8 = 0;
const CMD_PROXY: u8 = 1;
/// Spec 2.2 address family nibble, with the address block size of each.
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 1;
const AF_INET6: u8 = 2;
const AF_UNIX: u8 = 3;
const INET_ADDR_LEN: usize = 12;
const INET6_ADDR_LEN: usize = 36;
const UNIX_ADDR_LEN: usize = 216;

/// A parsed PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 (text) or 2 (binary).
    pub version: u8,
    /// Bytes the header takes at the start of the stream (TLS starts after them).
    pub len: usize,
    /// The connection's real source and destination; `None` for v1 `UNKNOWN`, v2
    /// `LOCAL`, and the UNSPEC / UNIX families.
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// v2: the TLV list after the addresses does not walk to the end of the header
    /// (kept anyway: the header length is what delimits the stream).
    pub bad_tlvs: bool,
}

/// Why bytes are not (yet) a PROXY header. Small and `Copy`: it becomes a sniff
/// decision or a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// Every byte so far fits a header; more are needed to decide.
    Incomplete,
    /// Does not start like a PROXY header at all.
    NotProxy,
    /// Starts like one but breaks the spec (the reason, for a counter).
    Malformed(&'static str),
}

/// Parse the PROXY header at the start of `data`, if any.
pub fn parse(data: &[u8]) -> Result<ProxyHeader, ProxyError> {
    match data.first() {
        None => Err(ProxyError::Incomplete),
        Some(b'P') => parse_v1(data),
        Some(b'\r') => parse_v2(data),
        Some(_) => Err(ProxyError::NotProxy),
    }
}

/// Length of a whole, valid PROXY header at the start of `data`, 0 when there is none.
pub fn header_len(data: &[u8]) -> usize {
    parse(data).map_or(0, |h| h.len)
}

/// `true` when `a` and `b` agree on their common prefix.
fn prefix_matches(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).all(|(x, y)| x == y)
}

fn parse_v1(data: &[u8]) -> Result<ProxyHeader, ProxyError> {
    const PREFIX: &[u8] = b"PROXY ";
    if !prefix_matches(data, PREFIX) {
        return Err(ProxyError::NotProxy);
    }
    let window = data.get(..data.len().min(V1_MAX_LEN)).unwrap_or(data);
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        // Only printable ASCII may precede the CRLF.
        if window.len() >= V1_MAX_LEN {
            return Err(ProxyError::Malformed("proxy_v1_too_long"));
        }
        if window
            .iter()
            .any(|&b| !(b == b'\r' || (0x20..0x7f).contains(&b)))
        {
            return Err(ProxyError::Malformed("proxy_v1_not_text"));
        }
        return Err(ProxyError::Incomplete);
    };
    let line = window.get(..cr).unwrap_or(&[]);
    let len = cr + 2;
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::Malformed("proxy_v1_not_text"))?;
    let mut parts = text.split(' ');
    let _proxy = parts.next();
    let header = |src, dst| ProxyHeader {
        version: 1,
        len,
        src,
        dst,
        bad_tlvs: false,
    };
    match parts.next() {
        // Spec 2.1: anything may follow UNKNOWN, and the receiver ignores it.
        Some("UNKNOWN") => Ok(header(None, None)),
        Some(proto @ ("TCP4" | "TCP6")) => {
            let fields: Vec<&str> = parts.collect();
            let [src, dst, sport, dport] = fields[..] else {
                return Err(ProxyError::Malformed("proxy_v1_fields"));
            };
            let v6 = proto == "TCP6";
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                let ip = if v6 {
                    s.parse::<Ipv6Addr>().map(IpAddr::V6)
                } else {
                    s.parse::<Ipv4Addr>().map(IpAddr::V4)
                };
                ip.map_err(|_| ProxyError::Malformed("proxy_v1_address"))
            };
            let (src, dst) = (ip(src)?, ip(dst)?);
            let (sport, dport) = (port(sport)?, port(dport)?);
            Ok(header(
                Some(SocketAddr::new(src, sport)),
                Some(SocketAddr::new(dst, dport)),
            ))
        }
        _ => Err(ProxyError::Malformed("proxy_v1_protocol")),
    }
}

/// Spec 2.1: a port is 1 to 5 decimal digits, 0..=65535.
fn port(s: &str) -> Result<u16, ProxyError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::Malformed("proxy_v1_port"));
    }
    s.parse()
        .map_err(|_| ProxyError::Malformed("proxy_v1_port"))
}

fn parse_v2(data: &[u8]) -> Result<ProxyHeader, ProxyError> {
    if !prefix_matches(data, &V2_SIGNATURE) {
        return Err(ProxyError::NotProxy);
    }
    let (Some(&ver_cmd), Some(&fam), Some(len_hi), Some(len_lo)) =
        (data.get(12), data.get(13), data.get(14), data.get(15))
    else {
        // Check what is there of the version/command byte before asking for more.
        return match data.get(12) {
            Some(&vc) if vc >> 4 != 2 => Err(ProxyError::Malformed("proxy_v2_version")),
            _ => Err(ProxyError::Incomplete),
        };
    };
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Malformed("proxy_v2_version"));
    }
    let cmd = ver_cmd & 0x0f;
    if cmd != CMD_LOCAL && cmd != CMD_PROXY {
        return Err(ProxyError::Malformed("proxy_v2_command"));
    }
    let body_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    let total = V2_FIXED + body_len;
    if total > V2_MAX_LEN {
        return Err(ProxyError::Malformed("proxy_v2_too_long"));
    }
    let Some(body) = data.get(V2_FIXED..total) else {
        return Err(ProxyError::Incomplete);
    };
    let addr_len = match fam >> 4 {
        AF_UNSPEC => 0,
        AF_INET => INET_ADDR_LEN,
        AF_INET6 => INET6_ADDR_LEN,
        AF_UNIX => UNIX_ADDR_LEN,
        _ => return Err(ProxyError::Malformed("proxy_v2_family")),
    };
    // Spec 2.2: a LOCAL header's address block, if any, is ignored; a PROXY one must
    // hold its family's addresses.
    let addrs = body.get(..addr_len);
    if cmd == CMD_PROXY && addrs.is_none() {
        return Err(ProxyError::Malformed("proxy_v2_length"));
    }
    let (src, dst) = match (cmd, fam >> 4, addrs) {
        (CMD_PROXY, AF_INET, Some(a)) => inet4(a),
        (CMD_PROXY, AF_INET6, Some(a)) => inet6(a),
        _ => (None, None),
    };
    let bad_tlvs = match body.get(addr_len..) {
        Some(tlvs) if cmd == CMD_PROXY => !tlvs_walk(tlvs),
        _ => false,
    };
    Ok(ProxyHeader {
        version: 2,
        len: total,
        src,
        dst,
        bad_tlvs,
    })
}

fn be16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn inet4(a: &[u8]) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let ip = |at: usize| -> Option<IpAddr> {
        let o: [u8; 4] = a.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(o)))
    };
    let sa = |ip_at, port_at| Some(SocketAddr::new(ip(ip_at)?, be16_at(a, port_at)?));
    (sa(0, 8), sa(4, 10))
}

fn inet6(a: &[u8]) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let ip = |at: usize| -> Option<IpAddr> {
        let o: [u8; 16] = a.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(o)))
    };
    let sa = |ip_at, port_at| Some(SocketAddr::new(ip(ip_at)?, be16_at(a, port_at)?));
    (sa(0, 32), sa(16, 34))
}

/// Spec 2.2.7: TLVs are (type u8, length u16, value); `true` when they tile `tlvs`.
fn tlvs_walk(mut tlvs: &[u8]) -> bool {
    while !tlvs.is_empty() {
        let Some(len) = be16_at(tlvs, 1) else {
            return false;
        };
        match tlvs.get(3 + usize::from(len)..) {
            Some(rest) => tlvs = rest,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &[u8] = b"PROXY TCP4 192.0.2.10 198.51.100.1 56324 443\r\n";

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.push(0x20 | cmd);
        v.push(fam);
        v.extend((body.len() as u16).to_be_bytes());
        v.extend(body);
        v
    }

    fn inet4_body() -> Vec<u8> {
        let mut b = vec![192, 0, 2, 10, 198, 51, 100, 1];
        b.extend(56324u16.to_be_bytes());
        b.extend(443u16.to_be_bytes());
        b
    }

    #[test]
    fn v1_tcp4() {
        let mut data = V1.to_vec();
        data.extend([0x16, 3, 1]);
        let h = parse(&data).unwrap();
        assert_eq!(h.version, 1);
        assert_eq!(h.len, V1.len());
        assert_eq!(h.src, Some("192.0.2.10:56324".parse().unwrap()));
        assert_eq!(h.dst, Some("198.51.100.1:443".parse().unwrap()));
        assert_eq!(header_len(&data), V1.len());
    }

    #[test]
    fn v1_tcp6_and_unknown() {
        let h = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n").unwrap();
        assert_eq!(h.src, Some("[2001:db8::1]:1".parse().unwrap()));
        let h = parse(b"PROXY UNKNOWN ffff::1 whatever\r\nrest").unwrap();
        assert_eq!((h.src, h.len), (None, 32));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap().len, 15);
    }

    #[test]
    fn v1_truncated_is_incomplete_at_every_cut() {
        for cut in 0..V1.len() {
            assert_eq!(
                parse(&V1[..cut]),
                Err(ProxyError::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn v1_bad_input() {
        assert_eq!(parse(b"POST / HTTP/1.1"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"GET /"), Err(ProxyError::NotProxy));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n"),
            Err(ProxyError::Malformed("proxy_v1_fields"))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n"),
            Err(ProxyError::Malformed("proxy_v1_address"))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n"),
            Err(ProxyError::Malformed("proxy_v1_port"))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 192.0.2.1 192.0.2.2 +1 2\r\n"),
            Err(ProxyError::Malformed("proxy_v1_port"))
        ));
        assert!(matches!(
            parse(b"PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n"),
            Err(ProxyError::Malformed("proxy_v1_protocol"))
        ));
        // No CRLF within 107 bytes.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(200, b'a');
        assert!(matches!(
            parse(&long),
            Err(ProxyError::Malformed("proxy_v1_too_long"))
        ));
        assert!(matches!(
            parse(b"PROXY TCP4 \x16\x03"),
            Err(ProxyError::Malformed("proxy_v1_not_text"))
        ));
    }

    #[test]
    fn v2_inet_with_tlvs() {
        let mut body = inet4_body();
        // PP2_TYPE_AUTHORITY "example.com", then PP2_TYPE_NOOP with 2 bytes.
        body.extend([0x02, 0, 11]);
        body.extend(b"example.com");
        body.extend([0x04, 0, 2, 0, 0]);
        let mut data = v2(CMD_PROXY, 0x11, &body);
        let n = data.len();
        data.extend([0x16, 3, 1, 0, 5, 1]);
        let h = parse(&data).unwrap();
        assert_eq!((h.version, h.len, h.bad_tlvs), (2, n, false));
        assert_eq!(h.src, Some("192.0.2.10:56324".parse().unwrap()));
        assert_eq!(h.dst, Some("198.51.100.1:443".parse().unwrap()));
    }

    #[test]
    fn v2_inet6_local_unspec_unix() {
        let mut body = Vec::new();
        body.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend("2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        body.extend([0xdc, 0x04, 0x01, 0xbb]);
        let h = parse(&v2(CMD_PROXY, 0x21, &body)).unwrap();
        assert_eq!(h.src, Some("[2001:db8::1]:56324".parse().unwrap()));
        assert_eq!(h.dst, Some("[2001:db8::2]:443".parse().unwrap()));
        // LOCAL (a health check) keeps no addresses, even with an address block.
        let h = parse(&v2(CMD_LOCAL, 0x11, &inet4_body())).unwrap();
        assert_eq!((h.src, h.len), (None, 28));
        assert_eq!(parse(&v2(CMD_LOCAL, 0x00, &[])).unwrap().len, 16);
        let h = parse(&v2(CMD_PROXY, 0x31, &[0u8; 216])).unwrap();
        assert_eq!((h.src, h.len), (None, 232));
    }

    #[test]
    fn v2_truncated_is_incomplete_at_every_cut() {
        let data = v2(CMD_PROXY, 0x11, &inet4_body());
        for cut in 0..data.len() {
            assert_eq!(
                parse(&data[..cut]),
                Err(ProxyError::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn v2_bad_lengths_and_values() {
        // Address block shorter than the family needs.
        assert!(matches!(
            parse(&v2(CMD_PROXY, 0x11, &inet4_body()[..8])),
            Err(ProxyError::Malformed("proxy_v2_length"))
        ));
        // A TLV claiming more bytes than the header has: kept, flagged.
        let mut body = inet4_body();
        body.extend([0x02, 0, 40, b'x']);
        let h = parse(&v2(CMD_PROXY, 0x11, &body)).unwrap();
        assert!(h.bad_tlvs);
        let mut data = v2(CMD_PROXY, 0x11, &inet4_body());
        data[12] = 0x11;
        assert!(matches!(
            parse(&data),
            Err(ProxyError::Malformed("proxy_v2_version"))
        ));
        data[12] = 0x22;
        assert!(matches!(
            parse(&data),
            Err(ProxyError::Malformed("proxy_v2_command"))
        ));
        data[12] = 0x21;
        data[13] = 0x41;
        assert!(matches!(
            parse(&data),
            Err(ProxyError::Malformed("proxy_v2_family"))
        ));
        // Length beyond the cap.
        let mut data = v2(CMD_PROXY, 0x11, &inet4_body());
        data[14..16].copy_from_slice(&(V2_MAX_LEN as u16).to_be_bytes());
        assert!(matches!(
            parse(&data),
            Err(ProxyError::Malformed("proxy_v2_too_long"))
        ));
        assert_eq!(parse(b"\r\n\r\nfoo"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\n"), Err(ProxyError::Incomplete));
        assert_eq!(header_len(b"\r\nQUIT"), 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse(&data);
            let mut v1 = b"PROXY ".to_vec();
            v1.extend(&data);
            let _ = parse(&v1);
            let mut v2 = V2_SIGNATURE.to_vec();
            v2.extend(&data);
            if let Ok(h) = parse(&v2) {
                proptest::prop_assert!(h.len <= v2.len());
            }
        }
    }
}
