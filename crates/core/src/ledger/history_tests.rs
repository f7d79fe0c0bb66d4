//! Tests of the ledger's history: redaction, the JSONL round trip, and operation pairing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::ledger::checker::classify;
use crate::ledger::fixtures;
use crate::ledger::history::{KeyRead, Ledger, ReadRequest, SubmitOutcome, TrackSite};
use crate::ledger::record::{OpFn, OpType, Record, SubmitDone, read_history};
use shakedown_plan::model::{LedgerClass, Method, SecretValue, Secrets};
use shakedown_plan::redact::{REDACTED, Redactor};

const SECRET: &str = "s3cr3t-canary";

fn site() -> TrackSite<'static> {
    TrackSite {
        test: "L1",
        scenario: fixtures::SCENARIO,
        step: fixtures::STEP,
    }
}

fn read(url: &str, headers: Vec<(String, String)>) -> KeyRead {
    Ok(ReadRequest {
        method: Method::Get,
        url: url.to_string(),
        headers,
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
    })
}

fn ledger(dir: &tempfile::TempDir, redactor: Redactor) -> Arc<Ledger> {
    let plan = Arc::new(fixtures::plan(fixtures::settle_config(1000, 10)));
    Ledger::create(&dir.path().join("history.jsonl"), plan, redactor).unwrap()
}

/// Every invoke has exactly one completion, after it, with the same process, f, test and key.
pub(crate) fn assert_paired(records: &[Record]) {
    let mut open: HashMap<(OpFn, String, String), &Record> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.index, i as u64, "indices are consecutive");
        if i > 0 {
            assert!(r.time_ns >= records[i - 1].time_ns, "one monotonic clock");
        }
        let slot = (r.f, r.test.clone(), r.key.clone());
        if r.kind == OpType::Invoke {
            assert!(open.insert(slot, r).is_none(), "two open invokes for {r:?}");
        } else {
            let invoke = open
                .remove(&slot)
                .unwrap_or_else(|| panic!("completion without invoke: {r:?}"));
            assert_eq!(invoke.process, r.process);
        }
    }
    assert!(
        open.is_empty(),
        "invokes without completion: {:?}",
        open.values().collect::<Vec<_>>()
    );
}

#[test]
fn credentials_and_secrets_never_reach_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = Secrets::default();
    secrets.values.insert(
        "ops_key".into(),
        SecretValue {
            env: "OPS_KEY".into(),
            value: SECRET.into(),
        },
    );
    let ledger = ledger(&dir, Redactor::new(&secrets));
    let op = ledger.submit_invoke(
        site(),
        "L1/vu-0",
        "k-1",
        Method::Post,
        "http://127.0.0.1:9/runs?api_key=abc123&page=2",
    );
    ledger.submit_complete(
        op,
        SubmitOutcome::Info {
            status: Some(502),
            error: format!("upstream echoed {SECRET}"),
        },
        read(
            &format!("http://127.0.0.1:9/runs?key=k-1&note={SECRET}"),
            vec![
                ("Authorization".into(), "Bearer tok-xyz".into()),
                ("X-Note".into(), format!("id {SECRET}")),
            ],
        ),
        None,
    );
    ledger.flush().unwrap();
    let text = std::fs::read_to_string(ledger.path()).unwrap();
    for leaked in [SECRET, "tok-xyz", "abc123"] {
        assert!(!text.contains(leaked), "{leaked} leaked into {text}");
    }
    let (records, _) = read_history(ledger.path()).unwrap();
    assert_eq!(
        records[0].value["url"],
        format!("http://127.0.0.1:9/runs?api_key={REDACTED}&page=2")
    );
    let done: SubmitDone = records[1].decode();
    assert_eq!(
        done.error.as_deref(),
        Some("upstream echoed [REDACTED:ops_key]")
    );
    let spec = done.read.unwrap();
    assert_eq!(spec.headers[0].name, "Authorization");
    assert_eq!(spec.headers[0].value, REDACTED);
    assert_eq!(spec.headers[1].value, "id [REDACTED:ops_key]");
    assert_eq!(
        spec.url,
        "http://127.0.0.1:9/runs?key=k-1&note=[REDACTED:ops_key]"
    );
}

#[test]
fn the_saved_history_round_trips_and_classifies_like_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir, Redactor::default());
    let outcomes = [
        SubmitOutcome::Ok { status: 201 },
        SubmitOutcome::Info {
            status: None,
            error: "timed out".into(),
        },
        SubmitOutcome::Fail {
            status: Some(409),
            error: "HTTP 409".into(),
        },
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let key = format!("k-{i}");
        let op = ledger.submit_invoke(
            site(),
            &format!("L1/vu-{i}"),
            &key,
            Method::Post,
            "http://127.0.0.1:9/runs",
        );
        ledger.submit_complete(
            op,
            outcome,
            read("http://127.0.0.1:9/runs", Vec::new()),
            None,
        );
    }
    // Invoked but never completed: the run stopped mid-request.
    ledger.submit_invoke(
        site(),
        "L1/vu-9",
        "k-9",
        Method::Post,
        "http://127.0.0.1:9/runs",
    );
    assert_eq!(ledger.tracked(), 4);

    let records = ledger.records();
    assert_eq!(records.len(), 7);
    for record in &records {
        let line = record.to_line().unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(&back, record);
    }
    let kinds: Vec<OpType> = records.iter().map(|r| r.kind).collect();
    use OpType::*;
    assert_eq!(kinds, [Invoke, Ok, Invoke, Info, Invoke, Fail, Invoke]);
    assert_paired(&records[..6]);

    let offline = classify(&records, ledger.plan());
    assert_eq!(offline, ledger.summaries());
    // No settle ran, so nothing has a final read.
    assert_eq!(offline["L1"].count(LedgerClass::Unknown), 4);
    assert_eq!(offline["L1"].tracked, 4);
}

#[test]
fn a_completion_without_a_pending_submit_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger(&dir, Redactor::default());
    let op = ledger.submit_invoke(
        site(),
        "L1/vu-0",
        "k",
        Method::Post,
        "http://127.0.0.1:9/runs",
    );
    ledger.submit_complete(
        op,
        SubmitOutcome::Ok { status: 201 },
        read("http://127.0.0.1:9/x", Vec::new()),
        None,
    );
    ledger.submit_complete(
        op,
        SubmitOutcome::Ok { status: 201 },
        read("http://127.0.0.1:9/x", Vec::new()),
        None,
    );
    ledger.submit_complete(
        999,
        SubmitOutcome::Ok { status: 201 },
        read("http://127.0.0.1:9/x", Vec::new()),
        None,
    );
    let records = ledger.records();
    assert_eq!(records.len(), 2);
    assert_paired(&records);
    assert_eq!(ledger.tracked_keys().len(), 1);
}

#[test]
fn creating_a_ledger_truncates_an_old_history() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.jsonl"), "old line\n").unwrap();
    let ledger = ledger(&dir, Redactor::default());
    assert!(ledger.records().is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_is_reported_by_every_later_flush() {
    let plan = Arc::new(fixtures::plan(fixtures::settle_config(1000, 10)));
    // Every write to /dev/full fails with "no space left on device". Through a link in a
    // temporary directory, so that the files written beside the history land there, not in /dev.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let ledger = Ledger::create(&path, plan, Redactor::default()).unwrap();
    for i in 0..200 {
        let key = format!("key-{i:04}-padding-so-that-the-write-buffer-fills-up-quickly");
        let op = ledger.submit_invoke(
            site(),
            "L1/vu-0",
            &key,
            Method::Post,
            "http://127.0.0.1:9/runs",
        );
        ledger.submit_complete(
            op,
            SubmitOutcome::Ok { status: 201 },
            read("http://127.0.0.1:9/x", Vec::new()),
            None,
        );
    }
    let first = ledger.flush().unwrap_err();
    assert_eq!(first.kind(), std::io::ErrorKind::StorageFull);
    let again = ledger.flush().unwrap_err();
    assert!(
        again.to_string().contains("an earlier write failed"),
        "{again}"
    );
    // The classification does not depend on the file.
    assert_eq!(ledger.summaries()["L1"].tracked, 200);
}

#[cfg(target_os = "linux")]
#[test]
fn the_first_failed_write_stops_the_run_before_any_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    // Every write to /dev/full fails with "no space left on device".
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let run = tokio_util::sync::CancellationToken::new();
    let stop = crate::stop::RunStop::new(run.clone());
    let plan = Arc::new(fixtures::plan(fixtures::settle_config(1000, 10)));
    let ledger = Ledger::create_in_run(&path, plan, Redactor::default(), stop.clone()).unwrap();
    let mut submits = 0;
    while !run.is_cancelled() && submits < 1_000 {
        let key = format!("key-{submits:04}");
        let op = ledger.submit_invoke(site(), "L1/vu-0", &key, Method::Post, "http://127.0.0.1:9");
        ledger.submit_complete(
            op,
            SubmitOutcome::Ok { status: 201 },
            read("http://127.0.0.1:9/x", Vec::new()),
            None,
        );
        submits += 1;
    }
    assert!(
        run.is_cancelled(),
        "a full write buffer hit the disk and stopped the run"
    );
    let failure = stop.write_failure().expect("the failed write is kept");
    assert!(failure.contains(&path.display().to_string()), "{failure}");
    assert!(failure.contains("No space left on device"), "{failure}");
    assert!(ledger.flush().is_err());
}
