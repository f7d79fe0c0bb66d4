//! Compiling `[proxies.NAME]`, checking every `{{ proxies.NAME.PART }}` placeholder in target
//! URLs and controls, and recording which tests use which proxy (so that a proxy whose upstream
//! is down at preflight blocks exactly those tests).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::compile::{Compiler, key_path};
use crate::diagnostics::Diagnostic;
use crate::faults::model::{FaultAction, FaultPlan};
use crate::interpolate::Text;
use crate::load::model::LoadTest;
use crate::proxies::addr::{PARTS, placeholders};
use crate::proxies::model::{ProxySpec, check_name};
use crate::proxies::raw::RawProxy;
use crate::raw::{RawPlanFile, Str};
use crate::targets::model::{DriverSpec, IdentityProbe, Target};
use crate::targets::raw::RawTarget;

/// Whether `name` can name a proxy: letters, digits, `_` and `-` (a `.` would make
/// `proxies.NAME.addr` ambiguous).
fn is_proxy_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Compiler<'_> {
    /// Every `[proxies.NAME]`, and the placeholders that refer to them.
    pub(crate) fn proxies(&mut self, raw: &RawPlanFile) -> BTreeMap<String, ProxySpec> {
        let mut out = BTreeMap::new();
        for (name, proxy) in raw.proxies.iter().flatten() {
            if let Some(spec) = self.proxy(name, proxy) {
                out.insert(name.clone(), spec);
            }
        }
        self.proxies = raw
            .proxies
            .iter()
            .flatten()
            .map(|(n, _)| n.clone())
            .collect();
        let declared: BTreeSet<&str> = raw
            .proxies
            .iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect();
        for (name, target) in raw.targets.iter().flatten() {
            for value in raw_target_strings(target) {
                self.check_placeholders(value, &declared, &format!("target `{name}`"));
            }
        }
        out
    }

    fn proxy(&mut self, name: &str, raw: &RawProxy) -> Option<ProxySpec> {
        let what = format!("proxy `{name}`");
        if !is_proxy_name(name) {
            let span = self.locator.key_span(&key_path!["proxies", name]);
            self.push(
                Diagnostic::new(span, format!("`{name}` is not a valid proxy name"))
                    .label("invalid name")
                    .hint("name a proxy with letters, digits, `_` and `-`, e.g. [proxies.db]"),
            );
            return None;
        }
        let listen = match &raw.listen {
            Some(listen) => self.listen_addr(listen, &what),
            None => Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let upstream = match &raw.upstream {
            Some(upstream) => self.upstream(upstream, &what),
            None => {
                self.missing(
                    &key_path!["proxies", name],
                    "upstream",
                    "say where the dependency listens: upstream = \"127.0.0.1:5432\"",
                );
                None
            }
        };
        let connect_timeout = self.duration(
            raw.connect_timeout.as_ref(),
            "5s",
            &format!("`connect_timeout` of {what}"),
        );
        let control_deadline = self.duration(
            raw.control_deadline.as_ref(),
            "2s",
            &format!("`control_deadline` of {what}"),
        );
        Some(ProxySpec {
            name: name.to_string(),
            listen: listen?,
            upstream: upstream?,
            connect_timeout: connect_timeout?,
            control_deadline: control_deadline?,
        })
    }

    fn listen_addr(&mut self, value: &Str, what: &str) -> Option<SocketAddr> {
        let text = self.text(value, &format!("`listen` of {what}"))?;
        match text.value.trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.push(
                    Diagnostic::new(
                        Some(text.span),
                        format!("`listen` of {what} is not an `ip:port` address: `{}`", text.value),
                    )
                    .label("not ip:port")
                    .hint("write an IP address and a port; port 0 picks a free one: listen = \"127.0.0.1:0\""),
                );
                None
            }
        }
    }

    fn upstream(&mut self, value: &Str, what: &str) -> Option<String> {
        let text = self.text(value, &format!("`upstream` of {what}"))?;
        let value = text.value.trim();
        let valid = value.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !valid {
            self.push(
                Diagnostic::new(
                    Some(text.span),
                    format!("`upstream` of {what} is not `host:port`: `{value}`"),
                )
                .label("not host:port")
                .hint("write the dependency's host and port, e.g. upstream = \"127.0.0.1:5432\""),
            );
            return None;
        }
        Some(value.to_string())
    }

    /// Check every proxy placeholder in `value`.
    fn check_placeholders(&mut self, value: &Str, declared: &BTreeSet<&str>, whose: &str) {
        let found = placeholders(value.get_ref());
        if found.is_empty() {
            return;
        }
        let text = Text::from_source(value.get_ref(), value.span(), self.source);
        for p in found {
            let span = Some(text.sub_span(p.range.clone()));
            if !declared.contains(p.proxy.as_str()) {
                let known = if declared.is_empty() {
                    "the plan declares no proxy; add [proxies.NAME] with listen and upstream"
                        .to_string()
                } else {
                    format!(
                        "declared proxies: {}",
                        declared.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                };
                self.push(
                    Diagnostic::new(
                        span,
                        format!("{whose} uses proxy `{}`, which is not declared", p.proxy),
                    )
                    .label("unknown proxy")
                    .hint(known),
                );
            } else if !PARTS.contains(&p.part.as_str()) {
                self.push(
                    Diagnostic::new(
                        span,
                        format!(
                            "{whose} asks for `{}` of proxy `{}`, which has no such part",
                            p.part, p.proxy
                        ),
                    )
                    .label("unknown part")
                    .hint(format!(
                        "a proxy placeholder is {{{{ proxies.{}.PART }}}} with PART one of {}",
                        p.proxy,
                        PARTS.join(", ")
                    )),
                );
            }
        }
    }
}

/// The strings of a raw target that may hold proxy placeholders.
fn raw_target_strings(target: &RawTarget) -> Vec<&Str> {
    let mut out: Vec<&Str> = target.url.iter().collect();
    if let Some(identity) = &target.identity {
        out.extend(identity.get_ref().command.iter());
    }
    if let Some(control) = &target.control {
        let c = control.get_ref();
        out.extend(c.command.iter().flatten());
        out.extend(c.env.iter().flat_map(|env| env.0.iter().map(|(_, v)| v)));
        out.extend(c.cwd.iter());
        for action in [&c.start, &c.stop, &c.kill, &c.pause, &c.resume, &c.restart] {
            out.extend(action.iter());
        }
    }
    out
}

/// The proxies a compiled target connects through: those its URL or control names.
pub(crate) fn proxies_of(target: &Target) -> BTreeSet<String> {
    let mut strings: Vec<&str> = vec![target.base_url.as_str()];
    if let Some(IdentityProbe::Command { command, .. }) = &target.identity {
        strings.push(command);
    }
    if let Some(control) = &target.control {
        match &control.driver {
            DriverSpec::Process(spec) => {
                strings.extend(spec.command.iter().map(String::as_str));
                strings.extend(spec.env.iter().map(|(_, v)| v.as_str()));
            }
            DriverSpec::Exec(spec) => strings.extend(spec.commands.values().map(String::as_str)),
            DriverSpec::Http(_) | DriverSpec::Railway(_) => {}
        }
    }
    strings
        .into_iter()
        .flat_map(placeholders)
        .map(|p| p.proxy)
        .collect()
}

/// Add `proxies.NAME` to the targets of every test that uses a target connecting through proxy
/// NAME, so that the proxy's preflight entry gates it like a target's.
pub(crate) fn mark_proxy_users(
    targets: &BTreeMap<String, Target>,
    load_tests: &mut [LoadTest],
    faults: &mut FaultPlan,
) {
    let uses: BTreeMap<&str, BTreeSet<String>> = targets
        .iter()
        .map(|(name, target)| (name.as_str(), proxies_of(target)))
        .filter(|(_, proxies)| !proxies.is_empty())
        .collect();
    mark_toxic_proxies(faults);
    if uses.is_empty() {
        return;
    }
    let mark = |set: &mut BTreeSet<String>| {
        let extra: Vec<String> = set
            .iter()
            .filter_map(|t| uses.get(t.strip_suffix(".control").unwrap_or(t)))
            .flatten()
            .map(|p| check_name(p))
            .collect();
        set.extend(extra);
    };
    for test in load_tests {
        mark(&mut test.targets);
    }
    for test in &mut faults.tests {
        mark(&mut test.targets);
        mark(&mut test.load.targets);
    }
}

/// Add `proxies.NAME` to the targets of every fault test whose timeline puts a toxic on proxy
/// NAME.
fn mark_toxic_proxies(faults: &mut FaultPlan) {
    for test in &mut faults.tests {
        let used: Vec<String> = test
            .timeline
            .iter()
            .filter_map(|e| match &e.action {
                FaultAction::Toxic { proxy, .. } => Some(check_name(proxy)),
                _ => None,
            })
            .collect();
        test.targets.extend(used);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::Plan;
    use crate::{Diagnostic, PlanErrors, compile_str};

    const PLAN: &str = r#"
[plan]
name = "p"
limits = { duration = "1m", requests = 100 }

[proxies.api]
upstream = "${API_HOSTPORT:-127.0.0.1:8080}"

[proxies.db]
listen = "127.0.0.1:15432"
upstream = "127.0.0.1:5432"
control_deadline = "500ms"

[targets.direct]
url = "http://127.0.0.1:8080"

[targets.via]
url = "http://{{ proxies.api.addr }}/v1"
health = "GET /health"

[targets.app]
control = { driver = "process", command = ["app", "--db", "postgres://u@{{ proxies.db.host }}:{{ proxies.db.port }}/x"] }

[scenarios.s]
steps = [{ request = "GET via:/health" }]

[scenarios.d]
steps = [{ request = "GET direct:/health" }]

[[load]]
id = "L1"
scenario = "s"
executor = { rounds = { concurrency = 1, rounds = 1 } }

[[load]]
id = "L2"
scenario = "d"
executor = { rounds = { concurrency = 1, rounds = 1 } }
"#;

    fn compile(text: &str) -> Result<Plan, PlanErrors> {
        compile_str(text, Path::new("p.toml"), &|_| None)
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        match compile(text) {
            Ok(_) => panic!("expected errors:\n{text}"),
            Err(e) => e.diagnostics().to_vec(),
        }
    }

    #[test]
    fn proxies_compile_and_mark_the_tests_that_use_them() {
        let plan = compile(PLAN).unwrap_or_else(|e| panic!("{e}"));
        let api = &plan.proxies["api"];
        assert_eq!(api.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(api.upstream, "127.0.0.1:8080");
        assert_eq!(api.control_deadline, std::time::Duration::from_secs(2));
        let db = &plan.proxies["db"];
        assert_eq!(db.listen.port(), 15432);
        assert_eq!(db.control_deadline, std::time::Duration::from_millis(500));
        assert_eq!(
            plan.targets["via"].base_url,
            "http://{{ proxies.api.addr }}/v1"
        );
        assert!(
            plan.load_tests[0].targets.contains("proxies.api"),
            "{:?}",
            plan.load_tests[0].targets
        );
        assert!(
            !plan.load_tests[1]
                .targets
                .iter()
                .any(|t| t.starts_with("proxies."))
        );
        assert_eq!(
            proxies_of(&plan.targets["app"]),
            BTreeSet::from(["db".to_string()])
        );
    }

    #[test]
    fn addresses_are_bound_when_the_proxies_listen() {
        let plan = compile(PLAN).unwrap_or_else(|e| panic!("{e}"));
        let addrs = BTreeMap::from([
            ("api".to_string(), "127.0.0.1:4001".parse().expect("addr")),
            ("db".to_string(), "127.0.0.1:4002".parse().expect("addr")),
        ]);
        let bound = crate::proxies::model::bind_addresses(&plan, &addrs);
        assert_eq!(bound.targets["via"].base_url, "http://127.0.0.1:4001/v1");
        let Some(control) = &bound.targets["app"].control else {
            panic!("app has a control")
        };
        let DriverSpec::Process(spec) = &control.driver else {
            panic!("a process control")
        };
        assert_eq!(spec.command[2], "postgres://u@127.0.0.1:4002/x");
    }

    #[test]
    fn an_unknown_proxy_or_part_names_the_valid_ones() {
        let text = PLAN.replace("proxies.api.addr", "proxies.apx.addr");
        let all = errors(&text);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(
            all[0]
                .message
                .contains("proxy `apx`, which is not declared"),
            "{}",
            all[0].message
        );
        assert!(
            all[0].hint.contains("declared proxies: api, db"),
            "{}",
            all[0].hint
        );
        assert_eq!(
            all[0].span.clone().map(|s| &text[s]),
            Some("{{ proxies.apx.addr }}")
        );

        let text = PLAN.replace("proxies.db.port", "proxies.db.url");
        let all = errors(&text);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(all[0].hint.contains("addr, host, port"), "{}", all[0].hint);
    }

    #[test]
    fn bad_addresses_and_a_missing_upstream_are_errors() {
        let text = PLAN
            .replace("listen = \"127.0.0.1:15432\"", "listen = \"localhost\"")
            .replace("upstream = \"127.0.0.1:5432\"", "upstream = \"127.0.0.1\"");
        let all = errors(&text);
        assert_eq!(all.len(), 2, "{all:#?}");
        assert!(
            all[0].message.contains("not an `ip:port`")
                || all[1].message.contains("not an `ip:port`")
        );
        assert!(
            all.iter().any(|d| d.message.contains("is not `host:port`")),
            "{all:#?}"
        );

        let text = PLAN.replace("upstream = \"${API_HOSTPORT:-127.0.0.1:8080}\"", "");
        let all = errors(&text);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(
            all[0].message.contains("`proxies.api` has no `upstream`"),
            "{}",
            all[0].message
        );
    }

    #[test]
    fn an_unknown_key_in_a_proxy_is_an_error() {
        let text = PLAN.replace("control_deadline = \"500ms\"", "deadline = \"500ms\"");
        let all = errors(&text);
        assert!(
            all.iter().any(|d| d.message.contains("deadline")),
            "{all:#?}"
        );
    }

    #[test]
    fn proxy_names_cannot_hold_dots() {
        assert!(is_proxy_name("db-1_a"));
        assert!(!is_proxy_name("db.main"));
        assert!(!is_proxy_name(""));
    }
}
