import { expect } from 'chai';
import type { JobSpecInput } from '../../services/model/spec.js';
import { poolKey } from '../../services/model/model.js';
import { marketSignals } from '../../services/market/store.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const quick = (over: Partial<JobSpecInput>): JobSpecInput => ({
  name: 'placement',
  tasks: { count: 1 },
  command: ['echo', 'placed'],
  instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
  ...over,
});

describe('placement (e2e)', function () {
  this.timeout(300_000);
  const emulators = sharedEmulators();
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('a 20-task job spreads over at least three pools, none over its share, each attempt saying why', async () => {
    stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(quick({ name: 'spread', tasks: { count: 20 } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 280_000);
    expect(job.state).to.equal('succeeded');
    const tasks = await stack.tasks(jobId);
    const counts = new Map<string, number>();
    for (const t of tasks) counts.set(poolKey(t.attempts[0]!.pool), (counts.get(poolKey(t.attempts[0]!.pool)) ?? 0) + 1);
    expect(counts.size, JSON.stringify([...counts])).to.be.at.least(3);
    for (const n of counts.values()) expect(n).to.be.at.most(8);
    const record = tasks[0]!.attempts[0]!.placementRecord!;
    expect(record.chosen.expectedCost).to.be.greaterThan(0);
    expect(record.runnerUp).to.not.equal(undefined);
    expect(record.spread.pools).to.equal(3);
    // What the lifecycle recorded back: a launch per attempt, a run per pool used.
    const pools = await marketSignals(stack.fleet.deps).pools(['us-east-1'], ['m5.large', 'c5.large'], Date.now());
    const used = pools.filter((p) => counts.has(poolKey(p)));
    expect(used.every((p) => (p.launchSamples ?? 0) >= 1 && (p.observed?.runs ?? 0) >= 1)).to.equal(true);
  });

  it('a pool that answers with no capacity is skipped for its cool-down, by later jobs too', async () => {
    stack = await startStack({ emulators: emulators() });
    // One zone, two types: m5.large is the cheaper by far, so it is asked first; it has no capacity.
    await stack.admin('/_sim/faults', { insufficientCapacity: [{ availabilityZone: 'us-east-1a', instanceType: 'm5.large' }] });
    const spec = quick({ name: 'ice', instances: { types: ['m5.large', 'm5.2xlarge'], regions: ['us-east-1'], zones: ['us-east-1a'] } });
    const first = await stack.submit(spec);
    await stack.waitJob(first, ['succeeded']);
    const [t1] = await stack.tasks(first);
    expect(t1!.attempts.map((a) => `${poolKey(a.pool)} ${a.outcome}`)).to.deep.equal(['us-east-1a/m5.large replaced', 'us-east-1a/m5.2xlarge succeeded']);
    const second = await stack.submit({ ...spec, id: 'ice-again' });
    await stack.waitJob(second, ['succeeded']);
    const [t2] = await stack.tasks(second);
    expect(t2!.attempts).to.have.length(1);
    expect(poolKey(t2!.attempts[0]!.pool)).to.equal('us-east-1a/m5.2xlarge');
    const excluded = t2!.attempts[0]!.placementRecord!.excluded;
    expect(excluded.map((e) => `${e.zone}/${e.type}`)).to.deep.equal(['us-east-1a/m5.large']);
    expect(excluded[0]!.reason).to.match(/^out of capacity until/);
    expect(await leftovers(stack, second)).to.deep.equal([]);
  });

  it('after interruptions in one pool, new attempts avoid it and the market counts them', async () => {
    stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(
      quick({ name: 'interrupted-pool', tasks: { count: 3 }, command: undefined, steps: [{ run: 'if [ "$SPOTBATCH_ATTEMPT" = 1 ]; then sleep 600; fi; echo ok' }], instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'], maxPoolShare: 1 } }),
    );
    // maxPoolShare 1: all three in the best pool; interrupt them all there.
    const running = await eventually('three attempts running', async () => {
      const ts = await stack.tasks(jobId);
      return ts.length === 3 && ts.every((t) => t.state === 'running') ? ts : undefined;
    }, 120_000, 200);
    const pool = poolKey(running[0]!.attempts[0]!.pool);
    expect(running.every((t) => poolKey(t.attempts[0]!.pool) === pool)).to.equal(true);
    for (const t of running) await stack.admin(`/_sim/instances/${t.attempts[0]!.instanceId}/interrupt`, {});
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 200_000);
    expect(job.state).to.equal('succeeded');
    for (const t of await stack.tasks(jobId)) {
      expect(t.attempts[0]!.outcome).to.equal('interrupted');
      expect(t.attempts.slice(1).map((a) => poolKey(a.pool))).to.not.include(pool);
    }
    const [seen] = (await marketSignals(stack.fleet.deps).pools(['us-east-1'], [pool.split('/')[1]!], Date.now())).filter((p) => poolKey(p) === pool);
    expect(seen?.observed?.interruptions).to.equal(3);
  });

  // The simulator's faults.spotVcpuQuota refuses RequestSpotInstances past the region's quota with MaxSpotInstanceCountExceeded.
  it('a region at its spot quota is skipped, and the job completes in another', async () => {
    stack = await startStack({ emulators: emulators() });
    await stack.admin('/_sim/faults', { spotVcpuQuota: { 'us-east-1': 0 } });
    const jobId = await stack.submit(quick({ name: 'quota', tasks: { count: 2 }, instances: { types: ['m5.large'], regions: ['us-east-1', 'us-west-2'] } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 200_000);
    expect(job.state).to.equal('succeeded');
    const tasks = await stack.tasks(jobId);
    for (const t of tasks) expect(t.attempts.at(-1)!.pool.region).to.equal('us-west-2');
    const blocked = await marketSignals(stack.fleet.deps).blockedRegions(Date.now());
    expect(blocked.get('us-east-1')?.reason).to.equal('MaxSpotInstanceCountExceeded');
  });

  it('a job whose only region is at its spot quota fails after lifecycle.noPoolWaitSeconds, saying what it waited for, and tears down', async () => {
    stack = await startStack({ emulators: emulators(), config: { lifecycle: { noPoolWaitSeconds: 3 } } });
    await stack.admin('/_sim/faults', { spotVcpuQuota: { 'us-east-1': 0 } });
    const jobId = await stack.submit(quick({ name: 'quota-only', instances: { types: ['m5.large'], regions: ['us-east-1'] } }));
    const job = await stack.waitJob(jobId, ['failed', 'partially-failed', 'succeeded'], 120_000);
    expect(job.state).to.equal('failed');
    const [task] = await stack.tasks(jobId);
    expect(task!.state).to.equal('failed');
    expect(task!.attempts).to.deep.equal([]);
    expect(task!.reason).to.match(/^waited \d+ s for a pool \(lifecycle\.noPoolWaitSeconds 3\): no pool can take the task now: \d+ in a region at its spot quota \(us-east-1\)$/);
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.find((e) => e.type === 'task.waiting')?.data?.reason).to.match(/^no pool can take the task now: \d+ in a region at its spot quota \(us-east-1\)$/);
    expect(events.find((e) => e.type === 'task.failed')?.data?.reason).to.equal(task!.reason);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('a job whose every pool is out of capacity fails after lifecycle.noPoolWaitSeconds, naming the pools out of capacity', async () => {
    stack = await startStack({ emulators: emulators(), config: { lifecycle: { noPoolWaitSeconds: 3 } } });
    await stack.admin('/_sim/faults', { insufficientCapacity: [{}] });
    const jobId = await stack.submit(quick({ name: 'ice-everywhere', instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'], zones: ['us-east-1a'] } }));
    const job = await stack.waitJob(jobId, ['failed', 'partially-failed', 'succeeded'], 120_000);
    expect(job.state).to.equal('failed');
    const [task] = await stack.tasks(jobId);
    // Each pool was asked once, answered capacity-not-available, and was left for its cool-down.
    expect(task!.attempts.map((a) => a.outcome)).to.deep.equal(['replaced', 'replaced']);
    expect(task!.reason).to.match(/^waited \d+ s for a pool \(lifecycle\.noPoolWaitSeconds 3\): no pool can take the task now: 2 out of capacity$/);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});
