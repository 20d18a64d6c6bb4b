/**
 * The report's forms: a renderer per format, for one job's ledger and for the
 * fleet's totals. json and md are here; `html` (with SVG charts) is
 * services/ledger/html.ts. A format without a renderer is refused by
 * `spotbatch report` naming the ones there are.
 */
import { renderFleetReportHtml, renderJobReportHtml } from './html.js';
import type { FleetReport, JobLedger, PoolLedger, TimeSplit } from './types.js';

export interface Renderer {
  job(ledger: JobLedger): string;
  fleet(report: FleetReport): string;
}

export const REPORT_FORMATS = ['json', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const usd = (v: number | undefined) => (v === undefined ? 'n/a' : `$${v.toFixed(v !== 0 && Math.abs(v) < 0.01 ? 6 : 4)}`);
const secs = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(2)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);
/** A table cell: no pipes or line breaks inside. */
const cell = (v: unknown) => String(v).replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');

function table(head: string[], rows: unknown[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

const splitCells = (t: TimeSplit) => [secs(t.usefulSeconds), secs(t.lostSeconds), secs(t.bootSeconds), secs(t.idleSeconds), secs(t.duplicateSeconds)];
const SPLIT_HEAD = ['useful', 'lost', 'boot', 'idle', 'duplicate'];

function poolsTable(pools: readonly PoolLedger[]): string {
  return table(
    ['pool', 'region', 'market', 'attempts', 'interruptions', 'spend', 'wasted', 'wasted spend'],
    pools.map((p) => [p.pool, p.region, p.market, p.attempts, p.interruptions, usd(p.usd), secs(p.wastedSeconds), usd(p.wastedUsd)]),
  );
}

function notesBlock(notes: readonly string[]): string {
  return notes.length ? `\n## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` : '';
}

export const markdown: Renderer = {
  job(l) {
    const attempts = l.tasks.flatMap((t) => t.attempts);
    const interrupted = attempts.filter((a) => a.interrupted);
    return `# Cost report: ${l.name ?? l.jobId}

Job \`${l.jobId}\`, ${l.state}; submitted ${iso(l.submittedAt)}${l.endedAt !== undefined ? `, ended ${iso(l.endedAt)}` : ''}; computed ${iso(l.computedAt)}.

## Totals

${table(
  ['spend', 'spot', 'on-demand fallback', 'on-demand equivalent', 'saved', 'saved %'],
  [[usd(l.usd), usd(l.spotUsd), usd(l.onDemandFallbackUsd), usd(l.onDemandUsd), usd(l.savingsUsd), l.savingsPct === undefined ? 'n/a' : `${l.savingsPct}%`]],
)}

Where the time went:

${table(SPLIT_HEAD, [splitCells(l.time)])}

## Tasks

${table(['task', 'state', 'attempts', 'interruptions', 'spend', 'on-demand', ...SPLIT_HEAD], l.tasks.map((t) => [t.taskId, t.state, t.attempts.length, t.interruptions, usd(t.usd), usd(t.onDemandUsd), ...splitCells(t.time)]))}

## Attempts

${table(
  ['task', 'n', 'pool', 'market', 'outcome', 'rule', 'billed', 'spend'],
  attempts.map((a) => [a.taskId, a.n, `${a.zone}/${a.type}`, a.market, a.open ? 'running' : (a.outcome ?? ''), a.rule, secs(a.billedSeconds), usd(a.usd)]),
)}

## Pools

${poolsTable(l.pools)}

## Interruptions

${interrupted.length ? table(['task', 'n', 'pool', 'ran', 'rule', 'spend'], interrupted.map((a) => [a.taskId, a.n, `${a.zone}/${a.type}`, secs(a.runningAt !== undefined && a.endedAt !== undefined ? (a.endedAt - a.runningAt) / 1000 : 0), a.rule, usd(a.usd)])) : 'None.'}
${notesBlock(l.notes)}`;
  },
  fleet(r) {
    return `# Fleet cost report

From ${iso(r.since)} to ${iso(r.until)}: ${r.jobs.length} jobs, spend ${usd(r.usd)}, on-demand equivalent ${usd(r.onDemandUsd)}, saved ${usd(r.savingsUsd)}.

## By job

${table(['job', 'name', 'state', 'submitted', 'spend', 'on-demand', 'interruptions'], r.jobs.map((j) => [j.jobId, j.name ?? '', j.state, iso(j.submittedAt), usd(j.usd), usd(j.onDemandUsd), j.interruptions]))}

## By pool

${poolsTable(r.pools)}

## By day

${table(['day (UTC)', 'spend', 'on-demand'], r.days.map((d) => [d.day, usd(d.usd), usd(d.onDemandUsd)]))}
${notesBlock(r.notes)}`;
  },
};

export const json: Renderer = {
  job: (l) => `${JSON.stringify(l, null, 2)}\n`,
  fleet: (r) => `${JSON.stringify(r, null, 2)}\n`,
};

/** The renderers by format: json, Markdown tables, and a self-contained HTML document with SVG charts (html.ts). */
export const renderers: Partial<Record<ReportFormat, Renderer>> = { json, md: markdown, html: { job: renderJobReportHtml, fleet: renderFleetReportHtml } };
