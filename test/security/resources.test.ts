import { expect } from 'chai';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { PassThrough } from 'node:stream';
import ssh2 from 'ssh2';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { generateSecretKey, SecretBox } from '../../shared/secrets.js';
import { privateKeyContext } from '../../services/model/secrets.js';
import { createJobSecurity, FLEET_TAG, JOB_TAG, POLICY_NAME, resourceName, teardownJobSecurity } from '../../services/security/resources.js';
import type { CreateSecurityInput, JobSecurity } from '../../services/security/resources.js';
import { trustPolicy } from '../../services/model/policy.js';
import { waitFor } from '@spotbatch/simulator/testing';
import { newJobId, runInstance, startSecurityHarness } from './helpers.js';
import type { SecurityHarness } from './helpers.js';

const REGIONS = ['us-east-1', 'eu-west-1'];
const CIDR = '203.0.113.7/32';
const FAST_WAIT = { attempts: 3, delayMs: 50 };
/** The fleet (config.prefix) these resources are made for. */
const FLEET = 'spotbatch';

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('security resources (simulator)', function () {
  let s: SecurityHarness;
  let jobId: string;

  const input = (extra: Partial<CreateSecurityInput> = {}): CreateSecurityInput => ({
    fleet: FLEET,
    jobId,
    regions: REGIONS,
    ingressCidr: CIDR,
    tags: { team: 'genomics' },
    profileWait: FAST_WAIT,
    permissionsBoundary: s.boundary,
    ...extra,
  });

  beforeEach(async () => {
    s = await startSecurityHarness();
    jobId = newJobId();
  });
  afterEach(async () => {
    await s.close();
  });

  it('creates a key pair and a security group per region, a role and a profile, all tagged with the job', async () => {
    const sec = await createJobSecurity(s.cloud, s.secrets, input());
    const name = resourceName(FLEET, jobId);
    expect(name).to.equal(`spotbatch-${jobId}`);
    expect(sec).to.include({ jobId, roleName: name, instanceProfileName: name });
    expect(sec.instanceProfileArn).to.match(/^arn:aws:iam::\d{12}:instance-profile\/spotbatch\/spotbatch\/jobs\/spotbatch-/);
    expect(Object.keys(sec.regions).sort()).to.deep.equal([...REGIONS].sort());

    const inv = await s.ofJob(jobId);
    expect(inv.keyPairs.map((k) => k.region).sort()).to.deep.equal([...REGIONS].sort());
    expect(inv.securityGroups.map((g) => g.region).sort()).to.deep.equal([...REGIONS].sort());
    expect(inv.roles).to.have.length(1);
    expect(inv.instanceProfiles).to.have.length(1);
    expect(inv.roles[0]!.policies).to.deep.equal([POLICY_NAME]);
    expect(inv.instanceProfiles[0]!.roles).to.deep.equal([name]);
    for (const r of [...inv.keyPairs, ...inv.securityGroups, ...inv.roles, ...inv.instanceProfiles]) {
      expect(r.tags).to.deep.equal({ [FLEET_TAG]: FLEET, [JOB_TAG]: jobId, team: 'genomics' });
    }
    for (const region of REGIONS) {
      const rs = sec.regions[region]!;
      expect(inv.keyPairs.find((k) => k.region === region)).to.include({ keyPairId: rs.keyPairId, keyName: name, keyType: 'ed25519' });
      expect(inv.securityGroups.find((g) => g.region === region)).to.include({ groupId: rs.securityGroupId, groupName: name });
    }
    const profile = await s.cloud.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
    expect(profile.InstanceProfile!.Roles!.map((r) => r.RoleName)).to.deep.equal([name]);
  });

  it('the security group admits tcp/22 from the given CIDR only', async () => {
    const sec = await createJobSecurity(s.cloud, s.secrets, input());
    for (const region of REGIONS) {
      const out = await s.cloud
        .ec2(region)
        .send(new DescribeSecurityGroupsCommand({ GroupIds: [sec.regions[region]!.securityGroupId] }));
      const perms = out.SecurityGroups![0]!.IpPermissions!;
      expect(perms).to.have.length(1);
      expect(perms[0]).to.include({ IpProtocol: 'tcp', FromPort: 22, ToPort: 22 });
      expect(perms[0]!.IpRanges!.map((r) => r.CidrIp)).to.deep.equal([CIDR]);
      expect(perms[0]!.UserIdGroupPairs ?? []).to.deep.equal([]);
    }
  });

  it('keeps the private key encrypted; it decrypts to a key ssh2 accepts (ed25519 and rsa)', async () => {
    const sec = await createJobSecurity(s.cloud, s.secrets, input());
    const json = JSON.stringify(sec);
    expect(json).to.not.include('PRIVATE KEY');
    for (const region of REGIONS) {
      const pem = s.secrets.decrypt(sec.regions[region]!.privateKey, privateKeyContext(jobId, region));
      expect(pem).to.include('PRIVATE KEY');
      const key = ssh2.utils.parseKey(pem);
      expect(key).to.not.be.instanceOf(Error);
      expect((Array.isArray(key) ? key[0] : key)!.type).to.equal('ssh-ed25519');
    }
    const other = newJobId();
    const rsa = await createJobSecurity(s.cloud, s.secrets, { ...input(), jobId: other, regions: ['us-east-1'], keyType: 'rsa' });
    const key = ssh2.utils.parseKey(s.secrets.decrypt(rsa.regions['us-east-1']!.privateKey, privateKeyContext(other, 'us-east-1')));
    expect(key).to.not.be.instanceOf(Error);
    expect((Array.isArray(key) ? key[0] : key)!.type).to.equal('ssh-rsa');
  });

  it('twice with what was stored: the same resources, nothing duplicated', async () => {
    const first = await createJobSecurity(s.cloud, s.secrets, input());
    const second = await createJobSecurity(s.cloud, s.secrets, input({ existing: first }));
    // createdAt is when this run found everything ready (the start of IAM's propagation window for spot.request): later, never earlier.
    const { createdAt: firstAt, ...firstRest } = first;
    const { createdAt: secondAt, ...secondRest } = second;
    expect(secondRest).to.deep.equal(firstRest);
    expect(secondAt).to.be.at.least(firstAt!);
    const inv = await s.ofJob(jobId);
    expect([inv.keyPairs.length, inv.securityGroups.length, inv.roles.length, inv.instanceProfiles.length]).to.deep.equal([2, 2, 1, 1]);
  });

  it('twice without the stored private key: the key pairs are made again, the rest kept', async () => {
    const first = await createJobSecurity(s.cloud, s.secrets, input());
    const lost = { ...first, regions: { 'us-east-1': { ...first.regions['us-east-1']!, privateKey: undefined } } };
    const second = await createJobSecurity(s.cloud, s.secrets, input({ existing: lost }));
    for (const region of REGIONS) {
      expect(second.regions[region]!.keyPairId).to.not.equal(first.regions[region]!.keyPairId);
      expect(second.regions[region]!.securityGroupId).to.equal(first.regions[region]!.securityGroupId);
      expect(ssh2.utils.parseKey(s.secrets.decrypt(second.regions[region]!.privateKey, privateKeyContext(jobId, region)))).to.not.be.instanceOf(Error);
    }
    expect(second.instanceProfileArn).to.equal(first.instanceProfileArn);
    const inv = await s.ofJob(jobId);
    expect(inv.keyPairs.map((k) => k.keyPairId).sort()).to.deep.equal(REGIONS.map((r) => second.regions[r]!.keyPairId).sort());
    expect([inv.securityGroups.length, inv.roles.length, inv.instanceProfiles.length]).to.deep.equal([2, 1, 1]);
  });

  it('a stored key this secret key cannot open counts as lost: the key pair is made again', async () => {
    const first = await createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1'] }));
    const rotated = SecretBox.fromBase64(generateSecretKey());
    const second = await createJobSecurity(s.cloud, rotated, input({ regions: ['us-east-1'], existing: first }));
    expect(second.regions['us-east-1']!.keyPairId).to.not.equal(first.regions['us-east-1']!.keyPairId);
    expect(ssh2.utils.parseKey(rotated.decrypt(second.regions['us-east-1']!.privateKey, privateKeyContext(jobId, 'us-east-1')))).to.not.be.instanceOf(Error);
    expect((await s.ofJob(jobId)).keyPairs).to.have.length(1);
  });

  it("a private key copied from another job's row is bound to that job: it does not decrypt here and counts as lost", async () => {
    const first = await createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1'] }));
    const other = await createJobSecurity(s.cloud, s.secrets, { ...input({ regions: ['us-east-1'] }), jobId: newJobId() });
    const stolen = other.regions['us-east-1']!.privateKey;
    expect(stolen).to.include({ v: 2, kid: s.secrets.keyId });
    expect(() => s.secrets.decrypt(stolen, privateKeyContext(jobId, 'us-east-1'))).to.throw(PermanentError, /could not be decrypted/);
    expect(() => s.secrets.decrypt(first.regions['us-east-1']!.privateKey, privateKeyContext(jobId, 'eu-west-1'))).to.throw(PermanentError);
    const forged = { ...first, regions: { 'us-east-1': { ...first.regions['us-east-1']!, privateKey: stolen } } };
    const second = await createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1'], existing: forged }));
    expect(second.regions['us-east-1']!.keyPairId).to.not.equal(first.regions['us-east-1']!.keyPairId);
    expect(ssh2.utils.parseKey(s.secrets.decrypt(second.regions['us-east-1']!.privateKey, privateKeyContext(jobId, 'us-east-1')))).to.not.be.instanceOf(Error);
  });

  it('two runs at once (a duplicate delivery): no duplicates, and a retry with what was stored settles it', async () => {
    const results = await Promise.allSettled([createJobSecurity(s.cloud, s.secrets, input()), createJobSecurity(s.cloud, s.secrets, input())]);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(TransientError);
    const won = results.find((r) => r.status === 'fulfilled');
    const stored = won?.status === 'fulfilled' ? won.value : undefined;
    const final = await createJobSecurity(s.cloud, s.secrets, input(stored ? { existing: stored } : {}));
    const inv = await s.ofJob(jobId);
    expect([inv.keyPairs.length, inv.securityGroups.length, inv.roles.length, inv.instanceProfiles.length]).to.deep.equal([2, 2, 1, 1]);
    expect(inv.keyPairs.map((k) => k.keyPairId).sort()).to.deep.equal(REGIONS.map((r) => final.regions[r]!.keyPairId).sort());
  });

  it('an AWS error that cannot succeed is a PermanentError naming the action and the message', async () => {
    const err = await failure(createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1', 'xx-nowhere-1'] })));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.message).to.match(/^DescribeKeyPairs: AuthFailure: The region 'xx-nowhere-1' is not known/);
  });

  it('logs names and ids, never key material', async () => {
    const lines: string[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => lines.push(d.toString()));
    const log = createLogger({ format: 'json', level: 'debug', destination: sink });
    const sec = await createJobSecurity(s.cloud, s.secrets, input(), log);
    await createJobSecurity(s.cloud, s.secrets, input({ existing: sec }), log);
    await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: REGIONS }, log);
    await new Promise((r) => setImmediate(r));
    const text = lines.join('');
    expect(text).to.include('key pair created').and.include('security group deleted').and.include('role deleted');
    expect(text).to.not.include('PRIVATE KEY');
    for (const r of REGIONS) {
      const secret = sec.regions[r]!.privateKey;
      for (const part of [secret.data, secret.iv, secret.tag, s.secrets.decrypt(secret, privateKeyContext(jobId, r)).split('\n')[1]!]) expect(text).to.not.include(part);
    }
  });

  it('reports each new key pair through onKeyPair before it returns', async () => {
    const seen: string[] = [];
    const sec = await createJobSecurity(s.cloud, s.secrets, input({ onKeyPair: async (k) => void seen.push(`${k.region}:${k.keyPairId}`) }));
    expect(seen.sort()).to.deep.equal(REGIONS.map((r) => `${r}:${sec.regions[r]!.keyPairId}`).sort());
  });

  it('finishes what a partial run left (role made, group with a stray rule)', async () => {
    const name = resourceName(FLEET, jobId);
    await s.cloud.iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trustPolicy(), Tags: [{ Key: FLEET_TAG, Value: FLEET }, { Key: JOB_TAG, Value: jobId }] }));
    const ec2 = s.cloud.ec2('eu-west-1');
    const made = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: name,
        Description: 'partial',
        TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: FLEET_TAG, Value: FLEET }, { Key: JOB_TAG, Value: jobId }] }],
      }),
    );
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: made.GroupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      }),
    );
    const sec = await createJobSecurity(s.cloud, s.secrets, input());
    expect(sec.regions['eu-west-1']!.securityGroupId).to.equal(made.GroupId);
    const perms = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [made.GroupId!] }))).SecurityGroups![0]!.IpPermissions!;
    expect(perms.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges!.map((r) => r.CidrIp)])).to.deep.equal([['tcp', 22, 22, [CIDR]]]);
    const inv = await s.ofJob(jobId);
    expect([inv.keyPairs.length, inv.securityGroups.length, inv.roles.length, inv.instanceProfiles.length]).to.deep.equal([2, 2, 1, 1]);
    expect(inv.roles[0]!.policies).to.deep.equal([POLICY_NAME]);
  });

  it('refuses resources of another job with the same name, and of another fleet with the same job id', async () => {
    await s.cloud.iam.send(
      new CreateRoleCommand({ RoleName: resourceName(FLEET, jobId), AssumeRolePolicyDocument: trustPolicy(), Tags: [{ Key: FLEET_TAG, Value: FLEET }, { Key: JOB_TAG, Value: 'someone-else' }] }),
    );
    const err = await failure(createJobSecurity(s.cloud, s.secrets, input()));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.message).to.match(/not fleet spotbatch's job .*fleet spotbatch, job someone-else/);
    // Same job id, another fleet: the names differ (the fleet is in them), and a same-named group of the other fleet is not adopted.
    const other = newJobId();
    expect(resourceName('other', other)).to.not.equal(resourceName(FLEET, other));
    await s.cloud.ec2('us-east-1').send(
      new CreateSecurityGroupCommand({ GroupName: resourceName(FLEET, other), Description: 'another fleet', TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: FLEET_TAG, Value: 'other' }, { Key: JOB_TAG, Value: other }] }] }),
    );
    const foreign = await failure(createJobSecurity(s.cloud, s.secrets, input({ jobId: other, regions: ['us-east-1'] })));
    expect(foreign).to.be.instanceOf(PermanentError);
    expect(foreign.message).to.match(/security group .* not fleet spotbatch's .*fleet other/);
  });

  it('uses the CIDR exactly as given, 0.0.0.0/0 included when the caller passes it', async () => {
    const sec = await createJobSecurity(s.cloud, s.secrets, input({ ingressCidr: '0.0.0.0/0', regions: ['us-east-1'] }));
    const g = await s.cloud.ec2('us-east-1').send(new DescribeSecurityGroupsCommand({ GroupIds: [sec.regions['us-east-1']!.securityGroupId] }));
    expect(g.SecurityGroups![0]!.IpPermissions![0]!.IpRanges!.map((r) => r.CidrIp)).to.deep.equal(['0.0.0.0/0']);
  });

  it('refuses bad input before any AWS call', async () => {
    const before = await s.calls();
    const bad: Partial<CreateSecurityInput>[] = [
      { jobId: 'has space' },
      { jobId: 'x'.repeat(60) },
      { regions: [] },
      { regions: ['Nowhere'] },
      { ingressCidr: '10.0.0.1' },
      { ingressCidr: '300.0.0.0/8' },
      { ingressCidr: '10.0.0.0/33' },
      { tags: { 'aws:owner': 'x' } },
      { policyStatements: [{ Effect: 'Maybe', Action: 's3:*', Resource: '*' }] },
      { policyStatements: [{ Effect: 'Allow', Resource: '*' }] },
      { policyStatements: ['text'] },
      { keyType: 'dsa' as 'rsa' },
    ];
    for (const b of bad) {
      const err = await failure(createJobSecurity(s.cloud, s.secrets, input(b)));
      expect(err, JSON.stringify(b)).to.be.instanceOf(PermanentError);
    }
    expect(await s.calls()).to.equal(before);
  });

  it('the role: EC2 trust policy, and the inline policy with the spec statements', async function () {
    const statement = { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::bucket/in/*'] };
    await createJobSecurity(s.cloud, s.secrets, input({ policyStatements: [statement], regions: ['us-east-1'] }));
    const name = resourceName(FLEET, jobId);
    const role = await s.cloud.iam.send(new GetRoleCommand({ RoleName: name }));
    const trust = JSON.parse(decodeURIComponent(role.Role!.AssumeRolePolicyDocument!)) as { Statement: { Principal: unknown }[] };
    expect(trust.Statement[0]!.Principal).to.deep.equal({ Service: 'ec2.amazonaws.com' });
    let doc: string | undefined;
    try {
      doc = (await s.cloud.iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: POLICY_NAME }))).PolicyDocument;
    } catch (err) {
      if ((err as Error).name === 'InvalidAction') this.skip(); // a simulator without GetRolePolicy
      throw err;
    }
    const policy = JSON.parse(decodeURIComponent(doc!)) as { Statement: unknown[] };
    expect(policy.Statement).to.have.length(2);
    expect(policy.Statement[1]).to.deep.equal(statement);
  });

  it('teardown leaves nothing of the job; twice is fine', async () => {
    const other = newJobId();
    await createJobSecurity(s.cloud, s.secrets, input());
    await createJobSecurity(s.cloud, s.secrets, { ...input(), jobId: other });
    const { deleted } = await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: REGIONS });
    const name = resourceName(FLEET, jobId);
    expect(deleted).to.include.members([
      `key-pair:us-east-1:${name}`,
      `key-pair:eu-west-1:${name}`,
      `instance-profile:${name}`,
      `role-policy:${name}/${POLICY_NAME}`,
      `role:${name}`,
    ]);
    expect(deleted.filter((d) => d.startsWith('security-group:'))).to.have.length(2);
    expect(await s.ofJob(jobId)).to.deep.equal({ instances: [], securityGroups: [], keyPairs: [], roles: [], instanceProfiles: [] });
    expect((await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: REGIONS })).deleted).to.deep.equal([]);
    const kept = await s.ofJob(other);
    expect([kept.keyPairs.length, kept.securityGroups.length, kept.roles.length, kept.instanceProfiles.length]).to.deep.equal([2, 2, 1, 1]);
  });

  it('teardown removes the role from any other profile that holds it (DeleteConflict)', async () => {
    await createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1'] }));
    const foreign = `other-${jobId}`;
    await s.cloud.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: foreign }));
    await s.cloud.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: foreign, RoleName: resourceName(FLEET, jobId) }));
    const { deleted } = await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: ['us-east-1'] });
    expect(deleted).to.include(`role:${resourceName(FLEET, jobId)}`);
    expect(await s.ofJob(jobId)).to.deep.equal({ instances: [], securityGroups: [], keyPairs: [], roles: [], instanceProfiles: [] });
    const left = await s.cloud.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: foreign }));
    expect(left.InstanceProfile!.Roles ?? []).to.deep.equal([]);
  });

  it('teardown of a job that never started is fine', async () => {
    expect((await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: REGIONS })).deleted).to.deep.equal([]);
    expect((await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: [] })).deleted).to.deep.equal([]);
  });

  it('teardown while an instance uses the group: TransientError; after the instance ends it succeeds', async () => {
    const sec: JobSecurity = await createJobSecurity(s.cloud, s.secrets, input({ regions: ['us-east-1'] }));
    const rs = sec.regions['us-east-1']!;
    const ec2 = s.cloud.ec2('us-east-1');
    const instanceId = await runInstance(s.cloud, 'us-east-1', { KeyName: rs.keyName, SecurityGroupIds: [rs.securityGroupId], IamInstanceProfile: { Arn: sec.instanceProfileArn } });

    const err = await failure(teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: ['us-east-1'] }));
    expect(err).to.be.instanceOf(TransientError);
    expect(err.message).to.match(/DeleteSecurityGroup: sg-\w+ in us-east-1 is still in use \(DependencyViolation\)/);
    const mid = await s.ofJob(jobId);
    expect(mid.keyPairs).to.have.length(0);
    expect(mid.securityGroups).to.have.length(1);
    expect([mid.roles.length, mid.instanceProfiles.length], 'IAM kept while an instance may need it').to.deep.equal([1, 1]);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    await waitFor('the instance to terminate', async () => {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      return d.Reservations![0]!.Instances![0]!.State!.Name === 'terminated' ? true : undefined;
    });
    await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: ['us-east-1'] });
    expect(await s.ofJob(jobId)).to.deep.equal({ instances: [], securityGroups: [], keyPairs: [], roles: [], instanceProfiles: [] });
  });

  it('throttling is a TransientError, for create and teardown; a retry then completes', async () => {
    await s.h.admin('POST', '/_sim/faults', { throttleRate: 1, throttleActions: ['CreateKeyPair', 'DescribeKeyPairs', 'CreateRole'] });
    const err = await failure(createJobSecurity(s.cloud, s.secrets, input()));
    expect(err).to.be.instanceOf(TransientError);
    expect(err.message).to.match(/^(CreateKeyPair|DescribeKeyPairs|CreateRole): (RequestLimitExceeded|Throttling)/);

    await s.h.admin('POST', '/_sim/faults', { throttleRate: 1, throttleActions: ['GetInstanceProfile'] });
    const iamErr = await failure(createJobSecurity(s.cloud, s.secrets, input()));
    expect(iamErr).to.be.instanceOf(TransientError);
    expect(iamErr.message).to.match(/^GetInstanceProfile: Throttling/);

    await s.h.admin('POST', '/_sim/faults', {});
    const sec = await createJobSecurity(s.cloud, s.secrets, input());
    await s.h.admin('POST', '/_sim/faults', { throttleRate: 1, throttleActions: ['DeleteSecurityGroup'] });
    const tErr = await failure(teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: REGIONS }));
    expect(tErr).to.be.instanceOf(TransientError);
    expect(tErr.message).to.match(/^DeleteSecurityGroup: RequestLimitExceeded/);
    await s.h.admin('POST', '/_sim/faults', {});
    await teardownJobSecurity(s.cloud, { fleet: FLEET, jobId, regions: Object.keys(sec.regions) });
    expect(await s.ofJob(jobId)).to.deep.equal({ instances: [], securityGroups: [], keyPairs: [], roles: [], instanceProfiles: [] });
  });
});
