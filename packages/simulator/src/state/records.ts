/** What the simulator remembers about each resource. */
import type { TimerHandle } from '../clock.js';
import type { LaunchSpecification, RequestLaunchTemplateData, Tag } from '@aws-sdk/client-ec2';

export type Tags = Map<string, string>;

export interface KeyPairRecord {
  keyPairId: string;
  keyName: string;
  keyType: 'rsa' | 'ed25519';
  fingerprint: string;
  publicKey: string;
  region: string;
  createTime: Date;
  tags: Tags;
}

/** One security group rule: a protocol, a port range and one source. */
export interface SgRule {
  ruleId: string;
  /** tcp, udp, icmp or -1 (all). */
  protocol: string;
  fromPort: number;
  toPort: number;
  cidr?: string;
  sourceGroupId?: string;
  description?: string;
}

export interface SecurityGroupRecord {
  groupId: string;
  groupName: string;
  description: string;
  region: string;
  vpcId: string;
  ingress: SgRule[];
  egress: SgRule[];
  tags: Tags;
  /** The region's default group (not created through the API, not in the inventory). */
  isDefault: boolean;
}

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated';

export const INSTANCE_STATE_CODE: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
};

export interface InstanceRecord {
  instanceId: string;
  reservationId: string;
  region: string;
  zone: string;
  instanceType: string;
  imageId: string;
  keyName?: string;
  groupIds: string[];
  state: InstanceStateName;
  stateTransitionReason: string;
  stateReason?: { code: string; message: string };
  ip: string;
  launchTime: Date;
  spot: boolean;
  spotRequestId?: string;
  maxPrice?: number;
  iamProfile?: { arn: string; id: string; name: string };
  roleName?: string;
  tags: Tags;
  clientToken?: string;
  /** User data (base64, as given at launch): cloud-init's ssh_keys set the instance's host keys. */
  userData?: string;
  launchOrdinal: number;
  /** Pending timers (launch, notice, kill), cancelled on terminate. */
  timers: TimerHandle[];
  /** Simulated time of the interruption notice, when one was given. */
  noticeTime?: number;
  /** Simulated time of the rebalance recommendation, when one was given. */
  rebalanceTime?: number;
  terminatedAt?: number;
  /** Whether runtime.start succeeded and runtime.stop is owed. */
  started: boolean;
}

export type SpotRequestState = 'open' | 'active' | 'closed' | 'cancelled' | 'failed';

export interface SpotRequestRecord {
  spotInstanceRequestId: string;
  region: string;
  state: SpotRequestState;
  statusCode: string;
  statusMessage: string;
  statusUpdate: Date;
  maxPrice: number;
  type: 'one-time' | 'persistent';
  launchSpecification: LaunchSpecification;
  instanceId?: string;
  createTime: Date;
  validUntil?: Date;
  validFrom?: Date;
  /** RequestSpotInstances ClientToken: the same token answers the same requests. */
  clientToken?: string;
  /** The request's parameters as sent with its ClientToken (canonical JSON, the zone aside): a repeat must send the same. */
  clientParams?: string;
  launchedAvailabilityZone?: string;
  tags: Tags;
  timers: TimerHandle[];
}

export interface RoleRecord {
  roleName: string;
  roleId: string;
  arn: string;
  path: string;
  createDate: Date;
  assumeRolePolicyDocument: string;
  description?: string;
  maxSessionDuration: number;
  policies: Map<string, string>;
  /** ARN of the managed policy that is the role's permissions boundary. */
  permissionsBoundary?: string;
  tags: Tags;
}

/** A customer managed policy (one version, v1). */
export interface ManagedPolicyRecord {
  policyName: string;
  policyId: string;
  arn: string;
  path: string;
  description?: string;
  document: string;
  createDate: Date;
  tags: Tags;
}

export interface InstanceProfileRecord {
  instanceProfileName: string;
  instanceProfileId: string;
  arn: string;
  path: string;
  createDate: Date;
  roles: string[];
  tags: Tags;
}

export function tagsFrom(list: Tag[] | undefined): Tags {
  const m: Tags = new Map();
  for (const t of list ?? []) if (t.Key !== undefined) m.set(t.Key, t.Value ?? '');
  return m;
}

export function tagList(tags: Tags): Tag[] {
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}

export interface LaunchTemplateRecord {
  launchTemplateId: string;
  launchTemplateName: string;
  region: string;
  createTime: Date;
  /** Version 1, the only version the simulator keeps. */
  data: RequestLaunchTemplateData;
  tags: Tags;
}

/** An image of the account's own (CopyImage): pending for a while, then available; gone once deregistered. */
export interface ImageRecord {
  imageId: string;
  region: string;
  name: string;
  description: string;
  arch: 'x86_64' | 'arm64';
  state: 'pending' | 'available' | 'failed';
  /** Why a copy failed (the fault imageCopyFailRegions). */
  stateReason?: { code: string; message: string };
  creationDate: string;
  sourceImageId: string;
  sourceRegion: string;
  clientToken?: string;
  /** The EBS snapshots the image is made of (its root volume's): BlockDeviceMappings Ebs.SnapshotId. */
  snapshotIds: string[];
  tags: Tags;
  timers: TimerHandle[];
}

/** An EBS snapshot of the account's own (made by CopyImage for the new image): deleted by DeleteSnapshot, or with its image. */
export interface SnapshotRecord {
  snapshotId: string;
  region: string;
  volumeSize: number;
  state: 'pending' | 'completed';
  description: string;
  startTime: Date;
  tags: Tags;
}
