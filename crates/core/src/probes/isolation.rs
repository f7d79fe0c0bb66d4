//! `isolation = { ... }` (the runbook's BUCKET): list everything in every place the app can
//! write to, and report each object outside the allowed place with the bucket that holds it.

use std::collections::BTreeMap;

use super::VerifyEnv;
use super::object_store::Bucket;
use crate::report::verify_section::VerifySection;
use shakedown_plan::model::{IsolationProbe, Oracle};

/// List every scanned place and judge each object.
pub async fn run(probe: &IsolationProbe, oracle: &Oracle, env: &VerifyEnv<'_>) -> VerifySection {
    let (allowed_bucket, allowed_prefix) = &probe.allowed;
    let allowed_text = format!("{allowed_bucket}/{allowed_prefix}");
    let mut section = VerifySection::new(
        "isolation",
        Some(&oracle.name),
        format!("only {allowed_text} may hold objects"),
    );
    let mut places: Vec<(String, String)> = probe.scan.clone();
    if !places
        .iter()
        .any(|(b, p)| b == allowed_bucket && allowed_prefix.starts_with(p.as_str()))
    {
        places.push(probe.allowed.clone());
    }
    let mut buckets: BTreeMap<String, Bucket> = BTreeMap::new();
    let mut listed = 0u64;
    let mut inside = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    for (bucket_name, prefix) in &places {
        let bucket = match buckets.get(bucket_name) {
            Some(b) => b.clone(),
            None => match Bucket::open(oracle, bucket_name, env.plan) {
                Ok(b) => {
                    buckets.insert(bucket_name.clone(), b.clone());
                    b
                }
                Err(e) => {
                    section.error.get_or_insert(e);
                    continue;
                }
            },
        };
        let objects = match bucket.list(prefix).await {
            Ok(o) => o,
            Err(e) => {
                section.error.get_or_insert(e);
                continue;
            }
        };
        for (key, size) in objects {
            if !seen.insert((bucket_name.clone(), key.clone())) {
                continue;
            }
            listed += 1;
            if bucket_name == allowed_bucket && key.starts_with(allowed_prefix.as_str()) {
                inside += 1;
            } else {
                section.find(
                    "outside",
                    format!("{bucket_name}/{key}"),
                    format!("{size} bytes in bucket {bucket_name}, outside {allowed_text}"),
                );
            }
        }
    }
    section.count("objects_listed", listed);
    section.count("objects_allowed", inside);
    let outside = section.counts.get("outside").copied().unwrap_or(0);
    if section.error.is_some() && outside == 0 {
        return section;
    }
    section.assert(
        format!("no object outside {allowed_text}"),
        Some(format!("{outside} outside of {listed} listed")),
        outside == 0,
    );
    section.assert(
        format!(
            "{allowed_text} holds at least {} objects",
            probe.min_objects
        ),
        Some(inside.to_string()),
        inside >= probe.min_objects,
    );
    section
}
