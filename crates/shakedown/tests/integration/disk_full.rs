//! A full disk mid-run stops the run: the run directory is on a small tmpfs; once a pause fault
//! has frozen a worker of the testbed, the test fills the tmpfs, so the next write of evidence
//! (the history of the tracked load) fails. The run must then stop its load, resume the worker,
//! and exit 4 with `verdict: ABORTED` and the failed write (file, OS error, fix) on stdout, well
//! before the pause's own TTL, and say on stderr that the directory could not be sealed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::faults::proc_state;
use crate::run::{shakedown, wait_exit, write_plan};
use crate::support::stack::{Stack, StackOptions};

const PASSWORD: &str = "pw-disk-full-test";

fn plan(api: &str, worker_pid: u32) -> String {
    format!(
        r#"
[plan]
name = "disk-full"
limits = {{ duration = "5m", requests = 1000000 }}

[secrets]
password = {{ env = "TESTBED_PASSWORD" }}

[targets.api]
url = "{api}"
health = "GET /health"

[targets.worker]
control = {{ driver = "exec", pause = "kill -STOP {worker_pid}", resume = "kill -CONT {worker_pid}", timeout = "5s" }}

[scenarios.submit]
steps = [
  {{ name = "login", request = "POST api:/api/v1/auth/login", json = {{ username = "t", password = "{{{{ secrets.password }}}}" }}, capture = {{ token = "$.access_token" }} }},
  {{ name = "create", request = "POST api:/api/v1/runs", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, json = {{ kind = "simulate", params = {{ steps = 1 }} }}, expect = {{ status = [201] }}, track = {{ key = "{{{{ uuid() }}}}", read = "GET api:/api/v1/runs?key={{{{ key }}}}", headers = {{ Authorization = "Bearer {{{{ token }}}}" }}, items = "$.runs[*]", state = "$.status", terminal = ["completed", "failed"], success = ["completed"] }} }},
  {{ think = "20ms" }},
]

[[faults]]
id = "P1"
name = "Pause a worker while tracked work is submitted"
load = {{ scenario = "submit", executor = {{ vus = {{ count = 2, duration = "3m" }} }} }}
timeline = [{{ at = "300ms", pause = "worker", for = "90s" }}]
recovery = {{ probe = "GET api:/health", healthy = 2, within = "30s" }}
expect = ["recovery < 30s"]
"#
    )
}

/// A tmpfs of `size` mounted at `dir`, unmounted (lazily, so a file still open cannot keep it)
/// when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `mount` ({e}): this test needs mount(8)"));
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs at {} ({}): this test needs root (CI runs it as root), \
             or CAP_SYS_ADMIN in a container; it is not skipped",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Write zeros to a file on it until the disk is full; returns the bytes written.
    fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(self.dir.join("filler")).expect("create the filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        // Bounded by the tmpfs's size: at most 2 MiB / 64 KiB writes before ENOSPC.
        for _ in 0..10_000 {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "the disk is full (ENOSPC): {e}");
                    return written;
                }
            }
        }
        panic!("the tmpfs at {} never filled", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Read all of `from` in a thread.
fn collect(mut from: impl std::io::Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

fn spawn(plan: &Path, run_dir: &Path) -> Child {
    shakedown()
        .arg("run")
        .arg(plan)
        .arg("--out")
        .arg(run_dir)
        .arg("--no-progress")
        .env("TESTBED_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shakedown")
}

#[test]
fn a_full_disk_mid_run_aborts_and_reverts_the_fault() {
    let stack = Stack::start(
        StackOptions::new()
            .workers(1)
            .env("TESTBED_PASSWORD", PASSWORD),
    );
    let worker = stack.info.workers[0].pid;
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "2m");
    let plan = write_plan(dir.path(), &plan(stack.api(), worker));
    let run_dir = disk.dir.join("run");
    let mut child = spawn(&plan, &run_dir);
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));

    crate::faults::wait_until_paused(&run_dir, worker);
    let filled = disk.fill();
    assert!(filled > 0, "the run left room on the disk to fill");

    // Well within the pause's TTL of 90s: only the abort can have resumed the worker.
    let code = wait_exit(&mut child, Duration::from_secs(45), "the disk filling up");
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let state = proc_state(worker);
    assert!(
        matches!(state, Some(s) if s != 'T'),
        "the abort resumed the worker: {state:?}; stderr:\n{stderr}"
    );
    assert_eq!(
        code,
        Some(4),
        "ABORTED exits 4; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("verdict: ABORTED"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let reason = stdout
        .lines()
        .find(|l| l.contains("a write of evidence failed"))
        .unwrap_or_else(|| panic!("no reason names the failed write; stdout:\n{stdout}"));
    assert!(
        reason.contains(&format!("cannot write {}", run_dir.display())),
        "the reason names the file in the run directory: {reason}"
    );
    assert!(
        reason.contains("No space left on device"),
        "the reason gives the OS error: {reason}"
    );
    assert!(
        reason.contains("free space") && reason.contains("--out"),
        "the reason gives the fix: {reason}"
    );
    assert!(
        stderr.contains("not sealed"),
        "stderr says the manifest could not be written:\n{stderr}"
    );
    drop(disk);
    drop(stack);
}
