/**
 * Two fleets in one process (two stacks, as the e2e tests build them) share
 * no module state: each has its own price cache and SSH pool, among the
 * resources on its deps (shared/resources.ts).
 */
import { expect } from 'chai';
import { currentPrices, PRICE_CACHE, type PoolPrice } from '../../services/spot/pricing.js';
import { SSH_POOL } from '../../services/ssh/session.js';
import { FleetResources } from '../../shared/resources.js';
import { startStack, type Stack } from '../helpers/stack.js';

const REGION = 'us-east-1';
const TYPES = ['m5.large', 'c5.large'];

const priceCalls = async (s: Stack): Promise<number> => {
  const stats = (await s.stats()) as { calls?: Record<string, Record<string, number>> };
  return stats.calls?.DescribeSpotPriceHistory?.[REGION] ?? 0;
};
const byPool = (prices: PoolPrice[]): Record<string, number> => Object.fromEntries(prices.map((p) => [`${p.zone}/${p.type}`, p.price]));

describe('two fleets in one process', function () {
  this.timeout(90_000);
  let a: Stack | undefined;
  let b: Stack | undefined;
  before(async () => {
    // Two simulators whose markets differ (the seed moves prices).
    a = await startStack({ seed: 1 });
    b = await startStack({ seed: 2 });
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('each looks prices up in its own simulator, through its own cache', async () => {
    const [sa, sb] = [a!, b!];
    const now = Date.now();
    const fleetA = await currentPrices({ cloud: sa.cloud, resources: sa.fleet.deps.resources }, REGION, TYPES, now);
    expect(sa.fleet.deps.resources.get(PRICE_CACHE).size).to.equal(1);
    // The same region and types in the other fleet: not served from the first fleet's cache, but asked of its own simulator.
    const before = await priceCalls(sb);
    const fleetB = await currentPrices({ cloud: sb.cloud, resources: sb.fleet.deps.resources }, REGION, TYPES, now);
    expect(await priceCalls(sb)).to.equal(before + 1);
    expect(byPool(fleetB)).not.to.deep.equal(byPool(fleetA));
    // What B's simulator says (a lookup with no cache of any fleet).
    const direct = await currentPrices({ cloud: sb.cloud, resources: new FleetResources() }, REGION, TYPES, now);
    expect(Object.keys(byPool(fleetB)).sort()).to.deep.equal(Object.keys(byPool(direct)).sort());
    // And again in A: a hit in A's own cache, no call to B's simulator.
    const again = await priceCalls(sb);
    expect(await currentPrices({ cloud: sa.cloud, resources: sa.fleet.deps.resources }, REGION, TYPES, now)).to.equal(fleetA);
    expect(await priceCalls(sb)).to.equal(again);
  });

  it('each has its own SSH pool and resources', () => {
    const [ra, rb] = [a!.fleet.deps.resources, b!.fleet.deps.resources];
    expect(ra).not.to.equal(rb);
    expect(ra.get(SSH_POOL)).not.to.equal(rb.get(SSH_POOL));
    expect(ra.get(SSH_POOL)).to.equal(ra.get(SSH_POOL));
  });
});
