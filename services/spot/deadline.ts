/**
 * A job's deadline in the live fleet: the PolicyState of a task (services/plan/policy.ts) built from its
 * rows, the market and the clock, and the choice the deadline policy makes from it. The same state a
 * planner builds from a trace for the same market state, so the same policy code gives the same choice in
 * both (docs/planner.md, "Deadlines in the live fleet").
 *
 * Decision points: spot.request (a new attempt: spot, on demand, or wait), the no-pool wait's
 * redeliveries (where the safety net fires for a task waiting for capacity) and step.check (a spot attempt
 * that runs is moved on demand when the policy says so).
 */
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { poolKey, type Attempt } from '../model/model.js';
import { tasks, type JobRow, type TaskRow } from '../model/repo.js';
import { releaseStandby, terminateInstance } from '../ec2/cleanup.js';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { beginNoticeSave, saveLeaseName } from '../checkpoint/lifecycle.js';
import { taskWorkSeconds } from '../model/deadline.js';
import { jobRegions } from '../model/regions.js';
import { spotbatch } from '../plan/spotbatch.js';
import { progressLine } from '../plan/policies.js';
import { mustGoOnDemand, type AvailabilityStats, type Choice, type PolicyState, type PoolState } from '../plan/policy.js';
import { loadOnDemandPrices, type OnDemandPrices } from '../../shared/ondemand-prices.js';
import { rankPools, type ScoredPool } from './placement.js';
import { currentPrices, type PoolPrice } from './pricing.js';
import { marketOf, recordRunEnd } from './market-link.js';
import type { PoolSignals } from '../market/signals.js';
import { backoffSeconds, fullJitter } from '../../shared/backoff.js';

type Ctx = HandlerContext<FleetCatalog>;

/** The reason an attempt ended when the deadline moved its task on demand (spot.request keeps such a task there). */
export const DEADLINE_MOVE_REASON = 'deadline: moved on demand';

/** What the live fleet knows of a task at a decision point, everything the state is built from (no I/O). */
export interface LiveSituation {
  now: number;
  submittedAt: number;
  deadlineAt: number;
  /** Seconds of compute the task needs (taskWorkSeconds). */
  work: number;
  /** Whether the spec checkpoints: then saved work survives an attempt; otherwise a restart starts over. */
  checkpointed: boolean;
  /** The task's attempts, oldest first, and its state. */
  attempts: readonly Attempt[];
  taskState: string;
  /** The task's `checkpoint.saved` events: which attempt saved, when (epoch ms). */
  saves: ReadonlyArray<{ attempt: number; at: number }>;
  /** Seconds a start costs before progress (deadlineOverhead: the larger of the best pool's launch median and lifecycle.deadlineOverheadSeconds, plus a checkpoint save's grace). */
  overhead: number;
  /** Seconds until the fleet looks again (lifecycle.pollSeconds). */
  step: number;
  preemptions: number;
  onDemandPrice: number;
  /** Placement's ranking, best first, and whether each pool is usable now. */
  pools: ReadonlyArray<{ id: string; spotPrice: number; available: boolean }>;
}

const OPEN_STATES = new Set(['waiting', 'starting', 'running']);
const isSpot = (a: Attempt): boolean => a.market !== 'on-demand';
const got = (a: Attempt): number | undefined => a.fulfilledAt ?? a.runningAt;

/**
 * What the task's attempts say of one pool's spot capacity: from the first request there, a pool is seen
 * available from each request it fulfilled to that attempt's end; an attempt interrupted there ends an
 * available streak, and the time from then to the next fulfilment there is an unavailable one. A pool the
 * task never asked is unobserved (zeros).
 */
export function observedStats(attempts: readonly Attempt[], id: string, available: boolean, now: number): AvailabilityStats {
  const here = attempts.filter((a) => isSpot(a) && poolKey(a.pool) === id);
  const stats: AvailabilityStats = { observedSeconds: 0, availableSeconds: 0, upRuns: 0, downRuns: 0, upSeconds: 0, downSeconds: 0, streakSeconds: 0 };
  if (!here.length) return stats;
  stats.observedSeconds = (now - Math.min(...here.map((a) => a.requestedAt))) / 1000;
  let downSince: number | undefined;
  let current: number | undefined;
  for (const a of here.filter((x) => got(x) !== undefined).sort((x, y) => x.requestedAt - y.requestedAt)) {
    if (downSince !== undefined) {
      stats.downRuns++;
      stats.downSeconds += (a.requestedAt - downSince) / 1000;
      downSince = undefined;
    }
    const up = ((a.endedAt ?? now) - a.requestedAt) / 1000;
    stats.availableSeconds += up;
    if (a.outcome === 'interrupted') {
      stats.upRuns++;
      stats.upSeconds += up;
      downSince = a.endedAt;
    } else if (a.endedAt === undefined) current = a.requestedAt;
  }
  if (available && current !== undefined) stats.streakSeconds = (now - current) / 1000;
  else if (!available && downSince !== undefined) stats.streakSeconds = (now - downSince) / 1000;
  return stats;
}

/** The PolicyState of a task (services/plan/policy.ts) from what the fleet knows of it. Pure. */
export function livePolicyState(s: LiveSituation): PolicyState {
  const current = s.attempts[s.attempts.length - 1];
  const open = current && current.endedAt === undefined && OPEN_STATES.has(s.taskState) ? current : undefined;
  const running: PolicyState['running'] = !open ? { mode: 'none' } : isSpot(open) ? { mode: 'spot', pool: poolKey(open.pool) } : { mode: 'on-demand' };
  // Work kept: with checkpoints, each attempt's running time up to its last save (its restore carried what came before).
  let done = 0;
  if (s.checkpointed) {
    for (const a of s.attempts) {
      if (a.startedAt === undefined) continue;
      const last = Math.max(-Infinity, ...s.saves.filter((v) => v.attempt === a.n && v.at >= a.startedAt!).map((v) => v.at));
      // A notice's save is recorded after the attempt ended; what it holds ran until the end.
      if (Number.isFinite(last)) done += (Math.min(last, a.endedAt ?? s.now) - a.startedAt) / 1000;
    }
  }
  const lastSpot = [...s.attempts].reverse().find((a) => isSpot(a) && a.runningAt !== undefined);
  return {
    elapsed: (s.now - s.submittedAt) / 1000,
    deadline: (s.deadlineAt - s.submittedAt) / 1000,
    work: s.work,
    done: Math.min(s.work, done),
    overhead: s.overhead,
    step: s.step,
    running,
    pendingOverhead: open && open.startedAt === undefined ? Math.max(0, s.overhead - (s.now - open.requestedAt) / 1000) : 0,
    ...(lastSpot ? { lastPool: poolKey(lastSpot.pool) } : {}),
    preemptions: s.preemptions,
    onDemandPrice: s.onDemandPrice,
    pools: s.pools.map((p): PoolState => ({ id: p.id, spotPrice: p.spotPrice, available: p.available, stats: observedStats(s.attempts, p.id, p.available, s.now) })),
  };
}

/**
 * The deadline policy's choice for a state: the fleet's own `spotbatch` policy (services/plan/spotbatch.ts),
 * the same code `spotbatch plan` runs over traces. One rule is the live fleet's own: a task that runs on
 * demand stays there (moving a running on-demand task back to spot would cost a migration the fleet does not
 * make; the planner's policy may leave on demand for a pool worth it). Of a spot choice the live fleet takes
 * the mode; placement picks the pool, from the same ranking the policy was given.
 */
export function deadlineChoice(s: PolicyState): Choice {
  if (s.running.mode === 'on-demand') return { mode: 'on-demand' };
  return spotbatch.decide(s);
}

/** Why a choice, in numbers: what the event `deadline.on-demand` records. */
export function deadlineWhy(s: PolicyState, choice: Choice): { reason: string; timeLeftSeconds: number; workLeftSeconds: number; overheadSeconds: number } {
  const timeLeft = Math.round(s.deadline - s.elapsed);
  const workLeft = Math.round(Math.max(0, s.work - s.done));
  const due = Math.round(progressLine(s));
  const reason =
    choice.mode === 'on-demand' && mustGoOnDemand(s)
      ? `safety net: ${timeLeft} s to the deadline hold no more than the ${workLeft} s of work left, a ${Math.round(s.overhead)} s start and a ${s.step} s look`
      : choice.mode === 'on-demand' && s.done < due
        ? `behind the uniform-progress line with no spot worth starting: ${Math.round(s.done)} s of work done, ${due} s due by now`
        : `the spotbatch policy chose ${choice.mode}`;
  return { reason, timeLeftSeconds: timeLeft, workLeftSeconds: workLeft, overheadSeconds: Math.round(s.overhead) };
}


/** Past the last safe moment a waiting task (no on-demand capacity, say) backs off: 2 s doubling to 60 s, full jitter (at least 1 s). */
export const PAST_NET_BACKOFF = fullJitter({ base: 2, cap: 60, min: 1 });

/**
 * The next look of a deadline task that waits (no spot it may use, no on-demand capacity, a failing read):
 * before the last safe moment, every `retrySeconds` and never later than that moment; past it, a jittered
 * backoff by the time waited past it (so a market without on-demand capacity is not asked once a second);
 * and the wait ends, `{ fail }`, at its bound: the deadline plus lifecycle.noPoolWaitSeconds. `toNetSeconds`
 * undefined when the decision could not be made (then the backoff). Pure, but for `random`.
 */
export function deadlineWait(o: { now: number; deadlineAt: number; limitSeconds: number; toNetSeconds: number | undefined; pastNetSince: number; retrySeconds: number; random?: () => number }): { delaySeconds: number } | { fail: string } {
  const bound = o.deadlineAt + o.limitSeconds * 1000;
  if (o.now >= bound) return { fail: `the deadline (${new Date(o.deadlineAt).toISOString()}) and lifecycle.noPoolWaitSeconds ${o.limitSeconds} after it are past` };
  const untilBound = Math.max(1, Math.ceil((bound - o.now) / 1000));
  if (o.toNetSeconds !== undefined && o.toNetSeconds >= 1) return { delaySeconds: Math.max(1, Math.min(o.retrySeconds, Math.floor(o.toNetSeconds), untilBound)) };
  const tries = Math.floor(Math.log2(1 + Math.max(0, o.now - o.pastNetSince) / 1000));
  return { delaySeconds: Math.max(1, Math.min(backoffSeconds(tries, PAST_NET_BACKOFF, o.random), untilBound)) };
}

/**
 * Seconds a start costs at the last safe moment: the larger of the best pool's launch median and
 * lifecycle.deadlineOverheadSeconds (a median alone leaves half of the launches later than the margin), plus,
 * with checkpoints, the notice save's grace a move waits for before the next attempt restores. Pure.
 */
export function deadlineOverhead(launchP50Seconds: number | undefined, overheadSeconds: number, saveGraceSeconds: number): number {
  return Math.max(launchP50Seconds ?? 0, overheadSeconds) + saveGraceSeconds;
}

let listPrices: OnDemandPrices | undefined;

/** Where and at what price the task would run on demand: the cheapest list price of the job's types, in the zone placement ranks first for that type. */
export interface OnDemandTarget {
  region: string;
  zone: string;
  type: string;
  price: number;
  /** Whether `price` is a list price (shipped or collected); otherwise a stand-in, said by `priceSource`. */
  priceKnown: boolean;
  priceSource: string;
  /** The price passes the spec's instances.maxPrice (on demand still launches there: the deadline comes first; the attempt's placement says so). */
  overMaxPrice: boolean;
}

/**
 * The on-demand options of a job, best first: pools with a known list price (data/market/prices/ondemand_prices.csv,
 * or the market store's collected one) before pools without one, pools the task has not failed in (task.avoid)
 * before those it has, then by price, then placement's rank of the zone. Where no list price is known, the
 * spec's instances.maxPrice, else the highest live spot price of the type (a spot request's max price defaults to
 * the on-demand price, so that is the most the job was ready to pay), marked as assumed.
 */
export function onDemandTargets(
  spec: JobRow['spec'],
  candidates: readonly PoolPrice[],
  signals: readonly PoolSignals[],
  ranked: readonly Pick<ScoredPool, 'region' | 'zone' | 'type'>[],
  prices: OnDemandPrices,
  avoid: readonly string[] = [],
): OnDemandTarget[] {
  const rank = new Map(ranked.map((p, i) => [`${p.region}|${poolKey(p)}`, i]));
  const avoided = new Set(avoid);
  const maxPrice = spec.instances.maxPrice;
  const priceOf = (region: string, type: string): { price: number; priceKnown: boolean; priceSource: string } => {
    const listed = prices(region, type) ?? signals.find((s) => s.region === region && s.type === type && s.onDemand !== undefined)?.onDemand;
    if (listed !== undefined) return { price: listed, priceKnown: true, priceSource: 'list price' };
    if (maxPrice !== undefined) return { price: maxPrice, priceKnown: false, priceSource: "the spec's instances.maxPrice" };
    return { price: Math.max(...candidates.filter((c) => c.region === region && c.type === type).map((c) => c.price)), priceKnown: false, priceSource: 'the highest live spot price of the type' };
  };
  const allowed = candidates.filter((c) => spec.instances.zones === 'auto' || spec.instances.zones.includes(c.zone));
  return allowed
    .map((c) => {
      const p = priceOf(c.region, c.type);
      return { region: c.region, zone: c.zone, type: c.type, ...p, overMaxPrice: p.priceKnown && maxPrice !== undefined && p.price > maxPrice, avoided: avoided.has(poolKey(c)), rank: rank.get(`${c.region}|${poolKey(c)}`) ?? Infinity };
    })
    .sort((a, b) => Number(b.priceKnown) - Number(a.priceKnown) || Number(a.avoided) - Number(b.avoided) || a.price - b.price || a.rank - b.rank || a.zone.localeCompare(b.zone) || a.type.localeCompare(b.type))
    .map(({ region, zone, type, price, priceKnown, priceSource, overMaxPrice }) => ({ region, zone, type, price, priceKnown, priceSource, overMaxPrice }));
}

export interface DeadlineDecision {
  state: PolicyState;
  choice: Choice;
  /** The choice in words and numbers (the event `deadline.on-demand`'s data). */
  why: ReturnType<typeof deadlineWhy>;
  /** Where it would run on demand, best first. */
  targets: OnDemandTarget[];
}

/** The task's deadline decision now, from its rows and the market; undefined for a job without a deadline. */
export async function deadlineDecision(ctx: Ctx, job: JobRow, task: TaskRow): Promise<DeadlineDecision | undefined> {
  if (job.deadlineAt === undefined) return undefined;
  const spec = job.spec;
  const now = ctx.clock.now();
  const cloud = ctx.cloud;
  const regions = jobRegions(spec, ctx.config, job.regions);
  const candidates = cloud ? (await Promise.all(regions.map((r) => currentPrices({ cloud, resources: ctx.resources }, r, spec.instances.types, now)))).flat() : [];
  let signals: PoolSignals[] = [];
  let blocked = new Map<string, { until: number; reason: string }>();
  try {
    const market = marketOf(ctx);
    [signals, blocked] = await Promise.all([market.pools(regions, spec.instances.types, now), market.blockedRegions(now)]);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'market signals unreadable: the deadline policy reads the live prices alone');
  }
  // Usable now: what placement would try, leaving out only what cannot take a task (no capacity, quota, price).
  const ranking = rankPools({
    candidates,
    signals,
    zones: spec.instances.zones,
    avoid: [],
    blockedRegions: blocked,
    ...(spec.instances.maxPrice !== undefined ? { maxPrice: spec.instances.maxPrice } : {}),
    now,
  });
  // Each attempt's last save, as checkpoint/lifecycle.ts keeps it on the task row (no read of the job's events).
  const saves = spec.checkpoint ? Object.entries(task.checkpointSaves ?? {}).map(([n, at]) => ({ attempt: Number(n), at })) : [];
  listPrices ??= loadOnDemandPrices();
  const targets = onDemandTargets(spec, candidates, signals, ranking.ranked, listPrices, task.avoid);
  const state = livePolicyState({
    now,
    submittedAt: job.submittedAt,
    deadlineAt: job.deadlineAt,
    work: taskWorkSeconds(spec),
    checkpointed: spec.checkpoint !== undefined,
    attempts: task.attempts,
    taskState: task.state,
    saves,
    overhead: deadlineOverhead(ranking.ranked[0]?.launchP50Seconds, ctx.config.lifecycle.deadlineOverheadSeconds, spec.checkpoint ? ctx.config.lifecycle.checkpointGraceSeconds : 0),
    step: ctx.config.lifecycle.pollSeconds,
    preemptions: task.interruptions,
    onDemandPrice: targets[0]?.price ?? 0,
    pools: [...ranking.ranked.map((p) => ({ id: poolKey(p), spotPrice: p.price, available: true })), ...ranking.excluded.map((e) => ({ id: poolKey(e), spotPrice: candidates.find((c) => c.region === e.region && poolKey(c) === poolKey(e))?.price ?? 0, available: false }))],
  });
  // Once moved on demand for the deadline, a task stays there (greedy's and Uniform Progress's rule, and a policy's choice of what runs).
  // So does a task whose spot budget ran out (onDemandOnly: its interruptions or spot re-placements).
  const stays = task.onDemandOnly !== undefined || task.attempts.some((a) => a.market === 'on-demand' || a.reason?.startsWith(DEADLINE_MOVE_REASON));
  const choice = stays ? ({ mode: 'on-demand' } as const) : deadlineChoice(state);
  const why = deadlineWhy(state, choice);
  const stayReason = task.onDemandOnly ?? 'the deadline sent the task on demand before: it stays there';
  return { state, choice, why: stays && !mustGoOnDemand(state) ? { ...why, reason: stayReason } : why, targets };
}

/**
 * step.check's safety net: the policy says on demand while a spot attempt runs. The spot attempt ends
 * `migrated` (its checkpoint saved first, when the spec has one: step.run of the next attempt waits for that
 * save and restores it; without one the instance is terminated and the task starts over), a standby is
 * released, and spot.request launches the task on demand (a task the deadline moved stays on demand).
 */
export async function moveOnDemand(ctx: Ctx, job: JobRow, task: TaskRow, attempt: Attempt, decision: DeadlineDecision): Promise<void> {
  const now = ctx.clock.now();
  const key = { jobId: task.jobId, taskId: task.taskId };
  const ended: Attempt = { ...attempt, endedAt: now, outcome: 'migrated', reason: `${DEADLINE_MOVE_REASON}: ${decision.why.reason}` };
  if (task.standby) await releaseStandby(ctx.cloud, task.standby);
  await tasks(ctx).transition(key, { from: 'running', to: 'pending', version: task.version, set: { attempts: [...task.attempts.slice(0, -1), ended] }, ...(task.standby ? { remove: ['standby'] } : {}) });
  await ctx.store.events.append(job.jobId, 'deadline.on-demand', { taskId: task.taskId, data: { attempt: attempt.n, pool: poolKey(attempt.pool), move: true, ...decision.why } });
  await recordRunEnd(ctx, attempt, false, now);
  ctx.log.info({ attempt: attempt.n, pool: poolKey(attempt.pool), ...decision.why }, 'deadline: moving the task on demand');
  await endMovedAttempt(ctx, job, key, attempt);
}

/**
 * The rest of a move once the row says so: spot.request for the on-demand attempt, and the spot attempt's
 * end (its checkpoint saved first: checkpoint.save stops the step, copies the folder and terminates the
 * instance; step.run waits for it; else its instance terminated).
 */
async function endMovedAttempt(ctx: Ctx, job: JobRow, key: { jobId: string; taskId: string }, attempt: Attempt): Promise<void> {
  await ctx.bus.send('spot.request', key);
  if (job.spec.checkpoint && attempt.instanceId) {
    await beginNoticeSave(ctx, job, { ...key, attempt: attempt.n });
  } else if (attempt.instanceId && ctx.cloud) {
    await terminateInstance(ctx.cloud, attempt.pool.region, attempt.instanceId);
  }
}

/**
 * A step.check delivered again after moveOnDemand wrote the row (running -> pending) but stopped before the
 * rest (a crash, a TerminateInstances that threw): the task is pending, its last attempt the one the deadline
 * moved, and that spot instance may still run on the bill. When EC2 says it still runs and no save of the
 * task holds the save lease, the rest is done again (spot.request, the save or the terminate). True when the
 * task was such a move (whether anything was left to do).
 */
export async function finishInterruptedMove(ctx: Ctx, job: JobRow, task: TaskRow): Promise<boolean> {
  const attempt = task.attempts[task.attempts.length - 1];
  if (task.state !== 'pending' || !attempt || attempt.outcome !== 'migrated' || !attempt.reason?.startsWith(DEADLINE_MOVE_REASON)) return false;
  if (!attempt.instanceId || !ctx.cloud) return true;
  const out = await ctx.cloud.ec2(attempt.pool.region).send(new DescribeInstancesCommand({ InstanceIds: [attempt.instanceId] })).catch(() => undefined);
  const state = out?.Reservations?.[0]?.Instances?.[0]?.State?.Name;
  if (state !== 'pending' && state !== 'running') return true;
  const lease = job.spec.checkpoint ? await ctx.store.leases.get(saveLeaseName(job.jobId, task.taskId)) : undefined;
  if (lease && lease.expiresAt > ctx.clock.now()) return true;
  ctx.log.info({ attempt: attempt.n, instanceId: attempt.instanceId }, 'deadline move: the moved spot instance still runs; ending it again');
  await endMovedAttempt(ctx, job, { jobId: task.jobId, taskId: task.taskId }, attempt);
  return true;
}
