/**
 * CreateFleet, type instant: spot and on-demand capacity from launch template
 * configs and overrides, allocated across pools by strategy
 * (price-capacity-optimized, capacity-optimized[-prioritized], lowest-price,
 * diversified; on-demand lowest-price or prioritized).
 */
import type {
  CreateFleetCommandInput,
  CreateFleetCommandOutput,
  CreateFleetError,
  CreateFleetInstance,
  FleetLaunchTemplateOverrides,
  IamInstanceProfileSpecification,
} from '@aws-sdk/client-ec2';
import { CreateFleet$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef, CallContext } from '../context.js';
import { ids } from '../ids.js';
import { invalidParameter, required } from '../protocol/errors.js';
import type { ResolvedProfile } from '../state/profiles.js';
import type { Tags } from '../state/records.js';
import { checkArchitecture, checkGroups, checkImage, checkKey, checkProfile, checkType, checkUserData, checkZone, parsePrice, spotQuotaRoom } from './launch.js';
import { launchInstances } from './launch-instances.js';
import { findLaunchTemplate } from './launch-templates.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

interface Candidate {
  templateId: string;
  instanceType: string;
  zone: string;
  imageId: string;
  keyName?: string;
  groupIds: string[];
  profileSpec?: IamInstanceProfileSpecification;
  profile?: ResolvedProfile;
  weight: number;
  priority?: number;
  maxPrice: number;
  spotPrice: number;
  onDemandPrice: number;
  quality: number;
  spotCapacity: boolean;
  onDemandCapacity: boolean;
  templateTags: Tags;
  userData?: string;
}

const SPOT_STRATEGIES = ['lowest-price', 'diversified', 'capacity-optimized', 'capacity-optimized-prioritized', 'price-capacity-optimized'];

function candidates(call: CallContext, input: CreateFleetCommandInput): Candidate[] {
  const configs = required(input.LaunchTemplateConfigs, 'LaunchTemplateConfigs.1');
  if (configs.length === 0) throw invalidParameter('LaunchTemplateConfigs', 'at least one launch template config is needed');
  const now = call.sim.clock.now();
  const out: Candidate[] = [];
  configs.forEach((config, ci) => {
    const at = `LaunchTemplateConfigs.${ci + 1}`;
    const spec = required(config.LaunchTemplateSpecification, `${at}.LaunchTemplateSpecification`);
    const template = findLaunchTemplate(call, spec.LaunchTemplateId, spec.LaunchTemplateName, `${at}.LaunchTemplateSpecification.LaunchTemplateId`);
    if (spec.Version !== undefined && !['1', '$Latest', '$Default'].includes(spec.Version)) {
      throw invalidParameter(`${at}.LaunchTemplateSpecification.Version`, `version ${spec.Version} does not exist (the simulator keeps version 1)`);
    }
    const data = template.data;
    const overrides = config.Overrides?.length ? config.Overrides : [{}];
    overrides.forEach((ov, oi) => {
      const op = `${at}.Overrides.${oi + 1}`;
      const instanceType = checkType(call, ov.InstanceType ?? data.InstanceType, `${op}.InstanceType`);
      const imageId = checkImage(call, ov.ImageId ?? data.ImageId, `${op}.ImageId`);
      checkArchitecture(call, imageId, instanceType);
      const keyName = checkKey(call, ov.KeyName ?? data.KeyName);
      const groupIds = checkGroups(call, data.SecurityGroupIds, data.SecurityGroups);
      const profileSpec = ov.IamInstanceProfile ?? data.IamInstanceProfile;
      const profile = checkProfile(call, profileSpec, `${op}.IamInstanceProfile`);
      const zone = checkZone(call, ov.AvailabilityZone ?? ov.Placement?.AvailabilityZone ?? data.Placement?.AvailabilityZone, `${op}.AvailabilityZone`);
      const zones = zone ? [zone] : call.sim.catalog.zones(call.region).map((z) => z.name);
      const weight = ov.WeightedCapacity ?? 1;
      if (!(weight > 0)) throw invalidParameter(`${op}.WeightedCapacity`, 'must be positive');
      const onDemandPrice = call.sim.market.onDemand(call.region, instanceType);
      const maxPrice =
        parsePrice(ov.MaxPrice, `${op}.MaxPrice`) ?? parsePrice(data.InstanceMarketOptions?.SpotOptions?.MaxPrice, 'LaunchTemplateData.InstanceMarketOptions.SpotOptions.MaxPrice') ?? onDemandPrice;
      for (const z of zones) {
        const pool = { region: call.region, zone: z, type: instanceType };
        const faulted = call.sim.faults.noCapacity(call.region, z, instanceType);
        out.push({
          templateId: template.launchTemplateId,
          instanceType,
          zone: z,
          imageId,
          keyName,
          groupIds,
          profileSpec: profileSpec ? { Arn: profileSpec.Arn, Name: profileSpec.Name } : undefined,
          profile,
          weight,
          priority: ov.Priority,
          maxPrice,
          spotPrice: call.sim.market.price(pool, now),
          onDemandPrice,
          quality: call.sim.market.availability(pool, now) * (1 - call.sim.market.bucket(call.region, instanceType) * 0.15),
          spotCapacity: !faulted && call.sim.market.hasCapacity(pool, now),
          onDemandCapacity: !call.sim.faults.noOnDemandCapacity(call.region, z, instanceType),
          templateTags: tagsFor(data.TagSpecifications, 'instance'),
          userData: checkUserData(data.UserData, 'LaunchTemplateData.UserData'),
        });
      }
    });
  });
  return out;
}

function overridesOf(c: Candidate): FleetLaunchTemplateOverrides {
  return {
    InstanceType: c.instanceType as FleetLaunchTemplateOverrides['InstanceType'],
    AvailabilityZone: c.zone,
    WeightedCapacity: c.weight,
    ...(c.priority !== undefined ? { Priority: c.priority } : {}),
    MaxPrice: c.maxPrice.toFixed(6),
  };
}

/** Pools for spot capacity in the order the strategy fills them, and how many of them to use. */
function orderSpot(pools: Candidate[], strategy: string, poolsToUse: number): Candidate[] {
  const perUnit = (c: Candidate): number => c.spotPrice / c.weight;
  const byPrice = [...pools].sort((a, b) => perUnit(a) - perUnit(b) || a.zone.localeCompare(b.zone));
  switch (strategy) {
    case 'lowest-price':
      return byPrice.slice(0, Math.max(1, poolsToUse));
    case 'diversified':
      return byPrice;
    case 'capacity-optimized':
      return [...pools].sort((a, b) => b.quality - a.quality || perUnit(a) - perUnit(b)).slice(0, 1);
    case 'capacity-optimized-prioritized':
      return [...pools].sort((a, b) => b.quality - a.quality || (a.priority ?? Infinity) - (b.priority ?? Infinity)).slice(0, 1);
    default: {
      // price-capacity-optimized: the cheapest among the pools with the best capacity
      const best = Math.max(...pools.map((p) => p.quality));
      return byPrice.filter((p) => p.quality >= best * 0.8).slice(0, 1);
    }
  }
}

/** How many instances of each pool fill `target` units, pools used round robin. */
function fill(pools: Candidate[], target: number): Map<Candidate, number> {
  const counts = new Map<Candidate, number>();
  let remaining = target;
  let i = 0;
  while (remaining > 0 && pools.length > 0) {
    const p = pools[i % pools.length]!;
    counts.set(p, (counts.get(p) ?? 0) + 1);
    remaining -= p.weight;
    i++;
  }
  return counts;
}

export const fleetActions: Record<string, ActionDef> = {
  CreateFleet: action<CreateFleetCommandInput, Out<CreateFleetCommandOutput>>(CreateFleet$, (input, call) => {
    const type = input.Type ?? 'maintain';
    if (type !== 'instant') throw invalidParameter('Type', `'${type}' fleets are not simulated; use 'instant'`);
    const tcs = required(input.TargetCapacitySpecification, 'TargetCapacitySpecification');
    const total = required(tcs.TotalTargetCapacity, 'TargetCapacitySpecification.TotalTargetCapacity');
    if (!Number.isInteger(total) || total < 1) throw invalidParameter('TargetCapacitySpecification.TotalTargetCapacity', 'must be a positive integer');
    const defaultType = tcs.DefaultTargetCapacityType ?? 'on-demand';
    if (defaultType !== 'spot' && defaultType !== 'on-demand') {
      throw invalidParameter('TargetCapacitySpecification.DefaultTargetCapacityType', `'${defaultType}' is not spot or on-demand`);
    }
    const onDemandTarget = Math.min(total, tcs.OnDemandTargetCapacity ?? (defaultType === 'on-demand' ? total - (tcs.SpotTargetCapacity ?? 0) : 0));
    const spotTarget = Math.max(0, Math.min(total - onDemandTarget, tcs.SpotTargetCapacity ?? total - onDemandTarget));
    const strategy = input.SpotOptions?.AllocationStrategy ?? 'lowest-price';
    if (!SPOT_STRATEGIES.includes(strategy)) throw invalidParameter('SpotOptions.AllocationStrategy', `'${strategy}' is not a spot allocation strategy`);
    const pools = candidates(call, input);
    const fleetId = ids.fleet();
    const fleetTags = tagsFor(input.TagSpecifications, 'instance');
    const instances: CreateFleetInstance[] = [];
    const errors: CreateFleetError[] = [];
    const spec = (c: Candidate) => ({ LaunchTemplateSpecification: { LaunchTemplateId: c.templateId, Version: '1' }, Overrides: overridesOf(c) });

    const launch = (counts: Map<Candidate, number>, spot: boolean): void => {
      for (const [c, count] of counts) {
        const tags: Tags = new Map([...c.templateTags, ...fleetTags, ['aws:ec2:fleet-id', fleetId]]);
        const launched = launchInstances(call, {
          count,
          zone: c.zone,
          instanceType: c.instanceType,
          imageId: c.imageId,
          keyName: c.keyName,
          groupIds: c.groupIds,
          spot,
          maxPrice: spot ? c.maxPrice : undefined,
          profileSpec: c.profileSpec,
          profile: c.profile,
          tags,
          reservationId: ids.reservation(),
          ...(c.userData ? { userData: c.userData } : {}),
        });
        instances.push({
          LaunchTemplateAndOverrides: spec(c),
          Lifecycle: spot ? 'spot' : 'on-demand',
          InstanceIds: launched.map((i) => i.instanceId),
          InstanceType: c.instanceType as CreateFleetInstance['InstanceType'],
        });
      }
    };

    if (spotTarget > 0) {
      let usable = pools.filter((p) => p.spotCapacity && p.spotPrice <= p.maxPrice);
      if (input.SpotOptions?.SingleAvailabilityZone && usable.length) {
        const zone = orderSpot(usable, strategy, 1)[0]!.zone;
        usable = usable.filter((p) => p.zone === zone);
      }
      const chosen = usable.length ? orderSpot(usable, strategy, input.SpotOptions?.InstancePoolsToUseCount ?? 1) : [];
      // pools have no size limit in the simulator: a usable pool fills any target (MinTargetCapacity holds)
      if (chosen.length === 0) {
        for (const p of pools) {
          errors.push({
            LaunchTemplateAndOverrides: spec(p),
            Lifecycle: 'spot',
            ErrorCode: p.spotCapacity ? 'SpotMaxPriceTooLow' : 'InsufficientInstanceCapacity',
            ErrorMessage: p.spotCapacity
              ? `Your Spot request price of ${p.maxPrice} is lower than the minimum required Spot request fulfillment price of ${p.spotPrice}.`
              : 'There is no Spot capacity available that matches your request.',
          });
        }
      } else {
        // the region's spot vCPU quota: launch what it admits, report the rest as AWS does (an error entry)
        const counts = fill(chosen, spotTarget);
        let refused: Candidate | undefined;
        for (const [c, n] of counts) {
          const room = spotQuotaRoom(call, c.instanceType);
          if (room < n) {
            refused = c;
            if (room > 0) counts.set(c, room);
            else counts.delete(c);
          }
          // later pools see the vCPUs of the ones before them only once launched: launch pool by pool
          launch(new Map(counts.has(c) ? [[c, counts.get(c)!]] : []), true);
        }
        if (refused) {
          call.sim.lifecycle.spotQuotaRefusals++;
          errors.push({
            LaunchTemplateAndOverrides: spec(refused),
            Lifecycle: 'spot',
            ErrorCode: 'MaxSpotInstanceCountExceeded',
            ErrorMessage: 'Max spot instance count exceeded',
          });
        }
      }
    }
    if (onDemandTarget > 0) {
      const usable = pools.filter((p) => p.onDemandCapacity);
      const prioritized = input.OnDemandOptions?.AllocationStrategy === 'prioritized';
      const ordered = [...usable].sort((a, b) =>
        prioritized ? (a.priority ?? Infinity) - (b.priority ?? Infinity) : a.onDemandPrice / a.weight - b.onDemandPrice / b.weight || a.zone.localeCompare(b.zone),
      );
      if (ordered.length === 0) {
        for (const p of pools) {
          errors.push({
            LaunchTemplateAndOverrides: spec(p),
            Lifecycle: 'on-demand',
            ErrorCode: 'InsufficientInstanceCapacity',
            ErrorMessage: `We currently do not have sufficient ${p.instanceType} capacity in the Availability Zone you requested (${p.zone}).`,
          });
        }
      } else {
        launch(fill(ordered.slice(0, 1), onDemandTarget), false);
      }
    }
    return { FleetId: fleetId, Instances: instances, Errors: errors };
  }),
};
