/**
 * The planner as a library call (`spotbatch plan` is a thin layer over it):
 * load the traces, resample them to one gap, resolve the prices, and run each
 * policy from each start hour.
 */
import { simulate, type SimResult } from './engine.js';
import { POLICIES, policy } from './policies.js';
import { POLICY_NAMES, type Policy } from './policy.js';
import { resolvePrices } from './prices.js';
import { loadTraces, resample } from './trace.js';

export interface PlanOptions {
  /** A trace FILE, or a DIR of them (the pools). */
  trace: string;
  /** Seconds of compute. */
  work: number;
  /** Seconds from each run's start. */
  deadline: number;
  /** Seconds per start or switch. */
  overhead: number;
  /** Policy names, or 'all' (every policy the registry has, in POLICY_NAMES order). */
  policies: string[] | 'all';
  /** Hours into the trace each run starts at. */
  startHours: number[];
  pricesFile?: string;
}

export interface PlanRun {
  trace: string;
  startHours: number;
  policies: Array<Omit<SimResult, 'name'> & { name: string }>;
}

export interface PlanReport {
  runs: PlanRun[];
  /** The common tick of the run, seconds (the smallest gap of the traces). */
  gapSeconds: number;
  /** The pools, in order. */
  pools: string[];
  /** Where the prices came from. */
  pricesSource: string;
  onDemandPrice: number;
  /** Policies `all` left out because the registry lacks them. */
  skipped: string[];
}

export function selectPolicies(names: string[] | 'all'): { policies: Policy[]; skipped: string[] } {
  if (names !== 'all') return { policies: names.map(policy), skipped: [] };
  const policies: Policy[] = [];
  const skipped: string[] = [];
  for (const n of POLICY_NAMES) {
    const p = POLICIES[n];
    if (p) policies.push(p);
    else skipped.push(n);
  }
  return { policies, skipped };
}

export function plan(o: PlanOptions): PlanReport {
  const { policies, skipped } = selectPolicies(o.policies);
  const { gapSeconds, traces } = resample(loadTraces(o.trace));
  const prices = resolvePrices(traces, o.pricesFile !== undefined ? { pricesFile: o.pricesFile } : {});
  const runs = o.startHours.map((h) => {
    const startTick = Math.round((h * 3600) / gapSeconds);
    const input = { traces, startTick, work: o.work, deadline: o.deadline, overhead: o.overhead, prices };
    return { trace: o.trace, startHours: h, policies: policies.map((p) => simulate(p, input)) };
  });
  return { runs, gapSeconds, pools: traces.map((t) => t.id), pricesSource: prices.source, onDemandPrice: prices.onDemand, skipped };
}
