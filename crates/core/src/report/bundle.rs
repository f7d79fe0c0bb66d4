//! The run directory: where a run's evidence lives (`report.json`, `report.md`, `report.html`,
//! `junit.xml`, `history.jsonl`, the redacted effective plan, and last `manifest.json`).
//!
//! Every file is written atomically, to a temporary file in the same directory that is synced
//! and then renamed over the old one, so a run interrupted at any moment leaves the previous
//! complete version of each report, never half of a new one. The reports are rendered from a
//! model whose values went through the [`Redactor`]; every other file is redacted by whoever
//! makes its contents (the effective plan when it is compiled, records when they are made).

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::report::evidence::RunEvidence;
use crate::report::export::{Exporter as _, exporters};
use crate::report::html::HtmlExporter;
use crate::report::model::Report;
use crate::stop::RunStop;
use shakedown_plan::redact::Redactor;

/// Makes temporary file names unique within this process; the process id makes them unique
/// across processes sharing a directory.
static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A run directory that exists on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    /// Where a failed write stops the run (None outside a run).
    stop: Option<RunStop>,
}

impl RunDir {
    /// Create the directory (and its parents) if needed.
    pub fn create(path: &Path) -> io::Result<RunDir> {
        fs::create_dir_all(path)?;
        Ok(RunDir {
            path: path.to_path_buf(),
            stop: None,
        })
    }

    /// Stop the run through `stop` when a write of a file fails: every file here is evidence.
    pub fn stopping(mut self, stop: RunStop) -> RunDir {
        self.stop = Some(stop);
        self
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Render every exporter's file from `report` and write each atomically. The report is
    /// redacted as a model first, value by value (so that escaping in JSON, Markdown, HTML or
    /// XML cannot hide a secret from the redactor, and a replacement cannot break the syntax of a
    /// file or touch a word of the report that is not an observed or configured value).
    /// `report.html` also shows the witness operations it reads back from `history.jsonl` (whose
    /// records were redacted when written), and names whatever is missing from the directory.
    pub fn write_reports(&self, report: &Report, redactor: &Redactor) -> io::Result<()> {
        let redacted = redact_report(report, redactor)?;
        let evidence = RunEvidence::read(&self.path, &redacted);
        let html = crate::report::html::render(&redacted, &evidence);
        self.write_file(HtmlExporter.file_name(), &html)?;
        for exporter in exporters() {
            let contents = exporter.render(&redacted);
            self.write_file(exporter.file_name(), &contents)?;
        }
        Ok(())
    }

    /// Write `contents` to the file `name` in this directory, atomically. The contents must be
    /// redacted already. `name` must be a plain file name: no directories, no `..`.
    pub fn write_file(&self, name: &str, contents: &str) -> io::Result<()> {
        check_file_name(name)?;
        let written = write_atomically(&self.path, name, contents.as_bytes());
        if let (Err(error), Some(stop)) = (&written, &self.stop) {
            stop.write_failed(&self.path.join(name), error);
        }
        written
    }
}

/// The contents [`RunDir::write_reports`] gives the file `name` (`report.json`, `report.md`,
/// `junit.xml`) for `report`, redacted the same way; None for another name. For printing a
/// report whose file could not be written.
pub fn render_report_file(
    report: &Report,
    redactor: &Redactor,
    name: &str,
) -> io::Result<Option<String>> {
    let Some(exporter) = exporters().into_iter().find(|e| e.file_name() == name) else {
        return Ok(None);
    };
    let redacted = redact_report(report, redactor)?;
    Ok(Some(exporter.render(&redacted)))
}

/// The report with every string redacted, and whole values under credential-like keys replaced.
fn redact_report(report: &Report, redactor: &Redactor) -> io::Result<Report> {
    let mut value = serde_json::to_value(report).map_err(io::Error::other)?;
    redactor.redact_json(&mut value);
    serde_json::from_value(value).map_err(|err| {
        io::Error::other(format!(
            "the report no longer fits its model after redaction: {err}"
        ))
    })
}

fn check_file_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name() == Some(name.as_ref());
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("run directory file name {name:?} must be a plain file name"),
        ))
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let sequence = TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.{}.{sequence}.tmp", std::process::id()));
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, dir.join(name))
    })();
    if written.is_err() {
        // Best effort: the error that matters is the write's, not the clean-up's.
        let _ = fs::remove_file(&temp);
    }
    written?;
    sync_dir(dir)
}

/// Make the rename itself durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;
    use crate::report::model::Report;
    use shakedown_plan::model::{SecretValue, Secrets};

    /// A secret with characters that JSON, Markdown and XML all escape differently.
    const CANARY: &str = "c4n4ry&<\"s3cr3t\">";

    fn redactor() -> Redactor {
        let mut secrets = Secrets::default();
        secrets.values.insert(
            "ops_key".into(),
            SecretValue {
                env: "TESTBED_OPS_KEY".into(),
                value: CANARY.into(),
            },
        );
        Redactor::new(&secrets)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_every_report_and_leaves_no_temporary_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(&tmp.path().join("runs").join("one")).expect("created");
        let report = sample_report();
        dir.write_reports(&report, &redactor()).expect("written");
        dir.write_reports(&report, &redactor()).expect("rewritten");
        assert_eq!(
            listing(dir.path()),
            vec!["junit.xml", "report.html", "report.json", "report.md"]
        );
        let json = fs::read_to_string(dir.path().join("report.json")).expect("read");
        let back: Report = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, report);
    }

    #[test]
    fn a_secret_never_reaches_any_file_in_any_escaping() {
        use base64::Engine as _;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(tmp.path()).expect("created");
        let mut report = sample_report();
        report.checks[1].reason = format!("401 with key {CANARY}");
        if let Some(m) = report.checks[0].metrics.as_mut() {
            // Quoted into a message before redaction, and echoed back in base64.
            m.error_clusters[0].example = format!(
                "echoed <{CANARY}>, expected {CANARY:?}, header Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("ops:{CANARY}"))
            );
        }
        report.preflight[1].url = format!("http://127.0.0.1:9/?api_key={CANARY}");
        report.decide();
        dir.write_reports(&report, &redactor()).expect("written");

        let escaped = [
            CANARY.to_string(),
            "c4n4ry".to_string(),
            serde_json::to_string(CANARY).expect("json"),
            "c4n4ry&amp;&lt;".to_string(),
            format!("{CANARY:?}"),
            base64::engine::general_purpose::STANDARD.encode(format!("ops:{CANARY}")),
        ];
        for name in listing(dir.path()) {
            let text = fs::read_to_string(dir.path().join(&name)).expect("read");
            for form in &escaped {
                assert!(
                    !text.contains(form.as_str()),
                    "{name} leaks {form}:\n{text}"
                );
            }
        }
        let json = fs::read_to_string(dir.path().join("report.json")).expect("read");
        assert!(json.contains("[REDACTED:ops_key]"));
        let back: Report = serde_json::from_str(&json).expect("still a report");
        assert_eq!(back.verdict, report.verdict);
    }

    #[test]
    fn without_the_redactor_the_canary_would_be_written() {
        // The leak test above can fail: with no secrets registered, the canary is written.
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(tmp.path()).expect("created");
        let mut report = sample_report();
        report.checks[1].reason = format!("401 with key {CANARY}");
        dir.write_reports(&report, &Redactor::default())
            .expect("written");
        let md = fs::read_to_string(dir.path().join("report.md")).expect("read");
        assert!(md.contains("c4n4ry"));
    }

    #[test]
    fn file_names_must_stay_inside_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(&tmp.path().join("run")).expect("created");
        for bad in ["", ".", "..", "../escape.txt", "sub/file", "a\\b"] {
            let err = dir.write_file(bad, "x").expect_err("rejected");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(!tmp.path().join("escape.txt").exists());
        assert_eq!(listing(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_failed_write_reports_the_error_and_keeps_the_old_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = RunDir::create(tmp.path()).expect("created");
        dir.write_file("effective-plan.toml", "old")
            .expect("written");
        // A directory where the target file should go makes the rename fail.
        fs::create_dir(tmp.path().join("report.md")).expect("mkdir");
        let err = dir
            .write_reports(&sample_report(), &redactor())
            .expect_err("cannot replace a directory");
        assert_ne!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            fs::read_to_string(tmp.path().join("effective-plan.toml")).expect("read"),
            "old"
        );
        assert_eq!(
            listing(dir.path()),
            vec!["effective-plan.toml", "report.html", "report.md"],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn create_fails_where_a_file_is_in_the_way() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("taken");
        fs::write(&file, "x").expect("write");
        assert!(RunDir::create(&file.join("run")).is_err());
    }
}
