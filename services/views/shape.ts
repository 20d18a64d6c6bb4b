/**
 * Rows to views: each view is built field by field from the rows (never a row
 * spread), so nothing the lifecycle keeps for itself (the job's encrypted
 * private keys under `security` and `keyPairs`, environment values) can leak.
 */
import { JOB_STATES, isTerminal, jobMachine, type TaskState } from '../../shared/states.js';
import type { JobEvent } from '../../shared/store/index.js';
import { poolKey, type Attempt } from '../model/model.js';
import type { AttemptBill } from '../ledger/types.js';
import type { TaskRow } from '../model/repo.js';
import type { JobSpec } from '../model/spec.js';
import type { OnDemandPrices } from '../../shared/ondemand-prices.js';
import type { Aggregate, ListedJob } from './summaries.js';
import type { AttemptView, EventView, JobSummaryView, SpecView, TaskView } from './types.js';

export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOpt = (ms: number | undefined) => (ms === undefined || ms === null ? undefined : iso(ms));
export const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
/** Copy only the fields that are set, so JSON has no `"x": undefined` noise. */
export function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const TERMINAL_JOB = new Set<string>(JOB_STATES.filter((s) => isTerminal(jobMachine, s)));
export const isJobOpen = (state: string): boolean => !TERMINAL_JOB.has(state);

/** Keys of event data that could carry something secret are dropped, at any depth. */
const SECRET_KEY = /private|secret|password|passphrase|credential|token|sealed/i;
function scrub(value: unknown, depth = 0): unknown {
  if (depth > 6) return undefined;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => scrub(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !SECRET_KEY.test(k))
        .map(([k, v]) => [k, scrub(v, depth + 1)]),
    );
  }
  return typeof value === 'string' ? value.slice(0, 2000) : value;
}

function attemptView(a: Attempt, prices: OnDemandPrices, bill: AttemptBill | undefined): AttemptView {
  const od = prices(a.pool.region, a.pool.type);
  return defined({
    n: a.n,
    region: a.pool.region,
    zone: a.pool.zone,
    type: a.pool.type,
    pool: poolKey(a.pool),
    placement: a.placement,
    placementDetail: a.placementRecord,
    market: a.market ?? 'spot',
    spotRequestId: a.spotRequestId,
    instanceId: a.instanceId,
    spotPriceUsdPerHour: a.price,
    onDemandPriceUsdPerHour: od ?? null,
    requestedAt: iso(a.requestedAt),
    fulfilledAt: isoOpt(a.fulfilledAt),
    runningAt: isoOpt(a.runningAt),
    sshReadyAt: isoOpt(a.sshReadyAt),
    startedAt: isoOpt(a.startedAt),
    endedAt: isoOpt(a.endedAt),
    exitCode: a.exitCode,
    outcome: a.outcome ?? 'open',
    reason: a.reason,
    interruptedBy: a.interruptedBy,
    noticeTime: a.noticeTime,
    spotUsd: round6(bill?.usd ?? 0),
    onDemandUsd: od === undefined ? null : round6(bill?.onDemandUsd ?? 0),
  });
}

/** A task's view; its attempts' spend from the ledger's bills (services/ledger), in attempt order. */
export function taskView(t: TaskRow, prices: OnDemandPrices, bills: readonly AttemptBill[] = []): TaskView {
  const attempts = (t.attempts ?? []).map((a, i) => attemptView(a, prices, bills[i]));
  const last = attempts[attempts.length - 1];
  const run = attempts.filter((a) => a.runningAt);
  const unpriced = run.some((a) => a.onDemandUsd === null);
  return defined({
    taskId: t.taskId,
    index: t.index,
    state: t.state,
    attempt: last?.n ?? 0,
    args: [...(t.args ?? [])],
    pool: last?.pool,
    region: last?.region,
    instanceId: last?.instanceId,
    exitCode: t.exitCode,
    reason: t.reason,
    interruptions: t.interruptions ?? 0,
    failures: t.failures ?? 0,
    spotUsd: round6(t.costUsd ?? attempts.reduce((s, a) => s + a.spotUsd, 0)),
    onDemandUsd: unpriced ? null : round6(run.reduce((s, a) => s + (a.onDemandUsd ?? 0), 0)),
    stdoutTail: t.stdoutTail ?? '',
    stderrTail: t.stderrTail ?? '',
    updatedAt: iso(t.updatedAt),
    attempts,
  });
}

export function specView(spec: JobSpec): SpecView {
  return defined({
    command: spec.command ? [...spec.command] : undefined,
    steps: spec.steps?.map((s) => defined({ name: s.name, run: s.run, timeoutSeconds: s.timeout })),
    envNames: Object.keys(spec.env ?? {}),
    // What each upload is, never its digest: a digest is all it takes to have the file copied into another job.
    uploads: (spec.uploads ?? []).map((u) => ({ from: u.artifact ? 'stored file' : u.tree ? 'stored folder' : 'inline content', to: u.to })),
    instances: defined({
      types: [...spec.instances.types],
      regions: spec.instances.regions,
      zones: spec.instances.zones,
      image: typeof spec.instances.image === 'string' ? spec.instances.image : { ...spec.instances.image },
      user: spec.instances.user,
      maxPrice: spec.instances.maxPrice,
    }),
    retry: {
      maxAttempts: spec.retry.maxAttempts,
      retryExitCodes: [...spec.retry.retryExitCodes],
      failExitCodes: [...spec.retry.failExitCodes],
      maxInterruptions: spec.retry.maxInterruptions,
    },
    timeouts: { stepSeconds: spec.timeouts.step, heartbeatSeconds: spec.timeouts.heartbeat },
    budgetUsd: spec.budgetUsd,
    deadline: spec.deadline,
  });
}

export function eventView(e: JobEvent): EventView {
  const data = e.data ? (scrub(e.data) as Record<string, unknown>) : undefined;
  return defined({ at: iso(e.at), type: e.type, taskId: e.taskId, data });
}

/** A job's summary: the fields of its row, the counts and spend of its tasks. */
export function summaryView(row: ListedJob, agg: Aggregate, now: number): JobSummaryView {
  const byState = agg.byState;
  const n = (s: TaskState) => byState[s] ?? 0;
  return defined({
    id: row.jobId,
    name: row.name,
    state: row.state,
    outcome: row.outcome,
    error: row.error,
    tags: { ...(row.tags ?? row.spec?.tags ?? {}) },
    submittedAt: iso(row.submittedAt),
    endedAt: isoOpt(row.endedAt),
    updatedAt: iso(row.updatedAt),
    ageSeconds: Math.max(0, Math.round((now - row.submittedAt) / 1000)),
    tasks: {
      total: row.taskCount,
      succeeded: n('succeeded'),
      running: n('starting') + n('running'),
      failed: n('failed'),
      cancelled: n('cancelled'),
      waiting: n('pending') + n('waiting') + n('interrupted'),
      byState: { ...byState },
    },
    attempts: agg.attempts,
    interruptions: agg.interruptions,
    spend: agg.spend,
    summaryAt: iso(agg.at),
  });
}
