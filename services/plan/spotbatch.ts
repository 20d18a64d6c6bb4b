/**
 * `spotbatch`: the fleet's own deadline policy. Deadline-aware, multi-pool, and
 * pure (a choice is a function of the PolicyState alone). It starts from
 * Uniform Progress ("Can't Be Late", NSDI 2024: stay on spot while it lasts,
 * on demand when behind the uniform progress line, a safety net at the last
 * safe moment) and adds what several pools and their observed statistics allow.
 * Every threshold comes from the model (prices, the overhead, the decision step,
 * the slack left, a pool's observed mean up and down runs); none is fitted to a
 * trace. docs/planner.md explains each rule.
 *
 * Rules, in order:
 * 1. Safety net: the shared `mustGoOnDemand` (the last moment on-demand still
 *    meets the deadline) forces on-demand, whatever the market says.
 * 2. Keep what runs on spot while its pool has capacity (a switch costs an overhead).
 * 3. Spot worth starting: an available pool whose expected up run makes spot
 *    cheaper per second of progress than on demand, once the start's overhead
 *    is paid: U > d / (1 - k), k = spot / on-demand price. Leaving on-demand for
 *    it must also recoup the overhead of coming back: U > 2d / (1 - k). A move
 *    must leave the safety net room for the switch back (slack > 2d + step).
 *    The best such pool (longest expected up run, then cheapest) is taken.
 * 4. On demand, and no pool worth leaving it for: stay (leaving it for nothing
 *    only to come back costs two overheads, as Uniform Progress also holds).
 * 5. Nothing worth running on spot: wait while the slack spare over what the
 *    safety net keeps covers the expected rest of the shortest gap among the
 *    pools (short gaps are waited out, not bridged on demand at the price of two
 *    switches); otherwise go on demand if behind the uniform progress line, as
 *    Uniform Progress does, and wait if ahead of it.
 */
import { mustGoOnDemand, type AvailabilityStats, type Choice, type Policy, type PolicyState, type PoolState } from './policy.js';

/** A pool's expected up run (seconds): the observed available time over completed up runs (the maximum-likelihood mean of an exponential run length, the current streak counted as exposure). Unknown (no completed run): infinite, as Uniform Progress treats every pool. */
export function expectedUpRun(stats: AvailabilityStats): number {
  return stats.upRuns > 0 ? stats.availableSeconds / stats.upRuns : Number.POSITIVE_INFINITY;
}

/** Behind the uniform progress line (progress proportional to time, work done at the deadline). */
function progressLead(s: PolicyState): number {
  const line = s.deadline > 0 ? (s.work * s.elapsed) / s.deadline : s.work;
  return s.done - line;
}

function bestPool(s: PolicyState, minUpRun: number): PoolState | undefined {
  let best: PoolState | undefined;
  let bestUp = -1;
  for (const p of s.pools) {
    if (!p.available || p.spotPrice >= s.onDemandPrice) continue;
    const up = expectedUpRun(p.stats);
    const k = p.spotPrice / s.onDemandPrice;
    if (!(up > minUpRun / (1 - k))) continue;
    if (up > bestUp || (up === bestUp && best && p.spotPrice < best.spotPrice)) {
      best = p;
      bestUp = up;
    }
  }
  return best;
}

export function decideSpotbatch(s: PolicyState): Choice {
  const remaining = s.work - s.done;
  if (remaining <= 0) return { mode: 'none' };
  // Rule 1: the safety net.
  if (mustGoOnDemand(s)) return { mode: 'on-demand' };
  const running = s.running;
  // Rule 2: keep a spot run while its pool lasts.
  if (running.mode === 'spot') {
    const pool = s.pools.find((p) => p.id === running.pool);
    if (pool?.available) return running;
  }
  const d = s.overhead;
  const slack = s.deadline - s.elapsed - remaining;
  // Rule 3: start (or move to) the best pool worth it; from on-demand it must also pay the way back.
  const onDemand = running.mode === 'on-demand';
  const roomForMove = slack - (onDemand ? s.pendingOverhead : 0) > 2 * d + s.step;
  const need = needsOnDemand(s);
  if (roomForMove) {
    // From on demand, or where a preemption would send the task back to on demand, the way back is paid too.
    const pool = bestPool(s, onDemand || need ? 2 * d : d);
    if (pool) return { mode: 'spot', pool: pool.id };
  }
  // Rules 4 and 5: nothing worth starting on spot now.
  if (onDemand) return running;
  return need ? { mode: 'on-demand' } : { mode: 'none' };
}

/**
 * The slack (seconds) kept beyond the safety net's for the rest of the work: every preemption met on
 * the way costs two overheads of slack (the switch to on demand, then the spot restart), and the work
 * left meets about remaining / (expected up run) of them. With no completed up run, none is expected.
 */
export function excursionReserve(s: PolicyState): number {
  const remaining = Math.max(0, s.work - s.done);
  let up = 0;
  for (const p of s.pools) up = Math.max(up, expectedUpRun(p.stats));
  const expected = up > 0 && up !== Number.POSITIVE_INFINITY ? Math.ceil(remaining / up) : 1;
  return 2 * s.overhead * Math.max(1, expected);
}

/**
 * The share of time some pool had spot, as far as the pools' statistics tell (pools taken as
 * independent: 1 - product of their unavailable shares); undefined before any pool has seen a whole
 * up and down cycle.
 */
export function observedAvailability(s: PolicyState): number | undefined {
  let missAll = 1;
  let known = false;
  for (const p of s.pools) {
    const st = p.stats;
    if (st.upRuns < 1 || st.downRuns < 1 || !(st.observedSeconds > 0)) continue;
    known = true;
    missAll *= 1 - st.availableSeconds / st.observedSeconds;
  }
  return known ? 1 - missAll : undefined;
}

/**
 * On demand when spot has nothing worth running now:
 * - always once the slack is down to the safety net's plus the excursion reserve;
 * - never while the slack spare over that covers the waiting that finishing on spot alone is
 *   expected to need (each second of spot work comes with (1 - a) / a seconds of waiting at the
 *   observed availability a): the slack is large, gaps are waited out;
 * - otherwise by the uniform progress line, with its hysteresis of two overheads once on demand.
 */
function needsOnDemand(s: PolicyState): boolean {
  const remaining = s.work - s.done;
  const slack = s.deadline - s.elapsed - remaining;
  const floor = s.overhead + 2 * s.step + excursionReserve(s);
  if (slack <= floor) return true;
  const a = observedAvailability(s);
  if (a !== undefined && a > 0 && slack - floor >= (remaining * (1 - a)) / a) return false;
  return progressLead(s) < (s.running.mode === 'on-demand' ? 2 * s.overhead : 0);
}

export const spotbatch: Policy = { name: 'spotbatch', offline: false, decide: decideSpotbatch };
