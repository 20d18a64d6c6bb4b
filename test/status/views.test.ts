import { expect } from 'chai';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Emulators } from '../../services/local/emulators.js';
import { jobs } from '../../services/model/repo.js';
import { JobViews, type JobListView } from '../../services/views/index.js';
import { destroyClients, type CoreClients } from '../../shared/aws.js';
import { Store, tableDefinitions, tableNames } from '../../shared/store/index.js';
import { ensureTables } from '../../shared/setup.js';
import { JOB_LIST_INDEX, JOB_LIST_PK } from '../../shared/store/tables.js';
import { clientsFor, TestClock, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { seedJob } from './seed.js';

/** Every DynamoDB call the views make: command, table and index. */
interface Call {
  command: string;
  table?: string;
  index?: string;
}

type Counted = { middlewareStack: { add: (mw: unknown, opts: { step: string; name: string }) => void } };

function countCalls(clients: CoreClients): Call[] {
  const calls: Call[] = [];
  (clients.ddb as unknown as Counted).middlewareStack.add(
    (next: (a: { input: { TableName?: string; IndexName?: string } }) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: { TableName?: string; IndexName?: string } }) => {
        calls.push({ command: context.commandName ?? '?', table: args.input.TableName, index: args.input.IndexName });
        return next(args);
      },
    { step: 'initialize', name: 'viewsTestCalls' },
  );
  return calls;
}

describe('read model: the jobs list from its index, summaries from a bounded cache (emulators)', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let clients: CoreClients;
  let prefix: string;
  let store: Store;
  let calls: Call[];
  const t0 = Date.now() - 86_400_000;
  /** job-0 oldest ... job-4 newest */
  const ids = ['job-0', 'job-1', 'job-2', 'job-3', 'job-4'];

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
    calls = countCalls(clients);
    prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    store = new Store(clients.ddb, prefix);
    for (const [i, jobId] of ids.entries()) await seedJob(store, clients.ddb, { jobId, tasks: 2, submittedAt: t0 + i * 60_000 });
    // Two finished jobs among them, for the state filter.
    for (const jobId of ['job-1', 'job-3']) {
      await jobs({ store }).transition({ jobId }, { from: 'running', to: 'finishing' });
      await jobs({ store }).transition({ jobId }, { from: 'finishing', to: 'succeeded', set: { endedAt: Date.now() } });
    }
    // The newest row of all, but without the index's key: only the index lists jobs, so it is not listed.
    await seedJob(store, clients.ddb, { jobId: 'not-indexed', tasks: 1, submittedAt: t0 + 3_600_000, spec: { tags: { team: 'before-the-index' } } });
    await clients.ddb.send(new UpdateCommand({ TableName: tableNames(prefix).jobs, Key: { jobId: 'not-indexed' }, UpdateExpression: 'REMOVE listPk' }));
  });
  after(async () => {
    destroyClients(clients);
    await emu?.stop();
  });

  it('lists jobs newest first, a page at a time, from the job-list index (never a Scan)', async () => {
    const views = new JobViews({ ddb: clients.ddb, prefix });
    calls.length = 0;
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: JobListView = await views.jobs({ limit: 2, cursor });
      expect(page.jobs.length).to.be.at.most(2);
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).to.deep.equal([...ids].reverse());
    expect(pages).to.equal(3);
    expect(calls.filter((c) => c.command === 'ScanCommand')).to.deep.equal([]);
    const jobQueries = calls.filter((c) => c.table === tableNames(prefix).jobs && c.command === 'QueryCommand');
    expect(jobQueries.length).to.be.at.least(3);
    expect(jobQueries.every((c) => c.index === JOB_LIST_INDEX)).to.equal(true);
  });

  it('filters by state across pages', async () => {
    const views = new JobViews({ ddb: clients.ddb, prefix });
    const first = await views.jobs({ states: ['succeeded'], limit: 1 });
    expect(first.jobs.map((j) => j.id)).to.deep.equal(['job-3']);
    const second = await views.jobs({ states: ['succeeded'], limit: 1, cursor: first.nextCursor });
    expect(second.jobs.map((j) => j.id)).to.deep.equal(['job-1']);
    expect(second.nextCursor).to.equal(null);
    const running = await views.jobs({ states: ['running'] });
    expect(running.jobs.map((j) => j.id)).to.deep.equal(['job-4', 'job-2', 'job-0']);
  });

  it('keeps at most summaryEntries summaries', async () => {
    const views = new JobViews({ ddb: clients.ddb, prefix, summaryEntries: 2 });
    const taskQueries = () => calls.filter((c) => c.table === tableNames(prefix).tasks).length;
    const rows = await Promise.all(['job-0', 'job-2', 'job-4'].map((id) => views.jobRow(id)));
    const before = taskQueries();
    for (const row of rows) await views.summary(row);
    expect(views.summaries.size).to.equal(2);
    expect(taskQueries()).to.equal(before + 3);
    // job-4 is held: no read; job-0 (the least recently used) was dropped: read again
    await views.summary(rows[2]!);
    expect(taskQueries(), 'held: no read').to.equal(before + 3);
    await views.summary(rows[0]!);
    expect(taskQueries(), 'dropped: read again').to.equal(before + 4);
    expect(views.summaries.size).to.equal(2);
  });

  it('reuses a summary while the job is unchanged and reads again after a change', async () => {
    const clock = new TestClock();
    const views = new JobViews({ ddb: clients.ddb, prefix, clock, summaryTtlMs: 2000, summaryStaleMs: 30_000 });
    const taskQueries = () => calls.filter((c) => c.table === tableNames(prefix).tasks).length;

    // A finished job: reused however old, until its row changes.
    let done = await views.jobRow('job-3');
    const n0 = taskQueries();
    await views.summary(done);
    clock.advance(3_600_000);
    await views.summary(await views.jobRow('job-3'));
    expect(taskQueries() - n0, 'finished and unchanged: one read').to.equal(1);
    done = await jobs({ store }).update({ jobId: 'job-3' }, { set: { error: 'a later note' } });
    const s = await views.summary(done);
    expect(taskQueries() - n0, 'a new version: read again').to.equal(2);
    expect(s.error).to.equal('a later note');

    // An open job: reused within its time, read again after it, and at once when its state moves.
    const open = await views.jobRow('job-4');
    const n1 = taskQueries();
    await views.summary(open);
    clock.advance(1000);
    await views.summary(open);
    expect(taskQueries() - n1, 'within the time: one read').to.equal(1);
    clock.advance(60_000);
    await views.summary(open);
    expect(taskQueries() - n1, 'past the stale time: read again').to.equal(2);
    const moved = await jobs({ store }).transition({ jobId: 'job-4' }, { from: 'running', to: 'finishing' });
    const m = await views.summary(moved);
    expect(taskQueries() - n1, 'another state: read again').to.equal(3);
    expect(m.state).to.equal('finishing');
  });

  it('the index holds only what a line of the list shows (never the spec or the keys); a row it cannot read is left out, not the whole list', async () => {
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: tableNames(prefix).jobs }));
    const index = Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === JOB_LIST_INDEX);
    expect(index?.Projection?.ProjectionType).to.equal('INCLUDE');
    expect(index?.Projection?.NonKeyAttributes).to.include.members(['name', 'state', 'tags']).and.not.include.members(['spec', 'security', 'keyPairs']);
    const listed = await clients.ddb.send(
      new QueryCommand({ TableName: tableNames(prefix).jobs, IndexName: JOB_LIST_INDEX, KeyConditionExpression: 'listPk = :pk', ExpressionAttributeValues: { ':pk': JOB_LIST_PK }, Limit: 1 }),
    );
    expect(Object.keys(listed.Items?.[0] ?? {})).to.include('name').and.not.include.members(['spec', 'security', 'keyPairs']);

    // A row the list cannot read (a state no version of the machine has): the other jobs are still listed.
    await seedJob(store, clients.ddb, { jobId: 'unreadable', tasks: 1, submittedAt: t0 + 7_200_000 });
    await clients.ddb.send(new UpdateCommand({ TableName: tableNames(prefix).jobs, Key: { jobId: 'unreadable' }, UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'state' }, ExpressionAttributeValues: { ':s': 'melted' } }));
    try {
      const page = await new JobViews({ ddb: clients.ddb, prefix }).jobs({ limit: 50 });
      expect(page.jobs.map((j) => j.id)).to.deep.equal([...ids].reverse());
    } finally {
      await clients.ddb.send(new DeleteCommand({ TableName: tableNames(prefix).jobs, Key: { jobId: 'unreadable' } }));
    }
  });

  it('a job made without the list key (a dispatcher of the previous version, during an upgrade) is listed, with its tags, after the next setup', async () => {
    const views = new JobViews({ ddb: clients.ddb, prefix });
    expect((await views.jobs({ limit: 50 })).jobs.map((j) => j.id)).to.not.include('not-indexed');
    await clients.ddb.send(new UpdateCommand({ TableName: tableNames(prefix).jobs, Key: { jobId: 'not-indexed' }, UpdateExpression: 'REMOVE tags' }));
    await ensureTables(clients.dynamodb, prefix);
    const page = await views.jobs({ limit: 50 });
    expect(page.jobs.map((j) => j.id)).to.deep.equal(['not-indexed', ...[...ids].reverse()]);
    const row = await views.jobRow('not-indexed');
    expect(row.spec.tags).to.deep.equal({ team: 'before-the-index' });
    expect(page.jobs[0]!.tags).to.deep.equal({ team: 'before-the-index' });
  });

  it('setup adds the job-list index to a jobs table made before it, or says plainly that the endpoint cannot', async () => {
    const old = uniquePrefix();
    const def = tableDefinitions(old)[0]!;
    // The jobs table as earlier versions made it: the open-due index only.
    await clients.dynamodb.send(
      new CreateTableCommand({
        ...def,
        AttributeDefinitions: def.AttributeDefinitions!.filter((a) => ['jobId', 'openPk', 'dueAt'].includes(a.AttributeName!)),
        GlobalSecondaryIndexes: def.GlobalSecondaryIndexes!.filter((i) => i.IndexName !== JOB_LIST_INDEX),
      }),
    );
    let error: unknown;
    try {
      await ensureTables(clients.dynamodb, old);
    } catch (err) {
      error = err;
    }
    const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: def.TableName }));
    const indexes = (Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName);
    if (indexes.includes(JOB_LIST_INDEX)) {
      expect(error).to.equal(undefined);
    } else {
      // dynalite accepts the UpdateTable and adds nothing: setup must not go on as if the list could work.
      expect(String(error)).to.contain(`table ${def.TableName} has no index ${JOB_LIST_INDEX}`);
      expect(String(error)).to.contain('new --data folder');
    }
  });
});
