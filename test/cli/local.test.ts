import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/fleet.js';
import { runCli, startCli } from '../helpers/cli.js';
import { startEmulators, type Emulators } from '../../services/local/emulators.js';

interface Health {
  status: string;
  dispatchers: Array<{ index: number; pid: number; alive: boolean; restarts: number }>;
  endpoints: { sqs: string; dynamodb: string };
}

describe('spotbatch CLI: setup, local', function () {
  let data: string;
  before(() => {
    data = mkdtempSync(path.join(tmpdir(), 'spotbatch-local-'));
  });
  after(() => rmSync(data, { recursive: true, force: true }));

  it('setup against the configured endpoints: twice succeeds; a bad setting exits 2 naming it', async () => {
    const emu: Emulators = await startEmulators({});
    try {
      const env = {
        AWS_ENDPOINT_URL_SQS: emu.endpoints.sqs,
        AWS_ENDPOINT_URL_DYNAMODB: emu.endpoints.dynamodb,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
        SPOTBATCH_PREFIX: 'clitest',
      };
      const first = await runCli(['setup', '--json'], env);
      expect(first.code, first.stderr).to.equal(0);
      const out = JSON.parse(first.stdout);
      expect(out.createdTables).to.have.length(4);
      expect(out.queues.main.master).to.match(/clitest-master$/);
      const second = await runCli(['setup', '--json'], env);
      expect(second.code, second.stderr).to.equal(0);
      expect(JSON.parse(second.stdout).createdTables).to.deep.equal([]);
      const bad = await runCli(['setup'], { ...env, SPOTBATCH_MAX_RECEIVE_COUNT: '0' });
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('SPOTBATCH_MAX_RECEIVE_COUNT (dispatcher.maxReceiveCount): must be >= 1');
      expect(bad.stderr).not.to.match(/\n\s+at /); // no stack trace without --debug
    } finally {
      await emu.stop();
    }
  });

  it('local: prints the endpoints (emulators and simulator), restarts a killed dispatcher, stops cleanly on SIGTERM', async () => {
    const child = startCli(['local', '--data', data, '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--sim-port', '0', '--ssh-port', '0']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually('the banner', () => /export AWS_ENDPOINT_URL_DYNAMODB=/.test(stdout), 60_000);
      expect(stdout).to.match(/export AWS_ENDPOINT_URL_SQS=http:\/\/127\.0\.0\.1:\d+/);
      const ec2 = /export AWS_ENDPOINT_URL_EC2=(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
      expect(stdout).to.contain(`export AWS_ENDPOINT_URL_IAM=${ec2}`);
      // the simulator answers its admin API: nothing created yet
      const inventory = (await (await fetch(`${ec2}/_sim/inventory`)).json()) as Record<string, unknown[]>;
      expect(inventory.instances).to.deep.equal([]);
      const url = /status page: (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout)![1]!;
      const health = async () => (await (await fetch(`${url}/healthz`)).json()) as Health;
      // the status page and its JSON API answer on the same port
      expect(await (await fetch(`${url}/api/jobs`)).json()).to.deep.equal({ jobs: [], limit: 50, nextCursor: null });
      expect(await (await fetch(`${url}/`)).text()).to.contain('<h1>Jobs</h1>');
      const first = await eventually('two dispatchers alive', async () => {
        const h = await health();
        return h.dispatchers.filter((d) => d.alive).length === 2 ? h : undefined;
      });
      // The dispatchers really serve: both started their consumers.
      await eventually('dispatchers started', () => (stdout + stderr).split('dispatcher started').length - 1 >= 2, 30_000);
      const victim = first.dispatchers[0]!;
      process.kill(victim.pid, 'SIGKILL');
      const after = await eventually(
        'the killed dispatcher restarted',
        async () => {
          const h = await health();
          const d = h.dispatchers.find((x) => x.index === victim.index)!;
          return d.alive && d.pid !== victim.pid ? h : undefined;
        },
        30_000,
      );
      expect(after.dispatchers.find((x) => x.index === victim.index)!.restarts).to.equal(1);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      for (const d of after.dispatchers) {
        expect(() => process.kill(d.pid, 0), `dispatcher ${d.pid} still running`).to.throw();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('local --demo --exit-when-done runs the example job to success, leaves nothing behind, exits 0', async function () {
    this.timeout(240_000);
    const demoData = mkdtempSync(path.join(tmpdir(), 'spotbatch-demo-'));
    try {
      const out = await runCli(
        ['local', '--demo', '--exit-when-done', '--data', demoData, '--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--sim-port', '0', '--ssh-port', '0'],
        {},
        200_000,
      );
      expect(out.code, out.stdout + out.stderr).to.equal(0);
      expect(out.stdout).to.match(/demo: submitted testsleep as job-[0-9a-f]+/);
      expect(out.stdout).to.match(/^000[012]\s+succeeded\s+1\s+us-east-1/m);
      expect(out.stdout).to.contain('demo: nothing of the job is left in the simulator');
      // The key that encrypts job private keys stays in the data folder, readable by its owner only.
      const { statSync } = await import('node:fs');
      expect(statSync(path.join(demoData, 'secret.key')).mode & 0o777).to.equal(0o600);
      expect(out.stdout + out.stderr).not.to.contain(readFileSync(path.join(demoData, 'secret.key'), 'utf8').trim());
    } finally {
      rmSync(demoData, { recursive: true, force: true });
    }
  });
});
