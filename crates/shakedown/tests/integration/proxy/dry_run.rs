//! `shakedown run --dry-run` on a plan with fault proxies: it lists every proxy (name, listen
//! address, upstream) and, for each fault test, the toxics on its timeline (what, on which proxy,
//! from when and for how long), and it contacts nothing: the upstreams here accept no connection.

use std::time::Duration;

use crate::run::{finish, shakedown, write_plan};

fn plan(closed: &str) -> String {
    format!(
        r#"
[plan]
name = "proxy-dry-run"
limits = {{ duration = "1m", requests = 1000 }}

[proxies.db]
upstream = "{closed}"

[proxies.api]
listen = "127.0.0.1:45999"
upstream = "{closed}"
control_deadline = "1s"

[targets.via]
url = "http://{{{{ proxies.api.addr }}}}"
health = "GET /health"

[scenarios.health]
steps = [{{ name = "health", request = "GET via:/health" }}]

[[faults]]
id = "NET"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "10s" }} }} }}
timeline = [
  {{ at = "2s", toxic = "down", proxy = "db", for = "5s" }},
  {{ after = "1s", toxic = {{ kind = "latency", latency = "300ms", jitter = "20ms", direction = "both", toxicity = 0.5 }}, proxy = "api", for = "3s" }},
]
recovery = {{ probe = "GET via:/health", within = "10s" }}

[[faults]]
id = "SLOW"
load = {{ scenario = "health", executor = {{ vus = {{ count = 1, duration = "10s" }} }} }}
timeline = [{{ at = "1s", toxic = {{ kind = "bandwidth", rate = 1024 }}, proxy = "api", for = "4s" }}]
recovery = {{ probe = "GET via:/health", within = "10s" }}
"#
    )
}

#[test]
fn dry_run_lists_the_proxies_and_the_toxics_on_each_timeline() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = shakedown();
    command
        .arg("run")
        .arg(write_plan(dir.path(), &plan(&closed)))
        .arg("--dry-run");
    let out = finish(command, Duration::from_secs(30));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let text = out.stdout;
    let line = |prefix: &str| -> &str {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting `{prefix}` in:\n{text}"))
    };
    let db = line("proxy db:");
    assert!(
        db.contains("listen 127.0.0.1:0 (port chosen at start)"),
        "{db}"
    );
    assert!(db.contains(&format!("upstream {closed}")), "{db}");
    assert!(db.ends_with("toxics in NET"), "{db}");
    let api = line("proxy api:");
    assert!(api.contains("listen 127.0.0.1:45999,"), "{api}");
    assert!(api.contains("within 1s"), "{api}");
    assert!(api.ends_with("toxics in NET, SLOW"), "{api}");

    // Each toxic: what it does, on which proxy, from when, for how long.
    assert_eq!(
        line("0: at 2s:"),
        "  0: at 2s: toxic on proxy db from 2s to 7s (for 5s): \
         down (refuse new connections, close open ones), both, every connection"
    );
    assert_eq!(
        line("1: 1s after the previous:"),
        "  1: 1s after the previous: toxic on proxy api from 3s to 6s (for 3s): \
         latency 300ms ± 20ms, both, 50% of connections"
    );
    assert_eq!(
        line("0: at 1s:"),
        "  0: at 1s: toxic on proxy api from 1s to 5s (for 4s): \
         bandwidth 1024 bytes/s, downstream, every connection"
    );
    // Nothing was started: no run directory, no preflight.
    assert!(
        !text.contains("PASS") && !text.contains("BLOCKED"),
        "{text}"
    );
}
