//! The signed verdict, end to end: a real run against the testbed signed with an Ed25519 key
//! that `openssl genpkey` made (read from an environment variable, as from a secret store),
//! verified by `verify-bundle --key` and by an independent implementation (securesystemslib, in
//! the virtual environment `.ci/test` makes); a one-byte edit to any bundle file, to the
//! manifest, to the envelope's payload or to its signature, and another key, are refused by both
//! where they apply; and a key that cannot be used stops `run` before anything starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::run::{
    Outcome, files, finish, health_plan, run_plan, run_plan_env, shakedown, write_plan,
};
use crate::support::stack::{Stack, StackOptions};

/// The image the run gated, as a deploy pipeline would name it.
const IMAGE_DIGEST: &str = "3f1a2b4c5d6e7f808192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The verifier's virtual environment; a panic naming `bash .ci/test` when it is missing or was
/// made from other requirements (never a skip: CI must run the independent check).
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SHAKEDOWN_ATTEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository().join("target/attest-venv"));
    let venv = std::path::absolute(&venv).expect("an absolute venv path");
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} has no bin/python: the attestation verifier's virtual environment is missing; run \
         `bash .ci/test` (it makes it from tests/integration/attestation/requirements.txt)",
        venv.display()
    );
    let wanted = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/integration/attestation/requirements.txt"),
    )
    .expect("the verifier's requirements.txt");
    let installed = std::fs::read_to_string(venv.join("requirements.txt")).unwrap_or_default();
    assert_eq!(
        installed,
        wanted,
        "{} was made from other requirements; run `bash .ci/test` to rebuild it",
        venv.display()
    );
    python
}

/// `verify.py RUN PUBKEY DIGEST` with securesystemslib.
fn python_verify(python: &Path, run: &Path, public: &Path) -> Outcome {
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/attestation/verify.py"))
        .arg(run)
        .arg(public)
        .arg(IMAGE_DIGEST);
    finish(command, Duration::from_secs(60))
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .expect("openssl is installed (it makes the keys, as the README shows)");
    assert!(status.success(), "openssl {args:?}");
}

/// A key pair as the README makes it: `signing.pem` (PKCS#8) and `signing.pub.pem` (SPKI).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", p]);
    openssl(&["pkey", "-in", p, "-pubout", "-out", q]);
    (private, public)
}

fn verify_with(run: &Path, public: &Path, extra: &[&str]) -> Outcome {
    let mut command = shakedown();
    command
        .arg("verify-bundle")
        .arg(run)
        .arg("--key")
        .arg(public)
        .args(extra);
    finish(command, Duration::from_secs(60))
}

/// Change one byte in the middle of `bytes` (to another byte of the same class, so that base64
/// stays base64 and JSON stays JSON where it was).
fn one_byte_edit(bytes: &mut [u8], at: usize) {
    bytes[at] = match bytes[at] {
        b'A' => b'B',
        b'0'..=b'8' | b'a'..=b'y' | b'B'..=b'Y' => bytes[at] + 1,
        _ => b'A',
    };
}

#[test]
fn a_signed_go_verifies_here_and_in_securesystemslib_and_any_edit_is_refused() {
    let python = venv_python();
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path(), "signing");
    let (_, other_public) = key_pair(dir.path(), "other");
    let pem = std::fs::read_to_string(&private).unwrap();
    let plan = write_plan(
        dir.path(),
        &health_plan(
            "signed",
            stack.api(),
            r#"{ rounds = { concurrency = 2, rounds = 3 } }"#,
            "",
        ),
    );
    let run = dir.path().join("run");
    let subject = format!("registry.example/app@sha256:{IMAGE_DIGEST}");
    let out = run_plan_env(
        &plan,
        &run,
        &[
            "--sign",
            "env:SHAKEDOWN_TEST_SIGNING_KEY",
            "--subject",
            &subject,
        ],
        &[("SHAKEDOWN_TEST_SIGNING_KEY", &pem)],
        Duration::from_secs(120),
    );
    assert_eq!(out.code, 0, "a GO: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("signed: "), "{}", out.stderr);

    // The key never reaches a file or an output, in whole or as its base64 body.
    let body = pem.lines().nth(1).expect("the PEM's base64 line");
    for file in files(&run) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains(body), "the key is in {}", file.display());
    }
    assert!(!out.stdout.contains(body) && !out.stderr.contains(body));

    // (a) shakedown verifies it, with the deploy policy.
    let digest = format!("sha256:{IMAGE_DIGEST}");
    let ok = verify_with(
        &run,
        &public,
        &["--require-go", "--subject-digest", &digest],
    );
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    for needle in [
        "bundle intact:",
        "attestation valid:",
        "verdict signed: GO",
        &format!("subject: {subject}"),
    ] {
        assert!(ok.stdout.contains(needle), "{needle}: {}", ok.stdout);
    }
    // The statement is about this image, and nothing else passes for it.
    let other_image = "0".repeat(64);
    let refused = verify_with(&run, &public, &["--subject-digest", &other_image]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("refused: --subject-digest"),
        "{}",
        refused.stdout
    );

    // (b) an independent implementation verifies the envelope and the statement.
    let independent = python_verify(&python, &run, &public);
    assert_eq!(
        independent.code, 0,
        "{}{}",
        independent.stdout, independent.stderr
    );
    assert!(
        independent.stdout.contains("DSSE signature valid")
            && independent.stdout.contains("verdict: GO")
            && independent.stdout.contains("checks: L1=PASS"),
        "{}",
        independent.stdout
    );
    println!("independent verifier, intact:\n{}", independent.stdout);

    // (c) another key is refused, by both.
    let wrong = verify_with(&run, &other_public, &[]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stdout.contains("attestation NOT valid"),
        "{}",
        wrong.stdout
    );
    assert_eq!(python_verify(&python, &run, &other_public).code, 1);

    // A one-byte edit to any file of the bundle (the manifest included) fails verify-bundle
    // --key; an edit to the manifest also breaks the signed digest, which securesystemslib's
    // side checks too.
    for file in files(&run) {
        let name = file.strip_prefix(&run).unwrap().display().to_string();
        if name == "attestation.json" {
            continue;
        }
        let original = std::fs::read(&file).unwrap();
        let mut edited = original.clone();
        if edited.is_empty() {
            edited.push(b'7');
        } else {
            let middle = edited.len() / 2;
            one_byte_edit(&mut edited, middle);
        }
        std::fs::write(&file, &edited).unwrap();
        let bad = verify_with(&run, &public, &["--require-go"]);
        assert_eq!(
            bad.code, 1,
            "an edit to {name} went unnoticed: {}",
            bad.stdout
        );
        if name == "manifest.json" {
            assert!(
                bad.stdout.contains("signs a manifest.json with SHA-256"),
                "{}",
                bad.stdout
            );
            let rejected = python_verify(&python, &run, &public);
            assert_eq!(rejected.code, 1, "{}", rejected.stdout);
            assert!(rejected.stdout.contains("REJECTED"), "{}", rejected.stdout);
        }
        std::fs::write(&file, &original).unwrap();
    }
    assert_eq!(verify_with(&run, &public, &[]).code, 0, "restored");

    // The envelope: one byte of the payload, one of the signature.
    let attestation = run.join("attestation.json");
    let original = std::fs::read_to_string(&attestation).unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&original).unwrap();
    for field in ["payload", "sig"] {
        let value = match field {
            "payload" => envelope["payload"].as_str().unwrap(),
            _ => envelope["signatures"][0]["sig"].as_str().unwrap(),
        };
        let at = original.find(value).unwrap() + value.len() / 2;
        let mut edited = original.clone().into_bytes();
        one_byte_edit(&mut edited, at);
        std::fs::write(&attestation, &edited).unwrap();
        let bad = verify_with(&run, &public, &[]);
        assert_eq!(
            bad.code, 1,
            "an edit to the {field} went unnoticed: {}",
            bad.stdout
        );
        assert!(
            bad.stdout.contains("attestation NOT valid"),
            "{}",
            bad.stdout
        );
        let rejected = python_verify(&python, &run, &public);
        assert_eq!(rejected.code, 1, "{field}: {}", rejected.stdout);
        assert!(rejected.stdout.contains("REJECTED"), "{}", rejected.stdout);
        println!(
            "independent verifier, one byte of the {field} edited:\n{}",
            rejected.stdout
        );
    }
    std::fs::write(&attestation, &original).unwrap();

    // Without the attestation, a signed bundle is refused; without --key it is only named.
    std::fs::remove_file(&attestation).unwrap();
    let unsigned = verify_with(&run, &public, &[]);
    assert_eq!(unsigned.code, 1);
    assert!(
        unsigned.stdout.contains("attestation.json is missing"),
        "{}",
        unsigned.stdout
    );
}

#[test]
fn a_key_that_cannot_sign_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = key_pair(dir.path(), "signing");
    std::fs::write(dir.path().join("garbage.pem"), "not a key\n").unwrap();
    // Nothing listens on port 9: had the run started, preflight would have taken its time.
    let plan = write_plan(
        dir.path(),
        &health_plan(
            "unsigned",
            "http://127.0.0.1:9",
            r#"{ rounds = { concurrency = 1, rounds = 1 } }"#,
            "",
        ),
    );
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    let digest = format!("app@sha256:{IMAGE_DIGEST}");
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["--sign", missing.to_str().unwrap()],
            "cannot read the key file",
        ),
        (vec!["--sign", public.to_str().unwrap()], "is a public key"),
        (
            vec!["--sign", garbage.to_str().unwrap()],
            "is not an Ed25519 private key",
        ),
        (
            vec!["--sign", "env:SHAKEDOWN_TEST_NO_SUCH_KEY"],
            "is not set",
        ),
        (
            vec!["--subject", &digest],
            "--subject is only used with --sign",
        ),
    ];
    for (i, (args, says)) in cases.iter().enumerate() {
        let run = dir.path().join(format!("run-{i}"));
        let out = run_plan(&plan, &run, args, Duration::from_secs(30));
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        let flag = if args[0] == "--subject" {
            "--subject"
        } else {
            "--sign"
        };
        assert!(out.stderr.contains(flag), "{}", out.stderr);
        assert!(!run.exists(), "{args:?}: the run started");
    }
    let bad_subject = run_plan(
        &plan,
        &dir.path().join("run-subject"),
        &[
            "--sign",
            "env:SHAKEDOWN_TEST_NO_SUCH_KEY",
            "--subject",
            "app@sha256:abc",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(bad_subject.code, 2);
    assert!(
        bad_subject.stderr.contains("--subject"),
        "{}",
        bad_subject.stderr
    );
    assert!(
        bad_subject.stderr.contains("64 hex digits"),
        "{}",
        bad_subject.stderr
    );
}
