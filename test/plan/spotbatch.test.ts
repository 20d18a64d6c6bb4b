import { expect } from 'chai';
import { seededRandom } from '../../shared/backoff.js';
import { simulate, type SimInput } from '../../services/plan/engine.js';
import { uniformProgress } from '../../services/plan/policies.js';
import type { AvailabilityStats, PolicyState, PoolState } from '../../services/plan/policy.js';
import { decideSpotbatch, expectedSpotWork, spotbatch, spotOutlook } from '../../services/plan/spotbatch.js';
import type { Trace } from '../../services/plan/trace.js';

const MIN = 60;
const HOUR = 3600;

const trace = (id: string, available: boolean[], gapSeconds = MIN): Trace => ({ id, file: id, gapSeconds, available });
const input = (traces: Trace[], work: number, deadline: number, overhead: number): SimInput => ({
  traces,
  startTick: 0,
  work,
  deadline,
  overhead,
  prices: { onDemand: 3, spot: traces.map(() => 1), source: 'test' },
});

/** Alternating up and down runs with exponential lengths (ticks), seeded. */
function markov(rand: () => number, ticks: number, meanUp: number, meanDown: number): boolean[] {
  const out: boolean[] = [];
  let up = rand() < meanUp / (meanUp + meanDown);
  while (out.length < ticks) {
    const len = Math.max(1, Math.round(-Math.log(1 - rand()) * (up ? meanUp : meanDown)));
    for (let i = 0; i < len && out.length < ticks; i++) out.push(up);
    up = !up;
  }
  return out;
}

const noStats: AvailabilityStats = { observedSeconds: 0, availableSeconds: 0, upRuns: 0, downRuns: 0, upSeconds: 0, downSeconds: 0, streakSeconds: 0 };
const pool = (id: string, available: boolean, stats: AvailabilityStats = noStats): PoolState => ({ id, spotPrice: 1, available, stats });
const state = (over: Partial<PolicyState>): PolicyState => ({
  elapsed: 0,
  deadline: 70 * HOUR,
  work: 48 * HOUR,
  done: 0,
  overhead: 12 * MIN,
  step: MIN,
  running: { mode: 'none' },
  pendingOverhead: 0,
  preemptions: 0,
  onDemandPrice: 3,
  pools: [],
  ...over,
});

describe('plan: the spotbatch policy', () => {
  it('meets every deadline on seeded random markets of one to three pools', () => {
    const rand = seededRandom(15);
    for (let i = 0; i < 40; i++) {
      const work = Math.round((1 + rand() * 4) * HOUR);
      const overhead = Math.round((1 + rand() * 11) * MIN);
      // Feasible: on demand from the start (one overhead, one step late) still makes it.
      const deadline = Math.round(work + overhead + MIN + rand() * 0.6 * work);
      const ticks = Math.ceil(deadline / MIN) + 2;
      const traces = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, p) => trace(`p${p}`, markov(rand, ticks, 5 + rand() * 90, 2 + rand() * 90)));
      const r = simulate(spotbatch, input(traces, work, deadline, overhead));
      expect(r.deadlineMet, `case ${i}: work ${work} s, deadline ${deadline} s, overhead ${overhead} s, ${traces.length} pools: finished at ${r.finishHours} h`).to.equal(true);
    }
  });

  it('costs what uniform-progress costs where nothing is to be gained: spot always there, or never', () => {
    const work = 2 * HOUR;
    const deadline = 3 * HOUR;
    for (const available of [true, false]) {
      const traces = [trace('a', Array<boolean>(200).fill(available))];
      const up = simulate(uniformProgress, input(traces, work, deadline, 5 * MIN));
      const sb = simulate(spotbatch, input(traces, work, deadline, 5 * MIN));
      expect(sb.deadlineMet).to.equal(true);
      expect(sb.cost).to.be.at.most(up.cost + 1e-9);
      // Always there: spot for the work plus one overhead; never: on demand.
      expect(sb.cost).to.be.closeTo(available ? (work + 5 * MIN) / HOUR : sb.cost, 1e-9);
      if (!available) expect(sb.interruptions).to.equal(0);
    }
  });

  it('is not above uniform-progress when a short gap breaks a long spot run and the slack is large', () => {
    // 3 h of spot, a 10 min gap, then spot again, cycling: UP bridges the gap on demand once behind its line.
    const cycle = [...Array<boolean>(180).fill(true), ...Array<boolean>(10).fill(false)];
    const traces = [trace('a', Array.from({ length: 1200 }, (_, i) => cycle[i % cycle.length]!))];
    const up = simulate(uniformProgress, input(traces, 8 * HOUR, 12 * HOUR, 3 * MIN));
    const sb = simulate(spotbatch, input(traces, 8 * HOUR, 12 * HOUR, 3 * MIN));
    expect(sb.deadlineMet).to.equal(true);
    expect(sb.cost).to.be.at.most(up.cost + 1e-9);
  });

  it('after a preemption with tight slack, moves to another pool that has spot instead of waiting or going on demand', () => {
    const s = state({
      elapsed: 10 * HOUR,
      done: 9 * HOUR,
      deadline: 50 * HOUR,
      lastPool: 'a',
      preemptions: 1,
      pools: [pool('a', false), pool('b', true)],
    });
    expect(decideSpotbatch(s)).to.deep.equal({ mode: 'spot', pool: 'b' });
  });

  it('waits out a short gap while the slack is large, where uniform-progress goes on demand', () => {
    // 10 h watched: 9 h available in 10 runs, 10 gaps of 6 min; behind the line (8 h done, line at 8.57 h).
    const stats: AvailabilityStats = { observedSeconds: 10 * HOUR, availableSeconds: 9 * HOUR, upRuns: 10, downRuns: 10, upSeconds: 9 * HOUR, downSeconds: HOUR, streakSeconds: 2 * MIN };
    const s = state({ elapsed: 12.5 * HOUR, done: 8 * HOUR, deadline: 70 * HOUR, work: 48 * HOUR, overhead: 3 * MIN, lastPool: 'a', preemptions: 1, pools: [pool('a', false, stats)] });
    expect(uniformProgress.decide(s)).to.deep.equal({ mode: 'on-demand' });
    expect(decideSpotbatch(s)).to.deep.equal({ mode: 'none' });
  });

  it('passes over a pool whose spot runs are too short to pay for the overhead, and takes the one whose runs are long', () => {
    // Pool a: runs of 10 min on average, overhead 12 min; pool b: runs of 3 h.
    const short: AvailabilityStats = { ...noStats, observedSeconds: 10 * HOUR, availableSeconds: 2 * HOUR, upRuns: 12, downRuns: 12 };
    const long: AvailabilityStats = { ...noStats, observedSeconds: 10 * HOUR, availableSeconds: 6 * HOUR, upRuns: 2, downRuns: 2 };
    const base = { elapsed: 10 * HOUR, done: 9 * HOUR, deadline: 60 * HOUR };
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', true, short), pool('b', true, long)] }))).to.deep.equal({ mode: 'spot', pool: 'b' });
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', true, short)] })).mode).to.not.equal('spot');
  });

  it('goes on demand at the safety net even with spot there', () => {
    const s = state({ elapsed: 10 * HOUR, done: 10 * HOUR - 10 * MIN, deadline: 48 * HOUR, pools: [pool('a', true)] });
    expect(decideSpotbatch(s)).to.deep.equal({ mode: 'on-demand' });
  });

  it('decides as uniform-progress whenever no pool has evidence (no completed run), on random states', () => {
    const rand = seededRandom(7);
    for (let i = 0; i < 2000; i++) {
      const work = (1 + rand() * 47) * HOUR;
      const deadline = work * (1 + rand() * 0.5) + 30 * MIN;
      const elapsed = rand() * deadline;
      const done = Math.min(work - MIN, rand() * elapsed);
      const mode = (['none', 'on-demand', 'spot'] as const)[Math.floor(rand() * 3)]!;
      const pools = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, p) => pool(`p${p}`, rand() < 0.5, { ...noStats, observedSeconds: elapsed }));
      const running = mode === 'spot' ? { mode, pool: 'p0' } : { mode };
      if (mode === 'spot' && !pools[0]!.available) continue;
      const s = state({ elapsed, deadline, work, done, overhead: (1 + rand() * 11) * MIN, running, pendingOverhead: 0, pools });
      // Where the slack cannot hold a move and its way back, spotbatch keeps the safety net's room (UP does not look).
      const slack = deadline - elapsed - (work - done);
      if (slack <= 2 * s.overhead + s.step) continue;
      expect(decideSpotbatch(s), JSON.stringify({ elapsed, deadline, work, done, mode })).to.deep.equal(uniformProgress.decide(s));
    }
  });

  it('expects a x window of spot work less an overhead per restart, with a deviation that shrinks as the pool is watched longer', () => {
    // One pool, up and down runs of 1 h: a = 0.5, a restart every 2 h.
    const stats = (watched: number): AvailabilityStats => ({ ...noStats, observedSeconds: watched, availableSeconds: watched / 2, upRuns: watched / (2 * HOUR), downRuns: watched / (2 * HOUR) });
    const s = (watched: number) => state({ overhead: 6 * MIN, pools: [pool('a', false, stats(watched))] });
    const short = spotOutlook(s(4 * HOUR))!;
    const long = spotOutlook(s(40 * HOUR))!;
    expect(short.availability).to.be.closeTo(0.5, 1e-12);
    expect(short.restartRate * 2 * HOUR).to.be.closeTo(1, 1e-12);
    const w = 10 * HOUR;
    expect(expectedSpotWork(long, w, 6 * MIN).mean).to.be.closeTo(5 * HOUR - 5 * 6 * MIN, 1e-6);
    expect(expectedSpotWork(short, w, 6 * MIN).sd).to.be.greaterThan(expectedSpotWork(long, w, 6 * MIN).sd);
    // No pool with a whole up and down run: no outlook.
    expect(spotOutlook(state({ pools: [pool('a', true, { ...noStats, observedSeconds: HOUR, availableSeconds: HOUR })] }))).to.equal(undefined);
  });

  it('waits out a gap behind the line only when the expected spot work, less its deviation, covers the rest; thin evidence follows the line', () => {
    // 90% available in runs of 54 min and gaps of 6 min; 44 h left in 57.5 h, behind the uniform progress line. Watched 10 h: about
    // 49 h of spot expected (51.75 h less a 3 min restart an hour), deviation 2.5 h: wait.
    const base = { elapsed: 12.5 * HOUR, done: 4 * HOUR, deadline: 70 * HOUR, work: 48 * HOUR, overhead: 3 * MIN, lastPool: 'a', preemptions: 1 };
    const watched = (h: number): AvailabilityStats => ({ ...noStats, observedSeconds: h * HOUR, availableSeconds: 0.9 * h * HOUR, upRuns: h, downRuns: h });
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', false, watched(10))] }))).to.deep.equal({ mode: 'none' });
    // One cycle watched: the deviation is 7.4 h (the estimate's own error), 41.5 h < 44 h: the line decides, on demand.
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', false, watched(1))] }))).to.deep.equal(uniformProgress.decide(state({ ...base, pools: [pool('a', false)] })));
    // 30% available: the 57.5 h left hold about 17 h of spot, not the 44 h left to do: the line decides (on demand).
    const scarce: AvailabilityStats = { ...noStats, observedSeconds: 10 * HOUR, availableSeconds: 3 * HOUR, upRuns: 10, downRuns: 10 };
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', false, scarce)] }))).to.deep.equal({ mode: 'on-demand' });
  });

  it('leaves on demand for spot only when the expected up run pays two overheads, and without evidence only ahead of the line', () => {
    const base = { elapsed: 10 * HOUR, done: 9 * HOUR, deadline: 60 * HOUR, running: { mode: 'on-demand' as const } };
    // k = 1/3, d = 12 min: two overheads need U > 36 min.
    const runs = (upMin: number): AvailabilityStats => ({ ...noStats, observedSeconds: 10 * HOUR, availableSeconds: 10 * upMin * MIN, upRuns: 10, downRuns: 10 });
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', true, runs(30))] }))).to.deep.equal({ mode: 'on-demand' });
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', true, runs(40))] }))).to.deep.equal({ mode: 'spot', pool: 'a' });
    // No evidence, behind the line (9 h done, line at 8 h: ahead by 1 h >= 24 min): spot; at 8.2 h done, not ahead by two overheads: stay.
    expect(decideSpotbatch(state({ ...base, pools: [pool('a', true)] }))).to.deep.equal({ mode: 'spot', pool: 'a' });
    expect(decideSpotbatch(state({ ...base, done: 8.2 * HOUR, pools: [pool('a', true)] }))).to.deep.equal({ mode: 'on-demand' });
  });
});
