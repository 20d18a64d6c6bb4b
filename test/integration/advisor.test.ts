import { expect } from 'chai';
import { startHarness, credentials, type Harness } from '@spotbatch/simulator/testing';
import { createCloudClients } from '../../shared/aws.js';
import { FleetResources } from '../../shared/resources.js';
import type { MarketSignals, PoolSignals } from '../../services/market/signals.js';
import { advise } from '../../services/spot/advisor.js';

/** A market store's answers, as the collectors would have left them (MarketSignals is ours, not the SDK's). */
function signalsOf(pools: PoolSignals[], blocked: Map<string, { until: number; reason: string }> = new Map()): MarketSignals {
  const none = () => Promise.resolve();
  return { pools: () => Promise.resolve(pools), blockedRegions: () => Promise.resolve(blocked), recordLaunch: none, recordRun: none, markNoCapacity: none, markRegionBlocked: none };
}

describe('spotbatch advisor (services/spot/advisor.ts, simulator prices)', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  const deps = (market: MarketSignals) => ({ cloud: createCloudClients({ region: 'us-east-1', endpoints: { ec2: h.sim.endpoint, iam: h.sim.endpoint }, credentials }), resources: new FleetResources(), market });
  const req = { regions: ['us-east-1', 'us-west-2'], types: ['m5.large', 'm6i.large', 'c5.large'], now: Date.now() };

  it('ranks every pool of the types in the regions, best first, in the JSON shape the CLI prints', async () => {
    const advice = await advise(deps(signalsOf([])), req);
    expect(advice.pools.length).to.be.greaterThan(6);
    expect(new Set(advice.pools.map((p) => p.region))).to.deep.equal(new Set(req.regions));
    for (const p of advice.pools) expect(Object.keys(p)).to.deep.equal(['region', 'zone', 'type', 'price', 'score', 'interruption', 'launchP50Seconds', 'expectedCostPerHour', 'why']);
    const costs = advice.pools.map((p) => p.expectedCostPerHour);
    expect(costs).to.deep.equal([...costs].sort((a, b) => a - b));
    expect(advice.pools[0]!.why).to.match(/^lowest expected cost per task-hour/);
  });

  it('uses the market signals: a risky, low-scoring pool drops below a safe one, a blocked region is left out', async () => {
    const plain = await advise(deps(signalsOf([])), req);
    const best = plain.pools.find((p) => p.region === 'us-east-1')!;
    const risky: PoolSignals = { region: best.region, zone: best.zone, type: best.type, bucket: 4, score: 2, observed: { runs: 20, interruptions: 15, hours: 10 } };
    const advice = await advise(deps(signalsOf([risky], new Map([['us-west-2', { until: Date.now() + 60_000, reason: 'MaxSpotInstanceCountExceeded' }]]))), req);
    expect(advice.pools.every((p) => p.region === 'us-east-1')).to.equal(true);
    expect(advice.excluded.some((e) => e.region === 'us-west-2' && /quota/.test(e.reason))).to.equal(true);
    const moved = advice.pools.findIndex((p) => p.zone === best.zone && p.type === best.type);
    expect(moved).to.be.greaterThan(0);
    expect(advice.pools[moved]).to.include({ score: 2, interruption: '>20%' });
  });
});
