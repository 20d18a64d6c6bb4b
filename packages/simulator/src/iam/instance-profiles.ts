/** IAM instance profiles: Create, Get, AddRoleTo, RemoveRoleFrom, Delete, ListInstanceProfilesForRole. */
import type {
  AddRoleToInstanceProfileCommandInput,
  CreateInstanceProfileCommandInput,
  CreateInstanceProfileCommandOutput,
  DeleteInstanceProfileCommandInput,
  GetInstanceProfileCommandInput,
  GetInstanceProfileCommandOutput,
  InstanceProfile,
  ListInstanceProfilesForRoleCommandInput,
  ListInstanceProfilesForRoleCommandOutput,
  RemoveRoleFromInstanceProfileCommandInput,
} from '@aws-sdk/client-iam';
import {
  AddRoleToInstanceProfile$,
  CreateInstanceProfile$,
  DeleteInstanceProfile$,
  GetInstanceProfile$,
  ListInstanceProfilesForRole$,
  RemoveRoleFromInstanceProfile$,
} from '@aws-sdk/client-iam';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError } from '../protocol/errors.js';
import { markerPage } from './marker.js';
import { tagsFrom } from '../state/records.js';
import type { InstanceProfileRecord } from '../state/records.js';
import { checkName, checkPath, findRole, roleView } from './roles.js';

type Out<T> = Omit<T, '$metadata'>;

function findProfile(call: CallContext, name: string): InstanceProfileRecord {
  const p = call.sim.world.instanceProfiles.get(name);
  if (!p) throw new ApiError('NoSuchEntity', `Instance Profile ${name} cannot be found.`, 404);
  return p;
}

function view(call: CallContext, p: InstanceProfileRecord): InstanceProfile {
  return {
    Path: p.path,
    InstanceProfileName: p.instanceProfileName,
    InstanceProfileId: p.instanceProfileId,
    Arn: p.arn,
    CreateDate: p.createDate,
    Roles: p.roles.flatMap((r) => {
      const role = call.sim.world.roles.get(r);
      return role ? [roleView(role)] : [];
    }),
    Tags: p.tags.size ? [...p.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
  };
}

export const instanceProfileActions = {
  CreateInstanceProfile: action<CreateInstanceProfileCommandInput, Out<CreateInstanceProfileCommandOutput>>(CreateInstanceProfile$, (input, call) => {
    const name = checkName(input.InstanceProfileName, 'InstanceProfileName', 128);
    const path = checkPath(input.Path);
    if (call.sim.world.instanceProfiles.has(name)) throw new ApiError('EntityAlreadyExists', `Instance Profile ${name} already exists.`, 409);
    const p: InstanceProfileRecord = {
      instanceProfileName: name,
      instanceProfileId: ids.instanceProfile(),
      arn: `arn:aws:iam::${ACCOUNT_ID}:instance-profile${path}${name}`,
      path,
      createDate: call.sim.clock.date(),
      roles: [],
      tags: tagsFrom(input.Tags),
    };
    call.sim.world.instanceProfiles.set(name, p);
    call.sim.consistency.profileChangedNow(name);
    return { InstanceProfile: view(call, p) };
  }),

  GetInstanceProfile: action<GetInstanceProfileCommandInput, Out<GetInstanceProfileCommandOutput>>(GetInstanceProfile$, (input, call) => {
    return { InstanceProfile: view(call, findProfile(call, checkName(input.InstanceProfileName, 'InstanceProfileName', 128))) };
  }),

  AddRoleToInstanceProfile: action<AddRoleToInstanceProfileCommandInput, object>(AddRoleToInstanceProfile$, (input, call) => {
    const p = findProfile(call, checkName(input.InstanceProfileName, 'InstanceProfileName', 128));
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    if (p.roles.length >= 1) {
      throw new ApiError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1', 409);
    }
    p.roles.push(role.roleName);
    call.sim.consistency.profileChangedNow(p.instanceProfileName);
    return {};
  }),

  RemoveRoleFromInstanceProfile: action<RemoveRoleFromInstanceProfileCommandInput, object>(RemoveRoleFromInstanceProfile$, (input, call) => {
    const p = findProfile(call, checkName(input.InstanceProfileName, 'InstanceProfileName', 128));
    const roleName = checkName(input.RoleName, 'RoleName');
    findRole(call, roleName);
    if (!p.roles.includes(roleName)) {
      throw new ApiError('NoSuchEntity', `The role with name ${roleName} is not in instance profile ${p.instanceProfileName}.`, 404);
    }
    p.roles = p.roles.filter((r) => r !== roleName);
    return {};
  }),

  DeleteInstanceProfile: action<DeleteInstanceProfileCommandInput, object>(DeleteInstanceProfile$, (input, call) => {
    const p = findProfile(call, checkName(input.InstanceProfileName, 'InstanceProfileName', 128));
    if (p.roles.length) throw new ApiError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409);
    call.sim.world.instanceProfiles.delete(p.instanceProfileName);
    return {};
  }),

  ListInstanceProfilesForRole: action<ListInstanceProfilesForRoleCommandInput, Out<ListInstanceProfilesForRoleCommandOutput>>(
    ListInstanceProfilesForRole$,
    (input, call) => {
      const role = findRole(call, checkName(input.RoleName, 'RoleName'));
      const all = [...call.sim.world.instanceProfiles.values()].filter((p) => p.roles.includes(role.roleName));
      const page = markerPage(all, input.Marker, input.MaxItems);
      return { InstanceProfiles: page.items.map((p) => view(call, p)), IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
    },
  ),
};
