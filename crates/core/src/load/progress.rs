//! Live progress on stderr: an indicatif bar per load test, drawn only when asked for and when
//! stderr is a terminal.
//!
//! The bar reads the aggregator's [`LiveCounters`] on its own timer; it never sits on the
//! request path, so it cannot slow the engine or change what is measured.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::metrics::aggregator::LiveCounters;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// A running progress display.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
    live: Arc<LiveCounters>,
}

impl Progress {
    /// Start a bar for test `id` if `enabled` and stderr is a terminal. `total` is the number of
    /// iterations, when the executor knows it.
    pub fn start(
        enabled: bool,
        id: &str,
        total: Option<u64>,
        live: Arc<LiveCounters>,
    ) -> Option<Progress> {
        if !enabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} iterations, {msg}"
        } else {
            "{prefix} [{elapsed_precise}] {spinner} {pos} iterations, {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_prefix(id.to_string());
        let ticker = {
            let bar = bar.clone();
            let live = live.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(TICK);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    interval.tick().await;
                    draw(&bar, &live);
                }
            })
        };
        Some(Progress { bar, ticker, live })
    }

    /// Stop redrawing and leave the final figures on screen.
    pub fn finish(self) {
        self.ticker.abort();
        draw(&self.bar, &self.live);
        self.bar.finish();
    }
}

fn draw(bar: &ProgressBar, live: &LiveCounters) {
    let (requests, failures, iterations) = live.snapshot();
    bar.set_position(iterations);
    let secs = bar.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        requests as f64 / secs
    } else {
        0.0
    };
    let dropped = live.dropped.load(std::sync::atomic::Ordering::Relaxed);
    let mut message = format!("{requests} requests ({rate:.0}/s), {failures} failures");
    if dropped > 0 {
        message.push_str(&format!(", {dropped} dropped"));
    }
    bar.set_message(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_progress_draws_nothing() {
        assert!(Progress::start(false, "L1", Some(3), Arc::default()).is_none());
    }
}
