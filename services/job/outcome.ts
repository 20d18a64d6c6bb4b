/** Ending a task: the terminal transition, the job's counters, and the job.check when it was the last. */
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { TaskState } from '../../shared/states.js';
import type { Attempt } from '../model/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { releaseStandby } from '../ec2/cleanup.js';
import { taskCostUsd } from '../ledger/fleet.js';

type Ctx = HandlerContext<FleetCatalog>;

export interface Ending {
  from: TaskState;
  to?: 'succeeded' | 'failed' | 'cancelled';
  reason?: string;
  exitCode?: number;
  attempts?: Attempt[];
  stdoutTail?: string;
  stderrTail?: string;
}

/** Move the task to its end (once: a conditional write), count it on the job, and check the job when all ended. */
export async function endTask(ctx: Ctx, job: JobRow, task: TaskRow, e: Ending): Promise<void> {
  const to = e.to ?? 'failed';
  const now = ctx.clock.now();
  const attempts = e.attempts ?? task.attempts;
  // The ledger's bill (EC2's rules over the pools' price history), not price at request times hours.
  const costUsd = await taskCostUsd(ctx, task.taskId, attempts, now);
  // A standby requested after a rebalance recommendation is of no use now.
  if (task.standby) await releaseStandby(ctx.cloud, task.standby);
  await tasks(ctx).transition(
    { jobId: task.jobId, taskId: task.taskId },
    {
      from: e.from,
      to,
      version: task.version,
      set: {
        attempts,
        costUsd,
        endedAt: now,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
        ...(e.stdoutTail !== undefined ? { stdoutTail: e.stdoutTail } : {}),
        ...(e.stderrTail !== undefined ? { stderrTail: e.stderrTail } : {}),
      },
      ...(task.standby ? { remove: ['standby'] } : {}),
    },
  );
  await ctx.store.events.append(job.jobId, `task.${to}`, { taskId: task.taskId, data: { attempts: attempts.length, ...(e.reason ? { reason: e.reason } : {}) } });
  const counter = to === 'succeeded' ? 'succeededCount' : to === 'failed' ? 'failedCount' : 'cancelledCount';
  const updated = await jobs(ctx).update({ jobId: job.jobId }, { add: { [counter]: 1 } });
  const ended = (updated.succeededCount ?? 0) + (updated.failedCount ?? 0) + (updated.cancelledCount ?? 0);
  ctx.log.info({ outcome: to, reason: e.reason, costUsd: Number(costUsd.toFixed(6)), ended, of: updated.taskCount }, `task ${to}`);
  if (ended >= updated.taskCount && updated.state === 'running') await ctx.bus.send('job.check', { jobId: job.jobId });
}

export function failTask(ctx: Ctx, job: JobRow, task: TaskRow, e: Omit<Ending, 'to'>): Promise<void> {
  return endTask(ctx, job, task, { ...e, to: 'failed' });
}
