//! The testbed: a miniature staging stack (API, workers, database, artifact store) with seeded
//! defects, used as shakedown's embedded default and as the ground for its integration tests.
//!
//! - [`cli`]: the `stack`, `api` and `worker` commands;
//! - [`stack`]: the supervisor of child processes and its stdin control protocol;
//! - [`api`]: the axum HTTP API; [`worker`]: the worker loop;
//! - [`store`]: SQLite or Postgres; [`artifacts`] and [`package`]: run evidence packages;
//! - [`defects`]: the seeded defects; [`outage`]: the shared simulated database outage.

pub mod api;
pub mod artifacts;
pub mod auth;
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
