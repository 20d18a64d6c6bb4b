/**
 * What the lifecycle keeps in the job and task rows (beside the state,
 * version and timestamps the store manages).
 */
import type { JobSpec } from './spec.js';
import type { CreatedKeyPair, JobSecurity } from './security-types.js';

export interface Pool {
  region: string;
  zone: string;
  type: string;
}

export const poolKey = (p: Pool): string => `${p.zone}/${p.type}`;

export type Outcome = 'succeeded' | 'partially-failed' | 'failed' | 'cancelled';

export interface JobAttrs {
  name: string;
  spec: JobSpec;
  /** specDigest of the spec as job.submit received it (services/model/spec-digest.ts): which spec won this id. */
  specDigest?: string;
  taskCount: number;
  submittedAt: number;
  /** Who may reach tcp/22 of the job's instances. */
  ingressCidr: string;
  security?: JobSecurity;
  /** Key pairs made so far while securing (each saved as soon as it exists). */
  keyPairs?: Record<string, CreatedKeyPair>;
  /** AMI per region and architecture, resolved once per job. */
  images?: Record<string, Record<string, string>>;
  /** Fast-path counters, bumped when a task ends; job.check recounts from the tasks. */
  succeededCount?: number;
  failedCount?: number;
  cancelledCount?: number;
  outcome?: Outcome;
  /** Pools that interrupted one of the job's tasks, avoided until the time given (epoch ms). */
  cooldowns?: Record<string, number>;
  error?: string;
  endedAt?: number;
}

export type AttemptOutcome = 'succeeded' | 'failed' | 'retry' | 'replaced' | 'interrupted' | 'migrated' | 'lost' | 'cancelled';

/** One spot request and what ran on its instance. */
export interface Attempt {
  n: number;
  pool: Pool;
  /** USD per hour when requested. */
  price?: number;
  spotRequestId?: string;
  instanceId?: string;
  ip?: string;
  /**
   * The instance's SSH host public key (OpenSSH line, `ssh-ed25519 AAAA...`):
   * given to the instance in its user data (cloud-init ssh_keys) at the
   * request, checked on every SSH connection. Public: safe to show.
   */
  hostKey?: string;
  requestedAt: number;
  fulfilledAt?: number;
  runningAt?: number;
  sshReadyAt?: number;
  startedAt?: number;
  endedAt?: number;
  exitCode?: number;
  outcome?: AttemptOutcome;
  reason?: string;
  /** Why this pool: the placement function's words. */
  placement?: string;
  /** Which detection path saw the interruption first: the agent, EventBridge, or reconciliation. */
  interruptedBy?: 'agent' | 'events' | 'reconcile';
  /** The notice's time of action, when known. */
  noticeTime?: string;
}

export interface TaskAttrs {
  index: number;
  args: string[];
  env: Record<string, string>;
  /** Attempts so far, newest last. */
  attempts: Attempt[];
  /** Attempts ended by a retryable exit code. */
  failures: number;
  interruptions: number;
  /** Moves to a standby instance after a rebalance recommendation (onRebalance "migrate"). */
  migrations?: number;
  /**
   * The next attempt, requested ahead after a rebalance recommendation while
   * the current one still runs: the task moves to it once it is running, or
   * spot.request adopts it if the notice comes first.
   */
  standby?: Attempt;
  /** Pools that failed this task (capacity, price), not to be tried again soon. */
  avoid: string[];
  exitCode?: number;
  reason?: string;
  stdoutTail?: string;
  stderrTail?: string;
  costUsd?: number;
  endedAt?: number;
}

export function currentAttempt(task: TaskAttrs): Attempt | undefined {
  return task.attempts[task.attempts.length - 1];
}

export function resourceTags(jobId: string, spec: JobSpec): Record<string, string> {
  return { ...spec.tags, 'spotbatch:job': jobId };
}

/** Cost of an attempt so far: spot price times the hours its instance ran. */
export function attemptCost(a: Attempt, now: number): number {
  if (!a.price || !a.runningAt) return 0;
  const end = a.endedAt ?? now;
  return (a.price * Math.max(0, end - a.runningAt)) / 3_600_000;
}

/**
 * The attempts with every one still open ended at `now` (an ended attempt keeps its own end): a task that
 * ends, by a cancel or a failure, stops its spend and runtime there.
 */
export function closeAttempts(attempts: readonly Attempt[], now: number, outcome: AttemptOutcome, reason: string): Attempt[] {
  return attempts.map((a) => (a.endedAt !== undefined && a.outcome ? a : { ...a, endedAt: a.endedAt ?? now, outcome: a.outcome ?? outcome, reason: a.reason ?? reason }));
}

/** Every spot request id a task has recorded (its attempts and a standby), by region. */
export function requestIdsByRegion(tasks: ReadonlyArray<Pick<TaskAttrs, 'attempts' | 'standby'>>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of tasks) {
    for (const a of [...t.attempts, ...(t.standby ? [t.standby] : [])]) {
      if (!a.spotRequestId) continue;
      const list = out.get(a.pool.region) ?? [];
      list.push(a.spotRequestId);
      out.set(a.pool.region, list);
    }
  }
  return out;
}
