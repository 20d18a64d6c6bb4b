import { expect } from 'chai';
import {
  CreatePolicyCommand,
  CreateRoleCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  GetPolicyCommand,
  GetRoleCommand,
  ListPoliciesCommand,
  PutRolePermissionsBoundaryCommand,
} from '@aws-sdk/client-iam';
import { loadConfig } from '../../shared/config.js';
import { PermanentError } from '../../shared/errors.js';
import { awsCode } from '../../shared/aws-errors.js';
import { boundaryPolicyName, defaultBoundaryDocument, setupBoundary } from '../../services/security/boundary.js';
import { createJobSecurity, JOB_TAG, resourceName } from '../../services/security/resources.js';
import { trustPolicy } from '../../services/model/policy.js';
import { newJobId, startSecurityHarness, type SecurityHarness } from './helpers.js';

async function failure(p: Promise<unknown>): Promise<Error & { $metadata?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'iam:*', Resource: '*' }] });

describe('permissions boundary of job roles (simulator)', function () {
  let s: SecurityHarness;
  beforeEach(async () => {
    s = await startSecurityHarness();
  });
  afterEach(async () => {
    await s.close();
  });

  const callsOf = async (action: string): Promise<number> => {
    const stats = (await s.h.admin<{ calls: Record<string, Record<string, number>> }>('GET', '/_sim/stats')).body;
    return Object.values(stats.calls[action] ?? {}).reduce((a, b) => a + b, 0);
  };

  it('answers CreatePolicy, GetPolicy, ListPolicies and DeletePolicy in the shapes the SDK reads', async () => {
    const created = (await s.cloud.iam.send(new CreatePolicyCommand({ PolicyName: 'b1', Path: '/t/', PolicyDocument: doc, Description: 'd', Tags: [{ Key: 'k', Value: 'v' }] }))).Policy!;
    expect(created).to.include({ PolicyName: 'b1', Path: '/t/', Arn: 'arn:aws:iam::123456789012:policy/t/b1', DefaultVersionId: 'v1', AttachmentCount: 0, PermissionsBoundaryUsageCount: 0, IsAttachable: true, Description: 'd' });
    expect(created.PolicyId).to.match(/^ANPA[A-Z0-9]{17}$/);
    expect(created.CreateDate).to.be.instanceOf(Date);
    expect(created.Tags).to.deep.equal([{ Key: 'k', Value: 'v' }]);
    const got = (await s.cloud.iam.send(new GetPolicyCommand({ PolicyArn: created.Arn }))).Policy!;
    expect(got.PolicyId).to.equal(created.PolicyId);
    const listed = await s.cloud.iam.send(new ListPoliciesCommand({ Scope: 'Local', PathPrefix: '/t/' }));
    expect(listed.Policies!.map((p) => p.Arn)).to.deep.equal([created.Arn]);
    expect(listed.IsTruncated).to.equal(false);
    expect(awsCode(await failure(s.cloud.iam.send(new CreatePolicyCommand({ PolicyName: 'b1', PolicyDocument: doc }))))).to.equal('EntityAlreadyExists');
    await s.cloud.iam.send(new DeletePolicyCommand({ PolicyArn: created.Arn }));
    expect(awsCode(await failure(s.cloud.iam.send(new GetPolicyCommand({ PolicyArn: created.Arn }))))).to.equal('NoSuchEntity');
  });

  it('CreateRole takes the boundary, GetRole shows it, a policy in use cannot go, an unknown boundary is NoSuchEntity', async () => {
    const policy = (await s.cloud.iam.send(new CreatePolicyCommand({ PolicyName: 'b2', PolicyDocument: doc }))).Policy!;
    const made = await s.cloud.iam.send(new CreateRoleCommand({ RoleName: 'r1', AssumeRolePolicyDocument: trustPolicy(), PermissionsBoundary: policy.Arn }));
    const expected = { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: policy.Arn };
    expect(made.Role!.PermissionsBoundary).to.deep.equal(expected);
    expect((await s.cloud.iam.send(new GetRoleCommand({ RoleName: 'r1' }))).Role!.PermissionsBoundary).to.deep.equal(expected);
    expect((await s.cloud.iam.send(new GetPolicyCommand({ PolicyArn: policy.Arn }))).Policy!.PermissionsBoundaryUsageCount).to.equal(1);
    expect(awsCode(await failure(s.cloud.iam.send(new DeletePolicyCommand({ PolicyArn: policy.Arn }))))).to.equal('DeleteConflict');

    const missing = 'arn:aws:iam::123456789012:policy/nope';
    const err = await failure(s.cloud.iam.send(new CreateRoleCommand({ RoleName: 'r2', AssumeRolePolicyDocument: trustPolicy(), PermissionsBoundary: missing })));
    expect(awsCode(err)).to.equal('NoSuchEntity');
    expect(err.message).to.contain(missing);
    expect(awsCode(await failure(s.cloud.iam.send(new GetRoleCommand({ RoleName: 'r2' }))))).to.equal('NoSuchEntity');

    await s.cloud.iam.send(new CreateRoleCommand({ RoleName: 'r3', AssumeRolePolicyDocument: trustPolicy() }));
    expect((await s.cloud.iam.send(new GetRoleCommand({ RoleName: 'r3' }))).Role!.PermissionsBoundary).to.equal(undefined);
    await s.cloud.iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: 'r3', PermissionsBoundary: policy.Arn }));
    expect((await s.cloud.iam.send(new GetRoleCommand({ RoleName: 'r3' }))).Role!.PermissionsBoundary).to.deep.equal(expected);
    await s.cloud.iam.send(new DeleteRoleCommand({ RoleName: 'r1' }));
    await s.cloud.iam.send(new DeleteRoleCommand({ RoleName: 'r3' }));
    await s.cloud.iam.send(new DeletePolicyCommand({ PolicyArn: policy.Arn }));
  });

  it('setup makes the default boundary once; a second setup changes nothing', async () => {
    const config = loadConfig({ env: {}, overrides: { prefix: 'fleet1', artifacts: 's3://fleet1-artifacts/in', checkpoint: { stores: { default: { type: 's3', bucket: 'fleet1-ckpt' } } } } });
    const before = await callsOf('CreatePolicy');
    const first = await setupBoundary(s.cloud.iam, config);
    expect(first).to.deep.equal({ arn: `arn:aws:iam::123456789012:policy/spotbatch/${boundaryPolicyName('fleet1')}`, created: true, configured: false });
    const second = await setupBoundary(s.cloud.iam, config);
    expect(second).to.deep.equal({ ...first, created: false });
    expect((await callsOf('CreatePolicy')) - before).to.equal(1);
    const policy = (await s.cloud.iam.send(new GetPolicyCommand({ PolicyArn: first.arn }))).Policy!;
    expect(policy.UpdateDate).to.deep.equal(policy.CreateDate);

    // What it allows and denies.
    const statements = (JSON.parse(defaultBoundaryDocument('fleet1', ['fleet1-artifacts'])) as { Statement: Array<{ Sid: string; Effect: string; Action: string | string[]; Resource: string | string[] }> }).Statement;
    const deny = statements.filter((st) => st.Effect === 'Deny');
    expect(deny.flatMap((st) => st.Action)).to.include.members(['iam:*', 'sts:*', 'organizations:*', 'sqs:*', 'dynamodb:*', 's3:*', 'ec2:*']);
    expect(deny.flatMap((st) => st.Resource)).to.include.members(['arn:aws:sqs:*:*:fleet1-*', 'arn:aws:dynamodb:*:*:table/fleet1-*', 'arn:aws:s3:::fleet1-artifacts/*']);
    expect(statements.filter((st) => st.Effect === 'Allow').flatMap((st) => st.Action).some((a) => /^(iam|sts|organizations):/.test(a) || a === '*')).to.equal(false);

    // A configured boundary must exist; it is used as it is.
    const configured = loadConfig({ env: { SPOTBATCH_PERMISSIONS_BOUNDARY: first.arn } });
    expect(await setupBoundary(s.cloud.iam, configured)).to.deep.equal({ arn: first.arn, configured: true, created: false });
    const gone = loadConfig({ env: { SPOTBATCH_PERMISSIONS_BOUNDARY: 'arn:aws:iam::123456789012:policy/gone' } });
    const err = await failure(setupBoundary(s.cloud.iam, gone));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.message).to.contain('security.permissionsBoundary (SPOTBATCH_PERMISSIONS_BOUNDARY)').and.to.contain('policy/gone');
  });

  it("the default boundary allows S3 and image pulls only within the fleet's account, and acts only from an EC2 instance", () => {
    type St = { Sid: string; Effect: string; Action: string | string[]; Resource: string | string[]; Condition?: Record<string, Record<string, string>> };
    const statements = (JSON.parse(defaultBoundaryDocument('fleet1', ['fleet1-artifacts'])) as { Statement: St[] }).Statement;
    const allows = statements.filter((st) => st.Effect === 'Allow');
    for (const st of allows.filter((x) => [x.Action].flat().some((a) => a.startsWith('s3:') || (a.startsWith('ecr:') && a !== 'ecr:GetAuthorizationToken')))) {
      expect(st.Condition, st.Sid).to.deep.equal({ StringEquals: { 'aws:ResourceAccount': '${aws:PrincipalAccount}' } });
    }
    expect(allows.find((st) => st.Sid === 'JobImages')!.Resource).to.equal('arn:aws:ecr:*:*:repository/*');
    // Unconditioned, only what supports no resource-level permission.
    expect(allows.filter((st) => !st.Condition && st.Sid !== 'JobLogs').flatMap((st) => st.Action)).to.deep.equal(['cloudwatch:PutMetricData', 'ecr:GetAuthorizationToken']);
    expect(statements.find((st) => st.Sid === 'OnlyFromInstances')).to.deep.equal({
      Sid: 'OnlyFromInstances',
      Effect: 'Deny',
      Action: '*',
      Resource: '*',
      Condition: { Null: { 'ec2:SourceInstanceARN': 'true' }, BoolIfExists: { 'aws:ViaAWSService': 'false' } },
    });
    // The role it bounds trusts EC2 alone.
    expect(JSON.parse(trustPolicy())).to.deep.equal({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
  });

  it("security.create puts the fleet's boundary on the job role, and sets it on a role found without one", async () => {
    const jobId = newJobId();
    const input = { fleet: 'spotbatch', jobId, regions: ['us-east-1'], ingressCidr: '203.0.113.7/32', tags: {}, permissionsBoundary: s.boundary, profileWait: { attempts: 3, delayMs: 50 } };
    await createJobSecurity(s.cloud, s.secrets, input);
    const role = (await s.cloud.iam.send(new GetRoleCommand({ RoleName: resourceName('spotbatch', jobId) }))).Role!;
    expect(role.PermissionsBoundary?.PermissionsBoundaryArn).to.equal(s.boundary);

    const old = newJobId();
    await s.cloud.iam.send(new CreateRoleCommand({ RoleName: resourceName('spotbatch', old), AssumeRolePolicyDocument: trustPolicy(), Tags: [{ Key: 'spotbatch:fleet', Value: 'spotbatch' }, { Key: JOB_TAG, Value: old }] }));
    await createJobSecurity(s.cloud, s.secrets, { ...input, jobId: old });
    expect((await s.cloud.iam.send(new GetRoleCommand({ RoleName: resourceName('spotbatch', old) }))).Role!.PermissionsBoundary?.PermissionsBoundaryArn).to.equal(s.boundary);
  });

  it('security.create makes nothing without a boundary (PermanentError naming the setting), nor with one that does not exist', async () => {
    const jobId = newJobId();
    const input = { fleet: 'spotbatch', jobId, regions: ['us-east-1'], ingressCidr: '203.0.113.7/32', tags: {}, profileWait: { attempts: 3, delayMs: 50 } };
    const before = await s.calls();
    const none = await failure(createJobSecurity(s.cloud, s.secrets, input));
    expect(none).to.be.instanceOf(PermanentError);
    expect(none.message).to.contain('security.permissionsBoundary (SPOTBATCH_PERMISSIONS_BOUNDARY)');
    expect(await s.calls()).to.equal(before);

    const missing = await failure(createJobSecurity(s.cloud, s.secrets, { ...input, permissionsBoundary: 'arn:aws:iam::123456789012:policy/nope' }));
    expect(missing).to.be.instanceOf(PermanentError);
    expect(missing.message).to.contain('policy/nope').and.to.contain('security.permissionsBoundary');
    expect((await s.ofJob(jobId)).roles).to.deep.equal([]);
  });
});
