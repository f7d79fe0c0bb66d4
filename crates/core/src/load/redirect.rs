//! The request that follows a redirect answered to the lean client ([`super::http1_client`]).
//!
//! reqwest follows redirects itself; the lean client hands a 3xx response's `Location` back, and
//! this builds the next request exactly as reqwest's default policy would (tower-http's rules
//! for the method and body, reqwest's for sensitive headers and `Referer`), to be sent by a
//! reqwest client whose own policy then allows the rest of the chain.

use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderValue,
    PROXY_AUTHORIZATION, REFERER, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use reqwest::{Method, Request, Url};

/// How many redirects reqwest's default policy follows in one chain.
pub const MAX_REDIRECTS: usize = 10;

/// The request that follows `previous` after a `status` response with this `location`, or None
/// if reqwest would stop there and return the response as it is (not a redirect status, or a
/// `Location` that is not a URL).
pub fn follow_up(previous: &Request, status: u16, location: &str) -> Option<Request> {
    let mut method = previous.method().clone();
    let mut keep_body = true;
    match status {
        // User agents may change POST to GET (RFC 9110, 15.4.2 and 15.4.3).
        301 | 302 if method == Method::POST => {
            method = Method::GET;
            keep_body = false;
        }
        301 | 302 | 307 | 308 => {}
        303 => {
            if method != Method::HEAD {
                method = Method::GET;
            }
            keep_body = false;
        }
        _ => return None,
    }
    let next = previous.url().join(location).ok()?;
    let mut request = Request::new(method, next.clone());
    let headers = request.headers_mut();
    *headers = previous.headers().clone();
    if keep_body {
        if let Some(bytes) = previous.body().and_then(|b| b.as_bytes()) {
            *request.body_mut() = Some(bytes.to_vec().into());
        }
    } else {
        for name in [
            CONTENT_TYPE,
            CONTENT_LENGTH,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
        ] {
            request.headers_mut().remove(name);
        }
    }
    let before = previous.url();
    let headers = request.headers_mut();
    let cross_host = next.host_str() != before.host_str()
        || next.port_or_known_default() != before.port_or_known_default();
    if cross_host {
        headers.remove(AUTHORIZATION);
        headers.remove(COOKIE);
        headers.remove("cookie2");
        headers.remove(PROXY_AUTHORIZATION);
        headers.remove(WWW_AUTHENTICATE);
    }
    if let Some(referer) = referer(&next, before) {
        headers.insert(REFERER, referer);
    }
    Some(request)
}

/// The `Referer` reqwest sends: the previous URL without credentials or fragment, and none when
/// going from https to http.
fn referer(next: &Url, previous: &Url) -> Option<HeaderValue> {
    if next.scheme() == "http" && previous.scheme() == "https" {
        return None;
    }
    let mut referer = previous.clone();
    let _ = referer.set_username("");
    let _ = referer.set_password(None);
    referer.set_fragment(None);
    referer.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, url: &str, body: Option<&str>) -> Request {
        let mut r = Request::new(method, Url::parse(url).unwrap());
        r.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(b) = body {
            *r.body_mut() = Some(b.to_string().into());
        }
        r
    }

    #[test]
    fn see_other_turns_a_post_into_a_get_without_its_body() {
        let prev = request(Method::POST, "http://a.test/jobs", Some("{}"));
        let next = follow_up(&prev, 303, "/jobs/1").unwrap();
        assert_eq!(next.method(), Method::GET);
        assert_eq!(next.url().as_str(), "http://a.test/jobs/1");
        assert!(next.body().is_none());
        assert!(next.headers().get(CONTENT_TYPE).is_none());
        assert!(next.headers().get(AUTHORIZATION).is_some());
        assert_eq!(next.headers()[REFERER], "http://a.test/jobs");
    }

    #[test]
    fn temporary_redirects_keep_the_method_and_body_and_cross_hosts_drop_credentials() {
        let prev = request(Method::PUT, "http://a.test/x", Some("data"));
        let next = follow_up(&prev, 307, "http://b.test/y").unwrap();
        assert_eq!(next.method(), Method::PUT);
        assert_eq!(next.body().and_then(|b| b.as_bytes()), Some(&b"data"[..]));
        assert!(next.headers().get(AUTHORIZATION).is_none());
    }

    #[test]
    fn other_statuses_and_bad_locations_are_not_followed() {
        let prev = request(Method::GET, "http://a.test/x", None);
        assert!(follow_up(&prev, 200, "/y").is_none());
        assert!(follow_up(&prev, 300, "/y").is_none());
        assert!(follow_up(&prev, 302, "http://[bad").is_none());
        let get = follow_up(&prev, 302, "/y").unwrap();
        assert_eq!(get.method(), Method::GET);
    }
}
