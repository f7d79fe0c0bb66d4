//! Evidence people can trust, end to end with the real binary and testbed: a planted canary
//! secret reaches no file of the run directory and no byte of stdout, stderr or the progress
//! display; the run directory is sealed (also after Ctrl-C) and `verify-bundle` catches a
//! one-byte edit to any file; `--out` refuses a non-empty directory, whose files would be sealed
//! as evidence; a damaged directory still renders and says what is missing; and `diff` flags a
//! latency regression with exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run::{
    Outcome, finish, health_plan, report_json, run_plan, shakedown, spawn_run, wait_exit,
    wait_until_running, write_plan,
};
use crate::support::stack::{Stack, StackOptions};

/// Letters only, so that no normalisation (numbers masked in error signatures) could disguise a
/// leak from the search below.
const CANARY: &str = "QzCanaryWombatPlumXk";

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
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

fn verify_bundle(dir: &Path) -> Outcome {
    let mut command = shakedown();
    command.arg("verify-bundle").arg(dir);
    finish(command, Duration::from_secs(60))
}

/// A plan whose secret flows into request bodies, headers, a tracked key, an error body the API
/// echoes back, and the URL of a target that cannot be reached.
fn canary_plan(api: &str) -> String {
    format!(
        r#"
[plan]
name = "canary"
seed = 3
limits = {{ duration = "2m", requests = 2000 }}

[settle]
timeout = "20s"
interval = "100ms"

[secrets]
password = {{ env = "TESTBED_PASSWORD" }}

[targets.api]
url = "{api}"
health = "GET /health"
headers = {{ "X-Trace" = "{{{{ secrets.password }}}}" }}

[targets.gone]
url = "http://127.0.0.1:9/${{TESTBED_PASSWORD}}"
health = "GET /health?who=${{TESTBED_PASSWORD}}"

[scenarios.tracked]
steps = [
  {{ name = "login", request = "POST api:/api/v1/auth/login", json = {{ username = "t", password = "{{{{ secrets.password }}}}" }}, capture = {{ token = "$.access_token" }} }},
  {{ name = "create", request = "POST api:/api/v1/runs", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, json = {{ kind = "simulate", params = {{ steps = 1 }} }}, capture = {{ run_id = "$.id" }}, expect = {{ status = [201] }}, track = {{ key = "{{{{ secrets.password }}}}-{{{{ uuid() }}}}", read = "GET api:/api/v1/runs?key={{{{ key }}}}", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, items = "$.runs[*]", state = "$.status", terminal = ["completed", "failed"], success = ["completed"] }} }},
  {{ name = "fetch", request = "GET api:/api/v1/runs/{{{{ run_id }}}}?note={{{{ secrets.password }}}}", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, expect = {{ status = [200], body_contains = ["{{{{ secrets.password }}}}"] }} }},
]

[scenarios.rejected]
steps = [
  {{ name = "login", request = "POST api:/api/v1/auth/login", json = {{ username = "t", password = "{{{{ secrets.password }}}}" }}, capture = {{ token = "$.access_token" }} }},
  {{ name = "echo", request = "POST api:/api/v1/runs", headers = {{ Authorization = "Bearer {{{{ token }}}}", "Idempotency-Key" = "{{{{ uuid() }}}}" }}, json = {{ kind = "simulate", params = {{ steps = "{{{{ secrets.password }}}}" }} }}, expect = {{ status = [201] }} }},
]

[[load]]
id = "L1"
name = "Canary in every request"
mix = [{{ scenario = "tracked", weight = 1 }}, {{ scenario = "rejected", weight = 1 }}]
executor = {{ rounds = {{ concurrency = 4, rounds = 2 }} }}
thresholds = ["count(failures) == 0", "lost == 0"]
"#
    )
}

#[test]
fn a_canary_secret_reaches_no_file_and_no_output() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .env("TESTBED_PASSWORD", CANARY),
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &canary_plan(stack.api()));
    let run = dir.path().join("run");
    // Under a pseudo-terminal (`script`), so that the live progress display is drawn and
    // captured too, with debug logs on.
    let line = format!(
        "{} run {} --out {} -vv",
        env!("CARGO_BIN_EXE_shakedown"),
        plan.display(),
        run.display()
    );
    let mut command = Command::new("script");
    command
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("TESTBED_PASSWORD", CANARY)
        .env_remove("SHAKEDOWN_API_URL")
        .env("TERM", "xterm");
    let out = finish(command, Duration::from_secs(180));
    let output = format!("{}{}", out.stdout, out.stderr);
    // INCOMPLETE (the unreachable target) or NO-GO (the failing steps): a verdict, not a crash.
    assert!(
        out.code == 1 || out.code == 3,
        "exit {}:\n{output}",
        out.code
    );
    assert!(
        output.contains("iterations"),
        "the progress display was drawn:\n{output}"
    );
    assert!(
        !output.contains(CANARY),
        "the canary leaked to the terminal:\n{output}"
    );

    let mut redacted_somewhere = false;
    let all = files(&run);
    for file in &all {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(CANARY),
            "{} leaks the canary:\n{text}",
            file.display()
        );
        redacted_somewhere |= text.contains("[REDACTED:password]");
    }
    let names: Vec<String> = all
        .iter()
        .map(|f| f.strip_prefix(&run).unwrap().display().to_string())
        .collect();
    for expected in [
        "report.json",
        "report.md",
        "report.html",
        "junit.xml",
        "history.jsonl",
        "plan.toml",
        "manifest.json",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        redacted_somewhere,
        "the canary reached the evidence (and was redacted): {names:?}"
    );
    // The echoed error body is the one place it must have come back from the API.
    let report = report_json(&run);
    let clusters = report["checks"][0]["metrics"]["error_clusters"].to_string();
    assert!(clusters.contains("[REDACTED:password]"), "{clusters}");
}

/// The testbed password of the small runs (not a plan secret: nothing here is about redaction).
const PASSWORD: &str = "pw-evidence";

/// A testbed for the small runs.
fn stack(defects: &[&str]) -> Stack {
    Stack::start(
        StackOptions::new()
            .workers(1)
            .defects(defects)
            .env("TESTBED_PASSWORD", PASSWORD),
    )
}

/// A small run against a fresh testbed: 8 users logging in again and again for 2 s, so that
/// requests always overlap and `slow-under-load` (400 ms per other request in flight) shows.
fn small_run(stack: &Stack, dir: &Path, name: &str) -> PathBuf {
    let plan = write_plan(
        dir,
        &format!(
            r#"
[plan]
name = "{name}"
limits = {{ duration = "2m", requests = 200000 }}

[targets.api]
url = "{}"
health = "GET /health"

[scenarios.login]
steps = [
  {{ name = "login", request = "POST api:/api/v1/auth/login", json = {{ username = "t", password = "{PASSWORD}" }}, expect = {{ status = [200] }} }},
]

[[load]]
id = "L1"
name = "Logins under concurrency"
scenario = "login"
executor = {{ vus = {{ count = 8, duration = "2s" }} }}
thresholds = ["count(failures) == 0"]
"#,
            stack.api()
        ),
    );
    let run = dir.join(format!("run-{name}"));
    let out = run_plan(&plan, &run, &[], Duration::from_secs(120));
    assert!(
        out.code == 0 || out.code == 1,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    run
}

#[test]
fn a_fresh_bundle_verifies_and_a_one_byte_edit_to_any_file_fails_it() {
    let stack = stack(&[]);
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(&stack, dir.path(), "sealed");
    let ok = verify_bundle(&run);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.starts_with("bundle intact:"), "{}", ok.stdout);

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let sealed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for name in ["report.json", "report.html", "plan.toml", "history.jsonl"] {
        assert!(sealed.contains(&name), "{name} sealed: {sealed:?}");
    }
    assert_eq!(manifest["verdict"], report_json(&run)["verdict"]);
    assert!(manifest["environment"]["hostname"].is_null(), "opt-in only");
    // The testbed is on this machine: the load got half the cores, at least one.
    let cores = manifest["environment"]["cpus"].as_u64().unwrap();
    assert_eq!(
        manifest["environment"]["load_workers"].as_u64(),
        Some((cores / 2).max(1))
    );

    for file in files(&run) {
        let name = file.strip_prefix(&run).unwrap().display().to_string();
        let original = std::fs::read(&file).unwrap();
        let mut edited = original.clone();
        match edited.len() {
            0 => edited.push(b'7'),
            n => edited[n / 2] = if edited[n / 2] == b'7' { b'8' } else { b'7' },
        }
        std::fs::write(&file, &edited).unwrap();
        let bad = verify_bundle(&run);
        assert_eq!(
            bad.code, 1,
            "an edit to {name} went unnoticed: {}",
            bad.stdout
        );
        let named = if name == "manifest.json" {
            "manifest.json".to_string()
        } else {
            format!("edited: {name}")
        };
        assert!(bad.stdout.contains(&named), "{name}: {}", bad.stdout);
        std::fs::write(&file, &original).unwrap();
    }
    assert_eq!(verify_bundle(&run).code, 0, "restored");

    // Missing and extra files; then the damaged directory still renders and says what is wrong.
    std::fs::write(run.join("notes.txt"), "added after the run").unwrap();
    std::fs::remove_file(run.join("plan.toml")).unwrap();
    // A history whose last record was cut off mid-write.
    let mut history = std::fs::read(run.join("history.jsonl")).unwrap();
    history.extend_from_slice(br#"{"index":0,"time_ns":12,"proc"#);
    std::fs::write(run.join("history.jsonl"), &history).unwrap();
    let bad = verify_bundle(&run);
    assert_eq!(bad.code, 1);
    for needle in [
        "missing: plan.toml",
        "extra: notes.txt",
        "edited: history.jsonl",
    ] {
        assert!(bad.stdout.contains(needle), "{needle}: {}", bad.stdout);
    }
    let page = dir.path().join("page.html");
    let mut command = shakedown();
    command.arg("report").arg(&run).arg("-o").arg(&page);
    let rendered = finish(command, Duration::from_secs(60));
    assert_eq!(rendered.code, 0, "{}", rendered.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("plan.toml (the effective plan) is missing"),
        "{html}"
    );
    assert!(
        html.contains("history.jsonl is damaged or truncated"),
        "{html}"
    );
    assert!(html.contains(r#"data-check="L1""#));
}

#[test]
fn an_interrupted_run_is_still_sealed() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &health_plan(
            "interrupted",
            stack.api(),
            r#"{ vus = { count = 2, duration = "3m" } }"#,
            "",
        ),
    );
    let run = dir.path().join("run");
    let mut child = spawn_run(&plan, &run, &[]);
    wait_until_running(&run);
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let code = wait_exit(&mut child, Duration::from_secs(60), "SIGINT");
    assert_eq!(code, Some(4));
    let v = verify_bundle(&run);
    assert_eq!(v.code, 0, "{}", v.stdout);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["verdict"], "ABORTED");
}

#[test]
fn out_refuses_a_non_empty_directory_and_out_under_makes_a_fresh_one() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        &health_plan(
            "fresh",
            stack.api(),
            r#"{ vus = { count = 1, duration = "1s" } }"#,
            "",
        ),
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "not evidence").unwrap();
    let refused = run_plan(&plan, &out, &[], Duration::from_secs(60));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not empty (it holds notes.txt)")
            && refused
                .stderr
                .contains(&format!("--out-under {}", out.display())),
        "{}",
        refused.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(left.len(), 1, "nothing was written next to notes.txt");

    let mut command = shakedown();
    command
        .arg("run")
        .arg(&plan)
        .arg("--out-under")
        .arg(&out)
        .arg("--no-progress");
    let ran = finish(command, Duration::from_secs(120));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let runs: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        runs[0].to_string_lossy().ends_with("-fresh"),
        "{}",
        runs[0].display()
    );
    assert_eq!(verify_bundle(&runs[0]).code, 0);
    let manifest = std::fs::read_to_string(runs[0].join("manifest.json")).unwrap();
    assert!(!manifest.contains("notes.txt"), "{manifest}");
}

#[test]
fn diff_flags_a_latency_regression_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let clean = small_run(&stack(&[]), dir.path(), "clean");
    let slow = small_run(&stack(&["slow-under-load"]), dir.path(), "slow");
    let mut command = shakedown();
    command.arg("diff").arg(&clean).arg(&slow);
    let out = finish(command, Duration::from_secs(60));
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("## shakedown diff: ❌"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("L1: p95"), "{}", out.stdout);

    let mut command = shakedown();
    command
        .args(["--format", "json", "diff"])
        .arg(&clean)
        .arg(clean.join("report.json"));
    let same = finish(command, Duration::from_secs(60));
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    let json: serde_json::Value = serde_json::from_str(&same.stdout).expect("JSON");
    assert_eq!(json["regressions"].as_array().map(Vec::len), Some(0));
    assert_eq!(json["checks"][0]["id"], "L1");
}
