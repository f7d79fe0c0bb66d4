//! `redis = { ... }`: one Redis read through a fresh connection, every step bounded by the
//! oracle's timeout, asserted: GET (the key is there, its value equals a string, or its JSON
//! meets JSONPath assertions), EXISTS, TTL (a comparison on the seconds left: a key without
//! expiry or without existence has none, and fails), and SCAN MATCH in batches (how many keys
//! match: at most [`SCAN_LIMIT`] are counted, and the whole scan must finish within the
//! timeout). A server that cannot be reached or refuses the login is the section's error, naming
//! the oracle and the fix: INCONCLUSIVE, never PASS.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError};
use serde_json::Value;

use super::VerifyEnv;
use super::value::{clip, count_holds, same_value, show};
use crate::report::verify_section::{LatencyStats, VerifySection};
use shakedown_plan::model::{Oracle, OracleKind, RedisProbe, RedisRead};

/// Most keys a SCAN counts.
pub const SCAN_LIMIT: usize = 100_000;
/// Keys asked for per SCAN call.
const SCAN_BATCH: usize = 1_000;
/// Matched keys kept in the report.
const KEPT_KEYS: usize = 20;

/// Read and assert.
pub async fn run(probe: &RedisProbe, oracle: &Oracle, env: &VerifyEnv<'_>) -> VerifySection {
    let (command, template) = match &probe.read {
        RedisRead::Get(t) => ("GET", t),
        RedisRead::Exists(t) => ("EXISTS", t),
        RedisRead::Ttl(t) => ("TTL", t),
        RedisRead::Scan(t) => ("SCAN MATCH", t),
    };
    let ctx = crate::target_context::probe_context(env.plan);
    let key = template.render(&ctx);
    let subject = match &key {
        Ok(key) => format!("{command} {key}"),
        Err(_) => format!("{command} {}", template.source()),
    };
    let mut section = VerifySection::new("redis", Some(&oracle.name), subject);
    let key = match key {
        Ok(key) => key,
        Err(e) => {
            section.error = Some(format!("the key of this check: {e}"));
            return section;
        }
    };
    let started = Instant::now();
    let mut conn = match connect(oracle, env.plan).await {
        Ok(conn) => conn,
        Err(e) => {
            section.error = Some(e);
            return section;
        }
    };
    let connected = Instant::now();
    let read = match &probe.read {
        RedisRead::Get(_) => get(&mut conn, probe, oracle, &key, &mut section).await,
        RedisRead::Exists(_) => exists(&mut conn, probe, oracle, &key, &mut section).await,
        RedisRead::Ttl(_) => ttl(&mut conn, probe, oracle, &key, &mut section).await,
        RedisRead::Scan(_) => scan(&mut conn, probe, oracle, &key, &mut section).await,
    };
    if let Err(e) = read {
        section.assertions.clear();
        section.error = Some(e);
        return section;
    }
    for (what, from, to) in [
        ("connect", started, connected),
        ("read", connected, Instant::now()),
    ] {
        let ms = to.duration_since(from).as_secs_f64() * 1000.0;
        if let Some(stats) = LatencyStats::of(&[ms]) {
            section.latency_ms.insert(what.into(), stats);
        }
    }
    section
}

/// A fresh connection to a redis oracle, bounded by its timeout.
pub(super) async fn connect(
    oracle: &Oracle,
    plan: &shakedown_plan::model::Plan,
) -> Result<MultiplexedConnection, String> {
    let name = &oracle.name;
    let OracleKind::Redis(url) = &oracle.kind else {
        return Err(super::wrong_kind(oracle, "redis"));
    };
    let url = super::render_url(oracle, url, plan)?;
    if url.starts_with("rediss://") {
        return Err(format!(
            "oracle `{name}`: TLS (rediss://) is not supported by this build; reach Redis over \
             redis:// (e.g. through a local TLS tunnel)"
        ));
    }
    // The parser's message never quotes the URL, which may hold a password.
    let client = redis::Client::open(url.as_str()).map_err(|_| {
        format!(
            "oracle `{name}`: its URL is not a Redis URL; write \
             redis://[USER:PASSWORD@]HOST:PORT[/DB]"
        )
    })?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(oracle.timeout))
        .set_response_timeout(Some(oracle.timeout));
    bounded(
        oracle,
        "connecting",
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
}

/// The expectation about the key's existence.
fn presence(key: &str, present: bool) -> String {
    if present {
        format!("{key} exists")
    } else {
        format!("{key} is absent")
    }
}

async fn get(
    conn: &mut MultiplexedConnection,
    probe: &RedisProbe,
    oracle: &Oracle,
    key: &str,
    section: &mut VerifySection,
) -> Result<(), String> {
    let reply: Result<Option<Vec<u8>>, String> = bounded(
        oracle,
        "reading the key",
        redis::cmd("GET").arg(key).query_async(conn),
    )
    .await;
    let value = match reply {
        Ok(value) => value,
        // The key exists, but holds a hash, a list or a set.
        Err(e) if e.contains("WRONGTYPE") => {
            section.assert(
                presence(key, probe.present),
                Some("present".into()),
                probe.present,
            );
            section.assert(
                format!("{key} holds a string"),
                Some("another type (WRONGTYPE)".into()),
                false,
            );
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let Some(bytes) = value else {
        section.assert(
            presence(key, probe.present),
            Some("absent".into()),
            !probe.present,
        );
        return Ok(());
    };
    section.assert(
        presence(key, probe.present),
        Some("present".into()),
        probe.present,
    );
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut record = BTreeMap::new();
    record.insert("key".to_string(), Value::String(key.to_string()));
    record.insert("value".to_string(), Value::String(clip(&text)));
    section.records.push(record);
    if !probe.present {
        return Ok(());
    }
    if let Some(expected) = &probe.equals {
        section.assert(
            format!("{key} == {}", show(&Value::String(expected.clone()))),
            Some(show(&Value::String(text.clone()))),
            &text == expected,
        );
    }
    if probe.json.is_empty() {
        return Ok(());
    }
    let document = serde_json::from_str::<Value>(&text).ok();
    for (source, path, expected) in &probe.json {
        let expectation = format!("{key} {source} == {}", show(expected));
        let (observed, held) = match &document {
            None => ("the value is not JSON".to_string(), false),
            Some(doc) => match path.query(doc).first() {
                Some(found) => (show(found), same_value(found, expected)),
                None => ("no match".to_string(), false),
            },
        };
        section.assert(expectation, Some(observed), held);
    }
    Ok(())
}

async fn exists(
    conn: &mut MultiplexedConnection,
    probe: &RedisProbe,
    oracle: &Oracle,
    key: &str,
    section: &mut VerifySection,
) -> Result<(), String> {
    let n: i64 = bounded(
        oracle,
        "reading the key",
        redis::cmd("EXISTS").arg(key).query_async(conn),
    )
    .await?;
    let there = n > 0;
    section.assert(
        presence(key, probe.present),
        Some(if there { "present" } else { "absent" }.into()),
        there == probe.present,
    );
    Ok(())
}

async fn ttl(
    conn: &mut MultiplexedConnection,
    probe: &RedisProbe,
    oracle: &Oracle,
    key: &str,
    section: &mut VerifySection,
) -> Result<(), String> {
    let seconds: i64 = bounded(
        oracle,
        "reading the key's TTL",
        redis::cmd("TTL").arg(key).query_async(conn),
    )
    .await?;
    let Some(comparison) = &probe.seconds else {
        return Ok(());
    };
    let (observed, held) = ttl_observed(seconds, comparison);
    section.assert(format!("TTL of {key} {comparison}"), Some(observed), held);
    Ok(())
}

/// A TTL reply in words, and whether it meets the comparison: `-1` (no expiry) and `-2` (no
/// such key) have no seconds left to compare, and fail.
fn ttl_observed(seconds: i64, comparison: &shakedown_plan::model::Comparison) -> (String, bool) {
    match seconds {
        -2 => ("absent (TTL -2)".into(), false),
        -1 => ("no expiry (TTL -1)".into(), false),
        s => (format!("{s}s"), comparison.holds(s as f64)),
    }
}

async fn scan(
    conn: &mut MultiplexedConnection,
    probe: &RedisProbe,
    oracle: &Oracle,
    pattern: &str,
    section: &mut VerifySection,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + oracle.timeout;
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut capped = false;
    let mut cursor: u64 = 0;
    loop {
        let mut command = redis::cmd("SCAN");
        command
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH);
        let call = command.query_async::<(u64, Vec<Vec<u8>>)>(conn);
        let (next, batch) = tokio::time::timeout_at(deadline, call)
            .await
            .map_err(|_| {
                format!(
                    "oracle `{}`: SCAN did not finish within {} ({} keys so far); narrow the \
                     pattern or raise the oracle's `timeout`",
                    oracle.name,
                    humantime::format_duration(oracle.timeout),
                    keys.len()
                )
            })?
            .map_err(|e| explain(oracle, "scanning", e))?;
        for key in batch {
            let key = String::from_utf8_lossy(&key).into_owned();
            if keys.len() < SCAN_LIMIT {
                keys.insert(key);
            } else if !keys.contains(&key) {
                capped = true;
            }
        }
        if capped || next == 0 {
            break;
        }
        cursor = next;
    }
    let count = keys.len() as u64;
    section.count("keys", count);
    for key in keys.iter().take(KEPT_KEYS) {
        let mut record = BTreeMap::new();
        record.insert("key".to_string(), Value::String(key.clone()));
        section.records.push(record);
    }
    if let Some(comparison) = &probe.count {
        let observed = if capped {
            format!("at least {count} (counting stops at {SCAN_LIMIT})")
        } else {
            count.to_string()
        };
        section.assert(
            format!("keys matching {pattern}: count {comparison}"),
            Some(observed),
            count_holds(comparison, count, capped),
        );
    }
    Ok(())
}

/// `work`, bounded by the oracle's timeout, with its error explained.
async fn bounded<T>(
    oracle: &Oracle,
    doing: &str,
    work: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, String> {
    tokio::time::timeout(oracle.timeout, work)
        .await
        .map_err(|_| too_slow(oracle, doing))?
        .map_err(|e| explain(oracle, doing, e))
}

fn too_slow(oracle: &Oracle, doing: &str) -> String {
    format!(
        "oracle `{}`: no answer within {} while {doing}; check that Redis is up and reachable, \
         or raise the oracle's `timeout`",
        oracle.name,
        humantime::format_duration(oracle.timeout)
    )
}

/// A Redis error in words that name the oracle and the fix.
fn explain(oracle: &Oracle, doing: &str, error: RedisError) -> String {
    let name = &oracle.name;
    let code = error.code().unwrap_or_default();
    if error.kind() == ErrorKind::AuthenticationFailed || matches!(code, "WRONGPASS" | "NOAUTH") {
        format!(
            "oracle `{name}`: authentication failed ({error}); check the user and password in \
             the oracle's URL"
        )
    } else if error.is_timeout() {
        too_slow(oracle, doing)
    } else if error.is_connection_refusal() {
        format!(
            "oracle `{name}`: connection refused; check that Redis is running and the host and \
             port in the oracle's URL"
        )
    } else if error.is_io_error() || error.is_connection_dropped() {
        format!(
            "oracle `{name}`: cannot reach Redis ({error}); check that it is running and the \
             host and port in the oracle's URL"
        )
    } else {
        format!("oracle `{name}`: {doing} failed: {error}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_plan::model::CmpOp;
    use shakedown_plan::model::Comparison;

    #[test]
    fn a_ttl_without_expiry_or_key_fails_any_comparison() {
        let positive = Comparison {
            op: CmpOp::Gt,
            value: 0.0,
        };
        assert_eq!(ttl_observed(30, &positive), ("30s".into(), true));
        assert_eq!(ttl_observed(0, &positive), ("0s".into(), false));
        assert_eq!(
            ttl_observed(-1, &positive),
            ("no expiry (TTL -1)".into(), false)
        );
        let negative = Comparison {
            op: CmpOp::Lt,
            value: 0.0,
        };
        assert_eq!(
            ttl_observed(-2, &negative),
            ("absent (TTL -2)".into(), false)
        );
    }

    #[test]
    fn a_refused_login_names_the_oracle_and_the_fix() {
        let oracle = Oracle {
            name: "cache".into(),
            kind: OracleKind::Redis(shakedown_plan::template::Template::literal(
                "redis://127.0.0.1:1",
            )),
            timeout: std::time::Duration::from_secs(2),
        };
        let refused = RedisError::from((ErrorKind::AuthenticationFailed, "invalid password"));
        let text = explain(&oracle, "connecting", refused);
        assert!(
            text.starts_with("oracle `cache`: authentication failed"),
            "{text}"
        );
        assert!(text.contains("user and password"), "{text}");
        let other = RedisError::from((ErrorKind::Client, "odd"));
        let text = explain(&oracle, "scanning", other);
        assert!(
            text.starts_with("oracle `cache`: scanning failed"),
            "{text}"
        );
    }

    #[test]
    fn presence_reads_as_an_expectation() {
        assert_eq!(presence("worker:0:boot", true), "worker:0:boot exists");
        assert_eq!(presence("lock", false), "lock is absent");
    }
}
