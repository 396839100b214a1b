//! What the TLS layer extracts from one connection: plain owned data, no wire views.
//!
//! On-wire code points stay numbers (`u16`/`u8`), never enums, so values we do not know
//! are kept exactly as sent. Lists keep wire order; GREASE values are kept here (they
//! are what the peer sent) and removed only where a definition says so (fingerprints).

/// One alert record seen in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
    /// `true` when the server sent it.
    pub from_server: bool,
}

/// Everything taken from one ClientHello (TLS, or SSLv2-compatible).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// Version in the record header carrying the hello.
    pub record_version: u16,
    /// `legacy_version` / `client_version` of the hello body.
    pub version: u16,
    /// The hello came in SSLv2-compatible (RFC 6101 appendix E.2) format.
    pub sslv2_format: bool,
    pub random: Vec<u8>,
    pub session_id: Vec<u8>,
    /// DTLS: length of the cookie (0 in a first ClientHello, the server's cookie after
    /// a HelloVerifyRequest); always 0 for TLS.
    pub cookie_len: usize,
    /// Offered cipher suites. For an SSLv2 hello, the TLS-compatible specs only (those
    /// whose first byte is 0, as their 2-byte TLS value); every spec is in
    /// `sslv2_cipher_specs`.
    pub cipher_suites: Vec<u16>,
    /// SSLv2 hello only: every 3-byte CIPHER-SPEC offered, wire order (SSLv2-only
    /// kinds such as 0x010080 `SSL_CK_RC4_128_WITH_MD5` included).
    pub sslv2_cipher_specs: Vec<u32>,
    pub compression_methods: Vec<u8>,
    /// Extension types in wire order (GREASE included).
    pub extensions: Vec<u16>,
    /// First host_name entry of server_name, as sent (lossy UTF-8 when not ASCII).
    pub sni: Option<String>,
    /// ALPN protocol names, raw bytes, wire order.
    pub alpn: Vec<Vec<u8>>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    /// signature_algorithms (ext 13) in wire order.
    pub signature_algorithms: Vec<u16>,
    /// supported_versions (ext 43) in wire order.
    pub supported_versions: Vec<u16>,
    /// Groups of the key_share entries (ext 51) in wire order.
    pub key_share_groups: Vec<u16>,
    /// session_ticket extension (35) present; `session_ticket_len` is its data length.
    pub session_ticket_ext: bool,
    pub session_ticket_len: usize,
    /// pre_shared_key (41) present.
    pub psk_offered: bool,
    /// psk_key_exchange_modes (45) values.
    pub psk_modes: Vec<u8>,
    /// early_data (42) present.
    pub early_data: bool,
    /// encrypted_client_hello (0xfe0d) present.
    pub ech_offered: bool,
    /// renegotiation_info (0xff01) present, or TLS_EMPTY_RENEGOTIATION_INFO_SCSV offered.
    pub secure_renegotiation: bool,
    /// TLS_FALLBACK_SCSV (0x5600) in the cipher list.
    pub fallback_scsv: bool,
    /// QUIC transport parameter ids (extension 57, or 0xffa5 of the drafts) in wire
    /// order.
    pub quic_transport_params: Vec<u64>,
}

/// Everything taken from a ServerHello (or a HelloRetryRequest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub record_version: u16,
    /// `legacy_version` of the hello body.
    pub version: u16,
    /// The hello was an SSLv2 SERVER-HELLO (no cipher, no extensions).
    pub sslv2_format: bool,
    pub random: Vec<u8>,
    pub session_id: Vec<u8>,
    pub cipher: u16,
    pub compression: u8,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// supported_versions (ext 43) selected_version.
    pub selected_version: Option<u16>,
    /// ALPN protocol selected by the server.
    pub alpn: Option<Vec<u8>>,
    /// key_share group (ext 51); for an HRR, the group the server asks for.
    pub key_share_group: Option<u16>,
    /// pre_shared_key (41) accepted (selected_identity present).
    pub psk_selected: bool,
    pub session_ticket_ext: bool,
    pub ec_point_formats: Vec<u8>,
    pub secure_renegotiation: bool,
    pub extended_master_secret: bool,
    pub encrypt_then_mac: bool,
    /// This is a HelloRetryRequest (RFC 8446 4.1.3 special random).
    pub is_hrr: bool,
}

/// Parameters from a ServerKeyExchange (TLS <= 1.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerKeyExchange {
    /// Named curve (ECDHE), as a TLS group code point.
    pub curve: Option<u16>,
    /// Size of the DH prime p in bits (DHE), leading zero bits not counted.
    pub dh_bits: Option<u32>,
    /// Signature algorithm of the SKE signature (TLS 1.2), when present.
    pub signature_algorithm: Option<u16>,
}

/// Why a handshake row is incomplete. `Complete` means both hellos were seen and the
/// handshake went on to encrypted traffic (or resumption) without an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeStatus {
    #[default]
    Complete,
    /// ClientHello seen, no ServerHello.
    NoServerHello,
    /// ServerHello seen, no ClientHello (capture started mid-handshake, or gap).
    NoClientHello,
    /// A fatal alert ended the handshake.
    Alert,
    /// Bytes missing from the capture before the handshake was over.
    Gap,
    /// A buffer limit or the end of the capture cut the handshake.
    Truncated,
    /// Bytes that are not a valid TLS handshake where one was expected.
    Malformed,
    /// Both hellos seen, but the connection ended before encrypted traffic or a
    /// completed handshake.
    Incomplete,
}

impl HandshakeStatus {
    /// Stable name used in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeStatus::Complete => "complete",
            HandshakeStatus::NoServerHello => "no_server_hello",
            HandshakeStatus::NoClientHello => "no_client_hello",
            HandshakeStatus::Alert => "alert",
            HandshakeStatus::Gap => "gap",
            HandshakeStatus::Truncated => "truncated",
            HandshakeStatus::Malformed => "malformed",
            HandshakeStatus::Incomplete => "incomplete",
        }
    }
}

/// The whole TLS story of one TCP connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeInfo {
    /// First ClientHello (the one fingerprints describe).
    pub client_hello: Option<ClientHello>,
    pub client_hello_ts_ns: Option<i64>,
    /// Second ClientHello after a HelloRetryRequest.
    pub retry_client_hello: Option<ClientHello>,
    /// HelloRetryRequest, when the server sent one.
    pub hello_retry_request: Option<ServerHello>,
    /// The real ServerHello (after any HRR).
    pub server_hello: Option<ServerHello>,
    pub server_hello_ts_ns: Option<i64>,
    /// Server certificate chain, DER, in the order sent (leaf first).
    pub server_certs: Vec<Vec<u8>>,
    /// Client certificate chain (mutual TLS), DER, leaf first.
    pub client_certs: Vec<Vec<u8>>,
    pub server_key_exchange: Option<ServerKeyExchange>,
    pub certificate_request: bool,
    pub new_session_ticket: bool,
    pub alerts: Vec<Alert>,
    /// ChangeCipherSpec seen from the client / server.
    pub client_ccs: bool,
    pub server_ccs: bool,
    /// Application data (or TLS 1.3 encrypted records) seen from client / server.
    pub client_app_data: bool,
    pub server_app_data: bool,
    /// Negotiated version: supported_versions selection, else ServerHello version.
    pub version: Option<u16>,
    /// Abbreviated handshake: session-id or ticket resumption (TLS <= 1.2) or PSK
    /// accepted (TLS 1.3).
    pub resumed: bool,
    /// The handshake completed and the connection went on to encrypted traffic.
    pub established: bool,
    /// TLS 1.3: the certificate chain was sent encrypted and could not be read.
    pub certs_encrypted: bool,
    /// DTLS: the server answered with a HelloVerifyRequest and the client repeated its
    /// ClientHello with the cookie.
    pub dtls_cookie: bool,
    pub status: HandshakeStatus,
    /// Short reason when `status` is `Malformed` (e.g. "client_hello_extensions").
    pub malformed_reason: Option<&'static str>,
}

impl HandshakeInfo {
    /// The TLS cipher suite the ServerHello chose; `None` without one, and for an
    /// SSLv2 SERVER-HELLO (it lists 3-byte cipher specs, not a TLS suite).
    pub fn negotiated_cipher(&self) -> Option<u16> {
        self.server_hello
            .as_ref()
            .filter(|sh| !sh.sslv2_format && self.version != Some(0x0002))
            .map(|sh| sh.cipher)
    }

    /// The cipher suite the server committed to: the ServerHello's, else, when only a
    /// HelloRetryRequest came, the HRR's (RFC 8446 4.1.4: the ServerHello must repeat
    /// it).
    pub fn committed_cipher(&self) -> Option<u16> {
        self.negotiated_cipher()
            .or_else(|| self.hello_retry_request.as_ref().map(|h| h.cipher))
    }

    /// The key-exchange group in use: the ServerHello's key_share group (TLS 1.3),
    /// else the ServerKeyExchange's named curve (ECDHE, TLS <= 1.2).
    pub fn key_exchange_group(&self) -> Option<u16> {
        self.server_hello
            .as_ref()
            .and_then(|sh| sh.key_share_group)
            .or_else(|| self.server_key_exchange.and_then(|k| k.curve))
    }

    /// The first ClientHello offers a post-quantum (pure or hybrid) group in
    /// supported_groups or key_share; `None` without a ClientHello.
    pub fn pq_offered(&self) -> Option<bool> {
        let ch = self.client_hello.as_ref()?;
        Some(
            ch.supported_groups
                .iter()
                .chain(&ch.key_share_groups)
                .any(|&g| super::names::is_pq_group(g)),
        )
    }

    /// The server's key_share group is post-quantum; `None` without a ServerHello.
    pub fn pq_negotiated(&self) -> Option<bool> {
        let sh = self.server_hello.as_ref()?;
        Some(sh.key_share_group.is_some_and(super::names::is_pq_group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls13(group: Option<u16>) -> HandshakeInfo {
        HandshakeInfo {
            client_hello: Some(ClientHello {
                supported_groups: vec![0x1a1a, 29, 23],
                key_share_groups: vec![0x1a1a, 0x11ec, 29],
                ..ClientHello::default()
            }),
            server_hello: Some(ServerHello {
                cipher: 0x1301,
                key_share_group: group,
                ..ServerHello::default()
            }),
            version: Some(0x0304),
            ..HandshakeInfo::default()
        }
    }

    #[test]
    fn post_quantum_offered_and_negotiated() {
        let hs = tls13(Some(0x11ec));
        assert_eq!(
            (hs.pq_offered(), hs.pq_negotiated()),
            (Some(true), Some(true))
        );
        assert_eq!(hs.key_exchange_group(), Some(0x11ec));
        let hs = tls13(Some(29));
        assert_eq!(
            (hs.pq_offered(), hs.pq_negotiated()),
            (Some(true), Some(false))
        );
        let mut hs = tls13(None);
        hs.client_hello.as_mut().unwrap().key_share_groups = vec![29];
        assert_eq!(hs.pq_offered(), Some(false));
        hs.server_hello = None;
        hs.client_hello = None;
        assert_eq!((hs.pq_offered(), hs.pq_negotiated()), (None, None));
    }

    #[test]
    fn key_exchange_group_falls_back_to_the_ske_curve() {
        let mut hs = tls13(None);
        hs.server_key_exchange = Some(ServerKeyExchange {
            curve: Some(23),
            ..ServerKeyExchange::default()
        });
        assert_eq!(hs.key_exchange_group(), Some(23));
    }

    #[test]
    fn hello_retry_request_only_commits_its_cipher() {
        let hs = HandshakeInfo {
            hello_retry_request: Some(ServerHello {
                cipher: 0x1302,
                key_share_group: Some(24),
                is_hrr: true,
                ..ServerHello::default()
            }),
            ..HandshakeInfo::default()
        };
        assert_eq!(hs.negotiated_cipher(), None);
        assert_eq!(hs.committed_cipher(), Some(0x1302));
        assert_eq!(hs.key_exchange_group(), None);
        // The real ServerHello's choice wins once it came.
        let hs = HandshakeInfo {
            server_hello: Some(ServerHello {
                cipher: 0x1301,
                ..ServerHello::default()
            }),
            ..hs
        };
        assert_eq!(hs.committed_cipher(), Some(0x1301));
    }

    #[test]
    fn sslv2_server_hello_has_no_tls_cipher() {
        let hs = HandshakeInfo {
            server_hello: Some(ServerHello {
                sslv2_format: true,
                version: 0x0002,
                ..ServerHello::default()
            }),
            version: Some(0x0002),
            ..HandshakeInfo::default()
        };
        assert_eq!(hs.committed_cipher(), None);
    }
}
