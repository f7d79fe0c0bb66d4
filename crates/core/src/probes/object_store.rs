//! Opening an object-store oracle (`local` or `s3`) for one bucket, with the oracle's timeout
//! on every operation, and listing and reading objects as streams (an object larger than memory
//! is hashed chunk by chunk).

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use sha2::{Digest, Sha256};

use shakedown_plan::model::{Oracle, OracleKind, Plan};

/// Whether an operation's error means the store could not be reached (nothing was observed),
/// rather than the store answering with a refusal.
pub fn is_unreachable(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    [
        "connect",
        "no answer within",
        "timed out",
        "timeout",
        "dns",
        "broken pipe",
        "reset",
    ]
    .iter()
    .any(|needle| e.contains(needle))
}

/// One bucket of an object-store oracle.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// The bucket's name.
    pub name: String,
    store: Arc<dyn ObjectStore>,
    /// For a local oracle, the bucket is a folder inside the store.
    root: Option<Path>,
    timeout: Duration,
}

/// An object's hash and size, computed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Bytes read.
    pub size: u64,
}

impl Bucket {
    /// Open `bucket` of `oracle`. Err names what is wrong with the oracle's settings.
    pub fn open(oracle: &Oracle, bucket: &str, plan: &Plan) -> Result<Bucket, String> {
        let ctx = crate::target_context::probe_context(plan);
        let render = |t: &shakedown_plan::template::Template, what: &str| {
            t.render(&ctx)
                .map_err(|e| format!("the {what} of oracle `{}`: {e}", oracle.name))
        };
        let (store, root): (Arc<dyn ObjectStore>, Option<Path>) = match &oracle.kind {
            OracleKind::Local(dir) => {
                let dir = std::path::Path::new(dir);
                if !dir.is_dir() {
                    return Err(format!(
                        "the directory of oracle `{}` does not exist: {}",
                        oracle.name,
                        dir.display()
                    ));
                }
                let store = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| format!("oracle `{}`: {e}", oracle.name))?;
                (Arc::new(store), Some(Path::from(bucket)))
            }
            OracleKind::S3(s3) => {
                let endpoint = render(&s3.endpoint, "endpoint")?;
                let mut builder = AmazonS3Builder::new()
                    .with_endpoint(&endpoint)
                    .with_bucket_name(bucket)
                    .with_region(&s3.region)
                    .with_allow_http(true)
                    .with_virtual_hosted_style_request(false)
                    .with_retry(object_store::RetryConfig {
                        max_retries: 1,
                        retry_timeout: oracle.timeout,
                        ..Default::default()
                    });
                if let Some(key) = &s3.access_key {
                    builder = builder.with_access_key_id(render(key, "access key")?);
                }
                if let Some(key) = &s3.secret_key {
                    builder = builder.with_secret_access_key(render(key, "secret key")?);
                }
                let store = builder
                    .build()
                    .map_err(|e| format!("oracle `{}`: {e}", oracle.name))?;
                (Arc::new(store), None)
            }
            other => {
                return Err(format!(
                    "oracle `{}` is a {} oracle, not an object store",
                    oracle.name,
                    other.name()
                ));
            }
        };
        Ok(Bucket {
            name: bucket.to_string(),
            store,
            root,
            timeout: oracle.timeout,
        })
    }

    fn path(&self, key: &str) -> Path {
        let key = key.trim_start_matches('/');
        match &self.root {
            Some(root) if key.is_empty() => root.clone(),
            Some(root) => Path::from(format!("{root}/{key}")),
            None => Path::from(key),
        }
    }

    /// The key of `path` inside the bucket.
    fn key_of(&self, path: &Path) -> String {
        let full = path.to_string();
        match &self.root {
            Some(root) => full
                .strip_prefix(&format!("{root}/"))
                .unwrap_or(&full)
                .to_string(),
            None => full,
        }
    }

    /// Every object under `prefix` ("" for the whole bucket): (key, size). Bounded by the
    /// oracle's timeout.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, String> {
        let path = self.path(prefix.trim_end_matches('/'));
        let prefix_path = (!path.as_ref().is_empty()).then_some(&path);
        let listing = self
            .store
            .list(prefix_path)
            .map_ok(|meta: ObjectMeta| (self.key_of(&meta.location), meta.size))
            .try_collect::<Vec<_>>();
        match tokio::time::timeout(self.timeout.max(Duration::from_secs(30)), listing).await {
            Ok(Ok(mut objects)) => {
                objects.sort();
                Ok(objects)
            }
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(Vec::new()),
            Ok(Err(e)) => Err(format!("listing {}/{prefix}: {e}", self.name)),
            Err(_) => Err(format!(
                "listing {}/{prefix} took longer than {}s",
                self.name,
                self.timeout.max(Duration::from_secs(30)).as_secs()
            )),
        }
    }

    /// Read a whole object (at most `cap` bytes). Ok(None) when it does not exist.
    pub async fn read(&self, key: &str, cap: u64) -> Result<Option<Vec<u8>>, String> {
        let fetch = async {
            let got = match self.store.get(&self.path(key)).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            if got.meta.size > cap {
                return Err(format!("{} bytes, over the {cap}-byte cap", got.meta.size));
            }
            got.bytes()
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| e.to_string())
        };
        self.bounded(key, fetch).await
    }

    /// Hash an object as a stream. Ok(None) when it does not exist.
    pub async fn digest(&self, key: &str) -> Result<Option<Digested>, String> {
        let fetch = async {
            let got = match self.store.get(&self.path(key)).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut stream = got.into_stream();
            while let Some(chunk) = stream.try_next().await.map_err(|e| e.to_string())? {
                size += chunk.len() as u64;
                hasher.update(&chunk);
            }
            Ok(Some(Digested {
                sha256: hex::encode(hasher.finalize()),
                size,
            }))
        };
        self.bounded(key, fetch).await
    }

    /// Write an object.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let put = async {
            self.store
                .put(&self.path(key), bytes.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        self.bounded(key, put).await
    }

    /// Delete an object (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let delete = async {
            match self.store.delete(&self.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        };
        self.bounded(key, delete).await
    }

    async fn bounded<T>(
        &self,
        key: &str,
        op: impl std::future::Future<Output = Result<T, String>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(format!("{}/{key}: {e}", self.name)),
            Err(_) => Err(format!(
                "{}/{key}: no answer within {}ms",
                self.name,
                self.timeout.as_millis()
            )),
        }
    }
}
