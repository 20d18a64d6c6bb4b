import { expect } from 'chai';
import type { Attempt } from '../../services/model/model.js';
import { checkDeadline, taskWorkSeconds } from '../../services/model/deadline.js';
import { mustGoOnDemand, secondsToSafetyNet, type PolicyState } from '../../services/plan/policy.js';
import { policy } from '../../services/plan/policies.js';
import { deadlineChoice, deadlineOverhead, deadlineWait, livePolicyState, onDemandTargets, type LiveSituation } from '../../services/spot/deadline.js';
import { onDemandToken } from '../../services/spot/attempt.js';
import type { JobRow } from '../../services/model/repo.js';
import { taskProfile } from '../../services/spot/placement.js';
import { ValidationError } from '../../shared/errors.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const A = { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' };
const B = { region: 'us-east-1', zone: 'us-east-1b', type: 'm5.large' };
const at = (s: number): number => T0 + s * 1000;

/**
 * One hand-made situation, as a planner reads it from a trace (gap 60 s) and as the live fleet reads it from
 * its rows: a task of 3600 s of work, checkpointed, deadline 7200 s after the start, starts costing 300 s.
 * Pool A had spot from 0 until 2000 s, when it took the task's instance back; it has had none since. Pool B
 * (the second in the ranking) the task has never asked.
 */
function situation(nowSeconds: number): { planner: PolicyState; live: LiveSituation } {
  const attempts: Attempt[] = [{ n: 1, pool: A, price: 0.04, requestedAt: at(0), fulfilledAt: at(100), runningAt: at(120), sshReadyAt: at(300), startedAt: at(300), endedAt: at(2000), outcome: 'interrupted' }];
  const live: LiveSituation = {
    now: at(nowSeconds),
    submittedAt: T0,
    deadlineAt: at(7200),
    work: 3600,
    checkpointed: true,
    attempts,
    taskState: 'pending',
    // The periodic save, then the notice's (recorded after the end: it holds the work up to the end).
    saves: [{ attempt: 1, at: at(1500) }, { attempt: 1, at: at(2030) }],
    overhead: 300,
    step: 60,
    preemptions: 1,
    onDemandPrice: 0.096,
    pools: [
      { id: 'us-east-1a/m5.large', spotPrice: 0.04, available: false },
      { id: 'us-east-1b/m5.large', spotPrice: 0.05, available: false },
    ],
  };
  // What the planner's state is for the same market state: progress 2000 - 300 s (the start's overhead), the pool's history since the start.
  const planner: PolicyState = {
    elapsed: nowSeconds,
    deadline: 7200,
    work: 3600,
    done: 1700,
    overhead: 300,
    step: 60,
    running: { mode: 'none' },
    pendingOverhead: 0,
    lastPool: 'us-east-1a/m5.large',
    preemptions: 1,
    onDemandPrice: 0.096,
    pools: [
      { id: 'us-east-1a/m5.large', spotPrice: 0.04, available: false, stats: { observedSeconds: nowSeconds, availableSeconds: 2000, upRuns: 1, downRuns: 0, upSeconds: 2000, downSeconds: 0, streakSeconds: nowSeconds - 2000 } },
      { id: 'us-east-1b/m5.large', spotPrice: 0.05, available: false, stats: { observedSeconds: 0, availableSeconds: 0, upRuns: 0, downRuns: 0, upSeconds: 0, downSeconds: 0, streakSeconds: 0 } },
    ],
  };
  return { planner, live };
}

describe('the deadline policy in the live fleet', () => {
  it('builds the same PolicyState as the planner for the same market state, and so makes the same choice', () => {
    // Waiting for capacity, with time to spare: both wait.
    const early = situation(4000);
    const liveEarly = livePolicyState(early.live);
    expect(liveEarly).to.deep.equal(early.planner);
    // The live fleet's choice is the planner's policy's: `spotbatch`, as `spotbatch plan` runs it. Behind the
    // uniform-progress line (1700 s done, 2000 s due) and with no pool's runs seen through yet, it goes on demand.
    expect(deadlineChoice(liveEarly)).to.deep.equal(policy('spotbatch').decide(early.planner)).and.deep.equal({ mode: 'on-demand' });
    // Spot back in pool B: both take it.
    const back = (st: PolicyState): PolicyState => ({ ...st, pools: st.pools.map((p, i) => (i === 1 ? { ...p, available: true } : p)) });
    expect(deadlineChoice(back(liveEarly))).to.deep.equal(policy('spotbatch').decide(back(early.planner))).and.deep.equal({ mode: 'spot', pool: 'us-east-1b/m5.large' });
    // At the last safe moment (1900 s of work left, a 300 s start, a 60 s look): both go on demand.
    const late = situation(4960);
    const liveLate = livePolicyState(late.live);
    expect(liveLate).to.deep.equal(late.planner);
    expect(mustGoOnDemand(liveLate)).to.equal(true);
    expect(deadlineChoice(liveLate)).to.deep.equal(deadlineChoice(late.planner)).and.deep.equal({ mode: 'on-demand' });
    expect(secondsToSafetyNet(liveEarly)).to.equal(7200 - 4000 - (1900 + 300 + 60));
  });

  it('reads a spot attempt that runs, its start still being paid, and spot back in a pool after a gap', () => {
    const base = situation(2600).live;
    const attempts: Attempt[] = [...base.attempts, { n: 2, pool: B, price: 0.05, requestedAt: at(2500) }];
    const live = livePolicyState({ ...base, attempts, taskState: 'waiting', pools: [{ id: 'us-east-1b/m5.large', spotPrice: 0.05, available: true }, { id: 'us-east-1a/m5.large', spotPrice: 0.04, available: false }] });
    expect(live.running).to.deep.equal({ mode: 'spot', pool: 'us-east-1b/m5.large' });
    expect(live.pendingOverhead).to.equal(200);
    // Asked, not yet fulfilled: watched for 100 s, no capacity seen yet.
    expect(live.pools[0]!.stats).to.deep.equal({ observedSeconds: 100, availableSeconds: 0, upRuns: 0, downRuns: 0, upSeconds: 0, downSeconds: 0, streakSeconds: 0 });
    expect(deadlineChoice(live)).to.deep.equal({ mode: 'spot', pool: 'us-east-1b/m5.large' });
    // Pool A again at 3000 s: its gap (2000 -> 3000 s) is a completed unavailable streak.
    const again = livePolicyState({ ...base, now: at(3500), attempts: [...base.attempts, { n: 2, pool: A, requestedAt: at(3000), runningAt: at(3100) }], taskState: 'starting', pools: [{ id: 'us-east-1a/m5.large', spotPrice: 0.04, available: true }] });
    expect(again.pools[0]!.stats).to.deep.equal({ observedSeconds: 3500, availableSeconds: 2500, upRuns: 1, downRuns: 1, upSeconds: 2000, downSeconds: 1000, streakSeconds: 500 });
  });

  it('keeps no work without checkpoints: a restart starts over', () => {
    const live = livePolicyState({ ...situation(4000).live, checkpointed: false });
    expect(live.done).to.equal(0);
  });
});

describe('a deadline at submit', () => {
  const spec = { timeouts: { step: 3600 }, runtime: 600 };
  it('is kept as epoch ms when it can be met', () => {
    expect(checkDeadline({ ...spec, deadline: '1h' }, T0, 300)).to.equal(at(3600));
    expect(checkDeadline({ ...spec, deadline: '2026-03-01T02:00:00Z' }, T0, 300)).to.equal(at(7200));
    expect(checkDeadline(spec, T0, 300)).to.equal(undefined);
  });
  it('is refused, naming the field, when past or closer than the work and a launch', () => {
    expect(() => checkDeadline({ ...spec, deadline: '2020-01-01T00:00:00Z' }, T0, 300)).to.throw(ValidationError, /deadline: .*already past/);
    expect(() => checkDeadline({ ...spec, deadline: '10m' }, T0, 300)).to.throw(ValidationError, /deadline: 600 s from submission cannot hold a task's 600 s of work plus a 300 s launch/);
    // Without a runtime the work is the step timeouts: 2 steps, one with its own.
    expect(taskWorkSeconds({ timeouts: { step: 3600 }, steps: [{ timeout: 60 }, {}] })).to.equal(3660);
    expect(() => checkDeadline({ timeouts: { step: 3600 }, deadline: '1h' }, T0, 300)).to.throw(ValidationError, /deadline:/);
  });
  it('counts one look of the safety net too', () => {
    // 600 s of work, a 300 s launch: 900 s fit in 15 min, but not with a 60 s look.
    expect(checkDeadline({ ...spec, deadline: '15m' }, T0, 300)).to.equal(at(900));
    expect(() => checkDeadline({ ...spec, deadline: '15m' }, T0, 300, 60)).to.throw(ValidationError, /and a 60 s look/);
  });
  it('gives placement its runtime R', () => {
    expect(taskProfile({ timeouts: { step: 3600 }, runtime: 7200 }).runtimeHours).to.equal(2);
    expect(taskProfile({ timeouts: { step: 3600 } }).runtimeHours).to.equal(0.5);
  });
});

describe('the deadline fallback in the live fleet', () => {
  it('waits past the safety net with a jittered backoff, and ends with a reason at the deadline plus noPoolWaitSeconds', () => {
    const base = { deadlineAt: at(600), limitSeconds: 1800, retrySeconds: 60, random: () => 1 };
    // Before the net: every minute, never later than the net.
    expect(deadlineWait({ ...base, now: at(0), toNetSeconds: 30, pastNetSince: at(0) })).to.deep.equal({ delaySeconds: 30 });
    // Past it: no more a look a second; the ceiling grows with the time waited (2 s doubling, to 60 s).
    const first = deadlineWait({ ...base, now: at(100), toNetSeconds: 0, pastNetSince: at(100) });
    const later = deadlineWait({ ...base, now: at(400), toNetSeconds: 0, pastNetSince: at(100) });
    expect(first).to.deep.equal({ delaySeconds: 2 });
    expect(later).to.deep.equal({ delaySeconds: 60 });
    // Without a decision (a failed read): the same backoff.
    expect(deadlineWait({ ...base, now: at(400), toNetSeconds: undefined, pastNetSince: at(100) })).to.deep.equal({ delaySeconds: 60 });
    // The last look comes at the bound; past it the wait ends with its reason.
    expect(deadlineWait({ ...base, now: at(600 + 1790), toNetSeconds: 0, pastNetSince: at(100) })).to.deep.equal({ delaySeconds: 10 });
    const end = deadlineWait({ ...base, now: at(600 + 1800), toNetSeconds: 0, pastNetSince: at(100) });
    expect(end).to.have.property('fail').that.matches(/the deadline \(2026-03-01T00:10:00.000Z\) and lifecycle.noPoolWaitSeconds 1800 after it are past/);
  });

  it('keeps a margin no smaller than deadlineOverheadSeconds, plus a checkpoint save\'s grace', () => {
    expect(deadlineOverhead(40, 300, 0)).to.equal(300);
    expect(deadlineOverhead(400, 300, 0)).to.equal(400);
    expect(deadlineOverhead(undefined, 300, 60)).to.equal(360);
  });

  it('gives every on-demand attempt one ClientToken whatever its pool', () => {
    expect(onDemandToken('fleet', 'job-1', '0003', 2)).to.equal('od-fleet-job-1-0003-2');
    expect(onDemandToken('fleet', 'job-1', '0003', 2)).to.not.equal(onDemandToken('fleet', 'job-1', '0003', 3));
    expect(onDemandToken('fleet', 'job-1', '0003', 2)).to.not.equal(onDemandToken('other', 'job-1', '0003', 2));
    expect(onDemandToken('f'.repeat(40), 'j'.repeat(80), '99999', 999)).to.have.length.at.most(64);
  });

  it('orders on-demand targets: known list prices first, failed pools last; an assumed price and maxPrice said', () => {
    const spec = { instances: { types: ['m5.large', 'x9.large'], zones: 'auto', maxPrice: 0.05 } } as unknown as JobRow['spec'];
    const candidates = [
      { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large', price: 0.03 },
      { region: 'us-east-1', zone: 'us-east-1b', type: 'm5.large', price: 0.03 },
      { region: 'us-east-1', zone: 'us-east-1a', type: 'x9.large', price: 0.01 },
    ] as unknown as Parameters<typeof onDemandTargets>[1];
    const prices = (_r: string, t: string): number | undefined => (t === 'm5.large' ? 0.096 : undefined);
    const ranked = [A, B];
    const targets = onDemandTargets(spec, candidates, [], ranked, prices, ['us-east-1a/m5.large']);
    expect(targets.map((t) => `${t.zone}/${t.type}`)).to.deep.equal(['us-east-1b/m5.large', 'us-east-1a/m5.large', 'us-east-1a/x9.large']);
    expect(targets[0]).to.include({ priceKnown: true, overMaxPrice: true, price: 0.096 });
    expect(targets[2]).to.include({ priceKnown: false, price: 0.05, priceSource: "the spec's instances.maxPrice" });
  });
});
