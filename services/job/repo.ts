/**
 * Typed access to the job and task rows. The shared store keeps attributes as
 * plain objects; the lifecycle is the only writer of these shapes, so this is
 * the one place that names them.
 */
import type { HandlerContext } from '../dispatcher/context.js';
import type { EntityStore, JobKey, Row, TaskKey } from '../../shared/store/index.js';
import type { JobState, TaskState } from '../../shared/states.js';
import type { JobAttrs, TaskAttrs } from './model.js';

export type JobRow = Row<JobState, JobAttrs> & JobKey;
export type TaskRow = Row<TaskState, TaskAttrs> & TaskKey;
type Ctx = Pick<HandlerContext, 'store'>;

export function jobs(ctx: Ctx): EntityStore<JobState, JobKey, JobAttrs> {
  return ctx.store.jobs as unknown as EntityStore<JobState, JobKey, JobAttrs>;
}

export function tasks(ctx: Ctx): EntityStore<TaskState, TaskKey, TaskAttrs> {
  return ctx.store.tasks as unknown as EntityStore<TaskState, TaskKey, TaskAttrs>;
}

export async function allTasks(ctx: Ctx, jobId: string): Promise<TaskRow[]> {
  const out: TaskRow[] = [];
  for await (const t of tasks(ctx).listPartition({ jobId })) out.push(t);
  return out;
}

