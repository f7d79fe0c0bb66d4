//! The same guarantees on the other backends: the core scenario against a real Postgres, and
//! packages written to S3 (moto).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use super::core::{assert_local_packages, core_scenario};
use super::{start, steps, submit_many};
use crate::support::package::{Package, assert_package_ok};
use crate::support::postgres::Postgres;
use crate::support::s3::S3Server;
use crate::support::stack::StackOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_runs_survive_a_worker_kill_exactly_once_on_postgres() {
    let postgres = Postgres::start();
    let url = postgres.create_database("testbed");
    let (mut stack, client) =
        start(StackOptions::new().step_ms(10).lease_ms(500).database(&url)).await;
    assert!(stack.info.database.starts_with("postgres://"));
    let runs = core_scenario(&mut stack, &client).await;
    assert_local_packages(&stack, &runs);
    assert!(stack.stop().success());
}

async fn s3_packages(endpoint: &str, bucket: &str) -> BTreeMap<String, Package> {
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testbed")
        .with_secret_access_key("testbed")
        .build()
        .expect("an S3 client");
    let objects: Vec<_> = store
        .list(None)
        .try_collect()
        .await
        .expect("listing the bucket");
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    for object in objects {
        let path = object.location.to_string();
        let parts: Vec<&str> = path.split('/').collect();
        let ["runs", run, name] = parts[..] else {
            panic!("object outside runs/<id>/: {path}");
        };
        let bytes = store
            .get(&object.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
        packages
            .entry(run.to_owned())
            .or_default()
            .insert(name.to_owned(), bytes.to_vec());
    }
    packages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_are_written_to_s3() {
    let s3 = S3Server::start();
    s3.create_bucket("gate-artifacts");
    let (stack, client) = start(StackOptions::new().s3(&s3.endpoint(), "gate-artifacts")).await;
    assert_eq!(stack.info.artifacts, "s3://gate-artifacts/");
    let ready = client.get("/health/ready").await;
    assert_eq!(ready.status, reqwest::StatusCode::OK, "{:?}", ready.body);
    let ids = submit_many(&client, "s3", 4, steps(1)).await;
    let runs = client.wait_terminal(&ids, Duration::from_secs(60)).await;
    let packages = s3_packages(&s3.endpoint(), "gate-artifacts").await;
    assert_eq!(packages.len(), runs.len());
    for run in &runs {
        assert_eq!(run["status"], "completed");
        assert_eq!(
            run["artifact_prefix"],
            format!(
                "gate-artifacts/runs/{}/",
                run["id"].as_str().unwrap_or_default()
            )
        );
        let id = run["id"].as_str().expect("id");
        assert_package_ok(&packages[id], id, run["key"].as_str().expect("key"));
    }
    assert!(
        !stack
            .info
            .data_dir
            .join("artifacts")
            .join("gate-artifacts")
            .exists()
    );
}
