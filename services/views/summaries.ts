/**
 * A job's counts and spend: they need every task row, and for a job of
 * 10,000 tasks that is a second of reads, so they are kept in a bounded cache
 * (lru-cache, `entries` jobs, least recently used dropped), one entry per job,
 * remembering the job's state and version when it was read:
 *
 * - a finished job's entry is reused for as long as its state and version stay
 *   the same (a later write to the row, or another state, reads again);
 * - an open job's entry is reused while the state is the same and the entry is
 *   younger than `ttlMs`, or ten times as long as reading it took, whichever is
 *   longer (so summaries of big jobs cost at most a tenth of the server's
 *   time), and served a while longer, up to `staleMs`, while a fresh one is
 *   read in the background;
 * - a job whose state changed is read again at once.
 *
 * Readers that ask at the same moment share one read.
 */
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { TASK_STATES, type TaskState } from '../../shared/states.js';
import type { Store } from '../../shared/store/index.js';
import type { Attempt } from '../model/model.js';
import type { PriceSource } from '../ledger/history.js';
import { billTasks } from '../ledger/ledger.js';
import { JobRowSchema, tasks, TaskRowSchema } from '../model/repo.js';
import type { OnDemandPrices } from '../../shared/ondemand-prices.js';
import { TERMINAL_JOB, round6 } from './shape.js';
import type { SpendView } from './types.js';

/** What a job's summary needs of its row (what the jobs list reads). */
export const ListedJobSchema = JobRowSchema.pick({ jobId: true, name: true, state: true, taskCount: true, submittedAt: true, updatedAt: true })
  .extend(JobRowSchema.pick({ endedAt: true, outcome: true, error: true, version: true, tags: true }).partial().shape)
  // A whole job row (the detail view) has its spec; a row of the list has only what the index projects.
  .extend({ spec: z.object({ tags: z.record(z.string(), z.string()).optional() }).optional() });
export type ListedJob = z.infer<typeof ListedJobSchema>;

/** What a job's summary needs of all its tasks. */
export interface Aggregate {
  byState: Partial<Record<TaskState, number>>;
  attempts: number;
  interruptions: number;
  spend: SpendView;
  /** When it was read (epoch ms). */
  at: number;
}

/** What the aggregate reads of each task (a projection: DynamoDB sends only these). */
const TaskAggregateSchema = TaskRowSchema.pick({ jobId: true, taskId: true, state: true, attempts: true, interruptions: true, costUsd: true });

interface Entry {
  value: Aggregate;
  /** The job's state and version when the read started. */
  state: string;
  version: number | undefined;
  /** How long the read took (ms): an open job's summary is reused for at least ten times that. */
  costMs: number;
}

interface SummaryCacheOptions {
  store: Store;
  prices: OnDemandPrices;
  /** Spot price history for the ledger; without one, attempts are billed at their request price (and the notes say so). */
  priceSource?: PriceSource | undefined;
  clock: Clock;
  ttlMs: number;
  staleMs: number;
  entries: number;
}

export class SummaryCache {
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Aggregate>>();

  constructor(private readonly o: SummaryCacheOptions) {
    this.cache = new LRUCache<string, Entry>({ max: o.entries });
  }

  /** Jobs whose aggregates are held now (at most `entries`). */
  get size(): number {
    return this.cache.size;
  }

  clear(): void {
    this.cache.clear();
  }

  async get(row: Pick<ListedJob, 'jobId' | 'state' | 'version'>): Promise<Aggregate> {
    const entry = this.cache.get(row.jobId);
    if (entry && entry.state === row.state) {
      const age = this.o.clock.now() - entry.value.at;
      if (TERMINAL_JOB.has(row.state)) {
        if (entry.version === row.version) return entry.value;
      } else {
        if (age < Math.max(this.o.ttlMs, entry.costMs * 10)) return entry.value;
        if (age < this.o.staleMs) {
          this.refresh(row).catch(() => undefined);
          return entry.value;
        }
      }
    }
    return this.refresh(row);
  }

  /** Read the job's tasks once, however many callers ask meanwhile. */
  private refresh(row: Pick<ListedJob, 'jobId' | 'state' | 'version'>): Promise<Aggregate> {
    const key = `${row.jobId}\n${row.state}\n${row.version ?? ''}`;
    const running = this.inflight.get(key);
    if (running) return running;
    const started = Date.now();
    const work = readAggregate(this.o.store, this.o.prices, this.o.priceSource, this.o.clock, row.jobId)
      .then((value) => {
        this.cache.set(row.jobId, { value, state: row.state, version: row.version, costMs: Date.now() - started });
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, work);
    return work;
  }
}

/** Counts over all of a job's tasks, a page of 1000 projected rows at a time, and the spend from the cost ledger. */
async function readAggregate(store: Store, prices: OnDemandPrices, priceSource: PriceSource | undefined, clock: Clock, jobId: string): Promise<Aggregate> {
  const now = clock.now();
  const byState: Partial<Record<TaskState, number>> = {};
  let attempts = 0;
  let interruptions = 0;
  const billed: { taskId: string; state: string; attempts: Attempt[] }[] = [];
  let after: { jobId: string; taskId: string } | undefined;
  for (;;) {
    const page = await tasks({ store }).pageProjected({ jobId }, TaskAggregateSchema, { limit: 1000, ...(after ? { after } : {}) });
    for (const t of page.rows) {
      byState[t.state] = (byState[t.state] ?? 0) + 1;
      const list = t.attempts ?? [];
      attempts += list.length;
      interruptions += t.interruptions ?? 0;
      if (list.length) billed.push({ taskId: t.taskId, state: t.state, attempts: list });
    }
    const last = page.rows[page.rows.length - 1];
    if (!page.more || !last) break;
    after = { jobId, taskId: last.taskId };
  }
  const { bills, notes } = await billTasks({ job: { jobId, state: '', submittedAt: 0 }, tasks: billed, ...(priceSource ? { prices: priceSource } : {}), onDemand: prices, computedAt: now });
  let spot = 0;
  let spotPriced = 0;
  let onDemand = 0;
  let run = 0;
  let priced = 0;
  const unpriced = new Set<string>();
  for (const list of bills.values()) {
    for (const b of list) {
      spot += b.usd;
      if (b.runningAt === undefined) continue;
      run++;
      if (b.onDemandUsd === undefined) {
        unpriced.add(`${b.region}/${b.type}`);
        continue;
      }
      priced++;
      spotPriced += b.usd;
      onDemand += b.onDemandUsd;
    }
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
      ...(notes.length ? { notes: notes.slice(0, 20) } : {}),
    },
    at: now,
  };
}
