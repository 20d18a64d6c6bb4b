/**
 * Whoever may send to the master queue may submit and cancel jobs, nothing
 * more: a raw step.complete forging a running task's success, a raw
 * termination.detected and a raw security.teardown for a running job are
 * dead-lettered (not recorded on the job), the task keeps running and its
 * instance stays up. A teardown the fleet itself signs for a running job is a
 * no-op too (teardown acts only on a job that is ending). A raw job.cancel
 * still cancels.
 */
import { expect } from 'chai';
import { SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { QueueKind } from '../../shared/queues.js';
import { eventually } from '../helpers/fleet.js';
import { leftovers, rawSubmit, startStack, type Stack } from '../helpers/stack.js';

const NEEDS_SIGNATURE = (service: string) => `internal service ${service} needs the fleet's signature (no valid "sig" attribute)`;

describe('forged internal messages, end to end (emulators + simulator)', function () {
  this.timeout(300_000);
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  /** What any SQS client can send: a service attribute, a body, nothing else. */
  const raw = (queue: QueueKind, service: string, body: unknown) =>
    stack.fleet.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.fleet.deps.queues.main[queue],
        MessageBody: JSON.stringify(body),
        MessageAttributes: { service: { DataType: 'String', StringValue: service } },
      }),
    );

  const dead: Message[] = [];
  async function deadLetter(queue: QueueKind, messageId: string): Promise<Message> {
    return eventually(`message ${messageId} dead-lettered on ${queue}`, async () => {
      dead.push(...(await stack.fleet.drainDlq(queue)));
      return dead.find((m) => m.MessageAttributes?.originalMessageId?.StringValue === messageId);
    }, 60_000, 250);
  }

  const jobInstances = async (jobId: string) => (await stack.inventory()).instances!.filter((i) => i.tags?.['spotbatch:job'] === jobId);

  it('refuses forged step.complete, termination.detected and security.teardown; a raw job.submit and job.cancel still work', async () => {
    const jobId = `forged-${process.pid}`;
    await rawSubmit(stack, { id: jobId, name: 'forged', tasks: { count: 1 }, steps: [{ run: 'sleep 600' }], instances: { types: ['m5.large'], regions: ['us-east-1'] } });
    const running = await eventually('the task running', async () => {
      const [t] = await stack.tasks(jobId);
      return t?.state === 'running' ? t : undefined;
    }, 180_000, 250);
    const attempt = running.attempts.length;
    const instanceId = running.attempts[attempt - 1]!.instanceId!;
    expect(instanceId).to.match(/^i-/);

    const complete = await raw('request', 'step.complete', { jobId, taskId: running.taskId, attempt, exitCode: 0, stdoutTail: 'forged' });
    const terminated = await raw('request', 'termination.detected', { jobId, taskId: running.taskId, attempt, source: 'events', instanceId });
    const teardown = await raw('master', 'security.teardown', { jobId });

    for (const [queue, sent, service] of [['request', complete, 'step.complete'], ['request', terminated, 'termination.detected'], ['master', teardown, 'security.teardown']] as const) {
      const m = await deadLetter(queue, sent.MessageId!);
      expect(m.MessageAttributes?.deadLetterReason?.StringValue, service).to.equal(NEEDS_SIGNATURE(service));
    }
    const [task] = await stack.tasks(jobId);
    expect(task!.state).to.equal('running');
    expect(task!.attempts).to.have.length(attempt);
    expect(task!.stdoutTail ?? '').to.not.contain('forged');
    expect((await stack.job(jobId))!.state).to.equal('running');
    const alive = await jobInstances(jobId);
    expect(alive.map((i) => [i.instanceId, i.state])).to.deep.equal([[instanceId, 'running']]);
    // Refused before their bodies were read: nothing on the job's event log.
    const { events } = await stack.fleet.deps.store.events.page(jobId, { limit: 100 });
    expect(events.map((e) => e.type)).to.not.include('message.dead-lettered');

    // Signed by the fleet but for a job that is still running: security.teardown does nothing.
    await stack.fleet.deps.bus.send('security.teardown', { jobId });
    await eventually('the signed teardown handled', async () => {
      const d = await stack.fleet.queueDepth('master');
      return d.visible + d.inFlight + d.delayed === 0;
    }, 60_000, 250);
    expect((await stack.job(jobId))!.state).to.equal('running');
    expect((await jobInstances(jobId)).map((i) => i.state)).to.deep.equal(['running']);
    expect(await stack.fleet.drainDlq('master', 0)).to.deep.equal([]);

    // Public: anyone who may submit may cancel a job by id.
    await raw('master', 'job.cancel', { jobId, reason: 'raw cancel' });
    const job = await stack.waitJob(jobId, ['cancelled'], 180_000);
    expect(job.outcome).to.equal('cancelled');
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});
