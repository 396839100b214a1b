//! Certificate and ServerKeyExchange bodies (TLS <= 1.2), using `tls-parser` for the
//! wire structures and its IANA-derived cipher-suite table for the key exchange family.
//!
//! The ServerKeyExchange layout is not self-describing: it depends on the negotiated
//! cipher suite's key exchange (RFC 5246 7.4.3, RFC 8422 5.4, RFC 4279 2-3, RFC 5489 2).
//! Suites the table does not know, and families with other layouts (RSA export, SRP,
//! ECCPWD, GOST), yield an SKE with no decoded fields rather than a guess.
//!
//! Invariants: never panics; certificates are kept as DER, leaf first, at most
//! [`Limits::max_certs`].

use tls_parser::{
    parse_dh_params, parse_ecdh_params, parse_tls_handshake_msg_certificate, ECParametersContent,
    TlsCipherAu, TlsCipherKx, TlsCipherSuite, TlsMessageHandshake,
};

use super::limits::{Issues, Limits};
use super::model::ServerKeyExchange;
use super::reader::Reader;

/// The ServerKeyExchange layouts we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KxFamily {
    /// ServerECDHParams (ECDHE_*, ECDH_anon), `psk`: preceded by a psk_identity_hint.
    Ecdhe { psk: bool, signed: bool },
    /// ServerDHParams (DHE_*, DH_anon), `psk`: preceded by a psk_identity_hint.
    Dhe { psk: bool, signed: bool },
    /// Only a psk_identity_hint (PSK, RSA_PSK).
    PskHint,
    /// No decodable ServerKeyExchange.
    Other,
}

/// Key exchange family of `cipher`, from tls-parser's IANA table.
pub(crate) fn kx_family(cipher: u16) -> KxFamily {
    let Some(cs) = TlsCipherSuite::from_id(cipher) else {
        return KxFamily::Other;
    };
    let psk = cs.au == TlsCipherAu::Psk;
    let anon = cs.au == TlsCipherAu::Null;
    match cs.kx {
        TlsCipherKx::Ecdhe => KxFamily::Ecdhe {
            psk,
            signed: !psk && !anon,
        },
        TlsCipherKx::Ecdh | TlsCipherKx::Aecdh if anon => KxFamily::Ecdhe {
            psk: false,
            signed: false,
        },
        TlsCipherKx::Dhe => KxFamily::Dhe {
            psk,
            signed: !psk && !anon,
        },
        TlsCipherKx::Dh if anon => KxFamily::Dhe {
            psk: false,
            signed: false,
        },
        TlsCipherKx::Psk => KxFamily::PskHint,
        TlsCipherKx::Rsa if psk => KxFamily::PskHint,
        _ => KxFamily::Other,
    }
}

/// Decode a ServerKeyExchange for the negotiated `cipher` and `version`.
pub(crate) fn parse_server_key_exchange(
    body: &[u8],
    cipher: u16,
    version: u16,
    is: &mut Issues,
) -> ServerKeyExchange {
    let mut ske = ServerKeyExchange::default();
    let family = kx_family(cipher);
    let (psk, signed) = match family {
        KxFamily::Ecdhe { psk, signed } | KxFamily::Dhe { psk, signed } => (psk, signed),
        KxFamily::PskHint => (true, false),
        KxFamily::Other => return ske,
    };
    let mut rest = body;
    if psk {
        let mut r = Reader::new(rest);
        if r.vec16().is_none() {
            is.malformed("server_key_exchange");
            return ske;
        }
        rest = r.rest();
    }
    match family {
        KxFamily::Ecdhe { .. } => match parse_ecdh_params(rest) {
            Ok((after, params)) => {
                if let ECParametersContent::NamedGroup(g) = params.curve_params.params_content {
                    ske.curve = Some(g.0);
                }
                rest = after;
            }
            Err(_) => {
                // Explicit curves (types 1, 2) are legal but not decoded here.
                if rest.first() == Some(&3) {
                    is.malformed("server_key_exchange");
                }
                return ske;
            }
        },
        KxFamily::Dhe { .. } => match parse_dh_params(rest) {
            Ok((after, params)) => {
                ske.dh_bits = Some(bit_length(params.dh_p));
                rest = after;
            }
            Err(_) => {
                is.malformed("server_key_exchange");
                return ske;
            }
        },
        _ => {}
    }
    if signed && version == 0x0303 {
        // RFC 5246 4.7: digitally-signed = SignatureAndHashAlgorithm + opaque<0..2^16-1>.
        let mut r = Reader::new(rest);
        match (r.u16(), r.vec16()) {
            (Some(alg), Some(_)) if r.is_empty() => ske.signature_algorithm = Some(alg),
            _ => is.malformed("server_key_exchange_signature"),
        }
    }
    ske
}

/// Bits of a big-endian unsigned integer, leading zero bits not counted.
fn bit_length(be: &[u8]) -> u32 {
    let Some(pos) = be.iter().position(|&b| b != 0) else {
        return 0;
    };
    let bytes = be.len().saturating_sub(pos);
    let lead = be.get(pos).map_or(0, |b| b.leading_zeros());
    u32::try_from(bytes)
        .unwrap_or(u32::MAX / 8)
        .saturating_mul(8)
        .saturating_sub(lead)
}

/// Certificate message (RFC 5246 7.4.2): DER certificates, in order, at most
/// `lim.max_certs`. `None` when the framing is broken.
pub(crate) fn parse_certificate(
    body: &[u8],
    lim: &Limits,
    is: &mut Issues,
) -> Option<Vec<Vec<u8>>> {
    let Ok((rest, TlsMessageHandshake::Certificate(c))) = parse_tls_handshake_msg_certificate(body)
    else {
        is.malformed("certificate");
        return None;
    };
    // tls-parser stops quietly at a broken entry; insist that the entries fill the list
    // and the list fills the message.
    let listed = body.len().saturating_sub(3);
    let used: usize = c
        .cert_chain
        .iter()
        .map(|x| x.data.len().saturating_add(3))
        .sum();
    if !rest.is_empty() || used != listed {
        is.malformed("certificate");
        return None;
    }
    if c.cert_chain.len() > lim.max_certs {
        is.capped("tls.certs_capped");
    }
    Some(
        c.cert_chain
            .iter()
            .take(lim.max_certs)
            .map(|x| x.data.to_vec())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Counters;

    #[test]
    fn families() {
        assert_eq!(
            kx_family(0xc02f),
            KxFamily::Ecdhe {
                psk: false,
                signed: true
            }
        );
        assert_eq!(
            kx_family(0xc035),
            KxFamily::Ecdhe {
                psk: true,
                signed: false
            }
        );
        assert_eq!(
            kx_family(0xc018),
            KxFamily::Ecdhe {
                psk: false,
                signed: false
            }
        );
        assert_eq!(
            kx_family(0x009e),
            KxFamily::Dhe {
                psk: false,
                signed: true
            }
        );
        assert_eq!(
            kx_family(0x0090),
            KxFamily::Dhe {
                psk: true,
                signed: false
            }
        );
        assert_eq!(
            kx_family(0x0034),
            KxFamily::Dhe {
                psk: false,
                signed: false
            }
        );
        assert_eq!(kx_family(0x008c), KxFamily::PskHint);
        assert_eq!(kx_family(0x0094), KxFamily::PskHint);
        assert_eq!(kx_family(0x002f), KxFamily::Other);
        assert_eq!(
            kx_family(0x0030),
            KxFamily::Other,
            "static DH_DSS has no SKE"
        );
        assert_eq!(kx_family(0x1301), KxFamily::Other);
        assert_eq!(kx_family(0xeeee), KxFamily::Other);
    }

    fn ecdhe_ske(group: u16, sig: bool) -> Vec<u8> {
        let mut b = vec![3];
        b.extend(group.to_be_bytes());
        b.push(4);
        b.extend([0x04, 1, 2, 3]);
        if sig {
            b.extend([0x08, 0x04, 0, 2, 0xaa, 0xbb]);
        }
        b
    }

    #[test]
    fn ecdhe_and_dhe() {
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let s = parse_server_key_exchange(&ecdhe_ske(0x001d, true), 0xc02f, 0x0303, &mut is);
        assert_eq!(
            (s.curve, s.dh_bits, s.signature_algorithm),
            (Some(0x1d), None, Some(0x0804))
        );
        // TLS 1.0: no SignatureAndHashAlgorithm.
        let s = parse_server_key_exchange(&ecdhe_ske(0x0017, false), 0xc013, 0x0301, &mut is);
        assert_eq!((s.curve, s.signature_algorithm), (Some(0x17), None));
        assert_eq!(is.malformed, None);

        // DHE with a 1024-bit p whose top byte is 0x7f (1023 bits) and a leading zero byte.
        let mut p = vec![0u8, 0x7f];
        p.extend([0xff; 127]);
        let mut d = (p.len() as u16).to_be_bytes().to_vec();
        d.extend(&p);
        d.extend([0, 1, 2, 0, 1, 5]);
        d.extend([0x04, 0x01, 0, 1, 0]);
        let s = parse_server_key_exchange(&d, 0x009e, 0x0303, &mut is);
        assert_eq!(
            (s.dh_bits, s.signature_algorithm),
            (Some(1023), Some(0x0401))
        );
        assert_eq!(is.malformed, None);

        // ECDHE_PSK: hint first.
        let mut e = vec![0, 2, b'h', b'i'];
        e.extend(ecdhe_ske(0x0018, false));
        assert_eq!(
            parse_server_key_exchange(&e, 0xc035, 0x0303, &mut is).curve,
            Some(0x18)
        );
        assert_eq!(is.malformed, None);
        // Unknown suite: nothing decoded, nothing flagged.
        assert_eq!(
            parse_server_key_exchange(&[1, 2], 0xeeee, 0x0303, &mut is),
            ServerKeyExchange::default()
        );
        assert_eq!(is.malformed, None);
        // Truncated ECDHE params.
        parse_server_key_exchange(&[3, 0], 0xc02f, 0x0303, &mut is);
        assert_eq!(is.malformed, Some("server_key_exchange"));
        // Explicit prime curve: not decoded, not malformed.
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        assert_eq!(
            parse_server_key_exchange(&[1, 0], 0xc02f, 0x0303, &mut is).curve,
            None
        );
        assert_eq!(is.malformed, None);
        // Signature with trailing junk.
        let mut bad = ecdhe_ske(0x001d, true);
        bad.push(0);
        parse_server_key_exchange(&bad, 0xc02f, 0x0303, &mut is);
        assert_eq!(is.malformed, Some("server_key_exchange_signature"));
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x10, 0]), 13);
    }

    #[test]
    fn certificates() {
        let body = [0, 0, 10, 0, 0, 2, 0x30, 0, 0, 0, 2, 0x30, 1];
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let certs = parse_certificate(&body, &Limits::default(), &mut is).unwrap();
        assert_eq!(certs, vec![vec![0x30, 0], vec![0x30, 1]]);
        assert_eq!(
            parse_certificate(&[0, 0, 0], &Limits::default(), &mut is),
            Some(vec![])
        );
        let lim = Limits {
            max_certs: 1,
            ..Limits::default()
        };
        assert_eq!(parse_certificate(&body, &lim, &mut is).unwrap().len(), 1);
        assert!(is.capped);
        assert_eq!(is.malformed, None);
        // Inner length overruns the list.
        let bad = [0, 0, 5, 0, 0, 9, 0x30, 0];
        assert_eq!(parse_certificate(&bad, &Limits::default(), &mut is), None);
        assert_eq!(is.malformed, Some("certificate"));
        // Trailing byte after the list.
        let mut c = Counters::new();
        let mut is = Issues::new(&mut c);
        let mut t = body.to_vec();
        t.push(0);
        assert_eq!(parse_certificate(&t, &Limits::default(), &mut is), None);
        assert_eq!(
            parse_certificate(&[0, 0], &Limits::default(), &mut is),
            None
        );
    }
}
