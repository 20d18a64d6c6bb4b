/** Validation and resolution shared by RunInstances, RequestSpotInstances and CreateFleet. */
import type { GroupIdentifier, IamInstanceProfileSpecification } from '@aws-sdk/client-ec2';
import type { CallContext } from '../context.js';
import { ApiError, invalidParameter } from '../protocol/errors.js';
import { resolveProfile } from '../state/profiles.js';
import type { ResolvedProfile } from '../state/profiles.js';
import { defaultGroup, findGroup } from './security-groups.js';
import { standardFamily } from '../faults.js';
import { findImage } from './images.js';

export const DEFAULT_INSTANCE_TYPE = 't3.micro';

export function checkImage(call: CallContext, imageId: string | undefined, param: string): string {
  if (!imageId) throw new ApiError('MissingParameter', `The request must contain the parameter ${param}`);
  if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) throw new ApiError('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`);
  const image = findImage(call.sim, call.region, imageId);
  if (!image) throw new ApiError('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`);
  if (image.state !== 'available') {
    throw new ApiError('InvalidAMIID.Unavailable', `The image id '[${imageId}]' is not available yet (its state is ${image.state})`);
  }
  return imageId;
}

export function checkType(call: CallContext, type: string | undefined, param: string): string {
  const t = type ?? DEFAULT_INSTANCE_TYPE;
  if (!call.sim.catalog.type(t)) throw invalidParameter(param, `The instance type '${t}' does not exist`);
  return t;
}

/** The image's architecture must match the instance type's. */
export function checkArchitecture(call: CallContext, imageId: string, type: string): void {
  const image = findImage(call.sim, call.region, imageId);
  const info = call.sim.catalog.type(type);
  if (image && info && image.arch !== info.arch) {
    throw invalidParameter(
      'InstanceType',
      `The architecture '${info.arch}' of the specified instance type does not match the architecture '${image.arch}' of the specified AMI`,
    );
  }
}

export function checkKey(call: CallContext, keyName: string | undefined): string | undefined {
  if (keyName === undefined) return undefined;
  if (!call.sim.world.keyPairByName(call.region, keyName)) throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`);
  return keyName;
}

export function checkZone(call: CallContext, zone: string | undefined, param: string): string | undefined {
  if (zone === undefined) return undefined;
  if (!call.sim.catalog.zoneExists(call.region, zone)) throw invalidParameter(param, `Invalid availability zone: [${zone}]`);
  return zone;
}

/** Group ids from ids and/or names; the default group when none is given. */
export function checkGroups(call: CallContext, groupIds: string[] | undefined, groupNames: string[] | undefined): string[] {
  const out: string[] = [];
  for (const id of groupIds ?? []) out.push(findGroup(call, id).groupId);
  for (const name of groupNames ?? []) out.push(findGroup(call, undefined, name).groupId);
  if (out.length === 0) out.push(defaultGroup(call).groupId);
  return [...new Set(out)];
}

export function groupIdentifiers(call: CallContext, groupIds: string[]): GroupIdentifier[] {
  return groupIds.map((id) => ({ GroupId: id, GroupName: call.sim.world.securityGroups.get(id)?.groupName }));
}

/**
 * The instance profile named at launch. One that does not exist, and one made
 * (or given its role) less than `iamPropagationSeconds` ago, get AWS's answer:
 * InvalidParameterValue "Value (...) for parameter iamInstanceProfile.name|arn
 * is invalid. Invalid IAM Instance Profile name|ARN" (the same words for both,
 * as on AWS, where a new profile takes a few seconds to reach EC2).
 */
export function checkProfile(call: CallContext, spec: IamInstanceProfileSpecification | undefined, _param: string): ResolvedProfile | undefined {
  if (!spec || (!spec.Name && !spec.Arn)) return undefined;
  const resolved = resolveProfile(call.sim.world, spec);
  if (!resolved || call.sim.consistency.profilePropagating(resolved.profile.name)) {
    const byName = spec.Name !== undefined && spec.Name !== '';
    throw new ApiError(
      'InvalidParameterValue',
      `Value (${byName ? spec.Name : spec.Arn}) for parameter iamInstanceProfile.${byName ? 'name' : 'arn'} is invalid. Invalid IAM Instance Profile ${byName ? 'name' : 'ARN'}`,
    );
  }
  return resolved;
}

/** Zones of the region able to launch the type now (market capacity and injected faults), cheapest spot first. */
export function spotZones(call: CallContext, type: string, wanted?: string): { zone: string; price: number }[] {
  const now = call.sim.clock.now();
  const zones = wanted ? [wanted] : call.sim.catalog.zones(call.region).map((z) => z.name);
  return zones
    .filter((zone) => !call.sim.faults.noCapacity(call.region, zone, type) && call.sim.market.hasCapacity({ region: call.region, zone, type }, now))
    .map((zone) => ({ zone, price: call.sim.market.price({ region: call.region, zone, type }, now) }))
    .sort((a, b) => a.price - b.price || a.zone.localeCompare(b.zone));
}

/** User data as EC2 takes it: base64, at most 16 KB decoded (InvalidParameterValue otherwise). The base64 is kept as given. */
export function checkUserData(userData: string | undefined, param: string): string | undefined {
  if (userData === undefined || userData === '') return undefined;
  if (!/^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/.test(userData)) throw invalidParameter(param, 'Invalid BASE64 encoding of user data.');
  if (Buffer.from(userData, 'base64').length > 16 * 1024) throw invalidParameter(param, 'User data is limited to 16384 bytes');
  return userData;
}

export function parsePrice(value: string | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw invalidParameter(param, `'${value}' is not a positive price`);
  return n;
}

/**
 * How many more spot instances of `type` the region's standard spot vCPU quota admits now (Infinity without
 * a quota, or for a type outside the standard families). Running and pending spot instances and open spot
 * requests count (Spot Instance quotas, EC2 User Guide).
 */
export function spotQuotaRoom(call: CallContext, type: string): number {
  const quota = call.sim.faults.spotVcpuQuota(call.region);
  if (quota === undefined || !standardFamily(type)) return Infinity;
  const vcpus = call.sim.catalog.type(type)?.vcpus ?? 2;
  return Math.max(0, Math.floor((quota - call.sim.lifecycle.spotVcpusInUse(call.region)) / vcpus));
}

/** AWS's answer to a spot request over the account's spot quota in the region. */
export function maxSpotInstanceCountExceeded(call: CallContext): ApiError {
  call.sim.lifecycle.spotQuotaRefusals++;
  return new ApiError('MaxSpotInstanceCountExceeded', 'Max spot instance count exceeded');
}

/** RequestSpotInstances / RunInstances spot: fail when `count` instances of `type` would pass the quota. */
export function checkSpotQuota(call: CallContext, type: string, count: number): void {
  if (spotQuotaRoom(call, type) < count) throw maxSpotInstanceCountExceeded(call);
}

export function insufficientCapacity(type: string, zone?: string): ApiError {
  return new ApiError(
    'InsufficientInstanceCapacity',
    `We currently do not have sufficient ${type} capacity in the Availability Zone you requested${zone ? ` (${zone})` : ''}. Our system will be working on provisioning additional capacity.`,
    500,
  );
}
