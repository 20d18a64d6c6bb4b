import { expect } from 'chai';
import type { Emulators } from '../../services/local/emulators.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { PermanentError } from '../../shared/errors.js';
import { isRetryable } from '../../shared/aws-errors.js';
import { Store } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, uniquePrefix } from '../helpers/fleet.js';

/** Rows whose user-chosen keys are names JavaScript objects carry themselves (`constructor`, `toString`), against dynalite. */
describe('store: user-chosen keys reach DynamoDB (dynalite)', function () {
  let emu: Emulators;
  let store: Store;
  before(async () => {
    emu = await testEmulators();
    const clients = clientsFor(emu);
    const prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    store = new Store(clients.ddb, prefix);
  });
  after(async () => {
    await emu?.stop();
  });

  const raw = JSON.parse(
    '{"name":"x","tasks":[{"env":{"constructor":"task"}}],"command":["true"],"instances":{"types":["m5.large"]},"tags":{"constructor":"c","toString":"t","hasOwnProperty":"h"},"env":{"constructor":"v"}}',
  ) as unknown;

  it('stores and reads back a job whose spec has a tag key and env name "constructor"', async () => {
    const spec = parseJobSpec(raw);
    await store.jobs.create({ jobId: 'job-ctor' }, { name: spec.name, spec });
    const row = await store.jobs.get({ jobId: 'job-ctor' });
    expect((row!.spec as typeof spec).tags).to.deep.equal({ constructor: 'c', toString: 't', hasOwnProperty: 'h' });
    expect((row!.spec as typeof spec).env).to.deep.equal({ constructor: 'v' });
    await store.jobs.update({ jobId: 'job-ctor' }, { set: { extra: { constructor: { constructor: 'deep' } } } });
    expect((await store.jobs.get({ jobId: 'job-ctor' }))!.extra).to.deep.equal({ constructor: { constructor: 'deep' } });
    await store.tasks.create({ jobId: 'job-ctor', taskId: '0000' }, { env: { constructor: 'task' } });
    expect((await store.tasks.get({ jobId: 'job-ctor', taskId: '0000' }))!.env).to.deep.equal({ constructor: 'task' });
    await store.events.append('job-ctor', 'job.test', { data: { tags: { constructor: 'e' } } });
    const events = await store.events.list('job-ctor');
    expect(events.find((e) => e.type === 'job.test')!.data).to.deep.equal({ tags: { constructor: 'e' } });
  });

  it('turns a value DynamoDB cannot hold into a permanent error naming the row and the reason', async () => {
    let thrown: unknown;
    try {
      await store.jobs.create({ jobId: 'job-bad' }, { when: new Date(0) });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(PermanentError);
    expect(isRetryable(thrown)).to.equal(false);
    expect((thrown as Error).message).to.match(/job job-bad/).and.to.match(/Unsupported type passed/);
  });
});
