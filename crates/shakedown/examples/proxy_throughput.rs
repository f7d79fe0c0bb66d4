//! Throughput of a large transfer through the fault proxy (no toxic) against a direct
//! connection, in the same invocation. Run by `bench/proxy.sh`; prints one JSON line.
//!
//! A sender thread writes `BYTES` bytes over loopback to a sink thread that reads them all and
//! answers with one byte once the sender has closed. Each path runs `ROUNDS` times, alternating;
//! the best round of each path is compared (the least disturbed by the rest of the machine). The
//! CPU time the proxy's thread used per GiB is printed too: on a busy machine it is steadier than
//! the rates.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shakedown::proxy::{Proxy, ProxyConfig};

const BLOCK: usize = 1024 * 1024;

/// Accept one connection at a time; read each to its end, then answer one byte.
fn sink() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; BLOCK];
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            let _ = stream.write_all(b"!");
        }
    });
    Ok(addr)
}

/// Send `bytes` to `addr` and wait for the sink's answer; returns the time taken.
fn transfer(addr: SocketAddr, bytes: u64) -> anyhow::Result<Duration> {
    let block = vec![7u8; BLOCK];
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).context("connect")?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        stream.write_all(&block[..n]).context("write")?;
        left -= n as u64;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .context("the sink's answer")?;
    Ok(start.elapsed())
}

/// CPU seconds (user + system) used so far by this process's thread named `name` (Linux).
fn thread_cpu_seconds(name: &str) -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        return Some(ticks / 100.0);
    }
    None
}

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value.parse().with_context(|| format!("{name}={value}")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let bytes = env_u64("MIB", 2048)? * 1024 * 1024;
    let rounds = env_u64("ROUNDS", 3)?;
    let target = sink()?;
    let proxy = Proxy::start(ProxyConfig::new(
        "bench",
        "127.0.0.1:0".parse()?,
        target.to_string(),
    ))?;
    let (mut direct, mut proxied) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        direct = direct.min(transfer(target, bytes)?);
        proxied = proxied.min(transfer(proxy.addr(), bytes)?);
    }
    let proxy_cpu = thread_cpu_seconds("proxy-bench");
    let stats = proxy.stats();
    anyhow::ensure!(
        stats.bytes_upstream == bytes * rounds,
        "the proxy forwarded {} bytes, expected {}",
        stats.bytes_upstream,
        bytes * rounds
    );
    let mib_s = |d: Duration| bytes as f64 / 1024.0 / 1024.0 / d.as_secs_f64();
    let ratio = mib_s(proxied) / mib_s(direct);
    println!(
        "{}",
        serde_json::json!({
            "bench": "proxy_throughput",
            "bytes": bytes,
            "rounds": rounds,
            "direct_mib_s": (mib_s(direct) * 10.0).round() / 10.0,
            "proxy_mib_s": (mib_s(proxied) * 10.0).round() / 10.0,
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "proxy_cpu_s_per_gib": proxy_cpu.map(|cpu| {
                let gib = (bytes * rounds) as f64 / 1024.0 / 1024.0 / 1024.0;
                (cpu / gib * 1000.0).round() / 1000.0
            }),
            "target": 0.7,
            "pass": ratio >= 0.7,
        })
    );
    Ok(())
}
