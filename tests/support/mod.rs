//! Shared helpers for the conformance tests.
#![allow(dead_code)]

pub mod agreement;
pub mod cert_tally;
pub mod oracles;
pub mod pcap;

use std::path::PathBuf;

/// The reference corpus: `$TLSTAP_CORPUS`, else `../shared/corpus` beside the
/// repository. When it is missing, CI (`CI` set) fails loudly; a developer's
/// `cargo test` on a bare clone skips the corpus tests with a note.
pub fn corpus_root() -> Option<PathBuf> {
    let p = std::env::var_os("TLSTAP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if p.join("README.md").is_file() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "conformance corpus not found at {} (set TLSTAP_CORPUS); CI must run it",
            p.display()
        );
    }
    eprintln!(
        "note: corpus not found at {}; skipping corpus tests",
        p.display()
    );
    None
}
