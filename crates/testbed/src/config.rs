//! The validated settings shared by the API, the workers and the stack, and the secrets they read
//! from the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::defects::DefectSet;

/// The default artifact bucket.
pub const DEFAULT_BUCKET: &str = "shakedown-artifacts";
/// The default time a worker spends on one step of a run.
pub const DEFAULT_STEP_MS: u64 = 30;
/// The default lease a worker holds on a claimed run.
pub const DEFAULT_LEASE_MS: u64 = 2000;
/// The default time the canary waits for its upstream.
pub const DEFAULT_CANARY_TIMEOUT_MS: u64 = 5000;

/// Where run packages are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactTarget {
    /// A local directory holding one folder per bucket.
    Local {
        /// The directory (`<data-dir>/artifacts` by default).
        root: PathBuf,
    },
    /// An S3-compatible endpoint (path-style requests, plain HTTP allowed).
    S3 {
        /// The endpoint URL, e.g. `http://127.0.0.1:9000`.
        endpoint: String,
    },
}

/// Everything a testbed process needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data directory (SQLite file, outage marker, local artifacts).
    pub data_dir: PathBuf,
    /// The database URL (`sqlite://...` or `postgres://...`).
    pub database_url: String,
    /// Where packages go.
    pub artifacts: ArtifactTarget,
    /// The bucket name.
    pub bucket: String,
    /// The seeded defects.
    pub defects: DefectSet,
    /// How long one work step takes.
    pub step: Duration,
    /// How long a claimed run's lease lasts without a heartbeat.
    pub lease: Duration,
    /// The Redis URL (`redis://...`) where workers publish their boot info, if any.
    pub redis_url: Option<String>,
    /// Where the canary endpoint sends its upstream call.
    pub canary: CanarySettings,
    /// Which reads of runs the API serves (`--runs-api`).
    pub runs_api: RunsApi,
    /// The secrets.
    pub secrets: Secrets,
}

/// The canary's upstream (an LLM-like provider) and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanarySettings {
    /// The upstream URL; `None` means the API's own `POST /api/v1/canary/upstream`.
    pub upstream: Option<String>,
    /// The timeout of one upstream call (connect and answer).
    pub timeout: Duration,
}

/// Which reads of runs the API serves: `--runs-api by-key` (the default: by id and by key) or
/// `--runs-api by-id` (by id only; `GET /api/v1/runs?key=K` answers 404).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunsApi {
    /// `GET /api/v1/runs/{id}` and `GET /api/v1/runs?key=K`.
    #[default]
    ByKey,
    /// `GET /api/v1/runs/{id}` only: the list by key is switched off.
    ById,
}

impl RunsApi {
    /// The command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunsApi::ByKey => "by-key",
            RunsApi::ById => "by-id",
        }
    }

    /// Whether `GET /api/v1/runs?key=K` is served.
    pub fn lists_by_key(self) -> bool {
        self == RunsApi::ByKey
    }
}

impl std::fmt::Display for RunsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunsApi {
    type Err = String;

    /// `by-key` or `by-id`; an empty value (as a plan's `${VAR:-}` gives) is the default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "by-key" => Ok(RunsApi::ByKey),
            "by-id" => Ok(RunsApi::ById),
            other => Err(format!("expected by-key or by-id, got {other:?}")),
        }
    }
}

impl Settings {
    /// The default SQLite URL for a data directory.
    pub fn default_database_url(data_dir: &Path) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("testbed.db").display()
        )
    }

    /// The default local artifact root for a data directory.
    pub fn default_artifact_root(data_dir: &Path) -> PathBuf {
        data_dir.join("artifacts")
    }

    /// The bucket that the `wrong-bucket` defect writes to.
    pub fn other_bucket(&self) -> String {
        format!("{}-other", self.bucket)
    }

    /// The database URL with any password replaced by `***`.
    pub fn redacted_database_url(&self) -> String {
        redact_url_password(&self.database_url)
    }

    /// The Redis URL with any password replaced by `***`.
    pub fn redacted_redis_url(&self) -> Option<String> {
        self.redis_url.as_deref().map(redact_url_password)
    }

    /// A description of the artifact store: a directory, or an `s3://` URI.
    pub fn artifacts_description(&self) -> String {
        match &self.artifacts {
            ArtifactTarget::Local { root } => root.display().to_string(),
            ArtifactTarget::S3 { .. } => format!("s3://{}/", self.bucket),
        }
    }
}

/// Replace the password of `scheme://user:password@host/...` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}{tail}", &authority[at..]),
        None => url.to_owned(),
    }
}

/// The secrets, read from `TESTBED_OPS_KEY`, `TESTBED_JWT_SECRET` and `TESTBED_PASSWORD`.
#[derive(Clone)]
pub struct Secrets {
    /// The key the ops endpoints expect in `X-API-Key`.
    pub ops_key: String,
    /// The HS256 secret for access tokens.
    pub jwt_secret: String,
    /// The login password.
    pub password: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Read the secrets from the environment, with the documented defaults.
    pub fn from_env() -> Secrets {
        let read = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Secrets {
            ops_key: read("TESTBED_OPS_KEY", "testbed-ops-key"),
            jwt_secret: read("TESTBED_JWT_SECRET", "testbed-jwt-secret"),
            password: read("TESTBED_PASSWORD", "testbed-password"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact_url_password("postgres://app:s3cret@127.0.0.1:5432/db"),
            "postgres://app:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url_password("postgres://app@127.0.0.1/db"),
            "postgres://app@127.0.0.1/db"
        );
        assert_eq!(
            redact_url_password("sqlite:///tmp/x.db"),
            "sqlite:///tmp/x.db"
        );
    }

    #[test]
    fn runs_api_modes_parse() {
        assert_eq!("by-id".parse::<RunsApi>(), Ok(RunsApi::ById));
        assert_eq!("by-key".parse::<RunsApi>(), Ok(RunsApi::ByKey));
        assert_eq!("".parse::<RunsApi>(), Ok(RunsApi::ByKey));
        assert!("by-name".parse::<RunsApi>().unwrap_err().contains("by-id"));
        for mode in [RunsApi::ByKey, RunsApi::ById] {
            assert_eq!(mode.as_str().parse::<RunsApi>(), Ok(mode));
        }
        assert!(!RunsApi::ById.lists_by_key());
    }

    #[test]
    fn secrets_debug_hides_values() {
        let secrets = Secrets {
            ops_key: "a".into(),
            jwt_secret: "b".into(),
            password: "c".into(),
        };
        assert_eq!(format!("{secrets:?}"), "Secrets { .. }");
    }
}
