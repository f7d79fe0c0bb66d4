//! The evidence subcommands: `verify-bundle DIR` (check a sealed run directory against its
//! manifest), `diff OLD NEW` (compare two reports, exit 1 on a regression) and `report DIR`
//! (render `report.html` again from a run directory, saying what is missing from it).
//!
//! Exit codes: 0 intact / no regression, 1 tampered / regressed, 2 usage or unreadable input.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use shakedown_core::report::diff::{self, DiffOptions, Rule};
use shakedown_core::report::evidence::RunEvidence;
use shakedown_core::report::manifest;
use shakedown_core::report::model::Report;

/// Arguments of `verify-bundle`.
#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The run directory (it holds `manifest.json`).
    pub dir: PathBuf,
    /// Also check the signed verdict, `attestation.json`, with this Ed25519 public key (PEM
    /// SubjectPublicKeyInfo, as `openssl pkey -pubout` writes, or DER): its signature, and that
    /// it signs this bundle's manifest.json. Exit 1 if it is missing or does not hold.
    #[arg(long, value_name = "PUBKEY")]
    pub key: Option<PathBuf>,
    /// With --key: exit 1 unless the signed verdict is GO (what a deploy step asks).
    #[arg(long, requires = "key")]
    pub require_go: bool,
    /// With --key: exit 1 unless a signed subject has this SHA-256 (64 hex digits, with or
    /// without `sha256:`), e.g. the digest of the image about to be promoted.
    #[arg(long, requires = "key", value_name = "DIGEST")]
    pub subject_digest: Option<String>,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old report: a run directory or its `report.json`.
    pub old: PathBuf,
    /// The new report: a run directory or its `report.json`.
    pub new: PathBuf,
    /// A regression rule, METRIC=PERCENT, repeatable (metrics: p50, p95, p99, error_rate,
    /// throughput, recovery). Default: p95=10%.
    #[arg(long = "rule", value_name = "METRIC=PERCENT")]
    pub rules: Vec<String>,
    /// Latency changes smaller than this many milliseconds are never a regression.
    #[arg(long, default_value_t = 1.0, value_name = "MS")]
    pub noise_ms: f64,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (it holds `report.json`).
    pub dir: PathBuf,
    /// Write the page here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `shakedown verify-bundle DIR [--key PUBKEY]`: the findings on stdout (JSON when `json`),
/// exit 0 if intact (and, with a key, signed and accepted), 1 if anything was edited, removed or
/// added, or the attestation is missing, does not verify, or is refused by a policy flag.
pub fn verify_bundle(args: &VerifyBundleArgs, json: bool) -> anyhow::Result<u8> {
    // Usage errors first: a bad key or digest is exit 2, before anything is read.
    let key = args
        .key
        .as_deref()
        .map(crate::cli_attest::verifying_key)
        .transpose()?;
    let digest = args
        .subject_digest
        .as_deref()
        .map(|d| {
            shakedown_core::report::attest::parse_sha256(d)
                .map_err(|e| anyhow::anyhow!("--subject-digest: {e}"))
        })
        .transpose()?;
    let v = manifest::verify(&args.dir)
        .with_context(|| format!("cannot check {}", args.dir.display()))?;
    let attestation = key.as_ref().map(|key| {
        crate::cli_attest::check_attestation(&args.dir, key, args.require_go, digest.as_deref())
    });
    let accepted = v.intact() && attestation.as_ref().is_none_or(|a| a.accepted());
    if json {
        let findings: Vec<String> = v.findings.iter().map(ToString::to_string).collect();
        let out = serde_json::json!({
            "dir": args.dir.display().to_string(),
            "intact": v.intact(),
            "verified": v.verified,
            "findings": findings,
            "manifest": v.manifest,
            "attestation": attestation,
            "accepted": accepted,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if v.intact() {
        let (when, tool) = v
            .manifest
            .as_ref()
            .map(|m| {
                (
                    m.finished_at.clone(),
                    format!("{} {}", m.tool.name, m.tool.version),
                )
            })
            .unwrap_or_default();
        println!(
            "bundle intact: {} files match manifest.json (sealed {when} by {tool})",
            v.verified
        );
    } else {
        println!(
            "bundle NOT intact: {} problem(s) in {}",
            v.findings.len(),
            args.dir.display()
        );
        for finding in &v.findings {
            println!("  {finding}");
        }
    }
    if !json {
        match &attestation {
            Some(check) => print_attestation(check),
            None if args
                .dir
                .join(shakedown_core::report::attest::ATTESTATION)
                .exists() =>
            {
                println!(
                    "{} present, not checked: give --key PUBKEY to check the signed verdict",
                    shakedown_core::report::attest::ATTESTATION
                )
            }
            None => {}
        }
    }
    Ok(if accepted { 0 } else { 1 })
}

fn print_attestation(check: &crate::cli_attest::AttestationCheck) {
    let file = shakedown_core::report::attest::ATTESTATION;
    match &check.error {
        Some(error) => println!("attestation NOT valid: {error}"),
        None => {
            println!(
                "attestation valid: {file} is signed by key {} and signs this manifest.json",
                check.keyid
            );
            println!(
                "  verdict signed: {}",
                check.verdict.as_deref().unwrap_or("none")
            );
            for subject in &check.subjects {
                println!("  subject: {subject}");
            }
        }
    }
    for refusal in &check.refused {
        println!("refused: {refusal}");
    }
}

/// Read a report from a run directory or a `report.json` path.
fn read_report(path: &Path) -> anyhow::Result<Report> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the report {}", file.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a shakedown report.json", file.display()))
}

/// `shakedown diff OLD NEW`: Markdown (or JSON when `json`) on stdout, exit 1 on a regression.
pub fn diff(args: &DiffArgs, json: bool) -> anyhow::Result<u8> {
    let old = read_report(&args.old)?;
    let new = read_report(&args.new)?;
    let mut options = DiffOptions {
        noise_ms: args.noise_ms.max(0.0),
        ..DiffOptions::default()
    };
    if !args.rules.is_empty() {
        options.rules = args
            .rules
            .iter()
            .map(|r| Rule::parse(r).map_err(|e| anyhow::anyhow!("--rule: {e}")))
            .collect::<anyhow::Result<_>>()?;
    }
    let d = diff::diff(
        (&args.old.display().to_string(), &old),
        (&args.new.display().to_string(), &new),
        &options,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        println!("{}", diff::markdown(&d).trim_end());
    }
    Ok(if d.regressed() { 1 } else { 0 })
}

/// `shakedown report DIR`: render `report.html` from the directory's `report.json`, history and
/// plan; anything missing is named on the page and on stderr.
pub fn report(args: &ReportArgs) -> anyhow::Result<u8> {
    let report = read_report(&args.dir)?;
    let evidence = RunEvidence::read(&args.dir, &report);
    for problem in &evidence.problems {
        eprintln!("warning: {problem}");
    }
    let html = shakedown_core::report::html::render(&report, &evidence);
    match &args.out {
        Some(path) => std::fs::write(path, html)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{html}"),
    }
    Ok(0)
}
