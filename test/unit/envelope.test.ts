import { expect } from 'chai';
import { z } from 'zod';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { MessageBus, defineCatalog } from '../../shared/envelope.js';
import { PermanentError, ValidationError } from '../../shared/errors.js';

describe('message envelope', () => {
  const catalog = defineCatalog({ 'a.b': { queue: 'master', schema: z.object({ jobId: z.string().min(1) }).strict(), summary: '', sentBy: '' } });
  const urls = { main: { master: 'm', request: 'r', events: 'e' }, dlq: { master: 'md', request: 'rd', events: 'ed' } };
  // Only the refusals are checked here (nothing reaches SQS); sending is covered against the emulator.
  const unreachable = { send: () => Promise.reject(new Error('must not be called')) } as unknown as SQSClient;
  const bus = new MessageBus(unreachable, urls, catalog);

  it('refuses a body that breaks its schema before sending, naming the field', async () => {
    const err = await bus.send('a.b', { jobId: '' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ValidationError);
    expect((err as Error).message).to.equal('body of a.b: jobId: must not be empty');
  });

  it('refuses an unknown service and a delay SQS cannot do', async () => {
    const unknown = await (bus as MessageBus).send('x.y', {}).catch((e: unknown) => e);
    expect(unknown).to.be.instanceOf(PermanentError);
    const delay = await bus.send('a.b', { jobId: 'j' }, { delaySeconds: 901 }).catch((e: unknown) => e);
    expect((delay as Error).message).to.contain('delaySeconds: must be an integer from 0 to 900');
  });
});
