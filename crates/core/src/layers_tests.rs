//! The layers of the engine, enforced: every `crate::MODULE` reference in every source file
//! (in `use` lines, paths and doc links) must point to a layer below its own module's.
//!
//! This is the one table of layers; `lib.rs`'s module docs describe the same order. A module may
//! use the modules of the layers below its own, never one of its own layer or above, so there is
//! no cycle between them. When a lower layer needs something from a higher one, move what both
//! need down (as `check`, `budget` and `target_context` were), or change the table here and say
//! why.

use std::path::Path;

/// The layers, from the bottom. Modules in one layer do not use each other.
///
/// - `status`, `stop`, `budget`, `target_context`: what everything shares and needs nothing of
///   the crate: the statuses and the verdict, why a run stopped, the run's request budget (the
///   load and the ledger's watch both spend it), and the template context and error text of
///   requests outside a scenario (preflight, fault proofs and drivers, settle, probes);
/// - `check`: what a check is and the one gating rule; it needs only the statuses;
/// - `metrics`: histograms, series and thresholds; a ledger-class threshold reads the ledger
///   through a trait the ledger implements, so metrics stay below it;
/// - `ledger`: the history of tracked work; it records latencies in the metrics' histograms;
/// - `load` and `report`: the load writes the ledger and the metrics; the report model gathers
///   the summaries of both. Neither uses the other;
/// - `faults` and `probes`: the fault and verification checks, which fill the report's fault
///   and verify sections and run load against the ledger. Neither uses the other;
/// - `engine`: the phases of a run, the only place that knows their order.
const LAYERS: &[&[&str]] = &[
    &["status", "stop", "budget", "target_context"],
    &["check"],
    &["metrics"],
    &["ledger"],
    &["load", "report"],
    &["faults", "probes"],
    &["engine"],
];

/// Files that belong to no layer: the crate root, and this test (whose examples name layers).
const OUTSIDE: &[&str] = &["lib.rs", "layers_tests.rs"];

/// The layer of a top-level module, if the table has it.
fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a file under `src` belongs to: `ledger/watch.rs` is `ledger`,
/// `check.rs` is `check`.
fn module_of(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Every `crate::MODULE` reference in `source`, with its 1-based line: `crate::a::b` gives `a`,
/// `crate::{a, b::c}` gives `a` and `b`. `$crate::` and `other_crate::` are not references.
fn references(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = source[from..].find("crate::").map(|i| from + i) {
        from = at + "crate::".len();
        let before = source[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = source[..at].matches('\n').count() + 1;
        let rest = &source[from..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group.split(',').map(str::trim).collect()
            }
            None => vec![rest],
        };
        for name in names {
            let end = name
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            if end > 0 {
                found.push((line, name[..end].to_string()));
            }
        }
    }
    found
}

/// Every reference in `source` (the file `file`, relative to `src`) that breaks the layers,
/// each naming the file, the line, the reference and the rule.
fn violations(file: &str, source: &str) -> Vec<String> {
    if OUTSIDE.contains(&file) {
        return Vec::new();
    }
    let module = module_of(file);
    let Some(own) = layer(module) else {
        return vec![format!(
            "{file}: module `{module}` is not in the table of layers in layers_tests.rs: add it \
             to the layer whose modules it uses"
        )];
    };
    let mut broken = Vec::new();
    for (line, target) in references(source) {
        if target == module {
            continue;
        }
        match layer(&target) {
            Some(theirs) if theirs < own => {}
            Some(theirs) => broken.push(format!(
                "{file}:{line}: `crate::{target}` is used by `{module}` (layer {own}), but \
                 `{target}` is in layer {theirs}: a module may use only the layers below its \
                 own; move what both need below `{module}`"
            )),
            None => broken.push(format!(
                "{file}:{line}: `crate::{target}` is not in the table of layers in \
                 layers_tests.rs"
            )),
        }
    }
    broken
}

/// Every `.rs` file under `dir`, as paths relative to `root` with `/` separators, sorted.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
    }
    out.sort();
    Ok(())
}

#[test]
fn layers_hold_in_every_source_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files).expect("the crate's src directory can be listed");
    assert!(files.len() > 100, "found only {} files", files.len());
    let broken: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let source = std::fs::read_to_string(src.join(file)).expect("a source file reads");
            violations(file, &source)
        })
        .collect();
    assert!(broken.is_empty(), "layers broken:\n{}", broken.join("\n"));
}

#[test]
fn layers_checker_names_the_file_line_reference_and_rule() {
    let source = "//! Thresholds.\n\nuse crate::metrics::histogram::LatencyHistogram;\n\
                  use crate::report::model::CheckReport;\n";
    let broken = violations("metrics/thresholds.rs", source);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0].starts_with("metrics/thresholds.rs:4: `crate::report` is used by `metrics`"),
        "{}",
        broken[0]
    );
    assert!(
        broken[0].contains("may use only the layers below"),
        "{}",
        broken[0]
    );
}

#[test]
fn layers_checker_reads_groups_paths_and_same_layer_uses() {
    let source = "use crate::{status::Status, engine::Run};\n\
                  fn f() { crate::probes::observe(); let _ = $crate::x; shakedown_crate::y(); }\n";
    let broken = violations("faults/judge.rs", source);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].starts_with("faults/judge.rs:1: `crate::engine`"));
    assert!(broken[1].starts_with("faults/judge.rs:2: `crate::probes`"));
    assert!(violations("check.rs", "use crate::status::Status;\n").is_empty());
    let unknown = violations("newcomer.rs", "");
    assert!(
        unknown[0].contains("not in the table of layers"),
        "{unknown:?}"
    );
}
