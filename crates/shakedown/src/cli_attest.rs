//! Keys for the signed verdict: `run --sign KEY` (an Ed25519 private key) and
//! `verify-bundle --key PUBKEY` (its public key), and the `--subject` list.
//!
//! Accepted: a private key as PKCS#8, PEM (`-----BEGIN PRIVATE KEY-----`, what `openssl genpkey
//! -algorithm ed25519` writes) or DER, from a file or, as `env:NAME`, from an environment
//! variable (PEM there); a public key as SubjectPublicKeyInfo, PEM (`-----BEGIN PUBLIC KEY-----`,
//! what `openssl pkey -pubout` writes) or DER, from a file. Encrypted PKCS#8 and OpenSSH keys are
//! refused with the command that converts them. No key material is ever printed: errors name
//! the flag, the file or variable, the problem and the fix.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};

use shakedown_core::report::attest::Subject;

/// How to make a key pair, for error messages.
const KEYGEN: &str = "make one with `openssl genpkey -algorithm ed25519 -out signing.pem` and \
                      its public key with `openssl pkey -in signing.pem -pubout -out signing.pub.pem`";

/// The signing key and subjects of a run started with `--sign`.
pub struct RunSigner {
    /// The private key.
    pub key: SigningKey,
    /// What the statement is about (the sealed plan when empty).
    pub subjects: Vec<Subject>,
}

impl std::fmt::Debug for RunSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("RunSigner")
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

impl RunSigner {
    /// From `--sign` and `--subject`: None without `--sign`. Called before anything runs, so a
    /// bad key or subject stops the run before any load or fault (exit 2).
    pub fn from_flags(
        sign: Option<&str>,
        subjects: &[String],
    ) -> anyhow::Result<Option<RunSigner>> {
        let Some(spec) = sign else {
            if !subjects.is_empty() {
                anyhow::bail!(
                    "--subject is only used with --sign KEY (the subject is what the signed \
                     verdict is about); add --sign, or drop --subject"
                );
            }
            return Ok(None);
        };
        let subjects = subjects
            .iter()
            .map(|s| Subject::parse(s).map_err(|e| anyhow::anyhow!("--subject {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(RunSigner {
            key: signing_key(spec)?,
            subjects,
        }))
    }
}

/// Read `--sign KEY`: a file path, or `env:NAME` for a PEM in an environment variable.
pub fn signing_key(spec: &str) -> anyhow::Result<SigningKey> {
    let (source, bytes) = match spec.strip_prefix("env:") {
        Some(name) => {
            let value = std::env::var(name).map_err(|err| {
                anyhow::anyhow!(
                    "--sign env:{name}: the environment variable {name} is {}; set it to the \
                     PEM of an Ed25519 private key, or give a key file ({KEYGEN})",
                    match err {
                        std::env::VarError::NotPresent => "not set",
                        std::env::VarError::NotUnicode(_) => "not valid UTF-8",
                    }
                )
            })?;
            (
                format!("the environment variable {name}"),
                value.into_bytes(),
            )
        }
        None => {
            let bytes = std::fs::read(spec).map_err(|err| {
                anyhow::anyhow!(
                    "--sign {spec}: cannot read the key file: {err}; give the path of an Ed25519 \
                     private key in PEM, or env:NAME for one in an environment variable ({KEYGEN})"
                )
            })?;
            (format!("the file {spec}"), bytes)
        }
    };
    parse_signing_key(&bytes)
        .map_err(|problem| anyhow::anyhow!("--sign {spec}: {source} {problem}"))
}

/// A PKCS#8 Ed25519 private key, PEM or DER. The error says what the bytes are instead,
/// never what they hold.
fn parse_signing_key(bytes: &[u8]) -> Result<SigningKey, String> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if let Some(text) = text.filter(|t| t.starts_with("-----BEGIN")) {
        return if text.starts_with("-----BEGIN PRIVATE KEY-----") {
            SigningKey::from_pkcs8_pem(text).map_err(|err| {
                format!(
                    "is a PKCS#8 private key but not an Ed25519 one ({err}); --sign needs \
                     Ed25519: {KEYGEN}"
                )
            })
        } else if text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            Err(
                "is encrypted; give it unencrypted (`openssl pkey -in KEY -out plain.pem`), \
                 from a secret store or a file only the gate can read"
                    .to_string(),
            )
        } else if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            Err(format!(
                "is a public key; --sign needs the private key (the public key is what \
                 `verify-bundle --key` takes). {KEYGEN}"
            ))
        } else if text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            Err(
                "is an OpenSSH key; convert a copy to PKCS#8 with `ssh-keygen -p -m PKCS8 -f \
                 COPY`, or make a new key with `openssl genpkey -algorithm ed25519`"
                    .to_string(),
            )
        } else {
            Err(format!(
                "is PEM of another kind (expected -----BEGIN PRIVATE KEY-----); {KEYGEN}"
            ))
        };
    }
    SigningKey::from_pkcs8_der(bytes)
        .map_err(|_| format!("is not an Ed25519 private key in PKCS#8 (PEM or DER); {KEYGEN}"))
}

/// Read `verify-bundle --key PUBKEY`: an Ed25519 public key file, PEM or DER.
pub fn verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|err| {
        anyhow::anyhow!(
            "--key {shown}: cannot read the public key file: {err}; give the signer's Ed25519 \
             public key (`openssl pkey -in signing.pem -pubout -out signing.pub.pem`)"
        )
    })?;
    let text = std::str::from_utf8(&bytes).ok().map(str::trim);
    let parsed = match text.filter(|t| t.starts_with("-----BEGIN")) {
        Some(t) if t.starts_with("-----BEGIN PUBLIC KEY-----") => {
            VerifyingKey::from_public_key_pem(t)
                .map_err(|err| format!("is a public key but not an Ed25519 one ({err})"))
        }
        Some(t) if t.contains("PRIVATE KEY-----") => Err(
            "is a private key; give the public key (`openssl pkey -in KEY -pubout -out \
             KEY.pub.pem`): a deploy step never needs the private key"
                .to_string(),
        ),
        Some(_) => Err("is PEM of another kind (expected -----BEGIN PUBLIC KEY-----)".to_string()),
        None => VerifyingKey::from_public_key_der(&bytes)
            .map_err(|_| "is not an Ed25519 public key (SubjectPublicKeyInfo, PEM or DER)".into()),
    };
    parsed.map_err(|problem| {
        anyhow::anyhow!(
            "--key {shown}: the file {problem}; `openssl pkey -in signing.pem -pubout` writes \
             the right one"
        )
    })
}

/// What `verify-bundle --key` found about the attestation, and what a deploy policy
/// (`--require-go`, `--subject-digest`) refused.
#[derive(Debug, serde::Serialize)]
pub struct AttestationCheck {
    /// Whether the signature, the statement and its manifest digest hold.
    pub valid: bool,
    /// Why not, when not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The key id of the key it was checked with.
    pub keyid: String,
    /// The signed verdict, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// The signed subjects, `NAME@sha256:DIGEST`, when valid.
    pub subjects: Vec<String>,
    /// Each policy the statement does not meet, in words.
    pub refused: Vec<String>,
}

impl AttestationCheck {
    /// Whether a deploy may go on: valid, and no policy refused it.
    pub fn accepted(&self) -> bool {
        self.valid && self.refused.is_empty()
    }
}

/// Check `dir`'s attestation with `key`, then the deploy policies: `require_go` (the signed
/// verdict is GO) and `subject_digest` (some signed subject has this SHA-256).
pub fn check_attestation(
    dir: &Path,
    key: &VerifyingKey,
    require_go: bool,
    subject_digest: Option<&str>,
) -> AttestationCheck {
    let keyid = shakedown_core::report::dsse::key_id(key);
    let statement = match shakedown_core::report::attest::verify(dir, key) {
        Ok(statement) => statement,
        Err(err) => {
            return AttestationCheck {
                valid: false,
                error: Some(err.to_string()),
                keyid,
                verdict: None,
                subjects: Vec::new(),
                refused: Vec::new(),
            };
        }
    };
    let verdict = statement.predicate.shakedown.verdict;
    let mut refused = Vec::new();
    if require_go && verdict != shakedown_core::status::Verdict::Go {
        refused.push(format!(
            "--require-go: the signed verdict is {verdict}, not GO"
        ));
    }
    let unmatched = subject_digest.filter(|digest| {
        !statement
            .subject
            .iter()
            .any(|s| s.sha256() == Some(*digest))
    });
    if let Some(digest) = unmatched {
        refused.push(format!(
            "--subject-digest: no signed subject has sha256:{digest} (the run gated {})",
            statement
                .subject
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    AttestationCheck {
        valid: true,
        error: None,
        keyid,
        verdict: Some(verdict.to_string()),
        subjects: statement.subject.iter().map(ToString::to_string).collect(),
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};

    // `openssl genpkey -algorithm ed25519` output, a throwaway key for this test only.
    const OPENSSL_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEICaBHBwbXtzrEPv3r60KhVKHgpFKl0JArCt6zaYQInTs\n\
        -----END PRIVATE KEY-----\n";

    #[test]
    fn openssl_pem_and_der_private_keys_are_read() {
        let key = parse_signing_key(OPENSSL_PEM.as_bytes()).expect("openssl's PEM");
        let der = key.to_pkcs8_der().expect("der");
        let again = parse_signing_key(der.as_bytes()).expect("der");
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("pem");
        let err = parse_signing_key(public.as_bytes()).expect_err("a public key");
        assert!(err.contains("is a public key"), "{err}");
    }

    #[test]
    fn bad_keys_are_named_without_their_contents() {
        for (bytes, says) in [
            (b"not a key at all".to_vec(), "not an Ed25519 private key"),
            (
                b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
                    .to_vec(),
                "encrypted",
            ),
            (
                b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
                    .to_vec(),
                "OpenSSH",
            ),
            (
                OPENSSL_PEM.replace("MC4CAQAw", "MC4CAQAx").into_bytes(),
                "not an Ed25519 one",
            ),
        ] {
            let err = parse_signing_key(&bytes).expect_err(says);
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("MC4CAQA") && !err.contains("AAAA"), "{err}");
        }
    }

    #[test]
    fn a_missing_key_or_subject_without_sign_is_an_error_naming_the_flag() {
        let err = RunSigner::from_flags(None, &["app@sha256:00".into()]).expect_err("no --sign");
        assert!(
            err.to_string()
                .contains("--subject is only used with --sign")
        );
        let err =
            RunSigner::from_flags(Some("/nonexistent/signing.pem"), &[]).expect_err("no file");
        assert!(
            err.to_string()
                .starts_with("--sign /nonexistent/signing.pem: cannot read")
        );
        let err = RunSigner::from_flags(Some("env:SHAKEDOWN_TEST_UNSET_KEY_VAR"), &[])
            .expect_err("unset");
        assert!(
            err.to_string()
                .contains("SHAKEDOWN_TEST_UNSET_KEY_VAR is not set")
        );
    }

    #[test]
    fn a_deploy_policy_refuses_a_signed_no_go_and_another_image() {
        let tmp = tempfile::tempdir().expect("tempdir");
        shakedown_core::report::fixtures::sealed_bundle(tmp.path());
        let key = SigningKey::from_bytes(&[8; 32]);
        let image = "c".repeat(64);
        let subject = Subject::parse(&format!("app@sha256:{image}")).expect("subject");
        let redactor = shakedown_plan::redact::Redactor::new(&Default::default());
        shakedown_core::report::attest::sign(tmp.path(), &key, &[subject], &redactor)
            .expect("signed");
        let public = key.verifying_key();

        let genuine = check_attestation(tmp.path(), &public, false, Some(&image));
        assert!(genuine.accepted(), "{genuine:?}");
        assert_eq!(genuine.verdict.as_deref(), Some("NO-GO"));

        let no_go = check_attestation(tmp.path(), &public, true, Some(&image));
        assert!(no_go.valid && !no_go.accepted());
        assert_eq!(
            no_go.refused,
            vec!["--require-go: the signed verdict is NO-GO, not GO".to_string()]
        );

        let other = check_attestation(tmp.path(), &public, false, Some(&"d".repeat(64)));
        assert!(!other.accepted());
        assert!(other.refused[0].starts_with("--subject-digest: no signed subject"));

        let wrong_key = check_attestation(
            tmp.path(),
            &SigningKey::from_bytes(&[6; 32]).verifying_key(),
            false,
            None,
        );
        assert!(!wrong_key.valid && !wrong_key.accepted());
    }
}
