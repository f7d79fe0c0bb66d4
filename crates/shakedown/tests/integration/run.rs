//! Running the real `shakedown` binary: writing plans, bounded runs, and reading reports back.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished `shakedown` process left.
pub struct Outcome {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The `shakedown` binary under test.
pub fn shakedown() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shakedown"));
    command.env_remove("SHAKEDOWN_API_URL");
    command
}

/// Write `text` to `dir/plan.toml`.
pub fn write_plan(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).expect("write plan");
    path
}

/// `shakedown run PLAN --out OUT --no-progress [extra]`, killed if it outlives `limit`.
pub fn run_plan(plan: &Path, out: &Path, extra: &[&str], limit: Duration) -> Outcome {
    run_plan_env(plan, out, extra, &[], limit)
}

/// [`run_plan`] with these environment variables set.
pub fn run_plan_env(
    plan: &Path,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Outcome {
    let mut command = shakedown();
    command
        .arg("run")
        .arg(plan)
        .arg("--out")
        .arg(out)
        .arg("--no-progress")
        .args(extra)
        .envs(env.iter().copied());
    finish(command, limit)
}

/// Run a prepared command to completion within `limit` (then kill it and fail the test).
pub fn finish(mut command: Command, limit: Duration) -> Outcome {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shakedown");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || read_all(stdout));
    let err_reader = std::thread::spawn(move || read_all(stderr));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "shakedown did not finish within {limit:?}; stderr:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn read_all(mut from: impl std::io::Read) -> String {
    let mut text = String::new();
    let _ = from.read_to_string(&mut text);
    text
}

/// Parse `dir/report.json`.
pub fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json exists");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Validate a report against `schema/report.schema.json`, listing every violation.
pub fn assert_schema_valid(report: &serde_json::Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema file"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json violates the schema:\n{}",
        errors.join("\n")
    );
}

/// Start `shakedown run PLAN --out OUT --no-progress [extra]` in the background, output discarded.
pub fn spawn_run(plan: &Path, out: &Path, extra: &[&str]) -> std::process::Child {
    shakedown()
        .arg("run")
        .arg(plan)
        .arg("--out")
        .arg(out)
        .arg("--no-progress")
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shakedown")
}

/// Wait until the run in `out` has a check marked running (its load is under way).
pub fn wait_until_running(out: &Path) {
    let started = Instant::now();
    while !std::fs::read_to_string(out.join("report.json"))
        .is_ok_and(|t| t.contains("\"reason\": \"running\""))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no check of the run in {} started within 60s",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for `child` to exit within `limit` (else kill it and fail) and return its exit code.
pub fn wait_exit(child: &mut std::process::Child, limit: Duration, what: &str) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("shakedown did not stop within {limit:?} of {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The check `id` of a report.json, or a panic that shows the report.
pub fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// A plan whose one load test `L1` reads the testbed's health at `api` with `executor`: for
/// tests of the run itself (interrupts, seals, run directories), not of the target.
pub fn health_plan(name: &str, api: &str, executor: &str, thresholds: &str) -> String {
    format!(
        r#"
[plan]
name = "{name}"
limits = {{ duration = "5m", requests = 10000000 }}

[targets.api]
url = "{api}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET api:/health" }}, {{ think = "5ms" }}]

[[load]]
id = "L1"
scenario = "health"
executor = {executor}
thresholds = [{thresholds}]
"#
    )
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
