//! Tests of compiling targets: their URLs and headers, and the process driver's control, readiness
//! and the redaction of a password in a target's URL.

use crate::compile_tests::{HEAD, compile_with, errors, ok, one_error, spanned};

#[test]
fn targets_are_checked() {
    let text = "[plan]\nname = \"t\"\nenvironment = \"prod\"\nseed = -1\nlimits = { duration = \"0s\", requests = 1 }\n\
        [settle]\ninterval = \"often\"\n\
        [targets.a]\nurl = \"ftp://x\"\nhealth = \"GET api:/health\"\n\
        [targets.b]\nheaders = { \"Bad Header\" = \"x\", Ok = \"{{ broken\" }\npreflight = [{ status = 200 }]\n\
        [targets.\"c:d\"]\nurl = \"http://x\"\n";
    let all = errors(text, &[]);
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "`prod` is not an environment",
            "the seed must be 0 or more, not -1",
            "limits.duration cannot be zero",
            "invalid duration `often`: expected number at 0 (in settle.interval)",
            "invalid url for target `a`: `ftp://x` uses `ftp`; a target is http or https",
            "invalid request line in the health probe of target `a`: a probe is sent to its own target, so `api:` must go: write `GET /health`",
            "`targets.b` has no `url`",
            "`Bad Header` is not a valid HTTP header name (the headers of target `b`)",
            "invalid template in header `Ok` in the headers of target `b`: unexpected end of input, expected end of variable block",
            "preflight probe 0 of target `b` has no `request`",
            "`c:d` is not a valid target name",
        ]
    );
}

/// A plan with a process target `w` whose control is `control`.
fn with_process(control: &str) -> String {
    format!(
        "{HEAD}\n[targets.w]\ncontrol = {control}\n\n[scenarios.s]\nsteps = [{{ request = \"GET api:/\" }}]\n"
    )
}

#[test]
fn a_ready_log_that_is_not_a_regex_is_an_error_at_its_position() {
    let text = with_process(
        r#"{ driver = "process", command = ["w"], ready = { log = "celery@(\\S+ ready" } }"#,
    );
    let d = one_error(&text, "`ready.log` of");
    assert!(
        d.message.contains("not a valid regular expression"),
        "{d:?}"
    );
    assert_eq!(spanned(&text, &d), r#""celery@(\\S+ ready""#);
    assert!(d.label.contains("unclosed group"), "{d:?}");
}

#[test]
fn a_ready_has_one_form() {
    let text = with_process(
        r#"{ driver = "process", command = ["w"], ready = { log = "ready", command = "true" } }"#,
    );
    let d = one_error(&text, "more than one of `probe`, `log` and `command`");
    assert_eq!(spanned(&text, &d), "\"true\"");
}

#[test]
fn process_readiness_and_groups_compile() {
    use crate::targets::model::{DriverSpec, Readiness};
    let spec = |control: &str| {
        let plan = ok(&with_process(control));
        match plan.targets["w"].control.clone().expect("control").driver {
            DriverSpec::Process(spec) => spec,
            other => panic!("{other:?}"),
        }
    };
    let log =
        spec(r#"{ driver = "process", command = ["w"], ready = { log = "celery@\\S+ ready" } }"#);
    assert!(matches!(log.ready, Readiness::Log(ref r) if r.is_match("celery@host ready.")));
    assert!(log.group, "the group is signalled by default");
    let command = spec(
        r#"{ driver = "process", command = ["w"], ready = { command = "true" }, group = false }"#,
    );
    assert!(matches!(command.ready, Readiness::Command(ref c) if c == "true"));
    assert!(!command.group);
    let first = spec(r#"{ driver = "process", command = ["w"] }"#);
    assert!(matches!(first.ready, Readiness::FirstLine));
}

#[test]
fn a_password_in_a_target_url_is_redacted_and_a_written_one_is_warned_about() {
    let plan_for = |url: &str| {
        format!(
            "[plan]\nname = \"t\"\nlimits = {{ duration = \"1m\", requests = 100 }}\n\
             [targets.api]\nurl = \"{url}\"\n"
        )
    };
    // Spelled out in the plan: redacted, and a warning that says how to make it a secret.
    let plan = ok(&plan_for("http://ops:w0rd%40spelled@127.0.0.1:9"));
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("the url of target `api` spells out a password"),
        "{}",
        plan.warnings[0]
    );
    assert!(!plan.warnings[0].contains("w0rd"), "{}", plan.warnings[0]);
    let redactor = crate::redact::Redactor::new(&plan.secrets);
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("ops:w0rd@spelled");
    let echoed = format!("authorization: Basic {basic}");
    assert!(!redactor.redact(&echoed).contains(&basic[4..]), "{echoed}");
    assert!(
        !plan.redacted_source.contains("w0rd"),
        "{}",
        plan.redacted_source
    );
    // Read from the environment: redacted too, and no warning.
    let plan = compile_with(
        &plan_for("http://ops:${API_PASSWORD}@127.0.0.1:9"),
        &[("API_PASSWORD", "from-the-env")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let redactor = crate::redact::Redactor::new(&plan.secrets);
    assert!(
        !redactor
            .redact("body: from-the-env")
            .contains("from-the-env")
    );
}
