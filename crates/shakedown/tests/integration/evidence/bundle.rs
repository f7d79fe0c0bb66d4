//! The run directory as sealed evidence: it is sealed (also after Ctrl-C) and `verify-bundle`
//! catches a one-byte edit to any file; `--out` refuses a non-empty directory, whose files would
//! be sealed as evidence; a damaged directory still renders and says what is missing; and `diff`
//! flags a latency regression with exit code 1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run::{
    Outcome, files, finish, health_plan, report_json, run_plan, shakedown, spawn_run, wait_exit,
    wait_until_running, write_plan,
};
use crate::support::stack::{Stack, StackOptions};

fn verify_bundle(dir: &Path) -> Outcome {
    let mut command = shakedown();
    command.arg("verify-bundle").arg(dir);
    finish(command, Duration::from_secs(60))
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
