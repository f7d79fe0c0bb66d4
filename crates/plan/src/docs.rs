//! The plan reference, `docs/plan.md`, generated from the raw tables' `///` docs.
//!
//! A unit test regenerates the text and fails when the checked-in file differs;
//! `UPDATE_PLAN_DOCS=1 cargo test -p shakedown-plan docs::` rewrites it.

use std::fmt::Write as _;

use crate::duration::DURATION_HINT;
use crate::load::threshold::THRESHOLD_GRAMMAR;
use crate::raw::RawPlanFile;
use crate::request_line::method_names;
use crate::schema::{Presence, Shape, TableSchema, doc_text};

/// A small complete plan, shown in the reference (and compiled by a test).
pub const EXAMPLE: &str = r#"[plan]
name = "staging-gate"
environment = "staging"
seed = 42
limits = { duration = "10m", requests = 200000 }

[secrets]
ops_key = { env = "STAGING_OPS_KEY" }

[targets.api]
url = "${STAGING_API_URL:-http://127.0.0.1:8080}"
health = "GET /health"
headers = { "X-API-Key" = "{{ secrets.ops_key }}" }

[scenarios.submit]
steps = [
  { name = "create", request = "POST api:/api/v1/runs", json = { kind = "simulate" }, capture = { run_id = "$.id" }, expect = { status = [201] }, track = { key = "{{ uuid() }}", read = "GET api:/api/v1/runs?key={{ key }}", items = "$.runs[*]", state = "$.status", terminal = ["completed", "failed"], success = ["completed"] } },
  { think = ["50ms", "200ms"] },
  { name = "fetch", request = "GET api:/api/v1/runs/{{ run_id }}", poll = { until = "$.status", in = ["completed", "failed"], interval = "100ms", timeout = "20s" } },
]

[[load]]
id = "L1"
name = "20 concurrent x 3 rounds"
scenario = "submit"
executor = { rounds = { concurrency = 20, rounds = 3 } }
thresholds = ["count(failures) == 0", "p(95){step=create} < 500ms", "lost == 0", "stuck == 0"]
"#;

const INTRO: &str = "A plan is one TOML file that says what to drive and what must hold. \
`shakedown validate PLAN` checks it without running anything; `shakedown run PLAN` runs it.

A plan is compiled in two stages. First the TOML is read into tables that mirror the file; a \
syntax error or a value of the wrong type stops there. Then every rule below is checked, and \
*every* problem is reported together, each with `file:line:column`, the offending value and a \
hint. Unknown keys are errors too (all of them at once, each with the valid keys of its table), \
so a typo never silently turns a check off. The exit code of a plan error is 2.";

const STRINGS: &str = "## Strings: `${VAR}` interpolation

Every string value may read the environment: `${VAR}`, or `${VAR:-default}` when the variable \
may be unset or empty. `$${` writes a literal `${`. A variable that is unset and has no default \
is an error naming it and the field. Interpolation happens on the parsed value, before \
templating, so a variable's value can never break the TOML.";

const TEMPLATES: &str = "## Templates

Paths, header values, JSON bodies (every string inside), raw bodies, `expect.json` values and \
track keys are [minijinja](https://docs.rs/minijinja) templates, checked when the plan compiles. \
A template may read:

- `vu` (the virtual user, from 1), `iteration` (from 0, per user), `uuid()` (a version-4 UUID \
  derived from the plan's seed and the run's own id: it never repeats within a run, and it \
  differs from run to run, so two runs against one service never share a key; the run id is in \
  the report, so a run's keys can be derived again from the seed and that id);
- `vars.NAME` (from `[vars]`) and `secrets.NAME` (from `[secrets]`);
- in a step: the captures of the *earlier* steps of its scenario, by name;
- in a step with `track`: `key`, the rendered track key; the track's `read` request and \
  `headers` may also read the step's own captures.

Target headers, probes and samplers read only the first two groups. Reading anything else is \
an error that names the variable, the field and what is defined there. A secret is read from \
its environment variable only if some template references it, and then it must be set and \
non-empty; its value is never written to any output.";

const TRACKING: &str = "## Tracking work: reads, indeterminate submits, and what proves absence

A step with `track` registers the unit of work its request creates under a client key, sent as \
`Idempotency-Key`. The track's `read` is how the ledger finds the work again. Two shapes of \
service are common:

```toml
# A list by client key: the read can find the job even when the submit's answer was lost.
track = { key = \"{{ uuid() }}\", read = \"GET api:/runs?key={{ key }}\", items = \"$.runs[*]\", \
          state = \"$.status\", terminal = [\"done\", \"failed\"], success = [\"done\"] }

# A get by id only: the read needs the id the submit answered with; the job is the whole body.
track = { key = \"{{ uuid() }}\", read = \"GET api:/jobs/{{ job_id }}\", items = \"$\", \
          state = \"$.status\", terminal = [\"done\", \"failed\"], success = [\"done\"], \
          key_field = \"$.key\", resolve = \"replay\" }
```

A read answering 404 or 410 says the key has no job; any other non-2xx, a body that is not \
JSON, a timeout or a reset is a failed read, which never decides anything by itself.

A submit answered with a 5xx, a timeout or a reset is **indeterminate**: the work may or may not \
exist. It is resolved only by an observation that could have found the job: a read whose \
request could be rendered (a read by `{{ key }}`, or a read by an id the submit did return), or \
with `resolve = \"replay\"` a replay: at settle, the same request is sent again with the same \
`Idempotency-Key`, as a real client recovers, and the job it answers with is read. A job found \
is `recovered` and then judged like acknowledged work (a recovered job that never finishes is \
`stuck`); no job found by such a read is `not_applied`. A replay answered with one of \
`replay_created` (default 201) created the job itself, because the first attempt had left \
nothing: that key is `replay_created`, and its job is judged too. **A replay can create work**: \
use it only against a service whose submits are idempotent by key. A key that nothing could \
resolve (its read needed a capture the submit never returned, and no replay answered) is \
`unknown`, which makes the check INCONCLUSIVE, never PASS. A `sql` check with `ledger` judges \
every key the gate sent against the table as well, acknowledged or not.

No request is ever sent with a template it could not render: a read that needs a capture the \
step did not make is not sent, and the step and the key say which name is missing and why \
(e.g. `job_id` was not captured because step `create` failed: status 500).

Keys and jobs must map one to one: a job id read under two keys, or a job whose own key \
(`key_field`) is not the key it was read for, is a `collision`; two reads that see two \
different jobs for one key are `duplicates`. Both fail a check by default.

The ledger reads tracked keys during the run too (`[settle.watch]`), within a budget, so that \
the time to terminal is measured, a brief return from a terminal state is seen, and a backlog's \
drain can be timed; settle then polls what is left and makes the final reads.";

const REQUESTS: &str = "## Request lines

Steps, track reads and samplers write `METHOD target:/path`, e.g. `\"POST api:/api/v1/runs\"`; \
the target must be defined in `[targets]`. Probes of a target (`health`, `preflight`) write \
`METHOD /path`, since the target is implied. The path, with any query string, is a template. \
Methods are upper-case: ";

fn default_cell(presence: Presence) -> String {
    match presence {
        Presence::Required => "**required**".to_string(),
        Presence::Optional => "none".to_string(),
        Presence::DefaultsTo(v) => {
            let toml_like = v.starts_with(['"', '[', '{'])
                || v.parse::<f64>().is_ok()
                || v == "true"
                || v == "false";
            if toml_like {
                format!("`{v}`")
            } else {
                v.to_string()
            }
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn cell(text: &str) -> String {
    doc_text(text).replace('\n', " ").replace('|', "\\|")
}

/// Every table reachable from the top level, in the order a reader meets them.
fn tables() -> Vec<&'static TableSchema> {
    fn walk(table: &'static TableSchema, out: &mut Vec<&'static TableSchema>) {
        if out.iter().any(|t| t.title == table.title) {
            return;
        }
        out.push(table);
        for nested in table.fields.iter().filter_map(|f| f.nested) {
            walk(nested.table, out);
        }
    }
    let mut out = Vec::new();
    walk(&RawPlanFile::SCHEMA, &mut out);
    out
}

/// The whole reference, as Markdown.
pub fn reference() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# The plan reference\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the doc comments on the raw tables of crates/plan by \
`UPDATE_PLAN_DOCS=1 cargo test -p shakedown-plan docs::`. Do not edit by hand. -->\n"
    );
    let _ = writeln!(out, "{INTRO}\n");
    let _ = writeln!(out, "## Example\n\n```toml\n{EXAMPLE}```\n");
    for table in tables() {
        let _ = writeln!(out, "## {}\n", capitalized(table.title));
        let _ = writeln!(out, "{}\n", doc_text(table.doc));
        let _ = writeln!(out, "| key | type | default | meaning |");
        let _ = writeln!(out, "|---|---|---|---|");
        for field in table.fields {
            let kind = match field.nested {
                Some(n) if n.shape == Shape::MapOfTables => {
                    format!("{} ({})", field.kind, n.table.title)
                }
                Some(n) if n.shape == Shape::ListOfTables => {
                    format!("{} ({})", field.kind, n.table.title)
                }
                _ => field.kind.to_string(),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                field.key(),
                cell(&kind),
                default_cell(field.presence),
                cell(field.doc)
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{STRINGS}\n");
    let _ = writeln!(out, "{TEMPLATES}\n");
    let _ = writeln!(out, "{TRACKING}\n");
    let _ = writeln!(out, "{REQUESTS}{}.\n", method_names());
    let _ = writeln!(
        out,
        "## Durations\n\nDurations are strings: {DURATION_HINT}. Zero is not a valid duration.\n"
    );
    let _ = writeln!(out, "## Thresholds\n\n{THRESHOLD_GRAMMAR}.\n");
    let _ = writeln!(
        out,
        "Latency metrics are in milliseconds. `rate(x)` is x divided by the requests. `{{step=NAME}}` \
restricts a latency, rate or count metric to one step, which must exist in the test's scenarios. \
A gauge must be sampled by the same test (`sample`), and a ledger class needs a test that tracks \
work (`track`)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn docs_plan_md_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plan.md");
        let expected = reference();
        if std::env::var_os("UPDATE_PLAN_DOCS").is_some() {
            std::fs::write(&path, &expected).expect("write docs/plan.md");
            return;
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/plan.md is stale (or missing): run `UPDATE_PLAN_DOCS=1 cargo test -p shakedown-plan docs::` to regenerate it from the doc comments on the raw tables"
        );
    }

    #[test]
    fn every_key_of_every_table_is_in_the_reference() {
        let text = reference();
        for table in tables() {
            assert!(
                text.contains(&format!("## {}\n", capitalized(table.title))),
                "{}",
                table.title
            );
            for field in table.fields {
                assert!(
                    text.contains(&format!("| `{}` |", field.key())),
                    "{}.{}",
                    table.title,
                    field.key()
                );
            }
        }
    }

    #[test]
    fn the_example_compiles() {
        let env = |name: &str| (name == "STAGING_OPS_KEY").then(|| "k3y-for-docs".to_string());
        let plan = crate::compile_str(EXAMPLE, Path::new("example.toml"), &env)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.load_tests.len(), 1);
    }
}
