//! Usage errors exit 2 with a message that names the flag, the bad value and the valid choices.

use std::time::Duration;

use crate::run::{finish, shakedown, write_plan};

const PLAN: &str = r#"
[plan]
name = "usage"
limits = { duration = "1m", requests = 10 }

[targets.api]
url = "http://127.0.0.1:9"

[scenarios.get]
steps = [{ name = "get", request = "GET api:/" }]

[[load]]
id = "L1"
scenario = "get"
executor = { vus = { count = 1, iterations = 1 } }
thresholds = ["count(failures) == 0"]
"#;

#[test]
fn only_with_an_unknown_check_id_is_a_usage_error_listing_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), PLAN);
    let mut command = shakedown();
    command
        .arg("run")
        .arg(&plan)
        .args(["--only", "L9", "--out"])
        .arg(dir.path().join("run"));
    let out = finish(command, Duration::from_secs(30));
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("--only"), "{}", out.stderr);
    assert!(
        out.stderr.contains("L9") && out.stderr.contains("L1"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("run").exists(), "nothing ran");
}

#[test]
fn an_unknown_subcommand_flag_is_a_usage_error() {
    let mut command = shakedown();
    command.args(["run", "--no-such-flag"]);
    let out = finish(command, Duration::from_secs(30));
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
}
