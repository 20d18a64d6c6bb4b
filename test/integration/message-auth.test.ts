/**
 * Internal messages need the fleet's signature: what a raw SQS client sends
 * for an internal service, signs with another key, or sends to the wrong
 * queue is dead-lettered with its reason and never reaches a handler (nor the
 * job's event log); public services and EventBridge events still arrive
 * unsigned; a previous key's signature still counts.
 */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { SendMessageCommand, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { Emulators } from '../../services/local/emulators.js';
import { MessageBus, defineCatalog } from '../../shared/envelope.js';
import { ConfigError, PermanentError } from '../../shared/errors.js';
import { MessageSigner, SIGNATURE_ATTRIBUTE } from '../../shared/message-auth.js';
import { generateSecretKey } from '../../shared/secrets.js';
import type { QueueKind } from '../../shared/queues.js';
import { startDispatcher } from '../../services/dispatcher/fleet.js';
import { Registry } from '../../services/dispatcher/registry.js';
import { catalog as fleetCatalog } from '../../services/catalog.js';
import { teardownAllowed } from '../../services/security/handlers.js';
import { JOB_STATES } from '../../shared/states.js';
import { TEST_SECRET_KEY, eventually, testEmulators, testFleet, type TestFleet } from '../helpers/fleet.js';

const jobKey = z.object({ jobId: z.string() }).strict();

const catalog = defineCatalog({
  'test.internal': { queue: 'master', schema: jobKey, summary: 'internal', sentBy: 'tests' },
  'test.task': { queue: 'request', schema: z.object({ jobId: z.string(), taskId: z.string() }).strict(), summary: 'internal, request queue', sentBy: 'tests' },
  'test.public': { queue: 'master', schema: jobKey, summary: 'public', sentBy: 'anyone', public: true },
  'ec2.event': { queue: 'events', schema: z.object({ source: z.literal('aws.ec2') }).passthrough(), summary: '', sentBy: 'EventBridge', public: true },
});

const NEEDS_SIGNATURE = (service: string) => `internal service ${service} needs the fleet's signature`;

describe('message authentication (local-aws-sqs + dynalite)', function () {
  this.timeout(120_000);
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

  /** A fleet that records what its handlers see. */
  async function recordingFleet(config?: Record<string, unknown>): Promise<{ fleet: TestFleet<typeof catalog>; seen: Array<{ service: string; body: unknown }> }> {
    const seen: Array<{ service: string; body: unknown }> = [];
    const record = async (body: unknown, ctx: { service: string }) => {
      seen.push({ service: ctx.service, body });
    };
    const fleet = await testFleet(emu, catalog, { 'test.internal': record, 'test.task': record, 'test.public': record, 'ec2.event': record }, { config });
    closers.push(fleet.close);
    await fleet.start();
    return { fleet, seen };
  }

  /** Send as any SQS client would: the attributes given, nothing added. */
  function raw(fleet: TestFleet<typeof catalog>, queue: QueueKind, body: string, attributes?: Record<string, string>) {
    const MessageAttributes: Record<string, MessageAttributeValue> | undefined = attributes
      ? Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]))
      : undefined;
    return fleet.clients.sqs.send(new SendMessageCommand({ QueueUrl: fleet.deps.queues.main[queue], MessageBody: body, MessageAttributes }));
  }

  async function deadLetters(fleet: TestFleet<typeof catalog>, queue: QueueKind, count: number): Promise<Array<{ reason: string; body: string; service?: string }>> {
    const dead: Array<{ reason: string; body: string; service?: string }> = [];
    await eventually(`${count} dead-lettered on ${queue}`, async () => {
      for (const m of await fleet.drainDlq(queue)) {
        dead.push({ reason: m.MessageAttributes?.deadLetterReason?.StringValue ?? '', body: m.Body ?? '', service: m.MessageAttributes?.service?.StringValue });
      }
      return dead.length >= count;
    }, 60_000, 200);
    return dead;
  }

  it('dead-letters an unsigned internal message, whatever its body, and records nothing on the job it names', async () => {
    const { fleet, seen } = await recordingFleet();
    await raw(fleet, 'master', '{"jobId":"victim-1"}', { service: 'test.internal' });
    await raw(fleet, 'request', '{"jobId":"victim-1","taskId":"0000"}', { service: 'test.task', sig: 'v1.forged' });
    // Unsigned with a body that would break the schema: refused for the signature first, still nothing on the job.
    await raw(fleet, 'master', '{"jobId":"victim-1","extra":1}', { service: 'test.internal' });
    const dead = [...(await deadLetters(fleet, 'master', 2)), ...(await deadLetters(fleet, 'request', 1))];
    expect(dead.map((d) => d.reason).sort()).to.deep.equal([
      `${NEEDS_SIGNATURE('test.internal')} (no valid "sig" attribute)`,
      `${NEEDS_SIGNATURE('test.internal')} (no valid "sig" attribute)`,
      `${NEEDS_SIGNATURE('test.task')} (no valid "sig" attribute)`,
    ]);
    expect(seen).to.deep.equal([]);
    expect((await fleet.deps.store.events.page('victim-1', { limit: 10 })).events).to.deep.equal([]);
    expect(fleet.deps.config.lifecycle.secretKey).to.equal(TEST_SECRET_KEY);
  });

  it('accepts what the fleet sends through its bus (send and sendMany), signed with the current key', async () => {
    const { fleet, seen } = await recordingFleet();
    await fleet.deps.bus.send('test.internal', { jobId: 'own-1' });
    await fleet.deps.bus.sendMany('test.task', [{ jobId: 'own-1', taskId: '0000' }, { jobId: 'own-1', taskId: '0001' }]);
    await eventually('three handled', () => seen.length === 3, 60_000);
    expect(seen.map((s) => s.service).sort()).to.deep.equal(['test.internal', 'test.task', 'test.task']);
  });

  it('refuses a signature made with another key, for another body, or for another service', async () => {
    const { fleet, seen } = await recordingFleet();
    const stranger = MessageSigner.fromBase64(generateSecretKey());
    const own = MessageSigner.fromBase64(TEST_SECRET_KEY);
    const body = '{"jobId":"victim-2"}';
    await raw(fleet, 'master', body, { service: 'test.internal', sig: stranger.sign('test.internal', 'master', body) });
    // The fleet's own signature of another body (a replayed signature on an altered body).
    await raw(fleet, 'master', '{"jobId":"victim-3"}', { service: 'test.internal', sig: own.sign('test.internal', 'master', body) });
    // The fleet's signature of a public service's body, reused for an internal service.
    await raw(fleet, 'master', body, { service: 'test.internal', sig: own.sign('test.public', 'master', body) });
    const dead = await deadLetters(fleet, 'master', 3);
    for (const d of dead) expect(d.reason).to.equal(`${NEEDS_SIGNATURE('test.internal')} (no valid "sig" attribute)`);
    expect(seen).to.deep.equal([]);
    // The same key signing the right triple is accepted: the refusals above were about the signature.
    await raw(fleet, 'master', body, { service: 'test.internal', sig: own.sign('test.internal', 'master', body) });
    await eventually('the signed one handled', () => seen.length === 1, 60_000);
  });

  it("accepts a previous key's signature (messages in flight during a rotation); the bus signs with the current key", async () => {
    const old = generateSecretKey();
    const { fleet, seen } = await recordingFleet({ lifecycle: { secretKey: generateSecretKey(), previousSecretKeys: [old] } });
    const body = '{"jobId":"rotated-1"}';
    await raw(fleet, 'master', body, { service: 'test.internal', sig: MessageSigner.fromBase64(old).sign('test.internal', 'master', body) });
    await eventually('the old-key message handled', () => seen.length === 1, 60_000);
    // A bus that has only the old key (a dispatcher not yet restarted) still reaches the rotated fleet...
    const before = new MessageBus(fleet.clients.sqs, fleet.deps.queues, catalog, MessageSigner.fromBase64(old));
    await before.send('test.internal', { jobId: 'rotated-2' });
    await eventually('the old bus message handled', () => seen.length === 2, 60_000);
    // ...but a fleet with only the new key (the old one retired) refuses it.
    const retired = await recordingFleet({ lifecycle: { secretKey: fleet.deps.config.lifecycle.secretKey } });
    const oldBus = new MessageBus(retired.fleet.clients.sqs, retired.fleet.deps.queues, catalog, MessageSigner.fromBase64(old));
    await oldBus.send('test.internal', { jobId: 'rotated-3' });
    const dead = await deadLetters(retired.fleet, 'master', 1);
    expect(dead[0]!.reason).to.include(NEEDS_SIGNATURE('test.internal'));
    expect(retired.seen).to.deep.equal([]);
  });

  it('refuses a service that arrives on another queue than its own, signed or not', async () => {
    const { fleet, seen } = await recordingFleet();
    const own = MessageSigner.fromBase64(TEST_SECRET_KEY);
    const body = '{"jobId":"misrouted-1"}';
    // Signed for the queue it is sent to, but the service belongs to the master queue.
    await raw(fleet, 'request', body, { service: 'test.internal', sig: own.sign('test.internal', 'request', body) });
    // A public service on the wrong queue too.
    await raw(fleet, 'request', body, { service: 'test.public' });
    const dead = await deadLetters(fleet, 'request', 2);
    expect(dead.map((d) => d.reason).sort()).to.deep.equal([
      'service test.internal belongs on the master queue, not the request queue',
      'service test.public belongs on the master queue, not the request queue',
    ]);
    expect(seen).to.deep.equal([]);
  });

  it('routes public services and EventBridge events (no attributes at all) unsigned', async () => {
    const { fleet, seen } = await recordingFleet();
    await raw(fleet, 'master', '{"jobId":"public-1"}', { service: 'test.public' });
    await raw(fleet, 'events', JSON.stringify({ source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning' }));
    await eventually('both handled', () => seen.length === 2, 60_000);
    expect(seen.map((s) => s.service).sort()).to.deep.equal(['ec2.event', 'test.public']);
  });

  it("records a signed (authentic) message's refusal on its job, an unsigned one's nowhere but the dead-letter queue", async () => {
    const { fleet } = await recordingFleet();
    const own = MessageSigner.fromBase64(TEST_SECRET_KEY);
    const bad = '{"jobId":"job-signed-bad","n":1}';
    const signed = await raw(fleet, 'master', bad, { service: 'test.internal', sig: own.sign('test.internal', 'master', bad) });
    await raw(fleet, 'master', '{"jobId":"job-unsigned-bad","n":1}', { service: 'test.internal' });
    await deadLetters(fleet, 'master', 2);
    const events = await eventually('the event on the signed one', async () => {
      const { events } = await fleet.deps.store.events.page('job-signed-bad', { limit: 10 });
      return events.length ? events : undefined;
    });
    expect(events.map((e) => e.type)).to.deep.equal(['message.dead-lettered']);
    expect(events[0]!.data).to.deep.include({ service: 'test.internal', messageId: signed.MessageId });
    expect((await fleet.deps.store.events.page('job-unsigned-bad', { limit: 10 })).events).to.deep.equal([]);
  });

  it('a dispatcher that serves internal services does not start without the secret key; one serving only public ones does', async () => {
    const fleet = await testFleet(emu, catalog, {}, { config: { lifecycle: { secretKey: undefined } } });
    closers.push(fleet.close);
    expect(fleet.config.lifecycle.secretKey).to.equal(undefined);
    const refused = await startDispatcher(fleet.deps, Registry.of(catalog, { 'test.internal': async () => undefined, 'test.public': async () => undefined })).then(
      async (r) => {
        await r.stop();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(refused).to.be.instanceOf(ConfigError);
    expect((refused as Error).message).to.include('SPOTBATCH_SECRET_KEY (lifecycle.secretKey): is not set').and.include('test.internal').and.not.include('test.public');
    const publicOnly = await startDispatcher(fleet.deps, Registry.of(catalog, { 'test.public': async () => undefined }));
    expect(publicOnly.dispatcher.running).to.equal(true);
    await publicOnly.stop();
    // A keyless bus (the CLI's) sends public services, and refuses to send an internal one unsigned.
    await fleet.deps.bus.send('test.public', { jobId: 'p-1' });
    const err = await fleet.deps.bus.send('test.internal', { jobId: 'i-1' }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.include(NEEDS_SIGNATURE('test.internal'));
  });

  it('the fleet catalogue: job.submit, job.cancel and ec2.event are public, everything else internal', () => {
    const open = Object.entries(fleetCatalog).filter(([, d]) => (d as { public?: boolean }).public === true).map(([s]) => s).sort();
    expect(open).to.deep.equal(['ec2.event', 'job.cancel', 'job.submit']);
  });

  it('security.teardown acts only on a job that is ending or has ended, never one that may still run', () => {
    for (const state of JOB_STATES) {
      expect(teardownAllowed(state), state).to.equal(!['submitted', 'securing', 'running'].includes(state));
    }
  });

  it('signs with the sig attribute and never shows a key', () => {
    const signer = MessageSigner.fromBase64(TEST_SECRET_KEY);
    const sig = signer.sign('a.b', 'master', '{}');
    expect(sig).to.match(/^v1\.[A-Za-z0-9+/]{43}=$/);
    expect(signer.verify('a.b', 'master', '{}', sig)).to.equal(true);
    expect(signer.verify('a.b', 'request', '{}', sig)).to.equal(false);
    expect(signer.verify('a.b', 'master', '{} ', sig)).to.equal(false);
    expect(signer.verify('a.b', 'master', '{}', undefined)).to.equal(false);
    expect(signer.verify('a.b', 'master', '{}', `${sig}x`)).to.equal(false);
    expect(SIGNATURE_ATTRIBUTE).to.equal('sig');
    expect(JSON.stringify({ signer })).to.equal('{"signer":"[MessageSigner]"}');
    // The HMAC key is derived (HKDF), not the secret key itself.
    const rawKeyMac = createHmac('sha256', Buffer.from(TEST_SECRET_KEY, 'base64')).update(JSON.stringify(['a.b', 'master', '{}'])).digest('base64');
    expect(sig).to.not.equal(`v1.${rawKeyMac}`);
  });
});
