//! The one integration test binary: the real `shakedown` binary and library against the real
//! testbed, real Postgres, a real S3 protocol server, a real Celery stack, and hostile servers on
//! loopback sockets.

mod artifacts;
mod attest;
mod bad_targets;
mod celery;
mod check;
mod demo;
mod detection;
mod disk_full;
mod evidence;
mod faults;
mod hit;
mod hostile;
mod interrupt;
mod ledger_restart;
mod ledger_truth;
mod orphans;
mod plan_errors;
mod probes;
mod proxy;
mod run;
mod safe_defaults;
mod stream_hostile;
mod streams;
mod support;
mod testbed;
mod usage;
mod verify_http;
