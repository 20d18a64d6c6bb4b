/**
 * Image and architecture resolution: `al2023` becomes the newest Amazon Linux
 * 2023 AMI of each region and architecture the job's instance types need.
 */
import { DescribeImagesCommand, DescribeInstanceTypesCommand } from '@aws-sdk/client-ec2';
import { PermanentError } from '../../shared/errors.js';
import { AwsCallError, call } from '../../shared/aws-errors.js';
import type { CloudClients } from '../../shared/aws.js';
import type { JobSpec } from '../job/spec.js';

/** Architecture of each instance type (x86_64 or arm64). */
export async function architectures(cloud: CloudClients, region: string, types: string[]): Promise<Record<string, string>> {
  const out = await call('DescribeInstanceTypes', () => cloud.ec2(region).send(new DescribeInstanceTypesCommand({ InstanceTypes: types as never }))).catch((err: unknown) => {
    // A type EC2 does not know (a typo such as c5.largee): no retry can make it one.
    if (err instanceof PermanentError && err.cause instanceof AwsCallError && err.cause.code === 'InvalidInstanceType') {
      throw new PermanentError(`instances.types: ${types.join(', ')}: not every one is an instance type EC2 knows in ${region} (${err.message})`, { cause: err.cause });
    }
    throw err;
  });
  const arch: Record<string, string> = {};
  for (const t of out.InstanceTypes ?? []) {
    const a = t.ProcessorInfo?.SupportedArchitectures?.find((x) => x === 'x86_64' || x === 'arm64');
    if (t.InstanceType && a) arch[t.InstanceType] = a;
  }
  const missing = types.filter((t) => !arch[t]);
  if (missing.length) throw new PermanentError(`instances.types: ${missing.join(', ')} not offered in ${region}`);
  return arch;
}

/** AMI per architecture for one region. */
export async function resolveImages(cloud: CloudClients, region: string, spec: JobSpec): Promise<Record<string, string>> {
  const arch = await architectures(cloud, region, spec.instances.types);
  const needed = [...new Set(Object.values(arch))];
  const images: Record<string, string> = {};
  for (const a of needed) {
    if (spec.instances.image !== 'al2023') {
      images[a] = spec.instances.image;
      continue;
    }
    const out = await call('DescribeImages', () => cloud.ec2(region).send(
      new DescribeImagesCommand({
        Owners: ['amazon'],
        Filters: [
          { Name: 'name', Values: [`al2023-ami-2023.*-${a}`] },
          { Name: 'architecture', Values: [a] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    ));
    const newest = (out.Images ?? []).filter((i) => i.ImageId).sort((x, y) => (y.CreationDate ?? '').localeCompare(x.CreationDate ?? ''))[0];
    if (!newest?.ImageId) throw new PermanentError(`instances.image: no Amazon Linux 2023 image for ${a} in ${region}`);
    images[a] = newest.ImageId;
  }
  // type -> ami, so a request needs no second look-up
  const byType: Record<string, string> = {};
  for (const [type, a] of Object.entries(arch)) byType[type] = images[a]!;
  return byType;
}
