//! Distinguished names as strings: RFC 4514, spelled the way OpenSSL spells it.
//!
//! The string lists RDNs most-specific first (reverse of DER order), joins RDNs with
//! `,` and the attributes of a multi-valued RDN with `+`, with no spaces. Attribute
//! types use OpenSSL's short names (`CN`, `O`, `street`, `emailAddress`, ...); a type we
//! cannot name is written as its dotted OID with the value as `#` + uppercase hex of its
//! DER encoding (RFC 4514 section 2.4), and so is a value whose ASN.1 type is not a
//! character string OpenSSL prints (VideotexString, GraphicString, GeneralString, any
//! non-string type). This is what OpenSSL's `X509_NAME_print_ex` produces with
//! `XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB`, the flags Zeek uses for `x509.log`:
//! - the attributes inside a multi-valued RDN come out in reverse DER order too, as
//!   OpenSSL does (RFC 4514 allows any order inside an RDN);
//! - escaping: `,+"\<>;` get a backslash, so do a leading `#` or space and a trailing
//!   space; control characters (U+0000..U+001F, U+007F) become `\XX`; everything else,
//!   non-ASCII included, is written as UTF-8;
//! - one-byte string types (Printable, IA5, T61, Numeric, Visible, UTCTime,
//!   GeneralizedTime) are read as Latin-1, BMPString as UCS-2 and UniversalString as
//!   UCS-4 (big endian), UTF8String as UTF-8 (invalid bytes become U+FFFD).
//!
//! A BMPString of odd length or a UniversalString whose length is not a multiple of 4
//! is dumped as `#hex` rather than guessed at. Output length is bounded by the input: a
//! name is at most a few times the size of its DER bytes.

use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Class, Tag, ToDer};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use super::oids;

/// The RFC 4514 / OpenSSL string of a name; empty for an empty name.
pub fn format_name(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().collect::<Vec<_>>().iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let attrs: Vec<_> = rdn.iter().collect();
        for (j, attr) in attrs.iter().rev().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attr);
        }
    }
    out
}

/// The value of the most specific attribute of type `oid` (the last one in DER order,
/// which is the first one in the string), decoded but not escaped. `None` when the name
/// has no such attribute or its value is not a character string.
pub fn most_specific(name: &X509Name<'_>, oid: &str) -> Option<String> {
    name.iter_attributes()
        .filter(|a| a.attr_type().to_id_string() == oid)
        .last()
        .and_then(|a| decode_string(a.attr_value()))
}

fn write_attribute(out: &mut String, attr: &AttributeTypeAndValue<'_>) {
    let oid = attr.attr_type().to_id_string();
    match oids::dn_attr_name(&oid) {
        Some(short) => {
            out.push_str(short);
            out.push('=');
            match decode_string(attr.attr_value()) {
                Some(s) => escape_into(out, &s),
                None => hex_dump_into(out, attr.attr_value()),
            }
        }
        None => {
            out.push_str(&oid);
            out.push('=');
            hex_dump_into(out, attr.attr_value());
        }
    }
}

/// Decode a character-string value to Unicode the way OpenSSL's `ASN1_STRFLGS_UTF8_CONVERT`
/// does; `None` for types OpenSSL would dump as hex.
pub fn decode_string(value: &Any<'_>) -> Option<String> {
    if value.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::Utf8String => Some(String::from_utf8_lossy(data).into_owned()),
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::UtcTime
        | Tag::GeneralizedTime
        | Tag::VisibleString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => decode_be_units(data, 2),
        Tag::UniversalString => decode_be_units(data, 4),
        _ => None,
    }
}

/// UCS-2 (`width` 2) or UCS-4 (`width` 4) big endian, one code point per unit, as
/// OpenSSL reads them (no surrogate pairing); `None` for a ragged length.
fn decode_be_units(data: &[u8], width: usize) -> Option<String> {
    if !data.len().is_multiple_of(width) {
        return None;
    }
    Some(
        data.chunks_exact(width)
            .map(|unit| {
                let v = unit.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
                char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
    )
}

/// RFC 4514 section 2.4 escaping, with OpenSSL's choice of which optional escapes to use.
pub fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\u{0}'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\{:02X}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
}

fn hex_dump_into(out: &mut String, value: &Any<'_>) {
    out.push('#');
    // Re-encoding an `Any` we just parsed only fails on absurd lengths; fall back to the
    // content octets so the value is never silently lost.
    match value.to_der_vec() {
        Ok(der) => out.push_str(&hex::encode_upper(der)),
        Err(_) => out.push_str(&hex::encode_upper(value.data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    /// (OID content bytes, value tag, value bytes).
    type Atv<'a> = (&'a [u8], u8, &'a [u8]);

    /// Build a Name from RDNs, each a list of attributes.
    fn name_der(rdns: &[&[Atv<'_>]]) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            assert!(body.len() < 128);
            let mut v = vec![tag, body.len() as u8];
            v.extend_from_slice(body);
            v
        }
        let mut seq = Vec::new();
        for rdn in rdns {
            let mut set = Vec::new();
            for (oid, tag, val) in rdn.iter() {
                let mut atv = tlv(0x06, oid);
                atv.extend(tlv(*tag, val));
                set.extend(tlv(0x30, &atv));
            }
            seq.extend(tlv(0x31, &set));
        }
        tlv(0x30, &seq)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const L: &[u8] = &[0x55, 0x04, 0x07];

    fn fmt(der: &[u8]) -> String {
        let (_, name) = X509Name::from_der(der).expect("test name parses");
        format_name(&name)
    }

    #[test]
    fn order_is_most_specific_first() {
        let der = name_der(&[
            &[(C, 0x13, b"US")],
            &[(O, 0x0c, b"Example, Inc.")],
            &[(CN, 0x0c, b"example.com")],
        ]);
        assert_eq!(fmt(&der), "CN=example.com,O=Example\\, Inc.,C=US");
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(
            most_specific(&name, oids::OID_O).as_deref(),
            Some("Example, Inc.")
        );
        assert_eq!(most_specific(&name, "2.5.4.11"), None);
    }

    #[test]
    fn multi_valued_rdn_reversed_like_openssl() {
        // The RDP certificate in Zeek's rdp-x509.pcap: SET { CN=SERVR, L=TURNBKL }.
        let der = name_der(&[&[(CN, 0x0c, b"SERVR"), (L, 0x0c, b"TURNBKL")]]);
        assert_eq!(fmt(&der), "L=TURNBKL+CN=SERVR");
    }

    #[test]
    fn last_cn_is_most_specific() {
        let der = name_der(&[&[(CN, 0x0c, b"first")], &[(CN, 0x0c, b"second")]]);
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(
            most_specific(&name, oids::OID_CN).as_deref(),
            Some("second")
        );
        assert_eq!(format_name(&name), "CN=second,CN=first");
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_into(&mut s, "#a b;c\r\n\u{7f}é ");
        assert_eq!(s, "\\#a b\\;c\\0D\\0A\\7Fé\\ ");
        let mut s = String::new();
        escape_into(&mut s, " x=\"<>+\\");
        assert_eq!(s, "\\ x=\\\"\\<\\>\\+\\\\");
        let mut s = String::new();
        escape_into(&mut s, "");
        assert_eq!(s, "");
    }

    #[test]
    fn string_types() {
        // BMPString "SE", T61String Latin-1 0xE9, UniversalString "A".
        let der = name_der(&[
            &[(CN, 0x1e, &[0, b'S', 0, b'E'])],
            &[(O, 0x14, &[0xe9])],
            &[(L, 0x1c, &[0, 0, 0, b'A'])],
        ]);
        assert_eq!(fmt(&der), "L=A,O=é,CN=SE");
    }

    #[test]
    fn odd_or_unknown_values_are_hex_dumped() {
        // BMPString with an odd length, a GeneralString, and an unknown attribute type.
        let der = name_der(&[
            &[(CN, 0x1e, &[0, b'S', 0])],
            &[(O, 0x1b, b"x")],
            &[(&[0x2a, 0x03], 0x0c, b"abc")],
        ]);
        assert_eq!(fmt(&der), "1.2.3=#0C03616263,O=#1B0178,CN=#1E03005300");
        let (_, name) = X509Name::from_der(&der).unwrap();
        assert_eq!(most_specific(&name, oids::OID_CN), None);
    }

    #[test]
    fn empty_name() {
        assert_eq!(fmt(&[0x30, 0x00]), "");
    }
}
