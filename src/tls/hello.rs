//! ClientHello / ServerHello / HelloRetryRequest bodies (TLS 1.0-1.3 and 1.3 drafts) and
//! the SSLv2 CLIENT-HELLO / SERVER-HELLO, into the owned `model` types.
//!
//! Written on the bounds-checked [`Reader`] rather than `tls-parser`'s hello parsers:
//! those drop an extension block whose length overruns the message without saying so
//! and refuse ServerHello versions they do not know (TLS 1.3 drafts other than 18,
//! 0xfb17, ...), and both would make a fingerprint silently wrong.
//!
//! Invariants: a hello whose fixed part (version .. compression) is broken yields `None`
//! and a malformation; a broken extension makes the hello malformed but keeps every
//! extension type seen so that the row still shows what was sent. Lists are capped by
//! [`Limits`]; a binding cap is reported through [`Issues::capped`].

use super::limits::{Issues, Limits};
use super::model::{ClientHello, ServerHello};
use super::reader::Reader;

/// RFC 8446 4.1.3: ServerHello.random of a HelloRetryRequest (SHA-256 of
/// "HelloRetryRequest").
pub(crate) const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// RFC 5246 7.4.1.2: `SessionID session_id<0..32>`.
const MAX_SESSION_ID: usize = 32;
/// Record version reported for an SSLv2-format hello (SSLv2 has no record version; the
/// SSL 2.0 protocol number is used).
pub(crate) const SSL2_VERSION: u16 = 0x0002;

/// Extension code points (IANA TLS ExtensionType Values).
pub(crate) mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SESSION_TICKET: u16 = 35;
    /// key_share as numbered in TLS 1.3 drafts up to draft-22.
    pub const KEY_SHARE_DRAFT: u16 = 40;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
    /// quic_transport_parameters (RFC 9001 8.2), and its pre-RFC draft code point.
    pub const QUIC_TRANSPORT_PARAMETERS: u16 = 57;
    pub const QUIC_TRANSPORT_PARAMETERS_DRAFT: u16 = 0xffa5;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 3.3).
const SCSV_RENEGOTIATION: u16 = 0x00ff;
/// TLS_FALLBACK_SCSV (RFC 7507).
const SCSV_FALLBACK: u16 = 0x5600;

/// TLS 1.3 or one of its pre-standard variants: IETF drafts 0x7fxx, Google's
/// experiment 0x7exx, Facebook's 0xfbxx (e.g. 0xfb17 = draft-23 for Fizz); and DTLS 1.3
/// (0xfefc, RFC 9147), which shares TLS 1.3's handshake.
pub fn is_tls13(v: u16) -> bool {
    v == 0x0304 || v == DTLS13_VERSION || matches!(v >> 8, 0x7f | 0x7e | 0xfb)
}

/// DTLS 1.3's version code point (RFC 9147 5.3).
pub(crate) const DTLS13_VERSION: u16 = 0xfefc;

/// A DTLS version: 0xfeff (1.0), 0xfefd (1.2), 0xfefc (1.3), or 0x0100 (OpenSSL's
/// pre-RFC DTLS, `DTLS1_BAD_VER`). A DTLS ClientHello carries a cookie after the
/// session id (RFC 6347 4.2.1).
pub fn is_dtls(v: u16) -> bool {
    v >> 8 == 0xfe || v == 0x0100
}

/// RFC 6347 4.2.1: `opaque cookie<0..2^8-1>`; RFC 9147 5.3 keeps the field (empty).
const MAX_DTLS_COOKIE: usize = 255;

/// Before draft-22 the TLS 1.3 ServerHello had no session id and no compression.
fn is_pre22_draft(v: u16) -> bool {
    v >> 8 == 0x7f && (v & 0xff) < 22
}

/// Collect `width`-byte big-endian values filling all of `data` into `out` (at most
/// `cap` of them).
fn fill_list<T>(
    data: &[u8],
    width: usize,
    cap: usize,
    out: &mut Vec<T>,
    is: &mut Issues,
    conv: impl Fn(&[u8]) -> Option<T>,
) -> Result<(), ()> {
    if width == 0 || !data.len().is_multiple_of(width) {
        return Err(());
    }
    let n = data.len() / width;
    if n > cap {
        is.capped("tls.list_capped");
    }
    out.reserve(n.min(cap));
    for chunk in data.chunks_exact(width).take(cap) {
        out.push(conv(chunk).ok_or(())?);
    }
    Ok(())
}

fn be_u16(c: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*c.first()?, *c.get(1)?]))
}

fn be_u8(c: &[u8]) -> Option<u8> {
    c.first().copied()
}

/// A list with a `prefix`-byte length covering exactly the rest of `data`.
fn prefixed(data: &[u8], prefix: usize) -> Result<&[u8], ()> {
    let mut r = Reader::new(data);
    let inner = match prefix {
        1 => r.vec8(),
        _ => r.vec16(),
    }
    .ok_or(())?;
    if r.is_empty() {
        Ok(inner)
    } else {
        Err(())
    }
}

fn u16_list(
    data: &[u8],
    prefix: usize,
    lim: &Limits,
    out: &mut Vec<u16>,
    is: &mut Issues,
) -> Result<(), ()> {
    fill_list(
        prefixed(data, prefix)?,
        2,
        lim.max_list_items,
        out,
        is,
        be_u16,
    )
}

fn u8_list(data: &[u8], lim: &Limits, out: &mut Vec<u8>, is: &mut Issues) -> Result<(), ()> {
    fill_list(prefixed(data, 1)?, 1, lim.max_list_items, out, is, be_u8)
}

/// Parse a ClientHello body (after the 4-byte handshake header).
pub(crate) fn parse_client_hello(
    body: &[u8],
    record_version: u16,
    lim: &Limits,
    is: &mut Issues,
) -> Option<ClientHello> {
    let mut r = Reader::new(body);
    let Some(fixed) = client_hello_fixed(&mut r, record_version, lim, is) else {
        is.malformed("client_hello");
        return None;
    };
    let mut ch = fixed;
    if r.is_empty() {
        // SSL 3.0 / early TLS: no extension block at all.
        return Some(ch);
    }
    match r.vec16() {
        Some(block) => {
            parse_client_extensions(block, &mut ch, lim, is);
            if !r.is_empty() {
                is.malformed("client_hello_trailing_bytes");
            }
        }
        None => is.malformed("client_hello_extensions"),
    }
    Some(ch)
}

fn client_hello_fixed(
    r: &mut Reader,
    record_version: u16,
    lim: &Limits,
    is: &mut Issues,
) -> Option<ClientHello> {
    let version = r.u16()?;
    let random = r.take(32)?.to_vec();
    let sid = r.vec8()?;
    if sid.len() > MAX_SESSION_ID {
        return None;
    }
    let cookie_len = if is_dtls(version) {
        let c = r.vec8()?;
        (c.len() <= MAX_DTLS_COOKIE).then_some(c.len())?
    } else {
        0
    };
    let mut ch = ClientHello {
        record_version,
        version,
        random,
        session_id: sid.to_vec(),
        cookie_len,
        ..ClientHello::default()
    };
    fill_list(
        r.vec16()?,
        2,
        lim.max_list_items,
        &mut ch.cipher_suites,
        is,
        be_u16,
    )
    .ok()?;
    fill_list(
        r.vec8()?,
        1,
        lim.max_list_items,
        &mut ch.compression_methods,
        is,
        be_u8,
    )
    .ok()?;
    mark_scsvs(&mut ch);
    Some(ch)
}

fn mark_scsvs(ch: &mut ClientHello) {
    if ch.cipher_suites.contains(&SCSV_RENEGOTIATION) {
        ch.secure_renegotiation = true;
    }
    if ch.cipher_suites.contains(&SCSV_FALLBACK) {
        ch.fallback_scsv = true;
    }
}

fn parse_client_extensions(block: &[u8], ch: &mut ClientHello, lim: &Limits, is: &mut Issues) {
    let mut types = std::mem::take(&mut ch.extensions);
    walk_extensions(
        block,
        &mut types,
        "client_hello_extensions",
        lim,
        is,
        |ty, data, is| client_extension(ty, data, ch, lim, is),
    );
    ch.extensions = types;
}

/// Walk an extension block (RFC 8446 4.2): each type goes to `types` (at most
/// `lim.max_extensions`), its data to `apply`; broken framing is `block_reason`.
fn walk_extensions(
    block: &[u8],
    types: &mut Vec<u16>,
    block_reason: &'static str,
    lim: &Limits,
    is: &mut Issues,
    mut apply: impl FnMut(u16, &[u8], &mut Issues) -> Result<(), &'static str>,
) {
    let mut r = Reader::new(block);
    while !r.is_empty() {
        if types.len() >= lim.max_extensions {
            is.capped("tls.extensions_capped");
            return;
        }
        let (Some(ty), Some(data)) = (r.u16(), r.vec16()) else {
            is.malformed(block_reason);
            return;
        };
        types.push(ty);
        if let Err(reason) = apply(ty, data, is) {
            is.malformed(reason);
        }
    }
}

fn client_extension(
    ty: u16,
    data: &[u8],
    ch: &mut ClientHello,
    lim: &Limits,
    is: &mut Issues,
) -> Result<(), &'static str> {
    match ty {
        ext::SERVER_NAME => server_name(data, ch, lim).map_err(|_| "client_hello_ext_server_name"),
        ext::SUPPORTED_GROUPS => u16_list(data, 2, lim, &mut ch.supported_groups, is)
            .map_err(|_| "client_hello_ext_supported_groups"),
        ext::EC_POINT_FORMATS => u8_list(data, lim, &mut ch.ec_point_formats, is)
            .map_err(|_| "client_hello_ext_ec_point_formats"),
        ext::SIGNATURE_ALGORITHMS => u16_list(data, 2, lim, &mut ch.signature_algorithms, is)
            .map_err(|_| "client_hello_ext_signature_algorithms"),
        ext::ALPN => alpn_list(data, lim, &mut ch.alpn, is).map_err(|_| "client_hello_ext_alpn"),
        ext::SESSION_TICKET => {
            ch.session_ticket_ext = true;
            ch.session_ticket_len = data.len();
            Ok(())
        }
        ext::PRE_SHARED_KEY => {
            ch.psk_offered = true;
            Ok(())
        }
        ext::EARLY_DATA => {
            ch.early_data = true;
            Ok(())
        }
        ext::SUPPORTED_VERSIONS => u16_list(data, 1, lim, &mut ch.supported_versions, is)
            .map_err(|_| "client_hello_ext_supported_versions"),
        ext::PSK_KEY_EXCHANGE_MODES => u8_list(data, lim, &mut ch.psk_modes, is)
            .map_err(|_| "client_hello_ext_psk_key_exchange_modes"),
        ext::KEY_SHARE | ext::KEY_SHARE_DRAFT => {
            key_shares(data, lim, &mut ch.key_share_groups, is)
                .map_err(|_| "client_hello_ext_key_share")
        }
        ext::RENEGOTIATION_INFO => {
            ch.secure_renegotiation = true;
            Ok(())
        }
        ext::ENCRYPTED_CLIENT_HELLO => {
            ch.ech_offered = true;
            Ok(())
        }
        ext::QUIC_TRANSPORT_PARAMETERS | ext::QUIC_TRANSPORT_PARAMETERS_DRAFT => {
            let draft = ty == ext::QUIC_TRANSPORT_PARAMETERS_DRAFT;
            transport_parameter_ids(data, draft, lim, &mut ch.quic_transport_params, is)
                .map_err(|_| "client_hello_ext_quic_transport_parameters")
        }
        _ => Ok(()),
    }
}

/// RFC 9000 16: a variable-length integer; `None` when `r` ends inside it.
fn varint(r: &mut Reader) -> Option<u64> {
    let first = r.u8()?;
    let extra = (1usize << (first >> 6)) - 1;
    let mut v = u64::from(first & 0x3f);
    for b in r.take(extra)? {
        v = (v << 8) | u64::from(*b);
    }
    Some(v)
}

/// RFC 9000 18: the transport parameter ids (`id varint, length varint, value`) in
/// wire order; values are skipped (each id is what a fingerprint of the stack needs).
/// Under the draft code point, the encoding of drafts up to 27 (a 2-byte list length,
/// 2-byte ids and lengths) is read when the data starts with a length covering
/// exactly the rest.
fn transport_parameter_ids(
    data: &[u8],
    draft: bool,
    lim: &Limits,
    out: &mut Vec<u64>,
    is: &mut Issues,
) -> Result<(), ()> {
    if let Some(list) = prefixed(data, 2).ok().filter(|_| draft) {
        let mut r = Reader::new(list);
        let mut ids = Vec::new();
        while !r.is_empty() {
            let id = r.u16().ok_or(())?;
            r.vec16().ok_or(())?;
            ids.push(u64::from(id));
        }
        if ids.len() > lim.max_list_items {
            is.capped("tls.list_capped");
        }
        out.extend(ids.into_iter().take(lim.max_list_items));
        return Ok(());
    }
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let id = varint(&mut r).ok_or(())?;
        let len = usize::try_from(varint(&mut r).ok_or(())?).map_err(|_| ())?;
        r.take(len).ok_or(())?;
        if out.len() >= lim.max_list_items {
            is.capped("tls.list_capped");
            return Ok(());
        }
        out.push(id);
    }
    Ok(())
}

/// RFC 6066 3: ServerNameList; the first host_name (type 0) entry is kept. An empty
/// extension is tolerated (no name).
fn server_name(data: &[u8], ch: &mut ClientHello, lim: &Limits) -> Result<(), ()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(prefixed(data, 2)?);
    let mut n = 0usize;
    while !r.is_empty() && n < lim.max_list_items {
        let name_type = r.u8().ok_or(())?;
        let name = r.vec16().ok_or(())?;
        if name_type == 0 && ch.sni.is_none() {
            ch.sni = Some(String::from_utf8_lossy(name).into_owned());
        }
        n += 1;
    }
    Ok(())
}

/// RFC 7301 3.1: ProtocolNameList. Empty names are kept (JA4 reads them as "00").
fn alpn_list(data: &[u8], lim: &Limits, out: &mut Vec<Vec<u8>>, is: &mut Issues) -> Result<(), ()> {
    let mut r = Reader::new(prefixed(data, 2)?);
    while !r.is_empty() {
        let name = r.vec8().ok_or(())?;
        if out.len() >= lim.max_alpn {
            is.capped("tls.alpn_capped");
            break;
        }
        out.push(name.to_vec());
    }
    Ok(())
}

/// RFC 8446 4.2.8: KeyShareClientHello; only the groups are kept.
fn key_shares(data: &[u8], lim: &Limits, out: &mut Vec<u16>, is: &mut Issues) -> Result<(), ()> {
    let mut r = Reader::new(prefixed(data, 2)?);
    while !r.is_empty() {
        let group = r.u16().ok_or(())?;
        r.vec16().ok_or(())?;
        if out.len() >= lim.max_list_items {
            is.capped("tls.list_capped");
            break;
        }
        out.push(group);
    }
    Ok(())
}

/// Parse a ServerHello body (TLS 1.0-1.3, 1.3 drafts; HelloRetryRequest recognised by
/// its random).
pub(crate) fn parse_server_hello(
    body: &[u8],
    record_version: u16,
    lim: &Limits,
    is: &mut Issues,
) -> Option<ServerHello> {
    let mut r = Reader::new(body);
    let Some(mut sh) = server_hello_fixed(&mut r, record_version) else {
        is.malformed("server_hello");
        return None;
    };
    server_extension_block(&mut r, &mut sh, lim, is);
    Some(sh)
}

fn server_hello_fixed(r: &mut Reader, record_version: u16) -> Option<ServerHello> {
    let version = r.u16()?;
    let random = r.take(32)?;
    let mut sh = ServerHello {
        record_version,
        version,
        random: random.to_vec(),
        is_hrr: random == HRR_RANDOM.as_slice(),
        ..ServerHello::default()
    };
    if is_pre22_draft(version) {
        sh.cipher = r.u16()?;
        return Some(sh);
    }
    let sid = r.vec8()?;
    if sid.len() > MAX_SESSION_ID {
        return None;
    }
    sh.session_id = sid.to_vec();
    sh.cipher = r.u16()?;
    sh.compression = r.u8()?;
    Some(sh)
}

/// TLS 1.3 drafts before draft-22 sent HelloRetryRequest as handshake type 6:
/// `server_version`, `cipher_suite` (from draft-19 on), `extensions`.
pub(crate) fn parse_draft_hello_retry(
    body: &[u8],
    record_version: u16,
    lim: &Limits,
    is: &mut Issues,
) -> Option<ServerHello> {
    let mut r = Reader::new(body);
    let Some(version) = r.u16() else {
        is.malformed("hello_retry_request");
        return None;
    };
    let mut sh = ServerHello {
        record_version,
        version,
        is_hrr: true,
        ..ServerHello::default()
    };
    let has_cipher = !(version >> 8 == 0x7f && (version & 0xff) < 19);
    if has_cipher {
        let Some(cipher) = r.u16() else {
            is.malformed("hello_retry_request");
            return None;
        };
        sh.cipher = cipher;
    }
    server_extension_block(&mut r, &mut sh, lim, is);
    Some(sh)
}

fn server_extension_block(r: &mut Reader, sh: &mut ServerHello, lim: &Limits, is: &mut Issues) {
    if r.is_empty() {
        return;
    }
    let Some(block) = r.vec16() else {
        is.malformed("server_hello_extensions");
        return;
    };
    if !r.is_empty() {
        is.malformed("server_hello_trailing_bytes");
    }
    let mut types = std::mem::take(&mut sh.extensions);
    walk_extensions(
        block,
        &mut types,
        "server_hello_extensions",
        lim,
        is,
        |ty, data, is| server_extension(ty, data, sh, lim, is),
    );
    sh.extensions = types;
}

fn server_extension(
    ty: u16,
    data: &[u8],
    sh: &mut ServerHello,
    lim: &Limits,
    is: &mut Issues,
) -> Result<(), &'static str> {
    match ty {
        ext::SUPPORTED_VERSIONS => {
            sh.selected_version =
                Some(exact_u16(data).ok_or("server_hello_ext_supported_versions")?);
        }
        ext::KEY_SHARE | ext::KEY_SHARE_DRAFT => {
            // HRR: just the selected group; ServerHello: one KeyShareEntry.
            let mut r = Reader::new(data);
            let group = r.u16().ok_or("server_hello_ext_key_share")?;
            if !r.is_empty() && (r.vec16().is_none() || !r.is_empty()) {
                return Err("server_hello_ext_key_share");
            }
            sh.key_share_group = Some(group);
        }
        ext::PRE_SHARED_KEY => {
            exact_u16(data).ok_or("server_hello_ext_pre_shared_key")?;
            sh.psk_selected = true;
        }
        ext::SESSION_TICKET => sh.session_ticket_ext = true,
        ext::EC_POINT_FORMATS => u8_list(data, lim, &mut sh.ec_point_formats, is)
            .map_err(|_| "server_hello_ext_ec_point_formats")?,
        ext::RENEGOTIATION_INFO => sh.secure_renegotiation = true,
        ext::EXTENDED_MASTER_SECRET => sh.extended_master_secret = true,
        ext::ENCRYPT_THEN_MAC => sh.encrypt_then_mac = true,
        ext::ALPN => {
            // RFC 7301 3.1: the list holds exactly one name.
            let mut r = Reader::new(prefixed(data, 2).map_err(|_| "server_hello_ext_alpn")?);
            let name = r.vec8().ok_or("server_hello_ext_alpn")?;
            if !r.is_empty() {
                return Err("server_hello_ext_alpn");
            }
            sh.alpn = Some(name.to_vec());
        }
        _ => {}
    }
    Ok(())
}

fn exact_u16(data: &[u8]) -> Option<u16> {
    let mut r = Reader::new(data);
    let v = r.u16()?;
    r.is_empty().then_some(v)
}

/// SSLv2 CLIENT-HELLO (RFC 6101 E.2, RFC 5246 E.2). `msg` starts at `msg_type`, after
/// the 2-byte record header.
///
/// Cipher specs are 3 bytes, all kept in `sslv2_cipher_specs`. Specs whose first byte
/// is 0 are TLS cipher suites and are also kept as that `u16` in `cipher_suites`;
/// SSLv2-only specs (first byte non-zero, e.g. 0x010080 SSL_CK_RC4_128_WITH_MD5) have
/// no TLS value and are left out of `cipher_suites` (keeping their low 16 bits would
/// alias real TLS suites). The challenge is stored as `random`, as sent (16-32 bytes,
/// not left-padded).
pub(crate) fn parse_sslv2_client_hello(
    msg: &[u8],
    lim: &Limits,
    is: &mut Issues,
) -> Option<ClientHello> {
    let parsed = (|| {
        let mut r = Reader::new(msg);
        if r.u8()? != super::record::SSL2_CLIENT_HELLO {
            return None;
        }
        let version = r.u16()?;
        let cs_len = usize::from(r.u16()?);
        let sid_len = usize::from(r.u16()?);
        let chal_len = usize::from(r.u16()?);
        if !cs_len.is_multiple_of(3) {
            return None;
        }
        let specs = r.take(cs_len)?;
        let sid = r.take(sid_len)?;
        let challenge = r.take(chal_len)?;
        if !r.is_empty() {
            return None;
        }
        let mut ch = ClientHello {
            record_version: SSL2_VERSION,
            version,
            sslv2_format: true,
            random: challenge.to_vec(),
            session_id: sid.to_vec(),
            ..ClientHello::default()
        };
        let mut skipped = 0usize;
        for spec in specs.chunks_exact(3) {
            if ch.sslv2_cipher_specs.len() >= lim.max_list_items {
                is.capped("tls.list_capped");
                break;
            }
            if let [a, b, c] = spec {
                ch.sslv2_cipher_specs
                    .push(u32::from_be_bytes([0, *a, *b, *c]));
            }
            match spec {
                [0, hi, lo] => {
                    if ch.cipher_suites.len() >= lim.max_list_items {
                        is.capped("tls.list_capped");
                        break;
                    }
                    ch.cipher_suites.push(u16::from_be_bytes([*hi, *lo]));
                }
                _ => skipped += 1,
            }
        }
        is.counters
            .add("tls.sslv2_only_cipher_specs", skipped as u64);
        mark_scsvs(&mut ch);
        Some(ch)
    })();
    if parsed.is_none() {
        is.malformed("sslv2_client_hello");
    }
    parsed
}

/// SSLv2 SERVER-HELLO: the `ServerHello` gets version (0x0002) and the connection id as
/// `random`; it names no single cipher (the server lists specs, the client picks), so
/// `cipher` stays 0. Returns the certificate and the session-id-hit flag too.
pub(crate) fn parse_sslv2_server_hello(
    msg: &[u8],
    is: &mut Issues,
) -> Option<(ServerHello, Vec<u8>, bool)> {
    let parsed = (|| {
        let mut r = Reader::new(msg);
        if r.u8()? != super::record::SSL2_SERVER_HELLO {
            return None;
        }
        let session_id_hit = r.u8()? != 0;
        let _cert_type = r.u8()?;
        let version = r.u16()?;
        let cert_len = usize::from(r.u16()?);
        let cs_len = usize::from(r.u16()?);
        let conn_id_len = usize::from(r.u16()?);
        let cert = r.take(cert_len)?;
        let specs = r.take(cs_len)?;
        let conn_id = r.take(conn_id_len)?;
        if !cs_len.is_multiple_of(3) || !r.is_empty() {
            return None;
        }
        let _ = specs;
        let sh = ServerHello {
            record_version: SSL2_VERSION,
            version,
            sslv2_format: true,
            random: conn_id.to_vec(),
            ..ServerHello::default()
        };
        Some((sh, cert.to_vec(), session_id_hit))
    })();
    if parsed.is_none() {
        is.malformed("sslv2_server_hello");
    }
    parsed
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::Counters;

    /// Build an extension.
    pub(crate) fn ext_bytes(ty: u16, data: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    pub(crate) fn vec16(data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(data);
        v
    }

    pub(crate) fn u16s(vals: &[u16]) -> Vec<u8> {
        vals.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// ClientHello body with the given pieces.
    pub(crate) fn client_hello_body(
        version: u16,
        sid: &[u8],
        ciphers: &[u16],
        exts: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend([0x11; 32]);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        b.extend(vec16(&u16s(ciphers)));
        b.extend([1, 0]);
        let block: Vec<u8> = exts.concat();
        b.extend(vec16(&block));
        b
    }

    pub(crate) fn server_hello_body(
        version: u16,
        random: [u8; 32],
        sid: &[u8],
        cipher: u16,
        exts: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend(random);
        b.push(sid.len() as u8);
        b.extend_from_slice(sid);
        b.extend(cipher.to_be_bytes());
        b.push(0);
        if !exts.is_empty() {
            b.extend(vec16(&exts.concat()));
        }
        b
    }

    pub(crate) fn sni_ext(name: &str) -> Vec<u8> {
        let mut entry = vec![0u8];
        entry.extend(vec16(name.as_bytes()));
        ext_bytes(0, &vec16(&entry))
    }

    pub(crate) fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for n in names {
            list.push(n.len() as u8);
            list.extend_from_slice(n);
        }
        ext_bytes(16, &vec16(&list))
    }

    fn full_client_exts() -> Vec<Vec<u8>> {
        let mut ks = u16s(&[0x001d]);
        ks.extend(vec16(&[7; 32]));
        ks.extend(u16s(&[0x4a4a]));
        ks.extend(vec16(&[0]));
        vec![
            ext_bytes(0x0a0a, &[]),
            sni_ext("example.com"),
            ext_bytes(10, &vec16(&u16s(&[0x2a2a, 29, 23]))),
            ext_bytes(11, &[1, 0]),
            ext_bytes(13, &vec16(&u16s(&[0x0403, 0x0804]))),
            alpn_ext(&[b"h2", b"http/1.1"]),
            ext_bytes(35, &[1, 2, 3]),
            ext_bytes(42, &[]),
            ext_bytes(43, &[4, 3, 4, 3, 3]),
            ext_bytes(45, &[1, 1]),
            ext_bytes(51, &vec16(&ks)),
            ext_bytes(0xff01, &[0]),
            ext_bytes(0xfe0d, &[0; 8]),
            ext_bytes(0x1234, &[9, 9]),
            ext_bytes(41, &[0; 10]),
        ]
    }

    #[test]
    fn client_hello_every_field() {
        let body = client_hello_body(
            0x0303,
            &[5; 32],
            &[0x1a1a, 0x1301, 0xc02b, 0x00ff, 0x5600],
            &full_client_exts(),
        );
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_client_hello(&body, 0x0301, &Limits::default(), &mut is).unwrap();
        assert_eq!(is.malformed, None);
        assert_eq!(ch.record_version, 0x0301);
        assert_eq!(ch.version, 0x0303);
        assert_eq!(ch.random, vec![0x11; 32]);
        assert_eq!(ch.session_id, vec![5; 32]);
        assert_eq!(
            ch.cipher_suites,
            vec![0x1a1a, 0x1301, 0xc02b, 0x00ff, 0x5600]
        );
        assert_eq!(ch.compression_methods, vec![0]);
        assert_eq!(
            ch.extensions,
            vec![0x0a0a, 0, 10, 11, 13, 16, 35, 42, 43, 45, 51, 0xff01, 0xfe0d, 0x1234, 41]
        );
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        assert_eq!(ch.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(ch.supported_groups, vec![0x2a2a, 29, 23]);
        assert_eq!(ch.ec_point_formats, vec![0]);
        assert_eq!(ch.signature_algorithms, vec![0x0403, 0x0804]);
        assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(ch.key_share_groups, vec![0x001d, 0x4a4a]);
        assert!(ch.session_ticket_ext);
        assert_eq!(ch.session_ticket_len, 3);
        assert!(ch.psk_offered && ch.early_data && ch.ech_offered);
        assert_eq!(ch.psk_modes, vec![1]);
        assert!(ch.secure_renegotiation && ch.fallback_scsv);
    }

    #[test]
    fn client_hello_without_extension_block() {
        let mut body = client_hello_body(0x0300, &[], &[0x000a], &[]);
        body.truncate(body.len() - 2);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_client_hello(&body, 0x0300, &Limits::default(), &mut is).unwrap();
        assert_eq!(is.malformed, None);
        assert!(ch.extensions.is_empty() && !ch.secure_renegotiation);
        // One stray byte where the block length should be.
        body.push(0);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        assert!(parse_client_hello(&body, 0x0300, &Limits::default(), &mut is).is_some());
        assert_eq!(is.malformed, Some("client_hello_extensions"));
    }

    #[test]
    fn client_hello_truncated_and_bad_lengths() {
        let body = client_hello_body(0x0303, &[], &[0x1301], &full_client_exts());
        for cut in 0..40 {
            let mut c = Counters::new();
            let mut is = Issues::new(&mut c);
            assert!(
                parse_client_hello(&body[..cut], 0x0303, &Limits::default(), &mut is).is_none()
            );
            assert_eq!(is.malformed, Some("client_hello"));
        }
        // Extension block cut in the middle: the types before the cut are kept.
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_client_hello(&body[..body.len() - 3], 0x0303, &Limits::default(), &mut is)
            .unwrap();
        assert_eq!(is.malformed, Some("client_hello_extensions"));
        assert!(ch.extensions.is_empty(), "block length overruns the body");
        // Session id longer than 32.
        let mut bad = body.clone();
        bad[34] = 33;
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        assert!(parse_client_hello(&bad, 0x0303, &Limits::default(), &mut is).is_none());
        // Odd cipher list length.
        let mut odd = client_hello_body(0x0303, &[], &[0x1301], &[]);
        odd[36] = 3;
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        assert!(parse_client_hello(&odd, 0x0303, &Limits::default(), &mut is).is_none());
    }

    #[test]
    fn malformed_extension_content_keeps_the_rest() {
        let exts = vec![
            ext_bytes(10, &[0, 3, 0, 29, 0]), // odd list length
            sni_ext("a.example"),
            ext_bytes(43, &[5, 3, 4]), // list length overruns
        ];
        let body = client_hello_body(0x0303, &[], &[0x1301], &exts);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_client_hello(&body, 0x0303, &Limits::default(), &mut is).unwrap();
        assert_eq!(is.malformed, Some("client_hello_ext_supported_groups"));
        assert_eq!(ch.extensions, vec![10, 0, 43]);
        assert_eq!(ch.sni.as_deref(), Some("a.example"));
        assert!(ch.supported_versions.is_empty());
        assert_eq!(c.get("tls.malformed"), 2);
    }

    #[test]
    fn caps_bind() {
        let lim = Limits {
            max_list_items: 2,
            max_extensions: 3,
            ..Limits::default()
        };
        let exts: Vec<Vec<u8>> = (100..110).map(|t| ext_bytes(t, &[])).collect();
        let body = client_hello_body(0x0303, &[], &[1, 2, 3, 4], &exts);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_client_hello(&body, 0x0303, &lim, &mut is).unwrap();
        assert!(is.capped);
        assert_eq!(ch.cipher_suites, vec![1, 2]);
        assert_eq!(ch.extensions, vec![100, 101, 102]);
        assert_eq!(c.get("tls.list_capped"), 1);
        assert_eq!(c.get("tls.extensions_capped"), 1);
    }

    #[test]
    fn server_hello_fields_and_hrr() {
        let mut ks = u16s(&[0x001d]);
        ks.extend(vec16(&[1; 32]));
        let exts = vec![
            ext_bytes(43, &u16s(&[0x0304])),
            ext_bytes(51, &ks),
            ext_bytes(41, &[0, 0]),
            ext_bytes(23, &[]),
            ext_bytes(22, &[]),
            ext_bytes(35, &[]),
            ext_bytes(11, &[1, 0]),
            ext_bytes(0xff01, &[0]),
            ext_bytes(16, &vec16(&[2, b'h', b'2'])),
            ext_bytes(0x7777, &[1]),
        ];
        let body = server_hello_body(0x0303, [3; 32], &[9; 32], 0x1301, &exts);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let sh = parse_server_hello(&body, 0x0303, &Limits::default(), &mut is).unwrap();
        assert_eq!(is.malformed, None);
        assert_eq!((sh.version, sh.cipher, sh.compression), (0x0303, 0x1301, 0));
        assert_eq!(sh.session_id, vec![9; 32]);
        assert_eq!(sh.selected_version, Some(0x0304));
        assert_eq!(sh.key_share_group, Some(0x001d));
        assert!(sh.psk_selected && sh.extended_master_secret && sh.encrypt_then_mac);
        assert!(sh.session_ticket_ext && sh.secure_renegotiation);
        assert_eq!(sh.ec_point_formats, vec![0]);
        assert_eq!(sh.alpn.as_deref(), Some(&b"h2"[..]));
        assert_eq!(
            sh.extensions,
            vec![43, 51, 41, 23, 22, 35, 11, 0xff01, 16, 0x7777]
        );
        assert!(!sh.is_hrr);

        let hrr = server_hello_body(
            0x0303,
            HRR_RANDOM,
            &[],
            0x1302,
            &[ext_bytes(51, &u16s(&[0x0017]))],
        );
        let sh = parse_server_hello(&hrr, 0x0303, &Limits::default(), &mut is).unwrap();
        assert!(sh.is_hrr);
        assert_eq!(sh.key_share_group, Some(0x0017));
        assert_eq!(is.malformed, None);
    }

    #[test]
    fn server_hello_drafts_and_errors() {
        // draft-18: version, random, cipher, extensions.
        let mut b = 0x7f12u16.to_be_bytes().to_vec();
        b.extend([4; 32]);
        b.extend(u16s(&[0x1301]));
        b.extend(vec16(&ext_bytes(40, &[0, 0x1d, 0, 1, 9])));
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let sh = parse_server_hello(&b, 0x0301, &Limits::default(), &mut is).unwrap();
        assert_eq!((sh.version, sh.cipher), (0x7f12, 0x1301));
        assert_eq!(sh.key_share_group, Some(0x1d));
        assert_eq!(is.malformed, None);
        // draft-18 type-6 HRR has no cipher; draft-21 has one.
        let mut h = 0x7f12u16.to_be_bytes().to_vec();
        h.extend(vec16(&ext_bytes(40, &[0, 0x17])));
        let hrr = parse_draft_hello_retry(&h, 0x0301, &Limits::default(), &mut is).unwrap();
        assert!(hrr.is_hrr);
        assert_eq!((hrr.cipher, hrr.key_share_group), (0, Some(0x17)));
        let mut h = 0x7f15u16.to_be_bytes().to_vec();
        h.extend(u16s(&[0x1303]));
        h.extend(vec16(&[]));
        let hrr = parse_draft_hello_retry(&h, 0x0301, &Limits::default(), &mut is).unwrap();
        assert_eq!(hrr.cipher, 0x1303);
        assert_eq!(is.malformed, None);
        // Unknown legacy version 0xfb17 still parses in the standard layout.
        let body = server_hello_body(0xfb17, [1; 32], &[], 0x1301, &[]);
        assert_eq!(
            parse_server_hello(&body, 0x0303, &Limits::default(), &mut is)
                .unwrap()
                .version,
            0xfb17
        );
        // Truncated.
        assert!(parse_server_hello(&body[..36], 0x0303, &Limits::default(), &mut is).is_none());
        assert_eq!(is.malformed, Some("server_hello"));
        // Bad supported_versions length.
        let body = server_hello_body(0x0303, [1; 32], &[], 0x1301, &[ext_bytes(43, &[3, 4, 0])]);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        assert_eq!(
            parse_server_hello(&body, 0x0303, &Limits::default(), &mut is)
                .unwrap()
                .selected_version,
            None
        );
        assert_eq!(is.malformed, Some("server_hello_ext_supported_versions"));
    }

    #[test]
    fn sslv2_hellos() {
        // version 0x0301, specs: SSL2 RC4-MD5 (skipped), TLS 0x0039, 0x00ff; no sid; 16-byte challenge.
        let mut m = vec![1, 3, 1, 0, 9, 0, 0, 0, 16];
        m.extend([1, 0, 0x80, 0, 0, 0x39, 0, 0, 0xff]);
        m.extend([0xcc; 16]);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let ch = parse_sslv2_client_hello(&m, &Limits::default(), &mut is).unwrap();
        assert!(ch.sslv2_format);
        assert_eq!((ch.version, ch.record_version), (0x0301, 0x0002));
        assert_eq!(ch.cipher_suites, vec![0x0039, 0x00ff]);
        assert_eq!(ch.sslv2_cipher_specs, vec![0x010080, 0x000039, 0x0000ff]);
        assert!(ch.secure_renegotiation);
        assert_eq!(ch.random, vec![0xcc; 16]);
        assert_eq!(is.counters.get("tls.sslv2_only_cipher_specs"), 1);
        assert!(parse_sslv2_client_hello(&m[..m.len() - 1], &Limits::default(), &mut is).is_none());
        assert_eq!(is.malformed, Some("sslv2_client_hello"));

        let mut s = vec![4, 0, 1, 0, 2, 0, 3, 0, 3, 0, 4];
        s.extend([0x30, 0x01, 0x00]);
        s.extend([1, 0, 0x80]);
        s.extend([7; 4]);
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let (sh, cert, hit) = parse_sslv2_server_hello(&s, &mut is).unwrap();
        assert!(!hit);
        assert_eq!((sh.version, sh.cipher), (2, 0));
        assert!(sh.sslv2_format);
        assert_eq!(sh.random, vec![7; 4]);
        assert_eq!(cert, vec![0x30, 1, 0]);
        s.push(0);
        assert!(parse_sslv2_server_hello(&s, &mut is).is_none());
    }

    #[test]
    fn tls13_versions() {
        for v in [0x0304, 0x7f1c, 0x7f12, 0xfb17, 0x7e02] {
            assert!(is_tls13(v), "{v:#x}");
        }
        for v in [0x0303, 0x0300, 0x0002, 0xfefd] {
            assert!(!is_tls13(v), "{v:#x}");
        }
    }
}
