import { expect } from 'chai';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Emulators } from '../../services/local/emulators.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { jobs, tasks, TaskRowSchema } from '../../services/model/repo.js';
import { PermanentError, StateConflictError } from '../../shared/errors.js';
import { isRetryable } from '../../shared/aws-errors.js';
import { CorruptRowError, Store, tableNames } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { clientsFor, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import type { CoreClients } from '../../shared/aws.js';

/** Rows are parsed where they are read: typed rows, lenient to older rows, loud about corrupted ones (dynalite). */
describe('store: rows checked by their schemas (dynalite)', function () {
  let emu: Emulators;
  let clients: CoreClients;
  let store: Store;
  let prefix: string;
  const ctx = () => ({ store });
  const now = Date.now();
  const meta = { version: 1, createdAt: now, updatedAt: now, dueAt: now, openPk: 'open' };
  const put = (table: string, Item: Record<string, unknown>) => clients.ddb.send(new PutCommand({ TableName: table, Item }));
  const spec = parseJobSpec({ name: 'rows', command: ['true'], instances: { types: ['m5.large'] }, tasks: { count: 1 } });

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
    prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    store = new Store(clients.ddb, prefix);
  });
  after(async () => {
    await emu?.stop();
  });

  it('refuses a corrupted task row with a permanent error naming the table, the key and the field path', async () => {
    const attempt = { n: 1, pool: { region: 42, zone: 'us-east-1a', type: 'm5.large' }, requestedAt: now };
    await put(tableNames(prefix).tasks, { jobId: 'job-bad', taskId: '0000', state: 'running', ...meta, index: 0, args: [], env: {}, attempts: [attempt], failures: 0, interruptions: 0, avoid: [] });
    let thrown: unknown;
    try {
      await tasks(ctx()).get({ jobId: 'job-bad', taskId: '0000' });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(CorruptRowError).and.to.be.instanceOf(PermanentError);
    expect(isRetryable(thrown)).to.equal(false);
    const err = thrown as CorruptRowError;
    expect(err.table).to.equal(tableNames(prefix).tasks);
    expect(err.key).to.equal('job-bad/0000');
    expect(err.issues).to.deep.equal([{ path: 'attempts[0].pool.region', rule: 'must be a string' }]);
    expect(err.message).to.contain(tableNames(prefix).tasks).and.to.contain('job-bad/0000').and.to.contain('attempts[0].pool.region');
    // A listing meets the same row the same way (no row skipped silently).
    let listed: unknown;
    try {
      for await (const _ of tasks(ctx()).listPartition({ jobId: 'job-bad' })) void _;
    } catch (err) {
      listed = err;
    }
    expect(listed).to.be.instanceOf(CorruptRowError);
  });

  it('refuses a row in a state its machine does not have, even through the loose store', async () => {
    await put(tableNames(prefix).jobs, { jobId: 'job-state', state: 'exploded', ...meta, name: 'x' });
    let thrown: unknown;
    try {
      await store.jobs.get({ jobId: 'job-state' });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as CorruptRowError).issues).to.deep.equal([{ path: 'state', rule: 'must be a job state' }]);
  });

  it('reads an old-shape row: fields older code did not write get their defaults, unknown fields are left in the table', async () => {
    const { onRebalance: _o, retry: _r, ...oldSpec } = spec;
    await put(tableNames(prefix).jobs, { jobId: 'job-old', state: 'running', ...meta, name: 'old', spec: oldSpec, taskCount: 1, submittedAt: now, ingressCidr: '127.0.0.1/32', futureField: { x: 1 } });
    await put(tableNames(prefix).tasks, { jobId: 'job-old', taskId: '0000', state: 'running', ...meta, index: 0, args: [], env: {}, attempts: [] });
    const job = await jobs(ctx()).get({ jobId: 'job-old' });
    expect(job!.spec.onRebalance).to.equal('ignore');
    expect(job!.spec.retry).to.deep.equal({ maxAttempts: 3, retryExitCodes: [], failExitCodes: [], maxInterruptions: 5 });
    expect(job).to.not.have.property('futureField');
    expect((await store.jobs.get({ jobId: 'job-old' }))!.futureField).to.deep.equal({ x: 1 });
    const task = await tasks(ctx()).get({ jobId: 'job-old', taskId: '0000' });
    expect(task).to.include({ failures: 0, interruptions: 0 });
    expect(task!.avoid).to.deep.equal([]);
  });

  it('reads a stored spec that a rule of today rejects as it was stored (a rule an upgrade tightens corrupts no job); a spec that is no object is corrupt', async () => {
    // 010.0.0.0/8: a CIDR an older rule took and zod's cidrv4 refuses; the tag key an older rule may have let through.
    const stored = { ...spec, ssh: { ...spec.ssh, ingressCidr: '010.0.0.0/8' }, tags: { 'aws:legacy': 'x' } };
    expect(() => parseJobSpec(stored)).to.throw();
    await put(tableNames(prefix).jobs, { jobId: 'job-lenient', state: 'running', ...meta, name: 'lenient', spec: stored, taskCount: 1, submittedAt: now, ingressCidr: '010.0.0.0/8' });
    const job = await jobs(ctx()).get({ jobId: 'job-lenient' });
    expect(job!.spec.ssh?.ingressCidr).to.equal('010.0.0.0/8');
    expect(job!.spec.tags).to.deep.equal({ 'aws:legacy': 'x' });

    await put(tableNames(prefix).jobs, { jobId: 'job-nospec', state: 'running', ...meta, name: 'nospec', spec: 'not a spec', taskCount: 1, submittedAt: now, ingressCidr: '127.0.0.1/32' });
    const err = await jobs(ctx()).get({ jobId: 'job-nospec' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(CorruptRowError);
    expect(String((err as Error).message)).to.contain('spec');
  });

  it('a failed condition names the current row: read back where the emulator does not send it (ALL_OLD fallback)', async () => {
    const created = await jobs(ctx()).create({ jobId: 'job-race' }, { name: 'race', spec, taskCount: 1, submittedAt: now, ingressCidr: '127.0.0.1/32' });
    await jobs(ctx()).transition({ jobId: 'job-race' }, { from: 'submitted', to: 'securing' });
    for (const write of [
      () => jobs(ctx()).transition({ jobId: 'job-race' }, { from: 'submitted', to: 'securing' }),
      () => jobs(ctx()).update({ jobId: 'job-race' }, { version: created.version, set: { error: 'stale' } }),
      () => jobs(ctx()).create({ jobId: 'job-race' }, { name: 'again', spec, taskCount: 1, submittedAt: now, ingressCidr: '127.0.0.1/32' }),
    ]) {
      let thrown: unknown;
      try {
        await write();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).to.be.instanceOf(StateConflictError);
      const conflict = thrown as StateConflictError;
      // dynalite takes ReturnValuesOnConditionCheckFailure but sends no row: the store read it. The SDK's
      // exception (which, on DynamoDB, carries the whole row, keys and all) is not attached.
      expect(conflict.cause).to.equal(undefined);
      expect(conflict.actual).to.deep.equal({ state: 'securing', version: 2 });
    }
  });

  it('reads a projection with its own schema: only the attributes asked for', async () => {
    const page = await tasks(ctx()).pageProjected({ jobId: 'job-old' }, TaskRowSchema.pick({ jobId: true, taskId: true, state: true }), { limit: 10 });
    expect(page.rows).to.deep.equal([{ jobId: 'job-old', taskId: '0000', state: 'running' }]);
    expect(page.more).to.equal(false);
  });
});
