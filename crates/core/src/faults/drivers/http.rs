//! The `http` driver: an ops endpoint per action (`POST ops:/ops/chaos/worker-exit`), sent with
//! the target's headers, whose values usually come from secrets. A 2xx is success; 401 or 403
//! is a rejected credential, named with the secret to fix; anything else fails the action.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;

use crate::faults::journal::Revert;
use crate::faults::probe::send;
use crate::faults::{Applied, Driver, DriverError, DriverFuture};
use shakedown_plan::model::{ControlVerb, HttpSpec, Plan};

/// An http-controlled target.
pub struct HttpDriver {
    plan: Arc<Plan>,
    spec: HttpSpec,
    timeout: Duration,
}

impl HttpDriver {
    /// A driver whose requests each take at most `timeout`.
    pub fn new(plan: Arc<Plan>, spec: HttpSpec, timeout: Duration) -> HttpDriver {
        HttpDriver {
            plan,
            spec,
            timeout,
        }
    }

    fn call(&self, verb: ControlVerb) -> DriverFuture<'_, Applied> {
        async move {
            let Some((target, probe)) = self.spec.requests.get(&verb) else {
                return Err(DriverError::Unsupported {
                    driver: "http",
                    verb: verb.as_str(),
                });
            };
            let reply = send(&self.plan, target, probe, self.timeout)
                .await
                .map_err(DriverError::Failed)?;
            match reply.status {
                s if (200..300).contains(&s) => Ok(Applied::accepted(format!(
                    "{} {} answered {s}",
                    target, reply.line
                ))),
                401 | 403 => Err(DriverError::Credentials {
                    what: format!(
                        "{target} rejected the credentials of {} ({})",
                        reply.line, reply.status
                    ),
                    hint: credential_hint(&self.plan, target),
                }),
                s => Err(DriverError::Failed(format!(
                    "{target} {} answered {s}",
                    reply.line
                ))),
            }
        }
        .boxed()
    }
}

/// Which secrets a target's requests use, and their variables, for a fix hint.
pub fn credential_hint(plan: &Plan, target: &str) -> String {
    let names: Vec<String> = plan
        .targets
        .get(target)
        .map(|t| {
            t.secrets_used
                .iter()
                .map(|name| match plan.secrets.env_of(name) {
                    Some(env) => format!("secret {name} (env {env})"),
                    None => format!("secret {name}"),
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        format!(
            "target {target} sends no credentials: add the header it needs to targets.{target}.headers"
        )
    } else {
        format!(
            "check {}: the value set is not the one the service expects",
            names.join(", ")
        )
    }
}

impl Driver for HttpDriver {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn start(&self) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Start)
    }

    fn stop(&self) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Stop)
    }

    fn kill(&self, _signal: &str) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Kill)
    }

    fn pause(&self) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Pause)
    }

    fn resume(&self) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Resume)
    }

    fn restart(&self) -> DriverFuture<'_, Applied> {
        self.call(ControlVerb::Restart)
    }

    fn identity(&self) -> DriverFuture<'_, Option<String>> {
        async { Ok(None) }.boxed()
    }

    fn preflight(&self) -> DriverFuture<'_, String> {
        let verbs: Vec<&str> = self.spec.requests.keys().map(|v| v.as_str()).collect();
        let line = format!("http requests for {}", verbs.join(", "));
        async move { Ok(line) }.boxed()
    }

    fn revert_recipe(&self, verb: ControlVerb) -> Revert {
        let undo = verb.undo();
        match undo.filter(|u| self.spec.requests.contains_key(u)) {
            Some(u) => Revert::InProcess {
                verb: u.as_str().to_string(),
            },
            None => Revert::Nothing {
                why: format!(
                    "the http driver has no request that undoes {}",
                    verb.as_str()
                ),
            },
        }
    }
}
