/**
 * The ledger end to end: a job on the simulator with an attempt EC2 interrupted in its first hour (the fleet
 * leaves it to EC2's reclaim, which is free; one the fleet terminates is billed), whose stored spend equals the
 * sum over its attempts of price x billed time, computed here from the simulator's own DescribeSpotPriceHistory
 * answers; and `spotbatch report` on it (json and md).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DescribeInstancesCommand, DescribeSpotPriceHistoryCommand } from '@aws-sdk/client-ec2';
import { sharedEmulators, startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';
import { cliEnv, expectUsageError, runCli } from '../helpers/cli.js';
import type { Attempt } from '../../services/model/model.js';
import type { JobLedger } from '../../services/ledger/types.js';
import { ec2PriceSource } from '../../services/ledger/history.js';
import { computeJobLedger } from '../../services/ledger/ledger.js';
import { loadOnDemandPrices } from '../../shared/ondemand-prices.js';
import { JobViews } from '../../services/views/index.js';

/** Price x billed time of one attempt under EC2's rules for Linux, from the simulator's price history. */
async function expectedUsd(stack: Stack, a: Attempt): Promise<number> {
  if (a.runningAt === undefined || a.endedAt === undefined) return 0;
  const ran = Math.ceil((a.endedAt - a.runningAt) / 1000 - 1e-9);
  // AWS: a Spot Instance EC2 interrupts in its first hour is free; one the customer terminates is charged.
  if (a.outcome === 'interrupted' && a.endedBy === 'ec2' && ran < 3600) return 0;
  const billed = Math.max(60, ran);
  const out = await stack.cloud.ec2(a.pool.region).send(
    new DescribeSpotPriceHistoryCommand({
      AvailabilityZone: a.pool.zone,
      InstanceTypes: [a.pool.type as never],
      ProductDescriptions: ['Linux/UNIX'],
      StartTime: new Date(a.runningAt),
      EndTime: new Date(a.endedAt),
    }),
  );
  const points = (out.SpotPriceHistory ?? []).map((p) => ({ at: p.Timestamp!.getTime(), price: Number(p.SpotPrice) })).sort((x, y) => x.at - y.at);
  expect(points.length, 'the simulator has a price history for the pool').to.be.greaterThan(0);
  let usd = 0;
  for (let s = 0; s < billed; s++) {
    // The seconds a minimum adds past the attempt's end: at the price in effect when it ended.
    const t = Math.min(a.runningAt + s * 1000, a.endedAt - 1);
    // The price in effect at each second: the newest point at or before it (AWS returns the one in effect at StartTime).
    const inEffect = points.filter((p) => p.at <= t).pop() ?? points[0]!;
    usd += inEffect.price / 3600;
  }
  return usd;
}

describe('cost ledger (e2e)', function () {
  this.timeout(240_000);
  const emulators = sharedEmulators();
  let stack: Stack | undefined;
  after(async () => {
    await stack?.close();
  });

  it("a finished job's stored spend is the sum of its attempts' bills under EC2's rules, and `report` shows it", async () => {
    // The fleet leaves an instance interrupted in its first hour to EC2 (free), and records who ended it.
    stack = await startStack({ emulators: emulators(), config: { lifecycle: { leaveInterruptedToEc2: true } } });
    const s = stack;
    const jobId = await s.submit({
      name: 'ledger',
      tasks: { count: 1 },
      // The second attempt outlasts the first one's notice (2 simulated minutes), so teardown never ends that instance.
      steps: [{ run: 'if [ "$SPOTBATCH_ATTEMPT" = 1 ]; then sleep 600; else sleep 8; fi; echo "done on attempt $SPOTBATCH_ATTEMPT"' }],
      instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
    });
    const running = await eventually('attempt 1 running', async () => (await s.tasks(jobId)).find((t) => t.state === 'running' && t.attempts.length === 1), 120_000, 200);
    const interruptedId = running.attempts[0]!.instanceId!;
    await s.admin(`/_sim/instances/${interruptedId}/interrupt`, {});
    const job = await s.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await s.tasks(jobId);
    expect(job.state, task!.reason).to.equal('succeeded');
    const [first, second] = task!.attempts;
    expect(first!.outcome).to.equal('interrupted');
    expect(second!.outcome).to.equal('succeeded');
    // Younger than an hour: the fleet left it to EC2, which reclaimed it at the notice's time.
    expect(first!.endedBy, 'who ended the interrupted instance').to.equal('ec2');
    const described = await s.cloud.ec2(first!.pool.region).send(new DescribeInstancesCommand({ InstanceIds: [interruptedId] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.StateReason?.Code).to.equal('Server.SpotInstanceTermination');

    let expected = 0;
    for (const a of task!.attempts) expected += await expectedUsd(s, a);
    expect(await expectedUsd(s, first!), 'interrupted by EC2 in its first hour: free').to.equal(0);
    expect(expected).to.be.greaterThan(0);
    expect(job.ledger, 'the ledger summary stored at completion').to.not.equal(undefined);
    expect(job.ledger!.usd).to.be.closeTo(expected, 1e-6);
    expect(task!.costUsd).to.be.closeTo(expected, 1e-6);
    expect(job.ledger!.interruptions).to.equal(1);
    expect(job.ledger!.notes, 'every pool had a price history').to.deep.equal([]);
    expect(job.ledger!.pools.find((p) => p.zone === first!.pool.zone && p.type === first!.pool.type)!.interruptions).to.equal(1);

    // The status page's views: the job's spend and its ledger are the same figures.
    const views = new JobViews({ ddb: s.fleet.clients.ddb, prefix: s.fleet.config.prefix, priceSource: ec2PriceSource(s.cloud) });
    expect((await views.job(jobId)).job.spend.spotUsd).to.be.closeTo(expected, 1e-6);
    expect((await views.jobLedger(jobId)).usd).to.be.closeTo(expected, 1e-6);
    const page = await views.tasks(jobId);
    expect(page.tasks[0]!.attempts.map((a) => a.spotUsd)[0]).to.equal(0);

    // Had the fleet terminated it itself, the same first-hour attempt would pay its seconds.
    const fleetEnded = task!.attempts.map((a) => (a.n === 1 ? { ...a, endedBy: 'fleet' as const } : a));
    const billedFirst = await expectedUsd(s, fleetEnded[0]!);
    expect(billedFirst, 'terminated by the fleet in its first hour: billed').to.be.greaterThan(0);
    const recomputed = await computeJobLedger({ job, tasks: [{ ...task!, attempts: fleetEnded }], prices: ec2PriceSource(s.cloud), onDemand: loadOnDemandPrices(), computedAt: job.endedAt! });
    expect(recomputed.tasks[0]!.attempts.map((b) => b.rule)[0]).to.not.equal('interrupted-first-hour-free');
    expect(recomputed.usd).to.be.closeTo(expected + billedFirst, 1e-6);

    // The CLI's report reads the same job over the simulator's EC2 endpoint.
    const env = { ...cliEnv(s), AWS_ENDPOINT_URL_EC2: s.sim.endpoint };
    const dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-report-'));
    try {
      const out = path.join(dir, 'report.json');
      const r = await runCli(['report', jobId, '--format', 'json', '--out', out], env);
      expect(r.code, r.stderr).to.equal(0);
      const ledger = JSON.parse(readFileSync(out, 'utf8')) as JobLedger;
      expect(ledger.jobId).to.equal(jobId);
      expect(ledger.usd).to.be.closeTo(expected, 1e-6);
      expect(ledger.tasks[0]!.attempts.map((b) => b.rule)).to.deep.equal(['interrupted-first-hour-free', 'minimum-60s']);
      expect(ledger.tasks[0]!.time.usefulSeconds).to.be.greaterThan(0);
      expect(ledger.launches).to.have.length(2);

      const md = await runCli(['report', jobId, '--format', 'md'], env);
      expect(md.code, md.stderr).to.equal(0);
      expect(md.stdout).to.contain(`# Cost report: ledger`);
      expect(md.stdout).to.contain('interrupted-first-hour-free');
      expect(md.stdout).to.match(/## Interruptions\n\n\| task \| n \| pool/);

      const page = await runCli(['report', jobId, '--format', 'html', '--out', path.join(dir, 'report.html')], env);
      expect(page.code, page.stderr).to.equal(0);
      const doc = readFileSync(path.join(dir, 'report.html'), 'utf8');
      expect(doc).to.match(/^<!doctype html>/i);
      expect(doc).to.contain('<svg');
      expect(doc).not.to.match(/<script/i);

      const day = new Date(job.submittedAt).toISOString().slice(0, 10);
      const all = await runCli(['report', '--all', '--since', day, '--format', 'json'], env);
      expect(all.code, all.stderr).to.equal(0);
      const fleet = JSON.parse(all.stdout) as { usd: number; jobs: { jobId: string }[] };
      expect(fleet.jobs.map((j) => j.jobId)).to.deep.equal([jobId]);
      expect(fleet.usd).to.be.closeTo(job.ledger!.usd, 1e-9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('report refuses bad options, naming them', async () => {
    expectUsageError(await runCli(['report', '--all', '--since', '2025-13-01']), '--since');
    expectUsageError(await runCli(['report', '--all']), '--since');
    expectUsageError(await runCli(['report', 'j1', '--format', 'pdf']), '--format');
  });
});
