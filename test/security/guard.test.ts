import { expect } from 'chai';
import { loadConfig } from '../../shared/config.js';
import { PermanentError, ValidationError } from '../../shared/errors.js';
import { checkSpecPolicy, parseJobSpec } from '../../services/model/spec.js';
import { actionWithin, guardIssues, isWriteAction, STRICT_GUARD } from '../../services/model/policy-guard.js';
import { inlinePolicy } from '../../services/model/policy.js';

const spec = (policyStatements: unknown[]) =>
  parseJobSpec({ name: 'g', tasks: { count: 1 }, command: ['true'], instances: { types: ['m5.large'] }, policyStatements });

/** The refusals of the default guard as "path: rule". */
function refusals(statements: unknown[], guard = STRICT_GUARD): string[] {
  try {
    checkSpecPolicy(spec(statements), guard);
    return [];
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    expect(err).to.be.instanceOf(PermanentError);
    return (err as ValidationError).issues.map((i) => `${i.path}: ${i.rule}`);
  }
}

const bucket = 'arn:aws:s3:::genomes/*';

describe('the IAM guard on policyStatements', () => {
  it('refuses Action "*" naming the statement, the field and the rule', () => {
    const out = refusals([{ Effect: 'Allow', Action: 's3:GetObject', Resource: bucket }, { Effect: 'Allow', Action: '*', Resource: bucket }]);
    expect(out).to.have.length(1);
    expect(out[0]).to.match(/^policyStatements\[1\]\.Action: "\*" is not allowed \(the fleet's guard refuses "\*" actions.*security\.allowActions\)$/);
  });

  it('refuses iam, sts and organizations actions, wildcards included, with the setting that widens it', () => {
    expect(refusals([{ Effect: 'Allow', Action: 's3:GetObject', Resource: bucket }, { Effect: 'Allow', Action: 'iam:PassRole', Resource: 'arn:aws:iam::123456789012:role/x' }])).to.deep.equal([
      'policyStatements[1].Action: "iam:PassRole" is not allowed (the fleet\'s guard refuses iam:*; an operator can allow it with security.allowActions)',
    ]);
    const out = refusals([{ Effect: 'Allow', Action: ['s3:GetObject', 'iam:Pass*', 'IAM:*'.toLowerCase(), 'sts:AssumeRole', 'organizations:List*', 'iam:Get?ole'], Resource: bucket }]);
    expect(out.map((l) => l.split(':')[0])).to.deep.equal(['policyStatements[0].Action[1]', 'policyStatements[0].Action[2]', 'policyStatements[0].Action[3]', 'policyStatements[0].Action[4]', 'policyStatements[0].Action[5]']);
    expect(out[2]).to.contain('refuses sts:*');
    expect(out[3]).to.contain('refuses organizations:*');
  });

  it('refuses an Allow with NotAction (it grants iam:* too)', () => {
    const out = refusals([{ Effect: 'Allow', NotAction: 's3:DeleteObject', Resource: bucket }]);
    expect(out).to.have.length(1);
    expect(out[0]).to.match(/^policyStatements\[0\]\.NotAction: an Allow statement with NotAction is not allowed/);
  });

  it('refuses write actions on Resource "*" or NotResource, not reads', () => {
    expect(refusals([{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket', 'ec2:Describe*', 'dynamodb:BatchGetItem', 's3:HeadObject'], Resource: '*' }])).to.deep.equal([]);
    const out = refusals([
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: [bucket, '*'] },
      { Effect: 'Allow', Action: 's3:*', Resource: 'arn:*' },
      { Effect: 'Allow', Action: 's3:PutObject', NotResource: bucket },
      { Effect: 'Allow', Action: 's3:PutObject', Resource: bucket },
    ]);
    expect(out.map((l) => l.split(': ')[0])).to.deep.equal(['policyStatements[0].Resource[1]', 'policyStatements[1].Resource', 'policyStatements[2].NotResource']);
    expect(out[0]).to.contain('"*" is not allowed for write actions ("s3:PutObject")').and.to.contain('security.allowWildcardResourceWrites');
  });

  it('counts every resource of a service as every resource: arn:aws:s3:::*, arn:aws:s3:::*/*, table/*, log-group:*', () => {
    const everything = ['arn:aws:s3:::*', 'arn:aws:s3:::*/*', 'arn:aws:dynamodb:*:*:table/*', 'arn:aws:logs:*:*:log-group:*', 'arn:aws:sqs:*:*:*'];
    const out = refusals(everything.map((Resource) => ({ Effect: 'Allow', Action: ['s3:PutObject'], Resource })));
    expect(out.map((l) => l.split(': ')[0])).to.deep.equal(everything.map((_, i) => `policyStatements[${i}].Resource`));
    // A named bucket, table or account is a resource of its own, even with wildcards after it.
    const named = ['arn:aws:s3:::genomes/*', 'arn:aws:s3:::genomes-*/*', 'arn:aws:dynamodb:us-east-1:123456789012:table/*', 'arn:aws:logs:*:*:log-group:/mine/*'];
    expect(refusals(named.map((Resource) => ({ Effect: 'Allow', Action: ['s3:PutObject'], Resource })))).to.deep.equal([]);
  });

  it('lets every Deny statement through', () => {
    expect(refusals([{ Effect: 'Deny', Action: '*', NotResource: bucket }, { Effect: 'Deny', NotAction: 'iam:PassRole', Resource: '*' }])).to.deep.equal([]);
  });

  it('widens exactly what the operator lists in security.allowActions and security.allowWildcardResourceWrites', () => {
    const config = loadConfig({ env: { SPOTBATCH_ALLOW_ACTIONS: 'iam:PassRole, sts:Get*', SPOTBATCH_ALLOW_WILDCARD_RESOURCE_WRITES: 'true' } });
    expect(config.security.allowActions).to.deep.equal(['iam:PassRole', 'sts:Get*']);
    const role = 'arn:aws:iam::123456789012:role/worker';
    expect(refusals([{ Effect: 'Allow', Action: ['iam:PassRole', 'sts:GetCallerIdentity', 'sts:GetSessionToken'], Resource: role }], config.security)).to.deep.equal([]);
    expect(refusals([{ Effect: 'Allow', Action: 's3:PutObject', Resource: '*' }], config.security)).to.deep.equal([]);
    // Not wider than listed: iam:Pass* and sts:* are more than iam:PassRole and sts:Get*.
    expect(refusals([{ Effect: 'Allow', Action: ['iam:Pass*', 'sts:*', 'iam:CreateRole'], Resource: role }], config.security)).to.have.length(3);
    expect(refusals([{ Effect: 'Allow', NotAction: 's3:*', Resource: role }], config.security)).to.have.length(1);
    const everything = loadConfig({ env: {}, overrides: { security: { allowActions: ['*'] } } });
    expect(refusals([{ Effect: 'Allow', NotAction: 's3:*', Resource: role }, { Effect: 'Allow', Action: 'iam:*', Resource: role }], everything.security)).to.deep.equal([]);
  });

  it('refuses a bad setting by name', () => {
    expect(() => loadConfig({ env: { SPOTBATCH_ALLOW_ACTIONS: 'PassRole' } })).to.throw(/SPOTBATCH_ALLOW_ACTIONS \(security\.allowActions\[0\]\)/);
    expect(() => loadConfig({ env: { SPOTBATCH_PERMISSIONS_BOUNDARY: 'boundary' } })).to.throw(/SPOTBATCH_PERMISSIONS_BOUNDARY \(security\.permissionsBoundary\)/);
    expect(loadConfig({ env: { SPOTBATCH_PERMISSIONS_BOUNDARY: 'arn:aws:iam::123456789012:policy/spotbatch-job-boundary' } }).security.permissionsBoundary).to.equal(
      'arn:aws:iam::123456789012:policy/spotbatch-job-boundary',
    );
  });

  it('is checked again when the role policy is written (security.create)', () => {
    expect(() => inlinePolicy('j1', [{ Effect: 'Allow', Action: '*', Resource: bucket }], STRICT_GUARD)).to.throw(PermanentError, /policyStatements\[0\]\.Action: "\*" is not allowed/);
    expect(() => inlinePolicy('j1', [{ Effect: 'Allow', Action: 's3:GetObject', Resource: bucket }], STRICT_GUARD)).not.to.throw();
  });

  it('compares action patterns as sets', () => {
    expect(actionWithin('iam:PassRole', 'iam:Pass*')).to.equal(true);
    expect(actionWithin('iam:pass*', 'IAM:*')).to.equal(true);
    expect(actionWithin('iam:Pass*', 'iam:PassRole')).to.equal(false);
    expect(actionWithin('iam:*', 'iam:?*')).to.equal(false);
    expect(actionWithin('iam:?assRole', 'iam:?assRole')).to.equal(true);
    expect(actionWithin('iam:*assRole', 'iam:?assRole')).to.equal(false);
    expect(actionWithin('*', '*')).to.equal(true);
    expect(isWriteAction('s3:Get*')).to.equal(false);
    expect(isWriteAction('s3:*')).to.equal(true);
    expect(isWriteAction('s3:G*')).to.equal(true);
    expect(guardIssues([{ Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: 'arn:aws:logs:*:*:log-group:/x:*' }], STRICT_GUARD)).to.deep.equal([]);
  });
});
