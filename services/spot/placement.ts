/**
 * Where a task's next attempt goes: every candidate pool (region, zone, type)
 * is scored by the expected cost to finish one task there, from the live spot
 * price and the market signals (services/market/signals.ts); pools that
 * cannot or should not take the task are excluded, each with its reason; the
 * job's tasks spread over the best pools so that no pool holds more than a
 * share of them. Pure: spot.request (attempt.ts), `spotbatch advisor` and the
 * placement benchmark call the same functions. docs/placement.md explains the
 * model and its defaults.
 */
import { PermanentError, TransientError } from '../../shared/errors.js';
import { poolKey, type Pool, type PlacementRecord, type ScoredPoolRecord } from '../model/model.js';
import { stepTimeoutSeconds } from '../model/deadline.js';
import type { PoolSignals, RegionBlock } from '../market/signals.js';
import type { PoolPrice } from './pricing.js';

/** Monthly interruption probability taken for each advisor bucket (<5%, 5-10%, 10-15%, 15-20%, >20%): the bucket's middle, 25% for the open one. */
export const BUCKET_MONTHLY = [0.025, 0.075, 0.125, 0.175, 0.25] as const;
/** The advisor's words for each bucket. */
export const BUCKET_LABELS = ['<5%', '5-10%', '10-15%', '15-20%', '>20%'] as const;
/** Bucket assumed when the advisor has none for the pool: the middle one. */
const UNKNOWN_BUCKET = 2;
/** Instance-hours of the pool's own record that weigh as much as the advisor's rate (the prior's weight, Gamma-Poisson style). */
export const PRIOR_HOURS = 50;
/** Request to SSH-ready when the pool has no recorded launch (AWS's spot launches take about a minute or two). */
export const DEFAULT_LAUNCH_SECONDS = 120;
/** What a launch that does not happen costs in time: the poll that sees it, the re-placement and a new request. */
const FAILED_LAUNCH_SECONDS = 60;
/** Placement score assumed when none was collected: the middle of AWS's 1..10, neither favoured nor excluded. */
const UNKNOWN_SCORE = 5;
/**
 * Pools scoring below this are excluded: 1, none by default. A low score already prices its failed launches
 * into the expected cost, and one type in one zone scores 1 to 3 (lower at a large target capacity), so a
 * floor of 2 threw away cheap pools that launch fine often enough: in `npm run bench -- placement` it cost
 * 2% per finished task on the memory job and won nothing on cost elsewhere (docs/benchmarks.md).
 * `instances.minPlacementScore` sets one per job.
 */
export const DEFAULT_SCORE_FLOOR = 1;
/** No pool holds more than this share of a job's tasks unless the spec says otherwise: ceil(1 / 0.34) = 3 pools. */
export const DEFAULT_MAX_POOL_SHARE = 0.34;
/**
 * The share of a job's tasks one pool is taken to hold when reading placement scores against the floor and the
 * spec's `instances.maxPoolShare` is "auto" (the risk-based spread is decided after the ranking, so the ranking
 * cannot know it) or unset: ceil(tasks x 0.34) instances, the cautious side (a smaller need holds fewer scores against a pool).
 */
const SCORE_NEED_SHARE = DEFAULT_MAX_POOL_SHARE;
/** Pools whose expected cost per task is within this of the best are good enough to share the job's tasks. */
export const SPREAD_TOLERANCE = 0.25;
/** A task's expected runtime when the spec says nothing better: half the step timeout, within these bounds (hours). */
const RUNTIME_BOUNDS_H = [0.1, 24] as const;
/** Work lost when the step checkpoints at the interruption notice only (the restore, a restart of the step). */
const NOTICE_SAVE_HOURS = 0.1;
/**
 * A placement score collected longer ago than this reads as absent (the middle score, 5, in the expected
 * cost, and no floor): the collector asks each pool again within days, and a market moves in that time.
 */
export const SCORE_MAX_AGE_MS = 3 * 86_400_000;
/** At most this many excluded pools are kept in the record (the count is always whole; the why counts them all by kind): the record lives in the task row. */
const MAX_EXCLUDED_KEPT = 5;

/** Monthly interruption probability -> hazard per instance-hour (a 30-day month). */
export const hourlyHazard = (monthly: number): number => -Math.log(1 - monthly) / (30 * 24);

export interface TaskProfile {
  /** Expected hours of work one task needs. */
  runtimeHours: number;
  /** Hours between checkpoints, when the step checkpoints. */
  checkpointHours?: number;
}

/**
 * The spec's runtime estimate: its `runtime` when given, else half its step timeouts (the default step timeout
 * is 1 h) within RUNTIME_BOUNDS_H; the checkpoint interval if any.
 */
export function taskProfile(spec: {
  runtime?: number | undefined;
  timeouts: { step: number };
  steps?: readonly { timeout?: number | undefined }[] | undefined;
  checkpoint?: { every?: number | undefined } | undefined;
}): TaskProfile {
  const runtimeHours = spec.runtime !== undefined ? spec.runtime / 3600 : Math.min(RUNTIME_BOUNDS_H[1], Math.max(RUNTIME_BOUNDS_H[0], stepTimeoutSeconds(spec) / 2 / 3600));
  // A checkpoint without `every` is saved at the interruption notice: count a tenth of an hour lost to the restore.
  const checkpointHours = spec.checkpoint ? (spec.checkpoint.every ?? 0) / 3600 || NOTICE_SAVE_HOURS : undefined;
  return { runtimeHours, ...(checkpointHours !== undefined ? { checkpointHours } : {}) };
}

export interface PlacementInput {
  /** Live prices (DescribeSpotPriceHistory); a pool without a live price is not a candidate. */
  candidates: PoolPrice[];
  /** What the market store knows (may be empty: the price alone decides then). */
  signals?: PoolSignals[];
  /** Allowed zones, or 'auto' for any of the regions' zones. */
  zones: string[] | 'auto';
  /** Pool keys (zone/type) that failed this task. */
  avoid: string[];
  /** Pool keys the job cooled down after an interruption, until when (ms). */
  cooled?: Record<string, number>;
  /** Regions whose spot quota is exhausted. */
  blockedRegions?: ReadonlyMap<string, RegionBlock>;
  maxPrice?: number;
  scoreFloor?: number;
  /** A hard cap on one pool's share of the job (default DEFAULT_MAX_POOL_SHARE), or 'auto': the risk-based spread. */
  maxPoolShare?: number | 'auto';
  /** The job's task count: with the share, how many instances the job asks of one pool (the floor reads scores against it). */
  taskCount?: number;
  profile?: TaskProfile;
  /** The task's index in its job, for the spread; without it, the best pool. */
  taskIndex?: number;
  now?: number;
}

export interface ScoredPool extends Pool {
  price: number;
  score?: number;
  /** The target capacity the score was asked with, when known. */
  scoreTarget?: number;
  bucket?: number;
  launchP50Seconds?: number;
  /** Interruptions per instance-hour, blended from the advisor and this fleet's record. */
  hazardPerHour: number;
  /** Hours from asking to SSH-ready, the failed tries the score predicts included. */
  startHours: number;
  /** Expected USD to finish one task here, and that per hour of the task's work. */
  expectedCost: number;
  expectedCostPerHour: number;
  /** The signals this pool's score used. */
  signals: string[];
}

export interface Exclusion extends Pool {
  reason: string;
}

export interface Ranking {
  /** Usable pools, best (lowest expected cost) first. */
  ranked: ScoredPool[];
  excluded: Exclusion[];
  /** What was relaxed because nothing else was left (a task that failed everywhere starts over). */
  relaxed?: string;
  /** What the ranking did not take at face value: stale placement scores, low scores asked at a larger target capacity than the job needs. */
  notes: string[];
}

export interface Placement {
  pool: Pool;
  price: number;
  /** In words, for the status page: why this pool. */
  why: string;
  /** The same, structured: kept on the attempt and shown in JSON. */
  record: PlacementRecord;
}

const round = (n: number, digits = 6): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** What an interruption throws away: half a checkpoint interval, or (no checkpoints) on average half the work. */
const lostHoursOf = (profile: TaskProfile): number => (profile.checkpointHours !== undefined ? Math.min(profile.checkpointHours, profile.runtimeHours) / 2 : profile.runtimeHours / 2);

/** The fleet's record in a type's other pools among the candidates: interruptions and instance-hours. */
export interface SiblingRecord {
  interruptions: number;
  hours: number;
}

/**
 * Score one pool: expected cost to finish a task of `profile` there. `siblings`, the fleet's record in the
 * type's other candidate pools, moves the advisor's rate before the pool's own record is added: the advisor
 * rates a type in a region, not a zone, so a pool the fleet never ran in starts from what the type did
 * elsewhere, not from the advisor alone (partial pooling, see docs/placement.md).
 */
export function scorePool(price: PoolPrice, signals: PoolSignals | undefined, profile: TaskProfile, siblings?: SiblingRecord): ScoredPool {
  const used = ['price'];
  const bucket = signals?.bucket;
  if (bucket !== undefined) used.push('interruption bucket');
  const advisor = hourlyHazard(BUCKET_MONTHLY[bucket ?? UNKNOWN_BUCKET] ?? BUCKET_MONTHLY[UNKNOWN_BUCKET]);
  // Partial pooling: the advisor's rate (PRIOR_HOURS of observation) updated with the type's other pools, as the prior of this one.
  const pooled = siblings !== undefined && siblings.hours > 0;
  if (pooled) used.push("type's interruptions elsewhere");
  const prior = pooled ? (advisor * PRIOR_HOURS + siblings.interruptions) / (PRIOR_HOURS + siblings.hours) : advisor;
  const observed = signals?.observed;
  if (observed && observed.hours > 0) used.push('own interruptions');
  // Gamma-Poisson: the prior counts as PRIOR_HOURS of observation; the pool's own hours and interruptions add to it.
  const hazardPerHour = (prior * PRIOR_HOURS + (observed?.interruptions ?? 0)) / (PRIOR_HOURS + (observed?.hours ?? 0));
  if (signals?.launchP50Seconds !== undefined) used.push('launch time');
  const score = signals?.score;
  if (score !== undefined) used.push('placement score');
  const launchHours = (signals?.launchP50Seconds ?? DEFAULT_LAUNCH_SECONDS) / 3600;
  // A score of s reads as a launch that succeeds with odds s/10: the failed tries cost time before one succeeds.
  const failedTriesHours = (10 / Math.max(1, score ?? UNKNOWN_SCORE) - 1) * (FAILED_LAUNCH_SECONDS / 3600);
  const startHours = launchHours + failedTriesHours;
  const R = profile.runtimeHours;
  // What an interruption throws away: half a checkpoint interval, or (no checkpoints) on average half the work.
  const lostHours = lostHoursOf(profile);
  // Work, one start, and per expected interruption the lost work and another start.
  const hours = R + startHours + hazardPerHour * R * (lostHours + startHours);
  const expectedCost = price.price * hours;
  return {
    region: price.region,
    zone: price.zone,
    type: price.type,
    price: price.price,
    ...(score !== undefined ? { score } : {}),
    ...(score !== undefined && signals?.scoreTarget !== undefined ? { scoreTarget: signals.scoreTarget } : {}),
    ...(bucket !== undefined ? { bucket } : {}),
    ...(signals?.launchP50Seconds !== undefined ? { launchP50Seconds: signals.launchP50Seconds } : {}),
    hazardPerHour: round(hazardPerHour, 8),
    startHours,
    expectedCost: round(expectedCost),
    expectedCostPerHour: round(expectedCost / R),
    signals: used,
  };
}

const byCost = (a: ScoredPool, b: ScoredPool): number => a.expectedCost - b.expectedCost || poolKey(a).localeCompare(poolKey(b)) || a.region.localeCompare(b.region);

/**
 * Instances the job asks of one pool: its tasks times the largest share a pool may hold (at least 1; 1 when
 * the task count is unknown). A placement score is AWS's odds of getting its target capacity, and a pool that
 * can give T instances can give fewer: a score asked at a target of this many or fewer is an upper bound of
 * the pool's score for the job, so one under the floor proves the pool under it; a score asked at a larger
 * target is a lower bound, and one under the floor proves nothing.
 */
export function poolNeed(taskCount: number | undefined, share: number): number {
  return taskCount === undefined ? 1 : Math.max(1, Math.ceil(taskCount * share - 1e-9));
}

/** The pool's signals without a placement score older than SCORE_MAX_AGE_MS (a score of unknown age is taken). */
function freshSignals(s: PoolSignals | undefined, now: number): { signals: PoolSignals | undefined; stale: boolean } {
  if (!s || s.score === undefined || s.scoreAt === undefined || now - s.scoreAt <= SCORE_MAX_AGE_MS) return { signals: s, stale: false };
  const { score: _s, scoreTarget: _t, scoreAt: _a, ...rest } = s;
  void _s;
  void _t;
  void _a;
  return { signals: rest, stale: true };
}

const DAYS = (ms: number): number => Math.round(ms / 86_400_000);

/** Every candidate pool scored, the excluded ones apart with their reasons. */
export function rankPools(input: PlacementInput): Ranking {
  const now = input.now ?? Date.now();
  const profile = input.profile ?? { runtimeHours: 1 };
  const floor = input.scoreFloor ?? DEFAULT_SCORE_FLOOR;
  const need = poolNeed(input.taskCount, typeof input.maxPoolShare === 'number' ? input.maxPoolShare : SCORE_NEED_SHARE);
  const signalsOf = new Map((input.signals ?? []).map((s) => [`${s.region}|${poolKey(s)}`, s]));
  let stale = 0;
  let unheld = 0;
  // The fleet's record per instance type over the candidates' signals (each pool's prior takes the others': leave-one-out).
  const typeRecord = new Map<string, SiblingRecord>();
  for (const sg of input.signals ?? []) {
    if (!sg.observed || !(sg.observed.hours > 0)) continue;
    const t = typeRecord.get(sg.type) ?? { interruptions: 0, hours: 0 };
    t.interruptions += sg.observed.interruptions;
    t.hours += sg.observed.hours;
    typeRecord.set(sg.type, t);
  }
  const allowed = input.candidates.filter((c) => input.zones === 'auto' || input.zones.includes(c.zone));
  const hard: Exclusion[] = [];
  const soft: Array<{ pool: ScoredPool; reason: string }> = [];
  // `held`: the pool's score, when it can prove the pool under the floor (asked at a target no larger than the need).
  const open: Array<{ pool: ScoredPool; held?: number | undefined }> = [];
  for (const c of allowed) {
    const fresh = freshSignals(signalsOf.get(`${c.region}|${poolKey(c)}`), now);
    const s = fresh.signals;
    if (fresh.stale) stale++;
    const pool = { region: c.region, zone: c.zone, type: c.type };
    const block = input.blockedRegions?.get(c.region);
    if (block && block.until > now) {
      hard.push({ ...pool, reason: `region's spot quota exhausted (${block.reason}) until ${new Date(block.until).toISOString()}` });
      continue;
    }
    if (s?.noCapacityUntil !== undefined && s.noCapacityUntil > now) {
      hard.push({ ...pool, reason: `out of capacity until ${new Date(s.noCapacityUntil).toISOString()}` });
      continue;
    }
    if (input.maxPrice !== undefined && c.price > input.maxPrice) {
      hard.push({ ...pool, reason: `price ${c.price.toFixed(4)} over max price ${input.maxPrice}` });
      continue;
    }
    const own = s?.observed && s.observed.hours > 0 ? s.observed : undefined;
    const all = typeRecord.get(c.type);
    const siblings = all ? { interruptions: all.interruptions - (own?.interruptions ?? 0), hours: all.hours - (own?.hours ?? 0) } : undefined;
    const scored = scorePool(c, s, profile, siblings && siblings.hours > 1e-9 ? siblings : undefined);
    const cooledUntil = input.cooled?.[poolKey(c)];
    if (cooledUntil !== undefined && cooledUntil > now) soft.push({ pool: scored, reason: `cooled down after an interruption until ${new Date(cooledUntil).toISOString()}` });
    else if (input.avoid.includes(poolKey(c))) soft.push({ pool: scored, reason: 'failed this task' });
    else {
      const held = s?.score !== undefined && (s.scoreTarget === undefined || s.scoreTarget <= need) ? s.score : undefined;
      if (s?.score !== undefined && held === undefined && s.score < floor) unheld++;
      open.push({ pool: scored, held });
    }
  }
  // The floor reads against what the collection offers: when it would leave no open pool (a large target
  // capacity scores every single-AZ pool low), the best score there is stands for it, so the floor still
  // parts the weaker pools from the stronger, and cooled or failed pools stay out.
  const underAll = open.length > 0 && open.every((o) => o.held !== undefined && o.held < floor);
  const effectiveFloor = underAll ? Math.max(...open.map((o) => o.held!)) : floor;
  const ranked: ScoredPool[] = [];
  for (const o of open) {
    if (o.held !== undefined && o.held < effectiveFloor) {
      const target = o.pool.scoreTarget !== undefined ? ` at target capacity ${o.pool.scoreTarget}` : '';
      soft.push({ pool: o.pool, reason: `placement score ${o.held}${target} under the floor ${effectiveFloor}` });
    } else ranked.push(o.pool);
  }
  ranked.sort(byCost);
  const notes = [
    stale ? `placement score older than ${DAYS(SCORE_MAX_AGE_MS)} days taken as absent for ${stale} pool(s)` : '',
    unheld ? `placement score under the floor ${floor} not held against ${unheld} pool(s): asked at a target capacity over the ${need} instance(s) the job asks of a pool` : '',
  ].filter(Boolean);
  const excluded = [...hard, ...soft.map(({ pool, reason }) => ({ region: pool.region, zone: pool.zone, type: pool.type, reason }))];
  if (ranked.length || !soft.length) return { ranked, excluded, notes };
  // Every usable pool is cooled, failed this task or scores low: start over with them rather than give up.
  return { ranked: soft.map((s) => s.pool).sort(byCost), excluded: hard, notes, relaxed: `all ${soft.length} usable pool(s) were cooled down, had failed this task or scored under the floor: trying them again` };
}

/**
 * The spread: the best k = ceil(1 / share) pools of those within
 * SPREAD_TOLERANCE of the best expected cost (fewer when fewer are that good:
 * then a pool holds more than the share, and the record says over how many), each given a weight by how
 * cheap it is (1 / expected cost), capped at `share` (water-filling: what the
 * cap takes from one pool goes to the others); task i goes to the pool whose
 * slice of [0, 1) holds frac(i x golden ratio), a low-discrepancy sequence, so
 * any run of consecutive task indexes fills the pools close to their weights
 * without reading which pool the other tasks got.
 */
export function spreadWeights(ranked: readonly ScoredPool[], share: number): number[] {
  // The best pools only: within SPREAD_TOLERANCE of the best expected cost (a far dearer pool is no hedge worth its price).
  const good = ranked.filter((p) => p.expectedCost <= ranked[0]!.expectedCost * (1 + SPREAD_TOLERANCE));
  const k = Math.min(good.length, Math.max(1, Math.ceil(1 / share - 1e-9)));
  const top = good.slice(0, k);
  const raw = top.map((p) => 1 / Math.max(p.expectedCost, 1e-9));
  const weights = new Array<number>(top.length).fill(0);
  let free = top.map((_, i) => i);
  let left = 1;
  // Water-filling: give each free pool its part of what is left; cap those over the share and go again.
  while (free.length) {
    const sum = free.reduce((s, i) => s + raw[i]!, 0);
    const over = free.filter((i) => (raw[i]! / sum) * left > share);
    if (!over.length || top.length * share < 1) {
      for (const i of free) weights[i] = (raw[i]! / sum) * left;
      break;
    }
    for (const i of over) weights[i] = share;
    left -= over.length * share;
    free = free.filter((i) => !over.includes(i));
  }
  return weights;
}

/** How the job's tasks spread: the weights of the best pools (task i goes by slotOf), the most one may hold, and why so many pools. */
export interface SpreadPlan {
  weights: number[];
  maxShare: number;
  /** "instances.maxPoolShare 0.34", or the risk-based rule's figures. */
  reason: string;
}

/** A USD or probability figure in two significant digits ("0.0000018", "0.084"). */
const fig = (x: number): string => (x === 0 ? '0' : x.toPrecision(2).replace(/\.?0+$/, '').replace(/\.?0+e/, 'e'));

/**
 * How many pools the job spreads over. `instances.maxPoolShare` is a hard cap (DEFAULT_MAX_POOL_SHARE when
 * unset), the best ceil(1 / share) good pools (spreadWeights). With "auto" the spread is risk-based: the expected cost
 * per task prices each task's interruptions as if they came one by one, but a pool-wide reclaim takes all
 * of a pool's tasks together, their work lost and their relaunch at once into a market short of that pool.
 * With k pools sharing the job equally, the best pool holds n/k of its n tasks, and a reclaim there
 * (probability p = 1 - exp(-h x R) during a task's runtime R, h the best pool's hazard, the advisor bucket
 * blended with the fleet's record) loses each of them the work L and a start S: p x n/k x price x (L + S).
 * A (k+1)-th pool takes that down to n/(k+1), saving p x price x (L + S) x n / (k (k+1)); it costs its
 * n/(k+1) tasks its premium (c_k+1 - c_1 each, expected cost per task over the best's). So the spread grows
 * while premium < p x price x (L + S) / k, within SPREAD_TOLERANCE of the best and at most one pool a task.
 * The shares are equal. Deterministic: the ranking and the task count decide, no task row.
 */
export function spreadPlan(ranked: readonly ScoredPool[], opts: { maxPoolShare?: number | 'auto' | undefined; profile: TaskProfile; taskCount?: number | undefined }): SpreadPlan {
  const good = ranked.filter((p) => p.expectedCost <= ranked[0]!.expectedCost * (1 + SPREAD_TOLERANCE));
  if (opts.maxPoolShare !== 'auto') {
    const share = opts.maxPoolShare ?? DEFAULT_MAX_POOL_SHARE;
    const weights = spreadWeights(ranked, share);
    const wanted = Math.max(1, Math.ceil(1 / share - 1e-9));
    const fewer = weights.length < wanted ? `, ${good.length} pool(s) within ${Math.round(SPREAD_TOLERANCE * 100)}% of the best expected cost` : '';
    return { weights, maxShare: share, reason: `instances.maxPoolShare ${share}${opts.maxPoolShare === undefined ? ' (the default)' : ''}${fewer}` };
  }
  const best = ranked[0]!;
  const R = opts.profile.runtimeHours;
  const p = 1 - Math.exp(-best.hazardPerHour * R);
  const lossPerTask = best.price * (lostHoursOf(opts.profile) + best.startHours);
  const insured = p * lossPerTask;
  const limit = Math.min(good.length, opts.taskCount ?? Infinity);
  let k = 1;
  let stop: string;
  for (;;) {
    if (k >= limit) {
      stop = k >= good.length ? `no further pool within ${Math.round(SPREAD_TOLERANCE * 100)}% of the best expected cost` : `the job has ${opts.taskCount} task(s)`;
      break;
    }
    const premium = good[k]!.expectedCost - best.expectedCost;
    if (premium >= insured / k) {
      stop = `pool #${k + 1}'s premium ${fig(premium)} USD a task is over the ${fig(insured / k)} it would insure`;
      break;
    }
    k++;
  }
  const risk = `a pool-wide reclaim in the best pool (${fig(p * 100)}% in the task's ${fig(R)} h) would lose each of its tasks ${fig(lossPerTask)} USD of work and relaunch, ${fig(insured)} USD a task expected`;
  return { weights: new Array<number>(k).fill(1 / k), maxShare: round(1 / k, 4), reason: `${risk}; ${stop}` };
}

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/** Which of the weighted pools task `index` goes to. */
export function slotOf(index: number, weights: readonly number[]): number {
  const u = (index * GOLDEN) % 1;
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u < acc) return i;
  }
  return weights.length - 1;
}

function poolRecord(p: ScoredPool): ScoredPoolRecord {
  return {
    region: p.region,
    zone: p.zone,
    type: p.type,
    price: p.price,
    ...(p.score !== undefined ? { score: p.score } : {}),
    ...(p.scoreTarget !== undefined ? { scoreTarget: p.scoreTarget } : {}),
    ...(p.bucket !== undefined ? { bucket: p.bucket } : {}),
    ...(p.launchP50Seconds !== undefined ? { launchP50Seconds: p.launchP50Seconds } : {}),
    hazardPerHour: p.hazardPerHour,
    expectedCost: p.expectedCost,
  };
}

/** A pool in words: "us-east-1a/m5.large 0.0350 USD/h, score 7 (target 10), interruptions <5%, launch 95 s, 0.0412 USD per task". */
export function describePool(p: ScoredPool | ScoredPoolRecord): string {
  return [
    `${poolKey(p)} ${p.price.toFixed(4)} USD/h`,
    p.score !== undefined ? `score ${p.score}${p.scoreTarget !== undefined ? ` (target ${p.scoreTarget})` : ''}` : '',
    p.bucket !== undefined ? `interruptions ${BUCKET_LABELS[p.bucket] ?? '?'}` : '',
    p.launchP50Seconds !== undefined ? `launch ${Math.round(p.launchP50Seconds)} s` : '',
    `${p.expectedCost.toFixed(4)} USD per task`,
  ]
    .filter(Boolean)
    .join(', ');
}

/** "3 out of capacity, 6 in a region at its spot quota (us-east-1)": the excluded pools counted by kind (the regions at their quota named). */
function summarizeExcluded(excluded: readonly Exclusion[]): string {
  const counts = new Map<string, { n: number; regions: Set<string> }>();
  for (const e of excluded) {
    const kind = e.reason.replace(/ (until|\().*$/, '').replace(/^price [\d.]+ over max price.*$/, 'over max price').replace(/^placement score \d+.* under the floor.*$/, 'under the score floor');
    const entry = counts.get(kind) ?? { n: 0, regions: new Set<string>() };
    entry.n++;
    if (e.reason.startsWith("region's spot quota")) entry.regions.add(e.region);
    counts.set(kind, entry);
  }
  return [...counts]
    .map(([k, { n, regions }]) => {
      if (!regions.size) return `${n} ${k}`;
      return `${n} ${regions.size === 1 ? 'in a region at its spot quota' : 'in regions at their spot quota'} (${[...regions].join(', ')})`;
    })
    .join(', ');
}

/** Choose the pool for a task's attempt; throws PermanentError when no pool fits the spec, TransientError when every pool is blocked for now. */
export function choosePool(input: PlacementInput): Placement {
  const { ranked, excluded, relaxed, notes } = rankPools(input);
  if (!ranked.length) {
    if (!input.candidates.length) throw new PermanentError('no spot price for any candidate instance type in the candidate regions and zones');
    const allowed = input.candidates.filter((c) => input.zones === 'auto' || input.zones.includes(c.zone));
    if (input.maxPrice !== undefined && allowed.length && allowed.every((c) => c.price > input.maxPrice!)) {
      throw new PermanentError(`no pool within max price ${input.maxPrice} USD/h (cheapest: ${Math.min(...allowed.map((c) => c.price)).toFixed(4)})`);
    }
    if (!allowed.length) throw new PermanentError('no spot price for any candidate instance type in the candidate regions and zones');
    // Out of capacity or quota everywhere: that passes; the caller asks again later.
    throw new TransientError(`no pool can take the task now: ${summarizeExcluded(excluded)}`);
  }
  const profile = input.profile ?? { runtimeHours: 1 };
  const spread = spreadPlan(ranked, { maxPoolShare: input.maxPoolShare, profile, taskCount: input.taskCount });
  const { weights } = spread;
  const slot = input.taskIndex === undefined ? 0 : slotOf(input.taskIndex, weights);
  const chosen = ranked[slot]!;
  const runnerUp = ranked.find((p) => p !== chosen);
  const signals = [...new Set(ranked.flatMap((p) => p.signals))];
  const record: PlacementRecord = {
    chosen: poolRecord(chosen),
    ...(runnerUp ? { runnerUp: poolRecord(runnerUp) } : {}),
    rank: slot + 1,
    candidates: ranked.length + excluded.length,
    spread: { pools: weights.length, maxShare: spread.maxShare, reason: spread.reason },
    excluded: excluded.slice(0, MAX_EXCLUDED_KEPT).map((e) => ({ region: e.region, zone: e.zone, type: e.type, reason: e.reason })),
    excludedCount: excluded.length,
    signals,
    ...(relaxed ? { relaxed } : {}),
    ...(notes.length ? { notes } : {}),
  };
  const why = [
    slot === 0 ? `lowest expected cost of ${ranked.length} pool(s): ${describePool(chosen)}` : `spread (no pool over ${Math.round(spread.maxShare * 100)}% of the job): #${slot + 1} of ${ranked.length}: ${describePool(chosen)}`,
    runnerUp ? `runner-up ${describePool(runnerUp)}` : '',
    `spread over ${weights.length} pool(s): ${spread.reason}`,
    excluded.length ? `excluded ${summarizeExcluded(excluded)}` : '',
    relaxed ?? '',
    ...notes,
  ]
    .filter(Boolean)
    .join('; ');
  return { pool: { region: chosen.region, zone: chosen.zone, type: chosen.type }, price: chosen.price, why, record };
}

