/**
 * The account's own images and their snapshots: CopyImage (from an Amazon Linux image or one of the
 * account's, in any region, into the caller's region; `pending` for `imageCopySeconds` simulated seconds,
 * then `available`, or `failed` in a region of the fault imageCopyFailRegions), with one EBS snapshot per
 * copy (tagged by TagSpecifications ResourceType `snapshot`); DeregisterImage (DeleteAssociatedSnapshots
 * deletes the image's snapshots too); DescribeSnapshots and DeleteSnapshot (InvalidSnapshot.InUse while a
 * registered image uses it); and the lookup every launch uses for both kinds of image.
 */
import type {
  CopyImageCommandInput,
  CopyImageCommandOutput,
  DeleteSnapshotCommandInput,
  DeleteSnapshotCommandOutput,
  DeregisterImageCommandInput,
  DeregisterImageCommandOutput,
  DescribeSnapshotsCommandInput,
  DescribeSnapshotsCommandOutput,
  Snapshot,
} from '@aws-sdk/client-ec2';
import { CopyImage$, DeleteSnapshot$, DeregisterImage$, DescribeSnapshots$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef, SimContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';
import { tagList } from '../state/records.js';
import type { ImageRecord, SnapshotRecord } from '../state/records.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

/** An image a launch can name: an Amazon Linux image of the region or one of the account's. */
export interface ImageRef {
  imageId: string;
  arch: 'x86_64' | 'arm64';
  state: 'pending' | 'available' | 'failed';
  name: string;
  own: boolean;
  tags?: Map<string, string>;
}

export function findImage(sim: SimContext, region: string, imageId: string): ImageRef | undefined {
  const amazon = sim.catalog.image(region, imageId);
  if (amazon) return { imageId, arch: amazon.arch, state: 'available', name: amazon.name, own: false };
  const own = sim.world.images.get(imageId);
  if (own && own.region === region) return { imageId, arch: own.arch, state: own.state, name: own.name, own: true, tags: own.tags };
  return undefined;
}

const malformed = (id: string): ApiError => new ApiError('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
const notFound = (id: string): ApiError => new ApiError('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);

/** AMI names: 3 to 128 characters of letters, digits, spaces and ( ) [ ] . / - ' @ _ (EC2 CreateImage/CopyImage Name). */
const NAME = /^[A-Za-z0-9 ()[\]./\-'@_]{3,128}$/;

const SNAPSHOT_ID = /^snap-[0-9a-f]{8,17}$/;
const snapshotMalformed = (id: string): ApiError => new ApiError('InvalidSnapshotID.Malformed', `Invalid id: "${id}" (expecting "snap-...")`);
const snapshotNotFound = (id: string): ApiError => new ApiError('InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);

/** The registered image of the account that uses the snapshot, if any. */
function userOf(sim: SimContext, snapshotId: string): ImageRecord | undefined {
  return [...sim.world.images.values()].find((i) => i.snapshotIds.includes(snapshotId));
}

function snapshotView(s: SnapshotRecord): Snapshot {
  return {
    SnapshotId: s.snapshotId,
    VolumeId: 'vol-ffffffff',
    State: s.state,
    Progress: s.state === 'completed' ? '100%' : '0%',
    StartTime: s.startTime,
    OwnerId: ACCOUNT_ID,
    Description: s.description,
    VolumeSize: s.volumeSize,
    Encrypted: false,
    StorageTier: 'standard',
    Tags: tagList(s.tags),
  };
}

export const imageActions: Record<string, ActionDef> = {
  CopyImage: action<CopyImageCommandInput, Out<CopyImageCommandOutput>>(CopyImage$, (input, call) => {
    const sim = call.sim;
    const sourceRegion = required(input.SourceRegion, 'SourceRegion');
    const sourceId = required(input.SourceImageId, 'SourceImageId');
    const name = required(input.Name, 'Name');
    if (input.ClientToken) {
      // idempotency: the same token in the same region answers the image it made
      const prior = [...sim.world.inRegion(sim.world.images, call.region)].find((i) => i.clientToken === input.ClientToken);
      if (prior) return { ImageId: prior.imageId };
    }
    if (!sim.catalog.hasRegion(sourceRegion)) throw invalidParameter('SourceRegion', `Invalid region: ${sourceRegion}`);
    if (!/^ami-[0-9a-f]{8,17}$/.test(sourceId)) throw malformed(sourceId);
    const source = findImage(sim, sourceRegion, sourceId);
    if (!source) throw notFound(sourceId);
    if (source.state !== 'available') throw new ApiError('IncorrectState', `Image ${sourceId} is not in a valid state (${source.state}) for copying`);
    if (!NAME.test(name)) {
      throw new ApiError(
        'InvalidAMIName.Malformed',
        "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, spaces, '(', ')', '[', ']', '.', '/', '-', ''', '@' and '_'",
      );
    }
    const clash = [...sim.world.inRegion(sim.world.images, call.region)].find((i) => i.name === name);
    if (clash) throw new ApiError('InvalidAMIName.Duplicate', `AMI name ${name} is already in use by AMI ${clash.imageId}`);
    const tags = new Map(input.CopyImageTags && source.tags ? source.tags : []);
    for (const [k, v] of tagsFor(input.TagSpecifications, 'image')) tags.set(k, v);
    const amazon = sim.catalog.image(sourceRegion, sourceId);
    const imageId = ids.image();
    // The copy's root volume snapshot (AWS copies every snapshot of the source; the simulator's images have one).
    const snapshot: SnapshotRecord = {
      snapshotId: ids.snapshot(),
      region: call.region,
      volumeSize: 8,
      state: 'pending',
      description: `Copied for DestinationAmi ${imageId} from SourceAmi ${sourceId} for SourceSnapshot snap-${sourceId.slice(4)}. Task created on ${sim.clock.date().toISOString()}.`,
      startTime: sim.clock.date(),
      tags: tagsFor(input.TagSpecifications, 'snapshot'),
    };
    sim.world.snapshots.set(snapshot.snapshotId, snapshot);
    const rec: ImageRecord = {
      imageId,
      region: call.region,
      name,
      description: input.Description ?? amazon?.description ?? `[Copied ${sourceId} from ${sourceRegion}] ${source.name}`,
      arch: source.arch,
      state: 'pending',
      creationDate: sim.clock.date().toISOString(),
      sourceImageId: sourceId,
      sourceRegion,
      clientToken: input.ClientToken,
      snapshotIds: [snapshot.snapshotId],
      tags,
      timers: [],
    };
    sim.world.images.set(rec.imageId, rec);
    const fails = sim.faults.imageCopyFails(call.region);
    rec.timers.push(
      sim.clock.after(sim.faults.imageCopySeconds() * 1000, () => {
        if (sim.world.images.get(rec.imageId) !== rec) return;
        if (fails) {
          // AWS: a failed AMI keeps State failed with a StateReason until it is deregistered; its snapshot stays too.
          rec.state = 'failed';
          rec.stateReason = { code: 'Client.InternalError', message: 'Client.InternalError: Copy failed (fault imageCopyFailRegions)' };
        } else {
          rec.state = 'available';
        }
        snapshot.state = 'completed';
      }),
    );
    return { ImageId: rec.imageId };
  }),

  DeregisterImage: action<DeregisterImageCommandInput, Out<DeregisterImageCommandOutput>>(DeregisterImage$, (input, call) => {
    const id = required(input.ImageId, 'ImageId');
    if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw malformed(id);
    if (call.sim.catalog.image(call.region, id)) throw new ApiError('AuthFailure', `Not authorized for image:${id}`);
    const rec = call.sim.world.images.get(id);
    if (!rec || rec.region !== call.region) throw notFound(id);
    // a pending copy stops here (AWS: deregister the AMI to stop a copy)
    for (const t of rec.timers) call.sim.clock.cancel(t);
    call.sim.world.images.delete(id);
    if (!input.DeleteAssociatedSnapshots) return { Return: true };
    // AWS: each snapshot of the image is deleted unless another AMI uses it too (then skipped)
    const results = rec.snapshotIds.map((snapshotId) => {
      if (userOf(call.sim, snapshotId)) return { SnapshotId: snapshotId, ReturnCode: 'skipped' as const };
      call.sim.world.snapshots.delete(snapshotId);
      return { SnapshotId: snapshotId, ReturnCode: 'success' as const };
    });
    return { Return: true, DeleteSnapshotResults: results };
  }),

  DescribeSnapshots: action<DescribeSnapshotsCommandInput, Out<DescribeSnapshotsCommandOutput>>(DescribeSnapshots$, (input, call) => {
    const sim = call.sim;
    // Only the account's own snapshots exist here (public ones, Amazon's, are not modelled): another owner lists none.
    const owners = input.OwnerIds ?? [];
    const own = owners.length === 0 || owners.some((o) => o === 'self' || o === ACCOUNT_ID);
    const all = [...sim.world.inRegion(sim.world.snapshots, call.region)];
    for (const id of input.SnapshotIds ?? []) {
      if (!SNAPSHOT_ID.test(id)) throw snapshotMalformed(id);
      if (!all.some((s) => s.snapshotId === id)) throw snapshotNotFound(id);
    }
    let items = own ? all : [];
    if (input.SnapshotIds?.length) items = items.filter((s) => input.SnapshotIds!.includes(s.snapshotId));
    items = applyFilters(items, input.Filters, (s, name) => {
      switch (name) {
        case 'snapshot-id':
          return [s.snapshotId];
        case 'status':
          return [s.state];
        case 'owner-id':
          return [ACCOUNT_ID];
        case 'description':
          return [s.description];
        case 'volume-size':
          return [String(s.volumeSize)];
        default:
          return tagFilterValues(s.tags, name);
      }
    });
    const page = paginate(items, input.MaxResults, input.NextToken, { min: 5, max: 1000 });
    return { Snapshots: page.items.map(snapshotView), NextToken: page.nextToken };
  }),

  DeleteSnapshot: action<DeleteSnapshotCommandInput, Out<DeleteSnapshotCommandOutput>>(DeleteSnapshot$, (input, call) => {
    const id = required(input.SnapshotId, 'SnapshotId');
    if (!SNAPSHOT_ID.test(id)) throw snapshotMalformed(id);
    const rec = call.sim.world.snapshots.get(id);
    if (!rec || rec.region !== call.region) throw snapshotNotFound(id);
    const user = userOf(call.sim, id);
    if (user) throw new ApiError('InvalidSnapshot.InUse', `The snapshot ${id} is currently in use by ${user.imageId}`);
    call.sim.world.snapshots.delete(id);
    return {};
  }),
};
