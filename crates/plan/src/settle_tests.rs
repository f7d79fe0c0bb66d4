//! Tests of `[settle]` and `[settle.watch]`: defaults, both spellings, and each bad value with
//! its message, span and hint.

use std::path::Path;
use std::time::Duration;

use crate::model::{Plan, Watch};
use crate::{Diagnostic, PlanErrors, compile_str};

const HEAD: &str = r#"
[plan]
name = "t"
limits = { duration = "1m", requests = 100 }
"#;

fn compile(text: &str) -> Result<Plan, PlanErrors> {
    compile_str(text, Path::new("t.toml"), &|name: &str| {
        (name == "WATCH_EVERY").then(|| "75ms".to_string())
    })
}

fn watch(settle: &str) -> Watch {
    let text = format!("{HEAD}{settle}");
    match compile(&text) {
        Ok(plan) => plan.settle.watch,
        Err(e) => panic!("{e}"),
    }
}

fn errors(settle: &str) -> (String, Vec<Diagnostic>) {
    let text = format!("{HEAD}{settle}");
    match compile(&text) {
        Ok(_) => panic!("the plan compiled, but errors were expected:\n{text}"),
        Err(e) => {
            let all = e.diagnostics().to_vec();
            (text, all)
        }
    }
}

fn spanned<'t>(text: &'t str, d: &Diagnostic) -> &'t str {
    d.span.clone().map_or("", |s| &text[s])
}

#[test]
fn the_watch_is_on_by_default_and_reads_at_the_settle_interval() {
    let defaults = Watch {
        enabled: true,
        interval: Duration::from_millis(250),
        confirm: Duration::from_secs(1),
        share: 0.5,
        max_rate: 200.0,
    };
    assert_eq!(watch(""), defaults);
    assert_eq!(watch("[settle.watch]\n"), defaults);
    assert_eq!(
        watch("[settle]\ninterval = \"40ms\"\n").interval,
        Duration::from_millis(40),
        "the watch follows the settle interval"
    );
}

#[test]
fn both_spellings_set_every_field() {
    let table = watch(
        "[settle]\ninterval = \"1s\"\n[settle.watch]\nenabled = false\ninterval = \"${WATCH_EVERY}\"\n\
         confirm = \"0s\"\nshare = 0.25\nmax_rate = 50\n",
    );
    let inline = watch(
        "[settle]\ninterval = \"1s\"\nwatch = { enabled = false, interval = \"75ms\", confirm = \"0s\", \
         share = 0.25, max_rate = 50 }\n",
    );
    let expected = Watch {
        enabled: false,
        interval: Duration::from_millis(75),
        confirm: Duration::ZERO,
        share: 0.25,
        max_rate: 50.0,
    };
    assert_eq!(table, expected);
    assert_eq!(inline, expected);
}

#[test]
fn bad_watch_values_are_reported_together_with_their_spans() {
    let (text, all) = errors(
        "[settle.watch]\ninterval = \"0s\"\nconfirm = \"soon\"\nshare = 0\nmax_rate = -3.5\n",
    );
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "settle.watch.interval cannot be zero",
            "invalid duration `soon`: expected number at 0 (in settle.watch.confirm)",
            "settle.watch.share must be a number above 0, not 0",
            "settle.watch.max_rate must be a number above 0, not -3.5",
        ]
    );
    let spans: Vec<&str> = all.iter().map(|d| spanned(&text, d)).collect();
    assert_eq!(spans, vec!["\"0s\"", "\"soon\"", "0", "-3.5"]);
    assert!(all[2].hint.contains("enabled = false"), "{}", all[2].hint);
    assert!(all[3].hint.contains("max_rate = 200"), "{}", all[3].hint);
}

#[test]
fn watch_keys_are_checked_and_a_bad_settle_interval_is_reported_once() {
    let (text, all) = errors("[settle]\nwatch = { enable = true }\n");
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all[0].message.contains("unknown key `enable`"),
        "{}",
        all[0].message
    );
    assert!(all[0].hint.contains("enabled"), "{}", all[0].hint);
    assert_eq!(spanned(&text, &all[0]), "enable");

    let (_, all) = errors("[settle]\ninterval = \"often\"\nwatch = { share = 1 }\n");
    let messages: Vec<&str> = all.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        vec!["invalid duration `often`: expected number at 0 (in settle.interval)"]
    );

    let (_, all) = errors("[settle]\nwatch = { share = \"half\" }\n");
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].message.contains("wrong type"), "{}", all[0].message);
}
