//! Observed values against expected ones, one way for every oracle probe: JSON values compare
//! structurally, except that numbers compare by value (`1` equals `1.0`) and a number equals a
//! string that spells it (a Redis value or a SQL text column `"0"` equals `0`), since the stores
//! hand back text where the plan wrote a number.

use serde_json::Value;

use shakedown_plan::model::{Comparison, ScalarExpect};

/// Longest rendering of a value in a reason or an assertion.
const SHOWN_CHARS: usize = 120;

/// Whether `observed` is the value the plan expects.
pub fn same_value(observed: &Value, expected: &Value) -> bool {
    match (observed, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(_), Value::String(s)) | (Value::String(s), Value::Number(_)) => {
            let number = if observed.is_number() {
                observed
            } else {
                expected
            };
            number_in(s).is_some_and(|n| Some(n) == number.as_f64())
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => observed == expected,
    }
}

/// The number `value` holds: a JSON number, or a string that is one (`" 42 "`, `"1.5"`).
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => number_in(s),
        _ => None,
    }
}

fn number_in(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Whether `observed` meets a scalar expectation, and the observation in words.
pub fn scalar_holds(expect: &ScalarExpect, observed: &Value) -> (bool, String) {
    match expect {
        ScalarExpect::Equals(expected) => (same_value(observed, expected), show(observed)),
        ScalarExpect::Compare(comparison) => match number(observed) {
            Some(n) => (comparison.holds(n), show(observed)),
            None => (false, format!("{} (not a number)", show(observed))),
        },
    }
}

/// A count comparison over a count that may have been cut off at `cap`: a capped count is
/// "at least `cap`", so only a comparison that holds for every such number passes.
pub fn count_holds(comparison: &Comparison, count: u64, capped: bool) -> bool {
    use shakedown_plan::model::CmpOp;
    let n = count as f64;
    if !capped {
        return comparison.holds(n);
    }
    match comparison.op {
        CmpOp::Gt | CmpOp::Ge => comparison.holds(n),
        CmpOp::Ne => comparison.value < n,
        CmpOp::Lt | CmpOp::Le | CmpOp::Eq => false,
    }
}

/// A value in a reason: JSON, cut to a readable length.
pub fn show(value: &Value) -> String {
    clip(&value.to_string())
}

/// `text` cut to a readable length, with an ellipsis when cut.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(SHOWN_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shakedown_plan::model::CmpOp;

    fn cmp(op: CmpOp, value: f64) -> Comparison {
        Comparison { op, value }
    }

    #[test]
    fn numbers_compare_by_value_and_by_their_text() {
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(same_value(&json!("0"), &json!(0)));
        assert!(same_value(&json!(0), &json!("0")));
        assert!(same_value(&json!("2.50"), &json!(2.5)));
        assert!(!same_value(&json!("0"), &json!(1)));
        assert!(!same_value(&json!("zero"), &json!(0)));
        assert!(!same_value(&json!(true), &json!("true")));
        assert!(same_value(&json!({"a": [1, "2"]}), &json!({"a": [1.0, 2]})));
        assert!(!same_value(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        assert!(same_value(&json!(null), &json!(null)));
        assert!(!same_value(&json!(null), &json!(0)));
    }

    #[test]
    fn scalars_meet_equality_or_a_number_comparison() {
        let equals = ScalarExpect::Equals(json!("ok"));
        assert_eq!(scalar_holds(&equals, &json!("ok")), (true, "\"ok\"".into()));
        assert!(!scalar_holds(&equals, &json!("stuck")).0);
        let at_most = ScalarExpect::Compare(cmp(CmpOp::Le, 5.0));
        assert!(scalar_holds(&at_most, &json!(5)).0);
        assert!(scalar_holds(&at_most, &json!("4.5")).0);
        assert!(!scalar_holds(&at_most, &json!(6)).0);
        let (held, observed) = scalar_holds(&at_most, &json!(null));
        assert!(!held);
        assert_eq!(observed, "null (not a number)");
    }

    #[test]
    fn a_capped_count_passes_only_comparisons_true_for_every_larger_count() {
        assert!(count_holds(&cmp(CmpOp::Eq, 3.0), 3, false));
        assert!(count_holds(&cmp(CmpOp::Ge, 1.0), 100_000, true));
        assert!(!count_holds(&cmp(CmpOp::Lt, 200_000.0), 100_000, true));
        assert!(!count_holds(&cmp(CmpOp::Eq, 100_000.0), 100_000, true));
        assert!(count_holds(&cmp(CmpOp::Ne, 5.0), 100_000, true));
        assert!(!count_holds(&cmp(CmpOp::Ne, 100_001.0), 100_000, true));
    }

    #[test]
    fn long_values_are_clipped() {
        let long = "x".repeat(500);
        let shown = clip(&long);
        assert_eq!(shown.chars().count(), SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
