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
