/**
 * The job view's cost section: the ledger's figures (services/ledger) and its
 * charts, inline in the job page and each on its own at
 * /jobs/:id/charts/NAME.svg, which the client script fetches again while the
 * job runs (as it does the timeline). The charts are the cost report's own
 * (services/ledger/svg.ts): escaped, no script.
 */
import { money, span } from '../ledger/figures.js';
import { jobFigures } from '../ledger/html.js';
import { attemptTimelineSvg, launchHistogramSvg, moneySplitSvg, poolSpendSvg, spendOverTimeSvg } from '../ledger/svg.js';
import type { JobLedger } from '../ledger/types.js';
import { html, type Html } from '../../shared/html.js';

const label = (l: JobLedger) => l.name ?? l.jobId;

/** The charts by the name of their route, in the order the page shows them, each with its heading and caption. */
export const LEDGER_CHARTS: Record<string, { heading: string; caption: string; svg: (l: JobLedger) => Html }> = {
  spend: { heading: 'Spend over time', caption: 'Cumulative spend since submission; dashed: the same running time at the on-demand list price.', svg: spendOverTimeSvg },
  split: { heading: 'Where the money went', caption: 'The spend in proportion to instance time: useful work, work lost since the last checkpoint, boot and launch wait, idle, duplicate runs.', svg: (l) => moneySplitSvg(l.time, l.usd, label(l)) },
  pools: { heading: 'Spend and interruptions by pool', caption: 'Red: the compute the pool\u2019s interruptions wasted.', svg: (l) => poolSpendSvg(l.pools, label(l)) },
  launches: { heading: 'Launch times by pool', caption: 'From the request to the instance ready for SSH.', svg: launchHistogramSvg },
  attempts: { heading: 'Attempts as billed', caption: 'Every task\u2019s attempts (the first 200 tasks) from request to end; lighter: launch wait and boot; outlined in orange: on demand.', svg: (l) => attemptTimelineSvg(l) },
};

export function chartHref(jobId: string, name: string): string {
  return `/jobs/${encodeURIComponent(jobId)}/charts/${name}.svg`;
}

/** The time split of each task of the ledger, and the interruptions by pool, as tables. */
function tables(l: JobLedger): Html {
  const pools = l.pools.filter((p) => p.interruptions > 0 || p.wastedSeconds > 0);
  return html`<details class="ledger-tables"><summary>Time split per task, interruptions by pool</summary>
<table class="ledger-tasks"><thead><tr><th>Task</th><th>Spend</th><th>On-demand equivalent</th><th>Useful</th><th>Lost</th><th>Boot</th><th>Idle</th><th>Duplicate</th><th>Interruptions</th></tr></thead><tbody>${l.tasks.map(
    (t) =>
      html`<tr data-task-id="${t.taskId}"><td class="mono">${t.taskId}</td><td class="num">${money(t.usd)}</td><td class="num">${t.onDemandUsd === undefined ? 'n/a' : money(t.onDemandUsd)}</td><td class="num">${span(t.time.usefulSeconds)}</td><td class="num">${span(t.time.lostSeconds)}</td><td class="num">${span(t.time.bootSeconds)}</td><td class="num">${span(t.time.idleSeconds)}</td><td class="num">${span(t.time.duplicateSeconds)}</td><td class="num">${t.interruptions}</td></tr>`,
  )}</tbody></table>
${pools.length
  ? html`<table class="ledger-pools"><thead><tr><th>Pool</th><th>Market</th><th>Attempts</th><th>Interruptions</th><th>Compute wasted</th><th>Its cost</th></tr></thead><tbody>${pools.map((p) => html`<tr data-pool="${p.pool}"><td class="mono">${p.pool}</td><td>${p.market}</td><td class="num">${p.attempts}</td><td class="num">${p.interruptions}</td><td class="num">${span(p.wastedSeconds)}</td><td class="num">${money(p.wastedUsd)}</td></tr>`)}</tbody></table>`
  : html`<p class="empty">No interruption has wasted any compute.</p>`}
</details>`;
}

export function ledgerSection(l: JobLedger): Html {
  const charts = Object.entries(LEDGER_CHARTS).map(
    ([name, c]) => html`<figure class="chart-box"><figcaption><strong>${c.heading}</strong> · ${c.caption} <a href="${chartHref(l.jobId, name)}">SVG</a></figcaption><div class="chart" id="chart-${name}" data-chart="${name}">${c.svg(l)}</div></figure>`,
  );
  return html`<section id="ledger"><h2>Cost</h2>
<p class="sub">From the cost ledger: each attempt billed as EC2 bills it (per second with a one-minute minimum; a spot instance EC2 interrupted in its first hour is free) over its pool's price history. Computed <span data-figure="computed">${new Date(l.computedAt).toISOString().slice(0, 19).replace('T', ' ')} UTC</span>.</p>
${jobFigures(l)}
${l.notes.length ? html`<ul class="notes" id="ledger-notes">${l.notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
${charts}
${tables(l)}
</section>`;
}
