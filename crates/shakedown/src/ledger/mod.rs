//! The work ledger: an append-only history of tracked operations, the settle phase, and the
//! classification of every tracked key (DESIGN section 7).
//!
//! - [`history`]: the [`Ledger`] the load generator records tracked submits in;
//! - [`record`]: one line of `history.jsonl`, and [`read_history`] for saved histories;
//! - [`settle`](mod@settle): polling until every key is terminal, then final reads;
//! - [`checker`]: the pure classification ([`classify`]) of a history;
//! - [`observe`]: what a read of a key means against its track spec;
//! - [`summary`]: the per-test result that goes into the report;
//! - [`streams`]: the SSE stream log and the stream checker.

pub mod checker;
pub mod history;
pub mod observe;
pub mod record;
pub mod settle;
pub mod stream_record;
pub mod streams;
pub mod summary;
mod why;

#[cfg(test)]
mod fixtures;

pub use checker::classify;
pub use history::{Ledger, OpId, ReadRequest, SubmitOutcome, TrackSite};
pub use record::{Record, read_history};
pub use settle::{SettleOutcome, settle};

#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod settle_tests;
