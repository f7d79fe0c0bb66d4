//! A worker's boot info in Redis, the key a runbook reads to see which worker incarnation is up:
//! `testbed:worker:<index or boot_id>:boot` holds a JSON string (`boot_id`, `pid`, `started_at`,
//! `index`), written at start with a TTL, refreshed on every heartbeat, and deleted on a clean
//! shutdown. A worker that crashes (or is killed) leaves it to expire.
//!
//! Redis is optional. When it is configured, an unreachable server at start is a startup error;
//! an outage later only logs (once when it starts, once when it ends), and the next refresh after
//! it writes the key again, so a restarted, empty Redis gets it back within one heartbeat.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::redact_url_password;

/// How long the key lives without a refresh.
pub const BOOT_INFO_TTL: Duration = Duration::from_secs(60);
/// How long connecting, and each command, may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the delete at a clean shutdown may take.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the first connection may take in all, retries included.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The key of a worker's boot info: `testbed:worker:<name>:boot`, where `name` is the worker's
/// index in its stack when it has one, and its boot id otherwise.
pub fn boot_info_key(name: &str) -> String {
    format!("testbed:worker:{name}:boot")
}

/// The pattern that matches every worker's boot-info key (for `SCAN ... MATCH`).
pub const BOOT_INFO_PATTERN: &str = "testbed:worker:*:boot";

/// The JSON value stored under the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootInfo {
    /// The worker's boot id (a new UUID per process start).
    pub boot_id: String,
    /// The worker's process id.
    pub pid: u32,
    /// When the worker started, RFC 3339 with milliseconds.
    pub started_at: String,
    /// The worker's index in its stack, if it was given one.
    pub index: Option<usize>,
}

impl BootInfo {
    /// The key this info is stored under.
    pub fn key(&self) -> String {
        match self.index {
            Some(index) => boot_info_key(&index.to_string()),
            None => boot_info_key(&self.boot_id),
        }
    }
}

/// Why the boot info could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BootInfoError {
    /// Redis could not be reached at start.
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A Redis command failed.
    #[error("Redis {command} of {key}: {source}")]
    Command {
        /// The command.
        command: &'static str,
        /// The key.
        key: String,
        /// The client's error.
        source: redis::RedisError,
    },
    /// The boot info could not be encoded.
    #[error("encoding the boot info: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Connect to `url`, with bounded timeouts and a short reconnect policy (an error at start must
/// come quickly; later, the manager reconnects on the next command).
pub async fn connect(url: &str) -> Result<ConnectionManager, BootInfoError> {
    let unreachable = |reason: String| BootInfoError::Unreachable {
        url: redact_url_password(url),
        reason,
    };
    let client = redis::Client::open(url).map_err(|e| unreachable(e.to_string()))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    match tokio::time::timeout(
        STARTUP_TIMEOUT,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    {
        Ok(Ok(manager)) => Ok(manager),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!(
            "no connection within {}s",
            STARTUP_TIMEOUT.as_secs()
        ))),
    }
}

/// Check that Redis answers `PING` (the stack does it once before starting its workers).
pub async fn ping(url: &str) -> Result<(), BootInfoError> {
    let mut connection = connect(url).await?;
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
    pong.map(drop).map_err(|e| BootInfoError::Unreachable {
        url: redact_url_password(url),
        reason: e.to_string(),
    })
}

/// A worker's boot-info key in Redis, kept alive while the worker runs.
pub struct BootInfoKey {
    connection: ConnectionManager,
    key: String,
    value: String,
    ttl: Duration,
    failing: bool,
}

impl std::fmt::Debug for BootInfoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootInfoKey")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("failing", &self.failing)
            .finish_non_exhaustive()
    }
}

impl BootInfoKey {
    /// Connect to `url` and write `info` with [`BOOT_INFO_TTL`]. Any failure is an error: this
    /// runs at start, where an unreachable Redis must stop the worker with a clear message.
    pub async fn publish(url: &str, info: &BootInfo) -> Result<BootInfoKey, BootInfoError> {
        let connection = connect(url).await?;
        let mut key = BootInfoKey {
            connection,
            key: info.key(),
            value: serde_json::to_string(info)?,
            ttl: BOOT_INFO_TTL,
            failing: false,
        };
        key.write()
            .await
            .map_err(|err| BootInfoError::Unreachable {
                url: redact_url_password(url),
                reason: err.to_string(),
            })?;
        Ok(key)
    }

    /// The key written.
    pub fn key(&self) -> &str {
        &self.key
    }

    async fn write(&mut self) -> Result<(), BootInfoError> {
        let seconds = self.ttl.as_secs().max(1);
        self.connection
            .set_ex::<_, _, ()>(&self.key, &self.value, seconds)
            .await
            .map_err(|source| BootInfoError::Command {
                command: "SET",
                key: self.key.clone(),
                source,
            })
    }

    /// Write the key again with a fresh TTL. A failure is logged (once per outage), never
    /// returned: Redis is not on the worker's critical path.
    pub async fn refresh(&mut self) {
        match self.write().await {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(key = %self.key, "Redis is back; boot info written again");
            }
            Ok(()) => {}
            Err(err) if !self.failing => {
                self.failing = true;
                tracing::warn!(error = %err, "cannot refresh the boot info in Redis; will retry");
            }
            Err(err) => tracing::debug!(error = %err, "boot info refresh failed again"),
        }
    }

    /// Refresh the key every `every` until `stop`, then hand it back (to be removed on a clean
    /// shutdown, or left to expire after a crash-like exit).
    pub async fn keep_fresh(mut self, every: Duration, stop: CancellationToken) -> BootInfoKey {
        loop {
            // A refresh stuck on an unreachable Redis must not hold up the worker's shutdown.
            let stopped = tokio::select! {
                () = stop.cancelled() => true,
                () = async {
                    tokio::time::sleep(every).await;
                    self.refresh().await;
                } => false,
            };
            if stopped {
                return self;
            }
        }
    }

    /// Delete the key (a clean shutdown), waiting at most a second. A failure is logged: the TTL
    /// removes the key anyway.
    pub async fn remove(mut self) {
        let deleted =
            tokio::time::timeout(REMOVE_TIMEOUT, self.connection.del::<_, i64>(&self.key));
        match deleted.await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(key = %self.key, error = %err, "cannot delete the boot info in Redis");
            }
            Err(_) => tracing::warn!(key = %self.key, "deleting the boot info in Redis timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(index: Option<usize>) -> BootInfo {
        BootInfo {
            boot_id: "b-1".into(),
            pid: 42,
            started_at: "2024-01-01T00:00:00.000Z".into(),
            index,
        }
    }

    #[test]
    fn the_key_names_the_index_or_the_boot_id() {
        assert_eq!(info(Some(1)).key(), "testbed:worker:1:boot");
        assert_eq!(info(None).key(), "testbed:worker:b-1:boot");
    }

    #[test]
    fn the_value_is_a_json_object() {
        let value: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&info(Some(0))).unwrap()).unwrap();
        assert_eq!(value["boot_id"], "b-1");
        assert_eq!(value["pid"], 42);
        assert_eq!(value["index"], 0);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = format!("redis://:secret@127.0.0.1:{port}");
        let err = BootInfoKey::publish(&url, &info(None)).await.unwrap_err();
        let message = err.to_string();
        assert!(message.contains("cannot reach Redis"), "{message}");
        assert!(message.contains(&port.to_string()), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
