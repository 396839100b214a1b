//! Link layer: from a frame of a given `LINKTYPE_*` to the start of its IPv4/IPv6 header.
//!
//! Handles Ethernet (with 802.1Q/QinQ tags, Cisco MetaData/SGT tags, MPLS label
//! stacks, PPPoE sessions and LLC/SNAP), Linux cooked SLL/SLL2, raw IP, BSD NULL/LOOP,
//! PPP (plain, HDLC-framed, with direction), Cisco HDLC and unencrypted IEEE 802.11
//! data frames. SLL/SLL2/PPP protocol fields go through the same ethertype dispatch as
//! Ethernet, so tags and labels work behind them too. An NSH header (ethertype 0x894F)
//! is handed back as [`L3::Nsh`] for the tunnel walk. The ethertype, MPLS, PPP and
//! 802.11 parsers are also what tunnels (GRE, Geneve, CAPWAP, TZSP) lead to.
//!
//! Invariants: every read is bounds-checked; nothing is allocated. VLAN ids of nested
//! tags fold into one `u32` (`outer << 12 | inner`), so flows on different VLANs never
//! share a key for up to two tags. Limits: [`MAX_VLAN_TAGS`], [`MAX_MPLS_LABELS`].

use super::{be16, DecodeError, L3};

/// Most 802.1Q/802.1ad tags walked before the frame is dropped
/// (`decode.vlan_depth_limit`). Two is QinQ; a few more covers provider stacks.
pub const MAX_VLAN_TAGS: usize = 4;
/// Most MPLS label entries popped before the frame is dropped
/// (`decode.mpls_depth_limit`).
pub const MAX_MPLS_LABELS: usize = 8;

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_PPP: u32 = 9;
/// DLT_RAW on most BSDs, found as-is in some old files.
pub const LINKTYPE_RAW_DLT12: u32 = 12;
/// DLT_RAW on OpenBSD, found as-is in some old files.
pub const LINKTYPE_RAW_DLT14: u32 = 14;
pub const LINKTYPE_PPP_HDLC: u32 = 50;
pub const LINKTYPE_PPP_ETHER: u32 = 51;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_C_HDLC: u32 = 104;
pub const LINKTYPE_IEEE802_11: u32 = 105;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_PPP_WITH_DIR: u32 = 204;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_MPLS_UC: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Cisco MetaData (inline Security Group Tag): a tag, not a tunnel.
const ETHERTYPE_CISCO_METADATA: u16 = 0x8909;
/// Network Service Header, RFC 8300.
pub const ETHERTYPE_NSH: u16 = 0x894f;
/// Cisco MetaData header after its ethertype: version, length, option type, SGT
/// (Wireshark's `packet-cmd.c`), then the next ethertype.
const CISCO_METADATA_LEN: usize = 6;
/// Values below this are 802.3 lengths (or SLL pseudo-protocols), not ethertypes.
const ETHERTYPE_MIN: u16 = 0x0600;

const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;
const PPP_MPLS_UC: u16 = 0x0281;
const PPP_MPLS_MC: u16 = 0x0283;

const AF_INET: u32 = 2;
/// AF_INET6 differs by OS: 24 (NetBSD, OpenBSD, BSD/OS), 28 (FreeBSD), 30 (macOS).
const AF_INET6: [u32; 3] = [24, 28, 30];

/// Where the IP header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOut {
    pub l3: L3,
    pub off: usize,
    pub vlan: u32,
}

/// Finds the IP header in a frame of link type `linktype`.
pub fn parse(linktype: u32, d: &[u8]) -> Result<LinkOut, DecodeError> {
    let mut vlan = 0u32;
    let (l3, off) = match linktype {
        LINKTYPE_ETHERNET => {
            let et = be16(d, 12).ok_or(DecodeError::Truncated)?;
            ethertype(d, 14, et, &mut vlan)?
        }
        LINKTYPE_LINUX_SLL => {
            let et = be16(d, 14).ok_or(DecodeError::Truncated)?;
            ethertype(d, 16, et, &mut vlan)?
        }
        LINKTYPE_LINUX_SLL2 => {
            let et = be16(d, 0).ok_or(DecodeError::Truncated)?;
            if d.len() < 20 {
                return Err(DecodeError::Truncated);
            }
            ethertype(d, 20, et, &mut vlan)?
        }
        LINKTYPE_RAW | LINKTYPE_RAW_DLT12 | LINKTYPE_RAW_DLT14 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            (by_version(d, 0)?, 0)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let b: [u8; 4] = d
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .ok_or(DecodeError::Truncated)?;
            let be = u32::from_be_bytes(b);
            // NULL is in the capturing host's byte order, which the file does not say.
            let af = if linktype == LINKTYPE_NULL && be > 0xffff {
                u32::from_le_bytes(b)
            } else {
                be
            };
            let l3 = match af {
                AF_INET => L3::V4,
                x if AF_INET6.contains(&x) => L3::V6,
                _ => return Err(DecodeError::NotIp),
            };
            (l3, 4)
        }
        LINKTYPE_PPP | LINKTYPE_PPP_HDLC => ppp(d, 0, &mut vlan)?,
        LINKTYPE_PPP_WITH_DIR => ppp(d, 1, &mut vlan)?,
        LINKTYPE_PPP_ETHER => pppoe(d, 0)?,
        LINKTYPE_C_HDLC => {
            let et = be16(d, 2).ok_or(DecodeError::Truncated)?;
            ethertype(d, 4, et, &mut vlan)?
        }
        LINKTYPE_IEEE802_11 => ieee80211(d, &mut vlan)?,
        _ => return Err(DecodeError::UnsupportedLinktype),
    };
    Ok(LinkOut { l3, off, vlan })
}

/// IP version from the first nibble at `off`.
pub(crate) fn by_version(d: &[u8], off: usize) -> Result<L3, DecodeError> {
    match d.get(off).ok_or(DecodeError::Truncated)? >> 4 {
        4 => Ok(L3::V4),
        6 => Ok(L3::V6),
        _ => Err(DecodeError::NotIp),
    }
}

/// Follows an ethertype chain (tags, SNAP, MPLS, PPPoE) from `et`, whose payload is at `off`.
pub(crate) fn ethertype(
    d: &[u8],
    mut off: usize,
    mut et: u16,
    vlan: &mut u32,
) -> Result<(L3, usize), DecodeError> {
    let mut tags = 0usize;
    let mut snap_seen = false;
    loop {
        match et {
            ETHERTYPE_IPV4 => return Ok((L3::V4, off)),
            ETHERTYPE_IPV6 => return Ok((L3::V6, off)),
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return Err(DecodeError::VlanDepthLimit);
                }
                let tci = be16(d, off).ok_or(DecodeError::Truncated)?;
                et = be16(d, off + 2).ok_or(DecodeError::Truncated)?;
                // Shifting drops the outermost ids beyond two tags; `<<` never overflows.
                *vlan = (*vlan << 12) | u32::from(tci & 0x0fff);
                off += 4;
            }
            ETHERTYPE_CISCO_METADATA => {
                // Counted with the VLAN tags: it is a tag, and the count bounds the loop.
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return Err(DecodeError::VlanDepthLimit);
                }
                off += CISCO_METADATA_LEN;
                et = be16(d, off).ok_or(DecodeError::Truncated)?;
                off += 2;
            }
            ETHERTYPE_NSH => return Ok((L3::Nsh, off)),
            ETHERTYPE_MPLS_UC | ETHERTYPE_MPLS_MC => return mpls(d, off),
            ETHERTYPE_PPPOE_SESSION => return pppoe(d, off),
            x if x < ETHERTYPE_MIN && !snap_seen => {
                // 802.2 LLC + SNAP with OUI 0: aa aa 03 00 00 00 <ethertype>.
                snap_seen = true;
                match d.get(off..off + 6) {
                    Some([0xaa, 0xaa, 0x03, 0, 0, 0]) => {}
                    Some(_) => return Err(DecodeError::NotIp),
                    None => return Err(DecodeError::Truncated),
                }
                et = be16(d, off + 6).ok_or(DecodeError::Truncated)?;
                off += 8;
            }
            _ => return Err(DecodeError::NotIp),
        }
    }
}

/// Pops an MPLS label stack at `off`; the payload is IP, told apart by its version nibble.
pub(crate) fn mpls(d: &[u8], mut off: usize) -> Result<(L3, usize), DecodeError> {
    for _ in 0..MAX_MPLS_LABELS {
        let entry = d.get(off..off + 4).ok_or(DecodeError::Truncated)?;
        off += 4;
        let bottom = entry.get(2).is_some_and(|b| b & 0x01 != 0);
        if bottom {
            // Pseudowires (first nibble 0: control word + Ethernet) are not followed.
            return Ok((by_version(d, off)?, off));
        }
    }
    Err(DecodeError::MplsDepthLimit)
}

/// A PPPoE session header (RFC 2516) at `off`, then PPP.
fn pppoe(d: &[u8], off: usize) -> Result<(L3, usize), DecodeError> {
    let hdr = d.get(off..off + 6).ok_or(DecodeError::Truncated)?;
    // ver=1, type=1, code=0 (session data).
    if hdr.first() != Some(&0x11) || hdr.get(1) != Some(&0) {
        return Err(DecodeError::PppoeBadHeader);
    }
    let proto = be16(d, off + 6).ok_or(DecodeError::Truncated)?;
    ppp_protocol(d, off + 8, proto)
}

/// A PPP frame at `off`: optional ff 03 address/control, 1- or 2-byte protocol.
pub(crate) fn ppp(d: &[u8], mut off: usize, vlan: &mut u32) -> Result<(L3, usize), DecodeError> {
    match (d.get(off), d.get(off + 1)) {
        (Some(0xff), Some(0x03)) => off += 2,
        // Cisco HDLC framing, which some PPP_HDLC files carry: address, control, ethertype.
        (Some(0x0f | 0x8f), Some(0x00)) => {
            let et = be16(d, off + 2).ok_or(DecodeError::Truncated)?;
            return ethertype(d, off + 4, et, vlan);
        }
        _ => {}
    }
    let first = *d.get(off).ok_or(DecodeError::Truncated)?;
    // Protocol-field compression: an odd first byte is a one-byte protocol.
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        (be16(d, off).ok_or(DecodeError::Truncated)?, 2)
    };
    ppp_protocol(d, off + len, proto)
}

fn ppp_protocol(d: &[u8], off: usize, proto: u16) -> Result<(L3, usize), DecodeError> {
    match proto {
        PPP_IPV4 => Ok((L3::V4, off)),
        PPP_IPV6 => Ok((L3::V6, off)),
        PPP_MPLS_UC | PPP_MPLS_MC => mpls(d, off),
        _ => Err(DecodeError::NotIp),
    }
}

/// IEEE 802.11 frame-control bits and header sizes (IEEE 802.11-2020 section 9.2).
const WLAN_TYPE_DATA: u8 = 2;
const WLAN_SUBTYPE_QOS: u8 = 0x08;
const WLAN_SUBTYPE_NO_DATA: u8 = 0x04;
const WLAN_TO_DS: u8 = 0x01;
const WLAN_FROM_DS: u8 = 0x02;
const WLAN_PROTECTED: u8 = 0x40;
const WLAN_ORDER: u8 = 0x80;
const WLAN_HEADER_LEN: usize = 24;
const AMSDU_SUBFRAME_HEADER_LEN: usize = 14;

/// An IEEE 802.11 data frame (no radio header, no FCS) carrying LLC/SNAP; of an
/// A-MSDU, the first subframe. Encrypted frames, management/control frames and null
/// data are not IP: `NotIp`.
pub(crate) fn ieee80211(d: &[u8], vlan: &mut u32) -> Result<(L3, usize), DecodeError> {
    let fc0 = *d.first().ok_or(DecodeError::Truncated)?;
    let fc1 = *d.get(1).ok_or(DecodeError::Truncated)?;
    let ftype = (fc0 >> 2) & 0x03;
    let subtype = fc0 >> 4;
    if ftype != WLAN_TYPE_DATA || subtype & WLAN_SUBTYPE_NO_DATA != 0 || fc1 & WLAN_PROTECTED != 0 {
        return Err(DecodeError::NotIp);
    }
    let mut off = WLAN_HEADER_LEN;
    if fc1 & WLAN_TO_DS != 0 && fc1 & WLAN_FROM_DS != 0 {
        off += 6; // fourth address
    }
    let mut amsdu = false;
    if subtype & WLAN_SUBTYPE_QOS != 0 {
        // QoS control; bit 7 of its first byte marks an A-MSDU.
        amsdu = *d.get(off).ok_or(DecodeError::Truncated)? & 0x80 != 0;
        off += 2;
        if fc1 & WLAN_ORDER != 0 {
            off += 4; // HT control
        }
    }
    if amsdu {
        // The first subframe only: destination, source, length, then LLC/SNAP.
        off += AMSDU_SUBFRAME_HEADER_LEN;
    }
    // LLC/SNAP: the ethertype path takes an 802.3 length as "SNAP follows".
    ethertype(d, off, 0, vlan)
}
