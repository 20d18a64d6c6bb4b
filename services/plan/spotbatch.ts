/**
 * `spotbatch`: the fleet's own deadline policy. Deadline-aware, multi-pool, and
 * pure (a choice is a function of the PolicyState alone). It is Uniform Progress
 * ("Can't Be Late", NSDI 2024: stay on spot while it lasts, on demand when behind
 * the uniform progress line, a safety net at the last safe moment) wherever the
 * pools' statistics are thin, and departs from it only as far as the evidence
 * carries: each pool is read as a two-state (Markov) process fitted from its
 * AvailabilityStats (mean up run U, mean down run D, availability a = U/(U+D)),
 * and the policy asks whether the spot work to be expected in the time left covers
 * the work left, with a margin of one standard deviation that shrinks as runs are
 * observed. No threshold is fitted to a trace. docs/planner.md explains each rule.
 *
 * Rules, in order:
 * 1. Safety net: the shared `mustGoOnDemand` forces on demand, whatever the market says.
 * 2. Keep what runs on spot while its pool has capacity (a switch costs an overhead).
 * 3. Spot worth starting: an available pool whose expected up run pays its start,
 *    U > d / (1 - k) (k = spot / on-demand price); leaving on demand for it must pay
 *    the way back too, U > 2d / (1 - k), and leave the safety net room for a
 *    preemption (slack > 2d + step). The longest expected up run, then the cheapest.
 *    With no completed up run anywhere (no evidence), from on demand only as Uniform
 *    Progress does: ahead of its line by two overheads.
 * 4. On demand, and no pool worth leaving it for: stay.
 * 5. Off spot with nothing worth starting: wait when the expected spot work in the
 *    time left, less one standard deviation, still covers the work left;
 *    otherwise (and with no statistics) the uniform progress line decides.
 */
import { mustGoOnDemand, type AvailabilityStats, type Choice, type Policy, type PolicyState, type PoolState } from './policy.js';

/** A pool's expected up run (seconds): the observed available time over completed up runs (the maximum-likelihood mean of an exponential run length, the current streak counted as exposure). Unknown (no completed run): infinite, as Uniform Progress treats every pool. */
export function expectedUpRun(stats: AvailabilityStats): number {
  return stats.upRuns > 0 ? stats.availableSeconds / stats.upRuns : Number.POSITIVE_INFINITY;
}

/** A pool's expected down run (seconds), the same way; unknown (no completed down run): undefined. */
function expectedDownRun(stats: AvailabilityStats): number | undefined {
  return stats.downRuns > 0 ? (stats.observedSeconds - stats.availableSeconds) / stats.downRuns : undefined;
}

/** Ahead (positive) or behind the uniform progress line (progress proportional to time, work done at the deadline). */
function progressLead(s: PolicyState): number {
  const line = s.deadline > 0 ? (s.work * s.elapsed) / s.deadline : s.work;
  return s.done - line;
}

/** Whether a spot run in `p` pays for its start (`starts` overheads: 1 from nothing, 2 when it must also pay the way back to on demand). */
function worthIt(s: PolicyState, p: PoolState, starts: number): boolean {
  if (p.spotPrice >= s.onDemandPrice) return false;
  const k = p.spotPrice / s.onDemandPrice;
  return expectedUpRun(p.stats) > (starts * s.overhead) / (1 - k);
}

function bestPool(s: PolicyState, starts: number): PoolState | undefined {
  let best: PoolState | undefined;
  let bestUp = -1;
  for (const p of s.pools) {
    if (!p.available || !worthIt(s, p, starts)) continue;
    const up = expectedUpRun(p.stats);
    if (up > bestUp || (up === bestUp && best && p.spotPrice < best.spotPrice)) {
      best = p;
      bestUp = up;
    }
  }
  return best;
}

/** The spot market the pools make together, as a two-state process: its availability, how often a run on it restarts, and its variance rate. */
export interface SpotOutlook {
  /** Share of time some usable pool has spot (pools as independent: 1 - prod(1 - a_i)). */
  availability: number;
  /** Restarts per second of wall time (each spot run ended by a preemption costs one overhead): availability over the mean up run ridden. */
  restartRate: number;
  /** Variance of the spot time in a window, per second of window (alternating renewal process with exponential runs: 2 U^2 D^2 / (U + D)^3). */
  variance: number;
  /** Seconds the statistics cover (the shortest watch of the pools used): the estimates' own error shrinks with it. */
  watched: number;
}

/**
 * The outlook from the pools that have seen a whole up and down run and whose up runs pay a start (a
 * pool not worth starting brings no spot work). Undefined without any such pool: no evidence.
 */
export function spotOutlook(s: PolicyState): SpotOutlook | undefined {
  let missAll = 1;
  let exitRate = 0; // union down runs end when any pool comes back: rate sum(1 / D_i)
  let aSum = 0;
  let aUSum = 0;
  let watched = Number.POSITIVE_INFINITY;
  let any = false;
  for (const p of s.pools) {
    const st = p.stats;
    const D = expectedDownRun(st);
    if (st.upRuns < 1 || D === undefined || !(st.observedSeconds > 0) || !worthIt(s, p, 1)) continue;
    const U = expectedUpRun(st);
    const a = U / (U + D);
    any = true;
    missAll *= 1 - a;
    exitRate += 1 / D;
    aSum += a;
    aUSum += a * U;
    watched = Math.min(watched, st.observedSeconds);
  }
  if (!any) return undefined;
  const availability = 1 - missAll;
  const ridden = aUSum / aSum; // the mean up run of the pools, weighted by how much of the time each has spot
  const restartRate = availability / ridden;
  const Du = 1 / exitRate;
  const Uu = (availability * Du) / Math.max(1e-12, 1 - availability);
  const variance = (2 * Uu * Uu * Du * Du) / (Uu + Du) ** 3;
  return { availability, restartRate, variance, watched };
}

/**
 * Spot work (seconds) to be expected in a window of `window` seconds, and its standard deviation:
 * a x window less an overhead per restart; the deviation adds the window's own variation to the
 * error of the estimated availability (which shrinks as 1 / sqrt(watched time)).
 */
export function expectedSpotWork(o: SpotOutlook, window: number, overhead: number): { mean: number; sd: number } {
  const w = Math.max(0, window);
  const mean = Math.max(0, o.availability * w - o.restartRate * w * overhead);
  const sd = Math.sqrt(o.variance * w * (1 + w / o.watched));
  return { mean, sd };
}

/**
 * Off spot with nothing worth starting: on demand or wait. With an outlook: wait when the expected
 * spot work in the time the safety net leaves (the time left less a switch and a step), less one
 * standard deviation, covers the work left. Otherwise (and with no outlook) the uniform progress
 * line, with its hysteresis of two overheads once on demand. (A shortfall, the expectation plus one
 * deviation below the work left, does not send the task on demand ahead of the line: it says how
 * much on demand is needed, not when; tried, it put spotbatch above uniform-progress on three traces.)
 */
function needsOnDemand(s: PolicyState): boolean {
  const remaining = s.work - s.done;
  const o = spotOutlook(s);
  if (o) {
    const window = s.deadline - s.elapsed - s.overhead - s.step;
    const { mean, sd } = expectedSpotWork(o, window, s.overhead);
    if (mean - sd >= remaining) return false;
  }
  return progressLead(s) < (s.running.mode === 'on-demand' ? 2 * s.overhead : 0);
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
  const onDemand = running.mode === 'on-demand';
  // Rule 3: start (or move to) the best pool worth it; from on demand it must also pay the way back.
  const roomForMove = slack - (onDemand ? s.pendingOverhead : 0) > 2 * d + s.step;
  if (roomForMove) {
    const evidence = s.pools.some((p) => p.stats.upRuns > 0);
    const need = !onDemand && needsOnDemand(s);
    const pool = bestPool(s, onDemand || need ? 2 : 1);
    // Without evidence, on demand is left as Uniform Progress leaves it: ahead of the line by two overheads.
    if (pool && (!onDemand || evidence || progressLead(s) >= 2 * d)) return { mode: 'spot', pool: pool.id };
  }
  // Rule 4: on demand with nothing worth leaving it for: stay.
  if (onDemand) return running;
  // Rule 5: wait, or on demand.
  return needsOnDemand(s) ? { mode: 'on-demand' } : { mode: 'none' };
}

export const spotbatch: Policy = { name: 'spotbatch', offline: false, decide: decideSpotbatch };
