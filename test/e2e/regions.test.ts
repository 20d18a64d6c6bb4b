/**
 * Multi-region, end to end (emulators + simulator): a region's key pair and security group are made only
 * when a task is placed there; a custom image named in one region is copied to the region the job uses and
 * deregistered at teardown; teardown leaves no key pair, group or copied image (inventory through the SDK).
 */
import { expect } from 'chai';
import { CopyImageCommand, CreateKeyPairCommand, CreateSecurityGroupCommand, DescribeImagesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand } from '@aws-sdk/client-ec2';
import type { JobSpecInput } from '../../services/model/spec.js';
import type { HandlerContext } from '../../services/dispatcher/context.js';
import type { FleetCatalog } from '../../services/catalog.js';
import { ensureRegion, JobClosedError, RegionNotReadyError } from '../../services/spot/region-security.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const REGIONS = ['us-east-1', 'us-west-2'];

const base = (over: Partial<JobSpecInput['instances']> = {}): JobSpecInput => ({
  name: 'regions',
  tasks: { count: 2 },
  steps: [{ run: 'sleep 600' }],
  // Both regions are the job's; only us-west-2's zone lets a task be placed there.
  instances: { types: ['m5.large'], regions: REGIONS, zones: ['us-west-2a'], ...over },
});

/** The job's key pairs and groups per region, as EC2 answers. */
async function securityByRegion(stack: Stack, jobId: string): Promise<Record<string, { keyPairs: number; groups: number }>> {
  const out: Record<string, { keyPairs: number; groups: number }> = {};
  const tag = [{ Name: 'tag:spotbatch:job', Values: [jobId] }];
  for (const r of REGIONS) {
    const keys = await stack.cloud.ec2(r).send(new DescribeKeyPairsCommand({ Filters: tag }));
    const groups = await stack.cloud.ec2(r).send(new DescribeSecurityGroupsCommand({ Filters: tag }));
    out[r] = { keyPairs: keys.KeyPairs?.length ?? 0, groups: groups.SecurityGroups?.length ?? 0 };
  }
  return out;
}

async function cancelAndWait(stack: Stack, jobId: string): Promise<void> {
  await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
  await stack.waitJob(jobId, ['cancelled']);
}

let messages = 0;
/** What a handler of the fleet gets, to call a library function as spot.request would. */
function handlerCtx(stack: Stack): HandlerContext<FleetCatalog> {
  return { ...stack.fleet.deps, service: 'spot.request', messageId: `test-${++messages}`, queue: 'request', receiveCount: 1, signal: new AbortController().signal };
}

/** An image of us-east-1 (the simulator's Amazon Linux one stands for a prepared image). */
async function sourceImage(stack: Stack): Promise<string> {
  return (await stack.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
}

/** ensureRegion, as a task placed in `region` would call it, until it no longer answers "not ready". */
async function prepareUntil(stack: Stack, jobId: string, region: string, until: (err: unknown) => boolean): Promise<unknown> {
  return eventually(`${region} prepared`, async () => {
    const job = (await stack.job(jobId))!;
    const out = await ensureRegion(handlerCtx(stack), job, region).catch((e: unknown) => e);
    return until(out) ? (out ?? true) : undefined;
  }, 60_000, 200);
}

describe('multi-region jobs (e2e)', function () {
  this.timeout(240_000);
  const emulators = sharedEmulators();
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({ emulators: emulators() });
  });
  afterEach(async () => {
    await stack.close();
  });

  it('makes the key pair and security group only in the region its tasks are placed in, once, and tears them down', async () => {
    const jobId = await stack.submit(base());
    await eventually('both tasks running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    for (const t of await stack.tasks(jobId)) expect(t.attempts[0]!.pool.region).to.equal('us-west-2');
    // Two tasks raced for us-west-2: one set was made, and nothing in us-east-1.
    expect(await securityByRegion(stack, jobId)).to.deep.equal({ 'us-east-1': { keyPairs: 0, groups: 0 }, 'us-west-2': { keyPairs: 1, groups: 1 } });
    const job = await stack.job(jobId);
    expect(job?.regions).to.deep.equal(REGIONS);
    expect(Object.keys(job?.security?.regions ?? {})).to.deep.equal(['us-west-2']);
    await cancelAndWait(stack, jobId);
    expect(await securityByRegion(stack, jobId)).to.deep.equal({ 'us-east-1': { keyPairs: 0, groups: 0 }, 'us-west-2': { keyPairs: 0, groups: 0 } });
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('copies a custom image named in us-east-1 to us-west-2 where the task runs, and deregisters the copy (never the source) at teardown', async function () {
    // The simulator serves CopyImage from branch h14sim on: a copy of an image that does not exist answers NotFound there, InvalidAction before.
    const probe = await stack.cloud.ec2('us-west-2').send(new CopyImageCommand({ Name: 'probe', SourceImageId: 'ami-00000000', SourceRegion: 'us-east-1' })).catch((e: unknown) => e);
    if ((probe as { name?: string }).name === 'InvalidAction') this.skip();
    // The source: an image of us-east-1 (the simulator's Amazon Linux one stands for a prepared image).
    const source = (await stack.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
    const jobId = await stack.submit({ ...base({ image: { id: source, region: 'us-east-1' } }), tasks: { count: 1 } });
    const running = await eventually('task running', async () => (await stack.tasks(jobId)).find((t) => t.state === 'running'), 180_000, 250);
    const job = await stack.job(jobId);
    const copy = job?.imageCopies?.['us-west-2'];
    expect(copy?.sourceImageId).to.equal(source);
    expect(copy?.imageId).to.match(/^ami-/).and.not.equal(source);
    expect(job?.images?.['us-west-2']?.['m5.large']).to.equal(copy!.imageId);
    expect(running.attempts[0]!.pool.region).to.equal('us-west-2');
    const described = await stack.cloud.ec2('us-west-2').send(new DescribeImagesCommand({ ImageIds: [copy!.imageId] }));
    expect(described.Images?.[0]?.State).to.equal('available');
    expect(described.Images?.[0]?.Tags?.find((t) => t.Key === 'spotbatch:job')?.Value).to.equal(jobId);
    await cancelAndWait(stack, jobId);
    const after = await stack.cloud.ec2('us-west-2').send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }));
    expect(after.Images ?? []).to.deep.equal([]);
    // The source is the user's: still there.
    const still = await stack.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ ImageIds: [source] }));
    expect(still.Images?.[0]?.State).to.equal('available');
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});

describe('regions, partial offerings, failed copies and late resources (e2e)', function () {
  this.timeout(240_000);
  const emulators = sharedEmulators();
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack({ emulators: emulators() });
  });
  afterEach(async () => {
    await stack.close();
  });

  it('runs a job whose second type (f2.12xlarge) only us-east-1 offers in both its regions, without failing a task', async () => {
    const jobId = await stack.submit({ ...base({ types: ['m5.large', 'f2.12xlarge'], zones: ['us-east-1a', 'us-west-2a'], maxPoolShare: 0.5 }), tasks: { count: 2 } });
    await eventually('both tasks running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    // Each region prepares for the types it offers: us-west-2 has no f2.12xlarge (DescribeInstanceTypes refuses it there).
    for (const region of REGIONS) await prepareUntil(stack, jobId, region, (out) => !(out instanceof RegionNotReadyError));
    const job = (await stack.job(jobId))!;
    expect(job.state).to.equal('running');
    expect(Object.keys(job.images?.['us-east-1'] ?? {}).sort()).to.deep.equal(['f2.12xlarge', 'm5.large']);
    expect(Object.keys(job.images?.['us-west-2'] ?? {})).to.deep.equal(['m5.large']);
    for (const t of await stack.tasks(jobId)) {
      expect(t.state).to.equal('running');
      expect(t.attempts.every((a) => a.pool.region === 'us-east-1' || a.pool.type === 'm5.large'), JSON.stringify(t.attempts.map((a) => a.pool))).to.equal(true);
    }
    await cancelAndWait(stack, jobId);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('leaves out a region whose image copy fails (job.warning, excludedRegions) and runs every task in the other', async function () {
    await stack.admin('/_sim/faults', { imageCopySeconds: 1, imageCopyFailRegions: ['us-west-2'] });
    const source = await sourceImage(stack);
    const jobId = await stack.submit({ ...base({ image: { id: source, region: 'us-east-1' }, zones: ['us-east-1a', 'us-west-2a'] }), tasks: { count: 2 } });
    await eventually('job running', async () => (await stack.job(jobId))?.state === 'running', 60_000, 200);
    // A task placed in us-west-2 starts the copy there and finds it failed (whether the fleet's own tasks got there first or not).
    const excluded = await prepareUntil(stack, jobId, 'us-west-2', (out) => out instanceof RegionNotReadyError && /excluded/.test(out.message));
    expect((excluded as Error).message).to.contain('us-west-2');
    await eventually('both tasks running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    const job = (await stack.job(jobId))!;
    expect(job.state).to.equal('running');
    expect(job.regions).to.deep.equal(['us-east-1']);
    expect(job.excludedRegions?.['us-west-2']).to.match(new RegExp(`^instances\\.image: copying ${source} from us-east-1 to us-west-2 failed \\(ami-\\w+ failed: `));
    for (const t of await stack.tasks(jobId)) expect(t.attempts[t.attempts.length - 1]!.pool.region).to.equal('us-east-1');
    const warning = (await stack.fleet.deps.store.events.list(jobId)).find((e) => e.type === 'job.warning' && e.data?.region === 'us-west-2');
    expect(warning?.data?.message).to.contain('us-west-2 left out of the job');
    await cancelAndWait(stack, jobId);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('waits for a task still preparing a region, and deletes what it made after the job closed (teardown by tag, and the closed-job path)', async () => {
    const jobId = await stack.submit(base());
    await eventually('both tasks running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    const running = (await stack.job(jobId))!;
    // A task (of a dispatcher about to crash, say) holds us-east-1's preparation when the job is cancelled.
    const lease = `securing:${jobId}:us-east-1`;
    expect(await stack.fleet.deps.store.leases.acquire(lease, 'crashing-dispatcher', 600_000)).to.equal(true);
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    await eventually('tasks cancelled', async () => (await stack.tasks(jobId)).every((t) => t.state === 'cancelled'), 60_000, 250);
    // It makes the region's key pair and group after the tasks ended: the teardown has not finished meanwhile.
    // Tagged as the fleet tags what it makes (its fleet and the job): teardown deletes only its own fleet's.
    const tags = [{ ResourceType: 'key-pair' as const, Tags: [{ Key: 'spotbatch:fleet', Value: stack.fleet.config.prefix }, { Key: 'spotbatch:job', Value: jobId }] }];
    const east = stack.cloud.ec2('us-east-1');
    await east.send(new CreateKeyPairCommand({ KeyName: `late-${jobId}`, TagSpecifications: tags }));
    await east.send(new CreateSecurityGroupCommand({ GroupName: `late-${jobId}`, Description: 'late', TagSpecifications: [{ ResourceType: 'security-group', Tags: tags[0]!.Tags }] }));
    expect((await stack.job(jobId))?.state).to.equal('cancelling');
    await stack.fleet.deps.store.leases.release(lease, 'crashing-dispatcher');
    await stack.waitJob(jobId, ['cancelled']);
    expect(await securityByRegion(stack, jobId)).to.deep.equal({ 'us-east-1': { keyPairs: 0, groups: 0 }, 'us-west-2': { keyPairs: 0, groups: 0 } });
    // After teardown: a task's retry finds the job closed and deletes what it may have made there by tag.
    await east.send(new CreateKeyPairCommand({ KeyName: `later-${jobId}`, TagSpecifications: tags }));
    const closed = await ensureRegion(handlerCtx(stack), running, 'us-east-1').catch((e: unknown) => e);
    expect(closed).to.be.instanceOf(JobClosedError);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});

describe('a custom image copy that never becomes available (e2e)', function () {
  this.timeout(120_000);
  const emulators = sharedEmulators();
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
  });

  it('fails the job after lifecycle.imageCopyWaitSeconds with that reason, and tears down the copy', async () => {
    stack = await startStack({ emulators: emulators(), config: { lifecycle: { imageCopyWaitSeconds: 2 } } });
    // A day of simulated time (over an hour of real time at the stack's time scale) before the copy is available.
    await stack.admin('/_sim/faults', { imageCopySeconds: 86_400 });
    const source = (await stack.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
    // us-west-2 is the job's only region: left out, none is left, and the job fails.
    const jobId = await stack.submit({ ...base({ image: { id: source, region: 'us-east-1' }, regions: ['us-west-2'] }), tasks: { count: 1 } });
    const job = await stack.waitJob(jobId, ['failed', 'succeeded', 'cancelled'], 100_000);
    expect(job.state).to.equal('failed');
    const copy = job.imageCopies?.['us-west-2'];
    expect(copy?.imageId).to.match(/^ami-/);
    expect(job.error).to.match(new RegExp(`^instances\\.image: the copy ${copy!.imageId} of ${source} from us-east-1 to us-west-2 is still pending after \\d+ s \\(lifecycle\\.imageCopyWaitSeconds 2\\); no other region of the job is left$`));
    const [task] = await stack.tasks(jobId);
    expect(task!.state).to.equal('failed');
    expect(task!.reason).to.equal(`job failed: ${job.error}`);
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.find((e) => e.type === 'job.failed')?.data?.reason).to.equal(job.error);
    // The copy the job made is deregistered at teardown, pending or not.
    const after = await stack.cloud.ec2('us-west-2').send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }));
    expect(after.Images ?? []).to.deep.equal([]);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});
