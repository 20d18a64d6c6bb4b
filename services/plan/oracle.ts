/**
 * The oracle: the offline optimum that knows the whole trace, the limit other
 * policies are measured against. A dynamic programme over ticks whose states
 * are exactly the engine's: (what runs: nothing, on demand or spot in pool p;
 * the overhead still to pay; the progress made), advanced with the engine's
 * own tick accounting (tick.ts), so its plan, replayed by the engine, costs
 * what the programme computed, and no choice sequence (so no policy) does better.
 *
 * Progress is not discretised: it takes only the values the accounting can
 * reach (whole ticks less the overheads paid). What keeps the programme small:
 * - dominance: of two states at one tick with the same mode and pending
 *   overhead, one with no less progress and no more cost is at least as good
 *   (any continuation of the other works for it, and stops no later);
 * - feasibility: a state that could not finish by the deadline even on its
 *   current run with no further overhead is dropped;
 * - a bound: a state whose cost plus its remaining work at the lowest price
 *   of the run is no better than a plan already found is dropped.
 * When no plan meets the deadline, the oracle runs on demand from the start
 * (the earliest finish there is).
 */
import type { Choice, PolicyState } from './policy.js';
import { availableAt, gapOf, spotPriceAt, type OfflinePolicy, type SimInput } from './engine.js';
import { costOf, runTick } from './tick.js';

/** A state of the programme; `mode` is -2 nothing, -1 on demand, p >= 0 spot in pool p. */
interface Node {
  mode: number;
  pending: number;
  done: number;
  cost: number;
  /** The choice of the tick that led here, and the state before it. */
  choice: Choice;
  parent: Node | undefined;
}

const NONE = -2;
const OD = -1;
const EPS = 1e-9;

function planOf(last: Node, tail: Choice): Choice[] {
  const out: Choice[] = [tail];
  for (let n: Node | undefined = last; n?.parent; n = n.parent) out.push(n.choice);
  return out.reverse();
}

/** The cheapest plan that meets the deadline: one choice per tick from the start, ending in the tick the work is done. */
export function oraclePlan(input: SimInput): Choice[] {
  const gap = gapOf(input);
  const { traces, work, deadline, overhead, prices, startTick } = input;
  const P = traces.length;
  const odFinish = work + overhead;
  let bestCost = odFinish <= deadline + EPS ? costOf(odFinish, prices.onDemand) : Infinity;
  let best: Choice[] = [{ mode: 'on-demand' }];
  const allSpot = prices.spot.flatMap((s) => (typeof s === 'number' ? [s] : s));
  const minPrice = Math.min(prices.onDemand, ...allSpot);
  const choiceOf = (mode: number): Choice => (mode === NONE ? { mode: 'none' } : mode === OD ? { mode: 'on-demand' } : { mode: 'spot', pool: traces[mode]!.id });
  const root: Node = { mode: NONE, pending: 0, done: 0, cost: 0, choice: { mode: 'none' }, parent: undefined };
  let frontier: Node[] = [root];
  const ticks = Math.ceil(deadline / gap);
  for (let k = 0; k < ticks && frontier.length; k++) {
    const tick = startTick + k;
    const elapsed = k * gap;
    const avail = traces.map((t) => availableAt(t, tick));
    const next = new Map<string, Node[]>();
    for (const n of frontier) {
      let mode = n.mode;
      let pending = n.pending;
      if (mode >= 0 && !avail[mode]) {
        mode = NONE;
        pending = 0;
      }
      const options: number[] = [NONE, OD];
      for (let p = 0; p < P; p++) if (avail[p]) options.push(p);
      for (const m of options) {
        const pend = m === mode ? pending : m === NONE ? 0 : overhead;
        const choice = choiceOf(m);
        if (m === NONE) {
          if (n.done + (deadline - elapsed - gap) - overhead < work - EPS) continue;
          push(next, { mode: m, pending: 0, done: n.done, cost: n.cost, choice, parent: n });
          continue;
        }
        const price = m === OD ? prices.onDemand : spotPriceAt(prices, m, tick);
        const t = runTick(pend, n.done, work, gap);
        const cost = n.cost + costOf(t.billed, price);
        if (t.finished) {
          if (elapsed + t.billed <= deadline + EPS && cost < bestCost - EPS) {
            bestCost = cost;
            best = planOf(n, choice);
          }
          continue;
        }
        const done = n.done + t.progress;
        const left = pend - t.paid;
        if (done + (deadline - elapsed - gap) - left < work - EPS) continue;
        if (cost + costOf(work - done, minPrice) >= bestCost - EPS) continue;
        push(next, { mode: m, pending: left, done, cost, choice, parent: n });
      }
    }
    frontier = [];
    for (const group of next.values()) frontier.push(...paretoOf(group));
  }
  return best;
}

function push(next: Map<string, Node[]>, n: Node): void {
  const key = `${n.mode}|${n.pending}`;
  const g = next.get(key);
  if (g) g.push(n);
  else next.set(key, [n]);
}

/** The states no other of the group dominates (no less progress at no more cost). */
function paretoOf(group: Node[]): Node[] {
  if (group.length < 2) return group;
  group.sort((a, b) => b.done - a.done || a.cost - b.cost);
  const out: Node[] = [];
  let minCost = Infinity;
  for (const n of group) {
    if (n.cost < minCost - EPS) {
      out.push(n);
      minCost = n.cost;
    }
  }
  return out;
}

export const oracle: OfflinePolicy = {
  name: 'oracle',
  offline: true,
  plan: oraclePlan,
  decide(_s: PolicyState): Choice {
    throw new Error('the oracle is offline: it needs the whole trace, which only the planner has (engine.ts simulate asks it for a plan)');
  },
};
