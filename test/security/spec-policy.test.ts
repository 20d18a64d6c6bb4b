import { expect } from 'chai';
import { GetRolePolicyCommand } from '@aws-sdk/client-iam';
import type { PolicyStatement } from '../../services/model/spec.js';
import { POLICY_NAME, resourceName } from '../../services/security/resources.js';
import { leftovers, startStack, type Stack } from '../helpers/stack.js';

describe("security.create: the spec's policyStatements reach the job role (emulators + simulator)", function () {
  this.timeout(180_000);
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  it("puts the spec's statements into the role's inline policy, after the default", async () => {
    const read: PolicyStatement = { Sid: 'ReadInputs', Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: ['arn:aws:s3:::genomes', 'arn:aws:s3:::genomes/in/*'] };
    const deny: PolicyStatement = { Effect: 'Deny', Action: 's3:DeleteObject', Resource: '*', Condition: { StringNotEquals: { 'aws:RequestedRegion': 'us-east-1' } } };
    const jobId = await stack.submit({
      name: 'policy',
      tasks: { count: 1 },
      steps: [{ run: 'sleep 600' }],
      instances: { types: ['m5.large'], regions: ['us-east-1'] },
      policyStatements: [read, deny],
    });
    await stack.waitJob(jobId, ['running'], 60_000);
    const out = await stack.cloud.iam.send(new GetRolePolicyCommand({ RoleName: resourceName(stack.fleet.config.prefix, jobId), PolicyName: POLICY_NAME }));
    const policy = JSON.parse(decodeURIComponent(out.PolicyDocument!)) as { Statement: Array<Record<string, unknown>> };
    expect(policy.Statement.map((s) => s.Sid)).to.deep.equal(['JobLogs', 'ReadInputs', undefined]);
    expect(policy.Statement.slice(1)).to.deep.equal([read, deny]);
    await stack.fleet.deps.bus.send('job.cancel', { jobId });
    await stack.waitJob(jobId, ['cancelled']);
    expect(await leftovers(stack, jobId)).to.deep.equal([]);
  });
});
