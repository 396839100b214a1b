//! JA3 / JA3S (Salesforce, BSD-3-Clause): decimal fields, values joined by `-`, fields
//! by `,`, MD5 of the string as lowercase hex.
//!
//! JA3 = `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats` with
//! GREASE removed from the cipher, extension and curve lists; `SSLVersion` is the
//! hello's legacy version field, not supported_versions. JA3S = `SSLVersion,Cipher,Extensions`
//! from the ServerHello legacy version; the reference `ja3s.py` removes no GREASE from the
//! server's extensions, and neither do we.

use std::fmt::Write as _;

use md5::{Digest, Md5};

use super::{is_grease, ClientParams, ServerParams};

fn join_dec<T: Copy + Into<u32>>(out: &mut String, vals: &[T], skip_grease: bool) {
    let mut first = true;
    for &v in vals {
        let n: u32 = v.into();
        if skip_grease && u16::try_from(n).is_ok_and(is_grease) {
            continue;
        }
        if !first {
            out.push('-');
        }
        first = false;
        push_dec(out, n);
    }
}

/// `n` in decimal, written directly (`write!` was a visible share of the parser pool's
/// time: it runs for every value of every hello).
fn push_dec(out: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// The JA3 string (before hashing).
pub fn ja3_string(p: &ClientParams) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{},", p.version);
    join_dec(&mut s, p.ciphers, true);
    s.push(',');
    join_dec(&mut s, p.extensions, true);
    s.push(',');
    join_dec(&mut s, p.groups, true);
    s.push(',');
    join_dec(&mut s, p.point_formats, false);
    s
}

/// JA3: MD5 of [`ja3_string`], lowercase hex.
pub fn ja3(p: &ClientParams) -> String {
    md5_hex(&ja3_string(p))
}

/// The JA3S string (before hashing).
pub fn ja3s_string(p: &ServerParams) -> String {
    let mut s = format!("{},{},", p.version, p.cipher);
    join_dec(&mut s, p.extensions, false);
    s
}

/// JA3S: MD5 of [`ja3s_string`], lowercase hex.
pub fn ja3s(p: &ServerParams) -> String {
    md5_hex(&ja3s_string(p))
}

/// MD5 of a fingerprint string, lowercase hex.
pub fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits_match_display() {
        for n in [0u32, 7, 9, 10, 99, 100, 4865, 65535, 1 << 20, u32::MAX] {
            let mut s = String::from("x");
            push_dec(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    fn nums(s: &str) -> Vec<u16> {
        s.split('-')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().unwrap())
            .collect()
    }

    /// Rebuild client params from a JA3 string, with GREASE inserted in every list.
    fn check_client(ja3str: &str, want: &str) {
        let f: Vec<&str> = ja3str.split(',').collect();
        let grease = |mut v: Vec<u16>| {
            v.insert(0, 0x0a0a);
            v.push(0xfafa);
            v
        };
        let ciphers = grease(nums(f[1]));
        let exts = grease(nums(f[2]));
        let groups = grease(nums(f[3]));
        let pf: Vec<u8> = nums(f[4]).into_iter().map(|v| v as u8).collect();
        let p = ClientParams {
            version: f[0].parse().unwrap(),
            ciphers: &ciphers,
            extensions: &exts,
            groups: &groups,
            point_formats: &pf,
            ..ClientParams::default()
        };
        assert_eq!(ja3_string(&p), ja3str);
        assert_eq!(ja3(&p), want, "{ja3str}");
    }

    fn check_server(s: &str, want: &str) {
        let f: Vec<&str> = s.split(',').collect();
        let exts = nums(f[2]);
        let p = ServerParams {
            version: f[0].parse().unwrap(),
            cipher: f[1].parse().unwrap(),
            extensions: &exts,
        };
        assert_eq!(ja3s_string(&p), s);
        assert_eq!(ja3s(&p), want, "{s}");
    }

    /// Vectors from Arkime's test sessions (corpus `_derived/arkime_tls_sessions.tsv`),
    /// which agree with tshark.
    #[test]
    fn arkime_vectors() {
        check_client(
            "769,49162-49161-49171-49172-49159-49169-51-50-57-47-53-10-5-4,0-65281-10-11-35-13172-16-5,23-24-25,0",
            "42e6d8174e649efbf780f0d9b6ef9610",
        );
        check_client(
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53-10,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-21,29-23-24,0",
            "66918128f1b9b03303d77c6f2eefd128",
        );
        check_client("771,47,,,", "fde4273625b2ac63bd01d9c500dac91b");
        check_client(
            "771,4865-4866-4867,16-0-57-17613-65037-51-27-43-10-45-13,4588-29-23-24,",
            "b2bc2d5e347cf1b325aff36e38929a37",
        );
        check_server("769,51,65281", "4f018bc336c48beb79763b308b43c6dd");
        check_server("771,47,", "5397c414a9ebeaff1bf18b70ca22eaa0");
        check_server(
            "771,49195,0-65281-11-35-16",
            "2d1eb5817ece335c24904f516ad5da12",
        );
        check_server("770,53,", "e05da289b42d4cf4dcd64a1e6152aed6");
        check_server("32530,4865,40", "b8a8031b301aef7618403061e9f33065");
    }

    #[test]
    fn grease_only_lists_and_point_formats() {
        let p = ClientParams {
            version: 0x0303,
            ciphers: &[0x2a2a],
            extensions: &[0x3a3a, 0x0a0a],
            groups: &[0xbaba],
            point_formats: &[0, 1, 2],
            supported_versions: &[0x0304],
            ..ClientParams::default()
        };
        assert_eq!(ja3_string(&p), "771,,,,0-1-2");
        // JA3S keeps whatever the server sent.
        let s = ServerParams {
            version: 0x0303,
            cipher: 0x1301,
            extensions: &[0x0a0a, 43],
        };
        assert_eq!(ja3s_string(&s), "771,4865,2570-43");
    }
}
