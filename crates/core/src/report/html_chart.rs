//! Inline SVG charts for `report.html`, drawn by hand so that the page needs no script, no font
//! file and no network: the run's timeline (throughput, error rate, p50/p95/p99 per second, with
//! check spans, shaded fault windows and recovery points) and each check's latency percentiles.
//!
//! Charts only draw what they are given; every figure comes from the report model.

use std::fmt::Write as _;

use crate::metrics::summary::{LatencySummary, WindowSummary};

/// Width of every chart, in SVG units (the page scales it to its column).
const WIDTH: f64 = 960.0;
/// Left margin, for the y-axis labels.
const LEFT: f64 = 64.0;
/// Right margin.
const RIGHT: f64 = 16.0;
/// Height of one timeline panel.
const PANEL: f64 = 120.0;
/// Vertical gap between panels (holds the panel title).
const GAP: f64 = 28.0;
/// Rows of fault labels above the panels.
const LABEL_ROWS: usize = 3;
/// Height of one row of fault labels.
const LABEL_ROW: f64 = 14.0;
/// Space above the first panel, for band labels (check spans, then rows of fault labels).
const TOP: f64 = 30.0 + LABEL_ROWS as f64 * LABEL_ROW;
/// Estimated width of one label character, for placing labels so they do not overlap.
const CHAR_WIDTH: f64 = 6.2;
/// Longest band label drawn, in characters; the full label is in the band's tooltip.
const LABEL_CHARS: usize = 32;
/// Space under the last panel, for the time axis.
const BOTTOM: f64 = 36.0;

/// A span of the timeline: a check that ran, or a fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// What it is, e.g. `L1` or `C1 kill worker-0`.
    pub label: String,
    /// Start, in seconds since the start of the run.
    pub start: f64,
    /// End, in seconds since the start of the run.
    pub end: f64,
    /// How it is drawn.
    pub kind: BandKind,
}

/// How a band is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// A check's span: a thin bar above the panels.
    Check,
    /// A fault window: shaded across every panel.
    Fault,
}

/// A point in time worth a vertical line (a recovery, a first failure).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// What happened.
    pub label: String,
    /// When, in seconds since the start of the run.
    pub at: f64,
}

/// The run's timeline: requests per second (failures in red), error rate, and p50/p95/p99
/// latency, one point per second, with `bands` and `markers` drawn across the panels.
pub fn timeline(windows: &[WindowSummary], bands: &[Band], markers: &[Marker]) -> String {
    let last_window = windows.iter().map(|w| w.second + 1).max().unwrap_or(1) as f64;
    let last_band = bands
        .iter()
        .map(|b| b.end)
        .chain(markers.iter().map(|m| m.at))
        .fold(0.0_f64, f64::max);
    let span = last_window.max(last_band.ceil()).max(1.0);
    let x = |s: f64| LEFT + (s / span) * (WIDTH - LEFT - RIGHT);
    let height = TOP + 3.0 * PANEL + 2.0 * GAP + BOTTOM;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg"><title id="timeline-title">Requests per second, error rate and latency percentiles per second of the run</title>"#
    );
    let panel_top = |i: usize| TOP + i as f64 * (PANEL + GAP);
    let bottom = panel_top(2) + PANEL;

    // Fault windows first, so that the data is drawn over them. Each label takes the first row
    // where it does not run into the label before it (or the row that ends first).
    let mut row_ends = [f64::NEG_INFINITY; LABEL_ROWS];
    for band in bands.iter().filter(|b| b.kind == BandKind::Fault) {
        let (x0, x1) = (x(band.start), x(band.end.max(band.start)));
        let label = shorten(&band.label, LABEL_CHARS);
        let row = (0..LABEL_ROWS)
            .find(|r| row_ends[*r] + 6.0 <= x0)
            .unwrap_or_else(|| {
                (0..LABEL_ROWS)
                    .min_by(|a, b| row_ends[*a].total_cmp(&row_ends[*b]))
                    .unwrap_or(0)
            });
        row_ends[row] = x0 + 3.0 + label.chars().count() as f64 * CHAR_WIDTH;
        let row_y = TOP - 6.0 - (LABEL_ROWS - 1 - row) as f64 * LABEL_ROW;
        let _ = write!(
            svg,
            r#"<rect class="fault-window" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            row_y - 10.0,
            (x1 - x0).max(2.0),
            bottom - row_y + 10.0,
            esc(&band.label)
        );
        let _ = write!(
            svg,
            r#"<text class="fault-label" x="{:.1}" y="{row_y:.1}">{}<title>{}</title></text>"#,
            x0 + 3.0,
            esc(&label),
            esc(&band.label)
        );
    }
    for band in bands.iter().filter(|b| b.kind == BandKind::Check) {
        let (x0, x1) = (x(band.start), x(band.end.max(band.start)));
        let _ = write!(
            svg,
            r#"<rect class="check-span" x="{x0:.1}" y="6" width="{:.1}" height="12"><title>{}</title></rect><text class="check-label" x="{:.1}" y="16">{}</text>"#,
            (x1 - x0).max(2.0),
            esc(&band.label),
            x0 + 3.0,
            esc(&band.label)
        );
    }

    // Panel 1: throughput, with failures stacked in red.
    let max_requests = windows.iter().map(|w| w.requests).max().unwrap_or(0).max(1) as f64;
    let top = panel_top(0);
    panel_frame(
        &mut svg,
        top,
        "requests per second (failed in red)",
        max_requests,
        "",
    );
    let bar = ((WIDTH - LEFT - RIGHT) / span * 0.8).max(1.0);
    for w in windows {
        let x0 = x(w.second as f64) + bar * 0.125;
        let h = w.requests as f64 / max_requests * PANEL;
        let hf = w.failures.min(w.requests) as f64 / max_requests * PANEL;
        let _ = write!(
            svg,
            r#"<rect class="bar-ok" x="{x0:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}"><title>second {}: {} requests, {} failed</title></rect>"#,
            top + PANEL - h,
            h,
            w.second,
            w.requests,
            w.failures
        );
        if hf > 0.0 {
            let _ = write!(
                svg,
                r#"<rect class="bar-failed" x="{x0:.1}" y="{:.1}" width="{bar:.1}" height="{hf:.1}"/>"#,
                top + PANEL - hf
            );
        }
    }

    // Panel 2: error rate.
    let top = panel_top(1);
    panel_frame(&mut svg, top, "error rate", 100.0, "%");
    let rates: Vec<(u64, f64)> = windows
        .iter()
        .filter(|w| w.requests > 0)
        .map(|w| (w.second, w.failures as f64 / w.requests as f64 * 100.0))
        .collect();
    series(
        &mut svg,
        &rates,
        "line-errors",
        |s| x(s + 0.5),
        |v| top + PANEL - v / 100.0 * PANEL,
    );

    // Panel 3: latency percentiles.
    let top = panel_top(2);
    let max_ms = windows
        .iter()
        .filter(|w| w.requests > 0)
        .map(|w| w.p99.max(w.p95).max(w.p50))
        .fold(0.0_f64, f64::max);
    let max_ms = nice_ceiling(max_ms.max(1.0));
    panel_frame(&mut svg, top, "latency p50 / p95 / p99", max_ms, " ms");
    for (class, pick) in [
        (
            "line-p50",
            (|w: &WindowSummary| w.p50) as fn(&WindowSummary) -> f64,
        ),
        ("line-p95", |w| w.p95),
        ("line-p99", |w| w.p99),
    ] {
        let points: Vec<(u64, f64)> = windows
            .iter()
            .filter(|w| w.requests > 0)
            .map(|w| (w.second, pick(w)))
            .collect();
        series(
            &mut svg,
            &points,
            class,
            |s| x(s + 0.5),
            |v| top + PANEL - (v / max_ms).min(1.0) * PANEL,
        );
    }
    legend(&mut svg, WIDTH - RIGHT - 250.0, top - 10.0);

    // Markers across every panel.
    for marker in markers {
        let mx = x(marker.at);
        let _ = write!(
            svg,
            r#"<line class="marker" x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{bottom:.1}"/><text class="marker-label" x="{:.1}" y="{:.1}">{}</text>"#,
            TOP - 14.0,
            mx + 3.0,
            bottom - 4.0,
            esc(&marker.label)
        );
    }

    // Time axis.
    let step = nice_step(span, 10.0);
    let mut s = 0.0;
    while s <= span + 1e-9 {
        let tx = x(s);
        let _ = write!(
            svg,
            r#"<line class="tick" x1="{tx:.1}" y1="{bottom:.1}" x2="{tx:.1}" y2="{:.1}"/><text class="axis" x="{tx:.1}" y="{:.1}" text-anchor="middle">{}s</text>"#,
            bottom + 4.0,
            bottom + 16.0,
            trim(s)
        );
        s += step;
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the start of the run</text></svg>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        bottom + 32.0
    );
    svg
}

/// One row per step: a bar from min to max with p50, p95 and p99 marked, on a shared log scale,
/// so that a slow tail stands out at a glance.
pub fn latency_percentiles(rows: &[(String, LatencySummary)]) -> String {
    let rows: Vec<&(String, LatencySummary)> = rows.iter().filter(|(_, l)| l.count > 0).collect();
    if rows.is_empty() {
        return String::new();
    }
    let row_h = 26.0;
    let label_w = 150.0;
    let top = 10.0;
    let height = top + rows.len() as f64 * row_h + 30.0;
    let lo = rows
        .iter()
        .map(|(_, l)| l.min.max(0.01))
        .fold(f64::INFINITY, f64::min);
    let hi = rows
        .iter()
        .map(|(_, l)| l.max.max(lo * 10.0))
        .fold(0.0, f64::max);
    let (lo_log, hi_log) = (lo.log10().floor(), hi.log10().ceil());
    let x = |v: f64| {
        let t = (v.max(0.01).log10() - lo_log) / (hi_log - lo_log).max(1.0);
        label_w + t.clamp(0.0, 1.0) * (WIDTH - label_w - RIGHT)
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart latency" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg"><title>Latency per step: min to max, with p50, p95 and p99 marked (log scale)</title>"#
    );
    let mut decade = lo_log;
    while decade <= hi_log + 1e-9 {
        let v = 10f64.powf(decade);
        let gx = x(v);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{:.1}"/><text class="axis" x="{gx:.1}" y="{:.1}" text-anchor="middle">{} ms</text>"#,
            height - 24.0,
            height - 10.0,
            trim(v)
        );
        decade += 1.0;
    }
    for (i, (name, l)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h + row_h / 2.0;
        let _ = write!(
            svg,
            r#"<text class="row-label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><line class="range" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"><title>min {} ms, max {} ms</title></line>"#,
            label_w - 8.0,
            y + 4.0,
            esc(name),
            x(l.min),
            x(l.max),
            trim(l.min),
            trim(l.max)
        );
        let _ = write!(
            svg,
            r#"<rect class="iqr" x="{:.1}" y="{:.1}" width="{:.1}" height="12"><title>p50 {} ms to p95 {} ms</title></rect>"#,
            x(l.p50),
            y - 6.0,
            (x(l.p95) - x(l.p50)).max(1.5),
            trim(l.p50),
            trim(l.p95)
        );
        for (class, v, what) in [("tick-p50", l.p50, "p50"), ("tick-p99", l.p99, "p99")] {
            let tx = x(v);
            let _ = write!(
                svg,
                r#"<line class="{class}" x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}"><title>{what} {} ms</title></line>"#,
                y - 9.0,
                y + 9.0,
                trim(v)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn panel_frame(svg: &mut String, top: f64, title: &str, max: f64, unit: &str) {
    let _ = write!(
        svg,
        r#"<text class="panel-title" x="{LEFT}" y="{:.1}">{}</text><rect class="panel" x="{LEFT}" y="{top:.1}" width="{:.1}" height="{PANEL}"/>"#,
        top - 6.0,
        esc(title),
        WIDTH - LEFT - RIGHT
    );
    for frac in [0.0, 0.5, 1.0] {
        let y = top + PANEL - frac * PANEL;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}{unit}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            trim(max * frac)
        );
    }
}

/// A polyline per run of consecutive seconds; a second without requests breaks the line.
fn series(
    svg: &mut String,
    points: &[(u64, f64)],
    class: &str,
    x: impl Fn(f64) -> f64,
    y: impl Fn(f64) -> f64,
) {
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut previous: Option<u64> = None;
    let flush = |svg: &mut String, run: &mut Vec<(f64, f64)>| {
        match run.len() {
            0 => {}
            1 => {
                let _ = write!(
                    svg,
                    r#"<circle class="{class}" cx="{:.1}" cy="{:.1}" r="2.5"/>"#,
                    run[0].0, run[0].1
                );
            }
            _ => {
                let pts: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                let _ = write!(
                    svg,
                    r#"<polyline class="{class}" points="{}"/>"#,
                    pts.join(" ")
                );
            }
        }
        run.clear();
    };
    for (second, value) in points {
        if previous.is_some_and(|p| p + 1 != *second) {
            flush(svg, &mut run);
        }
        run.push((x(*second as f64), y(*value)));
        previous = Some(*second);
    }
    flush(svg, &mut run);
}

fn legend(svg: &mut String, x: f64, y: f64) {
    for (i, (class, label)) in [
        ("line-p50", "p50"),
        ("line-p95", "p95"),
        ("line-p99", "p99"),
    ]
    .iter()
    .enumerate()
    {
        let lx = x + i as f64 * 80.0;
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{lx:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}">{label}</text>"#,
            lx + 24.0,
            lx + 30.0,
            y + 4.0
        );
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving at most about `ticks` ticks over `span`.
fn nice_step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    step.max(1.0)
}

/// The smallest round number (1, 2 or 5 times a power of ten) at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= value)
        .unwrap_or(10.0 * power)
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A number without needless decimals.
fn trim(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub use shakedown_plan::redact::forms::esc;

#[cfg(test)]
mod tests {
    use super::*;

    fn window(second: u64, requests: u64, failures: u64, p95: f64) -> WindowSummary {
        WindowSummary {
            second,
            requests,
            failures,
            p50: p95 / 2.0,
            p95,
            p99: p95 * 1.2,
            in_flight: 0,
        }
    }

    #[test]
    fn the_timeline_draws_a_bar_per_second_and_breaks_lines_at_gaps() {
        let windows = [
            window(0, 10, 0, 5.0),
            window(1, 12, 3, 9.0),
            window(4, 8, 0, 6.0),
        ];
        let bands = [Band {
            label: "C1 kill worker-0".into(),
            start: 1.0,
            end: 3.0,
            kind: BandKind::Fault,
        }];
        let markers = [Marker {
            label: "recovered".into(),
            at: 3.5,
        }];
        let svg = timeline(&windows, &bands, &markers);
        assert_eq!(svg.matches(r#"class="bar-ok""#).count(), 3);
        assert_eq!(svg.matches(r#"class="bar-failed""#).count(), 1);
        // Seconds 0-1 form one line, second 4 stands alone: per series, one polyline and one dot.
        assert_eq!(svg.matches(r#"<polyline class="line-p95""#).count(), 1);
        assert_eq!(svg.matches(r#"<circle class="line-p95""#).count(), 1);
        assert!(svg.contains(r#"class="fault-window""#));
        assert!(svg.contains(">C1 kill worker-0<title>C1 kill worker-0</title></text>"));
        assert!(svg.contains(">recovered</text>"));
        assert!(svg.contains("second 1: 12 requests, 3 failed"));
    }

    #[test]
    fn labels_are_escaped() {
        let bands = [Band {
            label: "<script>x</script>".into(),
            start: 0.0,
            end: 1.0,
            kind: BandKind::Check,
        }];
        let svg = timeline(&[], &bands, &[]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn latency_rows_skip_steps_without_requests() {
        let l = LatencySummary {
            count: 5,
            min: 1.0,
            mean: 3.0,
            p50: 2.0,
            p90: 4.0,
            p95: 5.0,
            p99: 9.0,
            max: 12.0,
        };
        let svg = latency_percentiles(&[
            ("login".into(), l.clone()),
            ("empty".into(), LatencySummary::default()),
        ]);
        assert!(svg.contains(">login</text>"));
        assert!(!svg.contains(">empty</text>"));
        assert_eq!(latency_percentiles(&[]), "");
    }

    #[test]
    fn steps_and_ceilings_are_round() {
        assert_eq!(nice_step(47.0, 10.0), 5.0);
        assert_eq!(nice_step(3.0, 10.0), 1.0);
        assert_eq!(nice_step(400.0, 10.0), 50.0);
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(4.2), 5.0);
        assert_eq!(trim(2.0), "2");
        assert_eq!(trim(0.354), "0.35");
    }
}
