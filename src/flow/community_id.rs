//! Community ID v1 flow hashing (Corelight's community-id-spec), so tlstap rows join
//! with Zeek conn.log, Suricata eve and Arkime sessions on the same connection.
//!
//! `base64(sha1(seed_be16 || ip_a || ip_b || proto || 0 || port_a_be16 || port_b_be16))`
//! with the endpoints ordered so that the smaller (ip, port) comes first; an IPv4 and
//! an IPv6 endpoint never meet in one flow.

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// IANA protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Community ID v1 string (`"1:..."`) for a flow, with the default seed 0.
pub fn community_id_v1(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> String {
    community_id_v1_seeded(0, src, sport, dst, dport, proto)
}

pub fn community_id_v1_seeded(
    seed: u16,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    proto: u8,
) -> String {
    let (a, pa, b, pb) = if (src, sport) <= (dst, dport) {
        (src, sport, dst, dport)
    } else {
        (dst, dport, src, sport)
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            h.update(a.octets());
            h.update(b.octets());
        }
        (a, b) => {
            h.update(ip16(a));
            h.update(ip16(b));
        }
    }
    h.update([proto, 0]);
    h.update(pa.to_be_bytes());
    h.update(pb.to_be_bytes());
    let digest = h.finalize();
    let mut s = String::with_capacity(30);
    s.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut s);
    s
}

fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // Expected values from the spec's reference implementation (PyPI `communityid`
    // 1.5, `CommunityID().calc(FlowTuple.make_tcp(...))`); the first is also in the
    // spec's README.
    #[test]
    fn reference_vectors() {
        assert_eq!(
            community_id_v1(
                ip("128.232.110.120"),
                34855,
                ip("66.35.250.204"),
                80,
                PROTO_TCP
            ),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id_v1(ip("::1"), 5000, ip("::1"), 443, PROTO_TCP),
            "1:79qiHmp4vnOTwJqD56FSgZ+S0oM="
        );
        assert_eq!(
            community_id_v1(ip("10.0.0.1"), 1234, ip("10.0.0.2"), 443, PROTO_TCP),
            "1:ykQ1ME2JeKb+7Ccjc9ugF3NGISE="
        );
    }

    /// UDP (QUIC, DTLS rows): values from the Python reference implementation
    /// (`communityid` 1.5 on PyPI, `FlowTuple.make_udp`).
    #[test]
    fn udp_reference_vectors() {
        assert_eq!(
            community_id_v1(
                ip("192.168.1.168"),
                59102,
                ip("142.251.163.147"),
                443,
                PROTO_UDP
            ),
            "1:YzVkOOYiTuBXnYUbOrwvXhS5ZJ0="
        );
        assert_eq!(
            community_id_v1(ip("2001:db8::2"), 4433, ip("2001:db8::1"), 5000, PROTO_UDP),
            "1:AjLnVqvCABlnOT+92yI4Vx82ZDc="
        );
    }

    #[test]
    fn direction_independent() {
        let a = community_id_v1(ip("10.0.0.1"), 1234, ip("10.0.0.2"), 443, PROTO_TCP);
        let b = community_id_v1(ip("10.0.0.2"), 443, ip("10.0.0.1"), 1234, PROTO_TCP);
        assert_eq!(a, b);
        // Same address, ports decide the order.
        let c = community_id_v1(ip("::1"), 5000, ip("::1"), 443, PROTO_TCP);
        let d = community_id_v1(ip("::1"), 443, ip("::1"), 5000, PROTO_TCP);
        assert_eq!(c, d);
        assert_ne!(a, c);
    }
}
