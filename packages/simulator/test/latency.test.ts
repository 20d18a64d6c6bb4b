import { expect } from 'chai';
import { drawLatencyMs, parseLatency } from '../src/latency.js';

describe('simulator launch latency on a command line (parseLatency)', () => {
  it('reads fixed, uniform and lognormal distributions', () => {
    expect(parseLatency('0')).to.deep.equal({ kind: 'fixed', seconds: 0 });
    expect(parseLatency(' 12.5 ')).to.deep.equal({ kind: 'fixed', seconds: 12.5 });
    expect(parseLatency('1.5..30')).to.deep.equal({ kind: 'uniform', min: 1.5, max: 30 });
    expect(parseLatency('lognormal:20,0.35')).to.deep.equal({ kind: 'lognormal', median: 20, sigma: 0.35 });
  });

  it('draws within the distribution, the same for the same seed and ordinal', () => {
    const u = parseLatency('10..20');
    for (let i = 0; i < 50; i++) expect(drawLatencyMs(u, 3, i)).to.be.within(10_000, 20_000);
    expect(drawLatencyMs(parseLatency('lognormal:20,0.35'), 3, 7)).to.equal(drawLatencyMs(parseLatency('lognormal:20,0.35'), 3, 7));
  });

  for (const bad of ['', 'fast', '-1', '20..10', '5..', 'lognormal:0,1', 'lognormal:20', 'lognormal:20,-1', 'Infinity']) {
    it(`refuses ${JSON.stringify(bad)} naming the forms it takes`, () => {
      expect(() => parseLatency(bad)).to.throw(/N \(fixed seconds\), MIN\.\.MAX \(uniform\) or lognormal:MEDIAN,SIGMA/);
    });
  }
});
