import { expect } from 'chai';
import { GetPolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import { emulatorEnv, runCli } from '../helpers/cli.js';
import { testEmulators, uniquePrefix } from '../helpers/fleet.js';
import type { Emulators } from '../../services/local/emulators.js';
import { startSimulator, type Simulator } from '@spotbatch/simulator';

describe('spotbatch setup: the default permissions boundary (emulators + simulator IAM)', function () {
  this.timeout(180_000);
  let emu: Emulators;
  let sim: Simulator;
  before(async () => {
    emu = await testEmulators();
    sim = await startSimulator({ port: 0, sshPort: 0 });
  });
  after(async () => {
    await sim?.stop();
    await emu?.stop();
  });

  it('creates it once; a second setup finds it and changes nothing; a configured one that does not exist exits 2 naming the setting', async () => {
    const prefix = uniquePrefix();
    const env = { ...emulatorEnv(emu, prefix), AWS_ENDPOINT_URL_IAM: sim.endpoint };
    const first = await runCli(['setup', '--json'], env);
    expect(first.code, first.stderr).to.equal(0);
    const made = JSON.parse(first.stdout).permissionsBoundary as { arn: string; created: boolean; configured: boolean };
    expect(made).to.deep.equal({ arn: `arn:aws:iam::123456789012:policy/spotbatch/${prefix}-job-boundary`, created: true, configured: false });

    const second = await runCli(['setup'], env);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout).to.contain(`permissions boundary: ${made.arn} (present); dispatchers need SPOTBATCH_PERMISSIONS_BOUNDARY=${made.arn}`);
    const stats = (await (await fetch(`${sim.endpoint}/_sim/stats`)).json()) as { calls: Record<string, Record<string, number>> };
    expect(Object.values(stats.calls.CreatePolicy ?? {}).reduce((a, b) => a + b, 0)).to.equal(1);
    const iam = new IAMClient({ endpoint: sim.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    try {
      expect((await iam.send(new GetPolicyCommand({ PolicyArn: made.arn }))).Policy!.PolicyName).to.equal(`${prefix}-job-boundary`);
    } finally {
      iam.destroy();
    }

    const configured = await runCli(['setup', '--json'], { ...env, SPOTBATCH_PERMISSIONS_BOUNDARY: made.arn });
    expect(configured.code, configured.stderr).to.equal(0);
    expect(JSON.parse(configured.stdout).permissionsBoundary).to.deep.equal({ arn: made.arn, configured: true, created: false });
    const missing = await runCli(['setup'], { ...env, SPOTBATCH_PERMISSIONS_BOUNDARY: 'arn:aws:iam::123456789012:policy/missing' });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('security.permissionsBoundary (SPOTBATCH_PERMISSIONS_BOUNDARY)');
  });
});
