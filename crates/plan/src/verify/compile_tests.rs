//! Plan errors of `[oracles.NAME]` and `[[verify]]`, each with its message and hint, and the
//! compiled shape of a valid verification.

use std::path::Path;

use crate::verify::model::{OracleKind, VerifyProbe};
use crate::{Diagnostic, compile_str};

const HEAD: &str = r#"
[plan]
name = "t"
limits = { duration = "1m", requests = 100 }

[targets.api]
url = "http://127.0.0.1:9/"

[oracles.db]
postgres = "postgres://app@127.0.0.1:5432/app"

[oracles.store]
local = "data/artifacts"
"#;

fn errors(tail: &str) -> Vec<Diagnostic> {
    let text = format!("{HEAD}{tail}");
    match compile_str(&text, Path::new("t.toml"), &|_: &str| None) {
        Ok(_) => panic!("the plan compiled, but errors were expected:\n{tail}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

fn one(tail: &str, message: &str, hint: &str) {
    let all = errors(tail);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    assert!(all[0].message.contains(message), "{:?}", all[0].message);
    assert!(all[0].hint.contains(hint), "{:?}", all[0].hint);
}

#[test]
fn a_valid_verification_compiles_to_its_probe() {
    let text = format!(
        "{HEAD}{}",
        r#"
[[verify]]
id = "REP"
artifacts = { oracle = "store", bucket = "runs", prefix = "runs/{{ id }}/", files = ["a.txt"] }

[[verify]]
id = "DB"
sql = { oracle = "db", query = "SELECT count(*) FROM runs", scalar = ">= 1", rows = 1 }
"#
    );
    let plan =
        compile_str(&text, Path::new("t.toml"), &|_: &str| None).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(plan.oracles["db"].kind, OracleKind::Postgres(_)));
    assert_eq!(plan.verifications.len(), 2);
    assert!(matches!(
        plan.verifications[0].probe,
        VerifyProbe::Artifacts(_)
    ));
    let VerifyProbe::Sql(sql) = &plan.verifications[1].probe else {
        panic!("a sql probe");
    };
    assert_eq!(sql.rows.map(|r| r.value), Some(1.0));
}

#[test]
fn an_unknown_oracle_lists_the_defined_ones() {
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"nope\", query = \"SELECT 1\", rows = 1 }\n",
        "reads the oracle `nope`, which is not defined (defined: db (postgres), store (local))",
        "define it",
    );
}

#[test]
fn an_oracle_of_the_wrong_kind_is_named() {
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"store\", query = \"SELECT 1\", rows = 1 }\n",
        "cannot read the local oracle `store`",
        "postgres",
    );
}

#[test]
fn a_verification_has_exactly_one_kind() {
    one(
        "[[verify]]\nid = \"V\"\n",
        "none of http, sql, redis, artifacts, isolation, store, canary",
        "exactly one of",
    );
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"db\", query = \"SELECT 1\", rows = 1 }\nstore = { oracle = \"store\", bucket = \"b\" }\n",
        "has sql and store at once",
        "exactly one of",
    );
}

#[test]
fn a_check_that_asserts_nothing_is_refused() {
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"db\", query = \"SELECT 1\" }\n",
        "asserts nothing",
        "cannot fail",
    );
}

#[test]
fn a_bad_comparison_shows_the_grammar() {
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"db\", query = \"SELECT 1\", rows = \"about 3\" }\n",
        "does not start with a comparison operator",
        "\">= 1\"",
    );
}

#[test]
fn ids_are_unique_across_every_check() {
    one(
        "[[verify]]\nid = \"V\"\nsql = { oracle = \"db\", query = \"SELECT 1\", rows = 1 }\n[[verify]]\nid = \"V\"\nsql = { oracle = \"db\", query = \"SELECT 1\", rows = 1 }\n",
        "the id `V` is used twice",
        "unique",
    );
}

#[test]
fn an_s3_oracle_needs_credentials() {
    one(
        "[oracles.s3]\ns3 = \"http://127.0.0.1:9000\"\n",
        "needs `access_key` and `secret_key`",
        "secrets",
    );
}

#[test]
fn unique_canary_fields_must_be_recorded() {
    one(
        "[[verify]]\nid = \"V\"\ncanary = { request = \"POST api:/canary\", record = { request_id = \"$.id\" }, unique = [\"model\"] }\n",
        "names `model`, which `record` does not record",
        "record",
    );
}
