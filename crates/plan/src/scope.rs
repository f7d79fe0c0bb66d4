//! Template scoping: which variables a template may read where it is used, and the check that it
//! reads nothing else.
//!
//! Every template may read the builtins (`vu`, `iteration`, `vars.NAME`, `secrets.NAME`,
//! `uuid()`). A step's templates may also read the captures of earlier steps of its scenario, and
//! a tracked step's templates `key`; a track's read request also sees the step's own captures.
//! A variable outside the scope is a plan error naming it, the field, and what is defined.

use crate::compile::Compiler;
use crate::diagnostics::Diagnostic;
use crate::interpolate::Text;
use crate::template::Template;

/// Builtins that need no declaration (besides `secrets.*` and `vars.*`).
const PLAIN_BUILTINS: &[&str] = &["vu", "iteration", "__seed", "__step"];

/// Names a capture may not take, because templates would read the builtin instead.
pub const RESERVED_NAMES: &[&str] = &[
    "vu",
    "iteration",
    "secrets",
    "vars",
    "uuid",
    "key",
    "__seed",
    "__step",
];

/// The variables a template may read where it is used.
#[derive(Debug, Clone, Default)]
pub struct Scope<'s> {
    /// Captures defined before this template runs: (variable, step that captures it).
    pub captures: &'s [(String, String)],
    /// Captures of this scenario that are not yet defined here: (variable, step).
    pub later: &'s [(String, String)],
    /// Whether `key` (the track key) is defined.
    pub key: bool,
}

impl Scope<'_> {
    /// What a template here can read, for hints.
    fn describe(&self) -> String {
        let mut names = vec![
            "vu".to_string(),
            "iteration".into(),
            "vars.NAME".into(),
            "secrets.NAME".into(),
            "uuid()".into(),
        ];
        if self.key {
            names.push("key".into());
        }
        for (name, step) in self.captures {
            names.push(format!("{name} (captured by step `{step}`)"));
        }
        names.join(", ")
    }
}

/// Whether `name` is a valid capture name: an identifier that does not shadow a builtin.
pub fn is_capture_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED_NAMES.contains(&name)
}

/// Where `word` is used as a variable in `template`: the first occurrence inside a `{{` or `{%`
/// block that is not part of a longer name.
fn find_variable(template: &str, word: &str) -> Option<std::ops::Range<usize>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    template
        .match_indices(word)
        .map(|(at, _)| at..at + word.len())
        .find(|r| {
            let before_ok =
                !template[..r.start].ends_with(ident) && !template[..r.start].ends_with('.');
            let after_ok = !template[r.end..].starts_with(ident);
            let opened = template[..r.start].rfind(['{']).is_some();
            before_ok && after_ok && opened
        })
}

impl Compiler<'_> {
    /// Parse `text` as a template and check every variable it reads against `scope`. Secrets it
    /// reads are recorded as referenced.
    pub fn template(&mut self, text: &Text, what: &str, scope: &Scope<'_>) -> Option<Template> {
        let template = match Template::parse(&text.value) {
            Ok(t) => t,
            Err(err) => {
                let span = err.range().map_or(text.span.clone(), |r| text.sub_span(r));
                let detail = err.detail().map_or_else(|| err.to_string(), str::to_string);
                self.push(
                    Diagnostic::new(Some(span), format!("invalid template in {what}: {detail}"))
                        .label("template syntax error")
                        .hint("templates are minijinja: `{{ name }}`, `{{ secrets.NAME }}`, `{{ uuid() }}`; write literal braces as `{{ '{{' }}`"),
                );
                return None;
            }
        };
        let mut ok = true;
        for variable in template.variables() {
            ok &= self.check_variable(text, &variable, what, scope);
        }
        ok.then_some(template)
    }

    fn check_variable(
        &mut self,
        text: &Text,
        variable: &str,
        what: &str,
        scope: &Scope<'_>,
    ) -> bool {
        let mut parts = variable.split('.');
        let head = parts.next().unwrap_or_default();
        let member = parts.next();
        let span = find_variable(&text.value, head).map_or(text.span.clone(), |r| text.sub_span(r));
        match (head, member) {
            (h, _) if PLAIN_BUILTINS.contains(&h) => true,
            ("key", _) if scope.key => true,
            (h, _) if scope.captures.iter().any(|(c, _)| c == h) => true,
            ("secrets", None) => true,
            ("vars", None) => {
                self.vars_read.extend(self.vars.iter().cloned());
                true
            }
            ("secrets", Some(name)) => {
                if self.secrets.contains_key(name) {
                    self.secret_refs.entry(name.to_string()).or_insert(span);
                    return true;
                }
                let declared: Vec<&str> = self.secrets.keys().map(String::as_str).collect();
                self.push(
                    Diagnostic::new(Some(span), format!("{what} reads the secret `{name}`, which is not declared"))
                        .label("undeclared secret")
                        .hint(format!(
                            "declare it in [secrets]: {name} = {{ env = \"ENV_VAR\" }}; declared secrets: {}",
                            if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                        )),
                );
                false
            }
            ("vars", Some(name)) => {
                if self.vars.contains(name) {
                    self.vars_read.insert(name.to_string());
                    return true;
                }
                let declared: Vec<&str> = self.vars.iter().map(String::as_str).collect();
                self.push(
                    Diagnostic::new(
                        Some(span),
                        format!("{what} reads `vars.{name}`, which [vars] does not define"),
                    )
                    .label("undefined variable")
                    .hint(format!(
                        "add it to [vars]: {name} = ...; defined vars: {}",
                        if declared.is_empty() {
                            "none".to_string()
                        } else {
                            declared.join(", ")
                        }
                    )),
                );
                false
            }
            (h, _) => {
                let later = scope.later.iter().find(|(c, _)| c == h);
                let hint = match later {
                    Some((_, step)) => format!(
                        "`{h}` is captured by step `{step}`, which does not run before this; a template here can read: {}",
                        scope.describe()
                    ),
                    None if h == "key" => format!(
                        "`key` is defined only in a step with `track` (and in its read request); a template here can read: {}",
                        scope.describe()
                    ),
                    None => format!("a template here can read: {}", scope.describe()),
                };
                self.push(
                    Diagnostic::new(
                        Some(span),
                        format!("undefined variable `{variable}` in {what}"),
                    )
                    .label("not defined here")
                    .hint(hint),
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_found_as_whole_words_inside_blocks() {
        assert_eq!(find_variable("/runs/{{ run }}", "run"), Some(9..12));
        assert_eq!(find_variable("{{ token }} {{ tok }}", "tok"), Some(15..18));
        assert_eq!(find_variable("{{ a.run }}", "run"), None);
    }

    #[test]
    fn capture_names_are_identifiers_that_shadow_nothing() {
        assert!(is_capture_name("run_id"));
        assert!(!is_capture_name("run-id"));
        assert!(!is_capture_name("1st"));
        assert!(!is_capture_name("key"));
        assert!(!is_capture_name("secrets"));
    }
}
