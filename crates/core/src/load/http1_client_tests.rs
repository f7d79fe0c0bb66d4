//! Tests of the lean HTTP/1.1 client against a scripted server on loopback: each connection it
//! accepts is answered with the next canned responses, one per request read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::load::http1_request::{encode, lean_target};
use reqwest::header::{ACCEPT, HeaderMap};

/// A server whose connection number `i` answers its requests with `script[i]` in turn, then
/// closes. Returns the base URL and the count of connections accepted.
async fn scripted(script: Vec<Vec<&'static str>>) -> (String, Arc<AtomicUsize>) {
    serve(script, false).await
}

/// [`scripted`], holding each connection open after its script if `hold`.
async fn serve(script: Vec<Vec<&'static str>>, hold: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        for responses in script {
            let Ok((mut io, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                for response in responses {
                    // One request per read is enough for these small requests.
                    match io.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if io.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
                if hold {
                    // Keep the connection open until the client goes.
                    while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    (url, accepted)
}

fn client(url: &str) -> Http1Client {
    Http1Client::new(url, Duration::from_secs(2), Duration::from_secs(2)).unwrap()
}

fn get(url: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let url = Url::parse(url).unwrap();
    encode(
        &reqwest::Method::GET,
        &url,
        &HeaderMap::new(),
        None,
        &mut out,
    );
    out
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[test]
fn requests_are_encoded_as_reqwest_sends_them() {
    let mut headers = HeaderMap::new();
    headers.insert("x-a", "1".parse().unwrap());
    let mut out = Vec::new();
    let url = Url::parse("http://127.0.0.1:8080/p?q=1").unwrap();
    encode(
        &reqwest::Method::POST,
        &url,
        &headers,
        Some(b"hi"),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /p?q=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\naccept: */*\r\nx-a: 1\r\n\
         content-length: 2\r\n\r\nhi"
    );
    headers.insert(ACCEPT, "text/plain".parse().unwrap());
    let mut out = Vec::new();
    let url = Url::parse("http://h.test/").unwrap();
    encode(&reqwest::Method::PUT, &url, &headers, None, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("PUT / HTTP/1.1\r\nhost: h.test\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("*/*") && text.contains("content-length: 0\r\n"),
        "{text}"
    );
}

#[test]
fn only_plain_http_targets_are_lean() {
    assert!(lean_target("http://127.0.0.1:1", false));
    assert!(!lean_target("http://127.0.0.1:1", true));
    assert!(!lean_target("https://127.0.0.1:1", false));
    assert!(!lean_target("http://user:pw@127.0.0.1:1", false));
}

#[tokio::test]
async fn one_connection_carries_every_framing_of_a_body() {
    let chunked =
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
    let (url, accepted) = scripted(vec![vec![
        OK,
        chunked,
        "HTTP/1.1 204 No Content\r\n\r\n",
        OK,
    ]])
    .await;
    let mut c = client(&url);
    let mut body = Vec::new();
    let req = get(&url);
    for expected in [&b"ok"[..], b"abcde", b"", b"ok"] {
        let r = c.exchange(&req, false, 1024, &mut body).await;
        assert_eq!(r.exchange.error, None);
        assert_eq!(body, expected);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_body_to_the_close_and_connection_close_open_a_new_connection() {
    let to_close = "HTTP/1.1 200 OK\r\n\r\nall of it";
    let close = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
    let (url, accepted) = scripted(vec![vec![to_close], vec![close], vec![OK]]).await;
    let mut c = client(&url);
    let mut body = Vec::new();
    let req = get(&url);
    let r = c.exchange(&req, false, 1024, &mut body).await;
    assert_eq!(
        (r.exchange.status, &body[..]),
        (Some(200), &b"all of it"[..])
    );
    for _ in 0..2 {
        let r = c.exchange(&req, false, 1024, &mut body).await;
        assert_eq!((r.exchange.status, &body[..]), (Some(200), &b"ok"[..]));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_reused_connection_the_server_closed_is_reopened_once() {
    // The first connection answers once and closes; the request is sent again on a new one.
    let (url, accepted) = scripted(vec![vec![OK], vec![OK]]).await;
    let mut c = client(&url);
    let mut body = Vec::new();
    let req = get(&url);
    for _ in 0..2 {
        let r = c.exchange(&req, false, 1024, &mut body).await;
        assert_eq!(r.exchange.error, None);
        // Let the server close its side.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_fresh_connection_closed_without_a_response_is_a_request_error() {
    let (url, _) = scripted(vec![vec![]]).await;
    let mut c = client(&url);
    let r = c.exchange(&get(&url), false, 1024, &mut Vec::new()).await;
    assert_eq!(r.exchange.status, None);
    assert!(
        matches!(r.exchange.error, Some(ExchangeError::Request(_))),
        "{:?}",
        r.exchange.error
    );
}

#[tokio::test]
async fn bodies_over_the_cap_fail_whatever_their_framing() {
    let long = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789";
    let chunked =
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n";
    let to_close = "HTTP/1.1 200 OK\r\n\r\n0123456789";
    let (url, _) = scripted(vec![vec![long], vec![chunked], vec![to_close]]).await;
    let mut c = client(&url);
    let mut body = Vec::new();
    for _ in 0..3 {
        let r = c.exchange(&get(&url), false, 4, &mut body).await;
        assert_eq!(r.exchange.status, Some(200));
        assert_eq!(r.exchange.error, Some(ExchangeError::TooLarge { cap: 4 }));
    }
    // A body at the cap is fine.
    let (url, _) = scripted(vec![vec![long]]).await;
    let r = client(&url)
        .exchange(&get(&url), false, 10, &mut body)
        .await;
    assert_eq!(r.exchange.error, None);
}

#[tokio::test]
async fn a_stalled_response_is_a_timeout_and_a_refused_one_a_connect_error() {
    // A head with a body that never comes.
    let stalled = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab";
    let (url, _) = serve(vec![vec![stalled]], true).await;
    let mut c = Http1Client::new(&url, Duration::from_secs(2), Duration::from_millis(200)).unwrap();
    let r = c.exchange(&get(&url), false, 1024, &mut Vec::new()).await;
    assert_eq!(r.exchange.status, Some(200));
    assert!(matches!(r.exchange.error, Some(ExchangeError::Timeout(_))));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let r = client(&url)
        .exchange(&get(&url), false, 1024, &mut Vec::new())
        .await;
    assert!(matches!(r.exchange.error, Some(ExchangeError::Connect(_))));
}

#[tokio::test]
async fn interim_responses_are_skipped_head_has_no_body_and_redirects_hand_back_location() {
    let interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
    let moved = "HTTP/1.1 302 Found\r\nlocation: /next\r\ncontent-length: 0\r\n\r\n";
    let (url, accepted) = scripted(vec![vec![interim, head, moved]]).await;
    let mut c = client(&url);
    let mut body = Vec::new();
    let r = c.exchange(&get(&url), false, 1024, &mut body).await;
    assert_eq!((r.exchange.status, &body[..]), (Some(200), &b"ok"[..]));
    let r = c.exchange(&get(&url), true, 1024, &mut body).await;
    assert_eq!((r.exchange.status, r.exchange.error), (Some(200), None));
    let r = c.exchange(&get(&url), false, 1024, &mut body).await;
    assert_eq!(r.exchange.status, Some(302));
    assert_eq!(r.location.as_deref(), Some("/next"));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_malformed_response_is_a_request_error() {
    let (url, _) = scripted(vec![vec!["SMTP ready\r\n\r\n"]]).await;
    let r = client(&url)
        .exchange(&get(&url), false, 1024, &mut Vec::new())
        .await;
    assert!(matches!(r.exchange.error, Some(ExchangeError::Request(_))));
}

#[tokio::test]
async fn bodies_larger_than_the_read_buffer_arrive_whole() {
    let big = "x".repeat(READ_BUF * 40);
    let long: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{big}",
            big.len()
        )
        .into_boxed_str(),
    );
    let chunked: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
            big.len()
        )
        .into_boxed_str(),
    );
    let (url, accepted) = serve(vec![vec![long, chunked, OK]], true).await;
    let mut c = client(&url);
    let mut body = Vec::new();
    for expected in [big.as_bytes(), big.as_bytes(), b"ok"] {
        let r = c.exchange(&get(&url), false, 1 << 20, &mut body).await;
        assert_eq!(r.exchange.error, None);
        assert_eq!(body.len(), expected.len());
        assert!(body == expected);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// A one-test load run of `rounds(1, 1)` with one GET step to `path` on `url`.
async fn run_one(url: &str, path: &str) -> crate::metrics::summary::LoadSummary {
    use super::super::test_server::{http, load_test, plan, step, target};
    use crate::ledger::history::Ledger;
    use shakedown_plan::model::{Executor, Method};
    use shakedown_plan::redact::Redactor;

    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(plan(
        vec![target("api", url)],
        vec![("s", vec![step(http("get", Method::Get, "api", path))])],
        vec![load_test(
            "L1",
            &[("s", 1)],
            Executor::Rounds {
                concurrency: 1,
                rounds: 1,
            },
        )],
    ));
    let ledger = Ledger::create(
        &dir.path().join("history.jsonl"),
        plan.clone(),
        Redactor::new(&plan.secrets),
    )
    .unwrap();
    let env = super::super::LoadEnv {
        plan: plan.clone(),
        ledger,
        budget: Arc::new(super::super::RequestBudget::new(
            100,
            Instant::now() + Duration::from_secs(60),
        )),
        progress: false,
        run_id: "test-run".into(),
        run_start: Instant::now(),
    };
    let run = super::super::run_load_test(
        &env,
        &plan.load_tests[0],
        tokio_util::sync::CancellationToken::new(),
    );
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the load test ended in time")
        .summary
}

#[tokio::test]
async fn a_redirect_is_followed_as_reqwest_would_and_counts_as_one_request() {
    // The lean client gets the 302 on the first connection; reqwest follows it on a second.
    let moved = "HTTP/1.1 302 Found\r\nlocation: /b\r\ncontent-length: 0\r\n\r\n";
    let (url, accepted) = serve(vec![vec![moved], vec![OK]], true).await;
    let s = run_one(&url, "/a").await;
    assert_eq!((s.requests, s.failures, s.errors), (1, 0, 0));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);

    // A redirect whose target fails is that request's failure.
    let (url, _) = serve(vec![vec![moved]], false).await;
    let s = run_one(&url, "/a").await;
    assert_eq!((s.requests, s.failures), (1, 1));
}
