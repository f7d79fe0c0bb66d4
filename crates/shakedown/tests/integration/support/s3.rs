//! An S3 server on a free loopback port: `moto_server` from the pip package `moto[server]`,
//! stopped on `Drop`. Buckets are created with a plain `PUT`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const INSTALL_HINT: &str =
    "moto_server not found on PATH: install it with `pip install 'moto[server]'`";

/// A running moto server.
pub struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    /// Start the server and wait until it accepts connections. Panics with an install hint if
    /// `moto_server` is missing.
    pub fn start() -> S3Server {
        let program = super::which("moto_server").unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let port = super::free_port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting moto_server: {e}; {INSTALL_HINT}"));
        let mut server = S3Server { child, port };
        super::wait_for(
            "moto_server to accept connections",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || {
                if let Ok(Some(status)) = server.child.try_wait() {
                    panic!("moto_server exited at start ({status}); {INSTALL_HINT}");
                }
                server.request("GET", "/").ok()
            },
        );
        server
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A plain HTTP/1.1 request; returns the status code.
    fn request(&self, method: &str, path: &str) -> std::io::Result<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad response {response:?}")))
    }

    /// Create a bucket.
    pub fn create_bucket(&self, name: &str) {
        let status = self
            .request("PUT", &format!("/{name}"))
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
        assert_eq!(status, 200, "creating bucket {name}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
