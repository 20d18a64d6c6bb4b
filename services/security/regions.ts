/**
 * Which regions a job may use: the enabled regions of the account (DescribeRegions, asked of the fleet's own
 * region) that offer at least one of the spec's instance types (DescribeInstanceTypeOfferings, asked of each
 * region). Resolved once per job at security time and stored on the job row.
 */
import { DescribeRegionsCommand, DescribeInstanceTypeOfferingsCommand, type InstanceTypeOffering } from '@aws-sdk/client-ec2';
import type { CloudClients } from '../../shared/aws.js';
import { PermanentError } from '../../shared/errors.js';
import { awsCode, call, translateAwsError } from '../../shared/aws-errors.js';
import { architectures } from '../ec2/images.js';

/** The regions EC2 answers for this account (enabled ones: opt-in not required, or opted in), as seen from `home`. */
export async function offeredRegions(cloud: CloudClients, home: string): Promise<Set<string>> {
  const out = await call('DescribeRegions', () =>
    cloud.ec2(home).send(new DescribeRegionsCommand({ Filters: [{ Name: 'opt-in-status', Values: ['opt-in-not-required', 'opted-in'] }] })),
  );
  return new Set((out.Regions ?? []).map((r) => r.RegionName ?? '').filter(Boolean));
}

/** PermanentError naming every region of the job EC2 does not offer (a typo, or a region not enabled). */
export async function checkOfferedRegions(cloud: CloudClients, home: string, regions: readonly string[]): Promise<Set<string>> {
  const offered = await offeredRegions(cloud, home);
  const unknown = regions.filter((r) => !offered.has(r));
  if (unknown.length) {
    throw new PermanentError(
      `instances.regions: ${unknown.map((r) => `'${r.slice(0, 64)}'`).join(', ')} ${unknown.length === 1 ? 'is not a region' : 'are not regions'} EC2 offers this account (DescribeRegions in ${home})`,
    );
  }
  return offered;
}

/** Answers that say EC2 (or the endpoint, or the fleet's IAM policy) does not serve DescribeInstanceTypeOfferings. */
const NOT_ANSWERED = new Set(['InvalidAction', 'UnsupportedOperation', 'NotImplemented', 'UnauthorizedOperation']);

/** The spec's types the region offers (LocationType region), or undefined when EC2 does not answer the question there. */
export async function typesOffered(cloud: CloudClients, region: string, types: readonly string[]): Promise<Set<string> | undefined> {
  const found = new Set<string>();
  let token: string | undefined;
  do {
    let page;
    try {
      page = await cloud.ec2(region).send(
        new DescribeInstanceTypeOfferingsCommand({ LocationType: 'region', Filters: [{ Name: 'instance-type', Values: [...types] }], NextToken: token }),
      );
    } catch (err) {
      if (NOT_ANSWERED.has(awsCode(err) ?? '')) return undefined;
      throw translateAwsError('DescribeInstanceTypeOfferings', err);
    }
    for (const o of page.InstanceTypeOfferings ?? ([] as InstanceTypeOffering[])) if (o.InstanceType) found.add(o.InstanceType);
    token = page.NextToken;
  } while (token);
  return found;
}

export interface ResolvedRegions {
  /** The regions the job may use, in the spec's order (or the account's, for "auto"). */
  regions: string[];
  /** Listed (or enabled) regions that offer none of the types, dropped. */
  dropped: string[];
  /** True when EC2 did not answer DescribeInstanceTypeOfferings: the list (or config lifecycle.regions for "auto") is used as is. */
  unchecked: boolean;
  /** The spec's types each kept region offers (absent when unchecked): a region may offer some of them only. */
  offered?: Record<string, string[]>;
}

/**
 * The job's regions: the listed ones (each must be enabled), or for "auto" every enabled region, less those
 * offering none of the types. A type no candidate region offers is a PermanentError naming its field path.
 * When EC2 does not answer DescribeInstanceTypeOfferings, "auto" falls back to `fallback` (config
 * lifecycle.regions, what "auto" meant before) and a list is kept as it is.
 */
export async function resolveJobRegions(
  cloud: CloudClients,
  home: string,
  spec: { instances: { types: readonly string[]; regions: readonly string[] | 'auto' } },
  fallback: readonly string[],
): Promise<ResolvedRegions> {
  const listed = spec.instances.regions === 'auto' ? undefined : [...new Set(spec.instances.regions)];
  const enabled = listed ? await checkOfferedRegions(cloud, home, listed) : await offeredRegions(cloud, home);
  const candidates = listed ?? [...enabled].sort();
  const types = spec.instances.types;
  const offers = await Promise.all(candidates.map(async (r) => [r, await typesOffered(cloud, r, types)] as const));
  if (offers.some(([, o]) => o === undefined)) {
    const regions = listed ?? fallback.filter((r) => enabled.has(r));
    if (!regions.length) throw new PermanentError(`instances.regions: "auto": none of the fleet's regions (${fallback.join(', ')}) is enabled for this account`);
    return { regions, dropped: [], unchecked: true };
  }
  const where = new Map(offers.map(([r, o]) => [r, o!]));
  const nowhere = types.map((t, i) => [t, i] as const).filter(([t]) => !candidates.some((r) => where.get(r)!.has(t)));
  if (nowhere.length) {
    const scope = listed ? `the job's regions (${listed.join(', ')})` : 'any region enabled for this account';
    throw new PermanentError(
      nowhere.map(([t, i]) => `instances.types[${i}]: '${t}' is not offered in ${scope} (DescribeInstanceTypeOfferings)`).join('; '),
    );
  }
  const regions = candidates.filter((r) => where.get(r)!.size > 0);
  const offered = Object.fromEntries(regions.map((r) => [r, types.filter((t) => where.get(r)!.has(t))]));
  return { regions, dropped: candidates.filter((r) => where.get(r)!.size === 0), unchecked: false, offered };
}

/**
 * The architecture of each of the spec's types, each asked of a region that offers it: `prefer` (the custom
 * image's region) when it does, else the first of the job's regions that does. Unchecked offerings: every
 * type asked of `prefer` (or the first region), where one EC2 does not know is a PermanentError.
 */
export async function jobArchitectures(cloud: CloudClients, types: readonly string[], resolved: ResolvedRegions, prefer?: string): Promise<Record<string, string>> {
  if (!resolved.offered) return architectures(cloud, prefer ?? resolved.regions[0]!, types);
  const where: [string, Set<string>][] = Object.entries(resolved.offered).map(([r, t]) => [r, new Set(t)]);
  if (prefer && !resolved.offered[prefer]) where.unshift([prefer, (await typesOffered(cloud, prefer, types)) ?? new Set()]);
  else if (prefer) where.sort(([a], [b]) => Number(b === prefer) - Number(a === prefer));
  const byRegion = new Map<string, string[]>();
  for (const t of types) {
    const region = where.find(([, offered]) => offered.has(t))?.[0];
    if (region) byRegion.set(region, [...(byRegion.get(region) ?? []), t]);
  }
  const answers = await Promise.all([...byRegion].map(([r, ts]) => architectures(cloud, r, ts)));
  return Object.assign({}, ...answers) as Record<string, string>;
}
