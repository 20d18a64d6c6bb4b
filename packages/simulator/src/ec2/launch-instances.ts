/** Launch N instances in one pool, with a fulfilled spot request behind each spot one (RunInstances, CreateFleet). */
import type { IamInstanceProfileSpecification, LaunchSpecification } from '@aws-sdk/client-ec2';
import type { CallContext } from '../context.js';
import { ids } from '../ids.js';
import type { ResolvedProfile } from '../state/profiles.js';
import type { InstanceRecord, SpotRequestRecord, Tags } from '../state/records.js';
import { groupIdentifiers } from './launch.js';

export interface LaunchBatch {
  count: number;
  zone: string;
  instanceType: string;
  imageId: string;
  keyName?: string;
  groupIds: string[];
  spot: boolean;
  maxPrice?: number;
  profileSpec?: IamInstanceProfileSpecification;
  profile?: ResolvedProfile;
  tags: Tags;
  reservationId: string;
  clientToken?: string;
  /** User data, base64. */
  userData?: string;
}

export function launchInstances(call: CallContext, b: LaunchBatch): InstanceRecord[] {
  const out: InstanceRecord[] = [];
  for (let n = 0; n < b.count; n++) {
    const spotRequestId = b.spot ? ids.spotRequest() : undefined;
    const inst = call.sim.lifecycle.launch({
      region: call.region,
      zone: b.zone,
      instanceType: b.instanceType,
      imageId: b.imageId,
      keyName: b.keyName,
      groupIds: b.groupIds,
      spot: b.spot,
      spotRequestId,
      maxPrice: b.maxPrice,
      iamProfile: b.profile?.profile,
      roleName: b.profile?.roleName,
      tags: new Map(b.tags),
      reservationId: b.reservationId,
      clientToken: b.clientToken,
      ...(b.userData ? { userData: b.userData } : {}),
    });
    if (spotRequestId) {
      const now = call.sim.clock.date();
      const req: SpotRequestRecord = {
        spotInstanceRequestId: spotRequestId,
        region: call.region,
        state: 'active',
        statusCode: 'fulfilled',
        statusMessage: 'Your spot request is fulfilled.',
        statusUpdate: now,
        maxPrice: b.maxPrice ?? call.sim.market.onDemand(call.region, b.instanceType),
        type: 'one-time',
        launchSpecification: {
          ImageId: b.imageId,
          InstanceType: b.instanceType as LaunchSpecification['InstanceType'],
          KeyName: b.keyName,
          SecurityGroups: groupIdentifiers(call, b.groupIds),
          Placement: { AvailabilityZone: b.zone },
          ...(b.profileSpec ? { IamInstanceProfile: b.profileSpec } : {}),
          ...(b.userData ? { UserData: b.userData } : {}),
        },
        instanceId: inst.instanceId,
        createTime: now,
        launchedAvailabilityZone: b.zone,
        tags: new Map(),
        timers: [],
      };
      call.sim.world.spotRequests.set(spotRequestId, req);
      call.sim.consistency.createdNow(spotRequestId);
    }
    out.push(inst);
  }
  return out;
}
