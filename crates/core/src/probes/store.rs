//! `store = { ... }`: write probe objects, read each back and compare its SHA-256, then delete
//! them, measuring storage write and read latency.

use std::time::Instant;

use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::VerifyEnv;
use super::object_store::Bucket;
use crate::report::verify_section::{LatencyStats, VerifySection};
use shakedown_plan::model::{Oracle, StoreProbe};

/// Write, read back and delete `count` objects.
pub async fn run(probe: &StoreProbe, oracle: &Oracle, env: &VerifyEnv<'_>) -> VerifySection {
    let mut section = VerifySection::new(
        "store",
        Some(&oracle.name),
        format!(
            "{} objects of {} bytes at {}/{}",
            probe.count, probe.size, probe.bucket, probe.prefix
        ),
    );
    let bucket = match Bucket::open(oracle, &probe.bucket, env.plan) {
        Ok(b) => b,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(env.plan.seed);
    let (mut writes, mut reads) = (Vec::new(), Vec::new());
    let mut intact = 0u32;
    for i in 0..probe.count {
        let key = format!("{}shakedown-{tag}-{i}", probe.prefix);
        let mut bytes = vec![0u8; probe.size as usize];
        rng.fill_bytes(&mut bytes);
        let expected = hex::encode(Sha256::digest(&bytes));
        let started = Instant::now();
        if let Err(e) = bucket.put(&key, bytes).await {
            if super::object_store::is_unreachable(&e) {
                section.error.get_or_insert(format!("write: {e}"));
            } else {
                section.find("write_refused", format!("{}/{key}", probe.bucket), e);
            }
            break;
        }
        writes.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let read = bucket.digest(&key).await;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
        match read {
            Ok(Some(d)) if d.sha256 == expected && d.size == probe.size => intact += 1,
            Ok(Some(d)) => section.find(
                "corrupt",
                format!("{}/{key}", probe.bucket),
                format!("read back {} bytes with a different SHA-256", d.size),
            ),
            Ok(None) => section.find(
                "missing",
                format!("{}/{key}", probe.bucket),
                "written, then absent on read",
            ),
            Err(e) => {
                section.error.get_or_insert(format!("read: {e}"));
            }
        }
        if let Err(e) = bucket.delete(&key).await {
            section.find("left_behind", format!("{}/{key}", probe.bucket), e);
        }
    }
    for (name, samples) in [("write", &writes), ("read", &reads)] {
        if let Some(stats) = LatencyStats::of(samples) {
            section.latency_ms.insert(name.into(), stats);
        }
    }
    section.count("objects", writes.len() as u64);
    if writes.is_empty() {
        return section;
    }
    section.assert(
        format!(
            "{} objects written, read back intact and deleted",
            probe.count
        ),
        Some(format!("{intact} of {} intact", probe.count)),
        intact == probe.count,
    );
    section
}
