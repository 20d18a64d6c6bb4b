/**
 * `spotbatch cleanup` after a fleet was killed half-way through a job: the dispatchers stop while the job's
 * instances run, so nothing tears the job down; cleanup must find and delete what it left (the simulator's
 * /_sim/inventory is the judge), list without deleting in a dry run, and keep a running job's resources
 * under --all unless --job names that job. Another fleet's resources (same account, same job id) are never
 * touched; an orphan is kept for a grace age; a job whose row appears after the scan is kept.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateKeyPairCommand, DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import { CreateRoleCommand, GetRoleCommand } from '@aws-sdk/client-iam';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { tableNames } from '../../shared/store/tables.js';
import { trustPolicy } from '../../services/model/policy.js';
import { jobIamPath, resourceName } from '../../services/security/names.js';
import { destroyClients, type CoreClients } from '../../shared/aws.js';
import { cleanup, type CleanupReport } from '../../services/ops/cleanup.js';
import { leftovers, startStack, type Stack } from '../helpers/stack.js';
import { clientsFor, eventually } from '../helpers/fleet.js';
import { cliEnv, runCli } from '../helpers/cli.js';
import type { RunningDispatcher } from '../../services/dispatcher/fleet.js';

describe('spotbatch cleanup', function () {
  this.timeout(240_000);
  let stack: Stack;
  let core: CoreClients;
  let dispatcher: RunningDispatcher | undefined;
  let jobId: string;
  let dir: string;
  const orphan = `orphan-${process.pid}`;
  const late = `late-${process.pid}`;
  const OTHER = 'otherfleet';
  const tags = (fleet: string, job: string) => [
    { Key: 'spotbatch:fleet', Value: fleet },
    { Key: 'spotbatch:job', Value: job },
  ];
  /** The key pairs of the other fleet, and its role for the same job id as ours: what no cleanup of this fleet may touch. */
  const otherFleet = async () => {
    const keys = await stack.cloud.ec2('us-east-1').send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'tag:spotbatch:fleet', Values: [OTHER] }] }));
    const role = await stack.cloud.iam.send(new GetRoleCommand({ RoleName: resourceName(OTHER, jobId) })).catch(() => undefined);
    return { keys: (keys.KeyPairs ?? []).map((k) => k.KeyName).sort(), role: role?.Role?.RoleName };
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-cleanup-'));
    stack = await startStack({ dispatchers: 0, config: { checkpoint: { stores: { default: { type: 'local', dir } } } } });
    dispatcher = await stack.fleet.start('killed');
    jobId = await stack.submit({ name: 'killed half-way', tasks: { count: 2 }, steps: [{ run: 'sleep 600' }], instances: { types: ['m5.large'], regions: ['us-east-1'] } });
    await eventually('both steps running', async () => (await stack.tasks(jobId)).filter((t) => t.state === 'running').length === 2, 120_000, 250);
    // The fleet is killed: nothing will cancel, terminate or tear down the job's resources.
    await dispatcher.stop();
    dispatcher = undefined;
    core = clientsFor(stack.emu);
    const prefix = stack.fleet.config.prefix;
    // An orphan: a key pair of a job the fleet has no row for, and a checkpoint folder of one.
    await stack.cloud.ec2('us-east-1').send(new CreateKeyPairCommand({ KeyName: resourceName(prefix, orphan), TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags(prefix, orphan) }] }));
    // Another fleet in the same account: the same job ids as ours (the running job's, the orphan's), its own tag and names.
    for (const job of [jobId, orphan]) {
      await stack.cloud.ec2('us-east-1').send(new CreateKeyPairCommand({ KeyName: resourceName(OTHER, job), TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags(OTHER, job) }] }));
    }
    await stack.cloud.iam.send(new CreateRoleCommand({ RoleName: resourceName(OTHER, jobId), Path: jobIamPath(OTHER), AssumeRolePolicyDocument: trustPolicy(), Tags: tags(OTHER, jobId) }));
    mkdirSync(path.join(dir, orphan, '0000', 'v000000000000001-00000000'), { recursive: true });
    writeFileSync(path.join(dir, orphan, '0000', 'latest'), '{}');
  });

  after(async () => {
    await dispatcher?.stop();
    if (core) destroyClients(core);
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (options: Parameters<typeof cleanup>[1]): Promise<CleanupReport> => cleanup({ config: stack.fleet.config, core, cloud: stack.cloud }, options);
  const kinds = (list: string[]) => [...new Set(list.map((l) => l.split(':')[0]))].sort();

  it('lists without deleting in a dry run: the inventory is unchanged, the listing names every resource', async () => {
    const before = await leftovers(stack, jobId);
    expect(kinds(before)).to.include.members(['instances', 'keyPairs', 'securityGroups', 'roles', 'instanceProfiles']);
    const report = await run({ jobId, dryRun: true });
    expect(await leftovers(stack, jobId)).to.deep.equal(before);
    const listed = report.items.filter((i) => i.jobId === jobId);
    expect(listed.every((i) => i.outcome === 'would-delete')).to.equal(true);
    const inv = await stack.inventory();
    const ids = new Set(listed.map((i) => i.id));
    for (const i of inv.instances!.filter((x) => x.tags?.['spotbatch:job'] === jobId)) expect(ids, String(i.instanceId)).to.include(i.instanceId);
    for (const g of inv.securityGroups!.filter((x) => x.tags?.['spotbatch:job'] === jobId)) expect(ids).to.include(g.groupId);
    expect(listed.map((i) => i.kind)).to.include.members(['instance', 'security-group', 'key-pair', 'role', 'instance-profile']);
    expect(report.items.some((i) => i.jobId === orphan)).to.equal(false);
  });

  it('--all keeps a fresh orphan for the grace age, and never touches another fleet\'s resources', async () => {
    const others = await otherFleet();
    expect(others.keys).to.have.length(2);
    expect(others.role).to.equal(resourceName(OTHER, jobId));
    const report = await run({ all: true });
    expect(report.failed, JSON.stringify(report.items)).to.equal(0);
    const orphans = report.items.filter((i) => i.jobId === orphan);
    expect(orphans.map((i) => i.outcome)).to.deep.equal(['kept', 'kept']);
    for (const i of orphans) expect(i.reason).to.contain('grace');
    expect(await leftovers(stack, orphan)).to.have.length(2);
    expect(existsSync(path.join(dir, orphan))).to.equal(true);
    expect(await otherFleet()).to.deep.equal(others);
  });

  it('--all --older-than 0 deletes the orphan and keeps the running job\'s resources and the other fleet\'s', async () => {
    const others = await otherFleet();
    const before = await leftovers(stack, jobId);
    const report = await run({ all: true, olderThanMs: 0 });
    expect(report.failed, JSON.stringify(report.items)).to.equal(0);
    expect(await leftovers(stack, jobId)).to.deep.equal(before);
    const kept = report.items.filter((i) => i.jobId === jobId);
    expect(kept.length).to.be.greaterThan(0);
    for (const i of kept) {
      expect(i.outcome).to.equal('kept');
      expect(i.reason).to.contain('running').and.contain('--job');
    }
    expect(report.items.filter((i) => i.jobId === orphan).map((i) => [i.kind, i.outcome])).to.deep.equal([
      ['checkpoint', 'deleted'],
      ['key-pair', 'deleted'],
    ]);
    // The other fleet's key pair for the orphan's job id stays (leftovers sees it by the job tag alone).
    expect((await leftovers(stack, orphan)).filter((l) => !l.includes(OTHER))).to.deep.equal([]);
    expect(existsSync(path.join(dir, orphan))).to.equal(false);
    expect(await otherFleet()).to.deep.equal(others);
  });

  it('keeps the resources of a job whose row appears after the scan (read again, consistently, before deleting)', async () => {
    // A key pair of a job whose row shows up only after cleanup looked (submitted meanwhile).
    const prefix = stack.fleet.config.prefix;
    await stack.cloud.ec2('us-east-1').send(new CreateKeyPairCommand({ KeyName: resourceName(prefix, late), TagSpecifications: [{ ResourceType: 'key-pair', Tags: tags(prefix, late) }] }));
    const report = await run({
      all: true,
      olderThanMs: 0,
      dryRun: false,
      afterFind: async () => {
        await core.ddb.send(new PutCommand({ TableName: tableNames(stack.fleet.config.prefix).jobs, Item: { jobId: late, state: 'running', submittedAt: Date.now() } }));
      },
    });
    const mine = report.items.filter((i) => i.jobId === late);
    expect(mine.map((i) => [i.kind, i.outcome])).to.deep.equal([['key-pair', 'kept']]);
    expect(mine[0]!.reason).to.contain('read again');
    expect(await leftovers(stack, late)).to.have.length(1);
  });

  it('--job deletes the running job\'s resources: the inventory of the job is empty afterwards (the command, exit 0)', async () => {
    const r = await runCli(['cleanup', '--job', jobId, '--json'], { ...cliEnv(stack), AWS_ENDPOINT_URL_EC2: stack.sim.endpoint, AWS_ENDPOINT_URL_IAM: stack.sim.endpoint }, 200_000);
    expect(r.code, r.stderr).to.equal(0);
    // The job still runs (by its row): it is cancelled first, so that no dispatcher launches it again.
    expect(r.stderr).to.contain(`${jobId} was running: cancelled it first`);
    const report = JSON.parse(r.stdout) as CleanupReport;
    expect(report.failed).to.equal(0);
    expect(report.items.map((i) => i.jobId)).to.satisfy((ids: string[]) => ids.every((id) => id === jobId));
    expect(report.items.map((i) => i.kind)).to.include.members(['instance', 'security-group', 'key-pair', 'role', 'instance-profile']);
    expect(report.items.every((i) => i.outcome === 'deleted')).to.equal(true);
    // Only the other fleet's key pair and role of the same job id are left.
    expect((await leftovers(stack, jobId)).map((l) => l.split(':')[0]).sort()).to.deep.equal(['keyPairs', 'roles']);
    expect((await otherFleet()).role).to.equal(resourceName(OTHER, jobId));
  });

  it('refuses to run without --job or --all (exit 2)', async () => {
    const r = await runCli(['cleanup'], cliEnv(stack), 60_000);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('--job JOB').and.contain('--all');
  });
});
