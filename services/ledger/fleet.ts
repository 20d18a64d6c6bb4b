/**
 * The ledger inside the fleet: a task's cost when it ends, a job's ledger and
 * its summary when it completes, over the fleet's EC2 clients (one price
 * source per fleet, its answers cached).
 */
import type { CloudClients } from '../../shared/aws.js';
import type { Clock } from '../../shared/clock.js';
import { resource, type FleetResources } from '../../shared/resources.js';
import type { JobEvent, Store } from '../../shared/store/index.js';
import type { Attempt } from '../model/model.js';
import { allTasks, type JobRow } from '../model/repo.js';
import { ec2PriceSource, type PriceSource } from './history.js';
import { billTasks, computeJobLedger } from './ledger.js';
import { loadOnDemandPrices, type OnDemandPrices } from '../../shared/ondemand-prices.js';
import type { JobLedger } from './types.js';

interface FleetSide {
  cloud?: CloudClients | undefined;
  clock: Clock;
  resources: FleetResources;
  store: Store;
}

const SOURCES = resource('ledger price sources', () => new WeakMap<CloudClients, PriceSource>());
let listPrices: OnDemandPrices | undefined;

/** The shipped on-demand list prices, read once per process. */
export function onDemandPrices(): OnDemandPrices {
  return (listPrices ??= loadOnDemandPrices());
}

/** The fleet's price source over its EC2 clients (undefined without them: request prices, with a note). */
export function fleetPriceSource(ctx: Pick<FleetSide, 'cloud' | 'clock' | 'resources'>): PriceSource | undefined {
  if (!ctx.cloud) return undefined;
  const sources = ctx.resources.get(SOURCES);
  let source = sources.get(ctx.cloud);
  if (!source) sources.set(ctx.cloud, (source = ec2PriceSource(ctx.cloud, { now: () => ctx.clock.now() })));
  return source;
}

/**
 * What a task's attempts cost, for its row when it ends: the ledger's bills. A price history that cannot be
 * read does not hold the task's end up: those attempts are billed at their request price.
 */
export async function taskCostUsd(ctx: Pick<FleetSide, 'cloud' | 'clock' | 'resources'>, taskId: string, attempts: readonly Attempt[], now: number): Promise<number> {
  const prices = fleetPriceSource(ctx);
  const { bills } = await billTasks({
    job: { jobId: '', state: '', submittedAt: 0 },
    tasks: [{ taskId, state: '', attempts }],
    ...(prices ? { prices } : {}),
    onDemand: onDemandPrices(),
    computedAt: now,
  });
  return (bills.get(taskId) ?? []).reduce((s, b) => s + b.usd, 0);
}

/** Every event of the job of the given types, oldest first (bounded). */
export async function eventsOf(store: Store, jobId: string, types: ReadonlySet<string>, max = 200_000): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  let after: string | undefined;
  for (let read = 0; read < max; ) {
    const page = await store.events.page(jobId, { limit: 1000, newestFirst: false, ...(after ? { after } : {}) });
    read += page.events.length;
    for (const e of page.events) if (types.has(e.type)) out.push(e);
    const last = page.events[page.events.length - 1];
    if (!page.more || !last) break;
    after = last.sk;
  }
  return out;
}

export const LEDGER_EVENTS: ReadonlySet<string> = new Set(['checkpoint.saved', 'checkpoint.restored']);

/** A job's whole ledger from the store: its row, its tasks, its checkpoint events, the price history. */
export async function jobLedger(
  ctx: { store: Store; clock: Clock },
  job: Pick<JobRow, 'jobId' | 'name' | 'state' | 'submittedAt' | 'endedAt'>,
  o: { prices?: PriceSource | undefined; onDemand?: OnDemandPrices; onPriceError?: 'note' | 'throw'; computedAt?: number } = {},
): Promise<JobLedger> {
  const [tasks, events] = await Promise.all([allTasks(ctx, job.jobId), eventsOf(ctx.store, job.jobId, LEDGER_EVENTS)]);
  return computeJobLedger({
    job: { jobId: job.jobId, name: job.name, state: job.state, submittedAt: job.submittedAt, ...(job.endedAt !== undefined ? { endedAt: job.endedAt } : {}) },
    tasks: tasks.map((t) => ({ taskId: t.taskId, state: t.state, attempts: t.attempts })),
    events,
    ...(o.prices ? { prices: o.prices } : {}),
    onDemand: o.onDemand ?? onDemandPrices(),
    computedAt: o.computedAt ?? ctx.clock.now(),
    ...(o.onPriceError ? { onPriceError: o.onPriceError } : {}),
  });
}
