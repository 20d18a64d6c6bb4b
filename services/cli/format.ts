/**
 * How the CLI shows jobs and tasks to a person: tables, durations, sizes, a
 * progress bar. Jobs and tasks come in the status page's JSON shapes
 * (the read model, services/views), so `--json` and the API say the same.
 */
import type { JobSummaryView, TaskView } from '../views/index.js';

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Rows of cells as aligned columns; `widths` fixes them (a longer cell overflows), otherwise they fit the rows. */
export function formatTable(head: string[], rows: string[][], widths?: number[]): string {
  const w = widths ?? head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

export const TASK_HEAD = ['task', 'state', 'attempt', 'pool', 'instance', 'runtime', 'cost', 'exit', 'reason'];

const iso = (t: string | undefined): number | undefined => (t === undefined ? undefined : Date.parse(t));

/** A task as a table row: its current attempt's pool, instance and runtime, its spend so far. */
export function taskCells(t: TaskView, now: number): string[] {
  const last = t.attempts[t.attempts.length - 1];
  const started = iso(last?.startedAt);
  return [
    t.taskId,
    t.state,
    String(t.attempt),
    t.pool ?? '-',
    t.instanceId ?? '-',
    started !== undefined ? formatDuration((iso(last?.endedAt) ?? now) - started) : '-',
    `$${t.spotUsd.toFixed(4)}`,
    t.exitCode !== undefined ? String(t.exitCode) : '-',
    t.reason ?? '',
  ];
}

/** Spot spend, and the on-demand figure beside it when the data has one. */
export function formatSpend(j: JobSummaryView): string {
  const od = j.spend.onDemandUsd;
  const saved = j.spend.savedFraction;
  return `$${j.spend.spotUsd.toFixed(4)}${od !== null ? ` (on demand $${od.toFixed(4)}${saved !== null ? `, ${Math.round(saved * 100)}% saved` : ''})` : ''}`;
}

/** A job's counts in one line. */
export function formatJobView(j: JobSummaryView): string {
  const c = j.tasks;
  return `${j.id}  ${j.name}  ${j.state}  tasks ${c.succeeded}/${c.total} succeeded, ${c.failed} failed, ${c.running} running, ${c.waiting} waiting  attempts ${j.attempts}  interruptions ${j.interruptions}  spend ${formatSpend(j)}${j.error ? `  (${j.error})` : ''}`;
}

/** The jobs list. */
export function formatJobList(list: JobSummaryView[]): string {
  return formatTable(
    ['job', 'state', 'succeeded', 'failed', 'running', 'attempts', 'interruptions', 'spend', 'age', 'name'],
    list.map((j) => [j.id, j.state, `${j.tasks.succeeded}/${j.tasks.total}`, String(j.tasks.failed), String(j.tasks.running), String(j.attempts), String(j.interruptions), `$${j.spend.spotUsd.toFixed(4)}`, formatDuration(j.ageSeconds * 1000), j.name]),
  );
}

/** What a waiting submitter sees of a job. */
export interface Progress {
  state: string;
  tasks: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  running: number;
  attempts: number;
  interruptions: number;
  elapsedMs: number;
}

export function progressOf(j: JobSummaryView, now: number): Progress {
  return {
    state: j.state,
    tasks: j.tasks.total,
    succeeded: j.tasks.succeeded,
    failed: j.tasks.failed,
    cancelled: j.tasks.cancelled,
    running: j.tasks.running,
    attempts: j.attempts,
    interruptions: j.interruptions,
    elapsedMs: (iso(j.endedAt) ?? now) - Date.parse(j.submittedAt),
  };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The counts in words, without the time (so a caller can tell when they change). */
export function progressCounts(p: Progress): string {
  const done = p.succeeded + p.failed + p.cancelled;
  const ended = [`${p.succeeded} succeeded`, `${p.failed} failed`, ...(p.cancelled ? [`${p.cancelled} cancelled`] : [])].join(', ');
  return `${p.state}: ${done}/${p.tasks} done (${ended}), ${p.running} running; ${plural(p.attempts, 'attempt')}, ${plural(p.interruptions, 'interruption')}`;
}

/** One line for a log or a pipe. */
export function progressLine(jobId: string, p: Progress): string {
  return `${jobId} ${progressCounts(p)}; ${formatDuration(p.elapsedMs)}`;
}

/** A bar that fits `columns`: [#####.....] 12/30 then the counts, cut to the width. */
export function progressBar(p: Progress, columns: number): string {
  const done = p.succeeded + p.failed + p.cancelled;
  const text = ` ${done}/${p.tasks}  ok ${p.succeeded}  failed ${p.failed}  running ${p.running}  attempts ${p.attempts}  interruptions ${p.interruptions}  ${formatDuration(p.elapsedMs)}  ${p.state}`;
  const barWidth = Math.max(10, Math.min(40, columns - text.length - 3));
  const filled = p.tasks > 0 ? Math.floor((done / p.tasks) * barWidth) : 0;
  const failedCells = p.tasks > 0 ? Math.min(filled, Math.ceil(((p.failed + p.cancelled) / p.tasks) * barWidth)) : 0;
  const bar = `[${'#'.repeat(filled - failedCells)}${'x'.repeat(failedCells)}${'.'.repeat(barWidth - filled)}]`;
  return `${bar}${text}`.slice(0, Math.max(0, columns - 1));
}

/** The final words on a job that ended. */
export function formatSummary(j: JobSummaryView, p: Progress): string {
  return [
    `${j.id} (${j.name}) ${j.state} after ${formatDuration(p.elapsedMs)}${j.error ? `: ${j.error}` : ''}`,
    `  tasks: ${p.succeeded} succeeded, ${p.failed} failed${p.cancelled ? `, ${p.cancelled} cancelled` : ''} of ${p.tasks}`,
    `  attempts: ${p.attempts}, interruptions: ${p.interruptions}, spend: ${formatSpend(j)}`,
  ].join('\n');
}
