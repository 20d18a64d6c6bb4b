/** spot.request and spot.check: place a task's attempt in a pool and follow its spot request. */
import { CreateTagsCommand, DescribeInstancesCommand, DescribeSpotInstanceRequestsCommand } from '@aws-sdk/client-ec2';
import { EVENTUAL_CONSISTENCY_WINDOW_MS, isEventualNotFound, untilVisible } from '../../shared/aws.js';
import { awsCode, isThrottled } from '../../shared/aws-errors.js';
import { backoffSeconds, fullJitter } from '../../shared/backoff.js';
import { PermanentError, StateConflictError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { appendAttempts, currentAttempt, poolKey, resourceTags, type Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { cancelSpotRequest, releaseRequest, releaseStandby, terminateInstance } from '../ec2/cleanup.js';
import { releaseStrayLaunches, requestAttempt } from './attempt.js';
import { deadlineDecision, deadlineWait, type DeadlineDecision } from './deadline.js';
import { secondsToSafetyNet } from '../plan/policy.js';
import { launchOnDemand } from './on-demand.js';
import { JobClosedError, RegionNotReadyError } from './region-security.js';
import { failTask } from '../job/outcome.js';
import { INTERRUPTED_CODES, reclaimedState } from '../ec2/reconcile.js';
import { marketOf, NO_CAPACITY_CODES, NO_CAPACITY_MS, record } from './market-link.js';

type Ctx = HandlerContext<FleetCatalog>;
type TaskBody = { jobId: string; taskId: string };

/** Spot request statuses after which the request will never be fulfilled where it is. */
const REPLACE_CODES = new Set([
  'capacity-not-available',
  'capacity-oversubscribed',
  'price-too-low',
  'schedule-expired',
  'canceled-before-fulfillment',
  'bad-parameters',
  'system-error',
  'az-group-constraint',
  'placement-group-constraint',
  'constraint-not-fulfillable',
  'launch-group-constraint',
  'not-scheduled-yet',
]);

/**
 * Re-placements before launch (capacity, price, a request that expired, an
 * instance that ended before it ran, not by a spot reclaim) a task may use
 * before it gives up. Its own bound: interruptions are bounded by
 * retry.maxInterruptions (request.resubmit), failing exit codes and lost
 * instances by retry.maxAttempts (step.complete).
 */
export const MAX_REPLACEMENTS = 10;

/**
 * How long after the job's security was created an "Invalid IAM Instance
 * Profile" (or a NotFound for its new security group) from the spot request is
 * read as IAM / EC2 propagation and asked again: AWS says a new profile takes
 * "a few seconds" to reach EC2; past this it is permanent, with AWS's words.
 */
export const PROPAGATION_WINDOW_MS = 2 * 60_000;

/** Re-sends while something propagates: 1 s doubling to 20 s, full jitter (at least 1 s). */
const PROPAGATION_BACKOFF = fullJitter({ base: 1, cap: 20, min: 1 });

/** When every pool is out of capacity or quota: look again after this (a third of the no-capacity cool-down). */
const NO_POOL_RETRY_SECONDS = 60;

/** A wait in words: "45 s", "31 min". */
const waitText = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/** Tries so far, from the time waited: 0 in the first second, then one more per doubling. */
const triesAfter = (elapsedMs: number): number => Math.floor(Math.log2(1 + Math.max(0, elapsedMs) / 1000));

/** The delay before a throttled handler looks again: up to 8 polls (at most 60 s), full jitter, so throttled tasks spread out. */
export const throttledDelaySeconds = (pollSeconds: number): number => backoffSeconds(3, fullJitter({ base: Math.max(1, pollSeconds), cap: 60, min: 1 }));

/** An answer to RequestSpotInstances that IAM or EC2 propagation explains: the new instance profile or security group not visible yet. */
export function isPropagationError(err: unknown): boolean {
  const code = awsCode(err);
  if (code === 'InvalidGroup.NotFound') return true;
  return code === 'InvalidParameterValue' && /iamInstanceProfile|Invalid IAM Instance Profile/i.test((err as Error).message ?? '');
}

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

async function load(ctx: Ctx, body: TaskBody): Promise<{ job: JobRow; task: TaskRow } | undefined> {
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(body)]);
  if (!job || !task) return undefined;
  return { job, task };
}

export async function spotRequest(body: TaskBody, ctx: Ctx): Promise<void> {
  const loaded = await load(ctx, body);
  if (!loaded) return;
  const { job, task } = loaded;
  if (task.state !== 'pending' || job.state !== 'running' || !job.security || !job.images) return;
  const n = task.attempts.length + 1;
  const replaced = task.attempts.filter((a) => a.outcome === 'replaced');
  const deadline = job.deadlineAt !== undefined;
  // A job with a deadline: spot re-placements running out send the task on demand (its deadline policy's
  // fallback) instead of failing it; its on-demand re-placements keep the bound.
  const counted = deadline ? replaced.filter((a) => a.market === 'on-demand') : replaced;
  if (counted.length >= MAX_REPLACEMENTS) {
    const last = counted[counted.length - 1]!.reason;
    await failTask(ctx, job, task, { from: 'pending', reason: `no instance after ${counted.length} re-placements before launch${last ? ` (last: ${last})` : ''}` });
    return;
  }
  let row = task;
  if (deadline && task.onDemandOnly === undefined && replaced.length - counted.length >= MAX_REPLACEMENTS) {
    const why = `${replaced.length - counted.length} spot re-placements before launch (the bound ${MAX_REPLACEMENTS}): on demand for the deadline from now on`;
    ctx.log.info({ attempt: n }, why);
    row = await tasks(ctx).update(body, { state: 'pending', version: task.version, set: { onDemandOnly: why } });
  }
  const cloud = cloudOf(ctx);
  // A standby requested after a rebalance recommendation is this attempt already: adopt it, unless the
  // deadline policy sends the task on demand now (then the standby is released: one start, not two).
  const standby = row.standby?.n === n ? row.standby : undefined;
  let adopted: Attempt | undefined;
  let attempt: Attempt;
  let decision: DeadlineDecision | undefined;
  let deadlineWhyData: DeadlineDecision['why'] | undefined;
  try {
    // A job with a deadline: the deadline policy chooses spot, on demand, or to wait (services/spot/deadline.ts).
    // Inside the try: a throttled or failing read of prices or rows is handled like any other here.
    decision = await deadlineDecision(ctx, job, row);
    if (standby && decision?.choice.mode !== 'on-demand') {
      adopted = standby;
      attempt = standby;
    } else {
      if (standby) {
        await releaseStandby(cloud, standby);
        row = await tasks(ctx).update(body, { state: 'pending', version: row.version, remove: ['standby'] });
      }
      if (decision?.choice.mode === 'on-demand') {
        deadlineWhyData = decision.why;
        attempt = await launchOnDemand(ctx, job, row, n, decision.targets, deadlineWhyData.reason);
      } else if (decision?.choice.mode === 'none') {
        throw new TransientError(`the deadline policy waits for spot capacity (${secondsToSafetyNet(decision.state).toFixed(0)} s to the last safe moment for on demand)`);
      } else {
        attempt = await requestAttempt(ctx, job, row, n);
      }
    }
  } catch (err) {
    if (err instanceof PermanentError) {
      await failTask(ctx, job, row, { from: 'pending', reason: err.message });
      return;
    }
    if (err instanceof JobClosedError) {
      // Cancelled or failed meanwhile (an image copy that failed or never finished, say): nothing to place.
      ctx.log.info({ attempt: n, reason: err.message }, 'job closed while the task was being placed');
      return;
    }
    if (err instanceof RegionNotReadyError) {
      // The region is being prepared (by another task, for at most its lease, or the job's image copy is
      // pending, for at most lifecycle.imageCopyWaitSeconds: then the job fails): look again later.
      ctx.log.info({ attempt: n, delaySeconds: err.delaySeconds, reason: err.message }, 'region not ready for the job yet: asking again later');
      await tasks(ctx).keepAlive(row);
      await ctx.bus.send('spot.request', body, { delaySeconds: err.delaySeconds });
      return;
    }
    if (err instanceof TransientError) {
      await waitForPool(ctx, job, row, body, n, err, decision);
      return;
    }
    if (isPropagationError(err)) {
      // The job's new instance profile (or a region's new group, made lazily) has not reached EC2 yet: ask again later, for a bounded while.
      const secured = Math.max(job.security.createdAt ?? job.submittedAt, ...Object.values((await jobs(ctx).get({ jobId: job.jobId }))?.security?.regions ?? {}).map((r) => r.createdAt ?? 0));
      const since = Date.now() - secured;
      const message = `RequestSpotInstances: ${awsCode(err)}: ${(err as Error).message}`;
      if (since < PROPAGATION_WINDOW_MS) {
        const delaySeconds = backoffSeconds(triesAfter(since), PROPAGATION_BACKOFF);
        ctx.log.info({ attempt: n, delaySeconds, reason: message }, 'job security not visible to EC2 yet (propagation): asking again later');
        await tasks(ctx).keepAlive(row);
        await ctx.bus.send('spot.request', body, { delaySeconds });
        return;
      }
      await failTask(ctx, job, row, { from: 'pending', reason: `${message} (still refused ${Math.round(since / 1000)} s after the job's security was created)` });
      return;
    }
    if (isThrottled(err)) {
      // Past the SDK's retries: come back later (jittered) instead of failing the message towards its dead-letter queue.
      await tasks(ctx).keepAlive(row);
      await ctx.bus.send('spot.request', body, { delaySeconds: throttledDelaySeconds(ctx.config.lifecycle.pollSeconds) });
      return;
    }
    if (deadline && decision === undefined) {
      // The deadline decision itself failed (a price or row read): the deadline's wait, not the dead-letter queue.
      ctx.log.warn({ attempt: n, err: (err as Error).message }, 'deadline decision failed: looking again later');
      await waitForPool(ctx, job, row, body, n, new TransientError(`the deadline decision failed: ${(err as Error).message}`), undefined);
      return;
    }
    throw err;
  }
  if (attempt.market === 'on-demand') {
    await recordOnDemand(ctx, job, row, body, attempt, deadlineWhyData);
    return;
  }
  const { pool } = attempt;
  const requestId = attempt.spotRequestId!;
  try {
    // Placed: the wait for a pool, if any, is over.
    const remove = [...(adopted ? ['standby'] : []), ...(row.waitingSince !== undefined ? ['waitingSince'] : [])];
    await tasks(ctx).transition(body, { from: 'pending', to: 'waiting', version: row.version, set: { attempts: appendAttempts(row.attempts, attempt) }, remove });
  } catch (err) {
    if (err instanceof StateConflictError && !adopted) {
      // Someone else moved the task. A duplicate of this message that placed the attempt in the same pool
      // got the same request back (same ClientToken) and recorded it: leave that one alone. Anything else
      // must not linger: cancel it, and terminate its instance if it launched one already.
      const now = await tasks(ctx).get(body);
      const recorded = now && [...now.attempts, ...(now.standby ? [now.standby] : [])].some((a) => a.spotRequestId === requestId);
      if (!recorded) {
        ctx.log.info({ attempt: n, pool: poolKey(pool), spotRequestId: requestId }, 'task moved meanwhile: releasing this delivery\'s spot request');
        await releaseRequest(cloud, pool.region, requestId);
      }
    }
    throw err;
  }
  if (!adopted) {
    // Requests of this attempt in another pool that nobody recorded: an earlier delivery's that stopped before
    // recording it (or whose answer was lost before a retry), a standby's whose rebalance.detected crashed before
    // recording it, and on-demand instances of the attempt an earlier delivery launched when it chose on demand.
    // Release those (teardown would find them too, but their instances would idle till then); one
    // DescribeSpotInstanceRequests and one DescribeInstances per region the job was prepared in.
    try {
      await releaseStrayLaunches(ctx, job, task.taskId, n, { spotRequestId: requestId });
    } catch (err) {
      ctx.log.warn({ attempt: n, err: (err as Error).message }, "could not look for the attempt's unrecorded spot requests: teardown releases them");
    }
  }
  ctx.log.info({ attempt: n, pool: poolKey(pool), price: attempt.price, spotRequestId: requestId, adopted: Boolean(adopted) }, adopted ? 'standby adopted as the next attempt' : 'spot instance requested');
  await ctx.bus.send('spot.check', body, { delaySeconds: adopted ? 0 : ctx.config.lifecycle.pollSeconds });
}

/**
 * The on-demand attempt launched for the deadline: recorded (pending -> waiting), with the event
 * `deadline.on-demand`; spot.check follows the instance. A delivery that lost the race terminates the
 * instance it launched unless the winner recorded that very one (same ClientToken, same instance).
 */
async function recordOnDemand(ctx: Ctx, job: JobRow, task: TaskRow, body: TaskBody, attempt: Attempt, why: DeadlineDecision['why'] | undefined): Promise<void> {
  try {
    const remove = task.waitingSince !== undefined ? ['waitingSince'] : [];
    await tasks(ctx).transition(body, { from: 'pending', to: 'waiting', version: task.version, set: { attempts: appendAttempts(task.attempts, attempt) }, remove });
  } catch (err) {
    if (err instanceof StateConflictError) {
      const now = await tasks(ctx).get(body);
      const recorded = now?.attempts.some((a) => a.instanceId === attempt.instanceId);
      if (!recorded && attempt.instanceId) await terminateInstance(cloudOf(ctx), attempt.pool.region, attempt.instanceId);
    }
    throw err;
  }
  await ctx.store.events.append(job.jobId, 'deadline.on-demand', {
    taskId: task.taskId,
    data: { attempt: attempt.n, pool: poolKey(attempt.pool), price: attempt.price, instanceId: attempt.instanceId, ...(why ?? { reason: 'the task went on demand for its deadline before' }) },
  });
  // What an earlier delivery of this attempt launched and never recorded: a spot request (it chose spot), an
  // on-demand instance elsewhere. Teardown would find them too, but they would run on the bill till then.
  try {
    await releaseStrayLaunches(ctx, job, task.taskId, attempt.n, { instanceId: attempt.instanceId });
  } catch (err) {
    ctx.log.warn({ attempt: attempt.n, err: (err as Error).message }, "could not look for the attempt's unrecorded launches: teardown releases them");
  }
  await ctx.bus.send('spot.check', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
}

/**
 * No pool can take the task now (every pool out of capacity, every region at its spot quota, or AWS failing
 * for now): ask again later, for at most lifecycle.noPoolWaitSeconds from the task's `waitingSince` (set on
 * the first such answer, kept on the row, so redeliveries and restarts count from the same moment; cleared
 * when an attempt is placed). Past that the task fails with what it waited for. A job with a deadline waits
 * until its deadline policy sends it on demand instead (the safety net, at the last safe moment): the next
 * look is no later than that moment; past it (no on-demand capacity either, or a decision that failed) the
 * looks back off with jitter (deadlineWait), and the task fails once the deadline plus noPoolWaitSeconds is past.
 */
async function waitForPool(ctx: Ctx, job: JobRow, task: TaskRow, body: TaskBody, n: number, err: TransientError, decision?: DeadlineDecision): Promise<void> {
  const now = ctx.clock.now();
  const limit = ctx.config.lifecycle.noPoolWaitSeconds;
  const waited = now - (task.waitingSince ?? now);
  if (job.deadlineAt !== undefined) {
    const toNet = decision ? secondsToSafetyNet(decision.state) : undefined;
    // Past the last safe moment (or without a decision) the wait backs off, by the time waited so far.
    const next = deadlineWait({ now, deadlineAt: job.deadlineAt, limitSeconds: limit, toNetSeconds: toNet, pastNetSince: task.waitingSince ?? now, retrySeconds: NO_POOL_RETRY_SECONDS });
    if ('fail' in next) {
      await failTask(ctx, job, task, { from: 'pending', reason: `waited ${waitText(waited)} for spot or on-demand capacity: ${next.fail}: ${err.message}` });
      return;
    }
    let row = task;
    if (task.waitingSince === undefined) {
      row = await tasks(ctx).update(body, { state: 'pending', version: task.version, set: { waitingSince: now } });
      await ctx.store.events.append(job.jobId, 'task.waiting', { taskId: task.taskId, data: { attempt: n, reason: err.message, ...(toNet !== undefined ? { untilSafetyNetSeconds: Math.round(toNet) } : {}) } });
    }
    const delaySeconds = next.delaySeconds;
    ctx.log.info({ attempt: n, reason: err.message, waitedSeconds: Math.round(waited / 1000), delaySeconds }, 'deadline job: no instance now, looking again (before the last safe moment, or backing off past it)');
    await tasks(ctx).keepAlive(row);
    await ctx.bus.send('spot.request', body, { delaySeconds });
    return;
  }
  if (waited >= limit * 1000) {
    await failTask(ctx, job, task, { from: 'pending', reason: `waited ${waitText(waited)} for a pool (lifecycle.noPoolWaitSeconds ${limit}): ${err.message}` });
    return;
  }
  let row = task;
  if (task.waitingSince === undefined) {
    row = await tasks(ctx).update(body, { state: 'pending', version: task.version, set: { waitingSince: now } });
    await ctx.store.events.append(job.jobId, 'task.waiting', { taskId: task.taskId, data: { attempt: n, reason: err.message, limitSeconds: limit } });
  }
  // Every minute (a third of the no-capacity cool-down), and once more when the wait is up, so the failure comes on time.
  const delaySeconds = Math.max(1, Math.min(NO_POOL_RETRY_SECONDS, Math.ceil((limit * 1000 - waited) / 1000)));
  ctx.log.info({ attempt: n, reason: err.message, waitedSeconds: Math.round(waited / 1000), delaySeconds }, 'no pool can take the task now: asking again later');
  await tasks(ctx).keepAlive(row);
  await ctx.bus.send('spot.request', body, { delaySeconds });
}

export async function spotCheck(body: TaskBody, ctx: Ctx): Promise<void> {
  try {
    await checkRequest(body, ctx);
  } catch (err) {
    if (!isThrottled(err)) throw err;
    // Throttled past the SDK's retries: poll again later (jittered), the task stays where it is.
    const task = await tasks(ctx).get(body);
    if (task?.state !== 'waiting') throw err;
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('spot.check', body, { delaySeconds: throttledDelaySeconds(ctx.config.lifecycle.pollSeconds) });
  }
}

async function checkRequest(body: TaskBody, ctx: Ctx): Promise<void> {
  const loaded = await load(ctx, body);
  if (!loaded) return;
  const { job, task } = loaded;
  const attempt = currentAttempt(task);
  if (task.state === 'waiting' && attempt?.market === 'on-demand') {
    await checkOnDemand(ctx, body, job, task, attempt);
    return;
  }
  if (task.state !== 'waiting' || !attempt?.spotRequestId) return;
  const cloud = cloudOf(ctx);
  const region = attempt.pool.region;
  const poll = ctx.config.lifecycle.pollSeconds;
  const now = ctx.clock.now();
  // Right after RequestSpotInstances (and a fulfilment), EC2 may answer NotFound for the new request or
  // instance by id: look again later with backoff, for a bounded while (then the request counts as missing).
  const notYet = async (err: unknown, what: string): Promise<boolean> => {
    const age = now - (attempt.fulfilledAt ?? attempt.requestedAt);
    if (!isEventualNotFound(err) || age > EVENTUAL_CONSISTENCY_WINDOW_MS) return false;
    const delaySeconds = Math.max(poll, backoffSeconds(triesAfter(age), PROPAGATION_BACKOFF));
    ctx.log.info({ attempt: attempt.n, delaySeconds, code: awsCode(err) }, `${what} not visible yet (EC2 eventual consistency): looking again later`);
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('spot.check', body, { delaySeconds });
    return true;
  };
  let out;
  try {
    out = await untilVisible(() => cloud.ec2(region).send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [attempt.spotRequestId!] })), 2);
  } catch (err) {
    if (await notYet(err, 'spot request')) return;
    if (!isEventualNotFound(err)) throw err;
    out = { SpotInstanceRequests: [] };
  }
  const request = out.SpotInstanceRequests?.[0];
  const code = request?.Status?.Code ?? 'unknown';
  const instanceId = request?.InstanceId;

  // Reclaimed before the step ran: the same path as any interruption (cool-down, retry.maxInterruptions).
  if (INTERRUPTED_CODES.has(code)) {
    await reportReclaim(ctx, body, attempt, `spot request ${code}`, instanceId);
    return;
  }
  if (instanceId && (request?.State === 'active' || code === 'fulfilled')) {
    let described;
    try {
      described = await untilVisible(() => cloud.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })), 2);
    } catch (err) {
      if (!attempt.fulfilledAt && isEventualNotFound(err)) {
        // first sight of the instance: remember when, so the window counts from its fulfilment
        await tasks(ctx).update(body, { state: 'waiting', version: task.version, set: { attempts: [...task.attempts.slice(0, -1), { ...attempt, instanceId, fulfilledAt: now }] } });
        await ctx.bus.send('spot.check', body, { delaySeconds: poll });
        return;
      }
      if (await notYet(err, 'instance')) return;
      throw err;
    }
    const instance = described.Reservations?.[0]?.Instances?.[0];
    const state = instance?.State?.Name;
    const ip = instance?.PublicIpAddress ?? instance?.PrivateIpAddress;
    if (state === 'running' && ip) {
      // Spot request tags do not reach the instance: tag it, so teardown and people find it.
      const tags = Object.entries({ ...resourceTags(ctx.config.prefix, job.jobId, job.spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(attempt.n) }).map(([Key, Value]) => ({ Key, Value }));
      await untilVisible(() => cloud.ec2(region).send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags })));
      const updated: Attempt = { ...attempt, instanceId, ip, fulfilledAt: attempt.fulfilledAt ?? now, runningAt: now };
      await tasks(ctx).transition(body, { from: 'waiting', to: 'starting', version: task.version, set: { attempts: [...task.attempts.slice(0, -1), updated] } });
      await ctx.bus.send('step.run', body);
      return;
    }
    if (state === 'pending' || !state) {
      if (!attempt.fulfilledAt) {
        await tasks(ctx).update(body, { state: 'waiting', version: task.version, set: { attempts: [...task.attempts.slice(0, -1), { ...attempt, instanceId, fulfilledAt: now }] } });
      }
      await tasks(ctx).keepAlive(task);
      await ctx.bus.send('spot.check', body, { delaySeconds: poll });
      return;
    }
    // The instance went away before it ran: a spot reclaim is an interruption, anything else a re-placement.
    const why = reclaimedState(state, instance?.StateReason?.Code);
    if (why) {
      await reportReclaim(ctx, body, attempt, why, instanceId);
      return;
    }
    await replace(ctx, job, task, attempt, `instance ${state}${instance?.StateReason?.Code ? ` (${instance.StateReason.Code})` : ''}`);
    return;
  }
  if (request?.State === 'open' && !REPLACE_CODES.has(code)) {
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('spot.check', body, { delaySeconds: poll });
    return;
  }
  await replace(ctx, job, task, attempt, `spot request ${request?.State ?? 'missing'}: ${code}`, code);
}

/**
 * An on-demand attempt waits for its instance to run (DescribeInstances: there is no spot request to
 * follow), then goes to step.run. An instance that stops or terminates before it ran is re-placed (no spot
 * reclaim ever ends an on-demand instance); one not visible yet right after its launch is looked at again.
 */
async function checkOnDemand(ctx: Ctx, body: TaskBody, job: JobRow, task: TaskRow, attempt: Attempt): Promise<void> {
  const cloud = cloudOf(ctx);
  const region = attempt.pool.region;
  const poll = ctx.config.lifecycle.pollSeconds;
  const now = ctx.clock.now();
  let instance;
  try {
    const out = await untilVisible(() => cloud.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [attempt.instanceId!] })), 2);
    instance = out.Reservations?.[0]?.Instances?.[0];
  } catch (err) {
    if (!isEventualNotFound(err) || now - attempt.requestedAt > EVENTUAL_CONSISTENCY_WINDOW_MS) throw err;
    ctx.log.info({ attempt: attempt.n, code: awsCode(err) }, 'on-demand instance not visible yet (EC2 eventual consistency): looking again later');
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('spot.check', body, { delaySeconds: poll });
    return;
  }
  const state = instance?.State?.Name;
  const ip = instance?.PublicIpAddress ?? instance?.PrivateIpAddress;
  if (state === 'running' && ip) {
    const updated: Attempt = { ...attempt, ip, fulfilledAt: attempt.fulfilledAt ?? now, runningAt: now };
    await tasks(ctx).transition(body, { from: 'waiting', to: 'starting', version: task.version, set: { attempts: [...task.attempts.slice(0, -1), updated] } });
    await ctx.bus.send('step.run', body);
    return;
  }
  if (state === 'pending' || state === 'running' || !state) {
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('spot.check', body, { delaySeconds: poll });
    return;
  }
  await replace(ctx, job, task, attempt, `on-demand instance ${state}${instance?.StateReason?.Code ? ` (${instance.StateReason.Code})` : ''}`);
}

/** Reconciliation against EC2 saw the attempt's instance reclaimed: termination.detected takes it from here. */
async function reportReclaim(ctx: Ctx, body: TaskBody, attempt: Attempt, why: string, instanceId: string | undefined): Promise<void> {
  const id = instanceId ?? attempt.instanceId;
  ctx.log.info({ attempt: attempt.n, pool: poolKey(attempt.pool), reason: why }, 'spot instance reclaimed before the step ran');
  await ctx.bus.send('termination.detected', { ...body, attempt: attempt.n, source: 'reconcile', action: why, ...(id ? { instanceId: id } : {}) });
}

/** Give the current attempt up where it is (not a spot reclaim) and ask for another pool; bounded by MAX_REPLACEMENTS. */
async function replace(ctx: Ctx, job: JobRow, task: TaskRow, attempt: Attempt, reason: string, code?: string): Promise<void> {
  const cloud = cloudOf(ctx);
  if (attempt.spotRequestId) await cancelSpotRequest(cloud, attempt.pool.region, attempt.spotRequestId);
  if (attempt.instanceId) await terminateInstance(cloud, attempt.pool.region, attempt.instanceId);
  const now = ctx.clock.now();
  const ended: Attempt = { ...attempt, endedAt: now, outcome: 'replaced', reason };
  const avoid = [...new Set([...task.avoid, poolKey(attempt.pool)])];
  await tasks(ctx).transition(
    { jobId: task.jobId, taskId: task.taskId },
    {
      from: 'waiting',
      to: 'pending',
      version: task.version,
      set: { attempts: [...task.attempts.slice(0, -1), ended], avoid },
    },
  );
  await ctx.store.events.append(job.jobId, 'task.replaced', { taskId: task.taskId, data: { attempt: attempt.n, pool: poolKey(attempt.pool), reason } });
  if (code && NO_CAPACITY_CODES.has(code)) {
    // The pool is out of capacity for every task of the fleet, not just this one: the ICE cache (market-link.ts).
    await record(ctx.log, 'no capacity', attempt.pool, () => marketOf(ctx).markNoCapacity(attempt.pool, now + NO_CAPACITY_MS, code));
  }
  ctx.log.info({ attempt: attempt.n, pool: poolKey(attempt.pool), reason }, 'attempt re-placed');
  await ctx.bus.send('spot.request', { jobId: task.jobId, taskId: task.taskId });
}
