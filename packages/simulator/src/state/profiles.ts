/** Resolve an instance profile named at launch (by name or ARN) to what an instance needs. */
import type { IamInstanceProfileSpecification } from '@aws-sdk/client-ec2';
import type { World } from './world.js';

export interface ResolvedProfile {
  profile: { arn: string; id: string; name: string };
  roleName?: string;
}

export function resolveProfile(world: World, spec: IamInstanceProfileSpecification | undefined): ResolvedProfile | undefined {
  if (!spec || (!spec.Name && !spec.Arn)) return undefined;
  const name = spec.Name ?? spec.Arn?.split('/').pop();
  const p = name ? world.instanceProfiles.get(name) : undefined;
  if (!p) return undefined;
  return { profile: { arn: p.arn, id: p.instanceProfileId, name: p.instanceProfileName }, roleName: p.roles[0] };
}
