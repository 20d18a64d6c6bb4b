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
