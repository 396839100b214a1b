//! The data-lake tests' tools: an S3-compatible server (moto's standalone server, from
//! PyPI, installed by `.ci/setup test`) that a test starts on a free loopback port and
//! that stops when dropped, and the Python checks in `tests/lake/` (pyarrow, polars,
//! DuckDB, Spark).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Credentials moto accepts (any); set on every command that talks to it.
pub const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

pub fn lake_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lake")
        .join(name)
}

/// A moto S3 server on loopback.
pub struct Moto {
    child: Option<Child>,
    pub port: u16,
}

impl Moto {
    /// Start on a free port.
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Moto::start_on(port)
    }

    /// Start on `port` (again, after [`stop`](Self::stop): moto keeps no state, so
    /// buckets must be made again).
    pub fn start_on(port: u16) -> Moto {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto_server: {e}: the lake tests need it; run `.ci/setup test`")
            });
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child: Some(child),
            port,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stop the server (its objects are gone with it).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(t.elapsed() < Duration::from_secs(10), "moto did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run `tests/lake/s3.py` against this server; its stdout.
    pub fn s3(&self, args: &[&str]) -> String {
        let o = python("s3.py", &[&[self.endpoint().as_str()], args].concat());
        assert!(
            o.status.success(),
            "s3.py {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Every key below `prefix` in `bucket`.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.s3(&["list", bucket, prefix])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run the tlstap binary under test with `env` added; it must succeed.
pub fn tlstap_ok<K, V>(env: impl IntoIterator<Item = (K, V)>, args: &[&str]) -> Output
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let o = Command::new(env!("CARGO_BIN_EXE_tlstap"))
        .args(args)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tlstap {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Run `python3 tests/lake/<script> args` with the test credentials.
pub fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg(lake_script(script))
        .args(args)
        .envs(AWS_ENV)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"))
}

/// `tests/lake/same_rows.py REF TARGET ARGS` must find the same rows.
pub fn assert_same_rows(reference: &Path, target: &str, args: &[&str]) {
    let o = python(
        "same_rows.py",
        &[&[reference.to_str().unwrap(), target], args].concat(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{target} differs from {}:\n{out}\n{}",
        reference.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `tests/lake/delta_maintain.py`: compact and checkpoint each Delta table with
/// delta-rs; one JSON object per table (see the script).
pub fn delta_maintain(tables: &[&str], endpoint: &str) -> Vec<serde_json::Value> {
    let o = python(
        "delta_maintain.py",
        &[tables, &["--endpoint", endpoint]].concat(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "delta_maintain.py {tables:?}:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}
