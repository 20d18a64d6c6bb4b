/** Every resource the simulator holds, across all regions (IAM is global). */
import type {
  InstanceProfileRecord,
  ImageRecord,
  InstanceRecord,
  KeyPairRecord,
  LaunchTemplateRecord,
  ManagedPolicyRecord,
  RoleRecord,
  SecurityGroupRecord,
  SnapshotRecord,
  SpotRequestRecord,
} from './records.js';

export class World {
  readonly keyPairs = new Map<string, KeyPairRecord>();
  readonly securityGroups = new Map<string, SecurityGroupRecord>();
  readonly instances = new Map<string, InstanceRecord>();
  readonly spotRequests = new Map<string, SpotRequestRecord>();
  readonly roles = new Map<string, RoleRecord>();
  readonly instanceProfiles = new Map<string, InstanceProfileRecord>();
  /** Customer managed policies by ARN. */
  readonly managedPolicies = new Map<string, ManagedPolicyRecord>();
  readonly launchTemplates = new Map<string, LaunchTemplateRecord>();
  /** The account's own images (CopyImage), by id. */
  readonly images = new Map<string, ImageRecord>();
  /** The account's own EBS snapshots (those of copied images), by id. */
  readonly snapshots = new Map<string, SnapshotRecord>();
  /** Per-region default VPC id. */
  readonly vpcs = new Map<string, string>();
  /** Counter of launches, for seeded per-instance draws. */
  launches = 0;

  clear(): void {
    this.keyPairs.clear();
    this.securityGroups.clear();
    this.instances.clear();
    this.spotRequests.clear();
    this.roles.clear();
    this.instanceProfiles.clear();
    this.managedPolicies.clear();
    this.launchTemplates.clear();
    this.images.clear();
    this.snapshots.clear();
    this.vpcs.clear();
    this.launches = 0;
  }

  keyPairByName(region: string, name: string): KeyPairRecord | undefined {
    for (const k of this.keyPairs.values()) if (k.region === region && k.keyName === name) return k;
    return undefined;
  }

  *inRegion<T extends { region: string }>(map: Map<string, T>, region: string): Generator<T> {
    for (const v of map.values()) if (v.region === region) yield v;
  }
}
