/**
 * termination.detected (request.resubmit, which it sends, is in services/request/). Three detection paths (the agent
 * on the instance, EventBridge's warning, reconciliation against EC2) all send
 * termination.detected; the first one moves the task to `interrupted` with one
 * conditional write, the others find it moved and do nothing, so there is one
 * resubmit per interruption.
 */
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { currentAttempt, poolKey, type Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow } from '../model/repo.js';
import { cancelSpotRequest, terminateInstance } from '../ec2/cleanup.js';
import { readAgentStatus, stopAgent } from '../agent/agent.js';
import { sshSessionFor, taskDir } from '../ssh/session.js';
import { beginNoticeSave } from '../checkpoint/lifecycle.js';
import { recordRunEnd } from '../spot/market-link.js';
import { leaveToEc2, lookDelaySeconds } from './ended.js';

type Ctx = HandlerContext<FleetCatalog>;

/** How long the step has between the TERM termination.detected sends it and the KILL (on the instance's clock). */
export const TELL_STEP_GRACE_SECONDS = 10;
/** The whole of telling the step (connect, read the status, TERM, grace): best effort, never longer. */
export const TELL_STEP_BOUND_MS = 30_000;

export interface Detected {
  jobId: string;
  taskId: string;
  attempt: number;
  source: 'agent' | 'events' | 'reconcile';
  instanceId?: string;
  action?: string;
  noticeTime?: string;
}

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

export async function terminationDetected(body: Detected, ctx: Ctx): Promise<void> {
  // Another writer (a keep-alive, a standby recorded) may bump the row between read and write: read again.
  for (let tries = 1; ; tries++) {
    try {
      await detectOnce(body, ctx);
      return;
    } catch (err) {
      if (!(err instanceof StateConflictError) || tries >= 3) throw err;
    }
  }
}

async function detectOnce(body: Detected, ctx: Ctx): Promise<void> {
  const key = { jobId: body.jobId, taskId: body.taskId };
  const task = await tasks(ctx).get(key);
  const attempt = task && currentAttempt(task);
  if (!task || !attempt || attempt.n !== body.attempt) return;
  if (task.state !== 'waiting' && task.state !== 'starting' && task.state !== 'running') return;
  if (body.instanceId && attempt.instanceId && body.instanceId !== attempt.instanceId) return;
  const now = ctx.clock.now();
  const instanceId = attempt.instanceId ?? body.instanceId;
  // EC2 reclaims the instance at the notice's time; only that is free in its first hour. With
  // lifecycle.leaveInterruptedToEc2 the fleet does not terminate a younger one itself (termination.ended looks
  // after the notice's time and records who ended it); by default it does, and the attempt is billed.
  const leave = ctx.config.lifecycle.leaveInterruptedToEc2 && instanceId !== undefined && leaveToEc2({ ...attempt, instanceId }, now);
  const ended: Attempt = {
    ...attempt,
    ...(instanceId ? { instanceId } : {}),
    ...(instanceId && !leave ? { endedBy: 'fleet' as const } : {}),
    endedAt: now,
    outcome: 'interrupted',
    interruptedBy: body.source,
    reason: `spot interruption${body.action ? ` (${body.action})` : ''}, seen by ${body.source}`,
    ...(body.noticeTime ? { noticeTime: body.noticeTime } : {}),
  };
  await tasks(ctx).transition(key, {
    from: task.state,
    to: 'interrupted',
    version: task.version,
    set: { attempts: [...task.attempts.slice(0, -1), ended], interruptions: (task.interruptions ?? 0) + 1 },
  });
  await ctx.store.events.append(task.jobId, 'task.interrupted', { taskId: task.taskId, data: { attempt: attempt.n, pool: poolKey(attempt.pool), source: body.source } });
  await recordRunEnd(ctx, attempt, true, now);
  ctx.log.info({ attempt: attempt.n, pool: poolKey(attempt.pool), source: body.source, instanceId }, 'spot interruption detected: resubmitting');
  // Resubmit at once, not when the instance dies.
  await ctx.bus.send('request.resubmit', key);
  const cloud = cloudOf(ctx);
  // Reclaimed before the step ran: a request still open or active must not launch again.
  if (task.state === 'waiting' && attempt.spotRequestId) await cancelSpotRequest(cloud, attempt.pool.region, attempt.spotRequestId);
  const job = await jobs(ctx).get({ jobId: task.jobId });
  if (leave) await ctx.bus.send('termination.ended', { ...key, attempt: attempt.n }, { delaySeconds: lookDelaySeconds(ctx.config.lifecycle.pollSeconds) });
  if (job?.spec.checkpoint && instanceId) {
    // checkpoint.save copies the folder off (beside the new attempt's launch) and then terminates the instance
    // (one older than an hour; a younger one is left to EC2).
    await beginNoticeSave(ctx, job, { ...key, attempt: attempt.n });
    return;
  }
  // The agent TERMed the step when it saw the notice itself; when the events queue or EC2 told us
  // first, the step may not know (the agent's watcher off or not polled yet): tell it before the end.
  if (job && body.source !== 'agent' && task.state !== 'waiting') await tellStep(ctx, job, task.taskId, ended);
  if (instanceId && !leave) await terminateInstance(cloud, attempt.pool.region, instanceId);
}

/**
 * Best effort, bounded by TELL_STEP_BOUND_MS: over SSH, stop the attempt's run
 * through the agent (stop-requested, TERM to the step's process group, KILL
 * after TELL_STEP_GRACE_SECONDS), unless the agent saw the notice and TERMed it
 * already, or the run is not running. An instance out of reach is left alone.
 */
async function tellStep(ctx: Ctx, job: JobRow, taskId: string, attempt: Attempt): Promise<void> {
  if (!attempt.ip) return;
  const dir = taskDir(job.jobId, taskId, attempt.n);
  const started = Date.now();
  let late = false;
  const work = (async (): Promise<string> => {
    const session = await sshSessionFor(ctx, job, attempt);
    try {
      if (late) return 'too late';
      const status = await readAgentStatus(session, dir, 1);
      if (status.state !== 'running' || status.agentAlive === false) return `run ${status.state}`;
      if (status.notice) return 'the agent TERMed the step already';
      await stopAgent(session, dir, TELL_STEP_GRACE_SECONDS);
      return 'TERM sent';
    } finally {
      session.close();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`no answer within ${TELL_STEP_BOUND_MS} ms`));
    }, TELL_STEP_BOUND_MS);
  });
  try {
    const outcome = await Promise.race([work, bound]);
    ctx.log.info({ attempt: attempt.n, outcome, ms: Date.now() - started }, 'told the step of the interruption over SSH');
  } catch (err) {
    ctx.log.warn({ attempt: attempt.n, err: (err as Error).message }, 'could not tell the step of the interruption over SSH; terminating anyway');
  } finally {
    clearTimeout(timer);
  }
}
