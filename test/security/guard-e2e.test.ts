import { expect } from 'chai';
import { GetRoleCommand, GetRolePolicyCommand } from '@aws-sdk/client-iam';
import { jobs } from '../../services/model/repo.js';
import { POLICY_NAME, resourceName } from '../../services/security/resources.js';
import { eventually } from '../helpers/fleet.js';
import { leftovers, rawSubmit, startStack, type Stack } from '../helpers/stack.js';

const base = { tasks: { count: 1 }, steps: [{ run: 'sleep 600' }], instances: { types: ['m5.large'], regions: ['us-east-1'] } };
const passRole = { Effect: 'Allow' as const, Action: 'iam:PassRole', Resource: 'arn:aws:iam::123456789012:role/worker' };

async function calledActions(stack: Stack): Promise<string> {
  return JSON.stringify(await stack.stats());
}

describe('the IAM guard and the permissions boundary, end to end (emulators + simulator)', function () {
  this.timeout(180_000);

  describe('a fleet with the default guard', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack();
    });
    after(async () => {
      await stack?.close();
    });

    it('refuses Action "*" and iam:PassRole sent raw to the queue, naming the statement, and creates nothing', async () => {
      await rawSubmit(stack, { ...base, id: 'guard-star', name: 'star', policyStatements: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::in/*' }, { Effect: 'Allow', Action: '*', Resource: 'arn:aws:s3:::in/*' }] });
      await rawSubmit(stack, { ...base, id: 'guard-pass', name: 'pass', policyStatements: [passRole] });
      const reasons: string[] = [];
      await eventually(
        'both specs dead-lettered',
        async () => {
          for (const m of await stack.fleet.drainDlq('master')) reasons.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
          return reasons.length >= 2;
        },
        60_000,
      );
      expect(reasons.join('\n')).to.contain('policyStatements[1].Action: "*" is not allowed (the fleet\'s guard refuses "*" actions');
      expect(reasons.join('\n')).to.contain('policyStatements[0].Action: "iam:PassRole" is not allowed (the fleet\'s guard refuses iam:*; an operator can allow it with security.allowActions)');
      expect(await jobs(stack.fleet.deps).get({ jobId: 'guard-star' })).to.equal(undefined);
      expect(await jobs(stack.fleet.deps).get({ jobId: 'guard-pass' })).to.equal(undefined);
      const called = await calledActions(stack);
      for (const action of ['CreateKeyPair', 'CreateSecurityGroup', 'CreateRole', 'CreateInstanceProfile', 'RequestSpotInstances']) expect(called, action).not.to.contain(action);
    });

    it("creates the job role with the fleet's permissions boundary (GetRole)", async () => {
      const boundary = stack.fleet.config.security.permissionsBoundary;
      expect(boundary).to.match(/^arn:aws:iam::\d{12}:policy\//);
      const jobId = await stack.submit({ ...base, name: 'bounded', policyStatements: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] });
      await stack.waitJob(jobId, ['running'], 60_000);
      const role = (await stack.cloud.iam.send(new GetRoleCommand({ RoleName: resourceName(stack.fleet.config.prefix, jobId) }))).Role!;
      expect(role.PermissionsBoundary).to.deep.equal({ PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: boundary });
      await stack.fleet.deps.bus.send('job.cancel', { jobId });
      await stack.waitJob(jobId, ['cancelled']);
      expect(await leftovers(stack, jobId)).to.deep.equal([]);
    });
  });

  describe('a fleet whose operator widened the guard', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ config: { security: { allowActions: ['iam:PassRole'] } } });
    });
    after(async () => {
      await stack?.close();
    });

    it('lets iam:PassRole through to the role policy, and still refuses the rest of iam', async () => {
      const jobId = await stack.submit({ ...base, name: 'widened', policyStatements: [passRole] });
      await stack.waitJob(jobId, ['running'], 60_000);
      const out = await stack.cloud.iam.send(new GetRolePolicyCommand({ RoleName: resourceName(stack.fleet.config.prefix, jobId), PolicyName: POLICY_NAME }));
      expect(JSON.parse(decodeURIComponent(out.PolicyDocument!)).Statement).to.deep.include(passRole);
      await stack.fleet.deps.bus.send('job.cancel', { jobId });
      await stack.waitJob(jobId, ['cancelled']);

      await rawSubmit(stack, { ...base, id: 'guard-create-role', name: 'create', policyStatements: [{ ...passRole, Action: ['iam:PassRole', 'iam:CreateRole'] }] });
      const reasons: string[] = [];
      await eventually('the spec dead-lettered', async () => {
        for (const m of await stack.fleet.drainDlq('master')) reasons.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
        return reasons.length >= 1;
      }, 60_000);
      expect(reasons[0]).to.contain('policyStatements[0].Action[1]: "iam:CreateRole" is not allowed');
      expect(reasons[0]).not.to.contain('Action[0]');
    });
  });

  describe('a fleet without a permissions boundary', () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ config: { security: { permissionsBoundary: undefined } } });
    });
    after(async () => {
      await stack?.close();
    });

    it('ends the job with a reason naming the setting, and makes no role', async () => {
      const jobId = await stack.submit({ ...base, name: 'unbounded' });
      const job = await stack.waitJob(jobId, ['failed'], 60_000);
      expect(job.error).to.contain('security.permissionsBoundary').and.to.contain('SPOTBATCH_PERMISSIONS_BOUNDARY');
      expect(await calledActions(stack)).not.to.contain('CreateRole');
      expect(await leftovers(stack, jobId)).to.deep.equal([]);
    });
  });
});
