/**
 * `spotbatch doctor` against `spotbatch local`'s pieces: the SQS and DynamoDB emulators set up for a prefix,
 * the simulator as EC2 and IAM (with the fleet's default boundary), a local artifact store and checkpoint store.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteQueueCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { STSClient } from '@aws-sdk/client-sts';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { startSimulator, type Simulator } from '@spotbatch/simulator';
import { createCloudClients, destroyClients, type CloudClients, type CoreClients } from '../../shared/aws.js';
import type { Config } from '../../shared/config.js';
import { setup } from '../../shared/setup.js';
import type { Emulators } from '../../services/local/emulators.js';
import { ensureDefaultBoundary } from '../../services/security/boundary.js';
import { anyFailed, principalArn, policyAllowsEvents, runDoctor, type CheckResult } from '../../services/ops/doctor.js';
import { TEST_CREDENTIALS, clientsFor, testConfig, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { emulatorEnv, runCli } from '../helpers/cli.js';

describe('spotbatch doctor', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let sim: Simulator;
  let core: CoreClients;
  let cloud: CloudClients;
  let s3: S3Client;
  let dir: string;
  let prefix: string;
  let config: Config;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    emu = await testEmulators();
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-doctor-'));
    prefix = uniquePrefix();
    config = testConfig(prefix, { artifacts: `local:${path.join(dir, 'artifacts')}`, checkpoint: { stores: { default: { type: 'local', dir: path.join(dir, 'checkpoints') } } } });
    core = clientsFor(emu);
    const { queues } = await setup(core, config);
    sim = await startSimulator({ port: 0, sshPort: 0, eventsQueueUrl: queues.main.events, sandboxRoot: path.join(dir, 'sim') });
    cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: sim.endpoint, iam: sim.endpoint }, credentials: TEST_CREDENTIALS });
    await ensureDefaultBoundary(cloud.iam, prefix);
    s3 = new S3Client({ region: 'us-east-1', credentials: TEST_CREDENTIALS });
    env = {
      ...emulatorEnv(emu, prefix),
      AWS_ENDPOINT_URL_EC2: sim.endpoint,
      AWS_ENDPOINT_URL_IAM: sim.endpoint,
      SPOTBATCH_ARTIFACTS: `local:${path.join(dir, 'artifacts')}`,
      SPOTBATCH_MAX_RECEIVE_COUNT: '3',
    };
  });

  after(async () => {
    destroyClients(core);
    cloud.iam.destroy();
    s3.destroy();
    await sim.stop();
    await emu.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const doctor = () =>
    runDoctor({
      config,
      core,
      cloud,
      s3,
      // Never asked in local mode: made only so that a wrong branch would fail loudly (no STS or EventBridge here).
      sts: () => new STSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: TEST_CREDENTIALS, maxAttempts: 1 }),
      events: (region) => new EventBridgeClient({ region, endpoint: 'http://127.0.0.1:9', credentials: TEST_CREDENTIALS, maxAttempts: 1 }),
      emulated: true,
      endpoints: { ...emu.endpoints, ec2: sim.endpoint, iam: sim.endpoint },
    });
  const byName = (results: CheckResult[], name: string): CheckResult => {
    const hit = results.find((r) => r.name === name);
    expect(hit, `check ${name} in ${results.map((r) => r.name).join(', ')}`).to.not.equal(undefined);
    return hit!;
  };

  it('passes every check of a set-up local stack, or skips it with the reason', async () => {
    const results = await doctor();
    const failed = results.filter((r) => r.status === 'fail');
    expect(failed, JSON.stringify(failed)).to.deep.equal([]);
    expect(anyFailed(results)).to.equal(false);
    for (const kind of ['master', 'request', 'events']) expect(byName(results, `queue ${prefix}-${kind}`).detail).to.contain(`${prefix}-${kind}-dlq`).and.contain('3 receives');
    for (const t of ['jobs', 'tasks', 'events', 'leases', 'market']) expect(byName(results, `table ${prefix}-${t}`).status).to.equal('pass');
    expect(byName(results, `table ${prefix}-jobs`).detail).to.contain('open-due').and.contain('job-list');
    expect(byName(results, 'artifact store').status).to.equal('pass');
    expect(byName(results, 'checkpoint store default').status).to.equal('pass');
    expect(byName(results, 'events').detail).to.contain('simulator');
    expect(byName(results, 'permissions boundary').detail).to.contain(`${prefix}-job-boundary`);
    expect(byName(results, 'permission ec2:RunInstances').status).to.equal('pass');
    const simulated = byName(results, 'permission iam (simulated)');
    expect(simulated.status).to.equal('skip');
    expect(simulated.detail).to.match(/SimulatePrincipalPolicy/);
    for (const r of results.filter((x) => x.status === 'skip')) expect(r.detail, r.name).to.have.length.greaterThan(10);
    // Nothing secret on the page: the credentials' values never appear.
    expect(JSON.stringify(results)).to.not.contain(TEST_CREDENTIALS.secretAccessKey + '"');
  });

  it('the command exits 0 and prints the table', async () => {
    const r = await runCli(['doctor'], env, 90_000);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/PASS\s+queue \S+-master/);
    expect(r.stdout).to.match(/SKIP\s+permission iam \(simulated\)/);
    expect(r.stdout).to.match(/0 failed/);
  });

  it('with a queue and a table deleted: those checks fail with their fixes, and the command exits 1', async () => {
    const { QueueUrl } = await core.sqs.send(new GetQueueUrlCommand({ QueueName: `${prefix}-request` }));
    await core.sqs.send(new DeleteQueueCommand({ QueueUrl }));
    await core.dynamodb.send(new DeleteTableCommand({ TableName: `${prefix}-leases` }));
    const results = await doctor();
    const failed = results.filter((r) => r.status === 'fail').map((r) => r.name);
    expect(failed).to.have.members([`queue ${prefix}-request`, `table ${prefix}-leases`]);
    for (const name of failed) expect(byName(results, name).fix).to.contain('spotbatch setup');
    expect(byName(results, `queue ${prefix}-request`).detail).to.contain('does not exist');
    expect(byName(results, `queue ${prefix}-master`).status).to.equal('pass');

    const r = await runCli(['doctor', '--json'], env, 90_000);
    expect(r.code, r.stderr).to.equal(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(out.ok).to.equal(false);
    expect(out.checks.filter((c) => c.status === 'fail').map((c) => c.name)).to.have.members(failed);
  });
});

describe('doctor helpers', () => {
  it('reads an assumed-role session as its role, for the policy simulation', () => {
    expect(principalArn('arn:aws:sts::123456789012:assumed-role/spotbatch-dispatcher/ecs-task-1')).to.equal('arn:aws:iam::123456789012:role/spotbatch-dispatcher');
    expect(principalArn('arn:aws:iam::123456789012:user/ops')).to.equal('arn:aws:iam::123456789012:user/ops');
  });

  it('tells a queue policy that lets EventBridge send from one that does not', () => {
    const allow = { Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:us-east-1:1:x-events' }] };
    expect(policyAllowsEvents(JSON.stringify(allow))).to.equal(true);
    expect(policyAllowsEvents(JSON.stringify({ Statement: [{ ...allow.Statement[0], Effect: 'Deny' }] }))).to.equal(false);
    expect(policyAllowsEvents(JSON.stringify({ Statement: [{ ...allow.Statement[0], Principal: { Service: 'sns.amazonaws.com' } }] }))).to.equal(false);
    expect(policyAllowsEvents(undefined)).to.equal(false);
  });
});
