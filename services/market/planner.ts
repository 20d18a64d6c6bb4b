/**
 * The placement-score budget planner: which GetSpotPlacementScores queries to
 * make now, with which credential, so that no credential ever makes more than
 * its budget of queries in a rolling 24 h.
 *
 * A query is one instance type across up to 10 regions (a multi-type query
 * scores the set, not each type) with one target capacity, SingleAvailabilityZone
 * true: one call gives the score of every zone of those regions for that type.
 * Pools here are (region, type). The planner ranks them: the K whose scores
 * moved most the day before, then a random exploration sample of the rest; it
 * packs them greedily into queries (a region joins an open query of its type
 * before a new query is opened), then fills each query's free region slots with
 * more regions of its type (free coverage). Queries go to credentials in order,
 * each up to what its budget has left. Pure: no I/O, randomness from a seed.
 */
import { seededRandom } from '../../shared/backoff.js';

export const MAX_REGIONS_PER_QUERY = 10;

export interface PlannedQuery {
  /** The credential's name (never its secret). */
  credential: string;
  type: string;
  regions: string[];
  targetCapacity: number;
  /** A stable name of the query configuration (the budget ledger's key). */
  config: string;
}

export interface PlanInput {
  /** Every (region, type) the fleet follows. */
  pools: ReadonlyArray<{ region: string; type: string }>;
  /** How much each pool's score moved the day before (absent: unknown, 0). */
  moved: ReadonlyMap<string, number>;
  /** Credentials in rotation order, with how many queries each may still make in the rolling 24 h. */
  credentials: ReadonlyArray<{ name: string; left: number }>;
  /** The most queries this run may make (its share of the day), besides the credentials' budgets. */
  maxQueries: number;
  topK: number;
  explore: number;
  targets: readonly number[];
  /** Types that only job specs name (not market.types): their queries are at most `maxQueries` of the plan. */
  limited?: { types: ReadonlySet<string>; maxQueries: number };
  /** Day number (ms / 86 400 000): the target capacities cycle with it. */
  day: number;
  seed: number;
}

export interface Plan {
  queries: PlannedQuery[];
  /** Pools ranked into the plan: moved most, and sampled. */
  top: string[];
  sampled: string[];
  /** Pools covered by some query (ranked ones and free fill). */
  covered: number;
}

export const poolId = (p: { region: string; type: string }): string => `${p.region}#${p.type}`;

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

export function configKey(q: { type: string; regions: readonly string[]; targetCapacity: number }): string {
  return `${q.type}@${[...q.regions].sort().join(',')}@${q.targetCapacity}@az`;
}

export function plan(input: PlanInput): Plan {
  const rnd = seededRandom(input.seed);
  const budget = Math.max(0, Math.min(input.maxQueries, input.credentials.reduce((a, c) => a + Math.max(0, c.left), 0)));
  const unique = new Map(input.pools.map((p) => [poolId(p), { region: p.region, type: p.type }]));
  const ids = [...unique.keys()].sort();
  // Top K by movement (ties by name, so the plan is reproducible), only pools that moved.
  const ranked = ids.filter((id) => (input.moved.get(id) ?? 0) > 0).sort((a, b) => input.moved.get(b)! - input.moved.get(a)! || a.localeCompare(b));
  const top = ranked.slice(0, input.topK);
  const topSet = new Set(top);
  const sampled = shuffle(ids.filter((id) => !topSet.has(id)), rnd).slice(0, input.explore);

  // Greedy packing: one open query per type until it is full.
  const bins: Array<{ type: string; regions: string[] }> = [];
  const open = new Map<string, { type: string; regions: string[] }>();
  const limited = input.limited;
  let limitedBins = 0;
  for (const id of [...top, ...sampled]) {
    const p = unique.get(id)!;
    let bin = open.get(p.type);
    if (!bin || bin.regions.length >= MAX_REGIONS_PER_QUERY) {
      if (bins.length >= budget) continue;
      const isLimited = limited?.types.has(p.type) === true;
      if (isLimited && limitedBins >= limited.maxQueries) continue;
      if (isLimited) limitedBins++;
      bin = { type: p.type, regions: [] };
      bins.push(bin);
      open.set(p.type, bin);
    }
    bin.regions.push(p.region);
  }
  // Free fill: the other regions of a query's type, at no extra query.
  const inBins = new Set(bins.flatMap((b) => b.regions.map((r) => `${r}#${b.type}`)));
  for (const bin of bins) {
    const more = shuffle(ids.filter((id) => !inBins.has(id) && unique.get(id)!.type === bin.type), rnd);
    for (const id of more) {
      if (bin.regions.length >= MAX_REGIONS_PER_QUERY) break;
      bin.regions.push(unique.get(id)!.region);
      inBins.add(id);
    }
    bin.regions.sort();
  }

  // Credentials in order, each up to what it has left; targets cycle by day and by query.
  const queries: PlannedQuery[] = [];
  const left = input.credentials.map((c) => ({ name: c.name, left: Math.max(0, c.left) }));
  let ci = 0;
  bins.forEach((bin, i) => {
    while (ci < left.length && left[ci]!.left === 0) ci++;
    const cred = left[ci];
    if (!cred) return;
    cred.left--;
    const targetCapacity = input.targets[(input.day + i) % input.targets.length]!;
    queries.push({ credential: cred.name, type: bin.type, regions: bin.regions, targetCapacity, config: configKey({ type: bin.type, regions: bin.regions, targetCapacity }) });
  });
  return { queries, top, sampled, covered: queries.reduce((a, q) => a + q.regions.length, 0) };
}
