//! Network faults through the embedded proxy (`toxic = ...` in a timeline): add the toxic,
//! remove it at `for` or at any revert (the proxy also expires it by itself, a little later,
//! even if this run is stuck), and prove it from the proxy's counters.
//!
//! The journal's recipe for a toxic is in-process: the proxy lives inside shakedown, so when a
//! run dies its toxics die with it, and `reconcile` has nothing to replay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::undo::{CustomRevert, GUARD_SLACK, Undo};
use super::{Applied, DriverError};
use shakedown_plan::model::check_name;
use shakedown_proxy::{Proxy, ProxyError, ToxicSpec};

/// The running proxies of a run, by name.
pub type Proxies = Arc<BTreeMap<String, Arc<Proxy>>>;

/// Add the toxic of fault `key` to `proxy`, named after the fault, with the proxy's own TTL a
/// little after `for` (so that the run's revert normally comes first).
pub async fn apply(
    proxies: &Proxies,
    key: &str,
    proxy: &str,
    spec: &ToxicSpec,
    ttl: Duration,
) -> Result<Applied, DriverError> {
    let running = proxies
        .get(proxy)
        .ok_or_else(|| DriverError::Failed(format!("proxy `{proxy}` is not running")))?;
    let spec = ToxicSpec {
        name: key.to_string(),
        ttl: ttl + GUARD_SLACK,
        ..spec.clone()
    };
    let outcome = running
        .add_toxic(spec)
        .await
        .map_err(|e| DriverError::Failed(e.to_string()))?;
    let mut detail = format!(
        "toxic {} added to proxy {proxy}; {} open connections took it up",
        outcome.stats.kind, outcome.connections
    );
    if outcome.fallback_closed > 0 {
        detail.push_str(&format!(
            ", {} were closed for not taking it up in time",
            outcome.fallback_closed
        ));
    }
    Ok(Applied::accepted(detail))
}

/// Record fault `key` for undo, and remove it after `ttl` unless a revert came first.
pub fn track(undo: &Undo, proxies: &Proxies, key: &str, proxy: &str, ttl: Duration) {
    let Some(running) = proxies.get(proxy).cloned() else {
        return;
    };
    let name = key.to_string();
    let revert = CustomRevert::new(move || {
        let (running, name) = (running.clone(), name.clone());
        Box::pin(async move { remove(&running, &name).await })
    });
    undo.push_custom(key, &check_name(proxy), revert);
    let (undo, key) = (undo.clone(), key.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(ttl).await;
        undo.revert(&key).await;
    });
}

/// Remove a toxic; the removal returns once every connection took it up, which confirms it.
async fn remove(proxy: &Proxy, name: &str) -> Result<String, String> {
    match proxy.remove_toxic(name).await {
        Ok(outcome) => Ok(format!(
            "toxic removed from proxy {}; {} open connections took the removal up{}",
            proxy.name(),
            outcome.connections,
            if outcome.fallback_closed > 0 {
                format!(
                    ", {} were closed for not taking it up in time",
                    outcome.fallback_closed
                )
            } else {
                String::new()
            }
        )),
        Err(ProxyError::NotFound { .. }) => Ok(format!(
            "the proxy {} had already expired the toxic (its TTL)",
            proxy.name()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The proof of fault `key`: the counters of its toxic on `proxy`. Proven only if they show
/// that it touched traffic.
pub fn proof(proxies: &Proxies, key: &str, proxy: &str) -> Option<Applied> {
    let stats = proxies.get(proxy)?.toxic_stats(key)?;
    let detail = format!(
        "proxy {proxy} counted toxic {}: {} connections hit, {} bytes delayed or held, {} connections closed",
        stats.kind, stats.connections, stats.bytes, stats.closed
    );
    Some(if stats.touched_traffic() {
        Applied::proven(detail)
    } else {
        Applied::accepted(detail)
    })
}
