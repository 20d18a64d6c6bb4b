/**
 * `npm run bench -- placement [--tasks 200] [--hours 2] [--seed 42] [--types p3.2xlarge,p2.xlarge,g4dn.xlarge] [--regions us-east-1,us-east-2]`
 *
 * The same job placed by cheapest-price (the policy before issue 14: the
 * cheapest live price, skipping the task's failed pools and the job's cooled
 * pools) and by services/spot/placement.ts (expected cost per task from the
 * market signals, exclusions, spread). It drives the placement functions
 * against the simulator's market model directly (prices, capacity traces,
 * interruption draws, placement scores of packages/simulator/src/market, the
 * same seeded model the EC2 endpoint serves), in simulated time: a full fleet
 * run of 200 multi-hour tasks would take hours. Every task starts at once,
 * runs `--hours` of work without checkpoints, and restarts from scratch when
 * interrupted; a launch takes 90 s; a pool without capacity costs a 60 s try
 * and is cached out for 3 minutes (by the new policy, as spot.request does).
 */
import { Catalog } from '../packages/simulator/src/market/catalog.js';
import { MarketData } from '../packages/simulator/src/market/data.js';
import { Market } from '../packages/simulator/src/market/market.js';
import { poolKey, type Pool } from '../services/model/model.js';
import type { PoolSignals } from '../services/market/signals.js';
import { choosePool } from '../services/spot/placement.js';
import type { PoolPrice } from '../services/spot/pricing.js';

const HOUR = 3_600_000;
const LAUNCH_MS = 90_000;
const FAILED_TRY_MS = 60_000;
const NO_CAPACITY_MS = 3 * 60_000;
/** The fleet's default lifecycle.cooldownSeconds. */
const COOLDOWN_MS = 1800_000;

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

interface Result {
  finished: number;
  costUsd: number;
  interruptions: number;
  failedLaunches: number;
  wallHours: number;
  launchDelayMinutes: number[];
  pools: number;
}

type Policy = 'cheapest-price' | 'market';

function run(market: Market, catalog: Catalog, policy: Policy, o: { tasks: number; hours: number; types: string[]; regions: string[]; start: number }): Result {
  const pools: Pool[] = o.regions.flatMap((region) => catalog.zones(region).flatMap((z) => o.types.map((type) => ({ region, zone: z.name, type }))));
  const runs: Array<{ key: string; hours: number; interrupted: boolean; at: number }> = [];
  const noCapacity = new Map<string, number>();
  const cooled: Record<string, number> = {};
  const avoid = new Map<number, string[]>();
  const used = new Set<string>();
  const scoreCache = new Map<string, number>();
  const result: Result = { finished: 0, costUsd: 0, interruptions: 0, failedLaunches: 0, wallHours: 0, launchDelayMinutes: [], pools: 0 };
  // Events in time order: a task asking for a pool at `at`, since `since` (for its launch delay).
  const queue: Array<{ at: number; task: number; since: number; ordinal: number }> = Array.from({ length: o.tasks }, (_, task) => ({ at: o.start, task, since: o.start, ordinal: 0 }));
  let ordinal = 0;
  let end = o.start;
  while (queue.length) {
    queue.sort((a, b) => a.at - b.at || a.task - b.task);
    const ev = queue.shift()!;
    const t = ev.at;
    const candidates: PoolPrice[] = pools.map((p) => ({ ...p, price: market.price(p, t), at: t }));
    let pool: Pool;
    let price: number;
    if (policy === 'cheapest-price') {
      const skip = new Set([...(avoid.get(ev.task) ?? []), ...Object.entries(cooled).filter(([, u]) => u > t).map(([k]) => k)]);
      const open = candidates.filter((c) => !skip.has(poolKey(c)));
      const best = (open.length ? open : candidates).sort((a, b) => a.price - b.price || poolKey(a).localeCompare(poolKey(b)))[0]!;
      pool = best;
      price = best.price;
    } else {
      const hour = Math.floor(t / HOUR);
      const signals: PoolSignals[] = pools.map((p) => {
        const k = `${p.region}|${poolKey(p)}`;
        const ck = `${k}|${hour}`;
        let score = scoreCache.get(ck);
        if (score === undefined) scoreCache.set(ck, (score = market.placementScore(p.region, [p.zone], [p.type], 1, t)));
        const mine = runs.filter((r) => r.key === k && r.at <= t);
        const until = noCapacity.get(k);
        return {
          ...p,
          bucket: market.bucket(p.region, p.type),
          score,
          ...(mine.length ? { observed: { runs: mine.length, interruptions: mine.filter((r) => r.interrupted).length, hours: mine.reduce((h, r) => h + r.hours, 0) } } : {}),
          ...(until !== undefined && until > t ? { noCapacityUntil: until } : {}),
        };
      });
      try {
        const placed = choosePool({ candidates, signals, zones: 'auto', avoid: avoid.get(ev.task) ?? [], cooled, taskIndex: ev.task, profile: { runtimeHours: o.hours }, now: t });
        pool = placed.pool;
        price = placed.price;
      } catch {
        queue.push({ ...ev, at: t + FAILED_TRY_MS });
        continue;
      }
    }
    const key = `${pool.region}|${poolKey(pool)}`;
    used.add(key);
    if (!market.hasCapacity(pool, t)) {
      result.failedLaunches++;
      noCapacity.set(key, t + NO_CAPACITY_MS);
      avoid.set(ev.task, [...(avoid.get(ev.task) ?? []), poolKey(pool)]);
      queue.push({ ...ev, at: t + FAILED_TRY_MS });
      continue;
    }
    const running = t + LAUNCH_MS;
    result.launchDelayMinutes.push((running - ev.since) / 60_000);
    const interruptAt = market.interruptionTime(pool, running, ordinal++);
    const done = running + o.hours * HOUR;
    if (interruptAt < done) {
      const hours = (interruptAt - running) / HOUR;
      result.costUsd += price * hours;
      result.interruptions++;
      runs.push({ key, hours, interrupted: true, at: interruptAt });
      cooled[poolKey(pool)] = interruptAt + COOLDOWN_MS;
      queue.push({ at: interruptAt, task: ev.task, since: interruptAt, ordinal: ev.ordinal + 1 });
      continue;
    }
    result.costUsd += price * o.hours;
    result.finished++;
    runs.push({ key, hours: o.hours, interrupted: false, at: done });
    end = Math.max(end, done);
  }
  result.wallHours = (end - o.start) / HOUR;
  result.pools = used.size;
  return result;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : 0;
};

export default async function placementBench(args: string[]): Promise<void> {
  const tasks = Number(arg(args, 'tasks', '200'));
  const hours = Number(arg(args, 'hours', '2'));
  const seed = Number(arg(args, 'seed', '42'));
  const types = arg(args, 'types', 'p3.2xlarge,p2.xlarge,g4dn.xlarge').split(',');
  const regions = arg(args, 'regions', 'us-east-1,us-east-2').split(',');
  const data = new MarketData(new URL('../data/market', import.meta.url).pathname);
  const catalog = new Catalog(data);
  const market = new Market(seed, data, catalog);
  const starts = [0, 1, 2, 3, 4, 5, 6, 7].map((d) => Date.UTC(2024, 0, 1) + d * 3 * 24 * HOUR + d * 7 * HOUR);
  console.log(`placement: ${tasks} tasks of ${hours} h (no checkpoints), types ${types.join(', ')} in ${regions.join(', ')}, seed ${seed}, ${starts.length} start times`);
  console.log('policy          finished  USD/finished task  interruptions  failed launches  wall h (median)  launch delay min (median)  pools used');
  await Promise.resolve();
  for (const policy of ['cheapest-price', 'market'] as const) {
    const rs = starts.map((start) => run(market, catalog, policy, { tasks, hours, types, regions, start }));
    const finished = rs.reduce((s, r) => s + r.finished, 0);
    const cost = rs.reduce((s, r) => s + r.costUsd, 0);
    const interruptions = rs.reduce((s, r) => s + r.interruptions, 0);
    const failed = rs.reduce((s, r) => s + r.failedLaunches, 0);
    console.log(
      [
        policy.padEnd(15),
        String(finished).padStart(8),
        (cost / finished).toFixed(4).padStart(18),
        String(interruptions).padStart(14),
        String(failed).padStart(16),
        median(rs.map((r) => r.wallHours)).toFixed(2).padStart(16),
        median(rs.flatMap((r) => r.launchDelayMinutes)).toFixed(2).padStart(26),
        median(rs.map((r) => r.pools)).toFixed(0).padStart(11),
      ].join(' '),
    );
  }
}
