/**
 * The fleet against the simulator's AWS behaviour: IAM propagation, EC2
 * eventual consistency (NotFound windows) and request limits (token buckets).
 * Each job must end with the right state and leave nothing in the simulator.
 */
import { expect } from 'chai';
import type { JobSpecInput } from '../../services/model/spec.js';
import { leftovers, startStack, type Stack } from '../helpers/stack.js';

interface Stats {
  calls: Record<string, Record<string, number>>;
  errors: Record<string, number>;
}

const spec = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'aws-behaviour',
  tasks: { count: 3 },
  steps: [{ run: 'echo "task $SPOTBATCH_TASK_INDEX"' }],
  instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
  ...over,
});

async function nothingLeft(stack: Stack, jobId: string): Promise<void> {
  expect(await leftovers(stack, jobId)).to.deep.equal([]);
  const inv = await stack.inventory();
  expect(inv.instances, 'instances').to.deep.equal([]);
  expect(inv.spotRequests, 'spot requests').to.deep.equal([]);
}

describe('AWS behaviour, end to end: the fleet survives it', function () {
  this.timeout(600_000);
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('IAM propagation past the first re-deliveries and NotFound windows on every call after a create: the job succeeds, nothing left', async () => {
    stack = await startStack();
    // 65 s: longer than the dispatcher's three deliveries of a failing message (30 s visibility), so only
    // a fleet that reads the refusal as propagation and asks again later gets through.
    await stack.admin('/_sim/faults', { iamPropagationSeconds: 65, notFoundSeconds: 3 });
    const jobId = await stack.submit(spec({ name: 'propagation' }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed', 'cancelled'], 400_000);
    const tasks = await stack.tasks(jobId);
    expect(job.state, `${job.error ?? ''} ${tasks.map((t) => t.reason).join('; ')}`).to.equal('succeeded');
    for (const t of tasks) expect(t.stdoutTail).to.contain(`task ${t.index}`);
    const stats = (await stack.stats()) as unknown as Stats;
    // the behaviours were met, not dodged
    expect(stats.errors.InvalidParameterValue, 'IAM propagation refusals').to.be.greaterThan(0);
    expect(stats.errors['InvalidGroup.NotFound'], 'security group NotFound').to.be.greaterThan(0);
    expect((stats.errors['InvalidSpotInstanceRequestID.NotFound'] ?? 0) + (stats.errors['InvalidInstanceID.NotFound'] ?? 0), 'request/instance NotFound').to.be.greaterThan(0);
    await nothingLeft(stack, jobId);
  });

  it('50 tasks under standing request limits (token buckets at a tenth of AWS\'s): the job succeeds, nothing left', async () => {
    stack = await startStack({ dispatchers: 2 });
    await stack.admin('/_sim/faults', { requestLimits: 0.1 });
    const jobId = await stack.submit(spec({ name: 'throttled', tasks: { count: 50 }, steps: [{ run: 'true' }] }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed', 'cancelled'], 540_000);
    const tasks = await stack.tasks(jobId);
    expect(job.state, `${job.error ?? ''} ${tasks.filter((t) => t.state !== 'succeeded').map((t) => `${t.taskId}: ${t.reason}`).join('; ')}`).to.equal('succeeded');
    expect(tasks.filter((t) => t.state === 'succeeded')).to.have.length(50);
    const stats = (await stack.stats()) as unknown as Stats;
    expect(stats.errors.RequestLimitExceeded, 'throttled calls').to.be.greaterThan(0);
    await nothingLeft(stack, jobId);
  });
});
