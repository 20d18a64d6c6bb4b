/**
 * The read model: what the status page, its JSON API and the CLI show of jobs
 * and tasks, as the plain JSON shapes of types.ts: a job's summary, its
 * detail, one page of its tasks, one page of its events, one page of jobs.
 * Built from the rows field by field (shape.ts), so nothing secret leaks.
 *
 * The jobs list is one Query of the `job-list` index (job-list.ts); a job's
 * counts and spend come from a bounded cache (summaries.ts). Task and event
 * pages are read from the store on every request, one DynamoDB query page each.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pMap from 'p-map';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { JOB_STATES, type JobState } from '../../shared/states.js';
import { Store, tableNames } from '../../shared/store/index.js';
import { jobs, tasks, type JobRow } from '../model/repo.js';
import { BadRequest, decodeCursor, encodeCursor } from './cursor.js';
import { NotFound } from './errors.js';
import { listJobs } from './job-list.js';
import { loadOnDemandPrices, type OnDemandPrices } from '../../shared/ondemand-prices.js';
import type { PriceSource } from '../ledger/history.js';
import { billTasks } from '../ledger/ledger.js';
import { jobLedger } from '../ledger/fleet.js';
import type { JobLedger } from '../ledger/types.js';
import { LRUCache } from 'lru-cache';
import { TERMINAL_JOB, defined, eventView, specView, summaryView, taskView } from './shape.js';
import { SummaryCache, type ListedJob } from './summaries.js';
import type { EventPageView, JobDetailView, JobListView, JobSummaryView, TaskPageView } from './types.js';

export type * from './types.js';
export type { JobLedgerSource } from './ledger-source.js';
export { sharedLedgers } from './ledger-source.js';
export type { JobLedger } from '../ledger/types.js';
export { isJobOpen } from './shape.js';
export { MarketViews, marketNoteRedactor, type MarketViewsOptions } from './market.js';

export interface JobViewsOptions {
  ddb: DynamoDBDocumentClient;
  prefix: string;
  clock?: Clock;
  prices?: OnDemandPrices;
  /**
   * Spot price history for the cost ledger (services/ledger/history.ts ec2PriceSource over the fleet's EC2
   * clients); without one, spend is billed at each attempt's request price and the notes say so.
   */
  priceSource?: PriceSource;
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

export { NotFound };

export class JobViews {
  readonly store: Store;
  readonly prices: OnDemandPrices;
  readonly priceSource: PriceSource | undefined;
  /** The per-job counts and spend (exposed for tests: its size is bounded). */
  readonly summaries: SummaryCache;
  private readonly ddb: DynamoDBDocumentClient;
  private readonly prefix: string;
  private readonly clock: Clock;
  /** Finished jobs' ledgers, by job, state and version (the 50 most recently used). */
  private readonly ledgers = new LRUCache<string, JobLedger>({ max: 50 });

  constructor(o: JobViewsOptions) {
    this.ddb = o.ddb;
    this.prefix = o.prefix;
    this.clock = o.clock ?? { now: () => Date.now() };
    this.store = new Store(o.ddb, o.prefix, this.clock);
    this.prices = o.prices ?? loadOnDemandPrices();
    this.priceSource = o.priceSource;
    this.summaries = new SummaryCache({
      store: this.store,
      prices: this.prices,
      priceSource: this.priceSource,
      clock: this.clock,
      ttlMs: o.summaryTtlMs ?? 2000,
      staleMs: o.summaryStaleMs ?? 30_000,
      entries: o.summaryEntries ?? 500,
    });
  }

  /** Jobs, newest first, optionally only in the given states; one page. */
  async jobs(q: { states?: JobState[]; limit?: number; cursor?: string | null } = {}): Promise<JobListView> {
    const limit = q.limit ?? LIMITS.jobs.default;
    const after = decodeCursor(jobCursor, q.cursor);
    const page = await listJobs(this.ddb, tableNames(this.prefix).jobs, {
      limit,
      ...(q.states?.length ? { states: q.states } : {}),
      ...(after ? { after: { submittedAt: Number(after.s), jobId: after.j } } : {}),
    });
    const summaries = await pMap(page.rows, (r) => this.summary(r), { concurrency: 4 });
    const last = page.rows[page.rows.length - 1];
    return { jobs: summaries, limit, nextCursor: page.more && last ? encodeCursor({ s: String(last.submittedAt), j: last.jobId }) : null };
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
    const { bills } = await billTasks({
      job: { jobId, state: job.state, submittedAt: job.submittedAt },
      tasks: page.rows,
      ...(this.priceSource ? { prices: this.priceSource } : {}),
      onDemand: this.prices,
      computedAt: now,
    });
    return {
      jobId,
      totalTasks: job.taskCount,
      limit,
      tasks: page.rows.map((t) => taskView(t, this.prices, bills.get(t.taskId))),
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

  /** The summary of one job row (counts and spend from its tasks, cached as summaries.ts says). */
  async summary(row: ListedJob): Promise<JobSummaryView> {
    return summaryView(row, await this.summaries.get(row), this.clock.now());
  }

  /**
   * The job's cost ledger (services/ledger), over this view's price source (request prices and a note without
   * one). A finished job's is kept while its row stays the same version; an open job's is computed each time
   * (the status page shares one per poll interval: sharedLedgers).
   */
  async jobLedger(jobId: string): Promise<JobLedger> {
    const row = await this.jobRow(jobId);
    const key = `${jobId}\n${row.state}\n${row.version}`;
    const kept = TERMINAL_JOB.has(row.state) ? this.ledgers.get(key) : undefined;
    if (kept) return kept;
    const ledger = await jobLedger({ store: this.store, clock: this.clock }, row, { prices: this.priceSource, onDemand: this.prices });
    if (TERMINAL_JOB.has(row.state)) this.ledgers.set(key, ledger);
    return ledger;
  }

  /** Forget cached summaries (tests, benchmarks). */
  clearCache(): void {
    this.summaries.clear();
    this.ledgers.clear();
  }
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
