//! C3 for real, from `examples/c3-postgres.toml`: the testbed's API and a worker run on a real
//! Postgres behind the fault proxy, started by shakedown as process targets. The proxy goes
//! `down` for 5 s under load (C3), or blackholes the database for 5 s (C3T). The healthy testbed
//! passes both, each fault proven by the proxy's counters and journaled like any other; with
//! `stuck-on-restart`, C3 fails on `stuck == 0`, because a worker gives up the run it holds when
//! its database calls fail and, without lease expiry, nobody takes it over.

use std::path::Path;
use std::time::Duration;

use crate::faults::{check, journal_events};
use crate::run::{Outcome, assert_schema_valid, finish, report_json, shakedown};
use crate::support::free_port;
use crate::support::postgres::Postgres;

fn run_c3(dir: &Path, only: &str, defects: &str) -> (Outcome, serde_json::Value) {
    let pg = Postgres::start();
    pg.create_database("c3");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c3-postgres.toml");
    let run = dir.join("run");
    let mut command = shakedown();
    command
        .arg("run")
        .arg(&plan)
        .args(["--no-progress", "--only", only, "--out"])
        .arg(&run)
        .env("C3_PG", format!("127.0.0.1:{}", pg.port()))
        .env("C3_DB", "c3")
        .env("C3_API", format!("127.0.0.1:{}", free_port()))
        .env("C3_DATA", &data)
        .env("SHAKEDOWN_EXE", env!("CARGO_BIN_EXE_shakedown"))
        .env("TESTBED_PASSWORD", "c3-password")
        .env("TESTBED_OPS_KEY", "c3-ops-key")
        .env("TESTBED_JWT_SECRET", "c3-jwt-secret")
        .env("SHAKEDOWN_DEMO_DEFECTS", defects);
    let out = finish(command, Duration::from_secs(240));
    let report = report_json(&run);
    assert_schema_valid(&report);
    drop(pg);
    (out, report)
}

fn assert_proven_by_counters(c: &serde_json::Value, counter: &str) {
    let fault = &c["fault"]["faults"][0];
    assert_eq!(fault["proven"], true, "{fault}");
    let proof = fault["proof"].as_str().unwrap_or_default();
    assert!(proof.starts_with("proxy db counted toxic"), "{proof}");
    assert!(proof.contains(counter), "{proof}");
    assert!(
        fault["reverted"]
            .as_str()
            .unwrap_or_default()
            .contains("toxic removed from proxy db"),
        "{fault}"
    );
}

#[test]
fn a_real_database_outage_and_blackhole_are_survived_by_the_healthy_testbed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, report) = run_c3(dir.path(), "C3,C3T", "");
    assert_eq!(
        out.code, 0,
        "GO\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for id in ["C3", "C3T"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "PASS", "{c}");
        for class in ["lost", "duplicates", "stuck"] {
            assert_eq!(c["ledger"]["counts"][class], 0, "{id} {class}: {c}");
        }
        let recovery = c["fault"]["recovery"]["recovery_ms"].as_f64();
        eprintln!(
            "{id}: {} recovery {recovery:?} ms, ledger {}, proof: {}",
            c["status"], c["ledger"]["counts"], c["fault"]["faults"][0]["proof"]
        );
        assert!(recovery.is_some_and(|ms| ms > 0.0), "{id}: {c}");
        // The outage was seen: the recovery probe failed during it.
        assert!(
            c["fault"]["recovery"]["failed_probes"]
                .as_u64()
                .unwrap_or(0)
                > 0,
            "{id}: {c}"
        );
    }
    assert_proven_by_counters(check(&report, "C3"), "connections closed");
    assert_proven_by_counters(check(&report, "C3T"), "bytes delayed or held");
    let journal = journal_events(&dir.path().join("run"), "C3#0");
    assert_eq!(
        journal,
        ["intent", "applied", "reverted", "confirmed"],
        "the journal of C3#0"
    );
}

#[test]
fn the_outage_exposes_runs_stuck_without_lease_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, report) = run_c3(dir.path(), "C3", "stuck-on-restart");
    assert_eq!(
        out.code, 1,
        "NO-GO\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let c = check(&report, "C3");
    eprintln!(
        "C3 with stuck-on-restart: {}: {}; ledger {}",
        c["status"], c["reason"], c["ledger"]["counts"]
    );
    assert_eq!(c["status"], "FAIL", "{c}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("stuck == 0"),
        "{c}"
    );
    assert!(
        c["ledger"]["counts"]["stuck"].as_u64().unwrap_or(0) > 0,
        "{c}"
    );
    assert_proven_by_counters(c, "connections closed");
}
