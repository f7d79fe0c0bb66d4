//! Throughput of large transfers through the fault proxy (no toxic) against a direct connection,
//! in the same invocation. Run by `bench/proxy.sh`; prints one JSON line.
//!
//! One loopback server does both directions: asked to `upload`, it reads `MIB` mebibytes to their
//! end and answers one byte; asked to `download`, it writes `MIB` mebibytes and closes. The same
//! client code drives both paths (direct, and through the proxy in front of the same server),
//! `ROUNDS` times each, in alternating order (direct first in even rounds, proxy first in odd
//! ones), so that neither path always runs on a warmer or quieter machine. Each path's rate is the
//! median of its rounds, per direction; the ratio of a direction is the proxy's median over the
//! direct median, and the bench passes if the lower of the two ratios reaches the target.
//!
//! It also prints the CPU time the whole process (client, server and proxy threads) spent per GiB
//! on each path: on a machine busy with other work the rates move, and that cost is steadier.
//!
//! `SOCKET_BUFFER=0` runs the proxy with the kernel's autotuned socket buffers instead of its
//! default for loopback (see `proxy/socket_buffers.rs`), for comparison.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shakedown_proxy::{Proxy, ProxyConfig};

const BLOCK: usize = 1024 * 1024;
const TARGET: f64 = 0.7;
const UPLOAD: u8 = b'U';
const DOWNLOAD: u8 = b'D';

/// Read `stream` to its end; returns the bytes read.
fn drain(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        match stream.read(buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

/// Write `bytes` bytes to `stream`.
fn fill(stream: &mut TcpStream, block: &[u8], bytes: u64) -> std::io::Result<()> {
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        stream.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Serve one request on `stream`: a direction byte and a length (8 bytes, big-endian).
fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head)?;
    let mut len = [0u8; 8];
    len.copy_from_slice(&head[1..]);
    let bytes = u64::from_be_bytes(len);
    let mut buf = vec![7u8; BLOCK];
    if head[0] == UPLOAD {
        let got = drain(&mut stream, &mut buf)?;
        stream.write_all(if got == bytes { b"!" } else { b"?" })?;
    } else {
        fill(&mut stream, &buf, bytes)?;
        stream.shutdown(Shutdown::Write)?;
        // Wait for the client to go, so the close is a FIN and never a reset.
        drain(&mut stream, &mut buf)?;
    }
    Ok(())
}

/// The server: one long-lived thread that serves one connection at a time (transfers run one
/// after another), so that its CPU time stays countable.
fn server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve(stream);
        }
    });
    Ok(addr)
}

/// One transfer of `bytes` in `direction` through `addr`; returns the time it took.
fn transfer(addr: SocketAddr, direction: u8, bytes: u64) -> anyhow::Result<Duration> {
    let mut buf = vec![7u8; BLOCK];
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).context("connect")?;
    let mut head = [direction; 9];
    head[1..].copy_from_slice(&bytes.to_be_bytes());
    stream.write_all(&head).context("request")?;
    if direction == UPLOAD {
        fill(&mut stream, &buf, bytes).context("upload")?;
        stream.shutdown(Shutdown::Write)?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).context("the answer")?;
        anyhow::ensure!(&answer == b"!", "the server did not get every byte");
    } else {
        let got = drain(&mut stream, &mut buf).context("download")?;
        anyhow::ensure!(got == bytes, "downloaded {got} bytes of {bytes}");
    }
    Ok(start.elapsed())
}

/// CPU time used so far by the live threads of this process (Linux `schedstat`, nanoseconds):
/// the client, the server and the proxy, all of which live for the whole bench.
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}

fn env_u64(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(value) => value.parse().with_context(|| format!("{name}={value}")),
        Err(_) => Ok(default),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The measurements of one path in one direction.
#[derive(Default)]
struct Samples {
    mib_s: Vec<f64>,
    cpu: Duration,
}

fn main() -> anyhow::Result<()> {
    let mib = env_u64("MIB", 512)?;
    let bytes = mib * 1024 * 1024;
    let rounds = env_u64("ROUNDS", 9)?.max(1);
    let upstream = server()?;
    let mut config = ProxyConfig::new("bench", "127.0.0.1:0".parse()?, upstream.to_string());
    if let Ok(size) = std::env::var("SOCKET_BUFFER") {
        let size: usize = size.parse().context("SOCKET_BUFFER")?;
        config.loopback_socket_buffer = (size > 0).then_some(size);
    }
    let socket_buffer = config.loopback_socket_buffer;
    let proxy = Proxy::start(config)?;
    let paths = [("direct", upstream), ("proxy", proxy.addr())];
    let directions = [("upload", UPLOAD), ("download", DOWNLOAD)];
    // samples[direction][path]
    let mut samples: [[Samples; 2]; 2] = Default::default();
    for round in 0..rounds {
        for (d, (_, direction)) in directions.iter().enumerate() {
            for step in 0..2 {
                // Alternate which path goes first.
                let p = (step + round as usize) % 2;
                let cpu = process_cpu();
                let took = transfer(paths[p].1, *direction, bytes)?;
                let sample = &mut samples[d][p];
                sample.cpu += process_cpu().saturating_sub(cpu);
                sample.mib_s.push(mib as f64 / took.as_secs_f64());
            }
        }
    }
    let stats = proxy.stats();
    let expected = bytes * rounds;
    anyhow::ensure!(
        stats.bytes_upstream >= expected && stats.bytes_downstream >= expected,
        "the proxy forwarded {} bytes up and {} down, expected at least {expected} each way",
        stats.bytes_upstream,
        stats.bytes_downstream,
    );
    let gib = (bytes * rounds) as f64 / (1024.0 * 1024.0 * 1024.0);
    let mut report = serde_json::Map::new();
    let mut ratios = Vec::new();
    for (d, (name, _)) in directions.iter().enumerate() {
        let [direct, proxied] = &samples[d];
        let (direct_rate, proxy_rate) =
            (median(direct.mib_s.clone()), median(proxied.mib_s.clone()));
        let ratio = proxy_rate / direct_rate;
        ratios.push(ratio);
        report.insert(
            (*name).to_string(),
            serde_json::json!({
                "direct_mib_s": round1(direct_rate),
                "proxy_mib_s": round1(proxy_rate),
                "ratio": round3(ratio),
                "direct_rounds_mib_s": direct.mib_s.iter().map(|r| round1(*r)).collect::<Vec<_>>(),
                "proxy_rounds_mib_s": proxied.mib_s.iter().map(|r| round1(*r)).collect::<Vec<_>>(),
                "direct_cpu_s_per_gib": round3(direct.cpu.as_secs_f64() / gib),
                "proxy_cpu_s_per_gib": round3(proxied.cpu.as_secs_f64() / gib),
            }),
        );
    }
    let ratio = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    // How busy the machine was with other work: the rates are only comparable on a quiet one.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut line = serde_json::json!({
        "bench": "proxy_throughput",
        "loadavg_1m": load.split_whitespace().next().and_then(|l| l.parse::<f64>().ok()),
        "mib_per_transfer": mib,
        "rounds": rounds,
        "loopback_socket_buffer": socket_buffer,
        "ratio": round3(ratio),
        "target": TARGET,
        "pass": ratio >= TARGET,
    });
    if let Some(object) = line.as_object_mut() {
        object.extend(report);
    }
    println!("{line}");
    Ok(())
}
