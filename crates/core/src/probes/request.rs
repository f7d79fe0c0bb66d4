//! One request from a verification (`http`, `canary`) to a plan target: templates rendered
//! over secrets and vars, the target's headers, a bounded body, and the step-style
//! expectations (status, body substrings, JSONPath equalities, latency).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use minijinja::Value;

use crate::load::{describe_status, json_matches};
use shakedown_plan::model::{Body, Login, Plan, ProbeRequest, Target};
use shakedown_plan::template::Template;

/// The largest response body a probe reads.
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// What one request observed.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `METHOD /path`, rendered.
    pub line: String,
    /// The status, if a response arrived.
    pub status: Option<u16>,
    /// The body as JSON, if it parsed.
    pub json: Option<serde_json::Value>,
    /// From sending to the end of the body.
    pub latency: Duration,
    /// The first expectation that did not hold, or the transport error.
    pub failure: Option<String>,
    /// Whether it failed before any response (connect, timeout, render): nothing observed.
    pub unobserved: bool,
}

/// `METHOD target:/path` as written, for report subjects.
pub fn describe(request: &ProbeRequest) -> String {
    format!(
        "{} {}:{}",
        request.method.as_str(),
        request.target,
        request.path.source()
    )
}

/// Values captured by a check's login, which its templates read.
pub type Captured = BTreeMap<String, serde_json::Value>;

/// Send a check's login (if any) and return its captures. Err says why it failed: then the
/// check observed nothing.
pub async fn login(plan: &Plan, login: Option<&Login>) -> Result<Captured, String> {
    let Some(login) = login else {
        return Ok(Captured::new());
    };
    let reply = send(plan, &login.request, &Captured::new()).await;
    if let Some(failure) = reply.failure {
        return Err(format!("login {}: {failure}", reply.line));
    }
    let Some(doc) = reply.json else {
        return Err(format!("login {}: the response is not JSON", reply.line));
    };
    let mut out = Captured::new();
    for capture in &login.captures {
        match capture.path.query(&doc).first() {
            Some(v) => {
                out.insert(capture.name.clone(), v.clone());
            }
            None => {
                return Err(format!(
                    "login {}: nothing at {} to capture as `{}`",
                    reply.line, capture.source, capture.name
                ));
            }
        }
    }
    Ok(out)
}

/// Send `request` once, with the login's captures, and judge the response against its
/// expectations.
pub async fn send(plan: &Plan, request: &ProbeRequest, captured: &Captured) -> Reply {
    let base = crate::target_context::probe_context(plan);
    let ctx = minijinja::context! { ..Value::from_serialize(captured), ..base };
    let mut reply = Reply {
        line: describe(request),
        status: None,
        json: None,
        latency: Duration::ZERO,
        failure: None,
        unobserved: true,
    };
    let Some(target) = plan.targets.get(&request.target) else {
        reply.failure = Some(format!("the target `{}` is not defined", request.target));
        return reply;
    };
    let built = build(target, request, &ctx);
    let (client, built) = match built {
        Ok(b) => b,
        Err(e) => {
            reply.failure = Some(e);
            return reply;
        }
    };
    reply.line = format!("{} {}", request.method.as_str(), built.url().path());
    let started = Instant::now();
    let mut response = match client.execute(built).await {
        Ok(r) => r,
        Err(e) => {
            reply.latency = started.elapsed();
            reply.failure = Some(format!(
                "{}: {}",
                reply.line,
                crate::load::http::classify(&e)
            ));
            return reply;
        }
    };
    reply.unobserved = false;
    let status = response.status().as_u16();
    reply.status = Some(status);
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= BODY_CAP => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                reply.failure = Some(format!("the body is larger than {BODY_CAP} bytes"));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                reply.failure = Some(format!(
                    "reading the body: {}",
                    crate::load::http::classify(&e)
                ));
                break;
            }
        }
    }
    reply.latency = started.elapsed();
    reply.json = serde_json::from_slice(&body).ok();
    if reply.failure.is_none() {
        reply.failure = judge(
            request,
            status,
            &body,
            reply.json.as_ref(),
            reply.latency,
            &ctx,
        );
    }
    reply
}

fn build(
    target: &Target,
    request: &ProbeRequest,
    ctx: &Value,
) -> Result<(reqwest::Client, reqwest::Request), String> {
    let client = reqwest::Client::builder()
        .connect_timeout(target.connect_timeout)
        .timeout(target.request_timeout)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let path = render(&request.path, ctx)?;
    let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
        .map_err(|e| e.to_string())?;
    let mut builder = client.request(method, format!("{}{path}", target.base_url));
    for header in target.headers.iter().chain(request.headers.iter()) {
        builder = builder.header(header.name.as_str(), render(&header.value, ctx)?);
    }
    builder = match &request.body {
        Some(Body::Json(doc)) => builder.json(&render_json(doc, ctx)?),
        Some(Body::Raw(t)) => builder.body(render(t, ctx)?),
        None => builder,
    };
    let built = builder
        .build()
        .map_err(|e| format!("cannot build the request: {e}"))?;
    Ok((client, built))
}

fn render(t: &Template, ctx: &Value) -> Result<String, String> {
    if t.is_literal() {
        return Ok(t.source().to_string());
    }
    t.render(ctx)
        .map_err(|e| format!("template {:?}: {e}", t.source()))
}

/// Render every string in a JSON document as a template.
fn render_json(doc: &serde_json::Value, ctx: &Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match doc {
        J::String(s) if s.contains("{{") || s.contains("{%") => {
            let t = Template::parse(s).map_err(|e| format!("template {s:?}: {e}"))?;
            J::String(render(&t, ctx)?)
        }
        J::Array(items) => J::Array(
            items
                .iter()
                .map(|i| render_json(i, ctx))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The first expectation that does not hold, if any.
fn judge(
    request: &ProbeRequest,
    status: u16,
    body: &[u8],
    json: Option<&serde_json::Value>,
    latency: Duration,
    ctx: &Value,
) -> Option<String> {
    let expect = &request.expect;
    let excerpt = || crate::load::http::excerpt(body, 120);
    if !expect.status.contains(status) {
        return Some(format!(
            "status {status}, expected {}: {}",
            describe_status(&expect.status),
            excerpt()
        ));
    }
    if let Some(max) = expect.max_latency
        && latency > max
    {
        return Some(format!(
            "latency {}ms over the {}ms bound",
            latency.as_millis(),
            max.as_millis()
        ));
    }
    let text = String::from_utf8_lossy(body);
    if let Some(needle) = expect
        .body_contains
        .iter()
        .find(|n| !text.contains(n.as_str()))
    {
        return Some(format!("the body does not contain {needle:?}"));
    }
    if expect.json.is_empty() {
        return None;
    }
    let Some(doc) = json else {
        return Some(format!("the body is not JSON: {}", excerpt()));
    };
    for check in &expect.json {
        let Some(actual) = check.path.query(doc).first() else {
            return Some(format!("{}: no match in the body", check.source));
        };
        let Some(expected) = &check.equals else {
            continue;
        };
        let templated = matches!(expected, serde_json::Value::String(s) if s.contains("{{"));
        let want = match render_json(expected, ctx) {
            Ok(v) => v,
            Err(e) => return Some(format!("expected value of {}: {e}", check.source)),
        };
        if !json_matches(actual, &want, templated) {
            return Some(format!("{}: expected {want}, got {actual}", check.source));
        }
    }
    None
}
