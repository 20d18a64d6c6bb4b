/** How instances look in DescribeInstances, RunInstances and DescribeInstanceStatus answers. */
import type { Instance, InstanceStatus, Reservation } from '@aws-sdk/client-ec2';
import type { SimContext } from '../context.js';
import { ACCOUNT_ID } from '../ids.js';
import { tagFilterValues } from '../protocol/filters.js';
import { INSTANCE_STATE_CODE, tagList } from '../state/records.js';
import type { InstanceRecord } from '../state/records.js';

const dns = (region: string, ip: string, kind: 'private' | 'public'): string =>
  kind === 'private'
    ? `ip-${ip.replace(/\./g, '-')}.${region === 'us-east-1' ? 'ec2.internal' : `${region}.compute.internal`}`
    : `ec2-${ip.replace(/\./g, '-')}.${region === 'us-east-1' ? 'compute-1' : `${region}.compute`}.amazonaws.com`;

export function instanceView(sim: SimContext, inst: InstanceRecord, index = 0): Instance {
  const live = inst.state !== 'terminated';
  const arch = sim.catalog.type(inst.instanceType)?.arch ?? 'x86_64';
  return {
    InstanceId: inst.instanceId,
    ImageId: inst.imageId,
    State: { Code: INSTANCE_STATE_CODE[inst.state], Name: inst.state },
    PrivateDnsName: live ? dns(inst.region, inst.ip, 'private') : '',
    PublicDnsName: live ? dns(inst.region, inst.ip, 'public') : '',
    StateTransitionReason: inst.stateTransitionReason,
    KeyName: inst.keyName,
    AmiLaunchIndex: index,
    InstanceType: inst.instanceType as Instance['InstanceType'],
    LaunchTime: inst.launchTime,
    Placement: { AvailabilityZone: inst.zone, Tenancy: 'default', GroupName: '' },
    Monitoring: { State: 'disabled' },
    SubnetId: live ? `subnet-${inst.zone}` : undefined,
    VpcId: live ? sim.world.vpcs.get(inst.region) : undefined,
    PrivateIpAddress: live ? inst.ip : undefined,
    PublicIpAddress: live ? inst.ip : undefined,
    Architecture: arch,
    RootDeviceType: 'ebs',
    RootDeviceName: '/dev/xvda',
    VirtualizationType: 'hvm',
    Hypervisor: 'xen',
    EbsOptimized: false,
    EnaSupport: true,
    ClientToken: inst.clientToken ?? '',
    SecurityGroups: inst.groupIds.map((id) => ({ GroupId: id, GroupName: sim.world.securityGroups.get(id)?.groupName })),
    ...(inst.spot ? { InstanceLifecycle: 'spot' as const, SpotInstanceRequestId: inst.spotRequestId } : {}),
    ...(inst.iamProfile ? { IamInstanceProfile: { Arn: inst.iamProfile.arn, Id: inst.iamProfile.id } } : {}),
    ...(inst.stateReason ? { StateReason: { Code: inst.stateReason.code, Message: inst.stateReason.message } } : {}),
    Tags: inst.tags.size ? tagList(inst.tags) : undefined,
    PlatformDetails: 'Linux/UNIX',
    UsageOperation: 'RunInstances',
    BootMode: arch === 'arm64' ? 'uefi' : 'uefi-preferred',
    CpuOptions: { CoreCount: Math.max(1, Math.floor((sim.catalog.type(inst.instanceType)?.vcpus ?? 2) / 2)), ThreadsPerCore: 2 },
    MetadataOptions: { State: 'applied', HttpTokens: 'optional', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled' },
  };
}

/** Instances grouped into their reservations, in order. */
export function reservations(sim: SimContext, instances: InstanceRecord[]): Reservation[] {
  const byId = new Map<string, Reservation>();
  for (const inst of instances) {
    let r = byId.get(inst.reservationId);
    if (!r) {
      r = { ReservationId: inst.reservationId, OwnerId: ACCOUNT_ID, Groups: [], Instances: [] };
      byId.set(inst.reservationId, r);
    }
    r.Instances!.push(instanceView(sim, inst, r.Instances!.length));
  }
  return [...byId.values()];
}

export function instanceFilterValues(sim: SimContext, inst: InstanceRecord, name: string): (string | undefined)[] | undefined {
  switch (name) {
    case 'instance-id':
      return [inst.instanceId];
    case 'instance-state-name':
      return [inst.state];
    case 'instance-state-code':
      return [String(INSTANCE_STATE_CODE[inst.state])];
    case 'instance-type':
      return [inst.instanceType];
    case 'availability-zone':
      return [inst.zone];
    case 'image-id':
      return [inst.imageId];
    case 'key-name':
      return [inst.keyName];
    case 'instance-lifecycle':
      return [inst.spot ? 'spot' : undefined];
    case 'spot-instance-request-id':
      return [inst.spotRequestId];
    case 'ip-address':
    case 'private-ip-address':
      return inst.state === 'terminated' ? [] : [inst.ip];
    case 'instance.group-id':
    case 'group-id':
      return inst.groupIds;
    case 'instance.group-name':
    case 'group-name':
      return inst.groupIds.map((id) => sim.world.securityGroups.get(id)?.groupName);
    case 'reservation-id':
      return [inst.reservationId];
    case 'vpc-id':
      return [sim.world.vpcs.get(inst.region)];
    case 'iam-instance-profile.arn':
      return [inst.iamProfile?.arn];
    case 'architecture':
      return [sim.catalog.type(inst.instanceType)?.arch];
    case 'client-token':
      return [inst.clientToken];
    default:
      return tagFilterValues(inst.tags, name);
  }
}

/** Instance and system status: initializing for the first simulated minute of running, then ok. */
export function statusView(sim: SimContext, inst: InstanceRecord): InstanceStatus {
  const ok = inst.state === 'running' && sim.clock.now() - inst.launchTime.getTime() > 90_000;
  const status = inst.state !== 'running' ? 'not-applicable' : ok ? 'ok' : 'initializing';
  const detail = inst.state !== 'running' ? [] : [{ Name: 'reachability' as const, Status: ok ? ('passed' as const) : ('initializing' as const) }];
  return {
    InstanceId: inst.instanceId,
    AvailabilityZone: inst.zone,
    InstanceState: { Code: INSTANCE_STATE_CODE[inst.state], Name: inst.state },
    InstanceStatus: { Status: status, Details: detail },
    SystemStatus: { Status: status, Details: detail },
    ...(inst.noticeTime !== undefined && inst.state === 'running'
      ? {
          Events: [
            {
              Code: 'instance-stop' as const,
              Description: 'Spot instance interruption notice',
              NotBefore: new Date(inst.noticeTime + 120_000),
            },
          ],
        }
      : {}),
  };
}
