//! Bounds on the work and memory the handshake parser spends on one connection, and the
//! accumulator of problems found while parsing.
//!
//! Every limit has a default taken from the protocol where one exists (cited) and a
//! counter (`tls.<name>`) bumped when it binds. A binding limit makes the row's status
//! `Truncated`, because the data it cut may change a fingerprint.

use crate::stats::Counters;

/// Configurable limits for [`super::analyze_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cleartext handshake bytes buffered per direction (record payloads concatenated).
    pub max_handshake_bytes: usize,
    /// One handshake message. RFC 5246 7.4 allows 2^24-1; real hellos are < 64 KiB,
    /// certificate chains are usually < 64 KiB but test suites carry 330 KiB ones
    /// (Zeek's tls-fragmented-handshake.pcap).
    pub max_message_len: usize,
    /// Handshake messages parsed per direction.
    pub max_messages: usize,
    /// Extensions per hello. RFC 8446 4.2 forbids duplicates, so 65536 types is the
    /// protocol bound; real hellos carry < 30.
    pub max_extensions: usize,
    /// Entries of any one list (cipher suites, groups, signature algorithms, ...).
    /// RFC 5246 7.4.1.2: cipher_suites<2..2^16-2> is at most 32767 entries.
    pub max_list_items: usize,
    /// ALPN protocol names kept (RFC 7301 3.1: ProtocolNameList<2..2^16-1>).
    pub max_alpn: usize,
    /// Certificates kept per chain (RFC 5246 7.4.2: certificate_list<0..2^24-1>).
    pub max_certs: usize,
    /// Cleartext alerts kept per connection.
    pub max_alerts: usize,
    /// Bytes searched for the first hello when a direction does not start with TLS
    /// (STARTTLS, HTTP CONNECT, SOCKS); 0 disables the search.
    pub max_preamble: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_handshake_bytes: 1024 * 1024,
            max_message_len: 1024 * 1024,
            max_messages: 64,
            max_extensions: 256,
            max_list_items: 4096,
            max_alpn: 64,
            max_certs: 32,
            max_alerts: 16,
            max_preamble: 16 * 1024,
        }
    }
}

/// Problems met while parsing one connection.
#[derive(Debug)]
pub(crate) struct Issues<'c> {
    /// First malformation found (stable snake_case name).
    pub malformed: Option<&'static str>,
    /// A limit bound: data was dropped.
    pub capped: bool,
    pub counters: &'c mut Counters,
}

impl<'c> Issues<'c> {
    pub(crate) fn new(counters: &'c mut Counters) -> Self {
        Issues {
            malformed: None,
            capped: false,
            counters,
        }
    }

    /// Record a malformation; the first one names the row's `malformed_reason`.
    pub(crate) fn malformed(&mut self, reason: &'static str) {
        self.counters.bump("tls.malformed");
        if self.malformed.is_none() {
            self.malformed = Some(reason);
        }
    }

    /// A limit bound (`counter` is its `tls.*` name).
    pub(crate) fn capped(&mut self, counter: &'static str) {
        self.counters.bump(counter);
        self.capped = true;
    }

    /// Something odd but harmless (duplicate hello, unexpected message, ...).
    pub(crate) fn note(&mut self, counter: &'static str) {
        self.counters.bump(counter);
    }
}
