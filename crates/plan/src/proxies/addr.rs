//! `{{ proxies.NAME.addr }}`, `{{ proxies.NAME.host }}` and `{{ proxies.NAME.port }}`: where a
//! plan writes the address of one of its proxies, which is only known once the proxy listens
//! (port 0 picks a free port). The compiler checks each placeholder; the engine replaces them
//! when the proxies have started (`proxies::model::bind_addresses`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

/// The parts of a proxy's address a placeholder can ask for.
pub const PARTS: &[&str] = &["addr", "host", "port"];

/// One `{{ proxies.NAME.PART }}` in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte range of the whole `{{ ... }}`.
    pub range: Range<usize>,
    /// The proxy's name.
    pub proxy: String,
    /// The part asked for, as written (valid ones are in [`PARTS`]).
    pub part: String,
}

/// Every `{{ proxies.... }}` in `s` (other `{{ ... }}` are left to templating).
pub fn placeholders(s: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("{{").map(|i| from + i) {
        let Some(close) = s[open..].find("}}").map(|i| open + i) else {
            break;
        };
        let inner = s[open + 2..close].trim();
        if let Some(rest) = inner.strip_prefix("proxies.") {
            let (proxy, part) = rest.rsplit_once('.').unwrap_or((rest, ""));
            found.push(Placeholder {
                range: open..close + 2,
                proxy: proxy.to_string(),
                part: part.to_string(),
            });
        }
        from = close + 2;
    }
    found
}

/// `s` with every placeholder of a proxy in `addrs` replaced by its address (or host, or port).
pub fn substitute<'a>(s: &'a str, addrs: &BTreeMap<String, SocketAddr>) -> Cow<'a, str> {
    let found = placeholders(s);
    if found.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for p in found {
        let Some(addr) = addrs.get(&p.proxy) else {
            continue;
        };
        let value = match p.part.as_str() {
            "addr" => addr.to_string(),
            "host" => addr.ip().to_string(),
            "port" => addr.port().to_string(),
            _ => continue,
        };
        out.push_str(&s[at..p.range.start]);
        out.push_str(&value);
        at = p.range.end;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

/// `s` with every placeholder replaced by a sample address, to validate the rest of it (a URL
/// with `{{ proxies.api.addr }}` as its host is a valid URL once the proxy listens).
pub fn with_sample_addresses(s: &str) -> Cow<'_, str> {
    let sample: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9));
    let addrs: BTreeMap<String, SocketAddr> = placeholders(s)
        .into_iter()
        .map(|p| (p.proxy, sample))
        .collect();
    substitute(s, &addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_replaced() {
        let s = "postgres://u@{{ proxies.db.addr }}/x?host={{proxies.db.host}}&p={{ proxies.db.port }}&v={{ vars.x }}";
        let found = placeholders(s);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].proxy, "db");
        assert_eq!(found[1].part, "host");
        let addrs = BTreeMap::from([("db".to_string(), "127.0.0.1:4242".parse().unwrap())]);
        assert_eq!(
            substitute(s, &addrs),
            "postgres://u@127.0.0.1:4242/x?host=127.0.0.1&p=4242&v={{ vars.x }}"
        );
        assert!(matches!(substitute("plain", &addrs), Cow::Borrowed(_)));
        assert_eq!(
            with_sample_addresses("http://{{ proxies.api.addr }}"),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn unknown_parts_are_reported_not_replaced() {
        let s = "{{ proxies.db.url }}";
        assert_eq!(placeholders(s)[0].part, "url");
        let addrs = BTreeMap::from([("db".to_string(), "127.0.0.1:1".parse().unwrap())]);
        assert_eq!(substitute(s, &addrs), s);
    }
}
