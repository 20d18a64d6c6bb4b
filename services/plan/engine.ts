/**
 * The what-if planner's discrete-event simulation of one task under one
 * policy over spot traces (no processes, no clock, no I/O). The model is
 * policy.ts's; the accounting is tick.ts's, shared with the oracle.
 *
 * Each tick of the traces' gap: a spot instance whose pool lost capacity in
 * this tick is preempted (it runs nothing from now on, keeps `lastPool`, and
 * loses what it had not yet paid of its start's overhead); then the policy
 * decides; a choice other than what runs is a (re)start that costs `overhead`
 * of billed time before progress (it may span ticks); whatever runs is billed
 * per second at its price (spot: its pool's price in this tick; on demand: the
 * on-demand price). The run stops when the work is done (the last tick
 * prorated). Past a trace's end its ticks wrap around to its start.
 */
import type { Choice, Policy, PolicyState, PoolState, AvailabilityStats, Running } from './policy.js';
import type { RunPrices } from './prices.js';
import type { Trace } from './trace.js';
import { costOf, runTick } from './tick.js';

export interface SimInput {
  /** The pools, resampled to one gap (trace.ts resample), in preference order. */
  traces: Trace[];
  /** The tick (of the common gap) the run starts at. */
  startTick: number;
  /** Seconds of compute the task needs. */
  work: number;
  /** Seconds from the start. */
  deadline: number;
  /** Billed seconds without progress per start or switch. */
  overhead: number;
  prices: RunPrices;
}

export interface SimResult {
  name: string;
  /** USD. */
  cost: number;
  /** `work` on demand, no overhead, USD. */
  onDemandCost: number;
  costRatio: number;
  finishHours: number;
  deadlineMet: boolean;
  /** Spot preemptions. */
  interruptions: number;
  /** Starts after the first: resumptions after a preemption or a pause, and switches. */
  restarts: number;
  /** Billed hours without progress: every start's overhead, those a preemption cut short included. */
  workLostHours: number;
}

/** A policy that knows the whole input (the oracle): the engine asks it for a plan, one choice per tick, and replays it. */
export interface OfflinePolicy extends Policy {
  plan(input: SimInput): Choice[];
}

const isOffline = (p: Policy): p is OfflinePolicy => p.offline && typeof (p as Partial<OfflinePolicy>).plan === 'function';

export const gapOf = (input: SimInput): number => {
  const gap = input.traces[0]?.gapSeconds;
  if (gap === undefined) throw new Error('no trace: the planner needs at least one pool');
  if (input.traces.some((t) => t.gapSeconds !== gap)) throw new Error('traces of different gaps: resample them first (trace.ts resample)');
  return gap;
};

/** Whether pool `p` has spot in tick `tick` (absolute, wrapping around the trace). */
export const availableAt = (t: Trace, tick: number): boolean => t.available[tick % t.available.length]!;

/** The spot price of pool `p` in tick `tick`, USD/h. */
export function spotPriceAt(prices: RunPrices, p: number, tick: number): number {
  const s = prices.spot[p];
  if (s === undefined) throw new Error(`no spot price for pool ${p}`);
  return typeof s === 'number' ? s : s[tick % s.length]!;
}

/** What a watcher of one pool has seen since the run's start, kept tick by tick. */
class Watcher {
  private cur = false;
  readonly stats: AvailabilityStats = { observedSeconds: 0, availableSeconds: 0, upRuns: 0, downRuns: 0, upSeconds: 0, downSeconds: 0, streakSeconds: 0 };

  see(available: boolean, gap: number): void {
    const s = this.stats;
    if (s.observedSeconds > 0 && available !== this.cur) {
      if (this.cur) {
        s.upRuns += 1;
        s.upSeconds += s.streakSeconds;
      } else {
        s.downRuns += 1;
        s.downSeconds += s.streakSeconds;
      }
      s.streakSeconds = 0;
    }
    this.cur = available;
    s.observedSeconds += gap;
    if (available) s.availableSeconds += gap;
    s.streakSeconds += gap;
  }
}

const sameRun = (a: Running, b: Choice): boolean => a.mode === b.mode && (a.mode !== 'spot' || (b.mode === 'spot' && a.pool === b.pool));

export function simulate(policy: Policy, input: SimInput): SimResult {
  const gap = gapOf(input);
  const { traces, work, deadline, overhead, prices, startTick } = input;
  if (!(work > 0)) throw new Error(`work must be positive, got ${work}`);
  if (!Number.isInteger(startTick) || startTick < 0) throw new Error(`startTick must be a whole number >= 0, got ${startTick}`);
  if (prices.spot.length !== traces.length) throw new Error('one spot price (or price list) per trace');
  const plan = isOffline(policy) ? policy.plan(input) : undefined;
  const decide = plan ? (_s: PolicyState, k: number): Choice => plan[k] ?? { mode: 'on-demand' } : (s: PolicyState): Choice => policy.decide(s);
  const watchers = traces.map(() => new Watcher());
  const index = new Map(traces.map((t, i) => [t.id, i]));
  let running: Running = { mode: 'none' };
  let pending = 0;
  let done = 0;
  let lastPool: string | undefined;
  let preemptions = 0;
  let starts = 0;
  let cost = 0;
  let lost = 0;
  // A policy with a safety net is on demand by the deadline at the latest; this bound only stops a broken one.
  const maxTicks = Math.ceil((Math.max(deadline, 0) + 2 * (work + overhead)) / gap) + 2;
  for (let k = 0; k < maxTicks; k++) {
    const tick = startTick + k;
    const elapsed = k * gap;
    const avail = traces.map((t) => availableAt(t, tick));
    watchers.forEach((w, i) => w.see(avail[i]!, gap));
    if (running.mode === 'spot' && !avail[index.get(running.pool)!]) {
      running = { mode: 'none' };
      pending = 0;
      preemptions += 1;
    }
    const pools: PoolState[] = traces.map((t, i) => ({ id: t.id, spotPrice: spotPriceAt(prices, i, tick), available: avail[i]!, stats: { ...watchers[i]!.stats } }));
    const state: PolicyState = {
      elapsed,
      deadline,
      work,
      done,
      overhead,
      step: gap,
      running,
      pendingOverhead: pending,
      ...(lastPool !== undefined ? { lastPool } : {}),
      preemptions,
      onDemandPrice: prices.onDemand,
      pools,
    };
    const choice = decide(state, k);
    if (choice.mode === 'spot') {
      const p = index.get(choice.pool);
      if (p === undefined) throw new Error(`policy ${policy.name} chose pool ${choice.pool}, which is not one of the traces`);
      if (!avail[p]) throw new Error(`policy ${policy.name} chose spot in ${choice.pool} at ${(elapsed / 3600).toFixed(3)} h, where the trace has no capacity (a policy bug)`);
    }
    if (!sameRun(running, choice)) {
      running = choice.mode === 'spot' ? { mode: 'spot', pool: choice.pool } : { mode: choice.mode };
      pending = choice.mode === 'none' ? 0 : overhead;
      if (choice.mode !== 'none') starts += 1;
      if (choice.mode === 'spot') lastPool = choice.pool;
    }
    if (running.mode === 'none') continue;
    const price = running.mode === 'spot' ? spotPriceAt(prices, index.get(running.pool)!, tick) : prices.onDemand;
    const t = runTick(pending, done, work, gap);
    pending -= t.paid;
    done += t.progress;
    lost += t.paid;
    cost += costOf(t.billed, price);
    if (t.finished) {
      const finish = elapsed + t.billed;
      const onDemandCost = costOf(work, prices.onDemand);
      return {
        name: policy.name,
        cost,
        onDemandCost,
        costRatio: onDemandCost > 0 ? cost / onDemandCost : 0,
        finishHours: finish / 3600,
        deadlineMet: finish <= deadline + 1e-9,
        interruptions: preemptions,
        restarts: Math.max(0, starts - 1),
        workLostHours: lost / 3600,
      };
    }
  }
  throw new Error(`policy ${policy.name} did not finish ${(work / 3600).toFixed(2)} h of work within ${((maxTicks * gap) / 3600).toFixed(1)} h (a policy bug: every policy's safety net goes on demand by the deadline)`);
}
