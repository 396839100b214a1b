//! Capture-file reader: classic pcap and pcapng, optionally gzip-compressed.
//!
//! The format is detected from the magic bytes only, never the file name: gzip
//! (`1f 8b`) is decompressed on the fly (several concatenated members allowed) and the
//! result detected again; classic pcap in both byte orders with microsecond
//! (`a1b2c3d4`), nanosecond (`a1b23c4d`) and Kuznetzov-modified (`a1b2cd34`) magics;
//! pcapng (`0a0d0d0a`) with any number of sections, each with its own byte order.
//!
//! pcapng is read by hand because merged multi-tap captures carry interfaces with
//! different link types and timestamp resolutions in one file, which libpcap refuses.
//! Every packet carries its own interface's link type; timestamps are converted exactly
//! to nanoseconds (`if_tsresol` as 10^-n or 2^-n, plus `if_tsoffset`), in `i128` and
//! saturated to `i64`.
//!
//! Invariants: one read window of [`READ_BUFFER_LEN`] (grown only for a block larger
//! than that, to at most [`MAX_BLOCK_LEN`]) that the input is `read(2)` straight into;
//! a returned packet borrows its bytes in place, so the hot path neither allocates nor
//! copies (the bytes of a record cut by the window's end are moved to its front once). A damaged record stops the reader with one error after
//! every earlier packet was delivered; pcapng blocks that are well framed but unusable
//! are skipped and counted (`source.*`).
//!
//! Limits: [`MAX_PACKET_LEN`] (pcap record, or the header snaplen up to
//! [`MAX_BLOCK_LEN`]), [`MAX_BLOCK_LEN`] (pcapng block), [`MAX_INTERFACES`] per section.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::{PacketSource, RawPacket, SourceError, MAX_BLOCK_LEN, MAX_PACKET_LEN};
use crate::stats::Counters;

/// Size of the read buffer over the (decompressed) capture.
pub const READ_BUFFER_LEN: usize = 1 << 20;

/// Read windows kept for reuse while sharded flow workers still hold older ones (the
/// workers' queues hold a few windows' worth of packets; beyond this many, windows are
/// freed and allocated anew).
pub const SPARE_WINDOWS: usize = 8;

/// Most interfaces kept per pcapng section; packets of further interfaces are skipped
/// and counted (`source.pcapng_interface_limit`).
pub const MAX_INTERFACES: usize = 4096;

/// Bytes looked at for format detection (and shown in `NotACapture`).
const SNIFF_LEN: usize = 8;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetzov's modified pcap: 8 more bytes per record header.
const PCAP_MAGIC_KUZNETZOV: u32 = 0xa1b2_cd34;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const PCAPNG_IDB: u32 = 1;
const PCAPNG_PB: u32 = 2;
const PCAPNG_SPB: u32 = 3;
const PCAPNG_EPB: u32 = 6;

const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Default pcapng resolution: 10^-6 s.
const DEFAULT_TSRESOL: u8 = 6;

/// Byte order of the current file or section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Endian {
    big: bool,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }
}

/// Room left in front of each read-ahead window for the unread end of the previous
/// one (a record cut by the window's end); longer records are joined by a copy.
pub const AHEAD_FRONT: usize = 64 << 10;

/// Filled windows waiting for the capture thread. The read-ahead thread is the slowest
/// stage on bulk traffic (its copy is the whole cost of a bare read loop), so it must
/// not stop when the capture thread pauses: with 2 windows it did, and the tap corpus
/// took 0.37-0.42 s; with 4, 0.34-0.35 s (interleaved runs). The price is on dense
/// traffic, where more windows in flight are colder when decoded: +1.5 to +5 % of wall
/// and CPU over three interleaved sets, and +5-10 MiB peak RSS (inside the memory
/// reserve). 3 sat in between; 8 gave tap nothing more and cost dense more.
pub const AHEAD_DEPTH: usize = 4;

/// A thread (`tlstap-prefetch`) reading an input ahead into whole windows of
/// [`AHEAD_FRONT`] + [`READ_BUFFER_LEN`] bytes, at most [`AHEAD_DEPTH`] ahead, and taking
/// finished windows back for reuse. The kernel's `read(2)` copy (and gzip
/// decompression) then runs beside the decoding instead of in the capture thread: on
/// the dense bench the copy was about 70 % of that thread.
///
/// Invariants: windows arrive in input order; an error ends the stream after the windows
/// before it; dropping the value stops the thread (it finishes at most one `read(2)`).
struct ReadAhead {
    filled: Option<crossbeam_channel::Receiver<io::Result<Vec<u8>>>>,
    free: crossbeam_channel::Sender<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ReadAhead {
    fn start(mut rd: Box<dyn Read + Send>) -> io::Result<ReadAhead> {
        let (filled_tx, filled_rx) = crossbeam_channel::bounded(AHEAD_DEPTH);
        let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(SPARE_WINDOWS + AHEAD_DEPTH);
        let full = AHEAD_FRONT + READ_BUFFER_LEN;
        let thread = std::thread::Builder::new()
            .name("tlstap-prefetch".into())
            .spawn(move || {
                loop {
                    let mut buf = free_rx.try_recv().unwrap_or_else(|_| vec![0; full]);
                    buf.resize(full, 0);
                    let mut got = AHEAD_FRONT;
                    while got < full {
                        match rd.read(&mut buf[got..]) {
                            Ok(0) => break,
                            Ok(k) => got += k,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => {
                                let _ = filled_tx.send(Err(e));
                                crate::threadcpu::finish_thread();
                                return;
                            }
                        }
                    }
                    let end = got < full;
                    if got > AHEAD_FRONT {
                        buf.truncate(got);
                        if filled_tx.send(Ok(buf)).is_err() {
                            break;
                        }
                    }
                    if end {
                        break;
                    }
                }
                crate::threadcpu::finish_thread();
            })?;
        Ok(ReadAhead {
            filled: Some(filled_rx),
            free: free_tx,
            thread: Some(thread),
        })
    }

    /// The next filled window (bytes from [`AHEAD_FRONT`] on), `None` at the end.
    fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        match self.filled.as_ref().map(|f| f.recv()) {
            Some(Ok(Ok(b))) => Ok(Some(b)),
            Some(Ok(Err(e))) => {
                self.filled = None; // nothing follows an error
                Err(e)
            }
            Some(Err(_)) | None => Ok(None),
        }
    }

    /// A window nobody reads any more, for reuse.
    fn give_back(&self, buf: Vec<u8>) {
        if buf.capacity() >= AHEAD_FRONT + READ_BUFFER_LEN {
            let _ = self.free.try_send(buf);
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.filled = None; // the thread's next send fails and it ends
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Counts bytes pulled from the underlying (possibly compressed) input.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.n.fetch_add(got as u64, Ordering::Relaxed);
        Ok(got)
    }
}

#[derive(Debug)]
struct PcapState {
    endian: Endian,
    nanos: bool,
    linktype: u32,
    max_caplen: u32,
    /// Extra record-header bytes after the standard 16 (8 for Kuznetzov's format).
    extra: usize,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Raw `if_tsresol` byte.
    tsresol: u8,
    tsoffset_s: i64,
}

#[derive(Debug)]
struct PcapngState {
    endian: Endian,
    interfaces: Vec<Interface>,
    last_ts_ns: i64,
}

#[derive(Debug)]
enum Format {
    Pcap(PcapState),
    Pcapng(PcapngState),
}

/// Where the packet of the last call sits in the read window.
struct Found {
    ts_ns: i64,
    linktype: u32,
    orig_len: u32,
    start: usize,
    end: usize,
}

/// A pcap or pcapng file (optionally gzip-compressed) read packet by packet.
pub struct CaptureFile {
    rd: Box<dyn Read + Send>,
    /// A thread of its own reading (and decompressing) ahead into whole windows, for
    /// files and object-storage streams ([`ReadAhead`]); `None`: `rd` is read here.
    ahead: Option<ReadAhead>,
    consumed: Arc<AtomicU64>,
    gz: bool,
    /// Offset in the decompressed stream of the next unread byte (for error messages).
    offset: u64,
    /// Read window: `win[pos..end]` was read from `rd` and not consumed yet. Shared
    /// (`PacketSource::shared_window`) so sharded flow workers read packets in place;
    /// while anyone else holds it, the next read goes to another window.
    win: Arc<Vec<u8>>,
    /// Windows handed out before, reused once nobody else holds them (at most
    /// [`SPARE_WINDOWS`]).
    spares: Vec<Arc<Vec<u8>>>,
    pos: usize,
    end: usize,
    format: Format,
    done: bool,
    counters: Counters,
}

impl std::fmt::Debug for CaptureFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile")
            .field("gz", &self.gz)
            .field("offset", &self.offset)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Reads up to `n` bytes, fewer only at the end of input.
fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(got);
    Ok(out)
}

fn gz_error(e: io::Error, offset: u64) -> SourceError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => SourceError::Truncated {
            offset,
            what: "gzip stream",
        },
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => SourceError::Gzip(e),
        _ => SourceError::Io(e),
    }
}

fn magic_hex(prefix: &[u8]) -> String {
    let shown = prefix.get(..SNIFF_LEN).unwrap_or(prefix);
    hex::encode(shown)
}

/// Converts a pcapng timestamp to ns since the epoch, exactly (floor), saturating.
pub(crate) fn pcapng_ts_ns(ts: u64, tsresol: u8, tsoffset_s: i64) -> i64 {
    let exp = u32::from(tsresol & 0x7f);
    let ts = i128::from(ts);
    let ns: i128 = if tsresol & 0x80 != 0 {
        // 2^-exp seconds per unit; ts < 2^64 and 10^9 < 2^30, so the product fits.
        (ts * 1_000_000_000).checked_shr(exp).unwrap_or(0)
    } else if exp <= 9 {
        ts * 10i128.pow(9 - exp)
    } else {
        match 10i128.checked_pow(exp - 9) {
            Some(div) => ts / div,
            None => 0,
        }
    };
    let total = ns.saturating_add(i128::from(tsoffset_s).saturating_mul(1_000_000_000));
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

/// Parses an IDB body (after type and length, before the trailing length).
fn parse_idb(e: Endian, body: &[u8]) -> Option<Interface> {
    let linktype = u32::from(e.u16(body, 0)?);
    let snaplen = e.u32(body, 4)?;
    let mut iface = Interface {
        linktype,
        snaplen,
        tsresol: DEFAULT_TSRESOL,
        tsoffset_s: 0,
    };
    // Options: a damaged option list keeps what was read so far (Wireshark does too).
    let mut at = 8usize;
    while let (Some(code), Some(len)) = (e.u16(body, at), e.u16(body, at + 2)) {
        let vstart = at + 4;
        let value = match body.get(vstart..vstart + usize::from(len)) {
            Some(v) => v,
            None => break,
        };
        match code {
            OPT_ENDOFOPT => break,
            OPT_IF_TSRESOL => {
                if let Some(&r) = value.first() {
                    iface.tsresol = r;
                }
            }
            OPT_IF_TSOFFSET => {
                if let Some(off) = e.u64(value, 0) {
                    iface.tsoffset_s = off as i64;
                }
            }
            _ => {}
        }
        let padded = (usize::from(len) + 3) & !3;
        at = vstart + padded;
    }
    Some(iface)
}

/// A pipe, FIFO or terminal read so that a stop request ends it even while no byte
/// comes: it waits with `poll(2)` for at most [`STOP_POLL_MS`] at a time and reports
/// the end of input once `stop` is set. (A blocking `read(2)` on a quiet pipe would
/// hold the capture thread, and with it the whole run, after Ctrl-C.)
struct StopAware<R> {
    inner: R,
    fd: std::os::fd::RawFd,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Longest wait in `poll(2)` between two looks at the stop flag.
pub const STOP_POLL_MS: i32 = 100;

impl<R: Read> Read for StopAware<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(0);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, STOP_POLL_MS) };
            if rc > 0 {
                return self.inner.read(buf);
            }
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

impl CaptureFile {
    /// Opens a capture file; the format is detected from its content.
    pub fn open(path: &Path) -> Result<CaptureFile, SourceError> {
        let f = File::open(path)?;
        Self::read_ahead(Box::new(f))
    }

    /// [`from_reader`](Self::from_reader) for an input that never blocks for long (a
    /// file, an object-storage stream): a thread of its own reads and decompresses
    /// ahead ([`ReadAhead`]), so the capture thread only decodes.
    pub fn read_ahead(r: Box<dyn Read + Send>) -> Result<CaptureFile, SourceError> {
        let mut cf = Self::from_reader(r)?;
        let rd = std::mem::replace(&mut cf.rd, Box::new(io::empty()));
        cf.ahead = Some(ReadAhead::start(rd)?);
        Ok(cf)
    }

    /// Opens a capture file, or standard input for `-`. A pipe, FIFO or terminal is
    /// read so that setting `stop` ends it (as the end of input) even while it is
    /// quiet; a regular file is read as by [`open`](Self::open).
    pub fn open_stoppable(
        path: &Path,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<CaptureFile, SourceError> {
        use std::os::fd::AsRawFd;
        if path == Path::new("-") {
            let stdin = io::stdin();
            let fd = stdin.as_raw_fd();
            return Self::from_reader(Box::new(StopAware {
                inner: stdin,
                fd,
                stop,
            }));
        }
        let f = File::open(path)?;
        if f.metadata()?.is_file() {
            return Self::read_ahead(Box::new(f));
        }
        let fd = f.as_raw_fd();
        Self::from_reader(Box::new(StopAware { inner: f, fd, stop }))
    }

    /// Reads a capture from any byte stream (pcap, pcapng, or either gzip-compressed).
    pub fn from_reader(r: Box<dyn Read + Send>) -> Result<CaptureFile, SourceError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let mut raw: Box<dyn Read + Send> = Box::new(Counting {
            inner: r,
            n: Arc::clone(&consumed),
        });
        let prefix = read_prefix(&mut raw, SNIFF_LEN)?;
        if prefix.is_empty() {
            return Err(SourceError::Empty);
        }
        let gz = prefix.starts_with(&[0x1f, 0x8b]);
        let (prefix, stream): (Vec<u8>, Box<dyn Read + Send>) = if gz {
            let mut dec = MultiGzDecoder::new(Cursor::new(prefix).chain(raw));
            let p = read_prefix(&mut dec, SNIFF_LEN).map_err(|e| gz_error(e, 0))?;
            if p.is_empty() {
                return Err(SourceError::Empty);
            }
            (p.clone(), Box::new(Cursor::new(p).chain(dec)))
        } else {
            (prefix.clone(), Box::new(Cursor::new(prefix).chain(raw)))
        };
        let mut cf = CaptureFile {
            rd: stream,
            ahead: None,
            consumed,
            gz,
            offset: 0,
            win: Arc::new(vec![0; READ_BUFFER_LEN]),
            spares: Vec::new(),
            pos: 0,
            end: 0,
            format: Format::Pcapng(PcapngState {
                endian: Endian { big: false },
                interfaces: Vec::new(),
                last_ts_ns: 0,
            }),
            done: false,
            counters: Counters::new(),
        };
        let magic_le = prefix
            .get(..4)
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
            .map(u32::from_le_bytes);
        match magic_le {
            Some(PCAPNG_SHB) => {} // the SHB is read as the first block
            Some(m) => cf.format = Format::Pcap(cf.read_pcap_header(m, &prefix)?),
            None => {
                return Err(SourceError::NotACapture {
                    magic: magic_hex(&prefix),
                })
            }
        }
        Ok(cf)
    }

    fn read_pcap_header(&mut self, magic_le: u32, prefix: &[u8]) -> Result<PcapState, SourceError> {
        let (big, nanos, extra) = match (magic_le, magic_le.swap_bytes()) {
            (PCAP_MAGIC_US, _) => (false, false, 0),
            (PCAP_MAGIC_NS, _) => (false, true, 0),
            (PCAP_MAGIC_KUZNETZOV, _) => (false, false, 8),
            (_, PCAP_MAGIC_US) => (true, false, 0),
            (_, PCAP_MAGIC_NS) => (true, true, 0),
            (_, PCAP_MAGIC_KUZNETZOV) => (true, false, 8),
            _ => {
                return Err(SourceError::NotACapture {
                    magic: magic_hex(prefix),
                })
            }
        };
        let e = Endian { big };
        let mut hdr = [0u8; 24];
        let got = self.fill(&mut hdr)?;
        if got < hdr.len() {
            return Err(SourceError::Truncated {
                offset: got as u64,
                what: "pcap file header",
            });
        }
        let snaplen = e.u32(&hdr, 16).unwrap_or(0);
        // LinkType is the low 16 bits; the upper bits carry FCS information
        // (draft-ietf-opsawg-pcap, section 4; libpcap's LT_LINKTYPE()).
        let linktype = e.u32(&hdr, 20).unwrap_or(0) & 0xffff;
        Ok(PcapState {
            endian: e,
            nanos,
            linktype,
            max_caplen: MAX_PACKET_LEN.max(snaplen.min(MAX_BLOCK_LEN)),
            extra,
        })
    }

    /// Makes up to `n` bytes available at `win[pos..]`, reading as much as the window
    /// holds; returns how many are (`n`, or fewer only at the end of the input).
    fn available(&mut self, n: usize) -> Result<usize, SourceError> {
        let have = self.end.saturating_sub(self.pos);
        if have >= n {
            return Ok(n);
        }
        if self.ahead.is_some() {
            return self.available_ahead(n);
        }
        if Arc::get_mut(&mut self.win).is_none() {
            // Workers still read packets in this window: carry the unread bytes over
            // to a window nobody holds.
            let mut fresh = self.spare_window();
            let len = fresh.len().max(have);
            let w = Arc::make_mut(&mut fresh);
            w.resize(len, 0);
            if let (Some(dst), Some(src)) = (w.get_mut(..have), self.win.get(self.pos..self.end)) {
                dst.copy_from_slice(src);
            }
            let old = std::mem::replace(&mut self.win, fresh);
            if self.spares.len() < SPARE_WINDOWS {
                self.spares.push(old);
            }
            (self.pos, self.end) = (0, have);
        }
        // Unique now (just checked or replaced), so this never copies.
        let win = Arc::make_mut(&mut self.win);
        if self.pos > 0 {
            win.copy_within(self.pos..self.end, 0);
            (self.pos, self.end) = (0, have);
        }
        if win.len() < n {
            win.resize(n, 0);
        }
        while self.end < n {
            let Some(dst) = win.get_mut(self.end..) else {
                break;
            };
            match self.rd.read(dst) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.gz => return Err(gz_error(e, self.offset + self.end as u64)),
                Err(e) => return Err(SourceError::Io(e)),
            }
        }
        Ok(self.end.min(n))
    }

    /// [`available`](Self::available) with a read-ahead thread: each filled window it
    /// hands over becomes the current one, with the unread bytes of the old one (a
    /// record cut by its end) copied into the room left in front of the new bytes.
    fn available_ahead(&mut self, n: usize) -> Result<usize, SourceError> {
        while self.end.saturating_sub(self.pos) < n {
            let Some(ahead) = self.ahead.as_mut() else {
                break;
            };
            let mut buf = match ahead.next() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) if self.gz => return Err(gz_error(e, self.offset + self.end as u64)),
                Err(e) => return Err(SourceError::Io(e)),
            };
            let have = self.end.saturating_sub(self.pos);
            let unread = self.win.get(self.pos..self.end).unwrap_or_default();
            let fresh = buf.len().saturating_sub(AHEAD_FRONT);
            let next = if have <= AHEAD_FRONT {
                let start = AHEAD_FRONT - have;
                if let Some(dst) = buf.get_mut(start..AHEAD_FRONT) {
                    dst.copy_from_slice(unread);
                }
                (self.pos, self.end) = (start, AHEAD_FRONT + fresh);
                buf
            } else {
                // A record longer than the room in front: join the two.
                let mut joined = Vec::with_capacity(have + fresh);
                joined.extend_from_slice(unread);
                joined.extend_from_slice(buf.get(AHEAD_FRONT..).unwrap_or_default());
                ahead.give_back(buf);
                (self.pos, self.end) = (0, have + fresh);
                joined
            };
            let old = std::mem::replace(&mut self.win, Arc::new(next));
            self.retire(old);
        }
        Ok(self.end.saturating_sub(self.pos).min(n))
    }

    /// A window the reader is done with goes back to the read-ahead thread once the
    /// flow workers are done with it too (kept meanwhile, at most [`SPARE_WINDOWS`]).
    fn retire(&mut self, old: Arc<Vec<u8>>) {
        let Some(ahead) = self.ahead.as_ref() else {
            return;
        };
        if self.spares.len() < SPARE_WINDOWS {
            self.spares.push(old);
        }
        let mut i = 0;
        while i < self.spares.len() {
            if Arc::strong_count(&self.spares[i]) == 1 {
                let w = self.spares.swap_remove(i);
                if let Ok(v) = Arc::try_unwrap(w) {
                    ahead.give_back(v);
                }
            } else {
                i += 1;
            }
        }
    }

    /// A window nobody else holds: a spare whose readers are done, or a new one.
    fn spare_window(&mut self) -> Arc<Vec<u8>> {
        match self.spares.iter().position(|w| Arc::strong_count(w) == 1) {
            Some(i) => self.spares.swap_remove(i),
            None => Arc::new(vec![0; READ_BUFFER_LEN]),
        }
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Copies the next bytes into `out` until it is full or the input ends; returns the
    /// bytes copied (for small fixed headers).
    fn fill(&mut self, out: &mut [u8]) -> Result<usize, SourceError> {
        let got = self.available(out.len())?;
        let src = self.win.get(self.pos..self.pos + got).unwrap_or(&[]);
        let n = src.len();
        if let Some(dst) = out.get_mut(..n) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }

    /// Consumes exactly `n` bytes and returns where they start in the window (valid
    /// until the next read), or reports `what` as truncated.
    fn take_exact(&mut self, n: usize, what: &'static str) -> Result<usize, SourceError> {
        let start = self.offset;
        if self.available(n)? < n {
            return Err(SourceError::Truncated {
                offset: start,
                what,
            });
        }
        let at = self.pos;
        self.consume(n);
        Ok(at)
    }

    fn next_pcap(&mut self) -> Result<Option<Found>, SourceError> {
        let (e, nanos, linktype, max_caplen, extra) = match &self.format {
            Format::Pcap(p) => (p.endian, p.nanos, p.linktype, p.max_caplen, p.extra),
            Format::Pcapng(_) => return Ok(None),
        };
        let rec_off = self.offset;
        let mut hdr = [0u8; 24];
        let hdr_len = 16 + extra;
        let got = match hdr.get_mut(..hdr_len) {
            Some(h) => self.fill(h)?,
            None => 0,
        };
        if got == 0 {
            return Ok(None);
        }
        if got < hdr_len {
            return Err(SourceError::Truncated {
                offset: rec_off,
                what: "pcap record header",
            });
        }
        let field = |at| e.u32(&hdr, at).unwrap_or(0);
        let (sec, frac, caplen, orig_len) = (field(0), field(4), field(8), field(12));
        if caplen > max_caplen {
            return Err(SourceError::BadRecord {
                offset: rec_off,
                reason: format!("captured length {caplen} is larger than the limit {max_caplen}"),
            });
        }
        let n = caplen as usize;
        let at = self.take_exact(n, "pcap record")?;
        let frac_ns = if nanos {
            i64::from(frac)
        } else {
            i64::from(frac) * 1000
        };
        Ok(Some(Found {
            ts_ns: i64::from(sec) * 1_000_000_000 + frac_ns,
            linktype,
            orig_len,
            start: at,
            end: at + n,
        }))
    }

    fn bad_block(&self, offset: u64, reason: String) -> SourceError {
        SourceError::BadRecord { offset, reason }
    }

    fn next_pcapng(&mut self) -> Result<Option<Found>, SourceError> {
        loop {
            let blk_off = self.offset;
            let mut head = [0u8; 8];
            let got = self.fill(&mut head)?;
            if got == 0 {
                return Ok(None);
            }
            if got < head.len() {
                return Err(SourceError::Truncated {
                    offset: blk_off,
                    what: "pcapng block header",
                });
            }
            let le = Endian { big: false };
            let is_shb = le.u32(&head, 0) == Some(PCAPNG_SHB);
            if is_shb {
                let mut bom = [0u8; 4];
                if self.fill(&mut bom)? < bom.len() {
                    return Err(SourceError::Truncated {
                        offset: blk_off,
                        what: "pcapng section header",
                    });
                }
                let big = match u32::from_le_bytes(bom) {
                    PCAPNG_BYTE_ORDER_MAGIC => false,
                    m if m.swap_bytes() == PCAPNG_BYTE_ORDER_MAGIC => true,
                    _ => {
                        return Err(self.bad_block(
                            blk_off,
                            format!(
                                "section header has an unknown byte-order magic {}",
                                hex::encode(bom)
                            ),
                        ))
                    }
                };
                // Time goes on across sections: an SPB right after a new SHB keeps it.
                let last_ts_ns = match &self.format {
                    Format::Pcapng(s) => s.last_ts_ns,
                    Format::Pcap(_) => 0,
                };
                self.format = Format::Pcapng(PcapngState {
                    endian: Endian { big },
                    interfaces: Vec::new(),
                    last_ts_ns,
                });
            }
            let e = match &self.format {
                Format::Pcapng(s) => s.endian,
                Format::Pcap(_) => return Ok(None),
            };
            let btype = e.u32(&head, 0).unwrap_or(0);
            let blen = e.u32(&head, 4).unwrap_or(0);
            let min_len = if is_shb { 28 } else { 12 };
            if blen % 4 != 0 || blen < min_len || blen > MAX_BLOCK_LEN {
                return Err(self.bad_block(
                    blk_off,
                    format!("pcapng block type {btype:#x} has an invalid length {blen}"),
                ));
            }
            // Rest of the block, including the trailing length.
            let already = if is_shb { 12 } else { 8 };
            let rest = blen as usize - already;
            let at = self.take_exact(rest, "pcapng block")?;
            let trailer = e.u32(&self.win, at + rest - 4).unwrap_or(0);
            if trailer != blen {
                return Err(self.bad_block(
                    blk_off,
                    format!(
                        "pcapng block type {btype:#x}: trailing length {trailer} differs from {blen}"
                    ),
                ));
            }
            let body_len = rest - 4;
            if is_shb {
                continue;
            }
            if let Some(mut found) = self.pcapng_block(e, btype, at, body_len) {
                found.start += at;
                found.end += at;
                return Ok(Some(found));
            }
        }
    }

    /// Handles one non-SHB block whose body is `win[at..at + body_len]`; a packet's
    /// place is returned relative to the body.
    fn pcapng_block(&mut self, e: Endian, btype: u32, at: usize, body_len: usize) -> Option<Found> {
        let state = match &mut self.format {
            Format::Pcapng(s) => s,
            Format::Pcap(_) => return None,
        };
        let body = self.win.get(at..at.checked_add(body_len)?)?;
        match btype {
            PCAPNG_IDB => {
                match parse_idb(e, body) {
                    Some(iface) if state.interfaces.len() < MAX_INTERFACES => {
                        state.interfaces.push(iface)
                    }
                    Some(_) => self.counters.bump("source.pcapng_interface_limit"),
                    None => self.counters.bump("source.pcapng_bad_idb"),
                }
                None
            }
            PCAPNG_EPB | PCAPNG_PB => {
                let (iface_id, rest) = if btype == PCAPNG_EPB {
                    (e.u32(body, 0), 4)
                } else {
                    (e.u16(body, 0).map(u32::from), 4)
                };
                let fields = (
                    iface_id,
                    e.u32(body, rest),
                    e.u32(body, rest + 4),
                    e.u32(body, rest + 8),
                    e.u32(body, rest + 12),
                );
                let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) = fields else {
                    self.counters.bump("source.pcapng_bad_packet_block");
                    return None;
                };
                let start = rest + 16;
                let end = start.checked_add(caplen as usize)?;
                if end > body_len {
                    self.counters.bump("source.pcapng_bad_packet_block");
                    return None;
                }
                let Some(iface) = state.interfaces.get(id as usize) else {
                    self.counters.bump("source.pcapng_bad_interface_id");
                    return None;
                };
                let ts = (u64::from(hi) << 32) | u64::from(lo);
                let ts_ns = pcapng_ts_ns(ts, iface.tsresol, iface.tsoffset_s);
                state.last_ts_ns = ts_ns;
                Some(Found {
                    ts_ns,
                    linktype: iface.linktype,
                    orig_len,
                    start,
                    end,
                })
            }
            PCAPNG_SPB => {
                let Some(iface) = state.interfaces.first() else {
                    self.counters.bump("source.pcapng_bad_interface_id");
                    return None;
                };
                let orig_len = e.u32(body, 0)?;
                let mut caplen = (orig_len as usize).min(body_len.saturating_sub(4));
                if iface.snaplen != 0 {
                    caplen = caplen.min(iface.snaplen as usize);
                }
                Some(Found {
                    ts_ns: state.last_ts_ns,
                    linktype: iface.linktype,
                    orig_len,
                    start: 4,
                    end: 4 + caplen,
                })
            }
            _ => None, // name resolution, statistics, custom, journal...: not needed
        }
    }
}

impl PacketSource for CaptureFile {
    fn next_packet(&mut self) -> Option<Result<RawPacket<'_>, SourceError>> {
        if self.done {
            return None;
        }
        let r = match self.format {
            Format::Pcap(_) => self.next_pcap(),
            Format::Pcapng(_) => self.next_pcapng(),
        };
        match r {
            Ok(Some(f)) => {
                let data = self.win.get(f.start..f.end).unwrap_or(&[]);
                Some(Ok(RawPacket {
                    ts_ns: f.ts_ns,
                    linktype: f.linktype,
                    orig_len: f.orig_len,
                    data,
                }))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn bytes_consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    fn counters(&self) -> Counters {
        self.counters.clone()
    }

    fn shared_window(&self) -> Option<&Arc<Vec<u8>>> {
        Some(&self.win)
    }
}
