/** RunInstances, DescribeInstances, DescribeInstanceStatus, TerminateInstances. */
import type {
  DescribeInstanceStatusCommandInput,
  DescribeInstanceStatusCommandOutput,
  DescribeInstancesCommandInput,
  DescribeInstancesCommandOutput,
  RunInstancesCommandInput,
  RunInstancesCommandOutput,
  TerminateInstancesCommandInput,
  TerminateInstancesCommandOutput,
} from '@aws-sdk/client-ec2';
import { DescribeInstanceStatus$, DescribeInstances$, RunInstances$, TerminateInstances$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidCombination, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';
import { INSTANCE_STATE_CODE } from '../state/records.js';
import type { InstanceRecord } from '../state/records.js';
import {
  checkArchitecture,
  checkGroups,
  checkImage,
  checkKey,
  checkProfile,
  checkType,
  checkUserData,
  checkZone,
  insufficientCapacity,
  parsePrice,
  spotZones,
  maxSpotInstanceCountExceeded,
  spotQuotaRoom,
} from './launch.js';
import { instanceFilterValues, instanceView, reservations, statusView } from './instance-view.js';
import { tagsFor } from './tags.js';
import { launchInstances } from './launch-instances.js';

type Out<T> = Omit<T, '$metadata'>;

/** The instances of the region named by id (NotFound / Malformed like AWS), or all of the region. */
export function selectInstances(call: CallContext, instanceIds: string[] | undefined): InstanceRecord[] {
  call.sim.lifecycle.purge();
  const all = [...call.sim.world.inRegion(call.sim.world.instances, call.region)];
  if (!instanceIds?.length) return all;
  const missing: string[] = [];
  const out: InstanceRecord[] = [];
  for (const id of instanceIds) {
    if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new ApiError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
    const inst = call.sim.world.instances.get(id);
    // A new instance may not be visible by id yet (eventual consistency): NotFound, and nothing done to it.
    if (!inst || inst.region !== call.region || call.sim.consistency.hidden(id)) missing.push(id);
    else out.push(inst);
  }
  if (missing.length) {
    throw new ApiError('InvalidInstanceID.NotFound', `The instance ID${missing.length > 1 ? 's' : ''} '${missing.join(', ')}' ${missing.length > 1 ? 'do' : 'does'} not exist`);
  }
  return out;
}

export const instanceActions = {
  RunInstances: action<RunInstancesCommandInput, Out<RunInstancesCommandOutput>>(RunInstances$, (input, call) => {
    const min = required(input.MinCount, 'MinCount');
    const max = required(input.MaxCount, 'MaxCount');
    if (!Number.isInteger(min) || min < 1) throw invalidParameter('MinCount', 'must be at least 1');
    if (!Number.isInteger(max) || max < min) throw invalidParameter('MaxCount', 'must be at least MinCount');
    if (max > 1000) throw new ApiError('InstanceLimitExceeded', 'You have requested more instances than your current instance limit allows.');
    if (input.LaunchTemplate) throw new ApiError('InvalidParameterValue', 'LaunchTemplate is not supported by the simulator; give ImageId and InstanceType');
    // idempotency: the same ClientToken returns the same reservation
    if (input.ClientToken) {
      const prior = [...call.sim.world.inRegion(call.sim.world.instances, call.region)].filter((i) => i.clientToken === input.ClientToken);
      if (prior.length) {
        return { ReservationId: prior[0]!.reservationId, OwnerId: ACCOUNT_ID, Groups: [], Instances: prior.map((i, n) => instanceView(call.sim, i, n)) };
      }
    }
    const imageId = checkImage(call, input.ImageId, 'ImageId');
    const type = checkType(call, input.InstanceType, 'InstanceType');
    checkArchitecture(call, imageId, type);
    const keyName = checkKey(call, input.KeyName);
    const groupIds = checkGroups(call, input.SecurityGroupIds, input.SecurityGroups);
    const wanted = checkZone(call, input.Placement?.AvailabilityZone, 'Placement.AvailabilityZone');
    const profile = checkProfile(call, input.IamInstanceProfile, 'IamInstanceProfile');
    const userData = checkUserData(input.UserData, 'UserData');
    const market = input.InstanceMarketOptions;
    const spot = market?.MarketType === 'spot';
    if (market?.MarketType && !spot) throw invalidParameter('InstanceMarketOptions.MarketType', `'${market.MarketType}' is not supported`);
    const maxPrice = spot ? (parsePrice(market?.SpotOptions?.MaxPrice, 'InstanceMarketOptions.SpotOptions.MaxPrice') ?? call.sim.market.onDemand(call.region, type)) : undefined;
    let zone: string;
    let count = max;
    if (spot) {
      // as many as the spot vCPU quota admits, at least MinCount (MaxSpotInstanceCountExceeded otherwise)
      count = Math.min(max, spotQuotaRoom(call, type));
      if (count < min) throw maxSpotInstanceCountExceeded(call);
      const zones = spotZones(call, type, wanted);
      if (zones.length === 0) throw new ApiError('InsufficientInstanceCapacity', 'There is no Spot capacity available that matches your request.', 500);
      const best = zones[0]!;
      if (best.price > maxPrice!) {
        throw new ApiError(
          'SpotMaxPriceTooLow',
          `Your Spot request price of ${maxPrice} is lower than the minimum required Spot request fulfillment price of ${best.price}.`,
        );
      }
      zone = best.zone;
    } else {
      const zones = wanted ? [wanted] : call.sim.catalog.zones(call.region).map((z) => z.name);
      const ok = zones.find((z) => !call.sim.faults.noOnDemandCapacity(call.region, z, type));
      if (!ok) throw insufficientCapacity(type, wanted);
      zone = ok;
    }
    const reservationId = ids.reservation();
    const launched = launchInstances(call, {
      count,
      zone,
      instanceType: type,
      imageId,
      keyName,
      groupIds,
      spot,
      maxPrice,
      profileSpec: input.IamInstanceProfile,
      profile,
      tags: tagsFor(input.TagSpecifications, 'instance'),
      reservationId,
      clientToken: input.ClientToken,
      ...(userData ? { userData } : {}),
    });
    return { ReservationId: reservationId, OwnerId: ACCOUNT_ID, Groups: [], Instances: launched.map((i, n) => instanceView(call.sim, i, n)) };
  }),

  DescribeInstances: action<DescribeInstancesCommandInput, Out<DescribeInstancesCommandOutput>>(DescribeInstances$, (input, call) => {
    if (input.InstanceIds?.length && input.MaxResults !== undefined) {
      throw invalidCombination('The parameter instancesSet cannot be used with the parameter maxResults');
    }
    let items = selectInstances(call, input.InstanceIds);
    items = applyFilters(items, input.Filters, (inst, name) => instanceFilterValues(call.sim, inst, name));
    const page = paginate(items, input.MaxResults, input.NextToken);
    return { Reservations: reservations(call.sim, page.items), NextToken: page.nextToken };
  }),

  DescribeInstanceStatus: action<DescribeInstanceStatusCommandInput, Out<DescribeInstanceStatusCommandOutput>>(DescribeInstanceStatus$, (input, call) => {
    let items = selectInstances(call, input.InstanceIds);
    if (!input.IncludeAllInstances) items = items.filter((i) => i.state === 'running');
    items = applyFilters(items, input.Filters, (inst, name) => {
      const view = statusView(call.sim, inst);
      switch (name) {
        case 'availability-zone':
          return [inst.zone];
        case 'instance-state-name':
          return [inst.state];
        case 'instance-state-code':
          return [String(INSTANCE_STATE_CODE[inst.state])];
        case 'instance-status.status':
          return [view.InstanceStatus?.Status];
        case 'system-status.status':
          return [view.SystemStatus?.Status];
        case 'event.code':
          return (view.Events ?? []).map((e) => e.Code);
        default:
          return undefined;
      }
    });
    const page = paginate(items, input.MaxResults, input.NextToken);
    return { InstanceStatuses: page.items.map((i) => statusView(call.sim, i)), NextToken: page.nextToken };
  }),

  TerminateInstances: action<TerminateInstancesCommandInput, Out<TerminateInstancesCommandOutput>>(TerminateInstances$, (input, call) => {
    const wanted = required(input.InstanceIds, 'InstanceId.1');
    if (wanted.length === 0) throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceId.1');
    const items = selectInstances(call, wanted);
    return {
      TerminatingInstances: items.map((inst) => {
        const previous = { Code: INSTANCE_STATE_CODE[inst.state], Name: inst.state };
        void call.sim.lifecycle.terminate(inst, 'user');
        return { InstanceId: inst.instanceId, PreviousState: previous, CurrentState: { Code: INSTANCE_STATE_CODE[inst.state], Name: inst.state } };
      }),
    };
  }),
};
