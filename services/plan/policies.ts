/**
 * The deadline policies (the model and the contract are policy.ts's) and
 * their registry. Each is a pure function of a PolicyState. Every policy but
 * `on-demand` shares policy.ts's safety net: on demand at the last safe moment,
 * and stay.
 */
import { mustGoOnDemand, type Choice, type Policy, type PolicyName, type PolicyState, type PoolState } from './policy.js';
import { oracle } from './oracle.js';
import { spotbatch } from './spotbatch.js';

const ON_DEMAND: Choice = { mode: 'on-demand' };
const NONE: Choice = { mode: 'none' };
const spot = (pool: string): Choice => ({ mode: 'spot', pool });

/**
 * The safety net: on demand when waiting any longer could miss the deadline, and, once there, stay
 * (on demand, the condition as if it were not running stays true: time and remaining work fall together).
 */
export function safetyNet(s: PolicyState): boolean {
  return mustGoOnDemand(s) || (s.running.mode === 'on-demand' && mustGoOnDemand({ ...s, running: { mode: 'none' }, pendingOverhead: 0 }));
}

const firstAvailable = (pools: PoolState[]): PoolState | undefined => pools.find((p) => p.available);

/** Spot while the instance lives (a preempted one is `none` by the time the policy is asked). */
const onLiveSpot = (s: PolicyState): boolean => s.running.mode === 'spot';

export const onDemandPolicy: Policy = {
  name: 'on-demand',
  offline: false,
  decide: () => ON_DEMAND,
};

/** Spot whenever some pool has it (the first in order), wait otherwise; the safety net. */
export const greedy: Policy = {
  name: 'greedy',
  offline: false,
  decide(s) {
    if (safetyNet(s) || s.running.mode === 'on-demand') return ON_DEMAND;
    if (onLiveSpot(s)) return s.running;
    const p = firstAvailable(s.pools);
    return p ? spot(p.id) : NONE;
  },
};

/** Where the uniform progress line is now: the progress that spreads the work evenly up to the deadline. */
export const progressLine = (s: PolicyState): number => (s.deadline > 0 ? (s.work * s.elapsed) / s.deadline : s.work);

/**
 * "Can't Be Late" (Wu et al., NSDI 2024), Uniform Progress with its four rules: (1) stay on spot
 * while it lasts; (2) off spot and behind the line (done < work * elapsed / deadline), go on demand,
 * else take spot where there is some (or wait); (3) hysteresis: once on demand, stay until ahead of
 * the line by 2 overheads (and spot is there); (4) the safety net.
 */
export const uniformProgress: Policy = {
  name: 'uniform-progress',
  offline: false,
  decide(s) {
    if (safetyNet(s)) return ON_DEMAND;
    if (onLiveSpot(s)) return s.running;
    const line = progressLine(s);
    const p = firstAvailable(s.pools);
    if (s.running.mode === 'on-demand') return p && s.done >= line + 2 * s.overhead ? spot(p.id) : ON_DEMAND;
    if (p) return spot(p.id);
    return s.done < line ? ON_DEMAND : NONE;
  },
};

/** After a preemption, wait for the same pool (the original microservices batch manager's resubmission); the safety net. */
export const samePool: Policy = {
  name: 'same-pool',
  offline: false,
  decide(s) {
    if (safetyNet(s) || s.running.mode === 'on-demand') return ON_DEMAND;
    if (onLiveSpot(s)) return s.running;
    if (s.lastPool !== undefined) return s.pools.find((p) => p.id === s.lastPool)?.available ? spot(s.lastPool) : NONE;
    const p = firstAvailable(s.pools);
    return p ? spot(p.id) : NONE;
  },
};

/** After a preemption, the next pool in order that has spot, the preempted one last (SkyPilot's EAGER_NEXT_REGION); the safety net. */
export const failover: Policy = {
  name: 'failover',
  offline: false,
  decide(s) {
    if (safetyNet(s) || s.running.mode === 'on-demand') return ON_DEMAND;
    if (onLiveSpot(s)) return s.running;
    const from = s.lastPool === undefined ? 0 : s.pools.findIndex((p) => p.id === s.lastPool) + 1;
    const order = [...s.pools.slice(from), ...s.pools.slice(0, from)];
    const p = firstAvailable(order);
    return p ? spot(p.id) : NONE;
  },
};

/** The registry. `spotbatch` is the fleet's own policy (services/plan/spotbatch.ts). */
export const POLICIES: Partial<Record<PolicyName, Policy>> = {
  'on-demand': onDemandPolicy,
  greedy,
  'uniform-progress': uniformProgress,
  'same-pool': samePool,
  failover,
  oracle,
  spotbatch,
};

export function policy(name: string): Policy {
  const p = (POLICIES as Partial<Record<string, Policy>>)[name];
  if (!p) {
    const known = Object.keys(POLICIES).join(', ');
    throw new Error(name === 'spotbatch' ? 'policy spotbatch: not built yet' : `no policy ${JSON.stringify(name)}: one of ${known}`);
  }
  return p;
}
