//! Arbitrary bytes as a DER certificate.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tlstap::certs::parse_certificate(data);
});
