/** CreateFleet (instant) through the SDK: strategies, mixed capacity, capacity errors, cleanup. */
import { expect } from 'chai';
import {
  CreateFleetCommand,
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSpotInstanceRequestsCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { errorOf, startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

describe('simulator: CreateFleet (instant)', function () {
  this.timeout(60_000);
  let h: Harness;
  let templateId: string;
  const launched: string[] = [];

  before(async () => {
    h = await startHarness({ timeScale: 100, launchLatency: { kind: 'fixed', seconds: 5 } });
    const images = await h.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
    const lt = await h.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'fleet-test',
        LaunchTemplateData: { ImageId: images.Images![0]!.ImageId, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'from', Value: 'template' }] }] },
      }),
    );
    templateId = lt.LaunchTemplate!.LaunchTemplateId!;
    expect(templateId).to.match(/^lt-[0-9a-f]{17}$/);
  });
  after(async () => {
    await h?.close();
  });

  const overrides = [{ InstanceType: 'm5.large' as const }, { InstanceType: 'c5.large' as const }, { InstanceType: 'm5a.large' as const }];

  it('launches spot capacity in one pool with price-capacity-optimized', async () => {
    const fleet = await h.ec2.send(
      new CreateFleetCommand({
        Type: 'instant',
        LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: '$Latest' }, Overrides: overrides }],
        TargetCapacitySpecification: { TotalTargetCapacity: 3, DefaultTargetCapacityType: 'spot' },
        SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'job', Value: 'fleet' }] }],
      }),
    );
    expect(fleet.FleetId).to.match(/^fleet-[0-9a-f-]{36}$/);
    expect(fleet.Errors ?? []).to.deep.equal([]);
    expect(fleet.Instances).to.have.length(1);
    const group = fleet.Instances![0]!;
    expect(group.Lifecycle).to.equal('spot');
    expect(group.InstanceIds).to.have.length(3);
    expect(group.LaunchTemplateAndOverrides!.LaunchTemplateSpecification!.LaunchTemplateId).to.equal(templateId);
    expect(group.LaunchTemplateAndOverrides!.Overrides!.AvailabilityZone).to.match(/^us-east-1[a-f]$/);
    launched.push(...group.InstanceIds!);
    const d = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: group.InstanceIds }));
    const all = d.Reservations!.flatMap((r) => r.Instances!);
    for (const i of all) {
      expect(i.InstanceLifecycle).to.equal('spot');
      const tags = Object.fromEntries(i.Tags!.map((t) => [t.Key, t.Value]));
      expect(tags).to.include({ job: 'fleet', from: 'template', 'aws:ec2:fleet-id': fleet.FleetId });
    }
    const reqs = await h.ec2.send(new DescribeSpotInstanceRequestsCommand({ Filters: [{ Name: 'instance-id', Values: group.InstanceIds! }] }));
    expect(reqs.SpotInstanceRequests).to.have.length(3);
  });

  it('avoids a pool without capacity with lowest-price, and mixes on-demand', async () => {
    await h.admin('POST', '/_sim/faults', { insufficientCapacity: [{ instanceType: 'm5.large' }, { instanceType: 'm5a.large' }] });
    const fleet = await h.ec2.send(
      new CreateFleetCommand({
        Type: 'instant',
        LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateName: 'fleet-test' }, Overrides: overrides }],
        TargetCapacitySpecification: { TotalTargetCapacity: 3, OnDemandTargetCapacity: 1, SpotTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
        SpotOptions: { AllocationStrategy: 'lowest-price', InstancePoolsToUseCount: 2 },
      }),
    );
    const spot = fleet.Instances!.filter((i) => i.Lifecycle === 'spot');
    const onDemand = fleet.Instances!.filter((i) => i.Lifecycle === 'on-demand');
    expect(spot.flatMap((i) => i.InstanceIds!)).to.have.length(2);
    expect(onDemand.flatMap((i) => i.InstanceIds!)).to.have.length(1);
    for (const g of fleet.Instances!) expect(g.InstanceType).to.equal('c5.large');
    launched.push(...fleet.Instances!.flatMap((i) => i.InstanceIds!));
  });

  it('reports capacity errors when no pool has capacity', async () => {
    await h.admin('POST', '/_sim/faults', { insufficientCapacity: [{}] });
    const fleet = await h.ec2.send(
      new CreateFleetCommand({
        Type: 'instant',
        LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: templateId }, Overrides: [{ InstanceType: 'm5.large', AvailabilityZone: 'us-east-1a' }] }],
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
        SpotOptions: { AllocationStrategy: 'capacity-optimized' },
      }),
    );
    expect(fleet.Instances ?? []).to.deep.equal([]);
    expect(fleet.Errors!.map((e) => e.ErrorCode)).to.deep.equal(['InsufficientInstanceCapacity']);
    await h.admin('POST', '/_sim/faults', {});
    const bad = await errorOf(
      h.ec2.send(
        new CreateFleetCommand({
          Type: 'maintain',
          LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: templateId } }],
          TargetCapacitySpecification: { TotalTargetCapacity: 1 },
        }),
      ),
    );
    expect(bad.message).to.contain('Type');
    const noTemplate = await errorOf(
      h.ec2.send(
        new CreateFleetCommand({
          Type: 'instant',
          LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0123456789abcdef0' } }],
          TargetCapacitySpecification: { TotalTargetCapacity: 1 },
        }),
      ),
    );
    expect(noTemplate.name).to.equal('InvalidLaunchTemplateId.NotFound');
  });

  it('cleans up to an empty inventory', async () => {
    await h.ec2.send(new TerminateInstancesCommand({ InstanceIds: launched }));
    await h.ec2.send(new DeleteLaunchTemplateCommand({ LaunchTemplateId: templateId }));
    const left = await h.ec2.send(new DescribeLaunchTemplatesCommand({}));
    expect(left.LaunchTemplates).to.deep.equal([]);
    await waitFor('empty inventory', async () => {
      const inv = await h.admin<Record<string, unknown[]>>('GET', '/_sim/inventory');
      return Object.values(inv.body).every((l) => l.length === 0) ? true : undefined;
    });
  });
});
