/** DescribeSpotPriceHistory, GetSpotPlacementScores: the market model as AWS shows it. */
import type {
  DescribeSpotPriceHistoryCommandInput,
  DescribeSpotPriceHistoryCommandOutput,
  GetSpotPlacementScoresCommandInput,
  GetSpotPlacementScoresCommandOutput,
  SpotPlacementScore,
  SpotPrice,
} from '@aws-sdk/client-ec2';
import { DescribeSpotPriceHistory$, GetSpotPlacementScores$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef, CallContext } from '../context.js';
import { ApiError, invalidCombination, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';

type Out<T> = Omit<T, '$metadata'>;

const LINUX = ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'];
const PRODUCTS = [...LINUX, 'SUSE Linux', 'SUSE Linux (Amazon VPC)', 'Red Hat Enterprise Linux', 'Red Hat Enterprise Linux (Amazon VPC)', 'Windows', 'Windows (Amazon VPC)'];

function typesFromRequirements(call: CallContext, input: GetSpotPlacementScoresCommandInput): string[] {
  const req = input.InstanceRequirementsWithMetadata;
  const archs = req?.ArchitectureTypes?.length ? req.ArchitectureTypes : ['x86_64', 'arm64'];
  const vcpu = req?.InstanceRequirements?.VCpuCount;
  const mem = req?.InstanceRequirements?.MemoryMiB;
  if (!vcpu) throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceRequirementsWithMetadata.InstanceRequirements.VCpuCount');
  if (!mem) throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceRequirementsWithMetadata.InstanceRequirements.MemoryMiB');
  return [...call.sim.catalog.types().values()]
    .filter(
      (t) =>
        archs.includes(t.arch) &&
        t.vcpus >= (vcpu.Min ?? 0) &&
        t.vcpus <= (vcpu.Max ?? Infinity) &&
        t.memoryMiB >= (mem.Min ?? 0) &&
        t.memoryMiB <= (mem.Max ?? Infinity),
    )
    .map((t) => t.name)
    .sort()
    .slice(0, 60);
}

/** A value as JSON with object keys sorted, so that the same requirements give the same configuration. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export const marketActions: Record<string, ActionDef> = {
  DescribeSpotPriceHistory: action<DescribeSpotPriceHistoryCommandInput, Out<DescribeSpotPriceHistoryCommandOutput>>(
    DescribeSpotPriceHistory$,
    (input, call) => {
      const now = call.sim.clock.now();
      const end = Math.min(input.EndTime?.getTime() ?? now, now);
      const start = input.StartTime?.getTime() ?? end;
      if (start > end) throw invalidParameter('StartTime', 'must not be after EndTime');
      if (end - start > 90 * 86_400_000) throw invalidParameter('StartTime', 'history goes back at most 90 days');
      const catalog = call.sim.catalog;
      for (const t of input.InstanceTypes ?? []) if (!catalog.type(t)) throw invalidParameter('InstanceType', `The instance type '${t}' does not exist`);
      for (const p of input.ProductDescriptions ?? []) if (!PRODUCTS.includes(p)) throw invalidParameter('ProductDescription', `'${p}' is not a product description`);
      const zone = input.AvailabilityZone;
      if (zone !== undefined && !catalog.zoneExists(call.region, zone)) throw invalidParameter('AvailabilityZone', `Invalid availability zone: [${zone}]`);
      const zones = zone ? [zone] : catalog.zones(call.region).map((z) => z.name);
      // A type the region does not offer has no spot price there (no rows, no error), as in AWS.
      const offered = new Set(catalog.offeredTypes(call.region));
      const types = (input.InstanceTypes?.length ? input.InstanceTypes : [...catalog.types().keys()].sort()).filter((t) => offered.has(t));
      const products = input.ProductDescriptions?.length ? input.ProductDescriptions.filter((p) => LINUX.includes(p)) : ['Linux/UNIX'];
      let rows: SpotPrice[] = [];
      for (const type of types) {
        for (const z of zones) {
          const points = call.sim.market.history({ region: call.region, zone: z, type }, start, end);
          for (const pt of points) {
            for (const product of products) {
              rows.push({
                AvailabilityZone: z,
                InstanceType: type as SpotPrice['InstanceType'],
                ProductDescription: product as SpotPrice['ProductDescription'],
                SpotPrice: pt.price.toFixed(6),
                Timestamp: new Date(pt.time),
              });
            }
          }
        }
      }
      rows = applyFilters(rows, input.Filters, (r, name) => {
        switch (name) {
          case 'availability-zone':
            return [r.AvailabilityZone];
          case 'instance-type':
            return [r.InstanceType];
          case 'product-description':
            return [r.ProductDescription];
          case 'spot-price':
            return [r.SpotPrice];
          case 'timestamp':
            return [r.Timestamp?.toISOString()];
          default:
            return undefined;
        }
      });
      rows.sort((a, b) => b.Timestamp!.getTime() - a.Timestamp!.getTime() || a.AvailabilityZone!.localeCompare(b.AvailabilityZone!) || a.InstanceType!.localeCompare(b.InstanceType!));
      const page = paginate(rows, input.MaxResults, input.NextToken, { min: 1, max: 1000 });
      return { SpotPriceHistory: page.items, NextToken: page.nextToken };
    },
  ),

  GetSpotPlacementScores: action<GetSpotPlacementScoresCommandInput, Out<GetSpotPlacementScoresCommandOutput>>(GetSpotPlacementScores$, (input, call) => {
    const target = required(input.TargetCapacity, 'TargetCapacity');
    if (!Number.isInteger(target) || target < 1 || target > 2_000_000_000) throw invalidParameter('TargetCapacity', 'must be a positive integer');
    if (input.InstanceTypes?.length && input.InstanceRequirementsWithMetadata) {
      throw invalidCombination('Specify either InstanceTypes or InstanceRequirementsWithMetadata, not both');
    }
    const catalog = call.sim.catalog;
    // AWS's bounds (API reference): InstanceType.N at most 1000 items, RegionName.N at most 10
    if ((input.InstanceTypes?.length ?? 0) > 1000) throw invalidParameter('InstanceTypes', 'at most 1000 instance types');
    if ((input.RegionNames?.length ?? 0) > 10) throw invalidParameter('RegionNames', 'at most 10 regions');
    let types: string[];
    if (input.InstanceTypes?.length) {
      for (const t of input.InstanceTypes) if (!catalog.type(t)) throw invalidParameter('InstanceTypes', `The instance type '${t}' does not exist`);
      types = [...new Set(input.InstanceTypes)];
    } else if (input.InstanceRequirementsWithMetadata) {
      types = typesFromRequirements(call, input);
      if (types.length === 0) throw invalidParameter('InstanceRequirementsWithMetadata', 'no instance type matches the requirements');
    } else {
      throw new ApiError('MissingParameter', 'The request must contain the parameter InstanceTypes or InstanceRequirementsWithMetadata');
    }
    const unit = input.TargetCapacityUnitType ?? 'units';
    const avgVcpus = types.reduce((a, t) => a + (catalog.type(t)?.vcpus ?? 2), 0) / types.length;
    const avgMem = types.reduce((a, t) => a + (catalog.type(t)?.memoryMiB ?? 4096), 0) / types.length;
    const instances = unit === 'vcpu' ? target / avgVcpus : unit === 'memory-mib' ? target / avgMem : target;
    const regions = input.RegionNames?.length ? input.RegionNames : catalog.regions();
    for (const r of regions) if (!catalog.hasRegion(r)) throw invalidParameter('RegionNames', `Invalid region: ${r}`);
    const now = call.sim.clock.now();
    // The request configurations limit, per account (access key id) in a rolling 24 simulated hours. A
    // configuration is what AWS says a score is tied to (instance types or attributes, target capacity and its
    // unit) plus the single-AZ flag (stricter than AWS's words; regions only narrow the answer and do not count).
    const config = JSON.stringify({
      types: input.InstanceTypes?.length ? [...new Set(input.InstanceTypes)].sort() : undefined,
      requirements: input.InstanceTypes?.length ? undefined : canonical(input.InstanceRequirementsWithMetadata),
      target,
      unit,
      singleAz: input.SingleAvailabilityZone === true,
    });
    if (!call.sim.spsBudget.use(call.account, config, now, call.sim.faults.placementScoreConfigLimit()).allowed) {
      throw new ApiError(
        'MaxConfigLimitExceeded',
        'You have exceeded your maximum allowed Spot placement configurations. You can retry configurations that you used within the last 24 hours, or wait for 24 hours before specifying a new configuration.',
      );
    }
    const scores: SpotPlacementScore[] = [];
    for (const region of regions) {
      const zones = catalog.zones(region);
      if (input.SingleAvailabilityZone) {
        for (const z of zones) {
          scores.push({ Region: region, AvailabilityZoneId: z.id, Score: call.sim.market.placementScore(region, [z.name], types, instances, now) });
        }
      } else {
        scores.push({ Region: region, Score: call.sim.market.placementScore(region, zones.map((z) => z.name), types, instances, now) });
      }
    }
    scores.sort((a, b) => b.Score! - a.Score! || a.Region!.localeCompare(b.Region!) || (a.AvailabilityZoneId ?? '').localeCompare(b.AvailabilityZoneId ?? ''));
    const page = paginate(scores, input.MaxResults, input.NextToken, { min: 10, max: 1000 });
    return { SpotPlacementScores: page.items, NextToken: page.nextToken };
  }),
};
