/**
 * Where the ledger's spot prices come from: DescribeSpotPriceHistory of the
 * pool (region, zone, type; Linux/UNIX) over a span, every page of it. AWS
 * answers with the price changes inside the span and the last change before
 * its start (the price in effect at the start); the query also starts an hour
 * early, so a history that answers only inside the span still has that price.
 * Answers are kept in an lru-cache by pool and span (widened to whole hours):
 * a closed span's history never changes; a span still open (its end is the
 * present) is kept 10 seconds.
 */
import { paginateDescribeSpotPriceHistory } from '@aws-sdk/client-ec2';
import { LRUCache } from 'lru-cache';
import type { CloudClients } from '../../shared/aws.js';
import type { Pool } from '../model/model.js';
import { sortedHistory, type PricePoint } from './billing.js';

export interface PriceSource {
  /** The pool's price points over [from, to], with the one in effect at `from`; undefined or empty: no history. */
  history(pool: Pool, from: number, to: number): Promise<PricePoint[] | undefined>;
}

const HOUR_MS = 3_600_000;
const LOOKBACK_MS = HOUR_MS;
/** DescribeSpotPriceHistory goes back at most 90 days. */
const MAX_AGE_MS = 90 * 86_400_000;
const OPEN_TTL_MS = 10_000;
const MAX_PAGES = 50;

export interface Ec2PriceSourceOptions {
  /** The fleet's clock (a span ending within a minute of it is still open). */
  now?: () => number;
  /** Spans kept (least recently used dropped); default 2000. */
  entries?: number;
}

/** A price source over the fleet's EC2 clients. */
export function ec2PriceSource(cloud: CloudClients, o: Ec2PriceSourceOptions = {}): PriceSource {
  const now = o.now ?? (() => Date.now());
  const cache = new LRUCache<string, Promise<PricePoint[]>>({ max: o.entries ?? 2000, ttlAutopurge: false });
  return {
    history(pool, from, to) {
      const t = now();
      // Spans are widened to whole hours, so the tasks that end in a pool within the same hours share one
      // answer (a job of 10,000 tasks does not make 10,000 calls); a span reaching into the last 10 seconds
      // is open, its end rounded up to 10 seconds.
      const start = Math.floor(from / HOUR_MS) * HOUR_MS;
      let end = Math.ceil(to / HOUR_MS) * HOUR_MS;
      const open = end > t - OPEN_TTL_MS;
      if (open) end = Math.ceil(Math.max(to, t) / OPEN_TTL_MS) * OPEN_TTL_MS;
      const key = `${pool.region}|${pool.zone}|${pool.type}|${start}|${end}`;
      const hit = cache.get(key);
      if (hit) return hit;
      const work = fetchHistory(cloud, pool, start, Math.min(end, t), t);
      cache.set(key, work, open ? { ttl: OPEN_TTL_MS } : {});
      work.catch(() => cache.delete(key));
      return work;
    },
  };
}

async function fetchHistory(cloud: CloudClients, pool: Pool, from: number, to: number, now: number): Promise<PricePoint[]> {
  const start = Math.max(from - LOOKBACK_MS, now - MAX_AGE_MS + 60_000);
  const points: PricePoint[] = [];
  let pages = 0;
  const history = paginateDescribeSpotPriceHistory(
    { client: cloud.ec2(pool.region), pageSize: 1000 },
    {
      AvailabilityZone: pool.zone,
      InstanceTypes: [pool.type as never],
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: new Date(start),
      EndTime: new Date(Math.max(start, to)),
    },
  );
  for await (const out of history) {
    for (const p of out.SpotPriceHistory ?? []) {
      if (p.AvailabilityZone !== pool.zone || p.InstanceType !== pool.type || !p.SpotPrice || !p.Timestamp) continue;
      points.push({ at: p.Timestamp.getTime(), price: Number(p.SpotPrice) });
    }
    if (++pages >= MAX_PAGES) break;
  }
  return sortedHistory(points);
}
