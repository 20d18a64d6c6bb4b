/**
 * Checkpoints in the task lifecycle (docs/checkpoint.md):
 * - checkpoint.save, after an interruption notice: waits (bounded) for the
 *   TERMed step to exit, copies the folder to the store, then terminates the
 *   instance. It runs beside the resubmit, not before it: the new attempt's
 *   instance launches while the old one is being saved.
 * - step.check saves periodically when the spec has `every`.
 * - step.run restores the latest checkpoint before the step starts, once no
 *   save of the task is in progress.
 * One save per task at a time: a lease row `checkpoint:<job>/<task>`, whose
 * expiry frees it when a dispatcher dies mid-save.
 */
import { randomUUID } from 'node:crypto';
import { withAbortSignal } from '../../shared/abort.js';
import { PermanentError, StateConflictError, TransientError } from '../../shared/errors.js';
import { resource } from '../../shared/resources.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { readAgentStatus, stopAgent } from '../agent/agent.js';
import { sshSessionFor, taskDir } from '../ssh/session.js';
import type { SshSession } from '../ssh/ssh.js';
import { terminateInstance } from '../ec2/cleanup.js';
import { checkpointDirOf } from '../model/checkpoint-spec.js';
import { checkpointStore, defaultS3Client, fleetStoreLocation, type CheckpointStore, type SavedCheckpoint } from './store.js';

type Ctx = HandlerContext<FleetCatalog>;

/** How long a save may hold the task's lease beyond the grace: the copy itself. */
const COPY_BOUND_MS = 5 * 60_000;

export const saveLeaseName = (jobId: string, taskId: string): string => `checkpoint:${jobId}/${taskId}`;
const dueLeaseName = (jobId: string, taskId: string): string => `checkpoint-due:${jobId}/${taskId}`;

/** The fleet's S3 client for its checkpoint stores: made on first use, destroyed when the fleet stops. */
const CHECKPOINT_S3 = resource('checkpoint S3 client', () => defaultS3Client(), (s3) => s3.destroy());

/**
 * The job's store: the fleet's store its spec names (job.submit pinned the
 * name), over the fleet's S3 client, its calls ended by the drain
 * (ctx.signal). Undefined without a checkpoint; a PermanentError when this
 * dispatcher's configuration has no store of that name (it changed since the
 * job was submitted).
 */
export function storeOf(ctx: Ctx, job: JobRow): CheckpointStore | undefined {
  const spec = job.spec.checkpoint;
  if (!spec) return undefined;
  const location = fleetStoreLocation(ctx.config, spec.store ?? ctx.config.checkpoint.default);
  if (location.kind !== 's3') return checkpointStore(location);
  return checkpointStore(location, { s3: withAbortSignal(ctx.resources.get(CHECKPOINT_S3), ctx.signal) });
}

/** storeOf, with a missing store logged (and recorded as checkpoint.lost for the task) instead of thrown. */
async function storeOrLost(ctx: Ctx, job: JobRow, taskId: string, attempt: number): Promise<CheckpointStore | undefined> {
  try {
    return storeOf(ctx, job);
  } catch (err) {
    if (!(err instanceof PermanentError)) throw err;
    await ctx.store.events.append(job.jobId, 'checkpoint.lost', { taskId, data: { attempt, reason: err.message } });
    ctx.log.warn({ attempt, err: err.message }, 'no checkpoint store for the job on this dispatcher; nothing saved or restored');
    return undefined;
  }
}

/** The checkpoint folder relative to the login home, as the agent and the store take it. */
export function checkpointDir(job: JobRow): string | undefined {
  return job.spec.checkpoint ? checkpointDirOf(job.spec.checkpoint.path) : undefined;
}

async function record(ctx: Ctx, task: TaskRow, attempt: number, why: 'notice' | 'periodic', saved: SavedCheckpoint | undefined): Promise<void> {
  const data = saved ? { attempt, why, files: saved.files, bytes: saved.bytes } : { attempt, why, files: 0, bytes: 0, empty: true };
  await ctx.store.events.append(task.jobId, saved ? 'checkpoint.saved' : 'checkpoint.empty', { taskId: task.taskId, data });
  if (saved) await recordSaveTime(ctx, task, attempt, ctx.clock.now());
  ctx.log.info(data, saved ? 'checkpoint saved' : 'checkpoint folder empty: nothing saved, the previous checkpoint stays');
}

/**
 * The attempt's last save time on the task row (`checkpointSaves`): what the deadline's work done reads at
 * every step.check (not the job's events). A read-modify-write on the row's version, tried again on a
 * conflict (step.check's own writes); a failure is logged: the work done then counts from the save before.
 */
async function recordSaveTime(ctx: Ctx, task: TaskRow, attempt: number, at: number): Promise<void> {
  const key = { jobId: task.jobId, taskId: task.taskId };
  for (let i = 0; i < 5; i++) {
    const row = i === 0 ? task : await tasks(ctx).get(key);
    if (!row) return;
    if ((row.checkpointSaves?.[String(attempt)] ?? 0) >= at) return;
    try {
      await tasks(ctx).update(key, { version: row.version, set: { checkpointSaves: { ...row.checkpointSaves, [String(attempt)]: at } } });
      return;
    } catch (err) {
      if (!(err instanceof StateConflictError)) {
        ctx.log.warn({ attempt, err: (err as Error).message }, 'could not record the save time on the task row');
        return;
      }
    }
  }
  ctx.log.warn({ attempt }, 'could not record the save time on the task row after 5 tries');
}

/**
 * step.check's periodic save: at most once per `every` seconds per task, never
 * beside another save of it. A failed copy is logged and tried again at the next period.
 */
export async function maybePeriodicSave(ctx: Ctx, job: JobRow, task: TaskRow, attempt: Attempt, session: SshSession): Promise<void> {
  const every = job.spec.checkpoint?.every;
  const dir = checkpointDir(job);
  if (!every || !dir) return;
  if (ctx.clock.now() - (attempt.startedAt ?? ctx.clock.now()) < every * 1000) return;
  // The due lease is taken by one message per period and never released: it expires when the next period starts.
  if (!(await ctx.store.leases.acquire(dueLeaseName(job.jobId, task.taskId), randomUUID(), every * 1000))) return;
  const store = await storeOrLost(ctx, job, task.taskId, attempt.n);
  if (!store) return;
  const holder = `periodic:${randomUUID()}`;
  const lease = saveLeaseName(job.jobId, task.taskId);
  if (!(await ctx.store.leases.acquire(lease, holder, COPY_BOUND_MS))) return;
  try {
    await record(ctx, task, attempt.n, 'periodic', await store.save(session, dir, { jobId: job.jobId, taskId: task.taskId }));
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message, attempt: attempt.n }, 'periodic checkpoint save failed; the previous checkpoint stays');
  } finally {
    await ctx.store.leases.release(lease, holder);
  }
}

/**
 * Before the step starts on a new attempt's instance: is a save of the task
 * still running? Then step.run waits (the lease ends by itself when its holder died).
 */
export async function saveInProgress(ctx: Ctx, job: JobRow, taskId: string): Promise<boolean> {
  if (!job.spec.checkpoint) return false;
  const lease = await ctx.store.leases.get(saveLeaseName(job.jobId, taskId));
  return Boolean(lease && lease.expiresAt > ctx.clock.now());
}

/** Put the latest checkpoint into the folder on the new instance; true when there was one. */
export async function restoreCheckpoint(ctx: Ctx, job: JobRow, task: TaskRow, attempt: Attempt, session: SshSession): Promise<boolean> {
  const dir = checkpointDir(job);
  if (!dir) return false;
  const store = await storeOrLost(ctx, job, task.taskId, attempt.n);
  if (!store) return false;
  const restored = await store.restore(session, dir, { jobId: job.jobId, taskId: task.taskId });
  if (restored) {
    await ctx.store.events.append(job.jobId, 'checkpoint.restored', { taskId: task.taskId, data: { attempt: attempt.n } });
    ctx.log.info({ attempt: attempt.n }, 'checkpoint restored before the step starts');
  }
  return restored;
}

/** termination.detected hands the interrupted attempt over: take the save lease now, so the next step.run waits for it. */
export async function beginNoticeSave(ctx: Ctx, job: JobRow, body: { jobId: string; taskId: string; attempt: number }): Promise<void> {
  const holder = noticeHolder(body);
  const ttl = ctx.config.lifecycle.checkpointGraceSeconds * 1000 + COPY_BOUND_MS;
  if (!(await ctx.store.leases.acquire(saveLeaseName(job.jobId, body.taskId), holder, ttl))) {
    // A periodic save holds it: the notice save waits for it in checkpoint.save.
    ctx.log.info({ attempt: body.attempt }, 'a periodic checkpoint save is running; the notice save follows it');
  }
  await ctx.bus.send('checkpoint.save', { ...body, since: ctx.clock.now() });
}

const noticeHolder = (body: { jobId: string; taskId: string; attempt: number }): string => `notice:${body.jobId}/${body.taskId}/${body.attempt}`;

/**
 * checkpoint.save: after a notice. Waits for the step to exit (it had its TERM
 * from the agent; when the agent did not see the notice, this stops the step
 * itself), copies the folder, then terminates the instance.
 */
export async function checkpointSave(body: { jobId: string; taskId: string; attempt: number; since: number }, ctx: Ctx): Promise<void> {
  const [job, task] = await Promise.all([jobs(ctx).get({ jobId: body.jobId }), tasks(ctx).get(body)]);
  const attempt = task?.attempts.find((a) => a.n === body.attempt);
  const dir = job && checkpointDir(job);
  if (!job || !task || !attempt || !dir) return;
  const holder = noticeHolder(body);
  const lease = saveLeaseName(job.jobId, task.taskId);
  const grace = ctx.config.lifecycle.checkpointGraceSeconds;
  const ttl = grace * 1000 + COPY_BOUND_MS;
  const elapsed = (ctx.clock.now() - body.since) / 1000;
  const again = async (): Promise<void> => {
    await ctx.bus.send('checkpoint.save', body, { delaySeconds: Math.min(5, ctx.config.lifecycle.pollSeconds) });
  };
  const finish = async (): Promise<void> => {
    await ctx.store.leases.release(lease, holder);
    // An interrupted instance younger than an hour is EC2's to reclaim (free; one the fleet terminates is charged):
    // termination.ended follows it. Any other (a notice past the first hour, a deadline's move) the fleet ends.
    // termination.detected decided which (endedBy 'fleet' when the fleet ends it).
    const toEc2 = attempt.outcome === 'interrupted' && attempt.endedBy !== 'fleet';
    if (attempt.instanceId && ctx.cloud && !toEc2) await terminateInstance(ctx.cloud, attempt.pool.region, attempt.instanceId);
  };
  const store = await storeOrLost(ctx, job, task.taskId, attempt.n);
  if (!store) return finish();
  if (!(await ctx.store.leases.acquire(lease, holder, ttl))) {
    if (elapsed < grace + COPY_BOUND_MS / 1000) return again();
    ctx.log.warn({ attempt: body.attempt }, 'checkpoint save: the task\'s save lease stayed taken; giving up');
    return finish();
  }
  let session: SshSession;
  try {
    session = await sshSessionFor(ctx, job, attempt);
  } catch (err) {
    if (err instanceof TransientError && elapsed < 20) {
      await ctx.store.leases.acquire(lease, holder, ttl);
      return again();
    }
    await ctx.store.events.append(job.jobId, 'checkpoint.lost', { taskId: task.taskId, data: { attempt: attempt.n, reason: (err as Error).message } });
    ctx.log.warn({ attempt: attempt.n, err: (err as Error).message }, 'checkpoint save: the instance is out of reach; the previous checkpoint stays');
    return finish();
  }
  try {
    const runDir = taskDir(job.jobId, task.taskId, attempt.n);
    const status = await readAgentStatus(session, runDir, 1);
    if (status.state === 'running' && status.agentAlive !== false) {
      if (status.notice && elapsed < grace) {
        // The step had its TERM from the agent and is saving its work: give it the grace.
        return await again();
      }
      // The agent never saw the notice (or the grace is over): stop the step ourselves, TERM then KILL.
      await stopAgent(session, runDir, status.notice ? 0 : Math.max(0, Math.floor(grace - elapsed)));
    }
    const saved = await store.save(session, dir, { jobId: job.jobId, taskId: task.taskId });
    await record(ctx, task, attempt.n, 'notice', saved);
  } catch (err) {
    await ctx.store.events.append(job.jobId, 'checkpoint.lost', { taskId: task.taskId, data: { attempt: attempt.n, reason: (err as Error).message } });
    ctx.log.warn({ attempt: attempt.n, err: (err as Error).message }, 'checkpoint save failed; the previous checkpoint stays');
  } finally {
    session.close();
  }
  await finish();
}

/** On job end: its checkpoints are of no further use. A failure is logged, never blocks the teardown. */
export async function removeCheckpoints(ctx: Ctx, job: JobRow): Promise<void> {
  try {
    const store = storeOf(ctx, job);
    if (!store) return;
    await store.remove(job.jobId);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'could not remove the job\'s checkpoints');
  }
}
