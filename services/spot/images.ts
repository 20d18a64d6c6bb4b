/**
 * Image resolution per region and architecture: `al2023` becomes the newest Amazon Linux 2023 AMI of the
 * region for each architecture the job's instance types need (an arm64 type gets the arm64 image); an AMI
 * id is used as is; a custom image named in one region is used there, and elsewhere its copy (`copied`).
 * Only the types the region offers get an image there: a job's region may offer some of its types only.
 */
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { PermanentError } from '../../shared/errors.js';
import { call } from '../../shared/aws-errors.js';
import type { CloudClients } from '../../shared/aws.js';
import type { JobSpec } from '../model/spec.js';
import { architectures } from '../ec2/images.js';
import { typesOffered } from '../security/regions.js';

export { architectures };

/** The custom image a spec names in one region ({"id", "region"}), if that is its image. */
export function customImage(spec: JobSpec): { id: string; region: string } | undefined {
  const image = spec.instances.image;
  return typeof image === 'object' ? image : undefined;
}

/** The newest Amazon Linux 2023 image of the region for one architecture. */
async function al2023(cloud: CloudClients, region: string, arch: string): Promise<string> {
  const out = await call('DescribeImages', () =>
    cloud.ec2(region).send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'name', Values: [`al2023-ami-2023.*-${arch}`] },
          { Name: 'architecture', Values: [arch] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    ),
  );
  const newest = (out.Images ?? []).filter((i) => i.ImageId && i.Architecture === arch).sort((x, y) => (y.CreationDate ?? '').localeCompare(x.CreationDate ?? ''))[0];
  if (!newest?.ImageId) throw new PermanentError(`instances.image: no Amazon Linux 2023 image for ${arch} in ${region}`);
  return newest.ImageId;
}

/**
 * The spec's types the region offers (DescribeInstanceTypeOfferings; all of them where EC2 does not answer
 * that), with their architectures. None offered: a PermanentError naming the region.
 */
async function offeredArchitectures(cloud: CloudClients, region: string, types: readonly string[]): Promise<Record<string, string>> {
  const offered = await typesOffered(cloud, region, types);
  const here = offered ? types.filter((t) => offered.has(t)) : types;
  if (!here.length) throw new PermanentError(`instances.types: none of ${types.join(', ')} is offered in ${region} (DescribeInstanceTypeOfferings)`);
  return architectures(cloud, region, here);
}

/**
 * AMI per instance type for one region, for the types the region offers (placement never chooses another
 * there: it has no spot price there). `copied`: the custom image's id in this region (its copy, once
 * available); for a custom image in a region other than its own, without it, a PermanentError.
 */
export async function resolveImages(cloud: CloudClients, region: string, spec: JobSpec, copied?: string): Promise<Record<string, string>> {
  const arch = await offeredArchitectures(cloud, region, spec.instances.types);
  const image = spec.instances.image;
  const custom = customImage(spec);
  const byArch: Record<string, string> = {};
  for (const a of new Set(Object.values(arch))) {
    if (custom) {
      const id = custom.region === region ? custom.id : copied;
      if (!id) throw new PermanentError(`instances.image: ${custom.id} has no copy in ${region} yet`);
      byArch[a] = id;
    } else {
      byArch[a] = image === 'al2023' ? await al2023(cloud, region, a) : (image as string);
    }
  }
  // type -> ami, so a request needs no second look-up
  const byType: Record<string, string> = {};
  for (const [type, a] of Object.entries(arch)) byType[type] = byArch[a]!;
  return byType;
}
