import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { Reconciler, RECONCILER_LEASE } from '../../services/dispatcher/reconciler.js';
import { defineCatalog } from '../../shared/envelope.js';
import { jobMachine, taskMachine } from '../../shared/states.js';
import { TestClock, eventually, keySchema, taskKeySchema, testEmulators, testFleet } from '../helpers/fleet.js';

describe('reconciler', function () {
  let emu: Emulators;
  const closers: Array<() => Promise<void>> = [];
  before(async () => {
    emu = await testEmulators();
  });
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });
  after(async () => {
    await emu.stop();
  });

  const catalog = defineCatalog({
    'job.check': { queue: 'master', schema: keySchema, summary: 'job poll', sentBy: 'tests' },
    'spot.check': { queue: 'request', schema: taskKeySchema, summary: 'task poll', sentBy: 'tests' },
  });

  it('re-sends the message that moves a row stuck past its state timeout, once per timeout', async () => {
    const clock = new TestClock();
    const received: Array<{ service: string; body: unknown }> = [];
    const fleet = await testFleet(
      emu,
      catalog,
      {
        'job.check': async (body, ctx) => {
          received.push({ service: ctx.service, body });
        },
        'spot.check': async (body, ctx) => {
          received.push({ service: ctx.service, body });
        },
      },
      { clock },
    );
    closers.push(fleet.close);
    const { jobs, tasks } = fleet.deps.store;
    await jobs.create({ jobId: 'stuck' }, {}, 'running');
    await jobs.create({ jobId: 'fresh' }, {}, 'running');
    await jobs.create({ jobId: 'done' }, {}, 'succeeded');
    await tasks.create({ jobId: 'stuck', taskId: '0001' }, {}, 'waiting');
    const reconciler = new Reconciler(fleet.deps, 'r1');

    // Nothing is due yet.
    expect(await reconciler.tick()).to.deep.equal({ holder: true, redriven: 0, skipped: 0 });

    // Past both timeouts (job.check after 120 s in running, spot.check after 60 s in waiting), but 'fresh' moves first.
    clock.advance((jobMachine.states.running.redrive!.afterSeconds + 1) * 1000);
    await jobs.update({ jobId: 'fresh' }, { set: { note: 'moved' } });
    await jobs.transition({ jobId: 'fresh' }, { from: 'running', to: 'finishing' });
    expect(taskMachine.states.waiting.redrive!.service).to.equal('spot.check');
    const result = await reconciler.tick();
    expect(result).to.deep.equal({ holder: true, redriven: 2, skipped: 0 });

    await fleet.start();
    await eventually('re-driven messages handled', () => received.length === 2);
    expect(received).to.deep.include({ service: 'job.check', body: { jobId: 'stuck' } });
    expect(received).to.deep.include({ service: 'spot.check', body: { jobId: 'stuck', taskId: '0001' } });

    // Marked: the next tick within the timeout sends nothing again.
    expect((await reconciler.tick()).redriven).to.equal(0);
    const row = await jobs.get({ jobId: 'stuck' });
    expect(row?.redrives).to.equal(1);
    expect(row?.version).to.equal(1);
  });

  it('has one lease holder at a time among two dispatchers, and the other takes over when the holder dies', async () => {
    const fleet = await testFleet(emu, catalog, {}, { config: { reconciler: { enabled: true, intervalSeconds: 1, leaseSeconds: 3 } } });
    closers.push(fleet.close);
    const a = await fleet.start('dispatcher-a');
    const b = await fleet.start('dispatcher-b');
    const holderOf = () => [a, b].filter((d) => d.reconciler?.holder).map((d) => d.dispatcher.id);
    await eventually('one holder', () => holderOf().length === 1);
    const first = holderOf()[0]!;
    // Over several ticks of both, never two holders.
    const ticksAtStart = a.reconciler!.ticks + b.reconciler!.ticks;
    await eventually(
      'several ticks',
      () => {
        expect(holderOf().length).to.be.at.most(1);
        return a.reconciler!.ticks + b.reconciler!.ticks >= ticksAtStart + 6;
      },
      30_000,
      50,
    );
    expect((await fleet.deps.store.leases.get(RECONCILER_LEASE))?.holder).to.equal(first);

    // The holder dies without releasing its lease (a crash): the other takes over once it expires.
    const [dead, alive] = first === a.dispatcher.id ? [a, b] : [b, a];
    await dead.reconciler!.stop(false);
    await dead.dispatcher.stop();
    await eventually('takeover', () => alive.reconciler!.holder, 30_000);
    expect((await fleet.deps.store.leases.get(RECONCILER_LEASE))?.holder).to.equal(alive.dispatcher.id);
  });

  it('leaves alone a row whose polling loop keeps it alive, and re-drives it once the loop stops', async () => {
    const clock = new TestClock();
    const fleet = await testFleet(emu, catalog, {}, { clock });
    closers.push(fleet.close);
    const { tasks } = fleet.deps.store;
    const key = { jobId: 'poll', taskId: '0001' };
    await tasks.create(key, {}, 'waiting');
    const reconciler = new Reconciler(fleet.deps, 'r1');
    const timeout = taskMachine.states.waiting.redrive!.afterSeconds * 1000;
    // A live loop polls every few seconds; keepAlive writes only past half the timeout.
    clock.advance(timeout / 4);
    await tasks.keepAlive((await tasks.get(key))!);
    const early = await tasks.get(key);
    expect(early!.version).to.equal(1);
    clock.advance(timeout / 2);
    await tasks.keepAlive((await tasks.get(key))!);
    clock.advance(timeout / 2); // past the original due time
    expect((await reconciler.tick()).redriven).to.equal(0);
    const row = await tasks.get(key);
    expect(row!.version, 'keepAlive never bumps the version').to.equal(1);
    // The loop stops: one timeout later the reconciler re-drives.
    clock.advance(timeout);
    expect((await reconciler.tick()).redriven).to.equal(1);
  });
});
