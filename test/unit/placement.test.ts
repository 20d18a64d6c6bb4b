import { expect } from 'chai';
import { choosePool, poolNeed, rankPools, scorePool, slotOf, spreadPlan, spreadWeights, taskProfile, DEFAULT_MAX_POOL_SHARE, type PlacementInput } from '../../services/spot/placement.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { appendAttempts, FULL_PLACEMENT_KEPT, PlacementRecordSchema, SHORT_WHY_CHARS, type Attempt } from '../../services/model/model.js';
import type { PoolSignals } from '../../services/market/signals.js';
import { requestToken } from '../../services/spot/attempt.js';
import type { PoolPrice } from '../../services/spot/pricing.js';

const NOW = Date.UTC(2025, 0, 1);
const price = (zone: string, type: string, p: number): PoolPrice => ({ region: zone.slice(0, -1), zone, type, price: p, at: NOW });
const sig = (zone: string, type: string, s: Partial<PoolSignals>): PoolSignals => ({ region: zone.slice(0, -1), zone, type, ...s });
const input = (over: Partial<PlacementInput>): PlacementInput => ({ candidates: [], zones: 'auto', avoid: [], now: NOW, ...over });

describe('placement scoring (services/spot/placement.ts)', () => {
  const profile = { runtimeHours: 1 };

  it('prices the work, one launch and the interruptions: a riskier pool costs more at the same price', () => {
    const safe = scorePool(price('us-east-1a', 'm5.large', 0.04), sig('us-east-1a', 'm5.large', { bucket: 0, score: 8 }), profile);
    const risky = scorePool(price('us-east-1a', 'm5.large', 0.04), sig('us-east-1a', 'm5.large', { bucket: 4, score: 8 }), profile);
    expect(safe.expectedCost).to.be.greaterThan(0.04);
    expect(risky.expectedCost).to.be.greaterThan(safe.expectedCost);
    expect(safe.signals).to.include.members(['price', 'interruption bucket', 'placement score']);
  });

  it("blends the advisor's rate with the fleet's own record, weighted by observed hours", () => {
    const p = price('us-east-1a', 'm5.large', 0.04);
    const prior = scorePool(p, sig('us-east-1a', 'm5.large', { bucket: 0 }), profile).hazardPerHour;
    const few = scorePool(p, sig('us-east-1a', 'm5.large', { bucket: 0, observed: { runs: 2, interruptions: 2, hours: 1 } }), profile).hazardPerHour;
    const many = scorePool(p, sig('us-east-1a', 'm5.large', { bucket: 0, observed: { runs: 100, interruptions: 0, hours: 500 } }), profile).hazardPerHour;
    expect(few).to.be.greaterThan(prior * 10);
    expect(many).to.be.lessThan(prior);
  });

  it("starts a pool the fleet never ran in from the type's record in its other pools, not from the advisor alone", () => {
    // The advisor rates p3.2xlarge in a region (>20% a month, every zone alike); the fleet saw it reclaimed 40 times in 20 h in us-east-1a.
    const burnt = sig('us-east-1a', 'p3.2xlarge', { bucket: 4, observed: { runs: 40, interruptions: 40, hours: 20 } });
    const untried = sig('us-east-1c', 'p3.2xlarge', { bucket: 4 });
    const calm = sig('us-east-1d', 'p3.2xlarge', { bucket: 4, observed: { runs: 100, interruptions: 0, hours: 400 } });
    const other = sig('us-east-1f', 'm5.large', { bucket: 4 });
    const candidates = [price('us-east-1a', 'p3.2xlarge', 0.6), price('us-east-1c', 'p3.2xlarge', 0.95), price('us-east-1d', 'p3.2xlarge', 0.95), price('us-east-1f', 'm5.large', 0.04)];
    const { ranked } = rankPools(input({ candidates, signals: [burnt, untried, calm, other], profile: { runtimeHours: 2 } }));
    const h = Object.fromEntries(ranked.map((r) => [r.zone, r]));
    const advisorOnly = scorePool(candidates[1]!, untried, { runtimeHours: 2 }).hazardPerHour;
    // The untried zone's hazard is the advisor's rate moved by the other pools' 40 interruptions in 420 h, far over the advisor's.
    expect(h['us-east-1c']!.hazardPerHour).to.be.closeTo((advisorOnly * 50 + 40) / (50 + 420), 1e-6);
    expect(h['us-east-1c']!.signals).to.include("type's interruptions elsewhere");
    // Its own record still decides a pool the fleet knows: 400 clean hours keep us-east-1d under the untried zone, and us-east-1a's own reclaims over both.
    expect(h['us-east-1d']!.hazardPerHour).to.be.lessThan(h['us-east-1c']!.hazardPerHour);
    expect(h['us-east-1a']!.hazardPerHour).to.be.greaterThan(h['us-east-1c']!.hazardPerHour);
    // Another type is untouched.
    expect(h['us-east-1f']!.hazardPerHour).to.equal(scorePool(candidates[3]!, other, { runtimeHours: 2 }).hazardPerHour);
    expect(h['us-east-1f']!.signals).to.not.include("type's interruptions elsewhere");
  });

  it('a slow or low-scoring pool costs more; a checkpointing task loses less to an interruption', () => {
    const p = price('us-east-1a', 'm5.large', 0.04);
    const fast = scorePool(p, sig('us-east-1a', 'm5.large', { launchP50Seconds: 40 }), profile).expectedCost;
    const slow = scorePool(p, sig('us-east-1a', 'm5.large', { launchP50Seconds: 600 }), profile).expectedCost;
    expect(slow).to.be.greaterThan(fast);
    expect(scorePool(p, sig('us-east-1a', 'm5.large', { score: 2 }), profile).expectedCost).to.be.greaterThan(scorePool(p, sig('us-east-1a', 'm5.large', { score: 9 }), profile).expectedCost);
    const risky = sig('us-east-1a', 'm5.large', { bucket: 4, observed: { runs: 5, interruptions: 5, hours: 2 } });
    expect(scorePool(p, risky, { runtimeHours: 4, checkpointHours: 0.25 }).expectedCost).to.be.lessThan(scorePool(p, risky, { runtimeHours: 4 }).expectedCost);
  });

  it('reads the runtime from the step timeouts and the checkpoint interval from the spec', () => {
    const base = { name: 'x', tasks: { count: 1 }, instances: { types: ['m5.large'] } };
    expect(taskProfile(parseJobSpec({ ...base, command: ['true'] }))).to.deep.equal({ runtimeHours: 0.5 });
    expect(taskProfile(parseJobSpec({ ...base, steps: [{ run: 'a', timeout: '2h' }, { run: 'b', timeout: '2h' }] })).runtimeHours).to.equal(2);
    expect(taskProfile(parseJobSpec({ ...base, command: ['true'], checkpoint: { path: 'ckpt', every: '10m' } })).checkpointHours).to.be.closeTo(1 / 6, 1e-9);
  });

  it('excludes pools over the max price, out of capacity, in a blocked region, under the score floor, cooled or failed, each with its reason', () => {
    const candidates = [
      price('us-east-1a', 'm5.large', 0.05),
      price('us-east-1b', 'm5.large', 0.2),
      price('us-east-1c', 'm5.large', 0.03),
      price('us-east-1d', 'm5.large', 0.03),
      price('us-east-1f', 'm5.large', 0.03),
      price('us-east-1a', 'c5.large', 0.03),
      price('us-west-2a', 'm5.large', 0.01),
    ];
    const signals = [sig('us-east-1c', 'm5.large', { noCapacityUntil: NOW + 60_000 }), sig('us-east-1d', 'm5.large', { score: 1 })];
    const r = rankPools(
      input({
        candidates,
        signals,
        maxPrice: 0.1,
        scoreFloor: 2,
        avoid: ['us-east-1a/c5.large'],
        cooled: { 'us-east-1f/m5.large': NOW + 60_000 },
        blockedRegions: new Map([['us-west-2', { until: NOW + 60_000, reason: 'MaxSpotInstanceCountExceeded' }]]),
      }),
    );
    expect(r.ranked.map((p) => p.zone + '/' + p.type)).to.deep.equal(['us-east-1a/m5.large']);
    const reasons = Object.fromEntries(r.excluded.map((e) => [`${e.zone}/${e.type}`, e.reason]));
    expect(reasons['us-east-1b/m5.large']).to.match(/over max price 0.1/);
    expect(reasons['us-east-1c/m5.large']).to.match(/out of capacity until/);
    expect(reasons['us-east-1d/m5.large']).to.match(/placement score 1 under the floor 2/);
    expect(reasons['us-east-1f/m5.large']).to.match(/cooled down/);
    expect(reasons['us-east-1a/c5.large']).to.equal('failed this task');
    expect(reasons['us-west-2a/m5.large']).to.match(/spot quota exhausted \(MaxSpotInstanceCountExceeded\)/);
  });

  it('no floor by default; a floor no open pool reaches becomes the best score present, and cooled or failed pools stay out', () => {
    const candidates = [price('us-east-1a', 'm5.large', 0.02), price('us-east-1b', 'm5.large', 0.03), price('us-east-1c', 'm5.large', 0.04), price('us-east-1d', 'm5.large', 0.01)];
    // A target-50 day: every single-AZ score is low.
    const signals = [sig('us-east-1a', 'm5.large', { score: 1 }), sig('us-east-1b', 'm5.large', { score: 2 }), sig('us-east-1c', 'm5.large', { score: 2 }), sig('us-east-1d', 'm5.large', { score: 3 })];
    expect(rankPools(input({ candidates, signals })).ranked).to.have.length(4);
    const r = rankPools(input({ candidates, signals, scoreFloor: 3, cooled: { 'us-east-1d/m5.large': NOW + 60_000 } }));
    expect(r.relaxed).to.equal(undefined);
    expect(r.ranked.map((p) => p.zone)).to.deep.equal(['us-east-1b', 'us-east-1c']);
    const reasons = Object.fromEntries(r.excluded.map((e) => [e.zone, e.reason]));
    expect(reasons['us-east-1a']).to.equal('placement score 1 under the floor 2');
    expect(reasons['us-east-1d']).to.match(/cooled down/);
  });

  it('a placement score older than 3 days reads as absent, and the why says so', () => {
    const p = price('us-east-1a', 'm5.large', 0.02);
    const DAY = 86_400_000;
    const stale = sig('us-east-1a', 'm5.large', { score: 1, scoreTarget: 1, scoreAt: NOW - 4 * DAY });
    const fresh = sig('us-east-1a', 'm5.large', { score: 1, scoreTarget: 1, scoreAt: NOW - 2 * DAY });
    // Floor 3: the fresh score 1 excludes the pool (then relaxed: it is the only one); the stale one does not count.
    const withFresh = rankPools(input({ candidates: [p, price('us-east-1b', 'm5.large', 0.03)], signals: [fresh], scoreFloor: 3 }));
    expect(withFresh.ranked.map((r) => r.zone)).to.deep.equal(['us-east-1b']);
    const withStale = rankPools(input({ candidates: [p, price('us-east-1b', 'm5.large', 0.03)], signals: [stale], scoreFloor: 3 }));
    expect(withStale.ranked.map((r) => r.zone)).to.deep.equal(['us-east-1a', 'us-east-1b']);
    expect(withStale.ranked[0]!.score).to.equal(undefined);
    expect(withStale.ranked[0]!.signals).to.not.include('placement score');
    expect(withStale.ranked[0]!.expectedCost).to.equal(scorePool(p, undefined, { runtimeHours: 1 }).expectedCost);
    const chosen = choosePool(input({ candidates: [p], signals: [stale] }));
    expect(chosen.why).to.match(/placement score older than 3 days taken as absent for 1 pool\(s\)/);
    expect(chosen.record.notes).to.deep.equal(['placement score older than 3 days taken as absent for 1 pool(s)']);
    expect(() => PlacementRecordSchema.parse(chosen.record)).not.to.throw();
  });

  it('the floor holds a score against a pool only when asked at a target capacity no larger than the job asks of one pool', () => {
    const candidates = [price('us-east-1a', 'm5.large', 0.02), price('us-east-1b', 'm5.large', 0.021), price('us-east-1c', 'm5.large', 0.022), price('us-east-1d', 'm5.large', 0.05)];
    const signals = [
      // Low at a target of 50: a lower bound of the pool's score for fewer instances, proves nothing.
      sig('us-east-1a', 'm5.large', { score: 2, scoreTarget: 50, scoreAt: NOW }),
      // Low at a target of 5: the pool cannot give even 5 well, so not 5 or more either.
      sig('us-east-1b', 'm5.large', { score: 2, scoreTarget: 5, scoreAt: NOW }),
      // Low, target unknown: taken as it reads.
      sig('us-east-1c', 'm5.large', { score: 2, scoreAt: NOW }),
      sig('us-east-1d', 'm5.large', { score: 8, scoreTarget: 50, scoreAt: NOW }),
    ];
    // 30 tasks at the default share 0.34: 11 instances of one pool; the target-5 score proves the pool under the floor.
    expect([poolNeed(30, DEFAULT_MAX_POOL_SHARE), poolNeed(3, DEFAULT_MAX_POOL_SHARE), poolNeed(undefined, 0.5), poolNeed(4, 1)]).to.deep.equal([11, 2, 1, 4]);
    const big = rankPools(input({ candidates, signals, scoreFloor: 3, taskCount: 30 }));
    expect(big.ranked.map((r) => r.zone)).to.deep.equal(['us-east-1a', 'us-east-1d']);
    const reasons = Object.fromEntries(big.excluded.map((e) => [e.zone, e.reason]));
    expect(reasons['us-east-1b']).to.equal('placement score 2 at target capacity 5 under the floor 3');
    expect(reasons['us-east-1c']).to.equal('placement score 2 under the floor 3');
    expect(big.notes).to.deep.equal(['placement score under the floor 3 not held against 1 pool(s): asked at a target capacity over the 11 instance(s) the job asks of a pool']);
    // 3 tasks: 2 of a pool; now the target-5 score is a lower bound too, and only the target-less one is held.
    const small = rankPools(input({ candidates, signals, scoreFloor: 3, taskCount: 3 }));
    expect(small.ranked.map((r) => r.zone)).to.deep.equal(['us-east-1a', 'us-east-1b', 'us-east-1d']);
    expect(small.excluded.map((e) => e.zone)).to.deep.equal(['us-east-1c']);
    // The why names the target a score was asked at.
    const placed = choosePool(input({ candidates, signals, scoreFloor: 3, taskCount: 30, taskIndex: 0 }));
    expect(placed.why).to.match(/score 2 \(target 50\)/);
    expect(placed.record.chosen.scoreTarget).to.equal(50);
    expect(placed.why).to.match(/excluded 2 under the score floor/);
  });

  it('a floor no pool reaches stands at the best score held, whatever the targets', () => {
    const candidates = [price('us-east-1a', 'm5.large', 0.02), price('us-east-1b', 'm5.large', 0.03), price('us-east-1c', 'm5.large', 0.04)];
    const signals = [sig('us-east-1a', 'm5.large', { score: 1, scoreTarget: 1 }), sig('us-east-1b', 'm5.large', { score: 2, scoreTarget: 1 }), sig('us-east-1c', 'm5.large', { score: 1, scoreTarget: 40 })];
    // One task: the target-40 score is not held, so the pool is open and the floor stays 3 for the others.
    const r = rankPools(input({ candidates, signals, scoreFloor: 3, taskCount: 1 }));
    expect(r.ranked.map((p) => p.zone)).to.deep.equal(['us-east-1c']);
    // Without it, every open pool is held under the floor: the best held score (2) stands for it.
    const r2 = rankPools(input({ candidates: candidates.slice(0, 2), signals, scoreFloor: 3, taskCount: 1 }));
    expect(r2.ranked.map((p) => p.zone)).to.deep.equal(['us-east-1b']);
    expect(r2.excluded[0]!.reason).to.equal('placement score 1 at target capacity 1 under the floor 2');
  });

  it('an expired no-capacity mark or region block no longer excludes', () => {
    const r = rankPools(
      input({
        candidates: [price('us-east-1a', 'm5.large', 0.05)],
        signals: [sig('us-east-1a', 'm5.large', { noCapacityUntil: NOW - 1 })],
        blockedRegions: new Map([['us-east-1', { until: NOW - 1, reason: 'VcpuLimitExceeded' }]]),
      }),
    );
    expect(r.ranked).to.have.length(1);
  });

  it('falls back to another region when one is at its quota, and says what was excluded', () => {
    const p = choosePool(
      input({
        candidates: [price('us-east-1a', 'm5.large', 0.02), price('us-west-2a', 'm5.large', 0.05)],
        blockedRegions: new Map([['us-east-1', { until: NOW + 60_000, reason: 'MaxSpotInstanceCountExceeded' }]]),
      }),
    );
    expect(p.pool.region).to.equal('us-west-2');
    expect(p.record.excludedCount).to.equal(1);
    expect(p.record.excluded[0]!.reason).to.match(/quota/);
    expect(p.why).to.match(/excluded 1 in a region at its spot quota \(us-east-1\)/);
    expect(() => PlacementRecordSchema.parse(p.record)).not.to.throw();
  });

  it('starts over with cooled and failed pools when nothing else is left; refuses only what the spec forbids', () => {
    const p = choosePool(input({ candidates: [price('us-east-1a', 'm5.large', 0.02)], avoid: ['us-east-1a/m5.large'] }));
    expect(p.record.relaxed).to.match(/trying them again/);
    expect(() => choosePool(input({ candidates: [price('us-east-1a', 'm5.large', 0.2)], maxPrice: 0.1 }))).to.throw(/no pool within max price 0.1/);
    expect(() => choosePool(input({ candidates: [] }))).to.throw(/no spot price/);
    const allOut = () => choosePool(input({ candidates: [price('us-east-1a', 'm5.large', 0.02)], signals: [sig('us-east-1a', 'm5.large', { noCapacityUntil: NOW + 1000 })] }));
    expect(allOut).to.throw(/no pool can take the task now: 1 out of capacity/).with.property('retryable', true);
    // Every region at its quota: the regions are named, so a task that waits too long says what it waited for.
    const allBlocked = () =>
      choosePool(
        input({
          candidates: [price('us-east-1a', 'm5.large', 0.02), price('us-east-1b', 'm5.large', 0.02), price('us-west-2a', 'm5.large', 0.05)],
          blockedRegions: new Map([
            ['us-east-1', { until: NOW + 60_000, reason: 'MaxSpotInstanceCountExceeded' }],
            ['us-west-2', { until: NOW + 60_000, reason: 'VcpuLimitExceeded' }],
          ]),
        }),
      );
    expect(allBlocked).to.throw(/^no pool can take the task now: 3 in regions at their spot quota \(us-east-1, us-west-2\)$/).with.property('retryable', true);
  });

  it('names the runner-up and the signals used', () => {
    const p = choosePool(input({ candidates: [price('us-east-1a', 'm5.large', 0.02), price('us-east-1b', 'm5.large', 0.03)], signals: [sig('us-east-1a', 'm5.large', { score: 7, bucket: 0 })] }));
    expect(p.pool.zone).to.equal('us-east-1a');
    expect(p.record.runnerUp?.zone).to.equal('us-east-1b');
    expect(p.record.signals).to.include.members(['price', 'placement score', 'interruption bucket']);
    expect(p.why).to.match(/^lowest expected cost of 2 pool\(s\): us-east-1a\/m5.large 0.0200 USD\/h, score 7, interruptions <5%/);
  });
});

describe('placement spread', () => {
  const ranked = rankPools(
    input({ candidates: ['a', 'b', 'c', 'd', 'f'].map((z, i) => price(`us-east-1${z}`, 'm5.large', 0.02 + i * 0.002)) }),
  ).ranked;

  const SHARE = 0.34;

  it('weights the best ceil(1 / share) pools, none over the share', () => {
    const w = spreadWeights(ranked, SHARE);
    expect(w).to.have.length(3);
    expect(w.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-9);
    for (const x of w) expect(x).to.be.at.most(SHARE + 1e-9);
    const c = ranked[0]!.expectedCost;
    const skewed = spreadWeights([ranked[0]!, { ...ranked[1]!, expectedCost: c * 1.2 }, { ...ranked[2]!, expectedCost: c * 1.2 }], 0.4);
    expect(skewed).to.have.length(3);
    expect(skewed[0]).to.be.at.most(0.4).and.greaterThan(skewed[1]!);
    // A pool far dearer than the best shares nothing: only the good ones spread.
    expect(spreadWeights([ranked[0]!, { ...ranked[1]!, expectedCost: c * 3 }], 0.5)).to.deep.equal([1]);
  });

  it('a 20-task job with maxPoolShare 0.34 uses at least 3 pools with no pool over its share (plus one task of rounding)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const p = choosePool(input({ candidates: ranked.map((r) => price(r.zone, r.type, r.price)), taskIndex: i, taskCount: 20, maxPoolShare: SHARE }));
      if (i === 0) expect(p.why).to.contain('spread over 3 pool(s): instances.maxPoolShare 0.34');
      counts.set(p.pool.zone, (counts.get(p.pool.zone) ?? 0) + 1);
    }
    expect(counts.size).to.be.at.least(3);
    for (const n of counts.values()) expect(n).to.be.at.most(Math.ceil(20 * SHARE) + 1);
  });

  it('share 1 puts every task in the best pool; the slot is a function of the index alone', () => {
    for (let i = 0; i < 10; i++) expect(slotOf(i, spreadWeights(ranked, 1))).to.equal(0);
    expect(slotOf(7, [0.3, 0.3, 0.4])).to.equal(slotOf(7, [0.3, 0.3, 0.4]));
  });

  // Five m5.large pools 2% apart in price: a calm market (advisor <5%, no interruption on record) and a
  // reclaiming one (>20%, and the fleet saw 30 interruptions in its 40 instance-hours in each pool).
  const pools = ['a', 'b', 'c', 'd', 'f'].map((z, i) => price(`us-east-1${z}`, 'm5.large', 0.05 * (1 + 0.02 * i)));
  const job = (signals: PoolSignals[], i: number, over: Partial<PlacementInput> = {}) =>
    choosePool(input({ candidates: pools, signals, taskIndex: i, taskCount: 20, profile: { runtimeHours: 2 }, ...over }));
  const calm = pools.map((p) => sig(p.zone, p.type, { bucket: 0, score: 8, observed: { runs: 50, interruptions: 0, hours: 200 } }));
  const reclaiming = pools.map((p) => sig(p.zone, p.type, { bucket: 4, score: 8, observed: { runs: 40, interruptions: 30, hours: 40 } }));
  const AUTO = { maxPoolShare: 'auto' as const };
  const zonesOf = (signals: PoolSignals[], over: Partial<PlacementInput> = {}) => new Set(Array.from({ length: 20 }, (_, i) => job(signals, i, over).pool.zone));

  it('with maxPoolShare "auto", a low-hazard market concentrates: the second pool costs more than the reclaim loss it insures', () => {
    const first = job(calm, 0, AUTO);
    expect(first.record.spread.pools).to.equal(1);
    expect(first.record.spread.maxShare).to.equal(1);
    expect(first.why).to.match(/spread over 1 pool\(s\): a pool-wide reclaim in the best pool \([\d.e-]+% in the task's 2 h\) would lose each of its tasks [\d.e-]+ USD .*; pool #2's premium [\d.e-]+ USD a task is over the [\d.e-]+ it would insure/);
    expect(zonesOf(calm, AUTO)).to.deep.equal(new Set(['us-east-1a']));
    // What the rule weighed, in its own terms: premium of the second pool against p x price x (L + S).
    const ranked = rankPools(input({ candidates: pools, signals: calm, profile: { runtimeHours: 2 } })).ranked;
    const p = 1 - Math.exp(-ranked[0]!.hazardPerHour * 2);
    expect(ranked[1]!.expectedCost - ranked[0]!.expectedCost).to.be.greaterThan(p * ranked[0]!.price * (1 + ranked[0]!.startHours));
  });

  it('with maxPoolShare "auto", a high-hazard market spreads over at least 3 pools, equal shares, by task index alone', () => {
    const first = job(reclaiming, 0, AUTO);
    expect(first.record.spread.pools).to.be.at.least(3);
    expect(first.why).to.contain(`spread over ${first.record.spread.pools} pool(s): a pool-wide reclaim`);
    const zones = zonesOf(reclaiming, AUTO);
    expect(zones.size).to.be.at.least(3);
    for (let i = 0; i < 20; i++) expect(job(reclaiming, i, AUTO).pool).to.deep.equal(job(reclaiming, i, AUTO).pool);
    const plan = spreadPlan(rankPools(input({ candidates: pools, signals: reclaiming, profile: { runtimeHours: 2 } })).ranked, { maxPoolShare: 'auto', profile: { runtimeHours: 2 }, taskCount: 20 });
    expect(plan.weights.every((w) => Math.abs(w - 1 / plan.weights.length) < 1e-12)).to.equal(true);
    // Never more pools than tasks.
    expect(spreadPlan(rankPools(input({ candidates: pools, signals: reclaiming, profile: { runtimeHours: 2 } })).ranked, { maxPoolShare: 'auto', profile: { runtimeHours: 2 }, taskCount: 2 }).weights).to.have.length(2);
  });

  it('maxPoolShare caps, whatever the hazard; unset, it is 0.34 (three pools)', () => {
    expect(zonesOf(calm).size).to.equal(3);
    expect(job(calm, 0).why).to.contain('instances.maxPoolShare 0.34 (the default)');
    expect(zonesOf(calm, { maxPoolShare: 0.34 }).size).to.equal(3);
    expect(job(calm, 0, { maxPoolShare: 0.34 }).record.spread).to.deep.include({ pools: 3, maxShare: 0.34 });
    expect(zonesOf(reclaiming, { maxPoolShare: 1 })).to.have.length(1);
    for (let i = 0; i < 20; i++) expect(job(reclaiming, i, { maxPoolShare: 0.5 }).record.spread.pools).to.equal(2);
  });

  it('maxPoolShare and minPlacementScore are validated with their field path', () => {
    const base = { name: 'x', tasks: { count: 1 }, command: ['true'] };
    expect(() => parseJobSpec({ ...base, instances: { types: ['m5.large'], maxPoolShare: 0 } })).to.throw(/instances\.maxPoolShare/);
    expect(() => parseJobSpec({ ...base, instances: { types: ['m5.large'], minPlacementScore: 11 } })).to.throw(/instances\.minPlacementScore/);
    expect(parseJobSpec({ ...base, instances: { types: ['m5.large'], maxPoolShare: 0.25 } }).instances.maxPoolShare).to.equal(0.25);
    expect(parseJobSpec({ ...base, instances: { types: ['m5.large'], maxPoolShare: 'auto' } }).instances.maxPoolShare).to.equal('auto');
    expect(() => parseJobSpec({ ...base, instances: { types: ['m5.large'], maxPoolShare: 'some' } })).to.throw(/instances\.maxPoolShare/);
  });
});

/** A DynamoDB item's size by AWS's rules (names and values; a number one byte per two significant digits plus one; a list or map 3 bytes plus one per element). */
function itemBytes(item: Record<string, AttributeValue>): number {
  const size = (v: AttributeValue): number => {
    if (v.S !== undefined) return Buffer.byteLength(v.S);
    if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|e.*$/g, '').replace(/^0+/, '').length / 2) + 1;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    if (v.L) return 3 + v.L.reduce((s, e) => s + 1 + size(e), 0);
    if (v.M) return 3 + Object.entries(v.M).reduce((s, [k, e]) => s + 1 + Buffer.byteLength(k) + size(e), 0);
    throw new Error(`unsized attribute ${JSON.stringify(v)}`);
  };
  return Object.entries(item).reduce((s, [k, v]) => s + Buffer.byteLength(k) + size(v), 0);
}

describe('attempts in the task row (services/model/model.ts appendAttempts)', () => {
  it('a task with 130 attempts, each placed among 40 pools with 30 excluded, stays far under the 400 KB item limit', () => {
    const zones = ['a', 'b', 'c', 'd', 'e', 'f'].flatMap((z) => ['us-east-1', 'us-west-2', 'eu-west-1'].map((r) => `${r}${z}`));
    const types = ['m5.large', 'c5.large', 'r5.large'];
    const candidates = zones.flatMap((z) => types.map((t, i) => price(z, t, 0.02 + i * 0.01)));
    const placement = choosePool(
      input({
        candidates,
        signals: candidates.slice(0, 20).map((c) => sig(c.zone, c.type, { noCapacityUntil: NOW + 60_000, score: 7, bucket: 1 })),
        cooled: Object.fromEntries(candidates.slice(20, 30).map((c) => [`${c.zone}/${c.type}`, NOW + 60_000])),
        taskIndex: 3,
      }),
    );
    expect(placement.record.excludedCount).to.equal(30);
    expect(placement.record.excluded).to.have.length(5);
    
    const attempt = (n: number): Attempt => ({
      n,
      pool: placement.pool,
      price: placement.price,
      spotRequestId: 'sir-abcd1234',
      instanceId: 'i-0123456789abcdef0',
      ip: '10.0.12.34',
      hostKey: `ssh-ed25519 ${'A'.repeat(68)}`,
      requestedAt: NOW,
      fulfilledAt: NOW + 1,
      runningAt: NOW + 2,
      sshReadyAt: NOW + 3,
      startedAt: NOW + 4,
      endedAt: NOW + 5,
      outcome: 'interrupted',
      reason: 'spot instance interrupted (instance-terminated-no-capacity)',
      placement: placement.why,
      placementRecord: placement.record,
      interruptedBy: 'events',
      noticeTime: new Date(NOW).toISOString(),
    });
    let attempts: Attempt[] = [];
    for (let n = 1; n <= 130; n++) attempts = appendAttempts(attempts, attempt(n));
    const row = { jobId: 'job-0123456789', taskId: 't-00042', state: 'running', version: 260, index: 42, args: [], env: {}, attempts, failures: 20, interruptions: 100, avoid: candidates.slice(0, 30).map((c) => `${c.zone}/${c.type}`) };
    const bytes = itemBytes(marshall(row, { removeUndefinedValues: true }));
    // A quarter of the limit (it was about 397 000 bytes with every record whole and 20 exclusions kept).
    expect(bytes, `${bytes} bytes`).to.be.lessThan(100_000);
    // The newest keep their whole record; older ones the pool and the why's first clause.
    expect(attempts.slice(-FULL_PLACEMENT_KEPT).every((a) => a.placementRecord !== undefined && a.placement === placement.why)).to.equal(true);
    expect(attempts[0]!.placementRecord).to.equal(undefined);
    expect(attempts[0]!.pool).to.deep.equal(placement.pool);
    expect(placement.why.startsWith(attempts[0]!.placement!)).to.equal(true);
    expect(attempts[0]!.placement!.length).to.be.at.most(SHORT_WHY_CHARS);
  });
});

describe('spot request tokens (services/spot/attempt.ts requestToken)', () => {
  const a = { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' };
  const b = { region: 'us-west-2', zone: 'us-west-2a', type: 'm5.large' };
  it('one token per fleet, attempt and pool, within EC2\'s 64 characters, however long the fleet and job id', () => {
    expect(requestToken('f', 'job-1', '0003', 2, a)).to.equal(requestToken('f', 'job-1', '0003', 2, { ...a }));
    expect(requestToken('f', 'job-1', '0003', 2, a)).to.match(/^f-job-1-0003-2-[0-9a-f]{8}$/);
    expect(requestToken('f', 'job-1', '0003', 2, a)).to.not.equal(requestToken('f', 'job-1', '0003', 2, b));
    expect(requestToken('f', 'job-1', '0003', 2, a)).to.not.equal(requestToken('f', 'job-1', '0003', 3, a));
    // Tokens are the account's: another fleet running the same job id asks for another request.
    expect(requestToken('f', 'job-1', '0003', 2, a)).to.not.equal(requestToken('g', 'job-1', '0003', 2, a));
    const long = 'j'.repeat(54);
    const t = requestToken('f'.repeat(40), long, '99999', 999, a);
    expect(t.length).to.be.at.most(64);
    expect(t).to.not.equal(requestToken('f'.repeat(40), `${'j'.repeat(53)}k`, '99999', 999, a));
    expect(t).to.not.equal(requestToken('g'.repeat(40), long, '99999', 999, a));
    expect(t.endsWith(requestToken('f', 'job-1', '99999', 999, a).slice('f-job-1'.length))).to.equal(true);
  });
});
