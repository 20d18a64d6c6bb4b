/**
 * `npm run bench -- placement [--seeds 20] [--jobs 4] [--tasks 200] [--scenario gpu,memory,...] [--share 0.34|auto] [--verbose]`
 *
 * The same 200-task job placed by cheapest-price (the policy before issue 14:
 * the cheapest live price, skipping the task's failed pools and the job's
 * cooled pools) and by services/spot/placement.ts (`choosePool`: expected cost
 * per task from the market signals, exclusions, spread), over several seeds
 * and job shapes, on the simulator's market model (packages/simulator/src/market:
 * the seeded prices, capacity traces and placement scores the EC2 endpoint
 * serves), in simulated time: a fleet run of 200 multi-hour tasks would take
 * hours of wall time. What real spot does and the data shows, both policies
 * alike:
 *
 * - Interruptions are pool-wide. A pool with a trace (data/market/traces)
 *   interrupts every instance in it at the trace's next outage, as the
 *   simulator does; any other pool has pool-wide reclaim events at the
 *   advisor bucket's rate (the simulator's monthly rates), each interrupting
 *   every instance of the job in the pool at once (92% of one pool's
 *   interruptions arrive within 3 minutes, in the study issue 14 cites) and
 *   leaving the pool without capacity for an outage drawn from the
 *   availability traces' own outage lengths.
 * - Capacity outages: a request in a pool without capacity (a trace tick
 *   without capacity, or an outage after a reclaim) waits until spot.check
 *   sees `capacity-not-available` (60 s), and the task is re-placed with the
 *   pool avoided (spot.check's `replace`, at most 10 per task); the market
 *   policy also marks the pool out of capacity for 3 minutes (the ICE cache).
 *   The launch delay (request to running, failed tries included) is counted.
 * - Prices from the data: every billed second at the pool's price at that
 *   moment (replayed GPU history, or the advisor-derived walk), from running
 *   to the end of the instance (the two minutes after an interruption's notice
 *   included).
 * - An interruption loses the work since the task's last checkpoint; the task
 *   is re-placed at the notice (the pool cooled for the job 30 minutes and
 *   avoided by the task, as request.resubmit does); more than 5 interruptions
 *   fail the task (retry.maxInterruptions).
 *
 * The market policy sees only what the fleet would: live prices, the
 * advisor's bucket, single-AZ placement scores collected once a day at 00:00
 * UTC (the default market.sps.everyHours, targets cycled as the planner does,
 * the simulator's scores falling after the pool's interruptions), the fleet's
 * own runs and launches in the pool and the no-capacity marks. A fleet runs
 * its jobs again and again: each seed submits the job `--jobs` times, 12 h
 * apart, on one fleet (the first on a fresh market store; the store and the
 * simulator's memory of interruptions carry over, the job's cool-downs do
 * not). Cost per finished task divides every billed instance-second (lost
 * work, relaunches and failed tasks included) by the tasks that finished.
 *
 * Not modelled: a pool's size (a usable pool takes any number of instances,
 * as in the simulator), price-driven interruptions (no max price below
 * on-demand), restore time after a checkpoint.
 */
import { Catalog } from '../packages/simulator/src/market/catalog.js';
import { MarketData } from '../packages/simulator/src/market/data.js';
import { Market } from '../packages/simulator/src/market/market.js';
import { InterruptionLog } from '../packages/simulator/src/market/interruptions.js';
import { unit } from '../packages/simulator/src/random.js';
import { poolKey, type Pool } from '../services/model/model.js';
import type { PoolSignals } from '../services/market/signals.js';
import { choosePool } from '../services/spot/placement.js';
import type { PoolPrice } from '../services/spot/pricing.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** spot.check sees capacity-not-available: the simulator re-evaluates every 30 s, the check polls; then the re-placement. */
const CAPACITY_WAIT_MS = 60_000;
/** The ICE cache (services/spot/market-link.ts NO_CAPACITY_MS). */
const NO_CAPACITY_MS = 3 * MINUTE;
/** spot.request's wait when every pool is out of capacity (NO_POOL_RETRY_SECONDS). */
const NO_POOL_RETRY_MS = 60_000;
/** The fleet's default lifecycle.cooldownSeconds. */
const COOLDOWN_MS = 30 * MINUTE;
/** The notice before the instance is terminated (billed, no work). */
const NOTICE_MS = 2 * MINUTE;
/** spot.check's bound on re-placements before launch (MAX_REPLACEMENTS) and the spec's default retry.maxInterruptions. */
const MAX_REPLACEMENTS = 10;
const MAX_INTERRUPTIONS = 5;
/** Request to running: lognormal, median 75 s; running to SSH-ready and the step started: 30 s more (billed). */
const LAUNCH_MEDIAN_S = 75;
const LAUNCH_SIGMA = 0.35;
const READY_S = 30;
/** The simulator's monthly interruption probability per advisor bucket (packages/simulator/src/market/market.ts). */
const SIM_BUCKET_MONTHLY = [0.03, 0.08, 0.13, 0.18, 0.25];
/** The market planner's default target capacities (market.sps.targets), cycled by day and query. */
const SPS_TARGETS = [1, 5, 10, 20, 30, 40, 50];
/** The fleet runs the job again this long after the previous submission (the market store remembers). */
const JOB_EVERY_MS = 12 * HOUR;
/** Integration step of the bill (the derived prices move hourly, the replayed ones at their points). */
const BILL_STEP_MS = 5 * MINUTE;

export interface Scenario {
  name: string;
  what: string;
  types: string[];
  regions: string[];
  zones: string[] | 'auto';
  hours: number;
  /** Minutes between checkpoints; none: an interruption loses the attempt's work. */
  checkpointMinutes?: number;
}

/** The job shapes: GPU over the trace zones, memory over the preemption-trace zones and their neighbours, general purpose over advisor-modelled pools. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'gpu',
    what: 'p3.2xlarge in the 9 availability-trace zones, 2 h tasks, checkpoint every 30 min',
    types: ['p3.2xlarge'],
    regions: ['us-east-1', 'us-east-2', 'us-west-2'],
    zones: ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-1f', 'us-east-2a', 'us-east-2b', 'us-west-2a', 'us-west-2b', 'us-west-2c'],
    hours: 2,
    checkpointMinutes: 30,
  },
  {
    name: 'gpu-nockpt',
    what: 'the same, 1 h tasks without checkpoints',
    types: ['p3.2xlarge'],
    regions: ['us-east-1', 'us-east-2', 'us-west-2'],
    zones: ['us-east-1a', 'us-east-1c', 'us-east-1d', 'us-east-1f', 'us-east-2a', 'us-east-2b', 'us-west-2a', 'us-west-2b', 'us-west-2c'],
    hours: 1,
  },
  {
    name: 'memory',
    what: 'r5.16xlarge in us-east-1 (b, c, d replay the preemption traces; a, e, f advisor-modelled), 1 h tasks without checkpoints',
    types: ['r5.16xlarge'],
    regions: ['us-east-1'],
    zones: 'auto',
    hours: 1,
  },
  {
    name: 'general',
    what: 'm5.large, m6i.large, c5.large in us-east-1 and us-west-2 (advisor-modelled), 1 h tasks without checkpoints',
    types: ['m5.large', 'm6i.large', 'c5.large'],
    regions: ['us-east-1', 'us-west-2'],
    zones: 'auto',
    hours: 1,
  },
  {
    name: 'general-long',
    what: 'the same types, 8 h tasks, checkpoint every 60 min',
    types: ['m5.large', 'm6i.large', 'c5.large'],
    regions: ['us-east-1', 'us-west-2'],
    zones: 'auto',
    hours: 8,
    checkpointMinutes: 60,
  },
];

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

export interface Result {
  finished: number;
  failed: number;
  costUsd: number;
  interruptions: number;
  /** Requests that met a pool without capacity. */
  failedLaunches: number;
  wallHours: number;
  /** Minutes from asking for an instance to running, per launch (failed tries included). */
  launchDelayMinutes: number[];
  pools: number;
  /** Interruptions by pool, for the verbose output. */
  byPool: Map<string, number>;
}

type Policy = 'cheapest-price' | 'market';

/**
 * Outage lengths (ms) in the availability traces: how long a pool stays without capacity after a reclaim.
 * The runs of ticks without spot as the simulator reads them (MarketData's `available`, spotAvailable: a
 * tick's value 0 is spot available).
 */
function outageLengths(data: MarketData): number[] {
  const out: number[] = [];
  for (const tr of data.traces().values()) {
    if (tr.kind !== 'availability') continue;
    let run = 0;
    for (const up of tr.available) {
      if (up === 0) run++;
      else if (run > 0) {
        out.push(run * tr.gapMs);
        run = 0;
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The market as the bench sees it: the simulator's model, plus pool-wide
 * reclaim events for the pools without a trace (the simulator draws those
 * pools' interruptions per instance; real reclaims take a pool's instances
 * together).
 */
class BenchMarket {
  private readonly events = new Map<string, number[]>();
  private readonly outages: number[];
  readonly log = new InterruptionLog();
  readonly market: Market;

  constructor(
    readonly seed: number,
    readonly data: MarketData,
    catalog: Catalog,
    private readonly from: number,
  ) {
    this.market = new Market(seed, data, catalog, this.log);
    this.outages = outageLengths(data);
  }

  traced(p: Pool): boolean {
    return this.data.traces().has(`${p.zone}|${p.type}`);
  }

  /** The pool's reclaim events from the run's start up to `until` (a seeded Poisson process at the advisor bucket's rate). */
  private reclaims(p: Pool, until: number): number[] {
    const k = `${p.region}|${p.zone}|${p.type}`;
    let list = this.events.get(k);
    if (!list) this.events.set(k, (list = []));
    const monthly = SIM_BUCKET_MONTHLY[this.market.bucket(p.region, p.type)] ?? 0.13;
    const mean = (30 * DAY) / -Math.log(1 - monthly);
    let last = list.length ? list[list.length - 1]! : this.from;
    while (last <= until) {
      last += -Math.log(1 - unit(this.seed, 'reclaim', k, list.length)) * mean;
      list.push(last);
    }
    return list;
  }

  private outageAfter(p: Pool, eventIndex: number): number {
    const u = unit(this.seed, 'outage', p.region, p.zone, p.type, eventIndex);
    return this.outages[Math.floor(u * this.outages.length)] ?? 30 * MINUTE;
  }

  hasCapacity(p: Pool, t: number): boolean {
    if (this.traced(p)) return this.market.hasCapacity(p, t);
    const list = this.reclaims(p, t);
    for (let i = list.length - 1; i >= 0; i--) {
      const at = list[i]!;
      if (at > t) continue;
      return t >= at + this.outageAfter(p, i);
    }
    return true;
  }

  /** When an instance running in the pool from t gets its notice: the pool's next outage or reclaim. */
  nextInterruption(p: Pool, t: number, horizon: number): number {
    if (this.traced(p)) return this.market.interruptionTime(p, t, 0);
    const list = this.reclaims(p, horizon);
    return list.find((at) => at > t) ?? Infinity;
  }

  /** USD billed for the pool from `from` to `to`, at the price of each moment. */
  bill(p: Pool, from: number, to: number): number {
    let usd = 0;
    for (let t = from; t < to; t += BILL_STEP_MS) usd += this.market.price(p, t) * (Math.min(to, t + BILL_STEP_MS) - t);
    return usd / HOUR;
  }
}

interface Ev {
  at: number;
  kind: 'request' | 'end';
  task: number;
  /** request: since when the task waits for an instance. */
  since?: number;
  /** end: the attempt. */
  pool?: Pool;
  runningAt?: number;
  interrupted?: boolean;
}

export interface PoolRecord {
  runs: number;
  interruptions: number;
  hours: number;
  launches: Array<{ at: number; seconds: number }>;
  noCapacityUntil?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : 0;
};

/** What the fleet's market store knows of each pool (`region|zone/type`): kept from one job to the next. */
export type FleetRecords = Map<string, PoolRecord>;

export function runJob(bm: BenchMarket, catalog: Catalog, policy: Policy, o: { tasks: number; scenario: Scenario; start: number; share?: number | 'auto'; records: FleetRecords }): Result {
  const sc = o.scenario;
  const pools: Pool[] = sc.regions.flatMap((region) =>
    catalog
      .zones(region)
      .filter((z) => sc.zones === 'auto' || sc.zones.includes(z.name))
      .flatMap((z) => sc.types.map((type) => ({ region, zone: z.name, type }))),
  );
  const horizon = o.start + 7 * DAY;
  const records = o.records;
  const recordOf = (k: string): PoolRecord => {
    let r = records.get(k);
    if (!r) records.set(k, (r = { runs: 0, interruptions: 0, hours: 0, launches: [] }));
    return r;
  };
  const cooled: Record<string, number> = {};
  const avoid = Array.from({ length: o.tasks }, () => [] as string[]);
  const replacements = new Array<number>(o.tasks).fill(0);
  const interruptionsOf = new Array<number>(o.tasks).fill(0);
  /** Hours of work each task has saved (its last checkpoint). */
  const saved = new Array<number>(o.tasks).fill(0);
  const used = new Set<string>();
  const scores = new Map<string, number>();
  const result: Result = { finished: 0, failed: 0, costUsd: 0, interruptions: 0, failedLaunches: 0, wallHours: 0, launchDelayMinutes: [], pools: 0, byPool: new Map() };
  const queue: Ev[] = Array.from({ length: o.tasks }, (_, task) => ({ at: o.start, kind: 'request' as const, task, since: o.start }));
  let end = o.start;
  const push = (ev: Ev): void => {
    // Insert in time order (stable for equal times: task order).
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const q = queue[mid]!;
      if (q.at < ev.at || (q.at === ev.at && q.task <= ev.task)) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, ev);
  };
  queue.sort((a, b) => a.at - b.at || a.task - b.task);
  const ckptH = sc.checkpointMinutes !== undefined ? sc.checkpointMinutes / 60 : undefined;

  /** The day's single-AZ score of a pool, as the collector stored it at 00:00 UTC. */
  const scoreOf = (p: Pool, t: number): number => {
    const day = Math.floor(t / DAY);
    const k = `${p.region}|${poolKey(p)}|${day}`;
    let s = scores.get(k);
    if (s === undefined) {
      const target = SPS_TARGETS[(day + sc.types.indexOf(p.type)) % SPS_TARGETS.length]!;
      scores.set(k, (s = bm.market.placementScore(p.region, [p.zone], [p.type], target, day * DAY)));
    }
    return s;
  };

  while (queue.length) {
    const ev = queue.shift()!;
    const t = ev.at;
    if (ev.kind === 'end') {
      // An attempt ended: the fleet records the run (spot.check, termination.detected, step.complete).
      const pool = ev.pool!;
      const k = `${pool.region}|${poolKey(pool)}`;
      const rec = recordOf(k);
      rec.runs++;
      rec.hours += (t - ev.runningAt!) / HOUR;
      if (!ev.interrupted) {
        result.finished++;
        end = Math.max(end, t);
        continue;
      }
      rec.interruptions++;
      result.interruptions++;
      result.byPool.set(k, (result.byPool.get(k) ?? 0) + 1);
      bm.log.record(pool, t);
      cooled[poolKey(pool)] = t + COOLDOWN_MS;
      avoid[ev.task] = [...new Set([...avoid[ev.task]!, poolKey(pool)])];
      if (++interruptionsOf[ev.task]! > MAX_INTERRUPTIONS) {
        result.failed++;
        end = Math.max(end, t);
        continue;
      }
      push({ at: t, kind: 'request', task: ev.task, since: t });
      continue;
    }

    const candidates: PoolPrice[] = pools.map((p) => ({ ...p, price: bm.market.price(p, t), at: t }));
    let pool: Pool;
    if (policy === 'cheapest-price') {
      const skip = new Set([...avoid[ev.task]!, ...Object.entries(cooled).filter(([, u]) => u > t).map(([key]) => key)]);
      const open = candidates.filter((c) => !skip.has(poolKey(c)));
      pool = [...(open.length ? open : candidates)].sort((a, b) => a.price - b.price || poolKey(a).localeCompare(poolKey(b)))[0]!;
    } else {
      const signals: PoolSignals[] = pools.map((p) => {
        const rec = records.get(`${p.region}|${poolKey(p)}`);
        const launches = (rec?.launches ?? []).filter((l) => l.at <= t).slice(-25);
        return {
          ...p,
          bucket: bm.market.bucket(p.region, p.type),
          score: scoreOf(p, t),
          ...(rec && rec.runs ? { observed: { runs: rec.runs, interruptions: rec.interruptions, hours: rec.hours } } : {}),
          ...(launches.length ? { launchP50Seconds: median(launches.map((l) => l.seconds)), launchSamples: launches.length } : {}),
          ...(rec?.noCapacityUntil !== undefined && rec.noCapacityUntil > t ? { noCapacityUntil: rec.noCapacityUntil } : {}),
        };
      });
      try {
        const placed = choosePool({
          candidates,
          signals,
          zones: 'auto',
          avoid: avoid[ev.task]!,
          cooled,
          taskIndex: ev.task,
          taskCount: o.tasks,
          profile: { runtimeHours: sc.hours, ...(ckptH !== undefined ? { checkpointHours: ckptH } : {}) },
          ...(o.share !== undefined ? { maxPoolShare: o.share } : {}),
          now: t,
        });
        pool = placed.pool;
      } catch {
        // Every pool out of capacity for now: spot.request asks again later.
        push({ ...ev, at: t + NO_POOL_RETRY_MS });
        continue;
      }
    }
    const k = `${pool.region}|${poolKey(pool)}`;
    used.add(k);
    if (!bm.hasCapacity(pool, t)) {
      // The request waits with capacity-not-available until spot.check re-places the task.
      result.failedLaunches++;
      const seen = t + CAPACITY_WAIT_MS;
      if (policy === 'market') recordOf(k).noCapacityUntil = seen + NO_CAPACITY_MS;
      avoid[ev.task] = [...new Set([...avoid[ev.task]!, poolKey(pool)])];
      if (++replacements[ev.task]! >= MAX_REPLACEMENTS) {
        result.failed++;
        end = Math.max(end, seen);
        continue;
      }
      push({ ...ev, at: seen });
      continue;
    }
    const z = Math.sqrt(-2 * Math.log(1 - unit(bm.seed, 'launch', ev.task, t))) * Math.cos(2 * Math.PI * unit(bm.seed, 'launch2', ev.task, t));
    const running = t + LAUNCH_MEDIAN_S * Math.exp(LAUNCH_SIGMA * z) * 1000;
    const ready = running + READY_S * 1000;
    result.launchDelayMinutes.push((running - ev.since!) / MINUTE);
    recordOf(k).launches.push({ at: ready, seconds: (ready - t) / 1000 });
    const left = sc.hours - saved[ev.task]!;
    const done = ready + left * HOUR;
    const notice = bm.nextInterruption(pool, running, horizon);
    if (notice < done) {
      const worked = Math.max(0, (notice - ready) / HOUR);
      // Saved: every full checkpoint interval of the task's work so far.
      if (ckptH !== undefined) saved[ev.task] = Math.floor((saved[ev.task]! + worked) / ckptH + 1e-9) * ckptH;
      const stop = Math.max(notice, running) + NOTICE_MS;
      result.costUsd += bm.bill(pool, running, stop);
      push({ at: Math.max(notice, running), kind: 'end', task: ev.task, pool, runningAt: running, interrupted: true });
      continue;
    }
    result.costUsd += bm.bill(pool, running, done);
    push({ at: done, kind: 'end', task: ev.task, pool, runningAt: running, interrupted: false });
  }
  result.wallHours = (end - o.start) / HOUR;
  result.pools = used.size;
  return result;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const sd = (xs: number[]): number => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
};
const pm = (xs: number[], digits: number): string => `${mean(xs).toFixed(digits)} ± ${sd(xs).toFixed(digits)}`;

export interface Summary {
  scenario: string;
  policy: Policy;
  /** Per seed: USD billed, tasks finished, and their ratio (NaN when none finished). */
  costUsd: number[];
  finished: number[];
  costPerTask: number[];
  interruptions: number[];
  failed: number[];
  failedLaunches: number[];
  wallHours: number[];
  launchDelay: number[];
  pools: number[];
}

/** Both policies over `seeds` seeds (each its own market and start time) for one scenario. */
export function compare(data: MarketData, catalog: Catalog, scenario: Scenario, o: { seeds: number; tasks: number; jobs: number; share?: number | 'auto'; verbose?: boolean }): Summary[] {
  const out: Summary[] = [];
  for (const policy of ['cheapest-price', 'market'] as const) {
    const s: Summary = { scenario: scenario.name, policy, costUsd: [], finished: [], costPerTask: [], interruptions: [], failed: [], failedLaunches: [], wallHours: [], launchDelay: [], pools: [] };
    for (let seed = 1; seed <= o.seeds; seed++) {
      // A start somewhere in the traces' 45 days, on a different hour of the day each seed; the job again every JOB_EVERY_MS.
      const first = Date.UTC(2024, 0, 1) + Math.floor(unit(seed, 'start') * 40) * DAY + Math.floor(unit(seed, 'hour') * 24) * HOUR;
      const bm = new BenchMarket(seed, data, catalog, first);
      const records: FleetRecords = new Map();
      const total: Result = { finished: 0, failed: 0, costUsd: 0, interruptions: 0, failedLaunches: 0, wallHours: 0, launchDelayMinutes: [], pools: 0, byPool: new Map() };
      const wall: number[] = [];
      const pools: number[] = [];
      for (let j = 0; j < o.jobs; j++) {
        const r = runJob(bm, catalog, policy, { tasks: o.tasks, scenario, start: first + j * JOB_EVERY_MS, records, ...(o.share !== undefined ? { share: o.share } : {}) });
        total.finished += r.finished;
        total.failed += r.failed;
        total.costUsd += r.costUsd;
        total.interruptions += r.interruptions;
        total.failedLaunches += r.failedLaunches;
        total.launchDelayMinutes.push(...r.launchDelayMinutes);
        for (const [k, n] of r.byPool) total.byPool.set(k, (total.byPool.get(k) ?? 0) + n);
        wall.push(r.wallHours);
        pools.push(r.pools);
      }
      s.costUsd.push(total.costUsd);
      s.finished.push(total.finished);
      s.costPerTask.push(total.finished ? total.costUsd / total.finished : NaN);
      s.interruptions.push(total.interruptions / o.jobs);
      s.failed.push(total.failed / o.jobs);
      s.failedLaunches.push(total.failedLaunches / o.jobs);
      s.wallHours.push(mean(wall));
      s.launchDelay.push(mean(total.launchDelayMinutes));
      s.pools.push(mean(pools));
      if (o.verbose) {
        console.log(
          `  ${scenario.name} ${policy} seed ${seed}: ${(total.costUsd / Math.max(1, total.finished)).toFixed(4)} USD/task, ${total.interruptions} interruptions (${[...total.byPool].map(([k, n]) => `${k.split('|')[1]} ${n}`).join(', ')}), ${total.failed} failed, ${total.failedLaunches} failed launches, wall ${wall.map((w) => w.toFixed(2)).join('/')} h`,
        );
      }
    }
    out.push(s);
  }
  return out;
}

export default async function placementBench(args: string[]): Promise<void> {
  const tasks = Number(arg(args, 'tasks', '200'));
  const seeds = Number(arg(args, 'seeds', '20'));
  const jobs = Number(arg(args, 'jobs', '4'));
  const only = arg(args, 'scenario', '');
  const shareArg = arg(args, 'share', '');
  const share = shareArg === 'auto' ? 'auto' : shareArg ? Number(shareArg) : undefined;
  const verbose = args.includes('--verbose');
  const data = new MarketData(new URL('../data/market', import.meta.url).pathname);
  const catalog = new Catalog(data);
  console.log(`placement: ${tasks} tasks a job, the job ${jobs} times 12 h apart on one fleet, ${seeds} seeds a scenario; per job, mean ± sd over seeds; spread ${share === 'auto' ? 'risk-based (maxPoolShare "auto")' : `max pool share ${share ?? '0.34 (the default)'}`}`);
  console.log('| scenario | policy | USD per finished task (± sd over seeds) | interruptions | failed tasks | failed launches | wall h | launch delay min | pools used |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  await Promise.resolve();
  for (const scenario of SCENARIOS.filter((s) => !only || only.split(',').includes(s.name))) {
    const [cheap, market] = compare(data, catalog, scenario, { seeds, tasks, jobs, ...(share !== undefined ? { share } : {}), verbose });
    for (const s of [cheap!, market!]) {
      const perSeed = s.costPerTask.filter((c) => !Number.isNaN(c));
      console.log(
        `| ${s.scenario} | ${s.policy} | ${pooled(s).toFixed(4)} (± ${sd(perSeed).toFixed(4)}) | ${pm(s.interruptions, 1)} | ${pm(s.failed, 1)} | ${pm(s.failedLaunches, 1)} | ${pm(s.wallHours, 2)} | ${pm(s.launchDelay, 2)} | ${pm(s.pools, 1)} |`,
      );
    }
    const dc = (pooled(market!) / pooled(cheap!) - 1) * 100;
    const wins = market!.costPerTask.filter((c, i) => c < cheap!.costPerTask[i]! || (Number.isNaN(cheap!.costPerTask[i]!) && !Number.isNaN(c))).length;
    const fewer = market!.interruptions.filter((n, i) => n < cheap!.interruptions[i]!).length;
    const more = market!.interruptions.filter((n, i) => n > cheap!.interruptions[i]!).length;
    console.log(`| ${scenario.name} | market vs cheapest | ${dc >= 0 ? '+' : ''}${dc.toFixed(1)}% (cheaper in ${wins}/${seeds} seeds) | ${(mean(market!.interruptions) - mean(cheap!.interruptions)).toFixed(1)} (fewer in ${fewer}, more in ${more}) | | | | | |`);
  }
}

/** USD per finished task over every seed: all the USD billed over all the tasks finished. */
const pooled = (s: Summary): number => s.costUsd.reduce((a, b) => a + b, 0) / Math.max(1, s.finished.reduce((a, b) => a + b, 0));
