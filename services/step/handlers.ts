/** step.run, step.check, step.complete: the batch step on the task's instance, over SSH. */
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { currentAttempt, poolKey, type Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { terminateInstance } from '../ec2/cleanup.js';
import { checkpointDir, maybePeriodicSave, restoreCheckpoint, saveInProgress } from '../checkpoint/lifecycle.js';
import { readAgentStatus, startAgent, type AgentStatus, type StepPlan } from '../agent/agent.js';
import { endTask } from '../job/outcome.js';
import { reclaimed } from '../ec2/reconcile.js';
import { sshSessionFor, taskDir } from '../ssh/session.js';
import { shellQuote } from '../../shared/shell.js';
import type { SshSession } from '../ssh/ssh.js';
import { fleetArtifactStore } from '../artifacts/index.js';
import { deliverUploads, resolveStepScripts } from '../artifacts/deliver.js';
import { recordRunEnd, recordLaunchReady } from '../spot/market-link.js';
import { deadlineDecision, finishInterruptedMove, moveOnDemand } from '../spot/deadline.js';

type Ctx = HandlerContext<FleetCatalog>;
type TaskBody = { jobId: string; taskId: string };

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

async function load(ctx: Ctx, body: TaskBody) {
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(body)]);
  return job && task ? { job, task } : undefined;
}


const ssh = sshSessionFor;

/** The spec's steps as the agent runs them: a step's own timeout wins over the job-wide timeouts.step (the plan's stepTimeoutSeconds). */
export function planSteps(spec: JobRow['spec']): StepPlan['steps'] {
  return spec.steps?.map((s, i) => ({ name: s.name ?? `step-${i + 1}`, script: s.run!, ...(s.timeout !== undefined ? { timeoutSeconds: s.timeout } : {}) }));
}

function planFor(ctx: Ctx, job: JobRow, task: TaskRow, attempt: Attempt): StepPlan {
  const spec = job.spec;
  const env = {
    ...spec.env,
    ...task.env,
    SPOTBATCH_JOB_ID: job.jobId,
    SPOTBATCH_TASK_ID: task.taskId,
    SPOTBATCH_TASK_INDEX: String(task.index),
    SPOTBATCH_ATTEMPT: String(attempt.n),
  };
  return {
    taskDir: taskDir(job.jobId, task.taskId, attempt.n),
    steps: planSteps(spec),
    ...(spec.command ? { argv: spec.command } : {}),
    args: task.args,
    env,
    stepTimeoutSeconds: spec.timeouts.step,
    heartbeatSeconds: Math.max(1, Math.min(30, Math.floor(spec.timeouts.heartbeat / 4))),
    metadataPollSeconds: ctx.config.lifecycle.metadataPollSeconds,
    ...(spec.checkpoint ? { checkpointDir: checkpointDir(job)! } : {}),
  };
}

export async function stepRun(body: TaskBody, ctx: Ctx): Promise<void> {
  const loaded = await load(ctx, body);
  if (!loaded) return;
  const { job, task } = loaded;
  const attempt = currentAttempt(task);
  if (task.state !== 'starting' || !attempt) return;
  const now = ctx.clock.now();
  if (await saveInProgress(ctx, job, task.taskId)) {
    // The interrupted attempt's checkpoint is still being copied: restore what it saves, not the one before.
    ctx.log.info({ attempt: attempt.n }, 'waiting for the previous attempt\'s checkpoint save before starting the step');
    await tasks(ctx).keepAlive(task);
    await ctx.bus.send('step.run', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
    return;
  }
  let session: SshSession;
  try {
    session = await ssh(ctx, job, attempt);
  } catch (err) {
    if (err instanceof PermanentError) {
      // This instance will never take us in (a key mix-up, a broken image): try another.
      await giveUp(ctx, job, task, attempt, 'starting', err.message);
      return;
    }
    if (!(err instanceof TransientError)) throw err;
    const why = await reclaimed(cloudOf(ctx), attempt);
    if (why) {
      await ctx.bus.send('termination.detected', { ...body, attempt: attempt.n, source: 'reconcile', action: why, ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}) });
      return;
    }
    const waited = (now - (attempt.runningAt ?? now)) / 1000;
    if (waited < ctx.config.lifecycle.sshWaitSeconds) {
      await tasks(ctx).keepAlive(task);
      await ctx.bus.send('step.run', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
      return;
    }
    await giveUp(ctx, job, task, attempt, 'starting', `SSH not reachable after ${Math.round(waited)} s`);
    return;
  }
  try {
    const dir = taskDir(job.jobId, task.taskId, attempt.n);
    // A redelivered step.run after the start must not put an old checkpoint under a running step.
    const started = (await session.exec(`test -d "$HOME"/${shellQuote(`${dir}/lock`)}`, { timeoutMs: 30_000 })).code === 0;
    if (!started) {
      // Inputs come from the fleet's artifact store (checked by digest), never from a path on this host.
      await deliverUploads(job.spec, fleetArtifactStore(ctx), session);
      await restoreCheckpoint(ctx, job, task, attempt, session);
    }
    const spec = await resolveStepScripts(job.spec, fleetArtifactStore(ctx));
    await startAgent(session, planFor(ctx, { ...job, spec }, task, attempt));
  } catch (err) {
    // Reclaimed under our hands? Then that is the news, not a failed start (which SQS would retry).
    const why = err instanceof TransientError ? await reclaimed(cloudOf(ctx), attempt) : undefined;
    if (!why) throw err;
    await ctx.bus.send('termination.detected', { ...body, attempt: attempt.n, source: 'reconcile', action: why, ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}) });
    return;
  } finally {
    session.close();
  }
  const started = ctx.clock.now();
  await tasks(ctx).transition(body, {
    from: 'starting',
    to: 'running',
    version: task.version,
    set: { attempts: [...task.attempts.slice(0, -1), { ...attempt, sshReadyAt: now, startedAt: started }] },
  });
  await recordLaunchReady(ctx, attempt, now);
  ctx.log.info({ attempt: attempt.n, instanceId: attempt.instanceId }, 'step started');
  await ctx.bus.send('step.check', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
}

export async function stepCheck(body: TaskBody, ctx: Ctx): Promise<void> {
  const loaded = await load(ctx, body);
  if (!loaded) return;
  const { job, task } = loaded;
  const attempt = currentAttempt(task);
  // A deadline move that wrote the row and stopped before ending the spot attempt: end it now.
  if (task.state === 'pending' && job.deadlineAt !== undefined) await finishInterruptedMove(ctx, job, task);
  if (task.state !== 'running' || !attempt) return;
  const now = ctx.clock.now();
  const heartbeatMs = job.spec.timeouts.heartbeat * 1000;
  const poll = ctx.config.lifecycle.pollSeconds;
  let session: SshSession | undefined;
  let status: AgentStatus;
  try {
    session = await ssh(ctx, job, attempt);
    status = await readAgentStatus(session, taskDir(job.jobId, task.taskId, attempt.n), 20);
    if (status.state === 'running' && !status.notice) await maybePeriodicSave(ctx, job, task, attempt, session);
  } catch (err) {
    if (err instanceof PermanentError) {
      await ctx.bus.send('step.complete', { ...body, attempt: attempt.n, lost: err.message });
      return;
    }
    if (!(err instanceof TransientError)) throw err;
    // The connection failed or dropped (a pooled one to a vanished instance drops at its first use).
    // Reconciliation: is the instance gone to a spot reclaim?
    const why = await reclaimed(cloudOf(ctx), attempt);
    if (why) {
      await ctx.bus.send('termination.detected', { ...body, attempt: attempt.n, source: 'reconcile', action: why, ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}) });
      return;
    }
    if (now - (attempt.startedAt ?? now) > heartbeatMs) {
      await ctx.bus.send('step.complete', { ...body, attempt: attempt.n, lost: `instance unreachable over SSH (${err.message})` });
    } else {
      await tasks(ctx).keepAlive(task);
      await ctx.bus.send('step.check', body, { delaySeconds: poll });
    }
    return;
  } finally {
    session?.close();
  }
  const tails = { stdoutTail: status.stdoutTail.slice(-8192), stderrTail: status.stderrTail.slice(-8192) };
  // The agent saw a spot interruption notice and TERMed the step: whatever it exits with is its answer to the
  // TERM, not the task's result, unless it finished its work (exit 0 with no step left; see docs/agent.md).
  if (status.notice && !(status.state === 'exited' && status.exitCode === 0)) {
    await ctx.bus.send('termination.detected', {
      ...body,
      attempt: attempt.n,
      source: 'agent',
      action: status.notice.action,
      ...(status.notice.time ? { noticeTime: status.notice.time } : {}),
      ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}),
    });
    return;
  }
  if (status.rebalance && status.state === 'running' && job.spec.onRebalance === 'migrate' && !task.standby) {
    await ctx.bus.send('rebalance.detected', { ...body, attempt: attempt.n, source: 'agent', ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}) });
  }
  if (status.state === 'exited') {
    await ctx.bus.send('step.complete', { ...body, attempt: attempt.n, exitCode: status.exitCode ?? 255, ...(status.timedOut ? { timedOut: status.timedOut } : {}), ...tails });
    return;
  }
  if (status.state === 'running' && status.agentAlive === false) {
    await lostUnlessReclaimed(ctx, body, attempt, 'the agent died without an exit status', tails);
    return;
  }
  // Heartbeat age on the instance's own clock: no skew between it and this dispatcher.
  const beat = status.heartbeatAt ?? status.startedAt;
  const age = beat !== undefined && status.instanceNow !== undefined ? status.instanceNow - beat : (now - (attempt.startedAt ?? now)) / 1000;
  if (age * 1000 > heartbeatMs) {
    await lostUnlessReclaimed(ctx, body, attempt, `no heartbeat for ${Math.round(age)} s`, tails);
    return;
  }
  if (job.deadlineAt !== undefined && attempt.market !== 'on-demand' && status.state === 'running') {
    // The deadline's safety net while spot runs: the policy may send the task on demand now. A failed read
    // (prices, rows, throttling) must not kill a running task through the dead-letter queue: log, keep polling.
    let decision;
    try {
      decision = await deadlineDecision(ctx, job, task);
    } catch (err) {
      ctx.log.warn({ attempt: attempt.n, err: (err as Error).message }, 'deadline decision failed: the spot attempt goes on, looking again at the next poll');
    }
    if (decision?.choice.mode === 'on-demand') {
      await moveOnDemand(ctx, job, task, attempt, decision);
      return;
    }
  }
  await tasks(ctx).keepAlive(task);
  await ctx.bus.send('step.check', body, { delaySeconds: poll });
}

/**
 * The run stopped answering on an instance SSH still reaches (a stale heartbeat, a dead agent): ask EC2 first.
 * A spot reclaim (the request marked for termination, the instance going) is an interruption, bounded by
 * retry.maxInterruptions; anything else is a lost instance, bounded by retry.maxAttempts.
 */
async function lostUnlessReclaimed(ctx: Ctx, body: TaskBody, attempt: Attempt, lost: string, tails: { stdoutTail: string; stderrTail: string }): Promise<void> {
  const why = await reclaimed(cloudOf(ctx), attempt);
  if (why) {
    ctx.log.info({ attempt: attempt.n, lost, reclaimed: why }, 'the run stopped answering and EC2 says the instance was reclaimed: an interruption');
    await ctx.bus.send('termination.detected', { ...body, attempt: attempt.n, source: 'reconcile', action: why, ...(attempt.instanceId ? { instanceId: attempt.instanceId } : {}) });
    return;
  }
  await ctx.bus.send('step.complete', { ...body, attempt: attempt.n, lost, ...tails });
}

/**
 * What ended the attempt, as a person reads it: the exit code, or the step the agent stopped at its
 * timeout (its number as the agent counts, from 1, and its `name` when the spec gave it one).
 */
export function endedBy(steps: ReadonlyArray<{ name?: string | undefined }>, code: number, timedOut?: { step: number; seconds: number }): string {
  if (!timedOut) return `exit code ${code}`;
  const name = steps[timedOut.step - 1]?.name;
  return `step ${timedOut.step}${name ? ` (${name})` : ''} timed out after ${timedOut.seconds} s (exit code ${code})`;
}

export async function stepComplete(
  body: TaskBody & { attempt: number; exitCode?: number; lost?: string; timedOut?: { step: number; seconds: number }; stdoutTail: string; stderrTail: string },
  ctx: Ctx,
): Promise<void> {
  const loaded = await load(ctx, body);
  if (!loaded) return;
  const { job, task } = loaded;
  const attempt = currentAttempt(task);
  if (task.state !== 'running' || !attempt || attempt.n !== body.attempt) return;
  const spec = job.spec;
  const now = ctx.clock.now();
  if (attempt.instanceId) await terminateInstance(cloudOf(ctx), attempt.pool.region, attempt.instanceId);
  const tails = { stdoutTail: body.stdoutTail, stderrTail: body.stderrTail };
  if (body.lost !== undefined) {
    await giveUp(ctx, job, task, attempt, 'running', body.lost, tails);
    return;
  }
  const code = body.exitCode ?? 255;
  const what = endedBy(spec.steps ?? [], code, body.timedOut);
  const ended = (outcome: Attempt['outcome'], reason?: string): Attempt[] => [
    ...task.attempts.slice(0, -1),
    { ...attempt, endedAt: now, exitCode: code, outcome, ...(reason ? { reason } : {}) },
  ];
  if (code === 0) {
    await endTask(ctx, job, task, { from: 'running', to: 'succeeded', exitCode: 0, attempts: ended('succeeded'), ...tails });
    await recordRunEnd(ctx, attempt, false, now);
    return;
  }
  const failures = task.failures + 1;
  const retryable = spec.retry.retryExitCodes.includes(code) && !spec.retry.failExitCodes.includes(code);
  if (retryable && failures < spec.retry.maxAttempts) {
    await tasks(ctx).transition(body, {
      from: 'running',
      to: 'pending',
      version: task.version,
      set: { attempts: ended('retry', what), failures, exitCode: code, ...tails },
    });
    await ctx.store.events.append(job.jobId, 'task.retry', { taskId: task.taskId, data: { attempt: attempt.n, exitCode: code } });
    await recordRunEnd(ctx, attempt, false, now);
    ctx.log.info({ attempt: attempt.n, exitCode: code, failures, maxAttempts: spec.retry.maxAttempts }, 'step failed with a retryable exit code: new attempt');
    await ctx.bus.send('spot.request', { jobId: body.jobId, taskId: body.taskId });
    return;
  }
  const reason = retryable ? `${what} on ${failures} attempt(s) (retry.maxAttempts ${spec.retry.maxAttempts})` : what;
  await endTask(ctx, job, task, { from: 'running', to: 'failed', exitCode: code, reason, attempts: ended('failed', reason), ...tails });
  await recordRunEnd(ctx, attempt, false, now);
}

/** The attempt's instance is gone or unusable: end it and place the task again (bounded by retry.maxAttempts). */
async function giveUp(
  ctx: Ctx,
  job: JobRow,
  task: TaskRow,
  attempt: Attempt,
  from: 'starting' | 'running',
  reason: string,
  tails: { stdoutTail?: string; stderrTail?: string } = {},
): Promise<void> {
  const now = ctx.clock.now();
  if (attempt.instanceId) await terminateInstance(cloudOf(ctx), attempt.pool.region, attempt.instanceId);
  const attempts = [...task.attempts.slice(0, -1), { ...attempt, endedAt: now, outcome: 'lost' as const, reason }];
  const lost = task.attempts.filter((a) => a.outcome === 'lost').length + 1;
  if (lost >= job.spec.retry.maxAttempts) {
    await endTask(ctx, job, task, { from, to: 'failed', reason: `instance lost ${lost} time(s): ${reason}`, attempts, ...tails });
    return;
  }
  await tasks(ctx).transition(
    { jobId: task.jobId, taskId: task.taskId },
    { from, to: 'pending', version: task.version, set: { attempts, avoid: [...new Set([...task.avoid, poolKey(attempt.pool)])] } },
  );
  await ctx.store.events.append(job.jobId, 'task.lost', { taskId: task.taskId, data: { attempt: attempt.n, reason } });
  ctx.log.warn({ attempt: attempt.n, reason }, 'attempt lost: placing the task again');
  await ctx.bus.send('spot.request', { jobId: task.jobId, taskId: task.taskId });
}
