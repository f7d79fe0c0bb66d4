//! The seal of a run directory: `manifest.json`, with the SHA-256 of every other file, the tool
//! version, the effective plan's hash, an environment fingerprint and the run's start and end
//! times, written last, after every other file of the run.
//!
//! The manifest also seals itself: its `seal` field is the SHA-256 of the manifest's own bytes
//! with that field's value set to zeros, so that editing any byte of the manifest (a time, the
//! tool version) is caught as surely as editing a report. This is integrity, not authenticity:
//! anyone who can write the directory can recompute every hash. Who sealed it is what
//! `run --sign` adds: `attestation.json` beside the manifest, signing its SHA-256
//! (`report::attest`), which is why sealing and verification leave that one file out.
//!
//! [`verify`] checks a directory against its manifest and lists every edited, missing or extra
//! file; `shakedown verify-bundle DIR` prints that list.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::report::bundle::RunDir;
use crate::report::model::ToolInfo;

/// The manifest's file name in the run directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest format's version; bump it on any incompatible change.
pub const MANIFEST_VERSION: u32 = 1;
/// The signed verdict's file name, beside the manifest. It signs the manifest, so the manifest
/// cannot list it: sealing and verification leave it out (see `report::attest`).
pub const ATTESTATION: &str = "attestation.json";
/// The name of the effective plan in the run directory, whose hash the manifest repeats.
const EFFECTIVE_PLAN: &str = "plan.toml";
/// The `seal` value while the seal itself is computed.
const ZERO_SEAL: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Version of this format.
    pub manifest_version: u32,
    /// The tool that sealed the directory.
    pub tool: ToolInfo,
    /// The run's id (as in `report.json`), if the run got far enough to have one.
    pub run_id: Option<String>,
    /// RFC 3339 time the run started.
    pub started_at: String,
    /// RFC 3339 time the run ended (just before sealing).
    pub finished_at: String,
    /// The verdict of the final report, if there is one.
    pub verdict: Option<String>,
    /// SHA-256 of the effective plan (`plan.toml`, secrets redacted), if it was written.
    pub plan_sha256: Option<String>,
    /// Where the run ran.
    pub environment: Fingerprint,
    /// Every file of the run directory except this manifest, by path relative to the directory
    /// (with `/` separators), sorted.
    pub files: Vec<FileEntry>,
    /// SHA-256 of this file's bytes with this value replaced by 64 zeros.
    pub seal: String,
}

/// An environment fingerprint: enough to tell two machines apart, nothing that identifies a
/// person. The hostname is only recorded when the plan allows it (`[evidence] hostname = true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Operating system family, e.g. `linux`.
    pub os: String,
    /// The distribution's name and version (`PRETTY_NAME` of `/etc/os-release`), if known.
    pub os_release: Option<String>,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
    /// Number of CPUs available to the process.
    pub cpus: usize,
    /// Worker threads of the runtime that sent the load: one per CPU, or half of them when every
    /// target is on this machine (see `--threads`). Absent in runs recorded before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_workers: Option<usize>,
    /// The host's name, only if the plan allows it.
    pub hostname: Option<String>,
}

/// One sealed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the run directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

/// What the engine knows about a run when it seals the directory.
#[derive(Debug, Clone, Default)]
pub struct SealInfo {
    /// The run's id.
    pub run_id: Option<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// The final verdict, if the run produced a report.
    pub verdict: Option<String>,
    /// Whether the plan allows recording the hostname.
    pub include_hostname: bool,
}

/// Why a directory could not be sealed or checked at all (as opposed to a check that found
/// problems, which is a [`Verification`]).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The manifest could not be serialised.
    #[error("cannot serialise the manifest: {0}")]
    Serialise(#[from] serde_json::Error),
}

impl Fingerprint {
    /// This machine, with the hostname only if `include_hostname`.
    pub fn current(include_hostname: bool) -> Fingerprint {
        Fingerprint {
            os: std::env::consts::OS.to_string(),
            os_release: os_release(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_workers: tokio::runtime::Handle::try_current()
                .ok()
                .map(|runtime| runtime.metrics().num_workers()),
            hostname: include_hostname.then(hostname).flatten(),
        }
    }
}

fn os_release() -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| fs::read_to_string(p).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// SHA-256 of a file, streamed, with its size.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Every regular file under `dir` except the manifest and the attestation, with its hash, sorted by path.
/// Anything that is not a regular file or a directory (a symlink, a socket) is listed with an
/// empty hash, so that verification reports it rather than following it.
fn scan(dir: &Path) -> Result<Vec<FileEntry>, ManifestError> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = fs::read_dir(&here).map_err(|source| ManifestError::Io {
            path: here.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ManifestError::Io {
                path: here.clone(),
                source,
            })?;
            let rel = relative.join(entry.file_name());
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| ManifestError::Io {
                path: path.clone(),
                source,
            })?;
            let name = rel_name(&rel);
            if kind.is_dir() {
                pending.push(rel);
            } else if name == MANIFEST || name == ATTESTATION {
                continue;
            } else if kind.is_file() {
                let (bytes, sha256) =
                    hash_file(&path).map_err(|source| ManifestError::Io { path, source })?;
                files.push(FileEntry {
                    path: name,
                    bytes,
                    sha256,
                });
            } else {
                files.push(FileEntry {
                    path: name,
                    bytes: 0,
                    sha256: String::new(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn rel_name(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Seal `dir`: hash every file in it and write `manifest.json`, atomically and last. Call it
/// once every other file of the run is final.
pub fn seal(dir: &RunDir, info: &SealInfo) -> Result<Manifest, ManifestError> {
    let files = scan(dir.path())?;
    let plan_sha256 = files
        .iter()
        .find(|f| f.path == EFFECTIVE_PLAN)
        .map(|f| f.sha256.clone());
    let mut manifest = Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: ToolInfo::current(),
        run_id: info.run_id.clone(),
        started_at: info.started_at.clone(),
        finished_at: info.finished_at.clone(),
        verdict: info.verdict.clone(),
        plan_sha256,
        environment: Fingerprint::current(info.include_hostname),
        files,
        seal: ZERO_SEAL.to_string(),
    };
    let unsealed = render(&manifest)?;
    manifest.seal = sha256_hex(unsealed.as_bytes());
    let sealed = render(&manifest)?;
    // Nothing in a manifest is secret (names, sizes, hashes, times); the redactor is only there
    // because every write goes through it. An empty redactor keeps the bytes exactly as hashed.
    dir.write_file(MANIFEST, &sealed)
        .map_err(|source| ManifestError::Io {
            path: dir.path().join(MANIFEST),
            source,
        })?;
    Ok(manifest)
}

fn render(manifest: &Manifest) -> Result<String, ManifestError> {
    let mut text = serde_json::to_string_pretty(manifest)?;
    text.push('\n');
    Ok(text)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One problem [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Finding {
    /// `manifest.json` is absent: the run was never sealed (killed before its end?).
    NoManifest,
    /// `manifest.json` is not a manifest.
    UnreadableManifest {
        /// Why.
        reason: String,
    },
    /// The manifest's own bytes were edited.
    ManifestEdited,
    /// A sealed file's contents changed.
    Edited {
        /// The file.
        path: String,
    },
    /// A sealed file is gone.
    Missing {
        /// The file.
        path: String,
    },
    /// A file that was not sealed.
    Extra {
        /// The file.
        path: String,
    },
    /// The manifest's plan hash does not match its own entry for `plan.toml`.
    PlanHashMismatch,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::NoManifest => write!(
                f,
                "no {MANIFEST}: the directory was never sealed (was the run killed before its end?)"
            ),
            Finding::UnreadableManifest { reason } => {
                write!(f, "{MANIFEST} is not a valid manifest: {reason}")
            }
            Finding::ManifestEdited => write!(f, "{MANIFEST} was edited after it was sealed"),
            Finding::Edited { path } => write!(f, "edited: {path} (its SHA-256 changed)"),
            Finding::Missing { path } => write!(f, "missing: {path}"),
            Finding::Extra { path } => write!(f, "extra: {path} (not in the manifest)"),
            Finding::PlanHashMismatch => write!(
                f,
                "the manifest's plan_sha256 does not match its entry for {EFFECTIVE_PLAN}"
            ),
        }
    }
}

/// The result of checking a directory against its manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    /// The manifest, if it could be read.
    pub manifest: Option<Manifest>,
    /// Files whose hash matched.
    pub verified: usize,
    /// Every problem, in path order (manifest problems first).
    pub findings: Vec<Finding>,
}

impl Verification {
    /// Whether the directory is exactly what was sealed.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Check `dir` against its `manifest.json`: every sealed file present with the same SHA-256, no
/// file that was not sealed, and the manifest itself unedited.
pub fn verify(dir: &Path) -> Result<Verification, ManifestError> {
    let path = dir.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if !dir.is_dir() {
                return Err(ManifestError::Io {
                    path: dir.to_path_buf(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no such directory"),
                });
            }
            return Ok(Verification {
                manifest: None,
                verified: 0,
                findings: vec![Finding::NoManifest],
            });
        }
        Err(source) => return Err(ManifestError::Io { path, source }),
    };
    let unreadable = |reason: String| Verification {
        manifest: None,
        verified: 0,
        findings: vec![Finding::UnreadableManifest { reason }],
    };
    let Ok(text) = String::from_utf8(text) else {
        return Ok(unreadable("it is not UTF-8".into()));
    };
    let manifest: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(err) => return Ok(unreadable(err.to_string())),
    };
    let mut findings = Vec::new();
    if !seal_holds(&text, &manifest.seal) {
        findings.push(Finding::ManifestEdited);
    }
    let sealed_plan = manifest
        .files
        .iter()
        .find(|f| f.path == EFFECTIVE_PLAN)
        .map(|f| &f.sha256);
    if manifest.plan_sha256.as_ref() != sealed_plan {
        findings.push(Finding::PlanHashMismatch);
    }
    let actual: BTreeMap<String, FileEntry> = scan(dir)?
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect();
    let expected: BTreeMap<&str, &FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut verified = 0;
    let mut per_file = Vec::new();
    for (path, want) in &expected {
        match actual.get(*path) {
            None => per_file.push(Finding::Missing {
                path: path.to_string(),
            }),
            Some(got) if got.sha256 != want.sha256 || got.bytes != want.bytes => {
                per_file.push(Finding::Edited {
                    path: path.to_string(),
                })
            }
            Some(_) => verified += 1,
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path.as_str()) {
            per_file.push(Finding::Extra { path: path.clone() });
        }
    }
    per_file.sort_by(|a, b| finding_path(a).cmp(finding_path(b)));
    findings.extend(per_file);
    Ok(Verification {
        manifest: Some(manifest),
        verified,
        findings,
    })
}

fn finding_path(finding: &Finding) -> &str {
    match finding {
        Finding::Edited { path } | Finding::Missing { path } | Finding::Extra { path } => path,
        _ => "",
    }
}

/// Whether `text`, with its `seal` value replaced by zeros, hashes to `seal`.
fn seal_holds(text: &str, seal: &str) -> bool {
    if seal.len() != ZERO_SEAL.len() || !seal.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let field = format!("\"seal\": \"{seal}\"");
    let Some(at) = text.rfind(&field) else {
        return false;
    };
    let mut unsealed = String::with_capacity(text.len());
    unsealed.push_str(&text[..at]);
    unsealed.push_str(&format!("\"seal\": \"{ZERO_SEAL}\""));
    unsealed.push_str(&text[at + field.len()..]);
    sha256_hex(unsealed.as_bytes()) == seal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_dir() -> (tempfile::TempDir, RunDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(tmp.path()).expect("created");
        dir.write_file("plan.toml", "[plan]\nname = \"x\"\n")
            .expect("plan");
        dir.write_file("report.json", "{}\n").expect("report");
        fs::create_dir(tmp.path().join("logs")).expect("mkdir");
        fs::write(tmp.path().join("logs").join("api.log"), "started\n").expect("log");
        let info = SealInfo {
            run_id: Some("run-1".into()),
            started_at: "2025-01-01T00:00:00.000Z".into(),
            finished_at: "2025-01-01T00:01:00.000Z".into(),
            verdict: Some("GO".into()),
            include_hostname: false,
        };
        seal(&dir, &info).expect("sealed");
        (tmp, dir)
    }

    #[test]
    fn a_fresh_seal_verifies_and_lists_every_file() {
        let (_tmp, dir) = sealed_dir();
        let v = verify(dir.path()).expect("verified");
        assert_eq!(v.findings, Vec::<Finding>::new());
        assert!(v.intact());
        let m = v.manifest.expect("manifest");
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["logs/api.log", "plan.toml", "report.json"]);
        assert_eq!(v.verified, 3);
        assert_eq!(m.plan_sha256.as_deref(), Some(m.files[1].sha256.as_str()));
        assert_eq!(m.environment.hostname, None, "the hostname is opt-in");
        assert!(m.environment.cpus >= 1);
    }

    #[test]
    fn a_one_byte_edit_to_any_file_is_caught() {
        let (_tmp, dir) = sealed_dir();
        for rel in ["plan.toml", "report.json", "logs/api.log", MANIFEST] {
            let path = dir.path().join(rel);
            let original = fs::read(&path).expect("read");
            // Change one byte in the middle (for the manifest: a digit of a time).
            let mut edited = original.clone();
            let at = if rel == MANIFEST {
                let text = String::from_utf8(original.clone()).expect("utf8");
                text.find("00:01:00").expect("finished_at") + 4
            } else {
                original.len() / 2
            };
            edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
            fs::write(&path, &edited).expect("edit");
            let v = verify(dir.path()).expect("checked");
            assert!(!v.intact(), "an edit to {rel} went unnoticed");
            fs::write(&path, &original).expect("restore");
            assert!(verify(dir.path()).expect("checked").intact());
        }
    }

    #[test]
    fn missing_and_extra_files_are_named() {
        let (tmp, dir) = sealed_dir();
        fs::remove_file(tmp.path().join("logs").join("api.log")).expect("rm");
        fs::write(tmp.path().join("notes.txt"), "added later").expect("extra");
        let v = verify(dir.path()).expect("checked");
        assert_eq!(
            v.findings,
            vec![
                Finding::Missing {
                    path: "logs/api.log".into()
                },
                Finding::Extra {
                    path: "notes.txt".into()
                },
            ]
        );
    }

    #[test]
    fn an_unsealed_or_garbled_directory_fails_verification() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let v = verify(tmp.path()).expect("checked");
        assert_eq!(v.findings, vec![Finding::NoManifest]);
        fs::write(tmp.path().join(MANIFEST), "{\"manifest_version\": 1").expect("write");
        let v = verify(tmp.path()).expect("checked");
        assert!(matches!(
            v.findings.as_slice(),
            [Finding::UnreadableManifest { .. }]
        ));
        assert!(verify(&tmp.path().join("nope")).is_err());
    }

    #[test]
    fn the_hostname_is_recorded_only_when_allowed() {
        assert_eq!(Fingerprint::current(false).hostname, None);
        let with = Fingerprint::current(true);
        assert_eq!(with.hostname, hostname());
    }
}
