/** GET /_sim/inventory: every live resource created through the API. */
import type { SimContext } from '../context.js';
import type { Tags } from '../state/records.js';

const tags = (t: Tags): Record<string, string> => Object.fromEntries(t);

export function inventory(sim: SimContext): Record<string, unknown[]> {
  const w = sim.world;
  return {
    instances: [...w.instances.values()]
      .filter((i) => i.state !== 'terminated')
      .map((i) => ({
        instanceId: i.instanceId,
        region: i.region,
        state: i.state,
        instanceType: i.instanceType,
        availabilityZone: i.zone,
        ip: i.ip,
        lifecycle: i.spot ? 'spot' : 'on-demand',
        spotInstanceRequestId: i.spotRequestId,
        keyName: i.keyName,
        securityGroupIds: i.groupIds,
        tags: tags(i.tags),
      })),
    spotRequests: [...w.spotRequests.values()]
      .filter((r) => r.state === 'open' || r.state === 'active')
      .map((r) => ({
        spotInstanceRequestId: r.spotInstanceRequestId,
        region: r.region,
        state: r.state,
        status: r.statusCode,
        instanceId: r.instanceId,
        tags: tags(r.tags),
      })),
    securityGroups: [...w.securityGroups.values()]
      .filter((g) => !g.isDefault)
      .map((g) => ({ groupId: g.groupId, groupName: g.groupName, region: g.region, vpcId: g.vpcId, tags: tags(g.tags) })),
    launchTemplates: [...w.launchTemplates.values()].map((t) => ({
      launchTemplateId: t.launchTemplateId,
      launchTemplateName: t.launchTemplateName,
      region: t.region,
      tags: tags(t.tags),
    })),
    images: [...w.images.values()].map((i) => ({
      imageId: i.imageId,
      name: i.name,
      region: i.region,
      state: i.state,
      architecture: i.arch,
      sourceImageId: i.sourceImageId,
      sourceRegion: i.sourceRegion,
      tags: tags(i.tags),
    })),
    snapshots: [...w.snapshots.values()].map((s) => ({ snapshotId: s.snapshotId, region: s.region, state: s.state, tags: tags(s.tags) })),
    keyPairs: [...w.keyPairs.values()].map((k) => ({ keyPairId: k.keyPairId, keyName: k.keyName, region: k.region, keyType: k.keyType, tags: tags(k.tags) })),
    roles: [...w.roles.values()].map((r) => ({ roleName: r.roleName, roleId: r.roleId, arn: r.arn, region: 'global', policies: [...r.policies.keys()], tags: tags(r.tags) })),
    instanceProfiles: [...w.instanceProfiles.values()].map((p) => ({
      instanceProfileName: p.instanceProfileName,
      instanceProfileId: p.instanceProfileId,
      arn: p.arn,
      region: 'global',
      roles: p.roles,
      tags: tags(p.tags),
    })),
  };
}
