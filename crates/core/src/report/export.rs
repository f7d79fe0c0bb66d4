//! The exporter seam: each report file is one pure renderer of the [`Report`] model behind the
//! small [`Exporter`] trait, and [`exporters`] lists every file a run directory gets.

use crate::report::json::JsonExporter;
use crate::report::junit::JunitExporter;
use crate::report::markdown::MarkdownExporter;
use crate::report::model::Report;

/// Renders a report into one file. Exporters only render: every figure and every reason is
/// computed once, in the model.
pub trait Exporter {
    /// The file's name in the run directory, e.g. `report.json`.
    fn file_name(&self) -> &'static str;
    /// The file's contents. Redaction is applied by the caller, on the model and on these bytes.
    fn render(&self, report: &Report) -> String;
}

/// Every exporter, in the order their files are written (`report.json` last, so that a reader
/// polling for it finds the other files already in place).
pub fn exporters() -> [&'static dyn Exporter; 3] {
    [&MarkdownExporter, &JunitExporter, &JsonExporter]
}
