/**
 * What the status page and its JSON API show, as plain JSON shapes that the
 * CLI can reuse: a job's summary, its detail, one page of its tasks, one page
 * of its events. Every shape is built field by field from the rows (never a
 * row spread), so nothing the lifecycle keeps for itself (the job's encrypted
 * private keys under `security` and `keyPairs`, environment values) can leak.
 *
 * A job's counts and spend need every task row; for a job of 10,000 tasks
 * that is a second of reads, so summaries are kept in a small cache: a
 * finished job's summary for good, a running job's for `summaryTtlMs` or ten
 * times as long as reading it took, whichever is longer (so summaries of big
 * jobs cost at most a tenth of the server's time), and served a while longer,
 * up to `summaryStaleMs`, while a fresh one is read in the background. Task and event pages are read from the store on every
 * request, one DynamoDB query page each.
 */
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { JOB_STATES, TASK_STATES, isTerminal, jobMachine, type JobState, type TaskState } from '../../shared/states.js';
import { Store, tableNames, type JobEvent } from '../../shared/store/index.js';
import { attemptCost, poolKey, type Attempt } from '../job/model.js';
import { jobs, tasks, type JobRow, type TaskRow } from '../job/repo.js';
import type { JobSpec } from '../job/spec.js';
import { BadRequest, decodeCursor, encodeCursor } from './cursor.js';
import { loadOnDemandPrices, type OnDemandPrices } from './prices.js';

// ---------------------------------------------------------------- shapes

export interface SpendView {
  /** Spot spend so far: each attempt's spot price (at request) times the hours its instance ran. An estimate. */
  spotUsd: number;
  /** Attempts whose instance ran (the ones that cost anything). */
  attemptsRun: number;
  /**
   * What the same instance-hours cost at the on-demand list price, over the
   * attempts whose pool has one (`attemptsPriced`); null when none has.
   */
  onDemandUsd: number | null;
  /** Spot spend of those same attempts, to compare like with like. */
  spotUsdPriced: number;
  attemptsPriced: number;
  /** Pools (`region/type`) with no on-demand list price in the data shipped. */
  unpricedPools: string[];
  /** 1 - spot / on-demand over the priced attempts, when there is anything to compare. */
  savedFraction: number | null;
}

export interface TaskCounts {
  total: number;
  succeeded: number;
  /** starting or running */
  running: number;
  failed: number;
  cancelled: number;
  /** pending, waiting for a spot instance, or interrupted and about to be placed again */
  waiting: number;
  byState: Partial<Record<TaskState, number>>;
}

export interface JobSummaryView {
  id: string;
  name: string;
  state: JobState;
  outcome?: string;
  error?: string;
  tags: Record<string, string>;
  submittedAt: string;
  endedAt?: string;
  updatedAt: string;
  ageSeconds: number;
  tasks: TaskCounts;
  attempts: number;
  interruptions: number;
  spend: SpendView;
  /** When the counts and spend were read from the task rows. */
  summaryAt: string;
}

export interface SpecView {
  command?: string[];
  steps?: Array<{ name?: string; run?: string; timeoutSeconds?: number }>;
  /** Names of the job-wide environment variables; their values are never shown. */
  envNames: string[];
  uploads: Array<{ from: string; to: string }>;
  instances: { types: string[]; regions: string[] | 'auto'; zones: string[] | 'auto'; image: string; user: string; maxPrice?: number };
  retry: { maxAttempts: number; retryExitCodes: number[]; failExitCodes: number[]; maxInterruptions: number };
  timeouts: { stepSeconds: number; heartbeatSeconds: number };
  budgetUsd?: number;
  deadline?: string;
}

export interface JobDetailView {
  job: JobSummaryView;
  spec: SpecView;
  /** Who may reach tcp/22 of the job's instances. */
  ingressCidr?: string;
  links: { tasks: string; events: string; page: string };
}

export interface AttemptView {
  n: number;
  region: string;
  zone: string;
  type: string;
  /** `zone/type` */
  pool: string;
  /** Why placement chose the pool, in its words. */
  placement?: string;
  spotRequestId?: string;
  instanceId?: string;
  spotPriceUsdPerHour?: number;
  onDemandPriceUsdPerHour: number | null;
  requestedAt: string;
  fulfilledAt?: string;
  runningAt?: string;
  sshReadyAt?: string;
  startedAt?: string;
  endedAt?: string;
  exitCode?: number;
  /** How it ended; `open` while it has not. */
  outcome: string;
  reason?: string;
  interruptedBy?: string;
  noticeTime?: string;
  spotUsd: number;
  onDemandUsd: number | null;
}

export interface TaskView {
  taskId: string;
  index: number;
  state: TaskState;
  /** Number of the current (last) attempt; 0 before the first. */
  attempt: number;
  args: string[];
  pool?: string;
  region?: string;
  instanceId?: string;
  exitCode?: number;
  reason?: string;
  interruptions: number;
  failures: number;
  spotUsd: number;
  onDemandUsd: number | null;
  /** The last output the step left (at most 8 KiB each, as the lifecycle keeps it). */
  stdoutTail: string;
  stderrTail: string;
  updatedAt: string;
  attempts: AttemptView[];
}

export interface TaskPageView {
  jobId: string;
  totalTasks: number;
  limit: number;
  tasks: TaskView[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface EventView {
  at: string;
  type: string;
  taskId?: string;
  data?: Record<string, unknown>;
}

export interface EventPageView {
  jobId: string;
  order: 'newest' | 'oldest';
  limit: number;
  events: EventView[];
  nextCursor: string | null;
}

export interface JobListView {
  jobs: JobSummaryView[];
  limit: number;
  nextCursor: string | null;
}

// ---------------------------------------------------------------- helpers

const iso = (ms: number) => new Date(ms).toISOString();
const isoOpt = (ms: number | undefined) => (ms === undefined || ms === null ? undefined : iso(ms));
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;
/** Copy only the fields that are set, so JSON has no `"x": undefined` noise. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const TERMINAL_JOB = new Set<string>(JOB_STATES.filter((s) => isTerminal(jobMachine, s)));
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

function attemptHours(a: Attempt, now: number): number {
  if (!a.runningAt) return 0;
  return Math.max(0, (a.endedAt ?? now) - a.runningAt) / 3_600_000;
}

function attemptView(a: Attempt, prices: OnDemandPrices, now: number): AttemptView {
  const od = prices(a.pool.region, a.pool.type);
  return defined({
    n: a.n,
    region: a.pool.region,
    zone: a.pool.zone,
    type: a.pool.type,
    pool: poolKey(a.pool),
    placement: a.placement,
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
    spotUsd: round6(attemptCost(a, now)),
    onDemandUsd: od === undefined ? null : round6(od * attemptHours(a, now)),
  });
}

export function taskView(t: TaskRow, prices: OnDemandPrices, now: number): TaskView {
  const attempts = (t.attempts ?? []).map((a) => attemptView(a, prices, now));
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

function specView(spec: JobSpec): SpecView {
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
      image: spec.instances.image,
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

function eventView(e: JobEvent): EventView {
  const data = e.data ? (scrub(e.data) as Record<string, unknown>) : undefined;
  return defined({ at: iso(e.at), type: e.type, taskId: e.taskId, data });
}

// ---------------------------------------------------------------- summaries

/** What a job's summary needs of all its tasks. */
interface Aggregate {
  byState: Partial<Record<TaskState, number>>;
  attempts: number;
  interruptions: number;
  spend: SpendView;
  at: number;
}

const AGGREGATE_ATTRIBUTES = ['state', 'attempts', 'interruptions', 'costUsd'] as const;

interface CacheEntry {
  value: Aggregate;
  /** The job's state when the read started; a terminal one never changes again. */
  jobState: string;
  /** How long the read took (ms): a summary is reused for at least ten times that. */
  costMs: number;
}

// ---------------------------------------------------------------- the views

export interface StatusViewsOptions {
  ddb: DynamoDBDocumentClient;
  prefix: string;
  clock?: Clock;
  prices?: OnDemandPrices;
  /** How long a running job's summary is reused (default 2000 ms). */
  summaryTtlMs?: number;
  /** How old a summary may be served while a fresh one is read (default 30 s). */
  summaryStaleMs?: number;
  /** Jobs whose summaries are kept (default 500, least recently used dropped). */
  summaryEntries?: number;
}

export const LIMITS = { tasks: { default: 100, max: 1000 }, events: { default: 50, max: 1000 }, jobs: { default: 50, max: 500 } } as const;

const taskCursor = z.object({ t: z.string().min(1).max(128) }).strict();
const eventCursor = z.object({ s: z.string().min(1).max(256) }).strict();
const jobCursor = z.object({ s: z.string().regex(/^\d{1,16}$/), j: z.string().min(1).max(128) }).strict();

/** What a job's summary needs of its row (what the jobs list reads). */
export type ListedJob = Pick<JobRow, 'jobId' | 'name' | 'state' | 'taskCount' | 'submittedAt' | 'updatedAt'> &
  Partial<Pick<JobRow, 'endedAt' | 'outcome' | 'error'>> & { spec?: Pick<JobSpec, 'tags'> };

export class NotFound extends Error {
  override readonly name = 'NotFound';
}

export class StatusViews {
  readonly store: Store;
  readonly prices: OnDemandPrices;
  private readonly ddb: DynamoDBDocumentClient;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly staleMs: number;
  private readonly entries: number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Aggregate>>();

  constructor(o: StatusViewsOptions) {
    this.ddb = o.ddb;
    this.prefix = o.prefix;
    this.clock = o.clock ?? { now: () => Date.now() };
    this.store = new Store(o.ddb, o.prefix, this.clock);
    this.prices = o.prices ?? loadOnDemandPrices();
    this.ttlMs = o.summaryTtlMs ?? 2000;
    this.staleMs = o.summaryStaleMs ?? 30_000;
    this.entries = o.summaryEntries ?? 500;
  }

  /** Jobs, newest first, optionally only in the given states; one page. */
  async jobs(q: { states?: JobState[]; limit?: number; cursor?: string | null } = {}): Promise<JobListView> {
    const limit = q.limit ?? LIMITS.jobs.default;
    const after = decodeCursor(jobCursor, q.cursor);
    const rows = await this.scanJobs();
    const wanted = q.states?.length ? new Set<string>(q.states) : undefined;
    const sorted = rows
      .filter((r) => !wanted || wanted.has(r.state))
      .sort((a, b) => b.submittedAt - a.submittedAt || a.jobId.localeCompare(b.jobId));
    const start = after ? sorted.findIndex((r) => r.submittedAt < Number(after.s) || (r.submittedAt === Number(after.s) && r.jobId > after.j)) : 0;
    const page = start < 0 ? [] : sorted.slice(start, start + limit);
    const more = start >= 0 && sorted.length > start + limit;
    const summaries = await mapLimit(page, 4, (r) => this.summary(r));
    const last = page[page.length - 1];
    return { jobs: summaries, limit, nextCursor: more && last ? encodeCursor({ s: String(last.submittedAt), j: last.jobId }) : null };
  }

  /** One job with its spec (no private keys, no environment values). */
  async job(jobId: string): Promise<JobDetailView> {
    const row = await this.jobRow(jobId);
    const base = `/jobs/${encodeURIComponent(jobId)}`;
    return defined({
      job: await this.summary(row),
      spec: specView(row.spec),
      ingressCidr: row.ingressCidr,
      links: { page: base, tasks: `/api${base}/tasks`, events: `/api${base}/events` },
    });
  }

  /** The job's row (as the lifecycle wrote it): for the page's own use, never sent as is. */
  async jobRow(jobId: string): Promise<JobRow> {
    if (!jobId || jobId.length > 128) throw new NotFound(`no job ${jobId}`);
    const row = await jobs({ store: this.store }).get({ jobId });
    if (!row) throw new NotFound(`no job ${jobId}`);
    return row;
  }

  /** One page of a job's tasks in task order: one DynamoDB query page, never the whole job. */
  async tasks(jobId: string, q: { limit?: number; cursor?: string | null } = {}, known?: JobRow): Promise<TaskPageView> {
    const job = known ?? (await this.jobRow(jobId));
    const limit = q.limit ?? LIMITS.tasks.default;
    const after = decodeCursor(taskCursor, q.cursor);
    const now = this.clock.now();
    const page = await tasks({ store: this.store }).page({ jobId }, { limit, ...(after ? { after: { jobId, taskId: after.t } } : {}) });
    const last = page.rows[page.rows.length - 1];
    return {
      jobId,
      totalTasks: job.taskCount,
      limit,
      tasks: page.rows.map((t) => taskView(t, this.prices, now)),
      nextCursor: page.more && last ? encodeCursor({ t: last.taskId }) : null,
    };
  }

  /** One page of a job's event log, newest first unless `order` is `oldest`. */
  async events(jobId: string, q: { limit?: number; cursor?: string | null; order?: 'newest' | 'oldest' } = {}, known?: JobRow): Promise<EventPageView> {
    if (!known) await this.jobRow(jobId);
    const order = q.order ?? 'newest';
    const limit = q.limit ?? LIMITS.events.default;
    const after = decodeCursor(eventCursor, q.cursor);
    const page = await this.store.events.page(jobId, { limit, newestFirst: order === 'newest', ...(after ? { after: after.s } : {}) });
    const last = page.events[page.events.length - 1];
    return { jobId, order, limit, events: page.events.map(eventView), nextCursor: page.more && last ? encodeCursor({ s: last.sk }) : null };
  }

  /** The summary of one job row (counts and spend from its tasks, cached as the header says). */
  async summary(row: ListedJob): Promise<JobSummaryView> {
    const agg = await this.aggregate(row.jobId, row.state);
    const now = this.clock.now();
    const byState = agg.byState;
    const n = (s: TaskState) => byState[s] ?? 0;
    return defined({
      id: row.jobId,
      name: row.name,
      state: row.state,
      outcome: row.outcome,
      error: row.error,
      tags: { ...(row.spec?.tags ?? {}) },
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

  /** Forget cached summaries (tests, benchmarks). */
  clearCache(): void {
    this.cache.clear();
  }

  private async aggregate(jobId: string, jobState: string): Promise<Aggregate> {
    const entry = this.cache.get(jobId);
    if (entry && entry.jobState === jobState) {
      // Most recently used last, so the first key is the one to drop.
      this.cache.delete(jobId);
      this.cache.set(jobId, entry);
      const age = this.clock.now() - entry.value.at;
      if (TERMINAL_JOB.has(jobState) || age < Math.max(this.ttlMs, entry.costMs * 10)) return entry.value;
      if (age < this.staleMs) {
        this.refresh(jobId, jobState).catch(() => undefined);
        return entry.value;
      }
    }
    return this.refresh(jobId, jobState);
  }

  /** Read the job's tasks once, however many callers ask meanwhile. */
  private refresh(jobId: string, jobState: string): Promise<Aggregate> {
    const key = `${jobId}\n${jobState}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const started = Date.now();
    const work = this.readAggregate(jobId)
      .then((value) => {
        this.cache.delete(jobId);
        this.cache.set(jobId, { value, jobState, costMs: Date.now() - started });
        while (this.cache.size > this.entries) this.cache.delete(this.cache.keys().next().value!);
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }

  private async readAggregate(jobId: string): Promise<Aggregate> {
    const now = this.clock.now();
    const byState: Partial<Record<TaskState, number>> = {};
    let attempts = 0;
    let interruptions = 0;
    let spot = 0;
    let spotPriced = 0;
    let onDemand = 0;
    let run = 0;
    let priced = 0;
    const unpriced = new Set<string>();
    let after: { jobId: string; taskId: string } | undefined;
    for (;;) {
      const page = await tasks({ store: this.store }).page({ jobId }, { limit: 1000, attributes: AGGREGATE_ATTRIBUTES, ...(after ? { after } : {}) });
      for (const t of page.rows) {
        byState[t.state] = (byState[t.state] ?? 0) + 1;
        const list = t.attempts ?? [];
        attempts += list.length;
        interruptions += t.interruptions ?? 0;
        let taskSpot = 0;
        for (const a of list) {
          const cost = attemptCost(a, now);
          taskSpot += cost;
          if (!a.runningAt) continue;
          run++;
          const od = this.prices(a.pool.region, a.pool.type);
          if (od === undefined) {
            unpriced.add(`${a.pool.region}/${a.pool.type}`);
            continue;
          }
          priced++;
          spotPriced += cost;
          onDemand += od * attemptHours(a, now);
        }
        spot += t.costUsd ?? taskSpot;
      }
      const last = page.rows[page.rows.length - 1];
      if (!page.more || !last) break;
      after = { jobId, taskId: last.taskId };
    }
    return {
      byState: Object.fromEntries(TASK_STATES.filter((s) => byState[s]).map((s) => [s, byState[s]])),
      attempts,
      interruptions,
      spend: {
        spotUsd: round6(spot),
        attemptsRun: run,
        onDemandUsd: priced ? round6(onDemand) : null,
        spotUsdPriced: round6(spotPriced),
        attemptsPriced: priced,
        unpricedPools: [...unpriced].sort().slice(0, 20),
        savedFraction: priced && onDemand > 0 ? Math.round((1 - spotPriced / onDemand) * 1000) / 1000 : null,
      },
      at: now,
    };
  }

  /** Every job row's list fields (a Scan with a projection: the rows' specs and keys stay in the table). */
  private async scanJobs(): Promise<ListedJob[]> {
    const out: ListedJob[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new ScanCommand({
          TableName: tableNames(this.prefix).jobs,
          ProjectionExpression: 'jobId, #name, #state, taskCount, submittedAt, updatedAt, endedAt, outcome, #error, #spec.#tags',
          ExpressionAttributeNames: { '#name': 'name', '#state': 'state', '#error': 'error', '#spec': 'spec', '#tags': 'tags' },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push(item as ListedJob);
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `state=a,b` from a query string, checked against the job states. */
export function parseJobStates(text: string | null): JobState[] | undefined {
  if (!text) return undefined;
  const states = text.split(',').filter(Boolean);
  for (const s of states) {
    if (!(JOB_STATES as readonly string[]).includes(s)) throw new BadRequest(`state: must be one of ${JOB_STATES.join(', ')}; got ${JSON.stringify(s.slice(0, 40))}`);
  }
  return states as JobState[];
}
