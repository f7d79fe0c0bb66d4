//! Comparisons, the one grammar that thresholds, fault expectations and verification
//! assertions share.

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Every operator with its text, the two-character ones first so that `<=` is not read as `<`.
const OPERATORS: [(&str, CmpOp); 6] = [
    ("<=", CmpOp::Le),
    (">=", CmpOp::Ge),
    ("==", CmpOp::Eq),
    ("!=", CmpOp::Ne),
    ("<", CmpOp::Lt),
    (">", CmpOp::Gt),
];

impl CmpOp {
    /// The operators, as messages list them.
    pub const LIST: &'static str = "<, <=, >, >=, ==, !=";

    /// The operator `text` starts with, and the text after it.
    pub fn strip_prefix(text: &str) -> Option<(CmpOp, &str)> {
        OPERATORS
            .iter()
            .find_map(|(s, op)| text.strip_prefix(s).map(|rest| (*op, rest)))
    }

    /// Apply the comparison.
    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            CmpOp::Lt => lhs < rhs,
            CmpOp::Le => lhs <= rhs,
            CmpOp::Gt => lhs > rhs,
            CmpOp::Ge => lhs >= rhs,
            CmpOp::Eq => (lhs - rhs).abs() < f64::EPSILON,
            CmpOp::Ne => (lhs - rhs).abs() >= f64::EPSILON,
        }
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_operator_is_read_and_the_rest_is_returned() {
        assert_eq!(CmpOp::strip_prefix("<= 5"), Some((CmpOp::Le, " 5")));
        assert_eq!(CmpOp::strip_prefix("<5"), Some((CmpOp::Lt, "5")));
        assert_eq!(CmpOp::strip_prefix("!=0"), Some((CmpOp::Ne, "0")));
        assert_eq!(CmpOp::strip_prefix(">=1"), Some((CmpOp::Ge, "1")));
        assert_eq!(CmpOp::strip_prefix("= 1"), None);
        assert_eq!(CmpOp::strip_prefix(" < 1"), None, "the caller trims");
    }
}
