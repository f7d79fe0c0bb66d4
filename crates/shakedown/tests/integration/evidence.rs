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

use crate::hostile::{Behaviour, RawServer};
use crate::run::{
    Outcome, assert_schema_valid, files, finish, health_plan, report_json, run_plan, shakedown,
    spawn_run, wait_exit, wait_until_running, write_plan,
};
use crate::support::stack::{Stack, StackOptions};

/// Letters only, so that no normalisation (numbers masked in error signatures) could disguise a
/// leak from the search below.
const CANARY: &str = "QzCanaryWombatPlumXk";

/// The plan's other secrets, each with what it must survive: a quote and backslashes (which JSON
/// escapes), letters outside ASCII (which a URL percent-encodes), and the password of a URL's
/// userinfo (which travels as base64 of `user:password` in a `Basic` header, and comes back in
/// that form from a server that echoes requests).
const QUOTED: (&str, &str) = ("SD_CANARY_QUOTED", r#"Qz"Quote\Back\\Slash'Xk"#);
const UNICODE: (&str, &str) = ("SD_CANARY_UNICODE", "QzÜnïcødé密码Xk");
const USERINFO: (&str, &str) = ("SD_CANARY_USERINFO", "QzEchoUserInfoXk");
/// The user of the echo target's userinfo.
const ECHO_USER: &str = "ops";

/// Every form in which `value` could reach a file or an output: as it is, JSON-escaped (also
/// with every non-ASCII letter as `\uXXXX`), percent-encoded, HTML-escaped, and base64 (standard
/// and URL-safe, padded or not) of the value alone and of `user:value`.
fn encodings(value: &str, user: Option<&str>) -> Vec<(String, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let json = serde_json::to_string(value).unwrap();
    let json = json[1..json.len() - 1].to_string();
    let ascii_json: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                c.encode_utf16(&mut [0; 2])
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    let percent = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let html = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let mut out = vec![
        ("raw".to_string(), value.to_string()),
        ("json".to_string(), json),
        ("json \\u".to_string(), ascii_json),
        ("percent".to_string(), percent.clone()),
        ("percent lower-case".to_string(), lower_hex(&percent)),
        ("html".to_string(), html),
    ];
    // As a URL parser writes it into each part of a URL (each part escapes a different set).
    let parse = |url: String| reqwest::Url::parse(&url).expect("a URL");
    let mut userinfo = parse("http://h/".to_string());
    userinfo.set_password(Some(value)).expect("a password");
    for (part, form) in [
        (
            "URL query",
            parse(format!("http://h/?{value}"))
                .query()
                .map(String::from),
        ),
        (
            "URL path",
            parse(format!("http://h/{value}"))
                .path()
                .get(1..)
                .map(String::from),
        ),
        (
            "URL fragment",
            parse(format!("http://h/#{value}"))
                .fragment()
                .map(String::from),
        ),
        ("URL userinfo", userinfo.password().map(String::from)),
    ] {
        out.push((part.to_string(), form.expect("the part")));
    }
    let mut plain = vec![("".to_string(), value.to_string())];
    if let Some(user) = user {
        plain.push((format!("{user}:"), format!("{user}:{value}")));
    }
    for (prefix, text) in plain {
        for (name, engine) in [
            ("base64", &STANDARD),
            ("base64 unpadded", &STANDARD_NO_PAD),
            ("base64url", &URL_SAFE),
            ("base64url unpadded", &URL_SAFE_NO_PAD),
        ] {
            out.push((format!("{name} of {prefix}value"), engine.encode(&text)));
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

/// `text` with the hex digits of its `%XX` escapes in lower case.
fn lower_hex(text: &str) -> String {
    let mut out = String::new();
    let mut hex = 0;
    for c in text.chars() {
        if c == '%' {
            hex = 2;
            out.push(c);
        } else if hex > 0 {
            hex -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The count of every encoding of every secret in `text` (`where_` names it), as rows of the
/// scan table.
fn scan(text: &str, where_: &str, rows: &mut Vec<(String, String, String, usize)>) {
    let secrets = [
        ("password", CANARY, None),
        ("quoted", QUOTED.1, None),
        ("unicode", UNICODE.1, None),
        ("userinfo", USERINFO.1, Some(ECHO_USER)),
    ];
    for (secret, value, user) in secrets {
        for (encoding, form) in encodings(value, user) {
            let count = text.matches(form.as_str()).count();
            rows.push((where_.to_string(), secret.to_string(), encoding, count));
        }
    }
}

fn verify_bundle(dir: &Path) -> Outcome {
    let mut command = shakedown();
    command.arg("verify-bundle").arg(dir);
    finish(command, Duration::from_secs(60))
}

/// A plan whose secrets flow into request bodies, headers, a query, a tracked key, an error body
/// the API echoes back, a whole request a hostile server echoes back (its `Basic` header made
/// from a URL's userinfo included), and the URL of a target that cannot be reached.
fn canary_plan(api: &str, echo: &str) -> String {
    let echo = echo.replacen(
        "http://",
        &format!("http://{ECHO_USER}:${{{}}}@", USERINFO.0),
        1,
    );
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
quoted = {{ env = "{quoted}" }}
unicode = {{ env = "{unicode}" }}
userinfo = {{ env = "{userinfo}" }}

[targets.api]
url = "{api}"
health = "GET /health"
headers = {{ "X-Trace" = "{{{{ secrets.password }}}}" }}

[targets.echo]
url = "{echo}"
health = "GET /health"

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

[scenarios.who]
steps = [
  {{ name = "who", request = "GET echo:/who", expect = {{ status = [200] }} }},
]

[scenarios.echoed]
steps = [
  {{ name = "echo", request = "POST echo:/submit?note={{{{ secrets.unicode }}}}&q={{{{ secrets.quoted }}}}", headers = {{ "X-Quoted" = "{{{{ secrets.quoted }}}}" }}, json = {{ quoted = "{{{{ secrets.quoted }}}}", unicode = "{{{{ secrets.unicode }}}}" }}, expect = {{ status = [200], body_contains = ["{{{{ secrets.quoted }}}}"] }} }},
]

[[load]]
id = "L1"
name = "Canary in every request"
mix = [{{ scenario = "tracked", weight = 1 }}, {{ scenario = "rejected", weight = 1 }}]
executor = {{ rounds = {{ concurrency = 4, rounds = 2 }} }}
thresholds = ["count(failures) == 0", "lost == 0"]

[[load]]
id = "L2"
name = "A server that echoes every request"
mix = [{{ scenario = "who", weight = 1 }}, {{ scenario = "echoed", weight = 1 }}]
executor = {{ rounds = {{ concurrency = 2, rounds = 2 }} }}
thresholds = ["count(failures) == 0"]
"#,
        quoted = QUOTED.0,
        unicode = UNICODE.0,
        userinfo = USERINFO.0,
    )
}

#[test]
fn a_canary_secret_reaches_no_file_and_no_output() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .env("TESTBED_PASSWORD", CANARY),
    );
    let echo = RawServer::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), &canary_plan(stack.api(), &echo.url()));
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
        .env(QUOTED.0, QUOTED.1)
        .env(UNICODE.0, UNICODE.1)
        .env(USERINFO.0, USERINFO.1)
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

    let mut rows = Vec::new();
    scan(&output, "terminal", &mut rows);
    let mut redacted_somewhere = false;
    let all = files(&run);
    for file in &all {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let name = file.strip_prefix(&run).unwrap().display().to_string();
        scan(&text, &name, &mut rows);
        redacted_somewhere |= text.contains("[REDACTED:password]");
        if name.ends_with(".json") {
            let json: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is not JSON after redaction: {e}"));
            if name == "report.json" {
                assert_schema_valid(&json);
            }
        }
        if name.ends_with(".jsonl") {
            for (i, line) in text.lines().enumerate() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("{name} line {} is not JSON: {e}", i + 1));
            }
        }
    }
    // The scan table, printed whole (with --nocapture) so that a run shows what it looked for.
    for (place, secret, encoding, count) in &rows {
        println!("| {place} | {secret} | {encoding} | {count} |");
    }
    let leaks: Vec<_> = rows.iter().filter(|r| r.3 > 0).collect();
    assert!(leaks.is_empty(), "secrets leaked: {leaks:#?}");
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
    // The hostile server echoed the whole request: the `Basic` header made from the userinfo,
    // the JSON-escaped quote, and the percent-encoded letters came back, and were redacted.
    let echoed = report["checks"][1]["metrics"]["error_clusters"].to_string();
    for expected in [
        "authorization: Basic ",
        "[REDACTED:userinfo]",
        "[REDACTED:quoted]",
        "[REDACTED:unicode]",
    ] {
        assert!(echoed.contains(expected), "{expected} in {echoed}");
    }
}

/// A secret too short to redact (one character, or a word of the report such as `GO`) is
/// refused by `validate` and by `run`, exit 2, naming the secret and its variable but never its
/// value, and the run writes nothing.
#[test]
fn a_secret_too_short_to_redact_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        r#"
[plan]
name = "short secrets"
limits = { duration = "1m", requests = 10 }

[secrets]
one = { env = "SD_SHORT_ONE" }
verdict = { env = "SD_SHORT_VERDICT" }

[targets.api]
url = "http://127.0.0.1:9"
headers = { "X-One" = "{{ secrets.one }}", "X-Two" = "{{ secrets.verdict }}" }

[scenarios.s]
steps = [{ name = "get", request = "GET api:/" }]

[[load]]
id = "L1"
name = "never runs"
scenario = "s"
executor = { rounds = { concurrency = 1, rounds = 1 } }
thresholds = ["count(failures) == 0"]
"#,
    );
    let run = dir.path().join("run");
    for args in [
        vec!["validate".to_string(), plan.display().to_string()],
        vec![
            "run".to_string(),
            plan.display().to_string(),
            "--out".to_string(),
            run.display().to_string(),
        ],
    ] {
        let mut command = shakedown();
        command
            .args(&args)
            .env("SD_SHORT_ONE", "1")
            .env("SD_SHORT_VERDICT", "GO");
        let out = finish(command, Duration::from_secs(60));
        let output = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, 2, "{args:?}:\n{output}");
        for named in [
            "secret `one` is too short to redact",
            "`SD_SHORT_ONE` holds 1 character,",
            "secret `verdict` is too short to redact",
            "`SD_SHORT_VERDICT` holds 2 characters",
        ] {
            assert!(output.contains(named), "{named} in {args:?}:\n{output}");
        }
        assert!(!output.contains("GO"), "the value GO shown:\n{output}");
        assert!(!run.exists(), "{args:?} wrote {}", run.display());
    }
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

/// `hit` keeps credentials out of its evidence like `run`: the password of the URL's userinfo,
/// a credential in the query, an `Authorization` header and the body reach neither stdout nor
/// any file of its sealed run directory (its `plan.toml` included), in any encoding, although
/// the server echoes every request back.
#[test]
fn hit_keeps_its_credentials_out_of_stdout_and_its_sealed_plan() {
    let echo = RawServer::start(Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("hit");
    let token = "QzHitBearerTokenXk";
    let body = r#"{"password":"Qz\"HitBody\\Xk"}"#;
    let url = echo
        .url()
        .replacen("http://", &format!("http://{ECHO_USER}:{}@", USERINFO.1), 1);
    let url = format!("{url}/submit?api_key={}&page=2", CANARY);
    let mut command = shakedown();
    command
        .args(["hit", &url, "-n", "3", "-c", "1", "--json", "-m", "POST"])
        .args(["-H", &format!("X-Api-Key: {token}")])
        .args(["--body", body])
        .arg("--out")
        .arg(&out_dir);
    let out = finish(command, Duration::from_secs(60));
    // Every request answered 400: nothing succeeded.
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let output = format!("{}{}", out.stdout, out.stderr);
    let values = [
        ("userinfo", USERINFO.1, Some(ECHO_USER)),
        ("query", CANARY, None),
        ("header", token, None),
        ("body", body, None),
    ];
    let mut places = vec![("stdout and stderr".to_string(), output)];
    let all = files(&out_dir);
    for file in &all {
        let name = file.strip_prefix(&out_dir).unwrap().display().to_string();
        places.push((
            name,
            String::from_utf8_lossy(&std::fs::read(file).unwrap()).into(),
        ));
    }
    let mut leaks = Vec::new();
    for (place, text) in &places {
        for (secret, value, user) in values {
            for (encoding, form) in encodings(value, user) {
                let count = text.matches(form.as_str()).count();
                println!("| hit | {place} | {secret} | {encoding} | {count} |");
                if count > 0 {
                    leaks.push(format!("{place}: {secret} as {encoding}"));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "leaked: {leaks:#?}");
    let plan = std::fs::read_to_string(out_dir.join("plan.toml")).unwrap();
    assert!(plan.contains("[secrets]"), "{plan}");
    assert!(plan.contains("${HIT_"), "{plan}");
    assert!(out.stdout.contains("[REDACTED]@"), "{}", out.stdout);
    // The server really echoed them: the report holds the redacted forms.
    let report = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    assert!(report.contains("authorization: Basic "), "{report}");
    assert!(report.contains("[REDACTED:url_password_1]"), "{report}");
    assert!(report.contains("api_key=[REDACTED"), "{report}");
}
