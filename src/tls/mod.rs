//! TLS layer: turns the two reassembled directions of a TCP connection, or the
//! handshake messages QUIC and DTLS framed ([`analyze_framed`]), into one
//! [`model::HandshakeInfo`] (hellos, certificates, key exchange, alerts, outcome), and
//! gives the capture thread two cheap helpers: [`sniff`] to recognise TLS by content on
//! any port and [`RecordScanner`] to know when a direction's cleartext handshake is over.
//!
//! Layout: `record` (record layer, sniff, scanner), `hello` (hello bodies and
//! extensions), `messages` (Certificate, ServerKeyExchange), `parse` (the per-direction
//! walk and the connection outcome), `limits` (bounds and problem accounting), `reader`
//! (bounds-checked cursor). Invariants shared by all: no panic on any bytes, on-wire
//! code points kept as numbers, every bound named in [`Limits`] and counted when hit.

mod hello;
mod limits;
mod messages;
pub mod model;
pub mod names;
mod parse;
pub mod proxy;
mod reader;
mod record;

pub use hello::{is_dtls, is_tls13};
pub use limits::Limits;
pub use parse::{analyze, analyze_framed, analyze_with, split_messages, Event, FramedSide};
pub use record::{
    find_hello_start, is_record_start, sniff, RecordScanner, ScanState, Sniff, MAX_RECORD_LEN,
    SNIFF_BYTES,
};
