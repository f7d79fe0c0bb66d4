//! The `railway` driver: Railway's public GraphQL API. A restart is `deploymentRestart` of the
//! service's latest deployment, or `serviceInstanceRedeploy` of the service in its environment;
//! the identity is the latest deployment's id (its status goes in the evidence). The token comes
//! from a secret and is sent as `Authorization: Bearer`; it is never written anywhere.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use serde_json::{Value, json};

use crate::faults::journal::Revert;
use crate::faults::{Applied, Driver, DriverError, DriverFuture};
use crate::target_context::error_chain;
use shakedown_plan::model::{ControlVerb, Plan, RailwayMode, RailwaySpec};

/// The latest deployment of a service in an environment.
pub const LATEST_DEPLOYMENT: &str = "query latestDeployment($serviceId: String!, $environmentId: String!) { deployments(first: 1, input: { serviceId: $serviceId, environmentId: $environmentId }) { edges { node { id status } } } }";
/// Restart a deployment in place.
pub const DEPLOYMENT_RESTART: &str =
    "mutation deploymentRestart($id: String!) { deploymentRestart(id: $id) }";
/// Redeploy a service in an environment.
pub const SERVICE_INSTANCE_REDEPLOY: &str = "mutation serviceInstanceRedeploy($environmentId: String!, $serviceId: String!) { serviceInstanceRedeploy(environmentId: $environmentId, serviceId: $serviceId) }";

/// A Railway-controlled target.
pub struct RailwayDriver {
    target: String,
    plan: Arc<Plan>,
    spec: RailwaySpec,
    timeout: Duration,
}

impl RailwayDriver {
    /// A driver whose calls each take at most `timeout`.
    pub fn new(
        target: &str,
        plan: Arc<Plan>,
        spec: RailwaySpec,
        timeout: Duration,
    ) -> RailwayDriver {
        RailwayDriver {
            target: target.to_string(),
            plan,
            spec,
            timeout,
        }
    }

    fn token(&self) -> Result<&str, DriverError> {
        self.plan
            .secrets
            .values
            .get(&self.spec.token_secret)
            .map(|s| s.value.as_str())
            .ok_or_else(|| DriverError::Credentials {
                what: format!(
                    "the Railway token of target {} is not set: secret {} reads ${}, which is empty or unset",
                    self.target, self.spec.token_secret, self.spec.token_env
                ),
                hint: format!(
                    "create a token at railway.app (Account or Project settings, Tokens) and `export {}=...` before running shakedown",
                    self.spec.token_env
                ),
            })
    }

    /// Post one GraphQL document; the `data` of the answer.
    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, DriverError> {
        let token = self.token()?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| DriverError::Failed(e.to_string()))?;
        let response = client
            .post(&self.spec.endpoint)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| {
                DriverError::Failed(format!(
                    "Railway API {} unreachable: {}",
                    self.spec.endpoint,
                    error_chain(&e)
                ))
            })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let errors = body["errors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .filter_map(|e| e["message"].as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let rejected = status == 401
            || status == 403
            || errors.to_ascii_lowercase().contains("not authorized")
            || errors.to_ascii_lowercase().contains("unauthorized");
        if rejected {
            return Err(DriverError::Credentials {
                what: format!(
                    "the Railway API rejected the token of target {} ({status}{})",
                    self.target,
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(": {errors}")
                    }
                ),
                hint: format!(
                    "check secret {} (env {}): it must be a Railway API token with access to service {} in environment {}",
                    self.spec.token_secret,
                    self.spec.token_env,
                    self.spec.service,
                    self.spec.environment
                ),
            });
        }
        if !(200..300).contains(&status) || !errors.is_empty() {
            return Err(DriverError::Failed(format!(
                "the Railway API answered {status}{}",
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {errors}")
                }
            )));
        }
        Ok(body["data"].clone())
    }

    async fn latest(&self) -> Result<(String, String), DriverError> {
        let data = self
            .graphql(
                LATEST_DEPLOYMENT,
                json!({ "serviceId": self.spec.service, "environmentId": self.spec.environment }),
            )
            .await?;
        let node = &data["deployments"]["edges"][0]["node"];
        match (node["id"].as_str(), node["status"].as_str()) {
            (Some(id), status) => Ok((id.to_string(), status.unwrap_or("unknown").to_string())),
            _ => Err(DriverError::Failed(format!(
                "service {} has no deployment in environment {}",
                self.spec.service, self.spec.environment
            ))),
        }
    }
}

impl Driver for RailwayDriver {
    fn kind(&self) -> &'static str {
        "railway"
    }

    fn start(&self) -> DriverFuture<'_, Applied> {
        unsupported("start")
    }

    fn stop(&self) -> DriverFuture<'_, Applied> {
        unsupported("stop")
    }

    fn kill(&self, _signal: &str) -> DriverFuture<'_, Applied> {
        unsupported("kill")
    }

    fn pause(&self) -> DriverFuture<'_, Applied> {
        unsupported("pause")
    }

    fn resume(&self) -> DriverFuture<'_, Applied> {
        unsupported("resume")
    }

    fn restart(&self) -> DriverFuture<'_, Applied> {
        async move {
            match self.spec.mode {
                RailwayMode::Restart => {
                    let (id, status) = self.latest().await?;
                    let data = self
                        .graphql(DEPLOYMENT_RESTART, json!({ "id": id }))
                        .await?;
                    match data["deploymentRestart"].as_bool() {
                        Some(true) => Ok(Applied::accepted(format!(
                            "deploymentRestart of deployment {id} (was {status}) accepted"
                        ))),
                        _ => Err(DriverError::Failed(format!(
                            "deploymentRestart of deployment {id} was not accepted"
                        ))),
                    }
                }
                RailwayMode::Redeploy => {
                    let variables = json!({
                        "environmentId": self.spec.environment,
                        "serviceId": self.spec.service,
                    });
                    let data = self.graphql(SERVICE_INSTANCE_REDEPLOY, variables).await?;
                    match data["serviceInstanceRedeploy"].as_bool() {
                        Some(true) => Ok(Applied::accepted(format!(
                            "serviceInstanceRedeploy of service {} accepted",
                            self.spec.service
                        ))),
                        _ => Err(DriverError::Failed(format!(
                            "serviceInstanceRedeploy of service {} was not accepted",
                            self.spec.service
                        ))),
                    }
                }
            }
        }
        .boxed()
    }

    fn identity(&self) -> DriverFuture<'_, Option<String>> {
        async move { self.latest().await.map(|(id, _)| Some(id)) }.boxed()
    }

    fn preflight(&self) -> DriverFuture<'_, String> {
        async move {
            let (id, status) = self.latest().await?;
            Ok(format!(
                "Railway token accepted; latest deployment {id} is {status}"
            ))
        }
        .boxed()
    }

    fn revert_recipe(&self, _verb: ControlVerb) -> Revert {
        Revert::Nothing {
            why: "a Railway restart completes on the platform; there is nothing to undo".into(),
        }
    }
}

fn unsupported(verb: &'static str) -> DriverFuture<'static, Applied> {
    async move {
        Err(DriverError::Unsupported {
            driver: "railway",
            verb,
        })
    }
    .boxed()
}
