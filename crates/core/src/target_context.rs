//! What every request made outside a scenario shares: the template context it renders over (the
//! plan's secrets, vars and seed), and the one-line text of a transport error with its causes.
//!
//! Preflight, fault proofs and drivers, settle's replays and the verification probes all reach
//! targets this way, so it sits below all of them.

use minijinja::Value;
use shakedown_plan::model::Plan;

/// The template context for requests made outside a scenario: secrets, vars and the seed.
pub fn probe_context(plan: &Plan) -> Value {
    let secrets: std::collections::BTreeMap<&str, &str> = plan
        .secrets
        .values
        .iter()
        .map(|(name, v)| (name.as_str(), v.value.as_str()))
        .collect();
    minijinja::context! {
        secrets => secrets,
        vars => plan.vars.clone(),
        __seed => plan.seed,
        __step => 0,
        vu => 0,
        iteration => 0,
    }
}

/// An error with its sources, on one line ("error sending request: connection refused").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let piece = s.to_string();
        if !text.contains(&piece) {
            text.push_str(": ");
            text.push_str(&piece);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        let err = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("refused", None))),
            ))),
        );
        assert_eq!(
            error_chain(&err),
            "error sending request: connection refused"
        );
    }
}
