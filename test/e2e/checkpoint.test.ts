import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobSpecInput } from '../../services/model/spec.js';
import { leftovers, rawSubmit, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const example = (): JobSpecInput => JSON.parse(readFileSync(new URL('../../examples/checkpoint-counter.json', import.meta.url), 'utf8')) as JobSpecInput;

/** The fleet's configuration with one local checkpoint store, "default", in `dir`. */
const storeConfig = (dir: string): Record<string, unknown> => ({ checkpoint: { stores: { default: { type: 'local', dir } } } });

/** Dead-letter reasons of the master queue until one contains `expected`. */
async function refusal(stack: Stack, expected: string, seen: string[] = []): Promise<string> {
  return eventually(
    `a dead-lettered submit with ${JSON.stringify(expected)}`,
    async () => {
      for (const m of await stack.fleet.drainDlq('master')) seen.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
      return seen.find((r) => r.includes(expected));
    },
    60_000,
  );
}

describe('checkpoint and resume, end to end', function () {
  this.timeout(300_000);
  let stack: Stack;
  let store: string;

  /** Submit the counter example (one task to 60), let attempt 1 count a few seconds, take its instance back; the notice's epoch second. */
  async function counterInterrupted(
    name: string,
    env: Record<string, string> = {},
    opts: { id?: string; before?: (spec: JobSpecInput) => Promise<void> } = {},
  ): Promise<{ jobId: string; noticeAt: number }> {
    // Simulated time runs at real speed here, so "within 10 s of the simulated notice" is measurable on the instance's clock.
    stack = await startStack({ timeScale: 1, config: storeConfig(store) });
    const spec: JobSpecInput = { ...example(), name, tasks: { count: 1 }, env: { COUNT_TO: '60', TICK_SECONDS: '0.2', ...env }, ...(opts.id ? { id: opts.id } : {}) };
    await opts.before?.(spec);
    const jobId = await stack.submit(spec);
    const running = await eventually(
      'attempt 1 running',
      async () => (await stack.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === 1),
      120_000,
      200,
    );
    // Let it count a while (more than one checkpoint period of 10 units), then take the instance back.
    await new Promise((r) => setTimeout(r, 4_000));
    const noticeAt = Math.floor(Date.now() / 1000);
    await stack.admin(`/_sim/instances/${running.attempts[0]!.instanceId}/interrupt`, {});
    return { jobId, noticeAt };
  }
  beforeEach(() => {
    store = mkdtempSync(path.join(tmpdir(), 'spotbatch-ckpt-'));
  });
  afterEach(async () => {
    await stack?.close();
    rmSync(store, { recursive: true, force: true });
  });

  it('the counter example: TERM within 10 s of the notice, resumed in another pool from its checkpoint, the right count; bystanders of the same id survive', async function () {
    // A folder outside the fleet's store, and a file beside the job's checkpoints in it, both named like the job.
    const jobId = `precious-${process.pid}`;
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'spotbatch-bystander-'));
    mkdirSync(path.join(elsewhere, jobId));
    writeFileSync(path.join(elsewhere, jobId, 'file'), 'precious');
    mkdirSync(path.join(store, jobId));
    writeFileSync(path.join(store, jobId, 'bystander.txt'), 'not a checkpoint');
    const { noticeAt } = await counterInterrupted('counter', {}, {
      id: jobId,
      // The exploit first: the same job naming that folder as its store is refused at submit, naming the field, and creates nothing.
      async before(spec) {
        await rawSubmit(stack, { ...spec, checkpoint: { ...spec.checkpoint!, store: `local:${elsewhere}` } });
        const reason = await refusal(stack, 'checkpoint.store');
        expect(reason).to.contain("checkpoint.store: names one of the fleet's checkpoint stores");
        expect(await stack.job(jobId)).to.equal(undefined);
      },
    });

    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 240_000);
    const [task] = await stack.tasks(jobId);
    expect(job.state, `${task!.reason}\n${task!.stdoutTail}\n${task!.stderrTail}`).to.equal('succeeded');
    const out = task!.stdoutTail ?? '';
    expect(out).to.contain('counted to 60 on attempt 2');
    const term = /attempt 1: TERM at (\d+) with count (\d+)/.exec(out);
    expect(term, out).to.not.equal(null);
    const [termAt, termCount] = [Number(term![1]), Number(term![2])];
    expect(termAt - noticeAt, 'seconds from the notice to the SIGTERM').to.be.at.most(10);
    const resumed = Number(/attempt 2 resumes at (\d+)/.exec(out)?.[1]);
    expect(termCount).to.be.greaterThan(0);
    // No more redone than the work since the last checkpoint (the step saves every 10 units and on TERM).
    expect(resumed).to.be.at.least(termCount - 10).and.at.most(termCount);

    const [a1, a2] = task!.attempts;
    expect(a1!.outcome).to.equal('interrupted');
    expect(`${a2!.pool.zone}/${a2!.pool.type}`).to.not.equal(`${a1!.pool.zone}/${a1!.pool.type}`);
    const events = (await stack.fleet.deps.store.events.list(jobId)).map((e) => e.type);
    expect(events.filter((t) => t === 'task.interrupted')).to.have.length(1);
    expect(events).to.include.members(['checkpoint.saved', 'checkpoint.restored']);
    expect(events.indexOf('checkpoint.saved')).to.be.lessThan(events.indexOf('checkpoint.restored'));
    // The job's checkpoints go with it, and nothing else does.
    expect(existsSync(path.join(store, jobId, '0000'))).to.equal(false);
    expect(readdirSync(path.join(store, jobId))).to.deep.equal(['bystander.txt']);
    expect(readFileSync(path.join(elsewhere, jobId, 'file'), 'utf8')).to.equal('precious');
    rmSync(elsewhere, { recursive: true, force: true });
    await eventually('no leftovers', async () => (await leftovers(stack, jobId)).length === 0, 60_000);
  });

  it('a step that cannot see the notice (metadata off) gets its TERM from the save and resumes where it stopped', async function () {
    const { jobId } = await counterInterrupted('counter-no-imds', { AWS_EC2_METADATA_DISABLED: 'true' });
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 240_000);
    const [task] = await stack.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    expect(task!.attempts[0]!.interruptedBy).to.equal('events');
    const out = task!.stdoutTail ?? '';
    expect(out).to.contain('counted to 60 on attempt 2');
    // The save TERMed the step itself, so the step saved on TERM: it resumes where it stopped, not at zero.
    const term = /attempt 1: TERM at (\d+) with count (\d+)/.exec(out);
    expect(term, out).to.not.equal(null);
    expect(Number(/attempt 2 resumes at (\d+)/.exec(out)?.[1])).to.equal(Number(term![2]));
  });
});

describe('checkpoint and resume, end to end: periodic saves', function () {
  this.timeout(300_000);
  let stack: Stack;
  let store: string;
  after(async () => {
    await stack?.close();
    rmSync(store, { recursive: true, force: true });
  });

  it('with every: "60s", a running step\'s folder is saved once a minute has passed, and the save holds what the step wrote', async function () {
    store = mkdtempSync(path.join(tmpdir(), 'spotbatch-ckpt-'));
    stack = await startStack({ timeScale: 1, config: storeConfig(store) });
    const spec = example();
    const jobId = await stack.submit({
      ...spec,
      name: 'counter-periodic',
      tasks: { count: 1 },
      env: { COUNT_TO: '100000', TICK_SECONDS: '0.1' },
      checkpoint: { ...spec.checkpoint!, every: '60s' },
    });
    const saved = await eventually(
      'a periodic save',
      async () => (await stack.fleet.deps.store.events.list(jobId)).find((e) => e.type === 'checkpoint.saved'),
      180_000,
      500,
    );
    expect(saved.data).to.include({ why: 'periodic', attempt: 1 });
    expect(saved.data!.files).to.be.at.least(1);
    const latest = JSON.parse(readFileSync(path.join(store, jobId, '0000', 'latest'), 'utf8')) as { version: string };
    const count = Number(readFileSync(path.join(store, jobId, '0000', latest.version, 'count'), 'utf8'));
    // A minute of ticks at 0.1 s, saved every 10: far from zero, never above what a minute allows.
    expect(count).to.be.greaterThan(50).and.at.most(1000);
    await stack.fleet.deps.bus.send('job.cancel', { jobId });
    await stack.waitJob(jobId, ['cancelled'], 120_000);
  });
});

describe('checkpoint stores are the fleet\'s: refusals at submit', function () {
  this.timeout(120_000);
  let stack: Stack;
  let store: string;
  before(async () => {
    store = mkdtempSync(path.join(tmpdir(), 'spotbatch-ckpt-'));
    stack = await startStack({ config: storeConfig(store) });
  });
  after(async () => {
    await stack?.close();
    rmSync(store, { recursive: true, force: true });
  });

  it('a store naming a path or bucket, or a name the fleet does not configure, is dead-lettered with the field and rule; nothing is created', async function () {
    const spec = example();
    const cases: Array<[string, string, string]> = [
      ['ckpt-path', 'local:/tmp', "checkpoint.store: names one of the fleet's checkpoint stores"],
      ['ckpt-rel', 'local:.spotbatch/checkpoints', "checkpoint.store: names one of the fleet's checkpoint stores"],
      ['ckpt-s3', 's3://some-bucket/x', "checkpoint.store: names one of the fleet's checkpoint stores"],
      ['ckpt-abs', '/etc', "checkpoint.store: names one of the fleet's checkpoint stores"],
      ['ckpt-unknown', 'nope', 'checkpoint.store: "nope" is not one of this fleet\'s checkpoint stores (default)'],
    ];
    for (const [id, where] of cases) await rawSubmit(stack, { ...spec, id, checkpoint: { ...spec.checkpoint!, store: where } });
    const seen: string[] = [];
    await eventually('every submit dead-lettered', async () => {
      for (const m of await stack.fleet.drainDlq('master')) seen.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
      return seen.length >= cases.length;
    }, 60_000);
    for (const [id, , expected] of cases) {
      expect(seen.filter((r) => r.includes(expected)), `${id}: ${expected}\n${seen.join('\n')}`).to.have.length(expected.includes('nope') ? 1 : 4);
      expect(await stack.job(id), id).to.equal(undefined);
    }
    const stats = JSON.stringify(await stack.stats());
    for (const action of ['CreateKeyPair', 'CreateSecurityGroup', 'CreateRole', 'RequestSpotInstances']) expect(stats, action).not.to.contain(action);
    expect(readdirSync(store)).to.deep.equal([]);
  });
});
