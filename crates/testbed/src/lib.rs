//! The testbed: a miniature staging stack (API, workers, database, artifact store) with seeded
//! defects, used as shakedown's embedded default and as the ground for its integration tests.
//!
//! - [`cli`]: the `stack`, `api` and `worker` commands;
//! - [`stack`]: the supervisor of child processes and its stdin control protocol;
//! - [`api`]: the axum HTTP API; [`worker`]: the worker loop;
//! - [`store`]: SQLite or Postgres; [`artifacts`] and [`package`]: run evidence packages;
//! - [`defects`]: the seeded defects; [`outage`]: the shared simulated database outage;
//! - [`boot_info`]: each worker's boot-info key in Redis (with `--redis-url`).
//!
//! # The data directory
//!
//! Every part takes `--data-dir DIR` (the stack makes a temporary one by default):
//!
//! - `DIR/testbed.db`: the SQLite database, unless `--database` names another;
//! - `DIR/artifacts/<bucket>/runs/<run-id>/`: a completed run's package (`result.json`,
//!   `metrics.csv`, `log.txt`, `output.bin`, `manifest.json`) when no `--s3-endpoint` is given;
//!   `<bucket>` is `--s3-bucket`, by default `shakedown-artifacts`;
//! - `DIR/artifacts/<bucket>-other/runs/<run-id>/`: where the `wrong-bucket` defect puts every
//!   fifth package of each worker (by default `DIR/artifacts/shakedown-artifacts-other/`);
//! - the simulated database outage's deadline file (see [`outage`]).
//!
//! See [`artifacts`] for the layout on S3.

pub mod api;
pub mod artifacts;
pub mod auth;
pub mod boot_info;
pub mod cli;
pub mod clock;
pub mod config;
pub mod defects;
pub mod jsonl;
pub mod lifecycle;
pub mod outage;
pub mod package;
pub mod run;
pub mod stack;
pub mod stall;
pub mod store;
pub mod worker;
