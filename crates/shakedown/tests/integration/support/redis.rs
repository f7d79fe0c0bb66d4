//! A real Redis on a free loopback port: `redis-server` (the Debian package `redis-server`, which
//! `.ci/test` installs) with persistence off, in a temporary directory, stopped on `Drop`.
//!
//! ```ignore
//! let redis = RedisServer::start();
//! let url = redis.url(); // redis://127.0.0.1:PORT
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

const INSTALL_HINT: &str = "redis-server not found on PATH: install it with \
     `apt-get install redis-server` (Debian), as `.ci/test` does";

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Start a server on a free port and wait until it answers `PING`. Panics with an install
    /// hint if `redis-server` is missing.
    pub fn start() -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("shakedown-redis-")
            .tempdir()
            .expect("creating a temporary Redis directory");
        let mut server = RedisServer {
            child: None,
            port: super::free_port(),
            dir,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let program = super::which("redis-server").unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let child = Command::new(program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting redis-server: {e}; {INSTALL_HINT}"));
        self.child = Some(child);
        super::wait_for(
            "redis-server to answer PING",
            Duration::from_secs(30),
            Duration::from_millis(50),
            || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    panic!("redis-server exited at start ({status}); is the port taken?");
                }
                self.ping().then_some(())
            },
        );
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server answers `PING` right now.
    pub fn ping(&self) -> bool {
        let attempt = || -> std::io::Result<bool> {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            stream.write_all(b"PING\r\n")?;
            let mut answer = [0u8; 7];
            stream.read_exact(&mut answer)?;
            Ok(&answer == b"+PONG\r\n")
        };
        attempt().unwrap_or(false)
    }

    /// Stop the server (an outage): KILL, so nothing is saved. Its data is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
