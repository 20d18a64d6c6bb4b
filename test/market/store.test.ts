import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, TestClock, uniquePrefix } from '../helpers/fleet.js';
import { marketSignals, MarketStore, LAUNCH_SAMPLES, SUMMARY_INTERRUPTIONS } from '../../services/market/store.js';
import type { CoreClients } from '../../shared/aws.js';

/** The market store over dynalite: what placement reads back of what collectors and the lifecycle wrote. */
describe('market store (dynalite)', function () {
  let emu: Emulators;
  let clients: CoreClients;
  let store: MarketStore;
  const clock = new TestClock(Date.parse('2026-03-01T12:00:00Z'));
  const a = { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' };
  const b = { region: 'us-east-1', zone: 'us-east-1b', type: 'm5.large' };

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
  });
  beforeEach(async () => {
    const prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    store = marketSignals({ clients, config: { prefix }, clock });
  });
  after(async () => {
    await emu?.stop();
  });

  it('writes a change-log point only when a value changed, and keeps the latest value per pool', async () => {
    const t0 = clock.now();
    const first = await store.applyPoolValues('us-east-1', [
      { zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 },
      { zone: 'us-east-1b', type: 'm5.large', price: 0.029, priceAt: t0 },
    ], t0);
    expect(first).to.deep.equal({ points: 2, changed: 2, ceased: 0 });
    // The same market again: nothing written.
    const again = await store.applyPoolValues('us-east-1', [
      { zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 },
      { zone: 'us-east-1b', type: 'm5.large', price: 0.029, priceAt: t0 },
    ], t0 + 60_000);
    expect(again.changed).to.equal(0);
    expect(await store.changes('us-east-1', 0)).to.have.length(2);
    // One price moves: one point, with its previous value.
    const moved = await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', price: 0.035, priceAt: t0 + 120_000 }], t0 + 120_000);
    expect(moved.changed).to.equal(1);
    const log = await store.changes('us-east-1', t0 + 1);
    expect(log).to.deep.equal([{ region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large', field: 'price', at: t0 + 120_000, value: 0.035, previous: 0.031 }]);
    const pools = await store.pools(['us-east-1'], ['m5.large'], clock.now());
    expect(pools.map((p) => [p.zone, p.price])).to.deep.equal([['us-east-1a', 0.035], ['us-east-1b', 0.029]]);
    expect(await store.pools(['us-east-1'], ['c5.large'], clock.now())).to.deep.equal([]);
  });

  it('refreshes when an unchanged value was seen (score time and target, advisor and on-demand times) without a change-log point; a price keeps when it took effect', async () => {
    const t0 = clock.now();
    const day = 86_400_000;
    await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0, score: 7, scoreTarget: 5, scoreAt: t0 }], t0);
    await store.applyRegionTypeValues('us-east-1', [{ type: 'm5.large', bucket: 1, savings: 60, onDemand: 0.096, score: 6, scoreTarget: 5, at: t0 }]);
    const logged = (await store.changes('us-east-1', 0)).length;
    // Four days on, the same score (asked at another target capacity), the same price, advisor bucket and on-demand price.
    const t1 = t0 + 4 * day;
    const same = await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0, score: 7, scoreTarget: 10, scoreAt: t1 }], t1);
    const sameRt = await store.applyRegionTypeValues('us-east-1', [{ type: 'm5.large', bucket: 1, savings: 60, onDemand: 0.096, score: 6, scoreTarget: 10, at: t1 }]);
    expect([same.changed, sameRt.changed]).to.deep.equal([0, 0]);
    expect(await store.changes('us-east-1', 0)).to.have.length(logged);
    const [pool] = await store.pools(['us-east-1'], ['m5.large'], t1);
    expect([pool!.score, pool!.scoreTarget, pool!.scoreAt, pool!.price, pool!.priceAt]).to.deep.equal([7, 10, t1, 0.031, t0]);
    const [rt] = await store.regionTypeRows('us-east-1');
    expect([rt!.scoreAt, rt!.scoreTarget, rt!.ifAt, rt!.onDemandAt]).to.deep.equal([t1, 10, t1, t1]);
    // An older observation arriving late moves nothing back.
    await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', score: 7, scoreTarget: 5, scoreAt: t0 + day }], t0 + day);
    await store.applyRegionTypeValues('us-east-1', [{ type: 'm5.large', bucket: 1, onDemand: 0.096, score: 6, scoreTarget: 5, at: t0 + day }]);
    const [again] = await store.pools(['us-east-1'], ['m5.large'], t1);
    expect([again!.scoreTarget, again!.scoreAt]).to.deep.equal([10, t1]);
    const [rtAgain] = await store.regionTypeRows('us-east-1');
    expect([rtAgain!.scoreAt, rtAgain!.scoreTarget, rtAgain!.ifAt, rtAgain!.onDemandAt]).to.deep.equal([t1, 10, t1, t1]);
    expect(await store.changes('us-east-1', 0)).to.have.length(logged);
  });

  it('marks a pool that is no longer in the answer ceased, and clears it when it comes back', async () => {
    const t0 = clock.now();
    await store.applyPoolValues('us-east-1', [
      { zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 },
      { zone: 'us-east-1b', type: 'm5.large', price: 0.029, priceAt: t0 },
    ], t0, ['m5.large']);
    const gone = await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 }], t0 + 1000, ['m5.large']);
    expect(gone.ceased).to.equal(1);
    let pools = await store.pools(['us-east-1'], ['m5.large'], t0);
    expect(pools.find((p) => p.zone === 'us-east-1b')?.ceased).to.equal(true);
    expect(pools.find((p) => p.zone === 'us-east-1a')?.ceased).to.equal(undefined);
    // Marked once.
    expect((await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 }], t0 + 2000, ['m5.large'])).ceased).to.equal(0);
    await store.applyPoolValues('us-east-1', [{ zone: 'us-east-1b', type: 'm5.large', price: 0.029, priceAt: t0 + 3000 }, { zone: 'us-east-1a', type: 'm5.large', price: 0.031, priceAt: t0 }], t0 + 3000, ['m5.large']);
    pools = await store.pools(['us-east-1'], ['m5.large'], t0);
    expect(pools.every((p) => p.ceased === undefined)).to.equal(true);
    // Advisor feed: a type missing from the feed is ceased in its region.
    await store.applyRegionTypeValues('us-east-1', [{ type: 'm5.large', bucket: 1, savings: 60, at: t0 }], { field: 'bucket', at: t0 });
    await store.applyRegionTypeValues('us-east-1', [], { field: 'bucket', at: t0 + 1 });
    pools = await store.pools(['us-east-1'], ['m5.large'], t0);
    expect(pools.every((p) => p.ceased === true && p.bucket === 1 && p.savings === 60)).to.equal(true);
  });

  it('blends region-and-type signals (advisor, on-demand, region score) into every pool; a single-AZ score wins', async () => {
    const t0 = clock.now();
    await store.applyPoolValues('us-east-1', [
      { zone: 'us-east-1a', type: 'm5.large', price: 0.03, priceAt: t0, score: 9, scoreTarget: 5, scoreAt: t0 },
      { zone: 'us-east-1b', type: 'm5.large', price: 0.03, priceAt: t0 },
    ], t0);
    await store.applyRegionTypeValues('us-east-1', [{ type: 'm5.large', bucket: 2, savings: 55, onDemand: 0.096, score: 4, scoreTarget: 10, at: t0 }]);
    const pools = await store.pools(['us-east-1'], ['m5.large'], t0);
    const pa = pools.find((p) => p.zone === 'us-east-1a')!;
    const pb = pools.find((p) => p.zone === 'us-east-1b')!;
    expect([pa.score, pa.scoreTarget, pa.bucket, pa.onDemand]).to.deep.equal([9, 5, 2, 0.096]);
    expect([pb.score, pb.scoreTarget, pb.savings]).to.deep.equal([4, 10, 55]);
  });

  it('keeps a bounded sample of launches per pool and gives the median request -> ready', async () => {
    const t0 = clock.now();
    for (let i = 0; i < LAUNCH_SAMPLES + 5; i++) {
      await store.recordLaunch(a, { requestedAt: t0 + i * 1000, fulfilledAt: t0 + i * 1000 + 2000, runningAt: t0 + i * 1000 + 5000, readyAt: t0 + i * 1000 + (10 + i) * 1000 });
    }
    // A launch that never got ready counts for nothing in the median.
    await store.recordLaunch(b, { requestedAt: t0 });
    const pools = await store.pools(['us-east-1'], ['m5.large'], t0);
    const pa = pools.find((p) => p.zone === 'us-east-1a')!;
    expect(pa.launchSamples).to.equal(LAUNCH_SAMPLES);
    // The newest 25 of readiness 10..39 s: 15..39, median 27.
    expect(pa.launchP50Seconds).to.equal(27);
    const pb = pools.find((p) => p.zone === 'us-east-1b')!;
    expect(pb.launchP50Seconds).to.equal(undefined);
  });

  it('counts runs and interruptions per pool over 30 days', async () => {
    const now = clock.now();
    await store.recordRun(a, { hours: 1.5, interrupted: false, at: now });
    await store.recordRun(a, { hours: 0.5, interrupted: true, at: now - 86_400_000 });
    await store.recordRun(a, { hours: 2, interrupted: true, at: now - 40 * 86_400_000 });
    const [pa] = await store.pools(['us-east-1'], ['m5.large'], now);
    expect(pa!.observed).to.deep.equal({ runs: 2, interruptions: 1, hours: 2 });
  });

  it('shares the no-capacity cache and blocked regions, never shortening a block, and forgets them when they expire', async () => {
    const now = clock.now();
    await store.markNoCapacity(a, now + 180_000, 'InsufficientInstanceCapacity');
    await store.markNoCapacity(a, now + 60_000, 'InsufficientInstanceCapacity');
    // Another dispatcher's view (a second store on the same table).
    const other = new MarketStore(clients.ddb, store.table, clock);
    let [pa] = await other.pools(['us-east-1'], ['m5.large'], now);
    expect(pa!.noCapacityUntil).to.equal(now + 180_000);
    [pa] = await other.pools(['us-east-1'], ['m5.large'], now + 200_000);
    expect(pa!.noCapacityUntil).to.equal(undefined);
    await other.markRegionBlocked('eu-west-1', { until: now + 600_000, reason: 'MaxSpotInstanceCountExceeded' });
    expect([...(await store.blockedRegions(now))]).to.deep.equal([['eu-west-1', { until: now + 600_000, reason: 'MaxSpotInstanceCountExceeded' }]]);
    expect((await store.blockedRegions(now + 600_000)).size).to.equal(0);
  });

  it('stores a daily summary per UTC day and reads back the newest days first, idempotently', async () => {
    const summary = (day: string, interruptions: number) => ({
      day,
      moved: [{ region: 'us-east-1', type: 'm5.large', moved: 3 }],
      cheapestStable: [{ type: 'm5.large', region: 'us-east-1', zone: 'us-east-1a', price: 0.031, bucket: 0, score: 8 }],
      interruptions: Array.from({ length: interruptions }, (_, i) => ({ region: 'us-east-1', zone: 'us-east-1a', type: `t${i}.large`, runs: 10, interruptions: 1 + (i % 7) })),
    });
    expect(await store.latestSummaries(5)).to.deep.equal([]);
    expect(await store.summary('2026-02-27')).to.equal(undefined);
    for (const day of ['2026-02-26', '2026-02-28', '2026-02-27']) await store.putSummary(summary(day, 2), clock.now());
    // A redelivered market.summary writes the same row again.
    await store.putSummary(summary('2026-02-28', 2), clock.now() + 1000);
    expect(await store.summaryDays(10)).to.deep.equal(['2026-02-28', '2026-02-27', '2026-02-26']);
    const latest = await store.latestSummaries(2);
    expect(latest.map((s) => s.day)).to.deep.equal(['2026-02-28', '2026-02-27']);
    expect(latest[0]!.at).to.equal(clock.now() + 1000);
    expect(latest[0]!.cheapestStable).to.deep.equal([{ type: 'm5.large', region: 'us-east-1', zone: 'us-east-1a', price: 0.031, bucket: 0, score: 8 }]);
    // The most interrupted pools first; a row stays far under DynamoDB's 400 KB: beyond the cap, the rest are counted, not kept.
    await store.putSummary(summary('2026-02-25', SUMMARY_INTERRUPTIONS + 20), clock.now());
    const big = (await store.summary('2026-02-25'))!;
    expect(big.interruptions).to.have.length(SUMMARY_INTERRUPTIONS);
    expect(big.interruptionsOmitted).to.equal(20);
    expect(big.interruptions[0]!.interruptions).to.equal(7);
    expect(big.interruptions.every((x, i, all) => i === 0 || all[i - 1]!.interruptions >= x.interruptions)).to.equal(true);
    expect(await store.summaryDays(10)).to.deep.equal(['2026-02-28', '2026-02-27', '2026-02-26', '2026-02-25']);
  });
});
