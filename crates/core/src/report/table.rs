//! A small table shared by the text exporters: rendered as a GitHub-flavoured Markdown pipe
//! table for `report.md`, or as aligned plain text for a terminal.
//!
//! Cells hold text that is already in the target syntax (the Markdown exporter escapes inline
//! markup itself); the table only takes care of what would break its own structure: pipes and
//! line breaks.

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Numeric columns.
    Right,
}

/// A table with a header row and any number of body rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|(name, align)| (name.to_string(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are left empty and extra cells are dropped.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells
            .into_iter()
            .take(self.columns.len())
            .map(Into::into)
            .collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self
    }

    /// Whether the table has no body rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A GitHub-flavoured Markdown pipe table, one line per row, ending with a newline.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let header = self.columns.iter().map(|(name, _)| markdown_cell(name));
        push_markdown_row(&mut out, header);
        let rule = self.columns.iter().map(|(_, align)| match align {
            Align::Left => "---".to_string(),
            Align::Right => "---:".to_string(),
        });
        push_markdown_row(&mut out, rule);
        for row in &self.rows {
            push_markdown_row(&mut out, row.iter().map(|c| markdown_cell(c)));
        }
        out
    }

    /// Plain text with columns padded to their widest cell and separated by two spaces, ending
    /// with a newline. Line breaks inside cells become spaces.
    pub fn plain(&self) -> String {
        let flat: Vec<Vec<String>> =
            std::iter::once(self.columns.iter().map(|(name, _)| flatten(name)).collect())
                .chain(
                    self.rows
                        .iter()
                        .map(|row| row.iter().map(|c| flatten(c)).collect()),
                )
                .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                flat.iter()
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &flat {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - cell.chars().count();
                match self.columns[i].1 {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

fn push_markdown_row<I: Iterator<Item = String>>(out: &mut String, cells: I) {
    out.push('|');
    for cell in cells {
        out.push(' ');
        out.push_str(&cell);
        out.push_str(" |");
    }
    out.push('\n');
}

/// A cell that cannot end the row or the table early: pipes escaped (GFM also unescapes them
/// inside code spans), line breaks turned into spaces.
fn markdown_cell(text: &str) -> String {
    let flat = flatten(text);
    let mut out = String::with_capacity(flat.len());
    let mut backslashes = 0;
    for ch in flat.chars() {
        if ch == '|' && backslashes % 2 == 0 {
            out.push('\\');
        }
        backslashes = if ch == '\\' { backslashes + 1 } else { 0 };
        out.push(ch);
    }
    out
}

/// Line breaks and tabs become single spaces; surrounding whitespace is trimmed.
fn flatten(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = false;
    for ch in text.trim().chars() {
        if matches!(ch, '\n' | '\r' | '\t') {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(ch);
            last_space = ch == ' ';
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[("id", Align::Left), ("requests", Align::Right)]);
        t.row(["L1", "180"]).row(["L20", "7"]);
        t
    }

    #[test]
    fn markdown_has_header_rule_and_alignment() {
        assert_eq!(
            sample().markdown(),
            "| id | requests |\n| --- | ---: |\n| L1 | 180 |\n| L20 | 7 |\n"
        );
    }

    #[test]
    fn plain_pads_left_and_right_aligned_columns() {
        assert_eq!(
            sample().plain(),
            "id   requests\nL1        180\nL20         7\n"
        );
    }

    #[test]
    fn pipes_and_line_breaks_cannot_break_a_markdown_row() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        t.row(["x | y\nz", r"already \| escaped"]);
        let md = t.markdown();
        assert_eq!(md.lines().count(), 3);
        assert_eq!(
            md.lines().nth(2),
            Some(r"| x \| y z | already \| escaped |")
        );
    }

    #[test]
    fn rows_are_padded_or_cut_to_the_column_count() {
        let mut t = Table::new(&[("a", Align::Left), ("b", Align::Left)]);
        assert!(t.is_empty());
        t.row(["only"]).row(["1", "2", "3"]);
        assert_eq!(t.markdown().lines().nth(2), Some("| only |  |"));
        assert_eq!(t.markdown().lines().nth(3), Some("| 1 | 2 |"));
        assert!(!t.is_empty());
    }
}
