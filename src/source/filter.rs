//! Offline BPF filtering for `read --bpf`: the same tcpdump syntax as `live --bpf`,
//! compiled by libpcap (`pcap_compile` on a dead handle of the packet's link type) and
//! run per packet in user space (`pcap_offline_filter`).
//!
//! A capture may mix link types (pcapng interfaces), so one program is compiled per
//! link type, when its first packet comes. An expression libpcap cannot compile for a
//! link type (e.g. `ether host ...` on raw IP) drops that link type's packets and
//! counts them (`input.bpf_linktype_unsupported`), as tcpdump would refuse the file.
//!
//! Limits: at most [`MAX_PROGRAMS`] link types per filter (more are counted the same
//! way).

use std::collections::HashMap;
use std::sync::Mutex;

use pcap::{BpfProgram, Capture, Linktype};

use super::RawPacket;
use crate::stats::Counters;

/// Link types a filter compiles a program for.
pub const MAX_PROGRAMS: usize = 64;

/// Link type used to check an expression before a run starts.
const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW` in files is `DLT_RAW` (12 on Linux) for libpcap's compiler.
const LINKTYPE_RAW: u32 = 101;
const DLT_RAW: i32 = 12;

/// Older libpcap's compiler is not reentrant; compiles are rare, so serialise them.
static COMPILE: Mutex<()> = Mutex::new(());

/// A BPF expression that failed to compile.
#[derive(Debug, thiserror::Error)]
#[error("--bpf {expr:?}: {detail}")]
pub struct BpfError {
    pub expr: String,
    pub detail: String,
}

/// Compile `expr` for `linktype` (also used by [`super::afpacket`] for its kernel filter).
pub(crate) fn compile(expr: &str, linktype: u32) -> Result<BpfProgram, BpfError> {
    let dlt = if linktype == LINKTYPE_RAW {
        DLT_RAW
    } else {
        i32::try_from(linktype).unwrap_or(i32::MAX)
    };
    let _serial = COMPILE.lock().unwrap_or_else(|e| e.into_inner());
    let err = |e: pcap::Error| BpfError {
        expr: expr.to_owned(),
        detail: e.to_string(),
    };
    Capture::dead(Linktype(dlt))
        .map_err(err)?
        .compile(expr, true)
        .map_err(err)
}

/// One `--bpf` expression, with a compiled program per link type seen.
pub struct BpfFilter {
    expr: String,
    programs: HashMap<u32, Option<BpfProgram>>,
    /// Packets the expression rejected.
    pub rejected: u64,
}

impl std::fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BpfFilter")
            .field("expr", &self.expr)
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl BpfFilter {
    /// Check `expr` (compiled for Ethernet, as tcpdump would) and keep it.
    pub fn new(expr: &str) -> Result<BpfFilter, BpfError> {
        let eth = compile(expr, LINKTYPE_ETHERNET)?;
        Ok(BpfFilter {
            expr: expr.to_owned(),
            programs: HashMap::from([(LINKTYPE_ETHERNET, Some(eth))]),
            rejected: 0,
        })
    }

    /// Does the expression accept this packet? A link type the expression cannot be
    /// compiled for rejects its packets and counts them.
    pub fn accepts(&mut self, pkt: &RawPacket<'_>, counters: &mut Counters) -> bool {
        if !self.programs.contains_key(&pkt.linktype) && self.programs.len() < MAX_PROGRAMS {
            let prog = compile(&self.expr, pkt.linktype).ok();
            self.programs.insert(pkt.linktype, prog);
        }
        match self.programs.get(&pkt.linktype) {
            Some(Some(p)) => {
                let ok = p.filter(pkt.data);
                self.rejected += u64::from(!ok);
                ok
            }
            _ => {
                counters.bump("input.bpf_linktype_unsupported");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_tcp(dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08; // IPv4
        f[14] = 0x45;
        f[14 + 9] = 6; // TCP
        f[14 + 3] = 40;
        f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&dport.to_be_bytes());
        f[14 + 20 + 12] = 0x50;
        f
    }

    fn pkt(linktype: u32, data: &[u8]) -> RawPacket<'_> {
        RawPacket {
            ts_ns: 0,
            linktype,
            orig_len: data.len() as u32,
            data,
        }
    }

    #[test]
    fn accepts_what_the_expression_matches() {
        let mut f = BpfFilter::new("tcp port 443").unwrap();
        let mut c = Counters::new();
        assert!(f.accepts(&pkt(1, &eth_ipv4_tcp(443)), &mut c));
        assert!(!f.accepts(&pkt(1, &eth_ipv4_tcp(80)), &mut c));
        assert_eq!(f.rejected, 1);
        // Raw IP (no link header) gets its own program.
        let eth = eth_ipv4_tcp(443);
        assert!(f.accepts(&pkt(LINKTYPE_RAW, &eth[14..]), &mut c));
    }

    #[test]
    fn bad_expression_is_refused_and_unsupported_linktype_counted() {
        assert!(BpfFilter::new("tcp port").is_err());
        let mut f = BpfFilter::new("ether host 01:02:03:04:05:06").unwrap();
        let mut c = Counters::new();
        let eth = eth_ipv4_tcp(443);
        assert!(!f.accepts(&pkt(LINKTYPE_RAW, &eth[14..]), &mut c));
        assert_eq!(c.get("input.bpf_linktype_unsupported"), 1);
    }
}
