//! The artifact store: run packages written with `object_store`, to a local directory (one folder
//! per bucket) or to an S3-compatible endpoint (path-style requests, plain HTTP allowed).
//!
//! # Layout (what an artifact check points at)
//!
//! A completed run's package is five objects under `<bucket>/runs/<run-id>/`: `result.json`,
//! `metrics.csv`, `log.txt`, `output.bin` and `manifest.json` (see [`crate::package`]). The bucket
//! is `--s3-bucket` (default [`DEFAULT_BUCKET`](crate::config::DEFAULT_BUCKET),
//! `shakedown-artifacts`).
//!
//! - **Local** (no `--s3-endpoint`): the artifact root is `<data-dir>/artifacts`
//!   ([`Settings::default_artifact_root`]) and each bucket is a folder in it, so a package lives
//!   in `<data-dir>/artifacts/<bucket>/runs/<run-id>/`; with the defaults,
//!   `<data-dir>/artifacts/shakedown-artifacts/runs/<run-id>/manifest.json`. As an
//!   `object_store` local store rooted at `<data-dir>/artifacts`, the object keys are
//!   `<bucket>/runs/<run-id>/<file>`. Both bucket folders are created when the store opens, so
//!   listing either one works before any package is written. While a write is in flight,
//!   `object_store` stages it under a temporary name in the same folder (`<file>#<n>`); a checker
//!   lists only the five names above.
//! - **S3** (`--s3-endpoint URL`): bucket `<bucket>`, keys `runs/<run-id>/<file>`.
//!
//! The other bucket, the one the `wrong-bucket` defect writes every fifth package of each
//! worker to, is `<bucket>-other` ([`Settings::other_bucket`]): locally
//! `<data-dir>/artifacts/<bucket>-other/runs/<run-id>/` (by default
//! `<data-dir>/artifacts/shakedown-artifacts-other/`); on S3 the bucket `<bucket>-other`, which
//! must exist. An isolation (BUCKET) check lists it and must find it empty. The API's run view
//! names `<bucket>/runs/<id>/` as the package prefix whichever bucket the package went to.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::config::{ArtifactTarget, Settings};
use crate::package::PackageFile;

/// Why the artifact store failed.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The object store reported an error.
    #[error("artifact store: {0}")]
    Store(#[from] object_store::Error),
    /// A local directory could not be prepared.
    #[error("artifact directory: {0}")]
    Io(#[from] std::io::Error),
}

/// One bucket: the store that holds it and the path prefix of the bucket inside that store.
#[derive(Debug, Clone)]
struct BucketHandle {
    name: String,
    store: Arc<dyn ObjectStore>,
    prefix: Option<Path>,
}

impl BucketHandle {
    fn path(&self, tail: &str) -> Path {
        match &self.prefix {
            Some(prefix) => Path::from(format!("{prefix}/{tail}")),
            None => Path::from(tail),
        }
    }
}

/// Where packages go: the configured bucket, and the other bucket used by `wrong-bucket`.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    main: BucketHandle,
    other: BucketHandle,
    local_root: Option<std::path::PathBuf>,
}

impl ArtifactStore {
    /// Open the store described by `settings`.
    pub fn open(settings: &Settings) -> Result<ArtifactStore, ArtifactError> {
        let other_name = settings.other_bucket();
        match &settings.artifacts {
            ArtifactTarget::Local { root } => {
                std::fs::create_dir_all(root.join(&settings.bucket))?;
                std::fs::create_dir_all(root.join(&other_name))?;
                let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(root)?);
                let handle = |name: &str| BucketHandle {
                    name: name.to_owned(),
                    store: Arc::clone(&store),
                    prefix: Some(Path::from(name)),
                };
                Ok(ArtifactStore {
                    main: handle(&settings.bucket),
                    other: handle(&other_name),
                    local_root: Some(root.clone()),
                })
            }
            ArtifactTarget::S3 { endpoint } => Ok(ArtifactStore {
                main: s3_bucket(endpoint, &settings.bucket)?,
                other: s3_bucket(endpoint, &other_name)?,
                local_root: None,
            }),
        }
    }

    /// Write a run's package under `<bucket>/runs/<id>/`, or under the other bucket when
    /// `wrong_bucket` is set. Returns the bucket written to. Rewriting a package writes the same
    /// bytes to the same names, so a re-claimed run still has exactly one package.
    pub async fn write_package(
        &self,
        run_id: &str,
        files: &[PackageFile],
        wrong_bucket: bool,
    ) -> Result<String, ArtifactError> {
        let bucket = if wrong_bucket {
            &self.other
        } else {
            &self.main
        };
        for file in files {
            let path = bucket.path(&format!("runs/{run_id}/{}", file.name));
            bucket
                .store
                .put(&path, PutPayload::from(file.bytes.clone()))
                .await?;
        }
        Ok(bucket.name.clone())
    }

    /// Check that the configured bucket is reachable.
    pub async fn probe(&self) -> Result<(), ArtifactError> {
        match &self.local_root {
            Some(root) => {
                let meta = tokio::fs::metadata(root.join(&self.main.name)).await?;
                if meta.is_dir() {
                    Ok(())
                } else {
                    Err(ArtifactError::Io(std::io::Error::other(
                        "the bucket folder is not a directory",
                    )))
                }
            }
            None => {
                let prefix = self.main.path("runs");
                self.main.store.list_with_delimiter(Some(&prefix)).await?;
                Ok(())
            }
        }
    }
}

fn s3_bucket(endpoint: &str, bucket: &str) -> Result<BucketHandle, ArtifactError> {
    let env = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    // Explicit credentials and region keep object_store from asking an instance-metadata
    // service, which a loopback-only testbed must never do.
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region(env("AWS_REGION", "us-east-1"))
        .with_access_key_id(env("AWS_ACCESS_KEY_ID", "testbed"))
        .with_secret_access_key(env("AWS_SECRET_ACCESS_KEY", "testbed"))
        .build()?;
    Ok(BucketHandle {
        name: bucket.to_owned(),
        store: Arc::new(store),
        prefix: None,
    })
}
