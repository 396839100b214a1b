//! tlstap: a passive TLS handshake analyzer.
//!
//! Layers, in the order a packet meets them (each a folder):
//! - [`source`]: packet sources (capture files by hand-written pcap/pcapng readers;
//!   live capture through libpcap);
//! - [`decode`]: link layer, IPv4/IPv6 (with fragment reassembly), TCP and UDP;
//! - [`flow`]: the flow tables (TCP with per-direction reassembly; UDP for QUIC and
//!   DTLS), on the capture thread;
//! - [`quic`]: QUIC Initial packets decrypted, CRYPTO frames reassembled (parser pool);
//! - [`dtls`]: DTLS records, handshake fragments reassembled (parser pool);
//! - [`openvpn`]: the TLS stream inside OpenVPN-over-TCP control packets (parser pool);
//! - [`tls`]: TLS handshake parsing, whoever framed the messages, into
//!   [`tls::model::HandshakeInfo`];
//! - [`fingerprint`]: JA3/JA3S/JA4 from small parsed-parameter structs;
//! - [`certs`]: X.509 parsing of the certificates seen, chain validation;
//! - [`findings`]: short codes for what a security team acts on, per handshake;
//! - [`row`]: one connection to one output row (the parser pool's work);
//! - [`memo`]: the bounded per-thread memo the parser pool reuses results from;
//! - [`output`]: Arrow batches, Parquet / JSON lines writing;
//! - [`report`]: `tlstap report`, reading an output folder back into a summary;
//! - [`pipeline`]: threads and channels joining the stages (the only place that knows
//!   about threads).

pub mod certs;
pub mod decode;
pub mod dtls;
pub mod findings;
pub mod fingerprint;
pub mod flow;
pub mod memo;
pub mod openvpn;
pub mod output;
pub mod pipeline;
pub mod quic;
pub mod report;
pub mod row;
pub mod source;
pub mod stats;
pub mod store;
pub mod threadcpu;
pub mod tls;
