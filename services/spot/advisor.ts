/**
 * `spotbatch advisor`: the candidate pools of some types in some regions,
 * ranked by the same scoring spot.request uses (placement.ts rankPools), with
 * the signals behind each rank. A library call; the CLI prints it.
 */
import type { CloudClients } from '../../shared/aws.js';
import type { FleetResources } from '../../shared/resources.js';
import type { MarketSignals, PoolSignals, RegionBlock } from '../market/signals.js';
import { BUCKET_LABELS, describePool, rankPools, type ScoredPool, type TaskProfile } from './placement.js';
import { currentPrices } from './pricing.js';

export interface AdvisedPool {
  region: string;
  zone: string;
  type: string;
  price: number;
  score: number | null;
  /** The advisor's bucket in words (<5% ... >20% a month), or null when unknown. */
  interruption: string | null;
  launchP50Seconds: number | null;
  expectedCostPerHour: number;
  why: string;
}

export interface Advice {
  pools: AdvisedPool[];
  /** Pools left out and why. */
  excluded: Array<{ region: string; zone: string; type: string; reason: string }>;
  /** Set when the market store could not be read (the live price alone ranked the pools). */
  warning?: string;
}

function why(p: ScoredPool, i: number, ranked: readonly ScoredPool[]): string {
  if (i === 0) {
    const next = ranked[1];
    return next ? `lowest expected cost per task-hour (${p.expectedCostPerHour.toFixed(4)} vs ${next.expectedCostPerHour.toFixed(4)} for ${next.zone}/${next.type}); uses ${p.signals.join(', ')}` : `the only usable pool; uses ${p.signals.join(', ')}`;
  }
  const best = ranked[0]!;
  const d = ((p.expectedCostPerHour / best.expectedCostPerHour - 1) * 100).toFixed(1);
  return `${d}% over the best: ${describePool(p)}`;
}

/** Rank every pool of `types` in `regions` now. */
export async function advise(
  deps: { cloud: CloudClients; resources: FleetResources; market: MarketSignals },
  req: { regions: string[]; types: string[]; now: number; profile?: TaskProfile },
): Promise<Advice> {
  const candidates = (await Promise.all(req.regions.map((r) => currentPrices(deps, r, req.types, req.now)))).flat();
  let signals: PoolSignals[] = [];
  let blocked = new Map<string, RegionBlock>();
  let warning: string | undefined;
  try {
    [signals, blocked] = await Promise.all([deps.market.pools(req.regions, req.types, req.now), deps.market.blockedRegions(req.now)]);
  } catch (err) {
    warning = `market store unreadable (${(err as Error).name}): ranked on the live price alone`;
  }
  const { ranked, excluded } = rankPools({ candidates, signals, blockedRegions: blocked, zones: 'auto', avoid: [], profile: req.profile ?? { runtimeHours: 1 }, now: req.now });
  return {
    pools: ranked.map((p, i) => ({
      region: p.region,
      zone: p.zone,
      type: p.type,
      price: p.price,
      score: p.score ?? null,
      interruption: p.bucket === undefined ? null : (BUCKET_LABELS[p.bucket] ?? null),
      launchP50Seconds: p.launchP50Seconds ?? null,
      expectedCostPerHour: p.expectedCostPerHour,
      why: why(p, i, ranked),
    })),
    excluded: excluded.map((e) => ({ region: e.region, zone: e.zone, type: e.type, reason: e.reason })),
    ...(warning ? { warning } : {}),
  };
}
