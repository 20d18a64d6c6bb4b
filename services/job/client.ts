/**
 * What a submitter does, as library calls the CLI, the demo and the tests
 * share: prepare a spec from a file, submit it, read jobs back, summarise.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import type { MessageBus } from '../../shared/envelope.js';
import type { Store } from '../../shared/store/index.js';
import type { FleetCatalog } from '../catalog.js';
import { attemptCost, poolKey } from './model.js';
import { allTasks, jobs, type JobRow, type TaskRow } from './repo.js';
import { parseJobSpec, type JobSpec } from './spec.js';

/**
 * Read local references in a raw spec: `steps[].script` files become inline
 * `run` scripts, relative `uploads[].from` become absolute; then validate.
 * Paths are relative to `baseDir` (the spec file's folder).
 */
export function prepareSpec(raw: unknown, baseDir: string): JobSpec {
  const spec = parseJobSpec(raw);
  const issues: ValidationError['issues'] = [];
  const steps = spec.steps?.map((s, i) => {
    if (s.script === undefined) return s;
    const file = path.resolve(baseDir, s.script);
    try {
      return { ...(s.name ? { name: s.name } : {}), ...(s.timeout ? { timeout: s.timeout } : {}), run: readFileSync(file, 'utf8') };
    } catch (err) {
      issues.push({ path: `steps[${i}].script`, rule: `cannot be read: ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      return s;
    }
  });
  const uploads = spec.uploads?.map((u) => ({ ...u, from: path.resolve(baseDir, u.from) }));
  if (issues.length) throw new ValidationError('job spec', issues);
  return { ...spec, ...(steps ? { steps } : {}), ...(uploads ? { uploads } : {}) };
}

export function newJobId(): string {
  return `job-${randomBytes(5).toString('hex')}`;
}

/** Send the spec as a job.submit message; the job id is the spec's or a new one. */
export async function submitJob(bus: MessageBus<FleetCatalog>, spec: JobSpec): Promise<string> {
  const id = spec.id ?? newJobId();
  await bus.send('job.submit', { ...spec, id });
  return id;
}

export interface JobSummary {
  id: string;
  name: string;
  state: string;
  tasks: number;
  succeeded: number;
  failed: number;
  running: number;
  attempts: number;
  interruptions: number;
  costUsd: number;
  submittedAt: number;
  endedAt?: number;
  error?: string;
}

export interface TaskSummary {
  taskId: string;
  index: number;
  state: string;
  attempts: number;
  pool?: string;
  instanceId?: string;
  runtimeSeconds?: number;
  costUsd: number;
  exitCode?: number;
  reason?: string;
}

export function summariseTask(t: TaskRow, now: number): TaskSummary {
  const last = t.attempts[t.attempts.length - 1];
  const cost = t.costUsd ?? t.attempts.reduce((s, a) => s + attemptCost(a, now), 0);
  const runtime = last?.startedAt ? ((last.endedAt ?? now) - last.startedAt) / 1000 : undefined;
  return {
    taskId: t.taskId,
    index: t.index,
    state: t.state,
    attempts: t.attempts.length,
    ...(last ? { pool: poolKey(last.pool), ...(last.instanceId ? { instanceId: last.instanceId } : {}) } : {}),
    ...(runtime !== undefined ? { runtimeSeconds: Math.round(runtime * 10) / 10 } : {}),
    costUsd: Number(cost.toFixed(6)),
    ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}),
    ...(t.reason ? { reason: t.reason } : {}),
  };
}

export function summariseJob(job: JobRow, tasks: TaskRow[], now: number): JobSummary {
  return {
    id: job.jobId,
    name: job.name,
    state: job.state,
    tasks: job.taskCount,
    succeeded: tasks.filter((t) => t.state === 'succeeded').length,
    failed: tasks.filter((t) => t.state === 'failed').length,
    running: tasks.filter((t) => t.state === 'running' || t.state === 'starting').length,
    attempts: tasks.reduce((n, t) => n + t.attempts.length, 0),
    interruptions: tasks.reduce((n, t) => n + (t.interruptions ?? 0), 0),
    costUsd: Number(tasks.reduce((s, t) => s + summariseTask(t, now).costUsd, 0).toFixed(6)),
    submittedAt: job.submittedAt,
    ...(job.endedAt ? { endedAt: job.endedAt } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

export async function jobStatus(store: Store, jobId: string, now: number): Promise<{ job: JobSummary; tasks: TaskSummary[] } | undefined> {
  const job = await jobs({ store }).get({ jobId });
  if (!job) return undefined;
  const tasks = await allTasks({ store }, jobId);
  return { job: summariseJob(job, tasks, now), tasks: tasks.map((t) => summariseTask(t, now)) };
}
