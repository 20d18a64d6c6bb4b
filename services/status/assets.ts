/**
 * The page's stylesheet, served as a file (/static/status.css) so that the
 * Content-Security-Policy can forbid inline style. The client script is a
 * TypeScript module of its own (client/main.ts, bundled: client-bundle.ts).
 */

export const STATUS_CSS = `
:root { --fg: #263238; --muted: #607d8b; --line: #eceff1; --bg: #fff; --accent: #1565c0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 1em; padding: .6em 1.2em; background: #263238; color: #fff; }
header.top a.brand { color: #fff; font-weight: 600; text-decoration: none; letter-spacing: .02em; }
nav.top-nav { display: flex; gap: .9em; }
nav.top-nav a { color: #cfd8dc; text-decoration: none; }
nav.top-nav a:hover { color: #fff; text-decoration: underline; }
.live { font-size: 12px; color: #b0bec5; }
.live.bad { color: #ffab91; }
main { padding: 1em 1.2em 3em; max-width: 1400px; }
h1 { font-size: 1.5em; margin: .3em 0; word-break: break-word; }
h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35em .6em; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
table.tasks td.mono, table.tasks td:first-child { white-space: nowrap; }
.mono, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
pre.err { color: #b71c1c; }
pre.spec { background: #f5f7f8; padding: .6em; border-radius: 4px; max-height: 24em; overflow: auto; }
.sub { color: var(--muted); font-size: 12px; word-break: break-word; }
.state { display: inline-block; padding: 0 .5em; border-radius: 9px; font-size: 12px; background: #eceff1; white-space: nowrap; }
.state-running, .state-starting, .state-securing, .state-finishing { background: #e3f2fd; color: #0d47a1; }
.state-succeeded { background: #e8f5e9; color: #1b5e20; }
.state-failed, .state-partially-failed { background: #ffebee; color: #b71c1c; }
.state-interrupted { background: #f3e5f5; color: #4a148c; }
.state-waiting, .state-pending, .state-submitted { background: #fff8e1; color: #795548; }
.state-cancelled, .state-cancelling { background: #eceff1; color: #37474f; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; margin: .8em 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
.note { color: var(--muted); font-size: 12px; max-width: 60em; }
ul.tags, ul.legend { list-style: none; padding: 0; margin: .3em 0; display: flex; flex-wrap: wrap; gap: .4em .9em; }
ul.tags li { background: #f5f7f8; border-radius: 4px; padding: 0 .4em; font-size: 12px; word-break: break-all; }
ul.tags .k { color: var(--muted); }
ul.legend li { font-size: 12px; color: var(--muted); }
.timeline-box { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; padding: 4px; }
.timeline-box svg { display: block; max-width: 100%; height: auto; }
form.filter { margin: .6em 0 1em; }
nav.pages { margin: .6em 0; }
.empty { color: var(--muted); }
details.spec summary { cursor: pointer; font-weight: 600; }
table.market { margin: .3em 0 .8em; }
dl.figures { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; margin: .6em 0; }
dl.figures dt { color: var(--muted); }
dl.figures dd { margin: 0; }
figure.chart-box { margin: .6em 0 1.2em; }
figure.chart-box figcaption { color: var(--muted); font-size: 12px; margin-bottom: .3em; }
figure.chart-box figcaption strong { color: var(--fg); }
.chart svg { display: block; width: 100%; max-width: 960px; height: auto; }
ul.notes li { color: #795548; font-size: 12px; }
details.ledger-tables summary { cursor: pointer; font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; background: #f5f7f8; padding: 0 .2em; border-radius: 3px; }
`;
