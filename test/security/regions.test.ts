/** Regions and images per region, against the simulator: "auto" and listed regions, the arm64 image of an arm64 type. */
import { expect } from 'chai';
import { CopyImageCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { jobArchitectures, resolveJobRegions, typesOffered } from '../../services/security/regions.js';
import { resolveImages } from '../../services/spot/images.js';
import { checkSourceImage, deregisterJobImages, startImageCopy } from '../../services/ec2/images.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { newJobId, startSecurityHarness, type SecurityHarness } from './helpers.js';

const spec = (instances: Record<string, unknown>) => parseJobSpec({ name: 'r', tasks: { count: 1 }, command: ['true'], instances });

describe('regions and images per region (simulator)', function () {
  this.timeout(30_000);
  let s: SecurityHarness;
  before(async () => {
    s = await startSecurityHarness();
  });
  after(async () => {
    await s.close();
  });
  afterEach(async () => {
    await s.h.admin('POST', '/_sim/faults', {});
  });

  it('gives an arm64 type the arm64 Amazon Linux image of each region, and an x86_64 type the x86_64 one', async () => {
    for (const region of ['us-east-1', 'eu-west-1']) {
      const images = await resolveImages(s.cloud, region, spec({ types: ['m6g.large', 'm5.large'], regions: [region] }));
      expect(images['m6g.large']).to.match(/^ami-/);
      expect(images['m6g.large']).to.not.equal(images['m5.large']);
      const out = await s.cloud.ec2(region).send(new DescribeImagesCommand({ ImageIds: [images['m6g.large']!, images['m5.large']!] }));
      const arch = Object.fromEntries((out.Images ?? []).map((i) => [i.ImageId, i.Architecture]));
      expect(arch[images['m6g.large']!], region).to.equal('arm64');
      expect(arch[images['m5.large']!], region).to.equal('x86_64');
    }
  });

  it('resolves images in a region that offers only some of the types, for those types (f2.12xlarge: us-east-1 only)', async () => {
    const both = spec({ types: ['m5.large', 'f2.12xlarge'], regions: ['us-east-1', 'us-west-2'] });
    const resolved = await resolveJobRegions(s.cloud, 'us-east-1', both, ['us-east-1']);
    expect(resolved.regions).to.deep.equal(['us-east-1', 'us-west-2']);
    expect(resolved.offered).to.deep.equal({ 'us-east-1': ['m5.large', 'f2.12xlarge'], 'us-west-2': ['m5.large'] });
    expect(Object.keys(await resolveImages(s.cloud, 'us-east-1', both)).sort()).to.deep.equal(['f2.12xlarge', 'm5.large']);
    const west = await resolveImages(s.cloud, 'us-west-2', both);
    expect(Object.keys(west)).to.deep.equal(['m5.large']);
    // A custom image of us-west-2 suits both types: f2.12xlarge's architecture comes from us-east-1, which offers it.
    const source = (await s.cloud.ec2('us-west-2').send(new DescribeImagesCommand({ ImageIds: [west['m5.large']!] }))).Images![0]!;
    const arch = await jobArchitectures(s.cloud, both.instances.types, resolved, 'us-west-2');
    expect(arch).to.deep.equal({ 'm5.large': 'x86_64', 'f2.12xlarge': 'x86_64' });
    expect(await checkSourceImage(s.cloud, { id: source.ImageId!, region: 'us-west-2' }, both.instances.types, arch)).to.equal('x86_64');
    // A type none of the job's regions offers (no architecture asked) is named so, not as of no known architecture.
    const westOnly = { regions: ['us-west-2'], dropped: [], unchecked: false, offered: { 'us-west-2': ['m5.large'] } };
    const narrow = await jobArchitectures(s.cloud, both.instances.types, westOnly);
    expect(narrow).to.deep.equal({ 'm5.large': 'x86_64' });
    const refused = await checkSourceImage(s.cloud, { id: source.ImageId!, region: 'us-west-2' }, both.instances.types, narrow).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(PermanentError);
    expect((refused as Error).message).to.equal("instances.types[1]: 'f2.12xlarge' is offered in none of the job's regions");
    // A region offering none of them is named.
    const err = await resolveImages(s.cloud, 'us-west-2', spec({ types: ['f2.12xlarge'], regions: ['us-west-2'] })).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain('us-west-2').and.contain('f2.12xlarge');
  });

  it('deletes the snapshots of a job\'s copied images by their tag, also after an earlier teardown deregistered the image and a DeleteSnapshot failed', async () => {
    const jobId = newJobId();
    const west = s.cloud.ec2('us-west-2');
    const source = (await s.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
    const tags = [{ Key: 'spotbatch:fleet', Value: 'spotbatch' }, { Key: 'spotbatch:job', Value: jobId }];
    const snapshots = async () =>
      ((await west.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }))).Snapshots ?? []).map((x) => x.SnapshotId);
    // A copy whose image an earlier run deregistered (its snapshots left behind), and one still registered.
    const gone = await startImageCopy(s.cloud, { fleet: 'spotbatch', jobId, source: { id: source, region: 'us-east-1' }, region: 'us-west-2', tags });
    await west.send(new DeregisterImageCommand({ ImageId: gone }));
    const kept = await startImageCopy(s.cloud, { fleet: 'spotbatch', jobId: `${jobId}-b`, source: { id: source, region: 'us-east-1' }, region: 'us-west-2', tags });
    expect(await snapshots()).to.have.length(2);
    // DeleteSnapshot refused (throttled) on the first teardown: it fails, retryable, and the snapshot is still tagged.
    await s.h.admin('POST', '/_sim/faults', { throttleRate: 1, throttleActions: ['DeleteSnapshot'] });
    const err = await deregisterJobImages(s.cloud, 'us-west-2', { fleet: 'spotbatch', jobId }, [gone], source).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TransientError);
    expect((await s.cloud.ec2('us-west-2').send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }))).Images ?? []).to.deep.equal([]);
    expect(await snapshots()).to.have.length.of.at.least(1);
    // The next teardown finds what is left by the job's tag alone (no image names it any more).
    await s.h.admin('POST', '/_sim/faults', {});
    await deregisterJobImages(s.cloud, 'us-west-2', { fleet: 'spotbatch', jobId }, [], source);
    expect(await snapshots()).to.deep.equal([]);
    expect((await s.h.admin<{ snapshots: { tags: Record<string, string> }[] }>('GET', '/_sim/inventory')).body.snapshots.filter((x) => x.tags['spotbatch:job'] === jobId)).to.deep.equal([]);
    expect(kept).to.match(/^ami-/);
  });

  it('leaves a job-tagged snapshot that an image not of the job uses (InvalidSnapshot.InUse), named, instead of waiting for ever', async () => {
    const jobId = newJobId();
    const west = s.cloud.ec2('us-west-2');
    const source = (await s.cloud.ec2('us-east-1').send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
    // The user's image (not tagged with the job) on a snapshot tagged with the job: as if registered from the job's snapshot.
    const users = await west.send(
      new CopyImageCommand({
        SourceImageId: source,
        SourceRegion: 'us-east-1',
        Name: `user-${jobId}`,
        TagSpecifications: [
          { ResourceType: 'image', Tags: [{ Key: 'owner', Value: 'user' }] },
          { ResourceType: 'snapshot', Tags: [{ Key: 'spotbatch:fleet', Value: 'spotbatch' }, { Key: 'spotbatch:job', Value: jobId }] },
        ],
      }),
    );
    const snapshot = (await west.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: [jobId] }] }))).Snapshots![0]!.SnapshotId!;
    const out = await deregisterJobImages(s.cloud, 'us-west-2', { fleet: 'spotbatch', jobId }, [], source);
    expect(out.left).to.have.length(1);
    expect(out.left[0]!.snapshotId).to.equal(snapshot);
    expect(out.left[0]!.reason).to.contain(users.ImageId!);
    // The user's image and its snapshot are still there.
    expect((await west.send(new DescribeImagesCommand({ ImageIds: [users.ImageId!] }))).Images).to.have.length(1);
    expect((await west.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot] }))).Snapshots).to.have.length(1);
    await west.send(new DeregisterImageCommand({ ImageId: users.ImageId!, DeleteAssociatedSnapshots: true }));
  });

  it('refuses a region EC2 does not offer, naming instances.regions', async () => {
    const err = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: ['us-east-1', 'us-nowhere-1'] }), ['us-east-1']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain('instances.regions').and.contain('us-nowhere-1');
  });

  it('"auto" keeps only the enabled regions that offer one of the types, and names a type offered nowhere by its field path', async () => {
    const auto = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m6g.large'], regions: 'auto' }), ['us-east-1']);
    expect(auto.unchecked).to.equal(false);
    expect(auto.regions.length).to.be.greaterThan(0);
    for (const r of [...auto.regions, ...auto.dropped]) {
      const offered = [...((await typesOffered(s.cloud, r, ['m6g.large'])) ?? [])];
      expect(offered, r).to.deep.equal(auto.regions.includes(r) ? ['m6g.large'] : []);
    }
    const err = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large', 'zz9.nothing'], regions: 'auto' }), ['us-east-1']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain("instances.types[1]: 'zz9.nothing'");
  });

  it('without DescribeInstanceTypeOfferings, "auto" is the fleet\'s configured regions (those enabled) and a list is kept', async () => {
    // EC2 that does not serve the action: the simulator answers InvalidAction, as AWS does for an action it does not know.
    await s.h.admin('POST', '/_sim/faults', { unsupportedActions: ['DescribeInstanceTypeOfferings'], disabledRegions: ['af-south-1'] });
    expect(await typesOffered(s.cloud, 'us-east-1', ['m5.large'])).to.equal(undefined);
    const auto = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: 'auto' }), ['us-west-2', 'af-south-1', 'us-east-1']);
    expect(auto).to.deep.equal({ regions: ['us-west-2', 'us-east-1'], dropped: [], unchecked: true });
    const listed = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: ['eu-west-1', 'us-east-1'] }), ['us-east-1']);
    expect(listed.regions).to.deep.equal(['eu-west-1', 'us-east-1']);
    expect(listed.unchecked).to.equal(true);
  });
});
