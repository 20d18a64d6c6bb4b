import { expect } from 'chai';
import { PermanentError } from '../../shared/errors.js';
import { checkCidr, FLEET_TAG, jobIamPath, jobTags, JOB_TAG, resourceName } from '../../services/security/names.js';
import { inlinePolicy, trustPolicy } from '../../services/model/policy.js';
import { extraIngress } from '../../services/security/security-groups.js';

describe('security: policies, names and errors', () => {
  it('trust policy: EC2 may assume the role', () => {
    const doc = JSON.parse(trustPolicy()) as { Statement: { Principal: unknown; Action: unknown }[] };
    expect(doc.Statement).to.deep.equal([{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
  });

  it('inline policy: the job log group by default, plus the spec statements, nothing else', () => {
    const extra = { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/p/*' };
    const doc = JSON.parse(inlinePolicy('j1', [extra])) as { Version: string; Statement: Record<string, unknown>[] };
    expect(doc.Version).to.equal('2012-10-17');
    expect(doc.Statement).to.have.length(2);
    expect(doc.Statement[0]!.Action).to.deep.equal(['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams']);
    expect(JSON.stringify(doc.Statement[0]!.Resource)).to.include('log-group:/spotbatch/j1');
    expect(doc.Statement[1]).to.deep.equal(extra);
    expect(() => inlinePolicy('j1', [{ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }])).to.throw(PermanentError, /Principal/);
    expect(() => inlinePolicy('j1', Array.from({ length: 200 }, () => extra))).to.throw(PermanentError, /10240/);
  });

  it('names, tags and CIDRs', () => {
    expect(resourceName('spotbatch', 'a1')).to.equal('spotbatch-a1');
    expect(resourceName('prod', 'a1')).to.equal('prod-a1');
    expect(resourceName('spotbatch', 'x'.repeat(54))).to.have.length(64);
    // Too long for a role name with the fleet spelled out: a stable hash of the fleet instead, still per fleet.
    const long = resourceName('f'.repeat(40), 'x'.repeat(54));
    expect(long).to.match(/^[0-9a-f]{8}-x{54}$/).and.to.equal(resourceName('f'.repeat(40), 'x'.repeat(54)));
    expect(long).to.not.equal(resourceName('g'.repeat(40), 'x'.repeat(54)));
    expect(() => resourceName('spotbatch', 'x'.repeat(55))).to.throw(PermanentError);
    expect(jobIamPath('prod')).to.equal('/spotbatch/prod/jobs/');
    expect(jobTags('prod', 'j', { [JOB_TAG]: 'forged', [FLEET_TAG]: 'forged', a: 'b' })).to.deep.equal([
      { Key: 'a', Value: 'b' },
      { Key: FLEET_TAG, Value: 'prod' },
      { Key: JOB_TAG, Value: 'j' },
    ]);
    expect(() => jobTags('prod', 'j', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])))).to.throw(PermanentError);
    for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '198.51.100.4/32']) expect(checkCidr(ok)).to.equal(ok);
    for (const bad of ['', '10.0.0.0', '10.0.0/8', '::/0', '256.1.1.1/32', '1.1.1.1/40']) expect(() => checkCidr(bad)).to.throw(PermanentError);
  });

  it('extra ingress: everything but tcp/22 from the CIDR', () => {
    const perms = [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '1.2.3.4/32' }, { CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-1', UserId: '123' }] },
    ];
    expect(extraIngress(perms, '1.2.3.4/32')).to.deep.equal([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-1' }] },
    ]);
    expect(extraIngress([perms[0]!], '1.2.3.4/32')).to.have.length(1);
    expect(extraIngress([{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '1.2.3.4/32' }] }], '1.2.3.4/32')).to.deep.equal([]);
  });
});
