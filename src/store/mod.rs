//! Object storage: where `--out s3://…` writes and `read s3://…` reads.
//!
//! One API over S3 (and S3-compatible stores: MinIO, Ceph, R2), Google Cloud Storage,
//! Azure Blob Storage and local files, through the `object_store` crate, which brings
//! the credential chains (environment, web identity, container and instance metadata),
//! retries with backoff, and multipart upload. Nothing here talks HTTP by hand.
//!
//! Layers:
//! - [`Store`]: a bucket (or folder) and a prefix in it, opened from a URL
//!   ([`Store::open`]); keys below the prefix are relative paths with `/`.
//! - Uploads ([`Store::upload_file`]) are all-or-nothing: a small file is one `PUT`, a
//!   large one a multipart upload completed only after every part arrived (aborted on
//!   failure). Either way an object becomes visible only when complete, and uploading
//!   the same file to the same key again replaces it with the same bytes, so a retry
//!   never duplicates rows.
//! - Downloads ([`Store::reader`]) stream an object into a `std::io::Read` without a
//!   local copy.
//! - [`spool`]: live windows written locally first, then uploaded in order by a
//!   thread of their own, surviving a store that is down or slow.
//!
//! The crate is async; one small runtime ([`runtime`], threads `tlstap-io-*`) drives it
//! for the synchronous pipeline.
//!
//! Limits: requests time out after [`REQUEST_TIMEOUT`] (connect [`CONNECT_TIMEOUT`])
//! and are retried by the crate up to [`MAX_RETRIES`] times within [`RETRY_TIMEOUT`];
//! files larger than [`MULTIPART_THRESHOLD`] are sent in [`PART_SIZE`] parts, at most
//! [`PART_CONCURRENCY`] at once.

pub mod delta;
pub mod spool;

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

/// Our request and connect timeouts, unless the environment set them (`AWS_TIMEOUT`,
/// `GOOGLE_CONNECT_TIMEOUT`, ...). The builders' other HTTP settings (proxy, plain
/// HTTP, certificates) stay as the environment set them.
macro_rules! default_timeouts {
    ($b:ident, $k:ident) => {
        for (key, value) in [
            (ClientConfigKey::Timeout, REQUEST_TIMEOUT),
            (ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT),
        ] {
            if $b.get_config_value(&$k::Client(key)).is_none() {
                $b = $b.with_config($k::Client(key), format!("{}s", value.as_secs()));
            }
        }
    };
}

/// Connecting to the store gives up after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One request (a `PUT` of a part, a `GET`'s headers) gives up after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Retries of one failed request (by the crate, with exponential backoff).
pub const MAX_RETRIES: usize = 4;
/// Retries of one request stop after this long.
pub const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// Files larger than this are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Size of one part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of one upload in flight at once (memory: this many parts).
pub const PART_CONCURRENCY: usize = 4;

/// The URL schemes `--out` and `read` accept as object storage.
pub const SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "abfs", "abfss", "file"];

/// Options that are not in the URL or the environment.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible store (`--s3-endpoint`; otherwise
    /// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT` from the environment).
    pub s3_endpoint: Option<String>,
}

/// Why the store could not be used. Shown as "URL: reason" ([`StoreError::reason`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{url}: {}", self.reason())]
    BadUrl { url: String, reason: String },
    #[error("{url}: {}", self.reason())]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{path}: {}", self.reason())]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{url}: {}", self.reason())]
    Timeout { url: String, secs: u64 },
}

/// The store's message, plus what to set when the client found no credentials and fell
/// back to the cloud's instance metadata service (which answers nothing off a cloud
/// machine: a new user's most likely first error).
fn explain(url: &str, e: &object_store::Error) -> String {
    let text = e.to_string();
    if !(text.contains("169.254.169.254") || text.contains("metadata.google.internal")) {
        return text;
    }
    let hint = match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("s3" | "s3a") => {
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; \
             AWS_SKIP_SIGNATURE=true for a public bucket"
        }
        Some("gs") => "GOOGLE_APPLICATION_CREDENTIALS (a service account key file)",
        _ => "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY",
    };
    format!(
        "no credentials found in the environment, and no cloud instance metadata service \
         answered (set {hint}): {text}"
    )
}

impl StoreError {
    /// What went wrong, without the URL or path the message starts with (for callers
    /// that name it themselves).
    pub fn reason(&self) -> String {
        match self {
            StoreError::BadUrl { reason, .. } => {
                format!("not a storage URL this build knows ({reason})")
            }
            StoreError::Store { url, source } => explain(url, source),
            StoreError::Local { source, .. } => source.to_string(),
            StoreError::Timeout { secs, .. } => format!("gave up after {secs} s"),
        }
    }

    /// The object or prefix does not exist (as opposed to: the store failed).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::Store {
                source: object_store::Error::NotFound { .. },
                ..
            }
        )
    }
}

/// The runtime that drives every store request (two threads, `tlstap-io-*`), started
/// on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tlstap-io")
            .enable_all()
            .build()
            .expect("starting the object-storage runtime")
    })
}

/// `s` names object storage (`s3://…`, `gs://…`, `az://…`, `file://…`), not a local
/// path.
pub fn is_url(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// A bucket (or local folder) and a prefix in it.
#[derive(Debug, Clone)]
pub struct Store {
    /// The URL as given, without a trailing `/` (`s3://bucket/prefix`).
    url: String,
    inner: Arc<dyn ObjectStore>,
    prefix: ObjPath,
}

impl Store {
    /// Open `url` to read. Credentials and region come from the standard environment
    /// and credential chains of each cloud (for S3: `AWS_ACCESS_KEY_ID`, `AWS_REGION`,
    /// web identity, container and instance metadata); nothing is contacted yet.
    pub fn open(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        Self::open_with(url, opts, false)
    }

    /// Open `url` to write: as [`open`](Self::open), and a `file://` folder is
    /// created when missing.
    pub fn create(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        Self::open_with(url, opts, true)
    }

    fn open_with(url: &str, opts: &StoreOptions, create: bool) -> Result<Store, StoreError> {
        let url = url.trim_end_matches('/').to_owned();
        let bad = |reason: String| StoreError::BadUrl {
            url: url.clone(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected SCHEME://…".into()))?;
        let scheme = scheme.to_ascii_lowercase();
        let retry = RetryConfig {
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let store_err = |source| StoreError::Store {
            url: url.clone(),
            source,
        };
        let (inner, prefix): (Arc<dyn ObjectStore>, &str) = match scheme.as_str() {
            "s3" | "s3a" => {
                let (bucket, prefix) = bucket_and_prefix(rest).map_err(bad)?;
                use object_store::aws::AmazonS3ConfigKey as K;
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                default_timeouts!(b, K);
                if let Some(ep) = &opts.s3_endpoint {
                    b = b.with_endpoint(ep.clone());
                }
                // A plain-HTTP endpoint (a MinIO or moto on a private network) is
                // what the user asked for by writing http://.
                let endpoint = opts
                    .s3_endpoint
                    .clone()
                    .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
                    .or_else(|| std::env::var("AWS_ENDPOINT").ok());
                if endpoint.is_some_and(|e| e.starts_with("http://")) {
                    b = b.with_allow_http(true);
                }
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    b = b.with_region("us-east-1");
                }
                (Arc::new(b.build().map_err(store_err)?), prefix)
            }
            "gs" => {
                let (bucket, prefix) = bucket_and_prefix(rest).map_err(bad)?;
                use object_store::gcp::GoogleConfigKey as K;
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                default_timeouts!(b, K);
                // A plain-HTTP endpoint (an emulator) is what GOOGLE_BASE_URL asked for.
                if b.get_config_value(&K::BaseUrl)
                    .is_some_and(|u| u.starts_with("http://"))
                {
                    b = b.with_config(K::Client(ClientConfigKey::AllowHttp), "true");
                }
                (Arc::new(b.build().map_err(store_err)?), prefix)
            }
            "az" | "abfs" | "abfss" => {
                // az://container/prefix (account from AZURE_STORAGE_ACCOUNT_NAME), or
                // abfss://container@account.dfs.core.windows.net/prefix.
                use object_store::azure::AzureConfigKey as K;
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url.clone())
                    .with_retry(retry);
                default_timeouts!(b, K);
                if std::env::var("AZURE_STORAGE_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
                    b = b.with_config(K::Client(ClientConfigKey::AllowHttp), "true");
                }
                let prefix = rest.split_once('/').map_or("", |(_, p)| p);
                (Arc::new(b.build().map_err(store_err)?), prefix)
            }
            "file" => {
                let path = rest;
                if !path.starts_with('/') {
                    return Err(bad(
                        "file:// needs an absolute path (file:///data/out)".into()
                    ));
                }
                let local = |source| StoreError::Local {
                    path: path.to_owned(),
                    source,
                };
                if create {
                    std::fs::create_dir_all(path).map_err(local)?;
                } else {
                    std::fs::metadata(path).map_err(local)?;
                }
                let fs = object_store::local::LocalFileSystem::new_with_prefix(path)
                    .map_err(store_err)?;
                (Arc::new(fs), "")
            }
            other => return Err(bad(format!("unknown scheme {other:?}"))),
        };
        let prefix = ObjPath::parse(prefix).map_err(|e| bad(e.to_string()))?;
        Ok(Store { url, inner, prefix })
    }

    /// A local folder as a store (`file://` of its absolute path), to write into.
    pub fn local_folder(dir: &Path) -> Result<Store, StoreError> {
        let abs = std::fs::canonicalize(dir).map_err(|source| StoreError::Local {
            path: dir.display().to_string(),
            source,
        })?;
        Self::create(
            &format!("file://{}", abs.display()),
            &StoreOptions::default(),
        )
    }

    /// The URL as given (no trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, rel: &str) -> ObjPath {
        let mut key = self.prefix.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            key = key.join(part);
        }
        key
    }

    /// The URL of `rel` below the prefix.
    pub fn url_of(&self, rel: &str) -> String {
        format!("{}/{}", self.url, rel.trim_start_matches('/'))
    }

    fn err(&self, rel: &str) -> impl FnOnce(object_store::Error) -> StoreError + '_ {
        let url = self.url_of(rel);
        move |source| StoreError::Store { url, source }
    }

    /// Run `fut` on the runtime, giving up after `limit`.
    fn block_on<T>(
        &self,
        rel: &str,
        limit: Duration,
        fut: impl std::future::Future<Output = Result<T, object_store::Error>>,
    ) -> Result<T, StoreError> {
        match runtime().block_on(async { tokio::time::timeout(limit, fut).await }) {
            Ok(r) => r.map_err(self.err(rel)),
            Err(_) => Err(StoreError::Timeout {
                url: self.url_of(rel),
                secs: limit.as_secs(),
            }),
        }
    }

    /// Upload the local file `local` as `rel`, all or nothing, within `limit`.
    /// Returns the bytes sent.
    pub fn upload_file(&self, local: &Path, rel: &str, limit: Duration) -> Result<u64, StoreError> {
        let local_err = |source| StoreError::Local {
            path: local.display().to_string(),
            source,
        };
        let len = std::fs::metadata(local).map_err(local_err)?.len();
        let key = self.key(rel);
        if len <= MULTIPART_THRESHOLD {
            let bytes = std::fs::read(local).map_err(local_err)?;
            self.block_on(rel, limit, self.inner.put(&key, PutPayload::from(bytes)))?;
            return Ok(len);
        }
        let mut file = std::fs::File::open(local).map_err(local_err)?;
        let inner = Arc::clone(&self.inner);
        let fut = async move {
            let upload = inner.put_multipart(&key).await?;
            let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(object_store::Error::Generic {
                            store: "local",
                            source: Box::new(e),
                        });
                    }
                };
                if let Err(e) = w.wait_for_capacity(PART_CONCURRENCY).await {
                    let _ = w.abort().await;
                    return Err(e);
                }
                w.write(&buf[..n]);
            }
            w.finish().await
        };
        self.block_on(rel, limit, fut)?;
        Ok(len)
    }

    /// Write `bytes` as `rel` (one `PUT`).
    pub fn put(&self, rel: &str, bytes: Vec<u8>, limit: Duration) -> Result<(), StoreError> {
        self.block_on(
            rel,
            limit,
            self.inner.put(&self.key(rel), PutPayload::from(bytes)),
        )?;
        Ok(())
    }

    /// Delete `rel`; one that does not exist is not an error.
    pub fn delete(&self, rel: &str, limit: Duration) -> Result<(), StoreError> {
        match self.block_on(rel, limit, self.inner.delete(&self.key(rel))) {
            Err(e) if e.is_not_found() => Ok(()),
            r => r,
        }
    }

    /// Every object below the prefix, as `(relative key, size)`, sorted by key.
    pub fn list(&self, limit: Duration) -> Result<Vec<(String, u64)>, StoreError> {
        self.list_in("", limit)
    }

    /// The objects below the folder `rel_dir` (the whole prefix for `""`), as
    /// `(key relative to the prefix, size)`, sorted by key.
    pub fn list_in(
        &self,
        rel_dir: &str,
        limit: Duration,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out: Vec<(String, u64)> = self
            .list_below(rel_dir, None, limit)?
            .into_iter()
            .filter_map(|m| {
                let parts = m.location.prefix_match(&self.prefix)?;
                let rel: Vec<String> = parts.map(|p| p.as_ref().to_owned()).collect();
                Some((rel.join("/"), m.size))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The objects below `rel_dir` (the whole prefix for `""`), after `after` when
    /// given, unsorted.
    fn list_below(
        &self,
        rel_dir: &str,
        after: Option<&str>,
        limit: Duration,
    ) -> Result<Vec<object_store::ObjectMeta>, StoreError> {
        let inner = Arc::clone(&self.inner);
        let dir = self.key(rel_dir);
        let offset = after.map(|a| self.key(&format!("{rel_dir}/{a}")));
        self.block_on(rel_dir, limit, async move {
            let dir = (!dir.as_ref().is_empty()).then_some(dir);
            let stream = match &offset {
                Some(o) => inner.list_with_offset(dir.as_ref(), o),
                None => inner.list(dir.as_ref()),
            };
            stream.try_collect().await
        })
    }

    /// Write `bytes` as `rel` only if no object has that name (S3 `If-None-Match: *`,
    /// GCS and Azure preconditions, an exclusive create on a local file system): the
    /// atomic step of a table commit. `Ok(false)` when the name was taken.
    pub fn put_if_absent(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        limit: Duration,
    ) -> Result<bool, StoreError> {
        let opts = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        let key = self.key(rel);
        let fut = self.inner.put_opts(&key, PutPayload::from(bytes), opts);
        match self.block_on(rel, limit, fut) {
            Ok(_) => Ok(true),
            Err(StoreError::Store {
                source: object_store::Error::AlreadyExists { .. },
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The whole object `rel` in memory (small objects: table log entries).
    pub fn get_bytes(&self, rel: &str, limit: Duration) -> Result<Vec<u8>, StoreError> {
        let inner = Arc::clone(&self.inner);
        let key = self.key(rel);
        let b = self.block_on(
            rel,
            limit,
            async move { inner.get(&key).await?.bytes().await },
        )?;
        Ok(b.to_vec())
    }

    /// Names (last path part) of the objects directly or indirectly below `rel_dir`
    /// that sort after `after` (when given), sorted.
    pub fn list_names(
        &self,
        rel_dir: &str,
        after: Option<&str>,
        limit: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .list_below(rel_dir, after, limit)?
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Size of `rel`, or `None` when it does not exist.
    pub fn size(&self, rel: &str, limit: Duration) -> Result<Option<u64>, StoreError> {
        match self.block_on(rel, limit, self.inner.head(&self.key(rel))) {
            Ok(m) => Ok(Some(m.size)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stream `rel` (the whole object, one `GET`) as a blocking reader, without a
    /// local copy. Read errors surface as `std::io::Error`s naming the URL.
    pub fn reader(&self, rel: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let got = self.block_on(rel, REQUEST_TIMEOUT, self.inner.get(&self.key(rel)))?;
        let url = self.url_of(rel);
        let stream = got
            .into_stream()
            .map_err(move |e| std::io::Error::other(format!("{url}: {e}")));
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
            reader,
            runtime().handle().clone(),
        )))
    }
}

/// `path` below `root` as an object key (its parts joined by `/`); `None` when it is
/// not below `root`.
pub fn key_below(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

/// Each of `files` below `root` with its key ([`key_below`]); others are left out.
pub fn keys_below<'a, P: AsRef<Path>>(root: &Path, files: &'a [P]) -> Vec<(String, &'a Path)> {
    files
        .iter()
        .filter_map(|p| Some((key_below(root, p.as_ref())?, p.as_ref())))
        .collect()
}

/// `bucket/prefix/…` → `("bucket", "prefix/…")`.
fn bucket_and_prefix(rest: &str) -> Result<(&str, &str), String> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("no bucket name".into());
    }
    Ok((bucket, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_say_what_to_set() {
        let imds = || object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://169.254.169.254/latest/api/token".into(),
        };
        let e = StoreError::Store {
            url: "s3://b/p".into(),
            source: imds(),
        };
        let shown = e.to_string();
        assert!(
            shown.starts_with("s3://b/p: no credentials found"),
            "{shown}"
        );
        assert!(
            shown.contains("AWS_ACCESS_KEY_ID") && shown.contains("169.254"),
            "{shown}"
        );
        assert!(!e.reason().contains("s3://b/p"));
        let az = explain("az://c/p", &imds());
        assert!(az.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{az}");
        assert!(explain("gs://b/p", &imds()).contains("GOOGLE_APPLICATION_CREDENTIALS"));
        // Any other failure is shown as the store gave it.
        let other = object_store::Error::Generic {
            store: "S3",
            source: "connection refused".into(),
        };
        assert_eq!(explain("s3://b/p", &other), other.to_string());
    }

    #[test]
    fn urls_are_told_from_paths() {
        for u in [
            "s3://b/p",
            "S3://b",
            "gs://b/x",
            "az://c/p",
            "file:///tmp/x",
            "abfss://c@a.dfs.core.windows.net/p",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in ["out", "/tmp/out", "./s3:/x", "http://example.com/x", "-"] {
            assert!(!is_url(p), "{p}");
        }
        assert!(matches!(
            Store::open("s3:///nobucket", &StoreOptions::default()),
            Err(StoreError::BadUrl { .. })
        ));
        assert!(matches!(
            Store::open("file://relative/x", &StoreOptions::default()),
            Err(StoreError::BadUrl { .. })
        ));
    }

    #[test]
    fn local_store_round_trip_small_and_multipart() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/lake/", dir.path().display());
        assert!(
            Store::open(&url, &StoreOptions::default()).is_err(),
            "reading creates nothing"
        );
        let store = Store::create(&url, &StoreOptions::default()).unwrap();
        assert_eq!(
            store.url_of("a/b.parquet"),
            format!("file://{}/lake/a/b.parquet", dir.path().display())
        );
        let small = dir.path().join("small");
        std::fs::write(&small, b"hello").unwrap();
        let big = dir.path().join("big");
        let big_bytes: Vec<u8> = (0..(MULTIPART_THRESHOLD as usize + PART_SIZE + 7))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&big, &big_bytes).unwrap();
        let t = Duration::from_secs(30);
        assert_eq!(store.upload_file(&small, "x/small.bin", t).unwrap(), 5);
        store.upload_file(&big, "x/y/big.bin", t).unwrap();
        assert_eq!(
            store.list(t).unwrap(),
            vec![
                ("x/small.bin".to_owned(), 5),
                ("x/y/big.bin".to_owned(), big_bytes.len() as u64)
            ]
        );
        let mut back = Vec::new();
        store
            .reader("x/y/big.bin")
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == big_bytes);
        assert_eq!(store.size("nope", t).unwrap(), None);
        store.delete("x/small.bin", t).unwrap();
        store.delete("x/small.bin", t).unwrap();
        assert_eq!(store.list(t).unwrap().len(), 1);
        assert!(store
            .reader("missing")
            .err()
            .is_some_and(|e| e.is_not_found()));
    }
}
