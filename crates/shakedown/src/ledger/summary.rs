//! The serialisable result of the ledger check for one test: counts per class and example keys
//! with their witness operations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::model::LedgerClass;

/// One example key of a class, with the operations that witness its classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerExample {
    /// The client key.
    pub key: String,
    /// Why it is in this class, in plain words.
    pub why: String,
    /// Indices (`index` field) of the history operations that witness it.
    pub witnesses: Vec<u64>,
}

/// The ledger's verdict on one test's tracked work.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerSummary {
    /// Keys tracked.
    pub tracked: u64,
    /// Count per class (every class present, zero included).
    pub counts: BTreeMap<LedgerClass, u64>,
    /// Up to 32 examples per non-ok class.
    pub examples: BTreeMap<LedgerClass, Vec<LedgerExample>>,
    /// Whether settle ended because every key was terminal (false: the deadline passed).
    pub settled: bool,
}

impl LedgerSummary {
    /// The count of one class (0 if absent).
    pub fn count(&self, class: LedgerClass) -> u64 {
        self.counts.get(&class).copied().unwrap_or(0)
    }
}
