/**
 * What the lifecycle keeps in the job and task rows (beside the state,
 * version and timestamps the store manages).
 */
import { z } from 'zod';
import { JobSpecSchema, type JobSpec } from './spec.js';
import { CreatedKeyPairSchema, JobSecuritySchema } from './security-types.js';

export const PoolSchema = z.object({
  region: z.string(),
  zone: z.string(),
  type: z.string(),
});
export type Pool = z.infer<typeof PoolSchema>;

export const poolKey = (p: Pool): string => `${p.zone}/${p.type}`;

export const OUTCOMES = ['succeeded', 'partially-failed', 'failed', 'cancelled'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * The spec as the job row keeps it. job.submit wrote it after JobSpecSchema
 * parsed it (every rule, once, naming the field path). A read parses it again
 * for its defaults (a field an older version did not write) with a light task
 * list (a spec can list 10,000), and when a rule rejects it, the spec is read
 * as it was stored: a rule an upgrade tightens (a CIDR form the old rule took)
 * must not turn every job submitted before it into a corrupt row and a
 * dead-lettered message. Only a spec that is not an object is corrupt.
 */
const StoredTaskInputSchema = z.object({ args: z.array(z.string()).optional(), env: z.record(z.string(), z.string()).optional() });
const CheckedStoredSpecSchema = z.object({
  ...JobSpecSchema.shape,
  tasks: z.union([z.object({ count: z.number() }), z.array(StoredTaskInputSchema)]),
});
// The stored spec reads as the spec: the two types cannot drift apart.
const _storedIsSpec = (s: z.output<typeof CheckedStoredSpecSchema>): JobSpec => s;
const _specIsStored = (s: JobSpec): z.output<typeof CheckedStoredSpecSchema> => s;
void _storedIsSpec;
void _specIsStored;
export const StoredJobSpecSchema = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be the spec job.submit stored (an object)')
  .pipe(CheckedStoredSpecSchema.catch((c) => c.input as JobSpec));

const SplitSchema = z.object({ usefulSeconds: z.number(), lostSeconds: z.number(), bootSeconds: z.number(), idleSeconds: z.number(), duplicateSeconds: z.number() });

/**
 * The cost ledger's summary of a finished job (services/ledger/summary.ts), kept on its row at job.complete so
 * that `spotbatch report --all` reads rows, not every task and price history: totals, per pool, per day.
 */
export const LedgerSummarySchema = z.object({
  computedAt: z.number(),
  usd: z.number(),
  spotUsd: z.number(),
  onDemandFallbackUsd: z.number(),
  onDemandUsd: z.number().optional(),
  attempts: z.number(),
  interruptions: z.number(),
  time: SplitSchema,
  pools: z.array(
    z.object({
      pool: z.string(),
      region: z.string(),
      zone: z.string(),
      type: z.string(),
      market: z.enum(['spot', 'on-demand']),
      attempts: z.number(),
      interruptions: z.number(),
      usd: z.number(),
      wastedSeconds: z.number(),
      wastedUsd: z.number(),
    }),
  ),
  days: z.array(z.object({ day: z.string(), usd: z.number(), onDemandUsd: z.number().optional() })),
  notes: z.array(z.string()),
});
export type LedgerSummary = z.infer<typeof LedgerSummarySchema>;

/** What the lifecycle keeps in the job row (beside the state, version and timestamps the store manages). */
export const JobAttrsShape = {
  name: z.string(),
  spec: StoredJobSpecSchema,
  /** specDigest of the spec as job.submit received it (services/model/spec-digest.ts): which spec won this id. */
  specDigest: z.string().optional(),
  taskCount: z.number(),
  submittedAt: z.number(),
  /** The spec's deadline as epoch ms (deadlineAt(spec, submittedAt)), set by job.submit; absent without one. */
  deadlineAt: z.number().optional(),
  /** The jobs list's index key (shared/store/tables.ts JOB_LIST_PK): set on every job row, so the list is a Query, not a Scan. */
  listPk: z.string().optional(),
  /** The spec's tags, beside it: the jobs list's index projects this, not the whole spec (shared/store/tables.ts). */
  tags: z.record(z.string(), z.string()).optional(),
  /** Who may reach tcp/22 of the job's instances. */
  ingressCidr: z.string(),
  security: JobSecuritySchema.optional(),
  /** Key pairs made so far while securing (each saved as soon as it exists). */
  keyPairs: z.record(z.string(), CreatedKeyPairSchema).optional(),
  /** AMI per region and instance type, resolved the first time a task is placed in the region. */
  images: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  /** The regions the job may use, resolved once at security time (services/security/regions.ts): "auto" or the list, less those offering none of the types. */
  regions: z.array(z.string()).optional(),
  /** The custom image's copies this job made (CopyImage), by region: deregistered at teardown. */
  imageCopies: z.record(z.string(), z.object({ imageId: z.string(), sourceImageId: z.string(), sourceRegion: z.string(), startedAt: z.number().optional() })).optional(),
  /** Regions taken out of `regions` while the job ran (its image copy there failed or timed out), with the reason. */
  excludedRegions: z.record(z.string(), z.string()).optional(),
  /** Fast-path counters, bumped when a task ends; job.check recounts from the tasks. */
  succeededCount: z.number().optional(),
  failedCount: z.number().optional(),
  cancelledCount: z.number().optional(),
  outcome: z.enum(OUTCOMES).optional(),
  /** Pools that interrupted one of the job's tasks, avoided until the time given (epoch ms). */
  cooldowns: z.record(z.string(), z.number()).optional(),
  error: z.string().optional(),
  endedAt: z.number().optional(),
  /** The cost ledger's summary, stored when the job completes. */
  ledger: LedgerSummarySchema.optional(),
};
export type JobAttrs = z.infer<z.ZodObject<typeof JobAttrsShape>>;

export const ATTEMPT_OUTCOMES = ['succeeded', 'failed', 'retry', 'replaced', 'interrupted', 'migrated', 'lost', 'cancelled'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** A pool as placement scored it (services/spot/placement.ts). */
export const ScoredPoolRecordSchema = z.object({
  region: z.string(),
  zone: z.string(),
  type: z.string(),
  /** Live spot price, USD/h. */
  price: z.number(),
  /** Spot placement score 1..10, when collected (and not older than 3 days), and the target capacity it was asked with. */
  score: z.number().optional(),
  scoreTarget: z.number().optional(),
  /** Spot Instance Advisor interruption bucket 0..4, when known. */
  bucket: z.number().optional(),
  launchP50Seconds: z.number().optional(),
  /** Interruptions per instance-hour: the advisor's rate blended with this fleet's own record. */
  hazardPerHour: z.number(),
  /** Expected USD to finish one task in the pool. */
  expectedCost: z.number(),
});
export type ScoredPoolRecord = z.infer<typeof ScoredPoolRecordSchema>;

/** Why an attempt went where it did: the chosen pool and its scores, the runner-up, what was excluded and why, the signals used. */
export const PlacementRecordSchema = z.object({
  chosen: ScoredPoolRecordSchema,
  runnerUp: ScoredPoolRecordSchema.optional(),
  /** The chosen pool's rank among the usable ones (1 = lowest expected cost; higher when the spread sent the task further down). */
  rank: z.number(),
  /** Pools considered (usable and excluded). */
  candidates: z.number(),
  /** The job's spread: how many of the best pools share its tasks, the most any one may hold, and why so many (maxPoolShare, or the risk-based rule's figures). */
  spread: z.object({ pools: z.number(), maxShare: z.number(), reason: z.string().optional() }),
  /** Pools left out and why (the first 5; excludedCount has them all). */
  excluded: z.array(z.object({ region: z.string(), zone: z.string(), type: z.string(), reason: z.string() })),
  excludedCount: z.number(),
  /** The market signals the scores used (price, placement score, interruption bucket, own interruptions, the type's interruptions elsewhere, launch time). */
  signals: z.array(z.string()),
  /** Set when nothing else was left and soft exclusions (cooled, failed this task, low score) were lifted. */
  relaxed: z.string().optional(),
  /** What was not taken at face value: placement scores too old, scores under the floor asked at a larger target capacity than the job needs. */
  notes: z.array(z.string()).optional(),
});
export type PlacementRecord = z.infer<typeof PlacementRecordSchema>;

/** One spot request and what ran on its instance. */
export const AttemptSchema = z.object({
  n: z.number(),
  pool: PoolSchema,
  /** USD per hour when requested. */
  price: z.number().optional(),
  /** How the instance was bought: spot (the default, when absent) or on demand (a deadline's fallback: RunInstances, no spot request). */
  market: z.enum(['spot', 'on-demand']).optional(),
  /** An on-demand attempt in a region without a known list price: `price` is a stand-in (the spec's maxPrice, or the highest live spot price); the ledger says so. */
  priceAssumed: z.boolean().optional(),
  spotRequestId: z.string().optional(),
  instanceId: z.string().optional(),
  ip: z.string().optional(),
  /**
   * The instance's SSH host public key (OpenSSH line, `ssh-ed25519 AAAA...`):
   * given to the instance in its user data (cloud-init ssh_keys) at the
   * request, checked on every SSH connection. Public: safe to show.
   */
  hostKey: z.string().optional(),
  requestedAt: z.number(),
  fulfilledAt: z.number().optional(),
  runningAt: z.number().optional(),
  sshReadyAt: z.number().optional(),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  exitCode: z.number().optional(),
  outcome: z.enum(ATTEMPT_OUTCOMES).optional(),
  reason: z.string().optional(),
  /** Why this pool: the placement function's words. */
  placement: z.string().optional(),
  /** The same, structured (absent on attempts placed before it existed and on standbys requested without scoring). */
  placementRecord: PlacementRecordSchema.optional(),
  /** Which detection path saw the interruption first: the agent, EventBridge, or reconciliation. */
  interruptedBy: z.enum(['agent', 'events', 'reconcile']).optional(),
  /** The notice's time of action, when known. */
  noticeTime: z.string().optional(),
  /**
   * Who ended an interrupted attempt's instance: `ec2` (DescribeInstances showed it ended with the state reason
   * `Server.SpotInstanceTermination`: reclaimed) or `fleet` (the fleet terminated it). Only an EC2 reclaim is free
   * in the instance's first hour (docs/ledger.md); absent: not known (yet).
   */
  endedBy: z.enum(['ec2', 'fleet']).optional(),
});
export type Attempt = z.infer<typeof AttemptSchema>;

/** What the lifecycle keeps in the task row. */
export const TaskAttrsShape = {
  index: z.number(),
  args: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  /** Attempts so far, newest last. */
  attempts: z.array(AttemptSchema),
  /** Attempts ended by a retryable exit code. */
  failures: z.number().default(0),
  interruptions: z.number().default(0),
  /** Moves to a standby instance after a rebalance recommendation (onRebalance "migrate"). */
  migrations: z.number().optional(),
  /**
   * The next attempt, requested ahead after a rebalance recommendation while
   * the current one still runs: the task moves to it once it is running, or
   * spot.request adopts it if the notice comes first.
   */
  standby: AttemptSchema.optional(),
  /** Pools that failed this task (capacity, price), not to be tried again soon. */
  avoid: z.array(z.string()).default([]),
  /**
   * When the task began waiting for a pool (no pool could take it: out of capacity or spot quota
   * everywhere); cleared when an attempt is placed. spot.request fails the task past lifecycle.noPoolWaitSeconds.
   */
  waitingSince: z.number().optional(),
  /**
   * A job with a deadline: why the task runs on demand from now on, whatever the policy would choose (its
   * spot budget ran out: retry.maxInterruptions interruptions, or MAX_REPLACEMENTS spot re-placements before
   * launch). Such a task is not failed by those budgets; the deadline policy keeps it on demand.
   */
  onDemandOnly: z.string().optional(),
  /** When each attempt's last checkpoint was saved (epoch ms), by attempt number: the deadline's work done reads it (checkpoint/lifecycle.ts writes it with the event checkpoint.saved). */
  checkpointSaves: z.record(z.string(), z.number()).optional(),
  exitCode: z.number().optional(),
  reason: z.string().optional(),
  stdoutTail: z.string().optional(),
  stderrTail: z.string().optional(),
  costUsd: z.number().optional(),
  endedAt: z.number().optional(),
};
export type TaskAttrs = z.infer<z.ZodObject<typeof TaskAttrsShape>>;

/** Attempts, newest last, that keep their whole placement record; older ones keep the pool and a short why. */
export const FULL_PLACEMENT_KEPT = 3;
/** Characters of the why an older attempt keeps (its first clause: the chosen pool). */
export const SHORT_WHY_CHARS = 200;

/**
 * The attempts with `next` appended, bounded for the task row (a DynamoDB item holds at most 400 KB, and a
 * task can have 130 attempts and more: retries, interruptions, re-placements, migrations): the newest
 * FULL_PLACEMENT_KEPT keep their placement record, the older ones drop it (their `pool` stays) and keep the
 * why's first clause, at most SHORT_WHY_CHARS.
 */
export function appendAttempts(attempts: readonly Attempt[], ...next: Attempt[]): Attempt[] {
  const all = [...attempts, ...next];
  const cut = all.length - FULL_PLACEMENT_KEPT;
  return all.map((a, i) => (i < cut ? shortened(a) : a));
}

function shortened(a: Attempt): Attempt {
  if (a.placementRecord === undefined && (a.placement === undefined || a.placement.length <= SHORT_WHY_CHARS)) return a;
  const { placementRecord: _dropped, ...rest } = a;
  void _dropped;
  if (rest.placement === undefined) return rest;
  const first = rest.placement.split('; ')[0]!;
  return { ...rest, placement: first.length > SHORT_WHY_CHARS ? `${first.slice(0, SHORT_WHY_CHARS - 3)}...` : first };
}

export function currentAttempt(task: TaskAttrs): Attempt | undefined {
  return task.attempts[task.attempts.length - 1];
}

/** The tags of everything the fleet makes for a job: the user's, then the fleet's (config.prefix) and the job's, which win. */
export function resourceTags(fleet: string, jobId: string, spec: JobSpec): Record<string, string> {
  return { ...spec.tags, 'spotbatch:fleet': fleet, 'spotbatch:job': jobId };
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
