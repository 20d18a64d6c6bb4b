/**
 * A job's deadline in the live fleet (docs/planner.md, "Deadlines in the live fleet"): spot while it can, on
 * demand from the last safe moment, and a deadline that can never be met refused at submit.
 */
import { expect } from 'chai';
import type { JobSpecInput } from '../../services/model/spec.js';
import { leftovers, rawSubmit, sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

/** Starts are counted at 20 s (no launch is recorded yet in a fresh market store); the fleet looks again every second. */
const config = { lifecycle: { deadlineOverheadSeconds: 20 } };

const spec = (over: Partial<JobSpecInput> = {}): JobSpecInput => ({
  name: 'deadline',
  tasks: { count: 1 },
  steps: [{ run: 'sleep 2; echo done' }],
  instances: { types: ['m5.large'], regions: ['us-east-1'], zones: ['us-east-1a'] },
  runtime: '10s',
  ...over,
});

const ENDED = ['succeeded', 'failed', 'partially-failed', 'cancelled'] as const;

async function events(stack: Stack, jobId: string) {
  return stack.fleet.deps.store.events.list(jobId);
}

describe('deadlines (e2e)', function () {
  this.timeout(240_000);
  const emulators = sharedEmulators();
  let stack: Stack;
  afterEach(async () => {
    await stack?.close();
  });

  it('a job whose pools lose spot capacity finishes before its deadline on demand', async () => {
    stack = await startStack({ emulators: emulators(), config });
    // No spot capacity in any pool for ten simulated hours (on-demand launches go on).
    await stack.admin('/_sim/pools/interrupt', { noCapacitySeconds: 36_000 });
    // 60 s: the last safe moment is 60 - (10 s of work + a 20 s start + a 1 s look) = 29 s after submission;
    // the spotbatch policy goes on demand by then at the latest (sooner once behind the uniform-progress line).
    const jobId = await stack.submit(spec({ deadline: '1m' }));
    const job = await stack.waitJob(jobId, [...ENDED], 120_000);
    expect(job.state, job.error).to.equal('succeeded');
    expect(job.deadlineAt).to.equal(job.submittedAt + 60_000);
    const [task] = await stack.tasks(jobId);
    const last = task!.attempts[task!.attempts.length - 1]!;
    expect(last.market).to.equal('on-demand');
    expect(last.outcome).to.equal('succeeded');
    expect(last.spotRequestId).to.equal(undefined);
    expect(last.instanceId).to.match(/^i-/);
    expect(task!.endedAt).to.be.lessThan(job.deadlineAt!);
    // Spot was asked first and had nothing; no spot attempt ran.
    expect(task!.attempts.filter((a) => a.market !== 'on-demand').every((a) => a.runningAt === undefined)).to.equal(true);
    const od = (await events(stack, jobId)).filter((e) => e.type === 'deadline.on-demand');
    expect(od).to.have.length(1);
    expect(String(od[0]!.data?.reason)).to.match(/^(safety net: |behind the uniform-progress line)/);
    expect(od[0]!.data?.workLeftSeconds).to.equal(10);
    expect(od[0]!.data?.timeLeftSeconds).to.be.at.most(60);
    // The job's cost report shows the split: no spot instance ran, the on-demand fallback is the whole spend.
    const ledger = job.ledger!;
    expect(ledger.spotUsd).to.equal(0);
    expect(ledger.onDemandFallbackUsd).to.be.greaterThan(0);
    expect(ledger.usd).to.be.closeTo(ledger.onDemandFallbackUsd, 1e-5);
    expect(ledger.pools.filter((p) => p.usd > 0).map((p) => p.market)).to.deep.equal(['on-demand']);
    // The simulator launched it on demand (RunInstances), and teardown left nothing of the job.
    const stats = JSON.stringify(await stack.stats());
    expect(stats).to.contain('RunInstances');
    await eventually('nothing of the job left', async () => (await leftovers(stack, jobId)).length === 0, 30_000);
  });

  it('a spot attempt that runs past the last safe moment is moved on demand, where the job succeeds', async () => {
    stack = await startStack({ emulators: emulators(), config });
    // 30 s of work declared without checkpoints, 120 s to do it, a 20 s start: the spotbatch policy starts on spot
    // while the slack (120 - elapsed - 30 s) is over two starts and a look (41 s), i.e. in the first 49 s. From
    // 120 - (30 + 20 + 1) = 69 s on, a spot interruption would leave no time to start over on demand, so
    // step.check moves the task there while its step (longer than declared: 90 s) still runs. (Without
    // checkpoints the move starts the work over, and this step outlasts its estimate: the job ends after its
    // deadline; what is checked here is the move.)
    const jobId = await stack.submit(spec({ steps: [{ run: 'sleep 90; echo done' }], runtime: '30s', deadline: '2m' }));
    const job = await stack.waitJob(jobId, [...ENDED], 400_000);
    expect(job.state, job.error).to.equal('succeeded');
    const [task] = await stack.tasks(jobId);
    const first = task!.attempts[0]!;
    expect(first.market ?? 'spot').to.equal('spot');
    expect(first.outcome).to.equal('migrated');
    expect(first.reason).to.match(/^deadline: moved on demand: safety net/);
    const last = task!.attempts[task!.attempts.length - 1]!;
    expect(last.market).to.equal('on-demand');
    expect(last.outcome).to.equal('succeeded');
    const od = (await events(stack, jobId)).filter((e) => e.type === 'deadline.on-demand');
    expect(od.map((e) => e.data?.move === true)).to.deep.equal([true, false]);
    // The report shows the split: the spot attempt's spend and the on-demand fallback's, each in its pool.
    const ledger = job.ledger!;
    expect(ledger.spotUsd).to.be.greaterThan(0);
    expect(ledger.onDemandFallbackUsd).to.be.greaterThan(0);
    expect(ledger.usd).to.be.closeTo(ledger.spotUsd + ledger.onDemandFallbackUsd, 1e-5);
    expect([...new Set(ledger.pools.map((p) => p.market))].sort()).to.deep.equal(['on-demand', 'spot']);
    await eventually('nothing of the job left', async () => (await leftovers(stack, jobId)).length === 0, 30_000);
  });

  it('a job whose spot stays available runs on spot; a deadline past or too close is refused at submit, naming the field', async () => {
    stack = await startStack({ emulators: emulators(), config });
    const jobId = await stack.submit(spec({ deadline: '1h' }));
    const job = await stack.waitJob(jobId, [...ENDED]);
    expect(job.state, job.error).to.equal('succeeded');
    const [task] = await stack.tasks(jobId);
    expect(task!.attempts.map((a) => a.market ?? 'spot')).to.deep.equal(['spot']);
    expect(task!.attempts[0]!.spotRequestId).to.match(/^sir-/);
    expect((await events(stack, jobId)).some((e) => e.type === 'deadline.on-demand')).to.equal(false);

    await rawSubmit(stack, { ...spec({ deadline: '2020-01-01T00:00:00Z' }), id: 'deadline-past' });
    // Default step timeout 1 h, no runtime: an hour of work cannot fit in ten minutes.
    await rawSubmit(stack, { ...spec({ deadline: '10m' }), runtime: undefined, id: 'deadline-impossible' });
    const reasons: string[] = [];
    await eventually(
      'both refused',
      async () => {
        for (const m of await stack.fleet.drainDlq('master')) reasons.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
        return reasons.length >= 2;
      },
      60_000,
    );
    expect(reasons.some((r) => /deadline: 2020-01-01T00:00:00Z is already past/.test(r)), reasons.join('\n')).to.equal(true);
    expect(reasons.some((r) => /deadline: 600 s from submission cannot hold a task's 3600 s of work/.test(r)), reasons.join('\n')).to.equal(true);
    expect(await stack.job('deadline-past')).to.equal(undefined);
    expect(await stack.job('deadline-impossible')).to.equal(undefined);
  });
});
