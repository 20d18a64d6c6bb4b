/** EC2 and IAM through the SDK: dependencies, conflicts, pagination, filters, bad parameters, faults, inventory. */
import { expect } from 'chai';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteTagsCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeRegionsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSpotInstanceRequestsCommand,
  RequestSpotInstancesCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  CancelSpotInstanceRequestsCommand,
  paginateDescribeInstanceTypes,
  waitUntilInstanceRunning,
  waitUntilInstanceStatusOk,
  waitUntilInstanceTerminated,
  waitUntilSpotInstanceRequestFulfilled,
  paginateDescribeInstances,
} from '@aws-sdk/client-ec2';
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListInstanceProfilesForRoleCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import ssh2 from 'ssh2';
import { stringify } from 'yaml';
import { generateEd25519KeyPair } from '../src/runtime/index.js';
import { fetchSimulatorClock, startSimulator } from '../src/index.js';
import { errorOf, startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

/** Cloud-config user data that hands the instance its ed25519 host key (as the product's spot/host-keys.ts writes it). */
function hostKeyUserData(pair: { private: string; public: string }): string {
  const doc = stringify({ ssh_deletekeys: true, ssh_genkeytypes: [], ssh_keys: { ed25519_private: pair.private, ed25519_public: pair.public } });
  return Buffer.from(`#cloud-config\n${doc}`, 'utf8').toString('base64');
}

const trust = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});

describe('simulator: EC2 and IAM API', function () {
  this.timeout(60_000);
  let h: Harness;
  let imageId: string;

  before(async () => {
    h = await startHarness({ timeScale: 100, launchLatency: { kind: 'fixed', seconds: 10 } });
    const images = await h.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
    imageId = images.Images![0]!.ImageId!;
  });
  after(async () => {
    await h?.close();
  });

  async function runningInstance(extra: Partial<ConstructorParameters<typeof RunInstancesCommand>[0]> = {}): Promise<string> {
    const run = await h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...extra }));
    return run.Instances![0]!.InstanceId!;
  }

  async function terminated(ids: string[]): Promise<void> {
    await h.ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    await waitFor('terminated', async () => {
      const d = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      const all = d.Reservations!.flatMap((r) => r.Instances!);
      return all.every((i) => i.State?.Name === 'terminated') ? true : undefined;
    });
  }

  it('describes regions, zones, instance types and images', async () => {
    const regions = await h.ec2.send(new DescribeRegionsCommand({}));
    expect(regions.Regions!.map((r) => r.RegionName)).to.include.members(['us-east-1', 'eu-west-1', 'ap-southeast-2']);
    const zones = await h.ec2In('eu-west-1').send(new DescribeAvailabilityZonesCommand({}));
    expect(zones.AvailabilityZones!.map((z) => z.ZoneName)).to.deep.equal(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    expect(zones.AvailabilityZones![0]!.ZoneId).to.equal('euw1-az1');
    const types = await h.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['m5.large', 'm6g.large'] }));
    const byName = Object.fromEntries(types.InstanceTypes!.map((t) => [t.InstanceType, t]));
    expect(byName['m5.large']!.VCpuInfo!.DefaultVCpus).to.equal(2);
    expect(byName['m5.large']!.MemoryInfo!.SizeInMiB).to.equal(8192);
    expect(byName['m6g.large']!.ProcessorInfo!.SupportedArchitectures).to.deep.equal(['arm64']);
    const arm = await h.ec2In('eu-west-1').send(
      new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['al2023-ami-2023*-arm64'] }] }),
    );
    expect(arm.Images).to.have.length(1);
    expect(arm.Images![0]!.Architecture).to.equal('arm64');
    expect(arm.Images![0]!.ImageId).to.not.equal(imageId);
  });

  it('keeps a security group in use until its instance is terminated', async () => {
    const sg = await h.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'in-use', Description: 'used by an instance' }));
    await h.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg.GroupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
      }),
    );
    const dup = await errorOf(
      h.ec2.send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: sg.GroupId,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        }),
      ),
    );
    expect(dup.name).to.equal('InvalidPermission.Duplicate');
    const id = await runningInstance({ SecurityGroupIds: [sg.GroupId!] });
    const blocked = await errorOf(h.ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId })));
    expect(blocked.name).to.equal('DependencyViolation');
    expect(blocked.message).to.contain(sg.GroupId);
    await terminated([id]);
    await h.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] }));
    await h.ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    const gone = await errorOf(h.ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId!] })));
    expect(gone.name).to.equal('InvalidGroup.NotFound');
  });

  it('answers IAM DeleteConflict while a role is in a profile or has policies', async () => {
    const role = await h.iam.send(
      new CreateRoleCommand({ RoleName: 'job-role', AssumeRolePolicyDocument: trust, Path: '/spotbatch/', Tags: [{ Key: 'job', Value: 'j-1' }] }),
    );
    expect(role.Role!.Tags).to.deep.equal([{ Key: 'job', Value: 'j-1' }]);
    expect((await h.iam.send(new GetRoleCommand({ RoleName: 'job-role' }))).Role!.Path).to.equal('/spotbatch/');
    expect(role.Role!.RoleId).to.match(/^AROA[A-Z0-9]{17}$/);
    expect(role.Role!.Arn).to.equal('arn:aws:iam::123456789012:role/spotbatch/job-role');
    expect(JSON.parse(decodeURIComponent(role.Role!.AssumeRolePolicyDocument!))).to.deep.equal(JSON.parse(trust));
    const dupe = await errorOf(h.iam.send(new CreateRoleCommand({ RoleName: 'job-role', AssumeRolePolicyDocument: trust })));
    expect(dupe.name).to.equal('EntityAlreadyExistsException');
    await h.iam.send(new PutRolePolicyCommand({ RoleName: 'job-role', PolicyName: 'logs', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [] }) }));
    const profile = await h.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'job-profile' }));
    expect(profile.InstanceProfile!.InstanceProfileId).to.match(/^AIPA[A-Z0-9]{17}$/);
    await h.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'job-profile', RoleName: 'job-role' }));
    const got = await h.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: 'job-profile' }));
    expect(got.InstanceProfile!.Roles!.map((r) => r.RoleName)).to.deep.equal(['job-role']);

    const inProfile = await errorOf(h.iam.send(new DeleteRoleCommand({ RoleName: 'job-role' })));
    expect(inProfile.name).to.equal('DeleteConflictException');
    expect(inProfile.$metadata?.httpStatusCode).to.equal(409);
    const profileInUse = await errorOf(h.iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: 'job-profile' })));
    expect(profileInUse.name).to.equal('DeleteConflictException');

    // an instance launched with the profile shows it
    const id = await runningInstance({ IamInstanceProfile: { Name: 'job-profile' } });
    const d = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(d.Reservations![0]!.Instances![0]!.IamInstanceProfile!.Arn).to.equal(got.InstanceProfile!.Arn);
    await terminated([id]);

    const listed = await h.iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: 'job-role' }));
    expect(listed.InstanceProfiles!.map((p) => p.InstanceProfileName)).to.deep.equal(['job-profile']);
    expect(listed.IsTruncated).to.equal(false);
    await h.iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: 'job-profile', RoleName: 'job-role' }));
    const policies = await h.iam.send(new ListRolePoliciesCommand({ RoleName: 'job-role' }));
    expect(policies.PolicyNames).to.deep.equal(['logs']);
    const policy = await h.iam.send(new GetRolePolicyCommand({ RoleName: 'job-role', PolicyName: 'logs' }));
    expect(JSON.parse(decodeURIComponent(policy.PolicyDocument!))).to.deep.equal({ Version: '2012-10-17', Statement: [] });
    const withPolicy = await errorOf(h.iam.send(new DeleteRoleCommand({ RoleName: 'job-role' })));
    expect(withPolicy.name).to.equal('DeleteConflictException');
    await h.iam.send(new DeleteRolePolicyCommand({ RoleName: 'job-role', PolicyName: 'logs' }));
    await h.iam.send(new DeleteRoleCommand({ RoleName: 'job-role' }));
    await h.iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: 'job-profile' }));
    const missing = await errorOf(h.iam.send(new GetRoleCommand({ RoleName: 'job-role' })));
    expect(missing.name).to.equal('NoSuchEntityException');
  });

  it('paginates with NextToken and MaxResults', async () => {
    let pages = 0;
    const names: string[] = [];
    for await (const page of paginateDescribeInstanceTypes(
      { client: h.ec2, pageSize: 5 },
      { Filters: [{ Name: 'instance-type', Values: ['m5.*', 'c5.*'] }] },
    )) {
      pages++;
      expect(page.InstanceTypes!.length).to.be.at.most(5);
      names.push(...page.InstanceTypes!.map((t) => t.InstanceType!));
    }
    expect(pages).to.be.greaterThan(1);
    expect(new Set(names).size).to.equal(names.length);
    expect(names).to.include.members(['m5.large', 'c5.xlarge']);

    const run = await h.ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: 't3.micro',
        MinCount: 7,
        MaxCount: 7,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'batch', Value: 'paging' }] }],
      }),
    );
    const ids = run.Instances!.map((i) => i.InstanceId!);
    expect(run.Instances!.map((i) => i.State?.Name)).to.deep.equal(Array(7).fill('pending'));
    const seen: string[] = [];
    let instPages = 0;
    for await (const page of paginateDescribeInstances({ client: h.ec2, pageSize: 5 }, { Filters: [{ Name: 'tag:batch', Values: ['paging'] }] })) {
      instPages++;
      seen.push(...page.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId!)));
    }
    expect(instPages).to.equal(2);
    expect(seen.sort()).to.deep.equal([...ids].sort());
    const badMax = await errorOf(h.ec2.send(new DescribeInstancesCommand({ MaxResults: 2 })));
    expect(badMax.name).to.equal('InvalidParameterValue');
    expect(badMax.message).to.contain('MaxResults');
    await terminated(ids);
  });

  it('filters instances, key pairs and security groups, and keeps tags', async () => {
    await h.ec2.send(new CreateKeyPairCommand({ KeyName: 'filter-a', KeyType: 'ed25519' }));
    const rsa = await h.ec2.send(new CreateKeyPairCommand({ KeyName: 'filter-b' }));
    expect(rsa.KeyMaterial).to.match(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(rsa.KeyFingerprint).to.match(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/);
    expect(ssh2.utils.parseKey(rsa.KeyMaterial!)).to.not.be.instanceOf(Error);
    const withPublic = await h.ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['filter-b'], IncludePublicKey: true }));
    expect(withPublic.KeyPairs![0]!.PublicKey).to.match(/^ssh-rsa AAAA/);
    const byType = await h.ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-type', Values: ['ed25519'] }] }));
    expect(byType.KeyPairs!.map((k) => k.KeyName)).to.deep.equal(['filter-a']);
    const notThere = await errorOf(h.ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['nope'] })));
    expect(notThere.name).to.equal('InvalidKeyPair.NotFound');

    const a = await runningInstance({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'role', Value: 'worker' }] }] });
    const b = await runningInstance();
    await h.ec2.send(new CreateTagsCommand({ Resources: [b], Tags: [{ Key: 'role', Value: 'leader' }, { Key: 'tmp', Value: '1' }] }));
    await h.ec2.send(new DeleteTagsCommand({ Resources: [b], Tags: [{ Key: 'tmp' }] }));
    const workers = await h.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:role', Values: ['worker'] }] }));
    expect(workers.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).to.deep.equal([a]);
    const leader = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [b] }));
    expect(leader.Reservations![0]!.Instances![0]!.Tags).to.deep.equal([{ Key: 'role', Value: 'leader' }]);
    await waitFor('both running', async () => {
      const d = await h.ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }, { Name: 'tag-key', Values: ['role'] }] }),
      );
      return d.Reservations!.flatMap((r) => r.Instances!).length === 2 ? true : undefined;
    });
    const status = await h.ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [a, b] }));
    expect(status.InstanceStatuses!.map((s) => s.InstanceState?.Name)).to.deep.equal(['running', 'running']);
    const badFilter = await errorOf(h.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] })));
    expect(badFilter.name).to.equal('InvalidParameterValue');
    expect(badFilter.message).to.contain('no-such-filter');
    const defaults = await h.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['default'] }] }));
    expect(defaults.SecurityGroups).to.have.length(1);
    await terminated([a, b]);
    await h.ec2.send(new DeleteKeyPairCommand({ KeyName: 'filter-a' }));
    await h.ec2.send(new DeleteKeyPairCommand({ KeyName: 'filter-b' }));
  });

  it('works with the SDK waiters, and RequestSpotInstances is idempotent by ClientToken', async () => {
    const ask = () =>
      h.ec2.send(new RequestSpotInstancesCommand({ ClientToken: 'job-1-task-1-attempt-1', LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large' } }));
    const req = await ask();
    const sirId = req.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    expect((await ask()).SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId)).to.deep.equal([sirId]);
    const validUntil = req.SpotInstanceRequests![0]!.ValidUntil!.getTime() - req.SpotInstanceRequests![0]!.CreateTime!.getTime();
    expect(validUntil).to.equal(7 * 86_400_000);
    const waiter = { client: h.ec2, maxWaitTime: 20, minDelay: 1, maxDelay: 1 };
    const fulfilled = await waitUntilSpotInstanceRequestFulfilled(waiter, { SpotInstanceRequestIds: [sirId] });
    expect(fulfilled.state).to.equal('SUCCESS');
    const d = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
    const id = d.SpotInstanceRequests![0]!.InstanceId!;
    expect((await waitUntilInstanceRunning(waiter, { InstanceIds: [id] })).state).to.equal('SUCCESS');
    expect((await waitUntilInstanceStatusOk(waiter, { InstanceIds: [id] })).state).to.equal('SUCCESS');
    await h.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect((await waitUntilInstanceTerminated(waiter, { InstanceIds: [id] })).state).to.equal('SUCCESS');
    const closed = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
    expect(closed.SpotInstanceRequests![0]!.Status!.Code).to.equal('instance-terminated-by-user');
  });

  it('answers IdempotentParameterMismatch to a repeated ClientToken with other parameters, the zone aside', async () => {
    const validUntil = new Date(Date.now() + 15 * 60_000);
    const params = { ClientToken: 'job-2-task-1-attempt-1', InstanceCount: 1, Type: 'one-time' as const, SpotPrice: '0.5', ValidUntil: validUntil };
    const spec = { ImageId: imageId, InstanceType: 'm5.large' as const, Placement: { AvailabilityZone: 'us-east-1a' } };
    const first = await h.ec2.send(new RequestSpotInstancesCommand({ ...params, LaunchSpecification: spec }));
    const sirId = first.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    // The same parameters (defaults spelled out or not), or only another zone: the same request back.
    const same = await h.ec2.send(new RequestSpotInstancesCommand({ ClientToken: params.ClientToken, SpotPrice: '0.5', ValidUntil: new Date(validUntil.getTime()), LaunchSpecification: spec }));
    expect(same.SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId)).to.deep.equal([sirId]);
    const otherZone = await h.ec2.send(new RequestSpotInstancesCommand({ ...params, LaunchSpecification: { ...spec, Placement: { AvailabilityZone: 'us-east-1b' } } }));
    expect(otherZone.SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId)).to.deep.equal([sirId]);
    const changes = [
      { ...params, ValidUntil: new Date(validUntil.getTime() + 1000), LaunchSpecification: spec },
      { ...params, ValidFrom: new Date(Date.now() + 60_000), LaunchSpecification: spec },
      { ...params, SpotPrice: '0.6', LaunchSpecification: spec },
      { ...params, InstanceCount: 2, LaunchSpecification: spec },
      { ...params, Type: 'persistent' as const, LaunchSpecification: spec },
      { ...params, LaunchSpecification: { ...spec, InstanceType: 'c5.large' as const } },
      { ...params, LaunchSpecification: { ...spec, UserData: Buffer.from('#cloud-config\n').toString('base64') } },
    ];
    for (const input of changes) {
      const err = await errorOf(h.ec2.send(new RequestSpotInstancesCommand(input)));
      expect(err.name, JSON.stringify(input)).to.equal('IdempotentParameterMismatch');
      expect(err.message).to.equal('The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.');
      expect(err.$metadata?.httpStatusCode).to.equal(400);
    }
    // Nothing was made by the refused ones.
    const tagged = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({}));
    expect(tagged.SpotInstanceRequests!.filter((r) => r.SpotPrice === '0.500000' || r.SpotPrice === '0.600000').map((r) => r.SpotInstanceRequestId)).to.deep.equal([sirId]);
    await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
    const launched = (await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }))).SpotInstanceRequests![0]!.InstanceId;
    if (launched) await terminated([launched]);
  });

  it('honours cloud-init ssh_keys in user data (RunInstances, RequestSpotInstances): the instance presents that host key', async () => {
    const viaRun = generateEd25519KeyPair();
    const viaSpot = generateEd25519KeyPair();
    const waiter = { client: h.ec2, maxWaitTime: 20, minDelay: 1, maxDelay: 1 };
    const sg = await h.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'ssh-host-keys', Description: 'ssh from here' }));
    await h.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '127.0.0.1/32' }] }] }),
    );
    const SecurityGroupIds = [sg.GroupId!];
    const runId = await runningInstance({ UserData: hostKeyUserData(viaRun), SecurityGroupIds });
    const sir = await h.ec2.send(
      new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large', UserData: hostKeyUserData(viaSpot), SecurityGroupIds } }),
    );
    const sirId = sir.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    await waitUntilSpotInstanceRequestFulfilled(waiter, { SpotInstanceRequestIds: [sirId] });
    const spotId = (await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }))).SpotInstanceRequests![0]!.InstanceId!;
    const plain = await runningInstance({ SecurityGroupIds });
    await waitUntilInstanceRunning(waiter, { InstanceIds: [runId, spotId, plain] });
    const presented = async (id: string): Promise<string> => {
      const d = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      const ip = d.Reservations![0]!.Instances![0]!.PublicIpAddress!;
      // What the SSH server shows in the handshake (authentication then fails: no key pair here, and none needed).
      return new Promise((resolve, reject) => {
        const c = new ssh2.Client();
        let seen: Buffer | undefined;
        c.on('error', () => (seen ? resolve(`ssh-ed25519 ${seen.toString('base64')}`) : reject(new Error('no host key seen'))));
        c.connect({ host: ip, port: h.sim.sshPort, username: 'ec2-user', privateKey: generateEd25519KeyPair().private, hostVerifier: (key: Buffer) => ((seen = key), true) });
      });
    };
    expect(await presented(runId)).to.equal(viaRun.public);
    expect(await presented(spotId)).to.equal(viaSpot.public);
    const own = await presented(plain);
    expect(own).to.not.be.oneOf([viaRun.public, viaSpot.public]);
    expect((await h.admin<{ hostPublicKey: string }>('GET', `/_sim/instances/${runId}/host-key`)).body.hostPublicKey).to.equal(viaRun.public);
    // An impostor at the address (POST): another key from then on.
    const forged = await h.admin<{ hostPublicKey: string }>('POST', `/_sim/instances/${runId}/host-key`);
    expect(await presented(runId)).to.equal(forged.body.hostPublicKey).and.not.equal(viaRun.public);
    const bad = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, UserData: 'not base64!' })));
    expect(bad.name).to.equal('InvalidParameterValue');
    await terminated([runId, spotId, plain]);
    await h.ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
  });

  it('keeps regions apart', async () => {
    const eu = h.ec2In('eu-west-1');
    await h.ec2.send(new CreateKeyPairCommand({ KeyName: 'regional', KeyType: 'ed25519' }));
    const here = await h.ec2.send(new DescribeKeyPairsCommand({ KeyNames: ['regional'] }));
    expect(here.KeyPairs).to.have.length(1);
    const there = await errorOf(eu.send(new DescribeKeyPairsCommand({ KeyNames: ['regional'] })));
    expect(there.name).to.equal('InvalidKeyPair.NotFound');
    await eu.send(new CreateKeyPairCommand({ KeyName: 'regional', KeyType: 'ed25519' }));
    const euImage = (await eu.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
    const wrongRegion = await errorOf(eu.send(new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1 })));
    expect(wrongRegion.name).to.equal('InvalidAMIID.NotFound');
    const run = await eu.send(new RunInstancesCommand({ ImageId: euImage, MinCount: 1, MaxCount: 1, KeyName: 'regional' }));
    const id = run.Instances![0]!.InstanceId!;
    expect(run.Instances![0]!.Placement!.AvailabilityZone).to.match(/^eu-west-1[abc]$/);
    const notHere = await errorOf(h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })));
    expect(notHere.name).to.equal('InvalidInstanceID.NotFound');
    await eu.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await eu.send(new DeleteKeyPairCommand({ KeyName: 'regional' }));
    await h.ec2.send(new DeleteKeyPairCommand({ KeyName: 'regional' }));
    const stats = await h.admin<{ calls: Record<string, Record<string, number>> }>('GET', '/_sim/stats');
    expect(stats.body.calls.RunInstances!['eu-west-1']).to.be.greaterThan(0);
  });

  it('names missing and bad parameters, and refuses unknown actions', async () => {
    const noName = await errorOf(h.ec2.send(new CreateKeyPairCommand({} as never)));
    expect(noName.name).to.equal('MissingParameter');
    expect(noName.message).to.contain('KeyName');
    const noCount = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, MaxCount: 1 } as never)));
    expect(noCount.name).to.equal('MissingParameter');
    expect(noCount.message).to.contain('MinCount');
    const badAmi = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 })));
    expect(badAmi.name).to.equal('InvalidAMIID.NotFound');
    const badPrice = await errorOf(
      h.ec2.send(new RequestSpotInstancesCommand({ SpotPrice: 'cheap', LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large' } })),
    );
    expect(badPrice.name).to.equal('InvalidParameterValue');
    expect(badPrice.message).to.contain('SpotPrice');
    const badZone = await errorOf(
      h.ec2.send(
        new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large', Placement: { AvailabilityZone: 'eu-west-1a' } } }),
      ),
    );
    expect(badZone.message).to.contain('LaunchSpecification.Placement.AvailabilityZone');
    const badType = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'z9.huge' as never, MinCount: 1, MaxCount: 1 })));
    expect(badType.message).to.contain('InstanceType');
    const noRole = await errorOf(h.iam.send(new GetRoleCommand({} as never)));
    expect(noRole.name).to.equal('MissingParameter');
    expect(noRole.message).to.contain('RoleName');

    const raw = await fetch(h.sim.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x',
      },
      body: 'Action=LaunchRockets&Version=2016-11-15',
    });
    expect(raw.status).to.equal(400);
    const text = await raw.text();
    expect(text).to.contain('<Code>InvalidAction</Code>').and.contain('<RequestID>');
    const rawIam = await fetch(h.sim.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x',
      },
      body: 'Action=CreateUserPool&Version=2010-05-08',
    });
    const iamText = await rawIam.text();
    expect(iamText).to.contain('<ErrorResponse').and.contain('<Type>Sender</Type>').and.contain('<Code>InvalidAction</Code>');
  });

  it('answers throttling and capacity faults as AWS does', async () => {
    const bad = await h.admin<{ error: { code: string; message: string } }>('POST', '/_sim/faults', { throttleRate: 2 });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.contain('throttleRate');
    const unknownField = await h.admin<{ error: { message: string } }>('POST', '/_sim/faults', { throttle: 1 });
    expect(unknownField.status).to.equal(400);

    await h.admin('POST', '/_sim/faults', { throttleRate: 1, throttleActions: ['DescribeInstances'] });
    const throttled = await errorOf(h.ec2.send(new DescribeInstancesCommand({})));
    expect(throttled.name).to.equal('RequestLimitExceeded');
    expect(throttled.$metadata?.httpStatusCode).to.equal(503);
    await h.ec2.send(new DescribeRegionsCommand({}));

    await h.admin('POST', '/_sim/faults', { insufficientCapacity: [{ region: 'us-east-1', instanceType: 'c5.large' }] });
    const ice = await errorOf(h.ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 'c5.large', MinCount: 1, MaxCount: 1 })));
    expect(ice.name).to.equal('InsufficientInstanceCapacity');
    const spotIce = await errorOf(
      h.ec2.send(
        new RunInstancesCommand({ ImageId: imageId, InstanceType: 'c5.large', MinCount: 1, MaxCount: 1, InstanceMarketOptions: { MarketType: 'spot' } }),
      ),
    );
    expect(spotIce.name).to.equal('InsufficientInstanceCapacity');
    const req = await h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: imageId, InstanceType: 'c5.large' } }));
    const sirId = req.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    const waiting = await waitFor('capacity-not-available', async () => {
      const d = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
      return d.SpotInstanceRequests![0]!.Status?.Code === 'capacity-not-available' ? d.SpotInstanceRequests![0] : undefined;
    });
    expect(waiting.State).to.equal('open');
    const cancelled = await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
    expect(cancelled.CancelledSpotInstanceRequests![0]!.State).to.equal('cancelled');

    // a price below the market waits with price-too-low
    const low = await h.ec2.send(new RequestSpotInstancesCommand({ SpotPrice: '0.0001', LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large' } }));
    const lowId = low.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    await waitFor('price-too-low', async () => {
      const d = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [lowId] }));
      return d.SpotInstanceRequests![0]!.Status?.Code === 'price-too-low' ? true : undefined;
    });
    await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [lowId] }));

    // added latency: every API call waits at least that long (a lower bound, which a slow machine only adds to)
    await h.admin('POST', '/_sim/faults', { latencyMs: 400 });
    const t0 = performance.now();
    await h.ec2.send(new DescribeRegionsCommand({}));
    expect(performance.now() - t0).to.be.at.least(400);
    await h.admin('POST', '/_sim/faults', {});

    const stats = await h.admin<{ calls: Record<string, Record<string, number>> }>('GET', '/_sim/stats');
    expect(stats.body.calls.DescribeRegions!['us-east-1']).to.be.greaterThan(0);
    expect(stats.body.calls.CreateRole!.global).to.be.greaterThan(0);
  });

  it('relaunches a persistent request after an interruption, and expires requests at ValidUntil', async () => {
    const req = await h.ec2.send(
      new RequestSpotInstancesCommand({ Type: 'persistent', LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large' } }),
    );
    const sirId = req.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    const describe = async () => (await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }))).SpotInstanceRequests![0]!;
    const first = await waitFor('fulfilled', async () => {
      const r = await describe();
      return r.State === 'active' ? r.InstanceId : undefined;
    });
    await waitFor('running', async () => {
      const res = await h.admin('POST', `/_sim/instances/${first}/interrupt`);
      return res.status === 200 ? true : undefined;
    });
    const second = await waitFor('replacement', async () => {
      const r = await describe();
      return r.State === 'active' && r.InstanceId !== first ? r.InstanceId : undefined;
    });
    const old = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [first] }));
    expect(old.Reservations![0]!.Instances![0]!.State!.Name).to.equal('terminated');
    await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }));
    const cancelled = await describe();
    expect(cancelled.State).to.equal('cancelled');
    expect(cancelled.Status!.Code).to.equal('request-canceled-and-instance-running');
    await terminated([second]);

    // ValidUntil is simulated time: read the simulator's clock (from another process: fetchSimulatorClock)
    const clock = await fetchSimulatorClock(h.sim.endpoint);
    expect(Math.abs(clock.now() - h.sim.clock.now())).to.be.below(5_000);
    expect(h.sim.clock.now() - Date.now()).to.be.greaterThan(60_000); // 100x: well ahead of real time
    // a deadline from a real clock (already past in simulated time) keeps its real-time distance
    const realClock = await h.ec2.send(
      new RequestSpotInstancesCommand({ ValidUntil: new Date(Date.now() + 60_000), LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large' } }),
    );
    const mapped = realClock.SpotInstanceRequests![0]!.ValidUntil!.getTime() - h.sim.clock.now();
    expect(mapped).to.be.within(50 * 60_000, 101 * 60_000); // about 60 real s x 100
    await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [realClock.SpotInstanceRequests![0]!.SpotInstanceRequestId!] }));
    const past = await errorOf(
      h.ec2.send(new RequestSpotInstancesCommand({ ValidUntil: new Date(Date.now() - 60_000), LaunchSpecification: { ImageId: imageId, InstanceType: 'r5.large' } })),
    );
    expect(past.name).to.equal('InvalidParameterValue');
    expect(past.message).to.contain('ValidUntil').and.contain('simulated time');
    await h.admin('POST', '/_sim/faults', { insufficientCapacity: [{ instanceType: 'r5.large' }] });
    const expiring = await h.ec2.send(
      new RequestSpotInstancesCommand({
        ValidUntil: new Date(clock.now() + 120_000),
        LaunchSpecification: { ImageId: imageId, InstanceType: 'r5.large' },
      }),
    );
    const expId = expiring.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
    const expired = await waitFor('schedule-expired', async () => {
      const r = (await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [expId] }))).SpotInstanceRequests![0]!;
      return r.Status?.Code === 'schedule-expired' ? r : undefined;
    });
    expect(expired.State).to.equal('closed');
    await h.admin('POST', '/_sim/faults', {});
  });

  it('leaves an empty inventory after cleanup through the API', async () => {
    // instances terminated just now may still be shutting down: wait (bounded) for them to finish
    const inv = await waitFor('empty inventory', async () => {
      const res = await h.admin<Record<string, unknown[]>>('GET', '/_sim/inventory');
      return Object.values(res.body).every((l) => l.length === 0) ? res : undefined;
    }, 10_000).catch(() => h.admin<Record<string, unknown[]>>('GET', '/_sim/inventory'));
    expect(Object.keys(inv.body)).to.include.members(['instanceProfiles', 'instances', 'keyPairs', 'roles', 'securityGroups', 'spotRequests']);
    for (const [kind, list] of Object.entries(inv.body)) expect(list, kind).to.deep.equal([]);
    const health = await h.admin<{ ok: boolean }>('GET', '/_sim/healthz');
    expect(health.body.ok).to.equal(true);
  });

  it('fails to start on a taken port, and says why', async () => {
    const port = Number(new URL(h.sim.endpoint).port);
    const err = await errorOf(startSimulator({ port, sshPort: 0 }));
    expect(err.message).to.contain('EADDRINUSE');
    const bad = await errorOf(startSimulator({ port: 0, sshPort: 0, timeScale: -1 }));
    expect(bad.message).to.contain('timeScale');
  });

  it('resets through the admin API, and answers admin errors as JSON', async () => {
    await h.ec2.send(new CreateKeyPairCommand({ KeyName: 'to-reset', KeyType: 'ed25519' }));
    await h.iam.send(new CreateRoleCommand({ RoleName: 'to-reset', AssumeRolePolicyDocument: trust }));
    const onDemand = await runningInstance();
    const notSpot = await h.admin<{ error: { code: string; message: string } }>('POST', `/_sim/instances/${onDemand}/interrupt`);
    expect(notSpot.status).to.equal(409);
    expect(notSpot.body.error.message).to.contain('on-demand');
    const missing = await h.admin<{ error: { code: string } }>('POST', '/_sim/instances/i-0123456789abcdef0/interrupt');
    expect(missing.status).to.equal(404);
    expect(missing.body.error.code).to.equal('InstanceNotFound');
    const noRoute = await h.admin<{ error: { code: string } }>('GET', '/_sim/nothing');
    expect(noRoute.status).to.equal(404);
    const badJson = await h.admin<{ error: { code: string } }>('POST', '/_sim/faults', '{not json');
    expect(badJson.body.error.code).to.equal('InvalidJson');
    const reset = await h.admin<{ ok: boolean }>('POST', '/_sim/reset');
    expect(reset.body.ok).to.equal(true);
    const inv = await h.admin<Record<string, unknown[]>>('GET', '/_sim/inventory');
    for (const [kind, list] of Object.entries(inv.body)) expect(list, kind).to.deep.equal([]);
    const stats = await h.admin<{ total: number }>('GET', '/_sim/stats');
    expect(stats.body.total).to.equal(0);
    const d = await h.ec2.send(new DescribeInstancesCommand({}));
    expect(d.Reservations).to.deep.equal([]);
  });
});
