//! Secrets kept out of the evidence: a planted canary secret, and the plan's other secrets in
//! every encoding they could take, reach no file of the run directory and no byte of stdout,
//! stderr or the progress display, of `run` as of `hit`; and a secret too short to redact is
//! refused before anything runs.

use std::process::Command;
use std::time::Duration;

use crate::hostile::{Behaviour, RawServer};
use crate::run::{assert_schema_valid, files, finish, report_json, shakedown, write_plan};
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
