//! Gauge samplers: one task per sampler, which requests its probe every `every` for the lifetime
//! of the test and records the JSON number at `value` (e.g. the queue depth).
//!
//! A sample that fails (no response, unexpected status, no number at the path) is sent as a
//! failure and counted, never dropped. Each sample takes one unit of the run's budget; when the
//! budget is spent or the deadline passes, the sampler stops quietly (the VUs report the stop).

use std::sync::Arc;

use minijinja::Value;
use reqwest::header::HeaderValue;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::{self, exchange};
use super::prepared::{HeaderValueSpec, TargetSpec, join, wire_method};
use super::scope::VuScope;
use super::vu::Runtime;
use crate::metrics::aggregator::Event;
use shakedown_plan::model::{Plan, Sampler};

/// Largest gauge response read, in bytes: gauges are small documents.
const GAUGE_BODY_CAP: usize = 256 * 1024;

/// Start one task per sampler of the test; each ends when `done` is cancelled.
pub fn spawn(
    rt: &Arc<Runtime>,
    plan: &Plan,
    samplers: &[Sampler],
    tx: &mpsc::Sender<Event>,
    done: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    samplers
        .iter()
        .enumerate()
        .map(|(i, sampler)| {
            let gauge = u32::try_from(i).unwrap_or(u32::MAX);
            let target = plan
                .targets
                .keys()
                .position(|k| *k == sampler.target)
                .and_then(|t| rt.prepared.targets.get(t).cloned());
            let task = SamplerTask {
                rt: rt.clone(),
                sampler: sampler.clone(),
                target,
                gauge,
                tx: tx.clone(),
                done: done.clone(),
            };
            tokio::spawn(task.run())
        })
        .collect()
}

struct SamplerTask {
    rt: Arc<Runtime>,
    sampler: Sampler,
    target: Option<TargetSpec>,
    gauge: u32,
    tx: mpsc::Sender<Event>,
    done: CancellationToken,
}

impl SamplerTask {
    async fn run(self) {
        let client = self.target.as_ref().map(http::client);
        let ctx = VuScope::new(self.rt.prepared.shared.clone(), 0).context(u64::MAX, None);
        let mut body = Vec::new();
        let mut first = true;
        loop {
            // The first sample is taken even if the test ends meanwhile (only a stop cuts it
            // short), so a short test still has a figure for its gauge thresholds.
            let cut = if first {
                self.rt.stop.token().clone()
            } else {
                self.done.clone()
            };
            first = false;
            if cut.is_cancelled() || self.rt.budget.take().is_err() {
                break;
            }
            let value = match (&self.target, &client) {
                (None, _) => Err(format!("unknown target `{}`", self.sampler.target)),
                (_, Some(Err(e))) => Err(format!("cannot build an HTTP client: {e}")),
                (Some(_), None) => Err("no HTTP client".into()),
                (Some(target), Some(Ok(client))) => match self.request(target, &ctx) {
                    Err(e) => Err(e),
                    Ok(request) => {
                        let ex = tokio::select! {
                            biased;
                            _ = cut.cancelled() => break,
                            ex = exchange(client, request, GAUGE_BODY_CAP, &mut body) => ex,
                        };
                        self.value(&ex, &body)
                    }
                },
            };
            self.send(value).await;
            if !self.pause().await {
                break;
            }
        }
    }

    /// Wait for the next sample; false if the test ended meanwhile.
    async fn pause(&self) -> bool {
        tokio::select! {
            biased;
            _ = self.done.cancelled() => false,
            _ = tokio::time::sleep(self.sampler.every) => true,
        }
    }

    async fn send(&self, value: Result<f64, String>) {
        let event = Event::Gauge {
            gauge: self.gauge,
            value,
        };
        if self.tx.send(event).await.is_err() {
            tracing::warn!("load: the aggregator is gone; a gauge sample was lost");
        }
    }

    fn request(&self, target: &TargetSpec, ctx: &Value) -> Result<reqwest::Request, String> {
        let probe = &self.sampler.probe;
        let render = |t: &shakedown_plan::template::Template| {
            t.render(ctx)
                .map_err(|e| format!("template {:?}: {e}", t.source()))
        };
        let text = join(&target.base_url, &render(&probe.path)?);
        let url = reqwest::Url::parse(&text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
        let mut request = crate::load::http::request_with_userinfo(wire_method(probe.method), url);
        let headers = request.headers_mut();
        for h in &target.headers {
            let value = match &h.value {
                HeaderValueSpec::Literal(v) => v.clone(),
                HeaderValueSpec::Template(t) => HeaderValue::from_str(&render(t)?)
                    .map_err(|_| format!("header {} renders to an invalid value", h.name))?,
            };
            headers.insert(h.name.clone(), value);
        }
        for h in &probe.headers {
            let name = reqwest::header::HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| format!("invalid header name {:?}", h.name))?;
            let value = HeaderValue::from_str(&render(&h.value)?)
                .map_err(|_| format!("header {} renders to an invalid value", h.name))?;
            headers.insert(name, value);
        }
        Ok(request)
    }

    /// The gauge's value in a response, or why there is none.
    fn value(&self, ex: &http::Exchange, body: &[u8]) -> Result<f64, String> {
        if let Some(e) = &ex.error {
            return Err(e.to_string());
        }
        let status = ex.status.ok_or("no response")?;
        if !self.sampler.probe.expect_status.contains(status) {
            return Err(format!("status {status}: {}", http::excerpt(body, 120)));
        }
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        let found = self.sampler.value.query(&doc).first().cloned();
        match found {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| format!("value at the path is not a number: {v}")),
            None => Err("no value at the path".into()),
        }
    }
}
