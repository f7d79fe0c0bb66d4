//! The run evidence package: four content files whose bytes are a deterministic function of the
//! run's key, kind and params, plus `manifest.json` with the SHA-256 and size of each.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::run::RunRecord;

/// The name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// The names of the four content files, in manifest order.
pub const CONTENT_FILES: [&str; 4] = ["result.json", "metrics.csv", "log.txt", "output.bin"];
const OUTPUT_BYTES: usize = 4096;

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// The file name inside the run's prefix.
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A manifest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The file name.
    pub name: String,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run id.
    pub run_id: String,
    /// The run's idempotency key.
    pub key: String,
    /// The run's kind.
    pub kind: String,
    /// The four content files.
    pub files: Vec<ManifestEntry>,
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The five files of a run's package, manifest last. With `corrupt`, one content file is changed
/// after the manifest is computed (the `corrupt-artifact` defect).
pub fn build(run: &RunRecord, corrupt: bool) -> Vec<PackageFile> {
    let seed = Sha256::digest(format!("{}\n{}\n{}", run.key, run.kind, run.params).as_bytes());
    let steps = run.steps();
    let result = serde_json::json!({
        "key": run.key,
        "kind": run.kind,
        "params": run.params,
        "steps": steps,
        "score": u32::from_be_bytes([seed[0], seed[1], seed[2], seed[3]]),
    });
    let mut metrics = String::from("step,value\n");
    for step in 1..=steps {
        let value = u64::from(seed[(step as usize) % seed.len()]) * step;
        metrics.push_str(&format!("{step},{value}\n"));
    }
    let log = format!(
        "run kind={} key={}\nsteps={steps}\nseed={}\n",
        run.kind,
        run.key,
        hex::encode(seed)
    );
    let mut output = Vec::with_capacity(OUTPUT_BYTES);
    let mut block = seed.to_vec();
    while output.len() < OUTPUT_BYTES {
        block = Sha256::digest(&block).to_vec();
        output.extend_from_slice(&block);
    }
    output.truncate(OUTPUT_BYTES);

    let mut files = vec![
        PackageFile {
            name: CONTENT_FILES[0],
            bytes: serde_json::to_vec_pretty(&result).unwrap_or_default(),
        },
        PackageFile {
            name: CONTENT_FILES[1],
            bytes: metrics.into_bytes(),
        },
        PackageFile {
            name: CONTENT_FILES[2],
            bytes: log.into_bytes(),
        },
        PackageFile {
            name: CONTENT_FILES[3],
            bytes: output,
        },
    ];
    let manifest = Manifest {
        run_id: run.id.clone(),
        key: run.key.clone(),
        kind: run.kind.to_string(),
        files: files
            .iter()
            .map(|f| ManifestEntry {
                name: f.name.to_owned(),
                sha256: sha256_hex(&f.bytes),
                size: f.bytes.len() as u64,
            })
            .collect(),
    };
    if corrupt {
        if let Some(byte) = files[3].bytes.last_mut() {
            *byte ^= 0xff;
        }
    }
    files.push(PackageFile {
        name: MANIFEST,
        bytes: serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    });
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunKind, RunStatus};

    fn run(key: &str) -> RunRecord {
        RunRecord {
            id: "run-1".into(),
            key: key.into(),
            kind: RunKind::Simulate,
            params: serde_json::json!({"steps": 4}),
            status: RunStatus::Running,
            attempts: 1,
            completed_by: None,
            result_count: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn manifest_mismatches(files: &[PackageFile]) -> usize {
        let manifest: Manifest = serde_json::from_slice(&files[4].bytes).unwrap();
        manifest
            .files
            .iter()
            .zip(files)
            .filter(|(entry, file)| {
                entry.sha256 != sha256_hex(&file.bytes) || entry.size != file.bytes.len() as u64
            })
            .count()
    }

    #[test]
    fn deterministic_and_key_dependent() {
        assert_eq!(build(&run("a"), false), build(&run("a"), false));
        assert_ne!(build(&run("a"), false)[3], build(&run("b"), false)[3]);
    }

    #[test]
    fn manifest_matches_unless_corrupt() {
        assert_eq!(manifest_mismatches(&build(&run("a"), false)), 0);
        assert_eq!(manifest_mismatches(&build(&run("a"), true)), 1);
    }
}
