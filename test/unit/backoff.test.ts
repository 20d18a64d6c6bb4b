import { expect } from 'chai';
import { backoffCeiling, backoffDelay, backoffSeconds, equalJitter, exponential, fixed, fullJitter, retrying, seededRandom } from '../../shared/backoff.js';
import { retryVisibilitySeconds } from '../../services/dispatcher/dispatcher.js';

describe('backoff (shared/backoff.ts)', () => {
  const full = fullJitter({ base: 1, cap: 60 });

  it('doubles per try up to the cap, before jitter', () => {
    expect(Array.from({ length: 9 }, (_, n) => backoffCeiling(n, exponential({ base: 1, cap: 110 })))).to.deep.equal([1, 2, 4, 8, 16, 32, 64, 110, 110]);
    expect(backoffCeiling(10_000, exponential({ base: 5, cap: 60 }))).to.equal(60);
    expect(backoffCeiling(-3, exponential({ base: 5, cap: 60 }))).to.equal(5);
  });

  it('full jitter stays in [min, ceiling] and spreads over it', () => {
    const random = seededRandom(42);
    for (let n = 0; n < 12; n++) {
      const draws = Array.from({ length: 200 }, () => backoffDelay(n, full, random));
      const ceiling = backoffCeiling(n, full);
      for (const d of draws) expect(d).to.be.within(0, ceiling);
      // jitter: not all the same, and reaching both halves of the range
      expect(new Set(draws).size).to.be.greaterThan(100);
      expect(draws.some((d) => d < ceiling / 2)).to.equal(true);
      expect(draws.some((d) => d > ceiling / 2)).to.equal(true);
    }
    for (let i = 0; i < 100; i++) expect(backoffDelay(3, { ...full, min: 2 }, Math.random)).to.be.within(2, 8);
  });

  it('equal jitter never waits less than half the ceiling, nor more than the cap', () => {
    const p = equalJitter({ base: 5, cap: 110 });
    const random = seededRandom(7);
    for (let n = 0; n < 40; n++) {
      for (let i = 0; i < 50; i++) expect(backoffDelay(n, p, random)).to.be.within(backoffCeiling(n, p) / 2, 110);
    }
    // the extremes of the random source land on the bounds
    expect(backoffDelay(2, p, () => 0)).to.equal(10);
    expect(backoffDelay(2, p, () => 0.999999999)).to.be.closeTo(20, 1e-6);
  });

  it('whole seconds are rounded up and never above the cap (SQS delays)', () => {
    const random = seededRandom(3);
    for (let n = 0; n < 20; n++) {
      const s = backoffSeconds(n, equalJitter({ base: 1, cap: 110, min: 1 }), random);
      expect(Number.isInteger(s)).to.equal(true);
      expect(s).to.be.within(1, 110);
    }
    expect(backoffSeconds(0, exponential({ base: 0.2, cap: 900 }))).to.equal(1);
    expect(backoffSeconds(50, exponential({ base: 1, cap: 110.5 }))).to.equal(110);
  });

  it('a seeded source gives the same delays twice', () => {
    const a = seededRandom(9);
    const b = seededRandom(9);
    const da = Array.from({ length: 10 }, (_, n) => backoffDelay(n, full, a));
    const db = Array.from({ length: 10 }, (_, n) => backoffDelay(n, full, b));
    expect(da).to.deep.equal(db);
    for (const r of Array.from({ length: 1000 }, seededRandom(1))) expect(r).to.be.within(0, 1);
  });

  it('retrying: tries again on a retryable error with the policy delays, at most `attempts` times', async () => {
    const waits: number[] = [];
    let calls = 0;
    const fail = async (): Promise<string> => {
      calls++;
      throw new Error('NotFound');
    };
    const opts = { policy: exponential({ base: 100, cap: 1000 }), attempts: 4, retryable: () => true, sleep: async (ms: number) => void waits.push(ms) };
    let thrown: unknown;
    await retrying(fail, opts).catch((err: unknown) => (thrown = err));
    expect((thrown as Error).message).to.equal('NotFound');
    expect(calls).to.equal(4);
    expect(waits).to.deep.equal([100, 200, 400]);

    calls = 0;
    const once = async (): Promise<string> => {
      calls++;
      if (calls < 3) throw new Error('later');
      return 'ok';
    };
    expect(await retrying(once, opts)).to.equal('ok');

    calls = 0;
    await retrying(fail, { ...opts, retryable: () => false }).catch(() => undefined);
    expect(calls).to.equal(1);
  });

  it('fixed: the same delay every try, jittered within [delay * (1 - jitter), delay], never above it', () => {
    expect(Array.from({ length: 6 }, (_, n) => backoffDelay(n, fixed(250)))).to.deep.equal([250, 250, 250, 250, 250, 250]);
    const random = seededRandom(5);
    for (let n = 0; n < 200; n++) expect(backoffDelay(n, fixed(1000, { jitter: 0.2 }), random)).to.be.within(800, 1000);
    expect(backoffDelay(0, fixed(1000, { jitter: 1 }), () => 0)).to.equal(0);
    expect(backoffDelay(0, fixed(1000, { jitter: 1, min: 100 }), () => 0)).to.equal(100);
    expect(backoffSeconds(7, fixed(3.2))).to.equal(3);
  });

  it('jitter is the random share of the delay (BullMQ): an injected random picks the point in the range', () => {
    const b = exponential({ base: 10, cap: 1000, jitter: 0.3 });
    // try 2: ceiling 40, range [28, 40]
    expect(backoffDelay(2, b, () => 0)).to.equal(28);
    expect(backoffDelay(2, b, () => 0.5)).to.be.closeTo(34, 1e-9);
    expect(backoffDelay(2, b, () => 1)).to.equal(40);
    // out-of-range jitter and random values are clamped
    expect(backoffDelay(2, exponential({ base: 10, cap: 1000, jitter: 7 }), () => 0)).to.equal(0);
    expect(backoffDelay(2, exponential({ base: 10, cap: 1000, jitter: -1 }), () => 0)).to.equal(40);
    expect(backoffDelay(2, fullJitter({ base: 10, cap: 1000 }), () => 2)).to.equal(40);
    // the cap holds past any number of tries, jittered or not
    for (const r of [0, 0.5, 1]) expect(backoffDelay(60, equalJitter({ base: 1, cap: 90 }), () => r)).to.be.within(45, 90);
  });

  it('the dispatcher hides a failed message 1, 2, 4 ... s by receive count, jittered, within retryBackoffMaxSeconds', () => {
    const top = () => 0.999999999;
    expect([1, 2, 3, 4, 5, 10, 40].map((n) => retryVisibilitySeconds(n, 300, top))).to.deep.equal([1, 2, 4, 8, 16, 300, 300]);
    const random = seededRandom(11);
    for (let n = 1; n < 30; n++) {
      const ceiling = Math.min(300, 2 ** (n - 1));
      for (let i = 0; i < 20; i++) expect(retryVisibilitySeconds(n, 300, random)).to.be.within(Math.max(1, Math.floor(ceiling / 2)), ceiling);
    }
  });
});
