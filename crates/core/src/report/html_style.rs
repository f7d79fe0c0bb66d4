//! The style sheet of `report.html`: system fonts only, so that no font file is fetched, and
//! colours that say the verdict and each status at a glance.

/// The page's only style sheet. System fonts only: no font file is fetched.
pub const CSS: &str = r#"
:root{--go:#1a7f37;--nogo:#cf222e;--inc:#9a6700;--abort:#57606a;--ink:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:24px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink)}
h1{margin:.1em 0;font-size:2.2em;line-height:1.15}
h2{margin:1.6em 0 .5em;font-size:1.35em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{margin:1.2em 0 .4em;font-size:1.1em}
h4{margin:1em 0 .3em;font-size:1em}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--bg);padding:0 .25em;border-radius:4px;word-break:break-word}
table{border-collapse:collapse;margin:.5em 0 1em;width:100%}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{white-space:nowrap}
td code,.faults td{overflow-wrap:anywhere}
th{background:var(--bg);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{border-radius:10px;padding:18px 24px;color:#fff;margin-bottom:16px}
.verdict h2.reasons-title{color:#fff;border:0;margin:.6em 0 .2em;font-size:1em;text-transform:uppercase;letter-spacing:.05em;opacity:.9}
.verdict .eyebrow,.verdict .facts{margin:0;opacity:.92}
.verdict .reasons{margin:.2em 0 0;padding-left:1.2em;font-size:1.08em}
.verdict-word{font-weight:800;letter-spacing:.02em}
.plan-name{font-weight:400;opacity:.9}
.v-go{background:var(--go)}.v-nogo{background:var(--nogo)}.v-incomplete{background:var(--inc)}.v-aborted{background:var(--abort)}
.badge{white-space:nowrap;display:inline-block;border-radius:999px;padding:0 .6em;font-size:.8em;font-weight:700;color:#fff;vertical-align:middle}
.s-pass{background:var(--go)}.s-fail{background:var(--nogo)}.s-blocked{background:#8250df}.s-inconclusive{background:var(--inc)}.s-skipped{background:var(--abort)}
.check{border:1px solid var(--line);border-radius:10px;padding:4px 18px 10px;margin:18px 0}
.check h2{border:0}
.check-id{font-family:ui-monospace,Menlo,Consolas,monospace}
.reason{font-size:1.05em}
.hint{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:6px 10px}
.notice,.missing{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:8px 14px}
.missing h2{border:0;margin:.2em 0}
.empty{color:var(--mute);font-style:italic}
.legend,figcaption{color:var(--mute);font-size:.9em}
figure{margin:0}
tr.t-fail td{background:#ffebe9}
.witnesses{font-size:.9em;margin:.3em 0 .6em}
.faults{font-size:.88em}
.examples code{display:inline-block}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dt{color:var(--mute)}dd{margin:0}
svg.chart{width:100%;height:auto;font:11px system-ui,sans-serif}
svg .panel{fill:#fff;stroke:var(--line)}
svg .grid{stroke:#eaeef2}
svg .tick{stroke:var(--mute)}
svg .axis{fill:var(--mute)}
svg .panel-title{fill:var(--ink);font-weight:600}
svg .bar-ok{fill:#54aeff}
svg .bar-failed{fill:var(--nogo)}
svg polyline{fill:none;stroke-width:1.8}
svg .line-errors{stroke:var(--nogo);fill:var(--nogo)}
svg polyline.line-errors{fill:none}
svg .line-p50{stroke:#1a7f37;fill:#1a7f37}
svg .line-p95{stroke:#bf8700;fill:#bf8700}
svg .line-p99{stroke:#cf222e;fill:#cf222e}
svg line.line-p50,svg line.line-p95,svg line.line-p99{stroke-width:3}
svg polyline.line-p50,svg polyline.line-p95,svg polyline.line-p99{fill:none}
svg .fault-window{fill:#cf222e;fill-opacity:.12;stroke:#cf222e;stroke-opacity:.5;stroke-dasharray:4 3}
svg .fault-label{fill:#a40e26;font-weight:700}
svg .check-span{fill:#ddf4ff;stroke:#54aeff}
svg .check-label{fill:#0550ae;font-weight:700}
svg .marker{stroke:#1a7f37;stroke-width:1.5;stroke-dasharray:5 3}
svg .marker-label{fill:#1a7f37;font-weight:700}
svg .row-label{fill:var(--ink)}
svg .range{stroke:var(--mute);stroke-width:1.5}
svg .iqr{fill:#54aeff;fill-opacity:.6;stroke:#0969da}
svg .tick-p50{stroke:#1a7f37;stroke-width:2.5}
svg .tick-p99{stroke:#cf222e;stroke-width:2.5}
@media print{body{max-width:none}.check{break-inside:avoid}}
"#;
