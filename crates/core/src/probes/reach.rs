//! Oracle preflight: before any load, prove that every oracle a selected verification reads can
//! be reached with its credentials, so that a wrong database password or a missing bucket is a
//! BLOCKED check after seconds, not an INCONCLUSIVE one after the whole run.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Connection as _;

use super::object_store::{Bucket, is_unreachable};
use crate::check::TargetCheck;
use crate::status::Status;
use shakedown_plan::model::{Oracle, OracleKind, Plan, VerifyProbe};

/// The name a preflight entry gives an oracle: `oracle NAME`.
pub fn entry_name(oracle: &str) -> String {
    format!("oracle {oracle}")
}

/// The buckets the verifications read in each object-store oracle.
fn buckets<'p>(plan: &'p Plan, only: Option<&'p [String]>) -> BTreeMap<&'p str, BTreeSet<&'p str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for v in selected(plan, only) {
        let (oracle, names): (&str, Vec<&str>) = match &v.probe {
            VerifyProbe::Artifacts(p) => (&p.oracle, vec![p.bucket.as_str()]),
            VerifyProbe::Store(p) => (&p.oracle, vec![p.bucket.as_str()]),
            VerifyProbe::Isolation(p) => (
                &p.oracle,
                std::iter::once(p.allowed.0.as_str())
                    .chain(p.scan.iter().map(|(b, _)| b.as_str()))
                    .collect(),
            ),
            _ => continue,
        };
        out.entry(oracle).or_default().extend(names);
    }
    out
}

fn selected<'p>(
    plan: &'p Plan,
    only: Option<&'p [String]>,
) -> impl Iterator<Item = &'p shakedown_plan::model::Verification> {
    plan.verifications
        .iter()
        .filter(move |v| only.is_none_or(|ids| ids.contains(&v.id)))
}

/// Check every oracle the selected verifications read, concurrently, one entry per oracle.
pub async fn check_oracles(plan: &Plan, only: Option<&[String]>) -> Vec<TargetCheck> {
    let used: BTreeSet<&str> = selected(plan, only).filter_map(|v| v.oracle()).collect();
    let buckets = buckets(plan, only);
    let checks = used.into_iter().filter_map(|name| {
        let oracle = plan.oracles.get(name)?;
        let wanted = buckets.get(name).cloned().unwrap_or_default();
        Some(async move {
            let outcome = reach(oracle, plan, &wanted).await;
            let (status, reason, hint) = match outcome {
                Ok(observed) => (Status::Pass, observed, None),
                Err(e) => (
                    Status::Blocked,
                    e,
                    Some(format!(
                        "fix the oracle `{}` (its URL, credentials, bucket or directory) or make \
                         it reachable from this machine; the checks that read it did not run",
                        oracle.name
                    )),
                ),
            };
            TargetCheck {
                target: entry_name(&oracle.name),
                url: oracle.kind.name().to_string(),
                status,
                reason,
                hint,
            }
        })
    });
    futures::future::join_all(checks).await
}

/// Connect to one oracle and do the smallest read that proves access.
async fn reach(oracle: &Oracle, plan: &Plan, buckets: &BTreeSet<&str>) -> Result<String, String> {
    match &oracle.kind {
        OracleKind::Postgres(_) => {
            let mut conn = super::sql::connect(oracle, plan).await?;
            let ping = tokio::time::timeout(oracle.timeout, conn.ping()).await;
            let _ = tokio::time::timeout(oracle.timeout, conn.close()).await;
            match ping {
                Ok(Ok(())) => Ok("connected and answered".into()),
                Ok(Err(e)) => Err(format!("oracle `{}`: {e}", oracle.name)),
                Err(_) => Err(format!("oracle `{}`: no answer to a ping", oracle.name)),
            }
        }
        OracleKind::Redis(_) => {
            let mut conn = super::redis::connect(oracle, plan).await?;
            let ping = tokio::time::timeout(
                oracle.timeout,
                redis::cmd("PING").query_async::<String>(&mut conn),
            )
            .await;
            match ping {
                Ok(Ok(_)) => Ok("connected and answered PING".into()),
                Ok(Err(e)) => Err(format!(
                    "oracle `{}`: PING failed: {}",
                    oracle.name,
                    e.detail().unwrap_or("refused")
                )),
                Err(_) => Err(format!("oracle `{}`: no answer to PING", oracle.name)),
            }
        }
        OracleKind::Local(dir) => {
            if !std::path::Path::new(dir).is_dir() {
                return Err(format!(
                    "the directory of oracle `{}` does not exist: {dir}",
                    oracle.name
                ));
            }
            for bucket in buckets {
                Bucket::open(oracle, bucket, plan)?;
            }
            Ok("the directory exists".into())
        }
        OracleKind::S3(_) => {
            for bucket in buckets {
                let b = Bucket::open(oracle, bucket, plan)?;
                match b.digest("shakedown-preflight-absent-object").await {
                    Ok(_) => {}
                    Err(e) if is_unreachable(&e) => {
                        return Err(format!("oracle `{}`: cannot reach it: {e}", oracle.name));
                    }
                    Err(e) => {
                        return Err(format!(
                            "oracle `{}`: bucket {bucket} refused a read: {e}",
                            oracle.name
                        ));
                    }
                }
            }
            Ok(format!(
                "answered for bucket{} {}",
                if buckets.len() == 1 { "" } else { "s" },
                buckets.iter().copied().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}
