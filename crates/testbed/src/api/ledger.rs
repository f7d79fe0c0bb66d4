//! The submission defects `commit-then-500` and `shared-id`, which need a per-process count of
//! submissions: with either switched on, `POST /api/v1/runs` goes through [`SubmitLedger`],
//! which serialises submissions (so that the counts are deterministic) and applies the rules:
//!
//! - `commit-then-500`: the n-th run created by this API process, counting from 1, is committed
//!   but "not dispatched" when `n % 4 == 2` (runs #2, #6, #10, ...): it is stored
//!   [`crate::store::UNDISPATCHED`], which reads as `queued` everywhere and is never claimed, and
//!   the submission answers 500 `{"detail": ...}` without the run id. A replay with the same
//!   `Idempotency-Key` answers 200 with the run, still `queued`.
//! - `shared-id`: the n-th new idempotency key seen by this API process (a key with no run and no
//!   alias yet), counting from 1, is answered 201 with the run this process created just before
//!   when `n % 5 == 3` (keys #3, #8, #13, ...), unchanged (its `id` and its `key` are the previous
//!   key's), and no run is created. The new key becomes an alias of that run: a replay of it
//!   answers 200 with the same run, and `GET /api/v1/runs?key=NEWKEY` lists it. A key that is
//!   answered this way does not count as a created run.
//!
//! Without either defect the ledger is absent and submissions are not serialised.

use std::collections::HashMap;

use axum::http::StatusCode;

use super::{ApiContext, ApiError};
use crate::defects::{Defect, DefectSet};
use crate::run::RunRecord;

/// `commit-then-500`: whether the `n`-th created run (from 1) is left undispatched.
pub fn fails_dispatch(n: u64) -> bool {
    n % 4 == 2
}

/// `shared-id`: whether the `n`-th new key (from 1) is answered with the previous run.
pub fn shares_previous_run(n: u64) -> bool {
    n % 5 == 3
}

/// The detail of the 500 that `commit-then-500` answers.
pub const DISPATCH_FAILED: &str = "internal error: the run could not be dispatched to a worker";

/// What this process counted so far.
#[derive(Debug, Default)]
struct Counts {
    /// Runs created by this process.
    created: u64,
    /// New keys seen by this process.
    new_keys: u64,
    /// The id of the run this process created last.
    last_created: Option<String>,
}

/// The counts and aliases behind `commit-then-500` and `shared-id`.
#[derive(Debug)]
pub struct SubmitLedger {
    commit_then_500: bool,
    shared_id: bool,
    /// Held for a whole submission.
    counts: tokio::sync::Mutex<Counts>,
    /// `shared-id`: new key -> the id of the run it was answered with.
    aliases: std::sync::Mutex<HashMap<String, String>>,
}

impl SubmitLedger {
    /// The ledger for these defects, or `None` when neither submission defect is on.
    pub fn new(defects: &DefectSet) -> Option<SubmitLedger> {
        let commit_then_500 = defects.has(Defect::CommitThen500);
        let shared_id = defects.has(Defect::SharedId);
        (commit_then_500 || shared_id).then(|| SubmitLedger {
            commit_then_500,
            shared_id,
            counts: tokio::sync::Mutex::new(Counts::default()),
            aliases: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The run id that `key` is an alias of (`shared-id`).
    pub fn alias(&self, key: &str) -> Option<String> {
        self.aliases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Submit `run` under the rules: the run for its key and whether this call "created" it, or
    /// the `commit-then-500` error.
    pub async fn submit(
        &self,
        state: &ApiContext,
        run: RunRecord,
    ) -> Result<(RunRecord, bool), ApiError> {
        let mut counts = self.counts.lock().await;
        if let Some(existing) = self.existing(state, &run.key).await? {
            return Ok((existing, false));
        }
        counts.new_keys += 1;
        if self.shared_id && shares_previous_run(counts.new_keys) {
            if let Some(previous) = &counts.last_created {
                if let Some(previous_run) = find(state, previous).await? {
                    self.aliases
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(run.key.clone(), previous_run.id.clone());
                    return Ok((previous_run, true));
                }
            }
        }
        let ordinal = counts.created + 1;
        if self.commit_then_500 && fails_dispatch(ordinal) {
            let (stored, created) = state.store.insert_undispatched_run(&run).await?;
            if !created {
                return Ok((stored, false));
            }
            counts.created = ordinal;
            counts.last_created = Some(stored.id);
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                DISPATCH_FAILED,
            ));
        }
        let (stored, created) = super::runs::insert(state, run).await?;
        if created {
            counts.created = ordinal;
            counts.last_created = Some(stored.id.clone());
        }
        Ok((stored, created))
    }

    /// The run already answered for `key`: by alias, buffered, or stored.
    async fn existing(&self, state: &ApiContext, key: &str) -> Result<Option<RunRecord>, ApiError> {
        if let Some(id) = self.alias(key) {
            if let Some(run) = find(state, &id).await? {
                return Ok(Some(run));
            }
        }
        if let Some(pending) = &state.pending {
            if let Some(run) = pending.by_key(key).await {
                return Ok(Some(run));
            }
        }
        Ok(state.store.runs_by_key(key).await?.pop())
    }
}

/// A run by id, buffered (`lose-acked`) or stored.
async fn find(state: &ApiContext, id: &str) -> Result<Option<RunRecord>, ApiError> {
    if let Some(pending) = &state.pending {
        if let Some(run) = pending.get(id).await {
            return Ok(Some(run));
        }
    }
    Ok(state.store.get_run(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_pick_the_documented_ordinals() {
        let failing: Vec<u64> = (1..=12).filter(|&n| fails_dispatch(n)).collect();
        assert_eq!(failing, [2, 6, 10]);
        let shared: Vec<u64> = (1..=15).filter(|&n| shares_previous_run(n)).collect();
        assert_eq!(shared, [3, 8, 13]);
    }

    #[test]
    fn no_ledger_without_its_defects() {
        assert!(SubmitLedger::new(&DefectSet::default()).is_none());
        assert!(SubmitLedger::new(&DefectSet::new([Defect::StatusRegresses])).is_none());
        assert!(SubmitLedger::new(&DefectSet::new([Defect::SharedId])).is_some());
        assert!(SubmitLedger::new(&DefectSet::new([Defect::CommitThen500])).is_some());
    }
}
