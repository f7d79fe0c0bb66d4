//! `artifacts = { ... }` (the runbook's REP): the package of every succeeded tracked job,
//! checked file by file. Each file's SHA-256 and size are recomputed from its bytes (streamed,
//! never an ETag) and compared with the job's manifest. Missing, corrupt, duplicated and
//! orphaned packages are findings that name the object.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::VerifyEnv;
use super::jobs::TrackedJob;
use super::object_store::Bucket;
use crate::report::verify_section::VerifySection;
use shakedown_plan::model::{ArtifactsProbe, Oracle};

/// Packages checked at once.
const PARALLEL: usize = 8;

/// One package to check: the job it belongs to and where it lives.
#[derive(Debug, Clone)]
struct Package {
    key: String,
    id: String,
    prefix: String,
    /// The plan's independently computed hashes: file name, lower-case hex SHA-256.
    expected: Vec<(String, String)>,
}

/// What checking one package found.
#[derive(Debug, Default)]
struct Checked {
    findings: Vec<(&'static str, String, String)>,
    files: u64,
    bytes: u64,
    /// Whether the manifest was there (the package exists at all).
    present: bool,
}

/// Check every succeeded job's package.
pub async fn run(probe: &ArtifactsProbe, oracle: &Oracle, env: &VerifyEnv<'_>) -> VerifySection {
    let subject = format!("{}/{}", probe.bucket, probe.prefix.source());
    let mut section = VerifySection::new("artifacts", Some(&oracle.name), subject);
    let bucket = match Bucket::open(oracle, &probe.bucket, env.plan) {
        Ok(b) => b,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    let selected: Vec<&TrackedJob> = env
        .jobs
        .iter()
        .filter(|j| probe.tests.is_empty() || probe.tests.contains(&j.test))
        .collect();
    let (packages, mut unnamed) = match packages(probe, env, &selected) {
        Ok(p) => p,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    for key in unnamed.drain(..) {
        section.find(
            "unknown",
            format!("key {key}"),
            "the track's read shows no `id` for this succeeded job, so its package cannot be found",
        );
    }
    section.count("jobs", packages.len() as u64);
    let results: Vec<(Package, Checked)> = futures::stream::iter(packages.iter().cloned())
        .map(|p| {
            let bucket = &bucket;
            async move {
                let checked = check_package(probe, bucket, &p).await;
                (p, checked)
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut results = results;
    results.sort_by(|a, b| a.0.prefix.cmp(&b.0.prefix));
    let mut intact = 0u64;
    let mut present_by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut unreadable: Option<String> = None;
    for (package, checked) in &results {
        section.count("files", checked.files);
        section.count("bytes", checked.bytes);
        if checked.present {
            present_by_key
                .entry(package.key.as_str())
                .or_default()
                .push(package.prefix.as_str());
        }
        if checked.findings.is_empty() {
            intact += 1;
        }
        for (class, subject, detail) in &checked.findings {
            if *class == "unreadable" {
                unreadable.get_or_insert_with(|| format!("{subject}: {detail}"));
            } else {
                section.find(class, subject.clone(), detail.clone());
            }
        }
    }
    for (key, prefixes) in present_by_key.iter().filter(|(_, p)| p.len() > 1) {
        section.find(
            "duplicate",
            format!("key {key}"),
            format!(
                "{} packages for one key: {}",
                prefixes.len(),
                prefixes
                    .iter()
                    .map(|p| format!("{}/{p}", probe.bucket))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if let Some(root) = &probe.orphans {
        orphans(probe, env, &bucket, root, &mut section).await;
    }
    if let Some(e) = unreadable {
        // Some packages could not be read: what was read may still fail the check, but an
        // unread package is not evidence against it.
        section.error = Some(e);
        if section.finding_count() == 0 {
            return section;
        }
    }
    if packages.is_empty() {
        section.error.get_or_insert_with(|| {
            "no succeeded tracked job to check: the tests it covers tracked no work that \
             completed"
                .into()
        });
        return section;
    }
    section.count("packages_intact", intact);
    section.assert(
        "every succeeded job has a complete package whose files match its manifest",
        Some(format!("{intact} of {} packages intact", packages.len())),
        intact == packages.len() as u64,
    );
    section
}

/// The package of every succeeded job, and the keys whose succeeded job has no id.
fn packages(
    probe: &ArtifactsProbe,
    env: &VerifyEnv<'_>,
    jobs: &[&TrackedJob],
) -> Result<(Vec<Package>, Vec<String>), String> {
    let mut out = Vec::new();
    let mut unnamed = Vec::new();
    for job in jobs {
        for view in job.succeeded() {
            let Some(id) = &view.id else {
                unnamed.push(job.key.clone());
                continue;
            };
            out.push(Package {
                key: job.key.clone(),
                id: id.clone(),
                prefix: package_prefix(probe, env, &job.key, id)?,
                expected: expected_hashes(probe, env, &job.key, id)?,
            });
        }
    }
    Ok((out, unnamed))
}

/// The rendered prefix of one job's package, ending with `/`.
fn package_prefix(
    probe: &ArtifactsProbe,
    env: &VerifyEnv<'_>,
    key: &str,
    id: &str,
) -> Result<String, String> {
    let base = crate::target_context::probe_context(env.plan);
    let ctx = minijinja::context! { id => id, key => key, ..base };
    let rendered = probe
        .prefix
        .render(&ctx)
        .map_err(|e| format!("the package prefix {:?}: {e}", probe.prefix.source()))?;
    let trimmed = rendered.trim_start_matches('/');
    Ok(if trimmed.ends_with('/') || trimmed.is_empty() {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    })
}

/// The plan's expected hashes for one job, rendered.
fn expected_hashes(
    probe: &ArtifactsProbe,
    env: &VerifyEnv<'_>,
    key: &str,
    id: &str,
) -> Result<Vec<(String, String)>, String> {
    let base = crate::target_context::probe_context(env.plan);
    let ctx = minijinja::context! { id => id, key => key, ..base };
    probe
        .expected_sha256
        .iter()
        .map(|(file, t)| {
            t.render(&ctx)
                .map(|hash| (file.clone(), hash.trim().to_ascii_lowercase()))
                .map_err(|e| format!("the expected SHA-256 of {file}: {e}"))
        })
        .collect()
}

/// Check one package: its manifest, every file it names, the plan's required files, and the
/// plan's independently computed hashes.
async fn check_package(probe: &ArtifactsProbe, bucket: &Bucket, p: &Package) -> Checked {
    let mut out = Checked::default();
    let place = |name: &str| format!("{}/{}{name}", bucket.name, p.prefix);
    let manifest_key = format!("{}{}", p.prefix, probe.manifest);
    let manifest = match bucket.read(&manifest_key, probe.max_manifest_bytes).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            out.findings.push((
                "missing",
                place(&probe.manifest),
                format!(
                    "job {} (key {}) succeeded, but its package has no manifest",
                    p.id, p.key
                ),
            ));
            return out;
        }
        Err(e) if e.contains("cap") => {
            out.present = true;
            out.findings.push(("corrupt", place(&probe.manifest), e));
            return out;
        }
        Err(e) => {
            out.findings.push(("unreadable", place(&probe.manifest), e));
            return out;
        }
    };
    out.present = true;
    out.files += 1;
    out.bytes += manifest.len() as u64;
    let entries = match manifest_entries(probe, &manifest) {
        Ok(entries) => entries,
        Err(e) => {
            out.findings.push(("corrupt", place(&probe.manifest), e));
            return out;
        }
    };
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    for required in probe.files.iter().filter(|f| *f != &probe.manifest) {
        if !listed.contains(required.as_str()) {
            out.findings.push((
                "corrupt",
                place(&probe.manifest),
                format!("the manifest does not list the required file {required}"),
            ));
        }
    }
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for entry in &entries {
        let key = format!("{}{}", p.prefix, entry.name);
        let digest = bucket.digest(&key).await;
        if let Ok(Some(d)) = &digest {
            digests.insert(entry.name.clone(), d.sha256.clone());
        }
        match digest {
            Ok(None) => out.findings.push((
                "missing",
                place(&entry.name),
                "listed in the manifest, but absent".to_string(),
            )),
            Ok(Some(d)) => {
                out.files += 1;
                out.bytes += d.size;
                if d.sha256 != entry.sha256 {
                    out.findings.push((
                        "corrupt",
                        place(&entry.name),
                        format!(
                            "sha256 {} but the manifest says {}",
                            short(&d.sha256),
                            short(&entry.sha256)
                        ),
                    ));
                } else if entry.size.is_some_and(|s| s != d.size) {
                    out.findings.push((
                        "corrupt",
                        place(&entry.name),
                        format!(
                            "{} bytes but the manifest says {}",
                            d.size,
                            entry.size.unwrap_or_default()
                        ),
                    ));
                }
            }
            Err(e) => out.findings.push(("unreadable", place(&entry.name), e)),
        }
    }
    for (name, want) in &p.expected {
        let have = match digests.get(name) {
            Some(h) => Some(h.clone()),
            None => match bucket.digest(&format!("{}{name}", p.prefix)).await {
                Ok(d) => d.map(|d| d.sha256),
                Err(e) => {
                    out.findings.push(("unreadable", place(name), e));
                    continue;
                }
            },
        };
        match have {
            // A file the manifest lists was already reported missing above.
            None if !listed.contains(name.as_str()) => {
                out.findings.push((
                    "missing",
                    place(name),
                    "the plan expects its hash, but it is absent".to_string(),
                ));
            }
            None => {}
            Some(have) if &have != want => out.findings.push((
                "corrupt",
                place(name),
                format!(
                    "sha256 {} but the plan's independent hash is {}",
                    short(&have),
                    short(want)
                ),
            )),
            Some(_) => {}
        }
    }
    out
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    name: String,
    sha256: String,
    size: Option<u64>,
}

/// The manifest's file list: `{ name, sha256, size? }` at `manifest_files`.
fn manifest_entries(probe: &ArtifactsProbe, bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let items = probe.manifest_files.query(&doc).all();
    if items.is_empty() {
        return Err("the manifest lists no files".into());
    }
    items
        .into_iter()
        .map(|item| {
            let name = item.get("name").and_then(|v| v.as_str());
            let sha = item.get("sha256").and_then(|v| v.as_str());
            match (name, sha) {
                (Some(name), Some(sha)) if is_safe_name(name) => Ok(Entry {
                    name: name.to_string(),
                    sha256: sha.to_ascii_lowercase(),
                    size: item.get("size").and_then(serde_json::Value::as_u64),
                }),
                (Some(name), Some(_)) => Err(format!(
                    "the manifest names a file outside its package: {name:?}"
                )),
                _ => Err(format!("a manifest entry lacks `name` or `sha256`: {item}")),
            }
        })
        .collect()
}

/// A file name inside a package: no way out of it.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('/') && !name.split('/').any(|part| part == "..")
}

/// Objects under `root` that belong to no tracked job's package.
async fn orphans(
    probe: &ArtifactsProbe,
    env: &VerifyEnv<'_>,
    bucket: &Bucket,
    root: &str,
    section: &mut VerifySection,
) {
    let mut known = BTreeSet::new();
    for job in env.jobs {
        for view in job.jobs.iter().flatten() {
            if let Some(id) = &view.id
                && let Ok(prefix) = package_prefix(probe, env, &job.key, id)
            {
                known.insert(prefix);
            }
        }
    }
    let listed = match bucket.list(root).await {
        Ok(l) => l,
        Err(e) => {
            section.error.get_or_insert(e);
            return;
        }
    };
    section.count("objects_listed", listed.len() as u64);
    let root = root.trim_start_matches('/');
    let mut orphan_dirs: BTreeMap<String, u64> = BTreeMap::new();
    for (key, _) in listed {
        if known.iter().any(|p| key.starts_with(p.as_str())) {
            continue;
        }
        let rest = key
            .strip_prefix(root)
            .unwrap_or(&key)
            .trim_start_matches('/');
        let dir = match rest.split_once('/') {
            Some((dir, _)) => format!("{root}{}{dir}/", if root.ends_with('/') { "" } else { "/" }),
            None => key.clone(),
        };
        *orphan_dirs.entry(dir).or_default() += 1;
    }
    for (dir, n) in orphan_dirs {
        section.find(
            "orphan",
            format!("{}/{dir}", bucket.name),
            format!("{n} objects that belong to no tracked job"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> ArtifactsProbe {
        ArtifactsProbe {
            oracle: "store".into(),
            bucket: "b".into(),
            prefix: shakedown_plan::template::Template::literal("runs/{{ id }}/"),
            manifest: "manifest.json".into(),
            manifest_files: serde_json_path::JsonPath::parse("$.files[*]").unwrap(),
            files: vec![],
            expected_sha256: vec![],
            tests: vec![],
            orphans: None,
            max_manifest_bytes: 1024,
        }
    }

    /// A local store with one package `runs/1/`: `a.txt` and a manifest listing it.
    fn store_with_one_package(manifest_sha: &str) -> (tempfile::TempDir, Bucket) {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("b/runs/1");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("a.txt"), b"abc").unwrap();
        let manifest =
            format!(r#"{{"files":[{{"name":"a.txt","sha256":"{manifest_sha}","size":3}}]}}"#);
        std::fs::write(package.join("manifest.json"), manifest).unwrap();
        let oracle = Oracle {
            name: "store".into(),
            kind: shakedown_plan::model::OracleKind::Local(dir.path().display().to_string()),
            timeout: std::time::Duration::from_secs(5),
        };
        let plan = crate::load::test_server::plan(vec![], vec![], vec![]);
        let bucket = Bucket::open(&oracle, "b", &plan).unwrap();
        (dir, bucket)
    }

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn package(expected: &[(&str, &str)]) -> Package {
        Package {
            key: "k".into(),
            id: "1".into(),
            prefix: "runs/1/".into(),
            expected: expected
                .iter()
                .map(|(f, h)| (f.to_string(), h.to_string()))
                .collect(),
        }
    }

    #[tokio::test]
    async fn a_package_is_checked_against_its_manifest_and_the_plans_own_hashes() {
        let (_dir, bucket) = store_with_one_package(ABC);
        let intact = check_package(&probe(), &bucket, &package(&[("a.txt", ABC)])).await;
        assert!(intact.findings.is_empty(), "{:?}", intact.findings);
        assert_eq!((intact.files, intact.present), (2, true));

        // The manifest agrees with the bytes, but the independent hash does not.
        let other = "0".repeat(64);
        let checked = check_package(&probe(), &bucket, &package(&[("a.txt", &other)])).await;
        assert_eq!(checked.findings.len(), 1, "{:?}", checked.findings);
        assert_eq!(checked.findings[0].0, "corrupt");
        assert!(
            checked.findings[0]
                .2
                .contains("the plan's independent hash")
        );

        // A file the plan expects but the package lacks.
        let checked = check_package(&probe(), &bucket, &package(&[("b.txt", ABC)])).await;
        assert_eq!(checked.findings[0].0, "missing", "{:?}", checked.findings);
    }

    #[tokio::test]
    async fn bytes_that_disagree_with_the_manifest_are_corrupt() {
        let (_dir, bucket) = store_with_one_package(&"1".repeat(64));
        let checked = check_package(&probe(), &bucket, &package(&[])).await;
        assert_eq!(checked.findings.len(), 1, "{:?}", checked.findings);
        assert_eq!(checked.findings[0].0, "corrupt");
        assert!(checked.findings[0].1.ends_with("b/runs/1/a.txt"));
    }

    #[test]
    fn manifests_parse_and_reject_paths_out_of_the_package() {
        let good = br#"{"files":[{"name":"a.txt","sha256":"AB","size":3}]}"#;
        assert_eq!(
            manifest_entries(&probe(), good).unwrap(),
            vec![Entry {
                name: "a.txt".into(),
                sha256: "ab".into(),
                size: Some(3)
            }]
        );
        let escape = br#"{"files":[{"name":"../x","sha256":"ab"}]}"#;
        assert!(
            manifest_entries(&probe(), escape)
                .unwrap_err()
                .contains("outside")
        );
        assert!(
            manifest_entries(&probe(), b"{}")
                .unwrap_err()
                .contains("no files")
        );
        assert!(
            manifest_entries(&probe(), b"nope")
                .unwrap_err()
                .contains("not JSON")
        );
    }
}
