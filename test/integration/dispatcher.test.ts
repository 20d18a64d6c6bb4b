import { expect } from 'chai';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Emulators } from '../../services/local/emulators.js';
import { defineCatalog } from '../../shared/envelope.js';
import { MessageSigner } from '../../shared/message-auth.js';
import { TransientError } from '../../shared/errors.js';
import { queueName } from '../../shared/queues.js';
import { createLogger } from '../../shared/logger.js';
import { Dispatcher } from '../../services/dispatcher/dispatcher.js';
import type { FleetDeps } from '../../services/dispatcher/context.js';
import { TEST_CREDENTIALS, eventually, keySchema, testEmulators, testFleet } from '../helpers/fleet.js';

describe('dispatcher (local-aws-sqs + dynalite)', function () {
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
    // Public, like job.submit: any SQS client may send it unsigned (the others are internal: the bus signs them).
    'test.echo': { queue: 'master', schema: z.object({ jobId: z.string(), n: z.number().int() }).strict(), summary: 'echo', sentBy: 'tests', public: true },
    'test.work': { queue: 'request', schema: z.object({ jobId: z.string() }).strict(), summary: 'work', sentBy: 'tests' },
    'test.advance': { queue: 'master', schema: keySchema, summary: 'moves a job submitted -> securing', sentBy: 'tests' },
    'test.fail': { queue: 'request', schema: z.object({ jobId: z.string() }).strict(), summary: 'always throws', sentBy: 'tests' },
  });

  it('routes a message to the handler its service attribute names', async () => {
    const seen: Array<{ service: string; body: unknown; jobId: unknown }> = [];
    const fleet = await testFleet(emu, catalog, {
      'test.echo': async (body, ctx) => {
        seen.push({ service: ctx.service, body, jobId: body.jobId });
      },
      'test.work': async (body, ctx) => {
        seen.push({ service: ctx.service, body, jobId: body.jobId });
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    await fleet.deps.bus.send('test.echo', { jobId: 'j1', n: 7 });
    await fleet.deps.bus.send('test.work', { jobId: 'j2' });
    await eventually('both handlers called', () => seen.length === 2);
    expect(seen).to.deep.include({ service: 'test.echo', body: { jobId: 'j1', n: 7 }, jobId: 'j1' });
    expect(seen).to.deep.include({ service: 'test.work', body: { jobId: 'j2' }, jobId: 'j2' });
    await eventually('queues empty', async () => (await fleet.queueDepth('master')).inFlight + (await fleet.queueDepth('request')).inFlight === 0);
  });

  it('routes a raw message sent with plain @aws-sdk/client-sqs', async () => {
    const seen: unknown[] = [];
    const fleet = await testFleet(emu, catalog, {
      'test.echo': async (body) => {
        seen.push(body);
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    // No project code from here: what `aws sqs send-message` would do.
    const raw = new SQSClient({ region: 'us-east-1', endpoint: emu.endpoints.sqs, credentials: TEST_CREDENTIALS });
    const url = `${emu.endpoints.sqs}/123456789012/${queueName(fleet.config.prefix, 'master')}`;
    await raw.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: '{"jobId":"raw-1","n":42}',
        MessageAttributes: { service: { DataType: 'String', StringValue: 'test.echo' } },
      }),
    );
    raw.destroy();
    await eventually('raw message handled', () => seen.length === 1);
    expect(seen[0]).to.deep.equal({ jobId: 'raw-1', n: 42 });
  });

  it('makes one state change for a message delivered twice, and acknowledges a stale one as a no-op', async () => {
    let calls = 0;
    const fleet = await testFleet(emu, catalog, {
      'test.advance': async (body, ctx) => {
        calls++;
        await ctx.store.jobs.transition({ jobId: body.jobId }, { from: 'submitted', to: 'securing' });
        await ctx.store.events.append(body.jobId, 'job.securing');
      },
    });
    closers.push(fleet.close);
    await fleet.deps.store.jobs.create({ jobId: 'dup' }, { name: 'dup' });
    await fleet.start();
    await fleet.deps.bus.send('test.advance', { jobId: 'dup' });
    await fleet.deps.bus.send('test.advance', { jobId: 'dup' });
    await eventually('both deliveries handled', () => calls === 2);
    await eventually('both acknowledged', async () => {
      const d = await fleet.queueDepth('master');
      return d.visible + d.inFlight === 0;
    });
    const job = await fleet.deps.store.jobs.get({ jobId: 'dup' });
    expect(job?.state).to.equal('securing');
    expect(job?.version).to.equal(2);
    expect(await fleet.deps.store.events.list('dup')).to.have.length(1);
    expect(await fleet.drainDlq('master')).to.have.length(0);

    // Stale: the job has moved on; an old message for the earlier step changes nothing.
    await fleet.deps.store.jobs.transition({ jobId: 'dup' }, { from: 'securing', to: 'running' });
    await fleet.deps.bus.send('test.advance', { jobId: 'dup' });
    await eventually('stale delivery handled', () => calls === 3);
    await eventually('stale acknowledged', async () => {
      const d = await fleet.queueDepth('master');
      return d.visible + d.inFlight === 0;
    });
    const after = await fleet.deps.store.jobs.get({ jobId: 'dup' });
    expect(after?.state).to.equal('running');
    expect(after?.version).to.equal(3);
    expect(await fleet.drainDlq('master')).to.have.length(0);
  });

  it('redelivers a throwing handler, then leaves it to the dead-letter queue after maxReceiveCount, serving others meanwhile', async () => {
    const attempts: number[] = [];
    let served = 0;
    const fleet = await testFleet(emu, catalog, {
      'test.fail': async (_body, ctx) => {
        attempts.push(ctx.receiveCount);
        throw new TransientError('boom');
      },
      'test.work': async () => {
        served++;
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    await fleet.deps.bus.send('test.fail', { jobId: 'f1' });
    for (let i = 0; i < 5; i++) await fleet.deps.bus.send('test.work', { jobId: `w${i}` });
    await eventually('other messages served', () => served === 5);
    const dead = await eventually('failed message in the DLQ', async () => {
      const msgs = await fleet.drainDlq('request');
      return msgs.length ? msgs : undefined;
    }, 40_000, 250);
    expect(dead).to.have.length(1);
    expect(JSON.parse(dead[0]!.Body!)).to.deep.equal({ jobId: 'f1' });
    expect(attempts.length).to.equal(fleet.config.dispatcher.maxReceiveCount);
    expect(attempts).to.deep.equal([1, 2, 3].slice(0, fleet.config.dispatcher.maxReceiveCount));
  });

  it('handles an illegal state transition once: a programming error, logged at error level with its stack, dead-lettered, never redelivered', async () => {
    let calls = 0;
    const fleet = await testFleet(emu, catalog, {
      'test.advance': async (body, ctx) => {
        calls++;
        // submitted -> succeeded is not in the job's table of transitions (shared/states.ts)
        await ctx.store.jobs.transition({ jobId: body.jobId }, { from: 'submitted', to: 'succeeded' });
      },
    });
    closers.push(fleet.close);
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const log = createLogger({ format: 'json', level: 'info', destination });
    const dispatcher = new Dispatcher({ ...fleet.deps, log }, fleet.registry);
    closers.push(async () => {
      await dispatcher.stop();
    });
    await fleet.deps.store.jobs.create({ jobId: 'bug-1' }, { name: 'bug' });
    dispatcher.start();
    await fleet.deps.bus.send('test.advance', { jobId: 'bug-1' });
    const dead = await eventually('the message dead-lettered', async () => {
      const got = await fleet.drainDlq('master');
      return got.length ? got : undefined;
    });
    expect(dead).to.have.length(1);
    expect(dead[0]!.MessageAttributes?.deadLetterReason?.StringValue).to.include('IllegalTransitionError');
    // Once: not retried maxReceiveCount times.
    await eventually('nothing left on the queue', async () => {
      const d = await fleet.queueDepth('master');
      return d.visible + d.inFlight === 0;
    });
    expect(calls).to.equal(1);
    const loud = lines.find((l) => l.level === 50 && typeof l.stack === 'string');
    expect(loud, JSON.stringify(lines)).to.not.equal(undefined);
    expect(String(loud!.stack)).to.include('IllegalTransitionError');
    expect((await fleet.deps.store.jobs.get({ jobId: 'bug-1' }))?.state).to.equal('submitted');
  });

  it('sends an invalid body and an unknown service to the dead-letter queue after one receive', async () => {
    let calls = 0;
    const fleet = await testFleet(emu, catalog, {
      'test.echo': async () => {
        calls++;
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    const url = fleet.deps.queues.main.master;
    const send = (body: string, service?: string) =>
      fleet.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: body,
          MessageAttributes: service ? { service: { DataType: 'String', StringValue: service } } : undefined,
        }),
      );
    await send('{"jobId":"x","n":"not a number"}', 'test.echo');
    await send('{"jobId":"x"}', 'no.such.service');
    await send('not json', 'test.echo');
    await send('{"jobId":"x","n":1}');
    const dead: Array<{ reason: string; body: string }> = [];
    await eventually('four messages dead-lettered', async () => {
      for (const m of await fleet.drainDlq('master')) {
        dead.push({ reason: m.MessageAttributes?.deadLetterReason?.StringValue ?? '', body: m.Body ?? '' });
      }
      return dead.length === 4;
    });
    expect(calls).to.equal(0);
    const reasons = dead.map((d) => d.reason).sort();
    expect(reasons.find((r) => r.includes('n: must be a number'))).to.be.a('string');
    expect(reasons.find((r) => r.includes('unknown service "no.such.service"'))).to.be.a('string');
    expect(reasons.find((r) => r.includes('body is not JSON'))).to.be.a('string');
    expect(reasons.find((r) => r.includes('attribute "service" is missing'))).to.be.a('string');
    // after one receive: nothing is left to redeliver
    const depth = await fleet.queueDepth('master');
    expect(depth.visible + depth.inFlight).to.equal(0);
  });

  it('records a dead-lettered message on the job it names: message.dead-lettered, or job.refused for a job.submit', async () => {
    const fleet = await testFleet(emu, catalog, { 'test.echo': async () => undefined, 'test.advance': async () => undefined });
    closers.push(fleet.close);
    await fleet.start();
    // Signed as the fleet signs (only an authentic message, or a job.submit, is recorded on the job it names).
    const signer = MessageSigner.fromBase64(fleet.config.lifecycle.secretKey!);
    const send = (body: string, service: string) =>
      fleet.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: fleet.deps.queues.main.master,
          MessageBody: body,
          MessageAttributes: { service: { DataType: 'String', StringValue: service }, sig: { DataType: 'String', StringValue: signer.sign(service, 'master', body) } },
        }),
      );
    const bad = await send('{"jobId":"job-dead-1","n":"nan"}', 'test.advance');
    // This fleet has no job.submit handler: refused all the same, and the submitter can find out why.
    const submit = await send('{"id":"job-refused-1","name":"x"}', 'job.submit');
    // No job named (or not a job id): nothing to record on, the dead-letter copy is the record.
    await send('{"jobId":"../x","n":"nan"}', 'test.echo');
    await eventually('three messages dead-lettered', async () => (await fleet.drainDlq('master')).length > 0 && (await fleet.queueDepth('master')).visible === 0);
    const dead = await eventually('the job event', async () => {
      const { events } = await fleet.deps.store.events.page('job-dead-1', { limit: 10 });
      return events.length ? events : undefined;
    });
    expect(dead.map((e) => e.type)).to.deep.equal(['message.dead-lettered']);
    expect(dead[0]!.data).to.deep.include({ service: 'test.advance', messageId: bad.MessageId });
    expect(String(dead[0]!.data?.reason)).to.include('unknown field(s) "n"');
    const refused = await eventually('the refusal', async () => {
      const { events } = await fleet.deps.store.events.page('job-refused-1', { limit: 10 });
      return events.length ? events : undefined;
    });
    expect(refused.map((e) => e.type)).to.deep.equal(['job.refused']);
    expect(refused[0]!.data).to.deep.include({ service: 'job.submit', messageId: submit.MessageId });
    expect(String(refused[0]!.data?.reason)).to.include('unknown service "job.submit"');
  });

  it('dead-letters a message that already has 10 attributes, with its reason, and keeps its attributes', async () => {
    const fleet = await testFleet(emu, catalog, {
      'test.echo': async () => undefined,
    });
    closers.push(fleet.close);
    await fleet.start();
    const attributes: Record<string, { DataType: string; StringValue: string }> = { service: { DataType: 'String', StringValue: 'test.echo' } };
    for (let i = 1; i <= 9; i++) attributes[`extra${i}`] = { DataType: 'String', StringValue: `value ${i}` };
    await fleet.clients.sqs.send(new SendMessageCommand({ QueueUrl: fleet.deps.queues.main.master, MessageBody: '{"jobId":"x","n":"nan"}', MessageAttributes: attributes }));
    const dead = await eventually('the message dead-lettered', async () => {
      const got = await fleet.drainDlq('master');
      return got.length ? got : undefined;
    });
    expect(dead).to.have.length(1);
    const attrs = dead[0]!.MessageAttributes ?? {};
    expect(attrs.deadLetterReason?.StringValue).to.include('n: must be a number');
    expect(Object.keys(attrs).length).to.be.at.most(10);
    expect(attrs.service?.StringValue).to.equal('test.echo');
    // Every original attribute is still there: as itself, or in the merged "originalAttributes" JSON.
    const merged = JSON.parse(attrs.originalAttributes?.StringValue ?? '{}') as Record<string, { StringValue?: string }>;
    for (let i = 1; i <= 9; i++) expect(attrs[`extra${i}`]?.StringValue ?? merged[`extra${i}`]?.StringValue).to.equal(`value ${i}`);
    const depth = await fleet.queueDepth('master');
    expect(depth.visible + depth.inFlight).to.equal(0);
  });

  it('logs a dead-letter copy that fails (reason, message id) and leaves the message for redelivery', async () => {
    const fleet = await testFleet(emu, catalog, { 'test.echo': async () => undefined });
    closers.push(fleet.close);
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const log = createLogger({ format: 'json', level: 'info', destination });
    const gone = `${fleet.deps.queues.dlq.master}-no-such-queue`;
    const deps = { ...fleet.deps, log, queues: { ...fleet.deps.queues, dlq: { ...fleet.deps.queues.dlq, master: gone } } } as FleetDeps;
    const dispatcher = new Dispatcher(deps, fleet.registry);
    const message = { MessageId: 'm-42', Body: 'not json', MessageAttributes: { service: { DataType: 'String', StringValue: 'test.echo' } } };
    let thrown: unknown;
    try {
      await dispatcher.handle('master', message);
    } catch (err) {
      thrown = err;
    }
    expect(thrown, 'the message is not acknowledged').to.be.instanceOf(Error);
    const line = lines.find((l) => l.msg === 'could not copy the message to the dead-letter queue: left on its queue for redelivery');
    expect(line, JSON.stringify(lines)).to.include({ level: 50, messageId: 'm-42' });
    expect(String(line!.reason)).to.include('body is not JSON');
  });

  it('keeps a long handler\'s message invisible with a heartbeat: delivered once, deleted after', async () => {
    let calls = 0;
    let finished = false;
    const fleet = await testFleet(emu, catalog, {
      'test.work': async () => {
        calls++;
        // longer than the 4 s visibility timeout; heartbeats every 2 s extend it
        await new Promise((r) => setTimeout(r, 7000));
        finished = true;
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    await fleet.deps.bus.send('test.work', { jobId: 'long' });
    await eventually('long handler finished', () => finished, 30_000);
    await eventually('message deleted', async () => {
      const d = await fleet.queueDepth('request');
      return d.visible + d.inFlight === 0;
    });
    expect(calls).to.equal(1);
    expect(await fleet.drainDlq('request')).to.have.length(0);
  });

  it('routes an EventBridge event (no message attributes) on the events queue to ec2.event', async () => {
    const seen: unknown[] = [];
    const events = defineCatalog({
      'ec2.event': { queue: 'events', schema: z.object({ source: z.literal('aws.ec2'), 'detail-type': z.string() }).passthrough(), summary: '', sentBy: '', public: true },
    });
    const fleet = await testFleet(emu, events, {
      'ec2.event': async (body) => {
        seen.push(body);
      },
    });
    closers.push(fleet.close);
    await fleet.start();
    await fleet.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: fleet.deps.queues.main.events,
        MessageBody: JSON.stringify({ source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning', detail: { 'instance-id': 'i-0123' } }),
      }),
    );
    await eventually('event handled', () => seen.length === 1);
    expect(seen[0]).to.deep.include({ 'detail-type': 'EC2 Spot Instance Interruption Warning' });
  });
});
