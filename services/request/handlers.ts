/**
 * request.resubmit: after an interruption, cool the pool down for the job and place a new attempt
 * elsewhere (bounded by retry.maxInterruptions; a job with a deadline goes on demand past it instead).
 */
import { StateConflictError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { currentAttempt, poolKey } from '../model/model.js';
import { jobs, tasks } from '../model/repo.js';
import { failTask } from '../job/outcome.js';

type Ctx = HandlerContext<FleetCatalog>;

export async function requestResubmit(body: { jobId: string; taskId: string }, ctx: Ctx): Promise<void> {
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(body)]);
  if (!job || !task || task.state !== 'interrupted') return;
  const attempt = currentAttempt(task);
  const interruptions = task.interruptions ?? 0;
  // A job with a deadline is not failed by its interruptions: past retry.maxInterruptions it runs on demand (the deadline policy keeps it there).
  const onDemandOnly =
    job.deadlineAt !== undefined && interruptions > job.spec.retry.maxInterruptions && task.onDemandOnly === undefined
      ? `interrupted ${interruptions} times (retry.maxInterruptions ${job.spec.retry.maxInterruptions}): on demand for the deadline from now on`
      : undefined;
  if (interruptions > job.spec.retry.maxInterruptions && job.deadlineAt === undefined) {
    await failTask(ctx, job, task, { from: 'interrupted', reason: `interrupted ${interruptions} times (retry.maxInterruptions ${job.spec.retry.maxInterruptions})` });
    return;
  }
  if (attempt) await coolDown(ctx, job.jobId, poolKey(attempt.pool));
  await tasks(ctx).transition(body, {
    from: 'interrupted',
    to: 'pending',
    version: task.version,
    set: { avoid: attempt ? [...new Set([...task.avoid, poolKey(attempt.pool)])] : task.avoid, ...(onDemandOnly ? { onDemandOnly } : {}) },
  });
  await ctx.bus.send('spot.request', body);
}

/** Record on the job that `pool` is to be avoided until the cool-down ends (read-modify-write, bounded retries). */
async function coolDown(ctx: Ctx, jobId: string, pool: string): Promise<void> {
  const seconds = ctx.config.lifecycle.cooldownSeconds;
  if (seconds <= 0) return;
  for (let i = 0; i < 5; i++) {
    const job = await jobs(ctx).get({ jobId });
    if (!job) return;
    const now = ctx.clock.now();
    const cooldowns = Object.fromEntries(Object.entries(job.cooldowns ?? {}).filter(([, until]) => until > now));
    cooldowns[pool] = now + seconds * 1000;
    try {
      await jobs(ctx).update({ jobId }, { version: job.version, set: { cooldowns } });
      return;
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
    }
  }
  ctx.log.warn({ pool }, 'could not record the cool-down after 5 tries; the task still avoids the pool');
}
