/** job.check, job.complete, job.cancel and job.fail: closing a job when its tasks have ended, on request, or when it can never succeed. */
import { StateConflictError, describeError } from '../../shared/errors.js';
import { isTerminal, jobMachine, taskMachine, type JobState } from '../../shared/states.js';
import type { HandlerContext } from '../dispatcher/context.js';
import { removeCheckpoints } from '../checkpoint/lifecycle.js';
import type { FleetCatalog } from '../catalog.js';
import { cancelSpotRequest, terminateInstance } from '../ec2/cleanup.js';
import { failTask } from './outcome.js';
import { closeAttempts, currentAttempt, type Outcome } from '../model/model.js';
import { fleetPriceSource, jobLedger, taskCostUsd } from '../ledger/fleet.js';
import { summarize } from '../ledger/summary.js';
import pMap from 'p-map';
import { allTasks, jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';

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
  const outcome = job.state === 'finishing' ? (job.outcome && job.outcome !== 'cancelled' ? job.outcome : 'failed') : 'cancelled';
  const ledger = await ledgerSummary(ctx, job, outcome, now);
  if (job.state === 'finishing') {
    await jobs(ctx).transition(body, { from: 'finishing', to: outcome, version: job.version, set: { endedAt: now, ledger } });
    await ctx.store.events.append(job.jobId, `job.${outcome}`, { data: { torn_down: true } });
    ctx.log.info({ outcome }, 'job finished; its resources are gone');
  } else {
    await jobs(ctx).transition(body, { from: 'cancelling', to: 'cancelled', version: job.version, set: { endedAt: now, outcome: 'cancelled', ledger } });
    await ctx.store.events.append(job.jobId, 'job.cancelled');
    ctx.log.info('job cancelled; its resources are gone');
  }
}

/** Deliveries of job.complete that wait for the pools' price history before the job completes without it. */
export const LEDGER_PRICE_TRIES = 3;

/**
 * What job.complete does with a price history it cannot read on delivery `receiveCount`: fail the delivery (the
 * message comes back) before the last of min(LEDGER_PRICE_TRIES, maxReceiveCount) deliveries; on that one, note
 * it and complete, so a queue that dead-letters sooner than LEDGER_PRICE_TRIES never loses the job's completion.
 */
export function priceErrorMode(receiveCount: number, maxReceiveCount: number): 'throw' | 'note' {
  return receiveCount < Math.min(LEDGER_PRICE_TRIES, maxReceiveCount) ? 'throw' : 'note';
}

/**
 * The cost ledger's summary for the job's row. A price history that cannot be read fails the delivery (the
 * message comes back) for the first deliveries (priceErrorMode); after them the job completes all the same,
 * those attempts billed at their request price and a note saying so.
 */
async function ledgerSummary(ctx: Ctx, job: JobRow, state: JobState, now: number) {
  const onPriceError = priceErrorMode(ctx.receiveCount, ctx.config.dispatcher.maxReceiveCount);
  const ledger = await jobLedger(ctx, { ...job, state, endedAt: now }, { prices: fleetPriceSource(ctx), onPriceError, computedAt: now });
  const summary = summarize(ledger);
  ctx.log.info({ usd: summary.usd, onDemandUsd: summary.onDemandUsd, interruptions: summary.interruptions }, 'cost ledger stored');
  return summary;
}

/**
 * Run `fn` on the job's row, read again and run again when someone else moved it meanwhile (a keepAlive, a
 * handler): a few times, then the conflict goes up (the message is a no-op; the reconciler re-drives).
 * Resolves with the row `fn` last saw (undefined: no such job).
 */
async function onFreshRow(ctx: Ctx, jobId: string, fn: (row: JobRow) => Promise<void>): Promise<JobRow | undefined> {
  for (let i = 0; ; i++) {
    const row = await jobs(ctx).get({ jobId });
    if (!row) return undefined;
    try {
      await fn(row);
      return row;
    } catch (err) {
      if (!(err instanceof StateConflictError) || i >= 4) throw err;
    }
  }
}

/** Open states a cancel moves to cancelling (a finishing job too: its teardown is looked at again at once). */
const CANCELLABLE = new Set<JobState>(['submitted', 'securing', 'running', 'finishing']);

/**
 * Cancel, from any open state: no new attempts, every open task cancelled (its attempts end now, so its spend
 * and runtime stop here), instances and requests stopped, resources torn down; the job ends cancelled.
 */
export async function jobCancel(body: { jobId: string; reason?: string }, ctx: Ctx): Promise<void> {
  const reason = body.reason ?? 'cancelled by request';
  const job = await onFreshRow(ctx, body.jobId, async (row) => {
    if (CANCELLABLE.has(row.state)) {
      // A job already failing keeps its reason; the cancel is in its events.
      const keep = row.outcome === 'failed' && row.error;
      await jobs(ctx).transition({ jobId: row.jobId }, { from: row.state, to: 'cancelling', version: row.version, set: keep ? {} : { error: reason } });
      await ctx.store.events.append(row.jobId, 'job.cancelling', { data: { reason, from: row.state } });
    }
  });
  // No such job, or it had already ended.
  if (!job || (job.state !== 'cancelling' && !CANCELLABLE.has(job.state))) return;
  const ended = await endOpenTasks(ctx, job.jobId, 'cancelled', 'job cancelled');
  ctx.log.info({ tasks: ended }, 'job cancelling');
  await ctx.bus.send('security.teardown', { jobId: job.jobId });
}

/**
 * End every open task of the job as `to` with `reason`: its open attempts end now (spend and runtime stop),
 * its cost is fixed. A task that moves meanwhile is read again (a few times); what still escapes is caught by
 * the reconciler's next re-drive of the job. Instances and requests are left to security.teardown, which finds
 * them by tag and by the request ids of these attempts. Returns how many tasks it ended.
 */
export async function endOpenTasks(ctx: Ctx, jobId: string, to: 'failed' | 'cancelled', reason: string): Promise<number> {
  const open = (await allTasks(ctx, jobId)).filter((t) => !isTerminal(taskMachine, t.state));
  let ended = 0;
  await pMap(open, async (first) => {
    let t: TaskRow | undefined = first;
    for (let i = 0; i < 3 && t && !isTerminal(taskMachine, t.state); i++) {
      const now = ctx.clock.now();
      const attempts = closeAttempts(t.attempts, now, to === 'cancelled' ? 'cancelled' : 'failed', reason);
      const costUsd = await taskCostUsd(ctx, t.taskId, attempts, now);
      try {
        await tasks(ctx).transition({ jobId: t.jobId, taskId: t.taskId }, { from: t.state, to, version: t.version, set: { attempts, costUsd, reason, endedAt: now } });
        ended++;
        return;
      } catch (err) {
        if (!(err instanceof StateConflictError)) throw err;
        t = await tasks(ctx).get({ jobId: t.jobId, taskId: t.taskId });
      }
    }
  }, { concurrency: 16 });
  return ended;
}

/**
 * Fail a job that can never succeed (a permanent error at any step after submit): it moves to finishing with
 * outcome failed and the reason, its open tasks end failed with it, and teardown removes everything.
 * False when the job is no longer open to this (already finishing, cancelling or ended).
 */
export async function failJob(ctx: Ctx, job: JobRow, reason: string): Promise<boolean> {
  if (job.state !== 'submitted' && job.state !== 'securing' && job.state !== 'running') return false;
  const text = reason.slice(0, 2000);
  // On the state alone: a handler of this job (securing's key pairs) may have bumped the version since it was read.
  await jobs(ctx).transition({ jobId: job.jobId }, { from: job.state, to: 'finishing', set: { outcome: 'failed', error: text } });
  await ctx.store.events.append(job.jobId, 'job.failed', { data: { reason: text } });
  await endOpenTasks(ctx, job.jobId, 'failed', `job failed: ${text}`);
  ctx.log.warn({ reason: text }, 'job failed: tearing down');
  await ctx.bus.send('security.teardown', { jobId: job.jobId });
  return true;
}

/** The services whose permanent failure means the job's teardown can never finish. */
const TEARDOWN_SERVICES = new Set(['security.teardown', 'job.complete']);

/**
 * A message of this job that can never succeed (the dispatcher dead-lettered it: its handler failed with a
 * permanent error). A task's message ends that task failed; a job's message fails the job (teardown runs);
 * a teardown that can never finish ends the job failed with that reason, not in finishing for ever.
 */
export async function jobFail(body: { jobId: string; reason: string; service?: string; taskId?: string }, ctx: Ctx): Promise<void> {
  const reason = `${body.service ? `${body.service}: ` : ''}${body.reason}`.slice(0, 2000);
  await onFreshRow(ctx, body.jobId, (job) => failFor(ctx, job, body, reason));
}

async function failFor(ctx: Ctx, job: JobRow, body: { service?: string; taskId?: string }, reason: string): Promise<void> {
  if (isTerminal(jobMachine, job.state)) return;
  if (body.taskId) {
    await failOneTask(ctx, job, body.taskId, reason);
    return;
  }
  if (await failJob(ctx, job, reason)) return;
  if (body.service && TEARDOWN_SERVICES.has(body.service) && (job.state === 'finishing' || job.state === 'cancelling')) {
    const text = `teardown could not finish, resources of the job may be left (tagged spotbatch:job=${job.jobId}): ${reason}`.slice(0, 2000);
    await jobs(ctx).transition({ jobId: job.jobId }, { from: job.state, to: 'failed', version: job.version, set: { outcome: 'failed', error: text, endedAt: ctx.clock.now() } });
    await ctx.store.events.append(job.jobId, 'job.failed', { data: { reason: text, torn_down: false } });
    ctx.log.error({ reason }, 'job failed: its teardown can never finish');
    return;
  }
  ctx.log.info({ state: job.state, reason }, 'a message of the job failed for good; the job is already closing');
}

/** One task of the job can never go on: it ends failed with the reason (its instance goes, its request is cancelled). */
async function failOneTask(ctx: Ctx, job: JobRow, taskId: string, reason: string): Promise<void> {
  const task = await tasks(ctx).get({ jobId: job.jobId, taskId });
  if (!task || isTerminal(taskMachine, task.state)) return;
  const now = ctx.clock.now();
  const attempts = closeAttempts(task.attempts, now, 'failed', reason);
  const current = currentAttempt(task);
  if (ctx.cloud && current && current.endedAt === undefined) {
    // Best effort here: security.teardown finds whatever is left by the job tag and the request ids.
    try {
      if (current.spotRequestId) await cancelSpotRequest(ctx.cloud, current.pool.region, current.spotRequestId);
      if (current.instanceId) await terminateInstance(ctx.cloud, current.pool.region, current.instanceId);
    } catch (err) {
      ctx.log.warn({ err: describeError(err) }, "could not stop the failed task's instance now; teardown will");
    }
  }
  await failTask(ctx, job, task, { from: task.state, reason, attempts });
}
