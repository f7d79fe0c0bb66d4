//! The work ledger: an append-only history of tracked operations, the settle phase, and the
//! classification of every tracked key (DESIGN section 7).
//!
//! - [`history`]: the [`Ledger`] the load generator records tracked submits in;
//! - [`record`]: one line of `history.jsonl`, and [`read_history`] for saved histories;
//! - [`settle`](mod@settle): polling until every key is terminal, then final reads;
//! - [`spec`]: the track rules the checker judges by, saved as `ledger-spec.json`;
//! - [`checker`]: the pure classification ([`classify`]) of a history, with [`classes`] (the
//!   classes of one key), `trace` (what the reads of a key showed over time) and
//!   [`distribution`] (time to terminal and attempts histograms);
//! - [`observe`]: what a read of a key means against its track spec;
//! - [`summary`]: the per-test result that goes into the report;
//! - [`offline`]: checking a saved run directory again (`shakedown check`), and
//!   [`violations`]: which classes are violations and which fail a check by default (the ledger
//!   classifies; the statuses come from [`crate::check::gate`]);
//! - [`jepsen`]: the history in Jepsen's JSON shape, for an independent checker;
//! - [`streams`]: the SSE stream log and the stream checker;
//! - [`watch`]: reads of tracked keys during the run, before settle, within a read budget.

pub mod checker;
pub mod classes;
pub mod distribution;
pub mod history;
pub mod jepsen;
pub mod observe;
pub mod offline;
pub mod record;
pub mod settle;
pub mod spec;
pub mod stream_record;
pub mod streams;
pub mod summary;
mod trace;
pub mod violations;
pub mod watch;
mod watch_schedule;
mod why;

#[cfg(test)]
mod fixtures;

pub use checker::classify;
pub use history::{
    KeyRead, Ledger, OpId, ReadAfterReplay, ReadRequest, ReplayRequest, SubmitOutcome, TrackSite,
};
pub use record::{Record, read_history};
pub use settle::{SettleOutcome, settle};

#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod classes_tests;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod settle_tests;
#[cfg(test)]
mod watch_tests;
