/**
 * The lifecycle's link to the market (services/market/signals.ts): what
 * placement reads, and the hooks that record launches, runs, capacity and
 * quota back. A failure to read means placing on the live price alone; a
 * failure to record is logged and never fails the task.
 */
import type { Logger } from '../../shared/logger.js';
import { resource, type FleetResources } from '../../shared/resources.js';
import { poolKey, type Attempt, type Pool } from '../model/model.js';
import type { LaunchTimeline, MarketSignals, PoolSignals, RegionBlock } from '../market/signals.js';

/** How long a pool that answered InsufficientInstanceCapacity is left alone (Karpenter's ICE cache keeps 3 minutes). */
export const NO_CAPACITY_MS = 3 * 60_000;
/** How long a region whose spot quota is exhausted is left alone (a quota frees as the fleet's own instances end). */
export const REGION_BLOCK_MS = 10 * 60_000;

/** AWS error codes that say a pool has no spot capacity now. */
export const NO_CAPACITY_CODES = new Set(['InsufficientInstanceCapacity', 'InsufficientCapacity', 'capacity-not-available', 'capacity-oversubscribed']);

/** MaxSpotInstanceCountExceeded, or a vCPU-based limit (VcpuLimitExceeded; "... vCPU limit ..." in the message). */
export function isQuotaError(code: string | undefined, message = ''): boolean {
  return code === 'MaxSpotInstanceCountExceeded' || code === 'VcpuLimitExceeded' || (code === 'MaxSpotFleetRequestCountExceeded') || /vcpu limit/i.test(message);
}

const MAX_LAUNCHES_KEPT = 50;
const OBSERVED_WINDOW_MS = 30 * 24 * 3_600_000;

/**
 * The fleet's own signals held in memory: the capacity and quota blocks, launch
 * timelines and runs this fleet saw. Used when no market store is configured;
 * prices, scores and advisor buckets then come from nowhere but the live price.
 */
export class MemorySignals implements MarketSignals {
  readonly #launches = new Map<string, number[]>();
  readonly #runs = new Map<string, Array<{ hours: number; interrupted: boolean; at: number }>>();
  readonly #noCapacity = new Map<string, number>();
  readonly #blocked = new Map<string, RegionBlock>();

  pools(regions: readonly string[], types: readonly string[], now: number): Promise<PoolSignals[]> {
    const keys = new Set([...this.#launches.keys(), ...this.#runs.keys(), ...this.#noCapacity.keys()]);
    const out: PoolSignals[] = [];
    for (const key of keys) {
      const [region, zone, type] = key.split('|') as [string, string, string];
      if (!regions.includes(region) || !types.includes(type)) continue;
      const s: PoolSignals = { region, zone, type };
      const launches = this.#launches.get(key);
      if (launches?.length) {
        const sorted = [...launches].sort((a, b) => a - b);
        s.launchP50Seconds = sorted[Math.floor((sorted.length - 1) / 2)]!;
        s.launchSamples = sorted.length;
      }
      const runs = (this.#runs.get(key) ?? []).filter((r) => r.at > now - OBSERVED_WINDOW_MS);
      if (runs.length) s.observed = { runs: runs.length, interruptions: runs.filter((r) => r.interrupted).length, hours: runs.reduce((h, r) => h + r.hours, 0) };
      const until = this.#noCapacity.get(key);
      if (until !== undefined && until > now) s.noCapacityUntil = until;
      out.push(s);
    }
    return Promise.resolve(out);
  }

  blockedRegions(now: number): Promise<Map<string, RegionBlock>> {
    return Promise.resolve(new Map([...this.#blocked].filter(([, b]) => b.until > now)));
  }

  recordLaunch(pool: Pool, timeline: LaunchTimeline): Promise<void> {
    if (timeline.readyAt === undefined) return Promise.resolve();
    const list = this.#launches.get(keyOf(pool)) ?? [];
    list.push((timeline.readyAt - timeline.requestedAt) / 1000);
    this.#launches.set(keyOf(pool), list.slice(-MAX_LAUNCHES_KEPT));
    return Promise.resolve();
  }

  recordRun(pool: Pool, run: { hours: number; interrupted: boolean; at: number }): Promise<void> {
    const list = this.#runs.get(keyOf(pool)) ?? [];
    list.push(run);
    this.#runs.set(keyOf(pool), list.filter((r) => r.at > run.at - OBSERVED_WINDOW_MS).slice(-1000));
    return Promise.resolve();
  }

  markNoCapacity(pool: Pool, until: number): Promise<void> {
    this.#noCapacity.set(keyOf(pool), Math.max(until, this.#noCapacity.get(keyOf(pool)) ?? 0));
    return Promise.resolve();
  }

  markRegionBlocked(region: string, block: RegionBlock): Promise<void> {
    this.#blocked.set(region, block);
    return Promise.resolve();
  }
}

const keyOf = (p: Pool): string => `${p.region}|${p.zone}|${p.type}`;

/** The fleet's market signals. */
export const MARKET_SIGNALS = resource<MarketSignals>('market signals', () => new MemorySignals());

/** The market signals of the fleet whose resources these are. */
export function marketOf(deps: { resources: FleetResources }): MarketSignals {
  return deps.resources.get(MARKET_SIGNALS);
}

/** Record something with the market; a failure is logged, never thrown (a record must not fail the task). */
export async function record(log: Logger, what: string, pool: Pool | string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.warn({ pool: typeof pool === 'string' ? pool : poolKey(pool), err: (err as Error).message }, `could not record ${what} with the market store`);
  }
}

/** An attempt that had an instance ended (after the write that ended it, so once): its hours and whether EC2 interrupted it. */
export async function recordRunEnd(deps: { resources: FleetResources; log: Logger }, attempt: Attempt, interrupted: boolean, now: number): Promise<void> {
  if (attempt.runningAt === undefined && !interrupted) return;
  const hours = attempt.runningAt === undefined ? 0 : Math.max(0, now - attempt.runningAt) / 3_600_000;
  await record(deps.log, 'run', attempt.pool, () => marketOf(deps).recordRun(attempt.pool, { hours, interrupted, at: now }));
}

/** The attempt's launch, request to SSH-ready (after the write that recorded it ready, so once). */
export async function recordLaunchReady(deps: { resources: FleetResources; log: Logger }, attempt: Attempt, readyAt: number): Promise<void> {
  const timeline = {
    requestedAt: attempt.requestedAt,
    ...(attempt.fulfilledAt !== undefined ? { fulfilledAt: attempt.fulfilledAt } : {}),
    ...(attempt.runningAt !== undefined ? { runningAt: attempt.runningAt } : {}),
    readyAt,
  };
  await record(deps.log, 'launch', attempt.pool, () => marketOf(deps).recordLaunch(attempt.pool, timeline));
}
