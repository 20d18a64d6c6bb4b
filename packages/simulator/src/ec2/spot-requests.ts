/** RequestSpotInstances, DescribeSpotInstanceRequests, CancelSpotInstanceRequests. */
import type {
  CancelSpotInstanceRequestsCommandInput,
  CancelSpotInstanceRequestsCommandOutput,
  DescribeSpotInstanceRequestsCommandInput,
  DescribeSpotInstanceRequestsCommandOutput,
  LaunchSpecification,
  RequestSpotInstancesCommandInput,
  RequestSpotInstancesCommandOutput,
  SpotInstanceRequest,
} from '@aws-sdk/client-ec2';
import { CancelSpotInstanceRequests$, DescribeSpotInstanceRequests$, RequestSpotInstances$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ids } from '../ids.js';
import { ApiError, invalidParameter, missingParameter, required } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';
import { tagList } from '../state/records.js';
import type { SpotRequestRecord } from '../state/records.js';
import { checkArchitecture, checkGroups, checkSpotQuota, checkImage, checkKey, checkProfile, checkType, checkUserData, checkZone, groupIdentifiers, parsePrice } from './launch.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

function view(r: SpotRequestRecord): SpotInstanceRequest {
  return {
    SpotInstanceRequestId: r.spotInstanceRequestId,
    SpotPrice: r.maxPrice.toFixed(6),
    Type: r.type,
    State: r.state,
    Status: { Code: r.statusCode, Message: r.statusMessage, UpdateTime: r.statusUpdate },
    LaunchSpecification: r.launchSpecification,
    InstanceId: r.instanceId,
    CreateTime: r.createTime,
    ValidUntil: r.validUntil,
    ValidFrom: r.validFrom,
    ProductDescription: 'Linux/UNIX',
    LaunchedAvailabilityZone: r.launchedAvailabilityZone,
    InstanceInterruptionBehavior: 'terminate',
    Tags: tagList(r.tags),
  };
}

/**
 * ValidUntil on the simulated timeline. With timeScale > 1 simulated time runs
 * ahead of real clocks, and a client that computed the deadline from its own
 * clock sends a time already past: such a time is read as wall-clock time and
 * mapped onto the simulated timeline (15 real minutes ahead stay 15 real
 * minutes ahead). A deadline past on both timelines is InvalidParameterValue.
 */
function simulatedDeadline(call: CallContext, validUntil: Date): Date {
  const clock = call.sim.clock;
  const now = clock.now();
  if (validUntil.getTime() > now) return validUntil;
  const { realStart, simStart, timeScale } = clock.origin();
  const mapped = simStart + (validUntil.getTime() - realStart) * timeScale;
  if (mapped > now) return new Date(mapped);
  throw invalidParameter('ValidUntil', `must be in the future (simulated time is ${new Date(now).toISOString()})`);
}

/** JSON with its object keys sorted: the same value whatever order its fields came in. */
function canonical(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a repeated ClientToken must repeat: every parameter of the request but the token itself and the
 * zone, with AWS's defaults filled in: a retry with the same token whose parameters differ in anything but
 * the Region or Availability Zone fails with IdempotentParameterMismatch (AWS, "Ensuring idempotency in
 * Amazon EC2 API requests"; the tokens of a region are the region's own here already).
 */
function requestParams(input: RequestSpotInstancesCommandInput): string {
  const { ClientToken: _token, DryRun: _dryRun, LaunchSpecification: spec, InstanceCount, Type, ...rest } = input;
  const { Placement, ...launch } = spec ?? {};
  const { AvailabilityZone: _zone, ...placement } = Placement ?? {};
  return canonical({ ...rest, InstanceCount: InstanceCount ?? 1, Type: Type ?? 'one-time', LaunchSpecification: { ...launch, Placement: placement } });
}

function selectRequests(call: CallContext, requestIds: string[] | undefined): SpotRequestRecord[] {
  call.sim.lifecycle.purge();
  const all = [...call.sim.world.inRegion(call.sim.world.spotRequests, call.region)];
  if (!requestIds?.length) return all;
  return requestIds.map((id) => {
    if (!/^sir-[0-9a-z]{8}$/.test(id)) throw new ApiError('InvalidSpotInstanceRequestID.Malformed', `Invalid id: "${id}"`);
    const r = call.sim.world.spotRequests.get(id);
    if (!r || r.region !== call.region || call.sim.consistency.hidden(id)) throw new ApiError('InvalidSpotInstanceRequestID.NotFound', `The spot instance request ID '${id}' does not exist`);
    return r;
  });
}

export const spotRequestActions = {
  RequestSpotInstances: action<RequestSpotInstancesCommandInput, Out<RequestSpotInstancesCommandOutput>>(RequestSpotInstances$, (input, call) => {
    const params = input.ClientToken ? requestParams(input) : undefined;
    if (input.ClientToken) {
      // idempotency: the same token with the same parameters answers the requests it made (AWS keeps tokens
      // for days); with other parameters (the zone aside) it is IdempotentParameterMismatch (see requestParams)
      const prior = [...call.sim.world.inRegion(call.sim.world.spotRequests, call.region)].filter((r) => r.clientToken === input.ClientToken);
      if (prior.some((r) => r.clientParams !== params)) {
        throw new ApiError('IdempotentParameterMismatch', 'The request uses the same client token as a previous, but non-identical request. Do not reuse a client token with different requests, unless the requests are identical.');
      }
      if (prior.length) return { SpotInstanceRequests: prior.map(view) };
    }
    const spec = input.LaunchSpecification;
    if (!spec) throw missingParameter('LaunchSpecification.ImageId');
    const imageId = checkImage(call, spec.ImageId, 'LaunchSpecification.ImageId');
    const type = checkType(call, spec.InstanceType, 'LaunchSpecification.InstanceType');
    checkArchitecture(call, imageId, type);
    const keyName = checkKey(call, spec.KeyName);
    const groupIds = checkGroups(call, spec.SecurityGroupIds, spec.SecurityGroups);
    const zone = checkZone(call, spec.Placement?.AvailabilityZone, 'LaunchSpecification.Placement.AvailabilityZone');
    checkProfile(call, spec.IamInstanceProfile, 'LaunchSpecification.IamInstanceProfile');
    checkUserData(spec.UserData, 'LaunchSpecification.UserData');
    const count = input.InstanceCount ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw invalidParameter('InstanceCount', 'must be between 1 and 1000');
    const type_ = input.Type ?? 'one-time';
    if (type_ !== 'one-time' && type_ !== 'persistent') throw invalidParameter('Type', `'${type_}' is not one-time or persistent`);
    const maxPrice = parsePrice(input.SpotPrice, 'SpotPrice') ?? call.sim.market.onDemand(call.region, type);
    checkSpotQuota(call, type, count);
    const now = call.sim.clock.date();
    const validUntil = input.ValidUntil ? simulatedDeadline(call, input.ValidUntil) : undefined;
    if (input.ValidFrom && validUntil && input.ValidFrom.getTime() >= validUntil.getTime()) {
      throw invalidParameter('ValidFrom', 'must be before ValidUntil');
    }
    // AWS tags only the request here ("the value for ResourceType must be spot-instances-request, otherwise the
    // Spot Instance request fails"): its instance gets tags through CreateTags, or RunInstances/CreateFleet instead.
    (input.TagSpecifications ?? []).forEach((t, i) => {
      if (t.ResourceType !== 'spot-instances-request') {
        throw invalidParameter(`TagSpecification.${i + 1}.ResourceType`, `'${t.ResourceType ?? ''}' cannot be tagged by RequestSpotInstances: use spot-instances-request`);
      }
    });
    const tags = tagsFor(input.TagSpecifications, 'spot-instances-request');
    const out: SpotRequestRecord[] = [];
    for (let n = 0; n < count; n++) {
      const rec: SpotRequestRecord = {
        spotInstanceRequestId: ids.spotRequest(),
        region: call.region,
        state: 'open',
        statusCode: 'pending-evaluation',
        statusMessage: '',
        statusUpdate: now,
        maxPrice,
        type: type_,
        launchSpecification: {
          ImageId: imageId,
          InstanceType: type as LaunchSpecification['InstanceType'],
          KeyName: keyName,
          SecurityGroups: groupIdentifiers(call, groupIds),
          ...(zone ? { Placement: { AvailabilityZone: zone } } : {}),
          ...(spec.IamInstanceProfile ? { IamInstanceProfile: spec.IamInstanceProfile } : {}),
          ...(spec.UserData ? { UserData: spec.UserData } : {}),
        },
        createTime: now,
        // AWS's default: seven days from the request
        validUntil: validUntil ?? new Date(now.getTime() + 7 * 86_400_000),
        clientToken: input.ClientToken,
        ...(params !== undefined ? { clientParams: params } : {}),
        validFrom: input.ValidFrom,
        tags: new Map(tags),
        timers: [],
      };
      call.sim.world.spotRequests.set(rec.spotInstanceRequestId, rec);
      call.sim.consistency.createdNow(rec.spotInstanceRequestId);
      call.sim.lifecycle.submit(rec);
      out.push(rec);
    }
    return { SpotInstanceRequests: out.map(view) };
  }),

  DescribeSpotInstanceRequests: action<DescribeSpotInstanceRequestsCommandInput, Out<DescribeSpotInstanceRequestsCommandOutput>>(
    DescribeSpotInstanceRequests$,
    (input, call) => {
      let items = selectRequests(call, input.SpotInstanceRequestIds);
      items = applyFilters(items, input.Filters, (r, name) => {
        switch (name) {
          case 'spot-instance-request-id':
            return [r.spotInstanceRequestId];
          case 'state':
            return [r.state];
          case 'status-code':
            return [r.statusCode];
          case 'instance-id':
            return [r.instanceId];
          case 'type':
            return [r.type];
          case 'launched-availability-zone':
            return [r.launchedAvailabilityZone];
          case 'launch.instance-type':
            return [r.launchSpecification.InstanceType];
          case 'launch.image-id':
            return [r.launchSpecification.ImageId];
          case 'launch.key-name':
            return [r.launchSpecification.KeyName];
          case 'launch.group-id':
            return (r.launchSpecification.SecurityGroups ?? []).map((g) => g.GroupId);
          case 'spot-price':
            return [r.maxPrice.toFixed(6)];
          case 'product-description':
            return ['Linux/UNIX'];
          default:
            return tagFilterValues(r.tags, name);
        }
      });
      const page = paginate(items, input.MaxResults, input.NextToken);
      return { SpotInstanceRequests: page.items.map(view), NextToken: page.nextToken };
    },
  ),

  CancelSpotInstanceRequests: action<CancelSpotInstanceRequestsCommandInput, Out<CancelSpotInstanceRequestsCommandOutput>>(
    CancelSpotInstanceRequests$,
    (input, call) => {
      const wanted = required(input.SpotInstanceRequestIds, 'SpotInstanceRequestId.1');
      const items = selectRequests(call, wanted);
      return {
        CancelledSpotInstanceRequests: items.map((r) => {
          call.sim.lifecycle.cancel(r);
          return { SpotInstanceRequestId: r.spotInstanceRequestId, State: r.state === 'closed' ? 'closed' : 'cancelled' };
        }),
      };
    },
  ),
};
