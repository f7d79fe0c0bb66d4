//! Hostile stream servers on a real loopback socket, one behaviour per path: a WebSocket that
//! speaks garbage after the upgrade, one that announces a frame far larger than the cap, one
//! that never answers, and one that floods messages; and the same for SSE (bytes that are not
//! UTF-8, an event larger than the cap, silence, a flood). Each must end in its taxonomy class,
//! within its deadline, with no panic and bounded memory (shakedown's peak RSS is sampled while
//! it reads the floods).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::run::{assert_schema_valid, report_json, shakedown, write_plan};

/// Longest a hostile connection is served.
const SERVE_FOR: Duration = Duration::from_secs(8);

struct HostileServer {
    port: u16,
    flooded: Arc<AtomicU64>,
}

impl HostileServer {
    fn start() -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let flooded = Arc::new(AtomicU64::new(0));
        let counter = flooded.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counter = counter.clone();
                thread::spawn(move || serve(stream, &counter));
            }
        });
        HostileServer { port, flooded }
    }
}

/// Read the request head (bounded), return its path and `Sec-WebSocket-Key`.
fn read_head(stream: &mut TcpStream) -> (String, Option<String>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let key = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_string())
    });
    (path, key)
}

fn upgrade(stream: &mut TcpStream, key: &str) -> bool {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).is_ok()
}

const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";

/// Write `chunk` again and again until the client goes away or time is up; count the bytes.
fn flood(stream: &mut TcpStream, chunk: &[u8], counter: &AtomicU64) {
    let until = Instant::now() + SERVE_FOR;
    while Instant::now() < until {
        if stream.write_all(chunk).is_err() {
            return;
        }
        counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, counter: &AtomicU64) {
    let (path, key) = read_head(&mut stream);
    let key = key.unwrap_or_default();
    match path.as_str() {
        "/ws/garbage" => {
            if upgrade(&mut stream, &key) {
                let _ = stream.write_all(b"\xff\xfe\xfd this is not a websocket frame");
                thread::sleep(SERVE_FOR);
            }
        }
        "/ws/huge" => {
            if upgrade(&mut stream, &key) {
                // A text frame announcing 64 MiB, then some of it.
                let mut frame = vec![0x81u8, 127];
                frame.extend_from_slice(&(64u64 * 1024 * 1024).to_be_bytes());
                let _ = stream.write_all(&frame);
                let _ = stream.write_all(&vec![b'a'; 2 * 1024 * 1024]);
                thread::sleep(SERVE_FOR);
            }
        }
        "/ws/firehose" => {
            if upgrade(&mut stream, &key) {
                let payload = br#"{"type":"noise","data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;
                let mut frames = Vec::new();
                for _ in 0..64 {
                    frames.extend_from_slice(&[0x81, payload.len() as u8]);
                    frames.extend_from_slice(payload);
                }
                flood(&mut stream, &frames, counter);
            }
        }
        "/sse/garbage" => {
            let _ = stream.write_all(SSE_HEAD);
            let _ = stream.write_all(b"event: x\ndata: \xff\xfe\xfd\n\n");
            thread::sleep(SERVE_FOR);
        }
        "/sse/huge" => {
            let _ = stream.write_all(SSE_HEAD);
            let _ = stream.write_all(b"data: ");
            let _ = stream.write_all(&vec![b'a'; 8 * 1024 * 1024]);
            thread::sleep(SERVE_FOR);
        }
        "/sse/firehose" => {
            if stream.write_all(SSE_HEAD).is_ok() {
                let events = b"event: noise\ndata: {\"n\": 1}\n\n".repeat(256);
                flood(&mut stream, &events, counter);
            }
        }
        // Preflight's reachability probe: the server speaks HTTP.
        "/" => {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
        // `/ws/silent`, `/sse/silent`: accept, read, never send a byte.
        _ => thread::sleep(SERVE_FOR),
    }
}

fn plan(port: u16) -> String {
    let mut plan = format!(
        r#"
[plan]
name = "hostile-streams"
limits = {{ duration = "2m", requests = 1000 }}

[targets.h]
url = "http://127.0.0.1:{port}"
"#
    );
    let cases = [
        ("ws_garbage", "ws", "/ws/garbage"),
        ("ws_huge", "ws", "/ws/huge"),
        ("ws_silent", "ws", "/ws/silent"),
        ("ws_firehose", "ws", "/ws/firehose"),
        ("sse_garbage", "sse", "/sse/garbage"),
        ("sse_huge", "sse", "/sse/huge"),
        ("sse_silent", "sse", "/sse/silent"),
        ("sse_firehose", "sse", "/sse/firehose"),
    ];
    for (id, kind, path) in cases {
        // SSE would reconnect after a drop; these cases are about the first connection.
        let extra = if kind == "sse" {
            ", reconnect = { attempts = 0 }"
        } else {
            ""
        };
        plan.push_str(&format!(
            r#"
[scenarios.{id}]
steps = [{{ name = "s", {kind} = {{ request = "GET h:{path}", events = [{{ type = "done" }}], idle = "1s", deadline = "2s"{extra} }} }}]

[[load]]
id = "{id}"
scenario = "{id}"
executor = {{ rounds = {{ concurrency = 1, rounds = 1 }} }}
"#
        ));
    }
    plan
}

/// The peak RSS of a running process, in kB (VmHWM).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn each_hostile_stream_gets_its_class_in_bounded_time_and_memory() {
    let server = HostileServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let path = write_plan(dir.path(), &plan(server.port));
    let mut child = shakedown()
        .arg("run")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--no-progress")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shakedown");
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0u64;
    let status = loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "shakedown did not finish"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        status.code().is_some(),
        "exited normally: {status:?}\n{stderr}"
    );
    let report = report_json(&out);
    assert_schema_valid(&report);
    let expected = [
        ("ws_garbage", "protocol-error"),
        ("ws_huge", "protocol-error"),
        ("ws_silent", "hung"),
        ("ws_firehose", "timeout-waiting-for"),
        ("sse_garbage", "protocol-error"),
        ("sse_huge", "protocol-error"),
        ("sse_silent", "hung"),
        ("sse_firehose", "timeout-waiting-for"),
    ];
    for (id, class) in expected {
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id}"));
        let streams = &check["metrics"]["streams"][0];
        assert_eq!(
            streams["failures"][class], 1,
            "{id} should fail as {class}: {streams}\n{}",
            check["metrics"]["error_clusters"]
        );
        let signature = check["metrics"]["error_clusters"][0]["signature"]
            .as_str()
            .unwrap_or_default();
        assert!(signature.contains(class), "{id}: {signature}");
    }
    // The floods really were floods, and reading them did not grow memory with them.
    let flooded_mb = server.flooded.load(Ordering::Relaxed) / (1024 * 1024);
    assert!(flooded_mb >= 20, "the servers sent only {flooded_mb} MiB");
    assert!(
        peak < 150 * 1024,
        "peak RSS {peak} kB while reading {flooded_mb} MiB of floods"
    );
}
