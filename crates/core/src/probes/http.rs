//! `http = { ... }`: one request whose response must meet its expectations.

use super::VerifyEnv;
use super::request::{describe, login, send};
use crate::report::verify_section::{LatencyStats, VerifySection};
use shakedown_plan::model::HttpProbe;

/// Send the request once and record what held.
pub async fn run(probe: &HttpProbe, env: &VerifyEnv<'_>) -> VerifySection {
    let mut section = VerifySection::new("http", None, describe(&probe.request));
    let captured = match login(env.plan, probe.login.as_ref()).await {
        Ok(c) => c,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    let reply = send(env.plan, &probe.request, &captured).await;
    if reply.unobserved {
        section.error = reply.failure;
        return section;
    }
    section.count("requests", 1);
    if let Some(stats) = LatencyStats::of(&[reply.latency.as_secs_f64() * 1000.0]) {
        section.latency_ms.insert("request".into(), stats);
    }
    let expectation = expectation_text(probe);
    let observed = match &reply.failure {
        Some(failure) => failure.clone(),
        None => format!("status {}", reply.status.unwrap_or_default()),
    };
    section.assert(expectation, Some(observed), reply.failure.is_none());
    section
}

/// "status 2xx, $.status == \"ok\"": the expectations in words.
fn expectation_text(probe: &HttpProbe) -> String {
    let expect = &probe.request.expect;
    let mut parts = vec![format!(
        "status {}",
        crate::load::describe_status(&expect.status)
    )];
    for j in &expect.json {
        match &j.equals {
            Some(v) => parts.push(format!("{} == {v}", j.source)),
            None => parts.push(format!("{} present", j.source)),
        }
    }
    for needle in &expect.body_contains {
        parts.push(format!("body contains {needle:?}"));
    }
    if let Some(max) = expect.max_latency {
        parts.push(format!("latency <= {}ms", max.as_millis()));
    }
    parts.join(", ")
}
