//! Bounds on concurrency: how many virtual users (`concurrency`, `vus.count`) or iterations in
//! flight (`max_in_flight`) a load test may ask for. They are checked when the plan compiles, so
//! that a run never sizes memory by a figure nobody checked: a typo such as 4294967295 is a plan
//! error with its position, not an aborted run with an unsealed bundle.

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::load::model::Executor;

/// A fair estimate of what one concurrent user costs while it runs, in bytes: its task, its
/// scenario state and captures, the response buffer of a plain HTTP request, and the socket
/// buffers of its connection. Streams and large bodies cost more; this is the floor.
pub const BYTES_PER_USER: u64 = 20_000;

/// The memory one load test may spend on its users: 2 GB, what a CI runner that also runs the
/// service under test can spare.
pub const USER_MEMORY_BUDGET: u64 = 2_000_000_000;

/// The most virtual users (`concurrency`, `vus.count`) or iterations in flight (`max_in_flight`,
/// `hit -c`) one load test may have: [`USER_MEMORY_BUDGET`] / [`BYTES_PER_USER`], 100,000.
/// Beyond it one process is the wrong tool (open files run out before memory does): split the
/// load across machines.
pub const MAX_CONCURRENCY: u32 = (USER_MEMORY_BUDGET / BYTES_PER_USER) as u32;

/// Why the cap exists, for messages that refuse a figure over it.
pub fn why_capped() -> String {
    format!(
        "each concurrent user holds memory (a task, buffers, a connection: about {} KB), so \
{MAX_CONCURRENCY} of them is about {} GB",
        BYTES_PER_USER / 1000,
        USER_MEMORY_BUDGET / 1_000_000_000,
    )
}

impl Compiler<'_> {
    /// `value` as a number of concurrent users: a positive integer up to [`MAX_CONCURRENCY`].
    /// `key` is the field's name, `id` the load test's.
    pub(crate) fn users(&mut self, value: &Spanned<i64>, key: &str, id: &str) -> Option<u32> {
        let n = *value.get_ref();
        if n > i64::from(MAX_CONCURRENCY) {
            self.push(
                Diagnostic::new(
                    Some(value.span()),
                    format!(
                        "`{key}` of load test `{id}` is {n}, over the most concurrent users a test may have ({MAX_CONCURRENCY})"
                    ),
                )
                .label("too many")
                .hint(format!(
                    "{}; write {key} = {MAX_CONCURRENCY} or less, or split the load across machines",
                    why_capped()
                )),
            );
            return None;
        }
        self.positive::<u32>(value, key)
    }

    /// A closed-model executor with more users than `limits.requests` could ever keep busy gets
    /// as many users as there are requests, and a warning: the others would only hold memory.
    /// `value` is the figure as written, for the warning's position.
    pub(crate) fn users_within_requests(
        &mut self,
        mut executor: Executor,
        value: Option<&Spanned<i64>>,
        key: &str,
        id: &str,
    ) -> Executor {
        let Some(limit) = self.request_limit else {
            return executor;
        };
        let users = match &mut executor {
            Executor::Rounds { concurrency, .. } => concurrency,
            Executor::VusDuration { vus, .. } | Executor::VusIterations { vus, .. } => vus,
            Executor::Arrival(_) => return executor,
        };
        if u64::from(*users) <= limit {
            return executor;
        }
        let asked = *users;
        // limit < users <= u32::MAX, so it fits.
        *users = u32::try_from(limit).unwrap_or(asked);
        self.warnings.push(
            Diagnostic::new(
                value.map(Spanned::span),
                format!(
                    "`{key}` of load test `{id}` is {asked}, but limits.requests lets the whole run send only {limit}"
                ),
            )
            .label("more users than requests")
            .hint(format!(
                "at most {limit} of them could ever send, so the test starts {limit}; write {key} = {limit} or less, or raise limits.requests"
            )),
        );
        executor
    }
}
