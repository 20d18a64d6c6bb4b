/** How the CLI shows jobs and tasks to a person: tables, durations, sizes, a progress bar. */
import type { JobSummary, TaskSummary } from '../job/client.js';

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

export const TASK_HEAD = ['task', 'state', 'attempts', 'pool', 'instance', 'runtime', 'cost', 'exit', 'reason'];

export function taskCells(t: TaskSummary): string[] {
  return [
    t.taskId,
    t.state,
    String(t.attempts),
    t.pool ?? '-',
    t.instanceId ?? '-',
    t.runtimeSeconds !== undefined ? formatDuration(t.runtimeSeconds * 1000) : '-',
    `$${t.costUsd.toFixed(4)}`,
    t.exitCode !== undefined ? String(t.exitCode) : '-',
    t.reason ?? '',
  ];
}

export function formatTasks(tasks: TaskSummary[]): string {
  return formatTable(TASK_HEAD, tasks.map(taskCells));
}

export function formatJob(j: JobSummary): string {
  return `${j.id}  ${j.name}  ${j.state}  tasks ${j.succeeded}/${j.tasks} succeeded, ${j.failed} failed, ${j.running} running  attempts ${j.attempts}  interruptions ${j.interruptions}  cost $${j.costUsd.toFixed(4)}${j.error ? `  (${j.error})` : ''}`;
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

export function progressOf(job: JobSummary, tasks: TaskSummary[], now: number): Progress {
  return {
    state: job.state,
    tasks: job.tasks,
    succeeded: job.succeeded,
    failed: job.failed,
    cancelled: tasks.filter((t) => t.state === 'cancelled').length,
    running: job.running,
    attempts: job.attempts,
    interruptions: job.interruptions,
    elapsedMs: (job.endedAt ?? now) - job.submittedAt,
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
export function formatSummary(job: JobSummary, p: Progress): string {
  return [
    `${job.id} (${job.name}) ${job.state} after ${formatDuration(p.elapsedMs)}${job.error ? `: ${job.error}` : ''}`,
    `  tasks: ${p.succeeded} succeeded, ${p.failed} failed${p.cancelled ? `, ${p.cancelled} cancelled` : ''} of ${p.tasks}`,
    `  attempts: ${p.attempts}, interruptions: ${p.interruptions}, cost: $${job.costUsd.toFixed(4)}`,
  ].join('\n');
}
