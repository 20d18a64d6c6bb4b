/**
 * The signals placement lives on, as AWS serves them: the placement-score query budget per account, scores
 * that fall where a pool has been interrupting, the spot vCPU quota per region, forced pool outages, copied
 * images, instance type offerings and opt-in regions. Real SDK, real sockets.
 */
import { expect } from 'chai';
import {
  CancelSpotInstanceRequestsCommand,
  CopyImageCommand,
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeInstanceTypesCommand,
  DescribeRegionsCommand,
  DescribeSnapshotsCommand,
  DescribeSpotInstanceRequestsCommand,
  DescribeSpotPriceHistoryCommand,
  EC2Client,
  GetSpotPlacementScoresCommand,
  RequestSpotInstancesCommand,
  RunInstancesCommand,
  paginateDescribeInstanceTypeOfferings,
} from '@aws-sdk/client-ec2';
import type { GetSpotPlacementScoresCommandInput } from '@aws-sdk/client-ec2';
import { errorOf, startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

interface Stats {
  calls: Record<string, Record<string, number>>;
  placementScores: {
    limit: number;
    calls: number;
    refusals: number;
    accounts: Record<string, { calls: number; newConfigurations: number; configurationsInWindow: number; refusals: number }>;
  };
  interruptions: Record<string, number>;
  spotQuotaRefusals: number;
}

const THREE = ['m5.large', 'c5.large', 'r5.large'];

async function amazonImage(ec2: EC2Client, arch: 'x86_64' | 'arm64'): Promise<string> {
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: [arch] }] }));
  return images.Images![0]!.ImageId!;
}

describe('simulator: market signals for placement', function () {
  this.timeout(60_000);

  describe('GetSpotPlacementScores budget', () => {
    let h: Harness;
    // 20,000 simulated seconds per real second: the 24-hour window passes in about 4.3 real seconds
    before(async () => {
      h = await startHarness({ timeScale: 20_000, faults: { placementScoreConfigLimit: 3 } });
    });
    after(async () => h?.close());

    const ask = (ec2: EC2Client, target: number, extra: Partial<GetSpotPlacementScoresCommandInput> = {}) =>
      ec2.send(new GetSpotPlacementScoresCommand({ InstanceTypes: THREE, TargetCapacity: target, RegionNames: ['us-east-1', 'us-west-2'], ...extra }));

    it('refuses a new configuration past the limit with MaxConfigLimitExceeded, per access key, and forgets after 24 simulated hours', async () => {
      await ask(h.ec2, 1);
      await ask(h.ec2, 5);
      // the same types, capacity and unit over other regions is the same configuration: free
      await ask(h.ec2, 1, { RegionNames: ['eu-west-1'] });
      await ask(h.ec2, 10);
      const refused = await errorOf(ask(h.ec2, 15));
      expect(refused.name).to.equal('MaxConfigLimitExceeded');
      expect(refused.message).to.match(/exceeded your maximum allowed Spot placement configurations/);
      expect(refused.$metadata?.httpStatusCode).to.equal(400);
      // the single-AZ flag makes another configuration
      expect((await errorOf(ask(h.ec2, 1, { SingleAvailabilityZone: true }))).name).to.equal('MaxConfigLimitExceeded');
      // configurations already asked stay free, in any order of types
      const again = await h.ec2.send(new GetSpotPlacementScoresCommand({ InstanceTypes: [...THREE].reverse(), TargetCapacity: 5, RegionNames: ['us-east-1'] }));
      expect(again.SpotPlacementScores!.length).to.equal(1);
      // another access key is another account with a budget of its own
      const other = new EC2Client({ endpoint: h.sim.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDOTHERACCOUNT', secretAccessKey: 'x' }, maxAttempts: 1 });
      try {
        await ask(other, 15);
        const stats = (await h.admin<Stats>('GET', '/_sim/stats')).body.placementScores;
        expect(stats.limit).to.equal(3);
        expect(stats.refusals).to.equal(2);
        expect(stats.accounts['AKIDSIMULATOR']).to.include({ newConfigurations: 3, refusals: 2 });
        expect(stats.accounts['AKIDOTHERACCOUNT']).to.include({ calls: 1, newConfigurations: 1, refusals: 0 });
        expect(stats.calls).to.equal(stats.accounts['AKIDSIMULATOR']!.calls + 1);
      } finally {
        other.destroy();
      }
      // a rolling 24 hours: once the first configurations are a day old, a new one is accepted
      await waitFor('the 24-hour window to pass', async () => ((await ask(h.ec2, 15).catch(() => undefined)) ? true : undefined), 20_000, 250);
      const after = (await h.admin<Stats>('GET', '/_sim/stats')).body.placementScores.accounts['AKIDSIMULATOR']!;
      expect(after.newConfigurations).to.equal(4);
      expect(after.configurationsInWindow).to.be.at.most(3);
    });

    it('enforces the API bounds: at most 10 regions, at most 1000 instance types', async () => {
      const regions = (await h.ec2.send(new DescribeRegionsCommand({}))).Regions!.map((r) => r.RegionName!).slice(0, 11);
      const err = await errorOf(ask(h.ec2, 1, { RegionNames: regions }));
      expect(err.name).to.equal('InvalidParameterValue');
      expect(err.message).to.match(/RegionNames/);
      const many = Array.from({ length: 1001 }, () => 'm5.large');
      expect((await errorOf(ask(h.ec2, 1, { InstanceTypes: many }))).name).to.equal('InvalidParameterValue');
    });

    it('is set through /_sim/faults and restored by reset', async () => {
      expect((await h.admin('POST', '/_sim/faults', { placementScoreConfigLimit: -1 })).status).to.equal(400);
      await h.admin('POST', '/_sim/reset');
      expect((await h.admin<Stats>('GET', '/_sim/stats')).body.placementScores).to.deep.include({ limit: 3, calls: 0, refusals: 0 });
      await h.admin('POST', '/_sim/faults', {});
      expect((await h.admin<Stats>('GET', '/_sim/stats')).body.placementScores.limit).to.equal(50);
    });
  });

  describe('scores, interruptions, outages and quota', () => {
    let h: Harness;
    let image: string;
    beforeEach(async () => {
      h = await startHarness({ seed: 21, timeScale: 60 });
      image = await amazonImage(h.ec2, 'x86_64');
    });
    afterEach(async () => h?.close());

    const zoneScores = async (): Promise<Map<string, number>> => {
      const out = await h.ec2.send(new GetSpotPlacementScoresCommand({ InstanceTypes: THREE, TargetCapacity: 1, SingleAvailabilityZone: true, RegionNames: ['us-east-1'] }));
      return new Map(out.SpotPlacementScores!.map((s) => [s.AvailabilityZoneId!, s.Score!]));
    };

    it('a pool interrupted through POST /_sim/pools/interrupt scores lower in its zone, and the others do not move', async () => {
      const before = await zoneScores();
      const run = await h.ec2.send(
        new RunInstancesCommand({ ImageId: image, InstanceType: 'm5.large', MinCount: 3, MaxCount: 3, Placement: { AvailabilityZone: 'us-east-1a' }, InstanceMarketOptions: { MarketType: 'spot' } }),
      );
      const ids = run.Instances!.map((i) => i.InstanceId!);
      const res = await h.admin<{ interrupted: string[]; terminationTime: string }>('POST', '/_sim/pools/interrupt', { region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 'm5.large' });
      expect(res.status).to.equal(200);
      expect([...res.body.interrupted].sort()).to.deep.equal([...ids].sort());
      const after = await zoneScores();
      // us-east-1a is use1-az1
      expect(after.get('use1-az1')).to.be.below(before.get('use1-az1')!);
      for (const [zone, score] of before) if (zone !== 'use1-az1') expect(after.get(zone)).to.equal(score);
      const stats = (await h.admin<Stats>('GET', '/_sim/stats')).body;
      expect(stats.interruptions['us-east-1|us-east-1a|m5.large']).to.equal(3);
      // the requests behind them are marked for termination, as at a market interruption
      const reqs = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }));
      expect(reqs.SpotInstanceRequests!.map((r) => r.Status!.Code)).to.deep.equal(['marked-for-termination', 'marked-for-termination', 'marked-for-termination']);
    });

    it('keeps a pool without capacity and interrupting for the windows asked', async () => {
      const res = await h.admin<{ interrupted: string[]; noCapacityUntil: string }>('POST', '/_sim/pools/interrupt', {
        region: 'us-east-1',
        availabilityZone: 'us-east-1b',
        instanceType: 'c5.large',
        noCapacitySeconds: 3600,
      });
      expect(res.body.interrupted).to.deep.equal([]);
      expect(Date.parse(res.body.noCapacityUntil)).to.be.greaterThan(h.sim.clock.now());
      const spot = (zone: string, type = 'c5.large') =>
        h.ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: type as never, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: zone }, InstanceMarketOptions: { MarketType: 'spot' } }));
      expect((await errorOf(spot('us-east-1b'))).name).to.equal('InsufficientInstanceCapacity');
      await spot('us-east-1c');
      // an interrupting pool: what starts running there gets the notice at once
      await h.admin('POST', '/_sim/pools/interrupt', { region: 'us-east-1', availabilityZone: 'us-east-1d', instanceType: 'r5.large', interruptingSeconds: 3600 });
      const id = (await spot('us-east-1d', 'r5.large')).Instances![0]!.InstanceId!;
      await waitFor('the notice of an instance in an interrupting pool', async () => {
        const stats = (await h.admin<Stats>('GET', '/_sim/stats')).body;
        return stats.interruptions['us-east-1|us-east-1d|r5.large'] === 1 ? true : undefined;
      });
      const inv = (await h.admin<{ instances: { instanceId: string; state: string }[] }>('GET', '/_sim/inventory')).body;
      expect(inv.instances.find((i) => i.instanceId === id)?.state ?? 'gone').to.be.oneOf(['running', 'shutting-down', 'gone']);
      expect((await h.admin('POST', '/_sim/pools/interrupt', { region: 'us-east-1', noCapacitySeconds: -1 })).status).to.equal(400);
    });

    it('refuses spot launches past the region spot vCPU quota with MaxSpotInstanceCountExceeded, counting open requests', async () => {
      await h.admin('POST', '/_sim/faults', { spotVcpuQuota: { 'us-east-1': 4 } });
      await h.admin('POST', '/_sim/spot-requests/hold', { hold: true });
      // m5.large has 2 vCPUs: two open requests fill the quota
      const two = await h.ec2.send(new RequestSpotInstancesCommand({ InstanceCount: 2, LaunchSpecification: { ImageId: image, InstanceType: 'm5.large' } }));
      const over = await errorOf(h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: image, InstanceType: 'c5.large' } })));
      expect(over.name).to.equal('MaxSpotInstanceCountExceeded');
      expect(over.message).to.equal('Max spot instance count exceeded');
      const run = await errorOf(
        h.ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: 'm5.large', MinCount: 1, MaxCount: 1, InstanceMarketOptions: { MarketType: 'spot' } })),
      );
      expect(run.name).to.equal('MaxSpotInstanceCountExceeded');
      // CreateFleet reports it as an error entry
      const lt = await h.ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: 'quota', LaunchTemplateData: { ImageId: image } }));
      const fleet = await h.ec2.send(
        new CreateFleetCommand({
          Type: 'instant',
          TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
          LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: lt.LaunchTemplate!.LaunchTemplateId, Version: '1' }, Overrides: [{ InstanceType: 'm5.large' }] }],
        }),
      );
      expect(fleet.Instances ?? []).to.have.length(0);
      expect(fleet.Errors!.map((e) => e.ErrorCode)).to.deep.equal(['MaxSpotInstanceCountExceeded']);
      // other regions, on-demand and families outside the standard quota are not limited by it
      await h.ec2In('us-west-2').send(new RequestSpotInstancesCommand({ InstanceCount: 3, LaunchSpecification: { ImageId: await amazonImage(h.ec2In('us-west-2'), 'x86_64'), InstanceType: 'm5.large' } }));
      await h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: image, InstanceType: 'p3.2xlarge' } }));
      await h.ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: 'm5.large', MinCount: 1, MaxCount: 1 }));
      // cancelling the open requests gives the room back
      await h.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: two.SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId!) }));
      await h.ec2.send(new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: image, InstanceType: 'c5.large' } }));
      expect((await h.admin<Stats>('GET', '/_sim/stats')).body.spotQuotaRefusals).to.equal(3);
    });
  });

  describe('images, offerings and regions', () => {
    let h: Harness;
    before(async () => {
      h = await startHarness({ timeScale: 60, faults: { imageCopySeconds: 60, disabledRegions: ['af-south-1'] } });
    });
    after(async () => h?.close());

    it('copies an image to another region: pending, then available with its tags; idempotent; arm64 only for arm64 types; deregistered', async () => {
      const west = h.ec2In('us-west-2');
      const source = await amazonImage(h.ec2, 'arm64');
      const copy = () =>
        west.send(
          new CopyImageCommand({
            SourceRegion: 'us-east-1',
            SourceImageId: source,
            Name: 'galaxy-arm64 (prepared)',
            ClientToken: 'copy-1',
            TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'spotbatch:job', Value: 'j-1' }] }],
          }),
        );
      const id = (await copy()).ImageId!;
      expect(id).to.match(/^ami-[0-9a-f]{17}$/);
      expect((await copy()).ImageId).to.equal(id);
      const pending = (await west.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images![0]!;
      expect(pending).to.include({ State: 'pending', Architecture: 'arm64', OwnerId: '123456789012', SourceImageId: source, SourceImageRegion: 'us-east-1' });
      expect(pending.Tags).to.deep.equal([{ Key: 'spotbatch:job', Value: 'j-1' }]);
      const launch = (type: string) => west.send(new RunInstancesCommand({ ImageId: id, InstanceType: type as never, MinCount: 1, MaxCount: 1 }));
      expect((await errorOf(launch('c7g.large'))).name).to.equal('InvalidAMIID.Unavailable');
      await waitFor('the copy to be available', async () => {
        const img = (await west.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: ['j-1'] }] }))).Images![0];
        return img?.State === 'available' ? img : undefined;
      });
      // not visible in the source region, and not among Amazon's
      expect((await errorOf(h.ec2.send(new DescribeImagesCommand({ ImageIds: [id] })))).name).to.equal('InvalidAMIID.NotFound');
      expect((await west.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images!.map((i) => i.ImageId)).to.not.include(id);
      const arm = await launch('c7g.large');
      expect(arm.Instances![0]!.ImageId).to.equal(id);
      const mismatch = await errorOf(launch('m5.large'));
      expect(mismatch.name).to.equal('InvalidParameterValue');
      expect(mismatch.message).to.match(/architecture/);
      // the same name twice in a region is refused; an unknown source is NotFound
      expect((await errorOf(west.send(new CopyImageCommand({ SourceRegion: 'us-east-1', SourceImageId: source, Name: 'galaxy-arm64 (prepared)' })))).name).to.equal(
        'InvalidAMIName.Duplicate',
      );
      expect((await errorOf(west.send(new CopyImageCommand({ SourceRegion: 'us-east-1', SourceImageId: 'ami-0123456789abcdef0', Name: 'x-copy' })))).name).to.equal(
        'InvalidAMIID.NotFound',
      );
      const inv = (await h.admin<{ images: { imageId: string; region: string; state: string }[] }>('GET', '/_sim/inventory')).body.images;
      expect(inv).to.deep.equal([{ imageId: id, name: 'galaxy-arm64 (prepared)', region: 'us-west-2', state: 'available', architecture: 'arm64', sourceImageId: source, sourceRegion: 'us-east-1', tags: { 'spotbatch:job': 'j-1' } }]);
      expect((await errorOf(h.ec2.send(new DeregisterImageCommand({ ImageId: source })))).name).to.equal('AuthFailure');
      expect((await west.send(new DeregisterImageCommand({ ImageId: id }))).Return).to.equal(true);
      expect((await errorOf(west.send(new DescribeImagesCommand({ ImageIds: [id] })))).name).to.equal('InvalidAMIID.NotFound');
      expect((await errorOf(west.send(new DeregisterImageCommand({ ImageId: id })))).name).to.equal('InvalidAMIID.NotFound');
    });

    it('gives a copy a snapshot of its own (tagged by TagSpecifications snapshot), in use while the image is registered, deleted with DeleteAssociatedSnapshots', async () => {
      const west = h.ec2In('us-west-2');
      const source = await amazonImage(h.ec2, 'x86_64');
      const tag = [{ Key: 'spotbatch:job', Value: 'j-snap' }];
      const copy = async (name: string) =>
        (
          await west.send(
            new CopyImageCommand({ SourceRegion: 'us-east-1', SourceImageId: source, Name: name, TagSpecifications: [{ ResourceType: 'image', Tags: tag }, { ResourceType: 'snapshot', Tags: tag }] }),
          )
        ).ImageId!;
      const tagged = async () => (await west.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:spotbatch:job', Values: ['j-snap'] }] }))).Snapshots ?? [];
      const first = await copy('snap-one');
      const image = (await west.send(new DescribeImagesCommand({ ImageIds: [first] }))).Images![0]!;
      const snapshotId = image.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
      expect(snapshotId).to.match(/^snap-[0-9a-f]{17}$/);
      const [snap] = await tagged();
      expect(snap).to.include({ SnapshotId: snapshotId, OwnerId: '123456789012', VolumeSize: 8 });
      expect(snap!.Tags).to.deep.equal(tag);
      // not in the source region; another owner's list holds none of it
      expect((await h.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots).to.deep.equal([]);
      expect((await west.send(new DescribeSnapshotsCommand({ OwnerIds: ['amazon'] }))).Snapshots).to.deep.equal([]);
      // the image uses it: refused until the image is deregistered (without DeleteAssociatedSnapshots the snapshot stays)
      const inUse = await errorOf(west.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })));
      expect(inUse.name).to.equal('InvalidSnapshot.InUse');
      expect(inUse.message).to.contain(first);
      await west.send(new DeregisterImageCommand({ ImageId: first }));
      expect((await tagged()).map((x) => x.SnapshotId)).to.deep.equal([snapshotId]);
      await west.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      expect((await errorOf(west.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })))).name).to.equal('InvalidSnapshot.NotFound');
      expect((await errorOf(west.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })))).name).to.equal('InvalidSnapshot.NotFound');
      expect((await errorOf(west.send(new DeleteSnapshotCommand({ SnapshotId: 'vol-1' })))).name).to.equal('InvalidSnapshotID.Malformed');
      // DeleteAssociatedSnapshots: the image and its snapshot go together, with a result per snapshot
      const second = await copy('snap-two');
      const secondSnap = (await west.send(new DescribeImagesCommand({ ImageIds: [second] }))).Images![0]!.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
      const out = await west.send(new DeregisterImageCommand({ ImageId: second, DeleteAssociatedSnapshots: true }));
      expect(out.DeleteSnapshotResults).to.deep.equal([{ SnapshotId: secondSnap, ReturnCode: 'success' }]);
      expect(await tagged()).to.deep.equal([]);
      const inventory = (await h.admin<{ snapshots: { tags: Record<string, string> }[] }>('GET', '/_sim/inventory')).body.snapshots;
      expect(inventory.filter((x) => x.tags['spotbatch:job'] === 'j-snap')).to.deep.equal([]);
    });

    it('fails a copy into a region of the fault imageCopyFailRegions (State failed, StateReason), and leaves other regions alone', async () => {
      const faults = (await h.admin<{ faults: Record<string, unknown> }>('GET', '/_sim/faults')).body.faults;
      await h.admin('POST', '/_sim/faults', { ...faults, imageCopyFailRegions: ['eu-west-1'] });
      try {
        const source = await amazonImage(h.ec2, 'x86_64');
        const eu = h.ec2In('eu-west-1');
        const west = h.ec2In('us-west-2');
        const failing = (await eu.send(new CopyImageCommand({ SourceRegion: 'us-east-1', SourceImageId: source, Name: 'doomed' }))).ImageId!;
        const fine = (await west.send(new CopyImageCommand({ SourceRegion: 'us-east-1', SourceImageId: source, Name: 'fine' }))).ImageId!;
        const failed = await waitFor('the copy to fail', async () => {
          const img = (await eu.send(new DescribeImagesCommand({ ImageIds: [failing] }))).Images![0];
          return img?.State === 'failed' ? img : undefined;
        });
        expect(failed.StateReason?.Code).to.equal('Client.InternalError');
        expect((await west.send(new DescribeImagesCommand({ ImageIds: [fine] }))).Images![0]!.State).to.equal('available');
        expect((await eu.send(new DeregisterImageCommand({ ImageId: failing, DeleteAssociatedSnapshots: true }))).Return).to.equal(true);
        await west.send(new DeregisterImageCommand({ ImageId: fine, DeleteAssociatedSnapshots: true }));
      } finally {
        await h.admin('POST', '/_sim/faults', faults);
      }
    });

    it('answers DescribeInstanceTypes and DescribeSpotPriceHistory for the types the region offers only', async () => {
      // f2.12xlarge: offered in us-east-1, not in us-west-2 (the advisor snapshot)
      const west = h.ec2In('us-west-2');
      const offered = async (ec2: EC2Client) => (await ec2.send(new DescribeInstanceTypeOfferingsCommand({ Filters: [{ Name: 'instance-type', Values: ['f2.12xlarge'] }] }))).InstanceTypeOfferings!.length;
      expect([await offered(h.ec2), await offered(west)]).to.deep.equal([1, 0]);
      expect((await h.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['f2.12xlarge', 'm5.large'] }))).InstanceTypes!.length).to.equal(2);
      const err = await errorOf(west.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['f2.12xlarge', 'm5.large'] })));
      expect(err.name).to.equal('InvalidInstanceType');
      expect(err.message).to.contain('f2.12xlarge').and.not.contain('m5.large');
      const prices = async (ec2: EC2Client) =>
        new Set((await ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['f2.12xlarge', 'm5.large'], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date() }))).SpotPriceHistory!.map((p) => p.InstanceType));
      expect([...(await prices(h.ec2))].sort()).to.deep.equal(['f2.12xlarge', 'm5.large']);
      expect([...(await prices(west))]).to.deep.equal(['m5.large']);
    });

    it('answers DescribeInstanceTypeOfferings per region and zone, filtered and paginated', async () => {
      const byZone = await h.ec2.send(
        new DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: ['m5.large', 'c7g.large'] }] }),
      );
      const zones = byZone.InstanceTypeOfferings!.filter((o) => o.InstanceType === 'm5.large').map((o) => o.Location);
      expect(zones).to.deep.equal(['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f']);
      expect(byZone.InstanceTypeOfferings!.some((o) => o.InstanceType === 'c7g.large')).to.equal(true);
      const ids = await h.ec2In('eu-west-1').send(new DescribeInstanceTypeOfferingsCommand({ LocationType: 'availability-zone-id', Filters: [{ Name: 'instance-type', Values: ['m5.large'] }] }));
      expect(ids.InstanceTypeOfferings!.map((o) => o.Location)).to.deep.equal(['euw1-az1', 'euw1-az2', 'euw1-az3']);
      const region = await h.ec2.send(new DescribeInstanceTypeOfferingsCommand({ Filters: [{ Name: 'location', Values: ['us-east-1'] }, { Name: 'instance-type', Values: ['m5.*'] }] }));
      expect(region.InstanceTypeOfferings!.length).to.be.greaterThan(3);
      for (const o of region.InstanceTypeOfferings!) expect(o).to.include({ LocationType: 'region', Location: 'us-east-1' });
      let pages = 0;
      let rows = 0;
      for await (const page of paginateDescribeInstanceTypeOfferings({ client: h.ec2, pageSize: 5 }, { Filters: [{ Name: 'instance-type', Values: ['m5.*'] }] })) {
        pages++;
        rows += page.InstanceTypeOfferings!.length;
      }
      expect(pages).to.be.greaterThan(1);
      expect(rows).to.equal(region.InstanceTypeOfferings!.length);
      // a type the advisor lists in some regions only is offered only there
      const all = await h.ec2.send(new DescribeRegionsCommand({}));
      const offering = await Promise.all(
        all.Regions!.map(async (r) => (await h.ec2In(r.RegionName!).send(new DescribeInstanceTypeOfferingsCommand({ Filters: [{ Name: 'instance-type', Values: ['p3.2xlarge'] }] }))).InstanceTypeOfferings!.length),
      );
      expect(offering.filter((n) => n > 0).length).to.be.within(1, all.Regions!.length - 1);
    });

    it('answers an action made unsupported (faults.unsupportedActions) with InvalidAction, HTTP 400, as AWS an action it does not serve', async () => {
      const faults = (await h.admin<{ faults: Record<string, unknown> }>('GET', '/_sim/faults')).body.faults;
      await h.admin('POST', '/_sim/faults', { ...faults, unsupportedActions: ['DescribeInstanceTypeOfferings'] });
      try {
        for (const region of ['us-east-1', 'eu-west-1']) {
          const err = await errorOf(h.ec2In(region).send(new DescribeInstanceTypeOfferingsCommand({ LocationType: 'region', Filters: [{ Name: 'instance-type', Values: ['m5.large'] }] })));
          expect(err.name, region).to.equal('InvalidAction');
          expect(err.message).to.equal('The action DescribeInstanceTypeOfferings is not valid for this web service.');
          expect(err.$metadata?.httpStatusCode).to.equal(400);
        }
        // the other actions are served as before
        expect((await h.ec2.send(new DescribeRegionsCommand({}))).Regions!.length).to.be.greaterThan(0);
        const stats = (await h.admin<{ errors: Record<string, number> }>('GET', '/_sim/stats')).body;
        expect(stats.errors.InvalidAction).to.be.at.least(2);
      } finally {
        await h.admin('POST', '/_sim/faults', faults);
      }
      expect((await h.ec2.send(new DescribeInstanceTypeOfferingsCommand({ Filters: [{ Name: 'instance-type', Values: ['m5.large'] }] }))).InstanceTypeOfferings!.length).to.be.greaterThan(0);
    });

    it('lists enabled regions only, all with AllRegions, and refuses calls in a disabled one', async () => {
      const enabled = (await h.ec2.send(new DescribeRegionsCommand({}))).Regions!;
      expect(enabled.map((r) => r.RegionName)).to.not.include('af-south-1');
      expect(enabled.find((r) => r.RegionName === 'us-east-1')!.OptInStatus).to.equal('opt-in-not-required');
      const all = (await h.ec2.send(new DescribeRegionsCommand({ AllRegions: true }))).Regions!;
      expect(all.find((r) => r.RegionName === 'af-south-1')!.OptInStatus).to.equal('not-opted-in');
      expect(all.length).to.equal(enabled.length + 1);
      const optedIn = (await h.ec2.send(new DescribeRegionsCommand({ Filters: [{ Name: 'opt-in-status', Values: ['opted-in'] }] }))).Regions!;
      expect(optedIn.map((r) => r.RegionName)).to.include('ap-east-1');
      expect((await errorOf(h.ec2In('af-south-1').send(new DescribeInstanceTypeOfferingsCommand({})))).name).to.equal('AuthFailure');
    });
  });
});
