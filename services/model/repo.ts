/**
 * Typed access to the job and task rows. The shared store checks its own
 * fields; the lifecycle is the only writer of these shapes, so this is the
 * one place that names them: every row read through `jobs` and `tasks` is
 * parsed by these schemas (a row that does not match is a CorruptRowError).
 */
import type { z } from 'zod';
import type { HandlerContext } from '../dispatcher/context.js';
import { JobKeyShape, TaskKeyShape, rowSchema, type EntityStore, type JobKey, type TaskKey } from '../../shared/store/index.js';
import { jobMachine, taskMachine, type JobState, type TaskState } from '../../shared/states.js';
import { JobAttrsShape, TaskAttrsShape, type JobAttrs, type TaskAttrs } from './model.js';

export const JobRowSchema = rowSchema(jobMachine, JobKeyShape, JobAttrsShape);
export const TaskRowSchema = rowSchema(taskMachine, TaskKeyShape, TaskAttrsShape);
export type JobRow = z.infer<typeof JobRowSchema>;
export type TaskRow = z.infer<typeof TaskRowSchema>;
type Ctx = Pick<HandlerContext, 'store'>;

export function jobs(ctx: Ctx): EntityStore<JobState, JobKey, JobAttrs> {
  return ctx.store.jobs.withRows(JobRowSchema);
}

export function tasks(ctx: Ctx): EntityStore<TaskState, TaskKey, TaskAttrs> {
  return ctx.store.tasks.withRows(TaskRowSchema);
}

export async function allTasks(ctx: Ctx, jobId: string): Promise<TaskRow[]> {
  const out: TaskRow[] = [];
  for await (const t of tasks(ctx).listPartition({ jobId })) out.push(t);
  return out;
}

/** Run `fn` over `items` with at most `limit` at a time. */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
