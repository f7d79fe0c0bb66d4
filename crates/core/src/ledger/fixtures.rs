//! Test fixtures for the ledger: a small plan with one tracked step, and hand-written
//! histories, built by hand.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use serde_json_path::JsonPath;

use crate::ledger::history::ReadRequest;
use crate::ledger::record::{JobView, OpFn, OpType, Record};

use shakedown_plan::model::{
    Environment, Expect, HttpStep, Limits, Method, Plan, Scenario, Secrets, Settle, StatusSet,
    Step, StepKind, Track, TrackOracle, TrackRead, Watch,
};
use shakedown_plan::template::Template;

/// The scenario holding the tracked step.
pub const SCENARIO: &str = "submit_run";
/// The index of the tracked step.
pub const STEP: usize = 1;

/// Settle configuration with a timeout and interval in milliseconds.
pub fn settle_config(timeout_ms: u64, interval_ms: u64) -> Settle {
    Settle {
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(interval_ms),
        watch: Watch::every(Duration::from_millis(interval_ms)),
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
        oracle: TrackOracle::default(),
        key_field: None,
        resolve: Default::default(),
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
        warnings: Vec::new(),
        targets: BTreeMap::new(),
        scenarios: BTreeMap::from([(SCENARIO.to_string(), scenario)]),
        load_tests: Vec::new(),
        faults: Default::default(),
        evidence: Default::default(),
        proxies: Default::default(),
        oracles: Default::default(),
        verifications: Vec::new(),
        source: PathBuf::from("fixture.toml"),
        redacted_source: String::new(),
    }
}

/// Change the oracle of the fixture's tracked step.
pub fn with_oracle(plan: &mut Plan, change: impl FnOnce(&mut TrackOracle)) {
    let step = plan
        .scenarios
        .get_mut(SCENARIO)
        .and_then(|s| s.steps.get_mut(STEP))
        .expect("the fixture has its tracked step");
    if let StepKind::Http(http) = &mut step.kind
        && let Some(track) = &mut http.track
    {
        change(&mut track.oracle);
    }
}

/// A hand-written history, one operation at a time; times are whole seconds.
#[derive(Default)]
pub struct History {
    /// The records so far.
    pub records: Vec<Record>,
}

/// A job in a read: (id, state, results).
pub type Job<'a> = (&'a str, &'a str, u64);

impl History {
    /// Append one record; returns its index.
    pub fn push(
        &mut self,
        secs: u64,
        kind: OpType,
        f: OpFn,
        test: &str,
        key: &str,
        value: serde_json::Value,
    ) -> u64 {
        self.push_ms(secs * 1000, kind, f, test, key, value)
    }

    /// Append one record stamped in milliseconds; returns its index.
    pub fn push_ms(
        &mut self,
        ms: u64,
        kind: OpType,
        f: OpFn,
        test: &str,
        key: &str,
        value: serde_json::Value,
    ) -> u64 {
        let index = self.records.len() as u64;
        let process = if matches!(f, OpFn::Submit) {
            "L1/vu-0"
        } else {
            "settle"
        };
        self.records.push(Record {
            index,
            time_ns: ms * 1_000_000,
            process: process.into(),
            kind,
            f,
            test: test.into(),
            key: key.into(),
            value,
        });
        index
    }

    /// A submit of `key` in test L1: invoke at `secs`, completion one second later. Returns the
    /// completion's index.
    pub fn submit(
        &mut self,
        secs: u64,
        key: &str,
        kind: Option<OpType>,
        status: Option<u16>,
        error: Option<&str>,
    ) -> u64 {
        let invoke = json!({"method": "POST", "url": "http://127.0.0.1:1/runs",
                            "scenario": SCENARIO, "step": STEP});
        let at = self.push(secs, OpType::Invoke, OpFn::Submit, "L1", key, invoke);
        match kind {
            Some(kind) => self.push(
                secs + 1,
                kind,
                OpFn::Submit,
                "L1",
                key,
                json!({"status": status, "error": error}),
            ),
            None => at,
        }
    }

    /// A read that saw `jobs`; returns the completion's index.
    pub fn read(&mut self, secs: u64, f: OpFn, key: &str, jobs: &[Job<'_>]) -> u64 {
        self.push(
            secs,
            OpType::Invoke,
            f,
            "L1",
            key,
            json!({"method": "GET", "url": "u"}),
        );
        let items: Vec<_> = jobs
            .iter()
            .map(|(id, state, results)| json!({"id": id, "state": state, "results": results}))
            .collect();
        self.push(
            secs,
            OpType::Ok,
            f,
            "L1",
            key,
            json!({"status": 200, "jobs": jobs.len(), "items": items}),
        )
    }

    /// A read that saw these jobs, with every field; returns the completion's index.
    pub fn read_views(&mut self, secs_ms: u64, f: OpFn, key: &str, jobs: &[JobView]) -> u64 {
        self.push_ms(
            secs_ms,
            OpType::Invoke,
            f,
            "L1",
            key,
            json!({"method": "GET", "url": "u"}),
        );
        self.push_ms(
            secs_ms,
            OpType::Ok,
            f,
            "L1",
            key,
            json!({"status": 200, "jobs": jobs.len(), "items": jobs}),
        )
    }

    /// A submit of `key` in test L1 at `ms` milliseconds, acknowledged at once.
    pub fn submit_ms(&mut self, ms: u64, key: &str) -> u64 {
        let invoke = json!({"method": "POST", "url": "http://127.0.0.1:1/runs",
                            "scenario": SCENARIO, "step": STEP});
        self.push_ms(ms, OpType::Invoke, OpFn::Submit, "L1", key, invoke);
        self.push_ms(
            ms,
            OpType::Ok,
            OpFn::Submit,
            "L1",
            key,
            json!({"status": 201}),
        )
    }

    /// A read that failed; returns the completion's index.
    pub fn read_error(&mut self, secs: u64, f: OpFn, key: &str, error: &str) -> u64 {
        self.push(secs, OpType::Invoke, f, "L1", key, json!({}));
        self.push(secs, OpType::Info, f, "L1", key, json!({"error": error}))
    }

    /// A settle operation that ends `settled`.
    pub fn settle(&mut self, secs: u64, settled: bool) {
        self.push(secs, OpType::Invoke, OpFn::Settle, "", "", json!({}));
        self.push(
            secs,
            OpType::Ok,
            OpFn::Settle,
            "",
            "",
            json!({"settled": settled}),
        );
    }
}

/// A request to `url` with `method` and `headers`, as the ledger reads (or replays) a key.
pub fn request(method: Method, url: String, headers: Vec<(String, String)>) -> ReadRequest {
    ReadRequest {
        method,
        url,
        headers,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    }
}
