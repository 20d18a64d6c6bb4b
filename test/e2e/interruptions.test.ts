import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobSpecInput } from '../../services/model/spec.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually, TEST_CREDENTIALS } from '../helpers/fleet.js';
import { DescribeSpotInstanceRequestsCommand, type RequestSpotInstancesCommandInput, type RequestSpotInstancesCommandOutput } from '@aws-sdk/client-ec2';
import { handlers } from '../../services/handlers.js';
import { rebalanceDetected } from '../../services/rebalance/handlers.js';
import { tasks } from '../../services/model/repo.js';
import type { HandlerContext } from '../../services/dispatcher/context.js';
import type { FleetCatalog } from '../../services/catalog.js';
import { createCloudClients } from '../../shared/aws.js';
import { StateConflictError } from '../../shared/errors.js';

/** The first attempt of every task runs long; later attempts finish at once. */
const spec = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'interrupted',
  tasks: { count: 1 },
  steps: [{ run: 'if [ "$SPOTBATCH_ATTEMPT" = 1 ]; then sleep 600; fi; echo "done on attempt $SPOTBATCH_ATTEMPT"' }],
  instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
  ...over,
});

async function interruptWhenRunning(stack: Stack, jobId: string, attempt: number): Promise<string> {
  const task = await eventually(
    `attempt ${attempt} running`,
    async () => (await stack.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === attempt),
    120_000,
    200,
  );
  const instanceId = task.attempts[attempt - 1]!.instanceId!;
  await stack.admin(`/_sim/instances/${instanceId}/interrupt`, {});
  return instanceId;
}

/** Interrupt attempt `attempt` as soon as it has an instance, whatever the task's state (pending instance included). */
async function interruptWhenPlaced(stack: Stack, jobId: string, attempt: number, states = ['waiting', 'starting', 'running']): Promise<string> {
  const task = await eventually(
    `attempt ${attempt} placed`,
    async () => (await stack.tasks(jobId)).find((t) => states.includes(t.state) && t.attempts.length === attempt && t.attempts[attempt - 1]!.instanceId),
    120_000,
    100,
  );
  const instanceId = task.attempts[attempt - 1]!.instanceId!;
  const answer = (await stack.admin(`/_sim/instances/${instanceId}/interrupt`, {})) as { error?: unknown };
  expect(answer.error, `interrupt ${instanceId}`).to.equal(undefined);
  return instanceId;
}

describe('interruptions (e2e)', function () {
  // One set of SQS and DynamoDB emulators for the file; every test has its own prefix, simulator and dispatchers.
  const emulators = sharedEmulators();

  describe('interruptions, end to end', function () {
  this.timeout(240_000);
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('with all three paths active: one resubmit at once, in another pool, and it succeeds there', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(spec());
    await interruptWhenRunning(stack, jobId, 1);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    expect(task!.interruptions).to.equal(1);
    const [first, second] = task!.attempts;
    expect(first!.outcome).to.equal('interrupted');
    expect(['events', 'reconcile', 'agent']).to.include(first!.interruptedBy);
    expect(`${second!.pool.zone}/${second!.pool.type}`).not.to.equal(`${first!.pool.zone}/${first!.pool.type}`);
    expect(second!.outcome).to.equal('succeeded');
    expect(task!.stdoutTail).to.contain('done on attempt 2');
    // The resubmit went out before the instance's two minutes were up: the next request came right after the notice.
    expect(second!.requestedAt - first!.endedAt!).to.be.lessThan(60_000);
    // Let the slower paths report too (the instance dies two simulated minutes after the notice), then count.
    await new Promise((r) => setTimeout(r, 8_000));
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.filter((e) => e.type === 'task.interrupted')).to.have.length(1);
    expect((await stack.tasks(jobId))[0]!.attempts).to.have.length(2);
    expect((await stack.job(jobId))!.cooldowns).to.have.property(`${first!.pool.zone}/${first!.pool.type}`);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });

  /** The agent's metadata watcher off: the step never hears of the notice. */
  const noImds = { AWS_EC2_METADATA_DISABLED: 'true' };

  it('the agent alone (no events queue, instance still up): its notice leads to the resubmit', async () => {
      stack = await startStack({ emulators: emulators(), events: false });
    const jobId = await stack.submit(spec({ name: 'agent-only' }));
    await interruptWhenRunning(stack, jobId, 1);
    const task = await eventually('interrupted', async () => (await stack.tasks(jobId)).find((t) => t.attempts[0]?.outcome === 'interrupted'), 60_000, 200);
    expect(task.attempts[0]!.interruptedBy).to.equal('agent');
    expect(task.attempts[0]!.noticeTime).to.match(/^\d{4}-\d\d-\d\dT/);
    await stack.waitJob(jobId, ['succeeded']);
  });

  it('the events queue alone (no agent notice, SSH still fine): the EventBridge warning leads to the resubmit, and the step is told (TERM over SSH)', async () => {
    // A slower clock than usual: the instance lives 2 simulated minutes (24 s) after the notice, time enough on a loaded machine.
      stack = await startStack({ emulators: emulators(), timeScale: 5 });
    const marks = mkdtempSync(path.join(tmpdir(), 'spotbatch-term-'));
    const mark = path.join(marks, 'term-seen');
    try {
      const jobId = await stack.submit(
        spec({
          name: 'events-only',
          env: { ...noImds, MARK: mark },
          steps: [{ run: 'trap \'echo "TERM on attempt $SPOTBATCH_ATTEMPT" >> "$MARK"; exit 143\' TERM\nif [ "$SPOTBATCH_ATTEMPT" = 1 ]; then sleep 600; fi\necho "done on attempt $SPOTBATCH_ATTEMPT"' }],
        }),
      );
      await interruptWhenRunning(stack, jobId, 1);
      const noticeAt = Date.now();
      const task = await eventually('interrupted', async () => (await stack.tasks(jobId)).find((t) => t.attempts[0]?.outcome === 'interrupted'), 60_000, 200);
      expect(task.attempts[0]!.interruptedBy).to.equal('events');
      // The agent never saw the notice (its watcher is off): termination.detected stopped the step through the agent.
      const seen = await eventually('the step got TERM', async () => {
        try {
          return readFileSync(mark, 'utf8');
        } catch {
          return undefined;
        }
      }, 20_000, 100);
      expect(seen).to.equal('TERM on attempt 1\n');
      expect(Date.now() - noticeAt).to.be.lessThan(20_000);
      const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
      const [done] = await stack.tasks(jobId);
      expect(job.state, done!.reason).to.equal('succeeded');
      expect(done!.stdoutTail).to.contain('done on attempt 2');
    } finally {
      rmSync(marks, { recursive: true, force: true });
    }
  });

  it('reconciliation alone (no events queue, no agent notice): EC2 says the instance was reclaimed', async () => {
      stack = await startStack({ emulators: emulators(), events: false });
    const jobId = await stack.submit(spec({ name: 'reconcile-only', env: noImds }));
    await interruptWhenRunning(stack, jobId, 1);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 180_000);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    expect(task!.attempts[0]!.interruptedBy).to.equal('reconcile');
  });

  it('a stale heartbeat on a reclaimed instance (SSH still fine) is an interruption, not a lost instance', async () => {
    // No events queue; the step freezes the agent's watchdog (heartbeat and metadata watcher) and keeps running.
      stack = await startStack({ emulators: emulators(), events: false, timeScale: 5 });
    const freeze = 'a=$(cat "$SPOTBATCH_TASK_DIR/agent.pid"); for p in $(ps -o pid= --ppid "$a"); do [ "$p" = $$ ] || kill -STOP "$p"; done';
    const jobId = await stack.submit(
      spec({
        name: 'stale-heartbeat',
        env: noImds,
        timeouts: { heartbeat: '8s' },
        // maxAttempts 1: a lost instance would fail the task.
        retry: { maxAttempts: 1 },
        steps: [{ run: `if [ "$SPOTBATCH_ATTEMPT" = 1 ]; then ${freeze}; sleep 600; fi; echo "done on attempt $SPOTBATCH_ATTEMPT"` }],
      }),
    );
    await interruptWhenRunning(stack, jobId, 1);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    const [first] = task!.attempts;
    expect(first!.outcome).to.equal('interrupted');
    expect(first!.interruptedBy).to.equal('reconcile');
    expect(first!.reason).to.contain('marked-for-termination');
    expect(task!.interruptions).to.equal(1);
    const events = (await stack.fleet.deps.store.events.list(jobId)).map((e) => e.type);
    expect(events).to.not.include('task.lost');
  });

  it('onRebalance "migrate": a rebalance recommendation moves the task to a standby in another pool before any notice', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(spec({ name: 'migrate', onRebalance: 'migrate' }));
    const task = await eventually(
      'attempt 1 running',
      async () => (await stack.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === 1),
      120_000,
      200,
    );
    const first = task.attempts[0]!;
    await stack.admin(`/_sim/instances/${first.instanceId}/rebalance`, {});
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [done] = await stack.tasks(jobId);
    expect(job.state, done!.reason).to.equal('succeeded');
    expect(done!.attempts.map((a) => a.outcome)).to.deep.equal(['migrated', 'succeeded']);
    expect(`${done!.attempts[1]!.pool.zone}/${done!.attempts[1]!.pool.type}`).to.not.equal(`${first.pool.zone}/${first.pool.type}`);
    expect(done!.interruptions).to.equal(0);
    expect(done!.migrations).to.equal(1);
    expect(done!.standby).to.equal(undefined);
    expect(done!.stdoutTail).to.contain('done on attempt 2');
    const events = (await stack.fleet.deps.store.events.list(jobId)).map((e) => e.type);
    expect(events.filter((t) => t === 'task.rebalance')).to.have.length(1);
    expect(events.filter((t) => t === 'task.migrated')).to.have.length(1);
    expect(events).to.not.include('task.interrupted');
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });

  // With ClientTokens per attempt and pool, two deliveries of one recommendation get the same standby request.
  // The first records it and rebalance.check moves the task there before the second writes: the second's
  // conflict must leave that request (now the current attempt's) alone.
  it('onRebalance "migrate": a duplicate rebalance.detected that loses the row leaves the standby request another delivery recorded', async () => {
    stack = await startStack({ emulators: emulators(), handlers: { ...handlers, 'rebalance.detected': async () => {} } });
    const jobId = await stack.submit(spec({ name: 'migrate-dup', onRebalance: 'migrate' }));
    const task = await eventually('attempt 1 running', async () => (await stack.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === 1), 120_000, 200);
    const key = { jobId, taskId: task.taskId };
    const hooked = createCloudClients({ region: 'us-east-1', endpoints: { ec2: stack.sim.endpoint, iam: stack.sim.endpoint }, credentials: TEST_CREDENTIALS });
    let requestId: string | undefined;
    hooked.ec2('us-east-1').middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'RequestSpotInstancesCommand' && !requestId) {
          // The other delivery, meanwhile: the same request recorded, and rebalance.check moved the task to it.
          const input = args.input as RequestSpotInstancesCommandInput;
          requestId = (out.output as RequestSpotInstancesCommandOutput).SpotInstanceRequests![0]!.SpotInstanceRequestId!;
          const row = (await tasks(stack.fleet.deps).get(key))!;
          const pool = { region: 'us-east-1', zone: input.LaunchSpecification!.Placement!.AvailabilityZone!, type: input.LaunchSpecification!.InstanceType! };
          const moved = { ...row.attempts[0]!, endedAt: Date.now(), outcome: 'migrated' as const };
          await tasks(stack.fleet.deps).update(key, { state: 'running', version: row.version, set: { attempts: [moved, { n: 2, pool, price: 0.01, spotRequestId: requestId, requestedAt: Date.now() }] } });
        }
        return out;
      },
      { step: 'initialize', name: 'theOtherDelivery' },
    );
    const ctx: HandlerContext<FleetCatalog> = { ...stack.fleet.deps, cloud: { iam: hooked.iam, ec2: (region) => hooked.ec2(region) }, service: 'rebalance.detected', messageId: 'm-1', queue: 'request', receiveCount: 1, signal: new AbortController().signal };
    let lost: unknown;
    await rebalanceDetected({ ...key, attempt: 1, source: 'events' }, ctx).catch((err: unknown) => (lost = err));
    expect(lost).to.be.instanceOf(StateConflictError);
    const out = await stack.cloud.ec2('us-east-1').send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId!] }));
    expect(out.SpotInstanceRequests![0]!.State).to.be.oneOf(['open', 'active']);
    hooked.ec2('us-east-1').destroy();
    hooked.iam.destroy();
  });

  it('onRebalance "ignore" (the default): a rebalance recommendation leaves the task where it is', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(spec({ name: 'ignore-rebalance', steps: [{ run: 'sleep 4; echo "finished on attempt $SPOTBATCH_ATTEMPT"' }] }));
    const task = await eventually(
      'attempt 1 running',
      async () => (await stack.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === 1),
      120_000,
      200,
    );
    await stack.admin(`/_sim/instances/${task.attempts[0]!.instanceId}/rebalance`, {});
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [done] = await stack.tasks(jobId);
    expect(job.state).to.equal('succeeded');
    expect(done!.attempts).to.have.length(1);
    expect(done!.stdoutTail).to.contain('finished on attempt 1');
  });

  it('fails a task interrupted beyond retry.maxInterruptions with "interrupted N times", and still tears down', async () => {
      stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(spec({ name: 'too-many', steps: [{ run: 'sleep 600' }], retry: { maxInterruptions: 1 } }));
    await interruptWhenRunning(stack, jobId, 1);
    await interruptWhenRunning(stack, jobId, 2);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state).to.equal('failed');
    expect(task!.reason).to.equal('interrupted 2 times (retry.maxInterruptions 1)');
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });

  it('a reclaim before the step runs (spot.check sees it) takes the interruption path: cool-down, another pool, one interruption', async () => {
    // No events queue: spot.check alone sees it. Instances stay pending 5 s (100 simulated s), so the reclaim comes before any step.
      stack = await startStack({ emulators: emulators(), events: false, launchSeconds: 100 });
    const jobId = await stack.submit(spec({ name: 'reclaimed-pending', steps: [{ run: 'echo "done on attempt $SPOTBATCH_ATTEMPT"' }] }));
    await interruptWhenPlaced(stack, jobId, 1, ['waiting']);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    const [first, second] = task!.attempts;
    expect(first!.outcome).to.equal('interrupted');
    expect(first!.interruptedBy).to.equal('reconcile');
    expect(first!.startedAt).to.equal(undefined);
    expect(first!.reason).to.match(/marked-for-termination|instance-terminated|SpotInstanceTermination/);
    expect(task!.interruptions).to.equal(1);
    expect(task!.attempts).to.have.length(2);
    expect(`${second!.pool.zone}/${second!.pool.type}`).not.to.equal(`${first!.pool.zone}/${first!.pool.type}`);
    // request.resubmit ran: the pool is cooled down for the job.
    expect((await stack.job(jobId))!.cooldowns).to.have.property(`${first!.pool.zone}/${first!.pool.type}`);
    const events = (await stack.fleet.deps.store.events.list(jobId)).map((e) => e.type);
    expect(events.filter((t) => t === 'task.interrupted')).to.have.length(1);
    expect(events).to.not.include('task.replaced');
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });

  it('a reclaim before the step runs counts against retry.maxInterruptions', async () => {
      stack = await startStack({ emulators: emulators(), events: false, launchSeconds: 100 });
    const jobId = await stack.submit(spec({ name: 'reclaimed-bound', steps: [{ run: 'echo done' }], retry: { maxInterruptions: 0 } }));
    await interruptWhenPlaced(stack, jobId, 1, ['waiting']);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state).to.equal('failed');
    expect(task!.reason).to.equal('interrupted 1 times (retry.maxInterruptions 0)');
    expect(task!.attempts).to.have.length(1);
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });

  it('interruptions and retries are separate limits: maxAttempts 1 still allows 11 interruptions (retry.maxInterruptions 11)', async function () {
    this.timeout(400_000);
      stack = await startStack({ emulators: emulators(), config: { lifecycle: { cooldownSeconds: 0 } } });
    const jobId = await stack.submit(
      spec({ name: 'many-interruptions', steps: [{ run: 'if [ "$SPOTBATCH_ATTEMPT" -lt 12 ]; then sleep 600; fi; echo "done on attempt $SPOTBATCH_ATTEMPT"' }], retry: { maxAttempts: 1, maxInterruptions: 11 } }),
    );
    for (let n = 1; n <= 11; n++) await interruptWhenPlaced(stack, jobId, n);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    expect(task!.interruptions).to.equal(11);
    expect(task!.attempts.map((a) => a.outcome)).to.deep.equal([...Array<string>(11).fill('interrupted'), 'succeeded']);
    expect(task!.stdoutTail).to.contain('done on attempt 12');
  });

  it('re-placements before launch have their own bound: no capacity anywhere fails the task after 10, with the reason', async () => {
      stack = await startStack({ emulators: emulators() });
    await stack.admin('/_sim/faults', { insufficientCapacity: [{}] });
    const jobId = await stack.submit(spec({ name: 'no-capacity', steps: [{ run: 'echo done' }], retry: { maxAttempts: 1, maxInterruptions: 20 } }));
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 180_000);
    const [task] = await stack.tasks(jobId);
    expect(job.state).to.equal('failed');
    expect(task!.reason).to.match(/^no instance after 10 re-placements before launch \(last: spot request \w+: capacity-not-available\)$/);
    expect(task!.attempts.map((a) => a.outcome)).to.deep.equal(Array<string>(10).fill('replaced'));
    expect(task!.interruptions).to.equal(0);
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });
  });

  describe('interruptions, end to end: a market that interrupts 30% of instances', function () {
  this.timeout(300_000);
  let stack: Stack;
  after(async () => {
    await stack?.close();
  });

  it('finishes a 30-task job with every task succeeded once and nothing left', async () => {
      stack = await startStack({ emulators: emulators(), config: { dispatcher: { concurrency: 6, batchSize: 10, visibilityTimeoutSeconds: 30, heartbeatSeconds: 10 } } });
    const jobId = await stack.submit({
      name: 'chaos',
      tasks: { count: 30 },
      steps: [{ run: 'sleep 3; echo "task $SPOTBATCH_TASK_INDEX done on attempt $SPOTBATCH_ATTEMPT"' }],
      instances: { types: ['m5.large', 'c5.large', 'm5a.large', 'c5a.large'], regions: ['us-east-1'] },
      retry: { maxInterruptions: 5 },
    });
    // The market: 3 of every 10 instances that reach a running step are reclaimed (seeded by order).
    const seen = new Set<string>();
    const interrupted: string[] = [];
    let n = 0;
    for (;;) {
      const job = await stack.job(jobId);
      if (job && ['succeeded', 'failed', 'partially-failed'].includes(job.state)) break;
      for (const t of await stack.tasks(jobId)) {
        const a = t.attempts[t.attempts.length - 1];
        if (t.state !== 'running' || !a?.instanceId || seen.has(a.instanceId)) continue;
        seen.add(a.instanceId);
        if (n++ % 10 < 3) {
          await stack.admin(`/_sim/instances/${a.instanceId}/interrupt`, {});
          interrupted.push(a.instanceId);
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const job = (await stack.job(jobId))!;
    const tasks = await stack.tasks(jobId);
    expect(interrupted.length).to.be.at.least(9);
    expect(job.state, tasks.filter((t) => t.state !== 'succeeded').map((t) => `${t.taskId}: ${t.reason}`).join('; ')).to.equal('succeeded');
    for (const t of tasks) {
      expect(t.attempts.filter((a) => a.outcome === 'succeeded'), t.taskId).to.have.length(1);
    }
    const events = await stack.fleet.deps.store.events.list(jobId);
    expect(events.filter((e) => e.type === 'task.succeeded')).to.have.length(30);
    // One resubmit per interruption that hit a running step.
    const interruptedAttempts = tasks.flatMap((t) => t.attempts).filter((a) => a.outcome === 'interrupted' && interrupted.includes(a.instanceId!));
    expect(events.filter((e) => e.type === 'task.interrupted').length).to.equal(interruptedAttempts.length);
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });
  });
});
