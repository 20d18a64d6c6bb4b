/**
 * The account's own images: CopyImage (from an Amazon Linux image or one of the account's, in any region,
 * into the caller's region; `pending` for `imageCopySeconds` simulated seconds, then `available`),
 * DeregisterImage, and the lookup every launch uses for both kinds.
 */
import type { CopyImageCommandInput, CopyImageCommandOutput, DeregisterImageCommandInput, DeregisterImageCommandOutput } from '@aws-sdk/client-ec2';
import { CopyImage$, DeregisterImage$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef, SimContext } from '../context.js';
import { ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import type { ImageRecord } from '../state/records.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

/** An image a launch can name: an Amazon Linux image of the region or one of the account's. */
export interface ImageRef {
  imageId: string;
  arch: 'x86_64' | 'arm64';
  state: 'pending' | 'available';
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
    if (source.state !== 'available') throw new ApiError('IncorrectState', `Image ${sourceId} is not in a valid state (pending) for copying`);
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
    const rec: ImageRecord = {
      imageId: ids.image(),
      region: call.region,
      name,
      description: input.Description ?? amazon?.description ?? `[Copied ${sourceId} from ${sourceRegion}] ${source.name}`,
      arch: source.arch,
      state: 'pending',
      creationDate: sim.clock.date().toISOString(),
      sourceImageId: sourceId,
      sourceRegion,
      clientToken: input.ClientToken,
      tags,
      timers: [],
    };
    sim.world.images.set(rec.imageId, rec);
    rec.timers.push(
      sim.clock.after(sim.faults.imageCopySeconds() * 1000, () => {
        if (sim.world.images.get(rec.imageId) === rec) rec.state = 'available';
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
    return { Return: true };
  }),
};
