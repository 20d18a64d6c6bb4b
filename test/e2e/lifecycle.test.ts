import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobSpecInput } from '../../services/model/spec.js';
import { prepareSpec } from '../../services/job/client.js';
import { configuredArtifactStore } from '../../services/artifacts/index.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const base = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'e2e',
  tasks: { count: 3 },
  steps: [{ run: 'echo "task $SPOTBATCH_TASK_INDEX attempt $SPOTBATCH_ATTEMPT"' }],
  instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
  ...over,
});

describe('job lifecycle (e2e)', function () {
  // One set of SQS and DynamoDB emulators for the file; every test has its own prefix, simulator and dispatchers.
  const emulators = sharedEmulators();

  describe('job lifecycle, end to end (emulators + simulator)', function () {
  this.timeout(240_000);
  let stack: Stack;
  beforeEach(async () => {
      stack = await startStack({ emulators: emulators() });
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

  describe('job lifecycle, end to end: command mode, per-task args and env, uploads', function () {
  this.timeout(240_000);
  let stack: Stack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-upload-'));
      stack = await startStack({ emulators: emulators(), config: { artifacts: `local:${path.join(dir, 'artifacts')}` } });
    mkdirSync(path.join(dir, 'inputs', 'deeper'), { recursive: true });
    writeFileSync(path.join(dir, 'inputs', 'hello.txt'), 'hello from the submitter\n');
    writeFileSync(path.join(dir, 'inputs', 'deeper', 'n.txt'), '42\n');
  });
  after(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes each task its args as separate arguments and its env as variables, and uploads folders first', async () => {
    const nasty = ['two words', '$HOME;rm -rf /', "it's \"quoted\"", 'line\nbreak', '`whoami`'];
    // The CLI's library call stores the folder in the fleet's artifact store; the spec refers to it by digest.
    const jobId = await stack.submit(await prepareSpec({
      name: 'args',
      tasks: [{ args: nasty, env: { GREETING: 'hi $USER' } }, { args: ['plain'], env: { GREETING: 'second' } }],
      command: ['sh', '-c', 'for a in "$@"; do printf "[%s]\\n" "$a"; done; printf "env=[%s]\\n" "$GREETING"; cat inputs/hello.txt inputs/deeper/n.txt', 'argv0'],
      uploads: [{ from: path.join(dir, 'inputs'), to: 'inputs' }],
      instances: { types: ['m5.large'], regions: ['us-east-1'] },
    }, dir, configuredArtifactStore(stack.fleet.config)));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [first, second] = await stack.tasks(jobId);
    expect(job.state, `${first!.reason} ${first!.stderrTail}`).to.equal('succeeded');
    expect(first!.stdoutTail).to.equal(`${nasty.map((a) => `[${a}]`).join('\n')}\nenv=[hi $USER]\nhello from the submitter\n42\n`);
    expect(second!.stdoutTail).to.equal('[plain]\nenv=[second]\nhello from the submitter\n42\n');
  });

  it("runs a job whose env sets the names the agent uses for itself (MODE, PLAN, SH, TASK_DIR) and whose tag key is \"constructor\"", async () => {
    const env = { MODE: 'production', PLAN: 'gold', SH: 'zsh', TASK_DIR: '/nowhere', constructor: 'c' };
    const jobId = await stack.submit({
      name: 'agent-vars',
      tasks: [{ env: { CHECKPOINT_DIR: '../../x' } }],
      steps: [{ run: 'printf "%s|" "$MODE" "$PLAN" "$SH" "$TASK_DIR" "$constructor" "$CHECKPOINT_DIR"' }, { run: 'echo "step $SPOTBATCH_STEP"' }],
      env,
      tags: { constructor: 'tagged' },
      instances: { types: ['m5.large'], regions: ['us-east-1'] },
    });
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, `${task?.reason} ${task?.stderrTail}`).to.equal('succeeded');
    expect(task!.stdoutTail).to.equal('production|gold|zsh|/nowhere|c|../../x|step 2\n');
  });
  });

  describe('job lifecycle, end to end: failures and cancel', function () {
  this.timeout(240_000);
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('re-places a task whose first pool has no capacity, and finishes', async () => {
      stack = await startStack({ emulators: emulators() });
    // The pool placement picks first. This stack's market store is empty (no signal collected, no launch
    // recorded), so with every task in the best pool (maxPoolShare 1) that is the cheapest current price.
    const { currentPrices } = await import('../../services/spot/pricing.js');
    const { choosePool } = await import('../../services/spot/placement.js');
    // Through the fleet's own price cache (each stack's fleet has its own), so the fleet places its first
    // attempt from the same prices as this test.
    const prices = await currentPrices({ cloud: stack.cloud, resources: stack.fleet.deps.resources }, 'us-east-1', ['m5.large', 'c5.large'], Date.now());
    const first = choosePool({ candidates: prices, zones: 'auto', avoid: [], maxPoolShare: 1 }).pool;
    await stack.admin('/_sim/faults', { insufficientCapacity: [{ region: first.region, availabilityZone: first.zone, instanceType: first.type }] });
    const jobId = await stack.submit(base({ name: 'capacity', tasks: { count: 2 }, instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'], maxPoolShare: 1 } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('succeeded');
    for (const t of await stack.tasks(jobId)) {
      expect(t.attempts.length, JSON.stringify(t.attempts)).to.be.at.least(2);
      const [a1, last] = [t.attempts[0]!, t.attempts[t.attempts.length - 1]!];
      expect(a1.pool).to.deep.equal(first);
      expect(a1.outcome).to.equal('replaced');
      expect(a1.reason).to.contain('capacity-not-available');
      expect(`${last.pool.zone}/${last.pool.type}`).not.to.equal(`${first.zone}/${first.type}`);
      expect(last.outcome).to.equal('succeeded');
    }
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('retries an exit code listed in retryExitCodes up to maxAttempts, then fails the task with the reason; the job ends partially failed and torn down', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(
      base({
        name: 'exit3',
        tasks: { count: 2 },
        steps: [{ run: 'if [ "$SPOTBATCH_TASK_INDEX" = 1 ]; then echo failing >&2; exit 3; fi; echo fine' }],
        retry: { maxAttempts: 2, retryExitCodes: [3] },
      }),
    );
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('partially-failed');
    const [ok, bad] = await stack.tasks(jobId);
    expect(ok!.state).to.equal('succeeded');
    expect(bad!.state).to.equal('failed');
    expect(bad!.attempts.map((a) => [a.exitCode, a.outcome])).to.deep.equal([
      [3, 'retry'],
      [3, 'failed'],
    ]);
    expect(bad!.reason).to.equal('exit code 3 on 2 attempt(s) (retry.maxAttempts 2)');
    expect(bad!.stderrTail).to.contain('failing');
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it("stops a step at its own timeout and fails the task saying which step timed out; the job's other steps keep the job-wide limit", async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(
      base({
        name: 'step-timeout',
        tasks: { count: 1 },
        steps: [{ run: 'sleep 2; echo first' }, { run: 'sleep 120', timeout: '1s' }, { run: 'echo never' }],
        timeouts: { step: '10m' },
      }),
    );
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('failed');
    const [t] = await stack.tasks(jobId);
    expect(t!.reason).to.equal('step 2 timed out after 1 s (exit code 124)');
    expect(t!.attempts.map((a) => a.outcome)).to.deep.equal(['failed']);
    expect(t!.stdoutTail).to.contain('first').and.not.contain('never');
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it('cancels a job while its steps run: nothing of it left, state cancelled', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(base({ name: 'cancel-me', tasks: { count: 3 }, steps: [{ run: 'sleep 600' }] }));
    await eventually(
      'steps running',
      async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 3,
      120_000,
      250,
    );
    expect((await stack.inventory()).instances!.filter((i) => i.tags?.['spotbatch:job'] === jobId)).to.have.length(3);
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    const job = await stack.waitJob(jobId, ['cancelled']);
    expect(job.outcome).to.equal('cancelled');
    for (const t of await stack.tasks(jobId)) expect(t.state).to.equal('cancelled');
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  it("opens tcp/22 of the job's security group to the configured CIDR only", async () => {
      stack = await startStack({ emulators: emulators() });
    const { DescribeSecurityGroupsCommand } = await import('@aws-sdk/client-ec2');
    const jobId = await stack.submit(base({ name: 'sg', tasks: { count: 1 }, steps: [{ run: 'sleep 600' }], ssh: { ingressCidr: '127.0.0.1/32' } }));
    // The region's group is made when the job's first task is placed there.
    await eventually('task placed', async () => (await stack.tasks(jobId)).some((t) => t.attempts.length > 0), 60_000, 200);
    const out = await stack.cloud.ec2('us-east-1').send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }));
    expect(out.SecurityGroups).to.have.length(1);
    const rules = out.SecurityGroups![0]!.IpPermissions!;
    expect(rules.map((r) => [r.IpProtocol, r.FromPort, r.ToPort, (r.IpRanges ?? []).map((x) => x.CidrIp), r.Ipv6Ranges?.length ?? 0])).to.deep.equal([['tcp', 22, 22, ['127.0.0.1/32'], 0]]);
    await stack.fleet.deps.bus.send('job.cancel', { jobId });
    await stack.waitJob(jobId, ['cancelled']);
  });

  it('reaches the same end with every message delivered twice: each success recorded once', async () => {
      stack = await startStack({ emulators: emulators() });
    // A wrapper around the queue client: every message the fleet sends goes out twice.
    const bus = stack.fleet.deps.bus;
    const send = bus.send.bind(bus);
    const sendMany = bus.sendMany.bind(bus);
    bus.send = (async (service: never, body: never, options?: never) => {
      const first = await send(service, body, options);
      await send(service, body, options);
      return first;
      });
    bus.sendMany = (async (service: never, bodies: never[], options?: never) => {
      await sendMany(service, bodies, options);
      return sendMany(service, bodies, options);
      });
    const jobId = await stack.submit(base({ name: 'twice', tasks: { count: 4 } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('succeeded');
    expect(job.succeededCount).to.equal(4);
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.filter((e) => e.type === 'task.succeeded')).to.have.length(4);
    expect(events.filter((e) => e.type === 'job.submitted')).to.have.length(1);
    for (const t of await stack.tasks(jobId)) {
      expect(t.state).to.equal('succeeded');
      expect(t.attempts.filter((a) => a.outcome === 'succeeded')).to.have.length(1);
    }
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 30_000);
  });
  });
});
