/**
 * What placement reads of the market store, kept a short while by the fleet:
 * spot.request needs every pool of the job's regions and the blocked regions
 * on each request (three DynamoDB queries per region and one more), and a
 * burst of a job's tasks asks the same within seconds. The cache is one of
 * the fleet's resources (as the price cache in pricing.ts): bounded, and aged
 * on the fleet's clock. What this fleet records through it (a pool out of
 * capacity, a region at its quota) is written to the store and into the
 * cached answers at once, so the next placement sees it without a read; what
 * other processes record is seen when the entry ages out (MARKET_CACHE_TTL_MS),
 * well inside the no-capacity cool-down (3 minutes).
 */
import { LRUCache } from 'lru-cache';
import { resource, type FleetResources } from '../../shared/resources.js';
import { poolKey, type Pool } from '../model/model.js';
import type { LaunchTimeline, MarketSignals, PoolSignals, RegionBlock } from '../market/signals.js';

/** How long a read of the market store serves placement (fleet clock). */
export const MARKET_CACHE_TTL_MS = 20_000;
/** Region and type lists a fleet keeps at once; the least recently used go first. */
const MAX_ENTRIES = 500;

interface Entry<T> {
  /** The fleet clock's time of the read. */
  at: number;
  value: Promise<T>;
}

interface MarketCache {
  pools: LRUCache<string, Entry<PoolSignals[]>>;
  blocked: { entry?: Entry<Map<string, RegionBlock>> };
}

/** The fleet's market cache: pools per region and type list, and the blocked regions. */
export const MARKET_CACHE = resource<MarketCache>(
  'market signals cache',
  () => ({ pools: new LRUCache<string, Entry<PoolSignals[]>>({ max: MAX_ENTRIES, ttl: MARKET_CACHE_TTL_MS }), blocked: {} }),
  (cache) => {
    cache.pools.clear();
    delete cache.blocked.entry;
  },
);

const typesKey = (types: readonly string[]): string => [...new Set(types)].sort().join(',');
const fresh = (e: Entry<unknown> | undefined, now: number): boolean => e !== undefined && e.at <= now && now - e.at < MARKET_CACHE_TTL_MS;

/** A pool's no-capacity mark in a list of signals (a new list; the longer mark wins, as in the store). */
function withNoCapacity(list: readonly PoolSignals[], pool: Pool, until: number): PoolSignals[] {
  const k = `${pool.region}|${poolKey(pool)}`;
  const found = list.some((s) => `${s.region}|${poolKey(s)}` === k);
  const marked = list.map((s) => (`${s.region}|${poolKey(s)}` === k ? { ...s, noCapacityUntil: Math.max(s.noCapacityUntil ?? 0, until) } : s));
  return found ? marked : [...marked, { region: pool.region, zone: pool.zone, type: pool.type, noCapacityUntil: until }];
}

/** MarketSignals over `store`, reads kept in the fleet's cache; marks written through. */
export class CachedMarketSignals implements MarketSignals {
  private readonly cache: MarketCache;

  constructor(
    private readonly store: MarketSignals,
    resources: FleetResources,
    private readonly clock: { now(): number },
  ) {
    this.cache = resources.get(MARKET_CACHE);
  }

  async pools(regions: readonly string[], types: readonly string[], now: number): Promise<PoolSignals[]> {
    const tk = typesKey(types);
    const wanted = [...new Set(regions)];
    const missing = wanted.filter((r) => !fresh(this.cache.pools.get(`${r}|${tk}`), now));
    if (missing.length) {
      // One store read for every region not cached, split per region.
      const read = this.store.pools(missing, types, now);
      for (const region of missing) this.setPools(`${region}|${tk}`, { at: now, value: read.then((all) => all.filter((s) => s.region === region)) });
    }
    const lists = await Promise.all(wanted.map((r) => this.cache.pools.get(`${r}|${tk}`)!.value));
    // Copies: a caller may mark its own (attempt.ts), never the cached answer.
    return lists.flat().map((s) => ({ ...s }));
  }

  /** A cached answer, dropped if its read fails (the next placement reads again). */
  private setPools(key: string, entry: Entry<PoolSignals[]>): void {
    this.cache.pools.set(key, entry, { noUpdateTTL: this.cache.pools.has(key) });
    entry.value.catch(() => {
      if (this.cache.pools.get(key) === entry) this.cache.pools.delete(key);
    });
  }

  private setBlocked(entry: Entry<Map<string, RegionBlock>>): void {
    this.cache.blocked.entry = entry;
    entry.value.catch(() => {
      if (this.cache.blocked.entry === entry) delete this.cache.blocked.entry;
    });
  }

  async blockedRegions(now: number): Promise<Map<string, RegionBlock>> {
    let entry = this.cache.blocked.entry;
    if (!entry || !fresh(entry, now)) this.setBlocked((entry = { at: now, value: this.store.blockedRegions(now) }));
    const blocked = await entry.value;
    return new Map([...blocked].filter(([, b]) => b.until > now));
  }

  recordLaunch(pool: Pool, timeline: LaunchTimeline): Promise<void> {
    return this.store.recordLaunch(pool, timeline);
  }

  recordRun(pool: Pool, run: { hours: number; interrupted: boolean; at: number }): Promise<void> {
    return this.store.recordRun(pool, run);
  }

  async markNoCapacity(pool: Pool, until: number, reason: string): Promise<void> {
    await this.store.markNoCapacity(pool, until, reason);
    for (const [key, entry] of this.cache.pools.entries()) {
      const [region, types] = key.split('|');
      if (region !== pool.region || !types!.split(',').includes(pool.type)) continue;
      this.setPools(key, { at: entry.at, value: entry.value.then((list) => withNoCapacity(list, pool, until)) });
    }
  }

  async markRegionBlocked(region: string, block: RegionBlock): Promise<void> {
    await this.store.markRegionBlocked(region, block);
    const entry = this.cache.blocked.entry;
    if (!entry || !fresh(entry, this.clock.now())) return;
    this.setBlocked({
      at: entry.at,
      value: entry.value.then((m) => {
        const next = new Map(m);
        const prev = next.get(region);
        if (!prev || prev.until < block.until) next.set(region, block);
        return next;
      }),
    });
  }
}
