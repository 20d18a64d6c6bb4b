/** job.check, job.complete and job.cancel: closing a job when its tasks have ended, or on request. */
import { StateConflictError } from '../../shared/errors.js';
import { isTerminal, taskMachine } from '../../shared/states.js';
import type { HandlerContext } from '../dispatcher/context.js';
import { removeCheckpoints } from '../checkpoint/lifecycle.js';
import type { FleetCatalog } from '../catalog.js';
import type { Outcome } from './model.js';
import { allTasks, eachLimit, jobs, tasks } from './repo.js';

type Ctx = HandlerContext<FleetCatalog>;

/** When every task has ended (counted from the tasks themselves): decide the outcome and tear down. */
export async function jobCheck(body: { jobId: string }, ctx: Ctx): Promise<void> {
  const job = await jobs(ctx).get(body);
  if (!job || job.state !== 'running') return;
  const all = await allTasks(ctx, job.jobId);
  const open = all.filter((t) => !isTerminal(taskMachine, t.state));
  if (open.length) {
    ctx.log.debug({ open: open.length }, 'job still has open tasks');
    return;
  }
  const succeeded = all.filter((t) => t.state === 'succeeded').length;
  const outcome: Outcome = succeeded === all.length ? 'succeeded' : succeeded === 0 ? 'failed' : 'partially-failed';
  await jobs(ctx).transition(body, {
    from: 'running',
    to: 'finishing',
    version: job.version,
    set: { outcome, succeededCount: succeeded, failedCount: all.filter((t) => t.state === 'failed').length },
  });
  ctx.log.info({ outcome, succeeded, tasks: all.length }, 'every task ended: tearing down');
  await ctx.bus.send('security.teardown', body);
}

/**
 * The last step of a job, sent by security.teardown once nothing of the job is left in the cloud: its
 * checkpoints go, and the job closes with its outcome (finishing) or as cancelled (cancelling). A duplicate,
 * or one for a job already closed, changes nothing.
 */
export async function jobComplete(body: { jobId: string }, ctx: Ctx): Promise<void> {
  const job = await jobs(ctx).get(body);
  if (!job || (job.state !== 'finishing' && job.state !== 'cancelling')) return;
  // The job's checkpoints are of no further use once its last instance is gone.
  await removeCheckpoints(ctx, job);
  const now = ctx.clock.now();
  if (job.state === 'finishing') {
    const outcome = job.outcome && job.outcome !== 'cancelled' ? job.outcome : 'failed';
    await jobs(ctx).transition(body, { from: 'finishing', to: outcome, version: job.version, set: { endedAt: now } });
    await ctx.store.events.append(job.jobId, `job.${outcome}`, { data: { torn_down: true } });
    ctx.log.info({ outcome }, 'job finished; its resources are gone');
  } else {
    await jobs(ctx).transition(body, { from: 'cancelling', to: 'cancelled', version: job.version, set: { endedAt: now, outcome: 'cancelled' } });
    await ctx.store.events.append(job.jobId, 'job.cancelled');
    ctx.log.info('job cancelled; its resources are gone');
  }
}

/** Cancel: no new attempts, every open task cancelled, instances and requests stopped, resources torn down. */
export async function jobCancel(body: { jobId: string; reason?: string }, ctx: Ctx): Promise<void> {
  const job = await jobs(ctx).get({ jobId: body.jobId });
  if (!job) return;
  if (job.state === 'submitted' || job.state === 'securing' || job.state === 'running') {
    await jobs(ctx).transition({ jobId: job.jobId }, { from: job.state, to: 'cancelling', version: job.version, set: { error: body.reason ?? 'cancelled by request' } });
    await ctx.store.events.append(job.jobId, 'job.cancelling', { data: { reason: body.reason ?? 'cancelled by request' } });
  } else if (job.state !== 'cancelling') {
    return; // already finishing or ended
  }
  const open = (await allTasks(ctx, job.jobId)).filter((t) => !isTerminal(taskMachine, t.state));
  await eachLimit(open, 16, async (t) => {
    try {
      await tasks(ctx).transition({ jobId: t.jobId, taskId: t.taskId }, { from: t.state, to: 'cancelled', set: { reason: 'job cancelled', endedAt: ctx.clock.now() } });
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
      // It moved meanwhile; the reconciler's job.cancel re-drive catches it on the next pass.
    }
  });
  ctx.log.info({ tasks: open.length }, 'job cancelling');
  await ctx.bus.send('security.teardown', { jobId: job.jobId });
}
