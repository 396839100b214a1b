//! Running the built `tlstap` from an integration test: the binary, its stderr, and
//! the repository's `testdata/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `testdata/REL` of this repository.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// Run the built binary with `args` and wait for it.
pub fn tlstap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlstap"))
        .args(args)
        .output()
        .expect("run tlstap")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
