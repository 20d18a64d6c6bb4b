/**
 * Current spot prices per pool, from DescribeSpotPriceHistory (the newest
 * entry per zone and type). Cached by the fleet for a short while, by region
 * and instance types: a price is a hint for placement, and one lookup serves
 * every task of a burst. The cache is one of the fleet's resources, so two
 * fleets in one process (two simulators in a test) never see each other's prices.
 */
import { paginateDescribeSpotPriceHistory } from '@aws-sdk/client-ec2';
import { LRUCache } from 'lru-cache';
import type { CloudClients } from '../../shared/aws.js';
import { resource, type FleetResources } from '../../shared/resources.js';
import type { Pool } from '../model/model.js';

export interface PoolPrice extends Pool {
  price: number;
  at: number;
}

const TTL_MS = 60_000;
/** Region and type lists a fleet keeps prices for at once; the least recently used go first. */
const MAX_ENTRIES = 500;

interface Cached {
  /** The fleet clock's time of the lookup. */
  at: number;
  prices: Promise<PoolPrice[]>;
}

/** The fleet's price cache: bounded in size, and in age twice (lru-cache's own TTL in real time, and `at` on the fleet's clock). */
export const PRICE_CACHE = resource('spot price cache', () => new LRUCache<string, Cached>({ max: MAX_ENTRIES, ttl: TTL_MS }), (cache) => cache.clear());

async function fetchPrices(cloud: CloudClients, region: string, types: string[], now: number): Promise<PoolPrice[]> {
  const newest = new Map<string, PoolPrice>();
  let pages = 0;
  const history = paginateDescribeSpotPriceHistory(
    { client: cloud.ec2(region), pageSize: 1000 },
    { InstanceTypes: types as never, ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(now) },
  );
  for await (const out of history) {
    for (const p of out.SpotPriceHistory ?? []) {
      if (!p.AvailabilityZone || !p.InstanceType || !p.SpotPrice) continue;
      const key = `${p.AvailabilityZone}/${p.InstanceType}`;
      const at = p.Timestamp?.getTime() ?? 0;
      const prev = newest.get(key);
      if (!prev || prev.at < at) newest.set(key, { region, zone: p.AvailabilityZone, type: p.InstanceType, price: Number(p.SpotPrice), at });
    }
    if (++pages >= 20) break;
  }
  return [...newest.values()];
}

/** Newest price of every (zone, type) of `types` in `region`, cached in the fleet's `resources`. */
export function currentPrices(deps: { cloud: CloudClients; resources: FleetResources }, region: string, types: string[], now: number): Promise<PoolPrice[]> {
  const cache = deps.resources.get(PRICE_CACHE);
  const key = `${region}|${[...new Set(types)].sort().join(',')}`;
  const hit = cache.get(key);
  if (hit && now - hit.at < TTL_MS && hit.at <= now) return hit.prices;
  const entry: Cached = { at: now, prices: fetchPrices(deps.cloud, region, types, now) };
  cache.set(key, entry);
  entry.prices.catch(() => {
    if (cache.get(key) === entry) cache.delete(key);
  });
  return entry.prices;
}
