//! The work ledger: an append-only history of tracked operations, the settle phase, and the
//! classification of every tracked key (ok, lost, duplicate, stuck, unknown).

pub mod summary;
