/** Reading traces (0 = spot available), resampling to one gap, prices, and the command's --json shape. */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { loadTraces, parseTrace, poolOfFileName, resample } from '../../services/plan/trace.js';
import { resolvePrices } from '../../services/plan/prices.js';
import { simulate } from '../../services/plan/engine.js';
import { policy } from '../../services/plan/policies.js';
import { runCli } from '../helpers/cli.js';
import { input, trace } from './helpers.js';

describe('plan: traces and prices', () => {
  it('reads a tick of 0 as spot available, anything else as not (the traces\' authors\' reading)', () => {
    const t = parseTrace('x.json', JSON.stringify({ metadata: { gap_seconds: 30 }, data: [0, 1, 2, 0] }));
    expect(t.available).to.deep.equal([true, false, false, true]);
    expect(t.gapSeconds).to.equal(30);
  });

  it('names the file and the field of a trace that breaks the format', () => {
    expect(() => parseTrace('bad.json', JSON.stringify({ metadata: {}, data: [0] })))
      .to.throw(ValidationError, /trace bad\.json: metadata\.gap_seconds/);
    expect(() => parseTrace('p.json', JSON.stringify({ metadata: { gap_seconds: 5 }, data: [0, 1], prices: [1] }))).to.throw(/trace p\.json: prices: must have one price per tick/);
    expect(() => parseTrace('n.json', '{')).to.throw(/trace n\.json: \(root\): not JSON/);
  });

  it('tells the instance type and zone from the file name, or from metadata', () => {
    expect(poolOfFileName('us-east-2a_v100_1.json')).to.deep.equal({ zone: 'us-east-2a', instanceType: 'p3.2xlarge' });
    expect(poolOfFileName('us-east-1b_intel_64.json')).to.deep.equal({ zone: 'us-east-1b', instanceType: 'r5.16xlarge' });
    expect(poolOfFileName('mine.json')).to.deep.equal({});
    const t = parseTrace('mine.json', JSON.stringify({ metadata: { gap_seconds: 60, instance_type: 'm5.large', zone: 'eu-west-1a' }, data: [0] }));
    expect([t.instanceType, t.zone]).to.deep.equal(['m5.large', 'eu-west-1a']);
  });

  it('loads a folder as its *.json files in name order (the pools)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'plan-'));
    writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ metadata: { gap_seconds: 60 }, data: [1] }));
    writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ metadata: { gap_seconds: 60 }, data: [0] }));
    writeFileSync(path.join(dir, 'notes.txt'), 'not a trace');
    expect(loadTraces(dir).map((t) => t.id)).to.deep.equal(['a.json', 'b.json']);
  });

  it('resamples traces of different gaps to the smallest, keeping each one\'s length in time', () => {
    const fine = trace('fine', '1111', 60);
    const coarse = { ...trace('coarse', '10', 120), prices: [5, 7] };
    const { gapSeconds, traces } = resample([fine, coarse]);
    expect(gapSeconds).to.equal(60);
    expect(traces[0]!.available).to.deep.equal([true, true, true, true]);
    expect(traces[1]!.available).to.deep.equal([true, true, false, false]);
    expect(traces[1]!.prices).to.deep.equal([5, 5, 7, 7]);
    // Simulated on one clock: two ticks of spot on the coarse pool are two of its former one.
    const r = simulate(policy('same-pool'), input([traces[1]!], { work: 120, overhead: 0, deadline: 600, spot: [1] }));
    expect(r.finishHours * 3600).to.equal(120);
  });

  it('prices: the defaults for a trace\'s type, its own per-tick list, a price history and the advisor, each saying where from', () => {
    const [t] = loadTraces('data/market/traces/availability/aws-02-15-2023/us-east-1a_v100_1.json');
    const d = resolvePrices([t!]);
    expect(d.onDemand).to.equal(3.06);
    expect(d.spot[0]).to.be.a('number').within(0.3, 3.06);
    expect(d.source).to.match(/median advisor savings/).and.match(/us-east-1 list price of p3\.2xlarge/);
    const history = 'data/market/prices/spot_price_history_2020_gpu.csv';
    const [c] = loadTraces('data/market/traces/availability/aws-02-15-2023/us-east-1c_v100_1.json');
    const h = resolvePrices([c!], { pricesFile: history });
    expect(h.spot[0]).to.be.a('number').within(0.1, 3.06);
    // The 2020 history has no row of us-east-1a's p3.2xlarge: said, not guessed.
    expect(() => resolvePrices([t!], { pricesFile: history })).to.throw(/us-east-1a\/p3\.2xlarge: no price of this zone and type/);
    expect(h.source).to.match(/mean price of the pool's zone and type/);
    const a = resolvePrices([t!], { pricesFile: 'data/market/spot-advisor/spot-advisor-data.2025-06-28.json' });
    expect(a.source).to.match(/advisor's savings/);
    const [p] = loadTraces('data/market/traces/preemption/aws-04-19-2023/us-east-1b_intel_64.json');
    const own = resolvePrices([p!]);
    expect(own.spot[0]).to.be.an('array').with.length(p!.available.length);
    expect(own.onDemand).to.equal(4.032);
    expect(() => resolvePrices([trace('anon.json', '1')])).to.throw(/instance type is unknown/);
  });

  it('spotbatch plan --json prints the runs in the issue\'s shape, one per start hour; bad input is a usage error', async function () {
    this.timeout(300_000);
    const dir = 'data/market/traces/preemption/aws-04-19-2023';
    const r = await runCli(['plan', '--trace', dir, '--duration', '2h', '--deadline', '3h', '--start-hours', '0', '5', '--json'], {}, 240_000);
    expect(r.code, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { runs: Array<{ trace: string; startHours: number; policies: Array<Record<string, unknown>> }> };
    expect(Object.keys(out)).to.deep.equal(['runs']);
    expect(out.runs.map((x) => [x.trace, x.startHours])).to.deep.equal([[dir, 0], [dir, 5]]);
    for (const run of out.runs) {
      expect(run.policies.map((p) => p.name)).to.include.members(['on-demand', 'greedy', 'uniform-progress', 'same-pool', 'failover', 'oracle']);
      for (const p of run.policies) {
        expect(Object.keys(p)).to.deep.equal(['name', 'cost', 'onDemandCost', 'costRatio', 'finishHours', 'deadlineMet', 'interruptions', 'restarts', 'workLostHours']);
        expect(p.deadlineMet).to.equal(true);
      }
      const oracle = run.policies.find((p) => p.name === 'oracle')!;
      for (const p of run.policies) expect(oracle.cost).to.be.at.most((p.cost as number) + 1e-9);
    }
    const bad = await runCli(['plan', '--trace', dir, '--duration', 'two hours', '--deadline', '3h'], {}, 120_000);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('--duration: must be a duration');
  });
});
