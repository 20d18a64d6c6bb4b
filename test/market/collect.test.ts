import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startHarness, type Harness } from '@spotbatch/simulator/testing';
import type { Emulators } from '../../services/local/emulators.js';
import { createCloudClients, type CloudClients, type CoreClients } from '../../shared/aws.js';
import { Store } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testConfig, testEmulators, testLogger, TestClock, uniquePrefix } from '../helpers/fleet.js';
import { collectAdvisor, collectOnDemand, collectPrices, collectScores, defaultAdvisorFeed, marketTypes, typesInUse, type CollectContext } from '../../services/market/collect.js';
import { jobs } from '../../services/model/repo.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { marketSignals, SLOT_MARGIN_MS } from '../../services/market/store.js';
import { buildSummary, sendSummary } from '../../services/market/summary.js';
import { dueMessages } from '../../services/market/schedule.js';

const DAY = 86_400_000;
const REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-northeast-1', 'ap-south-1', 'ca-central-1', 'sa-east-1', 'eu-north-1', 'ap-southeast-1'];
const TYPES = ['m5.large', 'c5.large', 'r5.large', 'm6i.large', 'c6i.large'];

/** The collectors against the simulator (EC2) and dynalite (the market table), day by day on a test clock. */
describe('market collectors (simulator + dynalite)', function () {
  this.timeout(300_000);
  let emu: Emulators;
  let h: Harness;
  let clients: CoreClients;
  let cloud: CloudClients;
  let dir: string;

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
    h = await startHarness({ timeScale: 1 });
    cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: h.sim.endpoint, iam: h.sim.endpoint }, credentials: { accessKeyId: 'AKIDSIMULATOR', secretAccessKey: 'simulator-secret' } });
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-market-'));
  });
  after(async () => {
    await h?.close();
    await emu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function context(market: Record<string, unknown> = {}, on?: { prefix: string; at: number }): Promise<CollectContext & { clock: TestClock }> {
    const prefix = on?.prefix ?? uniquePrefix();
    if (!on) await ensureTables(clients.dynamodb, prefix);
    const clock = new TestClock(on?.at ?? Date.now());
    const config = testConfig(prefix, { lifecycle: { regions: REGIONS }, market: { types: TYPES, ...market } });
    let n = 0;
    return {
      config,
      clock,
      log: testLogger(),
      clients,
      cloud,
      store: new Store(clients.ddb, prefix, clock),
      get messageId() {
        return `m${++n}`;
      },
    };
  }

  const stats = async () => (await h.admin<{ calls: Record<string, Record<string, number>> }>('GET', '/_sim/stats')).body;
  const spsCalls = async () => Object.values((await stats()).calls.GetSpotPlacementScores ?? {}).reduce((a, b) => a + b, 0);

  it('never exceeds the placement-score budget over a simulated week, and packs pools into fewer calls', async () => {
    const ctx = await context({ sps: { budget: 6, everyHours: 6, topK: 8, explore: 8 } });
    const store = marketSignals(ctx);
    await collectAdvisor(ctx);
    const before = await spsCalls();
    const perDay: number[] = [];
    let covered = 0;
    for (let day = 0; day < 7; day++) {
      const dayStart = await spsCalls();
      // Four runs a day (everyHours 6), each spending its share.
      for (let run = 0; run < 4; run++) {
        const r = await collectScores(ctx, { seed: day * 10 + run });
        covered += r.plan?.covered ?? 0;
        expect(r.plan!.queries.length).to.be.below(Math.max(1, r.plan!.covered));
        ctx.clock.advance(6 * 3600_000);
      }
      perDay.push((await spsCalls()) - dayStart);
      // The ledger agrees: within any 24 h, no more configurations than the budget.
      expect((await store.configsUsed('default', ctx.clock.now() - 1)).size).to.be.at.most(6);
    }
    const calls = (await spsCalls()) - before;
    for (const d of perDay) expect(d).to.be.at.most(6);
    expect(calls).to.be.at.most(6 * 7);
    expect(calls).to.be.above(0);
    // Packed: more pools scored than calls made.
    expect(covered).to.be.above(calls * 2);
    const pools = await store.pools(REGIONS, TYPES, ctx.clock.now());
    expect(pools.filter((p) => p.score !== undefined).length).to.be.above(calls);
  });

  it('rotates to the next credential, and stops when every credential is spent', async () => {
    const ctx = await context({
      sps: { budget: 2, everyHours: 24, topK: 0, explore: 40, credentials: [{ name: 'one', accessKeyId: 'AKIDSIMULATORONE1', secretAccessKey: 's1' }, { name: 'two', accessKeyId: 'AKIDSIMULATORTWO2', secretAccessKey: 's2' }] },
    });
    const r = await collectScores(ctx, { seed: 1 });
    expect(r.plan!.queries.map((q) => q.credential)).to.deep.equal(['one', 'one', 'two', 'two']);
    const again = await collectScores(ctx, { seed: 2 });
    expect(again.plan!.queries).to.deep.equal([]);
    expect(again.calls).to.equal(0);
    // A day later (and the slots' margin), the budget is back.
    ctx.clock.advance(DAY + SLOT_MARGIN_MS);
    expect((await collectScores(ctx, { seed: 3 })).plan!.queries).to.have.length(4);
  });

  it('writes nothing when nothing changed: a second price collection of the same market adds no change-log point', async () => {
    const ctx = await context({ types: ['m5.large', 'c5.large'], regions: ['us-east-1', 'us-west-2'] });
    const store = marketSignals(ctx);
    const first = await collectPrices(ctx);
    expect(first.changed).to.be.above(0);
    const log1 = (await store.changes('us-east-1', 0)).length + (await store.changes('us-west-2', 0)).length;
    const second = await collectPrices(ctx);
    expect(second.skipped).to.equal(undefined);
    expect(second.points).to.equal(first.points);
    expect(second.changed).to.equal(0);
    const log2 = (await store.changes('us-east-1', 0)).length + (await store.changes('us-west-2', 0)).length;
    expect(log2).to.equal(log1);
    const pools = await store.pools(['us-east-1'], ['m5.large'], ctx.clock.now());
    expect(pools.length).to.be.above(1);
    expect(pools.every((p) => typeof p.price === 'number' && p.price > 0 && p.ceased === undefined)).to.equal(true);
    // On-demand and advisor values join the pools; a second read of the same files writes nothing.
    await collectOnDemand(ctx);
    expect((await collectOnDemand(ctx)).changed).to.equal(0);
    await collectAdvisor(ctx);
    expect((await collectAdvisor(ctx)).changed).to.equal(0);
    const [p] = await store.pools(['us-east-1'], ['m5.large'], ctx.clock.now());
    expect(p!.onDemand).to.equal(0.096);
    expect(p!.bucket).to.be.a('number');
    const status = await store.collections();
    expect(status.map((s) => s.kind).sort()).to.deep.equal(['if', 'ondemand', 'price']);
  });

  it('marks ceased the pools of a type that left the advisor feed', async () => {
    const feed = JSON.parse(readFileSync(defaultAdvisorFeed(), 'utf8')) as { spot_advisor: Record<string, { Linux: Record<string, unknown> }> };
    const file = path.join(dir, 'feed.json');
    writeFileSync(file, JSON.stringify(feed));
    const ctx = await context({ types: ['m5.large', 'c5.large'], regions: ['us-east-1'], advisorFeed: file });
    const store = marketSignals(ctx);
    await collectPrices(ctx);
    await collectAdvisor(ctx);
    delete feed.spot_advisor['us-east-1']!.Linux['c5.large'];
    writeFileSync(file, JSON.stringify(feed));
    const r = await collectAdvisor(ctx);
    expect(r.ceased).to.equal(1);
    const pools = await store.pools(['us-east-1'], ['m5.large', 'c5.large'], ctx.clock.now());
    expect(pools.filter((p) => p.type === 'c5.large').every((p) => p.ceased === true)).to.equal(true);
    expect(pools.filter((p) => p.type === 'm5.large').every((p) => p.ceased === undefined)).to.equal(true);
    // The daily summary leaves ceased pools out of the cheapest stable ones and lists yesterday's interruptions.
    await store.recordRun({ region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' }, { hours: 1, interrupted: true, at: ctx.clock.now() - DAY });
    const summary = await buildSummary(ctx, ctx.clock.now());
    expect(summary.cheapestStable.every((c) => c.type !== 'c5.large')).to.equal(true);
    expect(summary.interruptions).to.deep.equal([{ region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large', runs: 1, interruptions: 1 }]);
    // With neither a webhook nor a folder configured, sending still stores it in the market table (what the status page reads).
    expect(await store.summaryDays(10)).to.deep.equal([]);
    const sent = await sendSummary(ctx);
    expect(sent.file).to.equal(undefined);
    const stored = await store.summary(summary.day);
    expect(stored).to.deep.include({ day: summary.day, at: ctx.clock.now(), interruptions: summary.interruptions, cheapestStable: summary.cheapestStable });
    expect(await store.summaryDays(10)).to.deep.equal([summary.day]);
  });

  it('schedules each collection when due and the summary once a day', async () => {
    const ctx = await context({ types: ['m5.large'], regions: ['us-east-1'] });
    const now = ctx.clock.now();
    expect(await dueMessages(ctx, now)).to.have.members(['market.collect.price', 'market.collect.sps', 'market.collect.if', 'market.collect.ondemand', 'market.summary']);
    await collectPrices(ctx);
    await collectAdvisor(ctx);
    expect(await dueMessages(ctx, now)).to.have.members(['market.collect.sps', 'market.collect.ondemand']);
    // Five minutes on: prices again; the summary not before tomorrow.
    expect(await dueMessages(ctx, now + 5 * 60_000)).to.include('market.collect.price').and.not.include('market.summary');
    // The next day: the summary again.
    const tomorrow = (Math.floor(now / DAY) + 1) * DAY + 60_000;
    ctx.clock.advance(tomorrow - now);
    expect(await dueMessages(ctx, tomorrow)).to.include('market.summary');
  });

  type SpsStats = { placementScores: { refusals: number; accounts: Record<string, { newConfigurations: number; refusals: number }> } };

  it('two score collections at once never take more than the budget between them (a slot per new configuration)', async () => {
    const credentials = [{ name: 'race', accessKeyId: 'AKIDSIMULATORRACE01', secretAccessKey: 'race-secret' }];
    const market = { sps: { budget: 3, everyHours: 24, topK: 0, explore: 40, targets: [1, 2, 3, 4, 5, 6, 7], credentials } };
    const a = await context(market);
    // The second run's clock is past the first's 15-minute lease: without more, both would run and each spend the whole budget.
    const b = await context(market, { prefix: a.config.prefix, at: a.clock.now() + 16 * 60_000 });
    await h.admin('POST', '/_sim/faults', { placementScoreConfigLimit: 3 });
    try {
      const [ra, rb] = await Promise.all([collectScores(a, { seed: 1 }), collectScores(b, { seed: 2 })]);
      const sim = (await h.admin<SpsStats>('GET', '/_sim/stats')).body.placementScores.accounts.AKIDSIMULATORRACE01;
      expect(sim, 'the simulator saw the runs').to.not.equal(undefined);
      expect(sim!.refusals).to.equal(0);
      expect(sim!.newConfigurations).to.be.within(1, 3);
      expect((await marketSignals(b).configsUsed('race', b.clock.now())).size).to.be.at.most(3);
      expect(ra.points + rb.points).to.be.above(0);
    } finally {
      await h.admin('POST', '/_sim/faults', {});
    }
  });

  it('takes budget slots by a conditional write: eight at once for a budget of three get three', async () => {
    const ctx = await context();
    const store = marketSignals(ctx);
    const now = ctx.clock.now();
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => store.takeSlot('cred', `config-${i}`, now, 3)));
    expect(outcomes.filter((o) => o === 'taken')).to.have.length(3);
    expect(outcomes.filter((o) => o === 'none')).to.have.length(5);
    // A configuration that holds a slot is free to ask again; a new one is not.
    const holder = outcomes.findIndex((o) => o === 'taken');
    expect(await store.takeSlot('cred', `config-${holder}`, now + 1000, 3)).to.equal('reused');
    expect(await store.takeSlot('cred', 'config-new', now + 1000, 3)).to.equal('none');
    expect(await store.slotsLeft('cred', 3, now + 1000)).to.equal(0);
    // A day (and the margin) later, the slots are free again.
    expect(await store.takeSlot('cred', 'config-new', now + DAY + SLOT_MARGIN_MS + 1, 3)).to.equal('taken');
  });

  it("a credential that fails sits out the run; the other's scores are still written", async () => {
    const saved = process.env.AWS_EC2_METADATA_DISABLED;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    try {
      const ctx = await context({
        types: ['m5.large', 'c5.large', 'r5.large', 'm6i.large'],
        sps: {
          budget: 2,
          everyHours: 24,
          topK: 0,
          explore: 40,
          credentials: [
            { name: 'gone', profile: 'spotbatch-test-no-such-profile-4u7' },
            { name: 'works', accessKeyId: 'AKIDSIMULATORWORKS1', secretAccessKey: 'works-secret' },
          ],
        },
      });
      const r = await collectScores(ctx, { seed: 5 });
      expect(r.plan!.queries.map((q) => q.credential)).to.deep.equal(['gone', 'gone', 'works', 'works']);
      expect(r.note).to.match(/^gone: /);
      const scored = (await marketSignals(ctx).pools(REGIONS, ctx.config.market.types, ctx.clock.now())).filter((p) => p.score !== undefined);
      const worked = new Set(r.plan!.queries.filter((q) => q.credential === 'works').map((q) => q.type));
      expect(scored.length).to.be.above(0);
      expect(scored.every((p) => worked.has(p.type))).to.equal(true);
      const [status] = (await marketSignals(ctx).collections()).filter((c) => c.kind === 'sps');
      expect(status).to.deep.include({ ok: true });
      expect(status!.note).to.contain('gone');
    } finally {
      if (saved === undefined) delete process.env.AWS_EC2_METADATA_DISABLED;
      else process.env.AWS_EC2_METADATA_DISABLED = saved;
    }
  });

  it('the first score collection of a fleet loads the advisor feed first, so the first day ranks pools by bucket', async () => {
    const ctx = await context({ sps: { budget: 50, everyHours: 24, topK: 5, explore: 0 } });
    const r = await collectScores(ctx, { seed: 9 });
    expect((await marketSignals(ctx).collections()).find((c) => c.kind === 'if')).to.deep.include({ ok: true });
    expect(r.plan!.top).to.have.length(5);
  });

  it('follows at most market.specTypes of the types open jobs name, known ones only, the most named first', async () => {
    const ctx = await context({ types: ['m5.large'], specTypes: 2 });
    const spec = (types: string[]) => parseJobSpec({ name: 'spec-types', command: ['true'], instances: { types }, tasks: { count: 1 } });
    const now = ctx.clock.now();
    const open = async (id: string, types: string[]) => jobs(ctx).create({ jobId: id }, { name: id, spec: spec(types), taskCount: 1, submittedAt: now, ingressCidr: '127.0.0.1/32' });
    await open('job-1', ['c5.large', 'zz9.huge', 'r5.large']);
    await open('job-2', ['c5.large', 'm7i.large']);
    await open('job-3', ['r5.large', 'c5.large']);
    const types = await marketTypes(ctx);
    expect(types.configured).to.deep.equal(['m5.large']);
    // c5.large (3 jobs) and r5.large (2) win over m7i.large (1); zz9.huge is no type the on-demand list knows.
    expect(types.fromSpecs).to.deep.equal(['c5.large', 'r5.large']);
    expect(await typesInUse(ctx)).to.deep.equal(['c5.large', 'm5.large', 'r5.large']);
    const none = { ...ctx, config: { ...ctx.config, market: { ...ctx.config.market, specTypes: 0 } } };
    expect(await typesInUse(none)).to.deep.equal(['m5.large']);
  });
});
