import { expect } from 'chai';
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ensureBuilt, expectUsageError, occupiedPort, runCli, serveCli } from '../helpers/cli.js';

describe('spotbatch CLI: sim', function () {
  this.timeout(120_000);
  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
  });

  it('serves EC2 to the SDK on the printed endpoint and stops on SIGTERM with exit 0', async () => {
    const sim = await serveCli(
      ['sim', '--port', '0', '--ssh-port', '0', '--time-scale', '60', '--seed', '7', '--start', '2026-06-01T00:00:00Z', '--launch-latency', '0..2'],
      {},
      /export AWS_ENDPOINT_URL_EC2=(\S+)/,
      { built: true },
    );
    try {
      const endpoint = sim.match[1]!;
      expect(sim.stdout()).to.contain(`export AWS_ENDPOINT_URL_IAM=${endpoint}`);
      const ec2 = new EC2Client({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      const out = await ec2.send(new DescribeRegionsCommand({}));
      ec2.destroy();
      expect(out.Regions?.map((r) => r.RegionName)).to.include.members(['us-east-1', 'eu-west-1']);
      // --start and --time-scale set the simulated clock
      const health = (await (await fetch(new URL('/_sim/healthz', endpoint))).json()) as { clock: { simStart: number; timeScale: number } };
      expect(health.clock).to.include({ simStart: Date.parse('2026-06-01T00:00:00Z'), timeScale: 60 });
      expect(await sim.stop()).to.equal(0);
    } finally {
      sim.child.kill('SIGKILL');
    }
  });

  it('--json: stdout is the one line of endpoints (the logs go to stderr)', async () => {
    const sim = await serveCli(['sim', '--json', '--port', '0', '--ssh-port', '0'], {}, /^(\{.*\})\n/, { built: true });
    try {
      const shown = JSON.parse(sim.match[1]!) as { endpoint: string; sshPort: number; imdsPort: number; admin: string };
      expect(shown.endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(shown.admin).to.equal(`${shown.endpoint}/_sim/`);
      expect((await fetch(`${shown.endpoint}/_sim/inventory`)).status).to.equal(200);
      expect(await sim.stop()).to.equal(0);
      expect(sim.stdout()).to.equal(`${sim.match[1]}\n`);
      expect(sim.stderr()).to.contain('spot market simulator listening');
    } finally {
      sim.child.kill('SIGKILL');
    }
  });

  it('the AWS behaviour flags set the start-up faults (off by default)', async () => {
    const sim = await serveCli(['sim', '--json', '--port', '0', '--ssh-port', '0', '--request-limits', '0.5', '--not-found-seconds', '2', '--iam-propagation-seconds', '3'], {}, /^(\{.*\})\n/, { built: true });
    try {
      const { endpoint } = JSON.parse(sim.match[1]!) as { endpoint: string };
      const faults = (await (await fetch(`${endpoint}/_sim/faults`)).json()) as { faults: object };
      expect(faults.faults).to.deep.equal({ requestLimits: 0.5, notFoundSeconds: 2, iamPropagationSeconds: 3 });
      expect(await sim.stop()).to.equal(0);
    } finally {
      sim.child.kill('SIGKILL');
    }
    expectUsageError(await runCli(['sim', '--request-limits', '-1'], {}, 60_000, { built: true }), '--request-limits: must be a number from 0 to 100, got "-1"');
    expectUsageError(await runCli(['sim', '--not-found-seconds', 'soon'], {}, 60_000, { built: true }), '--not-found-seconds: must be a number from 0 to 600');
  });

  it('refuses bad flags with exit 2 and a message naming the flag', async () => {
    expectUsageError(await runCli(['sim', '--time-scale', 'fast'], {}, 60_000, { built: true }), '--time-scale: must be a number > 0, got "fast"');
    expectUsageError(await runCli(['sim', '--port', '70000'], {}, 60_000, { built: true }), '--port: must be a port number from 0 to 65535');
    expectUsageError(
      await runCli(['sim', '--launch-latency', '30..10'], {}, 60_000, { built: true }),
      '--launch-latency: must be N (fixed seconds), MIN..MAX (uniform) or lognormal:MEDIAN,SIGMA',
    );
    expectUsageError(await runCli(['sim', '--start', 'yesterday'], {}, 60_000, { built: true }), '--start: must be an ISO 8601 time');
  });

  it('a port in use: exit 2, naming the address and --port, not the fleet\'s endpoints', async () => {
    const taken = await occupiedPort();
    try {
      const out = await runCli(['sim', '--port', String(taken.port), '--ssh-port', '0'], {}, 60_000, { built: true });
      expectUsageError(out, `cannot listen on 127.0.0.1:${taken.port} (--port): the port is in use by another program; pick another --port (0 picks a free one)`);
      expect(out.stderr).not.to.contain("cannot reach the fleet's queues or tables");
    } finally {
      await taken.close();
    }
  });
});
