//! Linux AF_PACKET capture with a TPACKET_V3 receive ring and optional
//! `PACKET_FANOUT`: a [`LiveSource`] that reads frames straight out of memory shared
//! with the kernel, one socket per capture worker.
//!
//! **Ring layout.** The ring is `block_count` blocks of `block_size` bytes, mapped once
//! (`mmap`). Each block starts with a `tpacket_block_desc` (48 bytes: status, number of
//! packets, offset of the first packet, bytes used) followed by variable-size frames,
//! each a `tpacket3_hdr` (48 bytes), a `sockaddr_ll`, then the captured bytes at
//! `tp_mac`, the next frame `tp_next_offset` bytes further on. The kernel fills one
//! block at a time and hands it to us (`TP_STATUS_USER`) when it is full or when
//! `block_timeout_ms` passes (`tp_retire_blk_tov`); we walk its frames, each one
//! delivered as a [`RawPacket`] borrowing the ring (no copy), and hand the block back
//! (`TP_STATUS_KERNEL`) only when moving on to the next block. The walker
//! (`BlockCursor`) checks every offset against the block's length, so odd header
//! values are counted (`afpacket.bad_block`, `afpacket.bad_frame`) and the block is
//! skipped; nothing panics.
//!
//! **Why TPACKET_V3.** V1/V2 rings have fixed-size slots (each as large as the
//! snaplen), so small packets waste most of the ring, and every packet is a wake-up.
//! V3 packs frames back to back and retires whole blocks, so a ring of
//! [`DEFAULT_BLOCK_COUNT`] × [`DEFAULT_BLOCK_SIZE`] (64 MiB, as libpcap's default
//! buffer in `live`) holds tens of thousands of small packets, and a busy link costs
//! one wake-up per block. V3 timestamps are nanoseconds.
//!
//! **Sizes.** `block_size` must be a multiple of the page size and hold one whole
//! frame of `snaplen` bytes (plus [`BLOCK_OVERHEAD`]); the ring is at most
//! [`MAX_RING_BYTES`] per socket; at least [`MIN_BLOCK_COUNT`] blocks, so the kernel
//! fills one while we read another. Snaplen is enforced in the kernel by the socket
//! filter's return value (the frame is cut before it is copied into the ring). A
//! partly filled block is handed over after the block timeout even on a slow link, so
//! a reader that stalls keeps at most `block_count` blocks or `block_count` block
//! timeouts of traffic, whichever is less, before the kernel drops (and counts). Each
//! member of a fanout group needs a reader of its own: a member nobody reads freezes
//! its ring alone while the others go on.
//!
//! **Fanout.** With [`FanoutConfig`], every socket opened with the same `group_id` on
//! the same interface (in this network namespace, by any process) joins one group and
//! the kernel gives each packet to one member: `PACKET_FANOUT_HASH` picks the member
//! from the packet's flow hash, which Linux computes symmetrically (addresses and ports
//! sorted, `__flow_hash_consistentify`), so both directions of a connection reach the
//! same worker. `PACKET_FANOUT_FLAG_DEFRAG` reassembles IPv4 fragments before hashing
//! (a non-first fragment has no ports), so the worker receives the reassembled
//! datagram. Not used on purpose: `FLAG_ROLLOVER` (a full ring would send a flow's
//! packets to another worker) and the LB/CPU/random modes (no flow affinity). A group
//! has at most [`MAX_FANOUT_MEMBERS`] members. The group is joined after `bind`; until
//! it is joined (and until the real filter replaces it) a drop-all filter keeps the
//! socket's ring empty, so no packet outside this worker's share and none the filter
//! would refuse ever enters it.
//!
//! **Link types.** Ethernet and loopback (`lo` frames carry a 14-byte Ethernet header
//! with zero MACs) are delivered as `LINKTYPE_ETHERNET`, links without a header
//! (`tun`, WireGuard: `ARPHRD_NONE`, `ARPHRD_RAWIP`) as `LINKTYPE_RAW`; other link
//! types are refused (use the libpcap capture). On loopback every packet would be
//! seen twice (outgoing, then incoming); the outgoing copy is left out by the kernel
//! (`PACKET_IGNORE_OUTGOING` on a single socket; in a fanout group only the group's
//! `PACKET_FANOUT_FLAG_IGNORE_OUTGOING` works, so it is added on loopback) and, should
//! a kernel not do so, per frame (`sll_pkttype`, as libpcap does).
//! An 802.1Q tag the NIC stripped (`TP_STATUS_VLAN_VALID`) is put back into the frame,
//! as libpcap does, so the decoder sees the VLAN; those frames are copied once.
//!
//! **Statistics.** `PACKET_STATISTICS` (reset by the kernel on every read) is added up
//! into the same [`CaptureStats`] the libpcap source publishes: `received` is
//! `tp_packets` (accepted by the filter, dropped ones included, as libpcap's
//! `ps_recv`), `dropped_kernel` is `tp_drops` (the ring was full). Interface drops are
//! not reported (they belong to the interface, not to one of N sockets). The number
//! of times the ring filled up (`tp_freeze_q_cnt`) is counted as `afpacket.ring_freeze`.
//!
//! Reading, stopping and draining behave as for [`super::live::LiveCapture`]: `None`
//! with [`PacketSource::at_end`] `false` after `block_timeout_ms` without a packet,
//! and after the stop flag the ring is drained by the same rule (`live::Drain`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use super::live::{wait_readable, CaptureStats, Drain, Gate, LiveError, STATS_EVERY_PACKETS};
use super::{LiveSource, PacketSource, RawPacket, SourceError};
use crate::decode::link::{LINKTYPE_ETHERNET, LINKTYPE_RAW};
use crate::stats::Counters;

/// Default ring block: 4 MiB (holds a whole GRO-coalesced frame at the default snaplen
/// many times over).
pub const DEFAULT_BLOCK_SIZE: u32 = 4 << 20;
/// Default ring blocks: 16, so 64 MiB per socket (libpcap's `live` buffer default).
pub const DEFAULT_BLOCK_COUNT: u32 = 16;
/// Default `tp_retire_blk_tov`: a partly filled block is handed over after 100 ms (the
/// libpcap source's read timeout), which is also the longest wait for a packet.
pub const DEFAULT_BLOCK_TIMEOUT_MS: u32 = 100;
/// Largest ring one socket may map (all blocks): 1 GiB.
pub const MAX_RING_BYTES: u64 = 1 << 30;
/// Fewest blocks: the kernel fills one while we read another.
pub const MIN_BLOCK_COUNT: u32 = 2;
/// What a block needs besides one frame's bytes: the block header (48), the frame
/// header and `sockaddr_ll` (68), alignment and a re-inserted VLAN tag, rounded up.
pub const BLOCK_OVERHEAD: u32 = 256;
/// Members a fanout group can have (the kernel's `PACKET_FANOUT_MAX`).
pub const MAX_FANOUT_MEMBERS: usize = 256;
/// `tp_frame_size` of the ring request. V3 packs frames by their real size; the kernel
/// only checks that blocks divide into frames of this size (any page size does).
const NOMINAL_FRAME_SIZE: u32 = 2048;
/// 802.1Q tag length.
const VLAN_TAG_LEN: usize = 4;
/// `BPF_RET | BPF_K` (`<linux/bpf_common.h>`): return a constant, the bytes to keep.
const BPF_RET_K: u16 = 0x06;

/// Byte offsets of the ring's headers (host byte order), from `<linux/if_packet.h>`.
mod field {
    /// `tpacket_block_desc`: version, offset_to_priv, then `tpacket_hdr_v1`.
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const OFFSET_TO_FIRST_PKT: usize = 16;
    pub const BLK_LEN: usize = 20;
    /// `sizeof(struct tpacket_block_desc)`; frames start at or after it.
    pub const BLOCK_HDR_LEN: usize = 48;

    /// `tpacket3_hdr`.
    pub const NEXT_OFFSET: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const STATUS: usize = 20;
    pub const MAC: usize = 24;
    pub const VLAN_TCI: usize = 32;
    pub const VLAN_TPID: usize = 36;
    /// `sockaddr_ll` follows the header at `TPACKET_ALIGN(sizeof(tpacket3_hdr))`;
    /// `sll_pkttype` is its byte 10.
    pub const SLL_PKTTYPE: usize = 48 + 10;
    /// `TPACKET3_HDRLEN`: header plus `sockaddr_ll`; the link header starts after it.
    pub const FRAME_HDR_LEN: usize = 68;
}

// The offsets above are the kernel ABI; check them against libc's declarations.
const _: () = {
    assert!(std::mem::size_of::<libc::tpacket3_hdr>() == 48);
    assert!(libc::TPACKET3_HDRLEN == field::FRAME_HDR_LEN);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_status) == field::STATUS);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, tp_mac) == field::MAC);
    assert!(std::mem::offset_of!(libc::tpacket3_hdr, hv1) == field::VLAN_TCI - 4);
    assert!(std::mem::offset_of!(libc::tpacket_block_desc, hdr) == field::BLOCK_STATUS);
    assert!(std::mem::offset_of!(libc::tpacket_hdr_v1, blk_len) == field::BLK_LEN - 8);
    assert!(std::mem::size_of::<libc::tpacket_block_desc>() == field::BLOCK_HDR_LEN);
    // pcap's compiled instructions are handed to the kernel as they are.
    assert!(std::mem::size_of::<pcap::BpfInstruction>() == 8);
    assert!(std::mem::size_of::<libc::sock_filter>() == 8);
};

/// How packets are spread over a fanout group. Only flow-preserving modes exist: the
/// flow table of each worker must see both directions of its flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutMode {
    /// `PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG`: by the kernel's symmetric flow
    /// hash, IPv4 fragments reassembled first.
    Hash,
}

impl FanoutMode {
    /// The high 16 bits of the `PACKET_FANOUT` argument.
    fn type_and_flags(self) -> u32 {
        match self {
            FanoutMode::Hash => libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG,
        }
    }
}

/// A fanout group to join (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// Group id, unique per network namespace: every socket on the interface with this
    /// id (from any process) shares the traffic.
    pub group_id: u16,
    pub mode: FanoutMode,
}

/// How to open an AF_PACKET capture.
#[derive(Debug, Clone)]
pub struct AfPacketConfig {
    pub interface: String,
    /// Join this fanout group (one socket per worker); `None`: this socket sees all.
    pub fanout: Option<FanoutConfig>,
    /// Bytes per ring block (a multiple of the page size).
    pub block_size: u32,
    /// Blocks in the ring; the ring is `block_size * block_count` bytes.
    pub block_count: u32,
    /// A partly filled block is handed over after this long (`tp_retire_blk_tov`, ms);
    /// also the longest wait before [`PacketSource::next_packet`] returns `None`.
    pub block_timeout_ms: u32,
    /// Bytes kept of each frame (cut by the kernel).
    pub snaplen: u32,
    pub promisc: bool,
    /// BPF filter expression (tcpdump syntax), run in the kernel.
    pub bpf: Option<String>,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig {
            interface: String::new(),
            fanout: None,
            block_size: DEFAULT_BLOCK_SIZE,
            block_count: DEFAULT_BLOCK_COUNT,
            block_timeout_ms: DEFAULT_BLOCK_TIMEOUT_MS,
            snaplen: 262_144,
            promisc: true,
            bpf: None,
        }
    }
}

/// Damage found in a ring block: counted, and the rest of the block is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingError {
    /// The block header's length or first-packet offset is impossible.
    BadBlock,
    /// A frame header or its data lies outside the block.
    BadFrame,
}

impl RingError {
    fn counter(self) -> &'static str {
        match self {
            RingError::BadBlock => "afpacket.bad_block",
            RingError::BadFrame => "afpacket.bad_frame",
        }
    }
}

/// One frame of a block, as offsets into the block (checked against its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Packet time, ns since the epoch.
    pub ts_ns: i64,
    /// Length on the wire (`tp_len`).
    pub len: u32,
    /// Offset of the link header in the block, and the bytes captured from it.
    pub start: usize,
    pub snaplen: usize,
    /// `(tpid, tci)` of an 802.1Q tag the NIC stripped, if any.
    pub vlan: Option<(u16, u16)>,
    /// `sll_pkttype` (`PACKET_HOST`, `PACKET_OUTGOING`...).
    pub pkttype: u8,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// Where the walk through one block (owned by us) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockCursor {
    /// Frames not yet read.
    remaining: u32,
    /// Offset of the next frame header (`usize::MAX` once a bad link was seen).
    offset: usize,
    /// Bytes of the block in use (`blk_len`, at most the block's size).
    end: usize,
}

impl BlockCursor {
    /// Start walking a block the kernel handed over.
    pub(crate) fn start(block: &[u8]) -> Result<BlockCursor, RingError> {
        let word = |at| u32_at(block, at).ok_or(RingError::BadBlock);
        let remaining = word(field::NUM_PKTS)?;
        let first = word(field::OFFSET_TO_FIRST_PKT)? as usize;
        let end = word(field::BLK_LEN)? as usize;
        if end > block.len() || end < field::BLOCK_HDR_LEN {
            return Err(RingError::BadBlock);
        }
        if remaining > 0 && (first < field::BLOCK_HDR_LEN || first >= end) {
            return Err(RingError::BadBlock);
        }
        Ok(BlockCursor {
            remaining,
            offset: first,
            end,
        })
    }

    /// The next frame; `None` when the block is done. After an error the walk is over.
    pub(crate) fn next(&mut self, block: &[u8]) -> Option<Result<Frame, RingError>> {
        if self.remaining == 0 {
            return None;
        }
        let r = self.frame(block);
        self.remaining = if r.is_ok() { self.remaining - 1 } else { 0 };
        Some(r)
    }

    fn frame(&mut self, block: &[u8]) -> Result<Frame, RingError> {
        let at = self.offset;
        let used = block.get(..self.end).ok_or(RingError::BadFrame)?;
        if at
            .checked_add(field::FRAME_HDR_LEN)
            .is_none_or(|e| e > used.len())
        {
            return Err(RingError::BadFrame);
        }
        let word = |f: usize| u32_at(used, at + f).ok_or(RingError::BadFrame);
        let mac = u16_at(used, at + field::MAC).ok_or(RingError::BadFrame)? as usize;
        let snaplen = word(field::SNAPLEN)? as usize;
        let start = at + mac;
        if mac < field::FRAME_HDR_LEN || start.checked_add(snaplen).is_none_or(|e| e > used.len()) {
            return Err(RingError::BadFrame);
        }
        let status = word(field::STATUS)?;
        let tci = word(field::VLAN_TCI)? as u16;
        let vlan = (status & libc::TP_STATUS_VLAN_VALID != 0 || tci != 0).then(|| {
            let tpid = match status & libc::TP_STATUS_VLAN_TPID_VALID {
                0 => 0x8100,
                _ => u16_at(used, at + field::VLAN_TPID).unwrap_or(0x8100),
            };
            (tpid, tci)
        });
        let (sec, nsec) = (word(field::SEC)?, word(field::NSEC)?);
        // A frame never links backwards or into itself; a bad link ends the walk at
        // the next call (this frame is fine).
        let next = word(field::NEXT_OFFSET)? as usize;
        self.offset = match next {
            n if n >= field::FRAME_HDR_LEN => at.saturating_add(n),
            _ => usize::MAX,
        };
        Ok(Frame {
            ts_ns: i64::from(sec) * 1_000_000_000 + i64::from(nsec),
            len: word(field::LEN)?,
            start,
            snaplen,
            vlan,
            pkttype: used.get(at + field::SLL_PKTTYPE).copied().unwrap_or(0),
        })
    }
}

/// `frame` with the 802.1Q tag `(tpid, tci)` put back after the MAC addresses, in
/// `out`; `false` (and `out` untouched) when the frame is too short to hold them.
pub(crate) fn with_vlan_tag(frame: &[u8], (tpid, tci): (u16, u16), out: &mut Vec<u8>) -> bool {
    let Some((macs, rest)) = frame.split_at_checked(12) else {
        return false;
    };
    out.clear();
    out.extend_from_slice(macs);
    out.extend_from_slice(&tpid.to_be_bytes());
    out.extend_from_slice(&tci.to_be_bytes());
    out.extend_from_slice(rest);
    true
}

/// The kernel filter for `expr` (or none): pcap's program for `linktype` with every
/// nonzero constant return (the bytes to keep) set to `snaplen`, since a dead pcap
/// handle compiles for 65 535 bytes.
fn kernel_filter(
    expr: Option<&str>,
    linktype: u32,
    snaplen: u32,
) -> Result<Vec<libc::sock_filter>, LiveError> {
    let Some(expr) = expr else {
        return Ok(vec![bpf_stmt(BPF_RET_K, snaplen)]);
    };
    let prog = super::filter::compile(expr, linktype).map_err(|e| LiveError::Filter {
        expr: e.expr,
        detail: e.detail,
    })?;
    let insns = prog.get_instructions();
    // SAFETY: `BpfInstruction` is `repr(transparent)` over libpcap's `bpf_insn`
    // (u16 code, u8 jt, u8 jf, u32 k), the same layout as `sock_filter` (sizes checked
    // above); the slice lives as long as `prog`.
    let raw: &[libc::sock_filter] =
        unsafe { std::slice::from_raw_parts(insns.as_ptr().cast(), insns.len()) };
    Ok(raw
        .iter()
        .map(|i| match i.code == BPF_RET_K && i.k != 0 {
            true => bpf_stmt(BPF_RET_K, snaplen),
            false => *i,
        })
        .collect())
}

fn bpf_stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// The mapped receive ring, shared with the kernel.
struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    block_count: usize,
}

// SAFETY: the mapping belongs to this value alone (the kernel aside, which only
// touches blocks it owns); moving it to another thread moves that ownership.
unsafe impl Send for Ring {}

impl Ring {
    fn map(fd: &OwnedFd, block_size: usize, block_count: usize) -> std::io::Result<Ring> {
        let len = block_size * block_count;
        // SAFETY: a fresh shared mapping of the socket's ring; nothing else refers to
        // the returned address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        match NonNull::new(p.cast::<u8>()) {
            Some(base) if p != libc::MAP_FAILED => Ok(Ring {
                base,
                block_size,
                block_count,
            }),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// Block `i`'s status word: the kernel sets `TP_STATUS_USER` to hand it over.
    fn status(&self, i: usize) -> &AtomicU32 {
        let i = i % self.block_count;
        // SAFETY: inside the mapping (i < block_count), 4-aligned (blocks are page
        // aligned, the field is at 8); the kernel accesses it atomically as well.
        unsafe {
            AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(i * self.block_size + field::BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    fn is_ours(&self, i: usize) -> bool {
        self.status(i).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Block `i`'s bytes. Only while it is ours: the kernel writes no block it handed
    /// over until [`Ring::release`].
    fn block(&self, i: usize) -> &[u8] {
        let i = i % self.block_count;
        // SAFETY: inside the mapping; see above for why nobody writes it meanwhile.
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(i * self.block_size), self.block_size)
        }
    }

    /// Hand block `i` back to the kernel (no slice of it may be alive).
    fn release(&self, i: usize) {
        self.status(i)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `Ring::map`; no borrow outlives
        // `self`.
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast(),
                self.block_size * self.block_count,
            );
        }
    }
}

fn set_opt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> std::io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<T>()` bytes from a valid `T`.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn attach_filter(fd: &OwnedFd, prog: &[libc::sock_filter]) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // The kernel copies the program; `prog` may go after the call.
    set_opt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Interfaces this namespace has, for the "no such interface" message.
fn interface_names() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join(", ")
}

/// An AF_PACKET capture on one interface (one fanout worker). See the module doc.
pub struct AfPacketSource {
    ring: Ring,
    fd: OwnedFd,
    interface: String,
    worker: usize,
    fanout: Option<FanoutConfig>,
    linktype: u32,
    block_timeout_ms: i32,
    /// Loopback: leave outgoing copies out (should the kernel not have done it).
    skip_outgoing: bool,
    /// The block read next, and the walk through it while it is ours.
    block: usize,
    cursor: Option<BlockCursor>,
    drain: Drain,
    stats: Arc<CaptureStats>,
    /// Times the ring filled up (`tp_freeze_q_cnt`, added up).
    freezes: u64,
    counters: Counters,
    packets: u64,
    bytes: u64,
    /// Packets delivered when statistics were last published.
    published_at: u64,
    /// A frame with its VLAN tag put back.
    vlan_buf: Vec<u8>,
}

impl AfPacketSource {
    /// Open the capture for fanout worker `worker` (0 without fanout; it only names the
    /// source). Open one per worker with the same [`FanoutConfig`] to share the
    /// traffic. `stop` is the graceful-stop flag: after it the ring is drained and the
    /// source ends.
    pub fn open(
        cfg: &AfPacketConfig,
        worker: usize,
        stop: Arc<AtomicBool>,
    ) -> Result<AfPacketSource, LiveError> {
        let name = cfg.interface.as_str();
        let open_err = |detail: String| LiveError::Open {
            name: name.to_owned(),
            detail,
        };
        let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
        check_sizes(cfg).map_err(open_err)?;
        let cname = CString::new(name).map_err(|_| open_err("bad interface name".into()))?;
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(LiveError::NoSuchInterface {
                name: name.to_owned(),
                available: interface_names(),
            });
        }

        // Protocol 0: the socket receives nothing until `bind` names the interface
        // (and ETH_P_ALL), so no other interface's packets slip into the ring.
        // SAFETY: plain socket(2).
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            let detail = format!("socket(AF_PACKET): {e}");
            return Err(match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => LiveError::Permission {
                    name: name.to_owned(),
                    detail,
                },
                _ => open_err(detail),
            });
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_opt(
            &fd,
            libc::SOL_PACKET,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V3 as i32),
        )
        .map_err(|e| open_err(format!("TPACKET_V3 not supported: {e}")))?;
        // Nothing enters the ring until the real filter replaces this one (last step).
        attach_filter(&fd, &[bpf_stmt(BPF_RET_K, 0)])
            .map_err(|e| open_err(format!("SO_ATTACH_FILTER: {e}")))?;
        let req = libc::tpacket_req3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.block_count,
            tp_frame_size: NOMINAL_FRAME_SIZE,
            tp_frame_nr: cfg.block_size / NOMINAL_FRAME_SIZE * cfg.block_count,
            tp_retire_blk_tov: cfg.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_opt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(|e| {
            open_err(format!(
                "cannot set up a {} MiB ring ({} blocks of {} KiB): {e}",
                (u64::from(cfg.block_size) * u64::from(cfg.block_count)) >> 20,
                cfg.block_count,
                cfg.block_size >> 10
            ))
        })?;
        let ring = Ring::map(&fd, cfg.block_size as usize, cfg.block_count as usize)
            .map_err(|e| open_err(format!("mmap of the ring: {e}")))?;

        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        let sll_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: a valid sockaddr_ll of its true length.
        if unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                sll_len,
            )
        } != 0
        {
            return Err(open_err(os("bind")));
        }
        let mut len = sll_len;
        // SAFETY: getsockname writes at most `len` bytes into `sll`.
        if unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        } != 0
        {
            return Err(open_err(os("getsockname")));
        }
        let loopback = sll.sll_hatype == libc::ARPHRD_LOOPBACK;
        let linktype = match sll.sll_hatype {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => LINKTYPE_ETHERNET,
            libc::ARPHRD_NONE | ARPHRD_RAWIP => LINKTYPE_RAW,
            t => {
                return Err(open_err(format!(
                    "link type ARPHRD {t} is not supported by the AF_PACKET capture; use the libpcap capture"
                )))
            }
        };
        if loopback {
            // Best effort: the per-frame check (`skip_outgoing`) covers older kernels.
            let _ = set_opt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &1i32);
        }
        if cfg.promisc {
            let mreq = libc::packet_mreq {
                mr_ifindex: ifindex as i32,
                mr_type: libc::PACKET_MR_PROMISC as u16,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            // Dropped with the socket: the interface leaves promiscuous mode when the
            // last capture closes.
            set_opt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| open_err(format!("promiscuous mode: {e}")))?;
        }
        if let Some(f) = cfg.fanout {
            // In a group the group's hook receives, so the socket option above does
            // not apply: the group itself must leave loopback's outgoing copies out.
            let mut flags = f.mode.type_and_flags();
            if loopback {
                flags |= libc::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
            }
            let arg = u32::from(f.group_id) | (flags << 16);
            set_opt(&fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg).map_err(|e| {
                open_err(format!(
                    "cannot join fanout group {}: {e} (a group is per interface and mode; \
                     another capture may use this id, and a group has at most {MAX_FANOUT_MEMBERS} members)",
                    f.group_id
                ))
            })?;
        }
        let prog = kernel_filter(cfg.bpf.as_deref(), linktype, cfg.snaplen)?;
        attach_filter(&fd, &prog).map_err(|e| open_err(format!("SO_ATTACH_FILTER: {e}")))?;
        Ok(AfPacketSource {
            ring,
            fd,
            interface: name.to_owned(),
            worker,
            fanout: cfg.fanout,
            linktype,
            block_timeout_ms: i32::try_from(cfg.block_timeout_ms).unwrap_or(i32::MAX),
            skip_outgoing: loopback,
            block: 0,
            cursor: None,
            drain: Drain::new(stop),
            stats: Arc::new(CaptureStats::default()),
            freezes: 0,
            counters: Counters::new(),
            packets: 0,
            bytes: 0,
            published_at: 0,
            vlan_buf: Vec::new(),
        })
    }

    /// The interface captured on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// This socket's worker index (as given to [`AfPacketSource::open`]).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// `LINKTYPE_*` of the frames.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Received and dropped counts, shared with whoever reports health.
    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Add the kernel's counters since the last read (it resets them) to
    /// [`CaptureStats`]; the owner calls it once more at the end.
    pub fn publish_stats(&mut self) {
        // SAFETY: tpacket_stats_v3 is plain data; all-zero is valid.
        let mut st: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `st`.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        self.published_at = self.packets;
        if r != 0 {
            return;
        }
        self.stats
            .received
            .fetch_add(u64::from(st.tp_packets), Ordering::Relaxed);
        self.stats
            .dropped_kernel
            .fetch_add(u64::from(st.tp_drops), Ordering::Relaxed);
        self.freezes += u64::from(st.tp_freeze_q_cnt);
    }

    /// The next frame of a block we own, moving through the ring (and handing done
    /// blocks back); `None` when the kernel has not handed over the next block yet.
    fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let cursor = match &mut self.cursor {
                Some(c) => c,
                None => {
                    if !self.ring.is_ours(self.block) {
                        return None;
                    }
                    match BlockCursor::start(self.ring.block(self.block)) {
                        Ok(c) => self.cursor.insert(c),
                        Err(e) => {
                            self.counters.bump(e.counter());
                            self.next_block();
                            continue;
                        }
                    }
                }
            };
            match cursor.next(self.ring.block(self.block)) {
                Some(Ok(f)) if self.skip_outgoing && f.pkttype == libc::PACKET_OUTGOING => {}
                Some(Ok(f)) => return Some(f),
                Some(Err(e)) => {
                    self.counters.bump(e.counter());
                    self.next_block();
                }
                None => self.next_block(),
            }
        }
    }

    /// Hand the current block back and move to the next.
    fn next_block(&mut self) {
        self.cursor = None;
        self.ring.release(self.block);
        self.block = (self.block + 1) % self.ring.block_count;
    }

    /// The error the socket reports (after `poll` said POLLERR), as a capture failure.
    fn socket_error(&self) -> Option<SourceError> {
        let mut err: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `err`.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut i32).cast(),
                &mut len,
            )
        };
        let why = match (r, err) {
            (0, 0) => return None,
            (0, libc::ENETDOWN) => "the interface went down".to_owned(),
            (0, e) => std::io::Error::from_raw_os_error(e).to_string(),
            _ => std::io::Error::last_os_error().to_string(),
        };
        Some(SourceError::Capture(format!("{}: {why}", self.interface)))
    }
}

/// `ARPHRD_RAWIP` (raw IP devices, e.g. some LTE modems); not in libc.
const ARPHRD_RAWIP: u16 = 519;

fn check_sizes(cfg: &AfPacketConfig) -> Result<(), String> {
    // SAFETY: sysconf has no preconditions.
    let page = u32::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let ring = u64::from(cfg.block_size) * u64::from(cfg.block_count);
    if cfg.block_size == 0 || !cfg.block_size.is_multiple_of(page) {
        return Err(format!(
            "ring block size {} is not a multiple of the page size ({page})",
            cfg.block_size
        ));
    }
    if cfg.block_count < MIN_BLOCK_COUNT {
        return Err(format!("a ring needs at least {MIN_BLOCK_COUNT} blocks"));
    }
    if ring > MAX_RING_BYTES {
        return Err(format!(
            "a {} MiB ring is larger than the limit of {} MiB",
            ring >> 20,
            MAX_RING_BYTES >> 20
        ));
    }
    if cfg.snaplen == 0 {
        return Err("snaplen must be at least 1".into());
    }
    if u64::from(cfg.block_size) < u64::from(cfg.snaplen) + u64::from(BLOCK_OVERHEAD) {
        return Err(format!(
            "ring block size {} cannot hold a {}-byte frame (snaplen + {BLOCK_OVERHEAD})",
            cfg.block_size, cfg.snaplen
        ));
    }
    if cfg.block_timeout_ms == 0 {
        return Err("block timeout must be at least 1 ms".into());
    }
    Ok(())
}

impl LiveSource for AfPacketSource {
    fn name(&self) -> String {
        match self.fanout {
            Some(_) => format!("live:{}#fanout{}", self.interface, self.worker),
            None => format!("live:{}", self.interface),
        }
    }

    fn describe(&self) -> String {
        let ring = format!(
            "{} x {} KiB ring",
            self.ring.block_count,
            self.ring.block_size >> 10
        );
        match self.fanout {
            Some(f) => format!(
                "{}#fanout{} (AF_PACKET TPACKET_V3, {ring}, fanout group {} {:?}+defrag, linktype {})",
                self.interface, self.worker, f.group_id, f.mode, self.linktype
            ),
            None => format!(
                "{} (AF_PACKET TPACKET_V3, {ring}, linktype {})",
                self.interface, self.linktype
            ),
        }
    }

    fn capture_stats(&self) -> Arc<CaptureStats> {
        self.stats()
    }

    fn publish_stats(&mut self) {
        AfPacketSource::publish_stats(self);
    }
}

impl PacketSource for AfPacketSource {
    fn next_packet(&mut self) -> Option<Result<RawPacket<'_>, SourceError>> {
        let mut waited = false;
        let frame = loop {
            match self.drain.gate(&mut self.counters) {
                Gate::Read => {}
                Gate::Ended => return None,
                Gate::Expired => {
                    self.publish_stats();
                    return None;
                }
            }
            if self.packets - self.published_at >= STATS_EVERY_PACKETS {
                self.publish_stats();
            }
            if let Some(f) = self.next_frame() {
                break f;
            }
            if !waited {
                waited = true;
                let revents = wait_readable(self.fd.as_raw_fd(), self.block_timeout_ms);
                if revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                    if let Some(e) = self.socket_error() {
                        self.drain.end();
                        self.publish_stats();
                        return Some(Err(e));
                    }
                }
                if revents != 0 {
                    continue;
                }
            }
            self.publish_stats();
            self.drain.timed_out();
            return None;
        };
        if self.drain.delivered(frame.ts_ns) {
            self.publish_stats();
        }
        let block = self.ring.block(self.block);
        let mut data = block
            .get(frame.start..frame.start + frame.snaplen)
            .unwrap_or(&[]);
        let mut orig_len = frame.len;
        if let Some(tag) = frame.vlan.filter(|_| self.linktype == LINKTYPE_ETHERNET) {
            if with_vlan_tag(data, tag, &mut self.vlan_buf) {
                data = &self.vlan_buf;
                orig_len = orig_len.saturating_add(VLAN_TAG_LEN as u32);
            }
        }
        self.packets += 1;
        self.bytes += data.len() as u64;
        Some(Ok(RawPacket {
            ts_ns: frame.ts_ns,
            linktype: self.linktype,
            orig_len,
            data,
        }))
    }

    fn at_end(&self) -> bool {
        self.drain.ended()
    }

    fn bytes_consumed(&self) -> u64 {
        self.bytes
    }

    fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.add("afpacket.ring_freeze", self.freezes);
        c
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BLOCK: usize = 4096;

    /// One frame as the kernel lays it out: header, `sockaddr_ll`, link header at
    /// `mac` (82 for Ethernet: `TPACKET_ALIGN(68 + 16) - 14`).
    struct F<'a> {
        data: &'a [u8],
        wire_len: u32,
        sec: u32,
        nsec: u32,
        status: u32,
        tci: u32,
        tpid: u16,
        pkttype: u8,
    }

    fn f(data: &[u8]) -> F<'_> {
        F {
            data,
            wire_len: data.len() as u32,
            sec: 1_700_000_000,
            nsec: 123_456_789,
            status: libc::TP_STATUS_USER,
            tci: 0,
            tpid: 0,
            pkttype: libc::PACKET_HOST,
        }
    }

    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// A retired block holding `frames`, as the kernel writes it.
    fn block(frames: &[F<'_>]) -> Vec<u8> {
        const MAC: usize = 82;
        let mut b = vec![0u8; BLOCK];
        let first = field::BLOCK_HDR_LEN;
        let mut at = first;
        for (i, fr) in frames.iter().enumerate() {
            let next = (MAC + fr.data.len()).next_multiple_of(16);
            let last = i + 1 == frames.len();
            put32(
                &mut b,
                at + field::NEXT_OFFSET,
                if last { 0 } else { next as u32 },
            );
            put32(&mut b, at + field::SEC, fr.sec);
            put32(&mut b, at + field::NSEC, fr.nsec);
            put32(&mut b, at + field::SNAPLEN, fr.data.len() as u32);
            put32(&mut b, at + field::LEN, fr.wire_len);
            put32(&mut b, at + field::STATUS, fr.status);
            put16(&mut b, at + field::MAC, MAC as u16);
            put32(&mut b, at + field::VLAN_TCI, fr.tci);
            put16(&mut b, at + field::VLAN_TPID, fr.tpid);
            b[at + field::SLL_PKTTYPE] = fr.pkttype;
            b[at + MAC..at + MAC + fr.data.len()].copy_from_slice(fr.data);
            at += next;
        }
        put32(&mut b, field::BLOCK_STATUS, libc::TP_STATUS_USER);
        put32(&mut b, field::NUM_PKTS, frames.len() as u32);
        put32(&mut b, field::OFFSET_TO_FIRST_PKT, first as u32);
        put32(&mut b, field::BLK_LEN, at as u32);
        b
    }

    /// Every frame of `b` (its bytes), then the error that ended the walk, if any.
    fn walk(b: &[u8]) -> (Vec<(Frame, Vec<u8>)>, Option<RingError>) {
        let mut c = match BlockCursor::start(b) {
            Ok(c) => c,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut out = Vec::new();
        while let Some(r) = c.next(b) {
            match r {
                Ok(fr) => out.push((fr, b[fr.start..fr.start + fr.snaplen].to_vec())),
                Err(e) => {
                    assert!(c.next(b).is_none(), "an error ends the walk");
                    return (out, Some(e));
                }
            }
        }
        (out, None)
    }

    #[test]
    fn frames_of_a_good_block_come_out_in_order() {
        let mut third = f(b"third, cut by snaplen");
        third.wire_len = 1500;
        third.pkttype = libc::PACKET_OUTGOING;
        let b = block(&[f(b"first frame"), f(&[7u8; 300]), third]);
        let (frames, err) = walk(&b);
        assert_eq!(err, None);
        let datas: Vec<&[u8]> = frames.iter().map(|(_, d)| d.as_slice()).collect();
        assert_eq!(
            datas,
            [&b"first frame"[..], &[7u8; 300], b"third, cut by snaplen"]
        );
        let (fr, _) = &frames[0];
        assert_eq!(fr.ts_ns, 1_700_000_000_123_456_789);
        assert_eq!(fr.len, 11);
        assert_eq!(fr.vlan, None);
        assert_eq!(fr.pkttype, libc::PACKET_HOST);
        assert_eq!(frames[2].0.len, 1500);
        assert_eq!(frames[2].0.pkttype, libc::PACKET_OUTGOING);
    }

    #[test]
    fn a_block_without_frames_is_done_at_once() {
        let b = block(&[]);
        let mut c = BlockCursor::start(&b).unwrap();
        assert_eq!(c.next(&b), None);
        // An empty block may have any first-packet offset: it is never used.
        let mut b = b;
        put32(&mut b, field::OFFSET_TO_FIRST_PKT, u32::MAX);
        assert_eq!(walk(&b), (Vec::new(), None));
    }

    #[test]
    fn impossible_block_headers_are_refused() {
        let good = block(&[f(b"x")]);
        let bad = |at: usize, v: u32| {
            let mut b = good.clone();
            put32(&mut b, at, v);
            walk(&b).1
        };
        // Used length beyond the block, or shorter than its own header.
        assert_eq!(
            bad(field::BLK_LEN, BLOCK as u32 + 1),
            Some(RingError::BadBlock)
        );
        assert_eq!(bad(field::BLK_LEN, 8), Some(RingError::BadBlock));
        // First frame inside the block header, or past the used length.
        assert_eq!(
            bad(field::OFFSET_TO_FIRST_PKT, 0),
            Some(RingError::BadBlock)
        );
        assert_eq!(
            bad(field::OFFSET_TO_FIRST_PKT, 4000),
            Some(RingError::BadBlock)
        );
        // Shorter than a block header.
        assert_eq!(walk(&good[..20]).1, Some(RingError::BadBlock));
        assert_eq!(walk(&[]).1, Some(RingError::BadBlock));
    }

    #[test]
    fn truncated_or_misplaced_frames_end_the_walk_after_the_good_ones() {
        let good = block(&[f(b"one"), f(b"two"), f(b"three")]);
        let second = field::BLOCK_HDR_LEN + (82usize + 3).next_multiple_of(16);
        let bad = |at: usize, v: u32| {
            let mut b = good.clone();
            put32(&mut b, at, v);
            let (frames, err) = walk(&b);
            (frames.len(), err)
        };
        let e = Some(RingError::BadFrame);
        // The second frame's data runs past the used length.
        assert_eq!(bad(second + field::SNAPLEN, 4000), (1, e));
        assert_eq!(bad(second + field::SNAPLEN, u32::MAX), (1, e));
        // The link header would start inside the frame header.
        assert_eq!(bad(second + field::MAC, 10), (1, e));
        // A link of 0 (or into the frame itself) while frames remain.
        assert_eq!(bad(field::BLOCK_HDR_LEN + field::NEXT_OFFSET, 0), (1, e));
        assert_eq!(bad(field::BLOCK_HDR_LEN + field::NEXT_OFFSET, 16), (1, e));
        // A link past the block.
        assert_eq!(bad(second + field::NEXT_OFFSET, u32::MAX), (2, e));
        // More frames announced than present: the walk stops at the zero link.
        assert_eq!(bad(field::NUM_PKTS, 9), (3, e));
        // Fewer announced: only those are read.
        assert_eq!(bad(field::NUM_PKTS, 2), (2, None));
        // A used length that cuts the last frame.
        let blk_len = u32_at(&good, field::BLK_LEN).unwrap();
        assert_eq!(bad(field::BLK_LEN, blk_len - 16), (2, e));
    }

    #[test]
    fn a_stripped_vlan_tag_is_reported_and_put_back() {
        let eth = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45, 0x00,
        ];
        let mut tagged = f(&eth);
        tagged.status |= libc::TP_STATUS_VLAN_VALID;
        tagged.tci = 0x2064;
        let mut qinq = f(&eth);
        qinq.status |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        qinq.tci = 7;
        qinq.tpid = 0x88a8;
        let (frames, err) = walk(&block(&[tagged, qinq, f(&eth)]));
        assert_eq!(err, None);
        let tags: Vec<_> = frames.iter().map(|(fr, _)| fr.vlan).collect();
        assert_eq!(tags, [Some((0x8100, 0x2064)), Some((0x88a8, 7)), None]);

        let mut out = Vec::new();
        assert!(with_vlan_tag(&eth, (0x8100, 0x2064), &mut out));
        assert_eq!(&out[..12], &eth[..12]);
        assert_eq!(&out[12..16], &[0x81, 0x00, 0x20, 0x64]);
        assert_eq!(&out[16..], &eth[12..]);
        assert!(!with_vlan_tag(&eth[..11], (0x8100, 1), &mut out));
    }

    #[test]
    fn the_kernel_filter_keeps_snaplen_bytes() {
        let all = kernel_filter(None, LINKTYPE_ETHERNET, 2048).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].code, all[0].k), (BPF_RET_K, 2048));
        let prog = kernel_filter(Some("udp port 53"), LINKTYPE_ETHERNET, 262_144).unwrap();
        let rets: Vec<u32> = prog
            .iter()
            .filter(|i| i.code == BPF_RET_K)
            .map(|i| i.k)
            .collect();
        assert!(rets.contains(&262_144) && rets.contains(&0), "{rets:?}");
        assert!(rets.iter().all(|k| *k == 0 || *k == 262_144), "{rets:?}");
        match kernel_filter(Some("udp port"), LINKTYPE_ETHERNET, 100) {
            Err(LiveError::Filter { expr, .. }) => assert_eq!(expr, "udp port"),
            other => panic!("{:?}", other.map(|p| p.len())),
        }
    }

    #[test]
    fn ring_sizes_are_checked_before_anything_opens() {
        let ok = AfPacketConfig::default();
        assert_eq!(check_sizes(&ok), Ok(()));
        let bad = |f: fn(&mut AfPacketConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            check_sizes(&c).unwrap_err()
        };
        assert!(bad(|c| c.block_size = 4097).contains("page size"));
        assert!(bad(|c| c.block_count = 1).contains("at least 2 blocks"));
        assert!(bad(|c| c.block_count = 4096).contains("limit of 1024 MiB"));
        assert!(bad(|c| c.block_size = 256 << 10).contains("cannot hold"));
        assert!(bad(|c| c.snaplen = 0).contains("snaplen"));
        assert!(bad(|c| c.block_timeout_ms = 0).contains("timeout"));
        // A missing interface is named with what exists, before any privilege is
        // needed.
        let cfg = AfPacketConfig {
            interface: "tlstap-no-such-if0".into(),
            ..ok
        };
        match AfPacketSource::open(&cfg, 0, Arc::new(AtomicBool::new(false))) {
            Err(LiveError::NoSuchInterface { name, available }) => {
                assert_eq!(name, "tlstap-no-such-if0");
                assert!(available.contains("lo"), "{available}");
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }

    proptest! {
        /// Any bytes at all: the walk ends, never panics, and every frame it yields
        /// lies inside the block.
        #[test]
        fn any_block_walks_without_panic(
            mut b in proptest::collection::vec(any::<u8>(), 0..1024),
            num in 0u32..8,
            first in 0u32..600,
            len in 0u32..1100,
        ) {
            if b.len() >= 24 {
                put32(&mut b, field::NUM_PKTS, num);
                put32(&mut b, field::OFFSET_TO_FIRST_PKT, first);
                put32(&mut b, field::BLK_LEN, len);
            }
            if let Ok(mut c) = BlockCursor::start(&b) {
                let mut n = 0;
                while let Some(r) = c.next(&b) {
                    n += 1;
                    prop_assert!(n <= num);
                    if let Ok(fr) = r {
                        prop_assert!(fr.start + fr.snaplen <= b.len());
                    }
                }
            }
        }
    }
}
