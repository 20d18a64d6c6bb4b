/**
 * The contract between the deadline policies and whoever drives them: the
 * what-if planner (`spotbatch plan`, a discrete-event simulation over spot
 * traces) and the live fleet (a task of a job with a `deadline`). One
 * implementation per policy; both drivers build a PolicyState and call
 * `decide`, so the same market state gives the same choice in both.
 *
 * The model (the "Can't Be Late" paper's, NSDI 2024): a task needs `work`
 * seconds of compute; progress survives an interruption (checkpointed), but
 * every start or switch costs `overhead` seconds of billed time without
 * progress; spot runs only while its pool has capacity; on-demand always does;
 * whatever runs is billed.
 *
 * Policies are pure: a choice is a function of the state alone, with no memory
 * between calls (hysteresis and "where it ran before" are in the state), so a
 * live task's policy survives a dispatcher restart and two dispatchers agree.
 * This folder is pure computation: no AWS, no clock, no I/O.
 */

/** The policies, in the order tables list them. */
export const POLICY_NAMES = ['on-demand', 'greedy', 'uniform-progress', 'same-pool', 'failover', 'oracle', 'spotbatch'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** What the past says about one pool's spot capacity, as its driver observed it. Seconds throughout. */
export interface AvailabilityStats {
  /** How long the pool has been watched (planner: ticks of the trace since the run's start, times the gap). */
  observedSeconds: number;
  /** Of that, how long spot was available. */
  availableSeconds: number;
  /** Completed available streaks (each ended by a loss of capacity: a preemption for whoever held it). */
  upRuns: number;
  /** Completed unavailable streaks. */
  downRuns: number;
  /** Total length of the completed available streaks (mean = upSeconds / upRuns). */
  upSeconds: number;
  /** Total length of the completed unavailable streaks. */
  downSeconds: number;
  /** How long the current streak (available or not, as `PoolState.available` says) has lasted. */
  streakSeconds: number;
}

export interface PoolState {
  /** The planner: the trace's file name; the live fleet: `zone/type` (model.ts poolKey). */
  id: string;
  /** USD per hour now. */
  spotPrice: number;
  /** Whether spot capacity is there now (the planner: this tick's trace value; the live fleet: the pool is not in the no-capacity cache and placement would try it). */
  available: boolean;
  stats: AvailabilityStats;
}

export type Running = { mode: 'spot'; pool: string } | { mode: 'on-demand' } | { mode: 'none' };

export interface PolicyState {
  /** Seconds since the job (the planner's run) started. */
  elapsed: number;
  /** The deadline, seconds since the same start. */
  deadline: number;
  /** Compute the task needs, seconds. */
  work: number;
  /** Progress that survives an interruption, seconds (<= work). */
  done: number;
  /** Billed seconds without progress that each start or switch costs. */
  overhead: number;
  /** Seconds until the driver asks again (the planner: the trace's gap; the live fleet: its polling interval). */
  step: number;
  /** What runs now: after a preemption, `none`. */
  running: Running;
  /** Overhead of the current start still to be paid before progress resumes (0 when none runs). */
  pendingOverhead: number;
  /** The pool the task last ran on spot in (kept through a preemption or an on-demand spell), if any. */
  lastPool?: string;
  /** Spot preemptions so far. */
  preemptions: number;
  /** USD per hour on demand. */
  onDemandPrice: number;
  /** Every pool the task may use, in the driver's preference order (the planner: the folder's files by name; the live fleet: placement's ranking). */
  pools: PoolState[];
}

/** Run on spot in `pool` (which must be available), on demand, or nothing for now. Choosing what already runs continues it at no cost. */
export type Choice = { mode: 'spot'; pool: string } | { mode: 'on-demand' } | { mode: 'none' };

export interface Policy {
  readonly name: PolicyName;
  /** Whether the policy needs the whole future (the oracle): the planner gives it, the live fleet refuses it. */
  readonly offline: boolean;
  decide(state: PolicyState): Choice;
}

/**
 * Seconds until the last moment on-demand still meets the deadline (0 once it has come): the time left must
 * hold the remaining work plus one overhead (a switch; on demand already, what is left of its start), plus
 * one decision step of slack (the driver only acts on its next look). Shared by every policy's safety net
 * and by the live fleet's waits, so all of them agree on what "safe" means.
 */
export function secondsToSafetyNet(s: PolicyState): number {
  const remaining = Math.max(0, s.work - s.done);
  const switchCost = s.running.mode === 'on-demand' ? s.pendingOverhead : s.overhead;
  return Math.max(0, s.deadline - s.elapsed - (remaining + switchCost + s.step));
}

/** Whether the last safe moment for on demand has come (with work left). */
export function mustGoOnDemand(s: PolicyState): boolean {
  return s.work - s.done > 0 && secondsToSafetyNet(s) === 0;
}
