/**
 * The lifecycle's link to the market (services/market/signals.ts): what
 * placement reads, and the hooks that record launches, runs, capacity and
 * quota back. A failure to read means placing on the live price alone; a
 * failure to record is logged and never fails the task.
 */
import type { Logger } from '../../shared/logger.js';
import { poolKey, type Attempt, type Pool } from '../model/model.js';
import type { MarketSignals } from '../market/signals.js';
import { marketSignals } from '../market/store.js';
import type { FleetResources } from '../../shared/resources.js';
import { CachedMarketSignals } from './market-cache.js';

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

type Deps = Parameters<typeof marketSignals>[0] & { resources: FleetResources };

/** The fleet's market signals: the market store (services/market/store.ts) in the fleet's table, its reads cached a few seconds by the fleet (market-cache.ts). */
export function marketOf(deps: Deps): MarketSignals {
  return new CachedMarketSignals(marketSignals(deps), deps.resources, deps.clock);
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
export async function recordRunEnd(deps: Deps & { log: Logger }, attempt: Attempt, interrupted: boolean, now: number): Promise<void> {
  // The market store records spot pools: an on-demand run says nothing of a pool's spot capacity.
  if (attempt.market === 'on-demand') return;
  if (attempt.runningAt === undefined && !interrupted) return;
  const hours = attempt.runningAt === undefined ? 0 : Math.max(0, now - attempt.runningAt) / 3_600_000;
  await record(deps.log, 'run', attempt.pool, () => marketOf(deps).recordRun(attempt.pool, { hours, interrupted, at: now }));
}

/** The attempt's launch, request to SSH-ready (after the write that recorded it ready, so once). */
export async function recordLaunchReady(deps: Deps & { log: Logger }, attempt: Attempt, readyAt: number): Promise<void> {
  if (attempt.market === 'on-demand') return;
  const timeline = {
    requestedAt: attempt.requestedAt,
    ...(attempt.fulfilledAt !== undefined ? { fulfilledAt: attempt.fulfilledAt } : {}),
    ...(attempt.runningAt !== undefined ? { runningAt: attempt.runningAt } : {}),
    readyAt,
  };
  await record(deps.log, 'launch', attempt.pool, () => marketOf(deps).recordLaunch(attempt.pool, timeline));
}
