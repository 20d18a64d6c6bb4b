import { expect } from 'chai';
import { DescribeInstancesCommand, DescribeSpotInstanceRequestsCommand, type EC2Client, type RequestSpotInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { JobSpecInput } from '../../services/model/spec.js';
import { currentAttempt, poolKey, type Pool } from '../../services/model/model.js';
import { marketSignals } from '../../services/market/store.js';
import type { HandlerContext } from '../../services/dispatcher/context.js';
import type { FleetCatalog } from '../../services/catalog.js';
import { handlers } from '../../services/handlers.js';
import { requestAttempt } from '../../services/spot/attempt.js';
import { spotRequest } from '../../services/spot/handlers.js';
import { choosePool, taskProfile } from '../../services/spot/placement.js';
import { currentPrices } from '../../services/spot/pricing.js';
import { marketOf, NO_CAPACITY_MS } from '../../services/spot/market-link.js';
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import { createCloudClients, type CloudClients } from '../../shared/aws.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually, TEST_CREDENTIALS } from '../helpers/fleet.js';

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
    // The simulator's m5/c5 market is calm (a pool-wide reclaim every few months), where the default risk-based
    // spread would keep the job in one pool: the configurable share asks for three.
    const jobId = await stack.submit(quick({ name: 'spread', tasks: { count: 20 }, instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'], maxPoolShare: 0.34 } }));
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

  // One spot request per attempt and pool (the ClientToken is the attempt's and the pool's), whatever the try
  // that asks it; a request a delivery made and never recorded is released by the delivery that records
  // another, or by the delivery itself when it loses the task row to a duplicate; what
  // neither sees (a duplicate that recorded first, then the stopped delivery's redelivery finds the task
  // moved) is left to the job's teardown, which finds the requests by their job tag.
  it('a redelivered placement asks each pool once, and releases what an earlier or concurrent delivery requested and never recorded', async () => {
    const regions = ['us-east-1', 'us-west-2'];
    // spot.request is driven by hand here: the dispatchers leave it alone.
    stack = await startStack({ emulators: emulators(), handlers: { ...handlers, 'spot.request': async () => {} } });
    const jobId = await stack.submit(quick({ name: 'token', tasks: { count: 2 }, instances: { types: ['m5.large'], regions } }));
    const job = await eventually('job running with its images', async () => {
      const j = await stack.job(jobId);
      return j?.state === 'running' && j.images && j.security ? j : undefined;
    }, 120_000, 200);
    const ctx = (messageId: string, receiveCount = 1, cloud: CloudClients = stack.cloud): HandlerContext<FleetCatalog> => ({ ...stack.fleet.deps, cloud, service: 'spot.request', messageId, queue: 'request', receiveCount, signal: new AbortController().signal });
    const [task0, task1] = await stack.tasks(jobId);
    const now = Date.now();
    const prices = (await Promise.all(regions.map((r) => currentPrices({ cloud: stack.cloud, resources: stack.fleet.deps.resources }, r, ['m5.large'], now)))).flat();
    const first = choosePool({ candidates: prices, zones: 'auto', avoid: [], taskIndex: task0!.index, taskCount: 2, profile: taskProfile(job.spec), now }).pool;
    // The region placement asks first has no spot quota: the first try is refused there, the second asks another region.
    await stack.admin('/_sim/faults', { spotVcpuQuota: { [first.region]: 0 } });
    const requestsOf = async (taskId: string) => {
      const out = [];
      for (const region of regions) {
        const r = await stack.cloud.ec2(region).send(
          new DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }, { Name: 'tag:spotbatch:task', Values: [taskId] }, { Name: 'tag:spotbatch:attempt', Values: ['1'] }] }),
        );
        out.push(...(r.SpotInstanceRequests ?? []).map((q) => ({ region, id: q.SpotInstanceRequestId!, state: q.State!, instanceId: q.InstanceId })));
      }
      return out;
    };
    const instanceState = async (region: string, id: string) => (await stack.cloud.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;

    // 1. The delivery that stops after its request: try 0 refused (quota), try 1 asks pool B.
    const a1 = await requestAttempt(ctx('m-1'), job, task0!, 1);
    expect(a1.pool.region).to.not.equal(first.region);
    // Its redelivery, the region now known blocked: try 0 asks pool B and gets the same request back.
    const again = await requestAttempt(ctx('m-1', 2), job, task0!, 1);
    expect(again.pool).to.deep.equal(a1.pool);
    expect(again.spotRequestId).to.equal(a1.spotRequestId);
    expect((await requestsOf(task0!.taskId)).map((r) => r.id)).to.deep.equal([a1.spotRequestId]);

    // 2. The market moves before the redelivery (pool B out of capacity): it asks pool C, records that, and releases B's request and instance.
    const launched = await eventually('the unrecorded request launched its instance', async () => (await requestsOf(task0!.taskId)).find((r) => r.instanceId)?.instanceId, 60_000, 100);
    await marketOf(stack.fleet.deps).markNoCapacity(a1.pool, Date.now() + NO_CAPACITY_MS, 'test');
    await spotRequest({ jobId, taskId: task0!.taskId }, ctx('m-1', 3));
    const recorded = currentAttempt((await stack.tasks(jobId))[0]!)!;
    expect(recorded.n).to.equal(1);
    expect(poolKey(recorded.pool)).to.not.equal(poolKey(a1.pool));
    const after = await requestsOf(task0!.taskId);
    expect(after.filter((r) => r.state === 'open' || r.state === 'active').map((r) => r.id)).to.deep.equal([recorded.spotRequestId]);
    expect(after.find((r) => r.id === a1.spotRequestId)?.state).to.equal('cancelled');
    expect(await instanceState(a1.pool.region, launched)).to.be.oneOf(['shutting-down', 'terminated']);

    // 3. Two deliveries at once, the market moving between them: the loser of the row releases its request and instance.
    const hooked = createCloudClients({ region: 'us-east-1', endpoints: { ec2: stack.sim.endpoint, iam: stack.sim.endpoint }, credentials: TEST_CREDENTIALS });
    let loserPool: Pool | undefined;
    let loserInstance: string | undefined;
    const raceOnce = (client: EC2Client, region: string) =>
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const out = await next(args);
          if (context.commandName === 'RequestSpotInstancesCommand' && !loserPool) {
            const input = args.input as RequestSpotInstancesCommandInput;
            loserPool = { region, zone: input.LaunchSpecification!.Placement!.AvailabilityZone!, type: input.LaunchSpecification!.InstanceType! };
            loserInstance = await eventually('the loser\'s instance', async () => (await requestsOf(task1!.taskId)).find((r) => r.instanceId)?.instanceId, 60_000, 100);
            // The winner: the same message delivered again meanwhile, the loser's pool out of capacity by then.
            await marketOf(stack.fleet.deps).markNoCapacity(loserPool, Date.now() + NO_CAPACITY_MS, 'test');
            await spotRequest({ jobId, taskId: task1!.taskId }, ctx('m-2'));
          }
          return out;
        },
        { step: 'initialize', name: 'raceTheWinner' },
      );
    const loserCloud: CloudClients = { iam: hooked.iam, ec2: (region) => hooked.ec2(region) };
    for (const region of regions) raceOnce(hooked.ec2(region), region);
    let lost: unknown;
    await spotRequest({ jobId, taskId: task1!.taskId }, ctx('m-2', 1, loserCloud)).catch((err: unknown) => (lost = err));
    expect(lost).to.be.instanceOf(StateConflictError);
    const winner = currentAttempt((await stack.tasks(jobId))[1]!)!;
    expect(poolKey(winner.pool)).to.not.equal(poolKey(loserPool!));
    const raced = await requestsOf(task1!.taskId);
    expect(raced.filter((r) => r.state === 'open' || r.state === 'active').map((r) => r.id)).to.deep.equal([winner.spotRequestId]);
    expect(await instanceState(loserPool!.region, loserInstance!)).to.be.oneOf(['shutting-down', 'terminated']);
    for (const region of regions) hooked.ec2(region).destroy();
    hooked.iam.destroy();
  });

  // AWS answers a ClientToken repeated with any other parameter IdempotentParameterMismatch (the simulator too):
  // every delivery of an attempt must send the same request. ValidUntil is rounded to a 15-minute window; a
  // redelivery in a later window gets that answer, and adopts the attempt's request in the pool.
  it('a spot.request delivered again with the clock moved on gets the same request, in the same ValidUntil window or a later one', async () => {
    stack = await startStack({ emulators: emulators(), handlers: { ...handlers, 'spot.request': async () => {} } });
    // One pool: every delivery places the attempt in it, so all ask with the same ClientToken.
    const jobId = await stack.submit(quick({ name: 'redelivered', instances: { types: ['m5.large'], regions: ['us-east-1'], zones: ['us-east-1a'] } }));
    const job = await eventually('job running with its images', async () => {
      const j = await stack.job(jobId);
      return j?.state === 'running' && j.images && j.security ? j : undefined;
    }, 120_000, 200);
    const [task] = await stack.tasks(jobId);
    const window = 15 * 60_000;
    // Not in the last seconds of a window: the first delivery's ValidUntil (the current window's end) must still be ahead when sent.
    if (window - (Date.now() % window) < 10_000) await new Promise((r) => setTimeout(r, 10_000));
    const start = Math.floor(Date.now() / window) * window;
    const at = (now: number, receiveCount: number): HandlerContext<FleetCatalog> => ({ ...stack.fleet.deps, clock: { now: () => now }, service: 'spot.request', messageId: 'm-1', queue: 'request', receiveCount, signal: new AbortController().signal });
    // 1. A delivery in the previous window that stops after its request.
    const first = await requestAttempt(at(start - window, 1), job, task!, 1);
    // 2. Its redelivery almost 15 minutes on, in the same window (the same ValidUntil): the same request by its ClientToken.
    const sameWindow = await requestAttempt(at(start - 1, 2), job, task!, 1);
    expect(sameWindow.pool).to.deep.equal(first.pool);
    expect(sameWindow.spotRequestId).to.equal(first.spotRequestId);
    // 3. Another in the next window (another ValidUntil: IdempotentParameterMismatch): the request is adopted, no error, and recorded.
    await spotRequest({ jobId, taskId: task!.taskId }, at(Date.now(), 3));
    const recorded = currentAttempt((await stack.tasks(jobId))[0]!)!;
    expect(recorded.n).to.equal(1);
    expect(recorded.spotRequestId).to.equal(first.spotRequestId);
    const requests = await stack.cloud.ec2('us-east-1').send(new DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }));
    expect(requests.SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId)).to.deep.equal([first.spotRequestId]);
    const job2 = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 200_000);
    expect(job2.state).to.equal('succeeded');
  });

  it('a delivery whose every try is refused at once for quota waits for a pool like any other no-pool answer', async () => {
    const regions = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'];
    stack = await startStack({ emulators: emulators(), handlers: { ...handlers, 'spot.request': async () => {} } });
    await stack.admin('/_sim/faults', { spotVcpuQuota: { '*': 0 } });
    const jobId = await stack.submit(quick({ name: 'quota-tries', instances: { types: ['m5.large'], regions } }));
    await eventually('job running with its images', async () => {
      const j = await stack.job(jobId);
      return j?.state === 'running' && j.images && j.security ? j : undefined;
    }, 120_000, 200);
    const [task] = await stack.tasks(jobId);
    const ctx: HandlerContext<FleetCatalog> = { ...stack.fleet.deps, service: 'spot.request', messageId: 'm-1', queue: 'request', receiveCount: 1, signal: new AbortController().signal };
    // Four regions, four tries, each refused with MaxSpotInstanceCountExceeded: no AWS error escapes towards the dead-letter queue.
    await spotRequest({ jobId, taskId: task!.taskId }, ctx);
    const [waiting] = await stack.tasks(jobId);
    expect(waiting!.state).to.equal('pending');
    expect(waiting!.waitingSince).to.be.a('number');
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.find((e) => e.type === 'task.waiting')?.data?.reason).to.match(/^no pool can take the task now: 4 pools refused at once \(last: MaxSpotInstanceCountExceeded in us-[a-z]+-\d /);
    const blocked = await marketSignals(stack.fleet.deps).blockedRegions(Date.now());
    expect([...blocked.keys()].sort()).to.deep.equal([...regions].sort());
  });
  // Candidates come from the spot price history, images from the types a region offers: a type priced but
  // without an image there (a retiring type, say) is passed over like a refused pool, not a failed task.
  it('a pool whose type has no image in its region is passed over; the task fails only when no pool has an image', async () => {
    stack = await startStack({ emulators: emulators(), handlers: { ...handlers, 'spot.request': async () => {} } });
    const jobId = await stack.submit(quick({ name: 'no-image', instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'], zones: ['us-east-1a'] } }));
    await eventually('job running with its images', async () => {
      const j = await stack.job(jobId);
      return j?.state === 'running' && j.images && j.security ? j : undefined;
    }, 120_000, 200);
    const [task] = await stack.tasks(jobId);
    const ctx: HandlerContext<FleetCatalog> = { ...stack.fleet.deps, service: 'spot.request', messageId: 'm-1', queue: 'request', receiveCount: 1, signal: new AbortController().signal };
    // The first placement prepares the region (its images recorded on the job) and shows the pool placement asks first.
    const first = await requestAttempt(ctx, (await stack.job(jobId))!, task!, 1);
    const job = (await stack.job(jobId))!;
    const images = job.images!['us-east-1']!;
    expect(images[first.pool.type]).to.be.a('string');
    const without = (types: string[]) => ({ ...job, images: { ...job.images, 'us-east-1': Object.fromEntries(Object.entries(images).filter(([t]) => !types.includes(t))) } });
    // That pool's type without an image: the next pool is asked, in the same delivery.
    const next = await requestAttempt(ctx, without([first.pool.type]), task!, 2);
    expect(next.pool.type).to.not.equal(first.pool.type);
    expect(next.spotRequestId).to.be.a('string');
    // No image for any type: nothing is left, and waiting cannot help.
    let failed: unknown;
    await requestAttempt(ctx, without(['m5.large', 'c5.large']), task!, 3).catch((err: unknown) => (failed = err));
    expect(failed, String(failed)).to.be.instanceOf(PermanentError);
    expect((failed as Error).message).to.match(/passed over: no image for (m5|c5)\.large in us-east-1; no image for (m5|c5)\.large in us-east-1/);
  });
});
