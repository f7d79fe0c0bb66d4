//! `canary = { ... }`: calls through the system to an external dependency. Each call must
//! succeed and carry every provenance field the plan names; the `unique` fields must differ
//! between calls (a repeated request id means a cached or faked answer). The records go into
//! the report.

use std::collections::{BTreeMap, HashMap};

use super::VerifyEnv;
use super::request::{describe, login, send};
use crate::report::verify_section::{LatencyStats, VerifySection};
use shakedown_plan::model::CanaryProbe;

/// Make `count` calls, one after another, and record their provenance.
pub async fn run(probe: &CanaryProbe, env: &VerifyEnv<'_>) -> VerifySection {
    let mut section = VerifySection::new("canary", None, describe(&probe.request));
    let mut latencies = Vec::new();
    let mut answered = 0u64;
    let mut unreachable: Option<String> = None;
    // value -> first call that carried it, per unique field
    let mut seen: HashMap<&str, HashMap<String, usize>> = HashMap::new();
    let captured = match login(env.plan, probe.login.as_ref()).await {
        Ok(c) => c,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    for call in 1..=probe.count as usize {
        let reply = send(env.plan, &probe.request, &captured).await;
        if reply.unobserved {
            unreachable.get_or_insert(reply.failure.unwrap_or_default());
            continue;
        }
        answered += 1;
        latencies.push(reply.latency.as_secs_f64() * 1000.0);
        if let Some(failure) = &reply.failure {
            section.find("failed", format!("call {call}"), failure.clone());
            continue;
        }
        let mut record = BTreeMap::new();
        record.insert("call".to_string(), serde_json::json!(call));
        for (name, source, path) in &probe.record {
            let value = reply
                .json
                .as_ref()
                .and_then(|doc| path.query(doc).first().cloned())
                .filter(|v| !v.is_null() && v.as_str() != Some(""));
            match value {
                Some(v) => {
                    if probe.unique.contains(name) {
                        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        let firsts = seen.entry(name.as_str()).or_default();
                        if let Some(first) = firsts.get(&text) {
                            section.find(
                                "repeated",
                                format!("{name} = {text}"),
                                format!("call {call} repeats the {name} of call {first}"),
                            );
                        } else {
                            firsts.insert(text, call);
                        }
                    }
                    record.insert(name.clone(), v);
                }
                None => {
                    section.find(
                        "absent",
                        format!("call {call}: {name}"),
                        format!("no value at {source}"),
                    );
                    record.insert(name.clone(), serde_json::Value::Null);
                }
            }
        }
        section.records.push(record);
    }
    section.count("calls", answered);
    if let Some(stats) = LatencyStats::of(&latencies) {
        section.latency_ms.insert("call".into(), stats);
    }
    if answered == 0 {
        section.error = Some(unreachable.unwrap_or_else(|| "no call was made".into()));
        return section;
    }
    let fields: Vec<&str> = probe.record.iter().map(|(n, _, _)| n.as_str()).collect();
    let complete = section
        .records
        .iter()
        .filter(|r| !r.values().any(serde_json::Value::is_null))
        .count();
    section.assert(
        format!("{} calls answer with {}", probe.count, fields.join(", ")),
        Some(format!("{complete} of {} complete", probe.count)),
        complete == probe.count as usize,
    );
    if !probe.unique.is_empty() {
        let repeated = section.counts.get("repeated").copied().unwrap_or(0);
        section.assert(
            format!("{} unique over the calls", probe.unique.join(", ")),
            Some(format!("{repeated} repeated")),
            repeated == 0,
        );
    }
    section
}
