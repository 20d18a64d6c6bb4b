/**
 * Current spot prices per pool, from DescribeSpotPriceHistory (the newest
 * entry per zone and type). Cached per process for a short while: a price is
 * a hint for placement, and one lookup serves every task of a burst.
 */
import { DescribeSpotPriceHistoryCommand } from '@aws-sdk/client-ec2';
import type { CloudClients } from '../../shared/aws.js';
import type { Pool } from '../model/model.js';

export interface PoolPrice extends Pool {
  price: number;
  at: number;
}

const TTL_MS = 60_000;
const cache = new Map<string, { at: number; prices: Promise<PoolPrice[]> }>();

async function fetchPrices(cloud: CloudClients, region: string, types: string[], now: number): Promise<PoolPrice[]> {
  const newest = new Map<string, PoolPrice>();
  let token: string | undefined;
  let pages = 0;
  do {
    const out = await cloud.ec2(region).send(
      new DescribeSpotPriceHistoryCommand({
        InstanceTypes: types as never,
        ProductDescriptions: ['Linux/UNIX'],
        StartTime: new Date(now),
        NextToken: token,
        MaxResults: 1000,
      }),
    );
    for (const p of out.SpotPriceHistory ?? []) {
      if (!p.AvailabilityZone || !p.InstanceType || !p.SpotPrice) continue;
      const key = `${p.AvailabilityZone}/${p.InstanceType}`;
      const at = p.Timestamp?.getTime() ?? 0;
      const prev = newest.get(key);
      if (!prev || prev.at < at) newest.set(key, { region, zone: p.AvailabilityZone, type: p.InstanceType, price: Number(p.SpotPrice), at });
    }
    token = out.NextToken || undefined;
  } while (token && ++pages < 20);
  return [...newest.values()];
}

/** Newest price of every (zone, type) of `types` in `region`. */
export function currentPrices(cloud: CloudClients, region: string, types: string[], now: number): Promise<PoolPrice[]> {
  const key = `${region}|${[...types].sort().join(',')}`;
  const hit = cache.get(key);
  if (hit && now - hit.at < TTL_MS && hit.at <= now) return hit.prices;
  const prices = fetchPrices(cloud, region, types, now);
  cache.set(key, { at: now, prices });
  prices.catch(() => cache.delete(key));
  return prices;
}

/** Forget cached prices (tests; a dispatcher never needs it). */
export function clearPriceCache(): void {
  cache.clear();
}
