import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { Emulators } from '../../services/local/emulators.js';
import { startSimulator } from '@spotbatch/simulator';
import { createCloudClients } from '../../shared/aws.js';
import { defineCatalog } from '../../shared/envelope.js';
import { TEST_CREDENTIALS, eventually, testEmulators, testFleet, uniquePrefix } from '../helpers/fleet.js';

const fixture = fileURLToPath(new URL('../fixtures/slow-dispatcher.ts', import.meta.url));

describe('graceful shutdown', function () {
  let emu: Emulators;
  let marks: string;
  before(async () => {
    emu = await testEmulators();
    marks = mkdtempSync(path.join(tmpdir(), 'spotbatch-marks-'));
  });
  after(async () => {
    await emu.stop();
    rmSync(marks, { recursive: true, force: true });
  });

  it('on SIGTERM during a slow handler: the handler finishes, the message is deleted, the process exits 0', async () => {
    const prefix = uniquePrefix();
    const catalog = defineCatalog({
      'test.slow': { queue: 'master', schema: z.object({ jobId: z.string() }), summary: 'slow', sentBy: 'tests' },
    });
    // Creates the queues and tables; this in-process fleet only sends.
    const sender = await testFleet(emu, catalog, {}, { prefix });
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: {
        ...process.env,
        SQS_ENDPOINT: emu.endpoints.sqs,
        DYNAMODB_ENDPOINT: emu.endpoints.dynamodb,
        PREFIX: prefix,
        MARK_DIR: marks,
        SLOW_MS: '3000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually('fixture ready', () => new Promise<boolean>((resolve) => child.stdout.once('data', () => resolve(true))), 30_000);
      await sender.deps.bus.send('test.slow', { jobId: 'slow1' });
      await eventually('handler started', () => existsSync(path.join(marks, 'slow1.started')), 30_000);
      expect(existsSync(path.join(marks, 'slow1.finished'))).to.equal(false);
      child.kill('SIGTERM');
      const code = await exited;
      expect(code, stderr).to.equal(0);
      expect(existsSync(path.join(marks, 'slow1.finished'))).to.equal(true);
      const depth = await sender.queueDepth('master');
      expect(depth.visible + depth.inFlight + depth.delayed).to.equal(0);
      expect(await sender.drainDlq('master')).to.have.length(0);
      expect(stderr).to.match(/dispatcher stopped/);
    } finally {
      child.kill('SIGKILL');
      await sender.close();
    }
  });

  it('past the grace, the drain aborts a handler blocked in an AWS call: the message goes back, nothing half-written, and the next dispatcher does the work once', async function () {
    this.timeout(60_000);
    const sandbox = mkdtempSync(path.join(tmpdir(), 'spotbatch-drain-'));
    const sim = await startSimulator({ port: 0, sshPort: 0, sandboxRoot: sandbox });
    const cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: sim.endpoint, iam: sim.endpoint }, credentials: TEST_CREDENTIALS });
    const setFaults = (faults: unknown) => fetch(`${sim.endpoint}/_sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
    const catalog = defineCatalog({
      'test.blocked': { queue: 'master', schema: z.object({ jobId: z.string() }), summary: 'an AWS call, then a write', sentBy: 'tests' },
    });
    const runs: Array<{ ended: boolean; error?: string }> = [];
    const fleet = await testFleet(
      emu,
      catalog,
      {
        'test.blocked': async (body, ctx) => {
          const run: { ended: boolean; error?: string } = { ended: false };
          runs.push(run);
          try {
            await ctx.cloud!.ec2('us-east-1').send(new DescribeInstancesCommand({}));
            // The write that must not happen when the call above was cut short.
            await ctx.store.events.append(body.jobId, 'test.done', {});
          } catch (err) {
            run.error = (err as Error).name;
            throw err;
          } finally {
            run.ended = true;
          }
        },
      },
      { config: { dispatcher: { concurrency: 1, shutdownTimeoutSeconds: 1, visibilityTimeoutSeconds: 30, heartbeatSeconds: 10 } } },
    );
    fleet.deps.cloud = cloud;
    try {
      // Every EC2 answer takes 30 s: far past the 1 s grace.
      await setFaults({ latencyMs: 30_000 });
      const first = await fleet.start('first');
      await fleet.deps.bus.send('test.blocked', { jobId: 'blocked1' });
      await eventually('handler blocked in DescribeInstances', () => runs.length === 1, 30_000);
      const finished = await first.stop();
      expect(finished, 'cut short').to.equal(false);
      // stop() came back with the handler ended by the abort, not still waiting on the simulator.
      expect(runs[0]).to.deep.equal({ ended: true, error: 'AbortError' });
      expect(await fleet.deps.store.events.list('blocked1')).to.have.length(0);
      // Handed back (visible again at once), not deleted, not dead-lettered.
      const depth = await fleet.queueDepth('master');
      expect(depth.visible + depth.inFlight).to.equal(1);
      expect(await fleet.drainDlq('master')).to.have.length(0);

      // The next dispatcher (a new drain signal; the fleet's resources made afresh) does the work, once.
      await setFaults({});
      await fleet.start('second');
      await eventually('the redelivered message handled', async () => (await fleet.deps.store.events.list('blocked1')).length === 1, 30_000);
      expect(runs).to.have.length(2);
      expect(runs[1]).to.deep.equal({ ended: true });
      await eventually('the message deleted', async () => {
        const d = await fleet.queueDepth('master');
        return d.visible + d.inFlight + d.delayed === 0;
      });
    } finally {
      await fleet.close();
      cloud.ec2('us-east-1').destroy();
      cloud.iam.destroy();
      await sim.stop();
      rmSync(sandbox, { recursive: true, force: true });
    }
  });
});
