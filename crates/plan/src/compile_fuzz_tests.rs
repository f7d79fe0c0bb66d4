//! A bounded, seeded mutation test of the plan compiler: the example plans, mutated (byte flips,
//! deletions, duplicated and spliced lines, huge numbers, deep nesting, invalid UTF-8, `${`
//! fragments), each compiled and its errors rendered inside `catch_unwind`.
//!
//! It asserts that no case panics and that every error points inside the file (a span within
//! the text, a line and a column). The figures (cases, errors, panics, the slowest case) are
//! printed for `cargo test -p shakedown-plan compile_fuzz -- --nocapture`. The seed is fixed,
//! so a failure names a case that can be replayed: set `SHAKEDOWN_FUZZ_CASE` to its number to
//! print its text.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::compile_bytes;

/// The plans mutated: every example, the reference's example, and the test plans with errors.
const CORPUS: &[(&str, &str)] = &[
    ("demo", include_str!("../../../examples/demo.toml")),
    ("by-id", include_str!("../../../examples/by-id.toml")),
    (
        "c3-postgres",
        include_str!("../../../examples/c3-postgres.toml"),
    ),
    (
        "golden-path",
        include_str!("../../../examples/golden-path.toml"),
    ),
    (
        "railway-staging",
        include_str!("../../../examples/railway-staging.toml"),
    ),
    (
        "celery-gate",
        include_str!("../../../examples/celery/gate.toml"),
    ),
    ("docs-example", crate::docs::EXAMPLE),
    (
        "many-errors",
        include_str!("../../shakedown/tests/integration/plans/many_errors.toml"),
    ),
];

/// Most cases run.
const CASES: u64 = 3_000;
/// Most time spent (a debug build on a slow machine stays well inside CI's limits).
const TIME_BUDGET: Duration = Duration::from_secs(60);
/// The fixed seed of the case generator.
const SEED: u64 = 0x5EED_F022_2026_0016;

/// xorshift64*: small, seeded, and enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const HUGE: &[&str] = &[
    "99999999999999999999999",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "-1",
    "0",
    "1e309",
    "-0.0",
    "nan",
    "inf",
    "0x7fffffff",
    "1_000_000_000_000",
];

const FRAGMENTS: &[&str] = &[
    "${",
    "${X}",
    "${}",
    "${A",
    "$${X}",
    "${X:-y}",
    "${${X}}",
    "{{",
    "{{ x",
    "{{ uuid() }}",
    "{%",
    "}}",
    "\"",
    "'''",
    "[",
    "]]",
    "=",
    "\\u{0}",
    "\u{0}",
    "\u{feff}",
    "é",
    "\r",
];

const INVALID_UTF8: &[&[u8]] = &[
    &[0xff],
    &[0xc3],
    &[0xe2, 0x82],
    &[0xed, 0xa0, 0x80],
    &[0xf4, 0x90, 0x80, 0x80],
    &[0xc0, 0xaf],
];

/// Line boundaries of `bytes`: the start of every line, and the end.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

/// One line of `bytes` (with its newline) by index.
fn line(bytes: &[u8], starts: &[usize], i: usize) -> Vec<u8> {
    let start = starts[i];
    let end = starts.get(i + 1).copied().unwrap_or(bytes.len());
    bytes[start..end].to_vec()
}

/// Apply one random mutation to `bytes`.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let len = bytes.len();
    let starts = line_starts(bytes);
    let at = rng.below(len + 1);
    let line_at = starts[rng.below(starts.len())];
    match rng.below(12) {
        0 => {
            if len > 0 {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let n = 1 + rng.below(64);
            let end = (at + n).min(len);
            bytes.drain(at..end);
        }
        2 => {
            let i = rng.below(starts.len());
            let l = line(bytes, &starts, i);
            bytes.drain(starts[i]..starts[i] + l.len());
        }
        3 => {
            // A duplicated line: a key written twice, a table declared twice.
            let l = line(bytes, &starts, rng.below(starts.len()));
            let times = *rng.pick(&[1, 2, 50]);
            for _ in 0..times {
                bytes.splice(line_at..line_at, l.iter().copied());
            }
        }
        4 => {
            // A line of another plan, spliced in.
            let other = rng.pick(CORPUS).1.as_bytes();
            let other_starts = line_starts(other);
            let mut l = line(other, &other_starts, rng.below(other_starts.len()));
            if !l.ends_with(b"\n") {
                l.push(b'\n');
            }
            bytes.splice(line_at..line_at, l);
        }
        5 => {
            // A number made huge (or negative, or not a number).
            let digits: Vec<usize> = (0..len).filter(|&i| bytes[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                return;
            }
            let start = digits[rng.below(digits.len())];
            let end = (start..len)
                .find(|&i| !bytes[i].is_ascii_digit())
                .unwrap_or(len);
            bytes.splice(start..end, rng.pick(HUGE).bytes());
        }
        6 => {
            // Deep nesting, as a value of its own key or in place of a value.
            let depth = *rng.pick(&[8, 64, 200, 3_000]);
            let (open, close) = *rng.pick(&[("[", "]"), ("{a=", "}"), ("[{b=", "}]")]);
            let value = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            let text = if rng.below(2) == 0 {
                format!("deep = {value}\n")
            } else {
                value
            };
            let at = if text.ends_with('\n') { line_at } else { at };
            bytes.splice(at..at, text.into_bytes());
        }
        7 => {
            bytes.splice(at..at, rng.pick(INVALID_UTF8).iter().copied());
        }
        8 => {
            bytes.splice(at..at, rng.pick(FRAGMENTS).bytes());
        }
        9 => {
            // Two lines swapped: a key moves to another table.
            let (i, j) = (rng.below(starts.len()), rng.below(starts.len()));
            let (i, j) = (i.min(j), i.max(j));
            if i == j {
                return;
            }
            let (a, b) = (line(bytes, &starts, i), line(bytes, &starts, j));
            let mut out = bytes[..starts[i]].to_vec();
            out.extend_from_slice(&b);
            out.extend_from_slice(&bytes[starts[i] + a.len()..starts[j]]);
            out.extend_from_slice(&a);
            out.extend_from_slice(&bytes[starts[j] + b.len()..]);
            *bytes = out;
        }
        10 => bytes.truncate(at),
        _ => {
            // A string value made long, or empty.
            let quotes: Vec<usize> = (0..len).filter(|&i| bytes[i] == b'"').collect();
            if quotes.len() < 2 {
                return;
            }
            let q = rng.below(quotes.len() - 1);
            let (start, end) = (quotes[q] + 1, quotes[q + 1]);
            let long = "x".repeat(*rng.pick(&[0, 1, 10_000]));
            bytes.splice(start..end, long.into_bytes());
        }
    }
}

/// The environment of every case: URLs for `*_URL`, a long enough secret for the rest, and
/// nothing for names that start with `UNSET`.
fn env(name: &str) -> Option<String> {
    if name.starts_with("UNSET") {
        None
    } else if name.ends_with("URL") {
        Some("http://127.0.0.1:9".into())
    } else {
        Some("fuzz-value-0123456789".into())
    }
}

/// What one case did.
enum Outcome {
    Compiled,
    /// Every error, rendered; and those without a position inside the file.
    Errors {
        count: usize,
        unlocated: Vec<String>,
    },
    Panicked(String),
}

fn run_case(bytes: Vec<u8>) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let valid = match std::str::from_utf8(&bytes) {
            Ok(text) => text.len(),
            Err(e) => e.valid_up_to(),
        };
        match compile_bytes(bytes.clone(), Path::new("fuzz.toml"), &env) {
            Ok(_) => Outcome::Compiled,
            Err(errors) => {
                // Rendering is part of what a user sees: it must not panic either.
                let _rendered = errors.to_string();
                let unlocated = errors
                    .diagnostics()
                    .iter()
                    .filter(|d| {
                        !d.span
                            .as_ref()
                            .is_some_and(|s| s.start <= s.end && s.end <= valid)
                            || d.line == 0
                            || d.column == 0
                    })
                    .map(|d| format!("{}:{} {:?}: {}", d.line, d.column, d.span, d.message))
                    .collect();
                Outcome::Errors {
                    count: errors.diagnostics().len(),
                    unlocated,
                }
            }
        }
    }));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        Outcome::Panicked(message)
    })
}

/// Case `n`'s bytes: a plan of the corpus with one to four mutations.
fn case(n: u64) -> (&'static str, Vec<u8>) {
    let mut rng = Rng(SEED ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (name, text) = *rng.pick(CORPUS);
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        mutate(&mut rng, &mut bytes);
    }
    (name, bytes)
}

#[test]
fn mutated_plans_never_panic_and_every_error_points_into_the_file() {
    if let Some(n) = std::env::var("SHAKEDOWN_FUZZ_CASE")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        let (name, bytes) = case(n);
        eprintln!(
            "case {n} (from {name}):\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }
    // The panics are caught and counted; the default hook would print each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = Instant::now();
    let (mut cases, mut compiled, mut with_errors, mut errors) = (0u64, 0u64, 0u64, 0usize);
    let mut panics: Vec<(u64, &str, String)> = Vec::new();
    let mut unlocated: Vec<(u64, &str, String)> = Vec::new();
    let mut slowest = (Duration::ZERO, 0u64, "");
    for n in 0..CASES {
        if started.elapsed() > TIME_BUDGET {
            break;
        }
        let (name, bytes) = case(n);
        let t = Instant::now();
        let outcome = run_case(bytes);
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, n, name);
        }
        cases += 1;
        match outcome {
            Outcome::Compiled => compiled += 1,
            Outcome::Errors {
                count,
                unlocated: bad,
            } => {
                with_errors += 1;
                errors += count;
                unlocated.extend(bad.into_iter().map(|b| (n, name, b)));
            }
            Outcome::Panicked(message) => panics.push((n, name, message)),
        }
    }
    std::panic::set_hook(hook);
    println!(
        "plan compiler fuzz: {cases} cases (seed {SEED:#x}) in {:.1}s: {compiled} compiled, \
{with_errors} rejected with {errors} errors, {} errors without a location in the file, {} panics; \
slowest case {} (from {}) took {:.1} ms",
        started.elapsed().as_secs_f64(),
        unlocated.len(),
        panics.len(),
        slowest.1,
        slowest.2,
        slowest.0.as_secs_f64() * 1000.0
    );
    assert!(
        cases >= 500,
        "only {cases} cases ran in {TIME_BUDGET:?}: the compiler got slow"
    );
    assert!(
        panics.is_empty(),
        "{} cases panicked (replay one with SHAKEDOWN_FUZZ_CASE=N): {:?}",
        panics.len(),
        &panics[..panics.len().min(10)]
    );
    assert!(
        unlocated.is_empty(),
        "{} errors do not point into the file (replay with SHAKEDOWN_FUZZ_CASE=N): {:?}",
        unlocated.len(),
        &unlocated[..unlocated.len().min(10)]
    );
}
