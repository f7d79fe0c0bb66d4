//! The signed verdict: `attestation.json`, a DSSE envelope ([`dsse`](crate::report::dsse))
//! around an in-toto Statement v1 whose subject is what was gated (an image digest, say) and
//! whose predicate is the in-toto test-result predicate (`https://in-toto.io/attestation/
//! test-result/v0.1`) with shakedown's verdict, checks and the manifest's digest in it.
//!
//! It is written beside `manifest.json` after the bundle is sealed, and is not listed in the
//! manifest, since it signs the manifest: the statement carries the SHA-256 of `manifest.json`,
//! which carries the SHA-256 of every other file. [`verify`] checks that chain's first link;
//! the bundle's own check does the rest. `docs/attestation.md` documents every field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::report::bundle::RunDir;
use crate::report::dsse::{self, DsseError, Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::report::manifest::{MANIFEST, Manifest};
use crate::report::model::{Report, ToolInfo};
use crate::status::{Status, Verdict};
use shakedown_plan::redact::Redactor;

pub use crate::report::manifest::ATTESTATION;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The in-toto attestation framework's test-result predicate.
pub const PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// The name of the sealed effective plan, the subject when none is given.
const EFFECTIVE_PLAN: &str = "plan.toml";

/// Digests by algorithm name (`sha256`), lowercase hex.
pub type DigestSet = BTreeMap<String, String>;

/// An in-toto Statement v1 with shakedown's predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What was gated.
    pub subject: Vec<Subject>,
    /// Always [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The result of the gate.
    pub predicate: Predicate,
}

/// One artifact the statement is about: `--subject NAME@sha256:DIGEST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Its name, e.g. `registry.example/app` (free text; the digest is what identifies it).
    pub name: String,
    /// Its digests; shakedown writes `sha256`.
    pub digest: DigestSet,
}

/// The test-result predicate, with shakedown's own record in `shakedown` (consumers of the
/// standard fields ignore it, as in-toto's parsing rules ask).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    /// PASSED for a GO whose checks all passed or were skipped, WARNED for a GO with a
    /// non-required check that did not pass, FAILED for NO-GO, INCOMPLETE and ABORTED.
    pub result: TestResult,
    /// What the run was configured by: the sealed effective plan.
    pub configuration: Vec<ResourceDescriptor>,
    /// Ids of the checks that are PASS.
    pub passed_tests: Vec<String>,
    /// Ids of the checks that are BLOCKED or INCONCLUSIVE.
    pub warned_tests: Vec<String>,
    /// Ids of the checks that are FAIL.
    pub failed_tests: Vec<String>,
    /// shakedown's verdict, every check, and the manifest's digest.
    pub shakedown: GateRecord,
}

/// `result` of the test-result predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TestResult {
    /// Every test passed.
    Passed,
    /// The gate passed, with warnings.
    Warned,
    /// The gate did not pass.
    Failed,
}

/// A file by name and digest (in-toto's ResourceDescriptor, the fields used here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// The file's name in the run directory.
    pub name: String,
    /// Its digests.
    pub digest: DigestSet,
}

/// What shakedown decided, in the predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    /// GO, NO-GO, INCOMPLETE or ABORTED: what a deploy step decides on.
    pub verdict: Verdict,
    /// The run's exit code.
    pub exit_code: u8,
    /// The plan's name.
    pub plan: String,
    /// The run's id.
    pub run_id: String,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub finished_at: Option<String>,
    /// `manifest.json` and its SHA-256: the link to every file of the bundle.
    pub manifest: ResourceDescriptor,
    /// Every check of the run, in plan order.
    pub checks: Vec<CheckOutcome>,
    /// The tool that ran the gate.
    pub tool: ToolInfo,
}

/// One check, as the predicate records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Its id in the plan, e.g. `L1`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether the verdict depends on it.
    pub required: bool,
    /// How it ended.
    pub status: Status,
}

/// Why a bundle could not be signed, or its attestation does not hold.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bundle has no `attestation.json`.
    #[error(
        "{ATTESTATION} is missing: the run was not signed (run it with --sign KEY), or the file \
         was removed"
    )]
    Unsigned,
    /// A file is not what it should be.
    #[error("{file} is not valid: {reason}")]
    Invalid {
        /// The file.
        file: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature does not verify.
    #[error("{ATTESTATION}: {0}")]
    Signature(#[from] DsseError),
    /// The statement names a manifest other than the bundle's.
    #[error(
        "{ATTESTATION} signs a {MANIFEST} with SHA-256 {signed}, but the bundle's {MANIFEST} has \
         {actual}: the manifest was changed or replaced after it was signed"
    )]
    ManifestDigest {
        /// The digest in the statement.
        signed: String,
        /// The digest of the bundle's manifest.
        actual: String,
    },
    /// The signed verdict is not the verdict the manifest sealed.
    #[error("{ATTESTATION} signs the verdict {signed}, but {MANIFEST} sealed {sealed}")]
    VerdictMismatch {
        /// The verdict in the statement.
        signed: String,
        /// The verdict in the manifest.
        sealed: String,
    },
}

impl Subject {
    /// Parse `NAME@sha256:DIGEST` (DIGEST: 64 hex digits, stored lowercase).
    pub fn parse(text: &str) -> Result<Subject, String> {
        let Some((name, digest)) = text.rsplit_once("@sha256:") else {
            return Err(format!(
                "{text:?} has no \"@sha256:\": write NAME@sha256:DIGEST, e.g. \
                 registry.example/app@sha256:<64 hex digits> (`docker inspect --format \
                 '{{{{index .RepoDigests 0}}}}' IMAGE` prints it)"
            ));
        };
        if name.is_empty() {
            return Err(format!(
                "{text:?} has no name before \"@sha256:\": write NAME@sha256:DIGEST"
            ));
        }
        let digest = parse_sha256(digest).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Subject {
            name: name.to_string(),
            digest: sha256_set(digest),
        })
    }

    /// Its SHA-256, if it has one.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sha256() {
            Some(digest) => write!(f, "{}@sha256:{digest}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A SHA-256 digest given as 64 hex digits, optionally prefixed `sha256:`; lowercase.
pub fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "the SHA-256 digest must be 64 hex digits, got {} character(s)",
            hex.chars().count()
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

fn sha256_set(hex: String) -> DigestSet {
    BTreeMap::from([("sha256".to_string(), hex)])
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, AttestError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| AttestError::Io { path, source })
}

/// The statement for the sealed bundle in `dir`, about `subjects` (the sealed `plan.toml` when
/// empty), from its `report.json` and `manifest.json` as they are on disk.
pub fn statement(dir: &Path, subjects: &[Subject]) -> Result<Statement, AttestError> {
    let manifest_bytes = read(dir, MANIFEST)?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|e| AttestError::Invalid {
            file: MANIFEST,
            reason: e.to_string(),
        })?;
    let report: Report =
        serde_json::from_slice(&read(dir, "report.json")?).map_err(|e| AttestError::Invalid {
            file: "report.json",
            reason: e.to_string(),
        })?;
    let plan = manifest
        .plan_sha256
        .clone()
        .map(|sha256| ResourceDescriptor {
            name: EFFECTIVE_PLAN.to_string(),
            digest: sha256_set(sha256),
        });
    let subject = if subjects.is_empty() {
        let plan = plan.clone().ok_or(AttestError::Invalid {
            file: MANIFEST,
            reason: format!(
                "it seals no {EFFECTIVE_PLAN}, the default subject; give --subject NAME@sha256:DIGEST"
            ),
        })?;
        vec![Subject {
            name: plan.name,
            digest: plan.digest,
        }]
    } else {
        subjects.to_vec()
    };
    let of = |wanted: &[Status]| -> Vec<String> {
        report
            .checks
            .iter()
            .filter(|c| wanted.contains(&c.status))
            .map(|c| c.id.clone())
            .collect()
    };
    let passed_tests = of(&[Status::Pass]);
    let warned_tests = of(&[Status::Blocked, Status::Inconclusive]);
    let failed_tests = of(&[Status::Fail]);
    let result = match report.verdict {
        Verdict::Go if warned_tests.is_empty() && failed_tests.is_empty() => TestResult::Passed,
        Verdict::Go => TestResult::Warned,
        Verdict::NoGo | Verdict::Incomplete | Verdict::Aborted => TestResult::Failed,
    };
    Ok(Statement {
        statement_type: STATEMENT_TYPE.to_string(),
        subject,
        predicate_type: PREDICATE_TYPE.to_string(),
        predicate: Predicate {
            result,
            configuration: plan.into_iter().collect(),
            passed_tests,
            warned_tests,
            failed_tests,
            shakedown: GateRecord {
                verdict: report.verdict,
                exit_code: report.exit_code,
                plan: report.run.plan.clone(),
                run_id: report.run.id.clone(),
                started_at: report.run.started_at.clone(),
                finished_at: report.run.finished_at.clone(),
                manifest: ResourceDescriptor {
                    name: MANIFEST.to_string(),
                    digest: sha256_set(hex::encode(Sha256::digest(&manifest_bytes))),
                },
                checks: report
                    .checks
                    .iter()
                    .map(|c| CheckOutcome {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        required: c.required,
                        status: c.status,
                    })
                    .collect(),
                tool: ToolInfo::current(),
            },
        },
    })
}

/// Sign the sealed bundle in `dir` with `key`: write `attestation.json` beside its manifest.
/// The statement's values are redacted before it is serialised (the reports it is read from
/// already are; this keeps a plan's secret out of a check name, say, whatever wrote it).
pub fn sign(
    dir: &Path,
    key: &SigningKey,
    subjects: &[Subject],
    redactor: &Redactor,
) -> Result<Statement, AttestError> {
    let statement = statement(dir, subjects)?;
    let invalid = |e: serde_json::Error| AttestError::Invalid {
        file: ATTESTATION,
        reason: e.to_string(),
    };
    let mut value = serde_json::to_value(&statement).map_err(invalid)?;
    redactor.redact_json(&mut value);
    let payload = serde_json::to_vec(&value).map_err(invalid)?;
    let statement: Statement = serde_json::from_slice(&payload).map_err(invalid)?;
    let envelope = dsse::sign(IN_TOTO_PAYLOAD_TYPE, &payload, key);
    let mut text = serde_json::to_string_pretty(&envelope).map_err(invalid)?;
    text.push('\n');
    let io = |source| AttestError::Io {
        path: dir.join(ATTESTATION),
        source,
    };
    RunDir::create(dir)
        .and_then(|run| run.write_file(ATTESTATION, &text))
        .map_err(io)?;
    Ok(statement)
}

/// Check the bundle's `attestation.json` with `key`: the DSSE signature, the payload type, the
/// statement's and predicate's types, that the signed manifest digest is the SHA-256 of the
/// bundle's `manifest.json`, and that the signed verdict is the one the manifest sealed. The
/// files the manifest lists are checked by [`manifest::verify`](crate::report::manifest::verify).
pub fn verify(dir: &Path, key: &VerifyingKey) -> Result<Statement, AttestError> {
    let bytes = match std::fs::read(dir.join(ATTESTATION)) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(AttestError::Unsigned);
        }
        Err(source) => {
            return Err(AttestError::Io {
                path: dir.join(ATTESTATION),
                source,
            });
        }
    };
    let invalid = |reason: String| AttestError::Invalid {
        file: ATTESTATION,
        reason,
    };
    let envelope: Envelope = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("it is not a DSSE envelope: {e}")))?;
    let payload = envelope.verify(key)?;
    // Only what the signature covers is read from here on.
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(invalid(format!(
            "its payloadType is {:?}, not {IN_TOTO_PAYLOAD_TYPE:?}",
            envelope.payload_type
        )));
    }
    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|e| invalid(format!("its payload is not a shakedown statement: {e}")))?;
    if statement.statement_type != STATEMENT_TYPE {
        return Err(invalid(format!(
            "its _type is {:?}, not {STATEMENT_TYPE:?}",
            statement.statement_type
        )));
    }
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(invalid(format!(
            "its predicateType is {:?}, not {PREDICATE_TYPE:?}",
            statement.predicate_type
        )));
    }
    let manifest_bytes = read(dir, MANIFEST)?;
    let actual = hex::encode(Sha256::digest(&manifest_bytes));
    let record = &statement.predicate.shakedown;
    let signed = record
        .manifest
        .digest
        .get("sha256")
        .cloned()
        .unwrap_or_default();
    if record.manifest.name != MANIFEST || signed != actual {
        return Err(AttestError::ManifestDigest { signed, actual });
    }
    // The manifest is the one signed, so its verdict is too; a statement that says otherwise
    // was made inconsistent by its signer.
    let sealed = serde_json::from_slice::<Manifest>(&manifest_bytes)
        .ok()
        .and_then(|m| m.verdict)
        .unwrap_or_else(|| "none".to_string());
    if sealed != record.verdict.as_str() {
        return Err(AttestError::VerdictMismatch {
            signed: record.verdict.to_string(),
            sealed,
        });
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_a_name_and_a_sha256_of_64_hex_digits() {
        let digest = "AB".repeat(32);
        let s = Subject::parse(&format!("reg.example:5000/app@sha256:{digest}")).expect("valid");
        assert_eq!(s.name, "reg.example:5000/app");
        assert_eq!(s.sha256(), Some("ab".repeat(32).as_str()));
        assert_eq!(
            s.to_string(),
            format!("reg.example:5000/app@sha256:{}", "ab".repeat(32))
        );
        for bad in [
            "app",
            "app@sha256:abc",
            &format!("@sha256:{}", "a".repeat(64)),
            &format!("app@sha256:{}", "g".repeat(64)),
            &format!("app@sha512:{}", "a".repeat(64)),
        ] {
            let err = Subject::parse(bad).expect_err(bad);
            assert!(
                err.contains("NAME@sha256:DIGEST") || err.contains("64 hex"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_predicate_holds_the_verdict_the_checks_and_the_manifest_digest() {
        let (tmp, key) = (
            tempfile::tempdir().expect("tempdir"),
            SigningKey::from_bytes(&[9; 32]),
        );
        crate::report::fixtures::sealed_bundle(tmp.path());
        let subject = Subject::parse(&format!("app@sha256:{}", "1".repeat(64))).expect("subject");
        let redactor = Redactor::new(&Default::default());
        let signed =
            sign(tmp.path(), &key, std::slice::from_ref(&subject), &redactor).expect("signed");
        let verified = verify(tmp.path(), &key.verifying_key()).expect("verified");
        assert_eq!(signed, verified);
        assert_eq!(verified.subject, vec![subject]);
        let record = &verified.predicate.shakedown;
        let manifest = std::fs::read(tmp.path().join(MANIFEST)).expect("manifest");
        assert_eq!(
            record.manifest.digest["sha256"],
            hex::encode(Sha256::digest(&manifest))
        );
        let report: Report =
            serde_json::from_slice(&std::fs::read(tmp.path().join("report.json")).expect("report"))
                .expect("parsed");
        assert_eq!(record.verdict, report.verdict);
        let ids: Vec<(&str, Status)> = record
            .checks
            .iter()
            .map(|c| (c.id.as_str(), c.status))
            .collect();
        let want: Vec<(&str, Status)> = report
            .checks
            .iter()
            .map(|c| (c.id.as_str(), c.status))
            .collect();
        assert_eq!(ids, want);
        // The bundle itself is still intact: the attestation is beside the manifest, not in it.
        let bundle = crate::report::manifest::verify(tmp.path()).expect("checked");
        assert!(bundle.intact(), "{:?}", bundle.findings);
    }

    #[test]
    fn an_edited_manifest_or_another_key_is_refused() {
        let (tmp, key) = (
            tempfile::tempdir().expect("tempdir"),
            SigningKey::from_bytes(&[4; 32]),
        );
        crate::report::fixtures::sealed_bundle(tmp.path());
        let redactor = Redactor::new(&Default::default());
        sign(tmp.path(), &key, &[], &redactor).expect("signed");
        let other = SigningKey::from_bytes(&[5; 32]).verifying_key();
        assert!(matches!(
            verify(tmp.path(), &other),
            Err(AttestError::Signature(DsseError::BadSignature { .. }))
        ));
        let path = tmp.path().join(MANIFEST);
        let mut bytes = std::fs::read(&path).expect("manifest");
        let last = bytes.len() - 1;
        bytes[last] = b' ';
        std::fs::write(&path, bytes).expect("edited");
        let err = verify(tmp.path(), &key.verifying_key()).expect_err("refused");
        assert!(matches!(err, AttestError::ManifestDigest { .. }), "{err}");
        std::fs::remove_file(tmp.path().join(ATTESTATION)).expect("removed");
        assert!(matches!(
            verify(tmp.path(), &key.verifying_key()),
            Err(AttestError::Unsigned)
        ));
    }
}
