/** Tags on EC2 resources: TagSpecifications at creation, CreateTags, DeleteTags, tag output. */
import type { CreateTagsCommandInput, CreateTagsCommandOutput, DeleteTagsCommandInput, DeleteTagsCommandOutput, TagSpecification } from '@aws-sdk/client-ec2';
import { CreateTags$, DeleteTags$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ApiError, required } from '../protocol/errors.js';
import type { Tags } from '../state/records.js';

/** The tags of the specifications for `resourceType`. */
export function tagsFor(specs: TagSpecification[] | undefined, resourceType: string): Tags {
  const m: Tags = new Map();
  for (const spec of specs ?? []) {
    if (spec.ResourceType !== resourceType) continue;
    for (const t of spec.Tags ?? []) if (t.Key) m.set(t.Key, t.Value ?? '');
  }
  return m;
}

/** The tag map of any taggable resource in the region, by id. */
export function resourceTags(call: CallContext, id: string): Tags {
  const w = call.sim.world;
  const r =
    w.instances.get(id) ??
    w.spotRequests.get(id) ??
    w.securityGroups.get(id) ??
    w.launchTemplates.get(id) ??
    w.images.get(id) ??
    w.snapshots.get(id) ??
    [...w.keyPairs.values()].find((k) => k.keyPairId === id);
  if (!r || r.region !== call.region || call.sim.consistency.hidden(id)) {
    const code = id.startsWith('i-')
      ? 'InvalidInstanceID.NotFound'
      : id.startsWith('sg-')
        ? 'InvalidGroup.NotFound'
        : id.startsWith('sir-')
          ? 'InvalidSpotInstanceRequestID.NotFound'
          : id.startsWith('key-')
            ? 'InvalidKeyPair.NotFound'
            : id.startsWith('ami-')
              ? 'InvalidAMIID.NotFound'
              : id.startsWith('snap-')
                ? 'InvalidSnapshot.NotFound'
                : 'InvalidID';
    throw new ApiError(code, `The ID '${id}' does not exist`);
  }
  return r.tags;
}

export const tagActions = {
  CreateTags: action<CreateTagsCommandInput, Omit<CreateTagsCommandOutput, '$metadata'>>(CreateTags$, (input, call) => {
    const resources = required(input.Resources, 'ResourceId.1');
    const tags = required(input.Tags, 'Tag.1');
    const targets = resources.map((id) => resourceTags(call, id));
    for (const t of tags) if (!t.Key) throw new ApiError('InvalidParameterValue', 'Tag keys must not be empty (Tag.N.Key)');
    for (const target of targets) for (const t of tags) target.set(t.Key!, t.Value ?? '');
    return {};
  }),
  DeleteTags: action<DeleteTagsCommandInput, Omit<DeleteTagsCommandOutput, '$metadata'>>(DeleteTags$, (input, call) => {
    const resources = required(input.Resources, 'ResourceId.1');
    const targets = resources.map((id) => resourceTags(call, id));
    for (const target of targets) {
      if (!input.Tags || input.Tags.length === 0) target.clear();
      else for (const t of input.Tags) if (t.Key && (t.Value === undefined || target.get(t.Key) === t.Value)) target.delete(t.Key);
    }
    return {};
  }),
};
