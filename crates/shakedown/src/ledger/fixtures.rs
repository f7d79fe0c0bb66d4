//! Test fixtures for the ledger: a small plan with one tracked step, built by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json_path::JsonPath;

use crate::plan::model::{
    Environment, Expect, HttpStep, Limits, Method, Plan, Scenario, Secrets, Settle, StatusSet,
    Step, StepKind, Track, TrackRead,
};
use crate::template::Template;

/// The scenario holding the tracked step.
pub const SCENARIO: &str = "submit_run";
/// The index of the tracked step.
pub const STEP: usize = 1;

/// Settle configuration with a timeout and interval in milliseconds.
pub fn settle_config(timeout_ms: u64, interval_ms: u64) -> Settle {
    Settle {
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(interval_ms),
    }
}

fn path(source: &str) -> JsonPath {
    JsonPath::parse(source).expect("fixture JSONPath parses")
}

fn http_step(name: &str, track: Option<Track>) -> Step {
    Step {
        name: name.to_string(),
        kind: StepKind::Http(Box::new(HttpStep {
            method: Method::Post,
            target: "api".to_string(),
            path: Template::literal("/runs"),
            headers: Vec::new(),
            body: None,
            captures: Vec::new(),
            expect: Expect {
                status: StatusSet::Success,
                body_contains: Vec::new(),
                json: Vec::new(),
                max_latency: None,
            },
            poll: None,
            track,
        })),
    }
}

/// A plan whose scenario `submit_run` has an untracked step 0 and a tracked step 1 that reads
/// `$.runs[*]`, with states `completed` (success) and `failed` terminal.
pub fn plan(settle: Settle) -> Plan {
    let track = Track {
        key: Template::literal("k"),
        read: TrackRead {
            method: Method::Get,
            target: "api".to_string(),
            path: Template::literal("/runs"),
            headers: Vec::new(),
        },
        items: path("$.runs[*]"),
        state: path("$.status"),
        results: Some(path("$.result_count")),
        terminal: vec!["completed".to_string(), "failed".to_string()],
        success: vec!["completed".to_string()],
    };
    let scenario = Scenario {
        name: SCENARIO.to_string(),
        steps: vec![http_step("login", None), http_step("create", Some(track))],
    };
    Plan {
        name: "ledger-fixture".to_string(),
        environment: Environment::Local,
        seed: 1,
        limits: Limits {
            duration: Duration::from_secs(60),
            requests: 1000,
            rate: None,
        },
        settle,
        secrets: Secrets::default(),
        vars: BTreeMap::new(),
        targets: BTreeMap::new(),
        scenarios: BTreeMap::from([(SCENARIO.to_string(), scenario)]),
        load_tests: Vec::new(),
        faults: Default::default(),
        evidence: Default::default(),
        proxies: Default::default(),
        source: PathBuf::from("fixture.toml"),
        redacted_source: String::new(),
    }
}
