//! A real Postgres on a free loopback port, in a temporary directory, stopped on `Drop`.
//!
//! The server binaries come from the Debian `postgresql` package, found at run time under
//! `/usr/lib/postgresql/<version>/bin` (the newest version) or on `PATH`. As root, they run as the
//! `postgres` user through `runuser`, with the temporary directory given to that user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const INSTALL_HINT: &str = "Postgres server binaries (initdb, pg_ctl) not found: install them \
     with `apt-get install postgresql` (Debian), or put initdb and pg_ctl on PATH";

/// A running Postgres server.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory holding `initdb` and `pg_ctl`, newest version first.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let initdb = super::which("initdb")?;
    let initdb = initdb.canonicalize().unwrap_or(initdb);
    let bin = initdb.parent()?.to_path_buf();
    bin.join("pg_ctl").is_file().then_some(bin)
}

impl Postgres {
    /// Initialise and start a server. Panics with an install hint if the binaries are missing.
    pub fn start() -> Postgres {
        let bin = find_bin_dir().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let as_postgres = super::running_as_root();
        if as_postgres && super::which("runuser").is_none() {
            panic!("running as root needs `runuser` (util-linux) to start Postgres as `postgres`");
        }
        let dir = tempfile::Builder::new()
            .prefix("shakedown-pg-")
            .tempdir()
            .expect("creating a temporary Postgres directory");
        let server = Postgres {
            dir,
            bin,
            port: super::free_port(),
            as_postgres,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(server.dir.path())
                .output()
                .expect("running chown");
            assert!(
                chown.status.success(),
                "chown of the Postgres directory failed (is there a `postgres` user?): {}",
                String::from_utf8_lossy(&chown.stderr)
            );
        }
        let data = server.data_dir();
        let initdb = server.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            describe(&initdb)
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            server.port,
            server.dir.path().display()
        );
        let log = server.dir.path().join("postgres.log");
        let start = server.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            start.status.success(),
            "pg_ctl start failed: {}\n{}",
            describe(&start),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", path.display()))
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `name` (trust authentication, user `postgres`).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Create a database and return its URL.
    pub fn create_database(&self, name: &str) -> String {
        let created = self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        );
        assert!(
            created.status.success(),
            "createdb {name} failed: {}",
            describe(&created)
        );
        self.url(name)
    }

    /// The server's directory (data and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data_dir().display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
