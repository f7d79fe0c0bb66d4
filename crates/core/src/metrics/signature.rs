//! Error signatures: failures clustered by what they have in common, so a report says "503 on
//! POST create: 180 of 200" instead of listing 180 messages that differ only in an id.
//!
//! A signature is the status class, the method, the step and the error text with the variable
//! parts (numbers, uuids, hex ids) replaced, truncated. The table keeps a bounded number of
//! distinct signatures; anything beyond the cap is counted under one overflow entry.

use std::collections::HashMap;

use super::summary::ErrorCluster;

/// Most distinct signatures kept per table; further ones are counted under [`OVERFLOW`].
pub const MAX_SIGNATURES: usize = 64;
/// Longest normalised error text kept in a signature, in characters.
pub const MAX_TEXT: usize = 160;
/// Longest example message kept, in characters.
pub const MAX_EXAMPLE: usize = 400;
/// The signature under which failures beyond the cap are counted.
pub const OVERFLOW: &str = "(other signatures beyond the cap)";

/// The status class of a response ("2xx", "4xx", ...), or "error" when there was none.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        None => "error",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

/// The signature of one failure: `"{class} {method} {step}: {normalised text}"`. A WebSocket
/// that upgraded (101 Switching Protocols) has no class worth showing: its failure happened after
/// the handshake, so the signature is `"WS {step}: {text}"`.
pub fn signature(status: Option<u16>, method: &str, step: &str, text: &str) -> String {
    match status {
        Some(101) => format!("{method} {step}: {}", normalise(text)),
        _ => format!(
            "{} {method} {step}: {}",
            status_class(status),
            normalise(text)
        ),
    }
}

/// Replace the variable parts of an error text: uuids become `<uuid>`, hex ids (eight or more hex
/// digits with at least one digit) `<hex>`, and other digit runs `<n>`, except three-digit HTTP
/// statuses right after the word "status", "HTTP" or "expected" (and lists of them: "expected
/// [200, 201]"), and WebSocket close codes (1000 to 4999) right after "close" or "closed", so
/// that "closed 1000 right after connect" keeps its code. Whitespace runs collapse to one space,
/// and the result is truncated to [`MAX_TEXT`] characters.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT + 8));
    // Whether the next number may be a status: set by "status", "HTTP", "expected" or a status.
    let mut status_context = false;
    // Whether the next number may be a close code: set by "close" or "closed".
    let mut close_context = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if out.len() > MAX_TEXT * 4 {
            break;
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            rest = rest.trim_start();
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if let Some(len) = uuid_len(rest) {
            out.push_str("<uuid>");
            rest = &rest[len..];
            status_context = false;
            continue;
        }
        let end = rest
            .find(|ch: char| !ch.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if close_context && is_close_code(word) {
            out.push_str(word);
            rest = &rest[end..];
            close_context = false;
            continue;
        }
        close_context = word.eq_ignore_ascii_case("close") || word.eq_ignore_ascii_case("closed");
        let kept_status = push_word(&mut out, word, status_context);
        status_context = kept_status
            || word.eq_ignore_ascii_case("status")
            || word == "HTTP"
            || word == "expected";
        rest = &rest[end..];
    }
    truncate(out.trim_end(), MAX_TEXT)
}

/// Whether `word` is a WebSocket close code (four digits, 1000 to 4999).
fn is_close_code(word: &str) -> bool {
    word.len() == 4
        && word
            .parse::<u16>()
            .is_ok_and(|c| (1000..=4999).contains(&c))
}

/// Append `word` with its variable parts replaced; true if it was kept as an HTTP status.
fn push_word(out: &mut String, word: &str, status_context: bool) -> bool {
    let all_digits = word.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        let keeps_status =
            status_context && word.len() == 3 && matches!(word.as_bytes()[0], b'1'..=b'5');
        out.push_str(if keeps_status { word } else { "<n>" });
        return keeps_status;
    }
    let is_hex_id = word.len() >= 8
        && word.bytes().all(|b| b.is_ascii_hexdigit())
        && word.bytes().any(|b| b.is_ascii_digit());
    if is_hex_id {
        out.push_str("<hex>");
        return false;
    }
    // Letters with embedded numbers ("10ms", "vu3"): keep the letters.
    let mut in_digits = false;
    for ch in word.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push_str("<n>");
                in_digits = true;
            }
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    false
}

/// Length of a uuid (8-4-4-4-12 hex digits) at the start of `s`, if there is one.
fn uuid_len(s: &str) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = s.as_bytes();
    let mut pos = 0;
    for (i, len) in GROUPS.iter().enumerate() {
        if i > 0 {
            if bytes.get(pos) != Some(&b'-') {
                return None;
            }
            pos += 1;
        }
        let group = bytes.get(pos..pos + len)?;
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        pos += len;
    }
    // A uuid followed directly by more alphanumerics is something else.
    match bytes.get(pos) {
        Some(b) if b.is_ascii_alphanumeric() => None,
        _ => Some(pos),
    }
}

/// Most distinct example messages kept per signature.
pub const MAX_EXAMPLES: usize = 3;

/// One signature's count, examples and when it was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct SignatureEntry {
    /// Failures with this signature.
    pub count: u64,
    /// The first raw message seen (already redacted by the caller), truncated.
    pub example: String,
    /// Up to [`MAX_EXAMPLES`] distinct raw messages (redacted, truncated), first seen first.
    pub examples: Vec<String>,
    /// The first second (since the start of the run) a failure with it was seen, if known.
    pub first_second: Option<u64>,
    /// The last second (since the start of the run) a failure with it was seen, if known.
    pub last_second: Option<u64>,
}

impl SignatureEntry {
    fn new(example: &str) -> SignatureEntry {
        let example = truncate(example, MAX_EXAMPLE);
        SignatureEntry {
            count: 0,
            examples: vec![example.clone()],
            example,
            first_second: None,
            last_second: None,
        }
    }

    fn absorb(&mut self, count: u64, examples: &[String], first: Option<u64>, last: Option<u64>) {
        self.count += count;
        for e in examples {
            if self.examples.len() < MAX_EXAMPLES && !self.examples.contains(e) {
                self.examples.push(e.clone());
            }
        }
        self.first_second = min_some(self.first_second, first);
        self.last_second = self.last_second.max(last);
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Failures counted by signature, with a cap on distinct signatures. Mergeable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignatureTable {
    entries: HashMap<String, SignatureEntry>,
}

impl SignatureTable {
    /// Count one failure under `signature`, keeping `example` if it is the first.
    pub fn add(&mut self, signature: String, example: &str) {
        self.add_at(signature, example, None);
    }

    /// Count one failure under `signature` seen in `second` (since the start of the run),
    /// keeping `example` among the first distinct ones.
    pub fn add_at(&mut self, signature: String, example: &str, second: Option<u64>) {
        let example = truncate(example, MAX_EXAMPLE);
        self.add_n(signature, 1, &[example], second, second);
    }

    fn add_n(
        &mut self,
        signature: String,
        count: u64,
        examples: &[String],
        first: Option<u64>,
        last: Option<u64>,
    ) {
        let key = if self.entries.contains_key(&signature) || self.entries.len() < MAX_SIGNATURES {
            signature
        } else {
            OVERFLOW.to_string()
        };
        let first_example = examples.first().map_or("", String::as_str);
        self.entries
            .entry(key)
            .or_insert_with(|| SignatureEntry::new(first_example))
            .absorb(count, examples, first, last);
    }

    /// Add every count of `other`.
    pub fn merge(&mut self, other: &SignatureTable) {
        // Largest first, so the cap keeps the most frequent signatures.
        let mut theirs: Vec<(&String, &SignatureEntry)> = other.entries.iter().collect();
        theirs.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
        for (signature, entry) in theirs {
            self.add_n(
                signature.clone(),
                entry.count,
                &entry.examples,
                entry.first_second,
                entry.last_second,
            );
        }
    }

    /// Number of distinct signatures (the overflow entry included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no failure was counted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total failures counted.
    pub fn total(&self) -> u64 {
        self.entries.values().map(|e| e.count).sum()
    }

    /// The count of one signature.
    pub fn count(&self, signature: &str) -> u64 {
        self.entries.get(signature).map_or(0, |e| e.count)
    }

    /// The clusters, largest first (ties by signature, so the order is stable), without their
    /// share of attempts (see [`SignatureTable::clusters_over`]).
    pub fn clusters(&self) -> Vec<ErrorCluster> {
        self.clusters_over(0)
    }

    /// The clusters, largest first, each with its share of `attempts` (0 when unknown).
    pub fn clusters_over(&self, attempts: u64) -> Vec<ErrorCluster> {
        let mut clusters: Vec<ErrorCluster> = self
            .entries
            .iter()
            .map(|(signature, e)| ErrorCluster {
                signature: signature.clone(),
                count: e.count,
                example: e.example.clone(),
                share: if attempts > 0 {
                    (e.count as f64 / attempts as f64).min(1.0)
                } else {
                    0.0
                },
                first_second: e.first_second,
                last_second: e.last_second,
                examples: e.examples.clone(),
                during_fault: None,
            })
            .collect();
        clusters.sort_by(|a, b| b.count.cmp(&a.count).then(a.signature.cmp(&b.signature)));
        clusters
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_uuids_and_hex_ids_are_replaced() {
        assert_eq!(
            normalise("run 3f2b8c1e-1d2a-4b7c-9e0f-0123456789ab not found after 1500ms"),
            "run <uuid> not found after <n>ms"
        );
        assert_eq!(
            normalise("connect: Connection refused (os error 111) to 127.0.0.1:40123"),
            "connect: Connection refused (os error <n>) to <n>.<n>.<n>.<n>:<n>"
        );
        assert_eq!(
            normalise("object deadbeef0042 is gone"),
            "object <hex> is gone"
        );
        // A plain word made of hex letters only is a word, not an id.
        assert_eq!(normalise("deadbeefcafe   failed"), "deadbeefcafe failed");
    }

    #[test]
    fn close_codes_after_close_are_kept() {
        assert_eq!(
            normalise("closed-early: server sent close 1000 (normal) after 3 events"),
            "closed-early: server sent close 1000 (normal) after <n> events"
        );
        assert_eq!(normalise("closed 1006 at 1234"), "closed 1006 at <n>");
        assert_eq!(normalise("close 99999"), "close <n>");
    }

    #[test]
    fn http_statuses_after_status_are_kept() {
        assert_eq!(
            normalise("status 503, expected [201, 202]: run 42"),
            "status 503, expected [201, 202]: run <n>"
        );
        assert_eq!(normalise("expected one of [201]"), "expected one of [<n>]");
        assert_eq!(normalise("took 503 ms"), "took <n> ms");
    }

    #[test]
    fn messages_differing_only_in_ids_share_a_signature() {
        let a = signature(
            Some(404),
            "GET",
            "fetch",
            "run 17 not found (id 9a8b7c6d5e4f)",
        );
        let b = signature(
            Some(404),
            "GET",
            "fetch",
            "run 4242 not found (id 0011aabbccdd)",
        );
        assert_eq!(a, b);
        assert_eq!(a, "4xx GET fetch: run <n> not found (id <hex>)");
        let c = signature(None, "GET", "fetch", "run 17 not found (id 9a8b7c6d5e4f)");
        assert_ne!(a, c, "the status class is part of the signature");
    }

    #[test]
    fn an_upgraded_websocket_shows_no_status_class() {
        let upgraded = signature(
            Some(101),
            "WS",
            "agent",
            "closed-early: closed 1000 right after connect",
        );
        assert_eq!(
            upgraded,
            "WS agent: closed-early: closed 1000 right after connect"
        );
        let refused = signature(Some(403), "WS", "agent", "handshake-refused: status 403");
        assert_eq!(refused, "4xx WS agent: handshake-refused: status 403");
    }

    #[test]
    fn long_texts_are_truncated() {
        let long = "x".repeat(1000);
        let n = normalise(&long);
        assert!(n.chars().count() <= MAX_TEXT + 1);
        assert!(n.ends_with('…'));
    }

    #[test]
    fn the_table_caps_distinct_signatures() {
        let mut t = SignatureTable::default();
        for i in 0..(MAX_SIGNATURES + 10) {
            t.add(format!("sig-{i}"), "example");
        }
        t.add("sig-0".into(), "again");
        assert_eq!(t.len(), MAX_SIGNATURES + 1);
        assert_eq!(t.count(OVERFLOW), 10);
        assert_eq!(t.count("sig-0"), 2);
        assert_eq!(t.total(), MAX_SIGNATURES as u64 + 11);
        let clusters = t.clusters();
        assert_eq!(clusters[0].signature, OVERFLOW);
        assert_eq!(clusters[1].signature, "sig-0");
        assert_eq!(clusters[1].example, "example");
    }

    #[test]
    fn tables_merge() {
        let mut a = SignatureTable::default();
        a.add("x".into(), "first");
        let mut b = SignatureTable::default();
        b.add("x".into(), "second");
        b.add("y".into(), "other");
        a.merge(&b);
        assert_eq!(a.count("x"), 2);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.clusters()[0].example, "first");
    }

    #[test]
    fn clusters_keep_their_share_first_and_last_second_and_distinct_examples() {
        let mut a = SignatureTable::default();
        a.add_at("x".into(), "run 1 failed", Some(4));
        a.add_at("x".into(), "run 1 failed", Some(2));
        a.add_at("x".into(), "run 2 failed", Some(9));
        let mut b = SignatureTable::default();
        for i in 3..8 {
            b.add_at("x".into(), &format!("run {i} failed"), Some(12));
        }
        a.merge(&b);
        let c = &a.clusters_over(40)[0];
        assert_eq!(c.count, 8);
        assert_eq!(c.share, 0.2);
        assert_eq!((c.first_second, c.last_second), (Some(2), Some(12)));
        assert_eq!(c.examples, ["run 1 failed", "run 2 failed", "run 3 failed"]);
        assert_eq!(c.during_fault, None);
        assert_eq!(a.clusters()[0].share, 0.0, "no attempts known, no share");
    }
}
