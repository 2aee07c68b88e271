// The report's stylesheet, inlined into the page: readable on screen, printable on A4.
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1d232b; --muted: #5c6670; --line: #d9dde2; --blue: #3b6fb6; --red: #b8402f; --amber: #c8660a; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1120px; padding: 24px 28px 64px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 8px; }
h3 small, .muted { color: var(--muted); font-weight: normal; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
/* Reason codes wrap after underscores only (the page puts <wbr> there). */
td code, .verdict b, ul.strata code { overflow-wrap: normal; word-break: normal; }
.scroll { max-width: 100%; overflow-x: auto; margin: 8px 0 14px; }
.scroll table { margin: 0; }
nav.toc { margin: 10px 0 0; font-size: 13px; }
nav.toc { display: flex; flex-wrap: wrap; gap: 4px 14px; }
nav.toc a { margin-right: 0; color: var(--blue); text-decoration: none; }
.howto { background: #f4f6f9; border-left: 4px solid var(--blue); padding: 10px 14px; margin: 16px 0; }
.howto p { margin: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 12px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.totals { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.totals div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.totals b { display: block; font-size: 20px; }
.totals span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f4f6f9; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td ul { margin: 0; padding-left: 16px; }
td li { margin: 1px 0; }
.warn { color: var(--red); }
.empty, .note { color: var(--muted); font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0 4px; font-size: 11px; }
svg.chart text { fill: var(--ink); }
svg.chart .tick { fill: var(--muted); }
svg.chart .axis-title { font-weight: 600; }
svg.chart .axis { stroke: #7c858f; stroke-width: 1; }
svg.chart .grid { stroke: #eceef1; stroke-width: 1; }
svg.chart .bar, svg.chart .bar-out { fill: var(--blue); }
svg.chart .bar.density { fill: #9dbbe3; }
svg.chart .bar-in { fill: #c9ced6; }
svg.chart .value.dropped { fill: var(--red); }
svg.chart .outside { fill: var(--muted); font-style: italic; }
svg.chart .cdf { fill: none; stroke: var(--red); stroke-width: 1.6; }
svg.chart .curve { fill: none; stroke-width: 2; }
svg.chart .curve.mixture-low { stroke: #b33; }
svg.chart .curve.mixture-high { stroke: #2a7; }
svg.chart .curve-label.mixture-low { fill: #b33; }
svg.chart .curve-label.mixture-high { fill: #2a7; }
svg.chart .threshold { stroke: var(--amber); stroke-width: 2; stroke-dasharray: 5 3; }
svg.chart .threshold-label { fill: var(--amber); font-weight: 600; }
svg.chart .median { stroke: #333; stroke-width: 1; stroke-dasharray: 2 2; }
svg.chart .median-label { fill: #333; }
.chart-block { break-inside: avoid; margin-bottom: 18px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(196px, 1fr)); gap: 12px; }
figure.card { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px; break-inside: avoid; overflow: hidden; }
.thumb { display: flex; justify-content: center; align-items: center; min-height: 120px; background: #f4f6f9; border-radius: 4px; }
.thumb img, .thumb svg { display: block; max-width: 100%; height: auto; }
.thumb.none { color: var(--muted); font-size: 12px; text-align: center; padding: 8px; }
figcaption { font-size: 12.5px; margin-top: 6px; }
figcaption p { margin: 3px 0; overflow-wrap: anywhere; }
figcaption .verdict b { color: var(--red); }
figcaption .detail, figcaption .id { color: var(--muted); }
figcaption .id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; }
figcaption dl { display: grid; grid-template-columns: max-content 1fr; gap: 0 8px; margin: 4px 0; }
figcaption dt { color: var(--muted); }
figcaption dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.box rect { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.box text { fill: #000; font-weight: 700; }
.box .badge { stroke: none; }
.box-0 .badge { fill: #ffd400; } .box-1 .badge { fill: #00e0ff; } .box-2 .badge { fill: #ff4fd8; }
.box-3 .badge { fill: #6dff5c; } .box-4 .badge { fill: #ff8c1a; } .box-5 .badge { fill: #ffffff; }
ol.boxes-key { list-style: none; margin: 4px 0 0; padding: 0; font-size: 12px; }
ol.boxes-key li { margin: 1px 0; overflow-wrap: anywhere; }
ol.boxes-key .key { display: inline-block; min-width: 16px; margin-right: 5px; text-align: center; font-weight: 700; border-radius: 3px; border: 1px solid #555; }
.box-key.box-0 .key { background: #ffd400; } .box-key.box-1 .key { background: #00e0ff; } .box-key.box-2 .key { background: #ff4fd8; }
.box-key.box-3 .key { background: #6dff5c; } .box-key.box-4 .key { background: #ff8c1a; } .box-key.box-5 .key { background: #ffffff; }
p.legend-boxes { font-size: 12.5px; }
.box-0 rect { stroke: #ffd400; } .box-1 rect { stroke: #00e0ff; } .box-2 rect { stroke: #ff4fd8; }
.box-3 rect { stroke: #6dff5c; } .box-4 rect { stroke: #ff8c1a; } .box-5 rect { stroke: #ffffff; }
svg.chart .frame { fill: none; stroke: #7c858f; stroke-width: 1; }
svg.chart .shift-dot { fill: var(--blue); fill-opacity: .75; }
svg.chart .shift-dot.outside-tol { fill: var(--red); }
svg.chart .tolerance { fill: none; stroke: var(--amber); stroke-width: 1.5; stroke-dasharray: 5 3; }
.swatch { display: inline-block; width: 14px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; border: 1px solid #555; }
.swatch.rgb-edge { background: #00d8ff; } .swatch.depth-edge { background: #ff7a1a; } .swatch.both-edge { background: #ffffff; }
.legend { font-size: 13px; }
@media (max-width: 600px) {
  body { padding: 14px 12px 40px; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 4px; overflow-wrap: anywhere; }
  .grid { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); }
  /* Charts keep readable labels: they scroll inside their block instead of shrinking. */
  .chart-block, .scroll { overflow-x: auto; }
  svg.chart { max-width: none; width: 600px; }
}
.dup-groups { display: grid; gap: 10px; }
.dup-group { display: flex; gap: 8px; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure.dup-member { margin: 0; width: 120px; flex: none; font-size: 12px; }
figure.dup-member .thumb { min-height: 90px; }
ul.strata { font-size: 12.5px; columns: 2 240px; margin: 4px 0 10px; }
details.config pre { max-height: 480px; overflow: auto; background: #f4f6f9; padding: 8px; font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  a { color: inherit; text-decoration: none; }
  .scroll { overflow: visible; }
  details.config pre { max-height: none; }
  .grid { grid-template-columns: repeat(4, 1fr); }
  h2 { break-after: avoid; }
  nav.toc { display: none; }
  tr, figure.card, .chart-block { break-inside: avoid; }
}
`;
