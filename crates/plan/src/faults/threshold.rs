//! Expectations of a fault test: every load threshold (`lost == 0`, `p(95) < 2s`), plus the fault
//! measures `recovery`, `availability`, `outage` and `drain`, written `METRIC OP NUMBER [UNIT]`.

use crate::expr::CmpOp;
use crate::faults::model::{FaultMetric, FaultThreshold};
use crate::load::model::Threshold;
use crate::load::threshold::{ThresholdError, parse_threshold};

/// The grammar of the fault measures, shown with every expectation that does not parse.
pub const FAULT_GRAMMAR: &str = "A fault expectation is a load threshold (see Thresholds) or \
`recovery|outage|drain OP NUMBER UNIT` (UNIT ms, s or m) or `availability OP RATIO` (the worst \
1-second window during the fault, 0 to 1). Examples: `recovery < 30s`, `outage <= 5s`, \
`availability >= 0.5`, `lost == 0`";

/// A parsed expectation: a load threshold or a fault measure.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Measured on the background load and the ledger.
    Load(Threshold),
    /// Measured on the faults and recovery.
    Fault(FaultThreshold),
}

/// Parse one expectation.
pub fn parse_expectation(source: &str) -> Result<Expectation, ThresholdError> {
    let trimmed = source.trim_start();
    let offset = source.len() - trimmed.len();
    let word_len = trimmed
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let metric = match &trimmed[..word_len] {
        "recovery" => FaultMetric::Recovery,
        "availability" => FaultMetric::Availability,
        "outage" => FaultMetric::Outage,
        "drain" => FaultMetric::Drain,
        _ => return parse_threshold(source).map(Expectation::Load),
    };
    let rest = &trimmed[word_len..];
    let at = |s: &str| offset + word_len + (rest.len() - s.len());
    let after_ws = rest.trim_start();
    let Some((op, after_op)) = CmpOp::strip_prefix(after_ws) else {
        let start = at(after_ws);
        return Err(ThresholdError {
            message: format!("expected a comparison ({})", CmpOp::LIST),
            range: start..source.len(),
        });
    };
    let number_text = after_op.trim_start();
    let number_start = at(number_text);
    let number_len = number_text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(number_text.len());
    let value: f64 = match number_text[..number_len].replace('_', "").parse() {
        Ok(v) if number_len > 0 => v,
        _ => {
            return Err(ThresholdError {
                message: "expected a number".into(),
                range: number_start..source.len(),
            });
        }
    };
    let unit = number_text[number_len..].trim();
    let unit_start = number_start + number_len;
    let value = match (metric, unit) {
        (FaultMetric::Availability, "") => {
            if !(0.0..=1.0).contains(&value) {
                return Err(ThresholdError {
                    message: format!("availability is a ratio from 0 to 1, not {value}"),
                    range: number_start..unit_start,
                });
            }
            value
        }
        (FaultMetric::Availability, other) => {
            return Err(ThresholdError {
                message: format!(
                    "availability is a plain ratio and takes no unit, found `{other}`"
                ),
                range: unit_start..source.len(),
            });
        }
        (_, "ms") => value,
        (_, "s") => value * 1_000.0,
        (_, "m") => value * 60_000.0,
        (_, other) => {
            return Err(ThresholdError {
                message: if other.is_empty() {
                    "a time needs a unit: ms, s or m".to_string()
                } else {
                    format!("`{other}` is not a time unit (ms, s or m)")
                },
                range: unit_start..source.len(),
            });
        }
    };
    Ok(Expectation::Fault(FaultThreshold {
        source: source.trim().to_string(),
        metric,
        op,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::model::ThresholdMetric;
    use crate::model::LedgerClass;

    #[test]
    fn fault_measures_parse_with_units() {
        let fault = |s: &str| match parse_expectation(s) {
            Ok(Expectation::Fault(t)) => t,
            other => panic!("{s}: {other:?}"),
        };
        let t = fault("recovery < 30s");
        assert_eq!(
            (t.metric, t.op, t.value),
            (FaultMetric::Recovery, CmpOp::Lt, 30_000.0)
        );
        assert_eq!(fault("outage <= 500ms").value, 500.0);
        assert_eq!(fault(" drain < 1m").value, 60_000.0);
        let t = fault("availability >= 0.5");
        assert_eq!((t.metric, t.value), (FaultMetric::Availability, 0.5));
        assert_eq!(t.source, "availability >= 0.5");
    }

    #[test]
    fn load_thresholds_pass_through() {
        match parse_expectation("lost == 0") {
            Ok(Expectation::Load(t)) => {
                assert_eq!(t.metric, ThresholdMetric::Ledger(LedgerClass::Lost))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistakes_are_located() {
        let err = |s: &str| parse_expectation(s).expect_err(s);
        assert!(err("recovery < 30").message.contains("needs a unit"));
        assert!(err("recovery < 30h").message.contains("not a time unit"));
        assert!(err("availability > 2").message.contains("from 0 to 1"));
        assert!(err("availability > 0.5s").message.contains("takes no unit"));
        let e = err("recovery 30s");
        assert!(e.message.contains("comparison"), "{}", e.message);
        assert_eq!(e.range.start, 9);
        assert!(err("outage < fast").message.contains("expected a number"));
    }
}
