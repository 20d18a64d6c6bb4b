/**
 * A job never waits on something that can never happen: an error retrying cannot fix ends the job (or the
 * task) failed with its reason and tears everything down; cancel works from every open state; a cancelled
 * job's spend stops at the cancel; teardown finds instances by every handle the fleet has.
 */
import { expect } from 'chai';
import type { JobSpecInput } from '../../services/model/spec.js';
import { billAttempt } from '../../services/ledger/billing.js';
import { handlers } from '../../services/handlers.js';
import { PermanentError } from '../../shared/errors.js';
import { leftovers, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const base = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'failures',
  tasks: { count: 1 },
  steps: [{ run: 'echo hi' }],
  instances: { types: ['m5.large'], regions: ['us-east-1'] },
  ...over,
});

const ENDED = ['succeeded', 'failed', 'partially-failed', 'cancelled'] as const;

/** Everything of the job in the simulator, and any live instance or open request of the given spot requests (tagged or not). */
async function everythingLeft(stack: Stack, jobId: string, requestIds: string[] = []): Promise<string[]> {
  const out = await leftovers(stack, jobId);
  const inv = await stack.inventory();
  for (const i of inv.instances ?? []) if (requestIds.includes(String(i.spotInstanceRequestId))) out.push(`untagged instance ${JSON.stringify(i)}`);
  for (const r of inv.spotRequests ?? []) if (requestIds.includes(String(r.spotInstanceRequestId))) out.push(`request ${JSON.stringify(r)}`);
  return [...new Set(out)];
}

async function eventTypes(stack: Stack, jobId: string): Promise<Array<{ type: string; data?: Record<string, unknown> }>> {
  return await stack.fleet.deps.store.events.list(jobId);
}

describe('failures that could strand a job or leak resources (end to end)', function () {
  // One set of SQS and DynamoDB emulators for the file; every test has its own prefix, simulator and dispatchers.
  const emulators = sharedEmulators();
  this.timeout(240_000);
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('a typo in an instance type ends the job failed with the reason, its tasks too, and nothing left', async () => {
    stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(base({ tasks: { count: 2 }, instances: { types: ['c5.largee'], regions: ['us-east-1'] } }));
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('failed');
    expect(job.error).to.contain('c5.largee').and.contain('instances.types');
    const events = await eventTypes(stack, jobId);
    const failed = events.find((e) => e.type === 'job.failed');
    expect(String(failed?.data?.reason)).to.contain('c5.largee');
    for (const t of await stack.tasks(jobId)) {
      expect(t.state).to.equal('failed');
      expect(t.reason).to.contain('c5.largee');
    }
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it('an unknown region ends the job failed naming the region, with no role or profile left', async () => {
    stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(base({ instances: { types: ['m5.large'], regions: ['us-east-1', 'us-nowhere-1'] } }));
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('failed');
    expect(job.error).to.contain('us-nowhere-1').and.contain('instances.regions');
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it('cancel works on a job stuck in securing: it ends cancelled with nothing left', async () => {
    stack = await startStack({ emulators: emulators() });
    // Every CreateRole throttled: security.create fails (transiently) for as long as this lasts.
    await stack.admin('/_sim/faults', { throttleRate: 1, throttleActions: ['CreateRole'] });
    const jobId = await stack.submit(base());
    await eventually('CreateRole refused at least once', async () => JSON.stringify(await stack.stats()).includes('CreateRole'), 60_000, 250);
    expect((await stack.job(jobId))?.state).to.equal('securing');
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('cancelled');
    for (const t of await stack.tasks(jobId)) expect(t.state).to.equal('cancelled');
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it('cancel works on a job in finishing whose teardown keeps failing: it ends cancelled with nothing left', async () => {
    stack = await startStack({ emulators: emulators() });
    await stack.admin('/_sim/faults', { throttleRate: 1, throttleActions: ['DeleteSecurityGroup'] });
    const jobId = await stack.submit(base());
    await stack.waitJob(jobId, ['finishing']);
    await eventually('DeleteSecurityGroup refused at least once', async () => JSON.stringify(await stack.stats()).includes('DeleteSecurityGroup'), 60_000, 250);
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    await stack.waitJob(jobId, ['cancelling', ...ENDED]);
    await stack.admin('/_sim/faults', {});
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('cancelled');
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it("a cancelled job's spend stops at the cancel: every attempt ends with the cancel", async () => {
    stack = await startStack({ emulators: emulators() });
    const jobId = await stack.submit(base({ tasks: { count: 2 }, steps: [{ run: 'sleep 600' }] }));
    await eventually('steps running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('cancelled');
    for (const t of await stack.tasks(jobId)) {
      expect(t.attempts).to.have.length.at.least(1);
      for (const a of t.attempts) {
        expect(a.endedAt, JSON.stringify(a)).to.be.a('number');
        expect(a.endedAt).to.be.at.most(job.endedAt!);
        expect(a.outcome).to.equal('cancelled');
        // The spend read now and an hour later is the same: it stopped at the attempt's end.
        expect(billAttempt({ taskId: '', attempt: a, computedAt: Date.now() }).usd).to.equal(billAttempt({ taskId: '', attempt: a, computedAt: Date.now() + 3_600_000 }).usd);
      }
      expect(t.costUsd).to.be.a('number');
    }
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it('teardown finds an instance launched between its describe and its cancel (untagged, request cancelled)', async () => {
    stack = await startStack({ emulators: emulators() });
    // New spot requests stay open until the test fulfils them.
    await stack.admin('/_sim/spot-requests/hold', { hold: true });
    const jobId = await stack.submit(base({ steps: [{ run: 'sleep 600' }] }));
    const task = await eventually('the task waits on an open request', async () => {
      const [t] = await stack.tasks(jobId);
      return t?.state === 'waiting' && t.attempts[0]?.spotRequestId ? t : undefined;
    }, 120_000, 100);
    const requestId = task.attempts[0]!.spotRequestId!;
    // The race: right after teardown's first DescribeSpotInstanceRequests, the request is fulfilled.
    let armed = true;
    stack.cloud.ec2('us-east-1').middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (armed && context.commandName === 'DescribeSpotInstanceRequestsCommand') {
          armed = false;
          const r = (await stack.admin(`/_sim/spot-requests/${requestId}/fulfil`, {})) as { instanceId?: string };
          expect(r.instanceId, JSON.stringify(r)).to.match(/^i-/);
        }
        return out;
      },
      { step: 'initialize', name: 'fulfilBetweenDescribeAndCancel' },
    );
    await stack.fleet.deps.bus.send('job.cancel', { jobId, reason: 'test' });
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(armed).to.equal(false);
    expect(job.state).to.equal('cancelled');
    expect(await everythingLeft(stack, jobId, [requestId])).to.deep.equal([]);
  });

  it("a task's message that can never succeed ends that task failed with the reason (job.fail); the job goes on and ends, nothing left", async () => {
    stack = await startStack({
      emulators: emulators(),
      handlers: {
        ...handlers,
        // Any handler's permanent error: here step.run's, for task 0001 only.
        'step.run': async (body, ctx) => {
          if (body.taskId === '0001') throw new PermanentError('injected: this step can never start');
          return handlers['step.run']!(body, ctx);
        },
      },
    });
    const jobId = await stack.submit(base({ tasks: { count: 2 } }));
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('partially-failed');
    const [ok, bad] = await stack.tasks(jobId);
    expect(ok!.state).to.equal('succeeded');
    expect(bad!.state).to.equal('failed');
    expect(bad!.reason).to.contain('step.run').and.contain('injected: this step can never start');
    expect(bad!.attempts.map((a) => [a.outcome, typeof a.endedAt])).to.deep.equal([['failed', 'number']]);
    const events = await eventTypes(stack, jobId);
    expect(events.some((e) => e.type === 'message.dead-lettered' && e.data?.service === 'step.run')).to.equal(true);
    expect(await everythingLeft(stack, jobId)).to.deep.equal([]);
  });

  it('a teardown that can never finish ends the job failed saying so, not finishing for ever', async () => {
    stack = await startStack({
      emulators: emulators(),
      handlers: {
        ...handlers,
        'security.teardown': async () => {
          throw new PermanentError('injected: teardown refused for good');
        },
      },
    });
    const jobId = await stack.submit(base());
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state).to.equal('failed');
    expect(job.error).to.contain('teardown could not finish').and.contain('injected: teardown refused for good');
  });
});
