/**
 * Images as EC2 resources: the architectures of instance types, a named image and its state, the copy of a
 * custom image into another region (CopyImage), and the deregistration of the copies a job made.
 */
import {
  CopyImageCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeSnapshotsCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { AwsCallError, call, callOr } from '../../shared/aws-errors.js';
import type { CloudClients } from '../../shared/aws.js';
import type { Logger } from '../../shared/logger.js';

const JOB_TAG = 'spotbatch:job';
const FLEET_TAG = 'spotbatch:fleet';
/** Filters for what carries both the fleet's and the job's tags. */
const ownerFilters = (owner: JobOwner) => [
  { Name: `tag:${FLEET_TAG}`, Values: [owner.fleet] },
  { Name: `tag:${JOB_TAG}`, Values: [owner.jobId] },
];

/** A job of a fleet (config.prefix): what its resources' tags name. */
export interface JobOwner {
  fleet: string;
  jobId: string;
}

/** Architecture of each instance type (x86_64 or arm64). */
export async function architectures(cloud: CloudClients, region: string, types: readonly string[]): Promise<Record<string, string>> {
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

/** One image by id in a region, or undefined when EC2 does not know it there. */
export async function describeImage(cloud: CloudClients, region: string, imageId: string): Promise<Image | undefined> {
  const out = await callOr('DescribeImages', () => cloud.ec2(region).send(new DescribeImagesCommand({ ImageIds: [imageId] })), ['InvalidAMIID.NotFound']);
  return out?.Images?.find((i) => i.ImageId === imageId);
}

/**
 * The custom image a spec names in one region: it must exist there, be available, and suit every one of the
 * spec's types (its architecture; `arch`: each type's, as a region offering it answers, the source region
 * need not offer them all). PermanentError naming the field otherwise. Its architecture.
 */
export async function checkSourceImage(cloud: CloudClients, source: { id: string; region: string }, types: readonly string[], arch: Record<string, string>): Promise<string> {
  const image = await describeImage(cloud, source.region, source.id);
  if (!image) throw new PermanentError(`instances.image.id: ${source.id} is not an image EC2 knows in ${source.region} (DescribeImages)`);
  if (image.State !== 'available') throw new PermanentError(`instances.image.id: ${source.id} in ${source.region} is ${image.State ?? 'in an unknown state'}, not available`);
  const wrong = types.map((t, i) => [t, i] as const).filter(([t]) => arch[t] !== image.Architecture);
  if (wrong.length) {
    throw new PermanentError(
      wrong
        .map(([t, i]) =>
          // No architecture: no region of the job offers the type (jobArchitectures asks only a region that does).
          arch[t] === undefined
            ? `instances.types[${i}]: '${t}' is offered in none of the job's regions`
            : `instances.types[${i}]: '${t}' is ${arch[t]}, but instances.image.id ${source.id} is ${image.Architecture ?? 'of no known architecture'}`,
        )
        .join('; '),
    );
  }
  return image.Architecture!;
}

export interface CopyRequest {
  /** The fleet (config.prefix): in the copy's token and name. */
  fleet: string;
  jobId: string;
  source: { id: string; region: string };
  /** Where the copy goes. */
  region: string;
  tags: { Key: string; Value: string }[];
}

/** Start (or find again: the same ClientToken answers the same copy) the job's copy of its image into `region`; the new image's id. */
export async function startImageCopy(cloud: CloudClients, req: CopyRequest): Promise<string> {
  const out = await call('CopyImage', () =>
    cloud.ec2(req.region).send(
      new CopyImageCommand({
        // One copy per job and region, however often this is asked (at most 64 ASCII characters).
        // The fleet is in it: a token is the account's, and two fleets may run the same job id.
        ClientToken: `${req.fleet}-${req.jobId}-${req.region}`.slice(0, 64),
        SourceImageId: req.source.id,
        SourceRegion: req.source.region,
        Name: `${req.fleet}-${req.jobId}-${req.source.id}`.slice(0, 128),
        Description: `copy of ${req.source.id} (${req.source.region}) for spotbatch job ${req.jobId}`,
        // The image and its snapshots: teardown finds both by the fleet's and the job's tags, whatever the job row recorded.
        TagSpecifications: [
          { ResourceType: 'image', Tags: req.tags },
          { ResourceType: 'snapshot', Tags: req.tags },
        ],
      }),
    ),
  );
  if (!out.ImageId) throw new PermanentError(`CopyImage: the answer for ${req.source.id} to ${req.region} has no image id`);
  return out.ImageId;
}

/** A copy's progress: pending (also while EC2 does not show it yet), available, or failed with AWS's reason. */
export async function copyState(cloud: CloudClients, region: string, imageId: string): Promise<{ state: 'pending' | 'available' | 'failed'; reason?: string }> {
  const image = await describeImage(cloud, region, imageId);
  if (!image || image.State === 'pending') return { state: 'pending' };
  if (image.State === 'available') return { state: 'available' };
  return { state: 'failed', reason: `${image.State ?? 'unknown state'}${image.StateReason?.Message ? `: ${image.StateReason.Message}` : image.StateReason?.Code ? `: ${image.StateReason.Code}` : ''}` };
}

/** Codes that say the endpoint does not model snapshots, or the snapshot is gone: nothing to delete there. */
const NO_SNAPSHOT = ['InvalidSnapshot.NotFound', 'InvalidAction'];

/**
 * Deregister the images the job copied into `region` (the recorded ids, and any image of this account tagged
 * with the fleet and the job) with their snapshots (DeleteAssociatedSnapshots), then delete every snapshot of this account
 * tagged with the fleet and the job (a copy's snapshots carry both tags from CopyImage) and those the images named:
 * a snapshot a failed DeleteSnapshot left (throttling, InvalidSnapshot.InUse just after deregistering) is
 * found again by its tag on the next teardown. Never `keep` (the user's source image). What is gone is fine.
 * A snapshot only images that are not the job's use (InvalidSnapshot.InUse) is left, and returned in `left`.
 */
export async function deregisterJobImages(
  cloud: CloudClients,
  region: string,
  owner: JobOwner,
  recorded: readonly string[],
  keep: string | undefined,
  log?: Logger,
): Promise<{ deleted: string[]; left: LeftSnapshot[] }> {
  const ec2 = cloud.ec2(region);
  const found = new Map<string, Image>();
  const jobId = owner.jobId;
  const tagged = await call('DescribeImages', () => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: ownerFilters(owner) })));
  for (const i of tagged.Images ?? []) if (i.ImageId) found.set(i.ImageId, i);
  for (const id of recorded) {
    if (found.has(id)) continue;
    const image = await describeImage(cloud, region, id);
    if (image) found.set(id, image);
  }
  const deleted: string[] = [];
  // Snapshots to delete: those of the images (a copy made before its snapshots were tagged) and the tagged ones.
  const snapshots = new Set<string>();
  for (const [id, image] of found) {
    if (id === keep || image.State === 'deregistered') continue;
    for (const m of image.BlockDeviceMappings ?? []) if (m.Ebs?.SnapshotId) snapshots.add(m.Ebs.SnapshotId);
    const out = await callOr('DeregisterImage', () => ec2.send(new DeregisterImageCommand({ ImageId: id, DeleteAssociatedSnapshots: true })), [
      'InvalidAMIID.NotFound',
      'InvalidAMIID.Unavailable',
    ]);
    log?.info({ region, imageId: id }, 'copied image deregistered');
    deleted.push(`image:${region}:${id}`);
    for (const r of out?.DeleteSnapshotResults ?? []) {
      if (r.SnapshotId && r.ReturnCode === 'success') {
        snapshots.delete(r.SnapshotId);
        deleted.push(`snapshot:${region}:${r.SnapshotId}`);
      }
    }
  }
  for (const id of await jobSnapshots(cloud, region, owner)) snapshots.add(id);
  const left: LeftSnapshot[] = [];
  for (const snapshotId of snapshots) {
    // Throttling: a TransientError, and security.teardown looks again later.
    let inUse: PermanentError | undefined;
    const out = await callOr('DeleteSnapshot', () => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), NO_SNAPSHOT).catch((err: unknown) => {
      if (err instanceof PermanentError && err.cause instanceof AwsCallError && err.cause.code === 'InvalidSnapshot.InUse') {
        inUse = err;
        return undefined;
      }
      throw err;
    });
    if (inUse) {
      // Used by an image of the job (one deregistered a moment ago, or not yet seen): gone once that image is, so
      // teardown looks again. Used only by images that are not the job's (a user registered one from the
      // snapshot): no wait would end, so the snapshot stays, named to the caller.
      const users = await snapshotUsers(cloud, region, snapshotId);
      const ofJob = (i: Image): boolean => i.ImageId !== keep && (found.has(i.ImageId ?? '') || (!!i.Tags?.some((t) => t.Key === JOB_TAG && t.Value === jobId) && !!i.Tags?.some((t) => t.Key === FLEET_TAG && t.Value === owner.fleet)));
      const others = users.filter((i) => !ofJob(i));
      if (users.length === 0 || others.length < users.length) throw new TransientError(inUse.message, { cause: inUse.cause });
      const reason = `in use by ${others.map((i) => i.ImageId).join(', ')}, not an image of the job: left in place`;
      log?.warn({ region, snapshotId, reason }, 'snapshot of a copied image left');
      left.push({ region, snapshotId, reason });
      continue;
    }
    if (out) {
      log?.info({ region, snapshotId }, 'snapshot of a copied image deleted');
      deleted.push(`snapshot:${region}:${snapshotId}`);
    }
  }
  return { deleted, left };
}

/** A snapshot of the job that teardown leaves: an image that is not the job's uses it. */
export interface LeftSnapshot {
  region: string;
  snapshotId: string;
  reason: string;
}

/** The account's registered images in `region` made of the snapshot. */
async function snapshotUsers(cloud: CloudClients, region: string, snapshotId: string): Promise<Image[]> {
  const out = await call('DescribeImages', () => cloud.ec2(region).send(new DescribeImagesCommand({ Owners: ['self'] })));
  return (out.Images ?? []).filter((i) => i.State !== 'deregistered' && (i.BlockDeviceMappings ?? []).some((m) => m.Ebs?.SnapshotId === snapshotId));
}

/** The account's snapshots in `region` tagged with the fleet and the job (none where the endpoint models no snapshots). */
async function jobSnapshots(cloud: CloudClients, region: string, owner: JobOwner): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await callOr('DescribeSnapshots', () =>
      cloud.ec2(region).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: ownerFilters(owner), NextToken: token })),
    ['InvalidAction'],
    );
    for (const s of page?.Snapshots ?? []) if (s.SnapshotId) ids.push(s.SnapshotId);
    token = page?.NextToken;
  } while (token);
  return ids;
}
