//! Requests the fault machinery sends outside any scenario (identity probes, recovery and
//! readiness probes, ops endpoints, stop conditions): rendered with the plan's secrets and
//! vars, sent with the target's headers, bounded in time and body size.

use std::time::Duration;

use crate::target_context::{error_chain, probe_context};
use shakedown_plan::model::{Plan, Probe};

/// The largest body read from a probe.
const BODY_CAP: usize = 256 * 1024;

/// What a probe got back.
#[derive(Debug, Clone)]
pub struct ProbeReply {
    /// The request line as sent (`GET /health`).
    pub line: String,
    /// The HTTP status.
    pub status: u16,
    /// The body, capped.
    pub body: Vec<u8>,
}

impl ProbeReply {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Send `probe` to `target` of `plan`, with at most `timeout` for the whole exchange.
pub async fn send(
    plan: &Plan,
    target: &str,
    probe: &Probe,
    timeout: Duration,
) -> Result<ProbeReply, String> {
    let target = plan
        .targets
        .get(target)
        .ok_or_else(|| format!("no target {target}"))?;
    let ctx = probe_context(plan);
    let path = probe.path.render(&ctx).map_err(|e| e.to_string())?;
    let line = format!("{} {path}", probe.method.as_str());
    if target.base_url.is_empty() {
        return Err(format!("target {} has no url for {line}", target.name));
    }
    let client = reqwest::Client::builder()
        .connect_timeout(target.connect_timeout.min(timeout))
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let method =
        reqwest::Method::from_bytes(probe.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, format!("{}{path}", target.base_url));
    for header in target.headers.iter().chain(probe.headers.iter()) {
        let value = header
            .value
            .render(&ctx)
            .map_err(|e| format!("header {}: {e}", header.name))?;
        request = request.header(header.name.as_str(), value);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("{line} failed: {}", error_chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(format!("{line} failed: {}", error_chain(&e))),
        }
    }
    Ok(ProbeReply { line, status, body })
}

/// Whether `probe` to `target` answers with an expected status.
pub async fn healthy(plan: &Plan, target: &str, probe: &Probe, timeout: Duration) -> bool {
    send(plan, target, probe, timeout)
        .await
        .is_ok_and(|r| probe.expect_status.contains(r.status))
}
