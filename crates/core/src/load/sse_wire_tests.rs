//! Tests of the lean SSE client against small servers on loopback that answer with canned bytes.

use super::*;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server for one connection: it reads the request head (and a body of `content-length`
/// bytes), writes `pieces` one write at a time, then closes. The join handle yields the request.
async fn serve(pieces: Vec<Vec<u8>>) -> (Url, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handle = tokio::spawn(async move {
        let (mut io, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if io.read(&mut byte).await.expect("read") == 0 {
                break;
            }
            request.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&request).to_string();
        let length = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        io.read_exact(&mut body).await.expect("body");
        for piece in pieces {
            if io.write_all(&piece).await.is_err() {
                break;
            }
            io.flush().await.expect("flush");
            tokio::task::yield_now().await;
        }
        format!("{text}{}", String::from_utf8_lossy(&body))
    });
    let url = Url::parse(&format!("http://127.0.0.1:{port}/runs/7/events?from=1")).expect("url");
    (url, handle)
}

fn request<'a>(
    method: &'a Method,
    url: &'a Url,
    headers: &'a [(HeaderName, HeaderValue)],
) -> SseRequest<'a> {
    SseRequest {
        method,
        url,
        headers,
        last_event_id: None,
        body: None,
        connect_timeout: Duration::from_secs(5),
    }
}

/// Read the whole body: its bytes, or the error that ended it.
async fn read_all(response: &mut SseResponse) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

const EVENT_STREAM: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n";

#[tokio::test]
async fn a_chunked_stream_after_an_interim_response_is_read_piece_by_piece() {
    let head =
        format!("HTTP/1.1 100 Continue\r\n\r\n{EVENT_STREAM}transfer-encoding: chunked\r\n\r\n");
    let pieces = vec![
        head.into_bytes(),
        b"f\r\nid: 1\ndata: a\n\n\r\n".to_vec(),
        b"f\r\nid: 2\ndata: bb".to_vec(),
        b"\n\r\n0\r\n\r\n".to_vec(),
    ];
    let (url, server) = serve(pieces).await;
    let headers = [(
        reqwest::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer t0k"),
    )];
    let mut req = request(&Method::GET, &url, &headers);
    req.last_event_id = Some(HeaderValue::from_static("41"));
    let mut response = open_lean(&req).await.expect("opens");
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type, "text/event-stream");
    let body = read_all(&mut response).await.expect("a complete body");
    assert_eq!(body, b"id: 1\ndata: a\n\nid: 2\ndata: bb\n");
    let sent = server.await.expect("server");
    let port = url.port().expect("port");
    assert!(
        sent.starts_with(&format!(
            "GET /runs/7/events?from=1 HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        )),
        "{sent}"
    );
    for line in [
        "accept: text/event-stream\r\n",
        "cache-control: no-cache\r\n",
        "authorization: Bearer t0k\r\n",
        "last-event-id: 41\r\n",
    ] {
        assert!(sent.contains(line), "{line:?} missing from {sent}");
    }
    assert!(!sent.contains("content-length"), "{sent}");
}

#[tokio::test]
async fn a_post_body_is_sent_and_a_length_delimited_response_ends_at_its_length() {
    let pieces =
        vec![format!("{EVENT_STREAM}content-length: 9\r\n\r\ndata: x\n\nNOT BODY").into_bytes()];
    let (url, server) = serve(pieces).await;
    let mut req = request(&Method::POST, &url, &[]);
    req.body = Some(br#"{"a":1}"#);
    let mut response = open_lean(&req).await.expect("opens");
    assert_eq!(read_all(&mut response).await.expect("body"), b"data: x\n\n");
    let sent = server.await.expect("server");
    assert!(
        sent.starts_with("POST /runs/7/events?from=1 HTTP/1.1\r\n"),
        "{sent}"
    );
    assert!(
        sent.contains("content-type: application/json\r\n"),
        "{sent}"
    );
    assert!(
        sent.ends_with("content-length: 7\r\n\r\n{\"a\":1}"),
        "{sent}"
    );
}

#[tokio::test]
async fn a_body_without_framing_runs_to_the_close() {
    let pieces = vec![
        format!("{EVENT_STREAM}\r\ndata: one\n\n").into_bytes(),
        b"data: two\n\n".to_vec(),
    ];
    let (url, _server) = serve(pieces).await;
    let mut response = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect("opens");
    let body = read_all(&mut response).await.expect("ends at the close");
    assert_eq!(body, b"data: one\n\ndata: two\n\n");
}

#[tokio::test]
async fn a_close_in_the_middle_of_a_chunk_is_a_broken_body_and_bad_framing_a_protocol_error() {
    let cut = vec![
        format!("{EVENT_STREAM}transfer-encoding: chunked\r\n\r\n20\r\ndata: cut").into_bytes(),
    ];
    let (url, _server) = serve(cut).await;
    let mut response = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect("opens");
    let err = read_all(&mut response).await.expect_err("cut short");
    assert!(matches!(err, BodyError::Broken(_)), "{err:?}");

    let bad = vec![format!("{EVENT_STREAM}transfer-encoding: chunked\r\n\r\nzz\r\n").into_bytes()];
    let (url, _server) = serve(bad).await;
    let mut response = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect("opens");
    let err = read_all(&mut response).await.expect_err("bad framing");
    assert_eq!(
        err,
        BodyError::Protocol("a broken chunked body: a chunk size that is not hexadecimal".into())
    );
}

#[tokio::test]
async fn garbage_silence_and_a_refused_port_fail_to_open_with_their_kind() {
    let (url, _server) = serve(vec![b"\xff\xfe not http\r\n\r\n".to_vec()]).await;
    let err = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect_err("garbage");
    assert!(matches!(err, OpenError::Protocol(_)), "{err:?}");

    let (url, _server) = serve(Vec::new()).await;
    let err = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect_err("closed");
    assert_eq!(
        err,
        OpenError::Broken("the server closed the connection without a response".into())
    );

    let huge = format!("HTTP/1.1 200 OK\r\nx-pad: {}\r\n", "p".repeat(MAX_HEAD));
    let (url, _server) = serve(vec![huge.into_bytes()]).await;
    let err = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect_err("huge head");
    assert!(err.to_string().contains("larger than"), "{err}");

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address").port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let err = open_lean(&request(&Method::GET, &url, &[]))
        .await
        .expect_err("refused");
    assert!(matches!(err, OpenError::Connect(_)), "{err:?}");
    assert!(err.to_string().starts_with("connect: "), "{err}");
}

#[tokio::test]
async fn the_reqwest_path_sends_the_same_headers_and_reads_the_same_body() {
    let head = format!("{EVENT_STREAM}transfer-encoding: chunked\r\n\r\n");
    let pieces = vec![head.into_bytes(), b"9\r\ndata: r\n\n\r\n0\r\n\r\n".to_vec()];
    let (url, server) = serve(pieces).await;
    let headers = [(
        reqwest::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer t0k"),
    )];
    let mut req = request(&Method::GET, &url, &headers);
    req.last_event_id = Some(HeaderValue::from_static("9"));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut response = open_reqwest(&client, &req).await.expect("opens");
    assert_eq!(response.status, 200);
    assert_eq!(response.content_type, "text/event-stream");
    assert_eq!(read_all(&mut response).await.expect("body"), b"data: r\n\n");
    let sent = server.await.expect("server");
    for line in [
        "GET /runs/7/events?from=1 HTTP/1.1\r\n",
        "accept: text/event-stream\r\n",
        "cache-control: no-cache\r\n",
        "authorization: Bearer t0k\r\n",
        "last-event-id: 9\r\n",
    ] {
        assert!(sent.contains(line), "{line:?} missing from {sent}");
    }
}

/// Read one request head from `io`: its request line, or None at the end of the connection.
async fn request_line(io: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if io.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    text.lines().next().map(str::to_string)
}

#[tokio::test]
async fn a_redirect_answered_to_the_lean_client_is_followed_by_reqwest() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    // Every connection: `/moved` gets the stream, anything else a redirect to it.
    let server = tokio::spawn(async move {
        let mut lines = Vec::new();
        loop {
            let (mut io, _) = listener.accept().await.expect("accept");
            while let Some(line) = request_line(&mut io).await {
                lines.push(line.clone());
                if line.starts_with("GET /moved ") {
                    let stream = format!("{EVENT_STREAM}content-length: 9\r\n\r\ndata: m\n\n");
                    io.write_all(stream.as_bytes()).await.expect("write");
                    return lines;
                }
                let redirect =
                    "HTTP/1.1 302 Found\r\nlocation: /moved\r\ncontent-length: 0\r\n\r\n";
                io.write_all(redirect.as_bytes()).await.expect("write");
            }
        }
    });
    let url = Url::parse(&format!("http://127.0.0.1:{port}/events")).expect("url");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let req = request(&Method::GET, &url, &[]);
    let mut response = open(&req, || Ok(&client)).await.expect("opens");
    assert_eq!(response.status, 200);
    assert_eq!(read_all(&mut response).await.expect("body"), b"data: m\n\n");
    let lines = server.await.expect("server");
    if !lean(&url) {
        return; // a proxy in the environment: reqwest alone served it
    }
    assert_eq!(
        lines,
        [
            "GET /events HTTP/1.1",
            "GET /events HTTP/1.1",
            "GET /moved HTTP/1.1"
        ],
        "the lean client's request, then reqwest's and the one it was redirected to"
    );
}

#[test]
fn only_plain_http_without_credentials_takes_the_lean_client() {
    let url = |s: &str| Url::parse(s).expect("url");
    assert_eq!(lean(&url("http://127.0.0.1:8080/e")), !env_proxy());
    assert!(!lean(&url("https://127.0.0.1:8443/e")));
    assert!(!lean(&url("http://user:secret@127.0.0.1:8080/e")));
}
