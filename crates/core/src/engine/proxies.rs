//! The fault proxies of a run (`[proxies.NAME]`): started before anything else, since process
//! targets and the load connect through them; their real addresses put into the plan; their
//! upstreams checked at preflight; stopped at the end.
//!
//! A proxy that cannot listen, or whose upstream does not accept a connection at preflight, is a
//! BLOCKED preflight entry named `proxies.NAME`, which blocks every test that uses it (the plan
//! compiler put that name in their targets).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::check::TargetCheck;
use crate::status::Status;
use shakedown_plan::model::{Plan, ProxySpec, bind_addresses};
use shakedown_plan::redact::Redactor;
use shakedown_proxy::{Proxy, ProxyConfig, probe_upstream};

/// The running proxies of a run, by name.
#[derive(Debug, Default)]
pub struct ProxyStage {
    running: BTreeMap<String, Arc<Proxy>>,
    failed: BTreeMap<String, String>,
}

/// A proxy's seed: the plan's, mixed with the proxy's name (FNV-1a), so that two proxies of
/// one plan draw differently and every run of the plan draws the same.
fn proxy_seed(plan_seed: u64, name: &str) -> u64 {
    name.bytes()
        .fold(0xcbf2_9ce4_8422_2325 ^ plan_seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

impl ProxyStage {
    /// Start every proxy of `plan`. One that cannot listen is recorded for preflight.
    pub fn start(plan: &Plan) -> ProxyStage {
        let mut stage = ProxyStage::default();
        for (name, spec) in &plan.proxies {
            match Proxy::start(config(plan, spec)) {
                Ok(proxy) => {
                    tracing::info!(proxy = %name, addr = %proxy.addr(), upstream = %spec.upstream, "proxy listening");
                    stage.running.insert(name.clone(), Arc::new(proxy));
                }
                Err(err) => {
                    stage.failed.insert(name.clone(), err.to_string());
                }
            }
        }
        stage
    }

    /// `plan` with the proxies' real addresses in place of their placeholders.
    pub fn bind(&self, plan: &Arc<Plan>) -> Arc<Plan> {
        if self.running.is_empty() {
            return plan.clone();
        }
        let addrs: BTreeMap<String, SocketAddr> = self
            .running
            .iter()
            .map(|(name, proxy)| (name.clone(), proxy.addr()))
            .collect();
        Arc::new(bind_addresses(plan, &addrs))
    }

    /// Every running proxy, by name, for the fault timelines.
    pub fn handles(&self) -> crate::faults::proxy_faults::Proxies {
        Arc::new(self.running.clone())
    }

    /// One preflight entry per proxy: PASS when it listens and its upstream accepts a
    /// connection, BLOCKED otherwise, with the reason and the fix.
    pub async fn preflight(&self, plan: &Plan, redactor: &Redactor) -> Vec<TargetCheck> {
        let checks = plan.proxies.values().map(|spec| self.check(spec, redactor));
        futures::future::join_all(checks).await
    }

    async fn check(&self, spec: &ProxySpec, redactor: &Redactor) -> TargetCheck {
        let entry = |status, reason: String, hint: Option<String>| TargetCheck {
            target: spec.check_name(),
            url: format!("tcp://{}", redactor.redact(&spec.upstream)),
            status,
            reason: redactor.redact(&reason).into_owned(),
            hint,
        };
        let Some(proxy) = self.running.get(&spec.name) else {
            let why = self.failed.get(&spec.name).cloned().unwrap_or_default();
            return entry(
                Status::Blocked,
                why,
                Some(format!(
                    "free the address or change `listen` of [proxies.{}] (port 0 picks a free port)",
                    spec.name
                )),
            );
        };
        match probe_upstream(&spec.upstream, spec.connect_timeout).await {
            Ok(()) => entry(
                Status::Pass,
                format!(
                    "proxy `{}` listens on {}; its upstream {} accepts connections",
                    spec.name,
                    proxy.addr(),
                    spec.upstream
                ),
                None,
            ),
            Err(err) => entry(
                Status::Blocked,
                format!(
                    "proxy `{}`: its upstream {} does not accept connections ({err})",
                    spec.name, spec.upstream
                ),
                Some(format!(
                    "start the dependency before the run, or fix `upstream` of [proxies.{}]",
                    spec.name
                )),
            ),
        }
    }

    /// Stop every proxy and wait until each has closed its connections.
    pub async fn stop(self) {
        for (name, proxy) in self.running {
            match Arc::try_unwrap(proxy) {
                Ok(proxy) => proxy.shutdown().await,
                Err(_) => {
                    tracing::debug!(proxy = %name, "proxy still in use; it stops when dropped")
                }
            }
        }
    }
}

fn config(plan: &Plan, spec: &ProxySpec) -> ProxyConfig {
    let mut config = ProxyConfig::new(&spec.name, spec.listen, &spec.upstream);
    config.seed = proxy_seed(plan.seed, &spec.name);
    config.connect_timeout = spec.connect_timeout;
    config.control_deadline = spec.control_deadline;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_seeds_differ_by_name_and_repeat_by_plan() {
        assert_eq!(proxy_seed(42, "db"), proxy_seed(42, "db"));
        assert_ne!(proxy_seed(42, "db"), proxy_seed(42, "api"));
        assert_ne!(proxy_seed(42, "db"), proxy_seed(43, "db"));
    }
}
