/** AWS behaviour that hurts, through the real SDK: IAM propagation, EC2 eventual consistency, request limits, tags at launch. */
import { expect } from 'chai';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeRegionsCommand,
  DescribeSpotInstanceRequestsCommand,
  RequestSpotInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand } from '@aws-sdk/client-iam';
import { categoryOf } from '../src/throttle.js';
import { errorOf, startHarness, waitFor, type Harness } from './helpers.js';

const TRUST = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });

interface Inventory {
  instances: { instanceId: string; state: string; tags: Record<string, string> }[];
}

describe('simulator: AWS behaviour the fleet must survive', function () {
  this.timeout(120_000);
  let h: Harness;
  let imageId: string;

  before(async () => {
    h = await startHarness();
    const images = await h.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
    imageId = images.Images![0]!.ImageId!;
  });
  after(async () => h?.close());
  afterEach(async () => {
    await h.admin('POST', '/_sim/reset');
  });

  async function profile(name: string): Promise<string> {
    await h.iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: TRUST }));
    const p = await h.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
    await h.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    return p.InstanceProfile!.Arn!;
  }

  it('IAM propagation: a new instance profile is refused by RunInstances and RequestSpotInstances with AWS\'s words, then accepted', async () => {
    const faults = await h.admin<{ faults: Record<string, unknown> }>('POST', '/_sim/faults', { iamPropagationSeconds: 3 });
    expect(faults.body.faults).to.deep.equal({ iamPropagationSeconds: 3 });
    const arn = await profile('prop-role');
    const byArn = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, IamInstanceProfile: { Arn: arn } })));
    expect(byArn.name).to.equal('InvalidParameterValue');
    expect(byArn.message).to.equal(`Value (${arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`);
    const byName = await errorOf(
      h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: imageId, InstanceType: 't3.micro', IamInstanceProfile: { Name: 'prop-role' } } })),
    );
    expect(byName.name).to.equal('InvalidParameterValue');
    expect(byName.message).to.equal('Value (prop-role) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name');
    // nothing was made by the refused calls
    expect((await h.admin<Inventory>('GET', '/_sim/inventory')).body.instances).to.deep.equal([]);
    // once propagated, the same call works
    const ok = await waitFor('the profile to propagate', async () =>
      h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, IamInstanceProfile: { Arn: arn } })),
    );
    expect(ok.Instances).to.have.length(1);
    // a profile that does not exist gets the same answer (AWS cannot tell "not yet" from "never")
    const never = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: 'no-such' } })));
    expect(never.message).to.equal('Value (no-such) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name');
  });

  it('eventual consistency: right after a create, calls by id answer NotFound, and a TerminateInstances NotFound leaves the instance running', async () => {
    await h.admin('POST', '/_sim/faults', { notFoundSeconds: 3 });
    const run = await h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    const id = run.Instances![0]!.InstanceId!;
    const described = await errorOf(h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    expect(described.name).to.equal('InvalidInstanceID.NotFound');
    expect(described.message).to.contain(id);
    const tagged = await errorOf(h.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'k', Value: 'v' }] })));
    expect(tagged.name).to.equal('InvalidInstanceID.NotFound');
    const terminated = await errorOf(h.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] })));
    expect(terminated.name).to.equal('InvalidInstanceID.NotFound');
    // not gone: the inventory still has it, not terminated
    const inv = (await h.admin<Inventory>('GET', '/_sim/inventory')).body.instances;
    expect(inv.map((i) => i.instanceId)).to.deep.equal([id]);
    expect(inv[0]!.state).to.not.equal('terminated');
    expect(inv[0]!.state).to.not.equal('shutting-down');

    const sg = await h.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'ec-sg', Description: 'x' }));
    const authorize = await errorOf(
      h.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '127.0.0.1/32' }] }] })),
    );
    expect(authorize.name).to.equal('InvalidGroup.NotFound');

    const spot = await h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: imageId, InstanceType: 't3.micro' } }));
    const sir = spot.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    const byId = await errorOf(h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir] })));
    expect(byId.name).to.equal('InvalidSpotInstanceRequestID.NotFound');

    // then everything is there
    await waitFor('the instance to be visible', async () => (await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]);
    await waitFor('the request to be visible', async () => (await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir] }))).SpotInstanceRequests?.[0]);
    await h.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await h.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '127.0.0.1/32' }] }] }));
  });

  it('request limits: token buckets per action answer RequestLimitExceeded (503) when empty, other actions unaffected, refilled later', async () => {
    // a hundredth of AWS's limits: one token per bucket, refilled at 0.2 per second
    await h.admin('POST', '/_sim/faults', { requestLimits: 0.01 });
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) {
      codes.push(
        await h.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] })).then(
          () => 'ok',
          (err: Error & { $metadata?: { httpStatusCode?: number } }) => `${err.name}/${err.$metadata?.httpStatusCode}`,
        ),
      );
    }
    expect(codes[0]).to.equal('ok');
    expect(codes).to.include('RequestLimitExceeded/503');
    // another action has its own bucket
    expect((await h.ec2.send(new DescribeRegionsCommand({}))).Regions?.length).to.be.greaterThan(0);
    const stats = await h.admin<{ errors: Record<string, number> }>('GET', '/_sim/stats');
    expect(stats.body.errors.RequestLimitExceeded).to.be.greaterThan(0);
    // the bucket refills
    await waitFor('a token', async () => h.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] })), 30_000, 500);
  });

  it('request limits: actions fall in AWS\'s categories', () => {
    expect(categoryOf('RunInstances', ['Action', 'ImageId'])).to.equal('resource-intensive');
    expect(categoryOf('CreateFleet', ['Action'])).to.equal('resource-intensive');
    expect(categoryOf('RequestSpotInstances', ['Action'])).to.equal('mutating');
    expect(categoryOf('TerminateInstances', ['Action', 'InstanceId.1'])).to.equal('mutating');
    expect(categoryOf('DescribeInstances', ['Action', 'Version', 'InstanceId.1'])).to.equal('non-mutating');
    expect(categoryOf('DescribeInstances', ['Action', 'Version'])).to.equal('unfiltered-non-mutating');
  });

  it('start-up faults (simulator options) are what POST /_sim/reset restores', async () => {
    const own = await startHarness({ faults: { requestLimits: 1, notFoundSeconds: 2, iamPropagationSeconds: 2 } });
    try {
      expect((await own.admin<{ faults: object }>('GET', '/_sim/faults')).body.faults).to.deep.equal({ requestLimits: 1, notFoundSeconds: 2, iamPropagationSeconds: 2 });
      await own.admin('POST', '/_sim/faults', {});
      expect((await own.admin<{ faults: object }>('GET', '/_sim/faults')).body.faults).to.deep.equal({});
      await own.admin('POST', '/_sim/reset');
      expect((await own.admin<{ faults: object }>('GET', '/_sim/faults')).body.faults).to.deep.equal({ requestLimits: 1, notFoundSeconds: 2, iamPropagationSeconds: 2 });
    } finally {
      await own.close();
    }
    const bad = await h.admin<{ error: { message: string } }>('POST', '/_sim/faults', { notFoundSeconds: -1 });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/^notFoundSeconds: /);
  });

  it('tags: RunInstances tags the instance at launch; RequestSpotInstances tags only the request, as AWS', async () => {
    const run = await h.ec2.send(
      new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'spotbatch:job', Value: 'j1' }] }] }),
    );
    expect(run.Instances![0]!.Tags).to.deep.equal([{ Key: 'spotbatch:job', Value: 'j1' }]);
    const refused = await errorOf(
      h.ec2.send(
        new RequestSpotInstancesCommand({
          LaunchSpecification: { ImageId: imageId, InstanceType: 't3.micro' },
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'spotbatch:job', Value: 'j1' }] }],
        }),
      ),
    );
    expect(refused.name).to.equal('InvalidParameterValue');
    expect(refused.message).to.contain('TagSpecification.1.ResourceType');
  });
});
