//! Compiling `[settle]`: how long and how often settle polls tracked work, and `watch`, how the
//! ledger reads it during the run.

use std::time::Duration;

use toml::Spanned;

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::model::{Settle, Watch};
use crate::raw::{RawPlanFile, RawWatch};

impl Compiler<'_> {
    /// The settle configuration, with its defaults; None when a value does not compile (the
    /// errors are recorded).
    pub(crate) fn settle(&mut self, raw: &RawPlanFile) -> Option<Settle> {
        let settle = raw.settle.as_ref();
        let timeout = self.duration(
            settle.and_then(|s| s.timeout.as_ref()),
            "30s",
            "settle.timeout",
        );
        let interval = self.duration(
            settle.and_then(|s| s.interval.as_ref()),
            "250ms",
            "settle.interval",
        );
        let watch = settle
            .and_then(|s| s.watch.as_ref())
            .map(|w| self.watch(w.get_ref(), interval));
        Some(Settle {
            timeout: timeout?,
            interval: interval?,
            watch: watch.unwrap_or_else(|| interval.map(Watch::every))?,
        })
    }

    /// `[settle.watch]`; its interval defaults to the settle interval (None when that did not
    /// compile: its error is already recorded).
    fn watch(&mut self, raw: &RawWatch, settle_interval: Option<Duration>) -> Option<Watch> {
        let defaults = Watch::every(Duration::ZERO);
        let enabled = raw.enabled.as_ref().is_none_or(|e| *e.get_ref());
        let interval = match &raw.interval {
            Some(value) => self.required_duration(value, "settle.watch.interval"),
            None => settle_interval,
        };
        let confirm = match &raw.confirm {
            Some(value) => self.parsed_duration(value, "settle.watch.confirm", true),
            None => Some(defaults.confirm),
        };
        let share = self.positive_number(
            raw.share.as_ref(),
            defaults.share,
            "settle.watch.share",
            "the largest share of the requests sent so far that background reads may take, \
             e.g. share = 0.5; to read nothing during the run, write enabled = false",
        );
        let max_rate = self.positive_number(
            raw.max_rate.as_ref(),
            defaults.max_rate,
            "settle.watch.max_rate",
            "background reads per second, e.g. max_rate = 200; to read nothing during the \
             run, write enabled = false",
        );
        Some(Watch {
            enabled,
            interval: interval?,
            confirm: confirm?,
            share: share?,
            max_rate: max_rate?,
        })
    }

    /// A finite number above zero, or `default` when it is left out.
    fn positive_number(
        &mut self,
        value: Option<&Spanned<f64>>,
        default: f64,
        what: &str,
        hint: &str,
    ) -> Option<f64> {
        let Some(value) = value else {
            return Some(default);
        };
        let number = *value.get_ref();
        if number > 0.0 && number.is_finite() {
            return Some(number);
        }
        self.push(
            Diagnostic::new(
                Some(value.span()),
                format!("{what} must be a number above 0, not {number}"),
            )
            .label("not above 0")
            .hint(hint),
        );
        None
    }
}
