//! `shakedown hit URL`: the ad-hoc mode against the testbed's /health, its JSON summary, its
//! thresholds and exact request counts; and the latency ground truth: a server that stalls
//! exactly once for 1 s during a 10 s open-model run at a constant rate, where the correct p99
//! and p99.9 are known analytically (900 ms and 990 ms), beside a closed-model run that hides the
//! stall. Against hostile servers: one that never answers (the load ends at `-d`, its requests
//! cancelled and counted), and one that sends 64 MiB bodies (counted, not held).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use shakedown::cli_hit::HitSummary;

use crate::hostile::closed_port;
use crate::run::{Outcome, finish, shakedown};
use crate::support::stack::{Stack, StackOptions};

const LIMIT: Duration = Duration::from_secs(120);

fn hit(args: &[&str]) -> Outcome {
    let mut command = shakedown();
    command.arg("hit").args(args);
    finish(command, LIMIT)
}

fn summary(outcome: &Outcome) -> HitSummary {
    serde_json::from_str(outcome.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "--json printed no summary ({e}):\n{}\nstderr:\n{}",
            outcome.stdout, outcome.stderr
        )
    })
}

#[test]
fn hit_sends_exactly_n_requests_and_prints_a_typed_json_summary() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let url = format!("{}/health", stack.api());
    let outcome = hit(&[&url, "-n", "137", "-c", "4", "--json"]);
    assert_eq!(outcome.code, 0, "stderr:\n{}", outcome.stderr);
    let s = summary(&outcome);
    assert_eq!(s.requests, 137, "{s:?}");
    assert_eq!((s.failures, s.errors), (0, 0), "{s:?}");
    assert_eq!(s.status_classes.get("2xx"), Some(&137), "{s:?}");
    assert_eq!(s.model, "closed");
    assert!(s.requests_per_second > 0.0, "{s:?}");
    let l = &s.latency_ms;
    assert!(
        l.min > 0.0 && l.min <= l.p50 && l.p50 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
    assert!(l.p99 <= l.p99_9 && l.p99_9 <= l.max, "{l:?}");
    assert!(s.passed && s.thresholds.is_empty());
    // The target is on this machine: half the cores (at least one) send the load.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    assert_eq!((s.threads, s.local_target), ((cores / 2).max(1), true));
    let outcome = hit(&[&url, "-n", "10", "--threads", "3", "--json"]);
    let s = summary(&outcome);
    assert_eq!(
        (s.threads, s.local_target),
        (3, false),
        "--threads overrides"
    );

    // The open model: -n at a rate is also exact, and nothing is dropped at a low rate.
    let outcome = hit(&[&url, "-n", "60", "--rate", "100", "-c", "8", "--json"]);
    assert_eq!(outcome.code, 0, "stderr:\n{}", outcome.stderr);
    let s = summary(&outcome);
    assert_eq!((s.model.as_str(), s.requests), ("open", 60), "{s:?}");
    assert_eq!((s.dropped, s.target_rate), (Some(0), Some(100.0)), "{s:?}");
    // At a rate far above what -n needs, the schedule still ends after exactly n sends.
    let outcome = hit(&[&url, "-n", "10", "--rate", "1000000", "--json"]);
    assert_eq!(outcome.code, 0, "stderr:\n{}", outcome.stderr);
    let s = summary(&outcome);
    assert_eq!((s.model.as_str(), s.requests), ("open", 10), "{s:?}");
    stack.stop();
}

#[test]
fn connections_over_the_cap_are_refused_before_anything_runs() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    for args in [&["-c", "4294967295"][..], &["-c", "100001", "--rate", "10"]] {
        let outcome = hit(&[&[url.as_str()][..], args].concat());
        assert_eq!(outcome.code, 2, "{args:?} stderr:\n{}", outcome.stderr);
        assert!(
            outcome
                .stderr
                .contains("is over the most connections a test may have (100000)"),
            "{}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains("use -c 100000 or less"),
            "{}",
            outcome.stderr
        );
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    }
}

#[test]
fn n_and_d_together_without_a_rate_are_refused_naming_the_choice() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let outcome = hit(&[url.as_str(), "-n", "10", "-d", "5s"]);
    assert_eq!(outcome.code, 2, "stderr:\n{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("-n and -d together need --rate"),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
}

#[test]
fn a_run_where_no_request_succeeds_exits_1_without_thresholds() {
    // Two runs of 5 and 3 requests, each after one preflight request.
    let url = http1_only_server(10, "503 Service Unavailable");
    let outcome = hit(&[&url, "-n", "5", "-c", "1", "--json"]);
    assert_eq!(outcome.code, 1, "stderr:\n{}", outcome.stderr);
    let s = summary(&outcome);
    assert_eq!((s.requests, s.failures, s.errors), (5, 5, 0), "{s:?}");
    assert_eq!(s.status_classes.get("5xx"), Some(&5), "{s:?}");
    assert!(!s.passed, "{s:?}");
    let reason = s.nothing_succeeded.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("no request succeeded: all 5 failed"),
        "{s:?}"
    );

    let plain = hit(&[&url, "-n", "3", "-c", "1"]);
    assert_eq!(plain.code, 1, "stderr:\n{}", plain.stderr);
    assert!(
        plain
            .stdout
            .contains("FAIL no request succeeded: all 3 failed"),
        "{}",
        plain.stdout
    );
}

#[test]
fn a_failing_threshold_exits_1_and_a_passing_one_exits_0() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let url = format!("{}/health", stack.api());
    let pass = hit(&[
        &url,
        "-n",
        "20",
        "-c",
        "2",
        "--json",
        "--threshold",
        "count(failures) == 0",
    ]);
    assert_eq!(pass.code, 0, "stderr:\n{}", pass.stderr);
    assert!(summary(&pass).passed);

    let fail = hit(&[
        &url,
        "-n",
        "20",
        "-c",
        "2",
        "--json",
        "--threshold",
        "count(failures) == 0",
        "--threshold",
        "p(50) < 0.001ms",
    ]);
    assert_eq!(fail.code, 1, "stderr:\n{}", fail.stderr);
    let s = summary(&fail);
    assert!(!s.passed);
    let failed: Vec<&str> = s
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.expression.as_str())
        .collect();
    assert_eq!(failed, ["p(50) < 0.001ms"], "{s:?}");

    // A path that answers 404: every request is a failure, and the plain output says so.
    let missing = format!("{}/no-such-path", stack.api());
    let out = hit(&[
        &missing,
        "-n",
        "5",
        "-c",
        "1",
        "--threshold",
        "count(failures) == 0",
    ]);
    assert_eq!(out.code, 1, "stderr:\n{}", out.stderr);
    assert!(out.stdout.contains("failures 5"), "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL count(failures) == 0"),
        "{}",
        out.stdout
    );
    stack.stop();
}

/// The stall server (`shakedown testbed stall`), stopped when dropped.
struct StallServer {
    child: Child,
    url: String,
}

impl StallServer {
    fn start() -> StallServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
            .args([
                "testbed",
                "stall",
                "--after-ms",
                "4000",
                "--stall-ms",
                "1000",
            ])
            .arg("--exit-with-parent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the stall server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read its address");
        let info: serde_json::Value = serde_json::from_str(&line).expect("address JSON");
        let listen = info["listen"].as_str().expect("listen").to_string();
        StallServer {
            child,
            url: format!("http://{listen}/"),
        }
    }
}

impl Drop for StallServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `measured` is the analytic `expected` within 5% below and 10% above. The margin is
/// wider above because a busy machine only ever adds latency: while the rest of the suite shares
/// the 2 cores, the burst after the stall drains more slowly, and a p99 of 947 ms has been seen.
fn within(measured: f64, expected: f64) -> bool {
    measured >= expected * 0.95 && measured <= expected * 1.10
}

/// At a constant rate R over 10 s, a 1 s stall holds the R requests whose intended start falls
/// in it, their response times spread evenly from 1000 ms down to 0: one request in ten. So the
/// slowest 1% (p99) start at 1000 x (1 - 0.1) = 900 ms, and the slowest 0.1% at 990 ms,
/// whatever R is. A closed-model run on the same server sees the stall in only its few
/// in-flight requests. The test runs at 200 requests/s (the same analytic values), since a debug
/// build sharing 2 cores with the rest of the suite cannot hold 1,000/s through the burst after
/// the stall; `bench/stall.sh` runs it at 1,000/s in release.
#[test]
fn the_open_model_reports_a_stall_as_the_analytic_p99_and_the_closed_model_hides_it() {
    let stall = StallServer::start();
    let open = hit(&[
        &stall.url, "--rate", "200", "-d", "10s", "-c", "400", "--json",
    ]);
    assert_eq!(open.code, 0, "stderr:\n{}", open.stderr);
    let open = summary(&open);
    assert_eq!(open.dropped, Some(0), "{open:?}");
    assert_eq!(open.failures, 0, "{open:?}");
    let (p99, p999) = (open.latency_ms.p99, open.latency_ms.p99_9);
    assert!(
        within(p99, 900.0),
        "open p99 {p99} ms is not 900 ms -5%/+10%: {open:?}"
    );
    assert!(
        within(p999, 990.0),
        "open p99.9 {p999} ms is not 990 ms -5%/+10%: {open:?}"
    );
    drop(stall);

    let stall = StallServer::start();
    let closed = hit(&[&stall.url, "-d", "10s", "-c", "10", "--json"]);
    assert_eq!(closed.code, 0, "stderr:\n{}", closed.stderr);
    let closed = summary(&closed);
    eprintln!(
        "stall ground truth: open p99 {p99} ms, p99.9 {p999} ms (analytic 900, 990); \
         closed p99 {} ms, p99.9 {} ms",
        closed.latency_ms.p99, closed.latency_ms.p99_9
    );
    // The closed model saw the same stall (its max) but hides it from its p99: only its 10
    // in-flight requests waited, out of thousands.
    assert!(closed.latency_ms.max >= 900.0, "{closed:?}");
    assert!(
        closed.latency_ms.p99 < p99 / 2.0,
        "the closed model should understate the stall: {closed:?}"
    );
}

/// A server that speaks HTTP/1.1 only: each of its first `connections` connections gets one
/// answer with `status` (e.g. `200 OK`) and is closed.
fn http1_only_server(connections: usize, status: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let reply =
                format!("HTTP/1.1 {status}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n");
            let _ = std::io::Write::write_all(&mut stream, reply.as_bytes());
        }
    });
    format!("http://{addr}/")
}

#[test]
fn http2_speaks_h2_to_the_testbed_and_fails_against_an_http1_only_server() {
    let stack = Stack::start(StackOptions::new().workers(1));
    let url = format!("{}/health", stack.api());
    let outcome = hit(&[&url, "-n", "40", "-c", "4", "--http2", "--json"]);
    assert_eq!(outcome.code, 0, "stderr:\n{}", outcome.stderr);
    let s = summary(&outcome);
    assert_eq!((s.requests, s.failures), (40, 0), "{s:?}");
    stack.stop();

    // The same HTTP/1.1-only server answers plain requests, and every HTTP/2 one fails. Each
    // server takes one more connection than the requests: preflight's reachability probe.
    let plain = hit(&[
        &http1_only_server(4, "200 OK"),
        "-n",
        "3",
        "-c",
        "1",
        "--json",
    ]);
    let plain = summary(&plain);
    assert_eq!(plain.status_classes.get("2xx"), Some(&3), "{plain:?}");
    let h2 = hit(&[
        &http1_only_server(4, "200 OK"),
        "-n",
        "3",
        "-c",
        "1",
        "--http2",
        "--json",
    ]);
    let h2 = summary(&h2);
    assert_eq!((h2.requests, h2.errors), (3, 3), "{h2:?}");
}

/// A server that answers `GET /` (preflight's reachability probe) and then holds every other
/// request without a byte of answer, as a hung service does. It stops accepting after 60 s.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + Duration::from_secs(60);
        let mut held = Vec::new();
        while std::time::Instant::now() < until && held.len() < 10_000 {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
            if buf[..n].starts_with(b"GET / ") {
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
                let _ = std::io::Write::write_all(&mut stream, reply.as_bytes());
            } else {
                held.push(stream);
            }
        }
    });
    format!("http://{addr}/hang")
}

#[test]
fn hit_ends_at_its_duration_against_a_silent_server_and_counts_the_cancelled_requests() {
    let url = silent_server();
    for (model, extra) in [
        ("closed", &["-c", "4"][..]),
        ("open", &["--rate", "20", "-c", "8"][..]),
    ] {
        let started = std::time::Instant::now();
        let outcome = hit(&[&[url.as_str(), "-d", "2s", "--json"][..], extra].concat());
        let took = started.elapsed();
        eprintln!(
            "{model} model against a silent server: exit {} after {took:?}",
            outcome.code
        );
        assert_eq!(outcome.code, 1, "{model}: stderr:\n{}", outcome.stderr);
        let s = summary(&outcome);
        assert_eq!(s.model, model, "{s:?}");
        // The request timeout is 30 s. A request waited for until then would end as a failure
        // (a timeout); none did, and every one in flight was cancelled at -d instead. That is
        // what ending on time means, read from the counts rather than from a clock.
        assert_eq!((s.requests, s.failures), (0, 0), "{model}: {s:?}");
        let connections: u64 = if model == "closed" { 4 } else { 8 };
        assert_eq!(s.cancelled, connections, "{model}: {s:?}");
        assert!(!s.passed, "{s:?}");
        let reason = s.nothing_succeeded.as_deref().unwrap_or_default();
        assert!(
            reason.contains(&format!("all {connections} were cancelled in flight")),
            "{model}: {s:?}"
        );
        if let Some(dropped) = s.dropped {
            // The schedule's sends: those cancelled in flight, and those dropped.
            let share = format!("{dropped} of {} scheduled sends", dropped + connections);
            assert!(s.warnings.iter().any(|w| w.starts_with(&share)), "{s:?}");
        }
    }
}

/// A server whose `GET /` (preflight) answers `ok` and every other request answers
/// `body_mib` MiB of body, with a length or chunked; keep-alive, one thread a connection. It
/// stops accepting after 120 s.
fn big_body_server(body_mib: usize, chunked: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let until = std::time::Instant::now() + Duration::from_secs(120);
        let mut accepted = 0;
        while std::time::Instant::now() < until && accepted < 100 {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            accepted += 1;
            std::thread::spawn(move || serve_big(stream, body_mib, chunked));
        }
    });
    format!("http://{addr}/big")
}

fn serve_big(mut stream: std::net::TcpStream, body_mib: usize, chunked: bool) {
    use std::io::{Read as _, Write as _};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mib = vec![b'x'; 1 << 20];
    let mut pending = Vec::new();
    for _ in 0..100 {
        // One request head (no body: GET).
        let head_end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut buf = [0u8; 4096];
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        };
        let preflight = pending.starts_with(b"GET / ");
        pending.drain(..head_end);
        let written = if preflight {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        } else if chunked {
            (|| {
                stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
                for _ in 0..body_mib {
                    stream.write_all(format!("{:x}\r\n", mib.len()).as_bytes())?;
                    stream.write_all(&mib)?;
                    stream.write_all(b"\r\n")?;
                }
                stream.write_all(b"0\r\n\r\n")
            })()
        } else {
            (|| {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                    body_mib << 20
                );
                stream.write_all(head.as_bytes())?;
                for _ in 0..body_mib {
                    stream.write_all(&mib)?;
                }
                Ok(())
            })()
        };
        if written.is_err() {
            return;
        }
    }
}

/// All of a child's output pipe, read on a thread.
fn read_pipe<R: std::io::Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Runs `hit` and samples its peak resident memory (VmHWM, kB) from /proc until it exits.
fn hit_with_peak_memory(args: &[&str]) -> (Outcome, u64) {
    let mut command = shakedown();
    command.arg("hit").args(args);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shakedown");
    let pid = child.id();
    let out = read_pipe(child.stdout.take());
    let err = read_pipe(child.stderr.take());
    let started = std::time::Instant::now();
    let mut peak_kb = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hit did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    (outcome, peak_kb)
}

#[test]
fn hit_counts_large_bodies_without_holding_them() {
    const MIB: usize = 64;
    for chunked in [false, true] {
        let url = big_body_server(MIB, chunked);
        let (outcome, peak_kb) = hit_with_peak_memory(&[&url, "-n", "4", "-c", "4", "--json"]);
        eprintln!(
            "4 x {MIB} MiB bodies ({}): peak RSS {} MB",
            if chunked { "chunked" } else { "with a length" },
            peak_kb / 1024
        );
        assert_eq!(
            outcome.code, 0,
            "chunked {chunked}: stderr:\n{}",
            outcome.stderr
        );
        let s = summary(&outcome);
        assert_eq!((s.requests, s.failures), (4, 0), "chunked {chunked}: {s:?}");
        assert_eq!(
            s.bytes_received,
            (4 * MIB as u64) << 20,
            "chunked {chunked}: {s:?}"
        );
        // Holding the bodies would take 256 MiB; counting them takes a read buffer each.
        assert!(
            peak_kb < 200 * 1024,
            "chunked {chunked}: peak RSS {peak_kb} kB for 4 bodies of {MIB} MiB"
        );
    }
}
