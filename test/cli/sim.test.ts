import { expect } from 'chai';
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { eventually } from '../helpers/fleet.js';
import { runCli, startCli } from '../helpers/cli.js';

describe('spotbatch CLI: sim', function () {
  it('serves EC2 to the SDK on the printed endpoint and stops on SIGTERM with exit 0', async () => {
    const child = startCli(['sim', '--port', '0', '--ssh-port', '0', '--time-scale', '60', '--seed', '7', '--start', '2026-06-01T00:00:00Z', '--launch-latency', '0..2']);
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const endpoint = await eventually('the endpoint line', () => /export AWS_ENDPOINT_URL_EC2=(\S+)/.exec(stdout)?.[1], 30_000);
      const ec2 = new EC2Client({ region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      const out = await ec2.send(new DescribeRegionsCommand({}));
      ec2.destroy();
      expect(out.Regions?.map((r) => r.RegionName)).to.include.members(['us-east-1', 'eu-west-1']);
      // --start and --time-scale set the simulated clock
      const health = (await (await fetch(new URL('/_sim/healthz', endpoint))).json()) as { clock: { simStart: number; timeScale: number } };
      expect(health.clock).to.include({ simStart: Date.parse('2026-06-01T00:00:00Z'), timeScale: 60 });
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses bad flags with exit 2 and a message naming the flag', async () => {
    const bad = await runCli(['sim', '--time-scale', 'fast']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('--time-scale: must be a number > 0, got "fast"');
    const port = await runCli(['sim', '--port', '70000']);
    expect(port.code).to.equal(2);
    expect(port.stderr).to.contain('--port: must be a port number from 0 to 65535');
    const latency = await runCli(['sim', '--launch-latency', '30..10']);
    expect(latency.code).to.equal(2);
    expect(latency.stderr).to.contain('--launch-latency: must be N (fixed seconds), MIN..MAX (uniform) or lognormal:MEDIAN,SIGMA');
    const start = await runCli(['sim', '--start', 'yesterday']);
    expect(start.code).to.equal(2);
    expect(start.stderr).to.contain('--start: must be an ISO 8601 time');
  });
});
