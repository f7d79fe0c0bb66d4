//! Thresholds in k6's syntax: `METRIC [{step=NAME}] OP NUMBER [UNIT]`.
//!
//! This module only parses; whether a gauge, a step or the ledger exists for the test is checked
//! by the compiler, which knows the test.

use std::ops::Range;

use crate::expr::CmpOp;
use crate::load::model::{Counter, GaugeAgg, Threshold, ThresholdMetric};
use crate::load::threshold_scope::{Scope, parse_scope};
use crate::model::LedgerClass;

/// The grammar, shown with every threshold that does not parse.
pub const THRESHOLD_GRAMMAR: &str = "A threshold is `METRIC [{step=NAME}] OP NUMBER [UNIT]`, where \
METRIC is p(N) (0 < N <= 100), avg, min, max or med (latency; UNIT ms, s or m, default ms), \
rate(failures|errors|dropped), count(requests|failures|errors|iterations|dropped), \
max|min|avg|last(GAUGE) of a sampled gauge, or a ledger class (ok, lost, duplicates, stuck, \
unknown, failed, recovered, not_applied, rejected, resurrected, state_regression, \
conflicting_terminal, slow, collision, replay_created); OP is <, <=, >, >=, == or !=. \
Instead of a step, the braces can name a window of the test: {window=10s..20s} or {window=30s..} \
(offsets from the test's start), and in fault tests {window=during_fault}, \
{window=after_recovery} or {window=outside_fault} (before the first fault and after the \
recovery). A test whose thresholds name no `failures` gets `count(failures) == 0` by default (a \
fault test: `count(failures){window=outside_fault} == 0`). Examples: `p(95) < 500ms`, `p(99){step=create} < 2s`, \
`p(99){window=10s..} < 1s`, `count(failures) == 0`, `count(dropped) == 0`, \
`max(queue_depth) < 100`, `lost == 0`";

/// Why a threshold does not parse. `range` is a byte range in the threshold string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    /// What is wrong.
    pub message: String,
    /// The offending part.
    pub range: Range<usize>,
}

const LEDGER_CLASSES: [(&str, LedgerClass); 15] = [
    ("ok", LedgerClass::Ok),
    ("lost", LedgerClass::Lost),
    ("duplicates", LedgerClass::Duplicates),
    ("stuck", LedgerClass::Stuck),
    ("unknown", LedgerClass::Unknown),
    ("failed", LedgerClass::Failed),
    ("recovered", LedgerClass::Recovered),
    ("not_applied", LedgerClass::NotApplied),
    ("rejected", LedgerClass::Rejected),
    ("resurrected", LedgerClass::Resurrected),
    ("state_regression", LedgerClass::StateRegression),
    ("conflicting_terminal", LedgerClass::ConflictingTerminal),
    ("collision", LedgerClass::Collision),
    ("replay_created", LedgerClass::ReplayCreated),
    ("slow", LedgerClass::Slow),
];

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// A run of characters matching `pred`, after whitespace.
    fn take(&mut self, pred: impl Fn(char) -> bool) -> (&'a str, Range<usize>) {
        self.skip_ws();
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !pred(c))
            .unwrap_or(self.rest().len());
        self.pos += len;
        (&self.text[start..self.pos], start..self.pos)
    }

    fn error(&self, message: String, range: Range<usize>) -> ThresholdError {
        ThresholdError { message, range }
    }

    /// The rest of the text up to the next whitespace, for "found ..." messages.
    fn here(&mut self) -> (String, Range<usize>) {
        self.skip_ws();
        let start = self.pos;
        let len = self
            .rest()
            .find(char::is_whitespace)
            .unwrap_or(self.rest().len());
        if len == 0 {
            ("the end".to_string(), start..start)
        } else {
            (format!("`{}`", &self.rest()[..len]), start..start + len)
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

/// Parse one threshold expression.
pub fn parse_threshold(source: &str) -> Result<Threshold, ThresholdError> {
    let mut c = Cursor {
        text: source,
        pos: 0,
    };
    let (word, word_range) = c.take(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if word.is_empty() {
        let (found, range) = c.here();
        return Err(c.error(format!("expected a metric, found {found}"), range));
    }
    let metric = if c.eat("(") {
        let (arg, arg_range) = c.take(|ch| ch != ')');
        let arg = arg.trim();
        if !c.eat(")") {
            return Err(c.error(
                format!("`{word}(` is not closed with `)`"),
                word_range.start..source.len(),
            ));
        }
        call_metric(word, word_range, arg, arg_range)
            .map_err(|(message, range)| c.error(message, range))?
    } else {
        match word {
            "avg" => ThresholdMetric::Avg,
            "min" => ThresholdMetric::Min,
            "max" => ThresholdMetric::Max,
            "med" => ThresholdMetric::Med,
            _ => match LEDGER_CLASSES.iter().find(|(n, _)| *n == word) {
                Some((_, class)) => ThresholdMetric::Ledger(*class),
                None => return Err(c.error(format!("unknown metric `{word}`"), word_range)),
            },
        }
    };
    let scope = if c.eat("{") {
        let open = c.pos - 1;
        let Some(len) = c.rest().find('}') else {
            return Err(c.error(
                "the scope is not closed with `}`".into(),
                open..source.len(),
            ));
        };
        let inner = &c.rest()[..len];
        let scope = parse_scope(inner, c.pos).map_err(|(m, r)| c.error(m, r))?;
        c.pos += len + 1;
        scope
    } else {
        Scope::default()
    };
    let Scope { step, window } = scope;
    c.skip_ws();
    let Some((op, rest)) = CmpOp::strip_prefix(c.rest()) else {
        let (found, range) = c.here();
        return Err(c.error(
            format!("expected a comparison ({}), found {found}", CmpOp::LIST),
            range,
        ));
    };
    c.pos += c.rest().len() - rest.len();
    let (number, number_range) = c.take(|ch| ch.is_ascii_digit() || ".+-eE_".contains(ch));
    let mut value: f64 = match number.replace('_', "").parse::<f64>() {
        Ok(v) if v.is_finite() && !number.is_empty() => v,
        _ => {
            let (found, range) = if number.is_empty() {
                c.here()
            } else {
                (format!("`{number}`"), number_range)
            };
            return Err(c.error(format!("expected a number, found {found}"), range));
        }
    };
    // A unit is written right after the number, or after a space when it is a latency unit.
    let is_unit_char = |ch: char| ch.is_ascii_alphabetic() || ch == '%';
    let adjacent = c.rest().starts_with(is_unit_char);
    let spaced = {
        let word = c.rest().trim_start();
        let len = word
            .find(|ch: char| !is_unit_char(ch))
            .unwrap_or(word.len());
        ["ms", "s", "m"].contains(&&word[..len])
    };
    let (unit, unit_range) = if adjacent || spaced {
        c.take(is_unit_char)
    } else {
        ("", c.pos..c.pos)
    };
    let latency = matches!(
        metric,
        ThresholdMetric::Percentile(_)
            | ThresholdMetric::Avg
            | ThresholdMetric::Min
            | ThresholdMetric::Max
            | ThresholdMetric::Med
    );
    match (latency, unit) {
        (_, "") => {}
        (true, "ms") => {}
        (true, "s") => value *= 1_000.0,
        (true, "m") => value *= 60_000.0,
        (true, other) => {
            return Err(c.error(
                format!("`{other}` is not a latency unit (ms, s or m)"),
                unit_range,
            ));
        }
        (false, other) => {
            return Err(c.error(
                format!("`{word}` is a plain number and takes no unit, found `{other}`"),
                unit_range,
            ));
        }
    }
    c.skip_ws();
    if !c.rest().is_empty() {
        let (found, range) = c.here();
        return Err(c.error(format!("unexpected {found} after the threshold"), range));
    }
    Ok(Threshold {
        source: source.trim().to_string(),
        metric,
        step,
        window,
        op,
        value,
        default: false,
    })
}

fn call_metric(
    word: &str,
    word_range: Range<usize>,
    arg: &str,
    range: Range<usize>,
) -> Result<ThresholdMetric, (String, Range<usize>)> {
    let counter = |allowed: &[Counter]| {
        let found = [
            ("requests", Counter::Requests),
            ("failures", Counter::Failures),
            ("errors", Counter::Errors),
            ("iterations", Counter::Iterations),
            ("dropped", Counter::Dropped),
        ]
        .into_iter()
        .find(|(n, c)| *n == arg && allowed.contains(c))
        .map(|(_, c)| c);
        found.ok_or_else(|| {
            let names: Vec<String> = allowed
                .iter()
                .map(|c| format!("{c:?}").to_ascii_lowercase())
                .collect();
            (
                format!("`{word}({arg})` counts {}, not `{arg}`", names.join(" or ")),
                range.clone(),
            )
        })
    };
    Ok(match word {
        "p" => match arg.parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 100.0 => ThresholdMetric::Percentile(n),
            _ => {
                return Err((
                    format!("the percentile `{arg}` must be a number in (0, 100]"),
                    range,
                ));
            }
        },
        "rate" => ThresholdMetric::Rate(counter(&[
            Counter::Failures,
            Counter::Errors,
            Counter::Dropped,
        ])?),
        "count" => ThresholdMetric::Count(counter(&[
            Counter::Requests,
            Counter::Failures,
            Counter::Errors,
            Counter::Iterations,
            Counter::Dropped,
        ])?),
        "max" | "min" | "avg" | "last" => {
            if arg.is_empty() || !arg.chars().all(is_name_char) {
                return Err((format!("`{arg}` is not a gauge name"), range));
            }
            let agg = match word {
                "max" => GaugeAgg::Max,
                "min" => GaugeAgg::Min,
                "avg" => GaugeAgg::Avg,
                _ => GaugeAgg::Last,
            };
            ThresholdMetric::Gauge {
                agg,
                name: arg.to_string(),
            }
        }
        _ => {
            return Err((
                format!("unknown metric `{word}(...)`"),
                word_range.start..range.end + 1,
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Threshold {
        parse_threshold(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn every_metric_parses() {
        let t = ok("p(95) < 500ms");
        assert_eq!(
            (t.metric, t.op, t.value),
            (ThresholdMetric::Percentile(95.0), CmpOp::Lt, 500.0)
        );
        assert_eq!(ok("p(99.9)<2s").value, 2000.0);
        assert_eq!(ok("avg <= 1m").value, 60_000.0);
        assert_eq!(ok("med > 3").value, 3.0);
        assert_eq!(
            ok("rate(errors) < 0.01").metric,
            ThresholdMetric::Rate(Counter::Errors)
        );
        assert_eq!(
            ok("count(failures) == 0").metric,
            ThresholdMetric::Count(Counter::Failures)
        );
        assert_eq!(
            ok("max(queue_depth) < 100").metric,
            ThresholdMetric::Gauge {
                agg: GaugeAgg::Max,
                name: "queue_depth".into()
            }
        );
        assert_eq!(ok("max < 100").metric, ThresholdMetric::Max);
        assert_eq!(
            ok("not_applied != 1").metric,
            ThresholdMetric::Ledger(LedgerClass::NotApplied)
        );
        let t = ok(" p(90){step=create} >= 1_000 ");
        assert_eq!(
            (t.step.as_deref(), t.op, t.value),
            (Some("create"), CmpOp::Ge, 1000.0)
        );
        assert_eq!(t.source, "p(90){step=create} >= 1_000");
        assert_eq!(
            ok("count( requests ) { step = login } > 5").step.as_deref(),
            Some("login")
        );
    }

    #[test]
    fn each_mistake_is_located() {
        let err = |s: &str| parse_threshold(s).expect_err(s);
        let e = err("p(95 < 5s");
        assert!(e.message.contains("not closed"), "{}", e.message);
        let e = err("p(0) < 5");
        assert!(e.message.contains("(0, 100]"));
        assert_eq!(e.range, 2..3);
        let e = err("p95 < 5");
        assert_eq!(
            (e.message.as_str(), e.range.clone()),
            ("unknown metric `p95`", 0..3)
        );
        let e = err("rate(requests) < 1");
        assert!(
            e.message.contains("counts failures or errors"),
            "{}",
            e.message
        );
        let e = err("p(95) 500ms");
        assert!(e.message.contains("expected a comparison"), "{}", e.message);
        assert_eq!(e.range, 6..11);
        let e = err("p(95) < fast");
        assert!(
            e.message.contains("expected a number, found `fast`"),
            "{}",
            e.message
        );
        let e = err("p(95) < 5h");
        assert!(e.message.contains("not a latency unit"));
        let e = err("count(failures) == 0ms");
        assert!(e.message.contains("takes no unit"));
        let e = err("lost == 0 and more");
        assert!(e.message.contains("unexpected `and`"), "{}", e.message);
        let e = err("p(95){stp=x} < 1");
        assert!(e.message.contains("{step=NAME}"));
        let e = err("");
        assert!(e.message.contains("expected a metric, found the end"));
        let e = err("foo(bar) < 1");
        assert!(e.message.contains("unknown metric `foo(...)`"));
    }
}
