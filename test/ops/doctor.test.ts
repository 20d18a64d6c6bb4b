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
import { CreateRoleCommand } from '@aws-sdk/client-iam';
import { awsCode } from '../../shared/aws-errors.js';
import {
  DISPATCHER_ROLE_PATH,
  anyFailed,
  dispatcherRole,
  dispatcherRoleName,
  policyAllowsEvents,
  roleArn,
  roleNameOf,
  runDoctor,
  sessionRoleName,
  simulationAsks,
  type CheckResult,
} from '../../services/ops/doctor.js';
import { parseTemplate, read } from '../deploy/cfn.js';
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

  it("finds the dispatchers' role by IAM GetRole, its ARN with the template's path (the simulator serves GetRole, not SimulatePrincipalPolicy)", async () => {
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
    const made = (await cloud.iam.send(new CreateRoleCommand({ RoleName: dispatcherRoleName(prefix), Path: DISPATCHER_ROLE_PATH, AssumeRolePolicyDocument: trust }))).Role!;
    expect(made.Arn).to.match(new RegExp(`:role/spotbatch/${prefix}-dispatcher$`));
    expect(await dispatcherRole(cloud.iam, prefix)).to.deep.equal({ name: `${prefix}-dispatcher`, arn: made.Arn });
    expect((await dispatcherRole(cloud.iam, prefix, made.Arn)).arn).to.equal(made.Arn);
    expect((await dispatcherRole(cloud.iam, prefix, `${prefix}-dispatcher`)).arn).to.equal(made.Arn);
    const missing = await dispatcherRole(cloud.iam, prefix, 'no-such-dispatcher').catch((err: unknown) => err);
    expect(awsCode(missing)).to.match(/^NoSuchEntity/);
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
  it('builds a role ARN with its path (SimulatePrincipalPolicy finds no role without it), and reads role names from ARNs and sessions', () => {
    expect(roleArn('aws', '123456789012', 'spotbatch-dispatcher', DISPATCHER_ROLE_PATH)).to.equal('arn:aws:iam::123456789012:role/spotbatch/spotbatch-dispatcher');
    expect(roleArn('aws-cn', '123456789012', 'r', 'a/b')).to.equal('arn:aws-cn:iam::123456789012:role/a/b/r');
    expect(roleArn('aws', '123456789012', 'r')).to.equal('arn:aws:iam::123456789012:role/r');
    expect(roleNameOf('arn:aws:iam::123456789012:role/spotbatch/spotbatch-dispatcher')).to.equal('spotbatch-dispatcher');
    expect(roleNameOf('spotbatch-dispatcher')).to.equal('spotbatch-dispatcher');
    expect(sessionRoleName('arn:aws:sts::123456789012:assumed-role/spotbatch-dispatcher/ecs-task-1')).to.equal('spotbatch-dispatcher');
    expect(sessionRoleName('arn:aws:iam::123456789012:user/ops')).to.equal(undefined);
  });

  it("looks for the dispatchers' role where the template makes it (DispatcherTaskRole's path and name)", () => {
    const role = parseTemplate('deploy/cloudformation.yaml').Resources.DispatcherTaskRole!.Properties as { Path: string; RoleName: unknown };
    expect(role.Path).to.equal(DISPATCHER_ROLE_PATH);
    expect(role.RoleName).to.deep.equal({ 'Fn::Sub': dispatcherRoleName('${Prefix}') });
  });

  it('simulates with every context key the dispatcher policy\'s conditions read, and the tag actions', () => {
    const policy = JSON.parse(read('deploy/iam/dispatcher-policy.json')) as { Statement: Array<{ Action: string | string[]; Condition?: Record<string, Record<string, unknown>> }> };
    const asks = simulationAsks('aws', '123456789012', 'us-east-1', 'arn:aws:iam::123456789012:policy/spotbatch/x-job-boundary', 'spotbatch');
    const given = new Set(asks.flatMap((a) => a.context.map((c) => c.ContextKeyName!)));
    const simulated = new Set(asks.flatMap((a) => a.actions));
    for (const st of policy.Statement) {
      // The Spot service-linked role is made once per account by AWS, not per job: not simulated.
      if ([st.Action].flat().includes('iam:CreateServiceLinkedRole')) continue;
      for (const key of Object.values(st.Condition ?? {}).flatMap((c) => Object.keys(c))) if (!/spotbatch:probe/.test(key)) expect(given, key).to.include(key);
    }
    for (const a of ['iam:PassRole', 'iam:CreateRole', 'iam:TagRole', 'iam:TagInstanceProfile', 'ec2:CreateTags', 'ec2:RunInstances', 'ec2:TerminateInstances']) expect(simulated, a).to.include(a);
    const pass = asks.find((a) => a.actions.includes('iam:PassRole'))!;
    expect(pass.context).to.deep.include({ ContextKeyName: 'iam:PassedToService', ContextKeyType: 'string', ContextKeyValues: ['ec2.amazonaws.com'] });
    expect(asks.find((a) => a.actions.includes('iam:CreateRole'))!.context.map((c) => c.ContextKeyName)).to.include.members(['iam:PermissionsBoundary', 'aws:RequestTag/spotbatch:job']);
  });

  it('tells a queue policy that lets EventBridge send from one that does not', () => {
    const allow = { Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:us-east-1:1:x-events' }] };
    expect(policyAllowsEvents(JSON.stringify(allow))).to.equal(true);
    expect(policyAllowsEvents(JSON.stringify({ Statement: [{ ...allow.Statement[0], Effect: 'Deny' }] }))).to.equal(false);
    expect(policyAllowsEvents(JSON.stringify({ Statement: [{ ...allow.Statement[0], Principal: { Service: 'sns.amazonaws.com' } }] }))).to.equal(false);
    expect(policyAllowsEvents(undefined)).to.equal(false);
  });
});
