//! The plan `hit` runs: its flags checked and written as the TOML text of a one-step plan, with
//! the credentials that text refers to, so that it goes through the same compiler as a plan
//! file.

use anyhow::Context as _;

use crate::cli_hit::{HitArgs, TEST_ID};
use crate::cli_hit_secrets::{HitSecrets, shown_url};
use shakedown_plan::redact::{MIN_SECRET_CHARS, is_credential_name};
use shakedown_plan::{MAX_CONCURRENCY, why_capped};

/// The plan for these flags, as TOML text (so that it goes through the plan compiler, with its
/// checks and messages, exactly like a plan file), and the credentials its text refers to.
pub fn plan_text(args: &HitArgs) -> anyhow::Result<(String, HitSecrets)> {
    let shown = shown_url(&args.url);
    let url = reqwest::Url::parse(&args.url).with_context(|| format!("`{shown}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("`{shown}` is not an http or https URL");
    }
    let mut secrets = HitSecrets::default();
    let base = secrets
        .base(&url)
        .with_context(|| format!("`{shown}` cannot be used"))?;
    let path = secrets.path_and_query(&url)?;
    if args.connections == 0 {
        anyhow::bail!("-c must be at least 1");
    }
    if args.rate.is_none() && args.requests.is_some() && args.duration.is_some() {
        // Each would be the end of a closed-model run, and neither could be kept exactly if the
        // other came first.
        anyhow::bail!(
            "-n and -d together need --rate: without it, -n ends the run after exactly N requests \
             and -d after exactly that long; give one of them, or add --rate to send N requests \
             on a schedule within -d"
        );
    }
    if args.connections > MAX_CONCURRENCY {
        anyhow::bail!(
            "-c {} is over the most connections a test may have ({MAX_CONCURRENCY}): {}; \
use -c {MAX_CONCURRENCY} or less, or split the load across machines",
            args.connections,
            why_capped()
        );
    }
    if args.requests == Some(0) {
        anyhow::bail!("-n must be at least 1");
    }
    let duration = match &args.duration {
        Some(d) => Some(
            shakedown_plan::duration::parse_duration(d)
                .map_err(|e| anyhow::anyhow!("-d {d}: {e}"))?,
        ),
        None => None,
    };
    let seconds = duration.map(|d| d.as_secs_f64());

    let mut step = toml::Table::new();
    step.insert("name".into(), "request".into());
    step.insert(
        "request".into(),
        format!("{} target:{path}", args.method.to_ascii_uppercase()).into(),
    );
    let mut headers = toml::Table::new();
    for (i, header) in args.headers.iter().enumerate() {
        let (name, value) = header.split_once(':').with_context(|| {
            format!("-H number {} has no `:`; write it as `Name: value`", i + 1)
        })?;
        let (name, value) = (name.trim(), value.trim());
        let value = if is_credential_name(name) {
            secrets.reference("header", value, &format!("the value of -H {name}"))?
        } else {
            value.to_string()
        };
        headers.insert(name.to_string(), value.into());
    }
    if !headers.is_empty() {
        step.insert("headers".into(), headers.into());
    }
    if let Some(body) = &args.body {
        // A body may hold a credential anywhere (a login form, a token in JSON): as a secret, it
        // is kept out of the sealed plan and redacted wherever a server echoes it. One too short
        // to redact is left in the plan as it is.
        let body = if body.chars().count() >= MIN_SECRET_CHARS {
            secrets.reference("body", body, "--body")?
        } else {
            body.clone()
        };
        step.insert("body".into(), body.into());
    }
    // Any status is a response; only 2xx counts as a success (the plan's default).
    let (executor, requests_bound, run_seconds) = match args.rate {
        Some(rate) => {
            // Send `i` of a uniform schedule is due at i / rate, and a schedule of duration d
            // sends those due before d; ending it half a gap after send n-1 sends exactly n
            // (at nanosecond resolution, exact up to 500 million per second). A duration
            // rounded up to the millisecond would send up to 1000 more at 1e6/s, cut only by
            // limits.requests.
            let secs = match (seconds, args.requests) {
                (Some(s), _) => s,
                (None, Some(n)) => (n as f64 - 0.5) / rate.max(f64::MIN_POSITIVE),
                (None, None) => 10.0,
            };
            let mut open = toml::Table::new();
            open.insert("rate".into(), rate.into());
            open.insert(
                "duration".into(),
                format!("{}ns", (secs * 1e9).ceil()).into(),
            );
            open.insert("max_in_flight".into(), i64::from(args.connections).into());
            let bound = args.requests.unwrap_or((rate * secs * 1.1) as u64 + 1000);
            (table("constant_rate", open), bound, secs)
        }
        None => {
            let mut vus = toml::Table::new();
            vus.insert("count".into(), i64::from(args.connections).into());
            let (bound, secs) = match (args.requests, seconds) {
                (Some(n), _) => {
                    let n = i64::try_from(n).context("-n is too large")?;
                    vus.insert("iterations".into(), n.into());
                    (n as u64, seconds.unwrap_or(3600.0))
                }
                (None, s) => {
                    let s = s.unwrap_or(10.0);
                    vus.insert(
                        "duration".into(),
                        format!("{}ms", (s * 1000.0).ceil()).into(),
                    );
                    (1_000_000_000_000, s)
                }
            };
            (table("vus", vus), bound, secs)
        }
    };

    let mut target = toml::Table::new();
    target.insert("url".into(), base.into());
    target.insert("timeout".into(), args.timeout.clone().into());
    if args.http2 {
        target.insert("http2".into(), true.into());
    }
    let mut load = toml::Table::new();
    load.insert("id".into(), TEST_ID.into());
    if args.requests.is_none() || (args.rate.is_some() && args.duration.is_some()) {
        // The load ends at `-d` (or its default), as oha's and wrk's do: requests still in
        // flight then are cancelled and counted, not waited for up to their timeout. With
        // `-n` alone the executor has no duration of its own to end at.
        load.insert("graceful_stop".into(), "0s".into());
    }
    load.insert("name".into(), format!("hit {shown}").into());
    load.insert("scenario".into(), "hit".into());
    load.insert("executor".into(), executor.into());
    load.insert(
        "thresholds".into(),
        toml::Value::Array(args.thresholds.iter().map(|t| t.clone().into()).collect()),
    );
    let mut limits = toml::Table::new();
    // The run ends by the executor; the limits only bound a run that would not.
    limits.insert(
        "duration".into(),
        format!("{}s", (run_seconds.ceil() as u64).saturating_add(120)).into(),
    );
    limits.insert(
        "requests".into(),
        i64::try_from(requests_bound.saturating_add(1))
            .unwrap_or(i64::MAX)
            .into(),
    );
    let mut plan = toml::Table::new();
    plan.insert("name".into(), "hit".into());
    plan.insert("limits".into(), limits.into());
    let mut scenario = toml::Table::new();
    scenario.insert("steps".into(), toml::Value::Array(vec![step.into()]));
    let text = [
        secrets.section(),
        section("[plan]", plan),
        section("[targets.target]", target),
        section("[scenarios.hit]", scenario),
        section("[[load]]", load),
    ]
    .concat();
    Ok((text, secrets))
}

/// A TOML section whose values are written inline (the plan parser reads nested tables in
/// their inline form).
fn section(header: &str, table: toml::Table) -> String {
    let mut out = format!("{header}\n");
    for (key, value) in table {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

fn table(key: &str, value: toml::Table) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert(key.into(), value.into());
    t
}
