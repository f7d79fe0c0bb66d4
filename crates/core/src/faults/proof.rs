//! Proof that a fault happened (DESIGN section 5). A restart is proven only when the target's
//! identity changed and it became healthy again; a kill by the exit status the driver observed;
//! a pause by the stopped state; an endpoint fault by the recovery probe seeing it. Anything else
//! is unproven, and an unproven fault makes its check INCONCLUSIVE, never PASS.

use std::time::Duration;

use super::Applied;
use super::drivers::exec::run_shell;
use super::targets::Controlled;
use shakedown_plan::model::{FaultAction, IdentityProbe, Plan};

/// Read `target`'s identity: its `identity` probe if the plan gives one, else the driver's own.
/// `Ok(None)` means there is no way to read it.
pub async fn read_identity(
    plan: &Plan,
    target: &str,
    controlled: &Controlled,
) -> Result<Option<String>, String> {
    let probe = plan.targets.get(target).and_then(|t| t.identity.as_ref());
    match probe {
        Some(IdentityProbe::Request {
            target: on,
            probe,
            value,
            source,
        }) => {
            let reply = super::probe::send(plan, on, probe, Duration::from_secs(5)).await?;
            if !probe.expect_status.contains(reply.status) {
                return Err(format!("{} answered {}", reply.line, reply.status));
            }
            let json = reply
                .json()
                .ok_or_else(|| format!("{} did not answer JSON", reply.line))?;
            first_match(value, &json)
                .map(Some)
                .ok_or_else(|| format!("{source} matched nothing in the answer of {}", reply.line))
        }
        Some(IdentityProbe::Command { command, timeout }) => run_shell(command, &[], *timeout)
            .await
            .map(|out| (!out.is_empty()).then_some(out))
            .map_err(|e| e.to_string()),
        Some(IdentityProbe::Stdout { value, source }) => {
            let driver = controlled
                .get(target)
                .ok_or_else(|| format!("target {target} is not a process target"))?;
            let line = driver
                .driver
                .first_line()
                .ok_or_else(|| format!("target {target} printed no JSON first line"))?;
            first_match(value, &line)
                .map(Some)
                .ok_or_else(|| format!("{source} matched nothing in the first line of {target}"))
        }
        None => match controlled.get(target) {
            Some(c) => c.driver.identity().await.map_err(|e| e.to_string()),
            None => Ok(None),
        },
    }
}

fn first_match(path: &serde_json_path::JsonPath, json: &serde_json::Value) -> Option<String> {
    let found = path.query(json).first()?;
    Some(match found {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// What was observed around one fault, to decide its proof.
#[derive(Debug, Clone, Default)]
pub struct Observed<'a> {
    /// The driver's evidence, if the action went through a driver or an endpoint.
    pub applied: Option<&'a Applied>,
    /// Identity before.
    pub before: Option<&'a str>,
    /// Identity after recovery.
    pub after: Option<&'a str>,
    /// Whether the system recovered after the fault.
    pub recovered: bool,
    /// Whether the recovery probe saw a failure after the fault.
    pub failure_seen: bool,
}

/// Whether `action` is proven by what was observed, and why.
pub fn prove(action: &FaultAction, o: &Observed<'_>) -> (bool, String) {
    let self_proven = o.applied.filter(|a| a.self_proven);
    let identity = || match (o.before, o.after) {
        (Some(b), Some(a)) if b != a && o.recovered => Some((
            true,
            format!("identity changed from {b} to {a}, and health came back"),
        )),
        (Some(b), Some(a)) if b != a => Some((
            false,
            format!("identity changed from {b} to {a}, but health did not come back"),
        )),
        (Some(b), Some(_)) => Some((
            false,
            format!("identity did not change ({b}): the restart cannot be proven"),
        )),
        (None, _) | (_, None) => None,
    };
    match action {
        FaultAction::Restart { .. } => identity().unwrap_or((
            false,
            "the identity could not be read before and after: the restart cannot be proven".into(),
        )),
        FaultAction::Kill { .. } => match (self_proven, identity()) {
            (Some(a), _) => (true, a.detail.clone()),
            (None, Some(proof)) => proof,
            (None, None) => (
                false,
                "no exit status was observed and the identity could not be compared".into(),
            ),
        },
        FaultAction::Stop { .. } | FaultAction::Pause { .. } => match self_proven {
            Some(a) => (true, a.detail.clone()),
            None if o.failure_seen => (true, "the recovery probe saw the target fail".into()),
            None => (
                false,
                "the driver accepted it, but no failure and no stopped state was observed".into(),
            ),
        },
        FaultAction::Start { .. } => match (o.after, o.recovered) {
            (Some(a), true) => (true, format!("started as {a}, and healthy")),
            _ => (
                false,
                "the target was not seen healthy with an identity".into(),
            ),
        },
        FaultAction::Request { .. } => match (o.applied, o.failure_seen) {
            (Some(a), true) => (
                true,
                format!("{}; the recovery probe saw the failure", a.detail),
            ),
            (Some(a), false) => (
                false,
                format!("{}, but no recovery probe saw any effect", a.detail),
            ),
            (None, _) => (false, "the request was not accepted".into()),
        },
        FaultAction::Heal => (true, "every applied fault was reverted".into()),
        FaultAction::Toxic { .. } => match o.applied {
            Some(a) if a.self_proven => (true, a.detail.clone()),
            Some(a) => (false, format!("{}: the toxic touched no traffic", a.detail)),
            None => (false, "the toxic was not added".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restart() -> FaultAction {
        FaultAction::Restart {
            target: "api".into(),
        }
    }

    #[test]
    fn a_restart_needs_a_changed_identity_and_health() {
        let o = Observed {
            before: Some("a"),
            after: Some("b"),
            recovered: true,
            ..Observed::default()
        };
        assert!(prove(&restart(), &o).0);
        let same = Observed {
            after: Some("a"),
            ..o.clone()
        };
        let (proven, why) = prove(&restart(), &same);
        assert!(!proven && why.contains("did not change"), "{why}");
        let unread = Observed {
            after: None,
            ..o.clone()
        };
        assert!(!prove(&restart(), &unread).0);
        let unhealthy = Observed {
            recovered: false,
            ..o
        };
        assert!(!prove(&restart(), &unhealthy).0);
    }

    #[test]
    fn a_kill_is_proven_by_its_exit_and_an_endpoint_by_its_effect() {
        let kill = FaultAction::Kill {
            target: "w".into(),
            signal: "KILL".into(),
        };
        let exit = Applied::proven("pid 1 exited: signal 9");
        let o = Observed {
            applied: Some(&exit),
            ..Observed::default()
        };
        assert_eq!(prove(&kill, &o), (true, "pid 1 exited: signal 9".into()));
        let accepted = Applied::accepted("POST /x answered 200");
        let request = FaultAction::Request {
            target: "ops".into(),
            probe: shakedown_plan::model::Probe {
                method: shakedown_plan::model::Method::Post,
                path: shakedown_plan::template::Template::literal("/x"),
                headers: Vec::new(),
                expect_status: shakedown_plan::model::StatusSet::Success,
            },
            line: "POST ops:/x".into(),
        };
        let mut o = Observed {
            applied: Some(&accepted),
            ..Observed::default()
        };
        assert!(!prove(&request, &o).0);
        o.failure_seen = true;
        assert!(prove(&request, &o).0);
    }
}
