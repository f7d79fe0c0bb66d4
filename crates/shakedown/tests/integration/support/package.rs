//! Checks a run evidence package independently of the testbed: five files, and a manifest whose
//! SHA-256 and size of each content file are recomputed here.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A package: file name to bytes.
pub type Package = BTreeMap<String, Vec<u8>>;

/// Every package under `<root>/<bucket>/runs/`, by run id (empty if the folder is missing).
pub fn local_packages(root: &Path, bucket: &str) -> BTreeMap<String, Package> {
    let mut packages = BTreeMap::new();
    let Ok(runs) = std::fs::read_dir(root.join(bucket).join("runs")) else {
        return packages;
    };
    for run in runs.flatten() {
        let mut files = Package::new();
        for file in std::fs::read_dir(run.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            // object_store's local backend stages writes under hidden temporary names.
            if name.starts_with('.') || name.contains("#") {
                continue;
            }
            files.insert(name, std::fs::read(file.path()).unwrap_or_default());
        }
        packages.insert(run.file_name().to_string_lossy().into_owned(), files);
    }
    packages
}

/// The names of content files whose bytes do not match the manifest, or an error when the package
/// is not five files with a readable manifest for this run and key.
pub fn mismatched_files(package: &Package, run_id: &str, key: &str) -> Result<Vec<String>, String> {
    if package.len() != 5 {
        return Err(format!(
            "expected 5 files, found {:?}",
            package.keys().collect::<Vec<_>>()
        ));
    }
    let manifest: Value = package
        .get("manifest.json")
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .ok_or("no readable manifest.json")?;
    if manifest["run_id"] != run_id || manifest["key"] != key {
        return Err(format!("manifest names another run: {manifest}"));
    }
    let entries = manifest["files"]
        .as_array()
        .ok_or("manifest has no files")?;
    if entries.len() != 4 {
        return Err(format!(
            "manifest lists {} files, expected 4",
            entries.len()
        ));
    }
    let mut mismatched = Vec::new();
    for entry in entries {
        let name = entry["name"]
            .as_str()
            .ok_or("manifest entry without a name")?;
        let bytes = package
            .get(name)
            .ok_or_else(|| format!("{name} is missing"))?;
        let sha = hex::encode(Sha256::digest(bytes));
        if entry["sha256"] != sha.as_str() || entry["size"] != bytes.len() as u64 {
            mismatched.push(name.to_owned());
        }
    }
    Ok(mismatched)
}

/// Panic unless the package is complete and every file matches its manifest.
pub fn assert_package_ok(package: &Package, run_id: &str, key: &str) {
    match mismatched_files(package, run_id, key) {
        Ok(mismatched) if mismatched.is_empty() => {}
        Ok(mismatched) => panic!("run {run_id}: files do not match the manifest: {mismatched:?}"),
        Err(err) => panic!("run {run_id}: {err}"),
    }
}
