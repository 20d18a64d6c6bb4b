/**
 * Who ends an interrupted spot instance. EC2 bills a Spot Instance it interrupts in its first hour nothing, but
 * one the customer terminates is charged for its seconds ("Billing for interrupted Spot Instances", EC2 user
 * guide). So after a notice the fleet leaves an instance younger than an hour to EC2 (it reclaims it at the
 * notice's time), and termination.ended looks after that time: gone with `Server.SpotInstanceTermination`, EC2
 * ended it (`endedBy: 'ec2'`, free in the ledger); still alive, the fleet terminates it (`endedBy: 'fleet'`).
 */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { Attempt } from '../model/model.js';
import { tasks } from '../model/repo.js';
import { terminateInstance } from '../ec2/cleanup.js';

type Ctx = HandlerContext<FleetCatalog>;

/** EC2's first hour, in which an interruption it makes is free. */
export const FIRST_HOUR_MS = 3_600_000;
/** The interruption notice: EC2 acts two minutes after it. */
export const NOTICE_MS = 120_000;
/** How long past the notice's two minutes an instance may still be alive before the fleet terminates it. */
export const RECLAIM_GRACE_MS = 180_000;
/** EC2's state reason for an instance it reclaimed. */
export const SPOT_RECLAIM_REASON = 'Server.SpotInstanceTermination';

/** Whether the fleet leaves an interrupted attempt's instance for EC2 to reclaim: a spot instance younger than an hour. */
export function leaveToEc2(a: Attempt, now: number): boolean {
  if ((a.market ?? 'spot') !== 'spot' || !a.instanceId) return false;
  const since = a.runningAt ?? a.fulfilledAt ?? a.requestedAt;
  return now - since < FIRST_HOUR_MS;
}

/**
 * How often termination.ended looks: every poll (at most 30 s), so an instance EC2 reclaimed is seen soon after
 * (the notice's two minutes are the market's clock; the fleet only waits them out before terminating itself).
 */
export function lookDelaySeconds(pollSeconds: number): number {
  return Math.min(30, Math.max(1, pollSeconds));
}

export interface Ended {
  jobId: string;
  taskId: string;
  attempt: number;
}

/** Set `endedBy` on the attempt (whatever state the task is in now); a concurrent writer: read again. */
export async function recordEndedBy(ctx: Ctx, body: Ended, endedBy: 'ec2' | 'fleet'): Promise<void> {
  const key = { jobId: body.jobId, taskId: body.taskId };
  for (let tries = 1; ; tries++) {
    const task = await tasks(ctx).get(key);
    const i = task?.attempts.findIndex((a) => a.n === body.attempt) ?? -1;
    if (!task || i < 0 || task.attempts[i]!.endedBy) return;
    const attempts = task.attempts.map((a, j) => (j === i ? { ...a, endedBy } : a));
    try {
      await tasks(ctx).update(key, { state: task.state, version: task.version, set: { attempts } });
      return;
    } catch (err) {
      if (!(err instanceof StateConflictError) || tries >= 5) throw err;
    }
  }
}

/** termination.ended: after the notice's time, who ended the interrupted attempt's instance; one still alive is terminated. */
export async function terminationEnded(body: Ended, ctx: Ctx): Promise<void> {
  const task = await tasks(ctx).get({ jobId: body.jobId, taskId: body.taskId });
  const attempt = task?.attempts.find((a) => a.n === body.attempt);
  if (!attempt?.instanceId || attempt.endedBy) return;
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  const region = attempt.pool.region;
  let instance;
  try {
    const out = await ctx.cloud.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [attempt.instanceId] }));
    instance = out.Reservations?.[0]?.Instances?.[0];
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceID.NotFound') throw err;
  }
  const state = instance?.State?.Name;
  // Gone from DescribeInstances (a terminated instance stays visible for about an hour): who ended it is not known.
  if (!instance || !state) return;
  if (state === 'terminated' || state === 'shutting-down') {
    const reclaimed = instance.StateReason?.Code === SPOT_RECLAIM_REASON;
    ctx.log.info({ attempt: attempt.n, instanceId: attempt.instanceId, reason: instance.StateReason?.Code }, reclaimed ? 'interrupted instance reclaimed by EC2' : 'interrupted instance ended, not by EC2');
    return recordEndedBy(ctx, body, reclaimed ? 'ec2' : 'fleet');
  }
  const now = ctx.clock.now();
  const seen = attempt.endedAt ?? now;
  if (now < seen + NOTICE_MS + RECLAIM_GRACE_MS) {
    await ctx.bus.send('termination.ended', body, { delaySeconds: lookDelaySeconds(ctx.config.lifecycle.pollSeconds) });
    return;
  }
  // EC2 has not reclaimed it (the notice was withdrawn, or it was never one for this instance): nothing is left running.
  ctx.log.warn({ attempt: attempt.n, instanceId: attempt.instanceId, state }, 'interrupted instance still alive past the notice: terminating it');
  // Terminate first: a redelivery after a failed write finds it shutting down by the user, and records that.
  await terminateInstance(ctx.cloud, region, attempt.instanceId);
  await recordEndedBy(ctx, body, 'fleet');
}
