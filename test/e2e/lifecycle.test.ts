import { expect } from 'chai';
import type { JobSpecInput } from '../../services/job/spec.js';
import { leftovers, startStack, type Stack } from '../helpers/stack.js';

const base = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'e2e',
  tasks: { count: 3 },
  steps: [{ run: 'echo "task $SPOTBATCH_TASK_INDEX attempt $SPOTBATCH_ATTEMPT"' }],
  instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
  ...over,
});

describe('job lifecycle, end to end (emulators + simulator)', function () {
  this.timeout(240_000);
  let stack: Stack;
  beforeEach(async () => {
    stack = await startStack();
  });
  afterEach(async () => {
    await stack.close();
  });

  it('runs 10 tasks to success and leaves nothing of the job in the simulator', async () => {
    const jobId = await stack.submit(base({ name: 'ten', tasks: { count: 10 } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('succeeded');
    const tasks = await stack.tasks(jobId);
    expect(tasks).to.have.length(10);
    for (const t of tasks) {
      expect(t.state, `${t.taskId}: ${t.reason}`).to.equal('succeeded');
      expect(t.exitCode).to.equal(0);
      expect(t.stdoutTail).to.contain(`task ${t.index} attempt 1`);
      const a = t.attempts[0]!;
      expect(a.instanceId).to.match(/^i-/);
      expect(a.requestedAt).to.be.at.most(a.runningAt!);
      expect(a.runningAt).to.be.at.most(a.startedAt!);
    }
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});
