import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { marketSignals } from '../../services/market/store.js';
import { MARKET_CACHE_TTL_MS } from '../../services/spot/market-cache.js';
import { marketOf } from '../../services/spot/market-link.js';
import { destroyClients, type CoreClients } from '../../shared/aws.js';
import { FleetResources } from '../../shared/resources.js';
import { tableNames } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, TestClock, uniquePrefix } from '../helpers/fleet.js';

/** Every DynamoDB call made through the clients: command and table. */
interface Call {
  command: string;
  table?: string;
}

type Counted = { middlewareStack: { add: (mw: unknown, opts: { step: string; name: string }) => void } };

function countCalls(clients: CoreClients): Call[] {
  const calls: Call[] = [];
  (clients.ddb as unknown as Counted).middlewareStack.add(
    (next: (a: { input: { TableName?: string } }) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: { TableName?: string } }) => {
      calls.push({ command: context.commandName ?? '?', ...(args.input.TableName ? { table: args.input.TableName } : {}) });
      return next(args);
    },
    { step: 'initialize', name: 'marketCacheTestCalls' },
  );
  return calls;
}

/** spot.request's market reads, cached per fleet (services/spot/market-cache.ts), over dynalite. */
describe('market signals cache (dynalite)', function () {
  this.timeout(60_000);
  let emu: Emulators;
  let clients: CoreClients;
  let calls: Call[];
  let table: string;
  let deps: { clients: CoreClients; config: { prefix: string }; clock: TestClock; resources: FleetResources };
  const a = { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' };
  const c = { region: 'us-east-1', zone: 'us-east-1c', type: 'm5.large' };
  const reads = () => calls.filter((x) => x.table === table && ['QueryCommand', 'GetCommand', 'ScanCommand'].includes(x.command)).length;
  const writes = () => calls.filter((x) => x.table === table && !['QueryCommand', 'GetCommand', 'ScanCommand'].includes(x.command)).length;

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
    calls = countCalls(clients);
  });
  beforeEach(async () => {
    const prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    table = tableNames(prefix).market;
    const clock = new TestClock(Date.parse('2026-03-01T12:00:00Z'));
    deps = { clients, config: { prefix }, clock, resources: new FleetResources() };
    await marketSignals(deps).applyPoolValues('us-east-1', [
      { zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: clock.now() },
      { zone: 'us-east-1b', type: 'm5.large', price: 0.029, priceAt: clock.now() },
    ], clock.now());
  });
  after(async () => {
    destroyClients(clients);
    await emu?.stop();
  });

  it('a second request within the TTL reads nothing from the market table; after it, the store is read again', async () => {
    calls.length = 0;
    const first = marketOf(deps);
    const pools = await first.pools(['us-east-1'], ['m5.large'], deps.clock.now());
    const blocked = await first.blockedRegions(deps.clock.now());
    expect(pools.map((p) => p.zone)).to.deep.equal(['us-east-1a', 'us-east-1b']);
    expect(blocked.size).to.equal(0);
    // Pools, region-and-type rows and runs for the region, and the blocked regions: four queries.
    expect(reads()).to.equal(4);

    // The next request (a new handler context of the same fleet), a few seconds later: no read at all.
    calls.length = 0;
    deps.clock.advance(MARKET_CACHE_TTL_MS / 2);
    const second = marketOf(deps);
    expect(await second.pools(['us-east-1'], ['m5.large'], deps.clock.now())).to.deep.equal(pools);
    expect((await second.blockedRegions(deps.clock.now())).size).to.equal(0);
    expect(calls.filter((x) => x.table === table)).to.deep.equal([]);

    // A caller's own marks on its copy stay its own.
    const mine = await second.pools(['us-east-1'], ['m5.large'], deps.clock.now());
    mine[0]!.noCapacityUntil = deps.clock.now() + 1000;
    mine.push({ ...c });
    expect(await second.pools(['us-east-1'], ['m5.large'], deps.clock.now())).to.deep.equal(pools);

    // Another type list is another entry; past the TTL the store is read again.
    expect(await second.pools(['us-east-1'], ['c5.large'], deps.clock.now())).to.deep.equal([]);
    expect(reads()).to.equal(3);
    calls.length = 0;
    deps.clock.advance(MARKET_CACHE_TTL_MS);
    await second.pools(['us-east-1'], ['m5.large'], deps.clock.now());
    await second.blockedRegions(deps.clock.now());
    expect(reads()).to.equal(4);
  });

  it('a no-capacity mark or a region block through the same fleet is seen at once, without a read, and is in the store', async () => {
    const market = marketOf(deps);
    const now = deps.clock.now();
    await market.pools(['us-east-1', 'us-west-2'], ['m5.large', 'c5.large'], now);
    await market.blockedRegions(now);
    calls.length = 0;
    await market.markNoCapacity(a, now + 180_000, 'InsufficientInstanceCapacity');
    // A pool the store had no row for: marked too.
    await market.markNoCapacity(c, now + 180_000, 'capacity-not-available');
    await market.markRegionBlocked('us-west-2', { until: now + 600_000, reason: 'MaxSpotInstanceCountExceeded' });
    expect(writes()).to.equal(3);
    expect(reads()).to.equal(0);

    const next = marketOf(deps);
    const pools = await next.pools(['us-east-1', 'us-west-2'], ['c5.large', 'm5.large'], now + 1000);
    const blocked = await next.blockedRegions(now + 1000);
    expect(reads()).to.equal(0);
    const until = Object.fromEntries(pools.map((p) => [p.zone, p.noCapacityUntil]));
    expect(until).to.deep.equal({ 'us-east-1a': now + 180_000, 'us-east-1b': undefined, 'us-east-1c': now + 180_000 });
    expect(blocked.get('us-west-2')).to.deep.equal({ until: now + 600_000, reason: 'MaxSpotInstanceCountExceeded' });

    // A mark never shortens a longer one.
    await next.markNoCapacity(a, now + 60_000, 'InsufficientInstanceCapacity');
    expect((await next.pools(['us-east-1'], ['m5.large', 'c5.large'], now + 2000)).find((p) => p.zone === 'us-east-1a')?.noCapacityUntil).to.equal(now + 180_000);

    // The store has them: another fleet (its own cache) reads them from the table.
    const other = marketOf({ ...deps, resources: new FleetResources() });
    calls.length = 0;
    const seen = await other.pools(['us-east-1'], ['m5.large'], now + 1000);
    expect(reads()).to.be.greaterThan(0);
    expect(seen.filter((p) => p.noCapacityUntil !== undefined).map((p) => p.zone)).to.deep.equal(['us-east-1a', 'us-east-1c']);
    expect((await other.blockedRegions(now + 1000)).get('us-west-2')?.reason).to.equal('MaxSpotInstanceCountExceeded');
  });

  it('a block that has ended is not answered from the cache; a closed fleet forgets its cache', async () => {
    const market = marketOf(deps);
    const now = deps.clock.now();
    await market.blockedRegions(now);
    await market.markRegionBlocked('us-east-1', { until: now + 5000, reason: 'VcpuLimitExceeded' });
    expect((await market.blockedRegions(now + 1000)).has('us-east-1')).to.equal(true);
    expect((await market.blockedRegions(now + 6000)).has('us-east-1')).to.equal(false);
    await deps.resources.close();
    calls.length = 0;
    await marketOf(deps).blockedRegions(now + 7000);
    expect(reads()).to.equal(1);
  });
});
