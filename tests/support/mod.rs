//! Shared helpers for the conformance tests.
#![allow(dead_code)]

pub mod agreement;
pub mod cert_tally;
pub mod lake;
pub mod mirror;
pub mod oracles;
pub mod pcap;
pub mod table;

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
    skipped_note(&p);
    None
}

/// Tell a developer, once per test binary, that its corpus tests were skipped and how
/// to run them. Written straight to the stderr handle: libtest captures `eprintln!`
/// (shown only with `--nocapture`), not the handle, so this line appears in a plain
/// `cargo test` run, between the `test ... ok` lines.
fn skipped_note(p: &std::path::Path) {
    use std::io::Write as _;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nNOTE: conformance corpus not found at {}: this suite's corpus tests were \
             SKIPPED (they report `ok` without checking anything). To run them: \
             TLSTAP_CORPUS=/path/to/corpus cargo test (or put the corpus at \
             ../shared/corpus beside the repository); see README, Testing.",
            p.display()
        );
    });
}
