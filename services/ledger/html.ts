/**
 * The cost report as one self-contained HTML document (`spotbatch report
 * --format html`): the figures, the SVG charts of svg.ts inline, and a table
 * per task, pool and attempt (a job) or per job, pool and day (the fleet).
 * No script, no external file: the stylesheet is inline and the document's
 * Content-Security-Policy allows that stylesheet (by its hash) and nothing
 * else, so a string that escaped escaping still could not run or load
 * anything. Every value goes through the escaping `html` template.
 */
import { createHash } from 'node:crypto';
import { html, trusted, type Html } from '../../shared/html.js';
import { ledgerFigures, money, span, SPLIT_PARTS } from './figures.js';
import { attemptTimelineSvg, dailySpendSvg, launchHistogramSvg, moneySplitSvg, poolSpendSvg, spendOverTimeSvg } from './svg.js';
import type { FleetReport, JobLedger, PoolLedger } from './types.js';

const CSS = `
body { margin: 0 auto; padding: 1em 1.5em 3em; max-width: 1100px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #263238; }
h1 { font-size: 1.5em; margin: .3em 0; word-break: break-word; }
h2 { font-size: 1.15em; margin: 1.6em 0 .4em; }
table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; }
th, td { text-align: left; vertical-align: top; padding: .3em .6em; border-bottom: 1px solid #eceff1; }
th { font-size: 12px; color: #607d8b; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.sub, .note { color: #607d8b; font-size: 12px; }
dl.figures { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; }
dl.figures dt { color: #607d8b; }
dl.figures dd { margin: 0; }
figure { margin: .6em 0 1.2em; }
figure svg { display: block; width: 100%; max-width: 960px; height: auto; }
figcaption { color: #607d8b; font-size: 12px; }
ul.notes li { color: #795548; }
`;
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(CSS, 'utf8').digest('base64')}'; img-src data:; base-uri 'none'; form-action 'none'`;

/** The document around a report's body. */
function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="spotbatch report">
<title>${title}</title>
<style>${trusted(CSS)}</style>
</head>
<body>
${body}
</body>
</html>
`.text;
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`);
const opt = (v: number | undefined) => (v === undefined ? 'n/a' : money(v));

function figure(svg: Html, caption: string): Html {
  return html`<figure>${svg}<figcaption>${caption}</figcaption></figure>`;
}

function notes(list: string[]): Html {
  return list.length ? html`<h2>Notes</h2><ul class="notes">${list.map((n) => html`<li>${n}</li>`)}</ul>` : html``;
}

function poolTable(pools: PoolLedger[]): Html {
  const rows = [...pools].sort((a, b) => b.usd - a.usd || a.pool.localeCompare(b.pool));
  return html`<table class="pools"><thead><tr><th>Pool</th><th>Region</th><th>Market</th><th class="num">Attempts</th><th class="num">Interruptions</th><th class="num">Spend</th><th class="num">Wasted time</th><th class="num">Wasted</th></tr></thead><tbody>${rows.map(
    (p) =>
      html`<tr data-pool="${p.pool}"><td class="mono">${p.pool}</td><td>${p.region}</td><td>${p.market}</td><td class="num">${p.attempts}</td><td class="num">${p.interruptions}</td><td class="num">${money(p.usd)}</td><td class="num">${span(p.wastedSeconds)}</td><td class="num">${money(p.wastedUsd)}</td></tr>`,
  )}</tbody></table>`;
}

/** The figures both the report and the status page's job view show, as a definition list. */
export function jobFigures(l: JobLedger): Html {
  return html`<dl class="figures ledger-figures">
${ledgerFigures(l).map((f) => html`<dt>${f.label}</dt><dd data-figure="${f.key}">${f.text}</dd>
`)}</dl>`;
}

/** The four charts of a job, each in a figure with its caption. */
export function jobCharts(l: JobLedger): Html {
  return html`<h2>Spend over time</h2>
${figure(spendOverTimeSvg(l), 'Cumulative spend since submission; dashed: the same running time at the on-demand list price.')}
<h2>Attempts</h2>
${figure(attemptTimelineSvg(l), 'A bar per attempt from its request to its end; the lighter part is the launch wait and boot (to SSH-ready); on-demand attempts are outlined in orange; a triangle marks an interruption.')}
<h2>Launch times by pool</h2>
${figure(launchHistogramSvg(l), 'From the request to the instance ready for SSH.')}
<h2>Where the money went</h2>
${figure(moneySplitSvg(l.time, l.usd, l.name ?? l.jobId), 'The spend in proportion to instance time: useful work, work lost to interruptions since the last checkpoint, boot and launch wait, idle, duplicate runs.')}
${figure(poolSpendSvg(l.pools, l.name ?? l.jobId), 'Spend by pool; red: the compute its interruptions wasted.')}`;
}

export function renderJobReportHtml(l: JobLedger): string {
  const label = l.name ?? l.jobId;
  const tasks = l.tasks.map(
    (t) =>
      html`<tr data-task="${t.taskId}"><td class="mono">${t.taskId}</td><td>${t.state}</td><td class="num">${t.attempts.length}</td><td class="num">${t.interruptions}</td><td class="num">${money(t.usd)}</td><td class="num">${opt(t.onDemandUsd)}</td>${SPLIT_PARTS.map((p) => html`<td class="num">${span(t.time[p.key])}</td>`)}</tr>`,
  );
  const attempts = l.tasks.flatMap((t) =>
    t.attempts.map(
      (a) =>
        html`<tr><td class="mono">${t.taskId}</td><td class="num">${a.n}</td><td class="mono">${a.zone}/${a.type}</td><td>${a.market}</td><td>${a.open ? 'running' : (a.outcome ?? '')}${a.interrupted ? ' (interrupted)' : ''}</td><td>${iso(a.runningAt)}</td><td>${iso(a.endedAt)}</td><td>${a.rule}</td><td class="num">${span(a.billedSeconds)}</td><td class="num">${money(a.usd)}</td><td class="num">${opt(a.onDemandUsd)}</td></tr>`,
    ),
  );
  const body = html`<h1>Cost report: ${label}</h1>
<p class="sub">Job <span class="mono">${l.jobId}</span> · ${l.state} · submitted ${iso(l.submittedAt)}${l.endedAt !== undefined ? html` · ended ${iso(l.endedAt)}` : ''} · computed ${iso(l.computedAt)}</p>
${jobFigures(l)}
${notes(l.notes)}
${jobCharts(l)}
<h2>Tasks</h2>
<table class="tasks"><thead><tr><th>Task</th><th>State</th><th class="num">Attempts</th><th class="num">Interruptions</th><th class="num">Spend</th><th class="num">On demand</th>${SPLIT_PARTS.map((p) => html`<th class="num">${p.label}</th>`)}</tr></thead><tbody>${tasks}</tbody></table>
<h2>Pools</h2>
${poolTable(l.pools)}
<h2>Attempts</h2>
<table class="attempts"><thead><tr><th>Task</th><th class="num">#</th><th>Pool</th><th>Market</th><th>Outcome</th><th>Running</th><th>Ended</th><th>Billing</th><th class="num">Billed</th><th class="num">Spend</th><th class="num">On demand</th></tr></thead><tbody>${attempts}</tbody></table>
<p class="note">Billed as EC2 bills Linux instances: per second with a one-minute minimum; a spot instance EC2 interrupted in its first hour is not charged.</p>`;
  return page(`Cost report: ${label} · spotbatch`, body);
}

export function renderFleetReportHtml(r: FleetReport): string {
  const period = `${iso(r.since)} to ${iso(r.until)}`;
  const jobs = [...r.jobs]
    .sort((a, b) => b.submittedAt - a.submittedAt || a.jobId.localeCompare(b.jobId))
    .map(
      (j) =>
        html`<tr data-job="${j.jobId}"><td>${j.name ?? ''}<div class="sub mono">${j.jobId}</div></td><td>${j.state}</td><td>${iso(j.submittedAt)}</td><td class="num">${j.interruptions}</td><td class="num">${money(j.usd)}</td><td class="num">${opt(j.onDemandUsd)}</td></tr>`,
    );
  const days = [...r.days].sort((a, b) => a.day.localeCompare(b.day)).map((d) => html`<tr data-day="${d.day}"><td>${d.day}</td><td class="num">${money(d.usd)}</td><td class="num">${opt(d.onDemandUsd)}</td></tr>`);
  const body = html`<h1>Fleet cost report</h1>
<p class="sub">${period}</p>
<dl class="figures">
<dt>Spend</dt><dd>${money(r.usd)}</dd>
<dt>On-demand equivalent</dt><dd>${r.onDemandUsd === undefined ? 'not available (see the notes)' : money(r.onDemandUsd)}</dd>
<dt>Savings</dt><dd>${r.savingsUsd === undefined ? 'n/a' : money(r.savingsUsd)}</dd>
<dt>Jobs</dt><dd>${r.jobs.length}</dd>
</dl>
${notes(r.notes)}
<h2>Spend by day</h2>
${figure(dailySpendSvg(r.days), 'Spend per UTC day; dashed: the on-demand equivalent where known.')}
<h2>Spend by pool</h2>
${figure(poolSpendSvg(r.pools, period), 'Red: the compute the pool\u2019s interruptions wasted.')}
<h2>Jobs</h2>
<table class="jobs"><thead><tr><th>Job</th><th>State</th><th>Submitted</th><th class="num">Interruptions</th><th class="num">Spend</th><th class="num">On demand</th></tr></thead><tbody>${jobs}</tbody></table>
<h2>Pools</h2>
${poolTable(r.pools)}
<h2>Days</h2>
<table class="days"><thead><tr><th>Day (UTC)</th><th class="num">Spend</th><th class="num">On demand</th></tr></thead><tbody>${days}</tbody></table>`;
  return page('Fleet cost report · spotbatch', body);
}
