//! Preflight: before any load, prove that every target is reachable, healthy, and accepts its
//! credentials. A failure here is a BLOCKED target with a fix hint after seconds, not a failure
//! twenty minutes into the run. A target with a URL but no `health` or `preflight` probe is still
//! reached: a `GET /` must get any HTTP answer (any status) within its connect timeout, so a
//! plan's only target being down is BLOCKED, never a GO over refused connections.

use std::time::{Duration, Instant};

use minijinja::Value;

use crate::check::TargetCheck;
use crate::status::Status;
use crate::target_context::{error_chain, probe_context};
use shakedown_plan::model::{Plan, Probe, Target};
use shakedown_plan::redact::Redactor;

/// The largest body preflight reads from a probe (it only needs the status, but reads the body
/// so the connection ends cleanly; a hostile server cannot make it read more).
const PROBE_BODY_CAP: usize = 64 * 1024;

/// Check every target a selected test uses, concurrently, and return one result per target,
/// in name order; a target that `--only` leaves unused is SKIPPED, so that it cannot hold back
/// a run that does not touch it.
pub async fn check_targets(
    plan: &Plan,
    redactor: &Redactor,
    only: Option<&[String]>,
) -> Vec<TargetCheck> {
    let used = only.and_then(|only| targets_used(plan, only));
    let checks = plan.targets.values().map(|target| async {
        match &used {
            Some(used) if !used.contains(target.name.as_str()) => TargetCheck {
                target: target.name.clone(),
                url: redactor.redact(&target.base_url).into_owned(),
                status: Status::Skipped,
                reason: "not used by the tests selected with --only".into(),
                hint: None,
            },
            _ => check_target(plan, target, redactor).await,
        }
    });
    futures::future::join_all(checks).await
}

/// The targets the tests selected by `only` use; None when that cannot be told (a selected
/// verification that calls targets), and then every target is checked.
fn targets_used<'p>(
    plan: &'p Plan,
    only: &[String],
) -> Option<std::collections::BTreeSet<&'p str>> {
    use shakedown_plan::model::VerifyProbe;
    let selected = |id: &str| only.iter().any(|o| o == id);
    let calls_targets = plan.verifications.iter().any(|v| {
        selected(&v.id) && matches!(v.probe, VerifyProbe::Http(_) | VerifyProbe::Canary(_))
    });
    if calls_targets {
        return None;
    }
    let loads = plan.load_tests.iter().filter(|t| selected(&t.id));
    let faults = plan.faults.tests.iter().filter(|t| selected(&t.id));
    let names = loads
        .flat_map(|t| t.targets.iter())
        .chain(faults.flat_map(|t| t.targets.iter()))
        .map(|name| name.strip_suffix(".control").unwrap_or(name));
    Some(names.collect())
}

async fn check_target(plan: &Plan, target: &Target, redactor: &Redactor) -> TargetCheck {
    let url = redactor.redact(&target.base_url).into_owned();
    let blocked = |reason: String, hint: String| TargetCheck {
        target: target.name.clone(),
        url: url.clone(),
        status: Status::Blocked,
        reason: redactor.redact(&reason).into_owned(),
        hint: Some(redactor.redact(&hint).into_owned()),
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(target.connect_timeout)
        .timeout(target.request_timeout.min(Duration::from_secs(10)))
        .build()
    {
        Ok(c) => c,
        Err(err) => {
            return blocked(
                format!("cannot build an HTTP client: {err}"),
                "check the target's url and timeouts".into(),
            );
        }
    };
    let ctx = probe_context(plan);
    let mut observed = Vec::new();
    let reach = reach_probe();
    let declared = target.health.is_some() || !target.preflight.is_empty();
    let probes: Vec<(&Probe, &str)> = if declared {
        target
            .health
            .iter()
            .map(|p| (p, "health probe"))
            .chain(target.preflight.iter().map(|p| (p, "preflight probe")))
            .collect()
    } else if target.base_url.is_empty() {
        Vec::new()
    } else {
        vec![(&reach, "reachability probe")]
    };
    for (probe, what) in probes {
        let attempt = send_probe(&client, target, probe, &ctx);
        let answer = if declared {
            attempt.await
        } else {
            match tokio::time::timeout(target.connect_timeout, attempt).await {
                Ok(answer) => answer,
                Err(_) => Err(ProbeError::Transport {
                    line: "GET /".into(),
                    error: format!(
                        "no HTTP answer within the connect timeout ({})",
                        humantime::format_duration(target.connect_timeout)
                    ),
                    connect: false,
                }),
            }
        };
        match answer {
            Err(ProbeError::Render(err)) => {
                return blocked(
                    format!("{what} of target {} cannot be rendered: {err}", target.name),
                    "check the variables and secrets the probe uses".into(),
                );
            }
            Err(ProbeError::Transport {
                line,
                error,
                connect,
            }) => {
                let hint = if connect {
                    format!(
                        "start the service, or point targets.{}.url at where it runs (it is {url})",
                        target.name
                    )
                } else {
                    format!(
                        "the service accepted the connection but did not answer in time or \
                         spoke something other than HTTP; check targets.{}.url and its \
                         timeout",
                        target.name
                    )
                };
                let kind = if connect {
                    "unreachable"
                } else {
                    "not answering"
                };
                return blocked(
                    format!("target {} is {kind}: {line} failed: {error}", target.name),
                    hint,
                );
            }
            Ok((line, status, elapsed)) => {
                if !declared {
                    observed.push(format!(
                        "reachable: {line} -> {status} in {}ms (no health probe: any HTTP answer counts; declare `health` to check more)",
                        elapsed.as_millis()
                    ));
                    continue;
                }
                if probe.expect_status.contains(status) {
                    observed.push(format!("{line} -> {status} in {}ms", elapsed.as_millis()));
                    continue;
                }
                if status == 401 || status == 403 {
                    return blocked(
                        format!(
                            "target {} rejected its credentials ({status} at {line})",
                            target.name
                        ),
                        credential_hint(plan, target),
                    );
                }
                return blocked(
                    format!("{what} of target {}: {line} returned {status}", target.name),
                    format!(
                        "the service answered but is not healthy; check it is up and ready, \
                         and that targets.{}.url points at the right service",
                        target.name
                    ),
                );
            }
        }
    }
    let reason = if observed.is_empty() {
        "no URL and no probes: nothing to reach (its control, if any, is checked apart)".to_string()
    } else {
        observed.join("; ")
    };
    TargetCheck {
        target: target.name.clone(),
        url,
        status: if observed.is_empty() {
            Status::Skipped
        } else {
            Status::Pass
        },
        reason: redactor.redact(&reason).into_owned(),
        hint: None,
    }
}

/// The probe of a target that declares none: any answer to `GET /` shows it is reachable.
fn reach_probe() -> Probe {
    Probe {
        method: shakedown_plan::model::Method::Get,
        path: shakedown_plan::template::Template::literal("/"),
        headers: Vec::new(),
        expect_status: shakedown_plan::model::StatusSet::Success,
    }
}

/// A fix hint naming every secret a target's requests use, and where each comes from.
fn credential_hint(plan: &Plan, target: &Target) -> String {
    if target.secrets_used.is_empty() {
        return format!(
            "target {} sends no credentials: add the header it needs to targets.{}.headers, \
             taking the value from a [secrets] entry",
            target.name, target.name
        );
    }
    let names: Vec<String> = target
        .secrets_used
        .iter()
        .map(|name| match plan.secrets.env_of(name) {
            Some(env) => format!("secret {name} (env {env})"),
            None => format!("secret {name}"),
        })
        .collect();
    format!(
        "check {}: the value set is not the one the service expects",
        names.join(", ")
    )
}

enum ProbeError {
    Render(String),
    Transport {
        line: String,
        error: String,
        connect: bool,
    },
}

async fn send_probe(
    client: &reqwest::Client,
    target: &Target,
    probe: &Probe,
    ctx: &Value,
) -> Result<(String, u16, Duration), ProbeError> {
    let path = probe
        .path
        .render(ctx)
        .map_err(|e| ProbeError::Render(e.to_string()))?;
    let line = format!("{} {path}", probe.method.as_str());
    let method = reqwest::Method::from_bytes(probe.method.as_str().as_bytes())
        .map_err(|e| ProbeError::Render(e.to_string()))?;
    let mut request = client.request(method, format!("{}{path}", target.base_url));
    for header in target.headers.iter().chain(probe.headers.iter()) {
        let value = header
            .value
            .render(ctx)
            .map_err(|e| ProbeError::Render(format!("header {}: {e}", header.name)))?;
        request = request.header(header.name.as_str(), value);
    }
    let started = Instant::now();
    let transport = |err: reqwest::Error| ProbeError::Transport {
        line: line.clone(),
        connect: err.is_connect(),
        error: error_chain(&err),
    };
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let mut read = 0usize;
    while read < PROBE_BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => break,
            Err(err) => return Err(transport(err)),
        }
    }
    Ok((line, status, started.elapsed()))
}
