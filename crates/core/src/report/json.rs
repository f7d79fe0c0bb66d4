//! `report.json`: the report model serialised as pretty JSON. Its contract is the checked-in
//! JSON Schema ([`SCHEMA`]) and `docs/report.md`.

use crate::report::export::Exporter;
use crate::report::model::Report;

/// The JSON Schema (draft 2020-12) that every `report.json` validates against.
pub const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schema/report.schema.json"
));

/// Writes `report.json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "report.json"
    }

    fn render(&self, report: &Report) -> String {
        match serde_json::to_string_pretty(report) {
            Ok(mut json) => {
                json.push('\n');
                json
            }
            // Unreachable for this model (every map key is a string), but never write a file
            // that claims less than it knows: say what went wrong, with the verdict.
            Err(err) => format!(
                "{}\n",
                serde_json::json!({
                    "verdict": report.verdict,
                    "exit_code": report.exit_code,
                    "error": format!("the report could not be serialised: {err}"),
                })
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMA).expect("the checked-in schema is JSON");
        jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema compiles")
    }

    fn errors(instance: &serde_json::Value) -> Vec<String> {
        let validator = validator();
        validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect()
    }

    fn rendered() -> serde_json::Value {
        serde_json::from_str(&JsonExporter.render(&sample_report())).expect("report.json is JSON")
    }

    #[test]
    fn a_realistic_report_validates_against_the_schema() {
        let json = rendered();
        assert_eq!(errors(&json), Vec::<String>::new());
        // The contract's core, as a CI user reads it.
        assert_eq!(json["verdict"], "NO-GO");
        assert_eq!(json["exit_code"], 1);
        assert_eq!(json["checks"][0]["id"], "L1");
        assert_eq!(json["checks"][0]["status"], "FAIL");
        assert_eq!(json["checks"][1]["status"], "BLOCKED");
        assert!(json["checks"][1]["hint"].as_str().is_some());
        assert_eq!(json["checks"][0]["metrics"]["latency_ms"]["p95"], 6120.43);
        assert_eq!(json["checks"][0]["ledger"]["counts"]["lost"], 2);
    }

    #[test]
    fn report_json_parses_back_into_the_same_model() {
        let report = sample_report();
        let back: Report =
            serde_json::from_str(&JsonExporter.render(&report)).expect("report.json parses");
        assert_eq!(back, report);
    }

    #[test]
    fn a_run_stopped_by_a_failed_write_validates_and_is_aborted() {
        let mut report = sample_report();
        report.run.interrupted = true;
        report.run.write_failure = Some(
            "cannot write run/history.jsonl: No space left on device (os error 28); free space \
             on the disk that holds the run directory, or choose another --out"
                .into(),
        );
        report.decide();
        let json: serde_json::Value =
            serde_json::from_str(&JsonExporter.render(&report)).expect("report.json is JSON");
        assert_eq!(errors(&json), Vec::<String>::new());
        assert_eq!(json["verdict"], "ABORTED");
        assert_eq!(json["exit_code"], 4);
        // A report written before the field existed still parses and validates.
        let mut older = rendered();
        older["run"]
            .as_object_mut()
            .map(|o| o.remove("write_failure"));
        assert_eq!(errors(&older), Vec::<String>::new());
        let back: Report = serde_json::from_value(older).expect("an older report parses");
        assert_eq!(back.run.write_failure, None);
    }

    #[test]
    fn a_wrong_verdict_string_fails_validation() {
        let mut json = rendered();
        json["verdict"] = "PASSED".into();
        let errs = errors(&json);
        assert!(errs.iter().any(|e| e.starts_with("/verdict")), "{errs:?}");
    }

    #[test]
    fn a_missing_checks_array_fails_validation() {
        let mut json = rendered();
        json.as_object_mut().map(|o| o.remove("checks"));
        let errs = errors(&json);
        assert!(errs.iter().any(|e| e.contains("\"checks\"")), "{errs:?}");
    }

    #[test]
    fn the_schema_rejects_what_the_contract_forbids() {
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "unknown status",
                Box::new(|j| j["checks"][0]["status"] = "OK".into()),
            ),
            (
                "exit code not matching the verdict",
                Box::new(|j| j["exit_code"] = 0.into()),
            ),
            (
                "unknown phase",
                Box::new(|j| j["run"]["phase"] = "warmup".into()),
            ),
            (
                "check without a reason",
                Box::new(|j| {
                    j["checks"][0].as_object_mut().map(|o| o.remove("reason"));
                }),
            ),
            (
                "unknown top-level field",
                Box::new(|j| j["extra"] = true.into()),
            ),
            (
                "negative request count",
                Box::new(|j| {
                    j["checks"][0]["metrics"]["requests"] = (-1).into();
                }),
            ),
            (
                "unknown threshold unit",
                Box::new(|j| {
                    j["checks"][0]["thresholds"][0]["unit"] = "seconds".into();
                }),
            ),
            (
                "start time that is not a date-time",
                Box::new(|j| {
                    j["run"]["started_at"] = "yesterday".into();
                }),
            ),
            (
                "a failed write of evidence with a verdict other than ABORTED",
                Box::new(|j| {
                    j["run"]["write_failure"] = "cannot write history.jsonl: disk full".into();
                }),
            ),
        ];
        for (what, mutate) in cases {
            let mut json = rendered();
            mutate(&mut json);
            assert!(
                !errors(&json).is_empty(),
                "the schema accepted a report with {what}"
            );
        }
    }
}
