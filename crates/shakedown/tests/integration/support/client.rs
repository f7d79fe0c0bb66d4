//! An HTTP client for the testbed API: login, submit, read runs, wait for them, and the ops
//! endpoints. Every wait is bounded.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The default login password of the testbed.
pub const PASSWORD: &str = "testbed-password";
/// The default ops key of the testbed.
pub const OPS_KEY: &str = "testbed-ops-key";

/// A logged-in client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The underlying HTTP client.
    pub http: reqwest::Client,
    /// The API base URL.
    pub base: String,
    /// The bearer token.
    pub token: String,
}

/// A status and a JSON body (`Value::Null` if the body was not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The body.
    pub body: Value,
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

impl Client {
    /// Log in with the default password.
    pub async fn login(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("building an HTTP client");
        let response = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "tester", "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        let login = reply(response).await;
        assert_eq!(login.status, StatusCode::OK, "login: {:?}", login.body);
        let token = login.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        Client {
            http,
            base: base.to_owned(),
            token,
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An authenticated GET.
    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        reply(response).await
    }

    /// `POST /api/v1/runs` with an idempotency key.
    pub async fn submit(&self, key: &str, kind: &str, params: Value) -> Reply {
        let response = self
            .http
            .post(self.url("/api/v1/runs"))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({"kind": kind, "params": params}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("submitting {key}: {e}"));
        reply(response).await
    }

    /// Submit and expect 201; return the run.
    pub async fn submit_new(&self, key: &str, kind: &str, params: Value) -> Value {
        let reply = self.submit(key, kind, params).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "submit {key}: {:?}",
            reply.body
        );
        reply.body
    }

    /// `GET /api/v1/runs/{id}`, expecting 200.
    pub async fn run(&self, id: &str) -> Value {
        let reply = self.get(&format!("/api/v1/runs/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "run {id}: {:?}", reply.body);
        reply.body
    }

    /// `GET /api/v1/runs?key=K`: the runs with that key.
    pub async fn runs_by_key(&self, key: &str) -> Vec<Value> {
        let reply = self.get(&format!("/api/v1/runs?key={key}")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "runs?key={key}: {:?}",
            reply.body
        );
        reply.body["runs"].as_array().cloned().unwrap_or_default()
    }

    /// Poll until every run in `ids` is completed or failed; return them. Panics after `timeout`.
    pub async fn wait_terminal(&self, ids: &[String], timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut done: Vec<Option<Value>> = vec![None; ids.len()];
        loop {
            for (slot, id) in done.iter_mut().zip(ids) {
                if slot.is_none() {
                    let run = self.run(id).await;
                    if matches!(run["status"].as_str(), Some("completed" | "failed")) {
                        *slot = Some(run);
                    }
                }
            }
            if done.iter().all(Option::is_some) {
                return done.into_iter().flatten().collect();
            }
            let left = done.iter().filter(|d| d.is_none()).count();
            assert!(
                Instant::now() < deadline,
                "{left} of {} runs still not terminal after {timeout:?}",
                ids.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Poll one run until `accept` holds (bounded); return the run, or `None` at the deadline.
    pub async fn poll_run(
        &self,
        id: &str,
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let run = self.run(id).await;
            if accept(&run) {
                return Some(run);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An ops GET or POST with `X-API-Key`.
    pub async fn ops(&self, method: reqwest::Method, path: &str, key: &str) -> Reply {
        let response = self
            .http
            .request(method, self.url(path))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ops {path}: {e}"));
        reply(response).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Reply {
        let response = self
            .http
            .get(self.url("/health"))
            .send()
            .await
            .expect("GET /health");
        reply(response).await
    }
}
