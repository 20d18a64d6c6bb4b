/**
 * Rebalance recommendations (onRebalance: "migrate"): EC2 says an instance is
 * at elevated risk of interruption, usually minutes before any notice.
 * rebalance.detected requests the task's next attempt at once in another pool
 * (the "standby") while the step keeps running; rebalance.check follows that
 * request and, once its instance runs, moves the task there: the old attempt
 * ends `migrated` (its checkpoint saved first, when the spec has one) and the
 * standby becomes the current attempt, straight to step.run. If the notice
 * comes first, the usual interruption path runs and spot.request adopts the
 * standby instead of asking again.
 */
import { CreateTagsCommand, DescribeInstancesCommand, DescribeSpotInstanceRequestsCommand } from '@aws-sdk/client-ec2';
import { isEventualNotFound, untilVisible } from '../../shared/aws.js';
import { PermanentError, StateConflictError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { appendAttempts, currentAttempt, poolKey, resourceTags, type Attempt } from '../model/model.js';
import { jobs, tasks } from '../model/repo.js';
import { releaseStandby, terminateInstance } from '../ec2/cleanup.js';
import { releaseStrayRequests, requestAttempt } from '../spot/attempt.js';
import { beginNoticeSave } from '../checkpoint/lifecycle.js';

type Ctx = HandlerContext<FleetCatalog>;

export interface RebalanceSeen {
  jobId: string;
  taskId: string;
  attempt: number;
  source: 'agent' | 'events';
  instanceId?: string;
}

/** How long a standby request may stay unfulfilled before it is given up (the task stays where it is). */
const STANDBY_WAIT_MS = 10 * 60_000;

export async function rebalanceDetected(body: RebalanceSeen, ctx: Ctx): Promise<void> {
  const key = { jobId: body.jobId, taskId: body.taskId };
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(key)]);
  const attempt = task && currentAttempt(task);
  if (!job || !task || !attempt || attempt.n !== body.attempt) return;
  if (body.instanceId && attempt.instanceId && body.instanceId !== attempt.instanceId) return;
  if (job.spec.onRebalance !== 'migrate') {
    ctx.log.info({ attempt: attempt.n, source: body.source }, 'rebalance recommendation: onRebalance is "ignore", the task stays');
    return;
  }
  if (task.state !== 'running' || task.standby || job.state !== 'running') return;
  const migrations = task.migrations ?? 0;
  if (migrations >= job.spec.retry.maxInterruptions) {
    ctx.log.info({ attempt: attempt.n, migrations }, 'rebalance recommendation: no more migrations for this task (retry.maxInterruptions)');
    return;
  }
  let standby: Attempt;
  try {
    standby = await requestAttempt(ctx, job, task, attempt.n + 1, [poolKey(attempt.pool)]);
  } catch (err) {
    if (err instanceof PermanentError) {
      ctx.log.info({ reason: err.message }, 'rebalance recommendation: no other pool to migrate to; the task stays');
      return;
    }
    if (err instanceof TransientError) {
      // No pool now (every try refused at once), the job closing, a region still being prepared (JobClosedError and
      // RegionNotReadyError are TransientErrors): the standby is best effort, so the task stays rather than this
      // message cycling through its retries into the dead-letter queue.
      ctx.log.info({ reason: err.message }, 'rebalance recommendation: no standby to be had now; the task stays');
      return;
    }
    throw err;
  }
  try {
    await tasks(ctx).update(key, { state: 'running', version: task.version, set: { standby } });
  } catch (err) {
    // The task moved meanwhile (ended, interrupted): the standby must not linger (nor its instance, if it launched). A duplicate got the
    // same request back (same ClientToken, per attempt and pool) and recorded it, as the standby or, once rebalance.check moved the
    // task there, as the current attempt: leave that one.
    if (err instanceof StateConflictError) {
      const now = await tasks(ctx).get(key);
      const recorded = now && [...now.attempts, ...(now.standby ? [now.standby] : [])].some((a) => a.spotRequestId === standby.spotRequestId);
      if (!recorded) await releaseStandby(ctx.cloud, standby);
    }
    throw err;
  }
  if (ctx.receiveCount > 1) {
    // A redelivery: the delivery before may have requested the standby in another pool and stopped before recording it.
    try {
      await releaseStrayRequests(ctx, job, task.taskId, standby.n, standby.spotRequestId!);
    } catch (err) {
      ctx.log.warn({ attempt: standby.n, err: (err as Error).message }, "could not look for the standby's unrecorded spot requests: teardown releases them");
    }
  }
  await ctx.store.events.append(job.jobId, 'task.rebalance', {
    taskId: task.taskId,
    data: { attempt: attempt.n, pool: poolKey(attempt.pool), standby: poolKey(standby.pool), source: body.source },
  });
  ctx.log.info({ attempt: attempt.n, pool: poolKey(attempt.pool), standby: poolKey(standby.pool), source: body.source }, 'rebalance recommendation: standby requested');
  await ctx.bus.send('rebalance.check', { ...key, attempt: attempt.n }, { delaySeconds: ctx.config.lifecycle.pollSeconds });
}

export async function rebalanceCheck(body: { jobId: string; taskId: string; attempt: number }, ctx: Ctx): Promise<void> {
  const key = { jobId: body.jobId, taskId: body.taskId };
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(key)]);
  if (!job || !task) return;
  const attempt = currentAttempt(task);
  const standby = task.standby;
  // The notice came first (spot.request adopted the standby), or the task ended (endTask released it).
  if (!standby || !attempt || attempt.n !== body.attempt || standby.n !== attempt.n + 1) return;
  if (task.state !== 'running') return;
  const cloud = ctx.cloud;
  if (!cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  const region = standby.pool.region;
  const now = ctx.clock.now();
  // The standby's request and instance are new: a NotFound for them by id means "not visible yet" (EC2 eventual consistency).
  let notVisible = false;
  const visible = async <T>(fn: () => Promise<T>): Promise<T | undefined> =>
    untilVisible(fn, 2).catch((err: unknown) => {
      if (!isEventualNotFound(err)) throw err;
      notVisible = true;
      return undefined;
    });
  const out = await visible(() => cloud.ec2(region).send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [standby.spotRequestId!] })));
  const request = out?.SpotInstanceRequests?.[0];
  const instanceId = request?.InstanceId;
  let ip: string | undefined;
  if (instanceId) {
    const described = await visible(() => cloud.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
    const instance = described?.Reservations?.[0]?.Instances?.[0];
    if (instance?.State?.Name === 'running') ip = instance.PublicIpAddress ?? instance.PrivateIpAddress;
  }
  if (!ip || !instanceId) {
    const open = notVisible || request?.State === 'open' || (request?.State === 'active' && instanceId);
    if (open && now - standby.requestedAt < STANDBY_WAIT_MS) {
      await tasks(ctx).keepAlive(task);
      await ctx.bus.send('rebalance.check', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
      return;
    }
    // Not to be had (capacity, price, too slow): drop it, the task stays where it is.
    await releaseStandby(cloud, task.standby);
    await tasks(ctx).update(key, { state: 'running', version: task.version, remove: ['standby'] });
    ctx.log.info({ status: request?.Status?.Code }, 'standby not fulfilled; the task stays on its instance');
    return;
  }
  const tags = Object.entries({ ...resourceTags(ctx.config.prefix, job.jobId, job.spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(standby.n) }).map(([Key, Value]) => ({ Key, Value }));
  await untilVisible(() => cloud.ec2(region).send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags })));
  // The move: the old attempt ends migrated, the standby is the current attempt, ready for step.run.
  const moved: Attempt = { ...attempt, endedAt: now, outcome: 'migrated', reason: 'moved to a standby after a rebalance recommendation' };
  const next: Attempt = { ...standby, instanceId, ip, fulfilledAt: standby.fulfilledAt ?? now, runningAt: now };
  await tasks(ctx).transition(key, {
    from: 'running',
    to: 'starting',
    version: task.version,
    set: { attempts: appendAttempts(task.attempts.slice(0, -1), moved, next), migrations: (task.migrations ?? 0) + 1, avoid: [...new Set([...task.avoid, poolKey(attempt.pool)])] },
    remove: ['standby'],
  });
  await ctx.store.events.append(job.jobId, 'task.migrated', { taskId: task.taskId, data: { from: attempt.n, pool: poolKey(attempt.pool), to: poolKey(next.pool) } });
  ctx.log.info({ from: poolKey(attempt.pool), to: poolKey(next.pool), attempt: next.n }, 'task moved to its standby');
  if (job.spec.checkpoint && attempt.instanceId) {
    // The old step is stopped and its checkpoint copied; step.run waits for that save, then restores it.
    await beginNoticeSave(ctx, job, { ...key, attempt: attempt.n });
  } else if (attempt.instanceId) {
    await terminateInstance(cloud, attempt.pool.region, attempt.instanceId);
  }
  await ctx.bus.send('step.run', key);
}
