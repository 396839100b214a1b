//! Tests for `parse_certificate` on real certificates from the Zeek and Arkime test
//! captures (see `testdata/certs/README.md`); expected values are the oracles' output.

use super::*;
use proptest::prelude::*;

const RDP_SELF: &[u8] = include_bytes!("../../testdata/certs/rdp_selfsigned.der");
const RDP_LICENSE: &[u8] = include_bytes!("../../testdata/certs/rdp_license_server.der");
const PANTZ: &[u8] = include_bytes!("../../testdata/certs/ecdsa_p384_pantz.der");
const ADDTRUST: &[u8] = include_bytes!("../../testdata/certs/addtrust_root.der");
const MYSQL_V1: &[u8] = include_bytes!("../../testdata/certs/mysql_v1_server.der");
const AMAZON: &[u8] = include_bytes!("../../testdata/certs/amazon_rds_ca.der");
const LILAWELT: &[u8] = include_bytes!("../../testdata/certs/lilawelt_sct.der");
const CURVEBALL: &[u8] = include_bytes!("../../testdata/certs/badcurveball_explicit_ec.der");
const TZ_OFFSET: &[u8] = include_bytes!("../../testdata/certs/arkime_tz_offset.der");

const S: i64 = 1_000_000;

fn parsed(der: &[u8]) -> CertInfo {
    let info = parse_certificate(der);
    assert_eq!(info.parse_error, None, "{}", info.sha256);
    info
}

#[test]
fn serials() {
    assert_eq!(serial_hex(&[0x00]), "00");
    assert_eq!(serial_hex(&[0x01]), "01");
    assert_eq!(serial_hex(&[0x00, 0x99, 0xfa]), "99FA");
    assert_eq!(serial_hex(&[0x00, 0x01]), "0001");
    assert_eq!(serial_hex(&[0xff]), "-01");
    assert_eq!(serial_hex(&[0x80]), "-80");
    assert_eq!(serial_hex(&[0xff, 0x7f]), "-81");
    assert_eq!(serial_hex(&[]), "00");
}

#[test]
fn bit_lengths() {
    assert_eq!(bit_len(&[]), 0);
    assert_eq!(bit_len(&[0, 0]), 0);
    assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
    assert_eq!(bit_len(&[0x01, 0xff]), 9);
    assert_eq!(be_u64(&[0x01, 0x00, 0x01]), Some(65537));
    assert_eq!(be_u64(&[0; 12]), Some(0));
    assert_eq!(be_u64(&[1; 9]), None);
}

#[test]
fn hashes_match_zeek_and_arkime() {
    // Zeek's x509.log fingerprint (SHA-256) and Arkime's hash (SHA-1).
    assert_eq!(
        cert_sha256_hex(ADDTRUST),
        "687fa451382278fff0c8b11f8d43d576671c6eb2bceab413fb83d965d06d2ff2"
    );
    assert_eq!(
        cert_sha1_hex(TZ_OFFSET),
        "dcce401f7333913109f53d9db32eb0f19943dc77"
    );
    let info = parse_certificate(ADDTRUST);
    assert_eq!(info.sha256, cert_sha256_hex(ADDTRUST));
    assert_eq!(info.der_len, 1082);
}

#[test]
fn rdp_self_signed_multi_valued_rdn() {
    let c = parsed(RDP_SELF);
    assert_eq!(
        c.sha256,
        "e3859c4a77098a7b84589e0cb1171662d15699fc84c19d3421f7d52dc0dc59c9"
    );
    assert_eq!(c.version, Some(3));
    assert_eq!(c.serial, "59EB28CB02B1A0D4");
    assert_eq!(c.subject, "L=TURNBKL+CN=SERVR");
    assert_eq!(c.issuer, c.subject);
    assert_eq!(c.subject_cn.as_deref(), Some("SERVR"));
    assert_eq!(c.subject_org, None);
    assert_eq!(c.not_before_us, Some(1_423_664_106 * S));
    assert_eq!(c.not_after_us, Some(1_431_388_800 * S));
    assert_eq!(c.sig_alg, "sha1WithRSA");
    assert_eq!(c.key_type.as_deref(), Some("rsa"));
    assert_eq!(c.key_bits, Some(512));
    assert_eq!(c.rsa_exponent, Some(65537));
    assert_eq!((c.is_ca, c.path_len), (Some(true), Some(0)));
    // 512-bit RSA cannot be checked here: names equal and no AKI.
    assert!(c.self_signed);
}

#[test]
fn rdp_license_server_odd_key_oid_and_control_chars() {
    let c = parsed(RDP_LICENSE);
    assert_eq!(c.serial, "0100000001");
    assert_eq!(
        c.subject,
        "serialNumber=1BcKefYSF97EvkaiCqahPY8uPd0=\\0D\\0A+L=ncalrpc:SERVR+CN=ncalrpc:SERVR"
    );
    assert_eq!(c.issuer, "L=TURNBKL+CN=SERVR");
    // SPKI algorithm is md5WithRSAEncryption; the key is still RSA.
    assert_eq!(c.key_type.as_deref(), Some("rsa"));
    assert_eq!(c.key_bits, Some(512));
    assert_eq!(c.sig_alg, "sha1WithRSA");
    assert_eq!(c.is_ca, None);
    assert!(!c.self_signed);
}

#[test]
fn ecdsa_leaf() {
    let c = parsed(PANTZ);
    assert_eq!(c.serial, "F0AFBBF558BF4D1B71FED9CB33793EE4");
    assert_eq!(
        c.subject,
        "CN=pantz.org,OU=PositiveSSL,OU=Domain Control Validated"
    );
    assert_eq!(
        c.issuer,
        "CN=COMODO ECC Domain Validation Secure Server CA,O=COMODO CA Limited,L=Salford,ST=Greater Manchester,C=GB"
    );
    assert_eq!(c.issuer_org.as_deref(), Some("COMODO CA Limited"));
    assert_eq!(
        c.issuer_cn.as_deref(),
        Some("COMODO ECC Domain Validation Secure Server CA")
    );
    assert_eq!(c.key_type.as_deref(), Some("ec"));
    assert_eq!(c.curve.as_deref(), Some("secp384r1"));
    assert_eq!(c.key_bits, Some(384));
    assert_eq!(c.rsa_exponent, None);
    assert_eq!(c.sig_alg, "ecdsa-with-SHA256");
    assert_eq!(c.san_dns, ["pantz.org", "www.pantz.org"]);
    assert!(c.san_ip.is_empty() && c.san_email.is_empty() && c.san_uri.is_empty());
    assert_eq!((c.is_ca, c.path_len), (Some(false), None));
    assert_eq!(c.key_usage, ["digitalSignature"]);
    assert_eq!(c.ext_key_usage, ["serverAuth", "clientAuth"]);
    assert_eq!(
        c.ski.as_deref(),
        Some("26cfa28060bcb56ddda0905a79a86ee440a3845e")
    );
    assert_eq!(
        c.aki.as_deref(),
        Some("bbfa08e0bf54ee5afd16a4350209a9a4c8ecfd4b")
    );
    assert_eq!(c.not_before_us, Some(1_415_404_800 * S));
    assert!(!c.self_signed);
}

#[test]
fn root_self_signature_is_verified() {
    let c = parsed(ADDTRUST);
    assert_eq!(c.serial, "01");
    assert_eq!(
        c.subject,
        "CN=AddTrust External CA Root,OU=AddTrust External TTP Network,O=AddTrust AB,C=SE"
    );
    assert_eq!((c.is_ca, c.path_len), (Some(true), None));
    assert_eq!(c.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(c.aki, c.ski);
    assert!(c.self_signed);

    // Same names, AKI == SKI, but a corrupted signature: verification decides.
    let mut bad = ADDTRUST.to_vec();
    if let Some(last) = bad.last_mut() {
        *last ^= 0x01;
    }
    let c = parsed(&bad);
    assert_eq!(c.subject, c.issuer);
    assert!(!c.self_signed);
}

#[test]
fn version_1_certificate() {
    let c = parsed(MYSQL_V1);
    assert_eq!(c.version, Some(1));
    assert_eq!(c.serial, "01");
    assert_eq!(c.subject, "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU");
    assert_eq!(c.subject_cn, None);
    assert_eq!(c.is_ca, None);
    assert_eq!(c.sig_alg, "sha256WithRSAEncryption");
    // Subject == issuer, but the signature does NOT verify with the certificate's own
    // key (checked by hand: `openssl dgst -sha256 -verify` on the TBS bytes fails; a
    // plain `openssl verify` hides this because it skips a trust anchor's own
    // signature). It was issued by a different key under the same name.
    assert_eq!(c.subject, c.issuer);
    assert!(!c.self_signed);
    assert_eq!(c.not_after_us, Some(1_851_885_370 * S));
}

#[test]
fn escaped_comma_in_organisation() {
    let c = parsed(AMAZON);
    assert_eq!(c.serial, "2555");
    assert_eq!(
        c.subject,
        "CN=Amazon RDS us-east-1 2019 CA,OU=Amazon RDS,O=Amazon Web Services\\, Inc.,L=Seattle,ST=Washington,C=US"
    );
    // The column holds the value itself, not its escaped form.
    assert_eq!(c.subject_org.as_deref(), Some("Amazon Web Services, Inc."));
    assert_eq!((c.is_ca, c.path_len), (Some(true), Some(0)));
}

#[test]
fn scts_and_extended_key_usage_order() {
    let c = parsed(LILAWELT);
    assert_eq!(c.sct_count, 4);
    assert_eq!(c.ext_key_usage, ["clientAuth", "serverAuth"]);
    assert_eq!(c.key_usage, ["digitalSignature", "keyEncipherment"]);
    assert_eq!(c.san_dns, ["lilawelt.net"]);
    assert_eq!(c.serial, "38C175340AF8A2D022A32CD075EBD0F6");
    assert_eq!(c.sct_count, 4);
    assert_eq!(parsed(PANTZ).sct_count, 0);
}

#[test]
fn explicit_curve_parameters() {
    let c = parsed(CURVEBALL);
    assert_eq!(c.key_type.as_deref(), Some("ec"));
    assert_eq!(c.curve, None);
    assert_eq!(c.key_bits, Some(384));
    assert_eq!(c.serial, "62344031F7AB03E6F9327CDE33419CF7FB09DF94");
    assert_eq!(c.subject, "CN=INFIGO,O=INFIGO IS,ST=Zagreb,C=HR");
    assert_eq!(c.not_before_us, Some(1_579_183_250 * S));
}

#[test]
fn unparsable_certificate_is_kept() {
    // UTCTime with a "+0530" offset: not DER, rejected by x509-parser.
    let mut counters = Counters::new();
    let c = parse_certificate_counted(TZ_OFFSET, &CertLimits::default(), &mut counters);
    assert!(c.parse_error.is_some());
    assert_eq!(c.der_len, 755);
    assert_eq!(
        c.sha256,
        "041a14702172a631efde8ad381aae3f20b9d8765fa03a3922b791286dacfe41d"
    );
    // The serial still shows, as in Arkime (`1234abcd`) and tshark (`0x1234abcd`).
    assert_eq!(c.serial, "1234ABCD");
    assert_eq!(c.version, Some(3));
    assert_eq!(c.subject, "");
    assert_eq!(counters.get("certs.parse_error"), 1);
}

#[test]
fn truncated_and_empty_inputs() {
    for n in [0, 1, 2, 4, 100, PANTZ.len() / 2, PANTZ.len() - 1] {
        let c = parse_certificate(&PANTZ[..n]);
        assert!(c.parse_error.is_some(), "length {n}");
        assert_eq!(c.der_len as usize, n);
        assert_eq!(c.sha256, cert_sha256_hex(&PANTZ[..n]));
    }
}

#[test]
fn bad_outer_length_is_an_error() {
    let mut bad = PANTZ.to_vec();
    // 30 82 LL LL: claim one byte more than there is.
    bad[3] = bad[3].wrapping_add(1);
    assert!(parse_certificate(&bad).parse_error.is_some());
}

#[test]
fn trailing_bytes_are_counted_not_fatal() {
    let mut der = PANTZ.to_vec();
    der.extend_from_slice(&[0, 0]);
    let mut counters = Counters::new();
    let c = parse_certificate_counted(&der, &CertLimits::default(), &mut counters);
    assert_eq!(c.parse_error, None);
    assert_eq!(counters.get("certs.trailing_data"), 1);
}

#[test]
fn unknown_algorithm_oids_are_kept_dotted() {
    // Rewrite the last arc of the outer signatureAlgorithm OID (offset 810) and of the
    // SPKI algorithm OID (offset 297) from 5 / 1 to 99: same lengths, unknown OIDs.
    let mut der = ADDTRUST.to_vec();
    assert_eq!(der[810 + 8], 0x05);
    assert_eq!(der[297 + 8], 0x01);
    der[810 + 8] = 99;
    der[297 + 8] = 99;
    let c = parsed(&der);
    assert_eq!(c.sig_alg, "1.2.840.113549.1.1.99");
    assert_eq!(c.key_type.as_deref(), Some("1.2.840.113549.1.1.99"));
    assert_eq!(c.key_bits, None);
    // Unverifiable: falls back to names equal and AKI == SKI.
    assert!(c.self_signed);
}

#[test]
fn list_limit_binds_and_counts() {
    let mut counters = Counters::new();
    let limits = CertLimits {
        max_list_entries: 1,
    };
    let c = parse_certificate_counted(PANTZ, &limits, &mut counters);
    assert_eq!(c.san_dns, ["pantz.org"]);
    assert_eq!(c.ext_key_usage, ["serverAuth"]);
    assert_eq!(counters.get("certs.list_limit"), 2);
}

#[test]
fn ip_addresses() {
    assert_eq!(ip_string(&[192, 0, 2, 1]), "192.0.2.1");
    let mut v6 = [0u8; 16];
    v6[0] = 0x20;
    v6[1] = 0x01;
    v6[2] = 0x0d;
    v6[3] = 0xb8;
    v6[15] = 1;
    assert_eq!(ip_string(&v6), "2001:db8::1");
    assert_eq!(ip_string(&[10, 0, 0, 0, 255, 0, 0, 0]), "#0a000000ff000000");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let c = parse_certificate(&bytes);
        prop_assert_eq!(c.der_len as usize, bytes.len());
    }

    #[test]
    fn mutated_certificates_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let base = [PANTZ, RDP_LICENSE, LILAWELT, CURVEBALL][which];
        let mut der = base.to_vec();
        for (pos, val) in edits {
            let i = pos % der.len();
            der[i] = val;
        }
        let c = parse_certificate(&der);
        prop_assert_eq!(c.sha256.len(), 64);
    }
}

#[test]
fn sha256_memo_agrees_with_the_hash_and_starts_over_when_full() {
    use crate::certs::{cert_sha256_hex, cert_sha256_hex_memo, SHA256_MEMO_BYTES};
    let small: Vec<Vec<u8>> = (0u8..20).map(|i| vec![i; 1500]).collect();
    for _ in 0..3 {
        for der in &small {
            assert_eq!(cert_sha256_hex_memo(der), cert_sha256_hex(der));
        }
    }
    // Enough distinct large inputs to overflow the memo several times over.
    let big = SHA256_MEMO_BYTES / 3 + 1;
    for i in 0u8..10 {
        let der = vec![i; big];
        assert_eq!(cert_sha256_hex_memo(&der), cert_sha256_hex(&der));
    }
    let oversized = vec![7u8; SHA256_MEMO_BYTES + 1];
    assert_eq!(
        cert_sha256_hex_memo(&oversized),
        cert_sha256_hex(&oversized)
    );
    assert_eq!(cert_sha256_hex_memo(&small[3]), cert_sha256_hex(&small[3]));
    assert_eq!(cert_sha256_hex_memo(&[]), cert_sha256_hex(&[]));
}
