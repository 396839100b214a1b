//! Packet sources: where raw link-layer frames come from.
//!
//! A [`PacketSource`] yields [`RawPacket`]s in capture order, each borrowing the source's
//! buffer until the next call, so reading allocates nothing per packet. Capture
//! files (or standard input, `-`) are read by [`file::CaptureFile`], a libpcap live
//! capture by [`live::LiveCapture`], a Linux AF_PACKET ring (one socket per worker of
//! a fanout group) by [`afpacket::AfPacketSource`], mirrored traffic arriving on UDP
//! sockets (VXLAN, Geneve, TZSP) by [`udp::UdpListener`]; everything after the source
//! is the same code path. `read --bpf` filters a file's packets with
//! [`filter::BpfFilter`].
//!
//! A file's `None` is the end. A live source also returns `None` when no packet came
//! within its read timeout (so the caller can hand on what it holds and publish
//! statistics on a quiet link); [`PacketSource::at_end`] tells the two apart.
//!
//! Invariants: a source never panics on damaged input. The first damage it cannot step
//! over (a cut record, an impossible length) is reported once as a [`SourceError`], after
//! every packet before it was delivered; the source then returns `None` for good. Damage
//! it can step over (an unknown pcapng block, an EPB naming an unknown interface) is
//! counted in [`PacketSource::counters`] and reading goes on.
//!
//! Limits: [`MAX_PACKET_LEN`] bounds a classic pcap record, [`MAX_BLOCK_LEN`] a pcapng
//! block; nothing larger is ever allocated.

#[cfg(target_os = "linux")]
pub mod afpacket;
pub mod file;
pub mod filter;
pub mod live;
pub mod udp;

#[cfg(target_os = "linux")]
pub use afpacket::{AfPacketConfig, AfPacketSource, FanoutConfig, FanoutMode};
pub use file::CaptureFile;
pub use filter::{BpfError, BpfFilter};
pub use live::{LiveCapture, LiveConfig, LiveError};
pub use udp::{ListenSpec, UdpListener};

#[cfg(test)]
mod tests;

use crate::stats::Counters;

/// Largest captured length accepted in a classic pcap record, unless the file header's
/// snaplen is larger (up to [`MAX_BLOCK_LEN`]). 262 144 is libpcap's `MAXIMUM_SNAPLEN`.
pub const MAX_PACKET_LEN: u32 = 262_144;

/// Largest pcapng block (and largest snaplen honoured in a pcap header): 16 MiB.
/// Wireshark uses the same bound; a larger length means the file is damaged.
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

/// One captured frame as read from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// Packet time in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// `LINKTYPE_*` number of the frame's interface (the low 16 bits of the pcap field).
    pub linktype: u32,
    /// Length of the frame on the wire (may exceed `data.len()` when snaplen cut it).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A stream of captured packets.
pub trait PacketSource {
    /// Next packet; `None` at the end. An `Err` is a damaged-input error: the source
    /// reports it once and then returns `None` (everything before it was delivered).
    fn next_packet(&mut self) -> Option<Result<RawPacket<'_>, SourceError>>;

    /// `true` when the last `None` from [`next_packet`](Self::next_packet) means the end;
    /// `false` when it only meant "nothing yet" (a live source's read timeout).
    fn at_end(&self) -> bool {
        true
    }

    /// Bytes of the (compressed, if .gz) input consumed so far, for progress.
    fn bytes_consumed(&self) -> u64;

    /// Events the source stepped over (skipped blocks, bad interface ids...), by reason.
    /// Meant to be read once at the end; the default is empty.
    fn counters(&self) -> Counters {
        Counters::new()
    }

    /// The buffer the packets returned now lie in, when the source can share it with
    /// other threads (a file's read window): sharded flow workers then read payloads
    /// in place instead of copies. The source stops writing into a window once anyone
    /// else holds it. `None` (the default): payloads are copied.
    fn shared_window(&self) -> Option<&std::sync::Arc<Vec<u8>>> {
        None
    }
}

/// A source `tlstap live` runs on: a libpcap capture, an AF_PACKET ring or the UDP
/// listener. All publish the same received / dropped counts for the stats table.
pub trait LiveSource: PacketSource + Send {
    /// What it captures from, for messages and `source_file` (`live:eth0`,
    /// `udp:0.0.0.0:4789`).
    fn name(&self) -> String;
    /// One line describing how it captures, for the start message.
    fn describe(&self) -> String;
    fn capture_stats(&self) -> std::sync::Arc<live::CaptureStats>;
    /// Refresh [`LiveSource::capture_stats`] (the owner calls it once more at the end).
    fn publish_stats(&mut self);
}

/// Why a source cannot go on. Messages are meant for a user; the caller adds the file name.
#[derive(thiserror::Error, Debug)]
pub enum SourceError {
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("not a pcap, pcapng or gzip-compressed capture (file starts with {magic})")]
    NotACapture {
        /// The first bytes of the (decompressed) input, in hex.
        magic: String,
    },
    #[error("damaged gzip data: {0}")]
    Gzip(std::io::Error),
    /// `offset` counts bytes of the decompressed data for a gzip-compressed file.
    #[error("file is cut short at byte {offset}: incomplete {what}")]
    Truncated { offset: u64, what: &'static str },
    /// `offset` counts bytes of the decompressed data for a gzip-compressed file.
    #[error("damaged record at byte {offset}: {reason}")]
    BadRecord { offset: u64, reason: String },
    /// A live capture failed after it started (e.g. the interface went away).
    #[error("capture failed: {0}")]
    Capture(String),
}
