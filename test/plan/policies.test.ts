/** The deadline policies over hand-made traces with known answers, and the oracle against every other policy. */
import { expect } from 'chai';
import { seededRandom } from '../../shared/backoff.js';
import { simulate } from '../../services/plan/engine.js';
import { oraclePlan } from '../../services/plan/oracle.js';
import { POLICIES, policy } from '../../services/plan/policies.js';
import type { Policy } from '../../services/plan/policy.js';
import { OD, SPOT, input, trace } from './helpers.js';

const online = (): Policy[] => Object.values(POLICIES).filter((p): p is Policy => p !== undefined && !p.offline);
const all = (): Policy[] => Object.values(POLICIES).filter((p): p is Policy => p !== undefined);
const usd = (seconds: number, price: number): number => (seconds * price) / 3600;

describe('plan: the policies on traces of known answers', () => {
  it('always available: greedy = uniform-progress = the spot cost of the work plus one overhead, on time, no interruption', () => {
    const run = input([trace('a', '1'.repeat(40))], { work: 600, deadline: 1800, overhead: 60 });
    for (const name of ['greedy', 'uniform-progress', 'same-pool', 'failover', 'oracle']) {
      const r = simulate(policy(name), run);
      expect(r.cost, name).to.be.closeTo(usd(660, SPOT), 1e-9);
      expect(r.finishHours * 3600, name).to.be.closeTo(660, 1e-9);
      expect(r.deadlineMet, name).to.equal(true);
      expect([r.interruptions, r.restarts], name).to.deep.equal([0, 0]);
      expect(r.workLostHours * 3600, name).to.be.closeTo(60, 1e-9);
      expect(r.onDemandCost).to.be.closeTo(usd(600, OD), 1e-9);
      expect(r.costRatio).to.be.closeTo(usd(660, SPOT) / usd(600, OD), 1e-9);
    }
  });

  it('never available: on demand from the safety net, finishing by the deadline, at the on-demand cost of work plus overhead', () => {
    const run = input([trace('a', '0'.repeat(40))], { work: 600, deadline: 1800, overhead: 60 });
    for (const p of all()) {
      const r = simulate(p, run);
      expect(r.cost, p.name).to.be.closeTo(usd(660, OD), 1e-9);
      expect(r.deadlineMet, p.name).to.equal(true);
      expect(r.finishHours * 3600, p.name).to.be.at.most(1800);
      expect(r.interruptions, p.name).to.equal(0);
    }
    // The greedy waits until the last safe moment: 1800 - (600 + 60 + one 60 s step) = 1080 s, the tick that starts there.
    expect(simulate(policy('greedy'), run).finishHours * 3600).to.equal(1080 + 660);
    expect(simulate(policy('on-demand'), run).finishHours * 3600).to.equal(660);
  });

  it('after a preemption same-pool waits for its pool, failover moves to the next one', () => {
    // Pool a: 5 ticks of spot, then 10 without, then spot again; pool b: always spot, at a higher price.
    const a = trace('a', '11111' + '0'.repeat(10) + '1'.repeat(40));
    const b = trace('b', '1'.repeat(55));
    const run = input([a, b], { work: 900, deadline: 3000, overhead: 60, spot: [1, 2] });
    const same = simulate(policy('same-pool'), run);
    const fail = simulate(policy('failover'), run);
    expect(same.interruptions).to.equal(1);
    expect(fail.interruptions).to.equal(1);
    expect(same.restarts).to.equal(1);
    expect(fail.restarts).to.equal(1);
    // Both ran 5 ticks (300 s, 240 s of progress) on a; then failover runs 660 s on b at once,
    // same-pool waits 10 ticks and runs 660 s on a again.
    expect(fail.finishHours * 3600).to.be.closeTo(300 + 720, 1e-9);
    expect(fail.cost).to.be.closeTo(usd(300, 1) + usd(720, 2), 1e-9);
    expect(same.finishHours * 3600).to.be.closeTo(300 + 600 + 720, 1e-9);
    expect(same.cost).to.be.closeTo(usd(300, 1) + usd(720, 1), 1e-9);
    expect(same.workLostHours * 3600).to.be.closeTo(120, 1e-9);
  });

  it('a preemption in the middle of a start loses the overhead paid so far, and counts it as work lost', () => {
    // Overhead 90 s over 60 s ticks: one tick of it, then the pool goes, then it comes back.
    const run = input([trace('a', '10' + '1'.repeat(40))], { work: 300, deadline: 3000, overhead: 90 });
    const r = simulate(policy('greedy'), run);
    expect(r.interruptions).to.equal(1);
    expect(r.workLostHours * 3600).to.be.closeTo(60 + 90, 1e-9);
    expect(r.cost).to.be.closeTo(usd(60 + 390, SPOT), 1e-9);
    expect(r.finishHours * 3600).to.be.closeTo(120 + 390, 1e-9);
  });

  it('uniform-progress goes on demand when behind the line while spot is gone, where greedy waits', () => {
    // No spot for 10 ticks, then spot for good: greedy waits, uniform-progress starts on demand at once (behind at t > 0).
    const run = input([trace('a', '0'.repeat(10) + '1'.repeat(60))], { work: 1200, deadline: 2400, overhead: 30 });
    const up = simulate(policy('uniform-progress'), run);
    const greedy = simulate(policy('greedy'), run);
    expect(up.finishHours).to.be.below(greedy.finishHours);
    expect(up.cost).to.be.above(greedy.cost);
    expect(up.deadlineMet && greedy.deadlineMet).to.equal(true);
  });

  it('runs past the end of a trace by wrapping around to its start', () => {
    const r = simulate(policy('greedy'), input([trace('a', '1100')], { work: 600, deadline: 3600, overhead: 0 }));
    // Two ticks of spot in every four: 600 s of work takes 10 spot ticks, the last one is tick 17 (the 5th lap).
    expect(r.finishHours * 3600).to.be.closeTo(1080, 1e-9);
    expect(r.interruptions).to.equal(4);
  });

  it('a policy that picks a pool without capacity is a bug, and says so', () => {
    const bad: Policy = { name: 'greedy', offline: false, decide: () => ({ mode: 'spot', pool: 'a' }) };
    expect(() => simulate(bad, input([trace('a', '0111')]))).to.throw(/no capacity \(a policy bug\)/);
  });

  it('the availability stats a policy sees cover the run so far only', () => {
    const seen: Array<{ up: number; down: number; streak: number; observed: number }> = [];
    const spy: Policy = {
      name: 'greedy',
      offline: false,
      decide(s) {
        const st = s.pools[0]!.stats;
        seen.push({ up: st.upRuns, down: st.downRuns, streak: st.streakSeconds, observed: st.observedSeconds });
        return policy('greedy').decide(s);
      },
    };
    simulate(spy, input([trace('a', '1' + '110011' + '1'.repeat(30))], { startTick: 1, work: 300, deadline: 3000, overhead: 0 }));
    expect(seen.slice(0, 5)).to.deep.equal([
      { up: 0, down: 0, streak: 60, observed: 60 },
      { up: 0, down: 0, streak: 120, observed: 120 },
      { up: 1, down: 0, streak: 60, observed: 180 },
      { up: 1, down: 0, streak: 120, observed: 240 },
      { up: 1, down: 1, streak: 60, observed: 300 },
    ]);
  });

  it('the oracle is never above any other policy, and meets the deadline whenever one does (random small traces, seeded)', function () {
    this.timeout(300_000);
    const random = seededRandom(15);
    const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
    let cheaper = 0;
    for (let i = 0; i < 150; i++) {
      const gap = 60;
      const pools = int(1, 3);
      const traces = Array.from({ length: pools }, (_, p) => {
        let up = random() < 0.5;
        let s = '';
        while (s.length < 60) {
          s += (up ? '1' : '0').repeat(int(1, 8));
          up = !up;
        }
        return trace(`p${p}`, s, gap);
      });
      const work = int(3, 20) * 60 + int(0, 59);
      const overhead = [0, 30, 60, 90, 150][int(0, 4)]!;
      const deadline = work + overhead + gap + int(0, 25) * 60;
      const spot = traces.map(() => (random() < 0.3 ? Array.from({ length: 60 }, () => 0.5 + random()) : 0.3 + random()));
      const run = input(traces, { work, overhead, deadline, spot, startTick: int(0, 30) });
      const best = simulate(policy('oracle'), run);
      // The replayed plan costs what the programme found: its own plan replayed again gives the same.
      expect(oraclePlan(run).length).to.be.greaterThan(0);
      for (const p of online()) {
        const r = simulate(p, run);
        if (r.deadlineMet) {
          expect(best.deadlineMet, `case ${i}: ${p.name} met the deadline`).to.equal(true);
          expect(best.cost, `case ${i}: oracle vs ${p.name}`).to.be.at.most(r.cost + 1e-9);
          if (best.cost < r.cost - 1e-9) cheaper++;
        }
      }
    }
    expect(cheaper).to.be.greaterThan(0);
  });
});
